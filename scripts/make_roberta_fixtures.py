#!/usr/bin/env python3
"""Generate the tiny RoBERTa fixture under tests/fixtures/roberta/tiny/.

Usage (from the repository root; scripts/reference-env.sh makes .venv/reference and .venv/bertscore):
    scripts/reference-env.sh
    HF_HUB_OFFLINE=1 .venv/reference/bin/python scripts/make_roberta_fixtures.py [--out tests/fixtures]

Then the BERTScore references for it (bert_score needs transformers 4.x, hence .venv/bertscore):
    .venv/bertscore/bin/python scripts/make_bertscore_fixtures.py --model tests/fixtures/roberta/tiny \
        --layer 1 --out tests/fixtures/bertscore/roberta_pairs.jsonl --tokens tests/fixtures/bertscore/roberta_tokens.jsonl

Deterministic (fixed seeds, single-threaded torch and tokenizers). Laid out like FacebookAI/roberta-large:
  - a byte-level BPE tokenizer trained on 400 dialogsum train records (420 tokens: <s>=0, <pad>=1,
    </s>=2, <unk>=3, <mask>=4, the 256 byte symbols, then merges), saved as vocab.json + merges.txt
    (what bert_score's slow RobertaTokenizer reads) and as tokenizer.json built by transformers'
    RobertaTokenizer (ByteLevel pre-tokenizer without prefix space, RobertaProcessing, ByteLevel
    decoder); tokenizer_config.json is only {"model_max_length": 64}, as roberta-large's is 512;
  - a random RobertaForMaskedLM (hidden 32, 4 heads, intermediate 48, 2 layers, pad_token_id 1,
    max_position_embeddings 66 = 64 positions + padding_idx + 1, type_vocab_size 1, layer_norm_eps
    1e-5), so the weights carry the `roberta.` prefix and an unused `lm_head`, like roberta-large;
    constant-initialised parameters (LayerNorm, biases, the zeroed padding rows of the word and
    position embeddings) get random values;
  - expected_hidden.json: every hidden state (embeddings + each layer) of RobertaModel.from_pretrained
    (what bert_score loads, through AutoModel), one text at a time without padding:
    {"num_hidden_layers", "max_tokens", "inputs": [{"text", "input_ids", "hidden_states": [layers+1][tokens][32]}]}
    with input_ids = tok(text, truncation=True, max_length=64); the last text fills all 64 positions.
    Floats have 9 significant digits (exact float32 values when parsed as float32).
"""

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ["TOKENIZERS_PARALLELISM"] = "false"
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

import argparse
import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from reference_env import ensure  # noqa: E402

ensure("reference", ["torch", "transformers", "tokenizers"])

import torch
import transformers
from tokenizers import ByteLevelBPETokenizer, Tokenizer
from tokenizers import AddedToken
from transformers import AutoModel, AutoTokenizer, RobertaConfig, RobertaForMaskedLM, RobertaTokenizer

from make_fixtures import DIALOGSUM_TRAIN, fresh_dir, floats, perturb_constant_params, read_jsonl, write_json  # noqa: E402

SPECIALS = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]
VOCAB_SIZE = 420
MAX_TOKENS = 64
CONFIG = dict(
    hidden_size=32, num_attention_heads=4, intermediate_size=48, num_hidden_layers=2, hidden_act="gelu",
    max_position_embeddings=MAX_TOKENS + 2, type_vocab_size=1, layer_norm_eps=1e-5, initializer_range=0.3,
    pad_token_id=1, bos_token_id=0, eos_token_id=2,
)
SEED = 17
TEXTS = [
    "The cat sat on the mat.",
    "Déjà vu — naïve, 2024!",
    "  #Person1# asks   about the\tweather.  ",
]


def build_tokenizer(d):
    """vocab.json + merges.txt (trained byte-level BPE) and tokenizer.json (transformers' RobertaTokenizer)."""
    texts = []
    for r in read_jsonl(DIALOGSUM_TRAIN, limit=400):
        texts += [r["dialogue"], r["summary"]]
    bpe = ByteLevelBPETokenizer(add_prefix_space=False)
    bpe.train_from_iterator(texts, vocab_size=VOCAB_SIZE, min_frequency=2, special_tokens=SPECIALS, show_progress=False)
    bpe.save_model(str(d))
    vocab = json.loads((d / "vocab.json").read_text(encoding="utf-8"))
    merges = [tuple(line.split(" ")) for line in (d / "merges.txt").read_text(encoding="utf-8").splitlines()[1:] if line]
    # <mask> strips the space before it, as in roberta-large's tokenizer.json and the slow RobertaTokenizer
    mask = AddedToken("<mask>", lstrip=True, rstrip=False, special=True, normalized=False)
    tok = RobertaTokenizer(vocab=vocab, merges=merges, mask_token=mask, model_max_length=MAX_TOKENS)
    with tempfile.TemporaryDirectory() as tmp:
        tok.save_pretrained(tmp)
        (d / "tokenizer.json").write_bytes((Path(tmp) / "tokenizer.json").read_bytes())
    write_json(d / "tokenizer_config.json", {"model_max_length": MAX_TOKENS}, indent=None)
    tok = AutoTokenizer.from_pretrained(str(d))
    raw = Tokenizer.from_file(str(d / "tokenizer.json"))
    assert raw.get_vocab_size() == VOCAB_SIZE and [raw.token_to_id(s) for s in SPECIALS] == list(range(5))
    return tok, raw


def short_floats(t):
    """float32 values with 9 significant digits: parsed as float32 they are exact (keeps the file small)."""
    return [[float(f"{v:.9g}") for v in row] for row in floats(t)]


def long_text(tok):
    """A dialogue that tokenizes to more than MAX_TOKENS tokens (truncated to exactly MAX_TOKENS)."""
    for r in read_jsonl(DIALOGSUM_TRAIN, limit=10):
        if len(tok(r["dialogue"]).input_ids) > MAX_TOKENS + 10:
            return r["dialogue"][:400]
    raise AssertionError("no long dialogue")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default="tests/fixtures")
    args = ap.parse_args()
    torch.set_num_threads(1)
    print(f"torch {torch.__version__}, transformers {transformers.__version__}", file=sys.stderr)
    d = fresh_dir(Path(args.out) / "roberta" / "tiny")
    tok, raw = build_tokenizer(d)

    torch.manual_seed(SEED)
    model = RobertaForMaskedLM(RobertaConfig(vocab_size=VOCAB_SIZE, **CONFIG))
    perturb_constant_params(model, SEED + 11)
    with torch.no_grad():  # rows that nn.Embedding(padding_idx=1) zeroes
        g = torch.Generator().manual_seed(SEED + 12)
        for emb in (model.roberta.embeddings.word_embeddings, model.roberta.embeddings.position_embeddings):
            emb.weight[1].copy_(0.3 * torch.randn(CONFIG["hidden_size"], generator=g))
    model.save_pretrained(str(d))

    ref = AutoModel.from_pretrained(str(d)).eval()
    assert type(ref).__name__ == "RobertaModel"
    out = []
    for text in TEXTS + [long_text(tok)]:
        enc = tok(text, truncation=True, max_length=MAX_TOKENS, return_tensors="pt")
        ids = enc["input_ids"][0].tolist()
        plain = raw.encode(text).ids
        assert ids == plain[: MAX_TOKENS - 1] + [2] if len(plain) > MAX_TOKENS else ids == plain, text
        with torch.no_grad():
            o = ref(**enc, output_hidden_states=True)
        out.append({"text": text, "input_ids": ids, "hidden_states": [short_floats(h[0]) for h in o.hidden_states]})
    assert len(out[-1]["input_ids"]) == MAX_TOKENS
    write_json(d / "expected_hidden.json", {
        "num_hidden_layers": CONFIG["num_hidden_layers"], "max_tokens": MAX_TOKENS, "inputs": out,
    }, indent=None)
    for f in d.iterdir():
        os.chmod(f, 0o644)
    print("wrote", d, sorted(p.name for p in d.iterdir()), file=sys.stderr)


if __name__ == "__main__":
    main()
