//! BERTScore against the Python `bert_score` package with the real MiniLM encoder (layer 6),
//! with and without IDF, and the `score` command's ROUGE and BERTScore output.
mod common;
use common::*;
use loratune::eval::bertscore::{BertScoreSettings, BertScorer};
use std::path::Path;

fn minilm() -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/models/all-MiniLM-L6-v2");
    assert!(path.join("model.safetensors").is_file(), "{} is missing (CI has ../shared beside the repository)", path.display());
    path.to_string_lossy().into_owned()
}

#[test]
fn matches_bert_score_with_and_without_idf() {
    let cases = read_jsonl(&fixtures().join("bertscore/pairs.jsonl"));
    let predictions: Vec<String> = cases.iter().map(|c| c["prediction"].as_str().unwrap().to_string()).collect();
    let references: Vec<String> = cases.iter().map(|c| c["reference"].as_str().unwrap().to_string()).collect();
    for (idf, key) in [(false, "no_idf"), (true, "idf")] {
        let settings = BertScoreSettings { model: minilm(), layer: 6, idf, baseline: None, batch_size: 64 };
        let scorer = BertScorer::load(settings, &candle_core::Device::Cpu).unwrap();
        let scores = scorer.score(&predictions, &references).unwrap();
        let mut worst = 0.0f64;
        for (case, got) in cases.iter().zip(&scores) {
            let want: Vec<f64> = case[key].as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect();
            for (g, w) in [got.precision, got.recall, got.f1].iter().zip(&want) {
                worst = worst.max((g - w).abs());
                assert!((g - w).abs() <= 1e-4, "{key}: {:?} vs {want:?} for {case}", got);
            }
        }
        eprintln!("{key}: worst absolute error {worst:e}");
    }
}

#[test]
fn score_command_writes_rouge_and_bertscore() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("pairs.jsonl");
    std::fs::write(&input, "{\"id\": 7, \"prediction\": \"The cat sat.\", \"reference\": \"A cat sat on the mat.\"}\n").unwrap();
    let output = tmp.path().join("scores.jsonl");
    let model = minilm();
    run_cli(&["score", "--input", input.to_str().unwrap(), "--output", output.to_str().unwrap(), "--metrics", "rouge,bertscore",
        "--bertscore-model", &model, "--bertscore-layer", "6", "--device", "cpu"]);
    let rows = read_jsonl(&output);
    assert_eq!(rows[0]["id"], 7);
    for key in ["rouge1", "rouge2", "rougeL", "rougeLsum", "bertscore_precision", "bertscore_recall", "bertscore_f1"] {
        assert!(rows[0][key].is_f64(), "{key} missing: {}", rows[0]);
    }
    let r1 = rows[0]["rouge1"].as_f64().unwrap();
    assert!((r1 - 2.0 * (3.0 / 3.0) * (3.0 / 6.0) / (1.0 + 0.5)).abs() < 1e-12, "{r1}");
}
