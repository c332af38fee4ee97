"""Reference values for loratune's report statistics and classification metrics.

Writes tests/fixtures/eval/stats.json and tests/fixtures/eval/classification.json, read by
tests/eval_stats_parity.rs. Deterministic (NumPy seeds are fixed). Made with numpy 2.4.6,
scipy 1.17.1, scikit-learn 1.9.1 (scripts/requirements-reference.txt), pandas-style sample std (ddof=1):

    scripts/reference-env.sh
    .venv/reference/bin/python scripts/make_eval_fixtures.py
"""
import json
import warnings
from pathlib import Path

from reference_env import ensure

ensure("reference", ["numpy", "scipy", "sklearn"])

import numpy as np
import scipy
import sklearn
from scipy import stats
from sklearn.metrics import (accuracy_score, confusion_matrix, f1_score,
                             precision_recall_fscore_support, precision_score, recall_score)

OUT = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "eval"
warnings.filterwarnings("ignore")


def floats(a):
    return [float(v) for v in a]


def stats_cases():
    rng = np.random.default_rng(20240607)
    cases = []

    def add(name, tuned, base):
        tuned, base = np.asarray(tuned, dtype=np.float64), np.asarray(base, dtype=np.float64)
        d = tuned - base
        res = stats.wilcoxon(tuned, base)
        boot = stats.bootstrap((d,), np.mean, n_resamples=10000, method="percentile",
                               confidence_level=0.95, rng=np.random.default_rng(0)) if len(d) > 1 else None
        cases.append({
            "name": name,
            "tuned": floats(tuned),
            "base": floats(base),
            "tuned_mean": float(np.mean(tuned)), "tuned_median": float(np.median(tuned)),
            "tuned_std": float(np.std(tuned, ddof=1)) if len(tuned) > 1 else None,
            "base_mean": float(np.mean(base)), "base_median": float(np.median(base)),
            "base_std": float(np.std(base, ddof=1)) if len(base) > 1 else None,
            "diff_mean": float(np.mean(d)),
            "wilcoxon_statistic": None if np.isnan(res.statistic) else float(res.statistic),
            "wilcoxon_pvalue": None if np.isnan(res.pvalue) else float(res.pvalue),
            # scipy.stats.bootstrap percentile interval (different random numbers from loratune's,
            # so compared with a tolerance)
            "bootstrap_low": None if boot is None else float(boot.confidence_interval.low),
            "bootstrap_high": None if boot is None else float(boot.confidence_interval.high),
        })

    # Continuous scores, no ties: exact distribution for n <= 50, normal approximation above.
    for n in [5, 10, 25, 50, 51, 200]:
        base = rng.uniform(0.2, 0.6, n)
        add(f"continuous_n{n}", base + rng.normal(0.03, 0.05, n), base)
    # Strong effect, small p-values in both regimes.
    b = rng.uniform(0, 0.5, 30)
    add("strong_exact_n30", b + 0.2 + rng.uniform(0, 0.01, 30), b)
    b = rng.uniform(0, 0.5, 120)
    add("strong_asymptotic_n120", b + 0.1 + rng.normal(0, 0.05, 120), b)
    # No effect: p near 1.
    b = rng.uniform(0, 1, 20)
    add("symmetric_n20", b + np.linspace(-0.1, 0.1, 20) + rng.uniform(-1e-4, 1e-4, 20), b)
    # ROUGE-like scores on a coarse grid: ties and zeros.
    for n in [8, 13, 14, 40, 60, 300]:
        base = np.round(rng.uniform(0, 1, n) * 10) / 10
        tuned = np.clip(base + np.round(rng.normal(0.05, 0.15, n) * 10) / 10, 0, 1)
        add(f"grid_ties_n{n}", tuned, base)
    # Ties without zeros, small n (permutation test).
    add("ties_no_zeros_n6", [1.0, 2.0, 3.0, 4.0, 5.0, 6.0], [0.5, 1.5, 3.5, 3.0, 5.5, 5.0])
    # Zeros only among small n; all differences zero.
    add("all_zero_n5", [0.3] * 5, [0.3] * 5)
    add("all_zero_n20", [0.3] * 20, [0.3] * 20)
    add("one_pair", [0.7], [0.2])
    add("two_pairs", [0.7, 0.1], [0.2, 0.4])
    # Accuracy-like 0/1 per-example scores, n > 50.
    base = (rng.uniform(0, 1, 150) < 0.6).astype(float)
    tuned = (rng.uniform(0, 1, 150) < 0.75).astype(float)
    add("binary_scores_n150", tuned, base)
    return cases


def classification_cases():
    rng = np.random.default_rng(7)
    cases = []

    def add(name, y_pred, y_true, num_labels):
        y_pred, y_true = np.asarray(y_pred), np.asarray(y_true)
        labels = list(range(num_labels))
        p_c, r_c, f_c, s_c = precision_recall_fscore_support(
            y_true, y_pred, labels=labels, average=None, zero_division=0)
        mp, mr, mf, _ = precision_recall_fscore_support(y_true, y_pred, average="macro")
        case = {
            "name": name,
            "predictions": [int(v) for v in y_pred],
            "labels": [int(v) for v in y_true],
            "num_labels": num_labels,
            "accuracy": float(accuracy_score(y_true, y_pred)),
            "macro_precision": float(mp), "macro_recall": float(mr), "macro_f1": float(mf),
            "per_class_precision": floats(p_c), "per_class_recall": floats(r_c),
            "per_class_f1": floats(f_c), "per_class_support": [int(v) for v in s_c],
            "confusion": confusion_matrix(y_true, y_pred, labels=labels).tolist(),
        }
        if num_labels == 2:
            # f1_score etc. with default arguments: average="binary", pos_label=1
            case["precision"] = float(precision_score(y_true, y_pred))
            case["recall"] = float(recall_score(y_true, y_pred))
            case["f1"] = float(f1_score(y_true, y_pred))
        else:
            case["precision"] = float(precision_score(y_true, y_pred, average="macro"))
            case["recall"] = float(recall_score(y_true, y_pred, average="macro"))
            case["f1"] = float(f1_score(y_true, y_pred, average="macro"))
        cases.append(case)

    y = rng.integers(0, 2, 60)
    add("binary_noisy", np.where(rng.uniform(0, 1, 60) < 0.8, y, 1 - y), y, 2)
    add("binary_never_positive", [0] * 10, [0, 1] * 5, 2)
    add("binary_all_positive_labels", [1, 0, 1, 1], [1, 1, 1, 1], 2)
    add("binary_only_negatives", [0, 0, 0], [0, 0, 0], 2)
    y = rng.integers(0, 3, 90)
    add("three_class", np.where(rng.uniform(0, 1, 90) < 0.6, y, rng.integers(0, 3, 90)), y, 3)
    y = rng.integers(0, 4, 50)
    pred = np.where(rng.uniform(0, 1, 50) < 0.5, y, rng.integers(0, 4, 50))
    pred[pred == 3] = 0  # class 3 never predicted: zero division in precision
    add("four_class_never_predicted", pred, y, 4)
    add("five_class_two_absent", [0, 1, 2, 2, 1, 0, 0], [0, 1, 2, 1, 1, 2, 0], 5)
    return cases


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    meta = {"numpy": np.__version__, "scipy": scipy.__version__, "sklearn": sklearn.__version__}
    (OUT / "stats.json").write_text(json.dumps({"versions": meta, "cases": stats_cases()}, indent=1) + "\n")
    (OUT / "classification.json").write_text(
        json.dumps({"versions": meta, "cases": classification_cases()}, indent=1) + "\n")
    print("wrote", OUT)


if __name__ == "__main__":
    main()
