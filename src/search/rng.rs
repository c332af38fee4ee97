//! The samplers' random stream: ChaCha20 (as rand's `StdRng`), keyed by the study's `--seed`
//! and addressed by trial number, so that a trial's draws do not depend on how many draws
//! other trials (or other workers) made.
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha20Rng;

pub struct SamplerRng(ChaCha20Rng);

impl SamplerRng {
    /// The stream of trial `number` of a study seeded with `seed`.
    pub fn for_trial(seed: u64, number: u64) -> Self {
        let mut rng = ChaCha20Rng::seed_from_u64(seed);
        rng.set_stream(number);
        SamplerRng(rng)
    }

    /// Uniform in [0, 1).
    pub fn uniform_f64(&mut self) -> f64 {
        self.0.gen::<f64>()
    }

    /// Uniform in 0..n (n > 0).
    pub fn below(&mut self, n: usize) -> usize {
        self.0.gen_range(0..n.max(1))
    }

    /// Standard normal (Box–Muller).
    pub fn normal(&mut self) -> f64 {
        let u1 = 1.0 - self.uniform_f64(); // (0, 1]
        let u2 = self.uniform_f64();
        (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
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
