"""From a validated dataset to the arrays the model reads (numpy only).

Each evidence kind (:mod:`rdshare.core.kinds`) reduces a row to one of two likelihood forms on the
log-odds scale:

Gaussian rows
    ``y_i ~ Normal(mu_i, sqrt(s_i**2 + sigma_meas[prov_i]**2))`` with ``y_i`` the row's log-odds and ``s_i``
    the row's own stated uncertainty (each kind's entry says how it is computed).

Bound rows
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

from rdshare.core.kinds import KINDS, OFFSET_UNITS, PROVENANCES, interval_sd, logit
from rdshare.core.quantities import REF_YEAR

__all__ = ["REF_YEAR", "Covariates", "Design", "bound_limits", "build", "interval_sd", "logit"]


@dataclass(frozen=True)
class Covariates:
    """The covariates of rows (one entry per row): scope, era and position indicators.

    ``era`` is ``year - REF_YEAR``; the others are 0/1 indicators.
    """

    pretraining: np.ndarray
    posttraining: np.ndarray
    era: np.ndarray
    follower: np.ndarray

    @classmethod
    def one(cls, position: str = "leader", scope: str = "full", year: int = REF_YEAR) -> Covariates:
        """The covariates of a single programme."""
        return cls(
            pretraining=np.array([float(scope == "pretraining")]),
            posttraining=np.array([float(scope == "posttraining")]),
            era=np.array([float(year - REF_YEAR)]),
            follower=np.array([float(position == "follower")]),
        )


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
    def x(self) -> Covariates:
        """The rows' covariates."""
        return Covariates(self.pretraining, self.posttraining, self.era, self.follower)

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


def build(table: pd.DataFrame) -> Design:
    """Design arrays from the fitted rows of a validated table."""
    t = table.reset_index(drop=True)
    labs = tuple(dict.fromkeys(t["lab"]))
    lab_pos = {lab: i for i, lab in enumerate(labs)}
    reductions = [KINDS[r["kind"]].reduce(r) for _, r in t.iterrows()]
    is_bound = np.array([red.form == "bound" for red in reductions], dtype=bool)
    gauss_idx = np.flatnonzero(~is_bound)
    bound_idx = np.flatnonzero(is_bound)
    y = np.array([reductions[i].y for i in gauss_idx], dtype=float)
    s = np.array([reductions[i].s for i in gauss_idx], dtype=float)
    b = np.array([reductions[i].b for i in bound_idx], dtype=float)
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
        y=y,
        s=s,
        bound_idx=bound_idx.astype(np.int64),
        b=b,
        bound_lower=lower,
        bound_upper=upper,
    )
