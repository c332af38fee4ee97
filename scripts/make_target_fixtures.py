#!/usr/bin/env python3
"""Which modules PEFT adapts for `target_modules` given as a string: "all-linear" and regular
expressions, on the tiny fixture models. Writes tests/fixtures/lora/target_strings.json.

Usage (from the repository root; scripts/reference-env.sh makes .venv/reference):
    scripts/reference-env.sh reference
    HF_HUB_OFFLINE=1 .venv/reference/bin/python scripts/make_target_fixtures.py [--out tests/fixtures/lora/target_strings.json]

Packages: scripts/requirements-reference.txt (peft 0.21.2, transformers 5.24.0, torch 2.15.0). Needs
the base models of scripts/make_fixtures.py. For each case it records, after `get_peft_model`:
  lora_modules             modules that got a LoRA layer, sorted
  modules_to_save_copies   modules wrapped as trainable copies, sorted
  saved_target_modules     `target_modules` as `save_pretrained` writes it into adapter_config.json
                           (a list, sorted here, or a string)
Deterministic: no random values are recorded, and lists are sorted.
"""

import os
import sys

from reference_env import ensure

ensure("reference", ["torch", "transformers", "peft"])

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

import argparse
import json
import tempfile
import warnings
from pathlib import Path

import peft
import torch
import transformers
from peft import LoraConfig, TaskType, get_peft_model
from peft.tuners.lora import LoraLayer
from peft.utils import ModulesToSaveWrapper
from transformers import (
    BertForSequenceClassification,
    DistilBertForSequenceClassification,
    T5ForConditionalGeneration,
)

warnings.filterwarnings("ignore")
REPO = Path(__file__).resolve().parents[1]

MODELS = {
    "t5/flan_like": (T5ForConditionalGeneration, TaskType.SEQ_2_SEQ_LM),
    "t5/t5v1_like": (T5ForConditionalGeneration, TaskType.SEQ_2_SEQ_LM),
    "distilbert/cls2": (DistilBertForSequenceClassification, TaskType.SEQ_CLS),
    "bert/cls2": (BertForSequenceClassification, TaskType.SEQ_CLS),
}

# (base, target_modules): the recipe's classification default modules_to_save ["classifier"]
# is passed for SEQ_CLS, as loratune does.
CASES = [
    ("t5/flan_like", "all-linear"),
    ("t5/t5v1_like", "all-linear"),
    ("distilbert/cls2", "all-linear"),
    ("bert/cls2", "all-linear"),
    ("t5/flan_like", r"decoder\.block\.[0-9]+\.layer\.[0-9]+\.(SelfAttention|EncDecAttention)\.(q|v)"),
    ("t5/t5v1_like", r".*DenseReluDense\.w[io]"),
    ("distilbert/cls2", r"distilbert\.transformer\.layer\.1\..*_lin"),
    ("bert/cls2", r".*\.(query|value)"),
]


def strip(name):
    p = "base_model.model."
    return name[len(p):] if name.startswith(p) else name


def case(base, targets):
    cls, task = MODELS[base]
    model = cls.from_pretrained(str(REPO / "tests/fixtures" / base)).eval()
    kwargs = dict(task_type=task, r=2, lora_alpha=4, target_modules=targets)
    if task == TaskType.SEQ_CLS:
        kwargs["modules_to_save"] = ["classifier"]
    out = {"base": base, "target_modules": targets}
    try:
        pm = get_peft_model(model, LoraConfig(**kwargs))
    except Exception as e:  # recorded: PEFT's refusal is the reference then
        out["error"] = f"{type(e).__name__}: {e}"
        return out
    out["lora_modules"] = sorted(strip(n) for n, m in pm.named_modules() if isinstance(m, LoraLayer))
    out["modules_to_save_copies"] = sorted(
        strip(n) for n, m in pm.named_modules() if isinstance(m, ModulesToSaveWrapper)
    )
    with tempfile.TemporaryDirectory() as tmp:
        pm.save_pretrained(tmp)
        saved = json.loads((Path(tmp) / "adapter_config.json").read_text())["target_modules"]
    out["saved_target_modules"] = sorted(saved) if isinstance(saved, list) else saved
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=str(REPO / "tests/fixtures/lora/target_strings.json"))
    args = ap.parse_args()
    result = {
        "versions": {"peft": peft.__version__, "transformers": transformers.__version__,
                     "torch": torch.__version__.split("+")[0]},
        "cases": [case(base, targets) for base, targets in CASES],
    }
    Path(args.out).write_text(json.dumps(result, indent=1) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
