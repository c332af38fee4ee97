//! Datasets, batching and prompts (the recipe that configures them is `crate::recipe`).
pub mod batch;
pub mod dataset;
pub mod hub_dataset;
pub mod prompt;
pub mod source;
