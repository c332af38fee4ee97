//! Generation against Transformers 5: beam search (fixtures' expected_beam.jsonl and
//! tests/fixtures/generation/decoding.jsonl), greedy with logits processors, the processors'
//! scores on fixed logits, cached vs uncached decoding, sampling reproducibility, and the CLI.
mod common;
use candle_core::Tensor;
use common::*;
use loratune::generate::{
    generate, generate_all, logits::argmax, EarlyStopping, GenerationSettings, LogitsProcessor,
};
use loratune::models::t5::T5;
use loratune::tokenizer::TextTokenizer;
use serde_json::Value;
use std::path::{Path, PathBuf};

struct Fixture {
    name: String,
    model: T5,
    ids: Vec<String>,
    sources: Vec<Vec<u32>>,
    tokenizer: TextTokenizer,
    settings: Value,
}

fn load(dir: &Path) -> Fixture {
    let files =
        loratune::hub::resolve_model(dir.to_str().expect("utf-8 path")).expect("model files");
    let model = open_t5(dir);
    let tokenizer = TextTokenizer::load(&files).expect("tokenizer");
    let settings = read_json(&dir.join("settings.json"));
    let max_src = settings["max_source_tokens"].as_u64().expect("setting") as usize;
    let inputs = read_jsonl(&dir.join("inputs.jsonl"));
    let src_tok = tokenizer.with_max_length(max_src).expect("truncation");
    let sources = inputs
        .iter()
        .map(|r| {
            src_tok
                .encode(r["source"].as_str().expect("source"))
                .expect("encode")
        })
        .collect();
    let ids = inputs
        .iter()
        .map(|r| r["id"].as_str().expect("id").to_string())
        .collect();
    let name = dir.file_name().unwrap().to_str().unwrap().to_string();
    Fixture {
        name,
        model,
        ids,
        sources,
        tokenizer,
        settings,
    }
}

fn generation_dir() -> PathBuf {
    fixtures().join("generation")
}

/// Transformers `generate` keyword arguments → our settings.
fn settings_from(kw: &Value) -> GenerationSettings {
    let mut s = GenerationSettings::default();
    if let Some(v) = kw["max_new_tokens"].as_u64() {
        s.max_new_tokens = v as usize;
    }
    if let Some(v) = kw["min_new_tokens"].as_u64() {
        s.min_new_tokens = v as usize;
    }
    if let Some(v) = kw["num_beams"].as_u64() {
        s.num_beams = v as usize;
    }
    if let Some(v) = kw["length_penalty"].as_f64() {
        s.length_penalty = v;
    }
    s.early_stopping = match &kw["early_stopping"] {
        Value::Bool(true) => EarlyStopping::True,
        Value::String(t) if t == "never" => EarlyStopping::Never,
        _ => EarlyStopping::False,
    };
    if let Some(v) = kw["no_repeat_ngram_size"].as_u64() {
        s.no_repeat_ngram_size = v as usize;
    }
    if let Some(v) = kw["repetition_penalty"].as_f64() {
        s.repetition_penalty = v;
    }
    if let Some(v) = kw["do_sample"].as_bool() {
        s.do_sample = v;
    }
    if let Some(v) = kw["temperature"].as_f64() {
        s.temperature = v;
    }
    if let Some(v) = kw["top_k"].as_u64() {
        s.top_k = v as usize;
    }
    if let Some(v) = kw["top_p"].as_f64() {
        s.top_p = v;
    }
    s
}

#[test]
fn beam_search_matches_transformers_expected_beam() {
    for dir in fixture_dirs("t5") {
        let f = load(&dir);
        let settings = settings_from(&f.settings["beam"]);
        assert_eq!(settings.num_beams, 3);
        let expected = read_jsonl(&dir.join("expected_beam.jsonl"));
        let batched = generate(&f.model, &f.sources, &settings).expect("generate");
        for (i, e) in expected.iter().enumerate() {
            assert_eq!(e["id"].as_str().unwrap(), f.ids[i]);
            let want = ids(&e["token_ids"]);
            let single = generate(&f.model, &f.sources[i..=i], &settings).expect("generate");
            assert_eq!(single[0], want, "{}: {} one-by-one", f.name, e["id"]);
            assert_eq!(batched[i], want, "{}: {} batched", f.name, e["id"]);
            assert_eq!(
                f.tokenizer.decode(&single[0]).unwrap(),
                e["generated"].as_str().unwrap()
            );
        }
    }
}

#[test]
fn decoding_settings_match_transformers() {
    let all = read_jsonl(&generation_dir().join("decoding.jsonl"));
    let meta = read_json(&generation_dir().join("settings.json"));
    let mut checked = 0;
    let mut skipped = 0;
    for dir in fixture_dirs("t5") {
        let f = load(&dir);
        for (name, kw) in meta["settings"].as_object().expect("settings") {
            let settings = settings_from(kw);
            let rows: Vec<&Value> = all
                .iter()
                .filter(|r| r["model"] == f.name.as_str() && r["setting"] == name.as_str())
                .collect();
            assert_eq!(rows.len(), f.sources.len(), "{} {name}", f.name);
            let batched = generate(&f.model, &f.sources, &settings).expect("generate");
            for (i, r) in rows.iter().enumerate() {
                assert_eq!(r["id"].as_str().unwrap(), f.ids[i]);
                if r["min_gap"].as_f64().is_some_and(|g| g <= 1e-3) {
                    skipped += 1;
                    continue;
                }
                let want = ids(&r["token_ids"]);
                let single = generate(&f.model, &f.sources[i..=i], &settings).expect("generate");
                assert_eq!(single[0], want, "{} {name} {}: one-by-one", f.name, r["id"]);
                assert_eq!(batched[i], want, "{} {name} {}: batched", f.name, r["id"]);
                assert_eq!(
                    f.tokenizer.decode(&want).unwrap(),
                    r["generated"].as_str().unwrap()
                );
                checked += 1;
            }
        }
    }
    eprintln!("checked {checked} generations, skipped {skipped} near-ties");
    assert!(checked >= 180);
}

/// Greedy decoding without any cache: the whole decoder re-run on the full prefix each step.
fn uncached_greedy(
    model: &T5,
    sources: &[Vec<u32>],
    settings: &GenerationSettings,
) -> Vec<Vec<u32>> {
    let cfg = &model.config;
    let (input_ids, mask) =
        loratune::data::batch::pad(sources, cfg.pad_token_id, &model.device).unwrap();
    let encoded = model.encode(&input_ids, &mask, false).unwrap();
    let processor = LogitsProcessor::new(settings, &cfg.eos_ids());
    let mut histories: Vec<Vec<u32>> = vec![vec![cfg.decoder_start()]; sources.len()];
    let mut done = vec![false; sources.len()];
    for _ in 0..settings.max_new_tokens {
        let flat: Vec<u32> = histories.iter().flatten().copied().collect();
        let len = histories[0].len();
        let ids = Tensor::from_vec(flat, (sources.len(), len), &model.device).unwrap();
        let logits = model.decode(&ids, &encoded, &mask, None, false).unwrap();
        let last = logits
            .narrow(1, len - 1, 1)
            .unwrap()
            .squeeze(1)
            .unwrap()
            .to_vec2::<f32>()
            .unwrap();
        for (row, mut scores) in last.into_iter().enumerate() {
            let token = if done[row] {
                cfg.pad_token_id
            } else {
                processor.process(&histories[row], &mut scores);
                argmax(&scores)
            };
            histories[row].push(token);
            if cfg.eos_ids().contains(&token) {
                done[row] = true;
            }
        }
        if done.iter().all(|d| *d) {
            break;
        }
    }
    histories
        .into_iter()
        .map(|h| {
            let eos = cfg.eos_ids();
            let end = h
                .iter()
                .skip(1)
                .position(|t| eos.contains(t))
                .map(|p| p + 2)
                .unwrap_or(h.len());
            h[1..end].to_vec()
        })
        .collect()
}

#[test]
fn cached_and_uncached_greedy_give_identical_tokens() {
    for dir in fixture_dirs("t5") {
        let f = load(&dir);
        for settings in [
            GenerationSettings::greedy(24),
            GenerationSettings {
                repetition_penalty: 1.4,
                no_repeat_ngram_size: 2,
                min_new_tokens: 4,
                ..GenerationSettings::greedy(20)
            },
        ] {
            let cached = generate(&f.model, &f.sources, &settings).expect("generate");
            let uncached = uncached_greedy(&f.model, &f.sources, &settings);
            assert_eq!(cached, uncached, "{}: batched", f.name);
            for i in [0, 5, 9] {
                let one = generate(&f.model, &f.sources[i..=i], &settings).expect("generate");
                assert_eq!(one[0], uncached[i], "{}: row {i}", f.name);
                assert_eq!(
                    uncached_greedy(&f.model, &f.sources[i..=i], &settings)[0],
                    uncached[i]
                );
            }
        }
    }
}

#[test]
fn logits_processors_match_transformers() {
    let data = read_json(&generation_dir().join("processors.json"));
    let eos = data["eos"].as_u64().unwrap() as u32;
    let mut worst = 0f32;
    for case in data["cases"].as_array().unwrap() {
        let settings = settings_from(&case["settings"]);
        let processor = LogitsProcessor::new(&settings, &[eos]);
        for row in case["rows"].as_array().unwrap() {
            let history = ids(&row["history"]);
            let mut scores: Vec<f32> = row["logits"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_f64().unwrap() as f32)
                .collect();
            processor.process(&history, &mut scores);
            assert_eq!(scores.len(), row["processed"].as_array().unwrap().len());
            for (v, (got, want)) in scores
                .iter()
                .zip(row["processed"].as_array().unwrap())
                .enumerate()
            {
                match want.as_f64() {
                    None => assert_eq!(
                        *got,
                        f32::NEG_INFINITY,
                        "{} token {v} history {history:?}",
                        case["name"]
                    ),
                    Some(w) => {
                        let diff = (got - w as f32).abs();
                        worst = worst.max(diff);
                        assert!(
                            diff <= 1e-5 * (1.0 + w.abs() as f32),
                            "{} token {v}: {got} vs {w}",
                            case["name"]
                        );
                    }
                }
            }
        }
    }
    eprintln!("worst processed-score difference: {worst:e}");
}

#[test]
fn sampling_is_reproducible_with_a_seed() {
    let f = load(&fixture_dirs("t5")[0]);
    let settings = GenerationSettings {
        do_sample: true,
        temperature: 1.5,
        top_k: 40,
        top_p: 0.95,
        seed: 11,
        ..GenerationSettings::greedy(12)
    };
    let a = generate_all(&f.model, &f.sources, &settings, 4, |_| {}).expect("generate");
    let b = generate_all(&f.model, &f.sources, &settings, 4, |_| {}).expect("generate");
    assert_eq!(a, b);
    // each input has its own stream: the batching does not change what it samples
    let c = generate_all(&f.model, &f.sources, &settings, 1, |_| {}).expect("generate");
    assert_eq!(a, c);
    let other = generate_all(
        &f.model,
        &f.sources,
        &GenerationSettings {
            seed: 12,
            ..settings.clone()
        },
        4,
        |_| {},
    )
    .expect("generate");
    assert_ne!(a, other);
    let greedy = generate_all(
        &f.model,
        &f.sources,
        &GenerationSettings::greedy(12),
        4,
        |_| {},
    )
    .expect("generate");
    assert_ne!(a, greedy);
}

#[test]
fn cli_beam_search_sampling_and_adapters() {
    let dir = &fixture_dirs("t5")[0];
    let tmp = tempfile::tempdir().expect("tempdir");
    let model = dir.to_str().unwrap();
    let input = dir.join("inputs.jsonl");
    let out = |name: &str| tmp.path().join(name).to_str().unwrap().to_string();
    let beam_out = out("beam.jsonl");
    run_cli(&[
        "generate",
        "--model",
        model,
        "--input",
        input.to_str().unwrap(),
        "--output",
        &beam_out,
        "--max-source-tokens",
        "64",
        "--max-new-tokens",
        "12",
        "--batch-size",
        "4",
        "--num-beams",
        "3",
        "--length-penalty",
        "0.8",
        "--no-repeat-ngram-size",
        "3",
        "--early-stopping",
        "true",
    ]);
    let got = read_jsonl(Path::new(&beam_out));
    let want = read_jsonl(&dir.join("expected_beam.jsonl"));
    assert_eq!(got.len(), want.len());
    for (g, w) in got.iter().zip(&want) {
        assert_eq!(g["id"], w["id"]);
        assert_eq!(g["generated"], w["generated"]);
    }

    let sample = |name: &str, seed: &str| {
        let path = out(name);
        run_cli(&[
            "generate",
            "--model",
            model,
            "--input",
            input.to_str().unwrap(),
            "--output",
            &path,
            "--max-new-tokens",
            "10",
            "--batch-size",
            "3",
            "--do-sample",
            "--top-k",
            "30",
            "--seed",
            seed,
        ]);
        std::fs::read_to_string(path).unwrap()
    };
    assert_eq!(sample("s1.jsonl", "5"), sample("s2.jsonl", "5"));

    // a LoRA adapter, unmerged and merged in memory, gives the same text
    let case = fixtures().join("lora").join("t5_qv");
    let base = Path::new(env!("CARGO_MANIFEST_DIR")).join(
        read_json(&case.join("train_settings.json"))["base"]
            .as_str()
            .unwrap(),
    );
    let adapter = case.join("trained_adapter");
    let with_adapter = |name: &str, merge: bool| {
        let path = out(name);
        let mut args = vec![
            "generate",
            "--model",
            base.to_str().unwrap(),
            "--adapter",
            adapter.to_str().unwrap(),
            "--input",
            input.to_str().unwrap(),
            "--output",
            &path,
            "--max-new-tokens",
            "12",
            "--batch-size",
            "4",
        ];
        if merge {
            args.push("--merge-adapter");
        }
        run_cli(&args);
        read_jsonl(Path::new(&path))
    };
    let unmerged = with_adapter("a1.jsonl", false);
    let merged = with_adapter("a2.jsonl", true);
    assert_eq!(unmerged, merged);
}
