#!/usr/bin/env python3
"""Times Google's rouge_score over a JSONL file of pairs (companion of benches/rouge_speed.rs).

Usage:
    python scripts/bench_rouge.py --pairs PAIRS.jsonl

PAIRS.jsonl has one {"reference": ..., "prediction": ...} object per line. The
scorer is RougeScorer(["rouge1", "rouge2", "rougeL", "rougeLsum"],
use_stemmer=True), the configuration loratune's Rust implementation reproduces.
Only the scoring loop is timed (not reading the file nor building the scorer).

Prints one JSON line on stdout:
    {"seconds": ..., "pairs": ..., "fsum": {"rouge1": ..., ...}, "rouge_score": "0.1.2", "nltk": "..."}
where fsum is the sum of the F-measures, so that the caller can check that both
implementations agree. Exits with status 2 when rouge_score is not installed.
"""

import argparse
import json
import sys
import time

TYPES = ["rouge1", "rouge2", "rougeL", "rougeLsum"]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--pairs", required=True, help="JSONL file of {reference, prediction}")
    args = ap.parse_args()

    try:
        import nltk
        from rouge_score import rouge_scorer
    except ImportError as e:
        print(f"rouge_score is not available: {e}", file=sys.stderr)
        sys.exit(2)
    try:
        from importlib.metadata import version
        rs_version = version("rouge_score")
    except Exception:
        rs_version = "unknown"

    with open(args.pairs, encoding="utf-8") as f:
        pairs = [json.loads(line) for line in f if line.strip()]
    pairs = [(p["reference"], p["prediction"]) for p in pairs]

    scorer = rouge_scorer.RougeScorer(TYPES, use_stemmer=True)
    fsum = {t: 0.0 for t in TYPES}
    start = time.perf_counter()
    for ref, pred in pairs:
        s = scorer.score(ref, pred)
        for t in TYPES:
            fsum[t] += s[t].fmeasure
    seconds = time.perf_counter() - start

    print(json.dumps({
        "seconds": seconds,
        "pairs": len(pairs),
        "fsum": fsum,
        "rouge_score": rs_version,
        "nltk": nltk.__version__,
    }))


if __name__ == "__main__":
    main()
