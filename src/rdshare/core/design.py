"""From a validated dataset to the arrays the model reads (numpy only).

Every evidence kind is reduced to one of two likelihood forms on the log-odds scale:

Gaussian rows (``point``, ``point_interval``, ``interval``, ``pair``)
    ``y_i ~ Normal(mu_i, sqrt(s_i**2 + sigma_meas[prov_i]**2))`` with ``y_i`` the row's log-odds and ``s_i``
    the row's own stated uncertainty:

    - point: ``y = logit(value)``, ``s = 0`` (only the provenance's measurement error applies);
    - point_interval: ``y = logit(value)``, ``s = (logit(high) - logit(low)) / (2 z)`` with ``z`` the normal
      quantile of ``(1 + interval_prob) / 2``;
    - interval: ``y`` the log-odds midpoint, ``s`` as above;
    - pair: ``y = logit(1 - final / total)``. Each amount carries lognormal error with log-sd ``amount_sd``;
      ``logit f = log(total / final - 1)`` and its derivative with respect to ``log(total / final)`` is
      ``1 / f``, so by the delta method ``s = sqrt(2) * amount_sd / f``.

Bound rows (``lower_bound``)
    a censored observation: the row's latent log-odds ``x_i ~ Normal(mu_i, sigma_meas[prov_i])`` is known
    only to satisfy ``x_i >= logit(b)``, contributing ``log P(x_i >= logit(b))``. The simulator used for
    calibration can also produce the complementary fact ``x_i < logit(b)``; :attr:`Design.bound_lower` and
    :attr:`Design.bound_upper` encode the direction for PyMC's ``Censored`` (``upper = b`` for "at least",
    ``lower = b`` for "below").
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import pandas as pd
from scipy import stats

from rdshare.core.dataset import OFFSET_UNITS, PROVENANCES, logit

#: Reference year: ``f_frontier`` is a frontier lab's share in this year.
REF_YEAR = 2025


@dataclass(frozen=True)
class Design:
    """Model inputs for the rows that are fitted.

    Per-row arrays have one entry per fitted row (``row_ids``); ``gauss_idx`` / ``bound_idx`` pick the rows
    of each likelihood form.
    """

    row_ids: tuple[str, ...]
    labs: tuple[str, ...]
    lab_idx: np.ndarray
    pretraining: np.ndarray
    posttraining: np.ndarray
    follower: np.ndarray
    era: np.ndarray
    offset_unit: np.ndarray
    prov_idx: np.ndarray
    gauss_idx: np.ndarray
    y: np.ndarray
    s: np.ndarray
    bound_idx: np.ndarray
    b: np.ndarray
    bound_lower: np.ndarray
    bound_upper: np.ndarray

    @property
    def n_rows(self) -> int:
        return len(self.row_ids)

    @property
    def n_labs(self) -> int:
        return len(self.labs)

    @property
    def gauss_ids(self) -> tuple[str, ...]:
        return tuple(self.row_ids[i] for i in self.gauss_idx)

    @property
    def bound_ids(self) -> tuple[str, ...]:
        return tuple(self.row_ids[i] for i in self.bound_idx)

    def with_observations(self, y: np.ndarray, at_least: np.ndarray) -> Design:
        """A copy with new Gaussian observations and bound directions (same structure).

        ``at_least[k]`` True means bound row k says ``x >= b``; False means ``x < b``.
        """
        y = np.asarray(y, dtype=float)
        at_least = np.asarray(at_least, dtype=bool)
        if y.shape != self.y.shape or at_least.shape != self.b.shape:
            raise ValueError("new observations must keep the design's shapes")
        lower, upper = bound_limits(self.b, at_least)
        return replace(self, y=y, bound_lower=lower, bound_upper=upper)


def bound_limits(b: np.ndarray, at_least: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Censoring limits for PyMC's ``Censored``: (lower, upper) arrays."""
    lower = np.where(at_least, -np.inf, b)
    upper = np.where(at_least, b, np.inf)
    return lower, upper


def interval_sd(low: float, high: float, prob: float) -> float:
    """Log-odds sd implied by a central interval with probability ``prob``."""
    z = stats.norm.ppf((1.0 + prob) / 2.0)
    return float((logit(high) - logit(low)) / (2.0 * z))


def build(table: pd.DataFrame) -> Design:
    """Design arrays from the fitted rows of a validated table."""
    t = table.reset_index(drop=True)
    labs = tuple(dict.fromkeys(t["lab"]))
    lab_pos = {lab: i for i, lab in enumerate(labs)}
    n = len(t)
    y = np.full(n, np.nan)
    s = np.zeros(n)
    for i, r in t.iterrows():
        kind = r["kind"]
        if kind == "point":
            y[i] = logit(r["value"])
        elif kind == "point_interval":
            y[i] = logit(r["value"])
            s[i] = interval_sd(r["low"], r["high"], r["interval_prob"])
        elif kind == "interval":
            y[i] = 0.5 * (logit(r["low"]) + logit(r["high"]))
            s[i] = interval_sd(r["low"], r["high"], r["interval_prob"])
        elif kind == "pair":
            f = 1.0 - r["final_amount"] / r["total_amount"]
            y[i] = logit(f)
            s[i] = np.sqrt(2.0) * r["amount_sd"] / f
    is_bound = (t["kind"] == "lower_bound").to_numpy()
    gauss_idx = np.flatnonzero(~is_bound)
    bound_idx = np.flatnonzero(is_bound)
    b = logit(t.loc[is_bound, "low"].to_numpy(dtype=float)) if is_bound.any() else np.zeros(0)
    lower, upper = bound_limits(b, np.ones(len(b), dtype=bool))
    prov = {p: i for i, p in enumerate(PROVENANCES)}
    return Design(
        row_ids=tuple(t["id"]),
        labs=labs,
        lab_idx=np.array([lab_pos[x] for x in t["lab"]], dtype=np.int64),
        pretraining=(t["scope"] == "pretraining").to_numpy(dtype=float),
        posttraining=(t["scope"] == "posttraining").to_numpy(dtype=float),
        follower=(t["position"] == "follower").to_numpy(dtype=float),
        era=(t["year"].to_numpy(dtype=float) - REF_YEAR),
        offset_unit=t["unit"].isin(OFFSET_UNITS).to_numpy(dtype=float),
        prov_idx=np.array([prov[p] for p in t["provenance"]], dtype=np.int64),
        gauss_idx=gauss_idx.astype(np.int64),
        y=y[gauss_idx],
        s=s[gauss_idx],
        bound_idx=bound_idx.astype(np.int64),
        b=np.asarray(b, dtype=float),
        bound_lower=lower,
        bound_upper=upper,
    )
