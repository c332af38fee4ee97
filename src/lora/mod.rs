//! LoRA adapters: configuration, injection into a model, PEFT's file format and merging (the
//! adapter's own math is [`crate::nn::LoraAdapter`]).
pub(crate) mod config;
pub mod init_adapter;
pub mod inject;
pub mod merge;
pub mod peft;
pub(crate) mod targets;

use crate::nn::Linear;

/// A model whose linear layers LoRA can wrap.
pub trait Adaptable {
    /// Every linear layer, named as in the Transformers task model, the output layer (the
    /// language model head, or the classifier's final layer) last.
    fn linears_mut(&mut self) -> Vec<&mut Linear>;
    /// The layer PEFT's `target_modules = "all-linear"` leaves out: the output embeddings of a
    /// language model, or the classification head (`get_output_embeddings()`, else the
    /// `classifier` of a `SEQ_CLS` model). It is the last of [`Adaptable::linears_mut`].
    fn output_layer(&mut self) -> Option<String> {
        self.linears_mut().last().map(|l| l.name.clone())
    }
    /// Parameters of the base model as PyTorch counts them (tied weights once).
    fn base_parameter_count(&self) -> usize;
}

pub use config::LoraConfig;
pub use inject::{inject, trainable_parameters, Injection, TrainableCounts};
