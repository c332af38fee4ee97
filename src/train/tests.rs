//! The trainer without a model: a fake objective with scripted evaluations, and callbacks
//! that record what they see.
use super::callback::{Callback, Control, Evaluation, Logs, Saved, TrainerView};
use super::trainer::{train, Objective, TrainReport, TrainRun, Trainer};
use crate::lora::LoraConfig;
use crate::recipe::{EvalStrategy, TrainSection};
use candle_core::{Device, Tensor, Var};
use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::path::Path;
use std::rc::Rc;

/// Loss `sum(w²)` (plus an untrainable term through a graph cut when `dead` is set), and
/// validation metrics taken in turn from a script.
struct Scripted {
    w: Var,
    dead: Option<Var>,
    script: Vec<BTreeMap<String, f64>>,
    evaluations: Cell<usize>,
    losses: Cell<usize>,
}

impl Scripted {
    fn new(script: Vec<BTreeMap<String, f64>>) -> Self {
        Self {
            w: Var::new(&[1.0f32, -2.0], &Device::Cpu).unwrap(),
            dead: None,
            script,
            evaluations: Cell::new(0),
            losses: Cell::new(0),
        }
    }

    /// One metric per evaluation.
    fn metric(name: &str, values: &[f64]) -> Self {
        Self::new(
            values
                .iter()
                .map(|&v| BTreeMap::from([(name.to_string(), v)]))
                .collect(),
        )
    }

    fn params(&self) -> Vec<(String, Var)> {
        let mut params = vec![(
            "base_model.model.a.lora_A.weight".to_string(),
            self.w.clone(),
        )];
        if let Some(dead) = &self.dead {
            params.push(("base_model.model.b.lora_A.weight".to_string(), dead.clone()));
        }
        params
    }
}

impl Objective for Scripted {
    fn train_len(&self) -> usize {
        4
    }
    fn batch_loss(&self, _rows: &[usize], _train: bool) -> candle_core::Result<Tensor> {
        self.losses.set(self.losses.get() + 1);
        let loss = self.w.as_tensor().sqr()?.sum_all()?;
        match &self.dead {
            Some(dead) => loss + dead.as_tensor().detach().sum_all()?,
            None => Ok(loss),
        }
    }
    fn evaluate(&self) -> crate::Result<Option<BTreeMap<String, f64>>> {
        let i = self.evaluations.get();
        self.evaluations.set(i + 1);
        Ok(Some(self.script.get(i).cloned().unwrap_or_else(|| {
            panic!("evaluation {} is not scripted", i + 1)
        })))
    }
}

/// Two micro-batches of 2 per epoch, one optimizer step each; evaluation every step.
fn settings(dir: &Path) -> TrainSection {
    let mut s: TrainSection = toml::from_str("").unwrap();
    s.output_dir = dir.to_path_buf();
    s.max_steps = Some(20);
    s.batch_size = 2;
    s.learning_rate = 0.01;
    s.eval_strategy = EvalStrategy::Steps;
    s.eval_steps = Some(1);
    s
}

fn lora() -> LoraConfig {
    LoraConfig::new(1, 1.0, 0.0, vec!["a".into()])
}

fn run(objective: &Scripted, s: &TrainSection) -> crate::Result<TrainReport> {
    run_with(objective, s, Vec::new())
}

fn run_with(
    objective: &Scripted,
    s: &TrainSection,
    callbacks: Vec<Box<dyn Callback + '_>>,
) -> crate::Result<TrainReport> {
    let lora = lora();
    let trainer = Trainer::new(
        TrainRun {
            objective,
            params: objective.params(),
            lora: &lora,
            settings: s,
            shuffle: false,
            data_seed: 0,
            recipe_toml: None,
            resume: None,
        },
        callbacks,
    )?;
    trainer.train()
}

/// Records every hook as a line; asks to stop at the end of step `stop_at`.
struct Recorder {
    events: Rc<RefCell<Vec<String>>>,
    stop_at: Option<usize>,
}

impl Recorder {
    fn push(&self, event: String) {
        self.events.borrow_mut().push(event);
    }
}

impl Callback for Recorder {
    fn on_train_begin(&mut self, state: &TrainerView) -> crate::Result<()> {
        self.push(format!(
            "begin {} of {}",
            state.global_step, state.max_steps
        ));
        Ok(())
    }
    fn on_step_end(&mut self, state: &TrainerView) -> crate::Result<Control> {
        let last = state.last_step.expect("a step was done");
        assert_eq!(last.gradients.len(), state.params.len());
        self.push(format!(
            "step_end {} epoch {}",
            state.global_step, state.epoch
        ));
        Ok(if Some(state.global_step) == self.stop_at {
            Control::Stop("the test says so".into())
        } else {
            Control::Continue
        })
    }
    fn on_log(&mut self, state: &TrainerView, logs: &Logs) -> crate::Result<Control> {
        assert!(state.last_step.unwrap().gradients.is_empty());
        let kind = match logs {
            Logs::Train { .. } => "train",
            Logs::Eval(_) => "eval",
            Logs::Skipped { .. } => "skipped",
        };
        self.push(format!("log {kind} {}", state.global_step));
        Ok(Control::Continue)
    }
    fn on_evaluate(
        &mut self,
        state: &TrainerView,
        evaluation: &Evaluation,
    ) -> crate::Result<Control> {
        self.push(format!(
            "evaluate {} {}={} best {:?}",
            state.global_step, evaluation.metric, evaluation.value, state.best
        ));
        Ok(Control::Continue)
    }
    fn on_save(&mut self, state: &TrainerView, saved: Saved) -> crate::Result<Control> {
        let what = match saved {
            Saved::Best(dir) => format!("best {}", dir.file_name().unwrap().to_string_lossy()),
            Saved::Checkpoint(dir) => {
                assert!(dir.join("trainer_state.json").is_file());
                format!("checkpoint {}", dir.file_name().unwrap().to_string_lossy())
            }
        };
        self.push(format!("save {} {what}", state.global_step));
        Ok(Control::Continue)
    }
    fn on_train_end(&mut self, state: &TrainerView) -> crate::Result<()> {
        self.push(format!("end {}", state.global_step));
        Ok(())
    }
}

fn read_lines(path: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn a_callback_sees_every_hook_in_order_and_can_stop_the_run() {
    let tmp = tempfile::tempdir().unwrap();
    let mut s = settings(tmp.path());
    s.logging_steps = 2;
    s.eval_steps = Some(2);
    s.save_best = true;
    s.save_steps = Some(3);
    let objective = Scripted::metric("eval_loss", &[1.0, 0.5, 0.7]);
    let events = Rc::new(RefCell::new(Vec::new()));
    let recorder = Recorder {
        events: events.clone(),
        stop_at: Some(6),
    };
    let report = run_with(&objective, &s, vec![Box::new(recorder)]).unwrap();
    let expected = [
        "begin 0 of 20",
        "step_end 1 epoch 0.5",
        "step_end 2 epoch 1",
        "log train 2",
        "log eval 2",
        "evaluate 2 eval_loss=1 best None",
        "save 2 best adapter",
        "step_end 3 epoch 1.5",
        "save 3 checkpoint step-3",
        "step_end 4 epoch 2",
        "log train 4",
        "log eval 4",
        "evaluate 4 eval_loss=0.5 best Some((2, 1.0))",
        "save 4 best adapter",
        "step_end 5 epoch 2.5",
        // the stop asked for at step 6 comes after that step's log, evaluation and checkpoint
        "step_end 6 epoch 3",
        "log train 6",
        "log eval 6",
        "evaluate 6 eval_loss=0.7 best Some((4, 0.5))",
        "save 6 checkpoint step-6",
        "end 6",
    ];
    assert_eq!(*events.borrow(), expected);
    assert_eq!(report.steps, 6);
    assert_eq!(report.stopped_early, Some(6));
    assert_eq!(report.step_losses.len(), 6);
    assert_eq!(report.best, Some((4, 0.5)));
    assert_eq!(objective.evaluations.get(), 3);
    // the run's outputs are all there, and metrics.jsonl has no line about the stop
    let out = tmp.path();
    assert!(out.join("adapter/adapter_model.safetensors").is_file());
    let results: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("train_results.json")).unwrap())
            .unwrap();
    assert_eq!(results["global_step"], 6);
    let lines = read_lines(&out.join("metrics.jsonl"));
    let steps: Vec<u64> = lines.iter().map(|l| l["step"].as_u64().unwrap()).collect();
    assert_eq!(steps, [2, 2, 4, 4, 6, 6]);
    assert!(lines
        .iter()
        .all(|l| l.get("loss").is_some() != l.get("eval_loss").is_some()));
}

#[test]
fn a_stop_at_the_last_step_is_not_an_early_stop() {
    let tmp = tempfile::tempdir().unwrap();
    let mut s = settings(tmp.path());
    s.eval_strategy = EvalStrategy::No;
    s.max_steps = Some(3);
    let objective = Scripted::new(Vec::new());
    let events = Rc::new(RefCell::new(Vec::new()));
    let recorder = Recorder {
        events,
        stop_at: Some(3),
    };
    let report = run_with(&objective, &s, vec![Box::new(recorder)]).unwrap();
    assert_eq!((report.steps, report.stopped_early), (3, None));
}

#[test]
fn the_learning_guard_stops_the_run_from_its_callback() {
    let tmp = tempfile::tempdir().unwrap();
    let mut s = settings(tmp.path());
    s.eval_strategy = EvalStrategy::No;
    let mut objective = Scripted::new(Vec::new());
    objective.dead = Some(Var::new(&[3.0f32], &Device::Cpu).unwrap());
    let events = Rc::new(RefCell::new(Vec::new()));
    let recorder = Recorder {
        events: events.clone(),
        stop_at: None,
    };
    let err = run_with(&objective, &s, vec![Box::new(recorder)])
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("not learning: after 2 optimizer steps")
            && err.contains("base_model.model.b.lora_A.weight (no gradient)")
            && !err.contains("model.a."),
        "{err}"
    );
    // the guard runs first: the step it stops at reaches no other callback, and the run ends
    // without on_train_end, adapter or train_results.json
    assert_eq!(*events.borrow(), ["begin 0 of 20", "step_end 1 epoch 0.5"]);
    assert!(!tmp.path().join("adapter").exists());
    assert!(!tmp.path().join("train_results.json").exists());
}

#[test]
fn train_runs_without_extra_callbacks() {
    let tmp = tempfile::tempdir().unwrap();
    let mut s = settings(tmp.path());
    s.max_steps = Some(3);
    let objective = Scripted::metric("eval_loss", &[3.0, 2.0, 1.0]);
    let lora = lora();
    let report = train(TrainRun {
        objective: &objective,
        params: objective.params(),
        lora: &lora,
        settings: &s,
        shuffle: true,
        data_seed: 1,
        recipe_toml: None,
        resume: None,
    })
    .unwrap();
    assert_eq!((report.steps, report.stopped_early), (3, None));
    assert_eq!(report.best, Some((3, 1.0)));
    assert_eq!(objective.losses.get(), 3);
}

fn early(dir: &Path, patience: usize, threshold: f64) -> TrainSection {
    let mut s = settings(dir);
    s.early_stopping_patience = Some(patience);
    s.early_stopping_threshold = threshold;
    s
}

/// Steps run (= evaluations, one per step), the early stop and the best.
fn outcome(report: &TrainReport) -> (usize, Option<usize>, Option<(usize, f64)>) {
    (report.steps, report.stopped_early, report.best)
}

#[test]
fn early_stopping_stops_after_patience_evaluations_without_improvement() {
    let tmp = tempfile::tempdir().unwrap();
    let mut s = early(tmp.path(), 2, 0.0);
    s.save_best = true;
    // best at step 2; steps 3 and 4 do not improve on it
    let objective = Scripted::metric("eval_loss", &[1.0, 0.8, 0.9, 0.85]);
    let report = run(&objective, &s).unwrap();
    assert_eq!(outcome(&report), (4, Some(4), Some((2, 0.8))));
    assert_eq!(objective.evaluations.get(), 4);
    // the run still writes the (best) adapter and train_results.json, and nothing about the
    // stop goes to metrics.jsonl
    assert!(tmp
        .path()
        .join("adapter/adapter_model.safetensors")
        .is_file());
    let results: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(tmp.path().join("train_results.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(results["global_step"], 4);
    let lines = read_lines(&tmp.path().join("metrics.jsonl"));
    assert_eq!(lines.len(), 4);
    assert!(lines.iter().all(|l| l.get("eval_loss").is_some()));
}

#[test]
fn an_improvement_resets_the_patience() {
    let tmp = tempfile::tempdir().unwrap();
    let s = early(tmp.path(), 2, 0.0);
    let objective = Scripted::metric("eval_loss", &[1.0, 1.1, 0.9, 1.0, 1.0]);
    let report = run(&objective, &s).unwrap();
    assert_eq!(outcome(&report), (5, Some(5), Some((3, 0.9))));
}

#[test]
fn early_stopping_counts_only_improvements_beyond_the_threshold() {
    // each evaluation improves on the best by 0.05: not enough with a threshold of 0.1 (the best
    // still moves, as in Transformers), enough with 0.01
    let script = [1.0, 0.95, 0.9, 0.85, 0.8];
    let tmp = tempfile::tempdir().unwrap();
    let objective = Scripted::metric("eval_loss", &script);
    let report = run(&objective, &early(tmp.path(), 2, 0.1)).unwrap();
    assert_eq!(outcome(&report), (3, Some(3), Some((3, 0.9))));

    let tmp = tempfile::tempdir().unwrap();
    let mut s = early(tmp.path(), 2, 0.01);
    s.max_steps = Some(5);
    let objective = Scripted::metric("eval_loss", &script);
    let report = run(&objective, &s).unwrap();
    assert_eq!(outcome(&report), (5, None, Some((5, 0.8))));
}

#[test]
fn early_stopping_follows_the_metric_direction() {
    fn f1_and_loss(f1: &[f64], loss: &[f64]) -> Scripted {
        Scripted::new(
            f1.iter()
                .zip(loss)
                .map(|(&f, &l)| {
                    BTreeMap::from([("eval_f1".to_string(), f), ("eval_loss".to_string(), l)])
                })
                .collect(),
        )
    }
    let rising = [0.5, 0.6, 0.7, 0.8];
    // eval_f1 (the default metric when present) is better higher: a rising F1 goes on while
    // the loss rises too
    let tmp = tempfile::tempdir().unwrap();
    let mut s = early(tmp.path(), 1, 0.0);
    s.max_steps = Some(4);
    let report = run(&f1_and_loss(&rising, &rising), &s).unwrap();
    assert_eq!(outcome(&report), (4, None, Some((4, 0.8))));
    // ... and a falling one stops
    let tmp = tempfile::tempdir().unwrap();
    let s = early(tmp.path(), 1, 0.0);
    let report = run(&f1_and_loss(&[0.5, 0.4], &[0.5, 0.4]), &s).unwrap();
    assert_eq!(outcome(&report), (2, Some(2), Some((1, 0.5))));
    // a loss is better lower: the same rising script stops when eval_loss picks the best
    let tmp = tempfile::tempdir().unwrap();
    let mut s = early(tmp.path(), 1, 0.0);
    s.metric_for_best_model = Some("eval_loss".into());
    let report = run(&f1_and_loss(&rising, &rising), &s).unwrap();
    assert_eq!(outcome(&report), (2, Some(2), Some((1, 0.5))));
}

#[test]
fn early_stopping_at_epoch_ends() {
    let tmp = tempfile::tempdir().unwrap();
    let mut s = early(tmp.path(), 1, 0.0);
    s.eval_strategy = EvalStrategy::Epoch;
    s.eval_steps = None;
    // two steps per epoch: evaluations at steps 2 and 4
    let objective = Scripted::metric("eval_loss", &[1.0, 1.0]);
    let report = run(&objective, &s).unwrap();
    assert_eq!(outcome(&report), (4, Some(4), Some((2, 1.0))));
}

#[test]
fn early_stopping_without_evaluations_is_refused_before_training() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("run");
    let mut s = early(&out, 3, 0.0);
    s.eval_strategy = EvalStrategy::No;
    let objective = Scripted::new(Vec::new());
    let err = run(&objective, &s).unwrap_err().to_string();
    assert!(
        err.contains("train.early_stopping_patience") && err.contains("train.eval_strategy"),
        "{err}"
    );
    assert_eq!(objective.losses.get(), 0);
    assert!(!out.exists());

    s.eval_strategy = EvalStrategy::Steps;
    s.early_stopping_patience = Some(0);
    let err = run(&objective, &s).unwrap_err().to_string();
    assert!(err.contains("at least 1"), "{err}");
    assert!(!out.exists());
}

#[test]
fn early_stopping_keys_in_a_recipe() {
    use crate::recipe::Recipe;
    let minimal = "[model]\nname = \"m\"\ntask = \"seq2seq\"\n[data]\ntrain = \"t.jsonl\"\n";
    let r = Recipe::parse(minimal, Path::new("r.toml"), &[]).unwrap();
    assert_eq!(r.train.early_stopping_patience, None);
    assert_eq!(r.train.early_stopping_threshold, 0.0);
    let r = Recipe::parse(
        minimal,
        Path::new("r.toml"),
        &[
            "train.early_stopping_patience=3".into(),
            "train.early_stopping_threshold=0.01".into(),
        ],
    )
    .unwrap();
    assert_eq!(r.train.early_stopping_patience, Some(3));
    assert_eq!(r.train.early_stopping_threshold, 0.01);
    // train_recipe refuses it before loading anything
    let err = super::job::train_recipe(&r).unwrap_err().to_string();
    assert!(
        err.contains("train.early_stopping_patience") && err.contains("train.eval_strategy"),
        "{err}"
    );
}
