//! ROC and precision-recall curves of scores against binary truths, as scikit-learn computes
//! them with default arguments (`roc_curve(drop_intermediate=False)`, `roc_auc_score`,
//! `precision_recall_curve`, `average_precision_score`), and the one-vs-rest macro ROC AUC of
//! several classes (`roc_auc_score(multi_class="ovr", average="macro")`).

/// Points of a curve (x, y) and its area.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Curve {
    pub(crate) points: Vec<(f64, f64)>,
    /// ROC: the area under the curve; precision-recall: the average precision.
    pub(crate) area: f64,
}

/// (true positives, false positives) at each distinct score, highest first.
fn cumulative_counts(scores: &[f64], positive: &[bool], rows: &[usize]) -> Vec<(f64, f64)> {
    let mut order: Vec<usize> = rows.to_vec();
    order.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]));
    let mut out = Vec::with_capacity(order.len());
    let (mut tp, mut fp) = (0.0, 0.0);
    for (k, &i) in order.iter().enumerate() {
        if positive[i] {
            tp += 1.0;
        } else {
            fp += 1.0;
        }
        // one point per distinct threshold: after the last row holding a score
        if order.get(k + 1).is_none_or(|&j| scores[j] != scores[i]) {
            out.push((tp, fp));
        }
    }
    out
}

/// ROC curve (false positive rate, true positive rate) from (0, 0) and its trapezoidal area;
/// `None` when `rows` hold only one class (the AUC is undefined, as scikit-learn says).
pub(crate) fn roc(scores: &[f64], positive: &[bool], rows: &[usize]) -> Option<Curve> {
    let counts = cumulative_counts(scores, positive, rows);
    let &(p, n) = counts.last()?;
    if p == 0.0 || n == 0.0 {
        return None;
    }
    let mut points = vec![(0.0, 0.0)];
    points.extend(counts.iter().map(|&(tp, fp)| (fp / n, tp / p)));
    let area = points
        .windows(2)
        .map(|w| (w[1].0 - w[0].0) * (w[1].1 + w[0].1) / 2.0)
        .sum();
    Some(Curve { points, area })
}

/// Precision-recall curve (recall, precision) and the average precision
/// `Σ (Rₙ − Rₙ₋₁) Pₙ`; `None` without positives.
pub(crate) fn precision_recall(scores: &[f64], positive: &[bool], rows: &[usize]) -> Option<Curve> {
    let counts = cumulative_counts(scores, positive, rows);
    let &(p, _) = counts.last()?;
    if p == 0.0 {
        return None;
    }
    // scikit-learn's curve starts at recall 0, precision 1
    let mut points = vec![(0.0, 1.0)];
    let mut area = 0.0;
    let mut last_recall = 0.0;
    for &(tp, fp) in &counts {
        let (recall, precision) = (tp / p, tp / (tp + fp));
        area += (recall - last_recall) * precision;
        last_recall = recall;
        points.push((recall, precision));
    }
    Some(Curve { points, area })
}

/// One class against the rest: the rows ranked by the class's probability once, so that the
/// ROC AUC of many bootstrap resamples costs one pass each (a resample is a count per row).
struct OneVsRest {
    /// Rows by score, highest first.
    order: Vec<usize>,
    scores: Vec<f64>,
    positive: Vec<bool>,
}

impl OneVsRest {
    /// The trapezoidal ROC area with each row counted `weights[row]` times (the same area
    /// [`roc`] gives for the rows repeated that often); NaN with one class only.
    fn area(&self, weights: &[u32]) -> f64 {
        let (mut tp, mut fp, mut last_tp, mut last_fp, mut area) = (0.0, 0.0, 0.0, 0.0, 0.0);
        for (k, &i) in self.order.iter().enumerate() {
            let w = f64::from(weights[i]);
            if self.positive[i] {
                tp += w;
            } else {
                fp += w;
            }
            let next = self.order.get(k + 1);
            if next.is_none_or(|&j| self.scores[j] != self.scores[i]) {
                area += (fp - last_fp) * (tp + last_tp) / 2.0;
                (last_tp, last_fp) = (tp, fp);
            }
        }
        if tp == 0.0 || fp == 0.0 {
            f64::NAN
        } else {
            area / (tp * fp)
        }
    }
}

/// The ROC AUC of a classifier: for two classes that of class 1's probability; for more, the
/// unweighted mean of each class against the rest (NaN where a class is missing).
pub(crate) struct RocAuc {
    classes: Vec<OneVsRest>,
}

impl RocAuc {
    pub(crate) fn new(probabilities: &[Vec<f64>], labels: &[usize]) -> Self {
        let k = probabilities.first().map_or(0, Vec::len);
        let which: Vec<usize> = match k {
            0 | 1 => Vec::new(),
            2 => vec![1],
            k => (0..k).collect(),
        };
        let classes = which
            .into_iter()
            .map(|c| {
                let scores: Vec<f64> = probabilities.iter().map(|p| p[c]).collect();
                let mut order: Vec<usize> = (0..scores.len()).collect();
                order.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]));
                OneVsRest {
                    order,
                    positive: labels.iter().map(|&l| l == c).collect(),
                    scores,
                }
            })
            .collect();
        RocAuc { classes }
    }

    /// The AUC with each row counted `weights[row]` times.
    pub(crate) fn weighted(&self, weights: &[u32]) -> f64 {
        if self.classes.is_empty() {
            return f64::NAN;
        }
        self.classes.iter().map(|c| c.area(weights)).sum::<f64>() / self.classes.len() as f64
    }

    /// The AUC of `rows` (repeats count).
    pub(crate) fn of_rows(&self, rows: &[usize], weights: &mut Vec<u32>) -> f64 {
        let n = self.classes.first().map_or(0, |c| c.scores.len());
        weights.clear();
        weights.resize(n, 0);
        for &r in rows {
            weights[r] += 1;
        }
        self.weighted(weights)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(n: usize) -> Vec<usize> {
        (0..n).collect()
    }

    #[test]
    fn roc_matches_sklearn() {
        // sklearn.metrics.roc_curve([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8], drop_intermediate=False)
        // fpr [0, 0, 0.5, 0.5, 1], tpr [0, 0.5, 0.5, 1, 1]; roc_auc_score → 0.75
        let scores = [0.1, 0.4, 0.35, 0.8];
        let truth = [false, false, true, true];
        let c = roc(&scores, &truth, &all(4)).unwrap();
        assert_eq!(
            c.points,
            vec![(0.0, 0.0), (0.0, 0.5), (0.5, 0.5), (0.5, 1.0), (1.0, 1.0)]
        );
        assert_eq!(c.area, 0.75);
        // ties count half: roc_auc_score([0, 1], [0.5, 0.5]) = 0.5
        assert_eq!(roc(&[0.5, 0.5], &[false, true], &all(2)).unwrap().area, 0.5);
        assert!(roc(&[0.5, 0.7], &[true, true], &all(2)).is_none());
    }

    #[test]
    fn average_precision_matches_sklearn() {
        // average_precision_score([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]) = 0.8333...
        let c =
            precision_recall(&[0.1, 0.4, 0.35, 0.8], &[false, false, true, true], &all(4)).unwrap();
        assert!((c.area - 5.0 / 6.0).abs() < 1e-12, "{}", c.area);
        assert_eq!(c.points[0], (0.0, 1.0));
        assert_eq!(*c.points.last().unwrap(), (1.0, 0.5));
    }

    #[test]
    fn one_vs_rest_macro() {
        // roc_auc_score([0, 1, 2, 2], probs, multi_class="ovr") = 0.9166...
        let probs = vec![
            vec![0.7, 0.2, 0.1],
            vec![0.2, 0.5, 0.3],
            vec![0.1, 0.3, 0.6],
            vec![0.3, 0.4, 0.3],
        ];
        let auc = RocAuc::new(&probs, &[0, 1, 2, 2]).weighted(&[1; 4]);
        // classes 0 and 1: 1.0 (their one positive scores highest); class 2: 0.875 (one tie)
        let c2 = roc(&[0.1, 0.3, 0.6, 0.3], &[false, false, true, true], &all(4))
            .unwrap()
            .area;
        assert!((auc - (1.0 + 1.0 + c2) / 3.0).abs() < 1e-12, "{auc}");
        assert!(RocAuc::new(&probs, &[0, 0, 0, 0])
            .weighted(&[1; 4])
            .is_nan());
    }

    #[test]
    fn weighted_area_is_the_area_of_repeated_rows() {
        let scores = [0.9, 0.4, 0.4, 0.7, 0.1, 0.4, 0.8, 0.2];
        let labels = [1, 0, 1, 0, 0, 1, 1, 0];
        let probs: Vec<Vec<f64>> = scores.iter().map(|&s| vec![1.0 - s, s]).collect();
        let auc = RocAuc::new(&probs, &labels);
        let truth: Vec<bool> = labels.iter().map(|&l| l == 1).collect();
        let mut buffer = Vec::new();
        for rows in [
            vec![0, 1, 2, 3, 4, 5, 6, 7],
            vec![1, 1, 2, 5, 5, 7, 0],
            vec![3, 3, 3, 2, 6, 6, 1],
        ] {
            let want = roc(&scores, &truth, &rows).unwrap().area;
            let got = auc.of_rows(&rows, &mut buffer);
            assert!((got - want).abs() < 1e-12, "{rows:?}: {got} vs {want}");
        }
        assert!(auc.of_rows(&[0, 2, 5], &mut buffer).is_nan(), "one class");
    }
}
