//! Mistakes are refused before any work (issue #13): impossible recipe values when the recipe
//! loads (`--set` included), missing inputs, an impossible BERTScore layer and unwritable
//! outputs before any weights load. Every case fails quickly, names the key, writes no
//! metrics or adapter, and does not panic.
mod common;
use common::*;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

struct Setup {
    _tmp: tempfile::TempDir,
    root: PathBuf,
    recipe: PathBuf,
    out: PathBuf,
    data: String,
}

/// A seq2seq recipe on the tiny T5 fixture: training data only, no evaluation, one epoch.
fn setup() -> Setup {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().to_path_buf();
    let base = fixtures().join("t5/flan_like");
    let data = base.join("inputs.jsonl").to_string_lossy().into_owned();
    let out = root.join("run");
    let recipe = root.join("recipe.toml");
    std::fs::write(
        &recipe,
        format!(
            "[model]\nname = \"{}\"\ntask = \"seq2seq\"\n[data]\ntrain = \"{data}\"\n\
             max_source_tokens = 64\nmax_target_tokens = 16\n\
             [lora]\nr = 4\nlora_alpha = 8\ntarget_modules = [\"q\", \"v\"]\n\
             [train]\noutput_dir = \"{}\"\nbatch_size = 4\nnum_train_epochs = 1\n\
             [eval]\nsamples = 4\nmax_new_tokens = 4\n",
            base.display(),
            out.display()
        ),
    )
    .unwrap();
    Setup {
        _tmp: tmp,
        root,
        recipe,
        out,
        data,
    }
}

/// Runs the CLI and expects a refusal containing `want`, before any training.
fn refused(s: &Setup, args: &[String], want: &str) {
    let started = Instant::now();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_loratune"))
        .args(args)
        .output()
        .expect("loratune runs");
    let elapsed = started.elapsed();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{args:?} succeeded:\n{stderr}");
    assert!(
        stderr.contains(want),
        "{args:?}: want '{want}' in:\n{stderr}"
    );
    assert!(
        !stderr.contains("panicked") && !stderr.contains("stack backtrace"),
        "{args:?} panicked:\n{stderr}"
    );
    assert!(
        !s.out.join("metrics.jsonl").exists() && !s.out.join("adapter").exists(),
        "{args:?}: wrote training outputs before refusing"
    );
    assert!(
        elapsed < Duration::from_secs(30),
        "{args:?}: took {elapsed:?}"
    );
}

fn job(s: &Setup, command: &str, sets: &[&str]) -> Vec<String> {
    let mut args = vec![command.to_string(), s.recipe.to_string_lossy().into_owned()];
    for set in sets {
        args.push("--set".into());
        args.push(set.replace("{data}", &s.data));
    }
    args
}

#[test]
fn impossible_values_are_refused_on_load() {
    let s = setup();
    let v = "data.validation={data}";
    let cases: &[(&[&str], &str)] = &[
        (&["train.max_steps=0"], "train.max_steps = 0: must be at least 1"),
        (
            &["train.num_train_epochs=0"],
            "train.num_train_epochs = 0: must be a finite number > 0",
        ),
        (&["lora.lora_dropout=1.0"], "lora.lora_dropout = 1: must be in [0, 1)"),
        (&["lora.lora_dropout=-0.1"], "lora.lora_dropout = -0.1: must be in [0, 1)"),
        (&["train.adam_beta1=1.0"], "train.adam_beta1 = 1: must be in [0, 1)"),
        (&["train.adam_beta2=1.5"], "train.adam_beta2 = 1.5: must be in [0, 1)"),
        (&["lora.lora_alpha=0"], "lora.lora_alpha = 0"),
        (&["lora.r=0"], "lora.r = 0: must be at least 1"),
        (&["data.max_source_tokens=0"], "data.max_source_tokens = 0: must be at least 1"),
        (&["data.max_target_tokens=0"], "data.max_target_tokens = 0: must be at least 1"),
        (&["train.batch_size=0"], "train.batch_size = 0: must be at least 1"),
        (
            &["train.gradient_accumulation_steps=0"],
            "train.gradient_accumulation_steps = 0: must be at least 1",
        ),
        (&["train.learning_rate=0"], "train.learning_rate = 0: must be a finite number > 0"),
        (&["train.learning_rate=-1e-3"], "train.learning_rate = -0.001"),
        (&["train.learning_rate=nan"], "train.learning_rate = NaN"),
        (&["train.max_grad_norm=-1"], "train.max_grad_norm = -1: must be a finite number ≥ 0"),
        (&["train.logging_steps=0"], "train.logging_steps = 0: must be at least 1"),
        (&["eval.samples=0"], "eval.samples = 0: must be at least 1"),
        (&["data.train_samples=0"], "data.train_samples = 0: must be at least 1"),
        (
            &["lora.target_modules=(q"],
            "--set lora.target_modules=(q: lora.target_modules = \"(q\" is not a regular expression",
        ),
        (
            &["lora.r=\"4\""],
            "--set lora.r=\"4\": lora.r: expected an integer, found a string (\"4\")",
        ),
        (&[v, "train.eval_strategy=steps"], "train.eval_strategy = \"steps\" needs train.eval_steps"),
        (&[v, "train.eval_strategy=steps", "train.eval_steps=0"], "train.eval_steps = 0: must be at least 1"),
        (&["data.validation_fraction=0"], "data.validation_fraction = 0: must be in (0, 1)"),
        (&["data.validation_fraction=1.0"], "data.validation_fraction = 1: must be in (0, 1)"),
        (
            &["train.eval_strategy=epoch"],
            "train.eval_strategy = \"epoch\" needs validation data: set data.validation or data.validation_fraction",
        ),
        (
            &[v, "train.save_best=true"],
            "load_best_model_at_end requires an evaluation strategy",
        ),
        (
            &[v, "train.eval_strategy=epoch", "train.metric_for_best_model=eval_f1"],
            "train.metric_for_best_model = \"eval_f1\": must be one of [\"eval_loss\"]",
        ),
        (
            &["eval.bertscore_model=roberta-large"],
            "eval.bertscore_model needs eval.bertscore_layer",
        ),
        (
            &["eval.predict_with_generate=true"],
            "eval.predict_with_generate = true needs evaluations during training",
        ),
        (
            &[v, "train.eval_strategy=epoch", "train.metric_for_best_model=eval_rougeL"],
            "eval.predict_with_generate = true adds eval_rouge1/2/L/Lsum",
        ),
    ];
    for (sets, want) in cases {
        refused(&s, &job(&s, "train", sets), want);
    }
    // `run` checks them too
    refused(
        &s,
        &job(&s, "run", &["train.max_steps=0"]),
        "train.max_steps = 0",
    );
}

#[test]
fn missing_inputs_are_refused_before_weights_load() {
    let s = setup();
    let t = "data.test={data}";
    let missing = s.root.join("missing.jsonl");
    let missing_test = format!("data.test={}", missing.display());
    let missing_train = format!("data.train={}", missing.display());
    let empty_adapter = s.root.join("adapter-empty");
    std::fs::create_dir_all(&empty_adapter).unwrap();
    let init_adapter = format!("lora.init_adapter={}", empty_adapter.display());
    let bert = fixtures().join("bert/cls2");
    let bertscore = format!("eval.bertscore_model={}", bert.display());
    let missing_model = format!("eval.bertscore_model={}", s.root.join("no-model").display());
    let file = s.root.join("a-file");
    std::fs::write(&file, "x").unwrap();
    let under_file = format!("train.output_dir={}", file.join("run").display());
    let cases: Vec<(&str, Vec<&str>, &str)> = vec![
        (
            "run",
            vec![],
            "evaluation needs data.test (or data.validation)",
        ),
        ("run", vec![&missing_test], "data.test = "),
        ("train", vec![&missing_train], "data.train = "),
        (
            "train",
            vec![&init_adapter],
            "adapter_config.json is missing",
        ),
        (
            "run",
            vec![t, &bertscore, "eval.bertscore_layer=5"],
            "eval.bertscore_layer = 5: must be at most 2",
        ),
        (
            "run",
            vec![t, &missing_model, "eval.bertscore_layer=1"],
            "eval.bertscore_model = ",
        ),
        ("train", vec![&under_file], "is not a folder"),
    ];
    for (command, sets, want) in &cases {
        refused(&s, &job(&s, command, sets), want);
    }
    // evaluate: the same checks, before the adapter or the model loads
    let mut args = job(&s, "evaluate", &[]);
    args.extend([
        "--adapter".into(),
        s.root.join("none").to_string_lossy().into_owned(),
    ]);
    refused(&s, &args, "evaluation needs data.test (or data.validation)");
    let mut args = job(&s, "evaluate", &[t]);
    args.extend([
        "--adapter".into(),
        empty_adapter.to_string_lossy().into_owned(),
    ]);
    refused(&s, &args, "--adapter = ");
}

#[test]
fn init_adapter_settings_that_disagree_are_refused_before_weights_load() {
    let s = setup();
    // the recipe's r = 4, lora_alpha = 8, target_modules = ["q", "v"] are the adapter's
    let adapter = lora_case("t5_qv").join("adapter");
    let init = format!("lora.init_adapter={}", adapter.display());
    let config = adapter.join("adapter_config.json");
    let want = format!(
        "the recipe's LoRA settings contradict {}, which fixes them for a run that continues this adapter: lora.r = 8 but r = 4 there; lora.lora_dropout = 0.1 but lora_dropout = 0 there",
        config.display()
    );
    for command in ["train", "run"] {
        let sets = [
            &init,
            "lora.r=8",
            "lora.lora_dropout=0.1",
            "data.test={data}",
        ];
        refused(&s, &job(&s, command, &sets), &want);
    }
}

#[test]
fn no_training_examples_names_the_file_and_the_filters() {
    let s = setup();
    let blank = s.root.join("blank.jsonl");
    std::fs::write(
        &blank,
        "{\"source\": \"a\", \"target\": \" \"}\n{\"source\": \"\", \"target\": \"b\"}\n{\"source\": \"c\", \"target\": \"d\"}\n",
    )
    .unwrap();
    let empty = s.root.join("empty.jsonl");
    std::fs::write(&empty, "").unwrap();
    let train = |p: &Path| format!("data.train={}", p.display());
    let cases: Vec<(Vec<String>, String)> = vec![
        (
            vec![train(&empty)],
            format!("data.train = \"{}\": no training examples: the file has no rows", empty.display()),
        ),
        (
            vec![
                train(&blank),
                "data.skip_empty=true".into(),
                "data.validation_fraction=0.5".into(),
            ],
            format!(
                "data.train = \"{}\": no training examples: the file has 3 rows, data.skip_empty = true skipped 2 with an empty text field, data.validation_fraction = 0.5 held out 1 for validation",
                blank.display()
            ),
        ),
    ];
    for (sets, want) in &cases {
        let sets: Vec<&str> = sets.iter().map(String::as_str).collect();
        refused(&s, &job(&s, "train", &sets), want);
    }
}

#[test]
fn unwritable_outputs_are_refused_before_the_model_loads() {
    let s = setup();
    let file = s.root.join("a-file");
    std::fs::write(&file, "x").unwrap();
    let output = file.join("x.jsonl").to_string_lossy().into_owned();
    let model = fixtures()
        .join("t5/flan_like")
        .to_string_lossy()
        .into_owned();
    // a model that is not there: the output is refused first, so it is never looked at
    let missing_model = s.root.join("no-model").to_string_lossy().into_owned();
    for model in [&model, &missing_model] {
        for command in ["generate", "loss"] {
            let args: Vec<String> = [
                command, "--model", model, "--input", &s.data, "--output", &output,
            ]
            .iter()
            .map(|a| a.to_string())
            .collect();
            refused(&s, &args, "is not a folder");
        }
    }
    // classify and score share the check (score takes no model)
    let classify = [
        "classify",
        "--model",
        &missing_model,
        "--input",
        &s.data,
        "--output",
        &output,
    ];
    let score = ["score", "--input", &s.data, "--output", &output];
    for args in [&classify[..], &score[..]] {
        let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        refused(&s, &args, "is not a folder");
    }
    let args: Vec<String> = [
        "generate", "--model", &model, "--input", &s.data, "--output",
    ]
    .iter()
    .map(|a| a.to_string())
    .chain([s.root.to_string_lossy().into_owned()])
    .collect();
    refused(&s, &args, "is a directory");
}

#[test]
fn shipped_recipes_and_valid_values_still_load() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("recipes");
    for name in ["dialogue-summary", "document-summary", "sentiment"] {
        let path = root.join(format!("{name}.toml"));
        loratune::recipe::Recipe::load(&path, &[]).unwrap_or_else(|e| panic!("{name}: {e}"));
    }
    let sentiment = root.join("sentiment.toml");
    for metric in [
        "eval_loss",
        "eval_accuracy",
        "eval_f1",
        "eval_precision",
        "eval_recall",
    ] {
        let set = format!("train.metric_for_best_model={metric}");
        loratune::recipe::Recipe::load(&sentiment, &[set]).unwrap();
    }
    let err =
        loratune::recipe::Recipe::load(&sentiment, &["train.metric_for_best_model=f1".into()])
            .unwrap_err()
            .to_string();
    assert!(
        err.contains("train.metric_for_best_model = \"f1\""),
        "{err}"
    );
}

#[test]
fn the_shipped_search_files_load_and_the_quickstart_is_a_point_of_the_space() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("recipes/search");
    loratune::recipe::Recipe::load(&root.join("sentiment-minilm.toml"), &[])
        .unwrap_or_else(|e| panic!("{e}"));
    let space = loratune::search::Space::load(&root.join("sentiment-space.toml"))
        .unwrap_or_else(|e| panic!("{e}"));
    let text = std::fs::read_to_string(root.join("quickstart-params.toml")).unwrap();
    let params: toml::Table = toml::from_str(&text).unwrap();
    assert_eq!(params.len(), space.params.len());
    for (key, value) in params {
        let param = space
            .param(&key)
            .unwrap_or_else(|| panic!("{key} is not in the space"));
        let value = serde_json::to_value(value).unwrap();
        assert!(param.distribution.contains(&value), "{key} = {value}");
    }
}
