//! Learning-rate schedules as in Transformers (`get_scheduler`).
use crate::recipe::Schedule;

/// The learning rate for the optimizer step that follows `completed` steps.
pub(crate) fn learning_rate(
    base: f64,
    kind: Schedule,
    completed: usize,
    total: usize,
    warmup: usize,
) -> f64 {
    let step = completed as f64;
    if completed < warmup {
        return base * step / warmup.max(1) as f64;
    }
    let progress = (step - warmup as f64) / (total.saturating_sub(warmup)).max(1) as f64;
    match kind {
        Schedule::Constant => base,
        Schedule::Linear => {
            base * ((total as f64 - step) / (total.saturating_sub(warmup)).max(1) as f64).max(0.0)
        }
        Schedule::Cosine => base * (0.5 * (1.0 + (std::f64::consts::PI * progress).cos())).max(0.0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn linear_with_warmup_like_transformers() {
        let lr = |c| learning_rate(1.0, Schedule::Linear, c, 10, 2);
        assert_eq!(lr(0), 0.0);
        assert_eq!(lr(1), 0.5);
        assert_eq!(lr(2), 1.0);
        assert!((lr(6) - 0.5).abs() < 1e-12);
        assert_eq!(lr(10), 0.0);
        assert_eq!(learning_rate(1.0, Schedule::Cosine, 5, 10, 0), 0.5);
        assert_eq!(learning_rate(2.0, Schedule::Constant, 7, 10, 0), 2.0);
    }
}
