//! Early stopping, as Transformers' `EarlyStoppingCallback`.
use super::callback::{Callback, Control, Evaluation, TrainerView};
use crate::error::{Error, Result};
use crate::recipe::{EvalStrategy, TrainSection};

/// Stops training once the metric for best model has not improved on the best so far by more
/// than `threshold` (in the metric's direction) for `patience` evaluations in a row.
#[derive(Debug, Clone)]
pub(crate) struct EarlyStopping {
    patience: usize,
    threshold: f64,
    /// Evaluations in a row without improvement.
    counter: usize,
}

impl EarlyStopping {
    pub(crate) fn new(patience: usize, threshold: f64) -> Self {
        Self {
            patience,
            threshold,
            counter: 0,
        }
    }

    /// The callback `train.early_stopping_patience` asks for, after checking the settings
    /// allow it (an evaluation strategy, a patience of at least 1).
    pub(crate) fn from_settings(settings: &TrainSection) -> Result<Option<Self>> {
        validate(settings)?;
        Ok(settings
            .early_stopping_patience
            .map(|patience| Self::new(patience, settings.early_stopping_threshold)))
    }
}

/// Refuses early stopping that could never run (as Transformers asserts an evaluation
/// strategy) and a patience of 0.
pub(crate) fn validate(settings: &TrainSection) -> Result<()> {
    let Some(patience) = settings.early_stopping_patience else {
        return Ok(());
    };
    if settings.eval_strategy == EvalStrategy::No {
        return Err(Error::Config(
            "train.early_stopping_patience needs evaluations: set train.eval_strategy to \"epoch\" or \"steps\" (and validation data)".into(),
        ));
    }
    if patience == 0 {
        return Err(Error::Config(
            "train.early_stopping_patience must be at least 1".into(),
        ));
    }
    if !settings.early_stopping_threshold.is_finite() {
        return Err(Error::Config(format!(
            "train.early_stopping_threshold must be a finite number, got {}",
            settings.early_stopping_threshold
        )));
    }
    Ok(())
}

impl Callback for EarlyStopping {
    fn state_name(&self) -> Option<&'static str> {
        Some("early_stopping")
    }

    fn save_state(&self) -> Result<serde_json::Value> {
        Ok(serde_json::json!({ "counter": self.counter }))
    }

    fn load_state(&mut self, state: &serde_json::Value) -> Result<()> {
        self.counter = state["counter"].as_u64().ok_or_else(|| {
            Error::Config(format!(
                "checkpoint: early stopping state {state} has no counter"
            ))
        })? as usize;
        Ok(())
    }

    fn on_evaluate(&mut self, state: &TrainerView, evaluation: &Evaluation) -> Result<Control> {
        let value = evaluation.value;
        let improved = match state.best {
            None => true,
            Some((_, best)) => {
                let better = if evaluation.greater_is_better {
                    value > best
                } else {
                    value < best
                };
                better && (value - best).abs() > self.threshold
            }
        };
        if improved {
            self.counter = 0;
        } else {
            self.counter += 1;
        }
        if self.counter < self.patience {
            return Ok(Control::Continue);
        }
        let best = state
            .best
            .map(|(step, b)| format!(" on its best ({b:.4} at step {step})"))
            .unwrap_or_default();
        Ok(Control::Stop(format!(
            "{} did not improve{best} by more than {} in {} evaluations (train.early_stopping_patience = {})",
            evaluation.metric, self.threshold, self.counter, self.patience
        )))
    }
}
