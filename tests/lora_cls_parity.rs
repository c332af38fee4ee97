//! LoRA on BERT/DistilBERT classifiers against PEFT: adapter outputs (with the saved
//! head), trainable counts, per-step training losses, the trained adapter and merging.
mod common;
use candle_core::Device;
use common::*;
use loratune::lora::TrainableCounts;
use loratune::models::classifier::SequenceClassifier;
use loratune::models::Options;
use std::path::Path;

const CASES: [&str; 2] = ["distilbert_cls", "bert_cls"];

/// Relative tolerance of a case's step losses and trained logits against PEFT's run, about 3×
/// what was measured: distilbert_cls 1.5e-5 / 3.3e-5, bert_cls 5.1e-7 / 1.0e-5.
fn training_tolerance(case: &str) -> (f64, f64) {
    match case {
        "distilbert_cls" => (5e-5, 1e-4),
        _ => (2e-6, 3e-5),
    }
}

fn open(model: &Path, adapter: Option<&Path>) -> SequenceClassifier {
    let files = loratune::hub::resolve_model(model.to_str().unwrap()).unwrap();
    let options = Options {
        adapter: adapter.map(Path::to_path_buf),
        ..Default::default()
    };
    loratune::models::open(&files, &options)
        .and_then(|o| o.model.into_classifier())
        .unwrap()
}

/// Logits of the base fixture's inputs, one padded batch.
fn logits(model: &SequenceClassifier, base: &Path) -> Vec<Vec<f32>> {
    let files = loratune::hub::resolve_model(base.to_str().unwrap()).unwrap();
    let max = read_json(&base.join("settings.json"))["max_tokens"]
        .as_u64()
        .unwrap() as usize;
    let tokenizer = loratune::tokenizer::TextTokenizer::load(&files)
        .unwrap()
        .with_max_length(max)
        .unwrap();
    let texts: Vec<String> = read_jsonl(&base.join("inputs.jsonl"))
        .iter()
        .map(|r| r["text"].as_str().unwrap().to_string())
        .collect();
    let ids = tokenizer
        .encode_batch(&texts.iter().map(String::as_str).collect::<Vec<_>>())
        .unwrap();
    let (ids, mask) = loratune::data::batch::pad(&ids, model.pad_token_id, &Device::Cpu).unwrap();
    model
        .forward(&ids, &mask, false)
        .unwrap()
        .to_vec2()
        .unwrap()
}

fn assert_logits(got: &[Vec<f32>], expected: &Path, tolerance: f64, what: &str) {
    let path = expected;
    let expected = read_jsonl(path);
    assert_eq!(got.len(), expected.len(), "{what}: rows");
    let mut worst = 0.0f64;
    for (g, w) in got.iter().zip(expected) {
        let w: Vec<f64> = w["logits"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap())
            .collect();
        let scale = w.iter().fold(0.0f64, |m, v| m.max(v.abs()));
        assert_eq!(g.len(), w.len(), "{what}: labels");
        for (a, b) in g.iter().zip(&w) {
            let rel = (*a as f64 - b).abs() / scale;
            worst = worst.max(rel);
            assert!(rel <= tolerance, "{what}: {g:?} vs {w:?} (rel {rel:e})");
        }
    }
    eprintln!("{what}: {} within {worst:e}", path.display());
}

#[test]
fn peft_adapter_outputs_and_counts_match() {
    for case in CASES {
        let mut model = open(&lora_base(case), Some(&lora_case(case).join("adapter")));
        let info = read_json(&lora_case(case).join("peft_info.json"));
        let counts = TrainableCounts::of(&mut model);
        assert_eq!(
            counts.trainable as u64,
            info["trainable"].as_u64().unwrap(),
            "{case}"
        );
        assert_eq!(counts.all as u64, info["all"].as_u64().unwrap(), "{case}");
        assert_logits(
            &logits(&model, &lora_base(case)),
            &lora_case(case).join("expected_outputs.jsonl"),
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
        let recipe = lora_training_recipe(case, "classification", &model_dir, &train, &out);
        let report = loratune::train::job::train_recipe(&recipe).unwrap();
        let (steps, trained) = training_tolerance(case);
        assert_step_losses(case, &report.step_losses, steps);
        let model = open(&lora_base(case), Some(&report.adapter_dir));
        assert_logits(
            &logits(&model, &lora_base(case)),
            &lora_case(case).join("expected_trained_outputs.jsonl"),
            trained,
            case,
        );
    }
}

#[test]
fn merged_classifier_matches_adapter_and_peft_merge() {
    let case = "distilbert_cls";
    let tmp = tempfile::tempdir().unwrap();
    let merged = tmp.path().join("merged");
    run_cli(&[
        "merge",
        "--model",
        lora_base(case).to_str().unwrap(),
        "--adapter",
        lora_case(case).join("adapter").to_str().unwrap(),
        "--output",
        merged.to_str().unwrap(),
        "--verify",
    ]);
    let model = open(&merged, None);
    assert!(model.new_weights.is_empty());
    assert_logits(
        &logits(&model, &lora_base(case)),
        &lora_case(case).join("expected_merged_outputs.jsonl"),
        1e-4,
        "merged",
    );
    assert_same_tensor_names(
        &merged.join("model.safetensors"),
        &lora_case(case).join("merged/model.safetensors"),
    );
}

#[test]
fn classify_cli_applies_adapter() {
    let case = "bert_cls";
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out.jsonl");
    let base = lora_base(case);
    run_cli(&[
        "classify",
        "--model",
        base.to_str().unwrap(),
        "--adapter",
        lora_case(case).join("adapter").to_str().unwrap(),
        "--input",
        base.join("inputs.jsonl").to_str().unwrap(),
        "--output",
        out.to_str().unwrap(),
        "--max-tokens",
        "48",
    ]);
    let got: Vec<Vec<f32>> = read_jsonl(&out)
        .iter()
        .map(|r| {
            r["logits"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_f64().unwrap() as f32)
                .collect()
        })
        .collect();
    assert_logits(
        &got,
        &lora_case(case).join("expected_outputs.jsonl"),
        1e-4,
        "classify --adapter",
    );
}

#[test]
fn adapter_check_reports_fit_and_misfit() {
    let case = "distilbert_cls";
    let adapter = lora_case(case).join("adapter");
    let ok = run_cli(&[
        "adapter",
        "check",
        "--model",
        lora_base(case).to_str().unwrap(),
        "--adapter",
        adapter.to_str().unwrap(),
    ]);
    assert!(
        ok.contains("matched LoRA modules (2)") && ok.contains("PEFT will load it: yes"),
        "{ok}"
    );
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_loratune"))
        .args([
            "adapter",
            "check",
            "--model",
            lora_base("bert_cls").to_str().unwrap(),
            "--adapter",
            adapter.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success());
    assert!(
        text.contains("unmatched target_modules entries (1)")
            && text.contains("PEFT will load it: no"),
        "{text}"
    );
}

#[test]
fn adapter_check_refuses_a_config_that_contradicts_the_tensors() {
    let case = "distilbert_cls";
    let config = read_json(&lora_case(case).join("adapter/adapter_config.json"));
    let r = config["r"].as_u64().unwrap();
    let first_target = match &config["target_modules"] {
        serde_json::Value::Array(names) => names[0].as_str().unwrap().to_string(),
        other => panic!("target_modules {other}"),
    };
    let mut wrong_r = config.clone();
    wrong_r["r"] = (r * 2).into();
    let mut wrong_pattern = config.clone();
    wrong_pattern["rank_pattern"] = serde_json::json!({ first_target: r + 1 });
    for (what, changed) in [("r", wrong_r), ("rank_pattern", wrong_pattern)] {
        let tmp = tempfile::tempdir().unwrap();
        let adapter = tmp.path().join("adapter");
        std::fs::create_dir(&adapter).unwrap();
        for file in ["adapter_model.safetensors", "adapter_config.json"] {
            std::fs::copy(
                lora_case(case).join("adapter").join(file),
                adapter.join(file),
            )
            .unwrap();
        }
        std::fs::write(adapter.join("adapter_config.json"), changed.to_string()).unwrap();
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_loratune"))
            .args([
                "adapter",
                "check",
                "--model",
                lora_base(case).to_str().unwrap(),
                "--adapter",
                adapter.to_str().unwrap(),
            ])
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{what}: {text}");
        assert!(
            text.contains("PEFT will load it: no (size mismatch)")
                && text.contains("size mismatch for"),
            "{what}: {text}\n{err}"
        );
    }
}
