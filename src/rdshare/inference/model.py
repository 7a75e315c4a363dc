"""The PyMC model of the R&D compute fraction and the knowledge-sharing discount.

Structure (see ``docs/model.md`` for the reasoning)::

    alpha   = logit(f_frontier)
    eta_i   = alpha + beta_pretraining * pretraining_i + beta_posttraining * posttraining_i
              + beta_era * (year_i - 2025) + log(1 - discount) * follower_i + u_lab[lab_i]
    u_lab   = sigma_lab * z_lab,  z_lab ~ Normal(0, 1)             (non-centred)
    mu_i    = eta_i + unit_offset * [unit_i in (dollars, energy)]
    y_i     ~ Normal(mu_i, sqrt(s_i^2 + sigma_meas[prov_i]^2))       Gaussian rows
    x_i     ~ Normal(mu_i, sigma_meas[prov_i]),  censored at logit(b_i)  bound rows

Every prior comes from the :class:`~rdshare.core.priors.PriorSet` passed in; nothing here chooses one.
All data enter through ``pm.Data`` so a compiled sampler can be reused for new data of the same shape.

Variants (for model comparison):

``full``         the model above;
``no_discount``  the same with ``discount`` fixed at 0 (followers and leaders share one intercept);
``pooled``       one f for every row: no lab effect, no covariates, no discount.
"""

from __future__ import annotations

import numpy as np

from rdshare.core.dataset import PROVENANCES
from rdshare.core.design import Design
from rdshare.core.priors import PARAMETERS, Prior, PriorSet
from rdshare.inference._config import configure

configure()

import pymc as pm  # noqa: E402
import pytensor.tensor as pt  # noqa: E402

VARIANTS = ("full", "no_discount", "pooled")
LAB_EFFECTS = ("centred", "noncentred")

#: Parameters each variant samples (its priors must be present).
VARIANT_PARAMETERS: dict[str, tuple[str, ...]] = {"full": tuple(PARAMETERS)}
VARIANT_PARAMETERS["no_discount"] = tuple(p for p in VARIANT_PARAMETERS["full"] if p != "discount")
VARIANT_PARAMETERS["pooled"] = (
    "f_frontier",
    "unit_offset",
    "sigma_meas_lab",
    "sigma_meas_third_party",
    "sigma_meas_derived",
)

#: Headline quantities, by fixed name (every summary, export and plot uses these).
HEADLINE = ("f_frontier", "f_follower", "discount", "sigma_lab")


def prior_rv(prior: Prior, **kwargs):
    """A PyMC random variable for a validated prior (closed list; nothing evaluated)."""
    p, name = prior.params, prior.name
    match prior.dist:
        case "normal":
            return pm.Normal(name, mu=p["mu"], sigma=p["sigma"], **kwargs)
        case "student_t":
            return pm.StudentT(name, nu=p["nu"], mu=p["mu"], sigma=p["sigma"], **kwargs)
        case "lognormal":
            return pm.LogNormal(name, mu=p["mu"], sigma=p["sigma"], **kwargs)
        case "halfnormal":
            return pm.HalfNormal(name, sigma=p["sigma"], **kwargs)
        case "exponential":
            return pm.Exponential(name, lam=p["lam"], **kwargs)
        case "gamma":
            return pm.Gamma(name, alpha=p["alpha"], beta=p["beta"], **kwargs)
        case "beta":
            return pm.Beta(name, alpha=p["alpha"], beta=p["beta"], **kwargs)
        case "uniform":
            return pm.Uniform(name, lower=p["lower"], upper=p["upper"], **kwargs)
    raise ValueError(f"unknown distribution {prior.dist!r}")  # unreachable: validated on load


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
    design: Design, priors: PriorSet, variant: str = "full", lab_effects: str = "centred"
) -> pm.Model:
    """Build the model for ``design`` with ``priors``.

    Parameters
    ----------
    design : Design
        Arrays from :func:`rdshare.core.design.build`.
    priors : PriorSet
        A validated prior file.
    variant : {"full", "no_discount", "pooled"}
        Which model (see the module docstring).
    lab_effects : {"centred", "noncentred"}
        Parametrisation of the lab effects. Centred is the default: on the shipped data most labs'
        effects are pinned by precise rows, and the non-centred form put the sampler in a funnel
        (divergences in 5 of 20 seeds at target_accept 0.99, against 0 of 20 centred with low-rank
        mass-matrix adaptation; docs/model.md).
    """
    if variant not in VARIANTS:
        raise ValueError(f"variant must be one of {VARIANTS}, not {variant!r}")
    if lab_effects not in LAB_EFFECTS:
        raise ValueError(f"lab_effects must be one of {LAB_EFFECTS}, not {lab_effects!r}")
    with pm.Model(coords=coords(design)) as model:
        lab_idx = pm.Data("lab_idx", design.lab_idx, dims="row")
        pre = pm.Data("pretraining", design.pretraining, dims="row")
        post = pm.Data("posttraining", design.posttraining, dims="row")
        follower = pm.Data("follower", design.follower, dims="row")
        era = pm.Data("era", design.era, dims="row")
        offset_unit = pm.Data("offset_unit", design.offset_unit, dims="row")
        prov_idx = pm.Data("prov_idx", design.prov_idx, dims="row")
        gauss_idx = pm.Data("gauss_idx", design.gauss_idx, dims="obs")
        s = pm.Data("s", design.s, dims="obs")
        bound_idx = pm.Data("bound_idx", design.bound_idx, dims="bound")
        b = pm.Data("b", design.b, dims="bound")
        b_lower = pm.Data("bound_lower", design.bound_lower, dims="bound")
        b_upper = pm.Data("bound_upper", design.bound_upper, dims="bound")
        y = pm.Data("y", design.y, dims="obs")

        f_frontier = prior_rv(priors["f_frontier"])
        alpha = pt.log(f_frontier) - pt.log1p(-f_frontier)
        unit_offset = prior_rv(priors["unit_offset"])
        sigma_meas = pm.Deterministic(
            "sigma_meas",
            pt.stack([prior_rv(priors[f"sigma_meas_{p}"]) for p in PROVENANCES]),
            dims="provenance",
        )
        if variant == "pooled":
            eta = alpha + pt.zeros(design.n_rows)
        else:
            sigma_lab = prior_rv(priors["sigma_lab"])
            beta_pre = prior_rv(priors["beta_pretraining"])
            beta_post = prior_rv(priors["beta_posttraining"])
            beta_era = prior_rv(priors["beta_era"])
            if lab_effects == "centred":
                u_lab = pm.Normal("u_lab", 0.0, sigma_lab, dims="lab")
            else:
                z_lab = pm.Normal("z_lab", 0.0, 1.0, dims="lab")
                u_lab = pm.Deterministic("u_lab", sigma_lab * z_lab, dims="lab")
            eta = alpha + beta_pre * pre + beta_post * post + beta_era * era + u_lab[lab_idx]
            if variant == "full":
                discount = prior_rv(priors["discount"])
                log_keep = pt.log1p(-discount)
                eta = eta + log_keep * follower
                pm.Deterministic("f_follower", pm.math.sigmoid(alpha + log_keep))
        pm.Deterministic("f_row", pm.math.sigmoid(eta), dims="row")
        mu = eta + unit_offset * offset_unit
        sd_row = sigma_meas[prov_idx]
        if design.gauss_idx.size:
            pm.Normal(
                "y_obs",
                mu=mu[gauss_idx],
                sigma=pt.sqrt(s**2 + sd_row[gauss_idx] ** 2),
                observed=y,
                dims="obs",
            )
        if design.bound_idx.size:
            pm.Censored(
                "bound_obs",
                pm.Normal.dist(mu=mu[bound_idx], sigma=sd_row[bound_idx]),
                lower=b_lower,
                upper=b_upper,
                observed=b,
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


def data_values(design: Design) -> dict[str, np.ndarray]:
    """Values of every ``pm.Data`` container for ``design`` (to swap data into a compiled model)."""
    return {
        "lab_idx": design.lab_idx,
        "pretraining": design.pretraining,
        "posttraining": design.posttraining,
        "follower": design.follower,
        "era": design.era,
        "offset_unit": design.offset_unit,
        "prov_idx": design.prov_idx,
        "gauss_idx": design.gauss_idx,
        "s": design.s,
        "bound_idx": design.bound_idx,
        "b": design.b,
        "bound_lower": design.bound_lower,
        "bound_upper": design.bound_upper,
        "y": design.y,
    }
