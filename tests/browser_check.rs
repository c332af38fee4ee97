//! Every kind of page loratune writes, opened in headless Chromium by
//! `scripts/browser_check.sh` (console errors, missing images, elements wider than the page
//! fail it). Ignored by default: it needs node and Chromium (`apt-get install -y chromium`).
//!
//!     cargo test --test browser_check -- --ignored --nocapture
//!
//! Pages come from the tiny fixture models: a seq2seq report and a classification report
//! (`loratune run`, each with its training curves), a classification report with class
//! probabilities (written with `write_report_with_scores` from `loratune classify`'s
//! probabilities of the base model and the tuned adapter), and the training-curve PNGs of
//! one run and of two runs overlaid, and the reports of two searches (one objective with
//! pruned trials, and two objectives with their Pareto front) driven by a synthetic
//! `--objective-command`.
//! Screenshots go to `LORATUNE_SCREENSHOTS`, else a temporary folder (printed).
mod common;
use common::*;
use loratune::eval::classification_charts::ClassScores;
use loratune::eval::report::{
    write_report_with_scores, ClassificationReport, ReportExample, ReportMeta,
};
use std::path::{Path, PathBuf};

fn recipe(dir: &Path, name: &str, text: String) -> PathBuf {
    let path = dir.join(format!("{name}.toml"));
    std::fs::write(&path, text).unwrap();
    path
}

fn seq2seq_run(tmp: &Path) -> PathBuf {
    let base = fixtures().join("t5/flan_like");
    let data = base.join("inputs.jsonl");
    let out = tmp.join("seq2seq");
    let r = recipe(tmp, "seq2seq", format!(
        "[model]\nname = \"{}\"\ntask = \"seq2seq\"\n[data]\ntrain = \"{d}\"\nvalidation = \"{d}\"\ntest = \"{d}\"\n\
         prompt = \"Summarize: {{source}}\"\nmax_source_tokens = 64\nmax_target_tokens = 16\n\
         [lora]\nr = 4\nlora_alpha = 8\ntarget_modules = [\"q\", \"v\"]\n\
         [train]\noutput_dir = \"{}\"\nlearning_rate = 1e-2\nbatch_size = 2\nmax_steps = 12\nlogging_steps = 1\neval_strategy = \"steps\"\neval_steps = 3\n\
         [eval]\nsamples = 6\nmax_new_tokens = 8\n",
        base.display(), out.display(), d = data.display()));
    run_cli(&["run", r.to_str().unwrap()]);
    out
}

fn classification_run(tmp: &Path, name: &str, lr: &str) -> PathBuf {
    let out = tmp.join(name);
    let r = classification_recipe(tmp, name, lr, &out);
    run_cli(&["run", r.to_str().unwrap()]);
    out
}

fn classification_recipe(tmp: &Path, name: &str, lr: &str, out: &Path) -> PathBuf {
    let base = fixtures().join("distilbert/cls2");
    let data = lora_case("distilbert_cls").join("train.jsonl");
    recipe(tmp, name, format!(
        "[model]\nname = \"{}\"\ntask = \"classification\"\nlabels = [\"negative\", \"positive\"]\n\
         [data]\ntrain = \"{d}\"\nvalidation = \"{d}\"\ntest = \"{d}\"\nmax_source_tokens = 48\n\
         [train]\noutput_dir = \"{}\"\nlearning_rate = {lr}\nbatch_size = 4\nnum_train_epochs = 20\nlogging_steps = 1\neval_strategy = \"epoch\"\nsave_best = true\n\
         [eval]\nsamples = 40\n",
        base.display(), out.display(), d = data.display()))
}

/// `loratune classify` probabilities of the report's inputs, in example order.
fn probabilities(run: &Path, examples: &[ReportExample], adapter: bool) -> Vec<Vec<f64>> {
    let input = run.join("inputs.jsonl");
    let lines: String = examples
        .iter()
        .map(|e| format!("{}\n", serde_json::json!({"text": e.input})))
        .collect();
    std::fs::write(&input, lines).unwrap();
    let output = run.join(if adapter { "tuned.jsonl" } else { "base.jsonl" });
    let model = fixtures().join("distilbert/cls2");
    let adapter_dir = run.join("adapter");
    let mut args = vec![
        "classify",
        "--model",
        model.to_str().unwrap(),
        "--input",
        input.to_str().unwrap(),
        "--output",
        output.to_str().unwrap(),
        "--max-tokens",
        "48",
        "--device",
        "cpu",
    ];
    if adapter {
        args.extend(["--adapter", adapter_dir.to_str().unwrap()]);
    }
    run_cli(&args);
    read_jsonl(&output)
        .iter()
        .map(|row| {
            row["probs"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| p.as_f64().unwrap())
                .collect()
        })
        .collect()
}

/// A search of `trials` trials over a log-uniform, an int, a choice of lists and a uniform
/// parameter with a synthetic objective (`command`, as `--objective-command`); its report page.
fn search_report(tmp: &Path, name: &str, objective: &str, pruner: &str, command: &str) -> PathBuf {
    // the output folder is named `name` so that screenshots (named by a page's last three
    // path components) stay apart
    let dir = tmp.join(format!("{name}-inputs"));
    std::fs::create_dir_all(&dir).unwrap();
    let space = dir.join("space.toml");
    std::fs::write(
        &space,
        format!(
            "{objective}\n{pruner}\n[params]\n\"train.learning_rate\" = {{ loguniform = [1e-5, 1e-2] }}\n\
             \"lora.r\" = {{ choice = [4, 8, 16, 32] }}\n\
             \"lora.target_modules\" = {{ choice = [[\"q_lin\"], [\"q_lin\", \"v_lin\"]] }}\n\
             \"lora.lora_dropout\" = {{ uniform = [0.0, 0.2] }}\n\"train.warmup_steps\" = {{ int = [0, 40], step = 10 }}\n"
        ),
    )
    .unwrap();
    let recipe = classification_recipe(&dir, name, "1e-2", &dir.join("unused"));
    run_cli(&[
        "search",
        recipe.to_str().unwrap(),
        "--space",
        space.to_str().unwrap(),
        "--strategy",
        "tpe",
        "--trials",
        "24",
        "--seed",
        "3",
        "--output",
        tmp.join(name).to_str().unwrap(),
        "--objective-command",
        command,
    ]);
    tmp.join(name).join("report/index.html")
}

/// The run's classification report again, with class probabilities.
fn report_with_scores(run: &Path) -> PathBuf {
    let report = run.join("report");
    let examples: Vec<ReportExample> = read_jsonl(&report.join("examples.jsonl"))
        .into_iter()
        .map(|v| serde_json::from_value(v).unwrap())
        .collect();
    let summary = read_json(&report.join("summary.json"));
    let meta: ReportMeta = serde_json::from_value(summary["meta"].clone()).unwrap();
    let c = &summary["classification"];
    let classification = ClassificationReport {
        base: serde_json::from_value(c["base"].clone()).unwrap(),
        tuned: serde_json::from_value(c["tuned"].clone()).unwrap(),
        label_names: serde_json::from_value(c["label_names"].clone()).unwrap(),
    };
    let index = |name: &str| {
        classification
            .label_names
            .iter()
            .position(|n| n == name)
            .unwrap()
    };
    let scores = ClassScores {
        labels: examples.iter().map(|e| index(&e.reference)).collect(),
        base: probabilities(run, &examples, false),
        tuned: probabilities(run, &examples, true),
    };
    // beside the run's own report, so the page finds the run's training curves too
    let dir = run.join("report-with-probabilities");
    write_report_with_scores(&dir, &meta, &examples, Some(&classification), Some(&scores)).unwrap();
    dir.join("index.html")
}

#[test]
#[ignore = "needs node and Chromium: cargo test --test browser_check -- --ignored"]
fn every_page_kind_passes_in_chromium() {
    let tmp = tempfile::tempdir().unwrap();
    let shots = std::env::var_os("LORATUNE_SCREENSHOTS")
        .map(PathBuf::from)
        .unwrap_or_else(|| tmp.path().join("screenshots"));
    let seq2seq = seq2seq_run(tmp.path());
    let cls = classification_run(tmp.path(), "classification", "3e-2");
    let other = classification_run(tmp.path(), "classification-lr1e-2", "1e-2");
    let with_scores = report_with_scores(&cls);
    let overlay = tmp.path().join("compare/training.png");
    std::fs::create_dir_all(overlay.parent().unwrap()).unwrap();
    run_cli(&[
        "plot",
        cls.to_str().unwrap(),
        other.to_str().unwrap(),
        "--output",
        overlay.to_str().unwrap(),
    ]);
    // f1 peaks at lr 1e-3 and r 16, and falls with dropout; reported over four evaluations
    let f1 = "lr=\"$LORATUNE_PARAM_TRAIN_LEARNING_RATE\" r=\"$LORATUNE_PARAM_LORA_R\" d=\"$LORATUNE_PARAM_LORA_LORA_DROPOUT\" \
              awk 'BEGIN { l = log(ENVIRON[\"lr\"]) / log(10) + 3; f = 0.9 - l * l / 20 - (log(ENVIRON[\"r\"] / 16) / log(2))^2 / 50 - ENVIRON[\"d\"] / 4; \
              for (k = 1; k <= 4; k++) { print \"intermediate\", f - 0.2 / k; fflush() } print \"objective\", f, ENVIRON[\"r\"] * 18432 }'";
    let pruned_search = search_report(
        tmp.path(),
        "search",
        "[objective]\nmetric = \"eval_f1\"\ndirection = \"maximize\"",
        "[pruner]\nkind = \"asha\"\nmin_resource = 1",
        &f1.replace(
            "print \"objective\", f, ENVIRON[\"r\"] * 18432",
            "print \"objective\", f",
        ),
    );
    let pareto_search = search_report(
        tmp.path(),
        "search-pareto",
        "[objective]\nmetric = [\"eval_f1\", \"trainable_params\"]\ndirection = [\"maximize\", \"minimize\"]",
        "",
        f1,
    );
    let pages = [
        pruned_search,
        pareto_search,
        seq2seq.join("report/index.html"),
        cls.join("report/index.html"),
        with_scores,
        cls.join("training.png"),
        overlay,
    ];
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/browser_check.sh");
    let out = std::process::Command::new(&script)
        .arg(&shots)
        .args(&pages)
        .output()
        .unwrap_or_else(|e| panic!("{}: {e}", script.display()));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    println!("{text}\nscreenshots: {}", shots.display());
    assert!(out.status.success(), "browser check failed:\n{text}");
    assert!(
        text.contains(&format!("all {} pages passed", pages.len())),
        "{text}"
    );
}
