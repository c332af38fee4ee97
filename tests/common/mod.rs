//! Helpers shared by the integration tests.
#![allow(dead_code)]
pub mod hub_server;

use serde_json::Value;
use std::path::{Path, PathBuf};

pub fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

pub fn read_jsonl(path: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).expect("fixture line is JSON"))
        .collect()
}

pub fn read_json(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).expect("fixture is JSON")
}

pub fn ids(value: &Value) -> Vec<u32> {
    value
        .as_array()
        .expect("array of ids")
        .iter()
        .map(|v| v.as_u64().expect("id") as u32)
        .collect()
}

/// Subdirectories of a fixture family (e.g. `t5`), sorted.
pub fn fixture_dirs(family: &str) -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(fixtures().join(family))
        .expect("fixture family exists")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.join("config.json").is_file())
        .collect();
    dirs.sort();
    assert!(!dirs.is_empty(), "no fixtures for {family}");
    dirs
}

/// A path under ../shared (the real models and data beside the repository); missing is a
/// failure, never a skip.
pub fn shared(path: &str) -> String {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared")
        .join(path);
    assert!(
        p.exists(),
        "{} is missing (CI has ../shared beside the repository)",
        p.display()
    );
    p.to_string_lossy().into_owned()
}

/// Runs the built `loratune` binary; panics with its stderr on failure.
pub fn run_cli(args: &[&str]) -> String {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_loratune"))
        .args(args)
        .output()
        .expect("loratune runs");
    assert!(
        out.status.success(),
        "loratune {args:?} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Runs the built `loratune` binary expecting a clean refusal (exit status 1, no panic, no
/// backtrace); returns its stderr.
pub fn refused(args: &[&str]) -> String {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_loratune"))
        .args(args)
        .output()
        .expect("loratune runs");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(1), "{args:?}: {stderr}");
    assert!(
        !stderr.contains("panicked") && !stderr.contains("backtrace"),
        "{args:?}: {stderr}"
    );
    stderr
}

/// A directory of the PEFT reference fixtures (`tests/fixtures/lora/<case>`).
pub fn lora_case(case: &str) -> PathBuf {
    fixtures().join("lora").join(case)
}

/// The base model of a PEFT fixture case.
pub fn lora_base(case: &str) -> PathBuf {
    let settings = read_json(&lora_case(case).join("train_settings.json"));
    Path::new(env!("CARGO_MANIFEST_DIR")).join(settings["base"].as_str().expect("base"))
}

/// Prepares a PEFT training reproduction in `tmp`: a copy of the base model with every
/// dropout of its config set to 0 (the reference trained in eval mode), and the training
/// rows laid out in the reference's batch order so that consecutive batches match it.
/// Returns (model dir, train file).
pub fn lora_training_copy(case: &str, tmp: &Path) -> (PathBuf, PathBuf) {
    let model_dir = dropout_free_copy(&lora_base(case), tmp);
    let rows = read_jsonl(&lora_case(case).join("train.jsonl"));
    let mut ordered = String::new();
    for step in read_jsonl(&lora_case(case).join("expected_steps.jsonl")) {
        for r in step["rows"].as_array().unwrap() {
            ordered.push_str(&rows[r.as_u64().unwrap() as usize].to_string());
            ordered.push('\n');
        }
    }
    let train = tmp.join("train.jsonl");
    std::fs::write(&train, ordered).unwrap();
    (model_dir, train)
}

/// A copy of the model in `base` (as `tmp/model`) with every dropout of its config set to 0,
/// so that training in train mode computes what a reference computed without dropout.
pub fn dropout_free_copy(base: &Path, tmp: &Path) -> PathBuf {
    let model_dir = tmp.join("model");
    std::fs::create_dir_all(&model_dir).unwrap();
    for entry in std::fs::read_dir(base).unwrap() {
        let path = entry.unwrap().path();
        std::fs::copy(&path, model_dir.join(path.file_name().unwrap())).unwrap();
    }
    let mut config = read_json(&model_dir.join("config.json"));
    for key in [
        "dropout_rate",
        "dropout",
        "attention_dropout",
        "seq_classif_dropout",
        "hidden_dropout_prob",
        "attention_probs_dropout_prob",
        "classifier_dropout",
    ] {
        if config.get(key).is_some() {
            config[key] = serde_json::json!(0.0);
        }
    }
    std::fs::write(model_dir.join("config.json"), config.to_string()).unwrap();
    model_dir
}

/// A recipe that reproduces a PEFT fixture's training run from its adapter.
pub fn lora_training_recipe(
    case: &str,
    task: &str,
    model_dir: &Path,
    train: &Path,
    out: &Path,
) -> loratune::recipe::Recipe {
    let s = read_json(&lora_case(case).join("train_settings.json"));
    let lengths = match task {
        "seq2seq" => format!(
            "max_source_tokens = {}\nmax_target_tokens = {}",
            s["max_source_tokens"], s["max_target_tokens"]
        ),
        _ => format!("max_source_tokens = {}", s["max_tokens"]),
    };
    let text = format!(
        "[model]\nname = \"{model}\"\ntask = \"{task}\"\n[data]\ntrain = \"{train}\"\n{lengths}\nshuffle = false\n\
         [lora]\ninit_adapter = \"{adapter}\"\n[train]\noutput_dir = \"{out}\"\nlearning_rate = {lr}\nbatch_size = {bs}\n\
         max_steps = {steps}\nlr_scheduler_type = \"constant\"\nweight_decay = {wd}\nmax_grad_norm = 0.0\nlogging_steps = 1\ndevice = \"cpu\"\n",
        model = model_dir.display(),
        train = train.display(),
        adapter = lora_case(case).join("adapter").display(),
        out = out.display(),
        lr = s["learning_rate"],
        bs = s["batch_size"],
        steps = s["steps"],
        wd = s["weight_decay"],
    );
    loratune::recipe::Recipe::parse(&text, Path::new("test.toml"), &[]).unwrap()
}

/// Step losses of a training report against the fixture's `expected_steps.jsonl`; returns the
/// largest relative difference (printed, for sizing tolerances).
pub fn assert_step_losses(case: &str, got: &[f64], tolerance: f64) -> f64 {
    let expected = read_jsonl(&lora_case(case).join("expected_steps.jsonl"));
    assert_eq!(got.len(), expected.len(), "{case}: number of steps");
    let mut worst = 0.0f64;
    for (g, w) in got.iter().zip(&expected) {
        let w = w["loss"].as_f64().unwrap();
        let rel = (g - w).abs() / w.abs();
        worst = worst.max(rel);
        assert!(
            rel <= tolerance,
            "{case}: step loss {g} vs {w} (rel {rel:e})"
        );
    }
    eprintln!("{case}: step losses within {worst:e} (relative) of the reference");
    worst
}

/// Two safetensors files hold the same tensor names.
pub fn assert_same_tensor_names(ours: &Path, theirs: &Path) {
    let names = |p: &Path| {
        let mut keys: Vec<String> = candle_core::safetensors::load(p, &candle_core::Device::Cpu)
            .unwrap()
            .into_keys()
            .collect();
        keys.sort();
        keys
    };
    assert_eq!(names(ours), names(theirs));
}

/// The largest |x| of an f32 tensor.
pub fn max_abs(t: &candle_core::Tensor) -> f32 {
    t.abs()
        .and_then(|t| t.max_all())
        .and_then(|m| m.to_scalar::<f32>())
        .unwrap()
}

/// max |a − b| over all elements of two f32 tensors of one shape.
pub fn max_abs_diff(a: &candle_core::Tensor, b: &candle_core::Tensor) -> f32 {
    max_abs(&(a - b).unwrap())
}

/// The T5 in a fixture directory (f32, CPU, no adapter).
pub fn open_t5(dir: &Path) -> loratune::models::t5::T5 {
    let files =
        loratune::hub::resolve_model(dir.to_str().expect("utf-8 path")).expect("model files");
    loratune::models::open(&files, &Default::default())
        .and_then(|o| o.model.into_seq2seq())
        .expect("model loads")
}
