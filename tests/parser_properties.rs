//! Bounded property tests of the parsers the fuzz targets in `fuzz/` exercise (data files,
//! recipes with `--set`, adapter_config.json, config.json, tokenizer_config.json,
//! safetensors): arbitrary input gives a value or an error, never a panic, and what is
//! written can be read back. A few hundred cases each, so the default suite stays fast.
mod common;
use candle_core::{DType, Device};
use common::fixtures;
use loratune::data::source::parse_rows;
use loratune::lora::LoraConfig;
use loratune::models::{check_config, Kind};
use loratune::nn::Weights;
use loratune::recipe::Recipe;
use loratune::tokenizer::clean_up_flag;
use proptest::prelude::*;
use serde_json::{json, Map, Value};
use std::path::{Path, PathBuf};

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 256,
        failure_persistence: None,
        // the same cases on every run, so the default suite is deterministic (fuzz/ explores)
        rng_seed: proptest::test_runner::RngSeed::Fixed(0x10_7a_70_4e),
        ..ProptestConfig::default()
    }
}

// ---------------------------------------------------------------- data files

/// A JSON value of the kinds data files hold.
fn json_value() -> impl Strategy<Value = Value> {
    prop_oneof![
        any::<String>().prop_map(Value::String),
        any::<i64>().prop_map(Value::from),
        any::<bool>().prop_map(Value::Bool),
        Just(Value::Null),
        (-1e6f64..1e6).prop_map(Value::from),
    ]
}

fn rows() -> impl Strategy<Value = Vec<Map<String, Value>>> {
    prop::collection::vec(
        prop::collection::btree_map("[a-z_]{1,6}", json_value(), 0..4)
            .prop_map(|m| m.into_iter().collect::<Map<String, Value>>()),
        0..6,
    )
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn data_readers_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        for name in ["x.jsonl", "x.json", "x.csv", "x.parquet"] {
            let _ = parse_rows(&bytes, Path::new(name));
        }
    }

    /// Text that looks like data (JSON and CSV punctuation, quotes, line ends, a BOM).
    #[test]
    fn data_readers_never_panic_on_near_data(text in r#"(\u{feff})?([{}\[\]",:\r\n ]|[a-z0-9]|\\u00|true|null|1e400){0,80}"#) {
        for name in ["x.jsonl", "x.json", "x.csv"] {
            let _ = parse_rows(text.as_bytes(), Path::new(name));
        }
    }

    /// Rows written as JSON Lines (with blank lines, CRLF ends and a byte-order mark mixed
    /// in) read back as the same rows, each with its line number.
    #[test]
    fn jsonl_round_trip(rows in rows(), blank_before in prop::collection::vec(any::<bool>(), 6), crlf in any::<bool>(), bom in any::<bool>()) {
        let end = if crlf { "\r\n" } else { "\n" };
        let mut text = String::from(if bom { "\u{feff}" } else { "" });
        let mut expected = Vec::new();
        let mut line = 1;
        for (row, blank) in rows.iter().zip(&blank_before) {
            if *blank {
                text.push_str(end);
                line += 1;
            }
            text.push_str(&serde_json::to_string(row).unwrap());
            text.push_str(end);
            expected.push((line, row.clone()));
            line += 1;
        }
        let read = parse_rows(text.as_bytes(), Path::new("x.jsonl")).unwrap();
        prop_assert_eq!(read, expected);
    }

    /// The same rows as one JSON array read back in order, numbered from 1.
    #[test]
    fn json_array_round_trip(rows in rows()) {
        let text = serde_json::to_string(&rows).unwrap();
        let read = parse_rows(text.as_bytes(), Path::new("x.json")).unwrap();
        let expected: Vec<_> = rows.into_iter().enumerate().map(|(i, r)| (i + 1, r)).collect();
        prop_assert_eq!(read, expected);
    }

    /// A CSV written by the csv crate (quotes, commas, line breaks inside fields) reads back
    /// as one row of strings per record.
    #[test]
    fn csv_round_trip(
        header in prop::collection::btree_set("[a-z_]{1,6}", 1..4),
        cells in prop::collection::vec(prop::collection::vec("[^\u{feff}]{0,12}", 4), 0..6),
    ) {
        let header: Vec<String> = header.into_iter().collect();
        let mut writer = csv::Writer::from_writer(Vec::new());
        writer.write_record(&header).unwrap();
        for record in &cells {
            writer.write_record(&record[..header.len()]).unwrap();
        }
        let bytes = writer.into_inner().unwrap();
        let read = parse_rows(&bytes, Path::new("x.csv")).unwrap();
        prop_assert_eq!(read.len(), cells.len());
        for ((_, row), record) in read.iter().zip(&cells) {
            let expected: Map<String, Value> = header
                .iter()
                .zip(record)
                .map(|(k, v)| (k.clone(), Value::String(v.clone())))
                .collect();
            prop_assert_eq!(row, &expected);
        }
    }

    /// The parquet fixture with one byte changed, or cut short, is read or refused.
    #[test]
    fn parquet_mutations_never_panic(at in any::<prop::sample::Index>(), byte in any::<u8>(), cut in any::<bool>()) {
        let mut bytes = std::fs::read(fixtures().join("data/imdb_sample.parquet")).unwrap();
        let i = at.index(bytes.len());
        if cut {
            bytes.truncate(i);
        } else {
            bytes[i] = byte;
        }
        let _ = parse_rows(&bytes, Path::new("x.parquet"));
    }
}

#[test]
fn parquet_fixture_reads_through_bytes_as_through_the_file() {
    let path = fixtures().join("data/imdb_sample.parquet");
    let from_bytes = parse_rows(&std::fs::read(&path).unwrap(), &path).unwrap();
    let from_file = loratune::data::source::read_rows(&path).unwrap();
    assert!(!from_file.is_empty());
    assert_eq!(from_bytes, from_file);
}

// ---------------------------------------------------------------- recipes and --set

const BASE_RECIPE: &str =
    "[model]\nname = \"m\"\ntask = \"seq2seq\"\n\n[data]\ntrain = \"train.jsonl\"\n";

/// Keys of every section (valid and near-valid), for generated recipes and overrides.
const KEYS: &[&str] = &[
    "model.name",
    "model.task",
    "model.num_labels",
    "model.labels",
    "model.dtype",
    "data.train",
    "data.validation",
    "data.validation_fraction",
    "data.max_source_tokens",
    "data.truncation_side",
    "data.prompt",
    "lora.r",
    "lora.lora_alpha",
    "lora.lora_dropout",
    "lora.target_modules",
    "lora.init_adapter",
    "train.batch_size",
    "train.learning_rate",
    "train.max_steps",
    "train.num_train_epochs",
    "train.adam_beta1",
    "train.device",
    "train.precision",
    "train.eval_strategy",
    "train.eval_steps",
    "train.save_best",
    "train.metric_for_best_model",
    "train.lr_scheduler_type",
    "eval.samples",
    "eval.early_stopping",
    "eval.bertscore_model",
    "eval.bertscore_layer",
    "eval.top_p",
    "lora.rr",
    "trian.batch_size",
    "model",
    "a.b.c",
];

/// Values of every TOML type, in and out of range, as typed after `=`.
fn toml_value() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<i64>().prop_map(|n| n.to_string()),
        (0u64..4).prop_map(|n| n.to_string()),
        any::<f64>().prop_map(|x| format!("{x:?}")),
        Just("nan".to_string()),
        Just("-inf".to_string()),
        Just("true".to_string()),
        "[a-z_ ]{0,8}".prop_map(|s| format!("{s:?}")),
        "[a-z_]{0,8}",
        Just("[\"q\", \"v\"]".to_string()),
        Just("\"all-linear\"".to_string()),
        Just("\".*(\"".to_string()),
        Just("\"never\"".to_string()),
        Just("\"steps\"".to_string()),
        Just("\"cuda:99999999999999999999\"".to_string()),
        Just("{ a = 1 }".to_string()),
        Just("[]".to_string()),
        "[^\n]{0,10}",
    ]
}

fn assignment() -> impl Strategy<Value = (String, String)> {
    (prop::sample::select(KEYS), toml_value()).prop_map(|(k, v)| (k.to_string(), v))
}

/// A recipe file: the base recipe's keys with the generated assignments over them (the
/// last one of a key wins), written as one `[section]` table each.
fn recipe_text(assignments: &[(String, String)]) -> String {
    let base = [
        ("model.name", "\"m\""),
        ("model.task", "\"seq2seq\""),
        ("data.train", "\"train.jsonl\""),
    ];
    let mut tables: std::collections::BTreeMap<&str, std::collections::BTreeMap<&str, &str>> =
        Default::default();
    let all = base
        .iter()
        .map(|(k, v)| (*k, *v))
        .chain(assignments.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    for (key, value) in all {
        let (section, name) = key.split_once('.').unwrap_or(("", key));
        tables.entry(section).or_default().insert(name, value);
    }
    let mut text = String::new();
    for (section, keys) in &tables {
        if !section.is_empty() {
            text.push_str(&format!("[{section}]\n"));
        }
        for (name, value) in keys {
            text.push_str(&format!("{name} = {value}\n"));
        }
    }
    text
}

fn reads_back(recipe: &Recipe) -> Result<(), TestCaseError> {
    let written = recipe.to_toml().unwrap();
    let again = Recipe::parse(&written, Path::new("recipe.toml"), &[])
        .map_err(|e| TestCaseError::fail(format!("written recipe refused: {e}\n{written}")))?;
    prop_assert_eq!(again.to_toml().unwrap(), written);
    Ok(())
}

/// The value a written recipe holds at `section.key`.
fn written_value(recipe: &Recipe, key: &str) -> Option<toml::Value> {
    let table: toml::Table = toml::from_str(&recipe.to_toml().unwrap()).unwrap();
    let (section, name) = key.split_once('.').unwrap();
    table.get(section)?.get(name).cloned()
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn recipe_text_never_panics(text in any::<String>(), sets in prop::collection::vec(any::<String>(), 0..3)) {
        let _ = Recipe::parse(&text, Path::new("recipe.toml"), &sets);
    }

    /// Recipes built from known keys and values of every type: read or refused with an
    /// error; an accepted one is written and read back unchanged.
    #[test]
    fn recipe_from_keys_reads_back(assignments in prop::collection::vec(assignment(), 0..8)) {
        let text = recipe_text(&assignments);
        if let Ok(recipe) = Recipe::parse(&text, Path::new("recipe.toml"), &[]) {
            reads_back(&recipe)?;
        }
    }

    /// The same assignments as `--set` overrides of a valid recipe.
    #[test]
    fn overrides_never_panic_and_read_back(assignments in prop::collection::vec(assignment(), 0..5)) {
        let sets: Vec<String> = assignments.iter().map(|(k, v)| format!("{k}={v}")).collect();
        match Recipe::parse(BASE_RECIPE, Path::new("recipe.toml"), &sets) {
            Ok(recipe) => reads_back(&recipe)?,
            Err(e) => {
                // a refused override is blamed on a --set (the file itself is valid)
                let message = e.to_string();
                prop_assert!(message.contains("--set"), "{}", message);
            }
        }
    }

    /// `--set` of a count reads back as that count.
    #[test]
    fn set_count_reads_back(
        key in prop::sample::select(&["lora.r", "train.batch_size", "train.max_steps", "data.max_source_tokens", "eval.samples"][..]),
        n in 1u32..u32::MAX,
    ) {
        let recipe = Recipe::parse(BASE_RECIPE, Path::new("recipe.toml"), &[format!("{key}={n}")]).unwrap();
        prop_assert_eq!(written_value(&recipe, key), Some(toml::Value::Integer(n.into())));
        reads_back(&recipe)?;
    }

    /// `--set` of any string (quoted as TOML) reads back as that string; a plain word that is
    /// not a TOML value is taken as a string too.
    #[test]
    fn set_string_reads_back(
        key in prop::sample::select(&["model.name", "data.source_field", "data.prompt", "train.output_dir"][..]),
        text in any::<String>(),
        word in "[A-Za-z][A-Za-z0-9_/-]{0,12}",
    ) {
        let quoted = toml::Value::String(text.clone()).to_string();
        let recipe = Recipe::parse(BASE_RECIPE, Path::new("recipe.toml"), &[format!("{key}={quoted}")]).unwrap();
        prop_assert_eq!(written_value(&recipe, key), Some(toml::Value::String(text)));
        reads_back(&recipe)?;
        prop_assume!(!["true", "false", "inf", "nan"].contains(&word.as_str()));
        let recipe = Recipe::parse(BASE_RECIPE, Path::new("recipe.toml"), &[format!("{key}={word}")]).unwrap();
        prop_assert_eq!(written_value(&recipe, key), Some(toml::Value::String(word)));
    }
}

// ---------------------------------------------------------------- adapter_config.json

/// Values for adapter_config.json's fields, of the right type or not.
fn adapter_field() -> impl Strategy<Value = (&'static str, Value)> {
    let names = prop::sample::select(
        &[
            "peft_type",
            "r",
            "lora_alpha",
            "lora_dropout",
            "target_modules",
            "modules_to_save",
            "task_type",
            "bias",
            "fan_in_fan_out",
            "use_rslora",
            "use_dora",
            "rank_pattern",
            "alpha_pattern",
            "layers_to_transform",
            "init_lora_weights",
        ][..],
    );
    let values = prop_oneof![
        json_value(),
        Just(json!(["q", "v"])),
        Just(json!(".*\\.(q|v)")),
        Just(json!("(")),
        Just(json!({"q": 2, "k": 0})),
        Just(json!({"q": -1.5})),
        Just(json!("SEQ_CLS")),
        Just(json!("LORA")),
        Just(json!(0)),
        Just(json!(u64::MAX)),
        Just(json!(-1)),
    ];
    (names, values)
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn adapter_config_never_panics(text in any::<String>(), fields in prop::collection::vec(adapter_field(), 0..10)) {
        let path = Path::new("adapter_config.json");
        let _ = LoraConfig::parse(&text, path);
        let object: Map<String, Value> = fields.into_iter().map(|(k, v)| (k.to_string(), v)).collect();
        if let Ok(config) = LoraConfig::parse(&Value::Object(object).to_string(), path) {
            let written = serde_json::to_string(&config).unwrap();
            let again = LoraConfig::parse(&written, path).unwrap();
            prop_assert_eq!(serde_json::to_string(&again).unwrap(), written);
        }
    }

    /// A config written by loratune reads back with the same rank, alpha, dropout and targets.
    #[test]
    fn adapter_config_round_trip(
        r in 1usize..100_000,
        alpha in prop_oneof![(-1e20f64..1e20), (1u32..512).prop_map(f64::from)],
        dropout in 0f64..1.0,
        targets in prop::collection::vec("[a-z_.]{1,10}", 1..5),
    ) {
        let config = LoraConfig::new(r, alpha, dropout, targets.clone());
        let written = serde_json::to_string(&config).unwrap();
        let read = LoraConfig::parse(&written, Path::new("adapter_config.json")).unwrap();
        prop_assert_eq!(read.r, r);
        prop_assert_eq!(read.lora_alpha, alpha);
        prop_assert_eq!(read.lora_dropout, dropout);
        prop_assert_eq!(read.target_names(), targets);
    }
}

// ---------------------------------------------------------------- config.json

fn model_configs() -> Vec<(PathBuf, Kind)> {
    let f = fixtures();
    vec![
        (f.join("t5/flan_like/config.json"), Kind::Seq2Seq),
        (f.join("t5/t5v1_like/config.json"), Kind::Seq2Seq),
        (f.join("bert/cls2/config.json"), Kind::Classifier),
        (f.join("distilbert/cls2/config.json"), Kind::Classifier),
    ]
}

#[test]
fn fixture_model_configs_pass_the_check() {
    for (path, kind) in model_configs() {
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(
            check_config(&text, &path).unwrap(),
            kind,
            "{}",
            path.display()
        );
    }
}

proptest! {
    #![proptest_config(config())]

    /// A fixture's config.json with some fields set to values of any type (0, huge,
    /// negative, strings, nulls) is accepted or refused with an error naming the file.
    #[test]
    fn model_config_fields_never_panic(
        which in 0usize..4,
        edits in prop::collection::vec((any::<prop::sample::Index>(), prop_oneof![
            json_value(),
            Just(json!(0)),
            Just(json!(u64::MAX)),
            Just(json!(-1)),
            Just(json!("llama")),
            Just(json!({"0": "a", "7": "b"})),
            Just(json!({"x": "a"})),
            Just(json!("gated-gelu")),
            Just(json!("relative_key")),
        ]), 1..4),
    ) {
        let (path, _) = &model_configs()[which];
        let mut config: Map<String, Value> =
            serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        let mut names: Vec<String> = config.keys().cloned().collect();
        names.extend(["id2label", "num_decoder_layers", "position_embedding_type"].map(String::from));
        for (at, value) in edits {
            config.insert(names[at.index(names.len())].clone(), value);
        }
        let text = Value::Object(config).to_string();
        let _ = check_config(&text, Path::new("config.json"));
    }

    #[test]
    fn model_config_text_never_panics(text in any::<String>()) {
        let _ = check_config(&text, Path::new("config.json"));
    }
}

// ---------------------------------------------------------------- tokenizer_config.json

proptest! {
    #![proptest_config(config())]

    #[test]
    fn tokenizer_config_never_panics(text in any::<String>()) {
        let _ = clean_up_flag(&text, Path::new("tokenizer_config.json"));
    }

    /// The flag reads back as written; absent or not a boolean, it is unset.
    #[test]
    fn tokenizer_config_flag_reads_back(flag in prop::option::of(any::<bool>()), other in json_value()) {
        let mut config = json!({"model_max_length": 512, "other": other});
        if let Some(flag) = flag {
            config["clean_up_tokenization_spaces"] = json!(flag);
        }
        let read = clean_up_flag(&config.to_string(), Path::new("tokenizer_config.json")).unwrap();
        prop_assert_eq!(read, flag);
    }
}

// ---------------------------------------------------------------- safetensors

fn safetensors_read(bytes: &[u8]) -> loratune::Result<Weights> {
    Weights::from_safetensors_bytes(
        bytes,
        PathBuf::from("model.safetensors"),
        DType::F32,
        &Device::Cpu,
    )
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn safetensors_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
        let _ = safetensors_read(&bytes);
    }

    /// An adapter's safetensors file with its header length replaced, a byte of its header
    /// changed, or cut short.
    #[test]
    fn safetensors_mutations_never_panic(
        length in prop::option::of(any::<u64>()),
        at in any::<prop::sample::Index>(),
        byte in any::<u8>(),
        cut in any::<bool>(),
    ) {
        let mut bytes = std::fs::read(fixtures().join("lora/bert_cls/adapter/adapter_model.safetensors")).unwrap();
        if let Some(length) = length {
            bytes[..8].copy_from_slice(&length.to_le_bytes());
        }
        let header_end = 8 + u64::from_le_bytes(bytes[..8].try_into().unwrap()).min(bytes.len() as u64 - 8) as usize;
        let i = at.index(header_end);
        if cut {
            bytes.truncate(i);
        } else {
            bytes[i] = byte;
        }
        let _ = safetensors_read(&bytes);
    }

    /// Tensors written as safetensors read back with the same names, shapes and values.
    #[test]
    fn safetensors_round_trip(
        tensors in prop::collection::btree_map("[a-z_.]{1,12}", prop::collection::vec(1usize..4, 0..3), 1..4),
        seed in any::<u32>(),
    ) {
        let data: Vec<(String, Vec<usize>, Vec<u8>)> = tensors
            .into_iter()
            .map(|(name, shape)| {
                let count: usize = shape.iter().product();
                let values: Vec<u8> = (0..count)
                    .flat_map(|i| (seed as f32 + i as f32 * 0.5).to_le_bytes())
                    .collect();
                (name, shape, values)
            })
            .collect();
        let views: Vec<(String, safetensors::tensor::TensorView)> = data
            .iter()
            .map(|(name, shape, values)| {
                (name.clone(), safetensors::tensor::TensorView::new(safetensors::Dtype::F32, shape.clone(), values).unwrap())
            })
            .collect();
        let bytes = safetensors::tensor::serialize(views, None).unwrap();
        let weights = safetensors_read(&bytes).unwrap();
        prop_assert_eq!(weights.tensors().len(), data.len());
        for (name, shape, values) in &data {
            let tensor = &weights.tensors()[name];
            prop_assert_eq!(tensor.dims(), &shape[..]);
            let read: Vec<u8> = tensor
                .flatten_all()
                .unwrap()
                .to_vec1::<f32>()
                .unwrap()
                .into_iter()
                .flat_map(f32::to_le_bytes)
                .collect();
            prop_assert_eq!(&read, values);
        }
    }
}

/// Regression (found by `parquet_mutations_never_panic`): corrupt column metadata made the
/// parquet crate panic ("column start and length should not be negative"). Every single-byte
/// corruption of the fixture's footer is now read or refused, never a panic.
#[test]
fn parquet_footer_corruptions_are_refused_not_panics() {
    let bytes = std::fs::read(fixtures().join("data/imdb_sample.parquet")).unwrap();
    let footer = bytes.len().saturating_sub(600);
    let mut refused = 0;
    for i in footer..bytes.len() {
        for value in [0x00u8, 0x80, 0xff] {
            let mut mutated = bytes.clone();
            mutated[i] = value;
            if parse_rows(&mutated, Path::new("x.parquet")).is_err() {
                refused += 1;
            }
        }
    }
    assert!(refused > 0, "no corruption was noticed");
}
