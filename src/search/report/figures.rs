//! The search report's line and scatter charts: the optimization history (every trial's
//! objective and the running best), the Pareto front of two objectives, and one slice plot
//! per parameter (objective against the parameter's value), drawn as the evaluation report's
//! line charts are.
use super::labels::{value_label, Placer};
use crate::eval::lines::{Figure, Panel, Scale, Series, Stroke};
use crate::search::importance::complete_values;
use crate::search::ranking::{best, pareto_front};
use crate::search::space::{Direction, Distribution, Space};
use crate::search::trial::{State, Trial};

const COMPLETE: usize = 0;
const BEST: usize = 1;
const PRUNED: usize = 3;

/// Objective per trial (complete: dots; pruned: circles at the best value reported before
/// pruning, for the first objective) and the best complete value so far, one panel per
/// objective; with two or more objectives, a last panel with the Pareto front of the first
/// two.
pub(crate) fn history(title: &str, trials: &[Trial], space: &Space) -> Figure {
    let mut panels = Vec::new();
    for (m, (metric, direction)) in space
        .objective
        .metrics
        .iter()
        .zip(&space.objective.directions)
        .enumerate()
    {
        let value = |t: &Trial| t.values.as_ref().and_then(|v| v.get(m).copied());
        let complete: Vec<(f64, f64)> = trials
            .iter()
            .filter(|t| t.state == State::Complete)
            .filter_map(|t| value(t).map(|v| (t.number as f64, v)))
            .filter(|p| p.1.is_finite())
            .collect();
        let mut series = vec![Series {
            label: "complete trial".into(),
            color: COMPLETE,
            stroke: Stroke::Points,
            points: complete.clone(),
        }];
        if m == 0 {
            let pruned: Vec<(f64, f64)> = trials
                .iter()
                .filter(|t| t.state == State::Pruned)
                .filter_map(|t| value(t).map(|v| (t.number as f64, v)))
                .filter(|p| p.1.is_finite())
                .collect();
            if !pruned.is_empty() {
                series.push(Series {
                    label: "pruned (best value before pruning)".into(),
                    color: PRUNED,
                    stroke: Stroke::OpenPoints,
                    points: pruned,
                });
            }
        }
        series.push(Series {
            label: "best so far".into(),
            color: BEST,
            stroke: Stroke::Line,
            points: running_best(&complete, *direction),
        });
        panels.push(Panel {
            title: format!("{metric} per trial ({})", direction.name()),
            x_label: "trial".into(),
            y_label: metric.clone(),
            series,
            x_scale: Scale::Linear,
            x_range: None,
            y_range: None,
            marks: Vec::new(),
        });
    }
    if space.objective.metrics.len() >= 2 {
        panels.push(pareto_panel(trials, space));
    }
    Figure {
        title: format!("{title}: optimization history"),
        legend: Vec::new(),
        columns: panels.len().min(2),
        panels,
    }
}

/// A staircase through the best value up to each trial, from the first to the last.
fn running_best(points: &[(f64, f64)], direction: Direction) -> Vec<(f64, f64)> {
    let mut out: Vec<(f64, f64)> = Vec::new();
    let mut best: Option<f64> = None;
    for &(x, y) in points {
        match best {
            Some(b) if direction.loss(y) < direction.loss(b) => {
                // the step up (or down) at this trial
                out.push((x, b));
                best = Some(y);
            }
            Some(_) => {}
            None => best = Some(y),
        }
        out.push((x, best.unwrap_or(y)));
    }
    out
}

fn pareto_panel(trials: &[Trial], space: &Space) -> Panel {
    let (mx, my) = (&space.objective.metrics[0], &space.objective.metrics[1]);
    let xy = |t: &Trial| {
        let v = t.values.as_ref()?;
        Some((*v.first()?, *v.get(1)?))
    };
    let all: Vec<(f64, f64)> = trials
        .iter()
        .filter(|t| t.state == State::Complete)
        .filter_map(xy)
        .collect();
    let mut front: Vec<(f64, f64)> = pareto_front(trials, space)
        .into_iter()
        .filter_map(xy)
        .collect();
    front.sort_by(|a, b| a.0.total_cmp(&b.0));
    Panel {
        title: format!("Pareto front: {mx} vs {my}"),
        x_label: format!("{mx} ({})", space.objective.directions[0].name()),
        y_label: format!("{my} ({})", space.objective.directions[1].name()),
        series: vec![
            Series {
                label: "complete trial".into(),
                color: COMPLETE,
                stroke: Stroke::Points,
                points: all,
            },
            Series {
                label: "Pareto front".into(),
                color: BEST,
                stroke: Stroke::Dots,
                points: front,
            },
        ],
        x_scale: Scale::Linear,
        x_range: None,
        y_range: None,
        marks: Vec::new(),
    }
}

/// One panel per parameter: the first objective of every complete trial against the value it
/// tried (a log axis for `loguniform`, the choices in the space file's order for `choice`),
/// the best trial in its own colour.
pub(crate) fn slices(title: &str, trials: &[Trial], space: &Space) -> Figure {
    let metric = &space.objective.metrics[0];
    let complete = complete_values(trials);
    let best_number = best(trials, space).map(|t| t.number);
    let panels = space
        .params
        .iter()
        .map(|param| {
            let (scale, x_of): (Scale, Placer) = match &param.distribution {
                Distribution::Float { log: true, .. } => {
                    (Scale::Log, Box::new(|v| v.as_f64().filter(|x| *x > 0.0)))
                }
                Distribution::Float { .. } | Distribution::Int { .. } => {
                    (Scale::Linear, Box::new(|v| v.as_f64()))
                }
                Distribution::Choice(choices) => {
                    let choices = choices.clone();
                    (
                        Scale::Categories(choices.iter().map(value_label).collect()),
                        Box::new(move |v| {
                            choices.iter().position(|c| c == v).map(|i| i as f64 + 1.0)
                        }),
                    )
                }
            };
            let point = |t: &Trial, y: f64| Some((x_of(t.params.get(&param.key)?)?, y));
            // the best trial's point, or everyone else's
            let points = |best: bool| -> Vec<(f64, f64)> {
                complete
                    .iter()
                    .filter(|(t, _)| (Some(t.number) == best_number) == best)
                    .filter_map(|(t, y)| point(t, *y))
                    .collect()
            };
            Panel {
                title: param.key.clone(),
                x_label: match scale {
                    Scale::Log => format!("{} (log scale)", param.key),
                    _ => param.key.clone(),
                },
                y_label: metric.clone(),
                series: vec![
                    // no legend in each panel (it would hide points): the title says it
                    Series {
                        label: String::new(),
                        color: COMPLETE,
                        stroke: Stroke::Points,
                        points: points(false),
                    },
                    Series {
                        label: String::new(),
                        color: BEST,
                        stroke: Stroke::Points,
                        points: points(true),
                    },
                ],
                x_scale: scale,
                x_range: None,
                y_range: None,
                marks: Vec::new(),
            }
        })
        .collect::<Vec<_>>();
    Figure {
        title: format!(
            "{title}: {metric} against each parameter (complete trials; orange: the best)"
        ),
        legend: Vec::new(),
        columns: if panels.len() > 4 { 3 } else { 2 },
        panels,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn running_best_is_a_staircase() {
        let points = [(0.0, 0.5), (1.0, 0.4), (2.0, 0.7), (3.0, 0.6)];
        assert_eq!(
            running_best(&points, Direction::Maximize),
            vec![(0.0, 0.5), (1.0, 0.5), (2.0, 0.5), (2.0, 0.7), (3.0, 0.7)]
        );
        let min = running_best(&points, Direction::Minimize);
        assert_eq!(min.last(), Some(&(3.0, 0.4)));
    }
}
