//! Metrics and reports.
pub(crate) mod bars;
pub mod bertscore;
pub mod classification_charts;
mod columns;
pub mod evaluate;
mod generative;
pub(crate) mod lines;
pub(crate) mod plot;
pub mod porter;
pub mod report;
mod roc;
pub mod rouge;
pub mod stats;
pub mod training_curves;

pub use columns::example_fields;
pub use generative::GenerativeEval;
