//! The parallel-coordinate plot of a study: one vertical axis for the first objective and one
//! per parameter, one line per complete trial through its values, darker for a better
//! objective, the best trial drawn last in orange. PNG and SVG, in the evaluation report's
//! style (plotters, the embedded font).
use super::labels::{number_label, value_label, Placer};
use crate::error::{Error, Result};
use crate::eval::plot::{
    blues, draw_title, fit_text, render_png, render_svg, FONT_FAMILY, MODEL_COLORS,
};
use crate::search::importance::complete_values;
use crate::search::ranking::best;
use crate::search::space::{Distribution, Space};
use crate::search::trial::Trial;
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

/// One axis: a name and labelled positions on it (0 at the bottom, 1 at the top).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Axis {
    pub(crate) name: String,
    pub(crate) ticks: Vec<(f64, String)>,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Parallel {
    pub(crate) title: String,
    /// What the colour says, under the title.
    pub(crate) legend: String,
    pub(crate) axes: Vec<Axis>,
    /// Each trial's position on every axis (`None`: it has no value there), its shade
    /// (0 worst … 1 best) and whether it is the best trial.
    pub(crate) lines: Vec<(Vec<Option<f64>>, f64, bool)>,
}

const AXIS_GAP: u32 = 230;
const HEIGHT: u32 = 640;
const SIDE: i32 = 110;
const TOP: i32 = 110;
const BOTTOM: i32 = 90;

/// Where a value sits on a parameter's axis, and the axis's labels.
fn param_axis(name: &str, distribution: &Distribution, seen: &[f64]) -> (Axis, Placer) {
    match distribution {
        Distribution::Choice(choices) => {
            let k = choices.len();
            let at = move |i: usize| {
                if k > 1 {
                    i as f64 / (k - 1) as f64
                } else {
                    0.5
                }
            };
            let ticks = choices
                .iter()
                .enumerate()
                .map(|(i, c)| (at(i), value_label(c)))
                .collect();
            let choices = choices.clone();
            (
                Axis {
                    name: name.to_string(),
                    ticks,
                },
                Box::new(move |v| choices.iter().position(|c| c == v).map(at)),
            )
        }
        Distribution::Float { .. } | Distribution::Int { .. } if !seen.is_empty() => {
            let log = matches!(distribution, Distribution::Float { log: true, .. });
            let f = move |x: f64| if log { x.ln() } else { x };
            let lo = seen.iter().copied().fold(f64::INFINITY, f64::min);
            let hi = seen.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            let (a, b) = (f(lo), f(hi));
            let t = move |x: f64| if b > a { (f(x) - a) / (b - a) } else { 0.5 };
            let mid = if log {
                (lo * hi).sqrt()
            } else {
                (lo + hi) / 2.0
            };
            let mut ticks = vec![(t(lo), number_label(lo))];
            if hi > lo {
                ticks.push((t(mid), number_label(mid)));
                ticks.push((t(hi), number_label(hi)));
            }
            let name = if log {
                format!("{name} (log)")
            } else {
                name.to_string()
            };
            (Axis { name, ticks }, Box::new(move |v| v.as_f64().map(t)))
        }
        _ => (
            Axis {
                name: name.to_string(),
                ticks: Vec::new(),
            },
            Box::new(|_| None),
        ),
    }
}

/// The plot of a study's complete trials; `None` with fewer than two.
pub(crate) fn parallel(title: &str, trials: &[Trial], space: &Space) -> Option<Parallel> {
    let complete = complete_values(trials);
    if complete.len() < 2 {
        return None;
    }
    let metric = &space.objective.metrics[0];
    let direction = space.objective.directions[0];
    let ys: Vec<f64> = complete.iter().map(|(_, y)| *y).collect();
    let (lo, hi) = (
        ys.iter().copied().fold(f64::INFINITY, f64::min),
        ys.iter().copied().fold(f64::NEG_INFINITY, f64::max),
    );
    let y_at = |y: f64| if hi > lo { (y - lo) / (hi - lo) } else { 0.5 };
    let mut objective_ticks = vec![(y_at(lo), number_label(lo))];
    if hi > lo {
        objective_ticks.push((0.5, number_label((lo + hi) / 2.0)));
        objective_ticks.push((1.0, number_label(hi)));
    }
    let mut axes = vec![Axis {
        name: metric.clone(),
        ticks: objective_ticks,
    }];
    let mut placers = Vec::new();
    for param in &space.params {
        let seen: Vec<f64> = complete
            .iter()
            .filter_map(|(t, _)| t.params.get(&param.key)?.as_f64())
            .filter(|x| x.is_finite())
            .collect();
        let (axis, place) = param_axis(&param.key, &param.distribution, &seen);
        axes.push(axis);
        placers.push(place);
    }
    let best_number = best(trials, space).map(|t| t.number);
    let mut lines: Vec<(Vec<Option<f64>>, f64, bool)> = complete
        .iter()
        .map(|(t, y)| {
            let mut at = vec![Some(y_at(*y))];
            for (param, place) in space.params.iter().zip(&placers) {
                at.push(t.params.get(&param.key).and_then(place));
            }
            // shade: 1 for the best objective value, whichever the direction
            let shade = match direction.loss(1.0) < direction.loss(0.0) {
                true => y_at(*y),
                false => 1.0 - y_at(*y),
            };
            (at, shade, Some(t.number) == best_number)
        })
        .collect();
    // worse trials first, so the better ones are drawn over them
    lines.sort_by(|a, b| {
        (a.2, a.1)
            .partial_cmp(&(b.2, b.1))
            .unwrap_or(std::cmp::Ordering::Equal)
    });
    Some(Parallel {
        title: format!("{title}: parallel coordinates (complete trials)"),
        legend: format!(
            "one line per trial; darker blue = better {metric} ({}); orange = the best trial",
            direction.name()
        ),
        axes,
        lines,
    })
}

impl Parallel {
    fn size(&self) -> (u32, u32) {
        (
            (AXIS_GAP * (self.axes.len().max(2) as u32 - 1) + 2 * SIDE as u32).max(700),
            HEIGHT,
        )
    }

    pub(crate) fn to_png(&self) -> Result<Vec<u8>> {
        let (w, h) = self.size();
        render_png(w, h, |root| self.draw(root))
    }

    pub(crate) fn to_svg(&self) -> Result<String> {
        render_svg(self.size(), |root| self.draw(root))
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<()> {
        let err = |e: DrawingAreaErrorKind<DB::ErrorType>| {
            Error::Config(format!("drawing a parallel-coordinate plot: {e}"))
        };
        root.fill(&WHITE).map_err(err)?;
        let (w, h) = root.dim_in_pixel();
        let (w, h) = (w as i32, h as i32);
        draw_title(root, &self.title).map_err(err)?;
        let note_font = (FONT_FAMILY, 17).into_font();
        let note = fit_text(root, &self.legend, &note_font, w - 40);
        root.draw_text(
            &note,
            &TextStyle::from(note_font).pos(Pos::new(HPos::Center, VPos::Top)),
            (w / 2, 56),
        )
        .map_err(err)?;
        let n = self.axes.len().max(2);
        let gap = (w - 2 * SIDE) / (n as i32 - 1);
        let x = |i: usize| SIDE + i as i32 * gap;
        let y = |t: f64| TOP + ((1.0 - t.clamp(0.0, 1.0)) * (h - TOP - BOTTOM) as f64) as i32;
        for (at, shade, is_best) in &self.lines {
            let style = if *is_best {
                MODEL_COLORS[1].stroke_width(4)
            } else {
                blues(0.3 + 0.7 * shade).mix(0.85).stroke_width(2)
            };
            // a trial without a value on an axis (enqueued without that parameter) breaks there
            let mut run: Vec<(i32, i32)> = Vec::new();
            for (i, t) in at.iter().enumerate() {
                match t {
                    Some(t) => run.push((x(i), y(*t))),
                    None => {
                        if run.len() > 1 {
                            root.draw(&PathElement::new(std::mem::take(&mut run), style))
                                .map_err(err)?;
                        }
                        run.clear();
                    }
                }
            }
            if run.len() > 1 {
                root.draw(&PathElement::new(run, style)).map_err(err)?;
            }
        }
        let tick_font = (FONT_FAMILY, 15).into_font();
        let name_font = (FONT_FAMILY, 17).into_font();
        for (i, axis) in self.axes.iter().enumerate() {
            let ink = BLACK.mix(0.7).stroke_width(2);
            root.draw(&PathElement::new(vec![(x(i), y(1.0)), (x(i), y(0.0))], ink))
                .map_err(err)?;
            for (t, label) in &axis.ticks {
                root.draw(&PathElement::new(
                    vec![(x(i) - 5, y(*t)), (x(i), y(*t))],
                    BLACK.mix(0.7).stroke_width(1),
                ))
                .map_err(err)?;
                let fitted = fit_text(root, label, &tick_font, gap - 24);
                // on a white halo, so lines behind do not hide it
                let style =
                    TextStyle::from(tick_font.clone()).pos(Pos::new(HPos::Right, VPos::Center));
                if let Ok((tw, th)) = root.estimate_text_size(&fitted, &style) {
                    root.draw(&Rectangle::new(
                        [
                            (x(i) - 8 - tw as i32 - 2, y(*t) - th as i32 / 2 - 1),
                            (x(i) - 6, y(*t) + th as i32 / 2 + 1),
                        ],
                        WHITE.mix(0.8).filled(),
                    ))
                    .map_err(err)?;
                }
                root.draw_text(&fitted, &style, (x(i) - 8, y(*t)))
                    .map_err(err)?;
            }
            let name = fit_text(root, &axis.name, &name_font, gap - 10);
            root.draw_text(
                &name,
                &TextStyle::from(name_font.clone()).pos(Pos::new(HPos::Center, VPos::Top)),
                (x(i), h - BOTTOM + 16),
            )
            .map_err(err)?;
        }
        root.present().map_err(err)?;
        Ok(())
    }
}
