//! Random search: every parameter drawn independently from its range.
use super::{Sampler, SamplerRng};
use crate::error::Result;
use crate::search::space::{Distribution, Space};
use crate::search::trial::{Params, Trial};
use serde_json::Value;

pub struct RandomSampler;

impl Sampler for RandomSampler {
    fn sample(
        &self,
        space: &Space,
        _history: &[Trial],
        rng: &mut SamplerRng,
    ) -> Result<Option<Params>> {
        Ok(Some(
            space
                .params
                .iter()
                .map(|p| (p.key.clone(), draw(&p.distribution, rng)))
                .collect(),
        ))
    }
}

/// One value drawn uniformly from `distribution` (in log space for `loguniform`).
pub fn draw(distribution: &Distribution, rng: &mut SamplerRng) -> Value {
    match distribution {
        Distribution::Float {
            low,
            high,
            log: false,
        } => Value::from(low + (high - low) * rng.uniform_f64()),
        Distribution::Float {
            low,
            high,
            log: true,
        } => {
            let (a, b) = (low.ln(), high.ln());
            Value::from((a + (b - a) * rng.uniform_f64()).exp().clamp(*low, *high))
        }
        Distribution::Int { low, high, step } => {
            let points = ((high - low) / step + 1) as usize;
            Value::from(low + step * rng.below(points) as i64)
        }
        Distribution::Choice(choices) => choices[rng.below(choices.len())].clone(),
    }
}
