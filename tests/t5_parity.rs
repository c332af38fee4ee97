//! T5 against Transformers on the committed tiny fixtures: losses, tokenization, greedy decoding.
mod common;
use candle_core::{DType, Device};
use common::*;
use loratune::data::batch::Seq2SeqBatch;
use loratune::generate::{greedy, GenerationSettings};
use loratune::tokenizer::TextTokenizer;
use std::path::Path;

struct Fixture {
    model: loratune::models::t5::T5,
    inputs: Vec<serde_json::Value>,
    sources: Vec<Vec<u32>>,
    targets: Vec<Vec<u32>>,
    tokenizer: TextTokenizer,
    settings: serde_json::Value,
}

fn load(dir: &Path) -> Fixture {
    let files =
        loratune::hub::resolve_model(dir.to_str().expect("utf-8 path")).expect("model files");
    let model = open_t5(dir);
    let tokenizer = TextTokenizer::load(&files).expect("tokenizer");
    let settings = read_json(&dir.join("settings.json"));
    let max_src = settings["max_source_tokens"].as_u64().expect("setting") as usize;
    let max_tgt = settings["max_target_tokens"].as_u64().expect("setting") as usize;
    let inputs = read_jsonl(&dir.join("inputs.jsonl"));
    let src_tok = tokenizer.with_max_length(max_src).expect("truncation");
    let tgt_tok = tokenizer.with_max_length(max_tgt).expect("truncation");
    let sources = inputs
        .iter()
        .map(|r| {
            src_tok
                .encode(r["source"].as_str().expect("source"))
                .expect("encode")
        })
        .collect();
    let targets = inputs
        .iter()
        .map(|r| {
            tgt_tok
                .encode(r["target"].as_str().expect("target"))
                .expect("encode")
        })
        .collect();
    Fixture {
        model,
        inputs,
        sources,
        targets,
        tokenizer,
        settings,
    }
}

fn per_example_losses(f: &Fixture, rows: &[usize]) -> Vec<f64> {
    let src: Vec<Vec<u32>> = rows.iter().map(|&i| f.sources[i].clone()).collect();
    let tgt: Vec<Vec<u32>> = rows.iter().map(|&i| f.targets[i].clone()).collect();
    let cfg = &f.model.config;
    let batch = Seq2SeqBatch::new(
        &src,
        &tgt,
        cfg.pad_token_id,
        cfg.decoder_start(),
        &Device::Cpu,
    )
    .expect("batch");
    let sums: Vec<f64> = f
        .model
        .token_nll(&batch, false)
        .expect("forward")
        .to_dtype(DType::F64)
        .unwrap()
        .sum(1)
        .unwrap()
        .to_vec1()
        .unwrap();
    sums.iter()
        .zip(&tgt)
        .map(|(s, t)| s / t.len() as f64)
        .collect()
}

#[test]
fn tokenization_matches_transformers() {
    for dir in fixture_dirs("t5") {
        let f = load(&dir);
        let expected = read_jsonl(&dir.join("expected_loss.jsonl"));
        for (i, e) in expected.iter().enumerate() {
            assert_eq!(
                f.sources[i],
                ids(&e["input_ids"]),
                "{}: input_ids of {}",
                dir.display(),
                e["id"]
            );
            assert_eq!(
                f.targets[i],
                ids(&e["labels"]),
                "{}: labels of {}",
                dir.display(),
                e["id"]
            );
        }
    }
}

#[test]
fn losses_match_transformers_one_by_one_and_batched() {
    let mut worst = 0.0f64;
    for dir in fixture_dirs("t5") {
        let f = load(&dir);
        let expected = read_jsonl(&dir.join("expected_loss.jsonl"));
        let all: Vec<usize> = (0..f.inputs.len()).collect();
        let batched = per_example_losses(&f, &all);
        for (i, e) in expected.iter().enumerate() {
            let want = e["loss"].as_f64().expect("loss");
            let single = per_example_losses(&f, &[i])[0];
            for got in [single, batched[i]] {
                let rel = (got - want).abs() / want.abs();
                worst = worst.max(rel);
                assert!(
                    rel <= 1e-4,
                    "{}: {} loss {got} vs {want} (rel {rel:e})",
                    dir.display(),
                    e["id"]
                );
            }
        }
    }
    eprintln!("worst relative loss error: {worst:e}");
}

#[test]
fn greedy_matches_transformers() {
    for dir in fixture_dirs("t5") {
        let f = load(&dir);
        let settings = GenerationSettings::greedy(
            f.settings["max_new_tokens"].as_u64().expect("setting") as usize,
        );
        let expected = read_jsonl(&dir.join("expected_generate.jsonl"));
        let batched = greedy(&f.model, &f.sources, &settings).expect("generate");
        for (i, e) in expected.iter().enumerate() {
            if e["min_top2_gap"].as_f64().expect("gap") <= 1e-3 {
                continue;
            }
            let single = greedy(&f.model, &f.sources[i..=i], &settings).expect("generate");
            let want = ids(&e["token_ids"]);
            assert_eq!(single[0], want, "{}: {} one-by-one", dir.display(), e["id"]);
            assert_eq!(batched[i], want, "{}: {} batched", dir.display(), e["id"]);
            assert_eq!(
                f.tokenizer.decode(&single[0]).unwrap(),
                e["generated"].as_str().unwrap()
            );
        }
    }
}

#[test]
fn cli_loss_and_generate_match_transformers() {
    let dir = &fixture_dirs("t5")[0];
    let tmp = tempfile::tempdir().expect("tempdir");
    let model = dir.to_str().unwrap();
    let input = dir.join("inputs.jsonl");
    let loss_out = tmp.path().join("loss.jsonl");
    let gen_out = tmp.path().join("gen.jsonl");
    run_cli(&[
        "loss",
        "--model",
        model,
        "--input",
        input.to_str().unwrap(),
        "--output",
        loss_out.to_str().unwrap(),
        "--max-source-tokens",
        "64",
        "--max-target-tokens",
        "16",
        "--batch-size",
        "3",
    ]);
    run_cli(&[
        "generate",
        "--model",
        model,
        "--input",
        input.to_str().unwrap(),
        "--output",
        gen_out.to_str().unwrap(),
        "--max-source-tokens",
        "64",
        "--max-new-tokens",
        "12",
        "--batch-size",
        "4",
    ]);
    let losses = read_jsonl(&loss_out);
    let expected_losses = read_jsonl(&dir.join("expected_loss.jsonl"));
    assert_eq!(losses.len(), expected_losses.len(), "loss --output rows");
    for (got, want) in losses.iter().zip(expected_losses) {
        assert_eq!(got["id"], want["id"]);
        assert_eq!(got["tokens"], want["tokens"]);
        let (g, w) = (
            got["loss"].as_f64().unwrap(),
            want["loss"].as_f64().unwrap(),
        );
        assert!((g - w).abs() / w <= 1e-4, "{g} vs {w}");
    }
    let generated = read_jsonl(&gen_out);
    let expected_generated = read_jsonl(&dir.join("expected_generate.jsonl"));
    assert_eq!(
        generated.len(),
        expected_generated.len(),
        "generate --output rows"
    );
    for (got, want) in generated.iter().zip(expected_generated) {
        assert_eq!(got["id"], want["id"]);
        if want["min_top2_gap"].as_f64().unwrap() > 1e-3 {
            assert_eq!(got["generated"], want["generated"]);
        }
    }
}
