"""Helpers shared by the property tests."""

from __future__ import annotations

import json
import math
import os

import numpy as np
import pandas as pd
from hypothesis import strategies as st
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
    "sigma_programme": 0.3,
    "sigma_estimator": 0.2,
    "beta_pretraining": -0.6,
    "beta_posttraining": 0.4,
    "beta_era": 0.1,
    "offset_gpu_hours": 0.2,
    "offset_dollars": 0.3,
    "offset_energy": 0.1,
    "sigma_meas_lab": 0.3,
    "sigma_meas_third_party": 0.6,
    "sigma_meas_derived": 0.7,
}
OFFSET = {"flop": 0.0, "gpu_hours": 0.2, "dollars": 0.3, "energy": 0.1}


def _row(**kw):
    base = {
        "value": np.nan,
        "low": np.nan,
        "high": np.nan,
        "interval_prob": np.nan,
        "final_amount": np.nan,
        "total_amount": np.nan,
        "amount_sd": np.nan,
        "programme": "",
        "estimator": "",
        "versus": "",
        "component": "",
        "exclude": "",
    }
    return {**base, **kw}


def one_of_each_kind() -> pd.DataFrame:
    """One row of each kind: labs A, B, C; pt and pair share programme "a1" and estimator "e1"."""
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
            programme="a1",
            estimator="e1",
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
            estimator="e1",
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
            programme="a1",
            estimator="e1",
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
        _row(
            id="ct",
            lab="C",
            year=2024,
            position="follower",
            scope="full",
            unit="dollars",
            kind="contrast",
            value=0.5,
            provenance="third_party",
            estimator="e2",
            versus="pti",
        ),
        _row(
            id="di",
            lab="D",
            year=2022,
            position="follower",
            scope="pretraining",
            unit="flop",
            kind="discount_interval",
            low=0.1,
            high=0.5,
            interval_prob=0.8,
            provenance="third_party",
        ),
        _row(
            id="db",
            lab="D",
            year=2022,
            position="follower",
            scope="pretraining",
            unit="flop",
            kind="discount_lower_bound",
            low=0.02,
            high=0.2,
            interval_prob=0.9,
            provenance="derived",
            component="hyperparameters",
        ),
    ]
    return pd.DataFrame(rows)


def share_mean(r) -> float:
    """Latent mean of a share row, written out by hand: fixed effects and the unit's offset."""
    return (
        logit(PARAMS["f_frontier"])
        + PARAMS["beta_pretraining"] * (r["scope"] == "pretraining")
        + PARAMS["beta_posttraining"] * (r["scope"] == "posttraining")
        + PARAMS["beta_era"] * (r["year"] - 2025)
        + np.log(1 - PARAMS["discount"]) * (r["position"] == "follower")
        + OFFSET[r["unit"]]
    )


def expected_mean(table: pd.DataFrame) -> np.ndarray:
    """Each row's latent mean by hand: a share row's, a contrast's difference, a discount's log(1 - d)."""
    by_id = table.set_index("id", drop=False)
    out = []
    for _, r in table.iterrows():
        if r["kind"].startswith("discount"):
            out.append(np.log(1 - PARAMS["discount"]))
        elif r["kind"] == "contrast":
            out.append(share_mean(r) - share_mean(by_id.loc[r["versus"]]))
        else:
            out.append(share_mean(r))
    return np.array(out)


# --- Metaculus questions and posteriors for the CDF property tests -------------------------------


@st.composite
def metaculus_questions(draw):
    """(draws, low, high, log_scale, open_lower, open_upper): a posterior of any shape and size
    (normal, lognormal, point masses, all beyond a bound, on a bound, mixtures, heavy tails,
    infinities) and a Metaculus question around it, linear or log-scaled, open or closed."""
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    log_scale = draw(st.booleans())
    if log_scale:
        low = draw(st.floats(1e-3, 1e6))
        high = low * draw(st.floats(1.01, 1e8))
    else:
        low = draw(st.floats(-1e6, 1e6))
        high = low + draw(st.floats(1e-3, 1e6))
    n = draw(st.one_of(st.integers(1, 10), st.integers(11, 3000)))
    kind = draw(
        st.sampled_from(
            ["normal", "lognormal", "point", "below", "above", "bound", "mixture", "heavy", "inf"]
        )
    )
    # a location somewhere around the range (in the grid's own scale), and a spread
    pos = draw(st.floats(-1.0, 2.0))
    rel = draw(st.floats(1e-6, 10.0))
    if log_scale:
        t0, t1 = np.log(low), np.log(high)
        loc = t0 + pos * (t1 - t0)
        spread = rel * (t1 - t0)
        to_x = np.exp
    else:
        loc = low + pos * (high - low)
        spread = rel * (high - low)

        def to_x(t):
            return t

    with np.errstate(over="ignore"):
        if kind == "normal":
            v = to_x(rng.normal(loc, spread, n))
        elif kind == "lognormal":
            v = rng.lognormal(np.log(abs(low) + 1.0) + pos, rel, n)
        elif kind == "point":
            v = np.full(n, to_x(loc))
        elif kind == "below":
            v = np.full(n, low) - rng.exponential(1.0 + abs(low), n) - 1e-3
        elif kind == "above":
            v = np.full(n, high) + rng.exponential(1.0 + abs(high), n) + 1e-3
        elif kind == "bound":
            v = np.full(n, draw(st.sampled_from([low, high])))
        elif kind == "mixture":
            k = rng.integers(0, n + 1)
            v = np.r_[np.full(k, to_x(loc)), to_x(rng.normal(loc, spread, n - k))]
        elif kind == "heavy":
            v = to_x(loc + spread * rng.standard_t(1.0, n))
        else:
            v = np.r_[to_x(rng.normal(loc, spread, n)), [np.inf, -np.inf][: n % 3]]
    open_lower = draw(st.booleans())
    open_upper = draw(st.booleans())
    return v, low, high, log_scale, open_lower, open_upper
