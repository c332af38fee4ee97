//! The samplers' random stream: a `crate::rng` stream keyed by the study's `--seed` and
//! addressed by trial number, so that a trial's draws do not depend on how many draws other
//! trials (or other workers) made.
use crate::rng::{Purpose, Stream};

pub struct SamplerRng(Stream);

impl SamplerRng {
    /// The stream of trial `number` of a study seeded with `seed`.
    pub fn for_trial(seed: u64, number: u64) -> Self {
        SamplerRng(Stream::new(seed, Purpose::Search, [number, 0, 0]))
    }

    /// Uniform in [0, 1).
    pub fn uniform_f64(&mut self) -> f64 {
        self.0.uniform_f64()
    }

    /// Uniform in 0..n (n > 0).
    pub fn below(&mut self, n: usize) -> usize {
        self.0.below(n.max(1))
    }

    /// Standard normal.
    pub fn normal(&mut self) -> f64 {
        self.0.normal()
    }

    /// An index drawn with probability proportional to `weights` (non-negative, not all zero).
    pub fn weighted(&mut self, weights: &[f64]) -> usize {
        let total: f64 = weights.iter().sum();
        let mut u = self.uniform_f64() * total;
        for (i, w) in weights.iter().enumerate() {
            if u < *w {
                return i;
            }
            u -= w;
        }
        weights.len().saturating_sub(1)
    }
}
