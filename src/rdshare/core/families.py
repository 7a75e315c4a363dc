"""Distribution families: the one table priors, uncertain scenario inputs and the PyMC model read.

Each :class:`Family` holds its parameter names, its support, a frozen scipy distribution, the PyMC class
(by name, so this layer never imports PyMC; ``rdshare.inference.model`` looks it up) with the keyword
mapping, and how it is elicited from an interval. Nothing a user writes is evaluated: a family is found
by name in :data:`FAMILIES`, and anything else is an error.

Elicitation is equal-tailed quantile matching: for a two-parameter family the parameters are solved so
that the distribution's ``(1 - mass) / 2`` and ``(1 + mass) / 2`` quantiles are the interval's ends, which
puts exactly ``mass`` inside. One-parameter families on the positive line (``halfnormal``,
``exponential``) take an interval starting at 0 and solve ``P(X <= high) = mass``. A ``uniform`` is given
by its ends, or elicited with :func:`uniform_from_interval` (its 5% and 95% quantiles at the ends).

Supports: ``real`` (any number), ``positive`` (> 0), ``unit`` (0 to 1), ``below_one`` (< 1: a discount,
which may be negative) and ``bounded`` (a uniform's interval, which decides what it fits;
:func:`fits_support`).

A *reflected* family is ``1 - X`` for ``X`` of the named PyMC class: ``reflected_lognormal`` is the
distribution of a d whose ``1 - d`` is lognormal, so ``log(1 - d)`` is normal and d may be negative. PyMC
builds it as a ``CustomDist`` of ``1 - X`` with the transform ``log(1 - d)``, so the sampler works on
that unbounded scale.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np
from scipy import optimize, stats

DEFAULT_MASS = 0.9

#: Parameters that must be strictly positive, whatever the family.
_POSITIVE_PARAMS = frozenset({"sigma", "nu", "lam", "alpha", "beta"})


@dataclass(frozen=True)
class Family:
    """One distribution family.

    Attributes
    ----------
    name : str
        The name prior files use (``"beta"``).
    params : tuple of str
        Parameter names, in order.
    support : str
        ``"real"``, ``"positive"``, ``"unit"`` or ``"bounded"``.
    pymc : str
        The ``pymc`` distribution class (``"Beta"``); keyword arguments come from :meth:`pymc_kwargs`.
    """

    name: str
    params: tuple[str, ...]
    support: str
    pymc: str
    _scipy: Callable[[Mapping[str, float]], object] = field(repr=False)
    _elicit: Callable[..., dict[str, float]] | None = field(default=None, repr=False)
    _pymc_names: Mapping[str, str] = field(default_factory=dict, repr=False)
    #: ends of the support, for the promise check of elicitation: one-sided families take [0, high]
    one_sided: bool = False
    #: the family is ``1 - X`` for X of the PyMC class ``pymc`` (support below 1)
    reflected: bool = False

    def scipy(self, params: Mapping[str, float]):
        """The frozen scipy.stats distribution with these parameters."""
        return self._scipy(params)

    def pymc_kwargs(self, params: Mapping[str, float]) -> dict[str, np.float64]:
        """Keyword arguments of the PyMC class for these parameters.

        As ``numpy.float64``: PyTensor turns a plain Python float that happens to be exact in float32
        (``2.5``, ``4.0``) into a float32 constant, and derived constants (PyMC's ``1 / lam``) would
        then be computed in single precision.
        """
        return {self._pymc_names.get(k, k): np.float64(params[k]) for k in self.params}

    def problems(self, params: Mapping[str, float]) -> list[tuple[str, str]]:
        """(parameter, message) for each impossible parameter value."""
        out = [
            (k, f"{v!r} is not a finite number") for k, v in params.items() if not math.isfinite(v)
        ]
        if out:
            return out
        out = [
            (k, f"{v:g} must be > 0") for k, v in params.items() if k in _POSITIVE_PARAMS and v <= 0
        ]
        if self.name == "uniform" and not params["lower"] < params["upper"]:
            out.append(
                ("lower", f"lower {params['lower']:g} must be below upper {params['upper']:g}")
            )
        return out

    def elicit(
        self, low: float, high: float, mass: float = DEFAULT_MASS, **fixed: float
    ) -> dict[str, float]:
        """Parameters that put ``mass`` of probability inside ``[low, high]`` (see the module docstring).

        ``fixed`` holds parameters that are given rather than solved (a ``student_t``'s ``nu``). The
        result is checked on the probability scale: ``mass`` inside and equal tails (for one-sided
        families, ``1 - mass`` above ``high``), to 1e-6. Raises ``ValueError`` saying what is allowed.
        """
        if not (math.isfinite(low) and math.isfinite(high)):
            raise ValueError(f"interval [{low:g}, {high:g}] must hold two finite numbers")
        if not 0.0 < mass < 1.0:
            raise ValueError(f"mass {mass:g} must be in (0, 1)")
        if not low < high:
            raise ValueError(f"interval low {low:g} must be below high {high:g}")
        if self._elicit is None:
            raise ValueError(
                f"give a {self.name}'s {' and '.join(self.params)} directly, not an interval"
            )
        try:
            with warnings.catch_warnings(), np.errstate(all="ignore"):
                warnings.simplefilter("ignore", RuntimeWarning)
                params = self._elicit(low, high, mass, **fixed)
            params = {k: float(v) for k, v in params.items()}
            ok = bool(params) and not self.problems(params)
            if ok:
                d = self.scipy(params)
                tails = (float(d.cdf(low)), float(d.sf(high)))
                want = (0.0, 1.0 - mass) if self.one_sided else ((1.0 - mass) / 2,) * 2
                ok = all(
                    math.isfinite(t) and abs(t - w) <= 1e-6
                    for t, w in zip(tails, want, strict=True)
                )
        except (OverflowError, ZeroDivisionError, FloatingPointError):
            ok = False
        if not ok:
            raise ValueError(
                f"no {self.name} distribution puts {mass:.0%} of its mass in [{low:g}, {high:g}] "
                "within floating-point range; choose another family or interval"
            )
        return params


# ------------------------------------------------------------------------------------------------
# elicitation helpers


def _z(mass: float) -> float:
    return float(stats.norm.ppf((1.0 + mass) / 2.0))


def _log(x):
    return np.log(x)


def _logit(x):
    x = np.asarray(x, dtype=float)
    return np.log(x) - np.log1p(-x)


def _match_two(make, low, high, mass, start, names, scale):
    """Solve two log-parameters so the family's equal-tail quantiles are ``low`` and ``high``.

    Residuals are measured on ``scale`` (log for positive families, logit for the unit interval) so
    narrow intervals near a boundary are matched as accurately as wide ones. A few starting points are
    tried; :meth:`Family.elicit` then checks the mass on the probability scale.
    """
    target = scale(np.array([low, high]))
    probs = np.array([(1.0 - mass) / 2.0, (1.0 + mass) / 2.0])

    def resid(x):
        q = np.asarray(make(*np.exp(np.clip(x, -700.0, 700.0))).ppf(probs), dtype=float)
        return scale(q) - target

    starts = [np.asarray(start, dtype=float)]
    starts += [np.log(ab) for ab in ((1.0, 1.0), (0.3, 0.3), (3.0, 1.0), (1.0, 3.0), (30.0, 30.0))]
    for x0 in starts:
        if not np.all(np.isfinite(x0)) or not np.all(np.isfinite(resid(x0))):
            continue
        try:
            sol = optimize.least_squares(
                resid, x0=x0, xtol=1e-14, ftol=1e-14, gtol=1e-14, max_nfev=200
            )
        except ValueError:  # the residuals left floating-point range on the way
            continue
        if np.all(np.isfinite(sol.x)) and np.max(np.abs(resid(sol.x))) <= 1e-9:
            return {n: float(math.exp(v)) for n, v in zip(names, sol.x, strict=True)}
    raise ValueError(
        f"no distribution of this family puts {mass:.0%} of its mass in "
        f"[{low:g}, {high:g}] with equal tails; choose another family or interval"
    )


def _elicit_normal(low, high, mass):
    return {"mu": (low + high) / 2.0, "sigma": (high - low) / (2.0 * _z(mass))}


def _elicit_student_t(low, high, mass, nu: float | None = None):
    nu = 4.0 if nu is None else float(nu)
    t = stats.t.ppf((1.0 + mass) / 2.0, nu)
    return {"nu": nu, "mu": (low + high) / 2.0, "sigma": (high - low) / (2.0 * t)}


def _elicit_lognormal(low, high, mass):
    if low <= 0:
        raise ValueError("a lognormal interval needs 0 < low < high")
    a, b = math.log(low), math.log(high)
    return {"mu": (a + b) / 2.0, "sigma": (b - a) / (2.0 * _z(mass))}


def _one_sided(name: str, solve):
    def elicit(low, high, mass):
        if low != 0:
            raise ValueError(
                f"a {name} interval must start at 0: [0, high] means P(X <= high) = mass"
            )
        if high <= 0:
            raise ValueError("high must be > 0")
        return solve(high, mass)

    return elicit


def _elicit_gamma(low, high, mass):
    if low <= 0:
        raise ValueError("a gamma interval needs 0 < low < high")
    z = _z(mass)
    # lognormal moment match as the starting point
    mu, s = (math.log(low) + math.log(high)) / 2, (math.log(high) - math.log(low)) / (2 * z)
    alpha = 1.0 / max(math.expm1(min(s * s, 700.0)), 1e-6)
    start = (math.log(alpha), math.log(alpha) - (mu + s * s / 2))
    return _match_two(
        lambda a, b: stats.gamma(a=a, scale=1.0 / b),
        low,
        high,
        mass,
        start=start,
        names=("alpha", "beta"),
        scale=_log,
    )


def _elicit_beta(low, high, mass):
    if not 0.0 < low < high < 1.0:
        raise ValueError("a beta interval needs 0 < low < high < 1")
    # start: the beta with the interval's midpoint as mean and a normal's sd
    z = _z(mass)
    m = (low + high) / 2
    sd = (high - low) / (2 * z)
    k = max(m * (1 - m) / (sd * sd) - 1.0, 0.5)
    return _match_two(
        lambda a, b: stats.beta(a, b),
        low,
        high,
        mass,
        start=(math.log(m * k), math.log((1 - m) * k)),
        names=("alpha", "beta"),
        scale=_logit,
    )


class Reflected:
    """``1 - X`` for a frozen scipy distribution ``X``: the methods rdshare uses, exactly."""

    def __init__(self, base):
        self.base = base

    def ppf(self, q):
        return 1.0 - self.base.isf(q)

    def cdf(self, x):
        return self.base.sf(1.0 - np.asarray(x, dtype=float))

    def sf(self, x):
        return self.base.cdf(1.0 - np.asarray(x, dtype=float))

    def logpdf(self, x):
        return self.base.logpdf(1.0 - np.asarray(x, dtype=float))

    def pdf(self, x):
        return self.base.pdf(1.0 - np.asarray(x, dtype=float))

    def rvs(self, size=None, random_state=None):
        return 1.0 - self.base.rvs(size=size, random_state=random_state)

    def mean(self):
        return 1.0 - self.base.mean()

    def median(self):
        return 1.0 - self.base.median()

    def std(self):
        return self.base.std()


def _elicit_reflected_lognormal(low, high, mass):
    if not high < 1.0:
        raise ValueError(
            "a reflected_lognormal interval needs low < high < 1 (it is for d below 1)"
        )
    a, b = math.log1p(-high), math.log1p(-low)
    return {"mu": (a + b) / 2.0, "sigma": (b - a) / (2.0 * _z(mass))}


def uniform_from_interval(low: float, high: float, mass: float = DEFAULT_MASS) -> dict[str, float]:
    """The uniform whose ``(1 - mass) / 2`` and ``(1 + mass) / 2`` quantiles are ``low`` and ``high``."""
    if not (math.isfinite(low) and math.isfinite(high) and low < high):
        raise ValueError(f"need finite low < high, got {low:g}, {high:g}")
    width = (high - low) / mass
    tail = (1.0 - mass) / 2.0 * width
    return {"lower": low - tail, "upper": high + tail}


#: The closed list of families, by name, in the order messages list them.
FAMILIES: dict[str, Family] = {
    f.name: f
    for f in (
        Family(
            "normal",
            ("mu", "sigma"),
            "real",
            "Normal",
            lambda p: stats.norm(p["mu"], p["sigma"]),
            _elicit_normal,
        ),
        Family(
            "student_t",
            ("nu", "mu", "sigma"),
            "real",
            "StudentT",
            lambda p: stats.t(p["nu"], p["mu"], p["sigma"]),
            _elicit_student_t,
        ),
        Family(
            "lognormal",
            ("mu", "sigma"),
            "positive",
            "LogNormal",
            lambda p: stats.lognorm(s=p["sigma"], scale=math.exp(p["mu"])),
            _elicit_lognormal,
        ),
        Family(
            "halfnormal",
            ("sigma",),
            "positive",
            "HalfNormal",
            lambda p: stats.halfnorm(scale=p["sigma"]),
            _one_sided("halfnormal", lambda high, mass: {"sigma": high / stats.halfnorm.ppf(mass)}),
            one_sided=True,
        ),
        Family(
            "exponential",
            ("lam",),
            "positive",
            "Exponential",
            lambda p: stats.expon(scale=1.0 / p["lam"]),
            _one_sided("exponential", lambda high, mass: {"lam": -math.log1p(-mass) / high}),
            one_sided=True,
        ),
        Family(
            "gamma",
            ("alpha", "beta"),
            "positive",
            "Gamma",
            lambda p: stats.gamma(a=p["alpha"], scale=1.0 / p["beta"]),
            _elicit_gamma,
        ),
        Family(
            "beta",
            ("alpha", "beta"),
            "unit",
            "Beta",
            lambda p: stats.beta(p["alpha"], p["beta"]),
            _elicit_beta,
        ),
        Family(
            "uniform",
            ("lower", "upper"),
            "bounded",
            "Uniform",
            lambda p: stats.uniform(p["lower"], p["upper"] - p["lower"]),
        ),
        Family(
            "reflected_lognormal",
            ("mu", "sigma"),
            "below_one",
            "LogNormal",
            lambda p: Reflected(stats.lognorm(s=p["sigma"], scale=math.exp(p["mu"]))),
            _elicit_reflected_lognormal,
            reflected=True,
        ),
    )
}


def get(name: str) -> Family:
    """The family called ``name``; ``KeyError`` for anything else."""
    return FAMILIES[name]


def fits_support(family: str, params: Mapping[str, float], need: str) -> bool:
    """True when ``family`` with ``params`` only takes values a quantity of support ``need`` allows."""
    have = FAMILIES[family].support
    if have == "bounded":
        lo, hi = params["lower"], params["upper"]
        return {
            "real": True,
            "positive": lo >= 0,
            "unit": lo >= 0 and hi <= 1,
            "below_one": hi <= 1,
        }[need]
    return have == need or need == "real" or (need == "below_one" and have == "unit")
