//! Datasets larger than memory (issue 18): `loratune train` on a 200,000-document JSON Lines
//! file (about 460 MB, XSum-sized documents of made-up words), with no sampling, for 4 steps of
//! the tiny T5 fixture, so the bound measures the data path. The peak resident set size of the
//! process (`wait4`'s `ru_maxrss`) must stay under 1.5 GB. Ignored by default (it writes 460 MB
//! and reads it twice): `cargo test --test big_data -- --ignored --nocapture`.
//!
//! The default suite's `data::selected` unit tests check that the chunked, two-pass reading
//! builds exactly the examples that sampling them all in memory gave.
mod common;
use common::*;
use std::io::Write;
use std::path::Path;

const DOCUMENTS: usize = 200_000;
const LIMIT_BYTES: u64 = 1_500_000_000;

/// Deterministic made-up words (a small linear congruential generator: test input only).
struct Words(u64);

impl Words {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }

    fn word(&mut self) -> String {
        const SYLLABLES: [&str; 16] = [
            "ka", "lo", "mi", "ne", "ru", "sa", "to", "vi", "an", "el", "or", "us", "ba", "de",
            "fi", "go",
        ];
        let n = 1 + self.next() % 4;
        (0..n)
            .map(|_| SYLLABLES[(self.next() % 16) as usize])
            .collect()
    }

    fn sentence(&mut self, words: usize) -> String {
        (0..words)
            .map(|_| self.word())
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// `n` XSum-like rows (`document` of about 2,300 bytes, one-sentence `summary`).
fn write_documents(path: &Path, n: usize) -> u64 {
    let mut out = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    let mut words = Words(7);
    for i in 0..n {
        let row = serde_json::json!({
            "id": i.to_string(),
            "document": words.sentence(355),
            "summary": words.sentence(20),
        });
        writeln!(out, "{row}").unwrap();
    }
    out.flush().unwrap();
    std::fs::metadata(path).unwrap().len()
}

/// Runs `loratune ARGS` and returns its peak resident set size in bytes.
// the child is reaped by `wait4`, which also gives its resource usage
#[allow(clippy::zombie_processes)]
fn peak_rss(args: &[&str]) -> u64 {
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_loratune"))
        .args(args)
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut status = 0;
    // SAFETY: an all-zero rusage is a valid value; wait4 fills it for the child we spawned.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: waits for our own child process, with valid pointers to locals.
    let pid = unsafe { libc::wait4(child.id() as i32, &mut status, 0, &mut usage) };
    assert_eq!(pid, child.id() as i32, "wait4 failed");
    assert!(
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
        "loratune {args:?} failed (status {status})"
    );
    // Linux reports ru_maxrss in KiB
    usage.ru_maxrss as u64 * 1024
}

#[test]
#[ignore = "writes a 460 MB data file; run with --ignored"]
fn training_on_200000_documents_stays_under_1_5_gb() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("documents.jsonl");
    let started = std::time::Instant::now();
    let bytes = write_documents(&data, DOCUMENTS);
    eprintln!(
        "{DOCUMENTS} documents, {:.0} MB, written in {:.0?}",
        bytes as f64 / 1e6,
        started.elapsed()
    );
    let recipe = tmp.path().join("recipe.toml");
    std::fs::write(
        &recipe,
        format!(
            "[model]\nname = \"{model}\"\ntask = \"seq2seq\"\n\
             [data]\ntrain = \"{train}\"\nprompt = \"Summarize: {{document}}\"\n\
             target_field = \"summary\"\nmax_source_tokens = 1024\nmax_target_tokens = 128\n\
             [lora]\nr = 4\nlora_alpha = 8\ntarget_modules = [\"q\", \"v\"]\n\
             [train]\noutput_dir = \"{out}\"\nbatch_size = 8\nmax_steps = 4\nlogging_steps = 1\n\
             device = \"cpu\"\n",
            model = fixtures().join("t5/flan_like").display(),
            train = data.display(),
            out = tmp.path().join("run").display(),
        ),
    )
    .unwrap();
    let started = std::time::Instant::now();
    let peak = peak_rss(&["train", recipe.to_str().unwrap()]);
    eprintln!(
        "peak resident memory {:.0} MB (bound {:.0} MB), {:.0?}",
        peak as f64 / 1e6,
        LIMIT_BYTES as f64 / 1e6,
        started.elapsed()
    );
    let metrics = read_jsonl(&tmp.path().join("run/metrics.jsonl"));
    assert!(
        metrics.iter().any(|m| m["step"] == 4),
        "the run did not reach step 4"
    );
    assert!(peak < LIMIT_BYTES, "peak {peak} bytes");
}
