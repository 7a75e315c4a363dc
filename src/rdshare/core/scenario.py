"""Scenario files: what a user asks of the posterior, and the named output draws it produces.

A scenario is a small TOML file (or the same inputs given as command-line options)::

    [scenario]
    name = "essay-claims"
    description = "A frontier lab's budget, a five-lab open ecosystem, a 20% fork rate"
    unit = "dollars"                 # gpu_hours, flop, dollars or energy_mwh
    years = "2026..2030"             # optional: per-year outputs for these years
    budget_year = 2025               # the year the budget (or final run) is for (default 2025)
    generations = 4                  # optional: savings over this many model generations

    [inputs]
    budget = "2e9 to 6e9"            # one lab's development budget working alone (R&D + final run)
    # final_run = "3e8 to 1e9"       # ... or its final run(s) instead: exactly one of the two
    labs = 5                         # N labs in the ecosystem / consortium (fixed whole number)
    leaders = 1                      # how many of them lead the open frontier by lead_months
    fork_rate = 0.2                  # share of would-be-published work kept in internal-only forks
    lead_months = "0 to 6"           # lead over the open frontier of a closed lab
    shared_fraction = "0.3 to 0.7"   # share of each lab's R&D a consortium builds once
    halflife_months = "2 to 12"      # half-life of open work's value to a lab ahead of it
    budget_growth = "2.0 to 2.9"     # yearly growth factor of the budget (years, generations)
    carryover = "0.2 to 0.8"         # share of a generation's savings still useful to the next
    generation_months = "6 to 18"    # months between model generations

Inputs are numbers or ranges (``"LOW to HIGH"``, a 90% interval; see
:mod:`rdshare.core.uncertain`). The file is parsed with :mod:`tomllib` and checked against a closed
list of keys; nothing in it is evaluated. All problems are collected and raised together as one
:class:`~rdshare.errors.InputError`. Every default, and whether it rests on data or judgement, is in
:data:`INPUTS` and docs/scenarios.md.

:func:`evaluate` turns a scenario and posterior draws into the outputs named by :func:`output_names`
(:data:`OUTPUT_NAMES`, then per-year and per-generation outputs when the scenario asks for them);
:func:`decisions` says, for each comparison the outputs allow, whether the data or an input decides it.
"""

from __future__ import annotations

import hashlib
import re
import tomllib
from dataclasses import dataclass, replace
from importlib import resources
from pathlib import Path

import numpy as np
from scipy.special import expit, logit

from rdshare.core import savings as sv
from rdshare.core._toml import line_of
from rdshare.core.quantities import OFFSETS, REF_YEAR
from rdshare.core.savings import SHARE, Output, Unit, get_unit
from rdshare.core.uncertain import Uncertain, parse_uncertain
from rdshare.errors import InputError, Problem, read_input

__all__ = [
    "INPUTS",
    "OUTPUT_NAMES",
    "REQUIRED_DRAWS",
    "Output",
    "Scenario",
    "evaluate",
    "load_scenario",
    "required_draws",
    "scenario_from_options",
    "shipped_scenarios",
]

CMDLINE = "<command line>"


@dataclass(frozen=True)
class InputSpec:
    """One scenario input: its kind (see :mod:`rdshare.core.uncertain`), default and meaning."""

    kind: str
    default: float | None
    help: str


#: Largest scenario file read (a scenario is a few hundred bytes; this only stops a runaway input).
MAX_BYTES = 1024 * 1024

#: The closed list of ``[inputs]`` keys, with kinds and defaults (the one place defaults live).
#: docs/scenarios.md gives each default's source and says which are data and which are judgement.
INPUTS: dict[str, InputSpec] = {
    "budget": InputSpec(
        "amount", None, "one lab's total development budget working alone (R&D plus final run)"
    ),
    "final_run": InputSpec("amount", None, "one lab's final training run(s), instead of budget"),
    "labs": InputSpec("count", 1, "number of labs N in the ecosystem or consortium"),
    "leaders": InputSpec(
        "whole",
        0,
        "how many of the N labs lead the open frontier by lead_months (the rest follow it)",
    ),
    "fork_rate": InputSpec(
        "share", 0.0, "share of would-be-published work kept in internal-only forks"
    ),
    "lead_months": InputSpec("months", 0.0, "lead of a closed lab over the open frontier"),
    "shared_fraction": InputSpec(
        "share", "0.3 to 0.7", "share of each lab's R&D a consortium builds once (judgement)"
    ),
    "halflife_months": InputSpec(
        "amount", "2 to 12", "half-life of open work's value to a lab ahead of it (judgement)"
    ),
    "budget_growth": InputSpec(
        "amount",
        "2.0 to 2.9",
        "yearly growth factor of a frontier development budget (Cottier et al. 2024: 2.4x, 90% CI "
        "2.0-2.9)",
    ),
    "carryover": InputSpec(
        "share",
        "0.2 to 0.8",
        "share of what open work saved in one generation still useful in the next",
    ),
    "generation_months": InputSpec(
        "amount", "6 to 18", "months between one model generation and the next (judgement)"
    ),
}

#: Years a scenario's ``years`` may span, and how many it may list.
YEAR_RANGE = (2015, 2060)
MAX_YEARS = 30
#: Most model generations a scenario may ask for.
MAX_GENERATIONS = 20
#: A group's other labs are each drawn (lab and programme effects); beyond this many, their mean share
#: is estimated from this many draws (the mean of many independent draws barely varies).
MAX_OTHER_LABS = 200

_SCENARIO_KEYS = ("name", "description", "unit", "years", "budget_year", "generations")
_TABLES = ("scenario", "inputs")

#: Posterior draws :func:`evaluate` always needs (plus the offset of the scenario's unit,
#: :func:`required_draws`): the shares and discount, the spreads that make a specific lab's share (its
#: lab and programme effects), and the era trend that moves the share through the years.
REQUIRED_DRAWS = (
    "f_frontier",
    "f_follower",
    "discount",
    "sigma_lab",
    "sigma_programme",
    "beta_era",
)

#: The model's unit for each scenario unit (energy is measured in MWh in scenarios).
MODEL_UNIT = {
    "gpu_hours": "gpu_hours",
    "flop": "flop",
    "dollars": "dollars",
    "energy_mwh": "energy",
}

#: The outputs :func:`evaluate` always returns, in this order (:func:`output_names` adds per-year and
#: per-generation ones).
OUTPUT_NAMES = (
    "f_frontier",
    "f_follower",
    "discount",
    "rd_share",
    "rd_compute",
    "discount_effective",
    "savings",
    "ecosystem_savings",
    "consortium_savings",
    "discount_lead",
    "savings_lead_lab",
)


def option_name(key: str) -> str:
    """Command-line option for an input key: ``fork_rate`` -> ``--fork-rate``."""
    return "--" + key.replace("_", "-")


@dataclass(frozen=True)
class Scenario:
    """A validated scenario.

    Attributes
    ----------
    name, description : str
    unit : Unit
        Unit of ``budget`` / ``final_run`` and of every amount output.
    years, budget_year, generations
        Per-year outputs for ``years``, the budget's own year, and how many model generations to
        compound over (0: none).
    inputs : dict of str to Uncertain
        Every key of :data:`INPUTS` except the one of ``budget`` / ``final_run`` not given.
    source : str
        The file it came from, or ``"<command line>"``.
    sha256 : str
        Hash of the file's bytes ("" for command-line scenarios).
    """

    name: str
    description: str
    unit: Unit
    inputs: dict[str, Uncertain]
    source: str = CMDLINE
    sha256: str = ""
    #: years to give per-year outputs for (empty: none)
    years: tuple[int, ...] = ()
    #: the year the budget (or final run) is for
    budget_year: int = REF_YEAR
    #: model generations to give compounding outputs for (0: none)
    generations: int = 0

    @property
    def basis(self) -> str:
        """``"budget"`` or ``"final_run"``: which amount the scenario gives."""
        return "budget" if "budget" in self.inputs else "final_run"

    def to_dict(self) -> dict:
        """The declarative inputs as given (numbers and range texts), for manifests and hashes."""
        return {
            "name": self.name,
            "description": self.description,
            "unit": self.unit.name,
            "years": list(self.years),
            "budget_year": self.budget_year,
            "generations": self.generations,
            "inputs": {k: u.to_record() for k, u in self.inputs.items()},
        }

    def describe(self) -> dict[str, str]:
        """Each input's reading, e.g. ``{"budget": "lognormal 90% interval 2e9 to 6e9", ...}``."""
        return {k: u.describe() for k, u in self.inputs.items()}


# ------------------------------------------------------------------------------------------------
# building scenarios


def shipped_dir() -> Path:
    """Folder of the example scenarios shipped inside the package."""
    return Path(str(resources.files("rdshare") / "data" / "scenarios"))


def shipped_scenarios() -> dict[str, Path]:
    """Shipped example scenarios by name (file stem)."""
    return {p.stem: p for p in sorted(shipped_dir().glob("*.toml"))}


def scenario_from_options(
    unit: str = "dollars",
    name: str = "command-line",
    description: str = "",
    years: object = None,
    budget_year: object = None,
    generations: object = None,
    **inputs: object,
) -> Scenario:
    """A scenario from command-line style options (``None`` means "use the default").

    Parameters
    ----------
    unit : str
        One of :data:`rdshare.core.savings.UNITS`; default ``"dollars"``.
    name, description : str
    years, budget_year, generations : str, int or None
        ``"2026..2030"`` (or ``"2026 to 2030"``, or one year), the budget's year, and the number of
        model generations (see :func:`parse_years`).
    **inputs : str, float or None
        Keys of :data:`INPUTS` (``budget`` or ``final_run``, exactly one; ``labs``, ``fork_rate`` ...):
        a number or a ``"LOW to HIGH"`` range.

    Returns
    -------
    Scenario

    Raises
    ------
    InputError
        Every problem found, each naming the option (``--fork-rate``).
    """
    problems: list[Problem] = []
    unknown = [k for k in inputs if k not in INPUTS]
    if unknown:
        raise TypeError(f"unknown scenario inputs: {', '.join(unknown)}")
    try:
        u = get_unit(unit, source=CMDLINE, field="--unit")
    except InputError as exc:
        problems += exc.problems
        u = None
    values = {k: v for k, v in inputs.items() if v is not None}
    built = _build_inputs(values, CMDLINE, option_name, lambda k: None, problems)
    settings = _settings(
        {"years": years, "budget_year": budget_year, "generations": generations},
        CMDLINE,
        option_name,
        lambda k: None,
        problems,
    )
    _check_leaders(built, CMDLINE, option_name, lambda k: None, problems)
    if problems:
        raise InputError(problems)
    assert u is not None
    return Scenario(
        name=name, description=description, unit=u, inputs=built, source=CMDLINE, **settings
    )


def with_settings(scenario: Scenario, **settings: object) -> Scenario:
    """``scenario`` with ``years``, ``budget_year`` or ``generations`` replaced (command-line values:
    problems are reported against the options, ``--years``)."""
    given = {k: v for k, v in settings.items() if v is not None}
    if not given:
        return scenario
    unknown = [k for k in given if k not in ("years", "budget_year", "generations")]
    if unknown:
        raise TypeError(f"unknown scenario settings: {', '.join(unknown)}")
    problems: list[Problem] = []
    parsed = _settings(given, CMDLINE, option_name, lambda k: None, problems)
    if problems:
        raise InputError(problems)
    return replace(scenario, **{k: parsed[k] for k in given})


def parse_years(value: object, *, source: str = CMDLINE, field: str = "--years", line=None):
    """Years from ``"2026..2030"``, ``"2026 to 2030"``, ``"2027"`` or an integer: a tuple of whole years.

    Raises
    ------
    InputError
        Not whole years, a range whose end is before its start, years outside :data:`YEAR_RANGE`, or
        more than :data:`MAX_YEARS` of them.
    """

    def fail(message: str) -> InputError:
        return InputError(Problem(source, message, line=line, field=field))

    if isinstance(value, bool) or not isinstance(value, int | str):
        raise fail(f'must be a year or a range of years such as "2026..2030", got {value!r}')
    text = str(value).strip()
    m = re.match(r"^(\d{4})(?:\s*(?:\.\.|to)\s*(\d{4}))?$", text, re.IGNORECASE)
    if not m:
        raise fail(f'{text!r} is not a year or a range of years such as "2026..2030"')
    first = int(m.group(1))
    last = int(m.group(2)) if m.group(2) else first
    lo, hi = YEAR_RANGE
    if last < first:
        raise fail(f"in {text!r} the last year is before the first")
    if first < lo or last > hi:
        raise fail(f"years must lie between {lo} and {hi}, got {text!r}")
    if last - first + 1 > MAX_YEARS:
        raise fail(f"at most {MAX_YEARS} years, got {last - first + 1}")
    return tuple(range(first, last + 1))


def _settings(raw: dict, src: str, field_of, line_of, problems: list) -> dict:
    """``years``, ``budget_year`` and ``generations`` checked (defaults for those not given)."""
    out: dict = {"years": (), "budget_year": REF_YEAR, "generations": 0}
    if raw.get("years") is not None:
        try:
            out["years"] = parse_years(
                raw["years"], source=src, field=field_of("years"), line=line_of("years")
            )
        except InputError as exc:
            problems += exc.problems
    for key, lo, hi in (
        ("budget_year", *YEAR_RANGE),
        ("generations", 0, MAX_GENERATIONS),
    ):
        v = raw.get(key)
        if v is None:
            continue
        if isinstance(v, str) and re.fullmatch(r"\s*\d+\s*", v):
            v = int(v)
        if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
            problems.append(
                Problem(
                    src,
                    f"must be a whole number from {lo} to {hi}, got {v!r}",
                    line=line_of(key),
                    field=field_of(key),
                )
            )
            continue
        out[key] = v
    return out


def _check_leaders(inputs: dict, src: str, field_of, line_of, problems: list) -> None:
    labs, leaders = inputs.get("labs"), inputs.get("leaders")
    if labs is not None and leaders is not None and leaders.fixed > labs.fixed:
        problems.append(
            Problem(
                src,
                f"{leaders.fixed:g} leaders is more than the {labs.fixed:g} labs of the group",
                line=line_of("leaders"),
                field=field_of("leaders"),
            )
        )


def load_scenario(path: str | Path) -> Scenario:
    """Read and validate a scenario TOML file.

    Parameters
    ----------
    path : str or Path

    Returns
    -------
    Scenario

    Raises
    ------
    InputError
        Unreadable or invalid TOML, unknown tables or keys, wrong types, bad values, both or neither
        of ``budget`` and ``final_run``; every problem names the file, the key and (where it can be
        found) the line.
    """
    path = Path(path)
    src = str(path)
    raw = read_input(path, MAX_BYTES, "TOML file")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InputError(Problem(src, "is not UTF-8 text")) from None
    try:
        doc = tomllib.loads(text)
    except ValueError as exc:  # TOMLDecodeError, or int() refusing a number of 4300+ digits
        msg = str(exc)
        line = getattr(exc, "lineno", None)
        if line is None:
            m = re.search(r"at line (\d+)", msg)
            line = int(m.group(1)) if m else None
        raise InputError(Problem(src, f"is not valid TOML: {msg}", line=line)) from None
    except RecursionError:  # tomllib recurses once per nesting level
        raise InputError(Problem(src, "is not valid TOML: nested too deeply")) from None

    problems: list[Problem] = []

    def bad(message: str, table: str | None, key: str | None) -> None:
        problems.append(Problem(src, message, line=line_of(text, table, key), field=key or table))

    for k in doc:
        if k not in _TABLES:
            bad("unknown table or key (allowed tables: [scenario], [inputs])", k, None)
    meta = doc.get("scenario", {})
    if not isinstance(meta, dict):
        bad("must be a table: [scenario]", "scenario", None)
        meta = {}
    for k, v in meta.items():
        if k not in _SCENARIO_KEYS:
            bad(f"unknown key in [scenario] (allowed: {', '.join(_SCENARIO_KEYS)})", "scenario", k)
        elif k in ("name", "description", "unit") and not isinstance(v, str):
            bad(f"must be a string, got {_tname(v)}", "scenario", k)
    name = meta.get("name", path.stem)
    description = meta.get("description", "")
    unit = None
    if "unit" not in meta:
        allowed = ", ".join(f'"{k}"' for k in sv.UNITS)
        bad(f"is required: the unit of budget / final_run ({allowed})", "scenario", "unit")
    elif isinstance(meta["unit"], str):
        try:
            unit = get_unit(
                meta["unit"], source=src, field="unit", line=line_of(text, "scenario", "unit")
            )
        except InputError as exc:
            problems += exc.problems

    raw_inputs = doc.get("inputs")
    if not isinstance(raw_inputs, dict):
        if raw_inputs is None:
            bad("the file needs an [inputs] table with budget or final_run", None, None)
        else:
            bad("must be a table: [inputs]", "inputs", None)
        raw_inputs = {}
    values = {}
    for k, v in raw_inputs.items():
        if k not in INPUTS:
            bad(f"unknown key in [inputs] (allowed: {', '.join(INPUTS)})", "inputs", k)
        elif isinstance(v, bool) or not isinstance(v, int | float | str):
            bad(
                f'must be a number or a range string such as "1e9 to 5e9", got {_tname(v)}',
                "inputs",
                k,
            )
        else:
            values[k] = v
    inputs = _build_inputs(values, src, lambda k: k, lambda k: line_of(text, "inputs", k), problems)
    _check_leaders(inputs, src, lambda k: k, lambda k: line_of(text, "inputs", k), problems)
    settings = _settings(
        {k: meta.get(k) for k in ("years", "budget_year", "generations")},
        src,
        lambda k: k,
        lambda k: line_of(text, "scenario", k),
        problems,
    )
    if problems:
        raise InputError(problems)
    assert unit is not None
    return Scenario(
        name=str(name),
        description=str(description),
        unit=unit,
        inputs=inputs,
        source=src,
        sha256=hashlib.sha256(raw).hexdigest(),
        **settings,
    )


def _build_inputs(values: dict, src: str, field_of, line_of, problems: list) -> dict:
    n_amounts = sum(k in values for k in ("budget", "final_run"))
    if n_amounts != 1:
        # neither: point at budget (the usual one); both: point at final_run (the second)
        key, which = ("budget", "neither") if n_amounts == 0 else ("final_run", "both")
        problems.append(
            Problem(
                src,
                f"give exactly one of {field_of('budget')} and {field_of('final_run')} "
                f"({which} given)",
                line=line_of(key),
                field=field_of(key),
            )
        )
    inputs: dict[str, Uncertain] = {}
    for key, spec in INPUTS.items():
        if key in ("budget", "final_run") and key not in values:
            continue
        value = values.get(key, spec.default)
        try:
            inputs[key] = parse_uncertain(
                value, spec.kind, source=src, field=field_of(key), line=line_of(key)
            )
        except InputError as exc:
            problems += exc.problems
    return inputs


def _tname(v: object) -> str:
    return {
        bool: "a boolean",
        dict: "a table",
        list: "an array",
        str: "a string",
        int: "an integer",
        float: "a number",
    }.get(type(v), type(v).__name__)


# ------------------------------------------------------------------------------------------------
# evaluation


def required_draws(scenario: Scenario) -> tuple[str, ...]:
    """The draws :func:`evaluate` needs for ``scenario``: :data:`REQUIRED_DRAWS` and, unless the unit is
    FLOP, the model's offset for the scenario's unit (``offset_dollars`` for a dollar budget)."""
    unit = MODEL_UNIT[scenario.unit.name]
    return (*REQUIRED_DRAWS, *((OFFSETS[unit],) if unit in OFFSETS else ()))


_SHARES = ("f_frontier", "f_follower")
_SCALES = ("sigma_lab", "sigma_programme")


def _check_draws(draws: dict, names: tuple[str, ...]) -> int:
    src = "<posterior draws>"
    problems: list[Problem] = []
    n = None
    for k in names:
        if k not in draws:
            problems.append(Problem(src, "is missing", field=k))
            continue
        a = np.asarray(draws[k])
        if a.ndim != 1 or a.size == 0:
            problems.append(
                Problem(src, f"must be a non-empty 1-D array, got shape {a.shape}", field=k)
            )
            continue
        if n is None:
            n = a.size
        elif a.size != n:
            problems.append(Problem(src, f"has {a.size} draws, others have {n}", field=k))
        if not np.issubdtype(a.dtype, np.number):
            problems.append(Problem(src, "must hold numbers", field=k))
        elif k == "discount" and not np.all(a < 1):
            problems.append(Problem(src, "must hold discounts below 1 (no NaN)", field=k))
        elif k in _SHARES and not np.all((a >= 0) & (a <= 1)):
            problems.append(Problem(src, "must hold shares in [0, 1] (no NaN)", field=k))
        elif k in _SCALES and not np.all(a >= 0):
            problems.append(Problem(src, "must hold spreads of 0 or more (no NaN)", field=k))
        elif not np.all(np.isfinite(a)):
            problems.append(Problem(src, "must hold finite numbers", field=k))
    if problems:
        raise InputError(problems)
    assert n is not None
    return n


#: Outputs given for every year of a scenario's ``years``, named ``<name>_<year>``.
YEARLY = (
    "budget",
    "rd_share",
    "rd_compute",
    "savings",
    "ecosystem_savings",
    "consortium_savings",
    "savings_lead_lab",
)


def output_names(scenario: Scenario) -> tuple[str, ...]:
    """Every output :func:`evaluate` returns for ``scenario``, in order: :data:`OUTPUT_NAMES`, then
    ``<name>_<year>`` for each of :data:`YEARLY` and each year, then, with generations,
    ``discount_generation_<k>``, ``rd_compute_generation_<k>``, ``savings_generation_<k>``,
    ``savings_generations`` and ``savings_generations_without_compounding``."""
    names = list(OUTPUT_NAMES)
    for year in scenario.years:
        names += [f"{q}_{year}" for q in YEARLY]
    g = scenario.generations
    if g:
        names += [f"discount_generation_{k}" for k in range(1, g + 1)]
        names += [f"rd_compute_generation_{k}" for k in range(1, g + 1)]
        names += [f"savings_generation_{k}" for k in range(1, g + 1)]
        names += ["savings_generations", "savings_generations_without_compounding"]
    return tuple(names)


@dataclass(frozen=True)
class _Labs:
    """Per-draw log-odds of the scenario's lab and of a group's other labs, in the scenario's unit at
    the model's reference year, and the era trend that moves them."""

    own: np.ndarray  # (n,)
    others: np.ndarray  # (n, k) with k <= MAX_OTHER_LABS
    n_labs: int
    beta_era: np.ndarray  # (n,)

    def shares(self, year) -> tuple[np.ndarray, np.ndarray]:
        """(the scenario's lab's share, the group's mean share) in ``year`` (may be fractional)."""
        shift = self.beta_era * (np.asarray(year, dtype=float) - REF_YEAR)
        own = expit(self.own + shift)
        if self.n_labs == 1 or self.others.shape[1] == 0:
            return own, own
        others = expit(self.others + shift[:, None]).mean(axis=1)
        return own, (own + (self.n_labs - 1) * others) / self.n_labs


def evaluate(
    scenario: Scenario, draws: dict[str, np.ndarray], rng: np.random.Generator
) -> dict[str, Output]:
    """Every scenario output, one value per posterior draw (:func:`evaluate_with_inputs` without the
    sampled inputs)."""
    return evaluate_with_inputs(scenario, draws, rng)[0]


def evaluate_with_inputs(
    scenario: Scenario, draws: dict[str, np.ndarray], rng: np.random.Generator
) -> tuple[dict[str, Output], dict[str, np.ndarray]]:
    """Every scenario output, one value per posterior draw, and the sampled inputs.

    Uncertain inputs are sampled ``n`` times (``n`` = number of draws), in the order of
    :data:`INPUTS`, then each draw's lab effects, and paired with the draws index by index, so the
    outputs keep the joint structure.

    Which f where. The budget ``C`` (or final run ``F``) is that of one specific lab working alone, and
    the outputs ask what sharing saves against that. Its share is a draw for a new, unseen frontier lab,
    as ``f_new_lab``: the frontier's log-odds plus a fresh lab effect and programme effect
    (``sigma_lab``, ``sigma_programme``), so the spread between labs is in every amount. It is measured in
    the scenario's unit (a dollar budget takes the share of dollars: the FLOP share shifted by the
    model's dollar offset) and moved along the model's era trend (``beta_era`` per year from 2025) to the
    budget's year and to each forecast year. That share is the output ``rd_share`` (written f below). A
    group of N labs (ecosystem, consortium) takes the mean share of N such labs: the scenario's lab and
    N - 1 others drawn alike. ``f_frontier`` and ``f_follower`` (the model's FLOP shares of a typical
    lab) are reported as they are. With ``final_run`` given, ``C = F / (1 - f)`` so that ``C f = F r``.

    Outputs (see :mod:`rdshare.core.savings` for the formulas)::

        f_frontier, f_follower, discount   the posterior draws (FLOP shares; d below 1)
        rd_share            f: the scenario's lab's share in the scenario's unit, budget year
        rd_compute          C f: its R&D working alone
        discount_effective  d (1 - fork_rate)
        savings             C f d_eff: what it avoids by building on open work
        ecosystem_savings   C f (sum_i d_i - max_i d_i): N labs sharing openly vs all alone; the
                            leaders get d_lead, the others d_eff
        consortium_savings  (N - 1) C f s: N labs building a shared base once
        discount_lead       d_eff 2^(-lead / halflife): discount of a closed lab lead months ahead
        savings_lead_lab    C f d_lead
        <q>_<year>          per year: the budget grows by budget_growth a year from budget_year,
                            f follows the era trend (q in YEARLY)
        discount_generation_<k>, rd_compute_generation_<k>, savings_generation_<k>
                            D_k, C_k f_k and C_k f_k D_k: generation k, generation_months after the
                            last, with 1 - D_k = (1 - d_eff)(1 - c D_(k-1)), c = carryover
                            (1 - fork_rate)
        savings_generations, savings_generations_without_compounding
                            sum over the generations, with and without carry-over

    A negative discount (open work costing a follower more than it saves) makes the savings negative.

    Parameters
    ----------
    scenario : Scenario
    draws : dict of str to numpy.ndarray
        :func:`required_draws`: 1-D, same length.
    rng : numpy.random.Generator
        Samples the uncertain inputs and the labs' effects.

    Returns
    -------
    (dict of str to Output, dict of str to numpy.ndarray)
        The outputs, keys exactly :func:`output_names` in that order, and each input's sampled values.
    """
    n = _check_draws(draws, required_draws(scenario))
    sampled = {k: u.sample(n, rng) for k, u in scenario.inputs.items()}
    unit = MODEL_UNIT[scenario.unit.name]
    f_flop = np.asarray(draws["f_frontier"], dtype=float)
    offset = np.asarray(draws[OFFSETS[unit]], dtype=float) if unit in OFFSETS else 0.0
    spread = np.hypot(
        np.asarray(draws["sigma_lab"], dtype=float),
        np.asarray(draws["sigma_programme"], dtype=float),
    )
    n_labs = int(sampled["labs"][0])
    k_others = min(n_labs - 1, MAX_OTHER_LABS)
    typical = logit(f_flop) + offset
    own = typical + spread * rng.standard_normal(n)
    others = typical[:, None] + spread[:, None] * rng.standard_normal((n, k_others))
    labs = _Labs(own, others, n_labs, np.asarray(draws["beta_era"], dtype=float))

    label = scenario.unit.label
    d = np.asarray(draws["discount"], dtype=float)
    d_eff = sv.effective_discount(d, sampled["fork_rate"])
    d_lead = sv.lead_discount(d_eff, sampled["lead_months"], sampled["halflife_months"])
    growth = sampled["budget_growth"]

    def amounts(year) -> dict[str, np.ndarray]:
        f, f_group = labs.shares(year)
        t = np.asarray(year, dtype=float) - scenario.budget_year
        if "budget" in sampled:
            c = sv.grown(sampled["budget"], growth, t)
        else:
            c = sv.budget_from_final_run(sv.grown(sampled["final_run"], growth, t), f)
        eco = sv.ecosystem_savings(
            c, f_group, d_eff, sampled["labs"], sampled["leaders"], d_lead
        ).saving
        return {
            "budget": c,
            "rd_share": f,
            "rd_compute": sv.rd_compute(c, f),
            "savings": sv.avoided_from_budget(c, f, d_eff),
            "ecosystem_savings": eco,
            "consortium_savings": sv.consortium_savings(
                c, f_group, sampled["shared_fraction"], sampled["labs"]
            ).saving,
            "savings_lead_lab": sv.avoided_from_budget(c, f, d_lead),
        }

    base = amounts(scenario.budget_year)
    in_unit = f"measured in {label}, {scenario.budget_year}"
    values = {
        "f_frontier": (f_flop.copy(), SHARE, "R&D share of a typical frontier lab, in FLOP, 2025"),
        "f_follower": (
            np.asarray(draws["f_follower"], dtype=float).copy(),
            SHARE,
            "R&D share of a typical follower building on open work, in FLOP, 2025",
        ),
        "discount": (d.copy(), SHARE, "knowledge-sharing discount d"),
        "rd_share": (
            base["rd_share"],
            SHARE,
            f"R&D share of this lab working alone (a new lab: lab spread included), {in_unit}",
        ),
        "rd_compute": (base["rd_compute"], label, "this lab's R&D working alone: C f"),
        "discount_effective": (d_eff, SHARE, "discount after fork erosion: d (1 - fork_rate)"),
        "savings": (
            base["savings"],
            label,
            "compute this lab avoids by building on open work: C f d_eff",
        ),
        "ecosystem_savings": (
            base["ecosystem_savings"],
            label,
            "N labs sharing openly against N alone: C f (sum_i d_i - max_i d_i)",
        ),
        "consortium_savings": (
            base["consortium_savings"],
            label,
            "N labs building a shared base once: (N - 1) C f s",
        ),
        "discount_lead": (
            d_lead,
            SHARE,
            "discount of a closed lab ahead: d_eff 2^(-lead/halflife)",
        ),
        "savings_lead_lab": (
            base["savings_lead_lab"],
            label,
            "compute a closed lab ahead avoids: C f d_lead",
        ),
    }
    for year in scenario.years:
        per_year = amounts(year)
        for q in YEARLY:
            unit_q = SHARE if q == "rd_share" else label
            values[f"{q}_{year}"] = (per_year[q], unit_q, f"{q} in {year}")
    if scenario.generations:
        g = scenario.generations
        gap_years = sampled["generation_months"] / 12.0
        carry = sampled["carryover"] * (1.0 - sampled["fork_rate"])
        D = sv.compound_discount(d_eff, carry, g)
        total = np.zeros(n)
        plain = np.zeros(n)
        for k in range(1, g + 1):
            year_k = scenario.budget_year + (k - 1) * gap_years
            a = amounts(year_k)
            saving_k = sv.avoided_from_budget(a["budget"], a["rd_share"], D[:, k - 1])
            total += saving_k
            plain += a["savings"]
            values[f"discount_generation_{k}"] = (
                D[:, k - 1],
                SHARE,
                f"discount of generation {k} with carry-over: 1 - D_k = (1 - d_eff)(1 - c D_k-1)",
            )
            values[f"rd_compute_generation_{k}"] = (
                a["rd_compute"],
                label,
                f"this lab's R&D in generation {k} working alone: C_k f_k",
            )
            values[f"savings_generation_{k}"] = (
                saving_k,
                label,
                f"compute this lab avoids in generation {k}: C_k f_k D_k",
            )
        values["savings_generations"] = (
            total,
            label,
            f"compute avoided over {g} generations, compounding",
        )
        values["savings_generations_without_compounding"] = (
            plain,
            label,
            f"compute avoided over {g} generations with no carry-over (c = 0)",
        )
    outputs = {k: Output(*values[k]) for k in output_names(scenario)}
    return outputs, sampled


# ------------------------------------------------------------------------------------------------
# which comparisons the data decide, and which an input does


@dataclass(frozen=True)
class Decision:
    """One comparison between scenario outputs and what decides it.

    Attributes
    ----------
    statement : str
        What is compared, e.g. "a consortium saves more than an open ecosystem".
    probability : float
        Posterior probability that the statement holds (share of draws).
    prior_probability : float or None
        The same under the priors alone (None without prior draws).
    decided_by : str
        The input or posterior quantity whose draws track the comparison most closely.
    by_input : bool
        True when the scenario's inputs (judgements the user gave, or their defaults) account for more
        of the comparison's spread than the posterior quantities do, and the closest single factor is
        an input.
    input_share : float
        The inputs' part of the spread the candidates account for (0 to 1).
    influence : dict of str to float
        Each candidate's rank correlation with the comparison's margin.
    """

    statement: str
    probability: float
    prior_probability: float | None
    decided_by: str
    by_input: bool
    input_share: float
    influence: dict

    def describe(self) -> str:
        prior = (
            ""
            if self.prior_probability is None
            else f" (priors alone: {self.prior_probability:.2f})"
        )
        if self.by_input:
            who = f"the input {self.decided_by} decides it, not the data"
        elif self.input_share >= 1 / 3:
            who = (
                f"decided by the model's {self.decided_by} (posterior) and the scenario's inputs "
                "together"
            )
        else:
            who = f"decided by the model's {self.decided_by} (posterior)"
        return f"P({self.statement}) = {self.probability:.2f}{prior}; {who}"


def _ranks(x: np.ndarray) -> np.ndarray:
    order = np.argsort(x, kind="stable")
    r = np.empty(len(x))
    r[order] = np.arange(len(x))
    return r


def _spearman(x: np.ndarray, y: np.ndarray) -> float:
    if np.ptp(x) == 0 or np.ptp(y) == 0:
        return 0.0
    return float(np.corrcoef(_ranks(x), _ranks(y))[0, 1])


#: The comparisons :func:`decisions` makes: (statement, output A, output B); the statement is A > B.
COMPARISONS = (
    ("a consortium saves more than an open ecosystem", "consortium_savings", "ecosystem_savings"),
    ("building on open work saves this lab compute", "savings", None),
    ("a lab ahead of the open frontier still saves compute", "savings_lead_lab", None),
)

#: Inputs that scale every amount alike: they cannot decide a comparison's sign, only its size.
_SCALE_INPUTS = ("budget", "final_run")


def decisions(
    outputs: dict[str, Output],
    sampled: dict[str, np.ndarray],
    prior_outputs: dict[str, Output] | None = None,
) -> list[Decision]:
    """For each comparison in :data:`COMPARISONS`, its probability and what decides it.

    The comparison's margin, draw by draw, is the difference between its two sides over this lab's R&D
    (``rd_compute``), so that the budget, which scales both sides alike, drops out. The margin is
    rank-correlated with each uncertain input (its sampled values) and with the posterior quantities
    behind it (the discount and the lab's share). The squared correlations, summed over the inputs
    and over the posterior quantities, say which side accounts for more of the margin's spread; the
    candidate with the largest correlation is named. When the inputs dominate, the answer is the
    user's (or the default's) judgement, not something the data settled, and the report and the
    forecast say so. Comparisons whose sides are equal in every draw (a single lab's ecosystem), or
    that repeat an earlier one (a lead of 0 months), are left out.
    """
    candidates = {k: v for k, v in sampled.items() if np.ptp(v) > 0 and k not in _SCALE_INPUTS}
    data = {"discount": outputs["discount"].values, "rd_share": outputs["rd_share"].values}
    scale = np.abs(outputs["rd_compute"].values)
    scale = np.where(scale > 0, scale, 1.0)
    out, seen = [], []
    for statement, a, b in COMPARISONS:
        diff = outputs[a].values - (outputs[b].values if b else 0.0)
        if not np.any(diff) or any(np.array_equal(diff, prev) for prev in seen):
            continue
        seen.append(diff)
        margin = diff / scale
        influence = {k: _spearman(v, margin) for k, v in {**candidates, **data}.items()}
        top = max(influence, key=lambda k: abs(influence[k]))
        from_inputs = sum(influence[k] ** 2 for k in candidates)
        from_data = sum(influence[k] ** 2 for k in data)
        total = from_inputs + from_data
        input_share = from_inputs / total if total > 0 else 0.0
        prior_p = None
        if prior_outputs is not None:
            pd_ = prior_outputs[a].values - (prior_outputs[b].values if b else 0.0)
            prior_p = float(np.mean(pd_ > 0))
        out.append(
            Decision(
                statement=statement,
                probability=float(np.mean(diff > 0)),
                prior_probability=prior_p,
                decided_by=top,
                by_input=top in candidates and input_share > 0.5,
                input_share=input_share,
                influence=influence,
            )
        )
    return out
