#!/usr/bin/env python3
"""Generation references from Transformers for tests/generation_parity.rs.

Usage (from the repository root; scripts/reference-env.sh makes .venv/reference):
    scripts/reference-env.sh
    HF_HUB_OFFLINE=1 .venv/reference/bin/python scripts/make_generation_fixtures.py [--out tests/fixtures/generation]

Reads the tiny T5 fixture models of tests/fixtures/t5/ (written by scripts/make_fixtures.py) and
writes (deterministic: running it again rewrites the same bytes):

  decoding.jsonl  one line per (model, setting, input):
      {"model": "flan_like", "setting": NAME, "id", "token_ids", "generated", "min_gap"}
      `generate(input_ids, attention_mask, generation_config=<explicit, see BASE>, **SETTINGS[NAME])`
      on one input at a time (no padding), the model reloaded with from_pretrained, use_cache=False (Transformers 5.24 fails
      with use_cache=True when num_decoder_layers != num_layers: its cache is sized by num_layers).
      token_ids exclude the decoder start token (and, for beam search, are cut at the returned
      length). min_gap: for greedy settings the smallest (top-1 - top-2) processed score over the
      steps; for beam search the best final hypothesis' score minus the second best (from a second
      run with num_return_sequences=num_beams). A near-tie may flip on float noise.
  settings.json   {NAME: generate kwargs} and the inputs used (the fixture's inputs.jsonl, tokenized
      with truncation at 64 tokens).
  processors.json fixed random logits and decoder histories, and Transformers' processed scores:
      {"vocab": V, "cases": [{"name", "settings": {...}, "rows": [{"history": [...], "logits": [V],
      "processed": [V]}]}]} with -inf written as null. The processor list is the one `generate`
      builds (`model._get_logits_processor` after `_prepare_generation_config` and
      `_prepare_special_tokens`), applied to one row at a time (input_ids = the history, which starts
      with the decoder start token 0); eos = 1.
"""

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ["TOKENIZERS_PARALLELISM"] = "false"
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

import argparse
import json
import math
from pathlib import Path

from reference_env import ensure

ensure("reference", ["torch", "transformers"])

import torch
from transformers import GenerationConfig, T5ForConditionalGeneration, T5TokenizerFast
from transformers.utils import logging as hf_logging

hf_logging.set_verbosity_error()
hf_logging.disable_progress_bar()
torch.set_num_threads(1)
torch.use_deterministic_algorithms(True)

ROOT = Path(__file__).resolve().parent.parent
T5_DIR = ROOT / "tests/fixtures/t5"
MODELS = ["flan_like", "silu_like", "t5v1_like"]
MAX_SOURCE = 64

# Everything not in a setting is explicit here, so that nothing comes from a default.
BASE = dict(
    decoder_start_token_id=0, eos_token_id=1, pad_token_id=0, bos_token_id=None, min_length=0,
    forced_bos_token_id=None, forced_eos_token_id=None, suppress_tokens=None, begin_suppress_tokens=None,
    bad_words_ids=None, use_cache=False,
)

SETTINGS = {
    "greedy_rep": dict(max_new_tokens=12, do_sample=False, num_beams=1, repetition_penalty=1.6),
    "greedy_ngram_min": dict(max_new_tokens=14, do_sample=False, num_beams=1, no_repeat_ngram_size=2,
                             min_new_tokens=10),
    "beam4_lp12_es_false": dict(max_new_tokens=12, do_sample=False, num_beams=4, length_penalty=1.2,
                                early_stopping=False, no_repeat_ngram_size=3),
    "beam2_lp05_never": dict(max_new_tokens=10, do_sample=False, num_beams=2, length_penalty=0.5,
                             early_stopping="never"),
    "beam3_lpneg_true_rep": dict(max_new_tokens=12, do_sample=False, num_beams=3, length_penalty=-0.7,
                                 early_stopping=True, repetition_penalty=1.3, min_new_tokens=3),
    "beam5_lp0_min": dict(max_new_tokens=9, do_sample=False, num_beams=5, length_penalty=0.0,
                          early_stopping=False, min_new_tokens=6, no_repeat_ngram_size=2),
}

PROCESSOR_CASES = [
    ("rep_ngram_min", dict(do_sample=False, repetition_penalty=1.7, no_repeat_ngram_size=2, min_new_tokens=5)),
    ("temp_topk", dict(do_sample=True, temperature=0.7, top_k=7, top_p=1.0)),
    ("topp", dict(do_sample=True, temperature=1.0, top_k=0, top_p=0.8)),
    ("all", dict(do_sample=True, repetition_penalty=0.8, no_repeat_ngram_size=3, min_new_tokens=2,
                 temperature=1.3, top_k=20, top_p=0.9)),
    ("topk_default", dict(do_sample=True, temperature=0.5)),
]
PROC_VOCAB = 96


def write_json(path, obj):
    with open(path, "w", encoding="utf-8") as f:
        json.dump(obj, f, ensure_ascii=False, indent=1)
        f.write("\n")


def finite_or_none(xs):
    return [None if math.isinf(x) and x < 0 else float(x) for x in xs]


def decoding_refs(out):
    rows = []
    inputs_used = {}
    for name in MODELS:
        d = T5_DIR / name
        model = T5ForConditionalGeneration.from_pretrained(str(d)).eval()
        tok = T5TokenizerFast.from_pretrained(str(d))
        with open(d / "inputs.jsonl", encoding="utf-8") as f:
            inputs = [json.loads(l) for l in f if l.strip()]
        inputs_used[name] = [x["id"] for x in inputs]
        for sname, kw in SETTINGS.items():
            for ex in inputs:
                src = tok(ex["source"], truncation=True, max_length=MAX_SOURCE).input_ids
                x = torch.tensor([src])
                gc = GenerationConfig(**BASE)
                with torch.no_grad():
                    g = model.generate(input_ids=x, attention_mask=torch.ones_like(x), generation_config=gc,
                                       output_scores=True, return_dict_in_generate=True, **kw)
                seq = g.sequences[0].tolist()
                assert seq[0] == 0
                ids = seq[1:]
                if kw["num_beams"] > 1:
                    # final scores of all num_beams hypotheses: the best one's lead over the next
                    with torch.no_grad():
                        a = model.generate(input_ids=x, attention_mask=torch.ones_like(x),
                                           generation_config=GenerationConfig(**BASE), output_scores=True,
                                           return_dict_in_generate=True, num_return_sequences=kw["num_beams"], **kw)
                    assert a.sequences[0].tolist()[: len(seq)] == seq
                    sc = a.sequences_scores.tolist()
                    gap = float(sc[0] - sc[1])
                else:
                    gap = float("inf")
                    for step, sc in enumerate(g.scores):
                        top = torch.topk(sc[0].float(), 2)
                        assert int(top.indices[0]) == ids[step]
                        gap = min(gap, float(top.values[0] - top.values[1]))
                rows.append({"model": name, "setting": sname, "id": ex["id"], "token_ids": ids,
                             "generated": tok.decode(seq, skip_special_tokens=True), "min_gap": gap})
    with open(out / "decoding.jsonl", "w", encoding="utf-8") as f:
        for r in rows:
            f.write(json.dumps(r, ensure_ascii=False))
            f.write("\n")
    write_json(out / "settings.json", {"base": BASE, "settings": SETTINGS, "max_source_tokens": MAX_SOURCE,
                                       "inputs": inputs_used})
    return rows


def processor_refs(out):
    model = T5ForConditionalGeneration.from_pretrained(str(T5_DIR / MODELS[0])).eval()
    g = torch.Generator().manual_seed(1234)
    histories = [
        [0],
        [0, 5, 6, 7, 5, 6],
        [0, 9, 9, 9, 3, 3, 40, 41, 42, 40, 41],
        [0, 12, 13, 14, 15, 16, 17, 12, 13],
    ]
    cases = []
    for cname, kw in PROCESSOR_CASES:
        gc = GenerationConfig(**{**BASE, "max_new_tokens": 20, "num_beams": 1, **kw})
        gc, _ = model._prepare_generation_config(gc)
        model._prepare_special_tokens(gc, kwargs_has_attention_mask=True, device="cpu")
        procs = model._get_logits_processor(
            generation_config=gc, input_ids_seq_length=1, encoder_input_ids=torch.tensor([[5, 1]]),
            prefix_allowed_tokens_fn=None, logits_processor=None, device="cpu", model_kwargs={},
        )
        rows = []
        for hist in histories:
            logits = torch.randn(1, PROC_VOCAB, generator=g) * 2.5
            # make repeated / banned tokens matter: give history tokens large scores of both signs
            for j, t in enumerate(hist):
                logits[0, t] = (4.0 if j % 2 == 0 else -3.0) + 0.25 * j
            logits[0, 1] = 3.5  # EOS competitive
            processed = procs(torch.tensor([hist]), logits.clone())
            rows.append({"history": hist, "logits": logits[0].tolist(),
                         "processed": finite_or_none(processed[0].tolist())})
        cases.append({"name": cname, "settings": kw, "processors": [type(p).__name__ for p in procs], "rows": rows})
    write_json(out / "processors.json", {"vocab": PROC_VOCAB, "eos": 1, "cases": cases})


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=str(ROOT / "tests/fixtures/generation"))
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    processor_refs(out)
    rows = decoding_refs(out)
    lens = {}
    for r in rows:
        lens.setdefault((r["model"], r["setting"]), []).append(len(r["token_ids"]))
    for k, v in lens.items():
        print(k, v)


if __name__ == "__main__":
    main()
