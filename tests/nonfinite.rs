//! A non-finite loss stops the run naming the step and the first module whose output went
//! non-finite (found by replaying the step with checks on), keeps the checkpoints and exits
//! non-zero; `train.skip_nonfinite_steps` skips such steps instead, counted and logged. fp16
//! training of T5 is refused with the reason.
mod common;
use common::*;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A copy of the tiny T5 with one NaN in the feed-forward output projection of encoder
/// block 1, so that every step's loss is NaN and that layer is the first to produce it.
fn poisoned_t5(dir: &Path) -> PathBuf {
    let model = dir.join("poisoned");
    std::fs::create_dir_all(&model).unwrap();
    let base = fixtures().join("t5/flan_like");
    for entry in std::fs::read_dir(&base).unwrap() {
        let path = entry.unwrap().path();
        std::fs::copy(&path, model.join(path.file_name().unwrap())).unwrap();
    }
    let file = model.join("model.safetensors");
    let mut tensors = candle_core::safetensors::load(&file, &candle_core::Device::Cpu).unwrap();
    let name = "encoder.block.1.layer.1.DenseReluDense.wo.weight";
    let w = &tensors[name];
    let mut values = w.flatten_all().unwrap().to_vec1::<f32>().unwrap();
    values[5] = f32::NAN;
    let poisoned =
        candle_core::Tensor::from_vec(values, w.shape(), &candle_core::Device::Cpu).unwrap();
    tensors.insert(name.to_string(), poisoned);
    candle_core::safetensors::save(&tensors, &file).unwrap();
    model
}

fn train(dir: &Path, model: &Path, extra: &[&str]) -> std::process::Output {
    let data = fixtures().join("t5/flan_like/inputs.jsonl");
    let recipe = dir.join("recipe.toml");
    std::fs::write(
        &recipe,
        format!(
            "[model]\nname = \"{}\"\ntask = \"seq2seq\"\n[data]\ntrain = \"{}\"\nprompt = \"Summarize: {{source}}\"\n\
             max_source_tokens = 32\nmax_target_tokens = 8\n[lora]\nr = 2\n\
             [train]\noutput_dir = \"{}\"\nbatch_size = 4\nmax_steps = 3\nlogging_steps = 1\ndevice = \"cpu\"\n",
            model.display(),
            data.display(),
            dir.join("run").display()
        ),
    )
    .unwrap();
    Command::new(env!("CARGO_BIN_EXE_loratune"))
        .arg("train")
        .arg(&recipe)
        .args(extra)
        .output()
        .expect("loratune runs")
}

#[test]
fn a_nan_stops_the_run_naming_the_step_and_the_first_module() {
    let tmp = tempfile::tempdir().unwrap();
    let model = poisoned_t5(tmp.path());
    let out = train(tmp.path(), &model, &[]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("step 1: the loss is NaN")
            && err.contains("the output of encoder.block.1.layer.1.DenseReluDense.wo")
            && err.contains("no checkpoint was written before it")
            && err.contains("train.skip_nonfinite_steps"),
        "{err}"
    );
    assert!(
        !err.contains("panicked") && !err.contains("backtrace"),
        "{err}"
    );
    assert!(!tmp.path().join("run/adapter").exists());
}

#[test]
fn skip_nonfinite_steps_skips_and_counts_them() {
    let tmp = tempfile::tempdir().unwrap();
    let model = poisoned_t5(tmp.path());
    let out = train(
        tmp.path(),
        &model,
        &["--set", "train.skip_nonfinite_steps=true"],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("skipped 3 of 3 steps"), "{err}");
    let skipped: Vec<_> = read_jsonl(&tmp.path().join("run/metrics.jsonl"))
        .into_iter()
        .filter(|m| m["skipped_nonfinite"] == true)
        .map(|m| m["step"].as_u64().unwrap())
        .collect();
    assert_eq!(skipped, vec![1, 2, 3]);
    let results = read_json(&tmp.path().join("run/train_results.json"));
    assert_eq!(results["skipped_nonfinite_steps"], 3);
}

#[test]
fn fp16_training_of_t5_is_refused_with_the_reason() {
    let tmp = tempfile::tempdir().unwrap();
    let out = train(
        tmp.path(),
        &fixtures().join("t5/flan_like"),
        &["--set", "train.precision=\"fp16\""],
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("refused for T5") && err.contains("65504") && err.contains("bf16"),
        "{err}"
    );
}
