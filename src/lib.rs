//! loratune: LoRA fine-tuning and evaluation of FLAN-T5 and DistilBERT/BERT-class models,
//! with adapters in PEFT's format.
pub mod data;
pub mod device;
pub(crate) mod error;
pub mod eval;
pub mod generate;
pub mod hub;
pub mod jsonl;
pub mod lora;
pub mod models;
pub mod nn;
pub mod output;
pub mod pipeline;
pub mod progress;
pub mod quickstart;
pub mod recipe;
pub mod rng;
pub mod runtime;
pub mod search;
pub mod tokenizer;
pub mod train;

pub use error::{Error, Result};
