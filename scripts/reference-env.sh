#!/usr/bin/env bash
# Makes the Python reference environments that the fixture scripts (scripts/make_*.py) and the
# benches (benches/*.rs) compare loratune against, inside the repository (git-ignored):
#
#   .venv/reference  from scripts/requirements-reference.txt  (torch, Transformers 5, PEFT,
#                    rouge-score, SciPy, scikit-learn, ...): LORATUNE_PYTHON
#   .venv/bertscore  from scripts/requirements-bertscore.txt  (bert_score 0.3.13 with
#                    Transformers 4.x): LORATUNE_BERTSCORE_PYTHON
#
# Usage: scripts/reference-env.sh [reference] [bertscore]     (no argument: both)
#
# Idempotent: an environment whose requirement file has not changed since it was made is reused
# as it is (a stamp in the environment records the file's checksum); after a change, pip brings
# the existing environment up to the file. The base interpreter is $PYTHON (default python3).
# The last lines printed are the interpreters, as variables the benches and scripts honour.
#
# Size: about 6 GB each; the Linux torch wheel on PyPI comes with the CUDA libraries (it runs on
# the CPU as well), and PyPI is the only index this script uses.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
base="${PYTHON:-python3}"

names=("$@")
if [ ${#names[@]} -eq 0 ]; then
    names=(reference bertscore)
fi

checksum() {
    # requirement file + base interpreter version: a change of either redoes the install
    { cat "$1"; "$2" -c 'import sys; print(sys.version)'; } | sha256sum | cut -d' ' -f1
}

make_env() {
    local name="$1"
    local req="$root/scripts/requirements-$name.txt"
    local dir="$root/.venv/$name"
    local stamp="$dir/.loratune-requirements.sha256"
    if [ ! -f "$req" ]; then
        echo "reference-env.sh: no $req (known environments: reference, bertscore)" >&2
        exit 2
    fi
    if [ ! -x "$dir/bin/python" ]; then
        echo "== making $dir ($("$base" --version 2>&1))" >&2
        rm -rf "$dir"
        "$base" -m venv "$dir"
    fi
    local want
    want="$(checksum "$req" "$dir/bin/python")"
    if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
        echo "== $dir is up to date with ${req#"$root/"}; reusing it" >&2
        return
    fi
    echo "== installing ${req#"$root/"} into $dir" >&2
    "$dir/bin/python" -m pip install --disable-pip-version-check --quiet -r "$req" >&2
    echo "$want" >"$stamp"
}

for name in "${names[@]}"; do
    make_env "$name"
done

for name in "${names[@]}"; do
    case "$name" in
    reference) echo "LORATUNE_PYTHON=$root/.venv/reference/bin/python" ;;
    bertscore) echo "LORATUNE_BERTSCORE_PYTHON=$root/.venv/bertscore/bin/python" ;;
    esac
done
