//! A model parameter: frozen (a plain tensor, no gradient) or trainable (a `Var`).
use candle_core::{Result, Tensor, Var};

#[derive(Clone)]
pub enum Param {
    Frozen(Tensor),
    Trainable(Var),
}

impl Param {
    pub fn frozen(tensor: Tensor) -> Self {
        Param::Frozen(tensor)
    }

    pub fn tensor(&self) -> Tensor {
        match self {
            Param::Frozen(t) => t.clone(),
            Param::Trainable(v) => v.as_tensor().clone(),
        }
    }

    pub fn is_trainable(&self) -> bool {
        matches!(self, Param::Trainable(_))
    }

    pub fn var(&self) -> Option<&Var> {
        match self {
            Param::Trainable(v) => Some(v),
            Param::Frozen(_) => None,
        }
    }

    /// Turns a frozen parameter into a trainable copy (PEFT's `modules_to_save`).
    pub fn make_trainable(&mut self) -> Result<()> {
        if let Param::Frozen(t) = self {
            *self = Param::Trainable(Var::from_tensor(&t.copy()?)?);
        }
        Ok(())
    }

    /// Replaces the value, keeping the trainable/frozen state.
    pub fn set(&mut self, value: &Tensor) -> Result<()> {
        match self {
            Param::Frozen(t) => *t = value.clone(),
            Param::Trainable(v) => v.set(value)?,
        }
        Ok(())
    }
}
