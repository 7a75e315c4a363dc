"""The checkout is self-contained: nothing in it points at files a clone does not have."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SKIP = {".git", ".venv", "build", "outputs", "node_modules", "__pycache__", ".pytest_cache"}
SUFFIXES = {".py", ".md", ".toml", ".cfg", ".txt", ".csv", ".sh", ".mjs", ".json", ".ipynb", ""}
#: The folder beside the checkout the project was designed from, and its files' names.
OUTSIDE = re.compile(r"\.\./shared|\b(?:STACK|STYLE|DESIGN)\.md\b|public-disclosures\.md")


def _files():
    for path in ROOT.rglob("*"):
        rel = path.relative_to(ROOT)
        if any(part in SKIP or part.endswith(".egg-info") for part in rel.parts):
            continue
        if path.is_file() and path.suffix in SUFFIXES:
            yield path, rel


def test_no_file_refers_to_the_folder_outside_the_checkout():
    found = [
        f"{rel}:{n}: {line.strip()}"
        for path, rel in _files()
        if rel != Path("tests/test_repository.py")
        for n, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), 1)
        if OUTSIDE.search(line)
    ]
    assert not found, "\n".join(found)


def test_the_scan_sees_the_project():
    seen = {str(rel) for _, rel in _files()}
    assert {"README.md", "pyproject.toml", "Makefile", "src/rdshare/cli.py"} <= seen
