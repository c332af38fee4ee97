#!/usr/bin/env python3
"""Generate the PEFT LoRA reference fixtures under tests/fixtures/lora/.

Usage (from the repository root; scripts/reference-env.sh makes .venv/reference):
    scripts/reference-env.sh
    HF_HUB_OFFLINE=1 .venv/reference/bin/python scripts/make_lora_fixtures.py [--out tests/fixtures/lora] [--skip-counts]

Needs the tiny base models written by scripts/make_fixtures.py (tests/fixtures/t5/*, distilbert/*, bert/*).
Packages: scripts/requirements-reference.txt (peft 0.21.2). The MiniLM config comes from
LORATUNE_SHARED, else ../shared next to the repository.

Deterministic: fixed seeds, single-threaded torch, deterministic algorithms, and PYTHONHASHSEED=0 (the
script re-executes itself with it, because PEFT keeps `target_modules` as a Python set and writes it into
adapter_config.json in set-iteration order). Running it again rewrites the same bytes.

For every case (see CASES) it writes tests/fixtures/lora/<case>/:
  adapter/                        PEFT adapter (random non-zero lora_A AND lora_B; perturbed modules_to_save)
  expected_outputs.jsonl          per-example loss (T5) / logits (classifiers) with that adapter
  train.jsonl, train_settings.json
  expected_steps.jsonl            loss of each of 8 AdamW steps (plain PyTorch loop)
  trained_adapter/                the adapter after those steps
  expected_trained_outputs.jsonl  per-example outputs with the trained adapter
  merged/ + expected_merged_outputs.jsonl   (only t5_qv and distilbert_cls) merge_and_unload() of the
                                  ORIGINAL adapter, saved and reloaded with the plain transformers class
  peft_info.json                  PEFT parameter counts, LoRA module names, adapter keys
and tests/fixtures/lora/peft_counts.json (PEFT counts for the real-size architectures, meta device).
See tests/fixtures/lora/README.md for the exact semantics.

Floats are written as JSON numbers: float(float32) -> Python repr, i.e. the exact float32 value.
"""

import os
import sys

from reference_env import SHARED, ensure

ensure("reference", ["torch", "transformers", "peft", "safetensors"])

if os.environ.get("PYTHONHASHSEED") != "0":
    os.environ["PYTHONHASHSEED"] = "0"
    os.execv(sys.executable, [sys.executable] + sys.argv)

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ["TOKENIZERS_PARALLELISM"] = "false"
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

import argparse
import copy
import json
import shutil
import warnings
from pathlib import Path

import torch
import peft
import transformers
from peft import LoraConfig, PeftModel, TaskType, get_peft_model
from peft.tuners.lora import LoraLayer
from peft.utils import ModulesToSaveWrapper
from safetensors import safe_open
from transformers import (
    BertConfig,
    BertForSequenceClassification,
    BertTokenizerFast,
    DistilBertConfig,
    DistilBertForSequenceClassification,
    DistilBertTokenizerFast,
    T5Config,
    T5ForConditionalGeneration,
    T5TokenizerFast,
)
from transformers.utils import logging as hf_logging

hf_logging.set_verbosity_error()
hf_logging.disable_progress_bar()
warnings.filterwarnings("ignore")
torch.set_num_threads(1)
torch.use_deterministic_algorithms(True)

REPO = Path(__file__).resolve().parent.parent
MINILM_CONFIG = SHARED / "models/all-MiniLM-L6-v2/config.json"

HEAD_NOISE_STD = 0.1       # added to every modules_to_save copy (weight and bias)
# Conditioning check: the training run is repeated with every gradient multiplied by (1 + COND_NOISE * N(0,1))
# (about one float32 ulp); the resulting step-loss / weight differences are recorded in peft_info.json and must
# stay below COND_MAX_LOSS_DIFF, so that an independent float32 implementation can match the references.
COND_NOISE = 1e-7
COND_MAX_LOSS_DIFF = 2e-4

TRAIN = {
    "batch_size": 4,
    "steps": 8,
    "weight_decay": 0.01,
    "adam_beta1": 0.9,
    "adam_beta2": 0.999,
    "adam_epsilon": 1e-8,
    "max_grad_norm": 0,
    "lr_scheduler_type": "constant",
    "warmup_steps": 0,
    "shuffle": False,
    "batching": "consecutive rows, wrapping around",
    "dropout": 0,
    "gradient_accumulation_steps": 1,
}

CASES = [
    dict(name="t5_qv", kind="t5", base="tests/fixtures/t5/flan_like", seed=4101, lr=1e-2, lora_std=0.1, merged=True,
         lora=dict(task_type=TaskType.SEQ_2_SEQ_LM, r=4, lora_alpha=8, lora_dropout=0.0, target_modules=["q", "v"])),
    dict(name="t5_all", kind="t5", base="tests/fixtures/t5/t5v1_like", seed=4102, lr=1e-4, lora_std=0.1, merged=False,
         # t5v1_like is very sharp (its loss moves ~1e-3 when the weights move by 1e-6 relative): with
         # lr 1e-2 the 8-step trajectory is chaotic (1-ulp gradient noise changes step losses by ~1).
         note="lr 1e-4 (not 1e-2): the t5v1_like base is ill-conditioned; with lr 1e-2 the run is chaotic",
         lora=dict(task_type=TaskType.SEQ_2_SEQ_LM, r=2, lora_alpha=6, lora_dropout=0.0,
                   target_modules=["q", "k", "v", "o", "wi", "wo"])),
    dict(name="distilbert_cls", kind="distilbert", base="tests/fixtures/distilbert/cls2", seed=4103, lr=1e-2, lora_std=0.3, merged=True,
         lora=dict(task_type=TaskType.SEQ_CLS, r=4, lora_alpha=16, lora_dropout=0.0, target_modules=["q_lin"],
                   modules_to_save=["classifier"])),
    dict(name="bert_cls", kind="bert", base="tests/fixtures/bert/cls2", seed=4104, lr=1e-2, lora_std=0.3, merged=False,
         lora=dict(task_type=TaskType.SEQ_CLS, r=3, lora_alpha=6, lora_dropout=0.0, target_modules=["query", "value"],
                   modules_to_save=["classifier"])),
]

MODEL_CLS = {"t5": T5ForConditionalGeneration, "distilbert": DistilBertForSequenceClassification,
             "bert": BertForSequenceClassification}
TOK_CLS = {"t5": T5TokenizerFast, "distilbert": DistilBertTokenizerFast, "bert": BertTokenizerFast}
TOKENIZER_FILES = ["tokenizer.json", "tokenizer_config.json"]


# --------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------


def read_jsonl(path):
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def write_json(path, obj, indent=1):
    with open(path, "w", encoding="utf-8") as f:
        json.dump(obj, f, ensure_ascii=False, indent=indent)
        f.write("\n")


def write_jsonl(path, rows):
    with open(path, "w", encoding="utf-8") as f:
        for r in rows:
            f.write(json.dumps(r, ensure_ascii=False))
            f.write("\n")


def floats(t):
    return t.detach().to(torch.float32).cpu().tolist()


def fresh_dir(path):
    path = Path(path)
    if path.exists():
        shutil.rmtree(path)
    path.mkdir(parents=True)
    return path


def load_base(case):
    return MODEL_CLS[case["kind"]].from_pretrained(str(REPO / case["base"])).eval()


def make_lora_config(case):
    return LoraConfig(**copy.deepcopy(case["lora"]))


def randomize_adapter(model, seed, lora_std):
    """lora_A, lora_B ~ N(0, lora_std^2); modules_to_save copies += N(0, HEAD_NOISE_STD^2)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if not p.requires_grad:
                continue
            if ".lora_A." in name or ".lora_B." in name:
                p.copy_(torch.randn(p.shape, generator=g) * lora_std)
            elif ".modules_to_save." in name:
                p.add_(torch.randn(p.shape, generator=g) * HEAD_NOISE_STD)
            else:
                raise AssertionError(f"unexpected trainable parameter {name}")


def save_adapter(model, out_dir, base_rel):
    model.peft_config["default"].base_model_name_or_path = base_rel
    model.save_pretrained(str(out_dir))
    # PEFT also writes a model-card README.md holding the ABSOLUTE base path; not part of the format.
    (Path(out_dir) / "README.md").unlink()
    cfg = json.loads((Path(out_dir) / "adapter_config.json").read_text())
    assert cfg["base_model_name_or_path"] == base_rel, cfg["base_model_name_or_path"]


def load_adapter(case, adapter_dir, trainable=False):
    m = PeftModel.from_pretrained(load_base(case), str(adapter_dir), is_trainable=trainable)
    return m.train(False)


def t5_example(tok, ex, settings):
    src = tok(ex["source"], truncation=True, max_length=settings["max_source_tokens"]).input_ids
    lab = tok(ex["target"], truncation=True, max_length=settings["max_target_tokens"]).input_ids
    return src, lab


def outputs(case, model, tok, inputs, settings):
    """Per-example references, one example at a time, no padding."""
    model.eval()
    rows = []
    for ex in inputs:
        with torch.no_grad():
            if case["kind"] == "t5":
                src, lab = t5_example(tok, ex, settings)
                loss = model(input_ids=torch.tensor([src]), labels=torch.tensor([lab])).loss
                rows.append({"id": ex["id"], "loss": float(loss)})
            else:
                enc = tok(ex["text"], truncation=True, max_length=settings["max_tokens"], return_tensors="pt")
                logits = model(**enc).logits[0]
                rows.append({"id": ex["id"], "logits": floats(logits)})
    return rows


def max_diff(rows_a, rows_b):
    d = 0.0
    for a, b in zip(rows_a, rows_b, strict=True):
        assert a["id"] == b["id"]
        if "loss" in a:
            d = max(d, abs(a["loss"] - b["loss"]))
        else:
            d = max(d, max(abs(x - y) for x, y in zip(a["logits"], b["logits"], strict=True)))
    return d


def make_batch(case, tok, rows, settings):
    if case["kind"] == "t5":
        pairs = [t5_example(tok, ex, settings) for ex in rows]
        ls = max(len(s) for s, _ in pairs)
        lt = max(len(t) for _, t in pairs)
        input_ids = torch.tensor([s + [0] * (ls - len(s)) for s, _ in pairs])
        attention_mask = torch.tensor([[1] * len(s) + [0] * (ls - len(s)) for s, _ in pairs])
        labels = torch.tensor([t + [-100] * (lt - len(t)) for _, t in pairs])
        return dict(input_ids=input_ids, attention_mask=attention_mask, labels=labels)
    enc = tok([ex["text"] for ex in rows], truncation=True, max_length=settings["max_tokens"], padding="longest",
              return_tensors="pt")
    enc = dict(enc)
    enc["labels"] = torch.tensor([ex["label"] for ex in rows])
    return enc


def train(case, model, tok, train_rows, settings, grad_noise=0.0):
    """Plain PyTorch loop; returns the per-step rows. Mutates `model`. `grad_noise` > 0 only for the
    conditioning check (multiplies every gradient by 1 + grad_noise * N(0, 1) before the step)."""
    noise_gen = torch.Generator().manual_seed(12345)
    model.eval()  # every dropout off (lora_dropout is 0 anyway)
    # Transformers' Trainer groups: no weight decay for biases (and LayerNorm weights, none trainable here).
    named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    params = [p for _, p in named]
    groups = [{"params": [p for n, p in named if not n.endswith(".bias")], "weight_decay": TRAIN["weight_decay"]},
              {"params": [p for n, p in named if n.endswith(".bias")], "weight_decay": 0.0}]
    opt = torch.optim.AdamW(groups, lr=case["lr"], betas=(TRAIN["adam_beta1"], TRAIN["adam_beta2"]),
                            eps=TRAIN["adam_epsilon"], foreach=False)
    n, bs = len(train_rows), TRAIN["batch_size"]
    steps = []
    for k in range(TRAIN["steps"]):
        idx = [(k * bs + j) % n for j in range(bs)]
        batch = make_batch(case, tok, [train_rows[i] for i in idx], settings)
        opt.zero_grad(set_to_none=True)
        loss = model(**batch).loss
        loss.backward()
        gnorm = torch.sqrt(sum((p.grad.double() ** 2).sum() for p in params if p.grad is not None))
        if grad_noise:
            with torch.no_grad():
                for p in params:
                    p.grad.mul_(1 + grad_noise * torch.randn(p.shape, generator=noise_gen))
        opt.step()
        steps.append({"step": k + 1, "loss": float(loss.detach()), "rows": idx, "grad_norm": float(gnorm)})
    return steps


def adapter_keys(adapter_dir):
    with safe_open(str(Path(adapter_dir) / "adapter_model.safetensors"), "pt") as f:
        return {k: list(f.get_slice(k).get_shape()) for k in sorted(f.keys())}


def strip_prefix(name):
    p = "base_model.model."
    return name[len(p):] if name.startswith(p) else name


# --------------------------------------------------------------------------------------------
# one case
# --------------------------------------------------------------------------------------------


def make_case(out_root, case):
    name, kind = case["name"], case["kind"]
    base_dir = REPO / case["base"]
    d = fresh_dir(out_root / name)
    settings = json.loads((base_dir / "settings.json").read_text())
    tok = TOK_CLS[kind].from_pretrained(str(base_dir))
    inputs = read_jsonl(base_dir / "inputs.jsonl")

    # ---- adapter with random non-zero A and B -------------------------------------------------
    torch.manual_seed(case["seed"])
    model = get_peft_model(load_base(case), make_lora_config(case))
    randomize_adapter(model, case["seed"], case["lora_std"])
    model.eval()
    trainable, total = model.get_nb_trainable_parameters()
    lora_modules = [strip_prefix(n) for n, m in model.named_modules() if isinstance(m, LoraLayer)]
    mts_modules = [strip_prefix(n) for n, m in model.named_modules() if isinstance(m, ModulesToSaveWrapper)]
    trainable_names = [n for n, p in model.named_parameters() if p.requires_grad]
    save_adapter(model, d / "adapter", case["base"])
    mem_rows = outputs(case, model, tok, inputs, settings)

    # References come from the adapter reloaded from disk.
    reloaded = load_adapter(case, d / "adapter")
    exp_rows = outputs(case, reloaded, tok, inputs, settings)
    assert max_diff(mem_rows, exp_rows) == 0.0, (name, max_diff(mem_rows, exp_rows))
    base_rows = outputs(case, load_base(case), tok, inputs, settings)
    base_shift = max_diff(base_rows, exp_rows)
    assert base_shift > 1e-2, (name, "adapter has no visible effect", base_shift)
    write_jsonl(d / "expected_outputs.jsonl", exp_rows)

    # ---- merged (original adapter) ------------------------------------------------------------
    merged_diff = None
    if case["merged"]:
        merged = load_adapter(case, d / "adapter").merge_and_unload()
        assert not any("lora" in n or "modules_to_save" in n for n, _ in merged.named_parameters())
        md = d / "merged"
        merged.save_pretrained(str(md))
        for f in TOKENIZER_FILES:
            shutil.copyfile(base_dir / f, md / f)
        plain = MODEL_CLS[kind].from_pretrained(str(md)).eval()
        merged_rows = outputs(case, plain, tok, inputs, settings)
        merged_diff = max_diff(merged_rows, exp_rows)
        assert merged_diff < 1e-4, (name, merged_diff)
        write_jsonl(d / "expected_merged_outputs.jsonl", merged_rows)

    # ---- training -----------------------------------------------------------------------------
    if kind == "t5":
        shutil.copyfile(base_dir / "inputs.jsonl", d / "train.jsonl")
        train_rows = read_jsonl(d / "train.jsonl")
    else:
        num_labels = reloaded.config.num_labels
        train_rows = [{"id": ex["id"], "text": ex["text"], "label": i % num_labels} for i, ex in enumerate(inputs)]
        write_jsonl(d / "train.jsonl", train_rows)
    ts = dict(TRAIN)
    ts["learning_rate"] = case["lr"]
    ts["optimizer"] = ("torch.optim.AdamW(trainable_params, lr, betas=(adam_beta1, adam_beta2), eps=adam_epsilon, "
                       "foreach=False) with Transformers Trainer's parameter groups: decoupled weight decay on every "
                       "trainable parameter except biases (weight_decay 0 for names ending in .bias)")
    ts["batching_detail"] = "step k (1-based) uses rows [(k-1)*B + j) mod len(train.jsonl) for j in 0..B"
    ts["model_mode"] = "model.eval() during training (all dropout off); lora_dropout 0"
    ts["loss"] = ("T5: model(input_ids, attention_mask, labels).loss, sources padded with 0 (mask 0), labels padded "
                  "with -100; mean over all non-pad target tokens of the batch" if kind == "t5" else
                  "model(input_ids, attention_mask[, token_type_ids], labels).loss: mean cross-entropy over the batch; "
                  "texts padded to the longest with [PAD]=0, attention_mask 0 there")
    if kind == "t5":
        ts.update(max_source_tokens=settings["max_source_tokens"], max_target_tokens=settings["max_target_tokens"],
                  pad_token_id=0, label_pad_id=-100)
    else:
        ts.update(max_tokens=settings["max_tokens"], pad_token_id=0, label_rule="label = row index % num_labels",
                  num_labels=reloaded.config.num_labels)
    ts["base"] = case["base"]
    if "note" in case:
        ts["note"] = case["note"]
    ts["lora"] = {k: (v.value if isinstance(v, TaskType) else v) for k, v in case["lora"].items()}
    write_json(d / "train_settings.json", ts)

    torch.manual_seed(case["seed"] + 1)
    trainee = load_adapter(case, d / "adapter", trainable=True)
    assert trainee.get_nb_trainable_parameters() == (trainable, total)
    assert [n for n, p in trainee.named_parameters() if p.requires_grad] == trainable_names
    steps = train(case, trainee, tok, train_rows, settings)
    write_jsonl(d / "expected_steps.jsonl", [{"step": s["step"], "loss": s["loss"], "rows": s["rows"],
                                               "grad_norm": s["grad_norm"]} for s in steps])
    trainee.eval()
    save_adapter(trainee, d / "trained_adapter", case["base"])
    trained_mem = outputs(case, trainee, tok, inputs, settings)
    trained_rows = outputs(case, load_adapter(case, d / "trained_adapter"), tok, inputs, settings)
    assert max_diff(trained_mem, trained_rows) == 0.0
    trained_shift = max_diff(trained_rows, exp_rows)
    assert trained_shift > 1e-3, (name, trained_shift)
    write_jsonl(d / "expected_trained_outputs.jsonl", trained_rows)

    # Re-check the training loop is reproducible from the saved files alone.
    trainee2 = load_adapter(case, d / "adapter", trainable=True)
    steps2 = train(case, trainee2, tok, read_jsonl(d / "train.jsonl"), settings)
    assert [s["loss"] for s in steps2] == [s["loss"] for s in steps], name
    tsd = {n: p.detach().clone() for n, p in trainee.named_parameters() if p.requires_grad}

    # Conditioning: same run with ~1-ulp gradient noise.
    trainee3 = load_adapter(case, d / "adapter", trainable=True)
    steps3 = train(case, trainee3, tok, train_rows, settings, grad_noise=COND_NOISE)
    cond_steps = [abs(a["loss"] - b["loss"]) for a, b in zip(steps, steps3, strict=True)]
    cond_w = max((p.detach() - tsd[n]).abs().max().item() for n, p in trainee3.named_parameters() if p.requires_grad)
    cond_out = max_diff(outputs(case, trainee3, tok, inputs, settings), trained_rows)
    assert max(cond_steps) < COND_MAX_LOSS_DIFF, (name, cond_steps)

    keys = adapter_keys(d / "adapter")
    assert keys == adapter_keys(d / "trained_adapter")
    cfg = reloaded.peft_config["default"]
    info = {
        "trainable": trainable,
        "all": total,
        "peft_version": peft.__version__,
        "transformers_version": transformers.__version__,
        "torch_version": torch.__version__.split("+")[0],
        "r": cfg.r,
        "lora_alpha": cfg.lora_alpha,
        "scaling": cfg.lora_alpha / cfg.r,
        "lora_modules": lora_modules,
        "modules_to_save_copies": mts_modules,
        "trainable_parameters": trainable_names,
        "adapter_keys": keys,
        "lora_init_std": case["lora_std"],
        "head_noise_std": HEAD_NOISE_STD if mts_modules else None,
        "seed": case["seed"],
        "conditioning": {
            "grad_noise_rel": COND_NOISE,
            "step_loss_abs_diff": cond_steps,
            "trained_weights_max_abs_diff": cond_w,
            "trained_outputs_max_abs_diff": cond_out,
        },
    }
    write_json(d / "peft_info.json", info)

    summary = {
        "case": name, "trainable": trainable, "all": total, "n_lora_modules": len(lora_modules),
        "modules_to_save": mts_modules, "adapter_vs_base_max_diff": base_shift, "merged_max_diff": merged_diff,
        "trained_vs_adapter_max_diff": trained_shift, "cond_max_step_loss_diff": max(cond_steps),
        "cond_trained_out_diff": cond_out, "step_losses": [round(s["loss"], 4) for s in steps],
    }
    print(json.dumps(summary), file=sys.stderr)
    return summary


# --------------------------------------------------------------------------------------------
# real-size counts
# --------------------------------------------------------------------------------------------


def real_counts():
    def count(build, lcfg):
        with torch.device("meta"):
            m = build()
            pm = get_peft_model(m, lcfg)
        t, a = pm.get_nb_trainable_parameters()
        lora = sum(p.numel() for n, p in pm.named_parameters() if ".lora_" in n)
        mts = sum(p.numel() for n, p in pm.named_parameters() if ".modules_to_save." in n)
        copies = sorted(strip_prefix(n) for n, mod in pm.named_modules() if isinstance(mod, ModulesToSaveWrapper))
        return {"trainable": t, "all": a, "lora_params": lora, "modules_to_save_params": mts,
                "modules_to_save_copies": copies}

    def base_count(build):
        with torch.device("meta"):
            return sum(p.numel() for p in build().parameters())

    distil_cfg = DistilBertConfig(vocab_size=30522, dim=768, n_layers=6, n_heads=12, hidden_dim=3072,
                                  max_position_embeddings=512, num_labels=2)
    flan_cfg = T5Config(vocab_size=32128, d_model=768, d_kv=64, d_ff=2048, num_layers=12, num_decoder_layers=12,
                        num_heads=12, feed_forward_proj="gated-gelu", tie_word_embeddings=False,
                        relative_attention_num_buckets=32, relative_attention_max_distance=128)
    minilm = json.loads(MINILM_CONFIG.read_text())
    minilm = {k: v for k, v in minilm.items() if k not in ("_name_or_path", "architectures", "transformers_version",
                                                           "gradient_checkpointing", "model_type")}
    bert_cfg = BertConfig(**minilm, num_labels=2)

    out = {}
    b = lambda: DistilBertForSequenceClassification(distil_cfg)
    out["distilbert-base-uncased"] = {
        "model": "DistilBertForSequenceClassification, num_labels 2, vocab 30522, dim 768, 6 layers, 12 heads, "
                 "hidden_dim 3072, max_position_embeddings 512",
        "lora": {"task_type": "SEQ_CLS", "r": 8, "lora_alpha": 16, "target_modules": ["q_lin"],
                 "modules_to_save": ["classifier"]},
        "base_params": base_count(b),
        **count(b, LoraConfig(task_type=TaskType.SEQ_CLS, r=8, lora_alpha=16, target_modules=["q_lin"],
                              modules_to_save=["classifier"])),
    }
    b = lambda: T5ForConditionalGeneration(flan_cfg)
    out["google/flan-t5-base"] = {
        "model": "T5ForConditionalGeneration, vocab 32128, d_model 768, d_kv 64, d_ff 2048, 12+12 layers, 12 heads, "
                 "gated-gelu, tie_word_embeddings false",
        "lora": {"task_type": "SEQ_2_SEQ_LM", "r": 32, "lora_alpha": 32, "target_modules": ["q", "v"]},
        "base_params": base_count(b),
        **count(b, LoraConfig(task_type=TaskType.SEQ_2_SEQ_LM, r=32, lora_alpha=32, target_modules=["q", "v"])),
    }
    b = lambda: BertForSequenceClassification(bert_cfg)
    out["all-MiniLM-L6-v2"] = {
        "model": "BertForSequenceClassification, num_labels 2, config from all-MiniLM-L6-v2/config.json "
                 "(vocab 30522, hidden 384, 6 layers, 12 heads, intermediate 1536)",
        "lora": {"task_type": "SEQ_CLS", "r": 8, "lora_alpha": 16, "target_modules": ["query", "value"],
                 "modules_to_save": ["classifier"]},
        "base_params": base_count(b),
        **count(b, LoraConfig(task_type=TaskType.SEQ_CLS, r=8, lora_alpha=16, target_modules=["query", "value"],
                              modules_to_save=["classifier"])),
    }
    assert out["distilbert-base-uncased"]["trainable"] == 665_858, out["distilbert-base-uncased"]
    assert out["distilbert-base-uncased"]["all"] == 67_620_868, out["distilbert-base-uncased"]
    assert out["google/flan-t5-base"]["trainable"] == 3_538_944, out["google/flan-t5-base"]
    out["_note"] = ("PEFT get_nb_trainable_parameters(): 'all' counts every parameter of the PeftModel, i.e. base + "
                    "LoRA A/B + the trainable modules_to_save copies (the frozen originals are counted too). "
                    "lora_alpha does not change the counts. Built on the meta device (random init, no download).")
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default="tests/fixtures/lora")
    ap.add_argument("--only", default=None, help="comma-separated case names")
    ap.add_argument("--skip-counts", action="store_true")
    args = ap.parse_args()
    out_root = Path(args.out)
    if not out_root.is_absolute():
        out_root = Path.cwd() / out_root
    out_root.mkdir(parents=True, exist_ok=True)
    only = set(args.only.split(",")) if args.only else None
    for case in CASES:
        if only is None or case["name"] in only:
            make_case(out_root, case)
    if not args.skip_counts:
        counts = real_counts()
        write_json(out_root / "peft_counts.json", counts)
        print(json.dumps(counts), file=sys.stderr)


if __name__ == "__main__":
    main()
