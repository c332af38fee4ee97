//! Broken or mismatched model files are refused with a message naming the file and what is
//! wrong, never with a panic or a backtrace.
mod common;
use common::*;
use std::path::{Path, PathBuf};

fn copy_model(from: &str, to: &Path) -> PathBuf {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(fixtures().join(from)).unwrap() {
        let path = entry.unwrap().path();
        std::fs::copy(&path, to.join(path.file_name().unwrap())).unwrap();
    }
    to.to_path_buf()
}

fn edit_config(dir: &Path, edit: impl FnOnce(&mut serde_json::Value)) {
    let mut config = read_json(&dir.join("config.json"));
    edit(&mut config);
    std::fs::write(dir.join("config.json"), config.to_string()).unwrap();
}

fn generate(model: &Path, extra: &[&str], tmp: &Path) -> String {
    let input = fixtures().join("t5/flan_like/inputs.jsonl");
    let out = tmp.join("out.jsonl");
    let mut args = vec![
        "generate",
        "--model",
        model.to_str().unwrap(),
        "--input",
        input.to_str().unwrap(),
        "--output",
        out.to_str().unwrap(),
    ];
    args.extend(extra);
    let err = refused(&args);
    assert!(!out.exists());
    err
}

#[test]
fn t5_configs_with_zero_layers_are_refused() {
    for field in ["num_layers", "num_decoder_layers", "num_heads", "d_kv"] {
        let tmp = tempfile::tempdir().unwrap();
        let model = copy_model("t5/flan_like", &tmp.path().join("m"));
        edit_config(&model, |c| c[field] = 0.into());
        let err = generate(&model, &[], tmp.path());
        assert!(
            err.contains("config.json") && err.contains(&format!("{field} is 0")),
            "{field}: {err}"
        );
    }
}

#[test]
fn half_precision_on_the_cpu_is_refused_with_a_reason() {
    let tmp = tempfile::tempdir().unwrap();
    let model = fixtures().join("t5/flan_like");
    for dtype in ["bf16", "f16"] {
        let err = generate(&model, &["--dtype", dtype, "--device", "cpu"], tmp.path());
        assert!(
            err.contains("need a GPU") && err.contains("use f32"),
            "{err}"
        );
    }
}

#[test]
fn a_tokenizer_larger_than_the_models_vocabulary_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let model = copy_model("t5/flan_like", &tmp.path().join("m"));
    let vocab = read_json(&model.join("config.json"))["vocab_size"]
        .as_u64()
        .unwrap();
    edit_config(&model, |c| c["vocab_size"] = 50.into());
    let files = loratune::hub::resolve_model(model.to_str().unwrap()).unwrap();
    let err = loratune::tokenizer::TextTokenizer::load(&files)
        .err()
        .expect("refused")
        .to_string();
    assert!(
        err.contains("tokenizer.json")
            && err.contains("config.json")
            && err.contains("only 50 embeddings"),
        "{err}"
    );
    assert!(vocab > 50);
}

#[test]
fn a_classifier_head_of_the_wrong_rank_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let model = copy_model("distilbert/cls2", &tmp.path().join("m"));
    let file = model.join("model.safetensors");
    let mut tensors = candle_core::safetensors::load(&file, &candle_core::Device::Cpu).unwrap();
    let key = tensors
        .keys()
        .find(|k| k.ends_with("classifier.weight"))
        .cloned()
        .unwrap();
    tensors.insert(
        key,
        candle_core::Tensor::new(1f32, &candle_core::Device::Cpu).unwrap(),
    );
    candle_core::safetensors::save(&tensors, &file).unwrap();
    let input = tmp.path().join("in.jsonl");
    std::fs::write(&input, "{\"text\": \"fine\"}\n").unwrap();
    let err = refused(&[
        "classify",
        "--model",
        model.to_str().unwrap(),
        "--input",
        input.to_str().unwrap(),
        "--output",
        tmp.path().join("o.jsonl").to_str().unwrap(),
    ]);
    assert!(err.contains("classifier.weight"), "{err}");
}

#[test]
fn a_token_limit_below_the_special_tokens_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("in.jsonl");
    std::fs::write(&input, "{\"text\": \"fine\"}\n").unwrap();
    for max in ["0", "1"] {
        let err = refused(&[
            "classify",
            "--model",
            fixtures().join("bert/cls2").to_str().unwrap(),
            "--input",
            input.to_str().unwrap(),
            "--output",
            tmp.path().join("o.jsonl").to_str().unwrap(),
            "--max-tokens",
            max,
        ]);
        assert!(
            err.contains("too small") && err.contains("2 special tokens"),
            "{max}: {err}"
        );
    }
}
