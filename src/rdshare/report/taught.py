"""What the data taught: each headline quantity's 90% interval under the prior alone and after the data.

The report's table and plain-words reading (mostly prior, partly learned, learned) come from here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from rdshare.core.quantities import REPORTED

#: Width ratio (posterior 90% width / prior 90% width) from which a quantity is "mostly prior".
MOSTLY_PRIOR_MIN = 0.8
#: Width ratio at or below which a quantity is "learned from the data".
LEARNED_MAX = 0.5
#: Shift of the median, in prior standard deviations, that counts as the data moving a quantity.
SHIFT_NOTABLE = 0.5


def summary_row(summary: pd.DataFrame, name: str) -> pd.Series | None:
    """The summary table's row for ``name``, or None."""
    row = summary.loc[summary["name"] == name]
    return None if row.empty else row.iloc[0]


@dataclass(frozen=True)
class Learning:
    """How far the data moved one quantity from its prior (one row of "what the data taught")."""

    name: str
    prior_q05: float
    prior_q50: float
    prior_q95: float
    prior_sd: float
    post_q05: float
    post_q50: float
    post_q95: float

    @property
    def width_ratio(self) -> float:
        """Posterior 90% width over prior 90% width (1: the data narrowed nothing)."""
        return (self.post_q95 - self.post_q05) / (self.prior_q95 - self.prior_q05)

    @property
    def shift(self) -> float:
        """Move of the median, in prior standard deviations (signed)."""
        return (self.post_q50 - self.prior_q50) / self.prior_sd

    @property
    def reading(self) -> str:
        """The plain-words flag (thresholds :data:`MOSTLY_PRIOR_MIN`, :data:`LEARNED_MAX`,
        :data:`SHIFT_NOTABLE`), applied to the ratio and shift rounded to two decimals as the report
        shows them, so a reader never sees "0.80" next to "partly learned"."""
        ratio, shift = round(self.width_ratio, 2), round(self.shift, 2)
        moved = abs(shift) >= SHIFT_NOTABLE
        if ratio >= MOSTLY_PRIOR_MIN:
            if moved:
                return (
                    "shifted, not narrowed: the data moved it but its spread is still the prior's"
                )
            return "mostly prior: the data barely moved it"
        if ratio > LEARNED_MAX:
            return "partly learned: the data narrowed it somewhat"
        return "learned from the data: the interval is under half the prior's"


def _prior_exact(priors, name: str) -> tuple[np.ndarray, float] | None:
    """The 5/50/95% quantiles and sd of a parameter's own prior, or None for a derived quantity."""
    if priors is None:
        return None
    try:
        prior = priors[name]
    except KeyError:
        return None
    return np.asarray(prior.quantiles((0.05, 0.5, 0.95)), dtype=float), float(prior.scipy().std())


def _prior_draws(tree, priors, name: str) -> np.ndarray | None:
    if "prior" in tree.children and name in tree["prior"].ds:
        return np.asarray(tree["prior"].ds[name].values, dtype=float).ravel()
    try:
        prior = priors[name]
    except KeyError:
        return None
    return prior.sample(4000, np.random.default_rng(0))


def data_taught(
    tree, summary: pd.DataFrame, priors, names: Sequence[str] = REPORTED
) -> list[Learning]:
    """Prior against posterior for each quantity present in the posterior.

    A quantity with its own prior in the prior file (f_frontier, discount, sigma_lab) takes the prior's
    quantiles and sd exactly from the distribution; a derived quantity (f_follower, f_new_lab) from the
    run's ``prior`` group (draws from the prior). The posterior's quantiles come from the summary table,
    so the report and ``summary.csv`` agree.
    """
    out = []
    for name in names:
        r = summary_row(summary, name)
        if r is None:
            continue
        exact = _prior_exact(priors, name)
        if exact is None:
            prior = _prior_draws(tree, priors, name)
            if prior is None or prior.size < 2:
                continue
            q = np.quantile(prior, [0.05, 0.5, 0.95])
            sd = float(np.std(prior, ddof=1))
        else:
            q, sd = exact
        q05, q50, q95 = (float(x) for x in q)
        out.append(
            Learning(
                name=name,
                prior_q05=q05,
                prior_q50=q50,
                prior_q95=q95,
                prior_sd=sd,
                post_q05=float(r["q05"]),
                post_q50=float(r["q50"]),
                post_q95=float(r["q95"]),
            )
        )
    return out
