"""Reference BERTScore values from the Python `bert_score` package for tests/bertscore_parity.rs.

bert_score 0.3.13 runs only with transformers 4.x, so it has its own environment, .venv/bertscore
(scripts/requirements-bertscore.txt: bert-score 0.3.13, transformers 4.57.6, torch 2.15.0). From the
repository root:
    scripts/reference-env.sh bertscore
    .venv/bertscore/bin/python scripts/make_bertscore_fixtures.py [--model ../shared/models/all-MiniLM-L6-v2] [--layer 6]
The default model and data are under LORATUNE_SHARED, else ../shared next to the repository.
Writes tests/fixtures/bertscore/pairs.jsonl: {"prediction", "reference", "no_idf": [P, R, F], "idf": [P, R, F]}.

The tiny RoBERTa (scripts/make_roberta_fixtures.py) with layer 1:
    .venv/bertscore/bin/python scripts/make_bertscore_fixtures.py --model tests/fixtures/roberta/tiny --layer 1 \
        --out tests/fixtures/bertscore/roberta_pairs.jsonl --tokens tests/fixtures/bertscore/roberta_tokens.jsonl
`--tokens` also writes {"text", "ids"}: bert_score's own token ids (`sent_encode` with the slow
tokenizer that `score` uses; for RoBERTa that is `add_prefix_space=True` after `strip()`).
"""
import argparse, json, random
from pathlib import Path

from reference_env import SHARED, ensure

ensure("bertscore", ["bert_score"])

import bert_score

ap = argparse.ArgumentParser()
ap.add_argument("--model", default=str(SHARED / "models/all-MiniLM-L6-v2"))
ap.add_argument("--data", default=str(SHARED / "data/dialogsum/test.jsonl"))
ap.add_argument("--layer", type=int, default=6)
ap.add_argument("--out", default="tests/fixtures/bertscore/pairs.jsonl")
ap.add_argument("--tokens", default=None)
args = ap.parse_args()

rows = [json.loads(l) for l in open(args.data)]
rng = random.Random(0)
rng.shuffle(rows)
pairs = [
    ("", "A man is talking."),
    ("The cat sat on the mat.", ""),
    ("The cat sat on the mat.", "The cat sat on the mat."),
    ("!!! ... ???", "What a day."),
    ("Café déjà vu, naïve résumé.", "A coffee shop feels familiar."),
    ("  leading and trailing spaces  ", "leading and trailing spaces"),
    ("Numbers 1 2 3 and 2024.", "In 2024 there were three numbers."),
]
for i in range(0, 60, 2):
    pairs.append((rows[i]["summary"], rows[i + 1]["summary"]))
for i in range(60, 70):
    pairs.append((rows[i]["summary"], rows[i]["dialogue"][:600]))
cands = [p for p, _ in pairs]
refs = [r for _, r in pairs]
results = {}
for idf in (False, True):
    P, R, F = bert_score.score(cands, refs, model_type=args.model, num_layers=args.layer, idf=idf, batch_size=64)
    results[idf] = list(zip(P.tolist(), R.tolist(), F.tolist()))
Path(args.out).parent.mkdir(parents=True, exist_ok=True)
with open(args.out, "w") as f:
    for i, (p, r) in enumerate(pairs):
        f.write(json.dumps({"prediction": p, "reference": r, "no_idf": results[False][i], "idf": results[True][i]}) + "\n")
print("wrote", len(pairs), "pairs; hash:", bert_score.utils.get_hash(args.model, args.layer, False, False, False, False))

TOKEN_TEXTS = [
    "",
    "   ",
    "The cat sat on the mat.",
    "  leading and trailing spaces  ",
    "\ttabs\tand\nnew lines\n",
    "multiple   inner    spaces",
    "!!! ... ??? (punctuation) -- \"quotes\" 'single'",
    "Don't stop: it's 5 o'clock, we'll see; they've gone.",
    "Café déjà vu, naïve résumé, Ærøskøbing, Straße.",
    "日本語のテキスト and 中文 mixed with English.",
    "Emoji 😀👍🏽 and symbols © ® ™ € £ ½.",
    "Numbers 1 2 3, 2024, 3.14159 and 1,000,000.",
    "A <mask> token and <s> markers </s> inside.",
    "#Person1#: Hello!\n#Person2#: Hi.",
    "\x1f\u00a0unit separators and no-break spaces\u3000\x1c",
]
if args.tokens:
    tokenizer = bert_score.utils.get_tokenizer(args.model, use_fast=False)
    print("tokenizer:", type(tokenizer).__name__, "model_max_length", tokenizer.model_max_length)
    texts = TOKEN_TEXTS + [rows[60]["dialogue"][:600]]
    with open(args.tokens, "w") as f:
        for t in texts:
            f.write(json.dumps({"text": t, "ids": bert_score.utils.sent_encode(tokenizer, t)}, ensure_ascii=False) + "\n")
    print("wrote", len(texts), "tokenizations")
