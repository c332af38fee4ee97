//! What a classification report shows beyond the confusion matrices: the probability each
//! model gives the true class (per example, paired), ROC and precision-recall curves with
//! their areas (one-vs-rest beyond two classes), and accuracy / precision / recall / F1 with
//! bootstrap intervals.
use super::bars::{Bar, Bars};
use super::lines::{Figure, Panel, Scale, Series, Stroke};
use super::plot::{Boxplot, MetricSeries, BASE, TUNED};
use super::roc::{precision_recall, roc, Curve, RocAuc};
use super::stats::{bootstrap_ci, bootstrap_cis, BootstrapCi, SummarySettings};
use crate::data::classification_metrics::ClassificationMetrics;
use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};

/// Name of the per-example probability of the true class in the summary.
pub const TRUE_CLASS_PROBABILITY: &str = "p(true class)";

/// Both models' class probabilities for every evaluated example, in example order.
#[derive(Debug, Clone, PartialEq)]
pub struct ClassScores {
    /// True class of each example.
    pub labels: Vec<usize>,
    /// `base[example][class]`.
    pub base: Vec<Vec<f64>>,
    pub tuned: Vec<Vec<f64>>,
}

impl ClassScores {
    /// Checks the shapes against `classes` and the example count.
    pub(crate) fn check(&self, examples: usize, classes: usize) -> Result<()> {
        let rows_ok = |p: &[Vec<f64>]| p.len() == examples && p.iter().all(|r| r.len() == classes);
        if self.labels.len() != examples
            || !rows_ok(&self.base)
            || !rows_ok(&self.tuned)
            || self.labels.iter().any(|&l| l >= classes)
        {
            return Err(Error::Config(format!(
                "report: class probabilities must be {examples} examples × {classes} classes with labels below {classes}"
            )));
        }
        Ok(())
    }

    fn predictions(p: &[Vec<f64>]) -> Vec<usize> {
        p.iter()
            .map(|row| (0..row.len()).fold(0, |best, c| if row[c] > row[best] { c } else { best }))
            .collect()
    }

    /// The per-example probability of the true class: [base, tuned].
    pub(crate) fn true_class_values(&self) -> [Vec<f64>; 2] {
        let pick = |p: &[Vec<f64>]| -> Vec<f64> {
            p.iter().zip(&self.labels).map(|(row, &l)| row[l]).collect()
        };
        [pick(&self.base), pick(&self.tuned)]
    }
}

/// The ROC AUC of both models and the bootstrap interval of the paired difference.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AucSummary {
    pub base: f64,
    pub tuned: f64,
    /// Percentile interval of AUC(tuned) − AUC(base) over resamples of the examples (the same
    /// resamples for both models).
    pub difference_ci: BootstrapCi,
    /// "binary, class 1" or "one-vs-rest macro".
    pub averaging: String,
}

fn all_rows(n: usize) -> Vec<usize> {
    (0..n).collect()
}

pub(crate) fn auc_summary(scores: &ClassScores, settings: &SummarySettings) -> Result<AucSummary> {
    let n = scores.labels.len();
    let (base, tuned) = (
        RocAuc::new(&scores.base, &scores.labels),
        RocAuc::new(&scores.tuned, &scores.labels),
    );
    let mut weights = Vec::with_capacity(n);
    let difference_ci = bootstrap_ci(
        n,
        settings.bootstrap_resamples,
        settings.confidence,
        settings.bootstrap_seed,
        |rows| tuned.of_rows(rows, &mut weights) - base.weighted(&weights),
    )?;
    let classes = scores.base.first().map_or(0, Vec::len);
    let ones = vec![1; n];
    Ok(AucSummary {
        base: base.weighted(&ones),
        tuned: tuned.weighted(&ones),
        difference_ci,
        averaging: if classes == 2 {
            "binary, class 1".into()
        } else {
            "one-vs-rest macro".into()
        },
    })
}

/// Box plots of the probability of the true class: all examples, then per true class.
pub(crate) fn probability_boxplot(scores: &ClassScores, label_names: &[String]) -> Boxplot {
    let [base, tuned] = scores.true_class_values();
    let mut metrics = vec![MetricSeries {
        metric: "all examples".into(),
        values: vec![base.clone(), tuned.clone()],
    }];
    // one group per true class, for a readable number of classes
    if label_names.len() <= 6 {
        for (c, name) in label_names.iter().enumerate() {
            let of = |v: &[f64]| -> Vec<f64> {
                v.iter()
                    .zip(&scores.labels)
                    .filter(|(_, l)| **l == c)
                    .map(|(x, _)| *x)
                    .collect()
            };
            metrics.push(MetricSeries {
                metric: format!("true: {name}"),
                values: vec![of(&base), of(&tuned)],
            });
        }
    }
    Boxplot {
        title: format!(
            "Probability of the true class (n = {})",
            scores.labels.len()
        ),
        x_label: "examples".into(),
        y_label: "probability given to the true class".into(),
        models: vec![BASE.into(), TUNED.into()],
        metrics,
    }
}

/// ROC and precision-recall curves. Two classes: class 1 against class 0, base and tuned
/// in the same panel. More: one-vs-rest, a panel per model and curve, a line per class.
pub(crate) fn curves_figure(title: &str, scores: &ClassScores, label_names: &[String]) -> Figure {
    let n = scores.labels.len();
    let rows = all_rows(n);
    let classes = label_names.len();
    let panel = |title: String, x: &str, y: &str| Panel {
        title,
        x_label: x.into(),
        y_label: y.into(),
        series: Vec::new(),
        x_scale: Scale::Linear,
        x_range: Some((0.0, 1.0)),
        y_range: Some((0.0, 1.02)),
        marks: Vec::new(),
    };
    let one_class = |p: &[Vec<f64>], c: usize| {
        let s: Vec<f64> = p.iter().map(|r| r[c]).collect();
        let truth: Vec<bool> = scores.labels.iter().map(|&l| l == c).collect();
        (roc(&s, &truth, &rows), precision_recall(&s, &truth, &rows))
    };
    let diagonal = Series {
        label: "chance".into(),
        color: 0,
        stroke: Stroke::Reference,
        points: vec![(0.0, 0.0), (1.0, 1.0)],
    };
    let mut panels = Vec::new();
    if classes == 2 {
        let positive = &label_names[1];
        let mut r = panel(
            format!("ROC ({positive} vs {})", label_names[0]),
            "false positive rate",
            "true positive rate",
        );
        let mut p = panel(
            format!("precision-recall ({positive})"),
            "recall",
            "precision",
        );
        r.series.push(diagonal);
        for (i, (name, probs)) in [(BASE, &scores.base), (TUNED, &scores.tuned)]
            .into_iter()
            .enumerate()
        {
            let (roc_curve, pr_curve) = one_class(probs, 1);
            r.series
                .extend(roc_curve.map(|c| curve_series(c, i, |a| format!("{name} (AUC {a:.3})"))));
            p.series
                .extend(pr_curve.map(|c| curve_series(c, i, |a| format!("{name} (AP {a:.3})"))));
        }
        panels.extend([r, p]);
    } else {
        for (name, probs) in [(BASE, &scores.base), (TUNED, &scores.tuned)] {
            let mut r = panel(
                format!("{name}: ROC, one-vs-rest"),
                "false positive rate",
                "true positive rate",
            );
            let mut p = panel(
                format!("{name}: precision-recall, one-vs-rest"),
                "recall",
                "precision",
            );
            r.series.push(diagonal.clone());
            for (c, class) in label_names.iter().enumerate() {
                let (roc_curve, pr_curve) = one_class(probs, c);
                let label = |area: f64| format!("{class} ({area:.3})");
                r.series
                    .extend(roc_curve.map(|curve| curve_series(curve, c, label)));
                p.series
                    .extend(pr_curve.map(|curve| curve_series(curve, c, label)));
            }
            panels.extend([r, p]);
        }
    }
    Figure {
        title: format!("{title}: ROC and precision-recall curves (n = {n})"),
        legend: Vec::new(),
        panels,
        columns: 2,
    }
}

/// Accuracy, precision, recall and F1 (as in the classification table) of each model with
/// bootstrap percentile intervals.
pub(crate) fn metric_bars(
    title: &str,
    labels: &[usize],
    predictions: [&[usize]; 2],
    classes: usize,
    settings: &SummarySettings,
) -> Result<Bars> {
    let n = labels.len();
    let names = ["accuracy", "precision", "recall", "F1"];
    let pick = |m: &ClassificationMetrics, k: usize| match k {
        0 => m.accuracy,
        1 => m.precision,
        2 => m.recall,
        _ => m.f1,
    };
    let mut groups: Vec<(String, Vec<Bar>)> =
        names.iter().map(|n| (n.to_string(), Vec::new())).collect();
    let all = |m: &ClassificationMetrics| [0, 1, 2, 3].map(|k| pick(m, k));
    for preds in predictions {
        let whole = ClassificationMetrics::compute(preds, labels, classes)?;
        let (mut p, mut l) = (Vec::with_capacity(n), Vec::with_capacity(n));
        let cis = bootstrap_cis(
            n,
            settings.bootstrap_resamples,
            settings.confidence,
            settings.bootstrap_seed,
            |rows| {
                p.clear();
                l.clear();
                p.extend(rows.iter().map(|&i| preds[i]));
                l.extend(rows.iter().map(|&i| labels[i]));
                ClassificationMetrics::compute(&p, &l, classes).map_or([f64::NAN; 4], |m| all(&m))
            },
        )?;
        for ((group, value), ci) in groups.iter_mut().zip(all(&whole)).zip(cis) {
            group.1.push(Bar {
                value,
                low: ci.low,
                high: ci.high,
            });
        }
    }
    let average = if classes == 2 { "binary" } else { "macro" };
    Ok(Bars {
        title: format!(
            "{title}: classification metrics with {:.0}% bootstrap intervals",
            settings.confidence * 100.0
        ),
        y_label: format!("score ({average} precision, recall, F1)"),
        models: vec![BASE.into(), TUNED.into()],
        groups,
    })
}

/// Predicted classes of the base and the tuned model.
pub(crate) fn predictions(scores: &ClassScores) -> [Vec<usize>; 2] {
    [
        ClassScores::predictions(&scores.base),
        ClassScores::predictions(&scores.tuned),
    ]
}

/// A curve as a line of the colour `color`, labelled from its area (AUC or average precision).
fn curve_series(curve: Curve, color: usize, label: impl Fn(f64) -> String) -> Series {
    Series {
        label: label(curve.area),
        color,
        stroke: Stroke::Line,
        points: curve.points,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scores() -> ClassScores {
        ClassScores {
            labels: vec![0, 1, 1, 0, 1, 0],
            base: vec![vec![0.5, 0.5]; 6],
            tuned: vec![
                vec![0.9, 0.1],
                vec![0.2, 0.8],
                vec![0.3, 0.7],
                vec![0.6, 0.4],
                vec![0.45, 0.55],
                vec![0.7, 0.3],
            ],
        }
    }

    #[test]
    fn true_class_probability_and_auc() {
        let s = scores();
        s.check(6, 2).unwrap();
        assert!(s.check(5, 2).is_err());
        let [base, tuned] = s.true_class_values();
        assert_eq!(tuned, vec![0.9, 0.8, 0.7, 0.6, 0.55, 0.7]);
        assert_eq!(base, vec![0.5; 6]);
        let settings = SummarySettings {
            bootstrap_resamples: 200,
            ..Default::default()
        };
        let auc = auc_summary(&s, &settings).unwrap();
        assert_eq!((auc.base, auc.tuned), (0.5, 1.0));
        // every resample with both classes gives 1.0 − 0.5
        assert_eq!((auc.difference_ci.low, auc.difference_ci.high), (0.5, 0.5));
        assert_eq!(predictions(&s)[1], vec![0, 1, 1, 0, 1, 0]);
    }

    #[test]
    fn bars_bracket_the_value() {
        let s = scores();
        let [b, t] = predictions(&s);
        let settings = SummarySettings {
            bootstrap_resamples: 300,
            ..Default::default()
        };
        let bars = metric_bars("m", &s.labels, [&b, &t], 2, &settings).unwrap();
        let acc = &bars.groups[0].1;
        assert_eq!(acc[1].value, 1.0);
        assert_eq!((acc[1].low, acc[1].high), (1.0, 1.0));
        assert!(acc[0].low <= acc[0].value && acc[0].value <= acc[0].high);
        assert!(
            acc[0].low < acc[0].high,
            "a 50% accuracy varies over resamples"
        );
        let f = curves_figure("m", &s, &["neg".into(), "pos".into()]);
        assert_eq!(f.panels.len(), 2);
        assert!(f.panels[0].series[2].label.contains("AUC 1.000"));
    }
}
