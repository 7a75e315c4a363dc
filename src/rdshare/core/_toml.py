"""Helpers shared by the TOML loaders (prior files, scenario files)."""

from __future__ import annotations

import re


def line_of(text: str, table: str | None, key: str | None) -> int | None:
    """Best-effort 1-based line of ``key`` inside ``[table]`` (or of the table itself), for messages.

    A key that is not written out falls back to its table's line; a table written as a key of its
    parent (``[priors]`` then ``discount = {...}``) is found there.
    """
    lines = text.split("\n")
    if table is None:
        if key is None:
            return None
        kpat = re.compile(r"^\s*" + re.escape(key) + r"\s*[=.]")
        for i, ln in enumerate(lines):
            if ln.lstrip().startswith("["):
                break
            if kpat.match(ln):
                return i + 1
        return None
    pat = re.compile(r"^\s*\[\s*" + r"\s*\.\s*".join(map(re.escape, table.split("."))) + r"\s*\]")
    start = next((i for i, ln in enumerate(lines) if pat.match(ln)), None)
    if start is None:
        if "." not in table:
            return line_of(text, None, table)
        parent, last = table.rsplit(".", 1)
        return line_of(text, parent, last)
    if key is None:
        return start + 1
    kpat = re.compile(r"^\s*" + re.escape(key) + r"\s*=")
    for i in range(start + 1, len(lines)):
        if lines[i].lstrip().startswith("["):
            break
        if kpat.match(lines[i]):
            return i + 1
    return start + 1
