"""Helpers shared by the property tests."""

from __future__ import annotations

import json
import math


def toml_value(v) -> str:
    """A Python value written as TOML (NaN and infinities included), for generated files."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        if math.isnan(v):
            return "nan"
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        return repr(v)
    if isinstance(v, int):
        return str(v)
    if isinstance(v, str):
        return json.dumps(v)
    if isinstance(v, dict):
        return "{" + ", ".join(f"{k} = {toml_value(x)}" for k, x in v.items()) + "}"
    return "[" + ", ".join(toml_value(x) for x in v) + "]"


def assert_clean(exc, file: str) -> None:
    """An InputError whose every problem names ``file``, a valid line and a non-empty message."""
    assert exc.problems
    for p in exc.problems:
        assert p.message.strip()
        assert p.file == file
        assert p.line is None or p.line >= 1
    assert exc.render().strip()
