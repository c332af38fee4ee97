//! Training curves from a run's `metrics.jsonl`: the loss per logged step with a smoothed
//! line, the learning rate, the gradient norm and every validation metric over the steps,
//! the best evaluation marked. One run, or several overlaid (to compare recipes or search
//! trials; the legend names each run by its folder).
//!
//! `loratune train` and `run` write `OUTPUT_DIR/training.png` and `training.svg`;
//! `loratune plot RUN_DIR...` draws any runs; the evaluation report shows the run's curves.
use super::lines::{Figure, Panel, Scale, Series, Stroke};
use crate::error::{Error, Result};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// File names of the figure in a run folder.
pub const PNG_FILE: &str = "training.png";
pub const SVG_FILE: &str = "training.svg";
const METRICS_FILE: &str = "metrics.jsonl";

/// TensorBoard's default smoothing weight (an exponential moving average, debiased).
const SMOOTHING: f64 = 0.6;

/// One training log line.
#[derive(Debug, Clone, Copy, PartialEq)]
struct TrainPoint {
    step: f64,
    loss: f64,
    learning_rate: f64,
    grad_norm: f64,
}

/// What a run's `metrics.jsonl` holds.
#[derive(Debug, Clone, PartialEq)]
pub struct RunCurves {
    /// The run's name in legends (its folder's name).
    pub name: String,
    train: Vec<TrainPoint>,
    /// Validation metric → (step, value), in step order.
    evals: BTreeMap<String, Vec<(f64, f64)>>,
    /// The metric that picks the best model, and its best (step, value).
    best: Option<(String, f64, f64)>,
}

impl RunCurves {
    /// Reads `dir/metrics.jsonl` (and `dir/recipe.toml` for `train.metric_for_best_model`).
    pub fn read(dir: &Path) -> Result<Self> {
        let path = dir.join(METRICS_FILE);
        let text = std::fs::read_to_string(&path).map_err(|e| Error::io(&path, e))?;
        let mut train = Vec::new();
        let mut evals: BTreeMap<String, Vec<(f64, f64)>> = BTreeMap::new();
        for (i, line) in text.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            let at = |what: String| Error::file(&path, format!("line {}: {what}", i + 1));
            let record: serde_json::Value =
                serde_json::from_str(line).map_err(|e| at(e.to_string()))?;
            let step = record["step"]
                .as_f64()
                .ok_or_else(|| at("no \"step\"".into()))?;
            if let Some(loss) = record["loss"].as_f64() {
                let field = |name: &str| record[name].as_f64().unwrap_or(f64::NAN);
                train.push(TrainPoint {
                    step,
                    loss,
                    learning_rate: field("learning_rate"),
                    grad_norm: field("grad_norm"),
                });
                continue;
            }
            let Some(fields) = record.as_object() else {
                return Err(at("not a JSON object".into()));
            };
            for (key, value) in fields {
                if let (true, Some(v)) = (key.starts_with("eval_"), value.as_f64()) {
                    evals.entry(key.clone()).or_default().push((step, v));
                }
            }
        }
        if train.is_empty() && evals.is_empty() {
            return Err(Error::file(
                &path,
                "holds no training log line yet (lines are written every train.logging_steps steps)",
            ));
        }
        let best = best_of(&evals, best_metric_setting(dir)?.as_deref());
        Ok(RunCurves {
            name: run_name(dir),
            train,
            evals,
            best,
        })
    }

    /// The best evaluation: (metric, step, value).
    pub fn best(&self) -> Option<(&str, f64, f64)> {
        self.best.as_ref().map(|(m, s, v)| (m.as_str(), *s, *v))
    }
}

/// A run folder's name for legends: its last component (`.` resolved).
fn run_name(dir: &Path) -> String {
    let absolute = std::path::absolute(dir).unwrap_or_else(|_| dir.to_path_buf());
    absolute
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| dir.display().to_string())
}

/// `train.metric_for_best_model` of the run's `recipe.toml`, when it has one.
fn best_metric_setting(dir: &Path) -> Result<Option<String>> {
    let path = dir.join("recipe.toml");
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::io(&path, e)),
    };
    let value: toml::Value =
        toml::from_str(&text).map_err(|e| Error::file(&path, e.message().to_string()))?;
    Ok(value
        .get("train")
        .and_then(|t| t.get("metric_for_best_model"))
        .and_then(|m| m.as_str())
        .map(str::to_string))
}

/// The best evaluation as the trainer picks it: `metric` (else `eval_f1` when logged, else
/// `eval_loss`), lowest for losses, highest otherwise, the first of equal values.
fn best_of(
    evals: &BTreeMap<String, Vec<(f64, f64)>>,
    metric: Option<&str>,
) -> Option<(String, f64, f64)> {
    let name = match metric {
        Some(m) if m.starts_with("eval_") => m.to_string(),
        Some(m) => format!("eval_{m}"),
        None if evals.contains_key("eval_f1") => "eval_f1".into(),
        None => "eval_loss".into(),
    };
    let lower = name.contains("loss");
    let mut best: Option<(f64, f64)> = None;
    for &(step, v) in evals.get(&name)? {
        let better = best.is_none_or(|(_, b)| if lower { v < b } else { v > b });
        if v.is_finite() && better {
            best = Some((step, v));
        }
    }
    best.map(|(step, v)| (name, step, v))
}

/// TensorBoard's smoothing: an exponential moving average, debiased at the start.
fn smoothed(values: &[f64]) -> Vec<f64> {
    let mut last = 0.0;
    let mut out = Vec::with_capacity(values.len());
    for (i, v) in values.iter().enumerate() {
        last = last * SMOOTHING + (1.0 - SMOOTHING) * v;
        out.push(last / (1.0 - SMOOTHING.powi(i as i32 + 1)));
    }
    out
}

/// "eval_loss" → "validation loss".
fn metric_title(key: &str) -> String {
    format!("validation {}", key.strip_prefix("eval_").unwrap_or(key))
}

/// The figure of one run or several overlaid.
pub(crate) fn figure(runs: &[RunCurves]) -> Figure {
    let overlay = runs.len() > 1;
    let title = if overlay {
        format!("Training curves of {} runs", runs.len())
    } else {
        format!(
            "Training curves: {}",
            runs.first().map_or("", |r| r.name.as_str())
        )
    };
    let legend = if overlay {
        runs.iter()
            .enumerate()
            .map(|(i, r)| (r.name.clone(), i))
            .collect()
    } else {
        Vec::new()
    };
    let panel = |title: &str, y: &str| Panel {
        title: title.into(),
        x_label: "step".into(),
        y_label: y.into(),
        series: Vec::new(),
        x_scale: Scale::Linear,
        x_range: None,
        y_range: None,
        marks: Vec::new(),
    };
    let mut loss = panel("training loss", "loss");
    let mut lr = panel("learning rate", "learning rate");
    let mut grad = panel("gradient norm (before clipping)", "norm");
    let mut metrics: BTreeMap<&str, Panel> = BTreeMap::new();
    for (i, run) in runs.iter().enumerate() {
        let steps: Vec<f64> = run.train.iter().map(|p| p.step).collect();
        let losses: Vec<f64> = run.train.iter().map(|p| p.loss).collect();
        let line = |label: &str, stroke, ys: &[f64]| Series {
            label: if overlay { String::new() } else { label.into() },
            color: i,
            stroke,
            points: steps.iter().copied().zip(ys.iter().copied()).collect(),
        };
        if !run.train.is_empty() {
            loss.series.push(line("logged", Stroke::Faint, &losses));
            loss.series
                .push(line("smoothed", Stroke::Line, &smoothed(&losses)));
            let rates: Vec<f64> = run.train.iter().map(|p| p.learning_rate).collect();
            lr.series.push(line("", Stroke::Line, &rates));
            let norms: Vec<f64> = run.train.iter().map(|p| p.grad_norm).collect();
            grad.series.push(line("", Stroke::Line, &norms));
        }
        for (key, points) in &run.evals {
            let p = metrics
                .entry(key.as_str())
                .or_insert_with(|| panel(&metric_title(key), key));
            p.series.push(Series {
                label: String::new(),
                color: i,
                stroke: Stroke::Dots,
                points: points.clone(),
            });
        }
        if let Some((metric, step, value)) = &run.best {
            let label = format!("best {value:.4} at step {step}");
            if let Some(p) = metrics.get_mut(metric.as_str()) {
                p.marks.push((*step, i, label));
            }
            loss.marks.push((*step, i, String::new()));
        }
    }
    let mut panels = vec![loss, lr, grad];
    panels.extend(metrics.into_values());
    panels.retain(|p| !p.series.is_empty());
    Figure {
        title,
        legend,
        panels,
        columns: 2,
    }
}

/// Draws `runs` as a PNG file's bytes and an SVG document.
pub fn render(runs: &[RunCurves]) -> Result<(Vec<u8>, String)> {
    let f = figure(runs);
    Ok((f.to_png()?, f.to_svg()?))
}

/// Writes `dir/training.png` and `dir/training.svg` from `dir/metrics.jsonl`, atomically.
pub fn write_run_figures(dir: &Path) -> Result<[PathBuf; 2]> {
    let (png, svg) = render(&[RunCurves::read(dir)?])?;
    let paths = [dir.join(PNG_FILE), dir.join(SVG_FILE)];
    crate::output::write_atomic(&paths[0], &png)?;
    crate::output::write_atomic(&paths[1], svg.as_bytes())?;
    Ok(paths)
}

/// `loratune plot`: the curves of `runs` overlaid, written to `output` (`.png` or `.svg`), or
/// without `output` as `training.png` and `training.svg` in the run folder (one run) or in
/// the current folder (several).
pub fn write_plot(runs: &[PathBuf], output: Option<&Path>) -> Result<Vec<PathBuf>> {
    if runs.is_empty() {
        return Err(Error::Config("plot: name at least one run folder".into()));
    }
    let mut curves = runs
        .iter()
        .map(|d| RunCurves::read(d))
        .collect::<Result<Vec<_>>>()?;
    disambiguate(&mut curves, runs);
    let (png, svg) = render(&curves)?;
    let targets: Vec<PathBuf> = match output {
        Some(path) => vec![path.to_path_buf()],
        None => {
            let dir = if runs.len() == 1 {
                runs[0].clone()
            } else {
                PathBuf::from(".")
            };
            vec![dir.join(PNG_FILE), dir.join(SVG_FILE)]
        }
    };
    for path in &targets {
        match path.extension().and_then(|e| e.to_str()) {
            Some(ext) if ext.eq_ignore_ascii_case("png") => {
                crate::output::write_atomic(path, &png)?
            }
            Some(ext) if ext.eq_ignore_ascii_case("svg") => {
                crate::output::write_atomic(path, svg.as_bytes())?
            }
            _ => {
                return Err(Error::file(
                    path,
                    "--output must end in .png or .svg (the format is taken from it)",
                ))
            }
        }
    }
    Ok(targets)
}

/// Runs whose folders share a name (`a/run`, `b/run`) are named with their parent too.
fn disambiguate(curves: &mut [RunCurves], dirs: &[PathBuf]) {
    let names: Vec<String> = curves.iter().map(|c| c.name.clone()).collect();
    for (c, dir) in curves.iter_mut().zip(dirs) {
        if names.iter().filter(|n| **n == c.name).count() > 1 {
            let absolute = std::path::absolute(dir).unwrap_or_else(|_| dir.clone());
            if let Some(parent) = absolute.parent().and_then(Path::file_name) {
                c.name = format!("{}/{}", parent.to_string_lossy(), c.name);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(dir: &Path, lines: &str) {
        std::fs::create_dir_all(dir).unwrap();
        std::fs::write(dir.join(METRICS_FILE), lines).unwrap();
    }

    const LOG: &str = r#"{"step": 1, "epoch": 0.5, "loss": 0.7, "learning_rate": 0.001, "grad_norm": 1.5}
{"step": 2, "epoch": 1.0, "loss": 0.5, "learning_rate": 0.0005, "grad_norm": 1.0}
{"step": 2, "epoch": 1.0, "eval_loss": 0.6, "eval_f1": 0.4}
{"step": 3, "epoch": 1.0, "skipped_nonfinite": true, "skipped_so_far": 1}
{"step": 4, "epoch": 2.0, "loss": 0.3, "learning_rate": 0.0, "grad_norm": 0.5}
{"step": 4, "epoch": 2.0, "eval_loss": 0.55, "eval_f1": 0.8}
"#;

    #[test]
    fn reads_the_log_and_finds_the_best() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("run-a");
        run(&dir, LOG);
        let c = RunCurves::read(&dir).unwrap();
        assert_eq!(c.name, "run-a");
        assert_eq!(c.train.len(), 3);
        assert_eq!(c.evals["eval_f1"], vec![(2.0, 0.4), (4.0, 0.8)]);
        // eval_f1 is the default metric for best model when logged
        assert_eq!(c.best(), Some(("eval_f1", 4.0, 0.8)));
        std::fs::write(
            dir.join("recipe.toml"),
            "[train]\nmetric_for_best_model = \"loss\"\n",
        )
        .unwrap();
        let c = RunCurves::read(&dir).unwrap();
        assert_eq!(c.best(), Some(("eval_loss", 4.0, 0.55)));
        let f = figure(&[c]);
        let titles: Vec<&str> = f.panels.iter().map(|p| p.title.as_str()).collect();
        assert_eq!(
            titles,
            [
                "training loss",
                "learning rate",
                "gradient norm (before clipping)",
                "validation f1",
                "validation loss"
            ]
        );
        assert_eq!(f.panels[4].marks[0].0, 4.0);
    }

    #[test]
    fn bad_lines_name_file_and_line() {
        let tmp = tempfile::tempdir().unwrap();
        run(tmp.path(), "{\"step\": 1, \"loss\": 0.5}\nnot json\n");
        let err = RunCurves::read(tmp.path()).unwrap_err().to_string();
        assert!(
            err.contains("metrics.jsonl") && err.contains("line 2"),
            "{err}"
        );
        run(tmp.path(), "");
        let err = RunCurves::read(tmp.path()).unwrap_err().to_string();
        assert!(err.contains("no training log line"), "{err}");
    }

    #[test]
    fn smoothing_is_debiased() {
        let s = smoothed(&[1.0, 1.0, 1.0]);
        assert!(s.iter().all(|v| (v - 1.0).abs() < 1e-12), "{s:?}");
        let s = smoothed(&[0.0, 1.0]);
        // (0.4 · 1) / (1 − 0.36)
        assert!((s[1] - 0.625).abs() < 1e-12);
    }

    #[test]
    fn plot_overlays_and_writes() {
        let tmp = tempfile::tempdir().unwrap();
        let (a, b) = (tmp.path().join("x/run"), tmp.path().join("y/run"));
        run(&a, LOG);
        run(&b, LOG);
        let out = tmp.path().join("both.svg");
        let written = write_plot(&[a.clone(), b], Some(&out)).unwrap();
        assert_eq!(written, vec![out.clone()]);
        let svg = std::fs::read_to_string(&out).unwrap();
        assert!(
            svg.contains("\nx/run\n") && svg.contains("\ny/run\n"),
            "legend names both runs"
        );
        let err = write_plot(std::slice::from_ref(&a), Some(&tmp.path().join("p.jpg")))
            .unwrap_err()
            .to_string();
        assert!(err.contains(".png or .svg"), "{err}");
        let paths = write_run_figures(&a).unwrap();
        assert!(paths.iter().all(|p| p.is_file()));
    }
}
