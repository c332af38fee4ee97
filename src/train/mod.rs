//! Training: the loop, its callbacks, AdamW, learning-rate schedules, checkpoints and the
//! metrics log.
pub mod callback;
pub mod checkpoint;
pub mod early_stopping;
pub mod guard;
pub mod job;
pub mod metrics;
pub mod objective;
pub mod optimizer;
pub mod schedule;
pub mod trainer;

// Evaluation reads test examples with the same columns as training.
pub use callback::{Callback, Control, Evaluation, Logs, Saved, StepOutcome, TrainerView};
pub use job::example_fields;
pub use trainer::{train, train_with, Objective, TrainReport, TrainRun, Trainer};

#[cfg(test)]
mod tests;
