"""Savings and scenario arithmetic on posterior draws (vectorised numpy).

Every function takes arrays (or scalars) that broadcast to one shape, typically one value per
posterior draw, and returns arrays of that shape. Symbols:

- ``C``: a lab's total development budget when it works alone (R&D plus final run), in the user's
  unit;
- ``F``: the size of its final training run(s), same unit;
- ``f``: the R&D share of development compute of a lab that works alone; ``r = f / (1 - f)`` its
  odds, R&D per unit of final run;
- ``d``: the knowledge-sharing discount, the share of R&D per unit of final run a lab avoids by
  building on peers' openly published work, relative to a lab that cannot; below 1, and negative when
  open work costs a follower more than it saves (then every "saving" below is a cost, negative);
- ``N``: number of labs; ``s``: the share of each lab's R&D that a consortium builds once for all.

Formulas (each function's docstring says why):

=========================  =================================================
one lab's R&D              ``C f``  (or ``F r``)
avoided by one lab         ``C f d``  (or ``F r d``: the same number, ``C = F + C f``)
fork erosion               ``d_eff = d (1 - fork_rate)``
a lab months ahead         ``d_lead = d 2^(-lead / halflife)``
open ecosystem of N labs   saving ``C f (sum_i d_i - max_i d_i)``: ``(N - 1) C f d`` when all
                           N labs have the same ``d``; alone ``N C f``
consortium of N labs       saving ``(N - 1) C f s``; alone ``N C f``
a budget t years on        ``C g^t`` (``g`` the yearly growth factor)
compounding generations    ``1 - D_k = (1 - d)(1 - c D_(k-1))``, ``D_1 = d``
=========================  =================================================

Bad values (negative budgets, shares outside [0, 1], a discount of 1 or more, fewer than one lab, NaN)
raise :class:`~rdshare.errors.InputError`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from rdshare.errors import InputError, Problem

#: Unit label of dimensionless shares.
SHARE = "share"

_WHERE = "<arguments>"


@dataclass(frozen=True)
class Unit:
    """A unit of compute amounts.

    Attributes
    ----------
    name : str
        Identifier used in scenario files and options (``"gpu_hours"``).
    label : str
        Label for outputs (``"GPU-hours"``).
    description : str
        What the unit counts.
    """

    name: str
    label: str
    description: str


UNITS: dict[str, Unit] = {
    "gpu_hours": Unit("gpu_hours", "GPU-hours", "accelerator hours (GPU or TPU)"),
    "flop": Unit("flop", "FLOP", "floating-point operations"),
    "dollars": Unit("dollars", "USD", "US dollars of compute spending"),
    "energy_mwh": Unit("energy_mwh", "MWh", "electrical energy in megawatt-hours"),
}


def get_unit(
    name: object, *, source: str = "<command line>", field: str = "unit", line: int | None = None
) -> Unit:
    """Look a unit up by name.

    Parameters
    ----------
    name : str
        One of :data:`UNITS` (``"gpu_hours"``, ``"flop"``, ``"dollars"``, ``"energy_mwh"``).
    source, field, line
        Where the name came from, for the error message.

    Returns
    -------
    Unit

    Raises
    ------
    InputError
        When the name is not a known unit.
    """
    if isinstance(name, str) and name in UNITS:
        return UNITS[name]
    allowed = ", ".join(f'"{k}"' for k in UNITS)
    raise InputError(
        Problem(source, f"unknown unit {name!r}; allowed: {allowed}", line=line, field=field)
    )


@dataclass(frozen=True)
class Output:
    """A derived quantity: its draws and its unit.

    Attributes
    ----------
    values : numpy.ndarray
        One value per draw.
    unit : str
        ``"share"`` for dimensionless shares, else a unit label such as ``"USD"``.
    description : str
        One line saying what the quantity is.
    """

    values: np.ndarray
    unit: str
    description: str = ""


@dataclass(frozen=True)
class GroupSavings:
    """R&D of a group of labs working alone, with sharing, and the difference.

    Attributes
    ----------
    alone : numpy.ndarray
        Total R&D when every lab works alone.
    shared : numpy.ndarray
        Total R&D with sharing (``alone - saving``).
    saving : numpy.ndarray
        R&D not spent thanks to sharing.
    """

    alone: np.ndarray
    shared: np.ndarray
    saving: np.ndarray


# ------------------------------------------------------------------------------------------------
# validation


def _arr(x, name: str) -> np.ndarray:
    try:
        a = np.asarray(x, dtype=float)
    except (TypeError, ValueError):
        raise InputError(Problem(_WHERE, f"must be numeric, got {x!r}", field=name)) from None
    if np.isnan(a).any():
        raise InputError(Problem(_WHERE, "contains NaN", field=name))
    return a


def _nonneg(x, name: str) -> np.ndarray:
    a = _arr(x, name)
    if (a < 0).any() or np.isinf(a).any():
        raise InputError(
            Problem(_WHERE, f"must be finite and 0 or more, got min {a.min():.6g}", field=name)
        )
    return a


def _positive(x, name: str) -> np.ndarray:
    a = _arr(x, name)
    if (a <= 0).any() or np.isinf(a).any():
        raise InputError(
            Problem(_WHERE, f"must be finite and positive, got min {a.min():.6g}", field=name)
        )
    return a


def _share(x, name: str, *, below_one: bool = False) -> np.ndarray:
    a = _arr(x, name)
    bad = (a < 0) | (a >= 1) if below_one else (a < 0) | (a > 1)
    if bad.any():
        allowed = "[0, 1)" if below_one else "[0, 1]"
        raise InputError(
            Problem(
                _WHERE,
                f"is a share and must lie in {allowed}, got values from {a.min():.6g} to "
                f"{a.max():.6g}",
                field=name,
            )
        )
    return a


def _discount(x, name: str = "d") -> np.ndarray:
    """A discount: finite and below 1 (negative when open work costs a follower more than it saves)."""
    a = _arr(x, name)
    if np.isinf(a).any() or (a >= 1).any():
        raise InputError(
            Problem(
                _WHERE,
                f"is a discount and must be finite and below 1, got max {a.max():.6g}",
                field=name,
            )
        )
    return a


def _whole(x, name: str) -> np.ndarray:
    a = _arr(x, name)
    if (a < 0).any() or np.isinf(a).any() or (a != np.round(a)).any():
        raise InputError(
            Problem(_WHERE, f"must be a whole number of at least 0, got {a.min():.6g}", field=name)
        )
    return a


def _labs(x, name: str = "n_labs") -> np.ndarray:
    a = _arr(x, name)
    if (a < 1).any() or np.isinf(a).any() or (a != np.round(a)).any():
        raise InputError(
            Problem(_WHERE, f"must be a whole number of at least 1, got {a.min():.6g}", field=name)
        )
    return a


def _broadcast(*arrays: np.ndarray) -> list[np.ndarray]:
    try:
        return list(np.broadcast_arrays(*arrays))
    except ValueError:
        shapes = ", ".join(str(a.shape) for a in arrays)
        raise InputError(Problem(_WHERE, f"array shapes do not match: {shapes}")) from None


# ------------------------------------------------------------------------------------------------
# one lab


def odds(f) -> np.ndarray:
    """R&D per unit of final run: ``r = f / (1 - f)``.

    Parameters
    ----------
    f : array_like
        R&D share, in [0, 1).

    Returns
    -------
    numpy.ndarray
    """
    f = _share(f, "f", below_one=True)
    return f / (1.0 - f)


def rd_compute(budget, f) -> np.ndarray:
    """One lab's R&D compute: ``C f``.

    Parameters
    ----------
    budget : array_like
        ``C``, total development budget (R&D plus final run) of a lab working alone, >= 0.
    f : array_like
        R&D share of that lab, in [0, 1].

    Returns
    -------
    numpy.ndarray
        In the budget's unit.
    """
    c, f = _broadcast(_nonneg(budget, "budget"), _share(f, "f"))
    return c * f


def rd_from_final_run(final_run, f) -> np.ndarray:
    """One lab's R&D compute from its final-run size: ``F r = F f / (1 - f)``.

    Parameters
    ----------
    final_run : array_like
        ``F``, compute of the final training run(s), >= 0.
    f : array_like
        R&D share, in [0, 1).

    Returns
    -------
    numpy.ndarray
        In the final run's unit.
    """
    F, r = _broadcast(_nonneg(final_run, "final_run"), odds(f))
    return F * r


def budget_from_final_run(final_run, f) -> np.ndarray:
    """Total development budget implied by a final run: ``C = F / (1 - f)`` (so ``C f = F r``).

    Parameters
    ----------
    final_run : array_like
        ``F``, >= 0.
    f : array_like
        R&D share, in [0, 1).

    Returns
    -------
    numpy.ndarray
    """
    F, f = _broadcast(_nonneg(final_run, "final_run"), _share(f, "f", below_one=True))
    return F / (1.0 - f)


def avoided_from_budget(budget, f, d) -> np.ndarray:
    """Compute one lab avoids by building on open work, from its budget: ``C f d``.

    ``C f`` is the R&D of the lab working alone; ``d`` is the share of it that peers' published work
    replaces. ``C`` is the budget the lab would spend alone, so ``f`` is the no-sharing R&D share.

    Parameters
    ----------
    budget : array_like
        ``C``, >= 0.
    f : array_like
        R&D share of the lab working alone, in [0, 1].
    d : array_like
        Discount (or an eroded discount), below 1.

    Returns
    -------
    numpy.ndarray
        In the budget's unit.
    """
    c, f, d = _broadcast(_nonneg(budget, "budget"), _share(f, "f"), _discount(d))
    return c * f * d


def avoided_from_final_run(final_run, f, d) -> np.ndarray:
    """Compute one lab avoids by building on open work, from its final run: ``F r d``.

    The discount acts on R&D per unit of final run: ``r_shared = r (1 - d)``, so with the final
    run ``F`` held fixed the lab avoids ``F r d``. It equals ``C f d`` for ``C = F / (1 - f)``. The
    final run is the same with or without sharing, so this form needs no counterfactual budget:
    give ``F`` when you know what a lab that already shares actually spends.

    Parameters
    ----------
    final_run : array_like
        ``F``, >= 0.
    f : array_like
        R&D share of the lab working alone, in [0, 1).
    d : array_like
        Discount, below 1.

    Returns
    -------
    numpy.ndarray
        In the final run's unit.
    """
    F, r, d = _broadcast(_nonneg(final_run, "final_run"), odds(f), _discount(d))
    return F * r * d


def effective_discount(d, fork_rate) -> np.ndarray:
    """Discount left after forking erodes sharing: ``d_eff = d (1 - fork_rate)``.

    ``fork_rate`` is the share of the work that would have been published that instead goes into
    internal-only versions (forks kept closed); only the published part can be built on.

    Parameters
    ----------
    d : array_like
        Discount, below 1.
    fork_rate : array_like
        In [0, 1].

    Returns
    -------
    numpy.ndarray
    """
    d, k = _broadcast(_discount(d), _share(fork_rate, "fork_rate"))
    return d * (1.0 - k)


def lead_discount(d, lead_months, halflife_months) -> np.ndarray:
    """Discount of a closed lab that is ``lead_months`` ahead: ``d 2^(-lead / halflife)``.

    Open work is older, relative to a leading lab's own frontier, by the lab's lead; its value
    decays exponentially, halving every ``halflife_months``. The half-life is a modelling choice and
    a scenario input (its default, a wide range, is argued in docs/scenarios.md).

    Parameters
    ----------
    d : array_like
        Discount of a lab level with the open frontier, below 1.
    lead_months : array_like
        Lead over the open frontier in months, >= 0 (0 gives ``d``).
    halflife_months : array_like
        > 0.

    Returns
    -------
    numpy.ndarray
    """
    d, t, h = _broadcast(
        _discount(d),
        _nonneg(lead_months, "lead_months"),
        _positive(halflife_months, "halflife_months"),
    )
    return d * np.exp2(-t / h)


# ------------------------------------------------------------------------------------------------
# groups of labs


def _group(c: np.ndarray, f: np.ndarray, part: np.ndarray, n: np.ndarray) -> GroupSavings:
    c, f, part, n = _broadcast(c, f, part, n)
    rd = c * f
    alone = n * rd
    saving = (n - 1.0) * rd * part
    return GroupSavings(alone=alone, shared=alone - saving, saving=saving)


def ecosystem_savings(budget_per_lab, f, d, n_labs, leaders=0, d_leaders=None) -> GroupSavings:
    """R&D of N labs that share openly, against the same N labs working alone.

    Each lab, alone, spends ``C f`` on R&D; a share ``d_i`` of it duplicates what peers' published
    work would provide. In an open ecosystem that duplicated work is done once and published, not once
    per lab: every lab avoids its ``C f d_i``, and one copy of the shared work, the largest part any
    lab avoids, is still paid for by someone::

        alone  = N C f
        saving = C f (sum_i d_i - max_i d_i)
        shared = alone - saving

    With every lab on the open frontier (the same ``d``) that is ``(N - 1) C f d``. Why ``N - 1`` and not
    ``N``: ``N C f d`` would treat the shared results as free for every lab, which holds only if they come
    from outside the N labs (academia, or an open leader not counted). Per lab the saving is then
    ``d (N - 1) / N`` of its R&D: 0 for a single lab, approaching ``d`` as N grows.

    ``leaders`` of the N labs may be ahead of the open frontier; they get ``d_leaders`` (a lead-discounted
    discount, :func:`lead_discount`), the other ``N - leaders`` labs ``d``. ``d`` is taken not to depend on
    N: a simplification.

    Parameters
    ----------
    budget_per_lab : array_like
        ``C``, development budget of one lab working alone, >= 0.
    f : array_like
        R&D share of a lab working alone (the group's average), in [0, 1].
    d : array_like
        Discount of a lab on the open frontier (after any fork erosion), below 1.
    n_labs : array_like
        ``N``, whole number >= 1.
    leaders : array_like
        How many of the N labs lead the open frontier, whole number in [0, N].
    d_leaders : array_like, optional
        Their discount, below 1 (required when ``leaders`` > 0).

    Returns
    -------
    GroupSavings
        ``alone``, ``shared`` and ``saving``, in the budget's unit.
    """
    c, f, d, n = (
        _nonneg(budget_per_lab, "budget_per_lab"),
        _share(f, "f"),
        _discount(d),
        _labs(n_labs),
    )
    lead = _whole(leaders, "leaders")
    if np.any(lead > n):
        raise InputError(Problem(_WHERE, "cannot exceed the number of labs", field="leaders"))
    dl = d if d_leaders is None else _discount(d_leaders, "d_leaders")
    if d_leaders is None and np.any(lead > 0):
        raise InputError(Problem(_WHERE, "is required when leaders > 0", field="d_leaders"))
    c, f, d, n, lead, dl = _broadcast(c, f, d, n, lead, dl)
    followers = n - lead
    # the largest part any lab avoids: over the kinds of lab present
    top = np.where(followers > 0, d, -np.inf)
    top = np.maximum(top, np.where(lead > 0, dl, -np.inf))
    rd = c * f
    alone = n * rd
    saving = rd * (followers * d + lead * dl - top)
    return GroupSavings(alone=alone, shared=alone - saving, saving=saving)


def consortium_savings(budget_per_lab, f, shared_fraction, n_labs) -> GroupSavings:
    """R&D of N labs that build a shared base once, against the same N labs working alone.

    A share ``s`` of each lab's R&D is the shared base (a base model, data pipelines, pretraining
    research and de-risking runs; the rest stays lab-specific); a consortium does it once instead of N
    times::

        alone  = N C f
        shared = N C f (1 - s) + C f s
        saving = (N - 1) C f s

    The same arithmetic as :func:`ecosystem_savings` with a chosen, coordinated share ``s`` instead
    of the estimated discount ``d``; the two are alternatives, not to be added. No public source splits
    lab R&D this way, so ``s`` is a judgement (a scenario input, uncertain by default).

    Parameters
    ----------
    budget_per_lab : array_like
        ``C``, >= 0.
    f : array_like
        R&D share of a lab working alone, in [0, 1].
    shared_fraction : array_like
        ``s``, in [0, 1].
    n_labs : array_like
        ``N``, whole number >= 1.

    Returns
    -------
    GroupSavings
        ``alone``, ``shared`` and ``saving``, in the budget's unit.
    """
    return _group(
        _nonneg(budget_per_lab, "budget_per_lab"),
        _share(f, "f"),
        _share(shared_fraction, "shared_fraction"),
        _labs(n_labs),
    )


# ------------------------------------------------------------------------------------------------
# through time


def grown(amount, growth, years) -> np.ndarray:
    """An amount ``years`` on, growing by the factor ``growth`` a year: ``amount growth^years``.

    Parameters
    ----------
    amount : array_like
        >= 0, in any unit.
    growth : array_like
        Yearly growth factor, > 0 (2.4 means 2.4 times a year).
    years : array_like
        Years from the amount's own year; may be negative (earlier) or fractional.

    Returns
    -------
    numpy.ndarray
    """
    a, g, t = _broadcast(
        _nonneg(amount, "amount"), _positive(growth, "growth"), _arr(years, "years")
    )
    return a * np.power(g, t)


def compound_discount(d, carryover, generations: int) -> np.ndarray:
    """The discount of each of ``generations`` successive model generations when open work compounds.

    Generation 1 builds on what peers published in it: ``D_1 = d``. Each later generation also builds on
    what was shared before: a share ``c`` (the carry-over) of the R&D that open work saved in the
    previous generation still applies, so the R&D a lab still has to do shrinks again::

        1 - D_k = (1 - d) (1 - c D_(k-1))

    ``D_k`` rises with ``k`` towards ``d / (1 - c + c d)`` (below 1 for ``c`` < 1): compounding helps,
    with diminishing returns; ``c = 0`` gives ``d`` every generation. With ``d`` < 0 (open work costing
    more than it saves) the costs compound the same way. Forking erodes the carry-over as it erodes the
    discount: pass ``d_eff`` and ``c (1 - fork_rate)``.

    Parameters
    ----------
    d : array_like
        Discount of one generation, below 1.
    carryover : array_like
        ``c``, in [0, 1].
    generations : int
        How many generations, >= 1.

    Returns
    -------
    numpy.ndarray
        The inputs' broadcast shape plus a trailing axis of length ``generations``.
    """
    if int(generations) != generations or generations < 1:
        raise InputError(
            Problem(
                _WHERE, f"must be a whole number >= 1, got {generations!r}", field="generations"
            )
        )
    d, c = _broadcast(_discount(d), _share(carryover, "carryover"))
    out = np.empty((*d.shape, int(generations)))
    prev = d
    out[..., 0] = d
    for k in range(1, int(generations)):
        prev = 1.0 - (1.0 - d) * (1.0 - c * prev)
        out[..., k] = prev
    return out
