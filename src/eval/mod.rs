//! Metrics and reports.
pub mod bertscore;
pub mod classification;
pub mod porter;
pub mod rouge;
