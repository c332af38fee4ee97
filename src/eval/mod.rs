//! Metrics and reports.
mod bars;
pub mod bertscore;
pub mod classification_charts;
pub mod evaluate;
mod lines;
pub(crate) mod plot;
pub mod porter;
pub mod report;
mod roc;
pub mod rouge;
pub mod stats;
pub mod training_curves;
