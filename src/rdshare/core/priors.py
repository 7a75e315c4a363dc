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
import re
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import numpy as np

from rdshare.core import families
from rdshare.core._toml import line_of
from rdshare.core.families import DEFAULT_MASS, FAMILIES
from rdshare.core.quantities import PARAMETERS as _PARAMETER_NAMES
from rdshare.core.quantities import QUANTITIES
from rdshare.errors import InputError, Problem, parse_toml, read_input

#: Largest prior file accepted, in bytes.
MAX_BYTES = 1024 * 1024
_ROW_ID = re.compile(r"^[a-z0-9][a-z0-9-]{0,63}$")

#: distribution -> (parameter names in order, support): a view of :data:`rdshare.core.families.FAMILIES`.
DISTRIBUTIONS: dict[str, tuple[tuple[str, ...], str]] = {
    name: (f.params, f.support) for name, f in FAMILIES.items()
}

#: model parameter -> (support it needs, what it means): a view of :mod:`rdshare.core.quantities`.
PARAMETERS: dict[str, tuple[str, str]] = {
    name: (QUANTITIES[name].support, QUANTITIES[name].meaning) for name in _PARAMETER_NAMES
}

_PRIOR_KEYS = {"dist", "interval", "mass", "rationale", "source", "rests_on"}
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
    #: ids of evidence rows this prior was built from (they must not also be fitted)
    rests_on: tuple[str, ...] = ()

    def scipy(self):
        """The equivalent frozen scipy.stats distribution."""
        return FAMILIES[self.dist].scipy(self.params)

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
                    "rests_on": list(p.rests_on),
                }
                for p in self
            },
        }


def _scipy(dist: str, p: dict[str, float]):
    """The frozen scipy distribution of family ``dist`` (see :mod:`rdshare.core.families`)."""
    return FAMILIES[dist].scipy(p)


def elicit(
    dist: str, low: float, high: float, mass: float = DEFAULT_MASS, nu: float | None = None
) -> dict[str, float]:
    """Parameters of ``dist`` that put ``mass`` of probability inside ``[low, high]``.

    Equal-tailed quantile matching (:meth:`rdshare.core.families.Family.elicit`). Raises ``ValueError``
    with a message saying what is allowed when the interval does not fit the family.

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
    if dist not in FAMILIES:
        raise ValueError(f"unknown distribution {dist!r}")
    if nu is not None and not (math.isfinite(nu) and nu > 0):
        raise ValueError(f"nu {nu:g} must be a finite number > 0")
    fixed = {"nu": nu} if dist == "student_t" else {}
    return FAMILIES[dist].elicit(low, high, mass, **fixed)


def _param_problems(dist: str, p: dict[str, float]) -> list[tuple[str, str]]:
    """(field, message) for each impossible parameter."""
    return FAMILIES[dist].problems(p)


def _support_ok(dist: str, params: dict[str, float], need: str) -> bool:
    return families.fits_support(dist, params, need)


_SUPPORT_WORDS = {
    "real": "any real number",
    "positive": "positive values (lognormal, halfnormal, exponential, gamma, or uniform >= 0)",
    "unit": "values in (0, 1) (beta, or uniform inside [0, 1])",
    "below_one": "values below 1, negative ones included (reflected_lognormal, beta, or uniform "
    "with upper <= 1)",
}


def load(path: str | Path | None = None) -> PriorSet:
    """Read and validate a prior file (default: the shipped ``default.toml``).

    Every problem is collected before one :class:`InputError` is raised.
    """
    path = default_path() if path is None else Path(path)
    raw = read_input(path, MAX_BYTES, "TOML file")
    text, doc = parse_toml(raw, str(path))
    return parse(doc, text=text, path=path, sha256=hashlib.sha256(raw).hexdigest())


def check_independent(priors: PriorSet, table) -> None:
    """Refuse priors that rest on a fitted row: the same evidence would count twice.

    ``table`` is the dataset's table (fitted and excluded rows). A prior whose ``rests_on`` names a row
    that is fitted raises :class:`InputError` naming both; rows that are excluded (or not in the table)
    are fine.

    Raises
    ------
    InputError
        One problem per (prior, fitted row), located at the prior's ``rests_on`` line.
    """
    fitted = {r["id"]: r for _, r in table.iterrows() if r["exclude"] == ""}
    text = ""
    if priors.path and Path(priors.path).is_file():
        try:
            text = Path(priors.path).read_text(encoding="utf-8-sig")
        except (OSError, UnicodeDecodeError):
            text = ""
    problems = []
    for p in priors:
        for rid in p.rests_on:
            if rid in fitted:
                r = fitted[rid]
                problems.append(
                    Problem(
                        str(priors.path),
                        f"the prior of '{p.name}' rests on row '{rid}' ({r['source_file']}, line "
                        f"{r['source_line']}), which is also fitted: the same evidence would count "
                        f"twice. Exclude the row (--exclude {rid}, or --exclude-rests-on for every "
                        "row this file rests on) or use a prior that does not rest on it",
                        line=line_of(text, f"priors.{p.name}", "rests_on"),
                        field=f"priors.{p.name}.rests_on",
                    )
                )
    if problems:
        raise InputError(problems)


def rests_on(priors: PriorSet) -> tuple[str, ...]:
    """Every row id any prior of the set rests on, in order."""
    return tuple(dict.fromkeys(rid for p in priors for rid in p.rests_on))


def coerce(priors=None) -> PriorSet:
    """A :class:`PriorSet` from what the Python API accepts: a PriorSet (as is), None (the shipped
    default) or a path."""
    return priors if isinstance(priors, PriorSet) else load(priors)


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
    rests_on = spec.get("rests_on", [])
    if not isinstance(rests_on, list) or any(
        not isinstance(x, str) or not _ROW_ID.fullmatch(x) for x in rests_on
    ):
        fail(
            'must be a list of evidence row ids, e.g. rests_on = ["bloom", "opt-175b"] '
            "(the rows this prior was built from; [] or left out when it rests on none)",
            "rests_on",
        )
        return None
    return Prior(
        name=pname,
        dist=dist,
        params=params,
        rationale=spec["rationale"].strip(),
        source=spec["source"].strip(),
        interval=iv,
        mass=float(mass) if iv is not None else None,
        rests_on=tuple(dict.fromkeys(rests_on)),
    )
