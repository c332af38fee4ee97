//! Classification metrics, as scikit-learn computes them with default arguments.
//!
//! * `accuracy`: `accuracy_score(labels, predictions)`.
//! * Headline `precision`/`recall`/`f1`: for two classes `average="binary"` with
//!   `pos_label=1` (the default of `precision_score`, `recall_score`, `f1_score`); for more
//!   classes the macro averages below.
//! * `macro_*`: `average="macro"` with `labels=None`, i.e. the unweighted mean over the classes
//!   that occur in the labels or the predictions (a class that occurs in neither is left out
//!   of the mean, as scikit-learn does; it still has a row in `per_class`).
//! * `per_class`: `average=None, labels=range(num_labels)`, with `support` = number of true
//!   examples of the class.
//! * Zero division gives 0 (scikit-learn's default `zero_division="warn"` returns 0).
//!   F1 is `2·tp / (2·tp + fp + fn)` (scikit-learn ≥ 1.3), 0 when that denominator is 0.
//! * `confusion`: `confusion_matrix(labels, predictions, labels=range(num_labels))`:
//!   row = true class, column = predicted class.
//!
//! Parity is checked by `tests/eval_stats_parity.rs` against
//! `tests/fixtures/eval/classification.json` (written by `scripts/make_eval_fixtures.py`).
use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};

/// Precision, recall, F1 and support of one class.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClassMetrics {
    pub(crate) label: usize,
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
    /// Number of examples whose true label is this class.
    pub support: usize,
}

/// How the headline precision, recall and F1 were averaged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Average {
    /// Two classes: the scores of the positive class 1.
    Binary,
    /// More classes: unweighted mean over the classes present in labels or predictions.
    Macro,
}

/// Accuracy, precision, recall, F1 (binary or macro), per-class scores and the confusion
/// matrix of one model's predictions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClassificationMetrics {
    pub(crate) num_labels: usize,
    pub(crate) examples: usize,
    pub average: Average,
    pub accuracy: f64,
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
    pub macro_precision: f64,
    pub macro_recall: f64,
    pub macro_f1: f64,
    pub per_class: Vec<ClassMetrics>,
    /// `confusion[true][predicted]`.
    pub confusion: Vec<Vec<usize>>,
}

fn ratio(num: usize, den: usize) -> f64 {
    if den == 0 {
        0.0
    } else {
        num as f64 / den as f64
    }
}

impl ClassificationMetrics {
    /// Computes the metrics of `predictions` against the true `labels` (both class indices
    /// below `num_labels`, same length, not empty).
    pub fn compute(predictions: &[usize], labels: &[usize], num_labels: usize) -> Result<Self> {
        if predictions.len() != labels.len() {
            return Err(Error::Config(format!(
                "classification metrics: {} predictions for {} labels",
                predictions.len(),
                labels.len()
            )));
        }
        if predictions.is_empty() {
            return Err(Error::Config("classification metrics: no examples".into()));
        }
        if num_labels == 0 {
            return Err(Error::Config(
                "classification metrics: num_labels is 0".into(),
            ));
        }
        if let Some(bad) = predictions.iter().chain(labels).find(|&&c| c >= num_labels) {
            return Err(Error::Config(format!(
                "classification metrics: class {bad} is outside 0..{num_labels}"
            )));
        }
        let mut confusion = vec![vec![0usize; num_labels]; num_labels];
        for (&p, &t) in predictions.iter().zip(labels) {
            confusion[t][p] += 1;
        }
        let correct: usize = (0..num_labels).map(|c| confusion[c][c]).sum();
        let per_class: Vec<ClassMetrics> = (0..num_labels)
            .map(|c| {
                let tp = confusion[c][c];
                let support: usize = confusion[c].iter().sum();
                let predicted: usize = confusion.iter().map(|row| row[c]).sum();
                let (fp, fn_) = (predicted - tp, support - tp);
                ClassMetrics {
                    label: c,
                    precision: ratio(tp, predicted),
                    recall: ratio(tp, support),
                    f1: ratio(2 * tp, 2 * tp + fp + fn_),
                    support,
                }
            })
            .collect();
        let present: Vec<&ClassMetrics> = (0..num_labels)
            .filter(|&c| per_class[c].support > 0 || confusion.iter().any(|row| row[c] > 0))
            .map(|c| &per_class[c])
            .collect();
        let macro_of = |f: fn(&ClassMetrics) -> f64| {
            present.iter().map(|m| f(m)).sum::<f64>() / present.len() as f64
        };
        let macro_precision = macro_of(|m| m.precision);
        let macro_recall = macro_of(|m| m.recall);
        let macro_f1 = macro_of(|m| m.f1);
        let (average, precision, recall, f1) = if num_labels == 2 {
            let pos = &per_class[1];
            (Average::Binary, pos.precision, pos.recall, pos.f1)
        } else {
            (Average::Macro, macro_precision, macro_recall, macro_f1)
        };
        Ok(ClassificationMetrics {
            num_labels,
            examples: labels.len(),
            average,
            accuracy: correct as f64 / labels.len() as f64,
            precision,
            recall,
            f1,
            macro_precision,
            macro_recall,
            macro_f1,
            per_class,
            confusion,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binary_uses_positive_class() {
        // sklearn: y_true=[0,1,1,0,1,1], y_pred=[0,1,0,1,1,1]
        // precision=0.75, recall=0.75, f1=0.75, accuracy=4/6
        let m =
            ClassificationMetrics::compute(&[0, 1, 0, 1, 1, 1], &[0, 1, 1, 0, 1, 1], 2).unwrap();
        assert_eq!(m.average, Average::Binary);
        assert_eq!((m.precision, m.recall, m.f1), (0.75, 0.75, 0.75));
        assert!((m.accuracy - 4.0 / 6.0).abs() < 1e-15);
        assert_eq!(m.confusion, vec![vec![1, 1], vec![1, 3]]);
        // class 0: p = 1/2, r = 1/2
        assert_eq!(m.macro_precision, 0.625);
    }

    #[test]
    fn zero_division_is_zero() {
        // Never predicts the positive class: precision 0/0 -> 0, f1 -> 0.
        let m = ClassificationMetrics::compute(&[0, 0, 0], &[0, 1, 1], 2).unwrap();
        assert_eq!((m.precision, m.recall, m.f1), (0.0, 0.0, 0.0));
    }

    #[test]
    fn macro_skips_absent_classes() {
        // Class 3 never occurs: sklearn's macro (labels=None) averages over classes 0..=2.
        let m = ClassificationMetrics::compute(&[0, 1, 2, 2], &[0, 1, 2, 1], 4).unwrap();
        assert_eq!(m.average, Average::Macro);
        let expect_f1 = (1.0 + 2.0 / 3.0 + 2.0 / 3.0) / 3.0;
        assert!((m.f1 - expect_f1).abs() < 1e-15);
        assert_eq!(m.per_class.len(), 4);
        assert_eq!(m.per_class[3].support, 0);
    }

    #[test]
    fn rejects_bad_input() {
        assert!(ClassificationMetrics::compute(&[0], &[0, 1], 2).is_err());
        assert!(ClassificationMetrics::compute(&[], &[], 2).is_err());
        assert!(ClassificationMetrics::compute(&[2], &[0], 2).is_err());
    }
}
