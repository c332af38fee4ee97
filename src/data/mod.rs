//! Datasets, batching, prompts and recipes.
pub mod batch;
pub mod classification_metrics;
pub mod dataset;
pub mod hub_dataset;
pub mod prompt;
pub mod recipe;
pub mod source;
pub mod tokenized;
