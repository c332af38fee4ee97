//! Datasets, batching and prompts (configured by a recipe's `[data]` section).
pub mod batch;
pub mod classification_metrics;
pub mod dataset;
pub mod hub_dataset;
pub mod prompt;
pub mod selected;
pub mod source;
pub mod token_column;
pub mod tokenized;
