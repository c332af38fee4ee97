//! Hyperparameter search (`loratune search`): grid, random and TPE samplers, median and ASHA
//! pruning through the trainer's evaluation hook, and a study shared by any number of
//! workers through a database (SQLite on one machine, PostgreSQL across machines).
mod adapter_store;
pub mod claim;
pub mod importance;
pub mod objective;
pub mod outputs;
pub mod pruner;
pub mod ranking;
pub mod report;
pub mod rng;
pub mod sampler;
pub mod space;
pub mod storage;
pub mod study;
pub mod train_trial;
pub mod trial;

pub use objective::{CommandObjective, Outcome, TrialRunner};
pub use sampler::Strategy;
pub use space::Space;
pub use study::{enqueue, work, StudyConfig};
pub use train_trial::TrainObjective;
pub use trial::{State, Trial};
