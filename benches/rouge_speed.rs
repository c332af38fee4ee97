//! ROUGE speed: `loratune::eval::rouge` vs Python `rouge_score` 0.1.2.
//!
//! `cargo bench --bench rouge_speed`
//!
//! Builds 10,000 (reference, prediction) pairs from the shared dialogsum / xsum
//! test sets (a summary against the first lines of its dialogue / document, or
//! against another summary), times our scorer on them (a fresh scorer with a
//! cold stem cache, then the same scorer again with a warm cache), writes the
//! pairs to a temporary JSONL file and runs `scripts/bench_rouge.py` on it to
//! time `rouge_score` on exactly the same pairs.
//!
//! Environment:
//! * `ROUGE_BENCH_PAIRS`: number of pairs (default 10000).
//! * `LORATUNE_DATA_DIR`: directory holding `dialogsum/test.jsonl` and
//!   `xsum/test.jsonl` (default: `data/` of the shared directory, `LORATUNE_SHARED`,
//!   else `../shared` next to the repository; without them the pairs come from the
//!   parity fixtures in `tests/fixtures/rouge/cases.jsonl`).
//! * `LORATUNE_PYTHON`: Python interpreter with `rouge_score` (default: the
//!   reference environment's `.venv/reference/bin/python`, made by
//!   `scripts/reference-env.sh`, if present, else `python3`). Without Python or
//!   `rouge_score`, the bench says why and prints only our timing.

use std::path::{Path, PathBuf};
use std::time::Instant;

use loratune::eval::rouge::{RougeScorer, RougeScores};
use serde_json::{json, Value};

mod common;

fn read_jsonl(path: &Path) -> Vec<Value> {
    match std::fs::read_to_string(path) {
        Ok(s) => s
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect(),
        Err(_) => Vec::new(),
    }
}

fn field(v: &Value, key: &str) -> String {
    v[key].as_str().unwrap_or("").to_string()
}

/// The first `k` non-blank lines of `text`, each cut to `max_chars` characters.
fn first_lines(text: &str, k: usize, max_chars: usize) -> String {
    text.split('\n')
        .filter(|l| !l.trim().is_empty())
        .take(k)
        .map(|l| l.chars().take(max_chars).collect::<String>())
        .collect::<Vec<_>>()
        .join("\n")
}

fn data_dir() -> Option<PathBuf> {
    let mut candidates = Vec::new();
    if let Ok(d) = std::env::var("LORATUNE_DATA_DIR") {
        candidates.push(PathBuf::from(d));
    }
    candidates.push(common::shared_dir().join("data"));
    candidates.into_iter().find(|d| {
        d.join("dialogsum").join("test.jsonl").is_file()
            && d.join("xsum").join("test.jsonl").is_file()
    })
}

fn build_pairs(n: usize) -> (Vec<(String, String)>, String) {
    let mut pool: Vec<(String, String)> = Vec::new();
    let source;
    if let Some(dir) = data_dir() {
        let dialog = read_jsonl(&dir.join("dialogsum").join("test.jsonl"));
        let xsum = read_jsonl(&dir.join("xsum").join("test.jsonl"));
        // Four different pairs per record: 4 * (1500 + 1000) = 10,000 distinct pairs.
        for (records, doc_key, stride) in
            [(&dialog, "dialogue", 7usize), (&xsum, "document", 11usize)]
        {
            for (i, r) in records.iter().enumerate() {
                let summary = field(r, "summary");
                let doc = field(r, doc_key);
                let other = field(&records[(i * stride + 3) % records.len()], "summary");
                let later: String = doc
                    .split('\n')
                    .filter(|l| !l.trim().is_empty())
                    .skip(3)
                    .take(3)
                    .map(|l| l.chars().take(300).collect::<String>())
                    .collect::<Vec<_>>()
                    .join("\n");
                pool.push((summary.clone(), first_lines(&doc, 3, 300)));
                pool.push((summary.clone(), other));
                pool.push((summary.clone(), later));
                pool.push((first_lines(&doc, 2, 300), summary));
            }
        }
        source = format!("dialogsum + xsum test sets in {}", dir.display());
    } else {
        let fixtures = common::repo_root().join("tests/fixtures/rouge/cases.jsonl");
        for r in read_jsonl(&fixtures) {
            pool.push((field(&r, "reference"), field(&r, "prediction")));
        }
        source = format!("{} (shared data not found)", fixtures.display());
    }
    assert!(!pool.is_empty(), "no data to build pairs from");
    // Interleave the sources deterministically (a stride coprime with the pool
    // size visits every pair once before any repeats).
    let len = pool.len();
    let gcd = |mut a: usize, mut b: usize| {
        while b != 0 {
            (a, b) = (b, a % b);
        }
        a
    };
    let mut stride = 7919;
    while gcd(stride, len) != 1 {
        stride += 1;
    }
    let pairs = (0..n).map(|i| pool[(i * stride) % len].clone()).collect();
    (pairs, source)
}

fn fsums(all: &[RougeScores]) -> [f64; 4] {
    let mut s = [0.0; 4];
    for r in all {
        s[0] += r.rouge1.fmeasure;
        s[1] += r.rouge2.fmeasure;
        s[2] += r.rouge_l.fmeasure;
        s[3] += r.rouge_lsum.fmeasure;
    }
    s
}

/// Runs `scripts/bench_rouge.py` on the pairs; `Err` explains why no timing came back.
fn run_python(pairs: &[(String, String)]) -> Result<Value, String> {
    let script = common::repo_root().join("scripts").join("bench_rouge.py");
    if !script.is_file() {
        return Err(format!("{} not found", script.display()));
    }
    let python = common::reference_python();
    python.probe(&["rouge_score", "nltk"])?;
    let path =
        std::env::temp_dir().join(format!("loratune_rouge_pairs_{}.jsonl", std::process::id()));
    let mut text = String::new();
    for (r, p) in pairs {
        text.push_str(&json!({"reference": r, "prediction": p}).to_string());
        text.push('\n');
    }
    std::fs::write(&path, text).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    let py = python.describe();
    let out = python
        .command()
        .arg(&script)
        .arg("--pairs")
        .arg(&path)
        .output();
    let _ = std::fs::remove_file(&path);
    let out = out.map_err(|e| format!("cannot run {py}: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "{py} {} failed ({}): {}",
            script.display(),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    let stdout = String::from_utf8_lossy(&out.stdout);
    let last = stdout.lines().last().unwrap_or("");
    serde_json::from_str(last).map_err(|e| format!("unexpected output from {py}: {e}: {stdout}"))
}

fn main() {
    // `cargo bench` passes `--bench`; ignore arguments.
    let n: usize = std::env::var("ROUGE_BENCH_PAIRS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10_000);
    let (pairs, source) = build_pairs(n);
    let tokens: usize = pairs
        .iter()
        .map(|(r, p)| r.split_whitespace().count() + p.split_whitespace().count())
        .sum();
    println!("ROUGE bench: {n} pairs from {source}");
    println!(
        "  rouge1 + rouge2 + rougeL + rougeLsum, Porter stemmer; ~{} words per pair",
        tokens / n.max(1)
    );

    let scorer = RougeScorer::new(true);
    let t = Instant::now();
    let cold: Vec<RougeScores> = pairs.iter().map(|(r, p)| scorer.score(r, p)).collect();
    let cold_s = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let warm: Vec<RougeScores> = pairs.iter().map(|(r, p)| scorer.score(r, p)).collect();
    let warm_s = t.elapsed().as_secs_f64();
    assert_eq!(cold, warm);
    let ours = fsums(&cold);

    let py = run_python(&pairs);

    println!();
    println!("| implementation                       |  seconds |    pairs/s | vs rouge_score |");
    println!("|--------------------------------------|---------:|-----------:|---------------:|");
    let py_s = py.as_ref().ok().and_then(|v| v["seconds"].as_f64());
    let row = |name: &str, s: f64| {
        let ratio = match py_s {
            Some(p) => format!("{:.1}x", p / s),
            None => "-".to_string(),
        };
        println!(
            "| {name:<36} | {s:>8.3} | {:>10.0} | {ratio:>14} |",
            n as f64 / s
        );
    };
    row("loratune (fresh scorer, cold cache)", cold_s);
    row("loratune (warm stem cache)", warm_s);
    match &py {
        Ok(v) => {
            let label = format!(
                "rouge_score {} (nltk {})",
                v["rouge_score"].as_str().unwrap_or("?"),
                v["nltk"].as_str().unwrap_or("?")
            );
            row(&label, py_s.unwrap_or(f64::NAN));
            println!();
            println!(
                "speed-up over rouge_score: {:.1}x (cold cache), {:.1}x (warm cache)",
                py_s.unwrap_or(f64::NAN) / cold_s,
                py_s.unwrap_or(f64::NAN) / warm_s
            );
            let names = ["rouge1", "rouge2", "rougeL", "rougeLsum"];
            let mut worst = 0.0f64;
            for (k, name) in names.iter().enumerate() {
                let theirs = v["fsum"][name].as_f64().unwrap_or(f64::NAN);
                worst = worst.max((theirs - ours[k]).abs());
            }
            println!("sum of F-measures, max |ours - python| over the 4 types: {worst:e}");
        }
        Err(e) => {
            println!();
            common::print_skipped("rouge_score", e);
        }
    }

    // Issue #13: one huge pair, a single line each (the LCS table would take 160 GB).
    let huge = |side: fn(&(String, String)) -> &str| {
        let words: Vec<&str> = pairs
            .iter()
            .flat_map(|p| side(p).split_whitespace())
            .collect();
        let words: Vec<&str> = words.iter().cycle().take(HUGE_WORDS).copied().collect();
        words.join(" ")
    };
    let (reference, prediction) = (huge(|p| p.0.as_str()), huge(|p| p.1.as_str()));
    let t = Instant::now();
    let scores = scorer.score(&reference, &prediction);
    println!();
    println!(
        "one pair of {HUGE_WORDS} words per side, one line each: {:.2} s (rougeL F {:.4})",
        t.elapsed().as_secs_f64(),
        scores.rouge_l.fmeasure
    );
}

/// Words per side of the huge pair.
const HUGE_WORDS: usize = 200_000;
