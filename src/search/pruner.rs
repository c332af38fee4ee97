//! Pruning decisions (Optuna's `MedianPruner` and `SuccessiveHalvingPruner`, the
//! asynchronous one that suits parallel workers), from the study's trials alone: the
//! trial's intermediate values are (evaluation number, value of the first metric).
use super::space::{Direction, PrunerSpec};
use super::trial::{State, Trial};

/// Why `trial` (whose last intermediate value was just reported) should stop, or `None`.
pub fn should_prune(
    spec: PrunerSpec,
    direction: Direction,
    trial: &Trial,
    others: &[Trial],
) -> Option<String> {
    let &(step, value) = trial.intermediate.last()?;
    let others = || others.iter().filter(|t| t.number != trial.number);
    let at_step = |t: &Trial| {
        t.intermediate
            .iter()
            .find(|(s, _)| *s == step)
            .map(|(_, v)| *v)
    };
    match spec {
        PrunerSpec::None => None,
        PrunerSpec::Median { n_startup_trials } => {
            let complete: Vec<&Trial> = others().filter(|t| t.state == State::Complete).collect();
            if complete.len() < n_startup_trials.max(1) {
                return None;
            }
            let mut losses: Vec<f64> = complete
                .iter()
                .filter_map(|t| at_step(t))
                .map(|v| direction.loss(v))
                .collect();
            if losses.is_empty() {
                return None;
            }
            let median = median(&mut losses);
            let best = trial
                .intermediate
                .iter()
                .map(|(_, v)| direction.loss(*v))
                .fold(f64::INFINITY, f64::min);
            (best > median).then(|| {
                format!(
                    "best value {:.4} is worse than the median {:.4} of {} complete trials at evaluation {step}",
                    direction.loss(best),
                    direction.loss(median),
                    losses.len()
                )
            })
        }
        PrunerSpec::Asha {
            min_resource,
            reduction_factor,
        } => {
            // rungs after min_resource * rf^k evaluations
            let mut rung = min_resource.max(1) as u64;
            let mut k = 0;
            while rung < step {
                rung *= reduction_factor as u64;
                k += 1;
            }
            if rung != step {
                return None;
            }
            let mut competing: Vec<f64> = others()
                .filter_map(at_step)
                .map(|v| direction.loss(v))
                .collect();
            let own = direction.loss(value);
            competing.push(own);
            competing.sort_by(f64::total_cmp);
            let promotable = (competing.len() / reduction_factor).saturating_sub(1);
            (own > competing[promotable]).then(|| {
                format!(
                    "value {value:.4} at rung {k} (evaluation {step}) is not in the best 1/{reduction_factor} of {} trials there",
                    competing.len()
                )
            })
        }
    }
}

/// The median with linear interpolation (numpy's default percentile).
fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    if n % 2 == 1 {
        values[n / 2]
    } else {
        0.5 * (values[n / 2 - 1] + values[n / 2])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::search::trial::Params;

    fn trial(number: u64, state: State, values: &[f64]) -> Trial {
        let mut t = Trial::new(number, state, Params::new());
        t.intermediate = values
            .iter()
            .enumerate()
            .map(|(i, v)| (i as u64 + 1, *v))
            .collect();
        t
    }

    #[test]
    fn median_prunes_below_the_median_after_the_startup_trials() {
        let spec = PrunerSpec::Median {
            n_startup_trials: 2,
        };
        let done = vec![
            trial(0, State::Complete, &[0.5, 0.6]),
            trial(1, State::Complete, &[0.7, 0.8]),
        ];
        let weak = trial(2, State::Running, &[0.55]);
        // median at evaluation 1 is 0.6: 0.55 is worse when maximizing
        let why = should_prune(spec, Direction::Maximize, &weak, &done).unwrap();
        assert!(
            why.contains("median 0.6000 of 2 complete trials at evaluation 1"),
            "{why}"
        );
        assert!(should_prune(spec, Direction::Minimize, &weak, &done).is_none());
        // fewer complete trials than n_startup_trials: never pruned
        assert!(should_prune(spec, Direction::Maximize, &weak, &done[..1]).is_none());
    }

    #[test]
    fn asha_keeps_the_best_third_at_each_rung() {
        let spec = PrunerSpec::Asha {
            min_resource: 1,
            reduction_factor: 3,
        };
        let others: Vec<Trial> = (0..5)
            .map(|i| trial(i, State::Complete, &[i as f64, i as f64, i as f64]))
            .collect();
        // 6 values at rung 0 (evaluation 1): the best 6/3 = 2 go on (losses 0 and 1 when minimizing)
        assert!(should_prune(
            spec,
            Direction::Minimize,
            &trial(9, State::Running, &[0.5]),
            &others
        )
        .is_none());
        assert!(should_prune(
            spec,
            Direction::Minimize,
            &trial(9, State::Running, &[1.5]),
            &others
        )
        .is_some());
        // evaluation 2 is no rung: never pruned there
        assert!(should_prune(
            spec,
            Direction::Minimize,
            &trial(9, State::Running, &[0.5, 9.0]),
            &others
        )
        .is_none());
        // evaluation 3 is rung 1
        assert!(should_prune(
            spec,
            Direction::Minimize,
            &trial(9, State::Running, &[0.5, 0.5, 9.0]),
            &others
        )
        .is_some());
        // the first trial at a rung goes on
        assert!(should_prune(
            spec,
            Direction::Minimize,
            &trial(0, State::Running, &[5.0]),
            &[]
        )
        .is_none());
    }
}
