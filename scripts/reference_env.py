"""Where the fixture scripts find the repository, the shared data and their Python environment.

    ROOT    the repository root
    SHARED  `LORATUNE_SHARED`, else `../shared` next to the repository (data/ and models/)

`ensure(kind, modules)` is called by a script before it imports its heavy packages: when the
interpreter running it cannot import `modules`, the script is run again under the reference
environment's interpreter, found through

    reference: LORATUNE_PYTHON, then .venv/reference/bin/python (then the running python3)
    bertscore: LORATUNE_BERTSCORE_PYTHON, then .venv/bertscore/bin/python

(the environments are made by scripts/reference-env.sh); if that one is missing too, the script
stops and says how to make it.
"""
import importlib.util
import os
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("LORATUNE_SHARED") or ROOT.parent / "shared")

_VARIABLES = {"reference": "LORATUNE_PYTHON", "bertscore": "LORATUNE_BERTSCORE_PYTHON"}
_REEXEC = "LORATUNE_REFERENCE_REEXEC"


def venv_python(kind):
    """The interpreter of the environment `.venv/<kind>` in the repository (may not exist)."""
    venv = ROOT / ".venv" / kind
    return venv / "Scripts" / "python.exe" if os.name == "nt" else venv / "bin" / "python"


def interpreter(kind="reference"):
    """(interpreter, where it came from) for a `kind` script; (None, None) when there is none
    but the running one."""
    chosen = os.environ.get(_VARIABLES[kind])
    if chosen:
        return shutil.which(chosen) or chosen, _VARIABLES[kind]
    venv = venv_python(kind)
    return (str(venv), f".venv/{kind}") if venv.is_file() else (None, None)


def shown(path):
    """`path` relative to the repository root, e.g. ../shared/models/x (for recorded metadata)."""
    path = os.path.abspath(path)
    try:
        return os.path.relpath(path, ROOT)
    except ValueError:
        return str(path)


def ensure(kind, modules):
    missing = [m for m in modules if importlib.util.find_spec(m) is None]
    if not missing:
        return
    target, source = interpreter(kind)
    here = os.path.abspath(sys.executable)
    if target and os.path.abspath(target) != here and not os.environ.get(_REEXEC):
        os.environ[_REEXEC] = "1"
        try:
            os.execv(target, [target] + sys.argv)
        except OSError as e:
            sys.exit(f"{Path(sys.argv[0]).name}: cannot run {target} (from {source}): {e}")
    sys.exit(
        f"{Path(sys.argv[0]).name}: {here} cannot import {', '.join(missing)}. Make the environment with\n"
        f"    scripts/reference-env.sh {kind}\n"
        f"and run the script with {os.path.relpath(venv_python(kind), Path.cwd())}, "
        f"or set {_VARIABLES[kind]} to an interpreter that has them."
    )
