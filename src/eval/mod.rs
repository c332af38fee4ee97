//! Metrics and reports.
pub mod bertscore;
mod columns;
pub mod evaluate;
mod generative;
pub(crate) mod plot;
pub mod porter;
pub mod report;
pub mod rouge;
pub mod stats;

pub use columns::example_fields;
pub use generative::GenerativeEval;
