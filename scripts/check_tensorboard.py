#!/usr/bin/env python3
"""Reads a loratune run's TensorBoard event files with TensorBoard's own EventAccumulator and
checks every scalar against the run's metrics.jsonl.

    pip install tensorboard
    LORATUNE_KEEP_TENSORBOARD=/tmp/tb cargo test --test tensorboard   # or any run with
    python scripts/check_tensorboard.py /tmp/tb                       # train.report_to = "tensorboard"

DIR is a folder holding metrics.jsonl and, anywhere below it, events.out.tfevents.* files
(a run's OUTPUT_DIR, whose events are under runs/). Exits non-zero on any difference.
"""
import json
import pathlib
import sys

from tensorboard.backend.event_processing.event_accumulator import EventAccumulator


def main(directory: str) -> int:
    root = pathlib.Path(directory)
    files = sorted(root.glob("**/events.out.tfevents.*"))
    if not files:
        print(f"no events.out.tfevents.* under {root}", file=sys.stderr)
        return 1
    want = {}
    for line in (root / "metrics.jsonl").read_text().splitlines():
        record = json.loads(line)
        for key, value in record.items():
            if key in ("loss", "learning_rate", "grad_norm", "epoch"):
                want[(f"train/{key}", record["step"])] = value
            elif key.startswith("eval_"):
                want[(f"eval/{key[5:]}", record["step"])] = value
    got = {}
    for f in files:
        acc = EventAccumulator(str(f))
        acc.Reload()
        for tag in acc.Tags()["scalars"]:
            for event in acc.Scalars(tag):
                got[(tag, event.step)] = event.value
        print(f"{f.relative_to(root)}: scalars {sorted(acc.Tags()['scalars'])}")
    bad = 0
    for key in sorted(set(want) | set(got)):
        w, g = want.get(key), got.get(key)
        # event files hold float32
        if w is None or g is None or abs(w - g) > 1e-6 * max(1.0, abs(w)):
            print(f"differs: {key}: metrics.jsonl {w}, TensorBoard {g}", file=sys.stderr)
            bad += 1
    tags = sorted({tag for tag, _ in got})
    steps = sorted({step for _, step in got})
    print(f"{len(got)} scalars, tags {tags}, steps {steps[0]}..{steps[-1]}")
    print("OK: every scalar equals metrics.jsonl" if not bad else f"{bad} differences")
    return 1 if bad else 0


if __name__ == "__main__":
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    sys.exit(main(sys.argv[1]))
