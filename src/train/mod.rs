//! Training: the loop, its callbacks, AdamW, learning-rate schedules, checkpoints and the
//! metrics log.
pub(crate) mod callback;
pub(crate) mod checkpoint;
pub(crate) mod early_stopping;
mod empty_split;
pub(crate) mod guard;
pub mod job;
mod kill_point;
pub(crate) mod metrics;
pub mod objective;
pub mod optimizer;
mod resume;
pub(crate) mod schedule;
mod splits;
mod tensorboard;
pub(crate) mod trainer;

// Evaluation reads test examples with the same columns as training.
pub use crate::eval::example_fields;
pub use trainer::{train, Objective, TrainReport, TrainRun};

#[cfg(test)]
mod tests;
