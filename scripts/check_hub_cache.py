#!/usr/bin/env python3
"""Checks that Python's huggingface_hub reads a Hub cache that loratune filled.

Usage (offline: nothing is asked of any Hub):

    HF_HUB_CACHE=DIR HF_HUB_OFFLINE=1 python scripts/check_hub_cache.py \
        --model google/flan-t5-base --dataset someone/imdb-mini [--expect-dir tests/fixtures/t5/flan_like]

For the model: `hf_hub_download(..., local_files_only=True)` of each file, `snapshot_download(
local_files_only=True)`, and `try_to_load_from_cache` of a file the repo lacks (loratune's
`.no_exist` marker must read as "absent", not "unknown"). For the dataset: `snapshot_download(
repo_type="dataset", local_files_only=True)`. With --expect-dir, each model file's bytes are
compared with that directory's. Needs `pip install huggingface_hub`. Exits 1 on any mismatch.
"""
import argparse
import filecmp
import os
import sys


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", required=True)
    parser.add_argument("--dataset")
    parser.add_argument("--expect-dir")
    parser.add_argument("--absent", default="spiece.model", help="a file the model repo lacks")
    args = parser.parse_args()
    if os.environ.get("HF_HUB_OFFLINE") != "1":
        print("set HF_HUB_OFFLINE=1: this check must not reach any Hub", file=sys.stderr)
        return 1
    try:
        import huggingface_hub as hf
        from huggingface_hub import _CACHED_NO_EXIST
    except ImportError as e:
        print(f"huggingface_hub is missing ({e}): pip install huggingface_hub", file=sys.stderr)
        return 1
    print(f"huggingface_hub {hf.__version__}, cache {hf.constants.HF_HUB_CACHE}")
    failures = 0
    snapshot = hf.snapshot_download(args.model, local_files_only=True)
    files = sorted(os.listdir(snapshot))
    print(f"snapshot_download({args.model!r}) -> {snapshot}: {files}")
    for name in files:
        path = hf.hf_hub_download(args.model, name, local_files_only=True)
        same = True
        if args.expect_dir:
            same = filecmp.cmp(path, os.path.join(args.expect_dir, name), shallow=False)
        print(f"hf_hub_download({name!r}) -> {os.path.realpath(path)} {'same bytes' if same else 'DIFFERENT BYTES'}")
        failures += not same
    cached = hf.try_to_load_from_cache(args.model, args.absent)
    print(f"try_to_load_from_cache({args.absent!r}) -> {'absent (.no_exist)' if cached is _CACHED_NO_EXIST else cached}")
    failures += cached is not _CACHED_NO_EXIST
    if args.dataset:
        data = hf.snapshot_download(args.dataset, repo_type="dataset", local_files_only=True)
        listed = sorted(
            os.path.relpath(os.path.join(root, f), data) for root, _, fs in os.walk(data) for f in fs
        )
        print(f"snapshot_download({args.dataset!r}, repo_type='dataset') -> {listed}")
        failures += not listed
    print("OK" if failures == 0 else f"{failures} FAILURES")
    return 0 if failures == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
