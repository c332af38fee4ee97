//! Generation speed: `loratune::generate` vs Transformers' `generate` on the CPU.
//!
//! `cargo bench --bench generate_speed`
//!
//! `scripts/bench_generate.py` builds a random T5-small-shaped model (d_model 512, d_kv 64,
//! 8 heads, d_ff 1024 gated-gelu, 6+6 layers, vocab 32128) with `save_pretrained` into a
//! temporary directory, writes random source ids (batch 16 × 256 tokens) next to it and times
//! Transformers' greedy `generate` (64 new tokens, `min_new_tokens` 64 so that every row
//! generates all of them; torch limited to the bench's thread count). This bench then loads
//! that same directory, times `loratune::generate::generate` on the same ids with the same
//! settings, and prints both rates (generated tokens per second, encoder included) and their
//! ratio. It then times a 256-new-token run and prints the mean time per step for tokens
//! 1–32, 33–64, …, 225–256, to show that a step costs the same late as early.
//!
//! Environment:
//! * `LORATUNE_PYTHON`: interpreter with torch + transformers (default: the reference
//!   environment's `.venv/reference/bin/python`, made by `scripts/reference-env.sh`, if present,
//!   else `python3`). Without it, the bench says why, makes a random model of the same shape
//!   here and times loratune only.
//! * `BENCH_THREADS`: threads for both (default 2; sets `RAYON_NUM_THREADS` for loratune).
//! * `BENCH_BATCH`, `BENCH_SOURCE_LEN`, `BENCH_NEW_TOKENS`, `BENCH_LONG_TOKENS`: shape
//!   (default 16, 256, 64, 256; `BENCH_LONG_TOKENS=0` skips the per-token table).
//! * `BENCH_REPEATS`: timed repetitions of each side, best kept (default 1).

use candle_core::{DType, Device, Tensor};
use loratune::generate::{generate_observed, GenerationSettings};
use loratune::models::t5::{T5Config, T5};
use loratune::nn::Weights;
use serde_json::Value;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

mod common;

// the allocator of the `loratune` binary
#[global_allocator]
static GLOBAL: loratune::runtime::MiMalloc = loratune::runtime::MiMalloc;

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

struct Shape {
    batch: usize,
    source_len: usize,
    new_tokens: usize,
    threads: usize,
    repeats: usize,
}

/// Runs the Python side; `None` (with the reason printed) when it is not available.
fn run_python(dir: &Path, s: &Shape) -> Option<Value> {
    const SIDE: &str = "Transformers";
    let python = common::reference_python();
    if let Err(why) = python.probe(&["torch", "transformers"]) {
        common::print_skipped(SIDE, &why);
        return None;
    }
    let script = common::repo_root().join("scripts/bench_generate.py");
    let out = python
        .command()
        .arg(&script)
        .args(["--out", dir.to_str()?])
        .args([
            "--batch",
            &s.batch.to_string(),
            "--source-len",
            &s.source_len.to_string(),
        ])
        .args([
            "--new-tokens",
            &s.new_tokens.to_string(),
            "--threads",
            &s.threads.to_string(),
        ])
        .args(["--repeats", &s.repeats.to_string()])
        .env("HF_HUB_OFFLINE", "1")
        .output();
    match out {
        Ok(o) if o.status.success() => {
            let text = String::from_utf8_lossy(&o.stdout);
            let value = text
                .lines()
                .rev()
                .find_map(|l| serde_json::from_str::<Value>(l).ok());
            if value.is_none() {
                common::print_skipped(SIDE, &format!("{} printed no JSON", script.display()));
            }
            value
        }
        Ok(o) => {
            let err = String::from_utf8_lossy(&o.stderr);
            let last = err.lines().last().unwrap_or("");
            common::print_skipped(
                SIDE,
                &format!("{} {} failed: {last}", python.describe(), script.display()),
            );
            None
        }
        Err(e) => {
            common::print_skipped(SIDE, &format!("cannot run {} ({e})", python.describe()));
            None
        }
    }
}

/// The same shape as the Python model, random, for when Python is missing.
fn write_random_model(dir: &Path, s: &Shape) -> anyhow::Result<()> {
    let (d, kv, heads, ff, layers, vocab, buckets) = (
        512usize, 64usize, 8usize, 1024usize, 6usize, 32128usize, 32usize,
    );
    let config = serde_json::json!({
        "model_type": "t5", "vocab_size": vocab, "d_model": d, "d_kv": kv, "d_ff": ff, "num_layers": layers,
        "num_decoder_layers": layers, "num_heads": heads, "relative_attention_num_buckets": buckets,
        "relative_attention_max_distance": 128, "feed_forward_proj": "gated-gelu", "tie_word_embeddings": false,
        "decoder_start_token_id": 0, "pad_token_id": 0, "eos_token_id": 1
    });
    std::fs::create_dir_all(dir)?;
    std::fs::write(
        dir.join("config.json"),
        serde_json::to_string_pretty(&config)?,
    )?;
    let dev = Device::Cpu;
    let mut t: HashMap<String, Tensor> = HashMap::new();
    let mut put = |name: String, shape: &[usize], std: f64| -> candle_core::Result<()> {
        t.insert(name, Tensor::randn(0f32, std as f32, shape, &dev)?);
        Ok(())
    };
    put("shared.weight".into(), &[vocab, d], 1.0)?;
    put("lm_head.weight".into(), &[vocab, d], 0.05)?;
    for stack in ["encoder", "decoder"] {
        for i in 0..layers {
            let b = format!("{stack}.block.{i}.layer");
            let attn = |n: &str| format!("{b}.{n}");
            let mut attentions = vec![("0.SelfAttention", "0")];
            if stack == "decoder" {
                attentions.push(("1.EncDecAttention", "1"));
            }
            for (a, norm) in attentions {
                for p in ["q", "k", "v"] {
                    put(
                        attn(&format!("{a}.{p}.weight")),
                        &[heads * kv, d],
                        (d as f64).powf(-0.5),
                    )?;
                }
                put(
                    attn(&format!("{a}.o.weight")),
                    &[d, heads * kv],
                    (heads as f64 * kv as f64).powf(-0.5),
                )?;
                put(attn(&format!("{norm}.layer_norm.weight")), &[d], 1.0)?;
            }
            if i == 0 {
                put(
                    attn("0.SelfAttention.relative_attention_bias.weight"),
                    &[buckets, heads],
                    1.0,
                )?;
            }
            let f = if stack == "decoder" { 2 } else { 1 };
            put(
                attn(&format!("{f}.DenseReluDense.wi_0.weight")),
                &[ff, d],
                (d as f64).powf(-0.5),
            )?;
            put(
                attn(&format!("{f}.DenseReluDense.wi_1.weight")),
                &[ff, d],
                (d as f64).powf(-0.5),
            )?;
            put(
                attn(&format!("{f}.DenseReluDense.wo.weight")),
                &[d, ff],
                (ff as f64).powf(-0.5),
            )?;
            put(attn(&format!("{f}.layer_norm.weight")), &[d], 1.0)?;
        }
        put(format!("{stack}.final_layer_norm.weight"), &[d], 1.0)?;
    }
    candle_core::safetensors::save(&t, dir.join("model.safetensors"))?;
    let mut ids: Vec<Vec<u32>> = Vec::new();
    use rand::{Rng, SeedableRng};
    let mut rng = rand::rngs::StdRng::seed_from_u64(1);
    for _ in 0..s.batch {
        let mut row: Vec<u32> = (0..s.source_len)
            .map(|_| rng.gen_range(3..vocab as u32))
            .collect();
        if let Some(last) = row.last_mut() {
            *last = 1;
        }
        ids.push(row);
    }
    std::fs::write(
        dir.join("inputs.json"),
        serde_json::to_string(&serde_json::json!({ "input_ids": ids }))?,
    )?;
    Ok(())
}

fn load(dir: &Path) -> anyhow::Result<(T5, Vec<Vec<u32>>)> {
    let config: T5Config =
        serde_json::from_str(&std::fs::read_to_string(dir.join("config.json"))?)?;
    let weights = Weights::load(&[dir.join("model.safetensors")], DType::F32, &Device::Cpu)?;
    let model = T5::load(config, &weights)?;
    let inputs: Value = serde_json::from_str(&std::fs::read_to_string(dir.join("inputs.json"))?)?;
    let sources = inputs["input_ids"]
        .as_array()
        .ok_or_else(|| anyhow::anyhow!("inputs.json"))?
        .iter()
        .map(|row| {
            row.as_array().map(|r| {
                r.iter()
                    .filter_map(|v| v.as_u64())
                    .map(|v| v as u32)
                    .collect()
            })
        })
        .collect::<Option<Vec<Vec<u32>>>>()
        .ok_or_else(|| anyhow::anyhow!("inputs.json"))?;
    Ok((model, sources))
}

/// CPU time of this process so far (all threads; Linux `/proc/self/stat`, 100 ticks/s), if known.
fn cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks: f64 = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    Some(ticks / 100.0)
}

/// One timed run.
struct Run {
    total: Duration,
    encoder: Duration,
    /// Wall time of each decoder step.
    steps: Vec<Duration>,
    /// CPU time (all threads) of each decoder step, NaN when unknown (10 ms resolution).
    step_cpu: Vec<f64>,
    outputs: Vec<Vec<u32>>,
}

fn timed(model: &T5, sources: &[Vec<u32>], new_tokens: usize) -> anyhow::Result<Run> {
    let settings = GenerationSettings {
        min_new_tokens: new_tokens,
        ..GenerationSettings::greedy(new_tokens)
    };
    let seeds = vec![0; sources.len()];
    let start = Instant::now();
    let mut marks: Vec<(Instant, f64)> = Vec::with_capacity(new_tokens + 1);
    let outputs = generate_observed(model, sources, &seeds, &settings, &mut |_, _| {
        marks.push((Instant::now(), cpu_seconds().unwrap_or(f64::NAN)))
    })?;
    let total = start.elapsed();
    let encoder = marks.first().map(|m| m.0 - start).unwrap_or_default();
    let steps = marks.windows(2).map(|w| w[1].0 - w[0].0).collect();
    let step_cpu = marks.windows(2).map(|w| w[1].1 - w[0].1).collect();
    Ok(Run {
        total,
        encoder,
        steps,
        step_cpu,
        outputs,
    })
}

fn main() -> anyhow::Result<()> {
    loratune::runtime::init();
    let shape = Shape {
        batch: env_usize("BENCH_BATCH", 16),
        source_len: env_usize("BENCH_SOURCE_LEN", 256),
        new_tokens: env_usize("BENCH_NEW_TOKENS", 64),
        threads: env_usize("BENCH_THREADS", 2),
        repeats: env_usize("BENCH_REPEATS", 1).max(1),
    };
    let long_tokens = env_usize("BENCH_LONG_TOKENS", 256);
    if std::env::var_os("RAYON_NUM_THREADS").is_none() {
        std::env::set_var("RAYON_NUM_THREADS", shape.threads.to_string());
    }
    let tmp = tempfile::tempdir()?;
    let dir: PathBuf = tmp.path().join("t5-small-shaped");
    println!(
        "generate speed: T5-small-shaped random model (d_model 512, 6+6 layers, 8 heads, d_ff 1024 gated), \
         batch {}, {} source tokens, {} new tokens (greedy, min_new_tokens = max_new_tokens), {} threads, f32, CPU",
        shape.batch, shape.source_len, shape.new_tokens, shape.threads
    );
    println!("running Transformers (scripts/bench_generate.py) …");
    let reference = run_python(&dir, &shape);
    if reference.is_none() {
        write_random_model(&dir, &shape)?;
    }
    let (model, sources) = load(&dir)?;
    let tokens = (shape.batch * shape.new_tokens) as f64;

    // warm-up (allocator, thread pool), then the timed runs
    timed(&model, &sources[..sources.len().min(2)], 4)?;
    let mut best: Option<Run> = None;
    let mut best_cpu = None;
    for _ in 0..shape.repeats {
        let cpu_before = cpu_seconds();
        let run = timed(&model, &sources, shape.new_tokens)?;
        let cpu = cpu_seconds().zip(cpu_before).map(|(a, b)| a - b);
        if best.as_ref().is_none_or(|b| run.total < b.total) {
            best = Some(run);
            best_cpu = cpu;
        }
    }
    let Run {
        total: ours,
        encoder,
        steps,
        outputs,
        ..
    } = best.ok_or_else(|| anyhow::anyhow!("no run"))?;
    assert!(
        outputs.iter().all(|o| o.len() == shape.new_tokens),
        "every row generates all tokens"
    );
    let ours_rate = tokens / ours.as_secs_f64();
    let decode: Duration = steps.iter().sum();

    let load = std::fs::read_to_string("/proc/loadavg").ok();
    println!();
    println!("| implementation | seconds | generated tokens/s | encoder s | ms per decoder step | cores busy |");
    println!("|---|---:|---:|---:|---:|---:|");
    if let Some(r) = &reference {
        let secs = r["seconds"].as_f64().unwrap_or(f64::NAN);
        let enc = r["encoder_seconds"].as_f64().unwrap_or(f64::NAN);
        println!(
            "| Transformers {} (torch {}, {} threads) | {secs:.2} | {:.1} | {enc:.2} | {:.1} | {:.2} |",
            r["transformers"].as_str().unwrap_or("?"),
            r["torch"].as_str().unwrap_or("?"),
            shape.threads,
            tokens / secs,
            1e3 * (secs - enc) / shape.new_tokens as f64,
            r["cpu_seconds"].as_f64().unwrap_or(f64::NAN) / secs
        );
    }
    println!(
        "| loratune (candle) | {:.2} | {ours_rate:.1} | {:.2} | {:.1} | {:.2} |",
        ours.as_secs_f64(),
        encoder.as_secs_f64(),
        1e3 * decode.as_secs_f64() / steps.len().max(1) as f64,
        best_cpu.unwrap_or(f64::NAN) / ours.as_secs_f64()
    );
    println!(
        "(Transformers' decoder time = its total minus a separate run of its encoder alone; cores busy = process \
         CPU time / wall time; load average now: {})",
        load.as_deref().unwrap_or("?").trim()
    );
    if let Some(r) = &reference {
        let secs = r["seconds"].as_f64().unwrap_or(f64::NAN);
        println!(
            "speed ratio loratune / Transformers: {:.2}x",
            secs / ours.as_secs_f64()
        );
        if let Some(first) = r["first_row"].as_array() {
            let want: Vec<u32> = first
                .iter()
                .filter_map(|v| v.as_u64())
                .map(|v| v as u32)
                .collect();
            let same = want
                .iter()
                .zip(&outputs[0])
                .take_while(|(a, b)| a == b)
                .count();
            println!("row 0: {same} of {} generated tokens identical to Transformers' before the first difference", want.len());
        }
    }

    if long_tokens > 0 {
        println!("\nper-token time, one run of {long_tokens} new tokens (same batch):");
        let run = timed(&model, &sources, long_tokens)?;
        println!(
            "total {:.2} s, encoder {:.2} s, {:.1} generated tokens/s",
            run.total.as_secs_f64(),
            run.encoder.as_secs_f64(),
            (shape.batch * long_tokens) as f64 / run.total.as_secs_f64()
        );
        println!(
            "| tokens | ms per step ({} rows) | CPU ms per step (all threads) | ms per generated token |",
            shape.batch
        );
        println!("|---|---:|---:|---:|");
        for (i, (block, cpu)) in run
            .steps
            .chunks(32)
            .zip(run.step_cpu.chunks(32))
            .enumerate()
        {
            let mean = block.iter().sum::<Duration>().as_secs_f64() / block.len() as f64;
            let cpu_mean = cpu.iter().sum::<f64>() / cpu.len() as f64;
            println!(
                "| {}–{} | {:.1} | {:.1} | {:.2} |",
                i * 32 + 1,
                i * 32 + block.len(),
                1e3 * mean,
                1e3 * cpu_mean,
                1e3 * mean / shape.batch as f64
            );
        }
        println!("(token 1's step also computes the cross-attention keys/values of every layer)");
    }
    Ok(())
}
