//! A study's report, `OUTPUT/report/`: `index.html` (one self-contained page) with the
//! optimization history and running best (and the Pareto front of two objectives), one slice
//! plot per parameter, a parallel-coordinate plot and parameter importances (η², see
//! [`crate::search::importance`]), each chart also as PNG and SVG files beside it, in the
//! style of the evaluation report. Written from the study's trials alone, so
//! `search --report` on any machine writes the same page.
mod figures;
mod labels;
mod parallel;

use crate::error::Result;
use crate::eval::bars::{Bar, Bars};
use crate::eval::report::{data_uri_png, html_escape, STYLE};
use crate::output::{AtomicDir, Replace};
use crate::search::importance::{importances, Importance, MIN_TRIALS};
use crate::search::ranking::{best, pareto_front};
use crate::search::space::{PrunerSpec, Space};
use crate::search::trial::{state_counts, Trial};
use labels::{number_label, value_label};
use std::fmt::Write;
use std::path::{Path, PathBuf};

/// Where the study lives, for the page's header.
pub struct StudyInfo<'a> {
    pub study: &'a str,
    /// The storage URL without any password.
    pub storage: &'a str,
    pub recipe: &'a Path,
}

/// One chart: its file name (without extension), what it shows, and its images.
struct Chart {
    name: &'static str,
    alt: String,
    png: Vec<u8>,
    svg: String,
}

/// Writes `dir` (replacing an earlier report there) and returns the page's path.
pub fn write(dir: &Path, info: &StudyInfo, trials: &[Trial], space: &Space) -> Result<PathBuf> {
    let title = format!("study {}", info.study);
    let mut charts = Vec::new();
    let history = figures::history(&title, trials, space);
    charts.push(Chart {
        name: "history",
        alt:
            "The objective of every trial in the order they were created, and the best value so far"
                .into(),
        png: history.to_png()?,
        svg: history.to_svg()?,
    });
    let complete = crate::search::importance::complete_values(trials).len();
    if complete > 0 {
        let slices = figures::slices(&title, trials, space);
        charts.push(Chart {
            name: "slices",
            alt: "The objective of every complete trial against each parameter's value".into(),
            png: slices.to_png()?,
            svg: slices.to_svg()?,
        });
    }
    if let Some(plot) = parallel::parallel(&title, trials, space) {
        charts.push(Chart {
            name: "parallel",
            alt: "Parallel coordinates: each complete trial's objective and parameter values"
                .into(),
            png: plot.to_png()?,
            svg: plot.to_svg()?,
        });
    }
    let importance = importances(trials, space)?;
    if !importance.is_empty() {
        let bars = importance_bars(&title, &importance, &space.objective.metrics[0]);
        charts.push(Chart {
            name: "importance",
            alt: "Parameter importance: η² of each parameter with its bootstrap interval".into(),
            png: bars.to_png()?,
            svg: bars.to_svg()?,
        });
    }
    let out = AtomicDir::begin(dir, Replace::IfHolds("index.html"))?;
    for c in &charts {
        out.write(&format!("{}.png", c.name), &c.png)?;
        out.write(&format!("{}.svg", c.name), c.svg.as_bytes())?;
    }
    let html = page(info, trials, space, &charts, &importance, complete);
    out.write("index.html", html.as_bytes())?;
    out.commit()?;
    Ok(dir.join("index.html"))
}

fn importance_bars(title: &str, importance: &[Importance], metric: &str) -> Bars {
    Bars {
        title: format!("{title}: parameter importance for {metric} (η², 95% bootstrap interval)"),
        y_label: "η²: share of the objective's variance".into(),
        models: vec!["η² of the parameter alone".into()],
        groups: importance
            .iter()
            .map(|i| {
                (
                    i.key.clone(),
                    vec![Bar {
                        value: if i.eta_squared.is_finite() {
                            i.eta_squared
                        } else {
                            0.0
                        },
                        low: i.ci.0,
                        high: i.ci.1,
                    }],
                )
            })
            .collect(),
    }
}

fn pruner_text(p: &PrunerSpec) -> String {
    match p {
        PrunerSpec::None => "none".into(),
        PrunerSpec::Median { n_startup_trials } => {
            format!("median (n_startup_trials = {n_startup_trials})")
        }
        PrunerSpec::Asha {
            min_resource,
            reduction_factor,
        } => format!("asha (min_resource = {min_resource}, reduction_factor = {reduction_factor})"),
    }
}

fn values_text(t: &Trial) -> String {
    match &t.values {
        Some(v) => v
            .iter()
            .map(|x| number_label(*x))
            .collect::<Vec<_>>()
            .join(", "),
        None => "–".into(),
    }
}

fn seconds_text(s: f64) -> String {
    if s >= 3600.0 {
        format!("{:.1} h", s / 3600.0)
    } else if s >= 60.0 {
        format!("{:.1} min", s / 60.0)
    } else {
        format!("{s:.1} s")
    }
}

fn page(
    info: &StudyInfo,
    trials: &[Trial],
    space: &Space,
    charts: &[Chart],
    importance: &[Importance],
    complete: usize,
) -> String {
    let e = html_escape;
    let mut h = String::new();
    let title = format!("Search: study {}", info.study);
    let objective = space
        .objective
        .metrics
        .iter()
        .zip(&space.objective.directions)
        .map(|(m, d)| format!("{m} ({})", d.name()))
        .collect::<Vec<_>>()
        .join(", ");
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>{t}</title>\n<style>{STYLE}{WIDE_TABLE}</style>\n</head>\n<body>\n<h1>{t}</h1>\n",
        t = e(&title)
    );
    let _ = writeln!(
        h,
        "<p class=\"note\">Objective: {}. Recipe {}; space {}; storage {}; pruner {}.</p>",
        e(&objective),
        e(&info.recipe.display().to_string()),
        e(&space.path.display().to_string()),
        e(info.storage),
        e(&pruner_text(&space.pruner)),
    );

    // Summary.
    let compute: f64 = trials.iter().filter_map(|t| t.duration).sum();
    let starts = trials.iter().filter_map(|t| t.started);
    let ends = trials
        .iter()
        .filter_map(|t| Some(t.started? + t.duration.unwrap_or(0.0)));
    let span = match (
        starts.fold(f64::INFINITY, f64::min),
        ends.fold(f64::NEG_INFINITY, f64::max),
    ) {
        (a, b) if b >= a => Some(b - a),
        _ => None,
    };
    h.push_str("<h2>Summary</h2>\n<table class=\"meta\">\n");
    let mut row = |k: &str, v: String| {
        let _ = writeln!(h, "<tr><td>{}</td><td>{}</td></tr>", e(k), e(&v));
    };
    row("trials", state_counts(trials));
    let best = best(trials, space);
    match best {
        Some(b) => {
            row(
                "best trial",
                format!("{} ({objective} = {})", b.number, values_text(b)),
            );
            for (k, v) in &b.params {
                row(&format!("best: {k}"), value_label(v));
            }
        }
        None => row("best trial", "no trial completed yet".into()),
    }
    row("time in trials", seconds_text(compute));
    if let Some(span) = span {
        row("first start to last end", seconds_text(span));
    }
    h.push_str("</table>\n");

    for c in charts {
        let heading = match c.name {
            "history" => "Optimization history",
            "slices" => "Slices",
            "parallel" => "Parallel coordinates",
            _ => "Parameter importance",
        };
        let _ = writeln!(
            h,
            "<h2>{heading}</h2>\n<p class=\"note\"><a href=\"{n}.svg\">{n}.svg</a> · <a href=\"{n}.png\">{n}.png</a></p>\n<img src=\"{}\" alt=\"{}\">",
            data_uri_png(&c.png),
            e(&c.alt),
            n = c.name
        );
        match c.name {
            "history" if space.objective.metrics.len() > 1 => {
                pareto_table(&mut h, trials, space);
            }
            "slices" => {
                let _ = writeln!(
                    h,
                    "<p class=\"note\">Complete trials only: a pruned trial's value comes from fewer evaluations and is not comparable.</p>"
                );
            }
            "importance" => {
                importance_table(&mut h, importance, complete, &space.objective.metrics[0])
            }
            _ => {}
        }
    }
    if complete < MIN_TRIALS {
        let _ = writeln!(
            h,
            "<p class=\"note\">{complete} complete trial(s): parameter importance needs at least {MIN_TRIALS}.</p>"
        );
    }

    // Every trial.
    let _ = writeln!(h, "<h2>Trials ({})</h2>", trials.len());
    h.push_str(
        "<table class=\"summary trials\">\n<tr><th class=\"n\">trial</th><th class=\"state\">state</th>",
    );
    let _ = write!(h, "<th>{}</th>", e(&space.objective.metrics.join(", ")));
    for p in &space.params {
        let _ = write!(h, "<th>{}</th>", e(&p.key));
    }
    h.push_str("<th>evaluations</th><th>duration</th><th>worker host</th><th class=\"why\">note</th></tr>\n");
    for t in trials {
        let class = if best.is_some_and(|b| b.number == t.number) {
            " class=\"better\""
        } else {
            ""
        };
        let _ = write!(
            h,
            "<tr><td class=\"num\"><span{class}>{}</span></td><td>{}</td><td class=\"num\">{}</td>",
            t.number,
            t.state.name(),
            e(&values_text(t))
        );
        for p in &space.params {
            let v = t
                .params
                .get(&p.key)
                .map(value_label)
                .unwrap_or_else(|| "–".into());
            let _ = write!(h, "<td>{}</td>", e(&v));
        }
        let _ = writeln!(
            h,
            "<td class=\"num\">{}</td><td class=\"num\">{}</td><td>{}</td><td class=\"why\">{}</td></tr>",
            t.intermediate.len(),
            t.duration.map(seconds_text).unwrap_or_else(|| "–".into()),
            e(&t.host),
            e(t.note.as_deref().unwrap_or_default())
        );
    }
    h.push_str("</table>\n</body>\n</html>\n");
    h
}

/// The trials table has a column per parameter: it takes the page's width and wraps long
/// values inside their cells rather than making the page scroll sideways; the reason a trial
/// was pruned or failed gets the widest column.
const WIDE_TABLE: &str = "table.trials { table-layout: fixed; width: 100%; }\n\
table.trials td, table.trials th { font-size: .85rem; overflow-wrap: break-word; }\n\
table.trials td.num { white-space: normal; }\n\
table.trials th.why { width: 22%; } table.trials th.n { width: 3.5rem; }\n\
table.trials th.state { width: 6.5rem; }\n";

fn pareto_table(h: &mut String, trials: &[Trial], space: &Space) {
    let e = html_escape;
    let front = pareto_front(trials, space);
    let _ = writeln!(
        h,
        "<p class=\"note\">The Pareto front: {} complete trial(s) that no other trial beats on every objective (also in <code>pareto.jsonl</code>).</p>\n<table class=\"summary\">\n<tr><th>trial</th><th>{}</th><th>parameters</th></tr>",
        front.len(),
        e(&space.objective.metrics.join(", "))
    );
    for t in front {
        let params = t
            .params
            .iter()
            .map(|(k, v)| format!("{k} = {}", value_label(v)))
            .collect::<Vec<_>>()
            .join("; ");
        let _ = writeln!(
            h,
            "<tr><td class=\"num\">{}</td><td class=\"num\">{}</td><td>{}</td></tr>",
            t.number,
            e(&values_text(t)),
            e(&params)
        );
    }
    h.push_str("</table>\n");
}

fn importance_table(h: &mut String, importance: &[Importance], complete: usize, metric: &str) {
    let e = html_escape;
    let _ = writeln!(
        h,
        "<p class=\"note\">Method: η² (eta squared), the share of {m}'s variance over the {complete} complete trials that the parameter's groups explain on their own (one-way ANOVA: between-group over total sum of squares). Choices and parameters with few values group by value; continuous ranges split at their quantiles into at most 4 groups. This is not fANOVA (Optuna's default importance): it ignores interactions, and with k groups and n trials chance alone gives about (k − 1)/(n − 1), shown as “chance”. TPE draws good regions more often, so a parameter sampled together with another's good values can look important without mattering itself. Interval: 95% bootstrap percentile interval over the trials (1,000 resamples, seed 0).</p>",
        m = e(metric)
    );
    h.push_str("<table class=\"summary\">\n<tr><th>parameter</th><th>groups</th><th>η²</th><th>95% interval</th><th>chance</th></tr>\n");
    let fmt = |x: f64| {
        if x.is_finite() {
            format!("{x:.3}")
        } else {
            "–".into()
        }
    };
    for i in importance {
        let _ = writeln!(
            h,
            "<tr><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">[{}, {}]</td><td class=\"num\">{}</td></tr>",
            e(&i.key),
            i.groups,
            fmt(i.eta_squared),
            fmt(i.ci.0),
            fmt(i.ci.1),
            fmt(i.chance)
        );
    }
    h.push_str("</table>\n");
}
