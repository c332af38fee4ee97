#!/usr/bin/env python3
"""Generate the Transformers-Trainer parity fixtures under tests/fixtures/trainer/.

Usage (from the repository root; scripts/reference-env.sh makes .venv/reference):
    HF_HUB_OFFLINE=1 .venv/reference/bin/python scripts/make_trainer_fixtures.py [--out tests/fixtures/trainer]
    HF_HUB_OFFLINE=1 .venv/reference/bin/python scripts/make_trainer_fixtures.py --check-ours DIR

Needs the PEFT fixtures of scripts/make_lora_fixtures.py (tests/fixtures/lora/{t5_qv,distilbert_cls}: the
starting adapter and train.jsonl) and their base models (scripts/make_fixtures.py).

Every case (see CASES) trains the starting adapter with Transformers' own `Seq2SeqTrainer` (T5) / `Trainer`
(DistilBERT) + PEFT, with everything on that can be made deterministic: warmup then a linear or cosine
schedule, `gradient_accumulation_steps` 2, `max_grad_norm` 1.0, `weight_decay` 0.01 (the Trainer's own
exclusions: biases and norm weights), 2 epochs over train.jsonl in file order
(`train_sampling_strategy="sequential"`). Dropout is off by construction (model config dropouts 0 and
`lora_dropout` 0), so the Trainer's `model.train()` changes nothing. It writes tests/fixtures/trainer/<case>/:

  settings.json          the TrainingArguments that matter, the versions, and what the run is
  expected_log.jsonl     the Trainer's log_history training rows: step, epoch, loss, grad_norm, learning_rate
  micro_batches.jsonl    per optimizer step: the train.jsonl rows of each micro-batch and its own mean loss
                         (recorded by a hook on compute_loss), and the label count of each micro-batch
  trainer_adapter/       PeftModel.save_pretrained after training (PEFT's files for the same run)
  expected_trained_outputs.jsonl   per-example outputs with trainer_adapter (as tests/fixtures/lora)

`--check-ours DIR`: DIR holds, per case, the adapter loratune wrote for the same run (`DIR/<case>/adapter`) and
loratune's per-example outputs with it (`DIR/<case>/outputs.jsonl`); the script loads each adapter with
`PeftModel.from_pretrained` (strict: no missing or unexpected LoRA keys), computes the outputs and writes
tests/fixtures/trainer/peft_loads_ours.json (max |PEFT − loratune| per case, and the keys PEFT reported).
The Rust test tests/trainer_parity.rs (ignored test `write_adapters_for_peft_check`) writes DIR.

Deterministic: single-threaded torch, deterministic algorithms, PYTHONHASHSEED=0 (via make_lora_fixtures).
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
# Re-executes under the reference environment with PYTHONHASHSEED=0, single-threaded deterministic torch.
import make_lora_fixtures as lf  # noqa: E402

import argparse  # noqa: E402
import json  # noqa: E402
import shutil  # noqa: E402
import tempfile  # noqa: E402
from pathlib import Path  # noqa: E402

import accelerate  # noqa: E402
import peft  # noqa: E402
import torch  # noqa: E402
import transformers  # noqa: E402
from peft import PeftModel  # noqa: E402
from transformers import (  # noqa: E402
    Seq2SeqTrainer,
    Seq2SeqTrainingArguments,
    Trainer,
    TrainerCallback,
    TrainingArguments,
)

REPO = lf.REPO

COMMON = {
    "per_device_train_batch_size": 2,
    "gradient_accumulation_steps": 2,
    "num_train_epochs": 2,
    "warmup_steps": 2,
    "max_grad_norm": 1.0,
    "weight_decay": 0.01,
    "adam_beta1": 0.9,
    "adam_beta2": 0.999,
    "adam_epsilon": 1e-8,
    "optim": "adamw_torch",
    "train_sampling_strategy": "sequential",
    "logging_steps": 1,
    "seed": 42,
}

CASES = [
    dict(name="t5_linear", lora_case="t5_qv", kind="t5", lr=1e-2, schedule="linear"),
    dict(name="t5_cosine", lora_case="t5_qv", kind="t5", lr=1e-2, schedule="cosine"),
    dict(name="distilbert_linear", lora_case="distilbert_cls", kind="distilbert", lr=1e-2, schedule="linear"),
    dict(name="distilbert_cosine", lora_case="distilbert_cls", kind="distilbert", lr=1e-2, schedule="cosine"),
    # max_grad_norm 20: the Trainer's gradient (the sum over the micro-batches, twice the mean) is clipped at some
    # steps where the mean gradient would not be, so this case tells the two semantics apart (with 1.0 every step
    # clips, and a clipped gradient has norm 1 either way).
    dict(name="t5_clip20", lora_case="t5_qv", kind="t5", lr=1e-2, schedule="linear", args={"max_grad_norm": 20.0}),
]

DROPOUT_KEYS = ["dropout_rate", "dropout", "attention_dropout", "seq_classif_dropout", "hidden_dropout_prob",
                "attention_probs_dropout_prob", "classifier_dropout"]


def run_args(case):
    return {**COMMON, **case.get("args", {})}


def lora_settings(case):
    return json.loads((REPO / "tests/fixtures/lora" / case["lora_case"] / "train_settings.json").read_text())


def load_base(case):
    """The base model with every dropout of its config set to 0 (as tests/common's training copy)."""
    ls = lora_settings(case)
    base = REPO / ls["base"]
    config = json.loads((base / "config.json").read_text())
    overrides = {k: 0.0 for k in DROPOUT_KEYS if k in config}
    return lf.MODEL_CLS[case["kind"]].from_pretrained(str(base), **overrides)


class Rows(torch.utils.data.Dataset):
    """train.jsonl rows, tokenised per row as tests/fixtures/lora (no padding)."""

    def __init__(self, case, tok, rows, settings):
        self.items = []
        for i, ex in enumerate(rows):
            if case["kind"] == "t5":
                src, lab = lf.t5_example(tok, ex, settings)
                self.items.append({"row": i, "input_ids": src, "labels": lab})
            else:
                enc = tok(ex["text"], truncation=True, max_length=settings["max_tokens"])
                self.items.append({"row": i, "input_ids": enc.input_ids, "labels": ex["label"]})

    def __len__(self):
        return len(self.items)

    def __getitem__(self, i):
        return self.items[i]


def collate(features):
    """Right-pads input_ids with 0 (attention_mask 0 there); T5 labels with -100. Keeps the row ids aside."""
    ls = max(len(f["input_ids"]) for f in features)
    batch = {
        "input_ids": torch.tensor([f["input_ids"] + [0] * (ls - len(f["input_ids"])) for f in features]),
        "attention_mask": torch.tensor([[1] * len(f["input_ids"]) + [0] * (ls - len(f["input_ids"]))
                                        for f in features]),
    }
    if isinstance(features[0]["labels"], list):
        lt = max(len(f["labels"]) for f in features)
        batch["labels"] = torch.tensor([f["labels"] + [-100] * (lt - len(f["labels"])) for f in features])
    else:
        batch["labels"] = torch.tensor([f["labels"] for f in features])
    batch["rows"] = [f["row"] for f in features]
    return batch


class Recorder:
    """Records every micro-batch's rows, label count and own mean loss (what compute_loss returns)."""

    def __init__(self):
        self.micro = []

    def wrap(self, trainer_cls):
        recorder = self

        class Recording(trainer_cls):
            def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
                rows = inputs.pop("rows")
                loss = super().compute_loss(model, inputs, return_outputs, num_items_in_batch)
                value = loss[0] if return_outputs else loss
                labels = inputs["labels"]
                recorder.micro.append({"rows": rows, "loss": float(value.detach()),
                                       "label_count": int(labels.ne(-100).sum()),
                                       "num_items_in_batch": None if num_items_in_batch is None
                                       else int(num_items_in_batch)})
                return loss

        return Recording


class Steps(TrainerCallback):
    def __init__(self, recorder):
        self.recorder = recorder
        self.groups = []
        self.seen = 0

    def on_step_end(self, args, state, control, **kwargs):
        self.groups.append(self.recorder.micro[self.seen:])
        self.seen = len(self.recorder.micro)


def make_case(out_root, case):
    name, kind = case["name"], case["kind"]
    ls = lora_settings(case)
    lora_dir = REPO / "tests/fixtures/lora" / case["lora_case"]
    base = REPO / ls["base"]
    settings = json.loads((base / "settings.json").read_text())
    tok = lf.TOK_CLS[kind].from_pretrained(str(base))
    rows = lf.read_jsonl(lora_dir / "train.jsonl")
    d = lf.fresh_dir(out_root / name)

    torch.manual_seed(COMMON["seed"])
    model = PeftModel.from_pretrained(load_base(case), str(lora_dir / "adapter"), is_trainable=True)
    recorder = Recorder()
    steps = Steps(recorder)
    args_cls, trainer_cls = (Seq2SeqTrainingArguments, Seq2SeqTrainer) if kind == "t5" else (TrainingArguments,
                                                                                             Trainer)
    with tempfile.TemporaryDirectory() as tmp:
        args = args_cls(output_dir=tmp, learning_rate=case["lr"], lr_scheduler_type=case["schedule"],
                        save_strategy="no", report_to="none", use_cpu=True, disable_tqdm=True,
                        remove_unused_columns=False, dataloader_num_workers=0, data_seed=COMMON["seed"],
                        **{k: v for k, v in run_args(case).items() if k != "seed"}, seed=COMMON["seed"])
        trainer = recorder.wrap(trainer_cls)(model=model, args=args, train_dataset=Rows(case, tok, rows, settings),
                                             data_collator=collate, callbacks=[steps])
        decay = set(trainer.get_decay_parameter_names(model))
        trainer.train()
    trainable = [n for n, p in model.named_parameters() if p.requires_grad]
    log = [r for r in trainer.state.log_history if "loss" in r]
    assert len(log) == trainer.state.global_step == len(steps.groups), (name, len(log), len(steps.groups))
    lf.write_jsonl(d / "expected_log.jsonl", [
        {"step": r["step"], "epoch": r["epoch"], "loss": r["loss"], "grad_norm": float(r["grad_norm"]),
         "learning_rate": r["learning_rate"]} for r in log])
    lf.write_jsonl(d / "micro_batches.jsonl", [
        {"step": i + 1, "micro_batches": [{"rows": m["rows"], "loss": m["loss"], "label_count": m["label_count"]}
                                          for m in g],
         "num_items_in_batch": g[0]["num_items_in_batch"]} for i, g in enumerate(steps.groups)])
    # The logged loss is the SUM of the micro-batches' own mean losses: the models take **kwargs, so the Trainer
    # counts num_items_in_batch, passes it on, and does not divide by the accumulation steps; T5 and DistilBERT
    # ignore it (their loss is a plain mean over the micro-batch). Checked here so a change of that shows.
    for r, g in zip(log, steps.groups, strict=True):
        total = sum(m["loss"] for m in g)
        assert abs(r["loss"] - total) <= 1e-6 * max(1.0, abs(total)), (name, r["loss"], total)

    model.eval()
    lf.save_adapter(model, d / "trainer_adapter", ls["base"])
    trained = {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad}
    semantics = {k: replay(case, tok, rows, settings, steps.groups, [r["learning_rate"] for r in log], decay, trained, k)
                 for k in ("sum", "mean", "tokens")}
    assert semantics["sum"] < 1e-5, (name, semantics)
    inputs = lf.read_jsonl(base / "inputs.jsonl")
    reloaded = PeftModel.from_pretrained(lf.load_base({"kind": kind, "base": ls["base"]}), str(d / "trainer_adapter"))
    out_rows = lf.outputs({"kind": kind}, reloaded.eval(), tok, inputs, settings)
    lf.write_jsonl(d / "expected_trained_outputs.jsonl", out_rows)

    lf.write_json(d / "settings.json", {
        "lora_case": case["lora_case"],
        "base": ls["base"],
        "start_adapter": f"tests/fixtures/lora/{case['lora_case']}/adapter",
        "train": f"tests/fixtures/lora/{case['lora_case']}/train.jsonl",
        "trainer": trainer_cls.__name__,
        "learning_rate": case["lr"],
        "lr_scheduler_type": case["schedule"],
        **run_args(case),
        "examples": len(rows),
        "global_step": trainer.state.global_step,
        "decay_parameters": sorted(n for n in trainable if n in decay),
        "no_decay_parameters": sorted(n for n in trainable if n not in decay),
        "dropout": "every config dropout set to 0 on load; lora_dropout 0",
        "loss": "logged loss and the gradient are the SUM over the micro-batches of each micro-batch's own mean "
                "loss (not divided by gradient_accumulation_steps; see the README)",
        "versions": {"torch": torch.__version__.split("+")[0], "transformers": transformers.__version__,
                     "peft": peft.__version__, "accelerate": accelerate.__version__},
        "replayed_semantics": {
            "what": "the same run replayed by a hand-written loop (torch AdamW with the Trainer's groups, its learning "
                    "rates, clip_grad_norm_) with the step's gradient taken as: sum = sum over the micro-batches of "
                    "the gradients of their own mean losses (what the Trainer does); mean = that sum / the number of "
                    "micro-batches (mean of micro-batch means); tokens = the gradient of the loss summed over every "
                    "label of the step / their count (token-weighted over the accumulation window)",
            "final_adapter_max_abs_diff_relative_to_update": semantics,
        },
    })
    print(json.dumps({"case": name, "losses": [r["loss"] for r in log], "grad_norms": [r["grad_norm"] for r in log],
                      "lrs": [r["learning_rate"] for r in log]}), file=sys.stderr)


def replay(case, tok, rows, settings, groups, lrs, decay, trained, semantics):
    """Max |replayed − Trainer's| over the trainable tensors, relative to the Trainer's largest change."""
    ls = lora_settings(case)
    lora_dir = REPO / "tests/fixtures/lora" / case["lora_case"]
    model = PeftModel.from_pretrained(load_base(case), str(lora_dir / "adapter"), is_trainable=True)
    model.train()
    named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    start = {n: p.detach().clone() for n, p in named}
    a = run_args(case)
    opt = torch.optim.AdamW([{"params": [p for n, p in named if n in decay], "weight_decay": a["weight_decay"]},
                             {"params": [p for n, p in named if n not in decay], "weight_decay": 0.0}],
                            lr=case["lr"], betas=(a["adam_beta1"], a["adam_beta2"]), eps=a["adam_epsilon"])
    data = Rows(case, tok, rows, settings)
    for group, lr in zip(groups, lrs, strict=True):
        opt.zero_grad(set_to_none=True)
        tokens = sum(m["label_count"] for m in group)
        for m in group:
            batch = collate([data[i] for i in m["rows"]])
            batch.pop("rows")
            if semantics == "tokens":
                logits = model(**batch).logits  # T5 needs the labels for its decoder inputs
                loss = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), batch["labels"].reshape(-1),
                                                         ignore_index=-100, reduction="sum") / tokens
            else:
                loss = model(**batch).loss
                if semantics == "mean":
                    loss = loss / len(group)
            loss.backward()
        torch.nn.utils.clip_grad_norm_([p for _, p in named], a["max_grad_norm"])
        for g in opt.param_groups:
            g["lr"] = lr
        opt.step()
    update = max((trained[n] - start[n]).abs().max().item() for n, _ in named)
    return max((p.detach() - trained[n]).abs().max().item() for n, p in named) / update


def check_ours(out_root, ours_root):
    """PEFT loads loratune's adapters (strictly) and gives loratune's outputs."""
    result = {"versions": {"torch": torch.__version__.split("+")[0], "transformers": transformers.__version__,
                           "peft": peft.__version__}, "cases": {}}
    for case in CASES:
        name, kind = case["name"], case["kind"]
        ls = lora_settings(case)
        base = REPO / ls["base"]
        settings = json.loads((base / "settings.json").read_text())
        tok = lf.TOK_CLS[kind].from_pretrained(str(base))
        inputs = lf.read_jsonl(base / "inputs.jsonl")
        adapter = Path(ours_root) / name / "adapter"
        model = PeftModel.from_pretrained(lf.load_base({"kind": kind, "base": ls["base"]}), str(adapter))
        # from_pretrained only warns; load again to see what PEFT matched.
        from peft.utils import load_peft_weights, set_peft_model_state_dict
        report = set_peft_model_state_dict(model, load_peft_weights(str(adapter)))
        missing = [k for k in report.missing_keys if ".lora_" in k or "modules_to_save" in k]
        assert not missing and not report.unexpected_keys, (name, missing, report.unexpected_keys)
        peft_rows = lf.outputs({"kind": kind}, model.eval(), tok, inputs, settings)
        our_rows = lf.read_jsonl(Path(ours_root) / name / "outputs.jsonl")
        assert len(our_rows) == len(peft_rows), (name, len(our_rows), len(peft_rows))
        diff = lf.max_diff(peft_rows, our_rows)
        trainer_rows = lf.read_jsonl(out_root / name / "expected_trained_outputs.jsonl")
        result["cases"][name] = {
            "peft_vs_loratune_max_abs_diff": diff,
            "ours_vs_trainer_adapter_max_abs_diff": lf.max_diff(peft_rows, trainer_rows),
            "missing_lora_keys": missing,
            "unexpected_keys": list(report.unexpected_keys),
            "rows": len(peft_rows),
        }
        assert diff < 1e-4, (name, diff)
        print(json.dumps({name: result["cases"][name]}), file=sys.stderr)
    lf.write_json(out_root / "peft_loads_ours.json", result)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default="tests/fixtures/trainer")
    ap.add_argument("--only", default=None, help="comma-separated case names")
    ap.add_argument("--check-ours", default=None, help="folder of loratune's adapters and outputs (see above)")
    args = ap.parse_args()
    out_root = Path(args.out)
    if not out_root.is_absolute():
        out_root = Path.cwd() / out_root
    out_root.mkdir(parents=True, exist_ok=True)
    if args.check_ours:
        check_ours(out_root, args.check_ours)
        return
    only = set(args.only.split(",")) if args.only else None
    for case in CASES:
        if only is None or case["name"] in only:
            make_case(out_root, case)


if __name__ == "__main__":
    main()
