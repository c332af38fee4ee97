//! A run is a function of its recipe and data: the same recipe twice gives byte-identical
//! adapters and identical losses with every dropout on and shuffling on, whatever the thread
//! count; another seed gives another run. Then exact resume: a training process killed with
//! SIGKILL (after a checkpoint, between checkpoints, while a checkpoint is half written) and
//! resumed gives the bytes of the uninterrupted run, and its `metrics.jsonl` has every step
//! once.
mod common;
use common::*;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A tiny-model recipe with every source of randomness on: the model's dropout (0.1 in both
/// fixture configs), LoRA dropout, shuffling, a fresh LoRA init; accumulation and warmup too.
fn recipe(dir: &Path, case: &str) -> PathBuf {
    let (model, model_keys, data, extra) = match case {
        "t5" => (
            fixtures().join("t5/flan_like"),
            "task = \"seq2seq\"",
            fixtures().join("t5/flan_like/inputs.jsonl"),
            "prompt = \"Summarize: {source}\"\nmax_source_tokens = 48\nmax_target_tokens = 12\n",
        ),
        _ => (
            fixtures().join("distilbert/cls2"),
            "task = \"classification\"\nlabels = [\"negative\", \"positive\"]",
            lora_case("distilbert_cls").join("train.jsonl"),
            // evaluations too: the best adapter and early stopping's counter go through resume
            "max_source_tokens = 40\nvalidation_fraction = 0.3\n",
        ),
    };
    let evaluation = match case {
        "t5" => "",
        _ => "eval_strategy = \"steps\"\neval_steps = 1\nsave_best = true\nearly_stopping_patience = 4\n",
    };
    let path = dir.join(format!("{case}.toml"));
    std::fs::write(
        &path,
        format!(
            "[model]\nname = \"{}\"\n{model_keys}\n[data]\ntrain = \"{}\"\n{extra}shuffle = true\nseed = 3\n\
             [lora]\nr = 4\nlora_alpha = 8\nlora_dropout = 0.2\n\
             [train]\noutput_dir = \"{}\"\nlearning_rate = 5e-3\nbatch_size = 2\ngradient_accumulation_steps = 2\n\
             max_steps = 6\nwarmup_steps = 2\nlogging_steps = 1\nsave_steps = 2\nseed = 7\ndevice = \"cpu\"\n{evaluation}",
            model.display(),
            data.display(),
            dir.join(format!("{case}-run")).display(),
        ),
    )
    .unwrap();
    path
}

fn train(recipe: &Path, out: &Path, extra: &[&str], env: &[(&str, &str)]) -> std::process::Output {
    let out_set = format!("train.output_dir=\"{}\"", out.display());
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_loratune"));
    cmd.args(["train", recipe.to_str().unwrap(), "--set", &out_set])
        .args(extra);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("loratune runs")
}

fn train_ok(recipe: &Path, out: &Path, extra: &[&str], env: &[(&str, &str)]) {
    let result = train(recipe, out, extra, env);
    assert!(
        result.status.success(),
        "train {extra:?} failed:\n{}",
        String::from_utf8_lossy(&result.stderr)
    );
}

fn adapter_bytes(out: &Path) -> Vec<u8> {
    std::fs::read(out.join("adapter/adapter_model.safetensors")).unwrap()
}

/// (step, loss) of every training log line.
fn losses(out: &Path) -> Vec<(u64, String)> {
    read_jsonl(&out.join("metrics.jsonl"))
        .into_iter()
        .filter(|m| m.get("loss").is_some())
        .map(|m| (m["step"].as_u64().unwrap(), m["loss"].to_string()))
        .collect()
}

#[test]
fn same_recipe_same_bytes_other_seed_other_run() {
    let tmp = tempfile::tempdir().unwrap();
    for case in ["t5", "distilbert"] {
        let recipe = recipe(tmp.path(), case);
        let runs: Vec<PathBuf> = (0..3)
            .map(|i| tmp.path().join(format!("{case}-{i}")))
            .collect();
        train_ok(&recipe, &runs[0], &[], &[]);
        // one thread instead of the machine's: the same bytes
        train_ok(&recipe, &runs[1], &[], &[("RAYON_NUM_THREADS", "1")]);
        train_ok(&recipe, &runs[2], &["--set", "train.seed=8"], &[]);
        let first = losses(&runs[0]);
        // the classifier stops early (its F1 does not move in 4 evaluations): at step 5
        let steps = if case == "t5" { 6 } else { 5 };
        assert_eq!(first.len(), steps, "{case}: one log line per step");
        let results = read_json(&runs[0].join("train_results.json"));
        assert_eq!(results["global_step"], steps, "{case}");
        assert_eq!(
            first,
            losses(&runs[1]),
            "{case}: losses differ between runs"
        );
        assert!(
            adapter_bytes(&runs[0]) == adapter_bytes(&runs[1]),
            "{case}: adapters differ between runs"
        );
        assert_ne!(first, losses(&runs[2]), "{case}: another seed, same losses");
        assert!(adapter_bytes(&runs[0]) != adapter_bytes(&runs[2]));
    }
}

/// Kills a run at `point` (`LORATUNE_TEST_KILL_AT`), resumes it, and compares it with the
/// uninterrupted run `reference`.
fn kill_and_resume(recipe: &Path, reference: &Path, out: &Path, point: &str) {
    let (_, step) = point.split_once(':').unwrap();
    let step: usize = step.parse().unwrap();
    // the newest complete checkpoint before the kill (every 2 steps; one half written is not)
    let from = if point.starts_with("checkpoint") {
        step - 2
    } else {
        step / 2 * 2
    };
    let killed = train(recipe, out, &[], &[("LORATUNE_TEST_KILL_AT", point)]);
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(
        killed.status.signal(),
        Some(9),
        "{point}: the run was not killed: {}",
        String::from_utf8_lossy(&killed.stderr)
    );
    assert!(
        !out.join("train_results.json").exists(),
        "{point}: the killed run finished"
    );
    let resumed = train(recipe, out, &["--resume"], &[]);
    let err = String::from_utf8_lossy(&resumed.stderr);
    assert!(resumed.status.success(), "{point}: {err}");
    assert!(
        err.contains(&format!("resuming at step {from} of 6")),
        "{point}: did not resume from step {from}: {err}"
    );
    let leftovers: Vec<_> = std::fs::read_dir(out.join("checkpoints"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with('.'))
        .collect();
    assert!(leftovers.is_empty(), "{point}: {leftovers:?} left behind");
    assert!(
        adapter_bytes(out) == adapter_bytes(reference),
        "{point}: the resumed run's adapter differs from the uninterrupted run's"
    );
    assert_eq!(
        losses(out),
        losses(reference),
        "{point}: metrics.jsonl differs"
    );
    // the checkpoints are the same too
    let names = |dir: &Path| -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir.join("checkpoints"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    };
    assert_eq!(names(out), names(reference), "{point}");
    for step in names(reference) {
        let file = format!("checkpoints/{step}/adapter_model.safetensors");
        assert!(
            std::fs::read(out.join(&file)).unwrap()
                == std::fs::read(reference.join(&file)).unwrap(),
            "{point}: {file} differs"
        );
    }
}

#[test]
fn killed_and_resumed_runs_give_the_uninterrupted_bytes() {
    let tmp = tempfile::tempdir().unwrap();
    // a classifier with evaluations, the best adapter and early stopping, killed mid-run
    let classifier = recipe(tmp.path(), "distilbert");
    let classifier_reference = tmp.path().join("classifier-reference");
    train_ok(&classifier, &classifier_reference, &[], &[]);
    let out = tmp.path().join("classifier-killed");
    kill_and_resume(&classifier, &classifier_reference, &out, "step-end:5");
    let recipe = recipe(tmp.path(), "t5");
    let reference = tmp.path().join("reference");
    train_ok(&recipe, &reference, &[], &[]);
    for (i, point) in [
        // right after the checkpoint of step 2
        "step-end:2",
        // between checkpoints: step 3 is lost and done again
        "step-end:3",
        // the checkpoint of step 4 half written: resumes from step 2
        "checkpoint-half-written:4",
    ]
    .into_iter()
    .enumerate()
    {
        kill_and_resume(
            &recipe,
            &reference,
            &tmp.path().join(format!("killed-{i}")),
            point,
        );
    }
}

/// Ten or more kill points, each resumed (`cargo test --test reproducible -- --ignored`).
#[test]
#[ignore = "slow: 12 killed and resumed runs"]
fn killed_anywhere_and_resumed_gives_the_same_bytes() {
    let tmp = tempfile::tempdir().unwrap();
    for case in ["t5", "distilbert"] {
        let recipe = recipe(tmp.path(), case);
        let reference = tmp.path().join(format!("{case}-reference"));
        train_ok(&recipe, &reference, &[], &[]);
        // (a run killed before its first checkpoint has nothing to resume from; the
        // classifier stops early after step 5)
        let last = if case == "t5" { 6 } else { 5 };
        let points: Vec<String> = (2..=last)
            .map(|s| format!("step-end:{s}"))
            .chain(
                [4, 6]
                    .into_iter()
                    .filter(|&s| s <= last)
                    .map(|s| format!("checkpoint-half-written:{s}")),
            )
            .collect();
        for (i, point) in points.iter().enumerate() {
            let out = tmp.path().join(format!("{case}-killed-{i}"));
            kill_and_resume(&recipe, &reference, &out, point);
        }
    }
}

#[test]
fn resume_refuses_a_changed_recipe_and_save_total_limit_keeps_the_newest() {
    let tmp = tempfile::tempdir().unwrap();
    let recipe = recipe(tmp.path(), "t5");
    let out = tmp.path().join("run");
    let killed = train(
        &recipe,
        &out,
        &[],
        &[("LORATUNE_TEST_KILL_AT", "step-end:5")],
    );
    assert!(!killed.status.success());
    let changed = train(
        &recipe,
        &out,
        &[
            "--resume",
            "--set",
            "train.learning_rate=1e-3",
            "--set",
            "lora.r=2",
        ],
        &[],
    );
    let err = String::from_utf8_lossy(&changed.stderr);
    assert!(!changed.status.success());
    assert!(
        err.contains("train.learning_rate (0.005 → 0.001)") && err.contains("lora.r (4 → 2)"),
        "{err}"
    );
    // the newest checkpoint (step 4) by default; output-only keys may change
    train_ok(
        &recipe,
        &out,
        &[
            "--resume",
            "--set",
            "train.save_total_limit=1",
            "--set",
            "eval.samples=3",
        ],
        &[],
    );
    let steps: Vec<String> = std::fs::read_dir(out.join("checkpoints"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(steps, vec!["step-6".to_string()]);
    // a folder that is not a checkpoint
    let bad = train(
        &recipe,
        &out,
        &["--resume", tmp.path().to_str().unwrap()],
        &[],
    );
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(err.contains("is not a loratune checkpoint"), "{err}");
}

/// `loratune run --resume` continues the training, then evaluates as `run` does.
#[test]
fn run_resumes_too() {
    let tmp = tempfile::tempdir().unwrap();
    let recipe = recipe(tmp.path(), "t5");
    let out = tmp.path().join("run");
    let test_data = format!(
        "data.test=\"{}\"",
        fixtures().join("t5/flan_like/inputs.jsonl").display()
    );
    let args = |resume: bool| {
        let mut args = vec![
            "run".to_string(),
            recipe.to_str().unwrap().to_string(),
            "--set".into(),
            format!("train.output_dir=\"{}\"", out.display()),
            "--set".into(),
            test_data.clone(),
            "--set".into(),
            "eval.samples=3".into(),
            "--set".into(),
            "eval.max_new_tokens=4".into(),
        ];
        if resume {
            args.push("--resume".into());
        }
        args
    };
    let killed = Command::new(env!("CARGO_BIN_EXE_loratune"))
        .args(args(false))
        .env("LORATUNE_TEST_KILL_AT", "step-end:3")
        .output()
        .unwrap();
    assert!(!killed.status.success());
    let resumed = Command::new(env!("CARGO_BIN_EXE_loratune"))
        .args(args(true))
        .output()
        .unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&resumed.stdout),
        String::from_utf8_lossy(&resumed.stderr),
    );
    assert!(resumed.status.success(), "{stderr}");
    assert!(stderr.contains("resuming at step 2 of 6"), "{stderr}");
    assert!(stdout.contains("rougeL: base"), "{stdout}");
    assert_eq!(read_jsonl(&out.join("report/examples.jsonl")).len(), 3);
}
