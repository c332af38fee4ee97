//! Metrics and reports.
pub mod porter;
pub mod rouge;
