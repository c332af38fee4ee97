#!/usr/bin/env python3
"""Generate the small reference fixtures under tests/fixtures/.

Usage (from the repository root; scripts/reference-env.sh makes .venv/reference):
    scripts/reference-env.sh
    HF_HUB_OFFLINE=1 .venv/reference/bin/python scripts/make_fixtures.py [--out tests/fixtures] [--only t5|encoders]

Data and the MiniLM model come from LORATUNE_SHARED, else ../shared next to the repository.

Everything is deterministic (fixed seeds, single-threaded torch and tokenizers): running the script
again with the same package versions (scripts/requirements-reference.txt) reproduces the same files
byte for byte.

What it writes (see tests/fixtures/README.md for the schemas):
  tokenizers/t5_unigram/       tiny T5-style Unigram tokenizer (sentencepiece -> T5TokenizerFast.save_pretrained)
  tokenizers/bert_wordpiece/   tiny BERT-style WordPiece tokenizer (BertTokenizerFast.save_pretrained)
  t5/<name>/                   random tiny T5ForConditionalGeneration + tokenizer + references
  distilbert/<name>/           random tiny DistilBertForSequenceClassification + tokenizer + references
  bert/<name>/                 random tiny BertForSequenceClassification / BertModel + references
  minilm/expected_hidden.json  slices of all-MiniLM-L6-v2 hidden states (model not copied)

Floats are written as JSON numbers: float(float32) -> Python repr, i.e. the exact float32 value.
"""

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
# No rayon thread pool in `tokenizers` (determinism, no fork warnings).
os.environ["TOKENIZERS_PARALLELISM"] = "false"
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

import argparse
import json
import shutil
import sys
from pathlib import Path

from reference_env import SHARED, ensure, shown

ensure("reference", ["torch", "transformers", "tokenizers", "sentencepiece"])

import torch
import transformers
import tokenizers
from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors
from transformers import (
    BertConfig,
    BertForSequenceClassification,
    BertModel,
    BertTokenizerFast,
    DistilBertConfig,
    DistilBertForSequenceClassification,
    DistilBertTokenizerFast,
    GenerationConfig,
    T5Config,
    T5ForConditionalGeneration,
    T5TokenizerFast,
)
from transformers.utils import logging as hf_logging

hf_logging.set_verbosity_error()
hf_logging.disable_progress_bar()
torch.set_num_threads(1)
torch.use_deterministic_algorithms(True)

DIALOGSUM_TRAIN = SHARED / "data/dialogsum/train.jsonl"
DIALOGSUM_VAL = SHARED / "data/dialogsum/validation.jsonl"
IMDB_TRAIN = SHARED / "data/imdb/train.jsonl"
IMDB_TEST = SHARED / "data/imdb/test.jsonl"
MINILM = SHARED / "models/all-MiniLM-L6-v2"

T5_SETTINGS = {"max_source_tokens": 64, "max_target_tokens": 16, "max_new_tokens": 12}
ENC_SETTINGS = {"max_tokens": 48}


# --------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------


def read_jsonl(path, limit=None):
    out = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            if limit is not None and len(out) >= limit:
                break
            out.append(json.loads(line))
    return out


def write_json(path, obj, indent=1):
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        json.dump(obj, f, ensure_ascii=False, indent=indent)
        f.write("\n")


def write_jsonl(path, rows):
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        for r in rows:
            f.write(json.dumps(r, ensure_ascii=False))
            f.write("\n")


def floats(t):
    """Tensor (any shape) -> nested lists of Python floats holding the exact float32 values."""
    t = t.detach().to(torch.float32).cpu()
    return t.tolist()


def fresh_dir(path):
    path = Path(path)
    if path.exists():
        shutil.rmtree(path)
    path.mkdir(parents=True)
    return path


def save_hf_tokenizer(kind, raw, out_dir):
    """Wrap the raw `tokenizers.Tokenizer` in the transformers class and save_pretrained it
    (tokenizer.json + tokenizer_config.json; transformers 5 writes no special_tokens_map.json)."""
    if kind == "t5":
        hf = T5TokenizerFast(
            tokenizer_object=raw, eos_token="</s>", pad_token="<pad>", unk_token="<unk>", extra_ids=0,
            clean_up_tokenization_spaces=False, model_max_length=512,
        )
    else:
        cls = {"bert": BertTokenizerFast, "distilbert": DistilBertTokenizerFast}[kind]
        hf = cls(tokenizer_object=raw, do_lower_case=True, clean_up_tokenization_spaces=False, model_max_length=64)
    hf.save_pretrained(str(out_dir))
    return hf


def perturb_constant_params(model, seed, spread=0.3, bias_std=0.1):
    """Parameters that are initialised to a constant (LayerNorm weights = 1, biases = 0) get random
    values, so that a loader that ignores them (or mixes them up) fails the fixtures."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for _, p in sorted(model.named_parameters()):
            flat = p.flatten()
            if p.numel() > 1 and bool(torch.all(flat == flat[0])):
                v = float(flat[0])
                noise = torch.randn(p.shape, generator=g)
                if v == 0.0:
                    p.copy_(bias_std * noise)
                else:
                    p.copy_(v * (1.0 + spread * noise))


def edit_config(path, updates=None, remove=()):
    with open(path, encoding="utf-8") as f:
        cfg = json.load(f)
    for k in remove:
        cfg.pop(k, None)
    for k, v in (updates or {}).items():
        cfg[k] = v
    with open(path, "w", encoding="utf-8") as f:
        json.dump(cfg, f, indent=2, sort_keys=True)
        f.write("\n")


def check_standalone_tokenizer(tok_dir, hf_tok, texts, max_length):
    """The Rust side loads only tokenizer.json: make sure it encodes exactly like the HF wrapper."""
    raw = Tokenizer.from_file(str(Path(tok_dir) / "tokenizer.json"))
    for t in texts:
        a = hf_tok(t, truncation=True, max_length=max_length).input_ids
        enc = raw.encode(t)
        b = enc.ids
        if len(b) > max_length:
            raw.enable_truncation(max_length)
            b = raw.encode(t).ids
            raw.no_truncation()
        assert a == b, f"tokenizer.json mismatch for {t!r}:\n{a}\n{b}"
        d1 = hf_tok.decode(a, skip_special_tokens=True)
        d2 = raw.decode(b, skip_special_tokens=True)
        assert d1 == d2, f"decode mismatch {d1!r} vs {d2!r}"


# --------------------------------------------------------------------------------------------
# tokenizers
# --------------------------------------------------------------------------------------------


def build_t5_tokenizer(out_dir):
    """T5-style tokenizer, made the way real T5 tokenizer.json files are made: a sentencepiece
    Unigram model (nmt_nfkc normaliser) converted by transformers' T5 converter. Result:
    no normalizer (the converter's 320 kB "Precompiled" one is dropped), WhitespaceSplit + Metaspace("▁", prepend_scheme=always) pre-tokenizer,
    Unigram model (unk_id 2), TemplateProcessing "$A </s>", Metaspace decoder.

    (The `tokenizers` UnigramTrainer is not deterministic from run to run -- Rust HashMap order --
    while sentencepiece with num_threads=1 is.)"""
    import io
    import tempfile

    import sentencepiece as spm

    rows = read_jsonl(DIALOGSUM_TRAIN, limit=400)
    lines = []
    for r in rows:
        lines += [x for x in r["dialogue"].split("\n") if x.strip()]
        lines.append(r["summary"])
    buf = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(lines), model_writer=buf, vocab_size=320, model_type="unigram",
        pad_id=0, eos_id=1, unk_id=2, bos_id=-1, pad_piece="<pad>", eos_piece="</s>", unk_piece="<unk>",
        normalization_rule_name="nmt_nfkc", character_coverage=1.0, num_threads=1,
        shuffle_input_sentence=False, input_sentence_size=0, minloglevel=2,
    )
    with tempfile.TemporaryDirectory() as tmp:
        with open(os.path.join(tmp, "spiece.model"), "wb") as f:
            f.write(buf.getvalue())
        hf = T5TokenizerFast.from_pretrained(
            tmp, extra_ids=0, clean_up_tokenization_spaces=False, model_max_length=512
        )
        assert type(hf).__name__ in ("T5Tokenizer", "T5TokenizerFast")
    assert hf.convert_ids_to_tokens([0, 1, 2]) == ["<pad>", "</s>", "<unk>"]
    raw = hf.backend_tokenizer
    j = json.loads(raw.to_str())
    assert j["normalizer"]["type"] == "Precompiled", j["normalizer"]["type"]
    # The converter writes sentencepiece's nmt_nfkc rules as a "Precompiled" normalizer: ~320 kB of
    # base64 per tokenizer.json. We drop it (normalizer: null): it is the identity on the ASCII
    # dialogsum text, and transformers 5's T5Tokenizer.from_pretrained ignores any normalizer other
    # than Precompiled when it reloads a tokenizer.json, so only "none" keeps Python and Rust equal.
    check_rows = read_jsonl(DIALOGSUM_VAL, limit=300)
    check_texts = [r["dialogue"] for r in rows[:100] + check_rows] + [r["summary"] for r in check_rows]
    before = [raw.encode(t).ids for t in check_texts]
    raw.normalizer = None
    after = [raw.encode(t).ids for t in check_texts]
    assert before == after, "dropping nmt_nfkc changes the tokenization of dialogsum"
    raw.no_truncation()
    raw.no_padding()
    out_dir = fresh_dir(out_dir)
    save_hf_tokenizer("t5", raw, out_dir)
    hf = T5TokenizerFast.from_pretrained(str(out_dir))
    j = json.loads(hf.backend_tokenizer.to_str())
    assert j["normalizer"] is None, j["normalizer"]
    assert j["model"]["type"] == "Unigram" and j["model"]["unk_id"] == 2

    samples = [rows[i]["dialogue"] for i in range(3)] + [rows[i]["summary"] for i in range(3)] + ["Hi!", "  two  spaces\nand newline "]
    for s in samples:
        ids = hf(s).input_ids
        assert ids[-1] == 1, ids
        dec = hf.decode(ids, skip_special_tokens=True)
        want = " ".join(s.split())
        assert dec == want, f"T5 tokenizer round trip: {dec!r} vs {want!r}"
    check_standalone_tokenizer(out_dir, hf, samples + ["½ café ☃"], 64)
    return raw, hf


def build_bert_tokenizer(out_dir):
    """BERT-style WordPiece tokenizer with a 450-token vocabulary: the special tokens, single
    characters, and the WordPiece tokens of the real uncased BERT vocabulary (all-MiniLM-L6-v2) that
    are most frequent on IMDB text. Deterministic (the `tokenizers` WordPieceTrainer is not)."""
    from collections import Counter

    mini = Tokenizer.from_file(str(MINILM / "tokenizer.json"))
    mini.no_truncation()
    mini.no_padding()
    rows = read_jsonl(IMDB_TRAIN, limit=600)
    counts = Counter()
    for r in rows:
        counts.update(mini.encode(r["text"], add_special_tokens=False).tokens)
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    counts.pop("[UNK]", None)
    must = set("abcdefghijklmnopqrstuvwxyz0123456789")
    singles = [t for t in counts if len(t) == 1 or (t.startswith("##") and len(t) == 3)]
    singles = [t for t in singles if counts[t] >= 3 or t.lstrip("#") in must]
    for c in sorted(must):
        for t in (c, "##" + c):
            if t not in singles:
                singles.append(t)
    singles.sort(key=lambda t: (-counts[t], t))
    rest = sorted((t for t in counts if t not in set(singles)), key=lambda t: (-counts[t], t))
    vocab_list = specials + singles + rest[: 450 - len(specials) - len(singles)]
    assert len(vocab_list) == len(set(vocab_list)) == 450
    vocab = {t: i for i, t in enumerate(vocab_list)}

    tok = Tokenizer(models.WordPiece(vocab=vocab, unk_token="[UNK]", max_input_chars_per_word=100))
    tok.normalizer = normalizers.BertNormalizer(
        clean_text=True, handle_chinese_chars=True, strip_accents=None, lowercase=True
    )
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.decoder = decoders.WordPiece(prefix="##")
    tok.add_special_tokens(specials)
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", 2), ("[SEP]", 3)],
    )
    for i, t in enumerate(specials):
        assert tok.token_to_id(t) == i, (t, tok.token_to_id(t))
    out_dir = fresh_dir(out_dir)
    save_hf_tokenizer("bert", tok, out_dir)
    hf = BertTokenizerFast.from_pretrained(str(out_dir))
    samples = [rows[i]["text"] for i in range(3)] + ["Great movie!", "Ünïcödé and 12345 £ ☃"]
    for s in samples:
        ids = hf(s).input_ids
        assert ids[0] == 2 and ids[-1] == 3
    check_standalone_tokenizer(out_dir, hf, samples, 48)
    return tok, hf


# --------------------------------------------------------------------------------------------
# T5
# --------------------------------------------------------------------------------------------

T5_CONFIGS = {
    # FLAN-T5 layout: gated-gelu, untied lm_head, config.json says "tie_word_embeddings": false.
    "flan_like": dict(
        seed=1001,
        config=dict(
            feed_forward_proj="gated-gelu", d_model=32, d_kv=8, num_heads=4, d_ff=48, num_layers=2,
            num_decoder_layers=3, relative_attention_num_buckets=8, relative_attention_max_distance=20,
            initializer_factor=1.0,
        ),
        tied=False,
        eos_boost=2.2,
        config_json="flan",
    ),
    # Original T5 / t5-small layout: relu, tied lm_head (decoder output scaled by d_model**-0.5).
    "t5v1_like": dict(
        seed=1002,
        config=dict(
            feed_forward_proj="relu", d_model=24, d_kv=6, num_heads=3, d_ff=40, num_layers=2,
            num_decoder_layers=2, relative_attention_num_buckets=16, relative_attention_max_distance=32,
            initializer_factor=3.0,
        ),
        tied=True,
        emb_scale=0.5,
        eos_boost=2.0,
        config_json="t5v1",
    ),
    # gated-silu, 3 encoder / 1 decoder layer, untied. config.json left exactly as transformers 5
    # writes it: "tie_word_embeddings": true + "scale_decoder_outputs": false + distinct lm_head.weight.
    "silu_like": dict(
        seed=1003,
        config=dict(
            feed_forward_proj="gated-silu", d_model=20, d_kv=5, num_heads=2, d_ff=36, num_layers=3,
            num_decoder_layers=1, relative_attention_num_buckets=32, relative_attention_max_distance=128,
            initializer_factor=1.0,
        ),
        tied=False,
        eos_boost=2.6,
        config_json="v5_native",
    ),
}

GREEDY = dict(max_new_tokens=T5_SETTINGS["max_new_tokens"], do_sample=False, num_beams=1, use_cache=False)
BEAM = dict(
    max_new_tokens=T5_SETTINGS["max_new_tokens"], do_sample=False, num_beams=3, length_penalty=0.8,
    no_repeat_ngram_size=3, early_stopping=True, use_cache=False,
)


def t5_inputs(tok):
    """~10 dialogsum (validation split) examples with varied source/target lengths."""
    rows = read_jsonl(DIALOGSUM_VAL)
    maxs, maxt = T5_SETTINGS["max_source_tokens"], T5_SETTINGS["max_target_tokens"]

    def ntok(s):
        return len(tok(s).input_ids)  # includes </s>

    def clip_words(text, limit):
        """Longest word prefix of `text` whose token count (with </s>) is <= limit."""
        words = text.split(" ")
        best = words[0]
        for k in range(1, len(words) + 1):
            cand = " ".join(words[:k])
            if ntok(cand) <= limit:
                best = cand
            else:
                break
        return best

    def clip_exact(text, n):
        """Longest character prefix of `text` (not ending in whitespace) with exactly n tokens."""
        best = None
        for k in range(1, len(text) + 1):
            if text[k - 1].isspace():
                continue
            c = ntok(text[:k])
            if c == n:
                best = text[:k]
            elif c > n + 2:
                break
        assert best is not None and ntok(best) == n, (text[:80], n)
        return best

    def short_target(summary, limit):
        return clip_words(summary, limit)

    out = []
    # 0-3: full dialogues (all far longer than 64 tokens -> truncated), targets clipped to fit.
    for j, idx in enumerate([0, 7, 23, 61]):
        r = rows[idx]
        out.append({"id": r["id"], "source": r["dialogue"], "target": short_target(r["summary"], [16, 9, 13, 5][j])})
    # 4: full dialogue and full summary (target truncated at 16 tokens).
    r = rows[95]
    assert ntok(r["summary"]) > maxt
    out.append({"id": r["id"], "source": r["dialogue"], "target": r["summary"]})
    # 5-7: dialogue prefixes that fit (about 12, 35 and exactly 64 tokens), keeping the newlines.
    for idx, lim in [(130, 12), (150, 35)]:
        r = rows[idx]
        out.append({"id": r["id"] + "_prefix%d" % lim, "source": clip_words(r["dialogue"], lim), "target": short_target(r["summary"], 12)})
    r = rows[170]
    out.append({"id": r["id"] + "_prefix64", "source": clip_exact(r["dialogue"], maxs), "target": short_target(r["summary"], 12)})
    # 8: prefix with exactly 65 tokens (incl. </s>) -> truncated by one.
    r = rows[190]
    out.append({"id": r["id"] + "_prefix65", "source": clip_exact(r["dialogue"], maxs + 1), "target": short_target(r["summary"], 8)})
    # 9: very short source (first two words of a dialogue), target of 3 words.
    r = rows[210]
    out.append({"id": r["id"] + "_tiny", "source": " ".join(r["dialogue"].split(" ")[:2]), "target": " ".join(r["summary"].split(" ")[:3])})
    # 10: short source with characters outside the tiny vocab (-> <unk>) and extra spaces.
    r = rows[230]
    out.append({"id": r["id"] + "_unk", "source": "  " + clip_words(r["dialogue"], 20) + "  ½ café ☃  ", "target": short_target(r["summary"], 10)})
    return out


def t5_generation_config():
    return GenerationConfig(
        decoder_start_token_id=0, eos_token_id=1, pad_token_id=0, bos_token_id=None,
        max_new_tokens=T5_SETTINGS["max_new_tokens"], min_length=0, min_new_tokens=None,
        do_sample=False, num_beams=1, repetition_penalty=1.0, no_repeat_ngram_size=0,
        forced_bos_token_id=None, forced_eos_token_id=None, suppress_tokens=None,
        begin_suppress_tokens=None, bad_words_ids=None, length_penalty=1.0, use_cache=False,
    )


def make_t5(out_root, raw_tok, tok):
    inputs = t5_inputs(tok)
    summary = {}
    for name, spec in T5_CONFIGS.items():
        d = fresh_dir(Path(out_root) / "t5" / name)
        torch.manual_seed(spec["seed"])
        cfg = T5Config(
            vocab_size=tok.backend_tokenizer.get_vocab_size(with_added_tokens=True),
            decoder_start_token_id=0, pad_token_id=0, eos_token_id=1,
            dropout_rate=0.1, layer_norm_epsilon=1e-6,
            tie_word_embeddings=spec["tied"],
            **spec["config"],
        )
        model = T5ForConditionalGeneration(cfg)
        if spec["tied"]:
            assert model.lm_head.weight is model.shared.weight
        else:
            # transformers 5 always ties at init; give lm_head its own (different) weights.
            g = torch.Generator().manual_seed(spec["seed"] + 7)
            w = torch.randn(model.lm_head.weight.shape, generator=g) * cfg.initializer_factor
            model.lm_head.weight = torch.nn.Parameter(w)
            assert model.lm_head.weight is not model.shared.weight
        # random layer-norm weights (instead of all = initializer_factor)
        perturb_constant_params(model, spec["seed"] + 11)
        with torch.no_grad():
            # smaller tied embeddings keep the tied model from just copying its decoder input
            model.shared.weight.mul_(spec.get("emb_scale", 1.0))
            # make </s> win now and then, so that some generations stop early
            model.lm_head.weight[1].mul_(spec.get("eos_boost", 1.0))
        model.save_pretrained(str(d))
        # config.json: mimic real checkpoints.
        if spec["config_json"] == "flan":
            edit_config(d / "config.json", {"tie_word_embeddings": False}, remove=["scale_decoder_outputs"])
        elif spec["config_json"] == "t5v1":
            # like google-t5/t5-small's config.json: no dense_act_fn / is_gated_act, tied.
            edit_config(d / "config.json", {"tie_word_embeddings": True},
                        remove=["scale_decoder_outputs", "dense_act_fn", "is_gated_act"])
        else:
            pass  # keep transformers-5-native config.json
        save_hf_tokenizer("t5", raw_tok, d)
        dtok = T5TokenizerFast.from_pretrained(str(d))
        check_standalone_tokenizer(d, dtok, [x["source"] for x in inputs] + [x["target"] for x in inputs], T5_SETTINGS["max_source_tokens"])
        check_standalone_tokenizer(d, dtok, [x["target"] for x in inputs], T5_SETTINGS["max_target_tokens"])

        # All references come from the model reloaded from disk.
        ref = T5ForConditionalGeneration.from_pretrained(str(d))
        ref.eval()
        assert ref.config.scale_decoder_outputs == spec["tied"], (name, ref.config.scale_decoder_outputs)
        if spec["tied"]:
            assert ref.lm_head.weight.data_ptr() == ref.shared.weight.data_ptr()
        else:
            assert not torch.equal(ref.lm_head.weight, ref.shared.weight)
        model.eval()

        settings = dict(T5_SETTINGS)
        settings["greedy"] = {k: v for k, v in GREEDY.items()}
        settings["beam"] = {k: v for k, v in BEAM.items()}
        settings["decoder_start_token_id"] = 0
        settings["eos_token_id"] = 1
        settings["pad_token_id"] = 0
        settings["decode"] = {"skip_special_tokens": True, "clean_up_tokenization_spaces": False}
        settings["torch_dtype"] = "float32"
        write_json(d / "settings.json", settings)
        write_jsonl(d / "inputs.jsonl", inputs)

        loss_rows, gen_rows, beam_rows = [], [], []
        gaps = []
        all_gen = set()
        max_reload_diff = 0.0
        for ex in inputs:
            src = tok(ex["source"], truncation=True, max_length=T5_SETTINGS["max_source_tokens"]).input_ids
            lab = tok(ex["target"], truncation=True, max_length=T5_SETTINGS["max_target_tokens"]).input_ids
            assert src[-1] == 1 and lab[-1] == 1
            x = torch.tensor([src])
            y = torch.tensor([lab])
            with torch.no_grad():
                loss = ref(input_ids=x, labels=y).loss
                loss_mem = model(input_ids=x, labels=y).loss
            assert abs(loss.item() - loss_mem.item()) < 1e-4, (name, loss.item(), loss_mem.item())
            max_reload_diff = max(max_reload_diff, abs(loss.item() - loss_mem.item()))
            loss_rows.append({"id": ex["id"], "loss": float(loss), "tokens": len(lab), "input_ids": src, "labels": lab})

            gcfg = t5_generation_config()
            with torch.no_grad():
                g = ref.generate(
                    input_ids=x, attention_mask=torch.ones_like(x), generation_config=gcfg, **GREEDY,
                    output_logits=True, return_dict_in_generate=True,
                )
            seq = g.sequences[0].tolist()
            assert seq[0] == 0
            ids = seq[1:]
            gap = float("inf")
            for step, lg in enumerate(g.logits):
                top = torch.topk(lg[0].float(), 2)
                assert int(top.indices[0]) == ids[step], "greedy step is not the argmax"
                gap = min(gap, float(top.values[0] - top.values[1]))
            # recompute the logits with a plain forward pass (no generate machinery) as a cross-check
            with torch.no_grad():
                full = ref(input_ids=x, decoder_input_ids=torch.tensor([seq[:-1] if len(seq) > 1 else seq])).logits[0]
            assert full.argmax(-1).tolist() == ids[: full.shape[0]]
            gaps.append(gap)
            all_gen.update(ids)
            gen_rows.append({
                "id": ex["id"],
                "generated": tok.decode(seq, skip_special_tokens=True),
                "token_ids": ids,
                "min_top2_gap": gap,
            })

            with torch.no_grad():
                b = ref.generate(input_ids=x, attention_mask=torch.ones_like(x), generation_config=t5_generation_config(), **BEAM)
            bseq = b[0].tolist()
            assert bseq[0] == 0
            beam_rows.append({"id": ex["id"], "generated": tok.decode(bseq, skip_special_tokens=True), "token_ids": bseq[1:]})

        write_jsonl(d / "expected_loss.jsonl", loss_rows)
        write_jsonl(d / "expected_generate.jsonl", gen_rows)
        write_jsonl(d / "expected_beam.jsonl", beam_rows)
        summary[name] = {
            "min_gap": min(gaps),
            "max_loss_diff_in_memory_vs_reloaded": max_reload_diff,
            "distinct_generated_ids": len(all_gen),
            "losses": [round(r["loss"], 3) for r in loss_rows],
            "lens": [len(r["token_ids"]) for r in gen_rows],
        }
    return summary


# --------------------------------------------------------------------------------------------
# encoders
# --------------------------------------------------------------------------------------------


def imdb_inputs(tok, n_long=5):
    rows = read_jsonl(IMDB_TEST, limit=3000)
    maxt = ENC_SETTINGS["max_tokens"]
    out = []
    # long reviews (first 100 words; all truncated at 48 tokens)
    for idx in [0, 11, 345, 1234, 2500][:n_long]:
        text = " ".join(rows[idx]["text"].split(" ")[:100])
        assert len(tok(text).input_ids) > maxt
        out.append({"id": "imdb_test_%d_w100" % idx, "text": text})
    # first sentence(s) of reviews: shorter, untruncated, varied lengths
    for idx, nwords in [(20, 4), (77, 10), (150, 18), (903, 25)]:
        r = rows[idx]
        out.append({"id": "imdb_test_%d_w%d" % (idx, nwords), "text": " ".join(r["text"].split(" ")[:nwords])})
    # characters outside the tiny vocabulary ("£" -> [UNK])
    text = " ".join(rows[826]["text"].split(" ")[:12])
    assert "£" in text and 1 in tok(text).input_ids
    out.append({"id": "imdb_test_826_w12", "text": text})
    # one-word input
    out.append({"id": "one_word", "text": "Terrible."})
    return out


def enc_expected(model, tok, inputs, max_tokens):
    rows = []
    for ex in inputs:
        enc = tok(ex["text"], truncation=True, max_length=max_tokens, return_tensors="pt")
        with torch.no_grad():
            logits = model(**enc).logits[0]
        rows.append({"id": ex["id"], "logits": floats(logits), "input_ids": enc["input_ids"][0].tolist()})
    return rows


DISTIL_CONFIGS = {
    "cls2": dict(seed=2001, config=dict(dim=24, n_heads=3, hidden_dim=40, n_layers=2, max_position_embeddings=64,
                                        num_labels=2, id2label={0: "negative", 1: "positive"},
                                        label2id={"negative": 0, "positive": 1}, initializer_range=0.3)),
    "cls3": dict(seed=2002, config=dict(dim=20, n_heads=4, hidden_dim=36, n_layers=3, max_position_embeddings=64,
                                        num_labels=3, initializer_range=0.3)),
}

BERT_CONFIGS = {
    "cls2": dict(seed=3001, config=dict(hidden_size=24, num_attention_heads=3, intermediate_size=40, num_hidden_layers=2,
                                        type_vocab_size=2, hidden_act="gelu", max_position_embeddings=64, num_labels=2,
                                        id2label={0: "negative", 1: "positive"}, label2id={"negative": 0, "positive": 1},
                                        initializer_range=0.3)),
    "cls3": dict(seed=3002, config=dict(hidden_size=20, num_attention_heads=4, intermediate_size=36, num_hidden_layers=3,
                                        type_vocab_size=2, hidden_act="gelu_new", max_position_embeddings=64, num_labels=3,
                                        initializer_range=0.3)),
}

BERT_HEADLESS = dict(seed=3003, config=dict(hidden_size=24, num_attention_heads=4, intermediate_size=40, num_hidden_layers=2,
                                            type_vocab_size=2, hidden_act="gelu", max_position_embeddings=64,
                                            initializer_range=0.3))


def make_encoders(out_root, raw_tok, bert_tok):
    vocab = bert_tok.backend_tokenizer.get_vocab_size(with_added_tokens=True)
    inputs = imdb_inputs(bert_tok)
    summary = {}

    for family, specs, cfg_cls, model_cls, tok_cls in [
        ("distilbert", DISTIL_CONFIGS, DistilBertConfig, DistilBertForSequenceClassification, DistilBertTokenizerFast),
        ("bert", BERT_CONFIGS, BertConfig, BertForSequenceClassification, BertTokenizerFast),
    ]:
        for name, spec in specs.items():
            d = fresh_dir(Path(out_root) / family / name)
            torch.manual_seed(spec["seed"])
            cfg = cfg_cls(vocab_size=vocab, pad_token_id=0, **spec["config"])
            model = model_cls(cfg)
            perturb_constant_params(model, spec["seed"] + 11)
            model.save_pretrained(str(d))
            # tokenizer, saved through the family's tokenizer class
            save_hf_tokenizer(family, raw_tok, d)
            t = tok_cls.from_pretrained(str(d))
            check_standalone_tokenizer(d, t, [x["text"] for x in inputs], ENC_SETTINGS["max_tokens"])
            ref = model_cls.from_pretrained(str(d)).eval()
            model.eval()
            rows = enc_expected(ref, t, inputs, ENC_SETTINGS["max_tokens"])
            rows_mem = enc_expected(model, t, inputs, ENC_SETTINGS["max_tokens"])
            for ra, rb in zip(rows, rows_mem):
                # (bitwise equality is not guaranteed: memory layout changes the SIMD reductions)
                assert ra["input_ids"] == rb["input_ids"]
                assert torch.allclose(torch.tensor(ra["logits"]), torch.tensor(rb["logits"]), atol=1e-5), (family, name)
            write_json(d / "settings.json", dict(ENC_SETTINGS))
            write_jsonl(d / "inputs.jsonl", inputs)
            write_jsonl(d / "expected.jsonl", rows)
            summary[f"{family}/{name}"] = {
                "argmax": [max(range(len(r["logits"])), key=lambda i: r["logits"][i]) for r in rows],
                "logits0": [round(v, 3) for v in rows[0]["logits"]],
            }

    # headless BertModel (like all-MiniLM-L6-v2: no "bert." prefix, pooler present, no classifier)
    d = fresh_dir(Path(out_root) / "bert" / "headless")
    torch.manual_seed(BERT_HEADLESS["seed"])
    cfg = BertConfig(vocab_size=vocab, pad_token_id=0, **BERT_HEADLESS["config"])
    model = BertModel(cfg)
    perturb_constant_params(model, BERT_HEADLESS["seed"] + 11)
    model.save_pretrained(str(d))
    save_hf_tokenizer("bert", raw_tok, d)
    t = BertTokenizerFast.from_pretrained(str(d))
    ref = BertModel.from_pretrained(str(d)).eval()
    h_inputs = [inputs[6], inputs[5], inputs[9]]
    check_standalone_tokenizer(d, t, [x["text"] for x in h_inputs], ENC_SETTINGS["max_tokens"])
    out = []
    for ex in h_inputs:
        enc = t(ex["text"], truncation=True, max_length=ENC_SETTINGS["max_tokens"], return_tensors="pt")
        with torch.no_grad():
            o = ref(**enc, output_hidden_states=True)
        out.append({
            "id": ex["id"],
            "text": ex["text"],
            "input_ids": enc["input_ids"][0].tolist(),
            "last_hidden_state": floats(o.last_hidden_state[0]),
            "pooler_output": floats(o.pooler_output[0]),
            "hidden_states": [floats(h[0]) for h in o.hidden_states],
        })
    write_json(d / "settings.json", dict(ENC_SETTINGS))
    write_jsonl(d / "inputs.jsonl", h_inputs)
    write_json(d / "expected_hidden.json", {"num_hidden_layers": cfg.num_hidden_layers, "inputs": out}, indent=None)
    return summary


MINILM_SENTENCES = [
    "A man is playing a guitar.",
    "The movie was surprisingly good!",
    "hello world",
    "Tokenization of unbelievably long words: antidisestablishmentarianism.",
]


def make_minilm(out_root, slice_dims=16):
    d = Path(out_root) / "minilm"
    d.mkdir(parents=True, exist_ok=True)
    tok = BertTokenizerFast.from_pretrained(str(MINILM))
    model = BertModel.from_pretrained(str(MINILM)).eval()
    raw = Tokenizer.from_file(str(MINILM / "tokenizer.json"))
    raw.no_truncation()
    raw.no_padding()
    sents = []
    for s in MINILM_SENTENCES:
        enc = tok(s, return_tensors="pt")
        ids = enc["input_ids"][0].tolist()
        assert raw.encode(s).ids == ids
        with torch.no_grad():
            o = model(**enc, output_hidden_states=True)
        h6 = o.hidden_states[6][0]
        assert torch.equal(h6, o.last_hidden_state[0])
        h0 = o.hidden_states[0][0]
        mean = h6.mean(0)
        sents.append({
            "text": s,
            "input_ids": ids,
            "hidden_slice": floats(h6[:, :slice_dims]),
            "hidden_norms": floats(h6.norm(dim=-1)),
            "embeddings_slice": floats(h0[:, :slice_dims]),
            "embeddings_norms": floats(h0.norm(dim=-1)),
            "pooler_slice": floats(o.pooler_output[0][:slice_dims]),
            "pooler_norm": float(o.pooler_output[0].norm()),
            "mean_pooled_slice": floats(mean[:slice_dims]),
            "mean_pooled_norm": float(mean.norm()),
        })
    write_json(d / "expected_hidden.json", {
        "model": f"all-MiniLM-L6-v2 ({shown(MINILM)}, BertModel.from_pretrained)",
        "layer": 6,
        "slice_dims": slice_dims,
        "hidden_size": model.config.hidden_size,
        "sentences": sents,
    }, indent=None)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default="tests/fixtures")
    ap.add_argument("--only", choices=["t5", "encoders"], default=None)
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    print(f"torch {torch.__version__}, transformers {transformers.__version__}, tokenizers {tokenizers.__version__}", file=sys.stderr)

    if args.only in (None, "t5"):
        tdir = out / "tokenizers" / "t5_unigram"
        t5raw, t5tok = build_t5_tokenizer(tdir)
        print("t5 tokenizer vocab", t5tok.backend_tokenizer.get_vocab_size(), file=sys.stderr)
        s = make_t5(out, t5raw, t5tok)
        print(json.dumps(s, indent=1), file=sys.stderr)
    if args.only in (None, "encoders"):
        bdir = out / "tokenizers" / "bert_wordpiece"
        braw, btok = build_bert_tokenizer(bdir)
        print("bert tokenizer vocab", btok.backend_tokenizer.get_vocab_size(), file=sys.stderr)
        s = make_encoders(out, braw, btok)
        print(json.dumps(s, indent=1), file=sys.stderr)
        make_minilm(out)
    # save_pretrained writes model.safetensors with mode 0600; make everything plain 0644.
    for root, _, files in os.walk(out):
        for f in files:
            os.chmod(os.path.join(root, f), 0o644)


if __name__ == "__main__":
    main()
