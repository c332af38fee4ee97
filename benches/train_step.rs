//! One LoRA training step (forward, backward, AdamW) against PyTorch + PEFT on the same
//! shapes and thread count (`BENCH_THREADS`, default 2, for both); prints a table with the ratio. `cargo bench --bench train_step`.
//! Python comes from `LORATUNE_PYTHON` (default: the reference environment's
//! `.venv/reference/bin/python`, made by `scripts/reference-env.sh`, if present, else `python3`);
//! without torch/peft the bench says why and prints only our timings. The two sides take turns for `BENCH_ROUNDS` rounds (default 3), so that
//! the machine's drifting speed (±15% on a shared VM) hits both alike; the table gives the median
//! ratio of the rounds and every round's ratio.
use candle_core::{DType, Device, Tensor};
use loratune::data::batch::Seq2SeqBatch;
use loratune::lora::{inject, trainable_parameters, LoraConfig};
use loratune::models::classifier::{Architecture, Labels, SequenceClassifier};
use loratune::models::distilbert::{DistilBertConfig, DistilBertForSequenceClassification};
use loratune::models::head::FreshInit;
use loratune::models::t5::{T5Config, T5};
use loratune::nn::Weights;
use loratune::train::optimizer::AdamW;
use rand::{Rng, SeedableRng};
use std::time::Instant;

mod common;

#[global_allocator]
static GLOBAL: loratune::runtime::MiMalloc = loratune::runtime::MiMalloc;

fn random_ids(rows: usize, len: usize, vocab: usize, rng: &mut impl Rng) -> Vec<Vec<u32>> {
    (0..rows)
        .map(|_| (0..len).map(|_| rng.gen_range(3..vocab as u32)).collect())
        .collect()
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn t5_step_seconds(case: &serde_json::Value) -> f64 {
    let g = |k: &str| case[k].as_u64().unwrap() as usize;
    let config: T5Config = serde_json::from_value(serde_json::json!({
        "vocab_size": g("vocab"), "d_model": g("d_model"), "d_kv": g("d_kv"), "d_ff": g("d_ff"),
        "num_layers": g("layers"), "num_heads": g("heads"), "feed_forward_proj": "gated-gelu",
        "dropout_rate": 0.0, "tie_word_embeddings": false
    }))
    .unwrap();
    let weights = Weights::synthetic(0.05, 0, DType::F32, &Device::Cpu);
    let mut model = T5::load(config, &weights).unwrap();
    let targets: Vec<String> = case["targets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap().to_string())
        .collect();
    inject(
        &mut model,
        &LoraConfig::new(g("r"), 2.0 * g("r") as f64, 0.0, targets),
        0,
    )
    .unwrap();
    let params = trainable_parameters(&mut model);
    let mut optimizer = AdamW::new(&params, 0.9, 0.999, 1e-8, 0.0).unwrap();
    let mut rng = rand::rngs::StdRng::seed_from_u64(0);
    let src = random_ids(g("batch"), g("source_len"), g("vocab"), &mut rng);
    let tgt = random_ids(g("batch"), g("target_len"), g("vocab"), &mut rng);
    let batch = Seq2SeqBatch::new(&src, &tgt, 0, 0, &Device::Cpu).unwrap();
    let mut step = || {
        let loss = model.loss(&batch, true).unwrap();
        let grads = loss.backward().unwrap();
        let g: Vec<Tensor> = params
            .iter()
            .map(|(_, v)| grads.get(v.as_tensor()).unwrap().clone())
            .collect();
        optimizer.step(&g, 1e-4).unwrap();
    };
    time_steps(&mut step, case["repeats"].as_u64().unwrap())
}

fn distilbert_step_seconds(case: &serde_json::Value) -> f64 {
    let g = |k: &str| case[k].as_u64().unwrap() as usize;
    let config: DistilBertConfig = serde_json::from_value(serde_json::json!({
        "vocab_size": g("vocab"), "dim": g("dim"), "n_layers": g("layers"), "n_heads": g("heads"),
        "hidden_dim": g("hidden_dim"), "dropout": 0.0, "attention_dropout": 0.0, "seq_classif_dropout": 0.0
    }))
    .unwrap();
    let weights = Weights::synthetic(0.05, 0, DType::F32, &Device::Cpu);
    let head = DistilBertForSequenceClassification::load(
        config,
        2,
        &weights,
        &mut FreshInit::new(0, 0.02),
    )
    .unwrap();
    let mut model = SequenceClassifier {
        model: Architecture::DistilBert(head),
        labels: Labels {
            count: 2,
            names: None,
        },
        new_weights: Vec::new(),
        pad_token_id: 0,
        dtype: DType::F32,
        device: Device::Cpu,
        parameter_count: 0,
    };
    let targets: Vec<String> = case["targets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap().to_string())
        .collect();
    let mut lora = LoraConfig::new(g("r"), 2.0 * g("r") as f64, 0.0, targets);
    lora.modules_to_save = Some(vec!["classifier".into()]);
    inject(&mut model, &lora, 0).unwrap();
    let params = trainable_parameters(&mut model);
    let mut optimizer = AdamW::new(&params, 0.9, 0.999, 1e-8, 0.0).unwrap();
    let mut rng = rand::rngs::StdRng::seed_from_u64(0);
    let ids: Vec<u32> = random_ids(g("batch"), g("seq_len"), g("vocab"), &mut rng).concat();
    let ids = Tensor::from_vec(ids, (g("batch"), g("seq_len")), &Device::Cpu).unwrap();
    let mask = Tensor::ones((g("batch"), g("seq_len")), DType::U8, &Device::Cpu).unwrap();
    let labels: Vec<u32> = (0..g("batch")).map(|_| rng.gen_range(0..2)).collect();
    let labels = Tensor::from_vec(labels, g("batch"), &Device::Cpu).unwrap();
    let mut step = || {
        let logits = model.forward(&ids, &mask, true).unwrap();
        let loss = loratune::nn::loss::token_nll(&logits, &labels)
            .unwrap()
            .mean_all()
            .unwrap();
        let grads = loss.backward().unwrap();
        let g: Vec<Tensor> = params
            .iter()
            .map(|(_, v)| grads.get(v.as_tensor()).unwrap().clone())
            .collect();
        optimizer.step(&g, 1e-4).unwrap();
    };
    time_steps(&mut step, case["repeats"].as_u64().unwrap())
}

/// Median seconds of `repeats` calls after one warm-up call.
fn time_steps(step: &mut dyn FnMut(), repeats: u64) -> f64 {
    step();
    median(
        (0..repeats)
            .map(|_| {
                let t = Instant::now();
                step();
                t.elapsed().as_secs_f64()
            })
            .collect(),
    )
}

fn main() {
    // BENCH_THREADS (default 2) limits both sides: PyTorch through `torch.set_num_threads`,
    // loratune through RAYON_NUM_THREADS (its rayon pool and candle's gemm threads), set before
    // any thread starts. An explicit RAYON_NUM_THREADS wins, as in generate_speed.
    let threads = std::env::var("BENCH_THREADS").unwrap_or_else(|_| "2".into());
    if std::env::var_os("RAYON_NUM_THREADS").is_none() {
        std::env::set_var("RAYON_NUM_THREADS", &threads);
    }
    loratune::runtime::init();
    let spec = serde_json::json!({"cases": [
        {"name": "t5-small LoRA r16 q,v, batch 4, 256→64", "kind": "t5", "vocab": 32128, "d_model": 512, "d_kv": 64,
         "d_ff": 1024, "layers": 6, "heads": 8, "r": 16, "targets": ["q", "v"], "batch": 4, "source_len": 256,
         "target_len": 64, "repeats": 5},
        {"name": "distilbert (MiniLM-sized) LoRA r8 q_lin + head, batch 16, 256 tokens", "kind": "distilbert",
         "vocab": 30522, "dim": 384, "layers": 6, "heads": 12, "hidden_dim": 1536, "r": 8, "targets": ["q_lin"],
         "batch": 16, "seq_len": 256, "repeats": 3}
    ]});
    // BENCH_CASE=t5 or =distilbert runs one kind only
    let only = std::env::var("BENCH_CASE").ok();
    let mut spec = spec;
    if let (Some(kind), Some(cases)) = (&only, spec["cases"].as_array_mut()) {
        cases.retain(|case| case["kind"] == kind.as_str());
    }
    let python = common::reference_python();
    let python_ok = match python.probe(&["torch", "peft"]) {
        Ok(()) => true,
        Err(why) => {
            common::print_skipped("PyTorch + PEFT", &why);
            false
        }
    };
    let rounds: usize = std::env::var("BENCH_ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(3)
        .max(1);
    let script = common::repo_root().join("scripts/bench_train_step.py");
    let cases = spec["cases"].as_array().unwrap();
    // per case: (ours, theirs) of every round
    let mut timings: Vec<Vec<(f64, Option<f64>)>> = vec![Vec::new(); cases.len()];
    for _ in 0..rounds {
        let torch = if python_ok {
            match python
                .command()
                .arg(&script)
                .args([&spec.to_string(), &threads])
                .output()
            {
                Ok(o) if o.status.success() => {
                    serde_json::from_slice::<serde_json::Value>(&o.stdout).ok()
                }
                Ok(o) => {
                    let err = String::from_utf8_lossy(&o.stderr);
                    let last = err.lines().last().unwrap_or("");
                    println!("{} {} failed: {last}", python.describe(), script.display());
                    None
                }
                Err(e) => {
                    println!("cannot run {} ({e})", python.describe());
                    None
                }
            }
        } else {
            None
        };
        for (case, times) in cases.iter().zip(&mut timings) {
            let ours = match case["kind"].as_str().unwrap() {
                "t5" => t5_step_seconds(case),
                "distilbert" => distilbert_step_seconds(case),
                other => panic!("unknown case kind {other}"),
            };
            let theirs = torch
                .as_ref()
                .and_then(|t| t[case["name"].as_str().unwrap()].as_f64());
            times.push((ours, theirs));
        }
    }
    if python_ok
        && !cases.is_empty()
        && timings.iter().flatten().all(|(_, theirs)| theirs.is_none())
    {
        println!(
            "(PyTorch + PEFT not available through {}; printing loratune timings only)",
            python.describe()
        );
    }
    println!("| case | loratune s/step | PyTorch+PEFT s/step | ratio (ours/theirs), median of {rounds} rounds | every round |");
    println!("|---|---|---|---|---|");
    for (case, times) in cases.iter().zip(&timings) {
        let name = case["name"].as_str().unwrap();
        let ours = median(times.iter().map(|t| t.0).collect());
        let pairs: Vec<(f64, f64)> = times
            .iter()
            .filter_map(|&(o, t)| t.map(|t| (o, t)))
            .collect();
        if pairs.is_empty() {
            println!("| {name} | {ours:.3} | – | – | – |");
            continue;
        }
        let theirs = median(pairs.iter().map(|p| p.1).collect());
        let ratios: Vec<f64> = pairs.iter().map(|(o, t)| o / t).collect();
        let each: Vec<String> = ratios.iter().map(|r| format!("{r:.2}×")).collect();
        println!(
            "| {name} | {ours:.3} | {theirs:.3} | {:.2}× | {} |",
            median(ratios.clone()),
            each.join(" ")
        );
    }
}
