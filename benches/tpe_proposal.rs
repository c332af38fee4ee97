//! How long TPE takes to propose a trial as a study grows: loratune's `Tpe` against Optuna's
//! `TPESampler` (Python, `scripts/bench_tpe_optuna.py`) on the same 6-parameter mixed space,
//! at 50, 200 and 400 finished trials with 7 trials still running (8 parallel workers; both
//! samplers with constant liar), univariate and multivariate.
//!
//! `cargo bench --bench tpe_proposal`
//!
//! The finished trials are random points with a quadratic objective (the same points and values
//! are handed to Optuna). Each figure is the median of 21 proposals. Optuna's side needs a
//! Python with `optuna` (`LORATUNE_PYTHON`, `.venv/reference`, else `python3`); without it the
//! bench says why and prints ours alone.
use loratune::search::rng::SamplerRng;
use loratune::search::sampler::random::RandomSampler;
use loratune::search::sampler::tpe::Tpe;
use loratune::search::sampler::Sampler;
use loratune::search::trial::{Params, State, Trial};
use loratune::search::Space;
use serde_json::{json, Value};
use std::path::Path;
use std::time::Instant;

mod common;

const SIZES: [usize; 3] = [50, 200, 400];
const RUNNING: usize = 7;
const REPEATS: usize = 21;

const SPACE: &str = "[objective]\nmetric = \"eval_loss\"\ndirection = \"minimize\"\n[params]\n\
    \"train.learning_rate\" = { loguniform = [1e-5, 1e-1] }\n\
    \"lora.lora_dropout\" = { uniform = [0.0, 0.5] }\n\
    \"train.batch_size\" = { int = [4, 64], step = 4 }\n\
    \"lora.r\" = { choice = [2, 4, 8, 16, 32, 64] }\n\
    \"lora.lora_alpha\" = { int = [1, 64] }\n\
    \"lora.target_modules\" = { choice = [\"q,v\", \"q,k,v,o\", \"q\"] }\n";

fn objective(p: &Params) -> f64 {
    let num = |k: &str| p[k].as_f64().unwrap_or(0.0);
    (num("train.learning_rate").log10() + 3.5).powi(2)
        + 20.0 * (num("lora.lora_dropout") - 0.1).powi(2)
        + ((num("train.batch_size") - 16.0) / 16.0).powi(2)
        + ((num("lora.r") - 16.0) / 16.0).powi(2)
        + ((num("lora.lora_alpha") - 24.0) / 16.0).powi(2)
}

/// `finished` complete trials and `RUNNING` running ones, random points.
fn history(space: &Space, finished: usize) -> Vec<Trial> {
    (0..finished + RUNNING)
        .map(|number| {
            let number = number as u64;
            let mut rng = SamplerRng::for_trial(99, number);
            let params = RandomSampler.sample(space, &[], &mut rng).unwrap().unwrap();
            if number < finished as u64 {
                let mut t = Trial::new(number, State::Complete, params);
                t.values = Some(vec![objective(&t.params)]);
                t
            } else {
                Trial::new(number, State::Running, params)
            }
        })
        .collect()
}

fn median_ms(mut times: Vec<f64>) -> f64 {
    times.sort_by(f64::total_cmp);
    times[times.len() / 2]
}

fn ours(space: &Space, history: &[Trial], multivariate: bool) -> f64 {
    let tpe = Tpe {
        multivariate,
        ..Tpe::default()
    };
    let next = history.len() as u64;
    median_ms(
        (0..REPEATS)
            .map(|i| {
                let mut rng = SamplerRng::for_trial(i as u64, next);
                let started = Instant::now();
                tpe.sample(space, history, &mut rng).unwrap().unwrap();
                started.elapsed().as_secs_f64() * 1e3
            })
            .collect(),
    )
}

/// Optuna's medians in ms, keyed "finished/univariate|multivariate"; or why not.
fn optuna(histories: &[(usize, Vec<Trial>)]) -> Result<Value, String> {
    let python = common::reference_python();
    python.probe(&["optuna"])?;
    let studies: Vec<Value> = histories
        .iter()
        .map(|(finished, h)| {
            json!({
                "finished": finished,
                "trials": h.iter().map(|t| json!({
                    "params": t.params,
                    "value": t.values.as_ref().map(|v| v[0]),
                })).collect::<Vec<_>>(),
            })
        })
        .collect();
    let input = std::env::temp_dir().join(format!("tpe-bench-{}.json", std::process::id()));
    std::fs::write(
        &input,
        json!({ "repeats": REPEATS, "studies": studies }).to_string(),
    )
    .map_err(|e| e.to_string())?;
    let script = common::repo_root().join("scripts/bench_tpe_optuna.py");
    let out = python
        .command()
        .arg(&script)
        .arg(&input)
        .output()
        .map_err(|e| format!("{}: {e}", python.describe()))?;
    let _ = std::fs::remove_file(&input);
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).into_owned());
    }
    serde_json::from_slice(&out.stdout).map_err(|e| e.to_string())
}

fn main() {
    let space = Space::parse(SPACE, Path::new("space.toml")).unwrap();
    let histories: Vec<(usize, Vec<Trial>)> =
        SIZES.iter().map(|&n| (n, history(&space, n))).collect();
    let theirs = optuna(&histories);
    if let Err(why) = &theirs {
        common::print_skipped("Optuna", why);
    }
    println!("TPE proposal time, median of {REPEATS} (ms), {RUNNING} trials running:");
    println!("| finished | mode | loratune | Optuna | Optuna / loratune |");
    println!("|---|---|---|---|---|");
    for (finished, h) in &histories {
        for (mode, multivariate) in [("univariate", false), ("multivariate", true)] {
            let ours = ours(&space, h, multivariate);
            let theirs = theirs
                .as_ref()
                .ok()
                .and_then(|t| t[format!("{finished}/{mode}")].as_f64());
            match theirs {
                Some(t) => println!(
                    "| {finished} | {mode} | {ours:.3} | {t:.2} | {:.0}× |",
                    t / ours
                ),
                None => println!("| {finished} | {mode} | {ours:.3} | – | – |"),
            }
        }
    }
}
