//! Hooks into the training loop, in the spirit of Transformers' `TrainerCallback`: each hook
//! sees a read-only view of the trainer ([`TrainerView`], Transformers' `TrainerState`) and may
//! ask the trainer to stop ([`Control::Stop`], Transformers' `control.should_training_stop`) or
//! end the run with an error.
//!
//! Per optimizer step the trainer calls, in this order and each only when it happens:
//! `on_step_end`; `on_log` (a training log line); `on_log` then `on_evaluate` (an evaluation),
//! then `on_save` when the evaluation saved a new best adapter; `on_save` for a checkpoint.
//! A stop asked for by any hook takes effect once the step's logging, evaluation and
//! checkpoint are done (as in Transformers). `on_train_begin` comes before the first step and
//! `on_train_end` after the last one, before the final adapter and `train_results.json` are
//! written (it is not called when the run fails).
//!
//! The trainer's own pieces are callbacks too, called before those a run adds: the "is it
//! learning?" guard ([`super::guard::LearningGuard`]), the metrics log ([`MetricsLogger`]),
//! the progress bar ([`ProgressBar`]) and, when asked for, early stopping
//! ([`super::early_stopping::EarlyStopping`]).
use super::metrics::MetricsLog;
use crate::error::Result;
use crate::recipe::TrainSection;
use candle_core::{Tensor, Var};
use serde_json::json;
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

/// What a hook asks of the trainer.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) enum Control {
    /// Go on training.
    #[default]
    Continue,
    /// Stop after the current step's logging, evaluation and checkpoint; the reason is shown
    /// on the console. The run still writes its adapter and `train_results.json`.
    Stop(String),
}

/// The last optimizer step.
#[derive(Debug, Clone)]
pub(crate) struct StepOutcome {
    /// Loss of the step (mean over its micro-batches).
    pub(crate) loss: f64,
    pub(crate) learning_rate: f64,
    /// Gradient norm before clipping.
    pub(crate) grad_norm: f64,
    /// Gradients before clipping, in parameter order (`None` where a parameter got none).
    /// Only filled during `on_step_end`; empty in the other hooks.
    pub(crate) gradients: Vec<Option<Tensor>>,
}

/// A read-only view of the trainer, as Transformers' `TrainerState`.
pub(crate) struct TrainerView<'a> {
    /// Optimizer steps done.
    pub(crate) global_step: usize,
    /// Optimizer steps the run is planned for.
    pub(crate) max_steps: usize,
    /// Fractional epoch after the last step (0 before the first).
    pub(crate) epoch: f64,
    /// `None` before the first step.
    pub(crate) last_step: Option<&'a StepOutcome>,
    /// Best evaluation so far as (step, metric value). In `on_evaluate` this is the best
    /// before that evaluation (as in Transformers); it is updated right after.
    pub(crate) best: Option<(usize, f64)>,
    /// Trainable tensors under their PEFT keys.
    pub(crate) params: &'a [(String, Var)],
    pub(crate) settings: &'a TrainSection,
    /// Time since training started.
    pub(crate) elapsed: Duration,
}

/// What `on_log` receives (Transformers' `logs`); step and epoch are in the view.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Logs<'a> {
    /// A training log line: mean loss of the steps since the previous one, and the learning
    /// rate and gradient norm of the last step.
    Train {
        loss: f64,
        learning_rate: f64,
        grad_norm: f64,
    },
    /// Validation metrics (`eval_loss`, ...).
    Eval(&'a BTreeMap<String, f64>),
    /// A step skipped for a non-finite loss or gradient; `skipped` so far.
    Skipped { skipped: usize },
}

impl Logs<'_> {
    /// The `metrics.jsonl` line of this entry.
    pub(crate) fn record(&self, step: usize, epoch: f64) -> serde_json::Value {
        let epoch = round4(epoch);
        match *self {
            Logs::Train {
                loss,
                learning_rate,
                grad_norm,
            } => {
                json!({"step": step, "epoch": epoch, "loss": loss, "learning_rate": learning_rate, "grad_norm": grad_norm})
            }
            Logs::Skipped { skipped } => {
                json!({"step": step, "epoch": epoch, "skipped_nonfinite": true, "skipped_so_far": skipped})
            }
            Logs::Eval(metrics) => {
                let mut record = json!({"step": step, "epoch": epoch});
                for (k, v) in metrics {
                    record[k] = json!(v);
                }
                record
            }
        }
    }
}

/// What `on_evaluate` receives.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Evaluation<'a> {
    /// The metric that picks the best model (`train.metric_for_best_model`, else `eval_f1`
    /// when present, else `eval_loss`).
    pub(crate) metric: &'a str,
    pub(crate) value: f64,
    /// False for losses.
    pub(crate) greater_is_better: bool,
}

/// What `on_save` reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Saved<'a> {
    /// The evaluation of this step was the best so far and the adapter was saved
    /// (`train.save_best`).
    Best(&'a Path),
    /// A checkpoint (`train.save_steps`).
    Checkpoint(&'a Path),
}

/// Hooks into the training loop; every hook does nothing by default.
pub(crate) trait Callback {
    fn on_train_begin(&mut self, _state: &TrainerView) -> Result<()> {
        Ok(())
    }
    fn on_step_end(&mut self, _state: &TrainerView) -> Result<Control> {
        Ok(Control::Continue)
    }
    fn on_log(&mut self, _state: &TrainerView, _logs: &Logs) -> Result<Control> {
        Ok(Control::Continue)
    }
    fn on_evaluate(&mut self, _state: &TrainerView, _evaluation: &Evaluation) -> Result<Control> {
        Ok(Control::Continue)
    }
    fn on_save(&mut self, _state: &TrainerView, _saved: Saved) -> Result<Control> {
        Ok(Control::Continue)
    }
    fn on_train_end(&mut self, _state: &TrainerView) -> Result<()> {
        Ok(())
    }
    /// The name under which checkpoints keep this callback's state (Transformers'
    /// `ExportableState`); `None` for a callback without state.
    fn state_name(&self) -> Option<&'static str> {
        None
    }
    /// The state a checkpoint keeps (called when `state_name` is `Some`).
    fn save_state(&self) -> Result<serde_json::Value> {
        Ok(serde_json::Value::Null)
    }
    /// Takes back the state of a checkpoint, after `on_train_begin` of a resumed run.
    fn load_state(&mut self, _state: &serde_json::Value) -> Result<()> {
        Ok(())
    }
}

/// `metrics.jsonl`: one line per training log and one per evaluation.
pub(crate) struct MetricsLogger {
    log: MetricsLog,
}

impl MetricsLogger {
    pub(crate) fn new(log: MetricsLog) -> Self {
        Self { log }
    }
}

impl Callback for MetricsLogger {
    fn on_log(&mut self, state: &TrainerView, logs: &Logs) -> Result<Control> {
        self.log
            .write(&logs.record(state.global_step, state.epoch))?;
        Ok(Control::Continue)
    }
}

/// The console progress bar: loss, learning rate and throughput per step, and a line per
/// evaluation.
pub(crate) struct ProgressBar {
    bar: Option<indicatif::ProgressBar>,
}

impl ProgressBar {
    pub(crate) fn new() -> Self {
        Self { bar: None }
    }
}

impl Default for ProgressBar {
    fn default() -> Self {
        Self::new()
    }
}

impl Callback for ProgressBar {
    fn on_train_begin(&mut self, state: &TrainerView) -> Result<()> {
        self.bar = Some(crate::progress::bar(state.max_steps as u64, "train"));
        Ok(())
    }

    fn on_step_end(&mut self, state: &TrainerView) -> Result<Control> {
        if let (Some(bar), Some(last)) = (&self.bar, state.last_step) {
            let s = state.settings;
            let elapsed = state.elapsed.as_secs_f64();
            bar.set_message(format!(
                "loss {:.4} lr {:.2e} {:.1} samples/s",
                last.loss,
                last.learning_rate,
                (state.global_step * s.batch_size * s.gradient_accumulation_steps) as f64
                    / elapsed.max(1e-9)
            ));
            bar.inc(1);
        }
        Ok(Control::Continue)
    }

    fn on_log(&mut self, state: &TrainerView, logs: &Logs) -> Result<Control> {
        if let (Some(bar), Logs::Eval(metrics)) = (&self.bar, logs) {
            bar.println(format!(
                "step {}: {}",
                state.global_step,
                format_metrics(metrics)
            ));
        }
        Ok(Control::Continue)
    }

    fn on_train_end(&mut self, _state: &TrainerView) -> Result<()> {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
        Ok(())
    }
}

pub(crate) fn round4(x: f64) -> f64 {
    (x * 1e4).round() / 1e4
}

pub(crate) fn format_metrics(metrics: &BTreeMap<String, f64>) -> String {
    metrics
        .iter()
        .map(|(k, v)| format!("{k} {v:.4}"))
        .collect::<Vec<_>>()
        .join(", ")
}
