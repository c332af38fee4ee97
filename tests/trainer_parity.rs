//! Our trainer against Transformers' `Trainer`/`Seq2SeqTrainer` + PEFT with warmup, linear and
//! cosine schedules, gradient accumulation 2, clipping, weight decay and 2 epochs in file order
//! (tests/fixtures/trainer, made by scripts/make_trainer_fixtures.py; its README says what the
//! Trainer logs): per-step loss, grad_norm and learning rate, the final adapter, and our adapter
//! files against PEFT's for the same run.
mod common;
use common::*;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

const CASES: [&str; 5] = [
    "t5_linear",
    "t5_cosine",
    "t5_clip20",
    "distilbert_linear",
    "distilbert_cosine",
];

/// Relative tolerance on the logged losses, grad norms and learning rates: the fixtures and our
/// run agree to 2e-6 at most (measured with the release and test profiles); PEFT's conditioning
/// check (tests/fixtures/lora, peft_info.json) puts a float32 trajectory's own noise at ~4e-6.
const LOG_TOLERANCE: f64 = 1e-5;

fn case_dir(case: &str) -> PathBuf {
    fixtures().join("trainer").join(case)
}

fn repo(relative: &Value) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(relative.as_str().expect("a relative path"))
}

fn is_t5(settings: &Value) -> bool {
    settings["trainer"] == "Seq2SeqTrainer"
}

/// Trains the fixture's run with our trainer in `tmp`; returns the run folder.
fn train(case: &str, tmp: &Path) -> PathBuf {
    let s = read_json(&case_dir(case).join("settings.json"));
    let lora = read_json(&lora_case(s["lora_case"].as_str().unwrap()).join("train_settings.json"));
    let model_dir = dropout_free_copy(&repo(&s["base"]), tmp);
    let out = tmp.join("run");
    let (task, lengths) = if is_t5(&s) {
        (
            "seq2seq",
            format!(
                "max_source_tokens = {}\nmax_target_tokens = {}",
                lora["max_source_tokens"], lora["max_target_tokens"]
            ),
        )
    } else {
        (
            "classification",
            format!("max_source_tokens = {}", lora["max_tokens"]),
        )
    };
    let text = format!(
        "[model]\nname = \"{model}\"\ntask = \"{task}\"\n[data]\ntrain = \"{train}\"\n{lengths}\nshuffle = false\n\
         [lora]\ninit_adapter = \"{adapter}\"\n[train]\noutput_dir = \"{out}\"\nlearning_rate = {lr}\n\
         batch_size = {bs}\ngradient_accumulation_steps = {ga}\nnum_train_epochs = {epochs}\n\
         warmup_steps = {warmup}\nlr_scheduler_type = {schedule}\nweight_decay = {wd}\nmax_grad_norm = {clip}\n\
         adam_beta1 = {b1}\nadam_beta2 = {b2}\nadam_epsilon = {eps}\nlogging_steps = 1\ndevice = \"cpu\"\n",
        model = model_dir.display(),
        train = repo(&s["train"]).display(),
        adapter = repo(&s["start_adapter"]).display(),
        out = out.display(),
        lr = s["learning_rate"],
        bs = s["per_device_train_batch_size"],
        ga = s["gradient_accumulation_steps"],
        epochs = s["num_train_epochs"],
        warmup = s["warmup_steps"],
        schedule = s["lr_scheduler_type"],
        wd = s["weight_decay"],
        clip = s["max_grad_norm"],
        b1 = s["adam_beta1"],
        b2 = s["adam_beta2"],
        eps = s["adam_epsilon"],
    );
    let recipe = loratune::recipe::Recipe::parse(&text, Path::new("test.toml"), &[]).unwrap();
    let report = loratune::train::job::train_recipe(&recipe).unwrap();
    assert_eq!(
        report.steps,
        s["global_step"].as_u64().unwrap() as usize,
        "{case}: optimizer steps"
    );
    out
}

fn rel(got: f64, want: f64) -> f64 {
    (got - want).abs() / want.abs().max(1e-12)
}

/// Our `metrics.jsonl` against the Trainer's log: the Trainer logs the SUM of the micro-batch
/// mean losses and the norm of the summed gradient, i.e. `gradient_accumulation_steps` times
/// our mean loss and our grad_norm (README: "Transformers' Trainer logs").
fn assert_log_matches(case: &str, out: &Path) -> f64 {
    let s = read_json(&case_dir(case).join("settings.json"));
    let factor = s["gradient_accumulation_steps"].as_f64().unwrap();
    let ours = read_jsonl(&out.join("metrics.jsonl"));
    let theirs = read_jsonl(&case_dir(case).join("expected_log.jsonl"));
    assert_eq!(ours.len(), theirs.len(), "{case}: number of log rows");
    let mut worst = 0.0f64;
    for (o, t) in ours.iter().zip(&theirs) {
        assert_eq!(o["step"], t["step"], "{case}");
        let epoch = (o["epoch"].as_f64().unwrap() - t["epoch"].as_f64().unwrap()).abs();
        assert!(epoch < 1e-4, "{case}: epoch {o} vs {t}");
        let lr =
            (o["learning_rate"].as_f64().unwrap() - t["learning_rate"].as_f64().unwrap()).abs();
        assert!(lr < 1e-12, "{case}: learning_rate {o} vs {t}");
        for key in ["loss", "grad_norm"] {
            let r = rel(o[key].as_f64().unwrap() * factor, t[key].as_f64().unwrap());
            worst = worst.max(r);
            assert!(
                r <= LOG_TOLERANCE,
                "{case}: {key} ×{factor} {o} vs {t} (rel {r:e})"
            );
        }
    }
    worst
}

fn tensors(dir: &Path) -> BTreeMap<String, candle_core::Tensor> {
    candle_core::safetensors::load(
        dir.join("adapter_model.safetensors"),
        &candle_core::Device::Cpu,
    )
    .unwrap()
    .into_iter()
    .collect()
}

/// max |ours − Trainer's| over the adapter, relative to the largest change the Trainer's run
/// made to any tensor (the update), so that a different update shows however small it is.
fn adapter_difference(case: &str, out: &Path) -> f64 {
    let s = read_json(&case_dir(case).join("settings.json"));
    let start = tensors(&repo(&s["start_adapter"]));
    let theirs = tensors(&case_dir(case).join("trainer_adapter"));
    let ours = tensors(&out.join("adapter"));
    assert_eq!(
        ours.keys().collect::<Vec<_>>(),
        theirs.keys().collect::<Vec<_>>(),
        "{case}: tensor names"
    );
    let (mut diff, mut update) = (0.0f32, 0.0f32);
    for (name, t) in &theirs {
        diff = diff.max(max_abs_diff(&ours[name], t));
        update = update.max(max_abs_diff(t, &start[name]));
    }
    assert!(update > 1e-3, "{case}: the Trainer's run changed nothing");
    (diff / update) as f64
}

#[test]
fn trainer_runs_match_transformers() {
    for case in CASES {
        let tmp = tempfile::tempdir().unwrap();
        let out = train(case, tmp.path());
        let log = assert_log_matches(case, &out);
        let adapter = adapter_difference(case, &out);
        eprintln!("{case}: log rel {log:e}, adapter {adapter:e} of the update");
        // measured: 0.8–1.0e-5 of the update (T5), 4.8e-5 (DistilBERT); clipping the mean
        // instead of the Trainer's sum lands 0.25 away in t5_clip20 (settings.json replays)
        assert!(
            adapter < 1e-4,
            "{case}: final adapter differs by {adapter:e} of the update"
        );
    }
}

/// Tensor name → (dtype, shape).
type TensorInfo = BTreeMap<String, (String, Vec<usize>)>;

/// The safetensors header of an adapter: its tensors, and its metadata.
fn header(dir: &Path) -> (TensorInfo, Option<Value>) {
    let bytes = std::fs::read(dir.join("adapter_model.safetensors")).unwrap();
    let (_, meta) = safetensors::SafeTensors::read_metadata(&bytes).unwrap();
    let names = meta
        .tensors()
        .into_iter()
        .map(|(name, info)| (name, (format!("{:?}", info.dtype), info.shape.clone())))
        .collect();
    let extra = meta
        .metadata()
        .as_ref()
        .map(|m| serde_json::to_value(m).unwrap());
    (names, extra)
}

/// Our written adapter files against PEFT's for the same run: the same tensors (names, dtypes,
/// shapes), the same safetensors metadata, every key PEFT writes in adapter_config.json, and the
/// same values where the value is the adapter's meaning.
#[test]
fn written_adapter_files_match_peft() {
    for case in ["t5_linear", "distilbert_linear"] {
        let tmp = tempfile::tempdir().unwrap();
        let out = train(case, tmp.path());
        let ours = out.join("adapter");
        let theirs = case_dir(case).join("trainer_adapter");
        assert_eq!(header(&ours), header(&theirs), "{case}: safetensors header");
        let our_config = read_json(&ours.join("adapter_config.json"));
        let peft_config = read_json(&theirs.join("adapter_config.json"));
        let missing: Vec<&String> = peft_config
            .as_object()
            .unwrap()
            .keys()
            .filter(|k| our_config.get(k.as_str()).is_none())
            .collect();
        assert!(
            missing.is_empty(),
            "{case}: adapter_config.json lacks {missing:?}"
        );
        for key in [
            "peft_type",
            "task_type",
            "r",
            "lora_alpha",
            "lora_dropout",
            "bias",
            "fan_in_fan_out",
            "use_rslora",
            "use_dora",
            "init_lora_weights",
            "rank_pattern",
            "alpha_pattern",
            "layers_to_transform",
            "layers_pattern",
            "inference_mode",
        ] {
            assert_eq!(
                our_config[key], peft_config[key],
                "{case}: adapter_config.json {key}"
            );
        }
        // sets in PEFT (written in arbitrary order, modules_to_save with repeats); for SEQ_CLS
        // PEFT adds "classifier" and "score" to modules_to_save itself (the README of
        // tests/fixtures/lora), so "score", which no model of ours has, is not asked of ours
        for key in ["target_modules", "modules_to_save"] {
            let set = |v: &Value| -> std::collections::BTreeSet<String> {
                v.as_array()
                    .into_iter()
                    .flatten()
                    .map(|x| x.as_str().unwrap().to_string())
                    .filter(|name| name != "score")
                    .collect()
            };
            assert_eq!(
                set(&our_config[key]),
                set(&peft_config[key]),
                "{case}: {key}"
            );
        }
    }
}

/// Writes, for scripts/make_trainer_fixtures.py `--check-ours`, the adapter our trainer wrote for
/// every case (`DIR/<case>/adapter`) and our per-example outputs with it through the CLI
/// (`DIR/<case>/outputs.jsonl`: `loratune loss` / `loratune classify` on the base fixture's
/// inputs), DIR from `LORATUNE_PEFT_CHECK_DIR`. The script's result is committed as
/// tests/fixtures/trainer/peft_loads_ours.json.
#[test]
#[ignore = "writes the input of the fixture script's PEFT check; run with --ignored"]
fn write_adapters_for_peft_check() {
    let dir = PathBuf::from(
        std::env::var("LORATUNE_PEFT_CHECK_DIR").expect("LORATUNE_PEFT_CHECK_DIR names the folder"),
    );
    for case in CASES {
        let tmp = tempfile::tempdir().unwrap();
        let out = train(case, tmp.path());
        let target = dir.join(case);
        std::fs::create_dir_all(target.join("adapter")).unwrap();
        for file in ["adapter_config.json", "adapter_model.safetensors"] {
            std::fs::copy(
                out.join("adapter").join(file),
                target.join("adapter").join(file),
            )
            .unwrap();
        }
        let s = read_json(&case_dir(case).join("settings.json"));
        let base = repo(&s["base"]);
        let inputs = base.join("inputs.jsonl");
        let lora =
            read_json(&lora_case(s["lora_case"].as_str().unwrap()).join("train_settings.json"));
        let outputs = target.join("outputs.jsonl");
        let adapter = target.join("adapter");
        let common = [
            "--model",
            base.to_str().unwrap(),
            "--adapter",
            adapter.to_str().unwrap(),
            "--input",
            inputs.to_str().unwrap(),
            "--output",
            outputs.to_str().unwrap(),
            "--device",
            "cpu",
        ];
        let lengths = if is_t5(&s) {
            vec![
                "loss".to_string(),
                "--max-source-tokens".into(),
                lora["max_source_tokens"].to_string(),
                "--max-target-tokens".into(),
                lora["max_target_tokens"].to_string(),
            ]
        } else {
            vec![
                "classify".to_string(),
                "--max-tokens".into(),
                lora["max_tokens"].to_string(),
            ]
        };
        let mut args: Vec<&str> = lengths.iter().map(String::as_str).collect();
        args.extend(common);
        run_cli(&args);
        assert_eq!(
            read_jsonl(&outputs).len(),
            read_jsonl(&inputs).len(),
            "{case}: output rows"
        );
    }
}
