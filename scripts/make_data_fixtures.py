"""A tiny parquet file for the data-source tests: 5 IMDB-like rows (text, label), snappy-compressed
like the Hub's parquet files (pyarrow 26.0.1). Run from the repository root:
    scripts/reference-env.sh
    .venv/reference/bin/python scripts/make_data_fixtures.py"""
from reference_env import ensure

ensure("reference", ["pyarrow"])

import pyarrow as pa, pyarrow.parquet as pq  # noqa: E402

rows = {"text": ["A wonderful film.", "Dull and far too long.", "I laughed a lot.", "Not worth it.", "Great acting <br /> and music."],
        "label": [1, 0, 1, 0, 1]}
pq.write_table(pa.table(rows), "tests/fixtures/data/imdb_sample.parquet", compression="snappy")
