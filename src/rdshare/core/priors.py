"""Prior files: a closed list of distributions, elicitation from intervals, validation.

A prior file is TOML. Each model parameter gets one table ``[priors.NAME]`` with a distribution from
:data:`DISTRIBUTIONS`, either its parameters or an elicited interval, a rationale and a source::

    [priors.f_frontier]
    dist = "beta"
    interval = [0.55, 0.95]   # "90% sure it lies between 0.55 and 0.95"
    mass = 0.9                # optional, default 0.9
    rationale = "..."
    source = "..."

Elicitation is equal-tailed quantile matching: for a two-parameter family the parameters are solved so
that the distribution's ``(1 - mass) / 2`` and ``(1 + mass) / 2`` quantiles are the interval's ends, which
puts exactly ``mass`` inside. For one-parameter families on the positive line (``halfnormal``,
``exponential``) the interval must start at 0 and the parameter is solved so that ``P(X <= high) = mass``.

Nothing in a prior file is imported or evaluated: names are looked up in fixed tables.
"""

from __future__ import annotations

import difflib
import hashlib
import math
import warnings
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import numpy as np
from scipy import optimize, stats

from rdshare.core._toml import line_of
from rdshare.errors import InputError, Problem, parse_toml, read_input

DEFAULT_MASS = 0.9
#: Largest prior file accepted, in bytes.
MAX_BYTES = 1024 * 1024

#: distribution -> (parameter names in order, support). support: "real", "positive" or "unit".
DISTRIBUTIONS: dict[str, tuple[tuple[str, ...], str]] = {
    "normal": (("mu", "sigma"), "real"),
    "student_t": (("nu", "mu", "sigma"), "real"),
    "lognormal": (("mu", "sigma"), "positive"),
    "halfnormal": (("sigma",), "positive"),
    "exponential": (("lam",), "positive"),
    "gamma": (("alpha", "beta"), "positive"),
    "beta": (("alpha", "beta"), "unit"),
    "uniform": (("lower", "upper"), "bounded"),
}

#: model parameter -> (support it needs, what it means)
PARAMETERS: dict[str, tuple[str, str]] = {
    "f_frontier": (
        "unit",
        "R&D share of development compute for a frontier leader, full pipeline, in 2025",
    ),
    "discount": (
        "unit",
        "share of R&D per unit of final run a follower avoids by building on open work",
    ),
    "sigma_lab": ("positive", "between-lab spread of log-odds R&D intensity"),
    "beta_pretraining": ("real", "log-odds shift for pretraining-only evidence"),
    "beta_posttraining": ("real", "log-odds shift for post-training-only evidence"),
    "beta_era": ("real", "log-odds change per year from 2025"),
    "unit_offset": ("real", "log-odds by which dollar/energy shares overstate the FLOP share"),
    "sigma_meas_lab": ("positive", "log-odds measurement error of lab-reported figures"),
    "sigma_meas_third_party": ("positive", "log-odds measurement error of third-party estimates"),
    "sigma_meas_derived": ("positive", "log-odds measurement error of derived figures"),
}

_PRIOR_KEYS = {"dist", "interval", "mass", "rationale", "source"}
_META_KEYS = {"name", "description", "use_when", "updated"}
_TOP_KEYS = {"meta", "priors"}


def shipped_dir() -> Path:
    """Folder of the prior files shipped inside the package (copies of ``priors/``)."""
    return Path(str(resources.files("rdshare") / "data" / "priors"))


def default_path() -> Path:
    """The default prior file shipped with the package."""
    return shipped_dir() / "default.toml"


@dataclass(frozen=True)
class Prior:
    """One parameter's prior: a named distribution with numeric parameters."""

    name: str
    dist: str
    params: dict[str, float]
    rationale: str
    source: str
    interval: tuple[float, float] | None = None
    mass: float | None = None

    def scipy(self):
        """The equivalent frozen scipy.stats distribution."""
        return _scipy(self.dist, self.params)

    def quantiles(self, qs=(0.05, 0.5, 0.95)) -> np.ndarray:
        """Quantiles of the prior."""
        return np.asarray(self.scipy().ppf(np.asarray(qs, dtype=float)), dtype=float)

    def sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """Draws from the prior with a numpy generator."""
        return np.asarray(self.scipy().rvs(size=n, random_state=rng), dtype=float)

    def describe(self) -> str:
        """Short text such as ``beta(alpha=4.1, beta=1.3)``."""
        inner = ", ".join(f"{k}={v:.4g}" for k, v in self.params.items())
        return f"{self.dist}({inner})"


@dataclass(frozen=True)
class PriorSet:
    """A validated prior file."""

    priors: dict[str, Prior]
    path: Path
    sha256: str
    meta: dict[str, str] = field(default_factory=dict)

    def __getitem__(self, name: str) -> Prior:
        return self.priors[name]

    def __iter__(self):
        return iter(self.priors.values())

    def to_dict(self) -> dict:
        """Plain, JSON-serialisable form (stamped into runs)."""
        return {
            "path": str(self.path),
            "sha256": self.sha256,
            "meta": dict(self.meta),
            "priors": {
                p.name: {
                    "dist": p.dist,
                    "params": p.params,
                    "rationale": p.rationale,
                    "source": p.source,
                }
                for p in self
            },
        }


def _scipy(dist: str, p: dict[str, float]):
    match dist:
        case "normal":
            return stats.norm(p["mu"], p["sigma"])
        case "student_t":
            return stats.t(p["nu"], p["mu"], p["sigma"])
        case "lognormal":
            return stats.lognorm(s=p["sigma"], scale=math.exp(p["mu"]))
        case "halfnormal":
            return stats.halfnorm(scale=p["sigma"])
        case "exponential":
            return stats.expon(scale=1.0 / p["lam"])
        case "gamma":
            return stats.gamma(a=p["alpha"], scale=1.0 / p["beta"])
        case "beta":
            return stats.beta(p["alpha"], p["beta"])
        case "uniform":
            return stats.uniform(p["lower"], p["upper"] - p["lower"])
    raise KeyError(dist)


def _param_problems(dist: str, p: dict[str, float]) -> list[tuple[str, str]]:
    """(field, message) for each impossible parameter."""
    out = []
    for k, v in p.items():
        if not math.isfinite(v):
            out.append((k, f"{v!r} is not a finite number"))
    if out:
        return out
    positive = {"sigma", "nu", "lam", "alpha", "beta"}
    for k, v in p.items():
        if k in positive and v <= 0:
            out.append((k, f"{v:g} must be > 0"))
    if dist == "uniform" and not p["lower"] < p["upper"]:
        out.append(("lower", f"lower {p['lower']:g} must be below upper {p['upper']:g}"))
    return out


def elicit(
    dist: str, low: float, high: float, mass: float = DEFAULT_MASS, nu: float | None = None
) -> dict[str, float]:
    """Parameters of ``dist`` that put ``mass`` of probability inside ``[low, high]``.

    Equal-tailed quantile matching (see the module docstring). Raises ``ValueError`` with a message
    saying what is allowed when the interval does not fit the family.

    Parameters
    ----------
    dist : str
        A name from :data:`DISTRIBUTIONS`.
    low, high : float
        The interval, ``low < high``.
    mass : float
        Probability the interval holds, in (0, 1).
    nu : float, optional
        Degrees of freedom of a ``student_t`` (default 4); not elicited.

    Examples
    --------
    >>> p = elicit("beta", 0.6, 0.95, 0.9)
    >>> round(_scipy("beta", p).cdf(0.95) - _scipy("beta", p).cdf(0.6), 6)
    0.9
    """
    if dist not in DISTRIBUTIONS:
        raise ValueError(f"unknown distribution {dist!r}")
    if not (math.isfinite(low) and math.isfinite(high)):
        raise ValueError(f"interval [{low:g}, {high:g}] must hold two finite numbers")
    if not 0.0 < mass < 1.0:
        raise ValueError(f"mass {mass:g} must be in (0, 1)")
    if not low < high:
        raise ValueError(f"interval low {low:g} must be below high {high:g}")
    if nu is not None and not (math.isfinite(nu) and nu > 0):
        raise ValueError(f"nu {nu:g} must be a finite number > 0")
    try:
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore", RuntimeWarning)
            params = _elicit(dist, low, high, mass, nu)
        params = {k: float(v) for k, v in params.items()}
        ok = bool(params) and not _param_problems(dist, params)
        if ok:  # the promise, checked on the probability scale: mass inside, equal tails outside
            d = _scipy(dist, params)
            tails = (float(d.cdf(low)), float(d.sf(high)))
            want = (
                (0.0, 1.0 - mass)
                if dist in ("halfnormal", "exponential")
                else ((1.0 - mass) / 2,) * 2
            )
            ok = all(
                math.isfinite(t) and abs(t - w) <= 1e-6 for t, w in zip(tails, want, strict=True)
            )
    except (OverflowError, ZeroDivisionError, FloatingPointError):
        ok = False
    if not ok:
        raise ValueError(
            f"no {dist} distribution puts {mass:.0%} of its mass in [{low:g}, {high:g}] "
            "within floating-point range; choose another family or interval"
        )
    return params


def _elicit(dist: str, low: float, high: float, mass: float, nu: float | None) -> dict[str, float]:
    q_lo, q_hi = (1.0 - mass) / 2.0, (1.0 + mass) / 2.0
    z = stats.norm.ppf(q_hi)
    match dist:
        case "normal":
            return {"mu": (low + high) / 2.0, "sigma": (high - low) / (2.0 * z)}
        case "student_t":
            nu = 4.0 if nu is None else nu
            t = stats.t.ppf(q_hi, nu)
            return {"nu": float(nu), "mu": (low + high) / 2.0, "sigma": (high - low) / (2.0 * t)}
        case "lognormal":
            if low <= 0:
                raise ValueError("a lognormal interval needs 0 < low < high")
            a, b = math.log(low), math.log(high)
            return {"mu": (a + b) / 2.0, "sigma": (b - a) / (2.0 * z)}
        case "halfnormal" | "exponential":
            if low != 0:
                raise ValueError(
                    f"a {dist} interval must start at 0: [0, high] means P(X <= high) = mass"
                )
            if high <= 0:
                raise ValueError("high must be > 0")
            if dist == "halfnormal":
                return {"sigma": high / stats.halfnorm.ppf(mass)}
            return {"lam": -math.log1p(-mass) / high}
        case "uniform":
            raise ValueError("give a uniform's lower and upper directly, not an interval")
        case "gamma":
            if low <= 0:
                raise ValueError("a gamma interval needs 0 < low < high")
            return _match_two(
                lambda a, b: stats.gamma(a=a, scale=1.0 / b),
                low,
                high,
                q_lo,
                q_hi,
                start=_gamma_start(low, high, z),
                names=("alpha", "beta"),
                scale=_log,
            )
        case "beta":
            if not 0.0 < low < high < 1.0:
                raise ValueError("a beta interval needs 0 < low < high < 1")
            return _match_two(
                lambda a, b: stats.beta(a, b),
                low,
                high,
                q_lo,
                q_hi,
                start=_beta_start(low, high, z),
                names=("alpha", "beta"),
                scale=_logit,
            )
    raise ValueError(f"unknown distribution {dist!r}")


def _gamma_start(low, high, z):
    # lognormal moment match as the starting point
    mu, s = (math.log(low) + math.log(high)) / 2, (math.log(high) - math.log(low)) / (2 * z)
    alpha = 1.0 / max(math.expm1(min(s * s, 700.0)), 1e-6)
    log_mean = mu + s * s / 2
    return math.log(alpha), math.log(alpha) - log_mean


def _beta_start(low, high, z):
    m = (low + high) / 2
    sd = (high - low) / (2 * z)
    k = max(m * (1 - m) / (sd * sd) - 1.0, 0.5)
    return math.log(m * k), math.log((1 - m) * k)


def _match_two(make, low, high, q_lo, q_hi, start, names, scale):
    """Solve two log-parameters so the family's ``q_lo``/``q_hi`` quantiles are ``low``/``high``.

    Residuals are measured on ``scale`` (log for positive families, logit for the unit interval) so
    narrow intervals near 0 are matched as accurately as wide ones. A few starting points are tried;
    :func:`elicit` then checks the mass on the probability scale.
    """
    target = scale(np.array([low, high]))
    probs = np.array([q_lo, q_hi])

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
        f"no distribution of this family puts {q_hi - q_lo:.0%} of its mass in "
        f"[{low:g}, {high:g}] with equal tails; choose another family or interval"
    )


def _log(x):
    return np.log(x)


def _logit(x):
    x = np.asarray(x, dtype=float)
    return np.log(x) - np.log1p(-x)


def _support_ok(dist: str, params: dict[str, float], need: str) -> bool:
    have = DISTRIBUTIONS[dist][1]
    if have == "bounded":
        lo, hi = params["lower"], params["upper"]
        return {"real": True, "positive": lo >= 0, "unit": lo >= 0 and hi <= 1}[need]
    return have == need or (need == "real")


_SUPPORT_WORDS = {
    "real": "any real number",
    "positive": "positive values (lognormal, halfnormal, exponential, gamma, or uniform >= 0)",
    "unit": "values in (0, 1) (beta, or uniform inside [0, 1])",
}


def load(path: str | Path | None = None) -> PriorSet:
    """Read and validate a prior file (default: the shipped ``default.toml``).

    Every problem is collected before one :class:`InputError` is raised.
    """
    path = default_path() if path is None else Path(path)
    raw = read_input(path, MAX_BYTES, "TOML file")
    text, doc = parse_toml(raw, str(path))
    return parse(doc, text=text, path=path, sha256=hashlib.sha256(raw).hexdigest())


def parse(
    doc: dict, *, text: str = "", path: Path | str = "<priors>", sha256: str = ""
) -> PriorSet:
    """Validate a parsed TOML document into a :class:`PriorSet`."""
    name = str(path)
    problems: list[Problem] = []

    def bad(message, table=None, key=None):
        field = ".".join(k for k in (table, key) if k) or None
        problems.append(Problem(name, message, line=line_of(text, table, key), field=field))

    for k in doc:
        if k not in _TOP_KEYS:
            bad(f"unknown top-level table (allowed: {', '.join(sorted(_TOP_KEYS))})", table=k)
    meta = doc.get("meta", {})
    if not isinstance(meta, dict):
        bad("must be a table", table="meta")
        meta = {}
    for k, v in meta.items():
        if k not in _META_KEYS:
            bad(f"unknown key in [meta] (allowed: {', '.join(sorted(_META_KEYS))})", "meta", k)
        elif not isinstance(v, str):
            bad("must be a string", "meta", k)
    pri = doc.get("priors")
    if not isinstance(pri, dict):
        bad("the file needs a [priors.NAME] table for each of: " + ", ".join(PARAMETERS))
        raise InputError(problems)

    out: dict[str, Prior] = {}
    for pname, spec in pri.items():
        table = f"priors.{pname}"
        if pname not in PARAMETERS:
            bad(f"unknown parameter (the model's are: {', '.join(PARAMETERS)})", table=table)
            continue
        if not isinstance(spec, dict):
            bad("must be a table", table=table)
            continue
        prior = _parse_one(pname, spec, table, bad)
        if prior is not None:
            out[pname] = prior
    for pname in PARAMETERS:
        if pname not in pri:
            bad(
                f"no prior for '{pname}' ({PARAMETERS[pname][1]}); add a [priors.{pname}] table",
                table=f"priors.{pname}",
            )
    if problems:
        raise InputError(problems)
    ordered = {k: out[k] for k in PARAMETERS}
    return PriorSet(
        priors=ordered, path=Path(path), sha256=sha256, meta={k: str(v) for k, v in meta.items()}
    )


def _num(v) -> float | None:
    """A TOML number as float (an integer too large for a float becomes +-inf); None if not a number."""
    if isinstance(v, bool) or not isinstance(v, int | float):
        return None
    try:
        return float(v)
    except OverflowError:
        return math.inf if v > 0 else -math.inf


def _parse_one(pname: str, spec: dict, table: str, bad) -> Prior | None:
    ok = True

    def fail(message, key=None):
        nonlocal ok
        ok = False
        bad(message, table, key)

    dist = spec.get("dist")
    if not isinstance(dist, str) or dist not in DISTRIBUTIONS:
        hint = ""
        if isinstance(dist, str):
            close = difflib.get_close_matches(dist.strip().lower(), DISTRIBUTIONS, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
        what = "no dist given" if dist is None else f"{dist!r} is not a known distribution"
        fail(f"{what} (allowed: {', '.join(DISTRIBUTIONS)}){hint}", "dist")
        return None
    pnames, _support = DISTRIBUTIONS[dist]
    allowed = _PRIOR_KEYS | set(pnames)
    for k in spec:
        if k not in allowed:
            fail(f"unknown key for a {dist} prior (allowed: {', '.join(sorted(allowed))})", k)
    for k in ("rationale", "source"):
        if not isinstance(spec.get(k), str) or not spec.get(k, "").strip():
            fail("is required: say why this prior and where it comes from", k)

    given = {k: spec[k] for k in pnames if k in spec}
    interval = spec.get("interval")
    mass = spec.get("mass", DEFAULT_MASS)
    params: dict[str, float] = {}
    iv: tuple[float, float] | None = None
    if interval is not None:
        extra = [k for k in given if not (dist == "student_t" and k == "nu")]
        if extra:
            fail("give either an interval or the parameters, not both", extra[0])
            return None
        if (
            not isinstance(interval, list)
            or len(interval) != 2
            or any(_num(x) is None for x in interval)
        ):
            fail("must be a list of two numbers, e.g. interval = [0.6, 0.95]", "interval")
            return None
        lo, hi = (_num(x) for x in interval)
        if not (math.isfinite(lo) and math.isfinite(hi)):
            fail(f"[{lo:g}, {hi:g}] must hold two finite numbers", "interval")
        m = _num(mass)
        if m is None or not 0.0 < m < 1.0:
            fail(f"{mass!r} must be a number in (0, 1)", "mass")
        nu = None
        if "nu" in given:
            nu = _num(given["nu"])
            if nu is None or not math.isfinite(nu) or nu <= 0:
                fail(f"{given['nu']!r} must be a finite number > 0", "nu")
        if not ok:
            return None
        try:
            params = elicit(dist, lo, hi, m, nu=nu)
        except ValueError as exc:
            fail(str(exc), "interval")
            return None
        iv = (lo, hi)
    else:
        if "mass" in spec:
            fail("only meaningful with an interval", "mass")
        for k in pnames:
            if k not in given:
                fail(f"a {dist} prior needs {', '.join(pnames)} (or an interval)", k)
                continue
            v = _num(given[k])
            if v is None:
                fail(f"{given[k]!r} is not a number", k)
            else:
                params[k] = v
        if not ok:
            return None
        for k, msg in _param_problems(dist, params):
            fail(msg, k)
        if not ok:
            return None
    need = PARAMETERS[pname][0]
    if not _support_ok(dist, params, need):
        fail(f"a {dist} prior does not fit '{pname}', which takes {_SUPPORT_WORDS[need]}", "dist")
    if not ok:
        return None
    return Prior(
        name=pname,
        dist=dist,
        params=params,
        rationale=spec["rationale"].strip(),
        source=spec["source"].strip(),
        interval=iv,
        mass=float(mass) if iv is not None else None,
    )
