"""The real programs users paste rdshare's exports into, as fixtures for the tests in this folder.

- ``squiggle``: Squiggle's own interpreter (npm package ``@quri/squiggle-lang``, version locked in
  ``package-lock.json`` here), run by ``squiggle_eval.mjs`` at its default settings;
- ``numeric_report``: the CDF validation of Metaculus' Python client, ``forecasting-tools``;
- ``calc``: LibreOffice Calc, headless, under a German (comma-decimal) locale.

``make test`` installs all three (target ``clients``): the first two beside the virtual environment
the tests run in (``.venv/squiggle``, ``.venv/forecasting-tools``), LibreOffice with apt-get. A
missing client fails its tests (never skips them), saying how to install it.
"""

from __future__ import annotations

import importlib
import json
import os
import shutil
import subprocess
import sys
import types
from collections.abc import Callable
from pathlib import Path

import pytest

HERE = Path(__file__).parent
#: The tests run with .venv/bin/python; `make clients` installs the clients into that folder.
VENV = Path(sys.prefix)
SQUIGGLE_PREFIX = VENV / "squiggle"
SQUIGGLE_EVAL = HERE / "squiggle_eval.mjs"
FORECASTING_TOOLS_DIR = VENV / "forecasting-tools"
INSTALL = "`make clients` installs it (`make test` runs that first)"

#: The environment LibreOffice runs in: German locale, so ',' is the decimal separator and '.'
#: groups thousands. LibreOffice takes its locale from these variables with its own locale data,
#: so the system does not need a generated de_DE locale.
GERMAN = {"LC_ALL": "de_DE.UTF-8", "LANG": "de_DE.UTF-8", "LANGUAGE": "de_DE"}


def _fail(message: str) -> None:
    pytest.fail(message, pytrace=False)


@pytest.fixture(scope="session")
def squiggle() -> Callable[[Path, list[str]], dict]:
    """``evaluate(path, names)``: run a Squiggle file in the real interpreter, at its default
    settings, and return ``{"sampleCount": ..., "variables": {name: ...}}`` (see squiggle_eval.mjs)."""
    node = shutil.which("node")
    if node is None:
        _fail(f"node (Node.js >= 18) runs Squiggle and was not found; install it, then {INSTALL}")
    if not (SQUIGGLE_PREFIX / "node_modules" / "@quri" / "squiggle-lang").is_dir():
        _fail(f"Squiggle (@quri/squiggle-lang) is not installed in {SQUIGGLE_PREFIX}; {INSTALL}")

    def evaluate(path: Path, names: list[str]) -> dict:
        proc = subprocess.run(
            [node, str(SQUIGGLE_EVAL), str(SQUIGGLE_PREFIX), str(path), *names],
            capture_output=True,
            text=True,
            timeout=300,
        )
        if proc.returncode != 0:
            _fail(f"Squiggle could not evaluate {path}:\n{proc.stderr.strip()}")
        return json.loads(proc.stdout)

    return evaluate


@pytest.fixture(scope="session")
def numeric_report() -> types.ModuleType:
    """``forecasting_tools.data_models.numeric_report`` from the installed forecasting-tools: its
    ``NumericDistribution`` validates (and optionally standardises) a numeric question's CDF.

    The package's ``__init__`` imports every bot and LLM client it ships (about 65 packages that
    ``make clients`` leaves out), so its three packages on the way to the data models are entered as
    bare package modules pointing at the installed folders; the validation code itself is imported
    unchanged from the installed files.
    """
    root = FORECASTING_TOOLS_DIR / "forecasting_tools"
    if not (root / "data_models" / "numeric_report.py").is_file():
        _fail(f"forecasting-tools is not installed in {FORECASTING_TOOLS_DIR}; {INSTALL}")
    for name, folder in (
        ("forecasting_tools", root),
        ("forecasting_tools.data_models", root / "data_models"),
        ("forecasting_tools.util", root / "util"),
    ):
        package = types.ModuleType(name)
        package.__path__ = [str(folder)]
        sys.modules[name] = package
    try:
        return importlib.import_module("forecasting_tools.data_models.numeric_report")
    except ImportError as e:
        _fail(f"forecasting-tools' numeric_report does not import ({e}); {INSTALL}")


@pytest.fixture(scope="session")
def calc(tmp_path_factory) -> Callable[..., Path]:
    """``convert(path, to, infilter=None)``: convert a file with headless LibreOffice Calc under a
    German locale (``soffice --convert-to TO``), returning the file it wrote."""
    soffice = shutil.which("soffice")
    if soffice is None:
        _fail(
            "LibreOffice Calc (soffice) is needed for the spreadsheet tests and was not found; "
            "scripts/ensure-libreoffice.sh installs it (as root, with apt-get: "
            "libreoffice-calc-nogui), and `make test` runs that first"
        )
    profile = tmp_path_factory.mktemp("libreoffice-profile")
    env = {**os.environ, **GERMAN}

    def convert(path: Path, to: str, infilter: str | None = None) -> Path:
        out = path.parent / f"{path.name}-converted"
        out.mkdir()
        cmd = [soffice, f"-env:UserInstallation={profile.as_uri()}", "--headless", "--norestore"]
        if infilter:
            cmd.append(f"--infilter={infilter}")
        cmd += ["--convert-to", to, "--outdir", str(out), str(path)]
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
        written = list(out.iterdir())
        if proc.returncode != 0 or len(written) != 1:
            _fail(f"LibreOffice did not convert {path}:\n{proc.stdout}\n{proc.stderr}")
        return written[0]

    return convert
