"""The PyMC model of the R&D compute fraction and the knowledge-sharing discount.

This module translates the registries into PyMC: every parameter's prior comes from the
:class:`~rdshare.core.priors.PriorSet` passed in, built with the PyMC class its family names
(:mod:`rdshare.core.families`); the variants' parameters come from :mod:`rdshare.core.quantities`; and the
linear predictor, the unit offset and the measurement scales are :mod:`rdshare.core.generative`'s
functions, called with PyTensor's operations (:data:`PYTENSOR`). Nothing here chooses a prior or writes
the model's arithmetic a second time. The structure (``docs/model.md``)::

    alpha   = logit(f_frontier)
    eta_i   = alpha + beta_pretraining * pretraining_i + beta_posttraining * posttraining_i
              + beta_era * (year_i - 2025) + u_lab[lab_i] + log(1 - discount) * follower_i
    u_lab   ~ Normal(0, sigma_lab)                                   (centred by default)
    mu_i    = eta_i + unit_offset * [unit_i in (dollars, energy)]
    y_i     ~ Normal(mu_i, sqrt(s_i^2 + sigma_meas[prov_i]^2))       Gaussian rows
    x_i     ~ Normal(mu_i, sigma_meas[prov_i]),  censored at logit(b_i)  bound rows

All data enter through ``pm.Data`` so a compiled sampler can be reused for new data of the same shape.
Variants (for model comparison): :data:`rdshare.core.quantities.VARIANTS`.

Importing this module changes no global setting; :func:`rdshare.inference.pytensor_flags.compile_flags`
sets the flags rdshare needs only while it compiles.
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pymc as pm
import pytensor.tensor as pt

from rdshare.core import generative as gen
from rdshare.core.design import Design
from rdshare.core.families import FAMILIES
from rdshare.core.kinds import PROVENANCES
from rdshare.core.priors import Prior, PriorSet
from rdshare.core.quantities import HEADLINE, SIGMA_MEAS, VARIANTS, variant

VARIANT_NAMES = tuple(VARIANTS)
LAB_EFFECTS = ("centred", "noncentred")

#: Parameters each variant samples (its priors must be present): a view of the quantities registry.
VARIANT_PARAMETERS: dict[str, tuple[str, ...]] = {n: v.parameters for n, v in VARIANTS.items()}

#: PyTensor's operations for :mod:`rdshare.core.generative` (parameters are scalars: no sample axes).
PYTENSOR = gen.Ops(
    log=pt.log,
    log1p=pt.log1p,
    sqrt=pt.sqrt,
    stack=pt.stack,
    zeros=pt.zeros,
    col=lambda v: v,
    take=lambda u, idx: u[idx],
)

__all__ = ["HEADLINE", "LAB_EFFECTS", "PYTENSOR", "build", "coords", "data_values", "prior_rv"]


def prior_rv(prior: Prior, **kwargs):
    """A PyMC random variable for a validated prior: the PyMC class its family names (closed list)."""
    family = FAMILIES[prior.dist]
    return getattr(pm, family.pymc)(prior.name, **family.pymc_kwargs(prior.params), **kwargs)


def coords(design: Design) -> dict[str, tuple[str, ...]]:
    """Named dimensions of the model."""
    return {
        "lab": design.labs,
        "row": design.row_ids,
        "obs": design.gauss_ids,
        "bound": design.bound_ids,
        "provenance": PROVENANCES,
    }


def build(
    design: Design, priors: PriorSet, variant_name: str = "full", lab_effects: str = "centred"
) -> pm.Model:
    """Build the model for ``design`` with ``priors``.

    Parameters
    ----------
    design : Design
        Arrays from :func:`rdshare.core.design.build`.
    priors : PriorSet
        A validated prior file.
    variant_name : {"full", "no_discount", "pooled"}
        Which model (:data:`rdshare.core.quantities.VARIANTS`).
    lab_effects : {"centred", "noncentred"}
        Parametrisation of the lab effects. Centred is the default: on the shipped data most labs'
        effects are pinned by precise rows, and the non-centred form put the sampler in a funnel
        (docs/model.md).
    """
    v = variant(variant_name)
    if lab_effects not in LAB_EFFECTS:
        raise ValueError(f"lab_effects must be one of {LAB_EFFECTS}, not {lab_effects!r}")
    with pm.Model(coords=coords(design)) as model:
        data = {
            name: pm.Data(name, value, dims=_DIMS[name])
            for name, value in data_values(design).items()
        }
        d = SimpleNamespace(**data)

        # The order variables are created in fixes the sampler's parameter layout and the seeds of its
        # initial points: changing it changes the draws for a given seed.
        p = {"f_frontier": prior_rv(priors["f_frontier"])}
        p["unit_offset"] = prior_rv(priors["unit_offset"])
        for name in SIGMA_MEAS:
            p[name] = prior_rv(priors[name])
        sigma_meas = pm.Deterministic("sigma_meas", gen.sigma_meas(p, PYTENSOR), dims="provenance")
        u = None
        if v.lab_effects:
            for name in v.parameters:
                if name not in p and name != "discount":
                    p[name] = prior_rv(priors[name])
            if lab_effects == "centred":
                u_lab = pm.Normal("u_lab", 0.0, p["sigma_lab"], dims="lab")
            else:
                z_lab = pm.Normal("z_lab", 0.0, 1.0, dims="lab")
                u_lab = pm.Deterministic("u_lab", p["sigma_lab"] * z_lab, dims="lab")
            u = u_lab[d.lab_idx]
        if v.discount:
            p["discount"] = prior_rv(priors["discount"])
        eta = gen.linear_predictor(d, p, v, u, PYTENSOR, n_rows=design.n_rows)
        if v.discount:
            alpha = gen.logit(p["f_frontier"], PYTENSOR)
            pm.Deterministic(
                "f_follower", pm.math.sigmoid(alpha + gen.log_keep(p["discount"], PYTENSOR))
            )
        pm.Deterministic("f_row", pm.math.sigmoid(eta), dims="row")
        mu = eta + p["unit_offset"] * d.offset_unit
        sd_row = sigma_meas[d.prov_idx]
        if design.gauss_idx.size:
            pm.Normal(
                "y_obs",
                mu=mu[d.gauss_idx],
                sigma=gen.gaussian_scale(d.s, sd_row[d.gauss_idx], PYTENSOR),
                observed=d.y,
                dims="obs",
            )
        if design.bound_idx.size:
            pm.Censored(
                "bound_obs",
                pm.Normal.dist(mu=mu[d.bound_idx], sigma=sd_row[d.bound_idx]),
                lower=d.bound_lower,
                upper=d.bound_upper,
                observed=d.b,
                dims="bound",
            )
    return model


def observed_names(design: Design) -> list[str]:
    """Names of the observed variables the model has for this design."""
    out = []
    if design.gauss_idx.size:
        out.append("y_obs")
    if design.bound_idx.size:
        out.append("bound_obs")
    return out


#: Each ``pm.Data`` container's dimension.
_DIMS = {
    "lab_idx": "row",
    "pretraining": "row",
    "posttraining": "row",
    "follower": "row",
    "era": "row",
    "offset_unit": "row",
    "prov_idx": "row",
    "gauss_idx": "obs",
    "s": "obs",
    "bound_idx": "bound",
    "b": "bound",
    "bound_lower": "bound",
    "bound_upper": "bound",
    "y": "obs",
}


def data_values(design: Design) -> dict[str, np.ndarray]:
    """Values of every ``pm.Data`` container for ``design`` (to swap data into a compiled model)."""
    return {name: getattr(design, name) for name in _DIMS}


def data_dims() -> dict[str, str]:
    """Each ``pm.Data`` container's dimension (``constant_data`` uses the same)."""
    return dict(_DIMS)
