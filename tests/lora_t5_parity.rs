//! LoRA on T5 against PEFT: adapter outputs, per-step training losses, the trained adapter,
//! merged models, and adapter save/reload.
mod common;
use candle_core::{DType, Device};
use common::*;
use loratune::data::tokenized::TokenizedPairs;
use loratune::lora::{peft, trainable_parameters, Adaptable, TrainableCounts};
use loratune::models::t5::T5;
use loratune::train::objective::{pair_tokenizers, pairs_batch};
use std::path::{Path, PathBuf};

const CASES: [&str; 2] = ["t5_qv", "t5_all"];

/// Relative tolerance of a case's step losses and trained outputs against PEFT's run, about 3×
/// what was measured: t5_qv 2.9e-7 / 2.2e-7; t5_all 1.7e-4 / 1.9e-4 (its t5v1_like base is
/// ill-conditioned: tests/fixtures/lora/README.md, Conditioning).
fn training_tolerance(case: &str) -> f64 {
    match case {
        "t5_all" => 5e-4,
        _ => 1e-6,
    }
}

fn case_dir(case: &str) -> PathBuf {
    lora_case(case)
}

fn base_dir(case: &str) -> PathBuf {
    lora_base(case)
}

fn load_base(dir: &Path) -> T5 {
    open_t5(dir)
}

/// Per-example losses (one padded batch) on the base fixture's inputs.
fn losses(model: &T5, base: &Path) -> Vec<f64> {
    let files = loratune::hub::resolve_model(base.to_str().unwrap()).unwrap();
    let tokenizer = loratune::tokenizer::TextTokenizer::load(&files).unwrap();
    let rows = loratune::data::source::read_rows(&base.join("inputs.jsonl")).unwrap();
    let data: loratune::recipe::DataSection =
        toml::from_str("train = \"x\"\nmax_source_tokens = 64\nmax_target_tokens = 16").unwrap();
    let examples = loratune::data::dataset::seq2seq_examples(
        &rows,
        &loratune::train::example_fields(&data),
        &base.join("inputs.jsonl"),
    )
    .unwrap();
    let (sources, targets) = pair_tokenizers(&tokenizer, &data).unwrap();
    let pairs = TokenizedPairs::new(&examples, &sources, &targets).unwrap();
    let all: Vec<usize> = (0..pairs.len()).collect();
    let batch = pairs_batch(&pairs, model, &all).unwrap();
    let sums: Vec<f64> = model
        .token_nll(&batch, false)
        .unwrap()
        .to_dtype(DType::F64)
        .unwrap()
        .sum(1)
        .unwrap()
        .to_vec1()
        .unwrap();
    sums.iter()
        .enumerate()
        .map(|(i, s)| s / pairs.target_len(i) as f64)
        .collect()
}

fn assert_close(got: &[f64], expected: &Path, tolerance: f64, what: &str) {
    let want = read_jsonl(expected);
    assert_eq!(got.len(), want.len(), "{what}: rows");
    let mut worst = 0.0f64;
    for (g, w) in got.iter().zip(&want) {
        let w = w["loss"].as_f64().unwrap();
        let rel = (g - w).abs() / w.abs();
        worst = worst.max(rel);
        assert!(rel <= tolerance, "{what}: {g} vs {w} (rel {rel:e})");
    }
    eprintln!("{what}: {} within {worst:e}", expected.display());
}

#[test]
fn peft_adapter_outputs_match() {
    for case in CASES {
        let base = base_dir(case);
        let mut model = load_base(&base);
        let report = peft::load_into(&mut model, &case_dir(case).join("adapter")).unwrap();
        assert!(report.is_complete(), "{case}: {report:?}");
        let info = read_json(&case_dir(case).join("peft_info.json"));
        assert_eq!(
            report.adapted.len(),
            info["lora_modules"].as_array().unwrap().len()
        );
        let counts = TrainableCounts::of(&mut model);
        assert_eq!(
            counts.trainable as u64,
            info["trainable"].as_u64().unwrap(),
            "{case}"
        );
        assert_eq!(counts.all as u64, info["all"].as_u64().unwrap(), "{case}");
        assert_close(
            &losses(&model, &base),
            &case_dir(case).join("expected_outputs.jsonl"),
            1e-4,
            case,
        );
    }
}

#[test]
fn training_steps_match_peft() {
    for case in CASES {
        let tmp = tempfile::tempdir().unwrap();
        let (model_dir, train) = lora_training_copy(case, tmp.path());
        let out = tmp.path().join("run");
        let report = loratune::train::job::train_recipe(&lora_training_recipe(
            case, "seq2seq", &model_dir, &train, &out,
        ))
        .unwrap();
        assert_step_losses(case, &report.step_losses, training_tolerance(case));
        let metrics = read_jsonl(&out.join("metrics.jsonl"));
        assert_eq!(metrics.len(), report.step_losses.len());
        for key in ["step", "epoch", "loss", "learning_rate", "grad_norm"] {
            assert!(metrics[0].get(key).is_some(), "metrics.jsonl lacks {key}");
        }
        // The trained adapter reloads and gives PEFT's post-training outputs.
        let mut model = load_base(&base_dir(case));
        peft::load_into(&mut model, &report.adapter_dir).unwrap();
        assert_close(
            &losses(&model, &base_dir(case)),
            &case_dir(case).join("expected_trained_outputs.jsonl"),
            training_tolerance(case),
            case,
        );
        assert!(out.join("recipe.toml").is_file());
    }
}

#[test]
fn merged_model_matches_adapter_and_peft_merge() {
    let case = "t5_qv";
    let base = base_dir(case);
    let tmp = tempfile::tempdir().unwrap();
    let merged = tmp.path().join("merged");
    run_cli(&[
        "merge",
        "--model",
        base.to_str().unwrap(),
        "--adapter",
        case_dir(case).join("adapter").to_str().unwrap(),
        "--output",
        merged.to_str().unwrap(),
        "--verify",
    ]);
    let model = load_base(&merged);
    assert_close(
        &losses(&model, &base),
        &case_dir(case).join("expected_merged_outputs.jsonl"),
        1e-4,
        "merged",
    );
    // Same tensor names as PEFT's merge_and_unload + save_pretrained.
    assert_same_tensor_names(
        &merged.join("model.safetensors"),
        &case_dir(case).join("merged/model.safetensors"),
    );
}

#[test]
fn saved_adapter_reloads_identically() {
    let case = "t5_qv";
    let base = base_dir(case);
    let mut model = load_base(&base);
    let adapter =
        peft::Adapter::read(&case_dir(case).join("adapter"), DType::F32, &Device::Cpu).unwrap();
    peft::apply(&mut model, &adapter).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("copy");
    peft::save(&mut model, &adapter.config, &dir).unwrap();
    let copy = peft::Adapter::read(&dir, DType::F32, &Device::Cpu).unwrap();
    assert_eq!(copy.tensors.len(), adapter.tensors.len());
    for (k, t) in &adapter.tensors {
        assert_eq!(max_abs_diff(t, &copy.tensors[k]), 0.0, "{k}");
    }
    let mut reloaded = load_base(&base);
    peft::load_into(&mut reloaded, &dir).unwrap();
    assert_eq!(losses(&model, &base), losses(&reloaded, &base));
    assert_eq!(
        trainable_parameters(&mut reloaded).len(),
        trainable_parameters(&mut model).len()
    );
    let _ = model.base_parameter_count();
}
