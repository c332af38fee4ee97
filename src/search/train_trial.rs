//! A real trial: the recipe with the trial's parameters applied as `--set` overrides, trained
//! in `OUTPUT/trials/N/` through the trainer with a pruning callback on its evaluation hook.
//! The objective is each metric's value at the evaluation whose adapter the trial keeps: the
//! best one with `train.save_best` (so the study ranks the model it ships), else the last
//! (`trainable_params` and `train_runtime` come from the run itself).
use super::objective::{Outcome, Reporter, TrialRunner};
use super::trial::{Params, Trial};
use crate::error::{Error, Result};
use crate::recipe::Recipe;
use crate::train::callback::{Callback, Control, Evaluation, Logs, TrainerView};
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

pub struct TrainObjective {
    pub recipe: PathBuf,
    /// The command line's own `--set` overrides, applied before the trial's parameters.
    pub overrides: Vec<String>,
    pub output: PathBuf,
    pub metrics: Vec<String>,
}

/// The overrides that turn the recipe into trial `params`' recipe, writing into `output_dir`.
pub fn trial_overrides(base: &[String], params: &Params, output_dir: &Path) -> Result<Vec<String>> {
    let mut overrides = base.to_vec();
    for (key, value) in params {
        let literal = toml::Value::try_from(value)
            .map_err(|e| Error::Config(format!("parameter `{key}` = {value}: {e}")))?;
        overrides.push(format!("{key}={literal}"));
    }
    overrides.push(format!(
        "train.output_dir={}",
        toml::Value::String(output_dir.display().to_string())
    ));
    Ok(overrides)
}

#[derive(Default)]
struct Seen {
    trainable: usize,
    /// Every evaluation's step and metrics, in order.
    evaluations: Vec<(usize, BTreeMap<String, f64>)>,
    pending: Option<f64>,
    pruned: Option<String>,
}

struct Pruning<'a, 'r> {
    metric: &'a str,
    seen: &'a RefCell<Seen>,
    reporter: &'a mut Reporter<'r>,
}

impl Callback for Pruning<'_, '_> {
    fn on_train_begin(&mut self, state: &TrainerView) -> Result<()> {
        self.seen.borrow_mut().trainable = state
            .params
            .iter()
            .map(|(_, v)| v.as_tensor().elem_count())
            .sum();
        Ok(())
    }

    fn on_log(&mut self, state: &TrainerView, logs: &Logs) -> Result<Control> {
        if let Logs::Eval(metrics) = logs {
            let mut seen = self.seen.borrow_mut();
            seen.pending = metrics.get(self.metric).copied();
            seen.evaluations
                .push((state.global_step, (*metrics).clone()));
        }
        Ok(Control::Continue)
    }

    fn on_evaluate(&mut self, _state: &TrainerView, _evaluation: &Evaluation) -> Result<Control> {
        let pending = self.seen.borrow_mut().pending.take();
        if let Some(value) = pending {
            if let Some(reason) = self.reporter.report(value)? {
                self.seen.borrow_mut().pruned = Some(reason.clone());
                return Ok(Control::Stop(format!("pruned: {reason}")));
            }
        }
        Ok(Control::Continue)
    }
}

impl TrainObjective {
    /// A retry of a trial whose worker died continues from that trial's newest checkpoint
    /// (when its folder is reachable from here), in its own folder.
    fn checkpoint_of_retried(&self, trial: &Trial) -> Result<Option<PathBuf>> {
        let Some(previous) = trial.retry_of else {
            return Ok(None);
        };
        let Some(dir) = self.trial_dir(previous) else {
            return Ok(None);
        };
        let newest = crate::train::checkpoint::list(&dir)?.pop();
        match &newest {
            Some((step, _)) => eprintln!(
                "trial {}: retries trial {previous}, resuming from its checkpoint at step {step}",
                trial.number
            ),
            None => eprintln!(
                "trial {}: retries trial {previous}, from the start (it left no checkpoint in {})",
                trial.number,
                dir.display()
            ),
        }
        Ok(newest.map(|(_, path)| path))
    }
}

impl TrialRunner for TrainObjective {
    fn trial_dir(&self, number: u64) -> Option<PathBuf> {
        Some(self.output.join("trials").join(number.to_string()))
    }

    fn run(&self, trial: &Trial, reporter: &mut Reporter) -> Result<Outcome> {
        let dir = self.trial_dir(trial.number).unwrap_or_default();
        let mut overrides = trial_overrides(&self.overrides, &trial.params, &dir)?;
        if let Some(checkpoint) = self.checkpoint_of_retried(trial)? {
            overrides.push(format!(
                "train.resume_from_checkpoint={}",
                toml::Value::String(checkpoint.display().to_string())
            ));
        }
        let recipe = Recipe::load(&self.recipe, &overrides)?;
        let seen = RefCell::new(Seen::default());
        let report = {
            let pruning = Pruning {
                metric: &self.metrics[0],
                seen: &seen,
                reporter,
            };
            let callbacks: Vec<Box<dyn Callback + '_>> = vec![Box::new(pruning)];
            crate::train::job::train_recipe_with(&recipe, callbacks)?
        };
        let seen = seen.into_inner();
        if let Some(reason) = seen.pruned {
            return Ok(Outcome::Pruned(reason));
        }
        let last = kept_evaluation(&seen.evaluations, recipe.train.save_best, report.best);
        let values = self
            .metrics
            .iter()
            .map(|m| match m.as_str() {
                "trainable_params" => Ok(seen.trainable as f64),
                "train_runtime" => Ok(report.seconds),
                _ => last.and_then(|e| e.get(m)).copied().ok_or_else(|| {
                    Error::Config(format!(
                        "{}: objective.metric `{m}` is not reported by the trial's evaluation ({}); set train.eval_strategy and data.validation (or validation_fraction)",
                        self.recipe.display(),
                        match last {
                            Some(e) => format!("it reports {}", e.keys().cloned().collect::<Vec<_>>().join(", ")),
                            None => "it never evaluated".into(),
                        }
                    ))
                }),
            })
            .collect::<Result<Vec<f64>>>()?;
        Ok(Outcome::Complete(values))
    }
}

/// The evaluation of the adapter the trial keeps: at the best step with `save_best`, else the
/// last one.
fn kept_evaluation(
    evaluations: &[(usize, BTreeMap<String, f64>)],
    save_best: bool,
    best: Option<(usize, f64)>,
) -> Option<&BTreeMap<String, f64>> {
    let at_best = match (save_best, best) {
        (true, Some((step, _))) => evaluations.iter().rev().find(|(s, _)| *s == step),
        _ => None,
    };
    at_best.or(evaluations.last()).map(|(_, metrics)| metrics)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_objective_is_read_where_the_kept_adapter_was_evaluated() {
        let eval = |step: usize, f1: f64| (step, BTreeMap::from([("eval_f1".to_string(), f1)]));
        let evaluations = vec![eval(10, 0.5), eval(20, 0.9), eval(30, 0.7)];
        let f1 = |e: Option<&BTreeMap<String, f64>>| e.map(|m| m["eval_f1"]);
        assert_eq!(
            f1(kept_evaluation(&evaluations, true, Some((20, 0.9)))),
            Some(0.9)
        );
        assert_eq!(
            f1(kept_evaluation(&evaluations, false, Some((20, 0.9)))),
            Some(0.7)
        );
        assert_eq!(f1(kept_evaluation(&evaluations, true, None)), Some(0.7));
        assert_eq!(f1(kept_evaluation(&[], true, None)), None);
    }
}
