use super::*;
use crate::device::{DeviceChoice, DtypeChoice, Precision};

const MINIMAL: &str = "[model]\nname = \"m\"\ntask = \"seq2seq\"\n[data]\ntrain = \"t.jsonl\"\n";

fn parse(extra: &str, overrides: &[&str]) -> Result<Recipe> {
    let overrides: Vec<String> = overrides.iter().map(|s| s.to_string()).collect();
    Recipe::parse(
        &format!("{MINIMAL}{extra}"),
        Path::new("r.toml"),
        &overrides,
    )
}

fn error(extra: &str, overrides: &[&str]) -> String {
    parse(extra, overrides).unwrap_err().to_string()
}

#[test]
fn defaults_follow_transformers() {
    let r = Recipe::parse(MINIMAL, Path::new("r.toml"), &[]).unwrap();
    assert_eq!(r.train.learning_rate, 5e-5);
    assert_eq!(r.train.adam_epsilon, 1e-8);
    assert_eq!(r.train.max_grad_norm, 1.0);
    assert_eq!(r.train.lr_scheduler_type, Schedule::Linear);
    assert_eq!(r.lora.r, 8);
}

/// Every default, as the resolved recipe.toml of a minimal recipe writes them (unset options
/// are left out).
#[test]
fn every_default_is_kept() {
    let r = Recipe::parse(MINIMAL, Path::new("r.toml"), &[]).unwrap();
    let want = r#"[model]
name = "m"
task = "seq2seq"
dtype = "f32"

[data]
train = "t.jsonl"
source_field = "source"
target_field = "target"
text_field = "text"
label_field = "label"
max_source_tokens = 512
max_target_tokens = 128
truncation_side = "right"
shuffle = true
seed = 42
skip_empty = false

[lora]
r = 8
lora_alpha = 8.0
lora_dropout = 0.0

[train]
output_dir = "runs/latest"
overwrite_output_dir = false
learning_rate = 0.00005
batch_size = 8
gradient_accumulation_steps = 1
num_train_epochs = 3.0
warmup_steps = 0
lr_scheduler_type = "linear"
weight_decay = 0.0
adam_beta1 = 0.9
adam_beta2 = 0.999
adam_epsilon = 0.00000001
max_grad_norm = 1.0
seed = 42
device = "auto"
precision = "f32"
eval_strategy = "no"
save_best = false
logging_steps = 10
auto_batch_size = false
early_stopping_threshold = 0.0
skip_nonfinite_steps = false
report_to = []

[eval]
samples = 50
seed = 42
predict_with_generate = false
"#;
    assert_eq!(r.to_toml().unwrap(), want);
    // an empty section gives the section's Default
    let empty: TrainSection = toml::from_str("").unwrap();
    assert_eq!(
        toml::to_string(&empty).unwrap(),
        toml::to_string(&TrainSection::default()).unwrap()
    );
}

#[test]
fn overrides_and_unknown_keys() {
    let r = parse(
        "",
        &[
            "train.learning_rate=3e-4",
            "data.train=../x.jsonl",
            "lora.target_modules=[\"q\",\"v\"]",
        ],
    )
    .unwrap();
    assert_eq!(r.train.learning_rate, 3e-4);
    assert_eq!(r.data.train.as_deref(), Some("../x.jsonl"));
    assert_eq!(
        r.lora.target_modules.unwrap(),
        TargetModules::Names(vec!["q".into(), "v".into()])
    );
    let err = error("", &["train.learnin_rate=1"]);
    assert!(err.contains("learnin_rate"), "{err}");
}

#[test]
fn syntax_errors_name_the_line() {
    let err = Recipe::parse(
        "[model]\nname = \"m\"\ntask = = 3\n",
        Path::new("r.toml"),
        &[],
    )
    .unwrap_err();
    assert!(err.to_string().starts_with("r.toml, line 3"), "{err}");
}

#[test]
fn unknown_keys_get_the_nearest_key() {
    // in the file: file and line
    assert_eq!(
        error("[train]\nbatch_size = 2\nlearnig_rate = 1e-3\n", &[]),
        "r.toml, line 8: unknown key `train.learnig_rate`; did you mean `learning_rate`?"
    );
    assert_eq!(
        error("[trian]\nbatch_size = 2\n", &[]),
        "r.toml, line 6: unknown section `[trian]`; did you mean `[train]`?"
    );
    // a key of another section
    assert_eq!(
        error("[train]\nsamples = 3\n", &[]),
        "r.toml, line 7: unknown key `train.samples`; did you mean `eval.samples`?"
    );
    // nothing close: the section's keys are listed
    let err = error("[lora]\nbanana = 1\n", &[]);
    assert!(
        err.starts_with(
            "r.toml, line 7: unknown key `lora.banana`; [lora] keys are `r`, `lora_alpha`"
        ),
        "{err}"
    );
    // on the command line: the --set is blamed
    assert_eq!(
        error("", &["train.learnig_rate=1"]),
        "--set train.learnig_rate=1: unknown key `train.learnig_rate`; did you mean `learning_rate`?"
    );
    assert_eq!(
        error("", &["eval.num_beam=4"]),
        "--set eval.num_beam=4: unknown key `eval.num_beam`; did you mean `num_beams`?"
    );
    let err = error("", &["evl.samples=4"]);
    assert!(
        err.starts_with("--set evl.samples=4: unknown section `[evl]`; did you mean `[eval]`?"),
        "{err}"
    );
}

#[test]
fn devices_precisions_and_dtypes_parse_on_load() {
    let r = parse(
        "[train]\ndevice = \"cuda:1\"\nprecision = \"bf16\"\n",
        &["model.dtype=f16"],
    )
    .unwrap();
    assert_eq!(r.train.device, DeviceChoice::Cuda(1));
    assert_eq!(r.train.precision, Precision::Bf16);
    assert_eq!(r.model.dtype, DtypeChoice::F16);
    assert!(r.to_toml().unwrap().contains("device = \"cuda:1\""));
    for (device, want) in [
        ("auto", DeviceChoice::Auto),
        ("cpu", DeviceChoice::Cpu),
        ("cuda", DeviceChoice::Cuda(0)),
    ] {
        let set = format!("train.device={device}");
        assert_eq!(parse("", &[&set]).unwrap().train.device, want);
    }
    assert_eq!(
        parse("", &["train.precision=fp16"])
            .unwrap()
            .train
            .precision,
        Precision::Fp16
    );

    let err = error("[train]\nbatch_size = 2\ndevice = \"gpu\"\n", &[]);
    assert_eq!(
        err,
        "r.toml, line 8: train.device: unknown device `gpu`; valid values: auto, cpu, cuda, cuda:N (N: a GPU index)"
    );
    let err = error("", &["train.device=cuda:x"]);
    assert!(
        err.starts_with("--set train.device=cuda:x: train.device: invalid device `cuda:x`: `x` is not a GPU index; valid values: auto, cpu, cuda, cuda:N"),
        "{err}"
    );
    let err = error("[train]\nprecision = \"fp8\"\n", &[]);
    assert_eq!(
        err,
        "r.toml, line 7: train.precision: unknown precision `fp8`; valid values: f32, bf16, fp16"
    );
    let err = error("", &["model.dtype=f64"]);
    assert_eq!(
        err,
        "--set model.dtype=f64: model.dtype: unknown dtype `f64`; valid values: f32, bf16, f16"
    );
    // serde enums name the key and list their values too
    let err = error("[train]\nlr_scheduler_type = \"cosin\"\n", &[]);
    assert!(
        err.starts_with("r.toml, line 7: train.lr_scheduler_type: unknown variant `cosin`")
            && err.contains("`cosine`"),
        "{err}"
    );
    // a value given in the file and overridden: the override is blamed
    let err = error("[train]\ndevice = \"cpu\"\n", &["train.device=tpu"]);
    assert!(err.starts_with("--set train.device=tpu: "), "{err}");
}

#[test]
fn missing_keys_are_named() {
    let err = Recipe::parse("[model]\nname = \"m\"\n[data]\n", Path::new("r.toml"), &[])
        .unwrap_err()
        .to_string();
    assert_eq!(err, "r.toml: missing key `model.task`");
    let err = Recipe::parse(
        "[model]\nname = \"m\"\ntask = \"seq2seq\"\n",
        Path::new("r.toml"),
        &[],
    )
    .unwrap_err()
    .to_string();
    assert_eq!(err, "r.toml: missing section `[data]`");
    // --set can supply what the file lacks
    let r = Recipe::parse(
        "[model]\nname = \"m\"\n",
        Path::new("r.toml"),
        &["model.task=classification".into(), "data.train=x".into()],
    )
    .unwrap();
    assert_eq!(r.model.task, Task::Classification);
}

#[test]
fn eval_decoding_keys_are_options() {
    let r = parse(
        "[eval]\nnum_beams = 4\nearly_stopping = \"never\"\ndo_sample = false\n",
        &["eval.top_p=0.9"],
    )
    .unwrap();
    assert_eq!(r.eval.num_beams, Some(4));
    assert_eq!(
        r.eval.early_stopping,
        Some(crate::recipe::EarlyStopping::Never)
    );
    assert_eq!(r.eval.do_sample, Some(false));
    assert_eq!(r.eval.top_p, Some(0.9));
    assert_eq!(r.eval.length_penalty, None);
    let written = r.to_toml().unwrap();
    assert!(
        written.contains("num_beams = 4\n") && written.contains("early_stopping = \"never\"\n")
    );
    let again = Recipe::parse(&written, Path::new("recipe.toml"), &[]).unwrap();
    assert_eq!(
        again.eval.early_stopping,
        Some(crate::recipe::EarlyStopping::Never)
    );
    assert_eq!(
        parse("[eval]\nearly_stopping = true\n", &[])
            .unwrap()
            .eval
            .early_stopping,
        Some(crate::recipe::EarlyStopping::True)
    );
}

/// The README's "### Recipe keys" section lists every key of every section, and nothing else:
/// in each `- `[section]`` item, the backticked names outside parentheses are the keys.
#[test]
fn readme_lists_every_recipe_key() {
    let readme = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md"))
        .expect("README.md");
    let start = readme
        .find("\n### Recipe keys\n")
        .expect("README has a \"### Recipe keys\" section");
    let section_text = {
        let rest = &readme[start + "\n### Recipe keys\n".len()..];
        match rest.find("\n#") {
            Some(end) => &rest[..end],
            None => rest,
        }
    };
    // items: a line starting with "- `[", continued by indented lines
    let mut items: Vec<String> = Vec::new();
    for line in section_text.lines() {
        if line.starts_with("- `[") {
            items.push(line.to_string());
        } else if line.starts_with("  ") && !line.trim().is_empty() {
            if let Some(last) = items.last_mut() {
                last.push(' ');
                last.push_str(line.trim());
            }
        } else if !line.starts_with("  ") {
            items.push(String::new());
        }
    }
    let mut listed: std::collections::BTreeMap<String, Vec<String>> = Default::default();
    for item in items.iter().filter(|i| !i.is_empty()) {
        // drop parenthesised text (value lists, notes), nested included
        let mut outside = String::new();
        let mut depth = 0usize;
        for c in item.chars() {
            match c {
                '(' => depth += 1,
                ')' => depth = depth.saturating_sub(1),
                _ if depth == 0 => outside.push(c),
                _ => {}
            }
        }
        let names: Vec<String> = outside
            .split('`')
            .skip(1)
            .step_by(2)
            .map(str::to_string)
            .collect();
        let section = names[0].trim_matches(|c| c == '[' || c == ']').to_string();
        listed
            .entry(section)
            .or_default()
            .extend(names[1..].iter().cloned());
    }
    let mut problems = Vec::new();
    let keys = keys::recipe_keys();
    for (section, fields) in &keys {
        let in_readme = listed.get(*section).cloned().unwrap_or_default();
        for field in *fields {
            if !in_readme.iter().any(|k| k == field) {
                problems.push(format!("`{section}.{field}` is missing from README.md"));
            }
        }
        for k in &in_readme {
            if !fields.contains(&k.as_str()) {
                problems.push(format!(
                    "README.md lists `{section}.{k}`, which the recipe does not have"
                ));
            }
        }
    }
    for section in listed.keys() {
        if !keys.iter().any(|(s, _)| s == section) {
            problems.push(format!(
                "README.md lists a section `[{section}]` the recipe does not have"
            ));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn refused_values_are_blamed_on_their_line_or_their_set() {
    assert_eq!(
        error("[train]\nadam_beta2 = 1.5\n", &[]),
        "r.toml, line 7: train.adam_beta2 = 1.5: must be in [0, 1)"
    );
    assert_eq!(
        error("", &["train.max_steps=0"]),
        "--set train.max_steps=0: train.max_steps = 0: must be at least 1"
    );
    // a rule between two keys names the file
    assert!(error("[train]\nsave_best = true\n", &[])
        .contains("load_best_model_at_end requires an evaluation strategy"));
    assert!(parse("[train]\nmax_steps = 1\nnum_train_epochs = 0\n", &[]).is_ok());
}

#[test]
fn target_modules_take_peft_strings() {
    let r = parse("[lora]\ntarget_modules = \"all-linear\"\n", &[]).unwrap();
    assert!(r.lora.target_modules.unwrap().is_all_linear());
    let r = parse("", &[r"lora.target_modules=.*\.(q|v)"]).unwrap();
    assert_eq!(
        r.lora.target_modules.unwrap(),
        TargetModules::Pattern(r".*\.(q|v)".into())
    );
    let err = error("[lora]\nr = 4\ntarget_modules = \"(q\"\n", &[]);
    assert!(
        err.starts_with("r.toml, line 8: lora.target_modules = \"(q\" is not a regular expression"),
        "{err}"
    );
    let err = error("", &["lora.target_modules=(q"]);
    assert!(
        err.starts_with("--set lora.target_modules=(q: lora.target_modules"),
        "{err}"
    );
}

#[test]
fn given_lora_keys_are_recorded() {
    let r = parse("[lora]\nr = 4\n", &["lora.lora_alpha=16"]).unwrap();
    assert!(r.lora.is_given("r") && r.lora.is_given("lora_alpha"));
    assert!(!r.lora.is_given("target_modules") && !r.lora.is_given("lora_dropout"));
}

#[test]
fn type_errors_name_the_key_in_plain_words() {
    let err = error("[lora]\nr = \"4\"\n", &[]);
    assert_eq!(
        err,
        "r.toml, line 7: lora.r: expected an integer, found a string (\"4\")"
    );
    let err = error("", &["lora.r=\"4\""]);
    assert_eq!(
        err,
        "--set lora.r=\"4\": lora.r: expected an integer, found a string (\"4\")"
    );
    let err = error("", &["lora.target_modules=3"]);
    assert_eq!(
        err,
        "--set lora.target_modules=3: lora.target_modules: expected a list of module names, \"all-linear\" or a regular expression"
    );
}
