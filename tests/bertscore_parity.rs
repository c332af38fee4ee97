//! BERTScore against the Python `bert_score` package with the real MiniLM encoder (layer 6)
//! and a tiny RoBERTa (layer 1, its tokenization included), with and without IDF, and the
//! `score` command's ROUGE and BERTScore output.
mod common;
use common::*;
use loratune::eval::bertscore::{BertScoreSettings, BertScorer};
use std::path::Path;

fn minilm() -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/models/all-MiniLM-L6-v2");
    assert!(
        path.join("model.safetensors").is_file(),
        "{} is missing (CI has ../shared beside the repository)",
        path.display()
    );
    path.to_string_lossy().into_owned()
}

#[test]
fn matches_bert_score_with_and_without_idf() {
    let cases = read_jsonl(&fixtures().join("bertscore/pairs.jsonl"));
    let predictions: Vec<String> = cases
        .iter()
        .map(|c| c["prediction"].as_str().unwrap().to_string())
        .collect();
    let references: Vec<String> = cases
        .iter()
        .map(|c| c["reference"].as_str().unwrap().to_string())
        .collect();
    for (idf, key) in [(false, "no_idf"), (true, "idf")] {
        let settings = BertScoreSettings {
            model: minilm(),
            layer: 6,
            idf,
            baseline: None,
            batch_size: 64,
        };
        let scorer = BertScorer::load(settings, &candle_core::Device::Cpu).unwrap();
        let scores = scorer.score(&predictions, &references).unwrap();
        let mut worst = 0.0f64;
        assert_eq!(scores.len(), cases.len(), "scores for every case");
        for (case, got) in cases.iter().zip(&scores) {
            let want: Vec<f64> = case[key]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_f64().unwrap())
                .collect();
            assert_eq!(want.len(), 3, "{key}: precision, recall, F1");
            for (g, w) in [got.precision, got.recall, got.f1].iter().zip(&want) {
                worst = worst.max((g - w).abs());
                assert!(
                    (g - w).abs() <= 1e-4,
                    "{key}: {:?} vs {want:?} for {case}",
                    got
                );
            }
        }
        eprintln!("{key}: worst absolute error {worst:e}");
    }
}

#[test]
fn score_command_writes_rouge_and_bertscore() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("pairs.jsonl");
    std::fs::write(
        &input,
        "{\"id\": 7, \"prediction\": \"The cat sat.\", \"reference\": \"A cat sat on the mat.\"}\n",
    )
    .unwrap();
    let output = tmp.path().join("scores.jsonl");
    let model = minilm();
    run_cli(&[
        "score",
        "--input",
        input.to_str().unwrap(),
        "--output",
        output.to_str().unwrap(),
        "--metrics",
        "rouge,bertscore",
        "--bertscore-model",
        &model,
        "--bertscore-layer",
        "6",
        "--device",
        "cpu",
    ]);
    let rows = read_jsonl(&output);
    assert_eq!(rows[0]["id"], 7);
    for key in [
        "rouge1",
        "rouge2",
        "rougeL",
        "rougeLsum",
        "bertscore_precision",
        "bertscore_recall",
        "bertscore_f1",
    ] {
        assert!(rows[0][key].is_f64(), "{key} missing: {}", rows[0]);
    }
    let r1 = rows[0]["rouge1"].as_f64().unwrap();
    assert!(
        (r1 - 2.0 * (3.0 / 3.0) * (3.0 / 6.0) / (1.0 + 0.5)).abs() < 1e-12,
        "{r1}"
    );
}

/// The tiny RoBERTa of `tests/fixtures/roberta/tiny` (byte-level BPE, 64 positions).
fn tiny_roberta() -> String {
    fixtures()
        .join("roberta/tiny")
        .to_string_lossy()
        .into_owned()
}

fn roberta_scorer(idf: bool) -> BertScorer {
    let settings = BertScoreSettings {
        model: tiny_roberta(),
        layer: 1,
        idf,
        baseline: None,
        batch_size: 64,
    };
    BertScorer::load(settings, &candle_core::Device::Cpu).unwrap()
}

/// bert_score tokenizes RoBERTa with the slow RobertaTokenizer and `add_prefix_space=True`
/// after `strip()`: leading/trailing and inner whitespace, punctuation, contractions, accents,
/// CJK, emoji, special-token strings, the empty sentence and truncation to 64 tokens.
#[test]
fn roberta_tokenization_matches_bert_score() {
    let scorer = roberta_scorer(false);
    let cases = read_jsonl(&fixtures().join("bertscore/roberta_tokens.jsonl"));
    for case in &cases {
        let text = case["text"].as_str().unwrap();
        assert_eq!(
            scorer.encode(&[text]).unwrap()[0],
            ids(&case["ids"]),
            "{text:?}"
        );
    }
    assert!(
        cases
            .iter()
            .any(|c| c["ids"].as_array().unwrap().len() == 64),
        "a truncated case"
    );
}

#[test]
fn roberta_matches_bert_score_with_and_without_idf() {
    let cases = read_jsonl(&fixtures().join("bertscore/roberta_pairs.jsonl"));
    let predictions: Vec<String> = cases
        .iter()
        .map(|c| c["prediction"].as_str().unwrap().to_string())
        .collect();
    let references: Vec<String> = cases
        .iter()
        .map(|c| c["reference"].as_str().unwrap().to_string())
        .collect();
    for (idf, key) in [(false, "no_idf"), (true, "idf")] {
        let scores = roberta_scorer(idf)
            .score(&predictions, &references)
            .unwrap();
        let mut worst = 0.0f64;
        assert_eq!(scores.len(), cases.len(), "scores for every case");
        for (case, got) in cases.iter().zip(&scores) {
            let want: Vec<f64> = case[key]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_f64().unwrap())
                .collect();
            assert_eq!(want.len(), 3, "{key}: precision, recall, F1");
            for (g, w) in [got.precision, got.recall, got.f1].iter().zip(&want) {
                worst = worst.max((g - w).abs());
                assert!(
                    (g - w).abs() <= 1e-5,
                    "{key}: {:?} vs {want:?} for {case}",
                    got
                );
            }
        }
        eprintln!("roberta/tiny {key}: worst absolute error {worst:e}");
    }
}

/// `loratune score` with its default encoder, `roberta-large`, read from a Hugging Face cache
/// (offline) that holds the tiny RoBERTa under that name: layer 17 by default, which this
/// 2-layer stand-in lacks, and bert_score's scores with `--bertscore-layer 1`.
#[test]
fn score_command_default_roberta_large_from_the_hub_cache() {
    let tmp = tempfile::tempdir().unwrap();
    let repo = tmp.path().join("hub/models--roberta-large");
    let snapshot = repo.join("snapshots/0123456789abcdef");
    std::fs::create_dir_all(&snapshot).unwrap();
    std::fs::create_dir_all(repo.join("refs")).unwrap();
    std::fs::write(repo.join("refs/main"), "0123456789abcdef").unwrap();
    for name in [
        "config.json",
        "model.safetensors",
        "tokenizer.json",
        "tokenizer_config.json",
    ] {
        std::fs::copy(Path::new(&tiny_roberta()).join(name), snapshot.join(name)).unwrap();
    }
    let cases: Vec<_> = read_jsonl(&fixtures().join("bertscore/roberta_pairs.jsonl"))
        .into_iter()
        .take(12)
        .collect();
    let input = tmp.path().join("pairs.jsonl");
    let lines: Vec<String> = cases
        .iter()
        .map(|c| {
            serde_json::json!({"prediction": c["prediction"], "reference": c["reference"]})
                .to_string()
        })
        .collect();
    std::fs::write(&input, lines.join("\n")).unwrap();
    let output = tmp.path().join("scores.jsonl");
    let score = |extra: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_loratune"))
            .args([
                "score",
                "--input",
                input.to_str().unwrap(),
                "--output",
                output.to_str().unwrap(),
                "--metrics",
                "bertscore",
                "--device",
                "cpu",
            ])
            .args(extra)
            .env("HF_HUB_CACHE", tmp.path().join("hub"))
            .env("HF_HUB_OFFLINE", "1")
            .output()
            .unwrap()
    };
    let default = score(&[]);
    let stderr = String::from_utf8_lossy(&default.stderr);
    assert!(
        !default.status.success() && stderr.contains("layer 17 but roberta-large has 2 layers"),
        "{stderr}"
    );
    let layer1 = score(&["--bertscore-layer", "1"]);
    assert!(
        layer1.status.success(),
        "{}",
        String::from_utf8_lossy(&layer1.stderr)
    );
    let rows = read_jsonl(&output);
    assert_eq!(rows.len(), cases.len(), "score --output rows");
    for (case, row) in cases.iter().zip(rows) {
        let got = ["bertscore_precision", "bertscore_recall", "bertscore_f1"]
            .map(|k| row[k].as_f64().unwrap());
        let want = case["no_idf"].as_array().unwrap();
        assert_eq!(want.len(), got.len());
        for (g, w) in got.iter().zip(want) {
            assert!(
                (g - w.as_f64().unwrap()).abs() <= 1e-5,
                "{got:?} vs {} for {case}",
                case["no_idf"]
            );
        }
    }
}
