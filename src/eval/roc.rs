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

/// The ROC AUC of a classifier: for two classes that of class 1's probability; for more, the
/// unweighted mean of each class against the rest. NaN when undefined on `rows` (a class
/// missing from them).
pub(crate) fn roc_auc(probabilities: &[Vec<f64>], labels: &[usize], rows: &[usize]) -> f64 {
    let classes = probabilities.first().map_or(0, Vec::len);
    let one_vs_rest = |c: usize| {
        let scores: Vec<f64> = probabilities.iter().map(|p| p[c]).collect();
        let positive: Vec<bool> = labels.iter().map(|&l| l == c).collect();
        roc(&scores, &positive, rows).map_or(f64::NAN, |curve| curve.area)
    };
    match classes {
        0 | 1 => f64::NAN,
        2 => one_vs_rest(1),
        k => (0..k).map(one_vs_rest).sum::<f64>() / k as f64,
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
        let auc = roc_auc(&probs, &[0, 1, 2, 2], &all(4));
        // classes 0 and 1: 1.0 (their one positive scores highest); class 2: 0.875 (one tie)
        let c2 = roc(&[0.1, 0.3, 0.6, 0.3], &[false, false, true, true], &all(4))
            .unwrap()
            .area;
        assert!((auc - (1.0 + 1.0 + c2) / 3.0).abs() < 1e-12, "{auc}");
        assert!(roc_auc(&probs, &[0, 0, 0, 0], &all(4)).is_nan());
    }
}
