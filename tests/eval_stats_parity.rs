//! Report statistics and classification metrics against SciPy / scikit-learn references
//! (`tests/fixtures/eval/`, written by `scripts/make_eval_fixtures.py`).
use loratune::data::classification_metrics::{Average, ClassificationMetrics};
use loratune::eval::stats::{bootstrap_mean_ci, mean, median, std, wilcoxon};
use serde_json::Value;
use std::path::Path;

fn load(name: &str) -> Vec<Value> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/eval")
        .join(name);
    let text = std::fs::read_to_string(&path).unwrap();
    let v: Value = serde_json::from_str(&text).unwrap();
    v["cases"].as_array().unwrap().clone()
}

fn floats(v: &Value) -> Vec<f64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect()
}

fn usizes(v: &Value) -> Vec<usize> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_u64().unwrap() as usize)
        .collect()
}

/// `expected` null means NaN.
fn close(name: &str, what: &str, got: f64, expected: &Value, rel: f64) {
    match expected.as_f64() {
        None => assert!(got.is_nan(), "{name} {what}: got {got}, expected NaN"),
        Some(e) => {
            let tol = rel * e.abs().max(1e-300) + 1e-300;
            assert!(
                (got - e).abs() <= tol,
                "{name} {what}: got {got:e}, expected {e:e}"
            );
        }
    }
}

#[test]
fn summary_statistics_and_wilcoxon_match_scipy() {
    let cases = load("stats.json");
    assert!(cases.len() >= 20);
    for case in &cases {
        let name = case["name"].as_str().unwrap();
        let tuned = floats(&case["tuned"]);
        let base = floats(&case["base"]);
        for (values, prefix) in [(&tuned, "tuned"), (&base, "base")] {
            close(
                name,
                "mean",
                mean(values),
                &case[format!("{prefix}_mean")],
                1e-13,
            );
            close(
                name,
                "median",
                median(values),
                &case[format!("{prefix}_median")],
                1e-15,
            );
            close(
                name,
                "std",
                std(values),
                &case[format!("{prefix}_std")],
                1e-12,
            );
        }
        assert_eq!(tuned.len(), base.len(), "{name}: paired scores");
        let diffs: Vec<f64> = tuned.iter().zip(&base).map(|(t, b)| t - b).collect();
        close(name, "diff mean", mean(&diffs), &case["diff_mean"], 1e-12);

        let w = wilcoxon(&tuned, &base).unwrap();
        close(
            name,
            "wilcoxon statistic",
            w.statistic,
            &case["wilcoxon_statistic"],
            0.0,
        );
        close(
            name,
            "wilcoxon p",
            w.pvalue,
            &case["wilcoxon_pvalue"],
            1e-11,
        );

        // Bootstrap: same method, different random numbers; agreement up to Monte Carlo
        // error for samples large enough that the resampled means are nearly continuous.
        if tuned.len() >= 20 {
            let ci = bootstrap_mean_ci(&diffs, 10_000, 0.95, 0).unwrap();
            let (lo, hi) = (
                case["bootstrap_low"].as_f64().unwrap(),
                case["bootstrap_high"].as_f64().unwrap(),
            );
            let tol = 0.05 * (hi - lo) + 1e-12;
            assert!(
                (ci.low - lo).abs() <= tol,
                "{name} bootstrap low {} vs scipy {lo}",
                ci.low
            );
            assert!(
                (ci.high - hi).abs() <= tol,
                "{name} bootstrap high {} vs scipy {hi}",
                ci.high
            );
        }
    }
}

#[test]
fn classification_metrics_match_sklearn() {
    let cases = load("classification.json");
    assert!(cases.len() >= 5);
    for case in &cases {
        let name = case["name"].as_str().unwrap();
        let num_labels = case["num_labels"].as_u64().unwrap() as usize;
        let m = ClassificationMetrics::compute(
            &usizes(&case["predictions"]),
            &usizes(&case["labels"]),
            num_labels,
        )
        .unwrap();
        assert_eq!(
            m.average,
            if num_labels == 2 {
                Average::Binary
            } else {
                Average::Macro
            }
        );
        for (what, got) in [
            ("accuracy", m.accuracy),
            ("precision", m.precision),
            ("recall", m.recall),
            ("f1", m.f1),
            ("macro_precision", m.macro_precision),
            ("macro_recall", m.macro_recall),
            ("macro_f1", m.macro_f1),
        ] {
            close(name, what, got, &case[what], 1e-14);
        }
        let pc = |key: &str| floats(&case[key]);
        for (c, cm) in m.per_class.iter().enumerate() {
            close(
                name,
                "class precision",
                cm.precision,
                &pc("per_class_precision")[c].into(),
                1e-14,
            );
            close(
                name,
                "class recall",
                cm.recall,
                &pc("per_class_recall")[c].into(),
                1e-14,
            );
            close(
                name,
                "class f1",
                cm.f1,
                &pc("per_class_f1")[c].into(),
                1e-14,
            );
            assert_eq!(
                cm.support,
                usizes(&case["per_class_support"])[c],
                "{name} support"
            );
        }
        let confusion: Vec<Vec<usize>> = case["confusion"]
            .as_array()
            .unwrap()
            .iter()
            .map(usizes)
            .collect();
        assert_eq!(m.confusion, confusion, "{name} confusion");
    }
}
