"""The model's quantities: one registry of names, supports, labels and descriptions.

Every list of names elsewhere (the prior files' parameters, the model variants, the summary and the gate,
the plots, the report's "what the data taught" table, sensitivity, SBC and the CLI's headline) is read
from here, so a quantity is added or renamed in one place.

Two sorts of quantity:

- *parameters* have a prior in the prior file and are sampled (:data:`PARAMETERS`, in the order prior files
  list them and the model creates them);
- *derived* quantities are functions of the parameters (``f_follower``, ``f_new_lab``).
"""

from __future__ import annotations

from dataclasses import dataclass

from rdshare.core.kinds import PROVENANCES

#: Reference year: ``f_frontier`` is a frontier lab's share in this year.
REF_YEAR = 2025


@dataclass(frozen=True)
class Quantity:
    """One named quantity of the model.

    Attributes
    ----------
    name : str
        The fixed name every file, table and plot uses.
    support : str
        ``"unit"`` (a share in (0, 1)), ``"positive"``, ``"real"`` or ``"below_one"`` (below 1).
    meaning : str
        One line: what it is (prior tables, ``rdshare priors show``).
    label : str
        The headline wording (CLI headline, report).
    title, axis : str
        Plot title and axis label (with its unit).
    parameter : bool
        True when the prior file gives it a prior.
    """

    name: str
    support: str
    meaning: str
    label: str = ""
    title: str = ""
    axis: str = ""
    parameter: bool = True

    @property
    def is_share(self) -> bool:
        return self.support == "unit"


_SHARE_AXIS = "share of development compute that is R&D, in FLOP (0 to 1)"

#: The unit every share is compared in; each other unit has its own offset (:data:`OFFSETS`).
REFERENCE_UNIT = "flop"
#: unit -> the parameter by which that unit's shares overstate (log-odds) the FLOP share.
OFFSETS: dict[str, str] = {
    "gpu_hours": "offset_gpu_hours",
    "dollars": "offset_dollars",
    "energy": "offset_energy",
}
_UNIT_WORDS = {"gpu_hours": "GPU-hours", "dollars": "dollars", "energy": "energy"}


def share_in(unit: str | None) -> str:
    """The quantity holding a frontier lab's share measured in ``unit`` (FLOP when None)."""
    if unit in (None, REFERENCE_UNIT):
        return "f_frontier"
    if unit not in OFFSETS:
        raise ValueError(f"unknown unit {unit!r}")
    return f"f_frontier_{unit}"


_ALL = (
    Quantity(
        "f_frontier",
        "unit",
        f"R&D share of development FLOP for a frontier leader, full pipeline, in {REF_YEAR}",
        label=f"R&D share of a frontier lab's development compute (FLOP, {REF_YEAR}, full "
        "pipeline)",
        title=f"R&D share, frontier lab ({REF_YEAR}, full pipeline, FLOP)",
        axis=_SHARE_AXIS,
    ),
    Quantity(
        "discount",
        "below_one",
        "share of R&D per unit of final run a follower avoids by building on open work "
        "(negative: open work costs it more than it saves)",
        label="knowledge-sharing discount (R&D per unit of final run avoided)",
        title="Knowledge-sharing discount d",
        axis="share of R&D per unit of final run avoided (below 1; negative: a net cost)",
    ),
    Quantity(
        "sigma_lab",
        "positive",
        "between-lab spread of log-odds R&D intensity",
        label="between-lab spread (log-odds sd)",
        title="Between-lab spread σ_lab",
        axis="sd of lab effects (log-odds of the R&D share)",
    ),
    Quantity(
        "sigma_programme",
        "positive",
        "spread of log-odds R&D intensity between one lab's programmes (and of a programme's discount)",
        label="between-programme spread within a lab (log-odds sd)",
        title="Between-programme spread σ_programme",
        axis="sd of programme effects (log-odds)",
    ),
    Quantity(
        "sigma_estimator",
        "positive",
        "log-odds error shared by the figures one method or study produced",
        label="shared error of one estimator (log-odds sd)",
        title="Estimator error σ_estimator",
        axis="sd of estimator effects (log-odds)",
    ),
    Quantity("beta_pretraining", "real", "log-odds shift for pretraining-only evidence"),
    Quantity("beta_posttraining", "real", "log-odds shift for post-training-only evidence"),
    Quantity("beta_era", "real", f"log-odds change per year from {REF_YEAR}"),
    *(
        Quantity(
            name,
            "real",
            f"log-odds by which shares of {_UNIT_WORDS[unit]} overstate the share of FLOP",
        )
        for unit, name in OFFSETS.items()
    ),
    Quantity("sigma_meas_lab", "positive", "log-odds measurement error of lab-reported figures"),
    Quantity(
        "sigma_meas_third_party", "positive", "log-odds measurement error of third-party estimates"
    ),
    Quantity("sigma_meas_derived", "positive", "log-odds measurement error of derived figures"),
    Quantity(
        "f_follower",
        "unit",
        "R&D share for a follower building on open work: logistic(logit f_frontier + log(1 - d))",
        label="R&D share for a follower that builds on open work (FLOP)",
        title="R&D share, follower building on open work",
        axis=_SHARE_AXIS,
        parameter=False,
    ),
    Quantity(
        "f_new_lab",
        "unit",
        "R&D share of a new, unseen frontier lab's programme: logistic(logit f_frontier + u + v), "
        "u ~ Normal(0, sigma_lab), v ~ Normal(0, sigma_programme)",
        label="a new, unseen frontier lab (lab and programme spread included, FLOP)",
        title="R&D share, a new unseen frontier lab",
        axis=_SHARE_AXIS,
        parameter=False,
    ),
    *(
        Quantity(
            share_in(unit),
            "unit",
            f"f_frontier measured in {_UNIT_WORDS[unit]}: logistic(logit f_frontier + {name})",
            label=f"the frontier share measured in {_UNIT_WORDS[unit]}",
            title=f"R&D share, frontier lab, in {_UNIT_WORDS[unit]}",
            axis=f"share of development {_UNIT_WORDS[unit]} that is R&D (0 to 1)",
            parameter=False,
        )
        for unit, name in OFFSETS.items()
    ),
)

#: Every quantity by name.
QUANTITIES: dict[str, Quantity] = {q.name: q for q in _ALL}
#: Parameters with a prior, in the order prior files list them and the model creates them.
PARAMETERS: tuple[str, ...] = tuple(q.name for q in _ALL if q.parameter)
#: Measurement-error scales, one per provenance, in :data:`PROVENANCES` order.
SIGMA_MEAS: tuple[str, ...] = tuple(f"sigma_meas_{p}" for p in PROVENANCES)
#: The scales of the grouped effects, in the order the model stacks them.
GROUP_SCALES: tuple[str, ...] = ("sigma_lab", "sigma_programme", "sigma_estimator")
#: Headline quantities: the report's headline, its prior-against-posterior and rank plots.
HEADLINE: tuple[str, ...] = ("f_frontier", "f_follower", "discount", "sigma_lab")
#: Every quantity the CLI headline, the "what the data taught" table and sensitivity report.
REPORTED: tuple[str, ...] = (*HEADLINE, "f_new_lab")
#: The frontier share in each unit other than FLOP.
UNIT_SHARES: tuple[str, ...] = tuple(share_in(u) for u in OFFSETS)


@dataclass(frozen=True)
class Variant:
    """A model variant (for ``rdshare compare``).

    Attributes
    ----------
    name : str
    parameters : tuple of str
        The parameters it samples (their priors must be in the prior file).
    lab_effects : bool
        Whether it has the lab, programme and estimator effects and the scope and era covariates.
    discount : bool
        Whether followers differ from leaders by the discount.
    description : str
    """

    name: str
    parameters: tuple[str, ...]
    lab_effects: bool
    discount: bool
    description: str

    def derived(self) -> tuple[str, ...]:
        """The derived quantities this variant has (functions of its parameters, and ``f_new_lab``,
        which adds a fresh lab and programme effect)."""
        out = list(UNIT_SHARES)
        if self.discount:
            out.append("f_follower")
        if self.lab_effects:
            out.append("f_new_lab")
        return tuple(out)


VARIANTS: dict[str, Variant] = {
    v.name: v
    for v in (
        Variant("full", PARAMETERS, True, True, "the model with every parameter"),
        Variant(
            "no_discount",
            tuple(p for p in PARAMETERS if p != "discount"),
            True,
            False,
            "the same with the discount fixed at 0 (followers and leaders share one intercept)",
        ),
        Variant(
            "pooled",
            ("f_frontier", *OFFSETS.values(), *SIGMA_MEAS),
            False,
            False,
            "one f for every row: no lab, programme or estimator effects, no covariates, no discount",
        ),
    )
}


def variant(name: str) -> Variant:
    """The variant called ``name``; ``ValueError`` naming the allowed ones otherwise."""
    try:
        return VARIANTS[name]
    except KeyError:
        raise ValueError(f"variant must be one of {tuple(VARIANTS)}, not {name!r}") from None
