//! The "is it learning?" guard: stops the run when some trainable tensor received no gradient
//! or did not change over the first optimizer steps.
use super::callback::{Callback, Control, TrainerView};
use crate::error::{Error, Result};
use candle_core::{Tensor, Var};

/// Checks after two optimizer steps with a non-zero learning rate (a warmup starts at 0, and
/// lora_A only gets a gradient once lora_B has moved) that every trainable tensor got a
/// gradient and changed; the run ends with an error naming those that did not.
#[derive(Default)]
pub(crate) struct LearningGuard {
    initial: Vec<Tensor>,
    got_gradient: Vec<bool>,
    learning_steps: usize,
}

impl LearningGuard {
    pub(crate) fn new() -> Self {
        Self::default()
    }
}

impl Callback for LearningGuard {
    fn on_train_begin(&mut self, state: &TrainerView) -> Result<()> {
        self.initial = state
            .params
            .iter()
            .map(|(_, v)| v.as_tensor().copy())
            .collect::<candle_core::Result<_>>()?;
        self.got_gradient = vec![false; state.params.len()];
        self.learning_steps = 0;
        Ok(())
    }

    fn on_step_end(&mut self, state: &TrainerView) -> Result<Control> {
        let Some(last) = state.last_step else {
            return Ok(Control::Continue);
        };
        if self.learning_steps < 2 {
            for (seen, g) in self.got_gradient.iter_mut().zip(&last.gradients) {
                if let Some(g) = g {
                    *seen |= g
                        .abs()?
                        .max_all()?
                        .to_dtype(candle_core::DType::F32)?
                        .to_scalar::<f32>()?
                        > 0.0;
                }
            }
        }
        if last.learning_rate > 0.0 {
            self.learning_steps += 1;
            if self.learning_steps == 2 {
                check_learning(
                    state.params,
                    &self.initial,
                    &self.got_gradient,
                    state.global_step,
                )?;
            }
        }
        Ok(Control::Continue)
    }

    fn state_name(&self) -> Option<&'static str> {
        Some("learning_guard")
    }

    fn save_state(&self) -> Result<serde_json::Value> {
        Ok(serde_json::json!({
            "learning_steps": self.learning_steps,
            "got_gradient": self.got_gradient,
        }))
    }

    /// A resumed run checks (if it still has to) against the weights it resumed with.
    fn load_state(&mut self, state: &serde_json::Value) -> Result<()> {
        let bad = || {
            Error::Config(format!(
                "checkpoint: learning guard state {state} is malformed"
            ))
        };
        self.learning_steps = state["learning_steps"].as_u64().ok_or_else(bad)? as usize;
        let seen: Vec<bool> =
            serde_json::from_value(state["got_gradient"].clone()).map_err(|_| bad())?;
        if seen.len() == self.got_gradient.len() {
            self.got_gradient = seen;
        }
        Ok(())
    }
}

/// Stops the run when some trainable tensor received no gradient or did not change:
/// candle's silent graph cuts and unmatched target names both look like this.
fn check_learning(
    params: &[(String, Var)],
    initial: &[Tensor],
    got_gradient: &[bool],
    step: usize,
) -> Result<()> {
    let mut dead = Vec::new();
    for (((name, var), before), grad) in params.iter().zip(initial).zip(got_gradient) {
        let changed = (var.as_tensor() - before)?
            .abs()?
            .max_all()?
            .to_dtype(candle_core::DType::F32)?
            .to_scalar::<f32>()?
            > 0.0;
        if !grad || !changed {
            dead.push(format!(
                "{name} ({})",
                if !grad { "no gradient" } else { "unchanged" }
            ));
        }
    }
    if dead.is_empty() {
        return Ok(());
    }
    Err(Error::Config(format!(
        "not learning: after {step} optimizer steps these trainable tensors did not train: {}",
        dead.join(", ")
    )))
}
