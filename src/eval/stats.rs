//! Summary statistics and paired comparisons for the evaluation report.
//!
//! * [`mean`], [`median`], [`std`]: `std` is the **sample** standard deviation (`ddof = 1`,
//!   the default of pandas' `Series.std`; NumPy's `np.std` default is `ddof = 0`).
//!   Empty input gives NaN, and so does `std` of a single value (as in pandas).
//! * [`percentile`]: NumPy's default (`method="linear"`) percentile of sorted data.
//! * [`bootstrap_mean_ci`]: seeded bootstrap percentile interval of the mean (resampling
//!   with replacement, then the `(1 − confidence)/2` and `(1 + confidence)/2` percentiles
//!   of the resampled means with NumPy's linear interpolation). The random numbers are
//!   a ChaCha20 stream keyed by `seed` (`crate::rng`), so the interval is reproducible with loratune
//!   but not bit-identical to `scipy.stats.bootstrap`, which agrees with it up to Monte
//!   Carlo error.
//! * [`wilcoxon`]: `scipy.stats.wilcoxon(x, y)` with its defaults (SciPy 1.17:
//!   `zero_method="wilcox"`, `correction=False`, `alternative="two-sided"`,
//!   `method="auto"`), i.e. on `d = x − y`:
//!   - zero differences are dropped; the others are ranked by `|d|` with average ranks
//!     for ties; `r_plus`/`r_minus` are the rank sums of positive/negative differences
//!     and the reported statistic is `min(r_plus, r_minus)`;
//!   - `method="auto"` picks, with `n = len(d)` *including* zeros:
//!     `n > 50` → normal approximation; otherwise no ties and no zeros → the exact null
//!     distribution of `r_plus`; otherwise `n ≤ 13` → an exact permutation test (all
//!     `2^n` sign flips, which SciPy runs through `permutation_test`); otherwise the
//!     normal approximation;
//!   - normal approximation: `z = (r_plus − m(m+1)/4) / sqrt((m(m+1)(2m+1) − Σ(t³−t)/2)/24)`
//!     over the `m` non-zero differences with tie groups of sizes `t`, without continuity
//!     correction, `p = 2·Φ(−|z|)`;
//!   - exact: `p = min(1, 2·min(P(R+ ≥ r_plus), P(R+ ≤ r_plus)))`.
//!
//!   Parity with SciPy is checked by `tests/eval_stats_parity.rs` against
//!   `tests/fixtures/eval/stats.json` (written by `scripts/make_eval_fixtures.py`).
use crate::error::{Error, Result};
use crate::rng::{Purpose, Stream};
use serde::{Deserialize, Serialize};

/// Arithmetic mean; NaN for empty input.
pub fn mean(xs: &[f64]) -> f64 {
    if xs.is_empty() {
        return f64::NAN;
    }
    xs.iter().sum::<f64>() / xs.len() as f64
}

/// Median (mean of the two middle values for even lengths); NaN for empty input.
pub fn median(xs: &[f64]) -> f64 {
    let s = sorted(xs);
    match s.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => s[n / 2],
        n => (s[n / 2 - 1] + s[n / 2]) / 2.0,
    }
}

/// Sample standard deviation (`ddof = 1`, pandas' default); NaN for fewer than 2 values.
pub fn std(xs: &[f64]) -> f64 {
    if xs.len() < 2 {
        return f64::NAN;
    }
    let m = mean(xs);
    let ss: f64 = xs.iter().map(|x| (x - m) * (x - m)).sum();
    (ss / (xs.len() - 1) as f64).sqrt()
}

/// A sorted copy (total order; NaNs last).
pub(crate) fn sorted(xs: &[f64]) -> Vec<f64> {
    let mut v = xs.to_vec();
    v.sort_by(f64::total_cmp);
    v
}

/// `numpy.percentile(sorted, q)` with the default linear interpolation; `q` in [0, 100].
/// NaN for empty input.
pub(crate) fn percentile(sorted: &[f64], q: f64) -> f64 {
    let n = sorted.len();
    if n == 0 {
        return f64::NAN;
    }
    let pos = (q / 100.0).clamp(0.0, 1.0) * (n - 1) as f64;
    let lo = pos.floor() as usize;
    let hi = (lo + 1).min(n - 1);
    let frac = pos - lo as f64;
    // NumPy's _lerp: a + (b - a) * t, computed from the other end when t >= 0.5.
    let (a, b) = (sorted[lo], sorted[hi]);
    let diff = b - a;
    if frac >= 0.5 {
        b - diff * (1.0 - frac)
    } else {
        a + diff * frac
    }
}

/// Settings of the paired statistics.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct SummarySettings {
    pub(crate) bootstrap_resamples: usize,
    pub(crate) confidence: f64,
    pub bootstrap_seed: u64,
}

impl Default for SummarySettings {
    fn default() -> Self {
        SummarySettings {
            bootstrap_resamples: 10_000,
            confidence: 0.95,
            bootstrap_seed: 0,
        }
    }
}

/// A bootstrap percentile interval of a mean.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct BootstrapCi {
    pub low: f64,
    pub high: f64,
    pub(crate) confidence: f64,
    pub(crate) resamples: usize,
    pub(crate) seed: u64,
}

/// Seeded bootstrap percentile interval of the mean of `xs` (for the report: the paired
/// differences tuned − base). NaN bounds for empty input; `resamples` must be positive.
pub fn bootstrap_mean_ci(
    xs: &[f64],
    resamples: usize,
    confidence: f64,
    seed: u64,
) -> Result<BootstrapCi> {
    bootstrap_ci(xs.len(), resamples, confidence, seed, |rows| {
        rows.iter().map(|&i| xs[i]).sum::<f64>() / rows.len() as f64
    })
}

/// Seeded bootstrap percentile interval of any statistic of `n` examples: `statistic` gets
/// the rows of each resample (drawn with replacement, the same rows for every statistic of a
/// seed, so statistics of two models computed on the same resamples are paired). Resamples
/// where the statistic is not finite (e.g. an AUC of a resample with one class) are left out;
/// NaN bounds when none is finite or `n` is 0.
pub fn bootstrap_ci(
    n: usize,
    resamples: usize,
    confidence: f64,
    seed: u64,
    mut statistic: impl FnMut(&[usize]) -> f64,
) -> Result<BootstrapCi> {
    let [ci] = bootstrap_cis(n, resamples, confidence, seed, |rows| [statistic(rows)])?;
    Ok(ci)
}

/// [`bootstrap_ci`] of `K` statistics computed together on each resample.
pub fn bootstrap_cis<const K: usize>(
    n: usize,
    resamples: usize,
    confidence: f64,
    seed: u64,
    mut statistics: impl FnMut(&[usize]) -> [f64; K],
) -> Result<[BootstrapCi; K]> {
    if resamples == 0 {
        return Err(Error::Config(
            "bootstrap: resamples must be positive".into(),
        ));
    }
    if !(confidence > 0.0 && confidence < 1.0) {
        return Err(Error::Config(format!(
            "bootstrap: confidence {confidence} is not in (0, 1)"
        )));
    }
    let mut values: [Vec<f64>; K] =
        std::array::from_fn(|_| Vec::with_capacity(if n == 0 { 0 } else { resamples }));
    if n > 0 {
        let mut rng = Stream::new(seed, Purpose::Bootstrap, [0; 3]);
        let mut rows = vec![0usize; n];
        for _ in 0..resamples {
            for row in rows.iter_mut() {
                *row = rng.below(n);
            }
            for (kept, v) in values.iter_mut().zip(statistics(&rows)) {
                if v.is_finite() {
                    kept.push(v);
                }
            }
        }
    }
    let alpha = (1.0 - confidence) / 2.0;
    Ok(values.map(|mut v| {
        let (low, high) = if v.is_empty() {
            (f64::NAN, f64::NAN)
        } else {
            v.sort_by(f64::total_cmp);
            (
                percentile(&v, 100.0 * alpha),
                percentile(&v, 100.0 * (1.0 - alpha)),
            )
        };
        BootstrapCi {
            low,
            high,
            confidence,
            resamples,
            seed,
        }
    }))
}

/// Which null distribution [`wilcoxon`] used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum WilcoxonMethod {
    /// Exact distribution of the signed-rank statistic (no ties, no zeros, n ≤ 50).
    Exact,
    /// Exact enumeration of all sign flips (ties or zeros, n ≤ 13).
    Permutation,
    /// Normal approximation with tie correction, without continuity correction.
    Asymptotic,
}

/// Result of [`wilcoxon`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Wilcoxon {
    /// `min(r_plus, r_minus)`, SciPy's two-sided statistic.
    pub statistic: f64,
    /// Two-sided p-value (NaN when undefined, e.g. all differences zero with n > 13).
    pub pvalue: f64,
    /// Rank sum of positive differences.
    pub(crate) r_plus: f64,
    /// Rank sum of negative differences.
    pub(crate) r_minus: f64,
    /// Pairs, zeros included.
    pub(crate) n: usize,
    /// Zero differences (dropped by `zero_method="wilcox"`).
    pub(crate) zeros: usize,
    pub(crate) method: WilcoxonMethod,
}

/// Wilcoxon signed-rank test of `x` against `y` (paired), two-sided, as
/// `scipy.stats.wilcoxon(x, y)` with default arguments. Inputs must be finite and of equal
/// length; empty input gives NaN statistic and p-value.
pub fn wilcoxon(x: &[f64], y: &[f64]) -> Result<Wilcoxon> {
    if x.len() != y.len() {
        return Err(Error::Config(format!(
            "wilcoxon: lengths differ ({} and {})",
            x.len(),
            y.len()
        )));
    }
    if let Some(v) = x.iter().chain(y).find(|v| !v.is_finite()) {
        return Err(Error::Config(format!("wilcoxon: non-finite value {v}")));
    }
    let n = x.len();
    if n == 0 {
        return Ok(Wilcoxon {
            statistic: f64::NAN,
            pvalue: f64::NAN,
            r_plus: f64::NAN,
            r_minus: f64::NAN,
            n: 0,
            zeros: 0,
            method: WilcoxonMethod::Asymptotic,
        });
    }
    let d: Vec<f64> = x.iter().zip(y).map(|(a, b)| a - b).collect();
    let nonzero: Vec<f64> = d.iter().copied().filter(|v| *v != 0.0).collect();
    let zeros = n - nonzero.len();
    let m = nonzero.len();

    // Average ranks of |d| and tie group sizes.
    let mut order: Vec<usize> = (0..m).collect();
    order.sort_by(|&a, &b| nonzero[a].abs().total_cmp(&nonzero[b].abs()));
    let mut ranks = vec![0.0; m];
    let mut tie_sizes = Vec::new();
    let mut i = 0;
    while i < m {
        let mut j = i + 1;
        while j < m && nonzero[order[j]].abs() == nonzero[order[i]].abs() {
            j += 1;
        }
        let rank = (i + 1) as f64 + ((j - i) as f64 - 1.0) / 2.0;
        for &k in &order[i..j] {
            ranks[k] = rank;
        }
        tie_sizes.push((j - i) as f64);
        i = j;
    }
    let has_ties = tie_sizes.iter().any(|&t| t > 1.0);
    let r_plus: f64 = nonzero
        .iter()
        .zip(&ranks)
        .filter(|(v, _)| **v > 0.0)
        .map(|(_, r)| r)
        .sum();
    let r_minus: f64 = nonzero
        .iter()
        .zip(&ranks)
        .filter(|(v, _)| **v < 0.0)
        .map(|(_, r)| r)
        .sum();

    let method = if n > 50 {
        WilcoxonMethod::Asymptotic
    } else if !has_ties && zeros == 0 {
        WilcoxonMethod::Exact
    } else if n <= 13 {
        WilcoxonMethod::Permutation
    } else {
        WilcoxonMethod::Asymptotic
    };

    let pvalue = match method {
        WilcoxonMethod::Asymptotic => {
            let c = m as f64;
            let mn = c * (c + 1.0) * 0.25;
            let tie_correct: f64 = tie_sizes.iter().map(|t| t * t * t - t).sum();
            let se = ((c * (c + 1.0) * (2.0 * c + 1.0) - tie_correct / 2.0) / 24.0).sqrt();
            let z = (r_plus - mn) / se;
            2.0 * ndtr(-z.abs())
        }
        WilcoxonMethod::Exact => exact_pvalue(m, r_plus),
        WilcoxonMethod::Permutation => permutation_pvalue(&ranks, &nonzero, r_plus),
    };
    Ok(Wilcoxon {
        statistic: r_plus.min(r_minus),
        pvalue,
        r_plus,
        r_minus,
        n,
        zeros,
        method,
    })
}

/// Standard normal CDF, as Cephes' `ndtr` (which `scipy.special.ndtr` follows).
pub(crate) fn ndtr(a: f64) -> f64 {
    if a.is_nan() {
        return f64::NAN;
    }
    let x = a * std::f64::consts::FRAC_1_SQRT_2;
    let z = x.abs();
    if z < std::f64::consts::FRAC_1_SQRT_2 {
        0.5 + 0.5 * libm::erf(x)
    } else {
        let y = 0.5 * libm::erfc(z);
        if x > 0.0 {
            1.0 - y
        } else {
            y
        }
    }
}

/// Probabilities of `r_plus = 0..=n(n+1)/2` under the null, as SciPy's `_get_wilcoxon_distr`.
fn wilcoxon_pmf(n: usize) -> Vec<f64> {
    let mut c = vec![1.0];
    for k in 1..=n {
        let prev = c;
        c = vec![0.0; k * (k + 1) / 2 + 1];
        let len = c.len();
        let m = prev.len();
        for (i, p) in prev.iter().enumerate() {
            c[i] = p * 0.5;
        }
        for (i, p) in prev.iter().enumerate() {
            c[len - m + i] += p * 0.5;
        }
    }
    c
}

/// Two-sided exact p-value as SciPy's `WilcoxonDistribution` computes it.
fn exact_pvalue(n: usize, r_plus: f64) -> f64 {
    let pmf = wilcoxon_pmf(n);
    let mean = n as f64 * (n as f64 + 1.0) / 4.0;
    let raw_cdf = |k: i64| -> f64 {
        if k < 0 {
            0.0
        } else {
            pmf[..=(k as usize).min(pmf.len() - 1)].iter().sum()
        }
    };
    let raw_sf = |k: i64| -> f64 {
        if k as usize >= pmf.len() {
            0.0
        } else {
            pmf[k.max(0) as usize..].iter().sum()
        }
    };
    let cdf = |k: i64| {
        if k as f64 <= mean {
            raw_cdf(k)
        } else {
            1.0 - raw_sf(k + 1)
        }
    };
    let sf = |k: i64| {
        if k as f64 <= mean {
            raw_sf(k)
        } else {
            1.0 - raw_cdf(k - 1)
        }
    };
    let p = 2.0 * sf(r_plus.floor() as i64).min(cdf(r_plus.ceil() as i64));
    p.clamp(0.0, 1.0)
}

/// Two-sided p-value of SciPy's exact permutation test over all sign flips of the non-zero
/// differences (zeros flip onto themselves and only scale both counts by the same power of 2).
fn permutation_pvalue(ranks: &[f64], nonzero: &[f64], observed: f64) -> f64 {
    debug_assert_eq!(ranks.len(), nonzero.len());
    let m = ranks.len();
    let gamma = (f64::EPSILON * 100.0 * observed).abs();
    let total = 1u64 << m;
    let (mut less, mut greater) = (0u64, 0u64);
    for mask in 0..total {
        let mut r_plus = 0.0;
        for (i, r) in ranks.iter().enumerate() {
            if mask >> i & 1 == 1 {
                r_plus += r;
            }
        }
        if r_plus <= observed + gamma {
            less += 1;
        }
        if r_plus >= observed - gamma {
            greater += 1;
        }
    }
    let p = less.min(greater) as f64 / total as f64 * 2.0;
    p.clamp(0.0, 1.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_statistics() {
        let xs = [3.0, 1.0, 4.0, 1.0, 5.0];
        assert_eq!(mean(&xs), 2.8);
        assert_eq!(median(&xs), 3.0);
        assert_eq!(median(&[1.0, 2.0, 3.0, 10.0]), 2.5);
        assert!((std(&xs) - 1.7888543819998317).abs() < 1e-15);
        assert!(std(&[1.0]).is_nan());
        assert!(mean(&[]).is_nan());
        assert!(median(&[]).is_nan());
    }

    #[test]
    fn percentile_matches_numpy() {
        // np.percentile([1, 2, 4, 8, 16], [0, 10, 25, 50, 62.5, 100])
        let s = [1.0, 2.0, 4.0, 8.0, 16.0];
        let expect = [1.0, 1.4, 2.0, 4.0, 6.0, 16.0];
        for (q, e) in [0.0, 10.0, 25.0, 50.0, 62.5, 100.0].iter().zip(expect) {
            assert!((percentile(&s, *q) - e).abs() < 1e-12, "q={q}");
        }
    }

    #[test]
    fn bootstrap_is_seeded_and_brackets_the_mean() {
        let xs: Vec<f64> = (0..40)
            .map(|i| ((i * 37) % 11) as f64 / 10.0 - 0.3)
            .collect();
        let a = bootstrap_mean_ci(&xs, 2000, 0.95, 7).unwrap();
        let b = bootstrap_mean_ci(&xs, 2000, 0.95, 7).unwrap();
        let c = bootstrap_mean_ci(&xs, 2000, 0.95, 8).unwrap();
        assert_eq!(a, b);
        assert_ne!(a.low, c.low);
        let m = mean(&xs);
        assert!(a.low < m && m < a.high);
        let constant = bootstrap_mean_ci(&[0.5; 10], 100, 0.95, 1).unwrap();
        assert_eq!((constant.low, constant.high), (0.5, 0.5));
        assert!(bootstrap_mean_ci(&[], 100, 0.95, 1).unwrap().low.is_nan());
        assert!(bootstrap_mean_ci(&xs, 0, 0.95, 1).is_err());
    }

    #[test]
    fn exact_distribution_sums_to_one() {
        for n in [1, 5, 20, 50] {
            let pmf = wilcoxon_pmf(n);
            assert_eq!(pmf.len(), n * (n + 1) / 2 + 1);
            assert!((pmf.iter().sum::<f64>() - 1.0).abs() < 1e-12);
        }
    }

    #[test]
    fn ndtr_values() {
        assert_eq!(ndtr(0.0), 0.5);
        // scipy.special.ndtr(-1.96), ndtr(-6.0)
        assert!((ndtr(-1.96) - 0.024997895148220435).abs() < 1e-16);
        assert!((ndtr(-6.0) / 9.865876450376946e-10 - 1.0).abs() < 1e-14);
    }

    #[test]
    fn wilcoxon_rejects_bad_input() {
        assert!(wilcoxon(&[1.0], &[1.0, 2.0]).is_err());
        assert!(wilcoxon(&[f64::NAN], &[1.0]).is_err());
        let empty = wilcoxon(&[], &[]).unwrap();
        assert!(empty.pvalue.is_nan());
    }
}
