//! Which trials a study ranks first: the best complete trial and, for several objectives, the
//! Pareto front. Read by the outputs, the report and the workers that keep the best adapter.
use super::sampler::tpe::dominates;
use super::space::Space;
use super::trial::{State, Trial};

/// The best complete trial: by the first objective (for several objectives, the Pareto
/// front's point with the best first objective, which is the same trial).
pub fn best<'a>(trials: &'a [Trial], space: &Space) -> Option<&'a Trial> {
    let d = space.objective.directions[0];
    trials
        .iter()
        .filter(|t| t.state == State::Complete && t.values.is_some())
        .min_by(|a, b| {
            let la = d.loss(a.values.as_ref().map_or(f64::NAN, |v| v[0]));
            let lb = d.loss(b.values.as_ref().map_or(f64::NAN, |v| v[0]));
            la.total_cmp(&lb).then(a.number.cmp(&b.number))
        })
}

/// The complete trials no other complete trial dominates.
pub fn pareto_front<'a>(trials: &'a [Trial], space: &Space) -> Vec<&'a Trial> {
    let dirs = &space.objective.directions;
    let losses = |t: &Trial| -> Vec<f64> {
        t.values
            .as_deref()
            .unwrap_or_default()
            .iter()
            .zip(dirs)
            .map(|(v, d)| d.loss(*v))
            .collect()
    };
    let complete: Vec<&Trial> = trials
        .iter()
        .filter(|t| {
            t.state == State::Complete && t.values.as_ref().is_some_and(|v| v.len() == dirs.len())
        })
        .collect();
    complete
        .iter()
        .copied()
        .filter(|t| !complete.iter().any(|o| dominates(&losses(o), &losses(t))))
        .collect()
}
