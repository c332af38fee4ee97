//! Recipes from the command line: bad values blame the flag, the file and line, or the `--set`.

/// Runs `loratune` expecting failure; returns its stderr.
fn run_cli_err(args: &[&str]) -> String {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_loratune"))
        .args(args)
        .output()
        .expect("loratune runs");
    assert!(!out.status.success(), "loratune {args:?} succeeded");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn bad_values_blame_the_flag_or_the_set() {
    let missing = "no-such-file.jsonl";
    let err = run_cli_err(&[
        "generate", "--model", "m", "--input", missing, "--output", "o.jsonl", "--device", "gpu",
    ]);
    assert!(
        err.contains("--device")
            && err.contains("unknown device `gpu`; valid values: auto, cpu, cuda, cuda:N"),
        "{err}"
    );
    let err = run_cli_err(&[
        "generate", "--model", "m", "--input", missing, "--output", "o.jsonl", "--device", "cuda:x",
    ]);
    assert!(
        err.contains("--device") && err.contains("`x` is not a GPU index"),
        "{err}"
    );
    let err = run_cli_err(&[
        "generate", "--model", "m", "--input", missing, "--output", "o.jsonl", "--dtype", "f64",
    ]);
    assert!(
        err.contains("--dtype") && err.contains("valid values: f32, bf16, f16"),
        "{err}"
    );

    let tmp = tempfile::tempdir().unwrap();
    let recipe = tmp.path().join("r.toml");
    std::fs::write(
        &recipe,
        "[model]\nname = \"m\"\ntask = \"seq2seq\"\n[data]\ntrain = \"t.jsonl\"\n[train]\nlearnig_rate = 1e-3\n",
    )
    .unwrap();
    let err = run_cli_err(&["train", recipe.to_str().unwrap()]);
    assert!(
        err.contains(
            "r.toml, line 7: unknown key `train.learnig_rate`; did you mean `learning_rate`?"
        ),
        "{err}"
    );
    std::fs::write(
        &recipe,
        "[model]\nname = \"m\"\ntask = \"seq2seq\"\n[data]\ntrain = \"t.jsonl\"\n",
    )
    .unwrap();
    let err = run_cli_err(&["train", recipe.to_str().unwrap(), "--set", "train.lr=1"]);
    assert!(
        err.contains("--set train.lr=1: unknown key `train.lr`"),
        "{err}"
    );
    let err = run_cli_err(&[
        "train",
        recipe.to_str().unwrap(),
        "--set",
        "train.precision=fp8",
    ]);
    assert!(
        err.contains("--set train.precision=fp8: train.precision: unknown precision `fp8`; valid values: f32, bf16, fp16"),
        "{err}"
    );
}
