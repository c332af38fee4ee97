//! Metrics and reports.
pub mod classification;
pub mod porter;
pub mod rouge;
pub mod stats;
