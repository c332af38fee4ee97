//! Parzen estimators: a weighted mixture of kernels, one per observed trial plus a prior
//! kernel covering the whole range, as Optuna's TPE builds them (learned from Optuna's
//! `_ParzenEstimator`; written here). Numbers are kernels of truncated normals (on a grid for
//! integers), categories are smoothed histograms. Several dimensions form product kernels
//! (the multivariate estimator); one dimension is the univariate one.
use crate::search::rng::SamplerRng;
use crate::search::space::Distribution;
use serde_json::Value;

/// A parameter as the estimator sees it: a number on an internal scale (log for
/// `loguniform`) or a category index.
#[derive(Debug, Clone, PartialEq)]
pub enum Axis {
    /// Bounds on the internal scale; integers widen them by half a step on each side so that
    /// the end points get whole bins.
    Numeric {
        low: f64,
        high: f64,
        step: Option<f64>,
    },
    Categorical {
        n: usize,
    },
}

impl Axis {
    pub fn of(distribution: &Distribution) -> Axis {
        match distribution {
            Distribution::Float { low, high, log } => {
                let (low, high) = if *log {
                    (low.ln(), high.ln())
                } else {
                    (*low, *high)
                };
                Axis::Numeric {
                    low,
                    high,
                    step: None,
                }
            }
            Distribution::Int { low, high, step } => {
                let half = *step as f64 / 2.0;
                Axis::Numeric {
                    low: *low as f64 - half,
                    high: *high as f64 + half,
                    step: Some(*step as f64),
                }
            }
            Distribution::Choice(c) => Axis::Categorical { n: c.len() },
        }
    }
}

/// A parameter value on the estimator's scale; `None` when the value is not one the
/// distribution gives (e.g. the space changed since the trial ran).
pub fn to_internal(distribution: &Distribution, value: &Value) -> Option<f64> {
    if !distribution.contains(value) {
        return None;
    }
    match distribution {
        Distribution::Float { log: true, .. } => value.as_f64().map(f64::ln),
        Distribution::Float { .. } | Distribution::Int { .. } => value.as_f64(),
        Distribution::Choice(c) => c.iter().position(|v| v == value).map(|i| i as f64),
    }
}

pub fn from_internal(distribution: &Distribution, x: f64) -> Value {
    match distribution {
        Distribution::Float { low, high, log } => {
            let v = if *log { x.exp() } else { x };
            Value::from(v.clamp(*low, *high))
        }
        Distribution::Int { low, high, step } => {
            let k = ((x - *low as f64) / *step as f64).round() as i64;
            Value::from((low + k * step).clamp(*low, *high))
        }
        Distribution::Choice(c) => c[(x as usize).min(c.len() - 1)].clone(),
    }
}

/// Optuna's default weights of observations (oldest first): equal up to 25, then a ramp
/// from 1/n for the oldest to 1 with the newest 25 at 1.
pub fn default_weights(n: usize) -> Vec<f64> {
    if n < 25 {
        return vec![1.0; n];
    }
    let ramp = n - 25;
    let mut w: Vec<f64> = (0..ramp)
        .map(|i| {
            let start = 1.0 / n as f64;
            if ramp == 1 {
                start
            } else {
                start + (1.0 - start) * i as f64 / (ramp - 1) as f64
            }
        })
        .collect();
    w.extend(std::iter::repeat_n(1.0, 25));
    w
}

/// Optuna's default split: the best `min(ceil(0.1 n), 25)` trials make the "good" estimator.
pub fn default_gamma(n: usize) -> usize {
    ((0.1 * n as f64).ceil() as usize).min(25)
}

const PRIOR_WEIGHT: f64 = 1.0;
/// Optuna's bandwidth factor of the multivariate estimator (Scott's rule scaled).
const SIGMA0_MAGNITUDE: f64 = 0.2;

enum Kernels {
    Numeric {
        mus: Vec<f64>,
        sigmas: Vec<f64>,
        low: f64,
        high: f64,
        step: Option<f64>,
    },
    /// One probability row per kernel.
    Categorical { probs: Vec<Vec<f64>> },
}

pub struct Estimator {
    /// Mixture weights, summing to 1; the last kernel is the prior.
    log_weights: Vec<f64>,
    weights: Vec<f64>,
    dims: Vec<Kernels>,
}

impl Estimator {
    /// `observations[i][d]`: trial i's value of dimension d on the internal scale, oldest
    /// trial first. `multivariate` picks the bandwidth rule (Scott-like for product
    /// kernels; the neighbour-gap rule for one dimension at a time).
    pub fn new(axes: &[Axis], observations: &[Vec<f64>], multivariate: bool) -> Estimator {
        let n = observations.len();
        let mut weights = default_weights(n);
        weights.push(PRIOR_WEIGHT);
        let total: f64 = weights.iter().sum();
        weights.iter_mut().for_each(|w| *w /= total);
        let dims = axes
            .iter()
            .enumerate()
            .map(|(d, axis)| {
                let column: Vec<f64> = observations.iter().map(|o| o[d]).collect();
                match *axis {
                    Axis::Categorical { n: choices } => categorical(&column, choices),
                    Axis::Numeric { low, high, step } => {
                        numeric(&column, low, high, step, multivariate, axes.len())
                    }
                }
            })
            .collect();
        Estimator {
            log_weights: weights.iter().map(|w| w.ln()).collect(),
            weights,
            dims,
        }
    }

    pub fn sample(&self, rng: &mut SamplerRng) -> Vec<f64> {
        let k = rng.weighted(&self.weights);
        self.dims
            .iter()
            .map(|dim| match dim {
                Kernels::Categorical { probs } => rng.weighted(&probs[k]) as f64,
                Kernels::Numeric {
                    mus,
                    sigmas,
                    low,
                    high,
                    step,
                } => {
                    let x = truncated_normal(rng, mus[k], sigmas[k], *low, *high);
                    match step {
                        // snap to the grid of the integer range (whose bounds are widened by
                        // half a step)
                        Some(s) => {
                            let first = low + s / 2.0;
                            (first + ((x - first) / s).round() * s).clamp(first, high - s / 2.0)
                        }
                        None => x,
                    }
                }
            })
            .collect()
    }

    pub fn log_pdf(&self, x: &[f64]) -> f64 {
        let per_kernel: Vec<f64> = (0..self.weights.len())
            .map(|k| {
                self.log_weights[k]
                    + self
                        .dims
                        .iter()
                        .zip(x)
                        .map(|(dim, &v)| match dim {
                            Kernels::Categorical { probs } => probs[k][v as usize].ln(),
                            Kernels::Numeric {
                                mus,
                                sigmas,
                                low,
                                high,
                                step,
                            } => numeric_log_pdf(v, mus[k], sigmas[k], *low, *high, *step),
                        })
                        .sum::<f64>()
            })
            .collect();
        log_sum_exp(&per_kernel)
    }
}

fn categorical(column: &[f64], choices: usize) -> Kernels {
    let kernels = column.len() + 1;
    let mut probs = vec![vec![PRIOR_WEIGHT / kernels as f64; choices]; kernels];
    for (row, &c) in probs.iter_mut().zip(column) {
        row[c as usize] += 1.0;
    }
    for row in &mut probs {
        let s: f64 = row.iter().sum();
        row.iter_mut().for_each(|p| *p /= s);
    }
    Kernels::Categorical { probs }
}

fn numeric(
    column: &[f64],
    low: f64,
    high: f64,
    step: Option<f64>,
    multivariate: bool,
    n_params: usize,
) -> Kernels {
    let range = high - low;
    let n = column.len();
    let prior_mu = 0.5 * (low + high);
    let mut mus = column.to_vec();
    mus.push(prior_mu);
    let mut sigmas = if multivariate {
        let s = SIGMA0_MAGNITUDE * (n.max(1) as f64).powf(-1.0 / (n_params as f64 + 4.0)) * range;
        vec![s; n + 1]
    } else {
        neighbour_gaps(&mus, low, high)
    };
    // Optuna's "magic clip": no kernel narrower than the range over (number of kernels), at
    // most 100.
    let min_sigma = range / (100.0f64).min(1.0 + (n + 1) as f64);
    sigmas
        .iter_mut()
        .for_each(|s| *s = s.clamp(min_sigma, range));
    sigmas[n] = range; // the prior covers the whole range
    Kernels::Numeric {
        mus,
        sigmas,
        low,
        high,
        step,
    }
}

/// Each kernel's width: the larger gap to its neighbours (with the range's ends as outer
/// neighbours; the outermost kernels use their inner gap only, Optuna's
/// `consider_endpoints = False`).
fn neighbour_gaps(mus: &[f64], low: f64, high: f64) -> Vec<f64> {
    let mut order: Vec<usize> = (0..mus.len()).collect();
    order.sort_by(|a, b| mus[*a].total_cmp(&mus[*b]));
    let mut sorted = vec![low];
    sorted.extend(order.iter().map(|&i| mus[i]));
    sorted.push(high);
    let m = order.len();
    let mut gaps: Vec<f64> = (1..=m)
        .map(|i| (sorted[i] - sorted[i - 1]).max(sorted[i + 1] - sorted[i]))
        .collect();
    if m >= 2 {
        gaps[0] = sorted[2] - sorted[1];
        gaps[m - 1] = sorted[m] - sorted[m - 1];
    }
    let mut sigmas = vec![0.0; m];
    for (rank, &i) in order.iter().enumerate() {
        sigmas[i] = gaps[rank];
    }
    sigmas
}

fn normal_cdf(z: f64) -> f64 {
    0.5 * libm::erfc(-z / std::f64::consts::SQRT_2)
}

fn numeric_log_pdf(x: f64, mu: f64, sigma: f64, low: f64, high: f64, step: Option<f64>) -> f64 {
    let mass = |a: f64, b: f64| normal_cdf((b - mu) / sigma) - normal_cdf((a - mu) / sigma);
    let inside = mass(low, high).max(1e-300);
    match step {
        Some(s) => (mass(x - s / 2.0, x + s / 2.0).max(1e-300) / inside).ln(),
        None => {
            let z = (x - mu) / sigma;
            -0.5 * z * z - (sigma * (std::f64::consts::TAU).sqrt()).ln() - inside.ln()
        }
    }
}

/// A normal draw kept within [low, high] by rejection (the kernels' centres lie inside the
/// range and their widths are at most the range, so a draw lands inside often).
fn truncated_normal(rng: &mut SamplerRng, mu: f64, sigma: f64, low: f64, high: f64) -> f64 {
    for _ in 0..1000 {
        let x = mu + sigma * rng.normal();
        if (low..=high).contains(&x) {
            return x;
        }
    }
    mu.clamp(low, high)
}

fn log_sum_exp(xs: &[f64]) -> f64 {
    let max = xs.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
    if !max.is_finite() {
        return max;
    }
    max + xs.iter().map(|x| (x - max).exp()).sum::<f64>().ln()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn optuna_default_weights_and_gamma() {
        assert_eq!(default_weights(3), vec![1.0; 3]);
        let w = default_weights(30);
        assert_eq!(w.len(), 30);
        assert!((w[0] - 1.0 / 30.0).abs() < 1e-12 && (w[4] - 1.0).abs() < 1e-12 && w[5] == 1.0);
        assert_eq!(
            (
                default_gamma(1),
                default_gamma(10),
                default_gamma(11),
                default_gamma(1000)
            ),
            (1, 1, 2, 25)
        );
    }

    #[test]
    fn densities_integrate_to_one() {
        let axes = [Axis::Numeric {
            low: 0.0,
            high: 1.0,
            step: None,
        }];
        let est = Estimator::new(&axes, &[vec![0.2], vec![0.25], vec![0.9]], false);
        let n = 20_000;
        let integral: f64 = (0..n)
            .map(|i| est.log_pdf(&[(i as f64 + 0.5) / n as f64]).exp() / n as f64)
            .sum();
        assert!((integral - 1.0).abs() < 1e-3, "{integral}");
        let ints = [Axis::Numeric {
            low: 3.0,
            high: 13.0,
            step: Some(2.0),
        }]; // 4..=12 step 2
        let est = Estimator::new(&ints, &[vec![4.0], vec![10.0]], true);
        let total: f64 = [4.0, 6.0, 8.0, 10.0, 12.0]
            .iter()
            .map(|x| est.log_pdf(&[*x]).exp())
            .sum();
        assert!((total - 1.0).abs() < 1e-9, "{total}");
        let cats = [Axis::Categorical { n: 3 }];
        let est = Estimator::new(&cats, &[vec![1.0], vec![1.0]], false);
        let p: Vec<f64> = (0..3).map(|c| est.log_pdf(&[c as f64]).exp()).collect();
        assert!(
            (p.iter().sum::<f64>() - 1.0).abs() < 1e-9 && p[1] > p[0] && p[0] == p[2],
            "{p:?}"
        );
    }

    #[test]
    fn samples_stay_in_range_and_on_the_grid() {
        let axes = [
            Axis::Numeric {
                low: -1.0,
                high: 1.0,
                step: None,
            },
            Axis::Numeric {
                low: 3.0,
                high: 13.0,
                step: Some(2.0),
            },
        ];
        let est = Estimator::new(&axes, &[vec![0.99, 12.0], vec![-0.99, 4.0]], true);
        let mut rng = SamplerRng::for_trial(7, 1);
        for _ in 0..500 {
            let x = est.sample(&mut rng);
            assert!((-1.0..=1.0).contains(&x[0]), "{x:?}");
            assert!([4.0, 6.0, 8.0, 10.0, 12.0].contains(&x[1]), "{x:?}");
        }
    }
}
