//! Parity of `loratune::eval::rouge` / `loratune::eval::porter` with Python's
//! `rouge_score` 0.1.2 (`use_stemmer=True`) and NLTK's `PorterStemmer`.
//! Fixtures: `scripts/make_rouge_fixtures.py`.

use loratune::eval::porter::PorterStemmer;
use loratune::eval::rouge::{RougeScore, RougeScorer};
use serde_json::Value;

const TOL: f64 = 1e-12;

fn fixture(name: &str) -> String {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join("fixtures")
        .join("rouge")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

fn lines(name: &str) -> Vec<Value> {
    fixture(name)
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).expect("bad fixture line"))
        .collect()
}

fn triple(v: &Value, key: &str) -> [f64; 3] {
    let a = v[key].as_array().unwrap_or_else(|| panic!("missing {key}"));
    assert_eq!(a.len(), 3);
    [
        a[0].as_f64().unwrap(),
        a[1].as_f64().unwrap(),
        a[2].as_f64().unwrap(),
    ]
}

#[test]
fn rouge_matches_rouge_score() {
    let cases = lines("cases.jsonl");
    assert!(cases.len() >= 500, "only {} cases", cases.len());
    let scorer = RougeScorer::new(true);
    let mut failures = Vec::new();
    let mut max_err = 0.0f64;
    for (i, case) in cases.iter().enumerate() {
        let reference = case["reference"].as_str().unwrap();
        let prediction = case["prediction"].as_str().unwrap();
        let got = scorer.score(reference, prediction);
        let metrics: [(&str, RougeScore); 4] = [
            ("rouge1", got.rouge1),
            ("rouge2", got.rouge2),
            ("rougeL", got.rouge_l),
            ("rougeLsum", got.rouge_lsum),
        ];
        for (name, ours) in metrics {
            let want = triple(case, name);
            let have = [ours.precision, ours.recall, ours.fmeasure];
            for k in 0..3 {
                let err = (have[k] - want[k]).abs();
                max_err = max_err.max(err);
                if err.is_nan() || err > TOL {
                    failures.push(format!(
                        "case {i} {name}[{}]: ours {} python {} (ref {:?}, pred {:?})",
                        ["p", "r", "f"][k],
                        have[k],
                        want[k],
                        reference,
                        prediction
                    ));
                }
            }
        }
    }
    eprintln!("{} cases, max abs error {max_err:e}", cases.len());
    assert!(
        failures.is_empty(),
        "{} mismatches:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn scoring_twice_with_a_warm_cache_gives_the_same_result() {
    let cases = lines("cases.jsonl");
    let scorer = RougeScorer::new(true);
    let first: Vec<_> = cases
        .iter()
        .map(|c| {
            scorer.score(
                c["reference"].as_str().unwrap(),
                c["prediction"].as_str().unwrap(),
            )
        })
        .collect();
    let cloned = scorer.clone();
    assert_eq!(cases.len(), first.len());
    for (c, f) in cases.iter().zip(&first) {
        let again = cloned.score(
            c["reference"].as_str().unwrap(),
            c["prediction"].as_str().unwrap(),
        );
        assert_eq!(&again, f);
    }
}

#[test]
fn porter_matches_nltk() {
    let words = lines("porter.jsonl");
    assert!(words.len() >= 2500, "only {} words", words.len());
    let stemmer = PorterStemmer::new();
    let mut failures = Vec::new();
    for w in &words {
        let word = w["word"].as_str().unwrap();
        let want = w["stem"].as_str().unwrap();
        let got = stemmer.stem(word);
        if got != want {
            failures.push(format!("{word:?}: ours {got:?} nltk {want:?}"));
        }
    }
    assert!(
        failures.is_empty(),
        "{} mismatches:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// A line of `tokens` as text (digit tokens: the stemmer leaves them alone).
fn line(tokens: &[u64]) -> String {
    tokens
        .iter()
        .map(u64::to_string)
        .collect::<Vec<_>>()
        .join(" ")
}

/// Issue #13: one 200,000-word pair, one line each. Scoring it with an LCS
/// table (as `rouge_score` and earlier versions did for ROUGE-Lsum) would take
/// 4 * 200,000^2 bytes = 160 GB; now it must simply complete, quickly. ROUGE-L
/// (bit-parallel LCS length) and ROUGE-Lsum (the union-LCS walk over a single
/// sentence pair, which cannot be clipped) are computed by different code and
/// must agree; for a pair made by edits the LCS is known exactly.
#[test]
fn rouge_on_a_200000_word_pair_completes_quickly() {
    use rand::{Rng, SeedableRng};
    const N: usize = 200_000;
    let mut rng = rand::rngs::StdRng::seed_from_u64(13);
    let reference: Vec<u64> = (0..N).map(|_| rng.gen_range(0..3000)).collect();
    let scorer = RougeScorer::new(true);

    // Every 7th token deleted, a token that occurs nowhere else inserted every 5th.
    let mut edited = Vec::new();
    let mut kept = 0usize;
    for (i, &t) in reference.iter().enumerate() {
        if i % 7 == 3 {
            continue;
        }
        if edited.len() % 5 == 0 {
            edited.push(1_000_000 + i as u64);
        }
        edited.push(t);
        kept += 1;
    }
    let random: Vec<u64> = (0..N).map(|_| rng.gen_range(0..3000)).collect();

    for (name, prediction) in [("edited", &edited), ("random", &random)] {
        let (r, p) = (line(&reference), line(prediction));
        let start = std::time::Instant::now();
        let got = scorer.score(&r, &p);
        let seconds = start.elapsed().as_secs_f64();
        eprintln!(
            "{name} pair of {N} and {} words: {seconds:.2} s",
            prediction.len()
        );
        assert!(seconds < 60.0, "{name}: {seconds} s");
        assert_eq!(got.rouge_lsum, got.rouge_l, "{name}");
        if name == "edited" {
            let lcs = kept as f64;
            let want = RougeScore::from_pr(lcs / edited.len() as f64, lcs / N as f64);
            assert_eq!(got.rouge_l, want);
        } else {
            // Random sequences over 3,000 symbols: LCS about 2 * N / sqrt(3000).
            assert!((0.03..0.04).contains(&got.rouge_l.recall), "{got:?}");
        }
    }
}
