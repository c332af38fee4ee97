//! What a fused op keeps from its forward pass for its backward pass.
use candle_core::{Error, Result};
use std::sync::Mutex;

/// One forward pass's saved state, taken exactly once by the backward pass.
pub struct Saved<T> {
    op: &'static str,
    value: Mutex<Option<T>>,
}

impl<T> Saved<T> {
    /// Empty; `op` names the op in errors.
    pub fn new(op: &'static str) -> Self {
        Self {
            op,
            value: Mutex::new(None),
        }
    }

    pub fn keep(&self, value: T) -> Result<()> {
        *self.value.lock().map_err(|_| self.poisoned())? = Some(value);
        Ok(())
    }

    pub fn take(&self) -> Result<T> {
        self.value
            .lock()
            .map_err(|_| self.poisoned())?
            .take()
            .ok_or_else(|| {
                Error::Msg(format!(
                    "{} backward ran twice or without a forward",
                    self.op
                ))
            })
    }

    fn poisoned(&self) -> Error {
        Error::Msg(format!("{} state poisoned", self.op))
    }
}
