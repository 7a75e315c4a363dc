"""Evidence kinds: one registry entry per kind, read by validation, the design, the report and the plots.

A kind says what a row of that kind measures (its *target*), which numeric columns it needs and allows,
how those numbers must relate, what defaults fill empty optional columns, how the row enters the
likelihood, the value it implies, how the report writes it and which glyph the plots draw. Adding a kind
is one :class:`EvidenceKind` in :data:`KINDS` plus its tests and docs (``docs/model.md``, "Adding an
evidence kind").

Targets (:data:`TARGETS`): what a row's numbers are about, and the latent scale the model compares them
on.

``f``         the R&D share of one programme's development compute; latent ``logit f``;
``contrast``  the ratio of two programmes' R&D per unit of final run, ``r_row / r_versus``, estimated by
              one method in one study; latent ``log`` of the ratio (the shared estimator error cancels);
``discount``  the discount d itself, or a lower bound on it from one component of R&D; latent
              ``log(1 - d)``, which allows d < 0.

Likelihood forms: ``gaussian`` (an observation ``y`` with its own stated sd ``s``) or ``bound`` (the row's
latent value is known to lie on one side of ``b``; ``direction`` +1 means at least ``b``, -1 at most).

The categorical vocabularies of the evidence table live here too, so every module reads one list.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np
from scipy.special import ndtri

POSITIONS = ("leader", "follower")
SCOPES = ("full", "pretraining", "posttraining")
#: Units a share can be measured in; ``flop`` is the reference every offset is measured against.
UNITS = ("flop", "gpu_hours", "dollars", "energy")
PROVENANCES = ("lab", "third_party", "derived")

DEFAULT_INTERVAL_PROB = 0.9
DEFAULT_AMOUNT_SD = 0.1

#: Numeric columns of the evidence table, in order.
NUMERIC = ("value", "low", "high", "interval_prob", "final_amount", "total_amount", "amount_sd")
#: Numeric columns whose range depends on the kind's target (see :class:`Target`).
VALUE_FIELDS = ("value", "low", "high")
#: Kept for callers of the first version: the value fields (shares for the ``f`` target).
SHARE_FIELDS = VALUE_FIELDS


def logit(p):
    """Log-odds, elementwise."""
    p = np.asarray(p, dtype=float)
    return np.log(p) - np.log1p(-p)


def _z(prob: float) -> float:
    return float(ndtri((1.0 + prob) / 2.0))


@dataclass(frozen=True)
class Target:
    """What a row measures, and the latent scale the model compares it on.

    Attributes
    ----------
    name : str
    label : str
        What the value is, in words (report, plots).
    scale : str
        The values allowed: ``"share"`` (0 < x < 1), ``"ratio"`` (x > 0) or ``"below_one"`` (x < 1).
    increasing : bool
        Whether the latent scale grows with the value (a lower bound on the value is then a lower
        bound on the latent value; otherwise an upper one).
    """

    name: str
    label: str
    scale: str
    increasing: bool
    _to_latent: Callable = field(repr=False)
    _from_latent: Callable = field(repr=False)

    def latent(self, x):
        """The value on the model's latent scale."""
        return self._to_latent(np.asarray(x, dtype=float))

    def value(self, latent):
        """A latent value back on the value scale."""
        return self._from_latent(np.asarray(latent, dtype=float))

    def allows(self, x: float) -> bool:
        """True when ``x`` is a possible value."""
        return {"share": 0.0 < x < 1.0, "ratio": x > 0.0, "below_one": x < 1.0}[self.scale]

    @property
    def scale_words(self) -> str:
        return {
            "share": "a share in (0, 1)",
            "ratio": "a ratio > 0",
            "below_one": "a discount below 1 (it may be negative)",
        }[self.scale]


TARGETS: dict[str, Target] = {
    t.name: t
    for t in (
        Target("f", "R&D share f", "share", True, logit, lambda x: 1.0 / (1.0 + np.exp(-x))),
        Target(
            "contrast",
            "ratio of R&D per unit of final run (this programme / the versus row's)",
            "ratio",
            True,
            np.log,
            np.exp,
        ),
        Target(
            "discount",
            "discount d",
            "below_one",
            False,
            lambda d: np.log1p(-d),
            lambda x: -np.expm1(x),
        ),
    )
}


def interval_sd(low: float, high: float, prob: float, target: str = "f") -> float:
    """Latent-scale sd implied by a central interval with probability ``prob``."""
    t = TARGETS[target]
    return float(abs(t.latent(high) - t.latent(low)) / (2.0 * _z(prob)))


def interval_centre(low: float, high: float, target: str = "f") -> float:
    """The interval's midpoint on the latent scale."""
    t = TARGETS[target]
    return float(0.5 * (t.latent(low) + t.latent(high)))


@dataclass(frozen=True)
class Reduction:
    """How one row enters the likelihood, on its target's latent scale.

    ``form`` is ``"gaussian"`` (``y`` observed with stated sd ``s``) or ``"bound"`` (the latent value is at
    least ``b`` when ``direction`` is +1, at most ``b`` when -1; ``s`` is the bound's own uncertainty).
    """

    form: str
    target: str = "f"
    y: float = math.nan
    s: float = 0.0
    b: float = math.nan
    direction: int = 1


@dataclass(frozen=True)
class Implied:
    """The value a row implies on its target's scale: a point (for a bound, the bound), an interval where
    given, in words."""

    value: float
    low: float = math.nan
    high: float = math.nan
    reading: str = ""

    @property
    def f(self) -> float:
        """The implied value (the name of the first version, when every target was f)."""
        return self.value


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
    target : str
        What the row measures (:data:`TARGETS`).
    required, allowed : tuple of str
        Numeric columns a row of this kind must fill, and may fill (every other one must be empty).
    form : str
        ``"gaussian"`` or ``"bound"``.
    description : str
        One line for docs and ``rdshare data --help``.
    glyph : str
        How plots draw the reported evidence: ``"point"`` (a diamond), ``"interval"`` (a bracket),
        ``"point_interval"`` (both) or ``"lower_bound"`` (a bar with an arrow).
    defaults : mapping
        Values for optional columns left empty.
    needs_versus : bool
        Whether the row names the row it is compared with (``versus``).
    allows_component : bool
        Whether the row may name a component of R&D (``component``).
    """

    name: str
    target: str
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
    needs_versus: bool = False
    allows_component: bool = False

    def reduce(self, row: Mapping) -> Reduction:
        """The row's contribution to the likelihood (see :class:`Reduction`)."""
        return self._reduce(row)

    def implied(self, row: Mapping) -> Implied:
        """The value the row implies (see :class:`Implied`)."""
        return self._implied(row)

    def text(self, row: Mapping) -> str:
        """The row's evidence in a few characters, as the report shows it."""
        return self._text(row)


# ------------------------------------------------------------------------------------------------
# checks


def _check_interval(nums, good, bad) -> None:
    lo, hi = nums["low"], nums["high"]
    if {"low", "high"} <= good and not lo < hi:
        bad("low", f"low {lo:g} must be below high {hi:g}")


def _check_point_interval(nums, good, bad) -> None:
    _check_interval(nums, good, bad)
    lo, hi, val = nums["low"], nums["high"], nums["value"]
    if {"low", "high", "value"} <= good and lo < hi and not lo < val < hi:
        bad("value", f"{val:g} is not inside its interval ({lo:g}, {hi:g})")


def _check_optional_interval(nums, good, bad) -> None:
    """low and high come together, or neither; the value (if any) inside them."""
    has_lo, has_hi = not math.isnan(nums["low"]), not math.isnan(nums["high"])
    if has_lo != has_hi:
        missing = "high" if has_lo else "low"
        bad(missing, "give low and high together (an interval), or neither")
        return
    if has_lo:
        _check_point_interval(nums, good, bad)


def _check_uncertain_bound(nums, good, bad) -> None:
    """A bound whose value is uncertain: an optional high above low."""
    if not math.isnan(nums["high"]):
        _check_interval(nums, good, bad)


def _check_pair(nums, good, bad) -> None:
    fin, tot = nums["final_amount"], nums["total_amount"]
    if {"final_amount", "total_amount"} <= good:
        if not fin < tot:
            bad("final_amount", f"final {fin:g} must be below total {tot:g}")
        elif not fin / tot > 0.0:
            bad("final_amount", f"final {fin:g} is too small against total {tot:g} to give a share")


# ------------------------------------------------------------------------------------------------
# kinds, built per target


def _has(r, col: str) -> bool:
    v = r[col]
    return v is not None and not (isinstance(v, float) and math.isnan(v))


def _point(name: str, target: str, description: str) -> EvidenceKind:
    t = TARGETS[target]
    return EvidenceKind(
        name=name,
        target=target,
        required=("value",),
        allowed=("value",),
        form="gaussian",
        description=description,
        glyph="point",
        _reduce=lambda r: Reduction("gaussian", target, y=float(t.latent(r["value"]))),
        _implied=lambda r: Implied(r["value"], reading=f"reported {t.label}"),
        _text=lambda r: f"{r['value']:g}",
        allows_component=False,
    )


def _interval(name: str, target: str, description: str) -> EvidenceKind:
    t = TARGETS[target]
    return EvidenceKind(
        name=name,
        target=target,
        required=("low", "high"),
        allowed=("low", "high", "interval_prob"),
        form="gaussian",
        description=description,
        glyph="interval",
        _reduce=lambda r: Reduction(
            "gaussian",
            target,
            y=interval_centre(r["low"], r["high"], target),
            s=interval_sd(r["low"], r["high"], r["interval_prob"], target),
        ),
        _implied=lambda r: Implied(
            float(t.value(interval_centre(r["low"], r["high"], target))),
            r["low"],
            r["high"],
            f"{r['interval_prob']:.0%} interval (centre on the latent scale)",
        ),
        _text=lambda r: f"{r['low']:g} to {r['high']:g} ({r['interval_prob']:.0%} interval)",
        check=_check_interval,
        defaults={"interval_prob": DEFAULT_INTERVAL_PROB},
    )


def _point_interval(name: str, target: str, description: str, *, optional: bool) -> EvidenceKind:
    """A value with an interval (required, or optional when ``optional``)."""
    t = TARGETS[target]

    def reduce(r) -> Reduction:
        s = interval_sd(r["low"], r["high"], r["interval_prob"], target) if _has(r, "low") else 0.0
        return Reduction("gaussian", target, y=float(t.latent(r["value"])), s=s)

    def implied(r) -> Implied:
        if _has(r, "low"):
            return Implied(r["value"], r["low"], r["high"], f"{r['interval_prob']:.0%} interval")
        return Implied(r["value"], reading=f"reported {t.label}")

    def text(r) -> str:
        if not _has(r, "low"):
            return f"{r['value']:g}"
        return f"{r['value']:g} ({r['interval_prob']:.0%} interval {r['low']:g} to {r['high']:g})"

    return EvidenceKind(
        name=name,
        target=target,
        required=("value",) if optional else ("value", "low", "high"),
        allowed=("value", "low", "high", "interval_prob"),
        form="gaussian",
        description=description,
        glyph="point_interval",
        _reduce=reduce,
        _implied=implied,
        _text=text,
        check=_check_optional_interval if optional else _check_point_interval,
        defaults={"interval_prob": DEFAULT_INTERVAL_PROB},
        needs_versus=target == "contrast",
    )


def _lower_bound(name: str, target: str, description: str, *, component: bool) -> EvidenceKind:
    """At least ``low``; with ``high`` the bound itself is uncertain, lying in [low, high]."""
    t = TARGETS[target]
    direction = 1 if t.increasing else -1

    def reduce(r) -> Reduction:
        if _has(r, "high"):
            b = interval_centre(r["low"], r["high"], target)
            s = interval_sd(r["low"], r["high"], r["interval_prob"], target)
        else:
            b, s = float(t.latent(r["low"])), 0.0
        return Reduction("bound", target, b=b, s=s, direction=direction)

    def implied(r) -> Implied:
        if _has(r, "high"):
            centre = float(t.value(interval_centre(r["low"], r["high"], target)))
            return Implied(
                centre, r["low"], math.nan, f"at least a bound in {r['low']:g} to {r['high']:g}"
            )
        return Implied(r["low"], r["low"], math.nan, f"lower bound: {t.label} >= low")

    def text(r) -> str:
        if _has(r, "high"):
            return (
                f"at least a bound between {r['low']:g} and {r['high']:g} "
                f"({r['interval_prob']:.0%} interval)"
            )
        return f"at least {r['low']:g}"

    return EvidenceKind(
        name=name,
        target=target,
        required=("low",),
        allowed=("low", "high", "interval_prob"),
        form="bound",
        description=description,
        glyph="lower_bound",
        _reduce=reduce,
        _implied=implied,
        _text=text,
        check=_check_uncertain_bound,
        defaults={"interval_prob": DEFAULT_INTERVAL_PROB},
        allows_component=component,
    )


def _pair_share(r) -> float:
    return 1.0 - r["final_amount"] / r["total_amount"]


_PAIR = EvidenceKind(
    name="pair",
    target="f",
    required=("final_amount", "total_amount"),
    allowed=("final_amount", "total_amount", "amount_sd"),
    form="gaussian",
    description="final-run and total amounts in one unit: 0 < final_amount < total_amount, amount_sd",
    glyph="point",
    # logit f = log(total/final - 1); d logit f / d log(total/final) = 1/f, so by the delta method two
    # amounts with independent lognormal errors of log-sd amount_sd give sd sqrt(2) amount_sd / f
    _reduce=lambda r: Reduction(
        "gaussian",
        "f",
        y=float(logit(_pair_share(r))),
        s=float(np.sqrt(2.0) * r["amount_sd"] / _pair_share(r)),
    ),
    _implied=lambda r: Implied(_pair_share(r), reading="1 - final / total"),
    _text=lambda r: (
        f"final {r['final_amount']:g} of total {r['total_amount']:g} (f = {_pair_share(r):.3f})"
    ),
    check=_check_pair,
    defaults={"amount_sd": DEFAULT_AMOUNT_SD},
)

_LIST = (
    _point("point", "f", "a reported share: value"),
    _point_interval(
        "point_interval",
        "f",
        "a reported share with an interval: value, low < value < high, interval_prob",
        optional=False,
    ),
    _interval("interval", "f", "an interval only: low < high, interval_prob"),
    _PAIR,
    _lower_bound(
        "lower_bound",
        "f",
        "a lower bound: f >= low; with high, the bound is uncertain within [low, high]",
        component=False,
    ),
    _point_interval(
        "contrast",
        "contrast",
        "one study's ratio of this programme's R&D per unit of final run to the versus row's: "
        "value > 0, optionally low < value < high and interval_prob",
        optional=True,
    ),
    _point("discount_point", "discount", "a reported discount d (whole programme): value < 1"),
    _interval(
        "discount_interval",
        "discount",
        "an interval for the discount d (whole programme): low < high < 1, interval_prob",
    ),
    _lower_bound(
        "discount_lower_bound",
        "discount",
        "d >= low, for example the saving from one named component of R&D; with high, the bound "
        "is uncertain within [low, high]",
        component=True,
    ),
)

#: Every kind, by name, in the order docs and messages list them.
KINDS: dict[str, EvidenceKind] = {k.name: k for k in _LIST}
FORMS = ("gaussian", "bound")
