"""Helpers shared by the property tests."""

from __future__ import annotations

import json
import math
import os

import numpy as np
import pandas as pd
from scipy.special import logit


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


def examples(n: int) -> int:
    """``n`` generated examples, times ``RDSHARE_FUZZ_FACTOR`` (``make fuzz`` raises it; default 1)."""
    return n * max(1, int(os.environ.get("RDSHARE_FUZZ_FACTOR", "1")))


# --- one row of each evidence kind, with parameters whose consequences are written out by hand ----

PARAMS = {
    "f_frontier": 0.8,
    "discount": 0.3,
    "sigma_lab": 0.5,
    "beta_pretraining": -0.6,
    "beta_posttraining": 0.4,
    "beta_era": 0.1,
    "unit_offset": 0.2,
    "sigma_meas_lab": 0.3,
    "sigma_meas_third_party": 0.6,
    "sigma_meas_derived": 0.7,
}
U_LAB = np.array([-0.4, 0.1, 0.35])


def _row(**kw):
    base = {
        "value": np.nan,
        "low": np.nan,
        "high": np.nan,
        "interval_prob": np.nan,
        "final_amount": np.nan,
        "total_amount": np.nan,
        "amount_sd": np.nan,
        "exclude": "",
    }
    return {**base, **kw}


def one_of_each_kind() -> pd.DataFrame:
    rows = [
        _row(
            id="pt",
            lab="A",
            year=2025,
            position="leader",
            scope="full",
            unit="gpu_hours",
            kind="point",
            value=0.85,
            provenance="lab",
        ),
        _row(
            id="pti",
            lab="B",
            year=2023,
            position="follower",
            scope="pretraining",
            unit="dollars",
            kind="point_interval",
            value=0.6,
            low=0.4,
            high=0.75,
            interval_prob=0.9,
            provenance="third_party",
        ),
        _row(
            id="iv",
            lab="C",
            year=2024,
            position="follower",
            scope="posttraining",
            unit="flop",
            kind="interval",
            low=0.9,
            high=0.98,
            interval_prob=0.8,
            provenance="third_party",
        ),
        _row(
            id="pair",
            lab="A",
            year=2022,
            position="leader",
            scope="pretraining",
            unit="energy",
            kind="pair",
            final_amount=40.0,
            total_amount=100.0,
            amount_sd=0.2,
            provenance="lab",
        ),
        _row(
            id="lb",
            lab="B",
            year=2021,
            position="follower",
            scope="full",
            unit="flop",
            kind="lower_bound",
            low=0.3,
            provenance="derived",
        ),
    ]
    return pd.DataFrame(rows)


def expected_mu(table: pd.DataFrame) -> np.ndarray:
    """Log-odds mean of each row's observation, written out by hand."""
    lab = {"A": 0, "B": 1, "C": 2}
    out = []
    for _, r in table.iterrows():
        eta = (
            logit(PARAMS["f_frontier"])
            + PARAMS["beta_pretraining"] * (r["scope"] == "pretraining")
            + PARAMS["beta_posttraining"] * (r["scope"] == "posttraining")
            + PARAMS["beta_era"] * (r["year"] - 2025)
            + np.log(1 - PARAMS["discount"]) * (r["position"] == "follower")
            + U_LAB[lab[r["lab"]]]
        )
        out.append(eta + PARAMS["unit_offset"] * (r["unit"] in ("dollars", "energy")))
    return np.array(out)
