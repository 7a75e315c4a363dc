"""Draw parameters from the priors and simulate datasets with a design's structure (numpy only).

An implementation of the generative model independent of the PyMC one in
:mod:`rdshare.inference.model`; simulation-based calibration fits the PyMC model to data simulated here,
so a disagreement between the two shows up as miscalibration.
"""

from __future__ import annotations

import numpy as np
from scipy.special import expit

from rdshare.core.design import Design
from rdshare.core.priors import PARAMETERS, PriorSet

#: The model's top-level parameters (one prior each), in the order simulations report them.
TOP_LEVEL = tuple(PARAMETERS)
SIGMA_MEAS = ("sigma_meas_lab", "sigma_meas_third_party", "sigma_meas_derived")


def draw_prior(priors: PriorSet, n_labs: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """One draw of every parameter from the priors, including the lab effects ``z_lab``."""
    p = {name: float(priors[name].sample(1, rng)[0]) for name in TOP_LEVEL}
    p["z_lab"] = rng.standard_normal(n_labs)
    return derived(p)


def derived(p: dict) -> dict:
    """Add the derived quantities (``u_lab``, ``f_follower``) to a parameter dict."""
    out = dict(p)
    out["u_lab"] = np.asarray(p["sigma_lab"]) * np.asarray(p["z_lab"])
    alpha = np.log(p["f_frontier"]) - np.log1p(-p["f_frontier"])
    out["f_follower"] = expit(alpha + np.log1p(-p["discount"]))
    return out


def linear_predictor(design: Design, p: dict) -> np.ndarray:
    """Log-odds of f for each fitted row (without the unit offset)."""
    alpha = np.log(p["f_frontier"]) - np.log1p(-p["f_frontier"])
    return (
        alpha
        + p["beta_pretraining"] * design.pretraining
        + p["beta_posttraining"] * design.posttraining
        + p["beta_era"] * design.era
        + np.log1p(-p["discount"]) * design.follower
        + p["u_lab"][design.lab_idx]
    )


def simulate(design: Design, p: dict, rng: np.random.Generator) -> Design:
    """A dataset with ``design``'s structure simulated from parameters ``p``."""
    mu = linear_predictor(design, p) + p["unit_offset"] * design.offset_unit
    sigma_meas = np.array([p[k] for k in SIGMA_MEAS])[design.prov_idx]
    g = design.gauss_idx
    y = mu[g] + rng.standard_normal(len(g)) * np.sqrt(design.s**2 + sigma_meas[g] ** 2)
    bi = design.bound_idx
    x = mu[bi] + rng.standard_normal(len(bi)) * sigma_meas[bi]
    return design.with_observations(y, x >= design.b)
