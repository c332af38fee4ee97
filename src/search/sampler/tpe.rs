//! Tree-structured Parzen Estimator, Optuna's default sampler, written here after Optuna's
//! `TPESampler`: the first `n_startup_trials` trials are random; then the trials are split
//! into the best `gamma(n)` ("below") and the rest ("above"), a Parzen estimator is fitted
//! to each, `n_ei_candidates` points are drawn from the good one and the point with the
//! largest `log l(x) - log g(x)` is proposed.
//!
//! - Pruned trials rank after the complete ones, deeper ones (more evaluations) first,
//!   then by their last intermediate value (as Optuna).
//! - Constant liar: trials still running count as the worst results, so that parallel
//!   workers are steered away from the points already being tried.
//! - Several objectives: the complete trials are ranked by non-domination (Pareto fronts);
//!   the front that crosses the split is cut by its first objective (Optuna uses hypervolume
//!   subset selection there; ours is the simpler rule, named honestly).
//! - `multivariate = false` (Optuna's default) fits one estimator per parameter;
//!   `true` fits product kernels over all parameters jointly.
use super::parzen::{default_gamma, from_internal, to_internal, Axis, Estimator};
use super::random::RandomSampler;
use super::{Sampler, SamplerRng};
use crate::error::Result;
use crate::search::space::{Direction, Space};
use crate::search::trial::{Params, State, Trial};

#[derive(Debug, Clone)]
pub struct Tpe {
    pub n_startup_trials: usize,
    pub n_ei_candidates: usize,
    pub multivariate: bool,
    pub constant_liar: bool,
}

impl Default for Tpe {
    /// Optuna's defaults, with constant liar on (parallel workers are the point of a study).
    fn default() -> Self {
        Tpe {
            n_startup_trials: 10,
            n_ei_candidates: 24,
            multivariate: false,
            constant_liar: true,
        }
    }
}

impl Tpe {
    /// The trials TPE learns from, split into (below, above), each in trial-number order.
    fn split<'a>(
        &self,
        history: &'a [Trial],
        directions: &[Direction],
    ) -> (Vec<&'a Trial>, Vec<&'a Trial>) {
        let considered: Vec<&Trial> = history
            .iter()
            .filter(|t| match t.state {
                State::Complete => t
                    .values
                    .as_ref()
                    .is_some_and(|v| v.len() == directions.len()),
                State::Pruned => true,
                State::Running => self.constant_liar,
                State::Waiting | State::Failed => false,
            })
            .collect();
        let n_below = default_gamma(considered.len());
        let losses = |t: &Trial| -> Vec<f64> {
            t.values
                .as_deref()
                .unwrap_or_default()
                .iter()
                .zip(directions)
                .map(|(v, d)| d.loss(*v))
                .collect()
        };
        let complete: Vec<&Trial> = considered
            .iter()
            .copied()
            .filter(|t| t.state == State::Complete)
            .collect();
        let mut ranked: Vec<&Trial> = if directions.len() == 1 {
            let mut c = complete;
            c.sort_by(|a, b| losses(a)[0].total_cmp(&losses(b)[0]));
            c
        } else {
            pareto_ranked(&complete, &losses)
        };
        let mut pruned: Vec<&Trial> = considered
            .iter()
            .copied()
            .filter(|t| t.state == State::Pruned)
            .collect();
        let direction = directions[0];
        let depth = |t: &Trial| t.intermediate.last().map(|(s, v)| (*s, direction.loss(*v)));
        pruned.sort_by(|a, b| match (depth(a), depth(b)) {
            (Some((sa, la)), Some((sb, lb))) => sb.cmp(&sa).then(la.total_cmp(&lb)),
            (Some(_), None) => std::cmp::Ordering::Less,
            (None, Some(_)) => std::cmp::Ordering::Greater,
            (None, None) => std::cmp::Ordering::Equal,
        });
        if directions.len() == 1 {
            ranked.extend(pruned);
        }
        let mut below: Vec<&Trial> = ranked.iter().take(n_below).copied().collect();
        below.sort_by_key(|t| t.number);
        let mut above: Vec<&Trial> = considered
            .iter()
            .copied()
            .filter(|t| !below.iter().any(|b| b.number == t.number))
            .collect();
        above.sort_by_key(|t| t.number);
        (below, above)
    }
}

/// Complete trials by Pareto front (best front first); within a front by first objective.
fn pareto_ranked<'a>(trials: &[&'a Trial], losses: &dyn Fn(&Trial) -> Vec<f64>) -> Vec<&'a Trial> {
    let points: Vec<Vec<f64>> = trials.iter().map(|t| losses(t)).collect();
    let mut rank = vec![usize::MAX; trials.len()];
    let mut remaining: Vec<usize> = (0..trials.len()).collect();
    let mut front = 0;
    while !remaining.is_empty() {
        let current: Vec<usize> = remaining
            .iter()
            .copied()
            .filter(|&i| !remaining.iter().any(|&j| dominates(&points[j], &points[i])))
            .collect();
        for &i in &current {
            rank[i] = front;
        }
        remaining.retain(|i| !current.contains(i));
        front += 1;
    }
    let mut order: Vec<usize> = (0..trials.len()).collect();
    order.sort_by(|&a, &b| {
        rank[a]
            .cmp(&rank[b])
            .then(points[a][0].total_cmp(&points[b][0]))
    });
    order.into_iter().map(|i| trials[i]).collect()
}

/// `a` is no worse than `b` in every loss and better in one.
pub fn dominates(a: &[f64], b: &[f64]) -> bool {
    a.iter().zip(b).all(|(x, y)| x <= y) && a.iter().zip(b).any(|(x, y)| x < y)
}

impl Sampler for Tpe {
    fn sample(
        &self,
        space: &Space,
        history: &[Trial],
        rng: &mut SamplerRng,
    ) -> Result<Option<Params>> {
        let counted = history
            .iter()
            .filter(|t| t.state.finished() || (self.constant_liar && t.state == State::Running))
            .count();
        if counted < self.n_startup_trials {
            return RandomSampler.sample(space, history, rng);
        }
        let (below, above) = self.split(history, &space.objective.directions);
        let groups = if self.multivariate {
            vec![(0..space.params.len()).collect::<Vec<_>>()]
        } else {
            (0..space.params.len()).map(|i| vec![i]).collect()
        };
        let mut params = Params::new();
        for group in groups {
            let axes: Vec<Axis> = group
                .iter()
                .map(|&i| Axis::of(&space.params[i].distribution))
                .collect();
            // a trial's point in this group, when it has a valid value for each parameter
            let point = |t: &Trial| -> Option<Vec<f64>> {
                group
                    .iter()
                    .map(|&i| {
                        let p = &space.params[i];
                        t.params
                            .get(&p.key)
                            .and_then(|v| to_internal(&p.distribution, v))
                    })
                    .collect()
            };
            let good: Vec<Vec<f64>> = below.iter().filter_map(|t| point(t)).collect();
            let bad: Vec<Vec<f64>> = above.iter().filter_map(|t| point(t)).collect();
            let l = Estimator::new(&axes, &good, self.multivariate);
            let g = Estimator::new(&axes, &bad, self.multivariate);
            let mut best: Option<(f64, Vec<f64>)> = None;
            for _ in 0..self.n_ei_candidates.max(1) {
                let x = l.sample(rng);
                let score = l.log_pdf(&x) - g.log_pdf(&x);
                if best.as_ref().is_none_or(|(s, _)| score > *s) {
                    best = Some((score, x));
                }
            }
            let (_, x) = best.unwrap_or_default();
            for (&i, v) in group.iter().zip(x) {
                let p = &space.params[i];
                params.insert(p.key.clone(), from_internal(&p.distribution, v));
            }
        }
        Ok(Some(params))
    }
}
