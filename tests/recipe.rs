//! Recipes end to end: evaluation decodes with the recipe's `[eval]` options exactly as
//! `loratune generate` does with the same flags, and bad values on the command line blame the
//! flag or the `--set`.
mod common;
use common::*;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;

/// Runs `loratune` expecting failure; returns its stderr.
fn run_cli_err(args: &[&str]) -> String {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_loratune"))
        .args(args)
        .output()
        .expect("loratune runs");
    assert!(!out.status.success(), "loratune {args:?} succeeded");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn generated_by_id(path: &Path) -> BTreeMap<String, String> {
    read_jsonl(path)
        .iter()
        .map(|r| {
            (
                r["id"].to_string(),
                r["generated"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// The "done when": `eval.num_beams = 4` gives the summaries of
/// `loratune generate --num-beams 4`, for the base model and for the tuned one.
#[test]
fn evaluation_decodes_as_generate_does() {
    let tmp = tempfile::tempdir().unwrap();
    let base = lora_base("t5_qv");
    let adapter = lora_case("t5_qv").join("trained_adapter");
    let input = fixtures().join("t5/flan_like/inputs.jsonl");
    let out = tmp.path().join("run");
    let recipe = tmp.path().join("recipe.toml");
    std::fs::write(
        &recipe,
        format!(
            "[model]\nname = \"{}\"\ntask = \"seq2seq\"\n[data]\ntest = \"{}\"\nmax_source_tokens = 64\n\
             [train]\noutput_dir = \"{}\"\ndevice = \"cpu\"\n[eval]\nsamples = 11\nmax_new_tokens = 12\n",
            base.display(),
            input.display(),
            out.display()
        ),
    )
    .unwrap();
    run_cli(&[
        "evaluate",
        recipe.to_str().unwrap(),
        "--adapter",
        adapter.to_str().unwrap(),
        "--set",
        "eval.num_beams=4",
    ]);
    let examples = read_jsonl(&out.join("report/examples.jsonl"));
    assert_eq!(examples.len(), 11);
    let summary = read_json(&out.join("report/summary.json"));
    let generation = &summary["meta"]["settings"]["generation"];
    assert_eq!(generation["num_beams"], 4, "{generation}");
    assert_eq!(generation["decoding"], "beam search");
    assert_eq!(generation["max_new_tokens"], 12);
    assert_eq!(generation["max_new_tokens_from"], "recipe");
    assert_eq!(
        summary["meta"]["settings"]["recipe"]["eval"]["num_beams"],
        4
    );

    let generate = |name: &str, extra: &[&str]| {
        let path = tmp.path().join(name);
        let mut args = vec![
            "generate",
            "--model",
            base.to_str().unwrap(),
            "--input",
            input.to_str().unwrap(),
            "--output",
            path.to_str().unwrap(),
            "--max-source-tokens",
            "64",
            "--max-new-tokens",
            "12",
            "--device",
            "cpu",
        ];
        args.extend_from_slice(extra);
        run_cli(&args);
        generated_by_id(&path)
    };
    let adapter_args = ["--adapter", adapter.to_str().unwrap(), "--merge-adapter"];
    let base_beam = generate("base.jsonl", &["--num-beams", "4"]);
    let tuned_beam = generate(
        "tuned.jsonl",
        &[&adapter_args[..], &["--num-beams", "4"]].concat(),
    );
    let tuned_greedy = generate("greedy.jsonl", &adapter_args);
    let field = |e: &Value, key: &str| e[key].as_str().unwrap().to_string();
    let mut differs_from_greedy = false;
    for e in &examples {
        let id = e["id"].to_string();
        assert_eq!(field(e, "base_output"), base_beam[&id], "base, {id}");
        assert_eq!(field(e, "tuned_output"), tuned_beam[&id], "tuned, {id}");
        differs_from_greedy |= field(e, "tuned_output") != tuned_greedy[&id];
    }
    // the check means something only if beam search changes some summary
    assert!(differs_from_greedy, "beam search gave the greedy summaries");
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
