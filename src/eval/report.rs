//! The evaluation report: per-example outputs and metrics of the base and the tuned model,
//! summary statistics with paired comparisons, charts, and one self-contained HTML page.
//!
//! [`write_report`] writes, atomically (into a temporary sibling directory that is renamed
//! into place), the directory `dir` (normally `OUTPUT_DIR/report`):
//!
//! | file | content |
//! |---|---|
//! | `examples.jsonl` | one [`ReportExample`] per line |
//! | `summary.json` | [`ReportMeta`], the statistics' settings, per metric a [`MetricSummary`], and for classification both models' [`ClassificationMetrics`] |
//! | `boxplot.png`, `boxplot.svg` | grouped box plots: metrics on x, one box per model |
//! | `confusion.png` | classification only: both confusion matrices side by side |
//! | `metrics.png` | classification only: accuracy, precision, recall, F1 with bootstrap intervals |
//! | `curves.png` | classification with class probabilities: ROC and precision-recall curves |
//! | `index.html` | everything above on one page (PNGs as base64 data URIs), and the run's training curves when the report is in a run folder with `metrics.jsonl` |
//!
//! For classification with class probabilities ([`write_report_with_scores`]), `boxplot.*`
//! shows the probability each model gives the true class instead of per-example metrics.
//!
//! Statistics (see [`super::stats`]): per metric and model the mean, median and sample
//! standard deviation (ddof = 1); the paired difference tuned − base with its mean, a seeded
//! bootstrap percentile interval ([`SummarySettings`]: 10,000 resamples, 95 % by default) and
//! the two-sided Wilcoxon signed-rank p-value of `scipy.stats.wilcoxon(tuned, base)`.
use crate::data::classification_metrics::ClassificationMetrics;
use crate::error::{Error, Result};
use crate::eval::classification_charts::{self, AucSummary, ClassScores};
use crate::eval::plot::{self, Boxplot, ConfusionPanel, MetricSeries};
use crate::eval::stats::{self, Wilcoxon, WilcoxonMethod};
use crate::eval::training_curves::{self, RunCurves};
use crate::output::{AtomicDir, Replace};
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::Read;
use std::path::{Path, PathBuf};

pub(crate) use crate::eval::plot::{BASE, TUNED};
pub use crate::eval::stats::SummarySettings;

/// One evaluated example: a line of `examples.jsonl`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReportExample {
    /// The sample's id from the data (or its index when the data has none).
    pub id: Value,
    pub input: String,
    pub reference: String,
    pub base_output: String,
    pub tuned_output: String,
    /// Every metric of the base model's output on this example.
    pub base_metrics: BTreeMap<String, f64>,
    /// Every metric of the tuned model's output; must have the same metric names.
    pub tuned_metrics: BTreeMap<String, f64>,
}

/// Everything needed to reproduce the report, written into `summary.json` and `index.html`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReportMeta {
    /// Page title.
    pub title: String,
    /// `env!("CARGO_PKG_VERSION")` by default.
    pub loratune_version: String,
    /// `"seq2seq"` or `"classification"` (free text).
    pub task: String,
    /// Base model (Hub id with revision, or path).
    pub base_model: String,
    /// Adapter directory or merged model the tuned outputs came from.
    pub adapter: String,
    pub dtype: String,
    pub device: String,
    /// Every seed used (e.g. `"data_split"`, `"bootstrap"`, `"sampling"`).
    pub seeds: BTreeMap<String, u64>,
    /// Ids of the evaluated samples, in order.
    pub sample_ids: Vec<Value>,
    /// sha256 checksums (see [`checksum_files`]), e.g. `"base_model"`, `"adapter"`.
    pub checksums: BTreeMap<String, String>,
    /// Free-form settings: metric settings (see [`rouge_settings`]; BERTScore model, layer,
    /// IDF, baseline rescaling and hash), generation settings, data settings, ….
    pub settings: BTreeMap<String, Value>,
    /// Settings of the paired statistics.
    pub statistics: SummarySettings,
}

impl Default for ReportMeta {
    fn default() -> Self {
        ReportMeta {
            title: "loratune evaluation: base vs tuned".into(),
            loratune_version: env!("CARGO_PKG_VERSION").into(),
            task: String::new(),
            base_model: String::new(),
            adapter: String::new(),
            dtype: String::new(),
            device: String::new(),
            seeds: BTreeMap::new(),
            sample_ids: Vec::new(),
            checksums: BTreeMap::new(),
            settings: BTreeMap::new(),
            statistics: SummarySettings::default(),
        }
    }
}

/// The settings of [`super::rouge`], for [`ReportMeta::settings`] under `"rouge"`.
pub fn rouge_settings(use_stemmer: bool) -> Value {
    json!({
        "implementation": "loratune::eval::rouge, identical to rouge_score 0.1.2 RougeScorer",
        "rouge_types": ["rouge1", "rouge2", "rougeL", "rougeLsum"],
        "score": "fmeasure",
        "tokenizer": "rouge_score default: lowercase, runs of non-[a-z0-9] characters separate tokens",
        "use_stemmer": use_stemmer,
        "stemmer": if use_stemmer { "NLTK Porter (tokens longer than 3 characters)" } else { "none" },
        "rougeLsum_sentence_split": "newline only (no sentence tokenizer), empty lines dropped",
    })
}

/// Mean, median and sample standard deviation of one model's values of one metric.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub(crate) struct ModelStats {
    pub(crate) mean: f64,
    pub(crate) median: f64,
    /// Sample standard deviation (ddof = 1).
    pub(crate) std: f64,
}

impl ModelStats {
    fn of(values: &[f64]) -> Self {
        ModelStats {
            mean: stats::mean(values),
            median: stats::median(values),
            std: stats::std(values),
        }
    }
}

/// The paired difference tuned − base of one metric.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub(crate) struct PairedDifference {
    pub(crate) mean: f64,
    pub(crate) median: f64,
    pub(crate) ci_low: f64,
    pub(crate) ci_high: f64,
    /// Confidence level of `ci_low..ci_high` (0.95).
    pub(crate) confidence: f64,
    /// Two-sided Wilcoxon signed-rank p-value.
    pub(crate) p_value: f64,
    pub(crate) wilcoxon_statistic: f64,
    pub(crate) wilcoxon_method: WilcoxonMethod,
    /// Examples where tuned == base (dropped by the Wilcoxon test).
    pub(crate) ties: usize,
    /// Examples where tuned > base / tuned < base.
    pub(crate) tuned_better: usize,
    pub(crate) base_better: usize,
}

/// Summary of one metric over all examples.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetricSummary {
    pub(crate) metric: String,
    pub(crate) n: usize,
    pub(crate) base: ModelStats,
    pub(crate) tuned: ModelStats,
    pub(crate) difference: PairedDifference,
}

/// The per-example values of one metric for both models, in example order.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct MetricValues {
    pub(crate) metric: String,
    pub(crate) base: Vec<f64>,
    pub(crate) tuned: Vec<f64>,
}

/// The per-example values of every metric, metrics in name order. Every example must have
/// every metric, finite, for both models.
pub(crate) fn metric_values(examples: &[ReportExample]) -> Result<Vec<MetricValues>> {
    let mut names: Vec<&String> = examples
        .iter()
        .flat_map(|e| e.base_metrics.keys().chain(e.tuned_metrics.keys()))
        .collect();
    names.sort();
    names.dedup();
    let mut out = Vec::with_capacity(names.len());
    for name in names {
        let mut base = Vec::with_capacity(examples.len());
        let mut tuned = Vec::with_capacity(examples.len());
        for e in examples {
            match (e.base_metrics.get(name), e.tuned_metrics.get(name)) {
                (Some(&b), Some(&t)) if b.is_finite() && t.is_finite() => {
                    base.push(b);
                    tuned.push(t);
                }
                (Some(b), Some(t)) => {
                    return Err(Error::Config(format!(
                        "report: example {}: metric '{name}' is not finite (base {b}, tuned {t})",
                        e.id
                    )))
                }
                (b, _) => {
                    return Err(Error::Config(format!(
                        "report: example {}: metric '{name}' is missing for the {} model",
                        e.id,
                        if b.is_none() { BASE } else { TUNED }
                    )))
                }
            }
        }
        out.push(MetricValues {
            metric: name.clone(),
            base,
            tuned,
        });
    }
    Ok(out)
}

/// Per-metric statistics of paired values (see [`metric_values`]).
pub(crate) fn summarize_values(
    values: Vec<MetricValues>,
    settings: &SummarySettings,
) -> Result<Vec<MetricSummary>> {
    values
        .into_iter()
        .map(
            |MetricValues {
                 metric,
                 base,
                 tuned,
             }| {
                let diffs: Vec<f64> = tuned.iter().zip(&base).map(|(t, b)| t - b).collect();
                let ci = stats::bootstrap_mean_ci(
                    &diffs,
                    settings.bootstrap_resamples,
                    settings.confidence,
                    settings.bootstrap_seed,
                )?;
                let w: Wilcoxon = stats::wilcoxon(&tuned, &base)?;
                Ok(MetricSummary {
                    n: base.len(),
                    base: ModelStats::of(&base),
                    tuned: ModelStats::of(&tuned),
                    difference: PairedDifference {
                        mean: stats::mean(&diffs),
                        median: stats::median(&diffs),
                        ci_low: ci.low,
                        ci_high: ci.high,
                        confidence: ci.confidence,
                        p_value: w.pvalue,
                        wilcoxon_statistic: w.statistic,
                        wilcoxon_method: w.method,
                        ties: w.zeros,
                        tuned_better: diffs.iter().filter(|d| **d > 0.0).count(),
                        base_better: diffs.iter().filter(|d| **d < 0.0).count(),
                    },
                    metric,
                })
            },
        )
        .collect()
}

/// Both models' classification metrics and the class names, for classification reports.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClassificationReport {
    pub base: ClassificationMetrics,
    pub tuned: ClassificationMetrics,
    /// Class names, index = class id.
    pub label_names: Vec<String>,
}

/// The files [`write_report`] wrote.
#[derive(Debug, Clone, PartialEq)]
pub struct ReportPaths {
    pub(crate) dir: PathBuf,
    pub(crate) examples: PathBuf,
    pub(crate) summary: PathBuf,
    pub(crate) boxplot_png: PathBuf,
    pub(crate) boxplot_svg: PathBuf,
    /// Classification reports only.
    pub confusion_png: Option<PathBuf>,
    /// Classification reports only: metrics with bootstrap intervals.
    pub metrics_png: Option<PathBuf>,
    /// Classification reports with class probabilities: ROC and precision-recall curves.
    pub curves_png: Option<PathBuf>,
    pub index_html: PathBuf,
}

/// What [`write_report`] wrote and computed.
#[derive(Debug, Clone, PartialEq)]
pub struct WrittenReport {
    pub paths: ReportPaths,
    pub summary: Vec<MetricSummary>,
}

fn statistics_json(settings: &SummarySettings) -> Value {
    json!({
        "std": "sample standard deviation (ddof = 1, pandas' default)",
        "difference": "tuned - base, per example",
        "bootstrap": {
            "statistic": "mean of the paired differences",
            "method": "percentile (NumPy linear interpolation), resampling examples with replacement",
            "resamples": settings.bootstrap_resamples,
            "confidence": settings.confidence,
            "seed": settings.bootstrap_seed,
            "rng": "ChaCha20 (rand_chacha), key (seed, bootstrap)",
        },
        "wilcoxon": "scipy.stats.wilcoxon(tuned, base) defaults (SciPy 1.17): zero_method='wilcox', correction=False, alternative='two-sided', method='auto' (exact for n <= 50 without ties or zeros; exact sign-flip permutation for n <= 13 with ties or zeros; otherwise normal approximation with tie correction)",
    })
}

/// The content of `summary.json`.
pub(crate) fn summary_json(
    meta: &ReportMeta,
    summary: &[MetricSummary],
    classification: Option<&ClassificationReport>,
) -> Value {
    let metrics: serde_json::Map<String, Value> = summary
        .iter()
        .map(|s| {
            (
                s.metric.clone(),
                json!({
                    "n": s.n,
                    BASE: s.base,
                    TUNED: s.tuned,
                    "difference": s.difference,
                }),
            )
        })
        .collect();
    let mut out = json!({
        "loratune_version": meta.loratune_version,
        "meta": meta,
        "statistics": statistics_json(&meta.statistics),
        "examples": summary.first().map(|s| s.n).unwrap_or(meta.sample_ids.len()),
        "metric_order": summary.iter().map(|s| s.metric.as_str()).collect::<Vec<_>>(),
        "metrics": metrics,
    });
    if let Some(c) = classification {
        out["classification"] = json!({
            "label_names": c.label_names,
            BASE: c.base,
            TUNED: c.tuned,
        });
    }
    out
}

/// sha256 of one file, lowercase hex (what `sha256sum` prints).
pub(crate) fn sha256_file(path: &Path) -> Result<String> {
    let mut file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buf).map_err(|e| Error::io(path, e))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hex(&hasher.finalize()))
}

fn hex(bytes: &[u8]) -> String {
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

/// Checksum of a set of files (e.g. a model's safetensors shards, or an adapter's
/// `adapter_model.safetensors` + `adapter_config.json`), lowercase hex:
/// for one file its sha256; for several, the sha256 of the text `sha256sum` prints for them
/// (`"<sha256>  <file name>\n"` per file, sorted by file name), so it does not depend on the
/// order of `paths` or the directory they are in.
pub fn checksum_files<P: AsRef<Path>>(paths: &[P]) -> Result<String> {
    if paths.is_empty() {
        return Err(Error::Config("checksum: no files".into()));
    }
    if paths.len() == 1 {
        return sha256_file(paths[0].as_ref());
    }
    let mut lines = Vec::with_capacity(paths.len());
    for p in paths {
        let p = p.as_ref();
        let name = p
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        lines.push(format!("{}  {}\n", sha256_file(p)?, name));
    }
    lines.sort_by(|a, b| a[66..].cmp(&b[66..]));
    Ok(hex(&Sha256::digest(lines.concat().as_bytes())))
}

/// Formats a p-value for tables.
pub(crate) fn format_p(p: f64) -> String {
    if p.is_nan() {
        "n/a".into()
    } else if p < 1e-4 {
        format!("{p:.1e}")
    } else {
        format!("{p:.4}")
    }
}

fn format_value(v: f64) -> String {
    if v.is_nan() {
        "n/a".into()
    } else {
        format!("{v:.4}")
    }
}

fn format_signed(v: f64) -> String {
    if v.is_nan() {
        "n/a".into()
    } else {
        format!("{v:+.4}")
    }
}

/// The compact table printed at the end of an evaluation run:
/// metric, base mean, tuned mean, Δ (mean of tuned − base), 95 % CI of Δ, Wilcoxon p.
pub fn format_table(summary: &[MetricSummary]) -> String {
    let confidence = summary.first().map_or(0.95, |s| s.difference.confidence) * 100.0;
    let header = [
        "metric".to_string(),
        "base".into(),
        "tuned".into(),
        "Δ".into(),
        format!("{confidence:.0}% CI"),
        "p".into(),
    ];
    let rows: Vec<[String; 6]> = summary
        .iter()
        .map(|s| {
            [
                s.metric.clone(),
                format_value(s.base.mean),
                format_value(s.tuned.mean),
                format_signed(s.difference.mean),
                format!(
                    "[{}, {}]",
                    format_signed(s.difference.ci_low),
                    format_signed(s.difference.ci_high)
                ),
                format_p(s.difference.p_value),
            ]
        })
        .collect();
    let mut widths = header.clone().map(|h| h.chars().count());
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let mut line = |cells: &[String; 6]| {
        let mut text = String::new();
        for (i, (cell, w)) in cells.iter().zip(widths).enumerate() {
            let pad = w - cell.chars().count();
            if i == 0 {
                text.push_str(cell);
                text.push_str(&" ".repeat(pad));
            } else {
                text.push_str("  ");
                text.push_str(&" ".repeat(pad));
                text.push_str(cell);
            }
        }
        out.push_str(text.trim_end());
        out.push('\n');
    };
    line(&header);
    for row in &rows {
        line(row);
    }
    out
}

/// The grouped box plot of the examples' metrics.
pub(crate) fn boxplot(title: &str, values: &[MetricValues]) -> Boxplot {
    let n = values.first().map(|v| v.base.len()).unwrap_or(0);
    Boxplot {
        title: format!("{title} (n = {n})"),
        x_label: "metric".into(),
        y_label: "score per example".into(),
        models: vec![BASE.into(), TUNED.into()],
        metrics: values
            .iter()
            .map(|v| MetricSeries {
                metric: v.metric.clone(),
                values: vec![v.base.clone(), v.tuned.clone()],
            })
            .collect(),
    }
}

/// The confusion-matrix figure of a classification report.
pub(crate) fn confusion_figure(c: &ClassificationReport) -> Result<Vec<u8>> {
    let panels = [(BASE, &c.base), (TUNED, &c.tuned)].map(|(name, m)| ConfusionPanel {
        title: format!("{name}  (accuracy {:.3}, F1 {:.3})", m.accuracy, m.f1),
        matrix: m.confusion.clone(),
    });
    plot::confusion_png(
        "Confusion matrices (rows: true class, columns: predicted)",
        &panels,
        &c.label_names,
    )
}

/// Writes the report directory `dir` (see the module docs) and returns its paths and the
/// summary (for [`format_table`]). An existing `dir` is replaced only once the new report is
/// complete.
pub fn write_report(
    dir: &Path,
    meta: &ReportMeta,
    examples: &[ReportExample],
    classification: Option<&ClassificationReport>,
) -> Result<WrittenReport> {
    write_report_with_scores(dir, meta, examples, classification, None)
}

/// The charts of a report, drawn before anything is written.
struct Charts {
    /// Seq2seq: every metric per example; classification: the probability of the true class
    /// (without class probabilities, the 0/1 metrics of a classification say nothing in a box
    /// plot: the file is still written but the page leaves it out).
    boxplot_png: Vec<u8>,
    boxplot_svg: String,
    show_boxplot: bool,
    confusion: Option<Vec<u8>>,
    /// Accuracy / precision / recall / F1 with bootstrap intervals.
    metric_bars: Option<Vec<u8>>,
    /// ROC and precision-recall curves.
    curves: Option<Vec<u8>>,
    /// The run's training curves, when the report sits in a run folder with `metrics.jsonl`.
    training: Option<Vec<u8>>,
}

/// Class indices of the reference and both outputs of each example, read back from the class
/// names the examples hold.
fn predictions_from_examples(
    examples: &[ReportExample],
    names: &[String],
) -> Option<(Vec<usize>, [Vec<usize>; 2])> {
    let index = |name: &str| names.iter().position(|n| n == name);
    let mut labels = Vec::with_capacity(examples.len());
    let (mut base, mut tuned) = (Vec::new(), Vec::new());
    for e in examples {
        labels.push(index(&e.reference)?);
        base.push(index(&e.base_output)?);
        tuned.push(index(&e.tuned_output)?);
    }
    Some((labels, [base, tuned]))
}

/// The training curves of the run folder above the report, if it has a metrics log.
fn run_training_curves(report_dir: &Path) -> Option<Vec<u8>> {
    let run = report_dir.parent()?;
    if !run.join("metrics.jsonl").is_file() {
        return None;
    }
    let drawn = RunCurves::read(run).and_then(|c| training_curves::render(&[c]));
    match drawn {
        Ok((png, _)) => Some(png),
        Err(e) => {
            tracing::warn!("report: training curves left out: {e}");
            None
        }
    }
}

/// [`write_report`] with both models' class probabilities for a classification report:
/// the page then shows the probability of the true class, ROC and precision-recall curves,
/// and the summary gains the probability of the true class and the ROC AUC with a paired
/// bootstrap interval.
pub fn write_report_with_scores(
    dir: &Path,
    meta: &ReportMeta,
    examples: &[ReportExample],
    classification: Option<&ClassificationReport>,
    scores: Option<&ClassScores>,
) -> Result<WrittenReport> {
    if examples.is_empty() {
        return Err(Error::Config("report: no examples".into()));
    }
    if let Some(c) = classification {
        let k = c.label_names.len();
        if c.base.num_labels != k || c.tuned.num_labels != k {
            return Err(Error::Config(format!(
                "report: {k} label names for {} / {} classes",
                c.base.num_labels, c.tuned.num_labels
            )));
        }
        if let Some(s) = scores {
            s.check(examples.len(), k)?;
        }
    }
    let scores = scores.filter(|_| classification.is_some());
    let title = short_title(&meta.title);
    let mut values = metric_values(examples)?;
    if let Some(s) = scores {
        let [base, tuned] = s.true_class_values();
        values.insert(
            0,
            MetricValues {
                metric: classification_charts::TRUE_CLASS_PROBABILITY.into(),
                base,
                tuned,
            },
        );
    }
    let summary = summarize_values(values.clone(), &meta.statistics)?;
    let auc = scores
        .map(|s| classification_charts::auc_summary(s, &meta.statistics))
        .transpose()?;
    let chart = match (classification, scores) {
        (Some(c), Some(s)) => classification_charts::probability_boxplot(s, &c.label_names),
        _ => boxplot(&title, &values),
    };
    let predicted = match (classification, scores) {
        (_, Some(s)) => Some((s.labels.clone(), classification_charts::predictions(s))),
        (Some(c), None) => predictions_from_examples(examples, &c.label_names),
        _ => None,
    };
    let metric_bars = match (classification, &predicted) {
        (Some(c), Some((labels, [b, t]))) => Some(
            classification_charts::metric_bars(
                &title,
                labels,
                [b, t],
                c.label_names.len(),
                &meta.statistics,
            )?
            .to_png()?,
        ),
        _ => None,
    };
    let charts = Charts {
        boxplot_png: chart.to_png()?,
        boxplot_svg: chart.to_svg()?,
        show_boxplot: classification.is_none() || scores.is_some(),
        confusion: classification.map(confusion_figure).transpose()?,
        metric_bars,
        curves: match (classification, scores) {
            (Some(c), Some(s)) => {
                Some(classification_charts::curves_figure(&title, s, &c.label_names).to_png()?)
            }
            _ => None,
        },
        training: run_training_curves(dir),
    };

    let out = AtomicDir::begin(dir, Replace::IfHolds("summary.json"))?;
    let mut jsonl = String::new();
    for e in examples {
        jsonl.push_str(
            &serde_json::to_string(e)
                .map_err(|err| Error::file(dir.join("examples.jsonl"), err.to_string()))?,
        );
        jsonl.push('\n');
    }
    out.write("examples.jsonl", jsonl.as_bytes())?;
    let mut summary_value = summary_json(meta, &summary, classification);
    if let Some(a) = &auc {
        summary_value["classification"]["roc_auc"] = json!(a);
    }
    let mut summary_text = serde_json::to_string_pretty(&summary_value)
        .map_err(|err| Error::file(dir.join("summary.json"), err.to_string()))?;
    summary_text.push('\n');
    out.write("summary.json", summary_text.as_bytes())?;
    out.write("boxplot.png", &charts.boxplot_png)?;
    out.write("boxplot.svg", charts.boxplot_svg.as_bytes())?;
    for (name, png) in [
        ("confusion.png", &charts.confusion),
        ("metrics.png", &charts.metric_bars),
        ("curves.png", &charts.curves),
    ] {
        if let Some(png) = png {
            out.write(name, png)?;
        }
    }
    let html = index_html(
        meta,
        examples,
        &summary,
        auc.as_ref(),
        classification,
        &charts,
    );
    out.write("index.html", html.as_bytes())?;
    out.commit()?;
    let written = |present: bool, name: &str| present.then(|| dir.join(name));
    let paths = ReportPaths {
        dir: dir.to_path_buf(),
        examples: dir.join("examples.jsonl"),
        summary: dir.join("summary.json"),
        boxplot_png: dir.join("boxplot.png"),
        boxplot_svg: dir.join("boxplot.svg"),
        confusion_png: written(charts.confusion.is_some(), "confusion.png"),
        metrics_png: written(charts.metric_bars.is_some(), "metrics.png"),
        curves_png: written(charts.curves.is_some(), "curves.png"),
        index_html: dir.join("index.html"),
    };
    Ok(WrittenReport { paths, summary })
}

/// A title with long paths shortened to their last component
/// (`../shared/models/all-MiniLM-L6-v2: base vs tuned` → `all-MiniLM-L6-v2: base vs tuned`);
/// Hub ids (`google/flan-t5-base`) stay whole. The full path is in the settings table.
pub(crate) fn short_title(title: &str) -> String {
    title
        .split(' ')
        .map(|word| {
            let core = word.trim_end_matches([':', ',', ';', ')']);
            let tail = &word[core.len()..];
            let is_path = core.starts_with(['/', '.', '~'])
                || core.matches('/').count() >= 2
                || core.contains('\\');
            match (
                is_path,
                core.trim_end_matches(['/', '\\'])
                    .rsplit(['/', '\\'])
                    .next(),
            ) {
                (true, Some(last)) if !last.is_empty() => format!("{last}{tail}"),
                _ => word.to_string(),
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Escapes text for HTML element content and attribute values.
pub(crate) fn html_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

pub(crate) fn data_uri_png(png: &[u8]) -> String {
    format!(
        "data:image/png;base64,{}",
        base64::engine::general_purpose::STANDARD.encode(png)
    )
}

fn json_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

pub(crate) const STYLE: &str = r#"
body { font-family: system-ui, -apple-system, "Segoe UI", "DejaVu Sans", sans-serif; margin: 2rem auto; max-width: 1500px; padding: 0 1rem; color: #1f2328; }
h1 { font-size: 1.6rem; } h2 { margin-top: 2.2rem; border-bottom: 1px solid #d0d7de; padding-bottom: .3rem; }
table { border-collapse: collapse; margin: .6rem 0; }
th, td { border: 1px solid #d0d7de; padding: .35rem .6rem; vertical-align: top; }
th { background: #f6f8fa; text-align: left; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
.better { color: #1a7f37; font-weight: 600; } .worse { color: #cf222e; font-weight: 600; }
img { max-width: 100%; height: auto; border: 1px solid #eaeef2; }
.meta td:first-child { font-weight: 600; white-space: nowrap; }
.meta td { font-family: ui-monospace, "DejaVu Sans Mono", monospace; font-size: .85rem; white-space: pre-wrap; overflow-wrap: anywhere; }
.meta summary { cursor: pointer; }
table.examples { table-layout: fixed; width: 100%; }
table.examples td { font-size: .88rem; }
table.examples td div.text { max-height: 14rem; overflow: auto; white-space: pre-wrap; overflow-wrap: anywhere; }
table.examples th.id { width: 5rem; } table.examples th.metrics { width: 17rem; }
table.scores td, table.scores th { border: none; padding: .05rem .3rem; font-size: .8rem; }
.note { color: #57606a; font-size: .9rem; }
"#;

fn index_html(
    meta: &ReportMeta,
    examples: &[ReportExample],
    summary: &[MetricSummary],
    auc: Option<&AucSummary>,
    classification: Option<&ClassificationReport>,
    charts: &Charts,
) -> String {
    let e = html_escape;
    let mut h = String::new();
    let title = short_title(&meta.title);
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>{}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n<h1>{}</h1>\n",
        e(&title),
        e(&title)
    );
    let n = examples.len();
    let _ = writeln!(
        h,
        "<p class=\"note\">{n} examples. Δ = tuned − base per example; CI: {:.0}% bootstrap percentile interval of the mean Δ ({} resamples, seed {}); p: two-sided Wilcoxon signed-rank test (SciPy defaults). Std is the sample standard deviation.</p>",
        meta.statistics.confidence * 100.0,
        meta.statistics.bootstrap_resamples,
        meta.statistics.bootstrap_seed
    );

    // Summary table.
    let _ = writeln!(
        h,
        "<h2>Summary</h2>\n<table class=\"summary\">\n<tr><th rowspan=\"2\">metric</th><th colspan=\"3\">base</th><th colspan=\"3\">tuned</th><th colspan=\"4\">difference tuned − base</th></tr>\n<tr><th>mean</th><th>median</th><th>std</th><th>mean</th><th>median</th><th>std</th><th>mean Δ</th><th>{:.0}% CI</th><th>p</th><th>tuned better / ties / base better</th></tr>",
        meta.statistics.confidence * 100.0
    );
    for s in summary {
        let d = &s.difference;
        let class = if d.ci_low > 0.0 {
            " better"
        } else if d.ci_high < 0.0 {
            " worse"
        } else {
            ""
        };
        let _ = writeln!(
            h,
            "<tr><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num{class}\">{}</td><td class=\"num\">[{}, {}]</td><td class=\"num\">{}</td><td class=\"num\">{} / {} / {}</td></tr>",
            e(&s.metric),
            format_value(s.base.mean),
            format_value(s.base.median),
            format_value(s.base.std),
            format_value(s.tuned.mean),
            format_value(s.tuned.median),
            format_value(s.tuned.std),
            format_signed(d.mean),
            format_signed(d.ci_low),
            format_signed(d.ci_high),
            format_p(d.p_value),
            d.tuned_better,
            d.ties,
            d.base_better,
        );
    }
    if let Some(a) = auc {
        let ci = &a.difference_ci;
        let class = if ci.low > 0.0 {
            " better"
        } else if ci.high < 0.0 {
            " worse"
        } else {
            ""
        };
        let _ = writeln!(
            h,
            "<tr><td>ROC AUC ({})</td><td class=\"num\">{}</td><td class=\"num\">–</td><td class=\"num\">–</td><td class=\"num\">{}</td><td class=\"num\">–</td><td class=\"num\">–</td><td class=\"num{class}\">{}</td><td class=\"num\">[{}, {}]</td><td class=\"num\">n/a</td><td class=\"num\">–</td></tr>",
            e(&a.averaging),
            format_value(a.base),
            format_value(a.tuned),
            format_signed(a.tuned - a.base),
            format_signed(ci.low),
            format_signed(ci.high),
        );
    }
    h.push_str("</table>\n");
    if auc.is_some() {
        let _ = writeln!(
            h,
            "<p class=\"note\">{TRUE_CLASS}: the probability each model gives the example's true class (paired per example). ROC AUC: CI of the difference over bootstrap resamples of the examples, the same resamples for both models.</p>",
            TRUE_CLASS = e(classification_charts::TRUE_CLASS_PROBABILITY)
        );
    }
    if let Some(png) = &charts.training {
        let _ = writeln!(
            h,
            "<h2>Training</h2>\n<img src=\"{}\" alt=\"Training curves: loss, learning rate, gradient norm and validation metrics over the steps\">",
            data_uri_png(png)
        );
    }
    if charts.show_boxplot {
        let alt = if classification.is_some() {
            "Box plots of the probability of the true class, base and tuned"
        } else {
            "Box plots of every metric per example, base and tuned"
        };
        let _ = writeln!(
            h,
            "<h2>Distributions</h2>\n<img src=\"{}\" alt=\"{alt}\">",
            data_uri_png(&charts.boxplot_png)
        );
    }

    if let Some(c) = classification {
        h.push_str("<h2>Classification</h2>\n");
        h.push_str("<table class=\"summary\">\n<tr><th>model</th><th>accuracy</th><th>precision</th><th>recall</th><th>F1</th><th>macro precision</th><th>macro recall</th><th>macro F1</th><th>averaging</th></tr>\n");
        for (name, m) in [(BASE, &c.base), (TUNED, &c.tuned)] {
            let _ = writeln!(
                h,
                "<tr><td>{name}</td><td class=\"num\">{:.4}</td><td class=\"num\">{:.4}</td><td class=\"num\">{:.4}</td><td class=\"num\">{:.4}</td><td class=\"num\">{:.4}</td><td class=\"num\">{:.4}</td><td class=\"num\">{:.4}</td><td>{}</td></tr>",
                m.accuracy,
                m.precision,
                m.recall,
                m.f1,
                m.macro_precision,
                m.macro_recall,
                m.macro_f1,
                match m.average {
                    crate::data::classification_metrics::Average::Binary => "binary (positive class 1)",
                    crate::data::classification_metrics::Average::Macro => "macro",
                }
            );
        }
        h.push_str("</table>\n<table class=\"summary\">\n<tr><th>class</th><th>support</th><th>base precision</th><th>base recall</th><th>base F1</th><th>tuned precision</th><th>tuned recall</th><th>tuned F1</th></tr>\n");
        for (i, name) in c.label_names.iter().enumerate() {
            let (b, t) = (&c.base.per_class[i], &c.tuned.per_class[i]);
            let _ = writeln!(
                h,
                "<tr><td>{} ({i})</td><td class=\"num\">{}</td><td class=\"num\">{:.4}</td><td class=\"num\">{:.4}</td><td class=\"num\">{:.4}</td><td class=\"num\">{:.4}</td><td class=\"num\">{:.4}</td><td class=\"num\">{:.4}</td></tr>",
                e(name),
                b.support,
                b.precision,
                b.recall,
                b.f1,
                t.precision,
                t.recall,
                t.f1
            );
        }
        h.push_str("</table>\n");
        for (png, alt) in [
            (
                &charts.metric_bars,
                "Accuracy, precision, recall and F1 of base and tuned with bootstrap intervals",
            ),
            (
                &charts.curves,
                "ROC and precision-recall curves of base and tuned",
            ),
            (
                &charts.confusion,
                "Confusion matrices of the base and the tuned model",
            ),
        ] {
            if let Some(png) = png {
                let _ = writeln!(h, "<img src=\"{}\" alt=\"{alt}\">", data_uri_png(png));
            }
        }
    }

    // Reproducibility.
    h.push_str("<h2>Settings</h2>\n<table class=\"meta\">\n");
    let mut row = |k: &str, v: String| {
        let _ = writeln!(h, "<tr><td>{}</td><td>{}</td></tr>", e(k), e(&v));
    };
    row("loratune version", meta.loratune_version.clone());
    row("task", meta.task.clone());
    row("base model", meta.base_model.clone());
    row("adapter", meta.adapter.clone());
    row("dtype", meta.dtype.clone());
    row("device", meta.device.clone());
    for (k, v) in &meta.seeds {
        row(&format!("seed: {k}"), v.to_string());
    }
    for (k, v) in &meta.checksums {
        row(&format!("sha256: {k}"), v.clone());
    }
    for (k, v) in &meta.settings {
        row(k, serde_json::to_string_pretty(v).unwrap_or_default());
    }
    row(
        "statistics",
        serde_json::to_string_pretty(&statistics_json(&meta.statistics)).unwrap_or_default(),
    );
    let ids = meta
        .sample_ids
        .iter()
        .map(json_text)
        .collect::<Vec<_>>()
        .join(", ");
    let _ = writeln!(
        h,
        "<tr><td>sample ids</td><td><details><summary>{} ids</summary>{}</details></td></tr>",
        meta.sample_ids.len(),
        e(&ids)
    );
    h.push_str("</table>\n");

    // Examples side by side.
    let _ = writeln!(h, "<h2>Examples ({n})</h2>");
    h.push_str("<table class=\"examples\">\n<tr><th class=\"id\">id</th><th>input</th><th>reference</th><th>base output</th><th>tuned output</th><th class=\"metrics\">metrics (base → tuned)</th></tr>\n");
    for ex in examples {
        let mut scores = String::from("<table class=\"scores\">");
        for (metric, b) in &ex.base_metrics {
            let t = ex.tuned_metrics.get(metric).copied().unwrap_or(f64::NAN);
            let class = if t > *b {
                "better"
            } else if t < *b {
                "worse"
            } else {
                ""
            };
            let _ = write!(
                scores,
                "<tr><td>{}</td><td class=\"num\">{}</td><td class=\"num\">→</td><td class=\"num {class}\">{}</td></tr>",
                e(metric),
                format_value(*b),
                format_value(t)
            );
        }
        scores.push_str("</table>");
        let _ = writeln!(
            h,
            "<tr><td>{}</td><td><div class=\"text\">{}</div></td><td><div class=\"text\">{}</div></td><td><div class=\"text\">{}</div></td><td><div class=\"text\">{}</div></td><td>{scores}</td></tr>",
            e(&json_text(&ex.id)),
            e(&ex.input),
            e(&ex.reference),
            e(&ex.base_output),
            e(&ex.tuned_output),
        );
    }
    h.push_str("</table>\n</body>\n</html>\n");
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping() {
        assert_eq!(
            html_escape("<a href=\"x\">&'</a>"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;&lt;/a&gt;"
        );
    }

    #[test]
    fn p_formatting() {
        assert_eq!(format_p(0.03125), "0.0312");
        assert_eq!(format_p(1.5e-7), "1.5e-7");
        assert_eq!(format_p(f64::NAN), "n/a");
    }

    #[test]
    fn checksums() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("a.bin");
        let b = dir.path().join("b.bin");
        std::fs::write(&a, b"abc").unwrap();
        std::fs::write(&b, b"").unwrap();
        // sha256("abc")
        assert_eq!(
            checksum_files(&[&a]).unwrap(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        let ab = checksum_files(&[&a, &b]).unwrap();
        assert_eq!(ab, checksum_files(&[&b, &a]).unwrap());
        // printf 'ba78...  a.bin\ne3b0...  b.bin\n' | sha256sum
        let listing = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad  a.bin\ne3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855  b.bin\n";
        assert_eq!(ab, hex(&Sha256::digest(listing.as_bytes())));
        assert!(checksum_files::<&Path>(&[]).is_err());
        assert!(checksum_files(&[dir.path().join("missing")]).is_err());
    }
}
