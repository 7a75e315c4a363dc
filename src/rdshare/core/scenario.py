"""Scenario files: what a user asks of the posterior, and the named output draws it produces.

A scenario is a small TOML file (or the same inputs given as command-line options)::

    [scenario]
    name = "essay-claims"
    description = "A frontier lab's budget, a five-lab open ecosystem, a 20% fork rate"
    unit = "dollars"                 # gpu_hours, flop, dollars or energy_mwh

    [inputs]
    budget = "2e9 to 6e9"            # one lab's development budget working alone (R&D + final run)
    # final_run = "3e8 to 1e9"       # ... or its final run(s) instead: exactly one of the two
    labs = 5                         # N labs in the ecosystem / consortium (fixed whole number)
    fork_rate = 0.2                  # share of would-be-published work kept in internal-only forks
    lead_months = "0 to 6"           # lead over the open frontier of a closed lab
    shared_fraction = 0.5            # share of each lab's R&D a consortium builds once
    halflife_months = 8              # half-life of open work's value to a lab ahead of it

Inputs are numbers or ranges (``"LOW to HIGH"``, a 90% interval; see
:mod:`rdshare.core.uncertain`). The file is parsed with :mod:`tomllib` and checked against a closed
list of keys; nothing in it is evaluated. All problems are collected and raised together as one
:class:`~rdshare.errors.InputError`.

:func:`evaluate` turns a scenario and posterior draws into the outputs named in
:data:`OUTPUT_NAMES`.
"""

from __future__ import annotations

import hashlib
import re
import tomllib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np

from rdshare.core import savings as sv
from rdshare.core._toml import line_of
from rdshare.core.quantities import share_in
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
INPUTS: dict[str, InputSpec] = {
    "budget": InputSpec(
        "amount", None, "one lab's total development budget working alone (R&D plus final run)"
    ),
    "final_run": InputSpec("amount", None, "one lab's final training run(s), instead of budget"),
    "labs": InputSpec("count", 1, "number of labs N in the ecosystem or consortium"),
    "fork_rate": InputSpec(
        "share", 0.0, "share of would-be-published work kept in internal-only forks"
    ),
    "lead_months": InputSpec("months", 0.0, "lead of a closed lab over the open frontier"),
    "shared_fraction": InputSpec(
        "share", sv.DEFAULT_SHARED_FRACTION, "share of each lab's R&D a consortium builds once"
    ),
    "halflife_months": InputSpec(
        "amount", sv.DEFAULT_HALFLIFE_MONTHS, "half-life of open work's value to a lab ahead"
    ),
}

_SCENARIO_KEYS = ("name", "description", "unit")
_TABLES = ("scenario", "inputs")

#: Posterior draws :func:`evaluate` always needs (plus the frontier share in the scenario's unit,
#: :func:`required_draws`).
REQUIRED_DRAWS = ("f_frontier", "f_follower", "discount")

#: The model's unit for each scenario unit (energy is measured in MWh in scenarios).
MODEL_UNIT = {
    "gpu_hours": "gpu_hours",
    "flop": "flop",
    "dollars": "dollars",
    "energy_mwh": "energy",
}

#: Every output :func:`evaluate` returns, in this order.
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
    budget: object = None,
    final_run: object = None,
    labs: object = None,
    fork_rate: object = None,
    lead_months: object = None,
    shared_fraction: object = None,
    halflife_months: object = None,
    unit: str = "dollars",
    name: str = "command-line",
    description: str = "",
) -> Scenario:
    """A scenario from command-line style options (``None`` means "use the default").

    Parameters
    ----------
    budget, final_run : str, float or None
        Exactly one must be given: a number or a ``"LOW to HIGH"`` range.
    labs, fork_rate, lead_months, shared_fraction, halflife_months : str, float or None
        See :data:`INPUTS` for meanings and defaults.
    unit : str
        One of :data:`rdshare.core.savings.UNITS`; default ``"dollars"``.
    name, description : str

    Returns
    -------
    Scenario

    Raises
    ------
    InputError
        Every problem found, each naming the option (``--fork-rate``).
    """
    given = {
        "budget": budget,
        "final_run": final_run,
        "labs": labs,
        "fork_rate": fork_rate,
        "lead_months": lead_months,
        "shared_fraction": shared_fraction,
        "halflife_months": halflife_months,
    }
    problems: list[Problem] = []
    try:
        u = get_unit(unit, source=CMDLINE, field="--unit")
    except InputError as exc:
        problems += exc.problems
        u = None
    values = {k: v for k, v in given.items() if v is not None}
    inputs = _build_inputs(values, CMDLINE, option_name, lambda k: None, problems)
    if problems:
        raise InputError(problems)
    assert u is not None
    return Scenario(name=name, description=description, unit=u, inputs=inputs, source=CMDLINE)


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
        elif not isinstance(v, str):
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
    """The draws :func:`evaluate` needs for ``scenario``: :data:`REQUIRED_DRAWS` and the frontier share in
    the scenario's unit (``f_frontier_dollars`` for a dollar budget)."""
    return tuple(dict.fromkeys((*REQUIRED_DRAWS, share_in(MODEL_UNIT[scenario.unit.name]))))


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
        elif k != "discount" and not np.all((a >= 0) & (a <= 1)):
            problems.append(Problem(src, "must hold shares in [0, 1] (no NaN)", field=k))
    if problems:
        raise InputError(problems)
    assert n is not None
    return n


def evaluate(
    scenario: Scenario, draws: dict[str, np.ndarray], rng: np.random.Generator
) -> dict[str, Output]:
    """Every scenario output, one value per posterior draw.

    Uncertain inputs are sampled ``n`` times (``n`` = number of draws), in the order of
    :data:`INPUTS`, and paired with the draws index by index, so the outputs keep the joint
    structure.

    Which f where: the budget ``C`` (or final run ``F``) is that of a lab working alone, and the
    outputs ask what sharing saves against that. A lab that cannot build on peers has the R&D
    intensity of a frontier leader, so every amount uses the frontier share as the no-sharing
    baseline, measured in the scenario's unit: a dollar budget is multiplied by the share of dollars
    (``f_frontier_dollars``, the FLOP share shifted by the dollar offset), a GPU-hour budget by the
    GPU-hour share. That share is the output ``rd_share`` (written f below). ``f_frontier`` and
    ``f_follower`` (the model's FLOP shares) are reported as they are. With ``final_run`` given,
    ``C = F / (1 - f)`` so that ``C f = F r``.

    Outputs (see :mod:`rdshare.core.savings` for the formulas)::

        f_frontier, f_follower, discount   the posterior draws (FLOP shares; d below 1)
        rd_share            f: the frontier share in the scenario's unit
        rd_compute          C f: one lab's R&D working alone
        discount_effective  d (1 - fork_rate)
        savings             C f d_eff: what one lab avoids by building on open work
        ecosystem_savings   (N - 1) C f d_eff: N labs sharing openly vs all alone
        consortium_savings  (N - 1) C f s: N labs building a shared base once
        discount_lead       d_eff 2^(-lead / halflife): discount of a closed lab lead months ahead
        savings_lead_lab    C f d_lead

    A negative discount (open work costing a follower more than it saves) makes the savings negative.

    Parameters
    ----------
    scenario : Scenario
    draws : dict of str to numpy.ndarray
        :func:`required_draws` (``f_frontier``, ``f_follower``, ``discount`` and the share in the
        scenario's unit): 1-D, same length.
    rng : numpy.random.Generator
        Used to sample uncertain inputs.

    Returns
    -------
    dict of str to Output
        Keys exactly :data:`OUTPUT_NAMES`, in that order.
    """
    n = _check_draws(draws, required_draws(scenario))
    sampled = {k: u.sample(n, rng) for k, u in scenario.inputs.items()}
    f_flop = np.asarray(draws["f_frontier"], dtype=float)
    f_fol = np.asarray(draws["f_follower"], dtype=float)
    d = np.asarray(draws["discount"], dtype=float)
    f = np.asarray(draws[share_in(MODEL_UNIT[scenario.unit.name])], dtype=float)
    label = scenario.unit.label
    in_unit = f"measured in {label}"

    c = (
        sampled["budget"]
        if "budget" in sampled
        else sv.budget_from_final_run(sampled["final_run"], f)
    )
    n_labs = sampled["labs"]
    d_eff = sv.effective_discount(d, sampled["fork_rate"])
    d_lead = sv.lead_discount(d_eff, sampled["lead_months"], sampled["halflife_months"])

    values = {
        "f_frontier": (f_flop.copy(), SHARE, "R&D share of a frontier lab working alone, in FLOP"),
        "f_follower": (
            f_fol.copy(),
            SHARE,
            "R&D share of a follower building on open work, in FLOP",
        ),
        "discount": (d.copy(), SHARE, "knowledge-sharing discount d"),
        "rd_share": (f.copy(), SHARE, f"R&D share of a frontier lab working alone, {in_unit}"),
        "rd_compute": (sv.rd_compute(c, f), label, "one lab's R&D working alone: C f"),
        "discount_effective": (d_eff, SHARE, "discount after fork erosion: d (1 - fork_rate)"),
        "savings": (
            sv.avoided_from_budget(c, f, d_eff),
            label,
            "compute one lab avoids by building on open work: C f d_eff",
        ),
        "ecosystem_savings": (
            sv.ecosystem_savings(c, f, d_eff, n_labs).saving,
            label,
            "N labs sharing openly against N alone: (N - 1) C f d_eff",
        ),
        "consortium_savings": (
            sv.consortium_savings(c, f, sampled["shared_fraction"], n_labs).saving,
            label,
            "N labs building a shared base once: (N - 1) C f s",
        ),
        "discount_lead": (
            d_lead,
            SHARE,
            "discount of a closed lab ahead: d_eff 2^(-lead/halflife)",
        ),
        "savings_lead_lab": (
            sv.avoided_from_budget(c, f, d_lead),
            label,
            "compute a closed lab ahead avoids: C f d_lead",
        ),
    }
    return {k: Output(*values[k]) for k in OUTPUT_NAMES}
