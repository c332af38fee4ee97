//! Datasets, batching and prompts.
pub mod batch;
