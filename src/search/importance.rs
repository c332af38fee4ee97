//! Parameter importances for the search report: η² (eta squared), the share of the first
//! objective's variance across complete trials that one parameter's groups explain on their
//! own (a one-way analysis of variance).
//!
//! Not Optuna's fANOVA (a random forest whose prediction variance is decomposed): η² needs no
//! model and reads plainly, but it ignores interactions between parameters, and with k groups
//! and n trials chance alone gives about (k − 1)/(n − 1), which the report prints beside it
//! with a bootstrap interval.
use super::space::{Distribution, Space};
use super::trial::{State, Trial};
use crate::error::Result;
use crate::eval::stats::bootstrap_ci;
use serde_json::Value;

/// A continuous range (or an int taking many values) is split at its quantiles into at most
/// this many groups, so that each group holds a few trials.
const MAX_BINS: usize = 4;
/// Trials per group a continuous range aims for (fewer trials, fewer bins).
const TRIALS_PER_BIN: usize = 3;
/// Fewer complete trials than this say nothing about importance.
pub const MIN_TRIALS: usize = 4;
const RESAMPLES: usize = 1000;
const CONFIDENCE: f64 = 0.95;

#[derive(Debug, Clone, PartialEq)]
pub struct Importance {
    pub key: String,
    /// Groups the complete trials fall into.
    pub groups: usize,
    /// η² in [0, 1]; NaN when the objective did not vary.
    pub eta_squared: f64,
    /// 95% bootstrap percentile interval of η² (trials resampled, groups kept).
    pub ci: (f64, f64),
    /// What chance alone gives on average: (k − 1)/(n − 1).
    pub chance: f64,
}

/// The complete trials with a first objective, and that objective's values.
pub fn complete_values(trials: &[Trial]) -> Vec<(&Trial, f64)> {
    trials
        .iter()
        .filter(|t| t.state == State::Complete)
        .filter_map(|t| {
            let v = t.values.as_ref()?.first().copied()?;
            v.is_finite().then_some((t, v))
        })
        .collect()
}

/// One importance per parameter of the space, in the space's order; empty with fewer than
/// [`MIN_TRIALS`] complete trials.
pub fn importances(trials: &[Trial], space: &Space) -> Result<Vec<Importance>> {
    let complete = complete_values(trials);
    if complete.len() < MIN_TRIALS {
        return Ok(Vec::new());
    }
    let y: Vec<f64> = complete.iter().map(|(_, v)| *v).collect();
    let n = y.len();
    let mut out = Vec::new();
    for param in &space.params {
        let values: Vec<Option<&Value>> = complete
            .iter()
            .map(|(t, _)| t.params.get(&param.key))
            .collect();
        let groups = group_ids(&values, &param.distribution);
        let k = groups.iter().max().map_or(0, |g| g + 1);
        let eta = |rows: &[usize]| eta_squared(rows, &groups, &y, k);
        let all: Vec<usize> = (0..n).collect();
        let ci = bootstrap_ci(n, RESAMPLES, CONFIDENCE, 0, eta)?;
        out.push(Importance {
            key: param.key.clone(),
            groups: k,
            eta_squared: eta_squared(&all, &groups, &y, k),
            ci: (ci.low, ci.high),
            chance: (k.saturating_sub(1)) as f64 / (n - 1) as f64,
        });
    }
    Ok(out)
}

/// Between-group sum of squares over the total one, for the trials in `rows`.
fn eta_squared(rows: &[usize], groups: &[usize], y: &[f64], k: usize) -> f64 {
    let mean = rows.iter().map(|&i| y[i]).sum::<f64>() / rows.len() as f64;
    let total: f64 = rows.iter().map(|&i| (y[i] - mean).powi(2)).sum();
    if total.is_nan() || total <= 1e-300 {
        return f64::NAN;
    }
    let (mut sum, mut count) = (vec![0.0; k], vec![0usize; k]);
    for &i in rows {
        sum[groups[i]] += y[i];
        count[groups[i]] += 1;
    }
    let between: f64 = (0..k)
        .filter(|&g| count[g] > 0)
        .map(|g| count[g] as f64 * (sum[g] / count[g] as f64 - mean).powi(2))
        .sum();
    (between / total).clamp(0.0, 1.0)
}

/// The group of each trial: its value for a `choice`, or an `int` that took few values;
/// else its quantile bin. A trial without the parameter (enqueued by hand without it) forms
/// a group of its own.
fn group_ids(values: &[Option<&Value>], distribution: &Distribution) -> Vec<usize> {
    let mut distinct: Vec<String> = values
        .iter()
        .map(|v| v.map(|v| v.to_string()).unwrap_or_default())
        .collect();
    distinct.sort();
    distinct.dedup();
    let numbers: Option<Vec<f64>> = values.iter().map(|v| v.and_then(Value::as_f64)).collect();
    // a real-valued range never groups by value: each trial would be a group of its own
    let by_value = match distribution {
        Distribution::Choice(_) => true,
        Distribution::Int { .. } => distinct.len() <= MAX_BINS,
        Distribution::Float { .. } => false,
    };
    match numbers {
        Some(x) if !by_value => quantile_bins(&x),
        _ => values
            .iter()
            .map(|v| {
                let key = v.map(|v| v.to_string()).unwrap_or_default();
                distinct.binary_search(&key).unwrap_or(0)
            })
            .collect(),
    }
}

/// Bins at the quantiles of `x` (a log-uniform parameter's quantiles are the same in log
/// space), numbered from 0 with empty bins skipped.
fn quantile_bins(x: &[f64]) -> Vec<usize> {
    let bins = (x.len() / TRIALS_PER_BIN).clamp(2, MAX_BINS);
    let sorted = crate::eval::stats::sorted(x);
    let edges: Vec<f64> = (1..bins)
        .map(|b| crate::eval::stats::percentile(&sorted, 100.0 * b as f64 / bins as f64))
        .collect();
    let raw: Vec<usize> = x
        .iter()
        .map(|v| edges.iter().filter(|e| v > e).count())
        .collect();
    let mut used: Vec<usize> = raw.clone();
    used.sort_unstable();
    used.dedup();
    raw.iter()
        .map(|r| used.binary_search(r).unwrap_or(0))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::search::trial::Params;

    fn study(points: &[(f64, i64, f64)]) -> (Vec<Trial>, Space) {
        let space = Space::parse(
            "[objective]\nmetric = \"eval_f1\"\ndirection = \"maximize\"\n[params]\n\
             \"train.learning_rate\" = { loguniform = [1e-5, 1e-2] }\n\
             \"lora.r\" = { choice = [4, 8] }\n",
            std::path::Path::new("space.toml"),
        )
        .unwrap();
        let trials = points
            .iter()
            .enumerate()
            .map(|(i, (lr, r, y))| {
                let mut params = Params::new();
                params.insert("train.learning_rate".into(), (*lr).into());
                params.insert("lora.r".into(), (*r).into());
                let mut t = Trial::new(i as u64, State::Complete, params);
                t.values = Some(vec![*y]);
                t
            })
            .collect();
        (trials, space)
    }

    #[test]
    fn the_parameter_that_decides_the_objective_explains_it() {
        // the objective follows the learning rate; the rank alternates and says nothing
        let points: Vec<(f64, i64, f64)> = (0..24)
            .map(|i| {
                let lr = 1e-5 * 10f64.powf(3.0 * i as f64 / 23.0);
                (lr, [4, 8][i % 2], (lr.log10() + 5.0) / 3.0)
            })
            .collect();
        let (trials, space) = study(&points);
        let imp = importances(&trials, &space).unwrap();
        assert_eq!(imp.len(), 2);
        assert_eq!(imp[0].key, "train.learning_rate");
        assert_eq!(imp[0].groups, 4);
        assert!(imp[0].eta_squared > 0.9, "{imp:?}");
        assert!(imp[0].ci.0 > 0.8, "{imp:?}");
        assert_eq!(imp[1].groups, 2);
        assert!(imp[1].eta_squared < 0.05, "{imp:?}");
        assert!((imp[1].chance - 1.0 / 23.0).abs() < 1e-12);
    }

    #[test]
    fn eta_squared_by_hand() {
        // groups {1, 3} and {5, 7}: means 2 and 6, grand mean 4; between = 2·4 + 2·4 = 16,
        // total = 9 + 1 + 1 + 9 = 20
        let (trials, space) = study(&[
            (1e-4, 4, 1.0),
            (1e-4, 4, 3.0),
            (1e-4, 8, 5.0),
            (1e-4, 8, 7.0),
        ]);
        let imp = importances(&trials, &space).unwrap();
        assert!((imp[1].eta_squared - 0.8).abs() < 1e-12, "{imp:?}");
        // one learning rate for all: one group, nothing explained
        assert_eq!(imp[0].groups, 1);
        assert_eq!(imp[0].eta_squared, 0.0);
    }

    #[test]
    fn too_few_trials_say_nothing() {
        let (trials, space) = study(&[(1e-4, 4, 1.0), (1e-3, 8, 2.0)]);
        assert!(importances(&trials, &space).unwrap().is_empty());
    }
}
