"""The layer rule, checked in a fresh interpreter: core and the CLI's start-up never import the stack.

``rdshare.core`` is plain numpy/pandas/scipy; ``rdshare.cli`` and every subcommand's ``register`` must
not import PyMC, PyTensor, nutpie or matplotlib (``rdshare --help`` stays fast); ``import rdshare`` has
no side effects.
"""

from __future__ import annotations

import json
import os
import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

import rdshare.core

HEAVY = ("pymc", "pytensor", "nutpie", "matplotlib")
CORE_MODULES = sorted(f"rdshare.core.{m.name}" for m in pkgutil.iter_modules(rdshare.core.__path__))


def run_python(code: str, cwd: Path) -> dict:
    """Run ``code`` in a fresh interpreter (empty HOME and cwd); it prints one JSON object."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST", "MPL"))}
    env["HOME"] = str(cwd)
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=cwd, env=env, capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


IMPORTS = """
import json, sys
for name in {modules!r}:
    __import__(name)
{extra}
print(json.dumps(sorted(m for m in sys.modules if m.split(".")[0] in {heavy!r})))
"""


def test_core_modules_are_found():
    assert {"rdshare.core.dataset", "rdshare.core.priors", "rdshare.core.runs"} <= set(CORE_MODULES)


@pytest.mark.parametrize(
    ("modules", "extra"),
    [
        (["rdshare"], ""),
        (CORE_MODULES, ""),
        (["rdshare.cli", "rdshare.errors"], "import rdshare.cli; rdshare.cli.build_parser()"),
    ],
    ids=["rdshare", "rdshare.core.*", "rdshare.cli+parser"],
)
def test_no_heavy_import(tmp_path, modules, extra):
    code = IMPORTS.format(modules=modules, extra=extra, heavy=HEAVY)
    assert run_python(code, tmp_path) == []


SIDE_EFFECTS = """
import json, logging, os, signal, sys, warnings
before = dict(
    env=dict(os.environ), path=list(sys.path), filters=list(map(repr, warnings.filters)),
    handlers=len(logging.root.handlers), level=logging.root.level,
    sigint=repr(signal.getsignal(signal.SIGINT)), sigterm=repr(signal.getsignal(signal.SIGTERM)),
    files=sorted(os.listdir(".")),
)
import rdshare
rdshare.__version__
after = dict(
    env=dict(os.environ), path=list(sys.path), filters=list(map(repr, warnings.filters)),
    handlers=len(logging.root.handlers), level=logging.root.level,
    sigint=repr(signal.getsignal(signal.SIGINT)), sigterm=repr(signal.getsignal(signal.SIGTERM)),
    files=sorted(os.listdir(".")),
)
print(json.dumps({k: [before[k], after[k]] for k in before if before[k] != after[k]}))
"""


def test_import_rdshare_has_no_side_effects(tmp_path):
    changed = run_python(SIDE_EFFECTS, tmp_path)
    assert changed == {}
    assert list(tmp_path.iterdir()) == []  # nothing written to the working folder or HOME


def test_import_prints_nothing(tmp_path):
    out = subprocess.run(
        [sys.executable, "-c", "import rdshare, rdshare.cli, rdshare.core.dataset"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert (out.returncode, out.stdout, out.stderr) == (0, "", "")
