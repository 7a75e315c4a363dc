"""Posterior predictive of the R&D share f for a new, unseen lab (numpy only).

A user describes a lab by its covariates, as on the command line::

    rdshare predict RUN --lab position=follower,scope=pretraining,year=2022,unit=dollars

and gets the distribution of that lab's f implied by the posterior. For each posterior draw ``s``::

    eta_s = logit(f_frontier_s)
            + beta_pretraining_s * [scope = pretraining]
            + beta_posttraining_s * [scope = posttraining]
            + beta_era_s * (year - 2025)
            + log(1 - discount_s) * [position = follower]
            + offset_<unit>_s                           the unit's offset (0 for FLOP)
            + u_s + w_s      u_s ~ Normal(0, sigma_lab_s), w_s ~ Normal(0, sigma_programme_s), fresh per draw
    f_s   = logistic(eta_s)

This is the model's fixed effects (:func:`rdshare.core.generative.new_lab`) for a programme of a lab the
data never saw: its lab and programme effects are unknown, so each is drawn from its spread, one fresh
value per posterior draw. Leaving them out would give the interval of an *average* lab, which is
overconfident about any particular one. The measurement error of a reported figure is not added: the
prediction is of the programme's share itself, not of a noisy report of it.

Each unit other than FLOP has its own offset (shares of GPU-hours, dollars or energy overstate R&D's share
of FLOP, because R&D runs at lower utilisation); with no unit the prediction is the share of FLOP.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from rdshare.core import generative as gen
from rdshare.core.dataset import YEAR_RANGE
from rdshare.core.design import Covariates
from rdshare.core.kinds import POSITIONS, SCOPES, UNITS
from rdshare.core.quantities import OFFSETS, REF_YEAR, SIGMA_MEAS, VARIANTS
from rdshare.errors import InputError, Problem

__all__ = [
    "LAB_KEYS",
    "PARAMETERS",
    "SUMMARY_KEYS",
    "LabSpec",
    "Prediction",
    "parse_lab",
    "predict_new_lab",
]

CMDLINE = "<command line>"

#: Keys ``--lab`` accepts, in the order they are shown.
LAB_KEYS = ("position", "scope", "year", "unit")

#: Accepted spellings mapped to the model's names ("frontier" is what most people call a leader).
_ALIASES = {
    "position": {"frontier": "leader"},
    "unit": {"energy_mwh": "energy", "gpu-hours": "gpu_hours", "gpuhours": "gpu_hours"},
}

#: Posterior parameters a prediction reads (the full variant's, but the measurement errors); all but
#: ``f_frontier`` default to 0 when absent (the ``no_discount`` and ``pooled`` variants fix them at 0).
PARAMETERS = tuple(
    p for p in VARIANTS["full"].parameters if p not in (*SIGMA_MEAS, "sigma_estimator")
)

#: Keys of :meth:`Prediction.summary`, exactly.
SUMMARY_KEYS = ("mean", "q05", "q25", "q50", "q75", "q95")
_PROBS = (0.05, 0.25, 0.50, 0.75, 0.95)


@dataclass(frozen=True)
class LabSpec:
    """The covariates of a lab to predict for.

    Attributes
    ----------
    position : str
        ``"leader"`` (a frontier lab) or ``"follower"`` (builds on peers' openly published work).
    scope : str
        ``"full"`` (whole pipeline), ``"pretraining"`` or ``"posttraining"``.
    year : int
        Year the development happens, in :data:`rdshare.core.dataset.YEAR_RANGE`.
    unit : str or None
        What the share is measured in (``gpu_hours``, ``flop``, ``energy``, ``dollars``); None for
        FLOP (no offset).
    """

    position: str = "leader"
    scope: str = "full"
    year: int = REF_YEAR
    unit: str | None = None

    @property
    def offset_applies(self) -> bool:
        """True when a unit offset is added (any unit but FLOP)."""
        return self.unit in OFFSETS

    def to_dict(self) -> dict:
        """The covariates as a plain dict (``unit`` is None when not given)."""
        return {
            "position": self.position,
            "scope": self.scope,
            "year": self.year,
            "unit": self.unit,
        }

    def describe(self) -> str:
        """``"position=follower, scope=pretraining, year=2022, unit=dollars (dollar offset applied)"``."""
        text = f"position={self.position}, scope={self.scope}, year={self.year}"
        if self.unit is None:
            return text + " (share of FLOP; no unit offset)"
        note = f"{self.unit} offset applied" if self.offset_applies else "the reference unit"
        return text + f", unit={self.unit} ({note})"


def parse_lab(text: str | None, *, source: str = CMDLINE, field: str = "--lab") -> LabSpec:
    """Read a lab description such as ``"position=follower,scope=pretraining,year=2022"``.

    Keys may come in any order and each at most once; keys not given take the defaults of
    :class:`LabSpec` (a frontier leader, full pipeline, 2025, share of compute). Values are
    case-insensitive; ``position=frontier`` means ``leader`` and ``unit=energy_mwh`` means
    ``energy``.

    Parameters
    ----------
    text : str or None
        Comma-separated ``key=value`` pairs; None or empty gives the defaults.
    source, field : str
        Where the text came from, for error messages.

    Returns
    -------
    LabSpec

    Raises
    ------
    InputError
        Every problem at once: a part that is not ``key=value``, an unknown or repeated key, a value
        not among the allowed ones (the message names the key and lists them), a year that is not a
        whole number in range.
    """
    problems: list[Problem] = []

    def bad(message: str) -> None:
        problems.append(Problem(source, message, field=field))

    values: dict[str, object] = {}
    parts = [] if text is None else [p.strip() for p in str(text).split(",")]
    if parts == [""]:
        parts = []
    allowed_keys = ", ".join(LAB_KEYS)
    for part in parts:
        key, eq, raw = part.partition("=")
        key, raw = key.strip().lower(), raw.strip()
        if not part:
            bad(f"empty item in {text!r}: write key=value pairs separated by single commas")
            continue
        if not eq:
            bad(f"{part!r} is not key=value; allowed keys: {allowed_keys} (e.g. position=follower)")
            continue
        if key not in LAB_KEYS:
            bad(f"unknown key {key!r}; allowed keys: {allowed_keys}")
            continue
        if key in values:
            bad(f"key {key!r} is given more than once")
            continue
        if not raw:
            bad(f"key {key!r} has no value")
            continue
        if key == "year":
            year = _year(raw, bad)
            if year is not None:
                values[key] = year
            continue
        choices = {"position": POSITIONS, "scope": SCOPES, "unit": UNITS}[key]
        value = raw.lower()
        value = _ALIASES.get(key, {}).get(value, value)
        if value not in choices:
            bad(f"{key} {raw!r} is not allowed; allowed values: {', '.join(choices)}")
            continue
        values[key] = value
    if problems:
        raise InputError(problems)
    return LabSpec(**values)


def _year(raw: str, bad) -> int | None:
    lo, hi = YEAR_RANGE
    try:
        value = float(raw)
    except ValueError:
        bad(f"year {raw!r} is not a number; give a whole year such as 2022")
        return None
    if not np.isfinite(value) or value != round(value):
        bad(f"year {raw!r} must be a whole year such as 2022")
        return None
    if not lo <= value <= hi:
        bad(f"year {round(value)} is outside the supported range {lo} to {hi}")
        return None
    return round(value)


@dataclass(frozen=True)
class Prediction:
    """The posterior predictive of f for one new lab.

    Attributes
    ----------
    lab : LabSpec
        The covariates predicted for.
    draws : numpy.ndarray
        One predicted f per posterior draw, lab spread included.
    """

    lab: LabSpec
    draws: np.ndarray

    def summary(self) -> dict[str, float]:
        """Mean and the 5/25/50/75/95% quantiles of the draws.

        Returns
        -------
        dict
            Keys exactly :data:`SUMMARY_KEYS` (``mean, q05, q25, q50, q75, q95``), float values.
        """
        qs = np.quantile(self.draws, _PROBS)
        out = {"mean": float(np.mean(self.draws))}
        out.update({k: float(q) for k, q in zip(SUMMARY_KEYS[1:], qs, strict=True)})
        return out


def predict_new_lab(
    params: Mapping[str, np.ndarray],
    lab: LabSpec,
    rng: np.random.Generator | int | None = None,
) -> Prediction:
    """Posterior predictive of f for a new, unseen lab with covariates ``lab``.

    Parameters
    ----------
    params : mapping of str to array_like
        Posterior draws, one 1-D array per name in :data:`PARAMETERS`, all the same length.
        ``f_frontier`` is required; any other name that is absent counts as 0 (the model variants
        without a discount or without lab effects fix those at 0).
    lab : LabSpec
        The lab's covariates (see :func:`parse_lab`).
    rng : numpy.random.Generator, int or None
        Source of the fresh lab effects; an int seeds a generator, None means seed 0, so the same
        inputs give the same numbers.

    Returns
    -------
    Prediction
        One f per posterior draw (see the module docstring for the formula).

    Raises
    ------
    InputError
        Missing ``f_frontier``, draws of different lengths or shapes, or values outside their
        support (``f_frontier`` outside [0, 1], a discount of 1 or more, a negative spread, NaN).
    """
    src = "<posterior draws>"
    problems: list[Problem] = []
    arrays: dict[str, np.ndarray] = {}
    for name in PARAMETERS:
        if name not in params:
            if name == "f_frontier":
                problems.append(Problem(src, "is missing", field=name))
            continue
        a = np.asarray(params[name], dtype=float)
        if a.ndim != 1 or a.size == 0:
            problems.append(
                Problem(src, f"must be a non-empty 1-D array, got shape {a.shape}", field=name)
            )
            continue
        if np.isnan(a).any():
            problems.append(Problem(src, "contains NaN", field=name))
            continue
        arrays[name] = a
    sizes = {a.size for a in arrays.values()}
    if len(sizes) > 1:
        lengths = ", ".join(f"{k}: {a.size}" for k, a in arrays.items())
        problems.append(Problem(src, f"draws differ in length ({lengths})"))
    if "f_frontier" in arrays and not np.all(
        (arrays["f_frontier"] >= 0) & (arrays["f_frontier"] <= 1)
    ):
        problems.append(Problem(src, "must hold shares in [0, 1]", field="f_frontier"))
    if "discount" in arrays and not np.all(arrays["discount"] < 1):
        problems.append(Problem(src, "must hold discounts below 1", field="discount"))
    for name in ("sigma_lab", "sigma_programme"):
        if name in arrays and np.any(arrays[name] < 0):
            problems.append(Problem(src, "must be 0 or more", field=name))
    if problems:
        raise InputError(problems)

    n = arrays["f_frontier"].size
    p = {name: arrays.get(name, np.zeros(n)) for name in PARAMETERS}
    if not isinstance(rng, np.random.Generator):
        rng = np.random.default_rng(0 if rng is None else rng)
    z_lab, z_programme = rng.standard_normal(n), rng.standard_normal(n)
    x = Covariates.one(position=lab.position, scope=lab.scope, year=lab.year, unit=lab.unit)
    with np.errstate(divide="ignore", invalid="ignore"):
        draws = gen.new_lab(p, x, z_lab, z_programme, "full")
    return Prediction(lab=lab, draws=draws)
