//! LoRA adapters: configuration, injection into a model, PEFT's file format and merging (the
//! adapter's own math is [`crate::nn::LoraAdapter`]).
pub(crate) mod config;
pub mod inject;
pub mod merge;
pub mod peft;
pub(crate) mod targets;

use crate::nn::Linear;

/// A model whose linear layers LoRA can wrap.
pub trait Adaptable {
    /// Every linear layer, named as in the Transformers task model.
    fn linears_mut(&mut self) -> Vec<&mut Linear>;
    /// Parameters of the base model as PyTorch counts them (tied weights once).
    fn base_parameter_count(&self) -> usize;
}

pub use config::LoraConfig;
pub use inject::{inject, trainable_parameters, Injection, TrainableCounts};
