//! The samplers on synthetic objectives (no training): TPE against random search on Branin
//! and on a 6-parameter mixed space with a categorical, over 24 seeds each; TPE's seeding and
//! constant liar.
use loratune::search::rng::SamplerRng;
use loratune::search::sampler::random::RandomSampler;
use loratune::search::sampler::tpe::Tpe;
use loratune::search::sampler::Sampler;
use loratune::search::trial::{Params, State, Trial};
use loratune::search::Space;
use std::path::Path;

const SEEDS: u64 = 24;
const TRIALS: usize = 50;

fn space(params: &str) -> Space {
    let text = format!(
        "[objective]\nmetric = \"eval_loss\"\ndirection = \"minimize\"\n[params]\n{params}"
    );
    Space::parse(&text, Path::new("space.toml")).unwrap()
}

fn num(p: &Params, key: &str) -> f64 {
    p[key].as_f64().unwrap()
}

/// Best value of a sequential study of `TRIALS` trials.
fn best_of(sampler: &dyn Sampler, space: &Space, seed: u64, f: &dyn Fn(&Params) -> f64) -> f64 {
    let mut history: Vec<Trial> = Vec::new();
    for number in 0..TRIALS as u64 {
        let mut rng = SamplerRng::for_trial(seed, number);
        let params = sampler.sample(space, &history, &mut rng).unwrap().unwrap();
        let mut t = Trial::new(number, State::Complete, params);
        t.values = Some(vec![f(&t.params)]);
        history.push(t);
    }
    history
        .iter()
        .map(|t| t.values.as_ref().unwrap()[0])
        .fold(f64::INFINITY, f64::min)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    0.5 * (v[(n - 1) / 2] + v[n / 2])
}

/// Median over seeds of the best value, for random search and for TPE (univariate and
/// multivariate).
fn compare(space: &Space, f: &dyn Fn(&Params) -> f64) -> (f64, f64, f64) {
    let multivariate = Tpe {
        multivariate: true,
        ..Tpe::default()
    };
    let run = |s: &dyn Sampler| median((0..SEEDS).map(|seed| best_of(s, space, seed, f)).collect());
    (
        run(&RandomSampler),
        run(&Tpe::default()),
        run(&multivariate),
    )
}

#[test]
fn tpe_beats_random_on_branin() {
    // Branin on x1 in [-5, 10], x2 in [0, 15] (the keys only name the two axes);
    // its minimum is 0.397887
    let s = space("\"train.weight_decay\" = { uniform = [-5.0, 10.0] }\n\"train.max_grad_norm\" = { uniform = [0.0, 15.0] }\n");
    let branin = |p: &Params| {
        let (x1, x2) = (num(p, "train.weight_decay"), num(p, "train.max_grad_norm"));
        let pi = std::f64::consts::PI;
        let (b, c, t) = (5.1 / (4.0 * pi * pi), 5.0 / pi, 1.0 / (8.0 * pi));
        (x2 - b * x1 * x1 + c * x1 - 6.0).powi(2) + 10.0 * (1.0 - t) * x1.cos() + 10.0
    };
    let (random, tpe, tpe_mv) = compare(&s, &branin);
    eprintln!("Branin, median best of {TRIALS} trials over {SEEDS} seeds: random {random:.4}, TPE {tpe:.4}, multivariate TPE {tpe_mv:.4}");
    assert!(tpe < random, "TPE {tpe} vs random {random}");
    assert!(
        tpe_mv < random,
        "multivariate TPE {tpe_mv} vs random {random}"
    );
}

#[test]
fn tpe_beats_random_on_a_mixed_space_with_a_categorical() {
    let s = space(
        "\"train.learning_rate\" = { loguniform = [1e-5, 1e-1] }\n\
         \"lora.lora_dropout\" = { uniform = [0.0, 0.5] }\n\
         \"train.batch_size\" = { int = [4, 64], step = 4 }\n\
         \"lora.r\" = { choice = [2, 4, 8, 16, 32, 64] }\n\
         \"lora.lora_alpha\" = { int = [1, 64] }\n\
         \"lora.target_modules\" = { choice = [[\"q\"], [\"q\", \"v\"], [\"q\", \"k\", \"v\", \"o\"]] }\n",
    );
    let f = |p: &Params| {
        let lr = num(p, "train.learning_rate").log10();
        let r_penalty = match p["lora.r"].as_i64().unwrap() {
            16 => 0.0,
            8 | 32 => 0.5,
            _ => 1.5,
        };
        let targets = p["lora.target_modules"].as_array().unwrap().len();
        (lr + 3.5).powi(2)
            + 20.0 * (num(p, "lora.lora_dropout") - 0.1).powi(2)
            + ((num(p, "train.batch_size") - 16.0) / 16.0).powi(2)
            + r_penalty
            + ((num(p, "lora.lora_alpha") - 24.0) / 16.0).powi(2)
            + if targets == 4 { 0.0 } else { 1.0 }
    };
    let (random, tpe, tpe_mv) = compare(&s, &f);
    eprintln!("mixed 6 parameters, median best of {TRIALS} trials over {SEEDS} seeds: random {random:.4}, TPE {tpe:.4}, multivariate TPE {tpe_mv:.4}");
    assert!(tpe < random, "TPE {tpe} vs random {random}");
    assert!(
        tpe_mv < random,
        "multivariate TPE {tpe_mv} vs random {random}"
    );
}

fn quadratic_history(s: &Space, n: u64) -> Vec<Trial> {
    (0..n)
        .map(|number| {
            let mut rng = SamplerRng::for_trial(3, number);
            let params = RandomSampler.sample(s, &[], &mut rng).unwrap().unwrap();
            let mut t = Trial::new(number, State::Complete, params);
            t.values = Some(vec![(num(&t.params, "lora.lora_dropout") - 0.3).powi(2)]);
            t
        })
        .collect()
}

#[test]
fn tpe_is_seeded_and_constant_liar_steers_away_from_running_trials() {
    let s = space(
        "\"lora.lora_dropout\" = { uniform = [0.0, 1.0] }\n\"lora.r\" = { choice = [4, 8, 16] }\n",
    );
    let history = quadratic_history(&s, 20);
    let tpe = Tpe::default();
    let propose = |h: &[Trial], seed: u64, number: u64| {
        tpe.sample(&s, h, &mut SamplerRng::for_trial(seed, number))
            .unwrap()
            .unwrap()
    };
    // the same seed and history give the same point; another seed another one
    assert_eq!(propose(&history, 1, 20), propose(&history, 1, 20));
    assert_ne!(propose(&history, 1, 20), propose(&history, 2, 20));
    // with the proposal running, the next worker's proposal (same random stream) differs
    let first = propose(&history, 1, 20);
    let mut running = Trial::new(20, State::Running, first.clone());
    running.heartbeat = 1.0;
    let with_liar = [history.clone(), vec![running.clone()]].concat();
    assert_ne!(propose(&with_liar, 1, 20), first);
    let no_liar = Tpe {
        constant_liar: false,
        ..Tpe::default()
    };
    let ignoring = no_liar
        .sample(&s, &with_liar, &mut SamplerRng::for_trial(1, 20))
        .unwrap()
        .unwrap();
    let baseline = no_liar
        .sample(&s, &history, &mut SamplerRng::for_trial(1, 20))
        .unwrap()
        .unwrap();
    assert_eq!(
        ignoring, baseline,
        "without constant liar a running trial changes nothing"
    );
}
