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
