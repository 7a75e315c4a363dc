"""Uncertain scenario inputs: a fixed number, or a range read as a 90% interval.

Scenario inputs (a lab's budget, the number of labs, the fork rate, a lead in months) are what users
know only roughly. Each may be given as a number (``5e9``, ``"2.5e9"``) or as a range
(``"1e9 to 5e9"`` or ``"1e9..5e9"``), read as "90% sure it lies between these". A range becomes a
distribution whose 5% and 95% quantiles are the range's ends, chosen by the kind of input:

========  =====================  ==========================================================
kind      fixed values allowed   a range "LOW to HIGH" becomes
========  =====================  ==========================================================
amount    > 0                    lognormal, 5%/95% quantiles at LOW/HIGH (needs LOW > 0)
share     in [0, 1]              beta, 5%/95% quantiles at LOW/HIGH (needs 0 < LOW < HIGH < 1)
months    >= 0                   uniform whose 5%/95% quantiles are LOW/HIGH; the part that
                                 would fall below 0 is set to 0
count     whole number >= 1      (error: the number of labs must be a fixed whole number)
whole     whole number >= 0      (error: a count such as the number of leaders is fixed)
========  =====================  ==========================================================

Why uniform for months: a lead is an additive quantity and "0 to 6 months" is the commonest way to
say it; a lognormal cannot start at 0, and one starting at a tiny LOW (``"0.01 to 6"``) would put
most of its mass near zero, so the answer would jump as LOW moves towards 0. The uniform reading is
continuous in LOW, and still puts 90% of the mass inside the range (5% below, 5% above); below zero
it stacks the 5% at exactly 0 (no lead).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Literal

import numpy as np

from rdshare.core.families import FAMILIES, uniform_from_interval
from rdshare.errors import InputError, Problem

Kind = Literal["amount", "share", "count", "whole", "months"]
KINDS: tuple[str, ...] = ("amount", "share", "count", "whole", "months")

#: The probability mass a range "LOW to HIGH" is read as holding.
INTERVAL_MASS = 0.9
#: The range's ends are these quantiles, written as literals: (1 - 0.9) / 2 is 0.04999999999999999 in
#: floating point, and a quantile interpolated from it would put the 5% quantile of "0 to 1" just above 0.
_P_LO = 0.05
_P_HI = 0.95

_RANGE = re.compile(r"^\s*(\S+?)\s*(?:\.\.|\s+to\s+)\s*(\S+)\s*$", re.IGNORECASE)


@dataclass(frozen=True)
class Uncertain:
    """One scenario input: a fixed value or a distribution read from a 90% interval.

    Attributes
    ----------
    kind : str
        ``"amount"``, ``"share"``, ``"count"`` or ``"months"``.
    low, high : float
        The range's ends (both equal to the value when fixed).
    dist : str
        ``"fixed"``, ``"lognormal"``, ``"beta"`` or ``"uniform"``.
    params : tuple of float
        ``()`` for fixed; ``(mu, sigma)`` of log-values for lognormal; ``(alpha, beta)`` for beta;
        ``(a, b)`` for uniform on ``[a, b]`` (values below 0 are set to 0).
    fixed : float or None
        The value when fixed, else None.
    text : str
        The input as given, for records and messages.
    """

    kind: str
    low: float
    high: float
    dist: str
    params: tuple[float, ...] = ()
    fixed: float | None = None
    text: str = ""

    @property
    def is_fixed(self) -> bool:
        """True when the input is a single number."""
        return self.fixed is not None

    def _frozen(self):
        """The input's scipy distribution (families table); None when fixed."""
        if self.fixed is not None:
            return None
        names = FAMILIES[self.dist].params
        return FAMILIES[self.dist].scipy(dict(zip(names, self.params, strict=True)))

    def sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """Draw ``n`` values (a constant array when fixed).

        Parameters
        ----------
        n : int
            Number of draws.
        rng : numpy.random.Generator
            Source of randomness; not used when fixed.

        Returns
        -------
        numpy.ndarray
            Shape ``(n,)``, float.
        """
        if self.fixed is not None:
            return np.full(n, float(self.fixed))
        x = np.asarray(self._frozen().rvs(size=n, random_state=rng), dtype=float)
        return np.maximum(x, 0.0) if self.dist == "uniform" else x

    def quantiles(self, qs=(0.05, 0.5, 0.95)) -> np.ndarray:
        """Exact quantiles of the input's distribution.

        A uniform's are interpolated from the range's own ends, so the 5% and 95% quantiles are exactly
        LOW and HIGH (then values below 0 are set to 0).
        """
        qs = np.asarray(qs, dtype=float)
        if self.fixed is not None:
            return np.full(qs.shape, float(self.fixed))
        if self.dist == "uniform":
            t = (qs - _P_LO) / (_P_HI - _P_LO)
            return np.maximum(self.low + (self.high - self.low) * t, 0.0)
        return np.asarray(self._frozen().ppf(qs), dtype=float)

    def describe(self) -> str:
        """A short human reading, e.g. ``"lognormal 90% interval 1e9 to 5e9"``."""
        if self.fixed is not None:
            return f"fixed {_fmt(self.fixed)}"
        text = f"{self.dist} 90% interval {_fmt(self.low)} to {_fmt(self.high)}"
        if self.dist == "beta":
            text += f" (alpha={self.params[0]:.3g}, beta={self.params[1]:.3g})"
        elif self.dist == "uniform" and self.params[0] < 0:
            text += (
                f" (uniform on [{_fmt(self.params[0])}, {_fmt(self.params[1])}], below 0 set to 0)"
            )
        return text

    def to_record(self) -> str | float:
        """The value as given (a number or the range text), for hashing and manifests."""
        return float(self.fixed) if self.fixed is not None else self.text


def constant(value: float, kind: str = "amount") -> Uncertain:
    """A fixed input, validated for its kind; handy for defaults and tests."""
    return parse_uncertain(value, kind)


def parse_uncertain(
    text_or_number: object,
    kind: str,
    *,
    source: str = "<command line>",
    field: str | None = None,
    line: int | None = None,
) -> Uncertain:
    """Read a number or a ``"LOW to HIGH"`` range (a 90% interval) as an :class:`Uncertain`.

    Parameters
    ----------
    text_or_number : int, float or str
        ``5``, ``2.5e9``, ``"2.5e9"``, ``"1e9 to 5e9"`` or ``"1e9..5e9"``.
    kind : {"amount", "share", "count", "whole", "months"}
        What the input is; decides what values are allowed and which distribution a range becomes
        (see the module docstring).
    source : str
        File the value came from (``"<command line>"`` for CLI flags), for error messages.
    field : str or None
        Option or key name, for error messages.
    line : int or None
        Line in ``source``, for error messages.

    Returns
    -------
    Uncertain

    Raises
    ------
    InputError
        Empty or non-numeric text, NaN or infinite values, a range whose low end is not below its
        high end, or a value outside what the kind allows.
    """
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")

    def fail(message: str):
        return InputError(Problem(source, message, line=line, field=field))

    what = field or kind
    if isinstance(text_or_number, bool) or not isinstance(text_or_number, (int, float, str)):
        raise fail(
            f'must be a number or a range such as "1e9 to 5e9", got '
            f"{type(text_or_number).__name__} {text_or_number!r}"
        )
    if isinstance(text_or_number, str):
        text = text_or_number.strip()
        if not text:
            raise fail('is empty; give a number or a range such as "1e9 to 5e9"')
        m = _RANGE.match(text)
        if m:
            low = _number(m.group(1), fail)
            high = _number(m.group(2), fail)
            return _from_range(kind, low, high, text, what, fail)
        value = _number(text, fail)
    else:
        text = repr(text_or_number)
        try:
            value = float(text_or_number)
        except OverflowError:  # an integer beyond float range (TOML allows them)
            value = math.inf
        if not math.isfinite(value):
            raise fail(f"must be a finite number, got {text_or_number!r}")
    return _from_value(kind, value, text, what, fail)


def _number(token: str, fail) -> float:
    try:
        value = float(token)
    except ValueError:
        raise fail(
            f"{token!r} is not a number; write numbers like 5, 2.5e9 or 0.2, and ranges as "
            '"LOW to HIGH"'
        ) from None
    if not math.isfinite(value):
        raise fail(f"{token!r} is not a finite number")
    return value


def _from_value(kind: str, value: float, text: str, what: str, fail) -> Uncertain:
    if kind == "amount" and not value > 0:
        raise fail(f"{what} must be positive, got {_fmt(value)}")
    if kind == "share" and not 0.0 <= value <= 1.0:
        raise fail(f"{what} is a share and must be between 0 and 1, got {_fmt(value)}")
    if kind == "months" and value < 0:
        raise fail(f"{what} is a number of months and must be 0 or more, got {_fmt(value)}")
    if kind == "count":
        if value != round(value) or value < 1:
            raise fail(f"N must be a fixed whole number of at least 1, got {_fmt(value)}")
        value = float(round(value))
    if kind == "whole":
        if value != round(value) or value < 0:
            raise fail(f"{what} must be a fixed whole number of at least 0, got {_fmt(value)}")
        value = float(round(value))
    return Uncertain(kind=kind, low=value, high=value, dist="fixed", fixed=value, text=text)


#: Widest amount range accepted, HIGH / LOW. A 90% interval over twelve orders of magnitude already
#: carries no information; wider ones make the lognormal's draws underflow to 0 or overflow to inf.
MAX_AMOUNT_RATIO = 1e12


def _from_range(kind: str, low: float, high: float, text: str, what: str, fail) -> Uncertain:
    if kind == "count":
        raise fail(f"N must be a fixed whole number, not a range ({text!r})")
    if kind == "whole":
        raise fail(f"{what} must be a fixed whole number, not a range ({text!r})")
    if not low < high:
        raise fail(f"in the range {text!r} the low end must be below the high end")
    if kind == "amount":
        if low <= 0:
            raise fail(f"{what} must be positive; the range {text!r} starts at {_fmt(low)}")
        if high / low > MAX_AMOUNT_RATIO:
            raise fail(
                f"the range {text!r} spans more than {MAX_AMOUNT_RATIO:.0e} times (HIGH / LOW); "
                "a 90% interval that wide says nothing and overflows sampling: narrow it"
            )
        p = FAMILIES["lognormal"].elicit(low, high, INTERVAL_MASS)
        return Uncertain(kind, low, high, "lognormal", (p["mu"], p["sigma"]), text=text)
    if kind == "share":
        if not (low > 0.0 and high < 1.0):
            raise fail(
                f"{what} is a share; a range must lie strictly between 0 and 1 (read as a 90% "
                f"interval of a beta distribution), got {text!r}; use e.g. 0.01 instead of 0"
            )
        try:
            a, b = beta_from_interval(low, high)
        except ValueError:
            raise fail(f"no beta distribution has {text!r} as its 90% interval") from None
        return Uncertain(kind, low, high, "beta", (a, b), text=text)
    # months
    if low < 0:
        raise fail(f"{what} is a number of months and must be 0 or more, got {text!r}")
    p = uniform_from_interval(low, high, INTERVAL_MASS)
    return Uncertain(kind, low, high, "uniform", (p["lower"], p["upper"]), text=text)


def beta_from_interval(low: float, high: float, mass: float = INTERVAL_MASS) -> tuple[float, float]:
    """Beta parameters whose equal-tailed ``mass`` interval is ``[low, high]`` (default: 5% and 95%
    quantiles), elicited with the families table (:mod:`rdshare.core.families`).

    Raises
    ------
    ValueError
        When the interval is not inside (0, 1) or no beta matches it.
    """
    if not (0.0 < low < high < 1.0):
        raise ValueError(f"need 0 < low < high < 1, got {low}, {high}")
    p = FAMILIES["beta"].elicit(low, high, mass)
    return p["alpha"], p["beta"]


def _fmt(x: float) -> str:
    """Compact number for messages: 1e9, 2.5e9, 0.2, 6."""
    x = float(x)
    if x == 0:
        return "0"
    if x == round(x) and abs(x) < 1e6:
        return str(round(x))
    text = f"{x:.6g}"
    if "e" in text:
        mant, exp = text.split("e")
        return f"{mant}e{int(exp)}"
    return text
