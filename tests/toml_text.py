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
