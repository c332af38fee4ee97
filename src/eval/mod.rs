//! Metrics and reports.
pub mod bertscore;
pub mod evaluate;
pub(crate) mod plot;
pub mod porter;
pub mod report;
pub mod rouge;
pub mod stats;
