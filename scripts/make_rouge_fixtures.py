#!/usr/bin/env python3
"""Writes the ROUGE / Porter parity fixtures used by tests/rouge_parity.rs.

Generated with (the versions the committed fixtures come from):
    Python 3.11.7
    rouge_score 0.1.2
    nltk 3.10.4      (nltk.stem.porter.PorterStemmer, default NLTK_EXTENSIONS mode)
    six 1.17.0, absl-py 2.5.1, numpy 2.4.6

Usage (scripts/reference-env.sh makes .venv/reference):
    scripts/reference-env.sh
    .venv/reference/bin/python scripts/make_rouge_fixtures.py [--data DIR] [--out DIR]

DIR defaults: --data data/ of LORATUNE_SHARED, else of ../shared next to the
repository (it must have dialogsum/test.jsonl and xsum/test.jsonl), --out
tests/fixtures/rouge (relative to the repository root).

Outputs:
    cases.jsonl   one line per case:
                  {"reference", "prediction", "rouge1": [p, r, f], "rouge2", "rougeL", "rougeLsum"}
                  computed with RougeScorer(["rouge1","rouge2","rougeL","rougeLsum"],
                  use_stemmer=True).score(reference, prediction)
    porter.jsonl  {"word", "stem"} with stem = PorterStemmer().stem(word)

Everything is deterministic (fixed seeds, files read in order).
"""

import argparse
import collections
import json
import os
import random
import re
import sys

from reference_env import SHARED, ensure

ensure("reference", ["nltk", "rouge_score"])

import nltk
from nltk.stem.porter import PorterStemmer
import rouge_score
from rouge_score import rouge_scorer

EXPECTED_VERSIONS = {"rouge_score": "0.1.2", "nltk": "3.10.4"}

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TYPES = ["rouge1", "rouge2", "rougeL", "rougeLsum"]

# Words that exercise every rule of NLTK's Porter stemmer (taken mostly from the
# examples in Porter's paper), its irregular forms and its NLTK-only extensions.
PORTER_RULE_WORDS = """
caresses ponies ties caress cats dies lies pies flies cries ss sses ies s
feed agreed plastered bled motoring sing conflated troubled sized hopping tanned
falling hissing fizzed failing filing died spied tied cried fried speed bleed
breed disagreed hoped hoping ringing bring need needed seeded
happy sky enjoy spy fly try by say boy toy employ annoyed ay ey
relational conditional rational valenci hesitanci digitizer conformabli
conformably radicalli differentli vileli analogousli vietnamization predication
operator feudalism decisiveness hopefulness callousness formaliti sensitiviti
sensibiliti hopefulli carefully generally finally really totally usually
geology archaeology theology biology analogy logi ology apology
triplicate formative formalize electriciti electrical hopeful goodness
revival allowance inference airliner gyroscopic adjustable defensible irritant
replacement adjustment dependent adoption homologou communism activate
angulariti homologous effective bowdlerize probate rate cease controll roll
controlling rolling generalizations oscillators
sky skies dying lying tying news innings inning outings outing cannings canning
howe proceed exceed succeed proceeding exceeded succeeds
yyyy yyyyy syzygy yyyyying toyyy ayyyy yay yes youth yield yy y ye
1990s 2000s 12345 4ies 3rd 100ing 9ed abc123ing x1y2z3s
a is as us at be ied eed ing sss was has his this thus does goes dogs
bus gas yes its ups
""".split()

PORTER_EXTRA_WORDS = [
    "Running", "CATS", "Happiness", "SKIES", "News", "Dying", "ÉTÉ", "café",
    "naïve", "über", "straße", "İİ", "İstanbul", "ΟΔΟΣ", "Ñandú", "señorías",
    "日本語", "😀s", "résumés", "coöperation", "ﬁsh", "\u212aelvins",
]

# Short / tricky texts for the rouge cases.
EDGE_CASES = [
    ("", ""),
    ("", "the cat sat on the mat"),
    ("the cat sat on the mat", ""),
    ("   ", " \t "),
    ("...", "!!! ???"),
    ("!!!", "the cat"),
    ("the cat", "?!"),
    ("\n\n\n", "\n"),
    ("a", "a"),
    ("a", "b"),
    ("a b", "b a"),
    ("1 2 3 4 5", "5 4 3 2 1"),
    ("In 2023, 42% of 1,000,000 people paid $3.50.", "In 2023 42 percent of 1000000 people paid 3 dollars 50"),
    ("covid19 and mp3 or 4x4 trucks", "covid 19 and mp3 and 4x4 trucks"),
    ("Café au lait, s'il vous plaît.", "cafe au lait sil vous plait"),
    ("Über straße naïve façade", "uber strasse naive facade"),
    ("北京是中国的首都", "北京 是 中国 的 首都"),
    ("中文 text mixed 中文", "text mixed"),
    ("I love it 😀😀 so much 🎉", "i love it so much"),
    ("emoji😀between😀words", "emoji between words"),
    ("İstanbul İİ KELVIN \u212aelvin", "istanbul ii kelvin kelvin"),
    ("ΟΔΟΣ Ελληνικά Русский текст", "русский текст"),
    ("ﬁsh ﬂour", "fish flour"),
    ("full\u00a0width\u3000spaces and １２３ digits²", "full width spaces and 123 digits 2"),
    ("tab\tseparated\twords", "tab separated words"),
    ("the the the the the", "the the"),
    ("the the", "the the the the the"),
    ("cat cat dog dog cat", "dog cat cat dog"),
    ("a a a b b b", "b b b a a a"),
    ("police police police arrested the the man man", "the man was arrested by police police"),
    # tokens of length 3 and 4 around the stemming threshold
    ("was has his its cats dogs runs", "wa ha hi it cat dog run"),
    ("dies ties lies pies news sing ring", "die tie lie pie new sing ring"),
    ("skis skies sky ski", "sky sky sky ski"),
    ("yyyy yyy yy y", "yyyy yyy yy y"),
    ("this thus bus gas boss loss", "thi thu bu ga boss loss"),
    ("feed need seed bled sled", "fee nee see ble sle"),
    # stemming conflations
    ("The runners were running quickly", "A runner runs quick"),
    ("generalizations of generalized generally general", "general generalization generalize"),
    ("connection connected connecting connections", "connect"),
    ("happiness happy happily", "happi happi happili"),
    ("dying lying tying skies news innings outings cannings howe", "die lie tie sky news inning outing canning howe"),
    ("proceed exceed succeed proceeding exceeded succeeds", "proceed exceed succeed"),
    (" ".join(PORTER_RULE_WORDS[:60]), " ".join(PORTER_RULE_WORDS[60:120])),
    (" ".join(PORTER_RULE_WORDS[120:]), " ".join(reversed(PORTER_RULE_WORDS[100:]))),
    # multi-sentence texts for rougeLsum
    ("the cat sat.\nthe dog ran.", "the dog sat.\nthe cat ran."),
    ("the cat sat on the mat\nthe dog ran in the park", "the dog ran in the park\nthe cat sat on the mat"),
    ("one two three\n\nfour five six\n", "one two\n\n\nthree four\nfive six\n\n"),
    ("\none two three\n", "one two three"),
    ("one two three", "\n\none\ntwo\nthree\n\n"),
    ("a b c d\na b c d", "a b c d"),
    ("a b c d", "a b c d\na b c d"),
    ("a b a b a b\nb a b a", "b a\na b\nb b a a"),
    ("first line\r\nsecond line\r\n", "first line\nsecond line"),
    ("line one.\n...\n!!!\nline two.", "line two.\n\n?\nline one."),
    ("  indented line\n\ttabbed line  \n   \n", "indented line tabbed line"),
    ("x y z\nz y x\nx z y", "y x z\nx y z"),
    ("police killed the gunman\nthe gunman was shot", "the gunman was killed by police\npolice shot him"),
    ("w1 w2 w3 w4 w5\nw5 w4 w3 w2 w1\nw1 w3 w5", "w1 w2\nw3 w4 w5\nw5 w1 w3"),
]

WORDS_FOR_FUZZ = (
    "the a an of to in cat cats dog dogs run runs running ran runner police "
    "arrested arrest said says saying year years 2020 1990s news sky skies "
    "happy happiness dying die he she it was has is".split()
)
PUNCT = [",", ".", "!", "?", " -", "'s", ";", ":", " (", ")", " é", " 中", " 😀", ""]


def fuzz_text(rng):
    lines = []
    for _ in range(rng.randint(0, 4)):
        n = rng.randint(0, 9)
        words = []
        for _ in range(n):
            w = rng.choice(WORDS_FOR_FUZZ)
            if rng.random() < 0.2:
                w = w.capitalize()
            if rng.random() < 0.15:
                w += rng.choice(PUNCT)
            words.append(w)
        line = " ".join(words)
        if rng.random() < 0.1:
            line = "  " + line + " "
        if rng.random() < 0.05:
            line += "\r"
        lines.append(line)
    text = "\n".join(lines)
    if rng.random() < 0.2:
        text += "\n"
    return text


def first_lines(text, k, max_chars=400):
    lines = [x for x in text.split("\n") if x.strip()][:k]
    return "\n".join(x[:max_chars] for x in lines)


def find_data_dir(explicit):
    candidates = [explicit] if explicit else [str(SHARED / "data")]
    for c in candidates:
        if c and os.path.exists(os.path.join(c, "dialogsum", "test.jsonl")) and \
                os.path.exists(os.path.join(c, "xsum", "test.jsonl")):
            return c
    sys.exit("dialogsum/test.jsonl and xsum/test.jsonl not found; pass --data")


def read_jsonl(path):
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def real_pairs(data_dir):
    rng = random.Random(1234)
    dialog = read_jsonl(os.path.join(data_dir, "dialogsum", "test.jsonl"))
    xsum = read_jsonl(os.path.join(data_dir, "xsum", "test.jsonl"))
    pairs = []
    # dialogsum: summary vs the first lines of the dialogue (a "lead" baseline)
    for r in rng.sample(dialog, 90):
        pairs.append((r["summary"], first_lines(r["dialogue"], 3, 200)))
    # dialogsum: summary vs another summary on the same topic (or a random one)
    by_topic = collections.defaultdict(list)
    for r in dialog:
        by_topic[r.get("topic", "")].append(r)
    for r in rng.sample(dialog, 60):
        others = [o for o in by_topic[r.get("topic", "")] if o is not r] or dialog
        pairs.append((r["summary"], rng.choice(others)["summary"]))
    # xsum: summary vs the first sentences of the document
    for r in rng.sample(xsum, 90):
        pairs.append((r["summary"], first_lines(r["document"], 2, 300)))
    # xsum: summary vs another summary
    for r in rng.sample(xsum, 40):
        pairs.append((r["summary"], rng.choice(xsum)["summary"]))
    # xsum: overlapping multi-line windows of the document (rougeLsum with real text)
    for r in rng.sample(xsum, 30):
        lines = [x[:250] for x in r["document"].split("\n") if x.strip()]
        if len(lines) >= 4:
            pairs.append(("\n".join(lines[0:3]), "\n".join(lines[1:4])))
        else:
            pairs.append(("\n".join(lines), r["summary"]))
    return pairs, dialog, xsum


def porter_vocab(dialog, xsum):
    rng = random.Random(99)
    counts = collections.Counter()
    for r in dialog:
        for key in ("dialogue", "summary"):
            counts.update(re.sub(r"[^a-z0-9]+", " ", r[key].lower()).split())
    for r in xsum:
        for key in ("document", "summary"):
            counts.update(re.sub(r"[^a-z0-9]+", " ", r[key].lower()).split())
    vocab = sorted(counts)
    frequent = [w for w, _ in counts.most_common(600)]
    long_words = [w for w in vocab if len(w) > 3]
    short_words = [w for w in vocab if len(w) <= 3]
    # Words ending in a suffix some rule looks at, so that each rule is hit often.
    suffixes = ("ational", "tional", "enci", "anci", "izer", "bli", "alli", "entli",
                "eli", "ousli", "ization", "ation", "ator", "alism", "iveness",
                "fulness", "ousness", "aliti", "iviti", "biliti", "fulli", "logi",
                "logy", "icate", "ative", "alize", "iciti", "ical", "ful", "ness",
                "ance", "ence", "able", "ible", "ement", "ment", "ion", "ism",
                "ous", "ive", "ize", "ied", "ies", "eed", "ing", "ed", "ll", "y")
    with_suffix = [w for w in long_words if w.endswith(suffixes)]
    chosen = []
    seen = set()

    def add(words):
        for w in words:
            if w not in seen:
                seen.add(w)
                chosen.append(w)

    add(PORTER_RULE_WORDS)
    add(PORTER_EXTRA_WORDS)
    add(frequent)
    add(rng.sample(short_words, 150))
    add(rng.sample(with_suffix, 1200))
    add(rng.sample(long_words, 3000 - len(chosen) + 300))
    return chosen[:3000]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", default=None)
    ap.add_argument("--out", default=os.path.join(ROOT, "tests", "fixtures", "rouge"))
    args = ap.parse_args()

    got = {"rouge_score": getattr(rouge_score, "__version__", None), "nltk": nltk.__version__}
    try:
        from importlib.metadata import version
        got["rouge_score"] = version("rouge_score")
    except Exception:
        pass
    for k, v in EXPECTED_VERSIONS.items():
        if got.get(k) != v:
            print(f"warning: {k} {got.get(k)} (fixtures were made with {v})", file=sys.stderr)

    data_dir = find_data_dir(args.data)
    os.makedirs(args.out, exist_ok=True)

    scorer = rouge_scorer.RougeScorer(TYPES, use_stemmer=True)
    fuzz_rng = random.Random(7)
    pairs = list(EDGE_CASES)
    pairs += [(fuzz_text(fuzz_rng), fuzz_text(fuzz_rng)) for _ in range(200)]
    real, dialog, xsum = real_pairs(data_dir)
    pairs += real

    cases_path = os.path.join(args.out, "cases.jsonl")
    with open(cases_path, "w", encoding="utf-8") as f:
        for ref, pred in pairs:
            s = scorer.score(ref, pred)
            rec = {"reference": ref, "prediction": pred}
            for t in TYPES:
                rec[t] = [float(s[t].precision), float(s[t].recall), float(s[t].fmeasure)]
            f.write(json.dumps(rec, ensure_ascii=False) + "\n")

    stemmer = PorterStemmer()
    words = porter_vocab(dialog, xsum)
    porter_path = os.path.join(args.out, "porter.jsonl")
    with open(porter_path, "w", encoding="utf-8") as f:
        for w in words:
            f.write(json.dumps({"word": w, "stem": stemmer.stem(w)}, ensure_ascii=False) + "\n")

    print(f"wrote {len(pairs)} cases to {cases_path} ({os.path.getsize(cases_path)} bytes)")
    print(f"wrote {len(words)} words to {porter_path} ({os.path.getsize(porter_path)} bytes)")


if __name__ == "__main__":
    main()
