//! `target_modules` given as a string (PEFT's `"all-linear"` or a regular expression that must
//! match a whole module name) adapts the modules PEFT adapts, on the fixture models
//! (tests/fixtures/lora/target_strings.json, from scripts/make_target_fixtures.py); and
//! `lora.init_adapter` fixes the recipe's LoRA keys: conflicting ones are refused, and the
//! run's recipe.toml records the adapter's values.
mod common;
use common::*;
use loratune::lora::{inject, LoraConfig};
use std::path::Path;

fn open(base: &str) -> loratune::models::Model {
    let dir = fixtures().join(base);
    let files = loratune::hub::resolve_model(dir.to_str().unwrap()).unwrap();
    loratune::models::open(&files, &Default::default())
        .unwrap()
        .model
}

fn strings(value: &serde_json::Value) -> Vec<String> {
    let mut names: Vec<String> = value
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    names.sort();
    names
}

/// The LoRA config of a fixture case, as the recipe's classification default adds
/// `modules_to_save = ["classifier"]`.
fn case_config(base: &str, targets: &serde_json::Value) -> LoraConfig {
    let classifier = !base.starts_with("t5/");
    serde_json::from_value(serde_json::json!({
        "r": 2,
        "lora_alpha": 4,
        "target_modules": targets,
        "task_type": if classifier { "SEQ_CLS" } else { "SEQ_2_SEQ_LM" },
        "modules_to_save": if classifier { serde_json::json!(["classifier"]) } else { serde_json::Value::Null },
    }))
    .unwrap()
}

#[test]
fn string_targets_adapt_what_peft_adapts() {
    let reference = read_json(&fixtures().join("lora/target_strings.json"));
    let cases = reference["cases"].as_array().unwrap();
    assert_eq!(cases.len(), 8);
    for case in cases {
        let base = case["base"].as_str().unwrap();
        let config = case_config(base, &case["target_modules"]);
        let mut model = open(base);
        let result = inject(&mut model, &config, 0);
        if let Some(peft_error) = case["error"].as_str() {
            // DistilBERT: "all-linear" adapts pre_classifier, which modules_to_save's
            // "classifier" also names; PEFT refuses, and so does loratune, saying why
            assert!(
                peft_error.contains("modules_to_save cannot be applied"),
                "{case}"
            );
            let err = result.unwrap_err().to_string();
            assert!(
                err.contains("[\"pre_classifier\"]")
                    && err.contains("modules_to_save cannot be applied"),
                "{case}: {err}"
            );
            continue;
        }
        let report = result.unwrap();
        let mut adapted = report.adapted.clone();
        adapted.sort();
        let mut saved = report.saved.clone();
        saved.sort();
        assert_eq!(adapted, strings(&case["lora_modules"]), "{case}");
        assert_eq!(saved, strings(&case["modules_to_save_copies"]), "{case}");
        // the target_modules PEFT saved select the same modules when loratune reads them
        let written = case_config(base, &case["saved_target_modules"]);
        let again = inject(&mut open(base), &written, 0).unwrap();
        let mut adapted_again = again.adapted.clone();
        adapted_again.sort();
        assert_eq!(adapted_again, adapted, "{case}");
    }
}

/// A one-step seq2seq run on the tiny T5; returns the output folder.
fn train(tmp: &Path, lora: &str) -> loratune::Result<std::path::PathBuf> {
    let base = fixtures().join("t5/flan_like");
    let out = tmp.join("run");
    let text = format!(
        "[model]\nname = \"{}\"\ntask = \"seq2seq\"\n[data]\ntrain = \"{}\"\n\
         max_source_tokens = 64\nmax_target_tokens = 16\n[lora]\n{lora}\n\
         [train]\noutput_dir = \"{}\"\nbatch_size = 4\nmax_steps = 1\ndevice = \"cpu\"\n",
        base.display(),
        base.join("inputs.jsonl").display(),
        out.display()
    );
    let recipe = loratune::recipe::Recipe::parse(&text, Path::new("test.toml"), &[])?;
    loratune::train::job::train_recipe(&recipe)?;
    Ok(out)
}

#[test]
fn all_linear_is_written_out_as_the_modules_peft_chose() {
    let reference = read_json(&fixtures().join("lora/target_strings.json"));
    let case = reference["cases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["base"] == "t5/flan_like" && c["target_modules"] == "all-linear")
        .unwrap()
        .clone();
    let tmp = tempfile::tempdir().unwrap();
    let out = train(tmp.path(), "target_modules = \"all-linear\"").unwrap();
    // loratune writes the full names PEFT chose (PEFT shortens a list of 20 or more to
    // suffixes that select the same modules)
    let config = read_json(&out.join("adapter/adapter_config.json"));
    assert_eq!(
        strings(&config["target_modules"]),
        strings(&case["lora_modules"])
    );
    let recipe = std::fs::read_to_string(out.join("recipe.toml")).unwrap();
    assert!(
        recipe.contains("target_modules = \"all-linear\""),
        "{recipe}"
    );
}

#[test]
fn init_adapter_keys_that_disagree_are_refused() {
    let adapter = lora_case("t5_qv").join("adapter");
    let config = adapter.join("adapter_config.json");
    let tmp = tempfile::tempdir().unwrap();
    let lora = format!(
        "init_adapter = \"{}\"\nr = 8\nlora_alpha = 8\ntarget_modules = [\"q\", \"k\"]",
        adapter.display()
    );
    let err = train(tmp.path(), &lora).unwrap_err().to_string();
    for part in [
        format!("lora.init_adapter = \"{}\"", adapter.display()),
        config.display().to_string(),
        "lora.r = 8 but r = 4 there".into(),
        "lora.target_modules = [\"q\", \"k\"] but target_modules = ".into(),
    ] {
        assert!(err.contains(&part), "want '{part}' in: {err}");
    }
    // lora_alpha = 8 agrees with the adapter, so it is not named
    assert!(!err.contains("lora.lora_alpha"), "{err}");
    assert!(
        !tmp.path().join("run").exists(),
        "refused after creating the run folder"
    );
}

#[test]
fn init_adapter_values_are_recorded_as_used() {
    let adapter = lora_case("t5_qv").join("adapter");
    let tmp = tempfile::tempdir().unwrap();
    // the same targets in another order, and no other LoRA key
    let lora = format!(
        "init_adapter = \"{}\"\ntarget_modules = [\"v\", \"q\"]",
        adapter.display()
    );
    let out = train(tmp.path(), &lora).unwrap();
    let recipe: toml::Value =
        toml::from_str(&std::fs::read_to_string(out.join("recipe.toml")).unwrap()).unwrap();
    let used = &recipe["lora"];
    let peft = read_json(&adapter.join("adapter_config.json"));
    assert_eq!(used["r"].as_integer(), peft["r"].as_i64());
    assert_eq!(used["lora_alpha"].as_float(), peft["lora_alpha"].as_f64());
    let targets: Vec<&str> = used["target_modules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    let theirs: Vec<&str> = peft["target_modules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(targets, theirs);
    // the adapter trained is the one the recipe names: its config is carried over
    let trained = read_json(&out.join("adapter/adapter_config.json"));
    assert_eq!(trained["r"], peft["r"]);
}
