//! A worker's loop: claim the next trial under the study's lock, run it while a heartbeat
//! thread tells the study it is alive, record how it ended, print a line, repeat until the
//! study has `--trials N` complete and pruned trials.
use super::claim::{next, Next, Worker};
use super::objective::{Outcome, Reporter, TrialRunner};
use super::rng::SamplerRng;
use super::sampler::{sampler, Strategy};
use super::space::{Direction, Space};
use super::storage::{self, Storage};
use super::trial::{host_name, now, worker_name, State, Trial};
use crate::error::{Error, Result};
use serde_json::json;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

#[derive(Debug, Clone)]
pub struct StudyConfig {
    pub storage: String,
    pub study: String,
    pub space: Space,
    pub strategy: Strategy,
    pub seed: u64,
    /// Complete and pruned trials to reach.
    pub trials: usize,
    pub heartbeat_timeout: Duration,
}

impl StudyConfig {
    /// What every worker of the study must agree on (checked when a worker joins).
    fn description(&self) -> String {
        let o = &self.space.objective;
        json!({
            "metrics": o.metrics,
            "directions": o.directions.iter().map(|d| d.name()).collect::<Vec<_>>(),
        })
        .to_string()
    }

    /// Opens the storage and joins (or creates) the study.
    pub fn open(&self) -> Result<Box<dyn Storage>> {
        let mut db = storage::open(&self.storage)?;
        let stored = db.open_study(&self.study, &self.description())?;
        if stored != self.description() {
            return Err(Error::Config(format!(
                "study `{}` in {} optimises {stored}, not {} as {} says; use another --study",
                self.study,
                self.storage,
                self.description(),
                self.space.path.display()
            )));
        }
        Ok(db)
    }
}

/// Runs trials until the study is done. Returns the number of trials this worker ran.
pub fn work(config: &StudyConfig, runner: &dyn TrialRunner) -> Result<usize> {
    let mut db = config.open()?;
    let sampler = sampler(config.strategy, &config.space)?;
    let (name, host) = (worker_name(), host_name());
    let me = Worker {
        name: &name,
        host: &host,
    };
    let timeout = config.heartbeat_timeout.as_secs_f64();
    let mut ran = 0;
    // the study's progress, all workers' trials counted (hidden when stderr is not a terminal)
    let overall = crate::progress::bar(config.trials as u64, "trials");
    loop {
        let mut decision = Next::Wait;
        db.transact(&config.study, &mut |trials| {
            overall.set_position(counted(trials) as u64);
            let mut sample = |history: &[Trial], number: u64| {
                let mut rng = SamplerRng::for_trial(config.seed, number);
                sampler.sample(&config.space, history, &mut rng)
            };
            let (writes, what) = next(trials, config.trials, now(), timeout, &me, &mut sample)?;
            decision = what;
            Ok(writes)
        })?;
        match decision {
            Next::Done => {
                overall.finish_and_clear();
                return Ok(ran);
            }
            Next::Wait => std::thread::sleep(Duration::from_millis(300)),
            Next::Run(trial) => {
                run_one(config, db.as_mut(), runner, &trial, &name, &overall)?;
                ran += 1;
            }
        }
    }
}

/// Trials that count towards `--trials`: complete and pruned.
pub fn counted(trials: &[Trial]) -> usize {
    trials
        .iter()
        .filter(|t| matches!(t.state, State::Complete | State::Pruned))
        .count()
}

fn run_one(
    config: &StudyConfig,
    db: &mut dyn Storage,
    runner: &dyn TrialRunner,
    trial: &Trial,
    name: &str,
    overall: &indicatif::ProgressBar,
) -> Result<()> {
    let heartbeat = Heartbeat::start(config, trial.number, name)?;
    let directions = &config.space.objective.directions;
    let outcome = {
        let mut reporter = Reporter {
            storage: &mut *db,
            study: &config.study,
            number: trial.number,
            worker: name,
            pruner: config.space.pruner,
            direction: directions[0],
            evaluations: 0,
        };
        runner.run(trial, &mut reporter)
    };
    heartbeat.stop();
    let mut finished = None;
    db.transact(&config.study, &mut |trials| {
        let Some(mut own) = trials
            .iter()
            .find(|t| t.number == trial.number && t.state == State::Running && t.worker == name)
            .cloned()
        else {
            return Ok(Vec::new());
        };
        match &outcome {
            Ok(Outcome::Complete(values)) => {
                own.state = State::Complete;
                own.values = Some(values.clone());
            }
            Ok(Outcome::Pruned(reason)) => {
                own.state = State::Pruned;
                // the best intermediate value stands for the trial
                own.values = best_intermediate(&own, directions[0]).map(|v| vec![v]);
                own.note = Some(reason.clone());
            }
            Err(e) => {
                own.state = State::Failed;
                own.note = Some(e.to_string());
            }
        }
        own.duration = own.started.map(|s| now() - s);
        own.heartbeat = now();
        finished = Some((own.clone(), trials.to_vec()));
        Ok(vec![own])
    })?;
    if let (Some((own, _)), Some(dir)) = (&finished, runner.trial_dir(trial.number)) {
        if own.state == State::Complete {
            let adapter = dir.join("adapter");
            let best =
                |trials: &[Trial]| super::ranking::best(trials, &config.space).map(|t| t.number);
            super::adapter_store::store_if_best(db, &config.study, own.number, &adapter, &best)?;
        }
    }
    match finished {
        Some((own, mut all)) => {
            if let Some(slot) = all.iter_mut().find(|t| t.number == own.number) {
                *slot = own.clone();
            }
            overall.set_position(counted(&all) as u64);
            let line = super::outputs::progress_line(&own, &all, &config.space, config.trials);
            crate::progress::println(&line);
        }
        None => eprintln!(
            "trial {}: the study declared this worker dead (no heartbeat for {:?}) while it ran; its result is dropped and the trial is retried",
            trial.number, config.heartbeat_timeout
        ),
    }
    Ok(())
}

pub fn best_intermediate(trial: &Trial, direction: Direction) -> Option<f64> {
    trial
        .intermediate
        .iter()
        .map(|(_, v)| *v)
        .min_by(|a, b| direction.loss(*a).total_cmp(&direction.loss(*b)))
}

/// A thread that refreshes the trial's heartbeat over its own database connection.
struct Heartbeat {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Heartbeat {
    fn start(config: &StudyConfig, number: u64, name: &str) -> Result<Self> {
        let mut db = storage::open(&config.storage)?;
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let study = config.study.clone();
        let name = name.to_string();
        let every = (config.heartbeat_timeout / 4)
            .clamp(Duration::from_millis(100), Duration::from_secs(30));
        let thread = std::thread::spawn(move || {
            while !flag.load(Ordering::Relaxed) {
                std::thread::park_timeout(every);
                if flag.load(Ordering::Relaxed) {
                    break;
                }
                let result = db.transact(&study, &mut |trials| {
                    Ok(trials
                        .iter()
                        .find(|t| {
                            t.number == number && t.state == State::Running && t.worker == name
                        })
                        .map(|t| {
                            let mut t = t.clone();
                            t.heartbeat = now();
                            t
                        })
                        .into_iter()
                        .collect())
                });
                if let Err(e) = result {
                    tracing::warn!("trial {number}: heartbeat not written: {e}");
                }
            }
        });
        Ok(Heartbeat {
            stop,
            thread: Some(thread),
        })
    }

    fn stop(mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            t.thread().unpark();
            let _ = t.join();
        }
    }
}

/// Queues a trial with the given parameters (Optuna's `enqueue_trial`); parameters it does
/// not name are sampled when it starts. Returns its number.
pub fn enqueue(config: &StudyConfig, params: super::trial::Params) -> Result<u64> {
    for (key, value) in &params {
        let p = config.space.param(key).ok_or_else(|| {
            Error::Config(format!(
                "--enqueue: `{key}` is not a parameter of {}",
                config.space.path.display()
            ))
        })?;
        if !p.distribution.contains(value) {
            return Err(Error::Config(format!(
                "--enqueue: `{key}` = {value} is outside its range {:?}",
                p.distribution
            )));
        }
    }
    let mut db = config.open()?;
    let mut number = 0;
    db.transact(&config.study, &mut |trials| {
        number = trials.iter().map(|t| t.number + 1).max().unwrap_or(0);
        Ok(vec![Trial::new(number, State::Waiting, params.clone())])
    })?;
    Ok(number)
}
