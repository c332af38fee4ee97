//! Training: the loop, AdamW, learning-rate schedules, checkpoints and the metrics log.
pub mod checkpoint;
pub mod job;
pub mod metrics;
pub mod objective;
pub mod optimizer;
pub mod schedule;
pub mod trainer;

// Evaluation reads test examples with the same columns as training.
pub use job::example_fields;
pub use trainer::{train, Objective, TrainReport, TrainRun};
