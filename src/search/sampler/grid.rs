//! Grid search: the product of every parameter's values, each point tried once, in order
//! (the last parameter varies fastest). Continuous ranges have no grid and are refused.
use super::{Sampler, SamplerRng};
use crate::error::{Error, Result};
use crate::search::space::{Distribution, Space};
use crate::search::trial::{Params, State, Trial};
use serde_json::Value;

pub struct Grid {
    axes: Vec<(String, Vec<Value>)>,
}

impl Grid {
    pub fn new(space: &Space) -> Result<Self> {
        let mut axes = Vec::new();
        for p in &space.params {
            let values = p.distribution.grid_values().ok_or_else(|| {
                let kind = match p.distribution {
                    Distribution::Float { log: true, .. } => "loguniform",
                    _ => "uniform",
                };
                Error::file(
                    &space.path,
                    format!(
                        "`{}` is a continuous range ({kind}): grid search takes only `choice` and `int` parameters; list the values to try as {{ choice = [...] }} or use --strategy random or tpe",
                        p.key
                    ),
                )
            })?;
            axes.push((p.key.clone(), values));
        }
        Ok(Grid { axes })
    }

    /// The number of points.
    pub fn len(&self) -> usize {
        self.axes.iter().map(|(_, v)| v.len()).product()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Point `index` of the product, the last axis varying fastest.
    pub fn point(&self, mut index: usize) -> Params {
        let mut params = Params::new();
        for (key, values) in self.axes.iter().rev() {
            params.insert(key.clone(), values[index % values.len()].clone());
            index /= values.len();
        }
        params
    }
}

impl Sampler for Grid {
    fn sample(
        &self,
        _space: &Space,
        history: &[Trial],
        _rng: &mut SamplerRng,
    ) -> Result<Option<Params>> {
        // A failed trial's point is retried by the study itself (once), not by the grid.
        let taken = |point: &Params| {
            history.iter().any(|t| {
                t.retry_of.is_none()
                    && t.state != State::Waiting
                    && self
                        .axes
                        .iter()
                        .all(|(k, _)| t.params.get(k) == point.get(k))
            })
        };
        Ok((0..self.len()).map(|i| self.point(i)).find(|p| !taken(p)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn space(params: &str) -> Space {
        let text = format!(
            "[objective]\nmetric = \"eval_loss\"\ndirection = \"minimize\"\n[params]\n{params}"
        );
        Space::parse(&text, Path::new("space.toml")).unwrap()
    }

    #[test]
    fn the_grid_is_the_product_of_choices_and_ints_each_point_once() {
        let s = space("\"lora.r\" = { choice = [4, 8] }\n\"train.batch_size\" = { int = [4, 12], step = 4 }\n\"lora.target_modules\" = { choice = [[\"q\"], [\"q\", \"v\"]] }\n");
        let grid = Grid::new(&s).unwrap();
        assert_eq!(grid.len(), 2 * 3 * 2);
        let mut history = Vec::new();
        let mut rng = SamplerRng::for_trial(0, 0);
        while let Some(p) = grid.sample(&s, &history, &mut rng).unwrap() {
            history.push(Trial::new(history.len() as u64, State::Complete, p));
        }
        assert_eq!(history.len(), 12);
        let mut seen: Vec<String> = history
            .iter()
            .map(|t| serde_json::to_string(&t.params).unwrap())
            .collect();
        seen.sort();
        seen.dedup();
        assert_eq!(seen.len(), 12, "a point came twice");
        assert_eq!(history[0].params["lora.r"], 4);
        assert_eq!(history[0].params["train.batch_size"], 4);
        assert_eq!(
            history[1].params["lora.target_modules"],
            serde_json::json!(["q", "v"])
        );
        assert_eq!(history[11].params["train.batch_size"], 12);
    }

    #[test]
    fn the_grid_refuses_continuous_ranges() {
        let s = space("\"lora.r\" = { choice = [4, 8] }\n\"train.learning_rate\" = { loguniform = [1e-5, 1e-2] }\n");
        let err = Grid::new(&s).err().unwrap().to_string();
        assert!(
            err.starts_with("space.toml: `train.learning_rate` is a continuous range (loguniform): grid search takes only `choice` and `int` parameters"),
            "{err}"
        );
    }
}
