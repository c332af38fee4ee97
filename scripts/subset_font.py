"""Makes assets/fonts/DejaVuSans-LatinGreek.ttf, the font loratune's report charts are drawn with.

A subset of DejaVu Sans 2.37 (Debian package fonts-dejavu-core:
/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf) with Basic Latin, Latin-1 Supplement,
Latin Extended-A, Greek, general punctuation and a few arrows and math signs: enough for
metric names, class labels in European languages, and signs like Δ, −, ±, ≤. Characters outside it are drawn as the font's empty box.

Renamed "DejaVu Sans LG" as the Bitstream Vera license asks of modified fonts (the name must
not contain "Bitstream" or "Vera"); license text: assets/fonts/LICENSE-DejaVu.txt.

Needs fonttools 4.68.0 (in .venv/reference, made by scripts/reference-env.sh):
    .venv/reference/bin/python scripts/subset_font.py [/path/to/DejaVuSans.ttf]
"""
import sys
from pathlib import Path

from reference_env import ensure

ensure("reference", ["fontTools"])

from fontTools import subset
from fontTools.ttLib import TTFont

SOURCE = sys.argv[1] if len(sys.argv) > 1 else "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"
OUT = Path(__file__).resolve().parent.parent / "assets" / "fonts" / "DejaVuSans-LatinGreek.ttf"
RANGES = [
    (0x0020, 0x007E),  # Basic Latin
    (0x00A0, 0x00FF),  # Latin-1 Supplement
    (0x0100, 0x017F),  # Latin Extended-A
    (0x0370, 0x03FF),  # Greek and Coptic
    (0x2010, 0x205E),  # General Punctuation (dashes, quotes, bullets, ellipsis, per mille)
    (0x2190, 0x2193),  # Arrows ← ↑ → ↓
    (0x2122, 0x2122),  # ™
    (0x2212, 0x2212),  # − minus sign
    (0x221E, 0x221E),  # ∞
    (0x2248, 0x2248),  # ≈
    (0x2260, 0x2260),  # ≠
    (0x2264, 0x2265),  # ≤ ≥
    (0xFFFD, 0xFFFD),  # Replacement character
]

font = TTFont(SOURCE, recalcTimestamp=False)  # keep the source date: reproducible bytes
options = subset.Options()
options.layout_features = ["kern"]
options.drop_tables += ["MATH", "GSUB", "FFTM"]
options.hinting = False
options.name_IDs = ["*"]
options.notdef_outline = True
subsetter = subset.Subsetter(options)
subsetter.populate(unicodes=[c for lo, hi in RANGES for c in range(lo, hi + 1)])
subsetter.subset(font)
for record in font["name"].names:
    if record.nameID in (1, 3, 4, 6, 16, 18):
        text = record.toUnicode()
        text = text.replace("DejaVu Sans", "DejaVu Sans LG").replace("DejaVuSans", "DejaVuSansLG")
        record.string = text
font.save(OUT)
print(OUT, OUT.stat().st_size, "bytes")
