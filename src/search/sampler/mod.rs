//! Samplers: where the next trial's parameters come from. Each sees the whole study (every
//! trial, in every state) and the trial's own random stream.
pub mod grid;
pub mod parzen;
pub mod random;
pub mod tpe;

use super::rng::SamplerRng;
use super::space::Space;
use super::trial::{Params, Trial};
use crate::error::Result;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Strategy {
    Grid,
    Random,
    Tpe,
}

impl std::str::FromStr for Strategy {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s {
            "grid" => Ok(Strategy::Grid),
            "random" => Ok(Strategy::Random),
            "tpe" => Ok(Strategy::Tpe),
            other => Err(format!(
                "unknown strategy `{other}`; valid values: grid, random, tpe"
            )),
        }
    }
}

pub trait Sampler {
    /// The parameters of a new trial; `None` when the sampler has nothing left to propose
    /// (a grid whose every point has a trial).
    fn sample(
        &self,
        space: &Space,
        history: &[Trial],
        rng: &mut SamplerRng,
    ) -> Result<Option<Params>>;
}

/// The sampler of a strategy, with Optuna's default settings.
pub fn sampler(strategy: Strategy, space: &Space) -> Result<Box<dyn Sampler + Send>> {
    Ok(match strategy {
        Strategy::Grid => Box::new(grid::Grid::new(space)?),
        Strategy::Random => Box::new(random::RandomSampler),
        Strategy::Tpe => Box::new(tpe::Tpe::default()),
    })
}
