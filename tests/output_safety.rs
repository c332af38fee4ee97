//! Outputs never destroy data: `merge --output` refuses folders it must not replace, a run
//! refuses to write over a previous run unless told to, failures and interrupts leave nothing
//! half-written, and a full disk leaves the previous output intact. Every case runs the real
//! binary on real temporary directories and checks that nothing else was touched.
mod common;
use common::*;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn loratune(args: &[&str], cwd: Option<&Path>) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_loratune"));
    cmd.args(args);
    if let Some(dir) = cwd {
        cmd.current_dir(dir);
    }
    cmd.output().expect("loratune runs")
}

/// Runs loratune expecting a refusal; returns its stderr.
fn refused(args: &[&str], cwd: Option<&Path>) -> String {
    let out = loratune(args, cwd);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        !out.status.success(),
        "loratune {args:?} succeeded:\n{stderr}"
    );
    assert!(
        !stderr.contains("panicked") && !stderr.contains("RUST_BACKTRACE"),
        "{stderr}"
    );
    stderr
}

/// Every file below `dir` with its bytes, to show that nothing changed.
fn snapshot(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                out.push((path.clone(), std::fs::read(&path).unwrap()));
            }
        }
    }
    out.sort();
    out
}

/// Names in `dir` that look like temporaries (`.NAME.tmp-…` / `.NAME.old-…`).
fn leftovers(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(".tmp-") || n.contains(".old-"))
        .collect()
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let path = entry.unwrap().path();
        std::fs::copy(&path, to.join(path.file_name().unwrap())).unwrap();
    }
}

/// A private copy of the tiny T5 and its PEFT adapter, so that a bug cannot harm the fixtures.
fn model_and_adapter(tmp: &Path) -> (PathBuf, PathBuf) {
    let model = tmp.join("models/t5");
    copy_dir(&lora_base("t5_qv"), &model);
    let adapter = tmp.join("adapters/qv");
    copy_dir(&lora_case("t5_qv").join("adapter"), &adapter);
    (model, adapter)
}

fn merge_args<'a>(model: &'a Path, adapter: &'a Path, output: &'a str) -> Vec<&'a str> {
    vec![
        "merge",
        "--model",
        model.to_str().unwrap(),
        "--adapter",
        adapter.to_str().unwrap(),
        "--output",
        output,
    ]
}

#[test]
fn merge_refuses_outputs_it_must_not_replace() {
    let tmp = tempfile::tempdir().unwrap();
    let (model, adapter) = model_and_adapter(tmp.path());
    let before = snapshot(tmp.path());

    // A user's folder with files in it.
    let user = tmp.path().join("notes");
    std::fs::create_dir(&user).unwrap();
    std::fs::write(user.join("thesis.txt"), "years of work").unwrap();
    let err = refused(&merge_args(&model, &adapter, user.to_str().unwrap()), None);
    assert!(
        err.contains("is not a previous output of this kind"),
        "{err}"
    );
    assert_eq!(
        std::fs::read_to_string(user.join("thesis.txt")).unwrap(),
        "years of work"
    );

    // The current directory, as `.` and by its full path, and a folder above it.
    let work = tmp.path().join("work");
    std::fs::create_dir(&work).unwrap();
    std::fs::write(work.join("keep.txt"), "x").unwrap();
    for output in [
        ".".to_string(),
        work.display().to_string(),
        "..".to_string(),
    ] {
        let err = refused(&merge_args(&model, &adapter, &output), Some(&work));
        assert!(err.contains("current directory"), "{output}: {err}");
    }
    assert!(work.join("keep.txt").is_file());

    // The base model's folder, the adapter's, a folder holding them, and a link to one.
    let link = tmp.path().join("link-to-model");
    std::os::unix::fs::symlink(&model, &link).unwrap();
    for (output, says) in [
        (model.clone(), "the base model"),
        (tmp.path().join("models"), "the base model"),
        (adapter.clone(), "the adapter"),
        (tmp.path().join("adapters"), "the adapter"),
        (link.clone(), "the base model"),
        (model.join("."), "the base model"),
    ] {
        let err = refused(
            &merge_args(&model, &adapter, output.to_str().unwrap()),
            None,
        );
        assert!(err.contains(says), "{}: {err}", output.display());
    }
    // A file where the output directory should go.
    let file = tmp.path().join("a-file");
    std::fs::write(&file, "data").unwrap();
    let err = refused(&merge_args(&model, &adapter, file.to_str().unwrap()), None);
    assert!(err.contains("not a directory"), "{err}");

    // Nothing that existed before changed, and no temporaries were left anywhere.
    let mut after = snapshot(tmp.path());
    after.retain(|(p, _)| before.iter().any(|(q, _)| q == p));
    assert_eq!(before, after);
    for dir in [
        tmp.path(),
        &work,
        &tmp.path().join("models"),
        &tmp.path().join("adapters"),
    ] {
        assert!(
            leftovers(dir).is_empty(),
            "{}: {:?}",
            dir.display(),
            leftovers(dir)
        );
    }
}

#[test]
fn merge_replaces_only_its_own_previous_output() {
    let tmp = tempfile::tempdir().unwrap();
    let (model, adapter) = model_and_adapter(tmp.path());
    // An empty folder is fine.
    let out = tmp.path().join("merged");
    std::fs::create_dir(&out).unwrap();
    let mut args = merge_args(&model, &adapter, out.to_str().unwrap());
    args.push("--verify");
    run_cli(&args);
    assert!(out.join("model.safetensors").is_file());
    assert!(out.join("loratune-merge.json").is_file());
    // A previous merged model is replaced whole: a stray file in it goes with it.
    std::fs::write(out.join("stale.txt"), "old").unwrap();
    run_cli(&args);
    assert!(out.join("model.safetensors").is_file());
    assert!(!out.join("stale.txt").exists());
    assert!(
        leftovers(tmp.path()).is_empty(),
        "{:?}",
        leftovers(tmp.path())
    );
}

#[test]
fn a_full_disk_leaves_the_previous_merged_model_intact() {
    let tmp = tempfile::tempdir().unwrap();
    let (model, adapter) = model_and_adapter(tmp.path());
    let out = tmp.path().join("merged");
    run_cli(&merge_args(&model, &adapter, out.to_str().unwrap()));
    let before = snapshot(&out);
    // bash's `ulimit -f` counts KiB: 100 KiB is less than the 307 KiB model.safetensors.
    let args = merge_args(&model, &adapter, out.to_str().unwrap()).join(" ");
    let status = Command::new("bash")
        .arg("-c")
        .arg(format!(
            "ulimit -f 100; exec {} {args}",
            env!("CARGO_BIN_EXE_loratune")
        ))
        .output()
        .expect("bash runs");
    let stderr = String::from_utf8_lossy(&status.stderr);
    assert!(!status.status.success(), "{stderr}");
    assert!(stderr.contains("file too large"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(before, snapshot(&out));
    assert!(
        leftovers(tmp.path()).is_empty(),
        "{:?}",
        leftovers(tmp.path())
    );
}

fn train_recipe(tmp: &Path, model: &Path, out: &Path) -> PathBuf {
    let data = lora_case("t5_qv").join("train.jsonl");
    let path = tmp.join("recipe.toml");
    std::fs::write(
        &path,
        format!(
            "[model]\nname = \"{}\"\ntask = \"seq2seq\"\n[data]\ntrain = \"{}\"\nmax_source_tokens = 32\nmax_target_tokens = 8\n\
             [lora]\nr = 2\nlora_alpha = 4\ntarget_modules = [\"q\", \"v\"]\n\
             [train]\noutput_dir = \"{}\"\nlearning_rate = 1e-2\nbatch_size = 4\nmax_steps = 2\nsave_steps = 1\ndevice = \"cpu\"\n",
            model.display(),
            data.display(),
            out.display()
        ),
    )
    .unwrap();
    path
}

#[test]
fn train_refuses_a_previous_run_unless_told_to_overwrite_it() {
    let tmp = tempfile::tempdir().unwrap();
    let (model, _) = model_and_adapter(tmp.path());
    let out = tmp.path().join("run");
    let recipe = train_recipe(tmp.path(), &model, &out);
    let recipe = recipe.to_str().unwrap();
    run_cli(&["train", recipe]);
    assert!(out.join("checkpoints/step-2/trainer_state.json").is_file());
    assert!(out.join("loratune-run.json").is_file());
    // A checkpoint of a longer earlier run must not survive into the new one.
    copy_dir(
        &out.join("checkpoints/step-2"),
        &out.join("checkpoints/step-99"),
    );
    let before = snapshot(&out);
    let err = refused(&["train", recipe], None);
    assert!(
        err.contains("holds a previous run") && err.contains("--overwrite"),
        "{err}"
    );
    assert_eq!(before, snapshot(&out));
    // Replaced whole with --overwrite, and with the recipe key.
    run_cli(&["train", recipe, "--overwrite"]);
    assert!(!out.join("checkpoints/step-99").exists());
    assert!(out.join("checkpoints/step-2").is_dir());
    run_cli(&["train", recipe, "--set", "train.overwrite_output_dir=true"]);
    assert!(
        leftovers(tmp.path()).is_empty(),
        "{:?}",
        leftovers(tmp.path())
    );
    assert!(leftovers(&out.join("checkpoints")).is_empty());
}

#[test]
fn train_never_writes_into_or_replaces_a_folder_that_is_not_a_run() {
    let tmp = tempfile::tempdir().unwrap();
    let (model, _) = model_and_adapter(tmp.path());
    let out = tmp.path().join("photos");
    std::fs::create_dir(&out).unwrap();
    std::fs::write(out.join("holiday.jpg"), "pixels").unwrap();
    let recipe = train_recipe(tmp.path(), &model, &out);
    for extra in [None, Some("--overwrite")] {
        let mut args = vec!["train", recipe.to_str().unwrap()];
        args.extend(extra);
        let err = refused(&args, None);
        assert!(
            err.contains("holds no loratune run") && err.contains("holiday.jpg"),
            "{err}"
        );
    }
    assert_eq!(std::fs::read_dir(&out).unwrap().count(), 1);
    // Nor into the base model's own folder.
    let before = snapshot(&model);
    let recipe = train_recipe(tmp.path(), &model, &model);
    let err = refused(&["train", recipe.to_str().unwrap(), "--overwrite"], None);
    assert!(err.contains("holds no loratune run"), "{err}");
    assert_eq!(before, snapshot(&model));
}

#[test]
fn an_interrupted_run_leaves_no_temporaries() {
    let tmp = tempfile::tempdir().unwrap();
    let (model, _) = model_and_adapter(tmp.path());
    let out = tmp.path().join("run");
    let recipe = train_recipe(tmp.path(), &model, &out);
    let text = std::fs::read_to_string(&recipe)
        .unwrap()
        .replace("max_steps = 2", "max_steps = 100000");
    std::fs::write(&recipe, text).unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_loratune"))
        .args(["train", recipe.to_str().unwrap()])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Let it write a few checkpoints (one per step), then interrupt it as Ctrl-C would.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while !out.join("checkpoints/step-3").exists() {
        assert!(
            std::time::Instant::now() < deadline,
            "no checkpoint after 60 s"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let output = child.wait_with_output().unwrap();
    assert_eq!(
        output.status.code(),
        Some(130),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(leftovers(&out).is_empty(), "{:?}", leftovers(&out));
    assert!(
        leftovers(&out.join("checkpoints")).is_empty(),
        "{:?}",
        leftovers(&out.join("checkpoints"))
    );
    for entry in std::fs::read_dir(out.join("checkpoints")).unwrap() {
        let dir = entry.unwrap().path();
        for file in [
            "adapter_config.json",
            "adapter_model.safetensors",
            "optimizer.safetensors",
            "trainer_state.json",
        ] {
            assert!(dir.join(file).is_file(), "{} lacks {file}", dir.display());
        }
    }
}

#[test]
fn a_failed_verification_publishes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let (model_dir, adapter) = model_and_adapter(tmp.path());
    let files = loratune::hub::resolve_model(model_dir.to_str().unwrap()).unwrap();
    let out = tmp.path().join("merged");
    for previous in [false, true] {
        if previous {
            run_cli(&merge_args(&model_dir, &adapter, out.to_str().unwrap()));
        }
        let before = out.exists().then(|| snapshot(&out));
        let options = loratune::models::Options {
            adapter: Some(adapter.clone()),
            ..Default::default()
        };
        let loratune::models::Opened { mut model, weights } =
            loratune::models::open(&files, &options).unwrap();
        let mut seen = None;
        let result = loratune::lora::merge::write_merged(
            &mut model,
            &weights,
            &files,
            &adapter,
            &out,
            |_| {},
            |dir| {
                // The check sees the complete merged model before it is published.
                seen = Some(dir.join("model.safetensors").is_file());
                Err::<(), _>(loratune::Error::Config("outputs differ".into()))
            },
        );
        assert!(result.is_err());
        assert_eq!(seen, Some(true));
        assert_eq!(out.exists().then(|| snapshot(&out)), before);
        assert!(
            leftovers(tmp.path()).is_empty(),
            "{:?}",
            leftovers(tmp.path())
        );
    }
}
