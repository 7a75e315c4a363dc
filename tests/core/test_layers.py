"""The layer rules, checked in a fresh interpreter and in the source.

- ``rdshare.core`` is plain numpy/pandas/scipy: it imports no PyMC, PyTensor, nutpie, ArviZ, xarray or
  matplotlib, at module level or inside a function;
- ``rdshare.inference`` imports nothing from the report or the commands; ``rdshare.report`` nothing from
  the commands;
- ``rdshare.cli`` and every subcommand's ``register`` import none of the stack (``rdshare --help`` stays
  fast); ``import rdshare`` has no side effects.
"""

from __future__ import annotations

import ast
import json
import os
import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

import rdshare.core

HEAVY = ("pymc", "pytensor", "nutpie", "matplotlib")
#: What the core layer never imports (the stack, and ArviZ's data structures).
NOT_IN_CORE = (*HEAVY, "arviz", "arviz_base", "arviz_stats", "arviz_plots", "xarray", "numba")
CORE_MODULES = sorted(f"rdshare.core.{m.name}" for m in pkgutil.iter_modules(rdshare.core.__path__))
SRC = Path(rdshare.core.__file__).resolve().parents[1]

#: layer folder -> packages no module in it may import (anywhere in the file)
RULES = {
    "core": (*NOT_IN_CORE, "rdshare.inference", "rdshare.report", "rdshare.commands"),
    "inference": ("rdshare.report", "rdshare.commands", "rdshare.cli"),
    "report": ("rdshare.commands", "rdshare.cli"),
}


def _imports(path: Path) -> set[str]:
    """Every module a source file imports, at module level or inside functions."""
    out = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.add(node.module)
    return out


@pytest.mark.parametrize("layer", list(RULES))
def test_layer_imports_in_the_source(layer):
    files = sorted((SRC / layer).rglob("*.py"))
    assert files
    bad = [
        f"{f.relative_to(SRC)} imports {m}"
        for f in files
        for m in sorted(_imports(f))
        if any(m == x or m.startswith(x + ".") for x in RULES[layer])
    ]
    assert not bad, bad


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
        (["rdshare.inference", "rdshare.inference.defaults"], ""),
        (["rdshare.cli", "rdshare.errors"], "import rdshare.cli; rdshare.cli.build_parser()"),
    ],
    ids=["rdshare", "rdshare.core.*", "rdshare.inference.defaults", "rdshare.cli+parser"],
)
def test_no_heavy_import(tmp_path, modules, extra):
    code = IMPORTS.format(modules=modules, extra=extra, heavy=NOT_IN_CORE)
    assert run_python(code, tmp_path) == []


def test_the_cli_parser_imports_no_numerical_library(tmp_path):
    """``rdshare --help`` answers in about 0.1 s: building the parser imports no numpy, scipy or pandas
    (a command module that imports them at top level would make every --help take about a second)."""
    code = IMPORTS.format(
        modules=["rdshare.cli"],
        extra="import rdshare.cli; rdshare.cli.build_parser()",
        heavy=("numpy", "scipy", "pandas", "xarray"),
    )
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
