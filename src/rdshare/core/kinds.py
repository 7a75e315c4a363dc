"""Evidence kinds: one registry entry per kind, read by validation, the design, the report and the plots.

A kind says which numeric columns a row of that kind needs and allows, how those numbers must relate,
what defaults fill empty optional columns, how the row enters the likelihood, the share it implies, how
the report writes it and which glyph the plots draw. Adding a kind is one :class:`EvidenceKind` in
:data:`KINDS` plus its tests and docs (``docs/model.md``, "Adding an evidence kind").

Likelihood forms (all on the log-odds scale of f; see :mod:`rdshare.core.design`):

``gaussian``  the row gives an observation ``y`` with its own stated sd ``s``:
              ``y ~ Normal(mu, sqrt(s^2 + sigma_meas^2))``;
``bound``     the row gives a bound ``b`` on its latent log-odds: a censored observation.

The categorical vocabularies of the evidence table live here too, so every module reads one list.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np
from scipy import stats

POSITIONS = ("leader", "follower")
SCOPES = ("full", "pretraining", "posttraining")
UNITS = ("gpu_hours", "flop", "energy", "dollars")
PROVENANCES = ("lab", "third_party", "derived")
#: Units whose shares overstate R&D's share of FLOP (R&D runs at lower hardware utilisation).
OFFSET_UNITS = ("energy", "dollars")

DEFAULT_INTERVAL_PROB = 0.9
DEFAULT_AMOUNT_SD = 0.1

#: Numeric columns of the evidence table, in order.
NUMERIC = ("value", "low", "high", "interval_prob", "final_amount", "total_amount", "amount_sd")
#: Numeric columns that hold shares in (0, 1).
SHARE_FIELDS = ("value", "low", "high")


def logit(p):
    """Log-odds, elementwise."""
    p = np.asarray(p, dtype=float)
    return np.log(p) - np.log1p(-p)


def interval_sd(low: float, high: float, prob: float) -> float:
    """Log-odds sd implied by a central interval with probability ``prob``."""
    z = stats.norm.ppf((1.0 + prob) / 2.0)
    return float((logit(high) - logit(low)) / (2.0 * z))


@dataclass(frozen=True)
class Reduction:
    """How one row enters the likelihood.

    ``form`` is ``"gaussian"`` (``y`` and ``s`` set) or ``"bound"`` (``b`` set: the latent log-odds is
    at least ``b``).
    """

    form: str
    y: float = math.nan
    s: float = 0.0
    b: float = math.nan


@dataclass(frozen=True)
class Implied:
    """The share a row implies: a point (for a bound, the bound), an interval where given, in words."""

    f: float
    low: float = math.nan
    high: float = math.nan
    reading: str = ""


#: ``check(nums, good, bad)``: ``nums`` maps each numeric column to its value (NaN when empty),
#: ``good`` is the set of columns that parsed and lie in range, ``bad(column, message)`` records a problem.
Check = Callable[[Mapping[str, float], set, Callable[[str, str], None]], None]


def _no_check(nums, good, bad) -> None:
    return None


@dataclass(frozen=True)
class EvidenceKind:
    """One kind of evidence.

    Attributes
    ----------
    name : str
        The value of the ``kind`` column.
    required, allowed : tuple of str
        Numeric columns a row of this kind must fill, and may fill (every other one must be empty).
    form : str
        ``"gaussian"`` or ``"bound"`` (see the module docstring).
    description : str
        One line for docs and ``rdshare data --help``.
    glyph : str
        How plots draw the reported evidence: ``"point"`` (a diamond), ``"interval"`` (a bracket),
        ``"point_interval"`` (both) or ``"lower_bound"`` (a bar with an arrow).
    defaults : mapping
        Values for optional columns left empty.
    """

    name: str
    required: tuple[str, ...]
    allowed: tuple[str, ...]
    form: str
    description: str
    glyph: str
    _reduce: Callable[[Mapping], Reduction] = field(repr=False)
    _implied: Callable[[Mapping], Implied] = field(repr=False)
    _text: Callable[[Mapping], str] = field(repr=False)
    check: Check = field(default=_no_check, repr=False)
    defaults: Mapping[str, float] = field(default_factory=dict)

    def reduce(self, row: Mapping) -> Reduction:
        """The row's contribution to the likelihood (see :class:`Reduction`)."""
        return self._reduce(row)

    def implied(self, row: Mapping) -> Implied:
        """The share the row implies (see :class:`Implied`)."""
        return self._implied(row)

    def text(self, row: Mapping) -> str:
        """The row's evidence in a few characters, as the report shows it."""
        return self._text(row)


# ------------------------------------------------------------------------------------------------
# the kinds


def _check_interval(nums, good, bad) -> None:
    lo, hi = nums["low"], nums["high"]
    if {"low", "high"} <= good and not lo < hi:
        bad("low", f"low {lo:g} must be below high {hi:g}")


def _check_point_interval(nums, good, bad) -> None:
    _check_interval(nums, good, bad)
    lo, hi, val = nums["low"], nums["high"], nums["value"]
    if {"low", "high", "value"} <= good and lo < hi and not lo < val < hi:
        bad("value", f"{val:g} is not inside its interval ({lo:g}, {hi:g})")


def _check_pair(nums, good, bad) -> None:
    fin, tot = nums["final_amount"], nums["total_amount"]
    if {"final_amount", "total_amount"} <= good:
        if not fin < tot:
            bad("final_amount", f"final {fin:g} must be below total {tot:g}")
        elif not fin / tot > 0.0:
            bad("final_amount", f"final {fin:g} is too small against total {tot:g} to give a share")


def _pair_share(r) -> float:
    return 1.0 - r["final_amount"] / r["total_amount"]


def _interval_centre(r) -> float:
    return 0.5 * (logit(r["low"]) + logit(r["high"]))


_LIST = (
    EvidenceKind(
        name="point",
        required=("value",),
        allowed=("value",),
        form="gaussian",
        description="a reported share: value",
        glyph="point",
        _reduce=lambda r: Reduction("gaussian", y=float(logit(r["value"]))),
        _implied=lambda r: Implied(r["value"], reading="reported share"),
        _text=lambda r: f"{r['value']:g}",
    ),
    EvidenceKind(
        name="point_interval",
        required=("value", "low", "high"),
        allowed=("value", "low", "high", "interval_prob"),
        form="gaussian",
        description="a reported share with an interval: value, low < value < high, interval_prob",
        glyph="point_interval",
        _reduce=lambda r: Reduction(
            "gaussian",
            y=float(logit(r["value"])),
            s=interval_sd(r["low"], r["high"], r["interval_prob"]),
        ),
        _implied=lambda r: Implied(
            r["value"], r["low"], r["high"], f"share, {r['interval_prob']:.0%} interval"
        ),
        _text=lambda r: (
            f"{r['value']:g} ({r['interval_prob']:.0%} interval {r['low']:g} to {r['high']:g})"
        ),
        check=_check_point_interval,
        defaults={"interval_prob": DEFAULT_INTERVAL_PROB},
    ),
    EvidenceKind(
        name="interval",
        required=("low", "high"),
        allowed=("low", "high", "interval_prob"),
        form="gaussian",
        description="an interval only: low < high, interval_prob",
        glyph="interval",
        _reduce=lambda r: Reduction(
            "gaussian",
            y=float(_interval_centre(r)),
            s=interval_sd(r["low"], r["high"], r["interval_prob"]),
        ),
        _implied=lambda r: Implied(
            1.0 / (1.0 + math.exp(-_interval_centre(r))),
            r["low"],
            r["high"],
            f"{r['interval_prob']:.0%} interval (centre on log-odds)",
        ),
        _text=lambda r: f"{r['low']:g} to {r['high']:g} ({r['interval_prob']:.0%} interval)",
        check=_check_interval,
        defaults={"interval_prob": DEFAULT_INTERVAL_PROB},
    ),
    EvidenceKind(
        name="pair",
        required=("final_amount", "total_amount"),
        allowed=("final_amount", "total_amount", "amount_sd"),
        form="gaussian",
        description="final-run and total amounts in one unit: 0 < final_amount < total_amount, "
        "amount_sd",
        glyph="point",
        # logit f = log(total/final - 1); d logit f / d log(total/final) = 1/f, so by the delta method
        # two amounts with independent lognormal errors of log-sd amount_sd give sd sqrt(2) amount_sd / f
        _reduce=lambda r: Reduction(
            "gaussian",
            y=float(logit(_pair_share(r))),
            s=float(np.sqrt(2.0) * r["amount_sd"] / _pair_share(r)),
        ),
        _implied=lambda r: Implied(_pair_share(r), reading="1 - final / total"),
        _text=lambda r: (
            f"final {r['final_amount']:g} of total {r['total_amount']:g} (f = {_pair_share(r):.3f})"
        ),
        check=_check_pair,
        defaults={"amount_sd": DEFAULT_AMOUNT_SD},
    ),
    EvidenceKind(
        name="lower_bound",
        required=("low",),
        allowed=("low",),
        form="bound",
        description="a lower bound: f >= low",
        glyph="lower_bound",
        _reduce=lambda r: Reduction("bound", b=float(logit(r["low"]))),
        _implied=lambda r: Implied(r["low"], r["low"], math.nan, "lower bound: f >= low"),
        _text=lambda r: f"at least {r['low']:g}",
    ),
)

#: Every kind, by name, in the order docs and messages list them.
KINDS: dict[str, EvidenceKind] = {k.name: k for k in _LIST}
FORMS = ("gaussian", "bound")
