//! The main job end to end on tiny fixture models: `run` (train → evaluate → merge) for a
//! summarization and a classification recipe, and the report it writes.
mod common;
use common::*;
use std::path::Path;

fn write_recipe(dir: &Path, text: &str) -> std::path::PathBuf {
    let path = dir.join("recipe.toml");
    std::fs::write(&path, text).unwrap();
    path
}

fn check_report(out: &Path, classification: bool) {
    let report = out.join("report");
    for file in [
        "examples.jsonl",
        "summary.json",
        "boxplot.png",
        "boxplot.svg",
        "index.html",
    ] {
        assert!(
            report
                .join(file)
                .metadata()
                .map(|m| m.len() > 0)
                .unwrap_or(false),
            "{file} missing"
        );
    }
    assert_eq!(report.join("confusion.png").is_file(), classification);
    let png = std::fs::read(report.join("boxplot.png")).unwrap();
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    let summary = read_json(&report.join("summary.json"));
    assert!(summary.to_string().contains("checksums"), "{summary}");
}

#[test]
fn summarization_recipe_runs_end_to_end() {
    let tmp = tempfile::tempdir().unwrap();
    let base = fixtures().join("t5/flan_like");
    let data = base.join("inputs.jsonl");
    let out = tmp.path().join("run");
    let recipe = write_recipe(tmp.path(), &format!(
        "[model]\nname = \"{}\"\ntask = \"seq2seq\"\n[data]\ntrain = \"{d}\"\nvalidation = \"{d}\"\ntest = \"{d}\"\n\
         prompt = \"Summarize: {{source}}\"\nmax_source_tokens = 64\nmax_target_tokens = 16\n\
         [lora]\nr = 4\nlora_alpha = 8\ntarget_modules = [\"q\", \"v\"]\n\
         [train]\noutput_dir = \"{}\"\nlearning_rate = 1e-2\nbatch_size = 4\nmax_steps = 4\neval_strategy = \"steps\"\neval_steps = 2\n\
         [eval]\nsamples = 6\nmax_new_tokens = 8\n",
        base.display(), out.display(), d = data.display()));
    let stdout = run_cli(&[
        "run",
        recipe.to_str().unwrap(),
        "--merge",
        "--set",
        "train.logging_steps=1",
    ]);
    assert!(
        stdout.contains("rougeL: base") && stdout.contains("merged model:"),
        "{stdout}"
    );
    check_report(&out, false);
    assert_eq!(read_jsonl(&out.join("report/examples.jsonl")).len(), 6);
    assert!(out.join("merged/model.safetensors").is_file());
    let metrics = read_jsonl(&out.join("metrics.jsonl"));
    assert_eq!(
        metrics
            .iter()
            .filter(|m| m.get("eval_loss").is_some())
            .count(),
        2
    );
}

#[test]
fn classification_recipe_runs_end_to_end() {
    let tmp = tempfile::tempdir().unwrap();
    let base = fixtures().join("distilbert/cls2");
    let data = lora_case("distilbert_cls").join("train.jsonl");
    let out = tmp.path().join("run");
    let recipe = write_recipe(tmp.path(), &format!(
        "[model]\nname = \"{}\"\ntask = \"classification\"\nlabels = [\"negative\", \"positive\"]\n\
         [data]\ntrain = \"{d}\"\nvalidation = \"{d}\"\ntest = \"{d}\"\nmax_source_tokens = 48\n\
         [lora]\nr = 4\nlora_alpha = 8\ntarget_modules = [\"q_lin\"]\n\
         [train]\noutput_dir = \"{}\"\nlearning_rate = 1e-2\nbatch_size = 4\nnum_train_epochs = 2\neval_strategy = \"epoch\"\nsave_best = true\n\
         [eval]\nsamples = 11\n",
        base.display(), out.display(), d = data.display()));
    let stdout = run_cli(&["run", recipe.to_str().unwrap()]);
    assert!(stdout.contains("f1: base"), "{stdout}");
    check_report(&out, true);
    let evals: Vec<_> = read_jsonl(&out.join("metrics.jsonl"))
        .into_iter()
        .filter(|m| m.get("eval_f1").is_some())
        .collect();
    assert_eq!(evals.len(), 2);
    assert!(out.join("adapter/adapter_model.safetensors").is_file());
}

/// The shipped recipes run offline with `--set` overrides: tiny fixture models (no pretrained
/// T5 exists offline), the real data in ../shared, a few steps.
#[test]
fn shipped_recipes_run_offline_with_overrides() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let t5 = fixtures()
        .join("t5/flan_like")
        .to_string_lossy()
        .into_owned();
    let tmp = tempfile::tempdir().unwrap();
    let quick = [
        "train.max_steps=2",
        "train.batch_size=2",
        "train.eval_strategy=\"no\"",
        // no evaluations, so nothing to keep the best by (sentiment.toml has save_best)
        "train.save_best=false",
        "eval.samples=3",
        "eval.max_new_tokens=6",
        "data.max_source_tokens=48",
        "data.max_target_tokens=12",
        "data.train_samples=8",
        "data.validation_samples=4",
    ];
    let cases: Vec<(&str, Vec<String>)> = vec![
        (
            "dialogue-summary",
            vec![
                format!("model.name={t5}"),
                format!("data.train={}", shared("data/dialogsum/train.jsonl")),
                format!(
                    "data.validation={}",
                    shared("data/dialogsum/validation.jsonl")
                ),
                format!("data.test={}", shared("data/dialogsum/test.jsonl")),
                format!("eval.bertscore_model={}", shared("models/all-MiniLM-L6-v2")),
            ],
        ),
        (
            "document-summary",
            vec![
                format!("model.name={t5}"),
                format!("data.train={}", shared("data/xsum/test.jsonl")),
                format!("data.validation={}", shared("data/xsum/test.jsonl")),
                format!("data.test={}", shared("data/xsum/test.jsonl")),
                format!("eval.bertscore_model={}", shared("models/all-MiniLM-L6-v2")),
            ],
        ),
        (
            "sentiment",
            vec![
                format!(
                    "model.name={}",
                    fixtures().join("distilbert/cls2").display()
                ),
                format!("data.train={}", shared("data/imdb/train.jsonl")),
                format!("data.test={}", shared("data/imdb/test.jsonl")),
            ],
        ),
    ];
    for (name, sets) in cases {
        let out = tmp.path().join(name);
        let mut args: Vec<String> = vec![
            "run".into(),
            root.join("recipes")
                .join(format!("{name}.toml"))
                .to_string_lossy()
                .into_owned(),
        ];
        for s in sets
            .iter()
            .map(String::as_str)
            .chain(quick.iter().copied())
            .chain([format!("train.output_dir={}", out.display()).as_str()])
        {
            args.extend(["--set".to_string(), s.to_string()]);
        }
        let stdout = run_cli(&args.iter().map(String::as_str).collect::<Vec<_>>());
        assert!(stdout.contains("report:"), "{name}: {stdout}");
        assert!(out.join("adapter/adapter_config.json").is_file(), "{name}");
        check_report(&out, name == "sentiment");
    }
}
