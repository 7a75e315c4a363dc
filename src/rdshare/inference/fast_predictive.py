"""Prior, predictive and pointwise log-density groups of a fit, computed in numpy/scipy from the draws.

PyMC's own route (``pm.sample_prior_predictive``, ``pm.sample_posterior_predictive``,
``pm.compute_log_likelihood``, ``pm.stats.compute_log_prior``) compiles four PyTensor functions per
process and cost about 9 s of a 26 s fit. The model is small and its generative side is a few lines of
numpy, so rdshare computes the same groups here in about 0.1 s (``FitConfig(predictive_engine="pymc")``
keeps PyMC's route).

Groups, names and dimensions are PyMC's, so every consumer (plots, report, LOO) sees the same tree:

``prior``                 every free variable and deterministic of the model (``u_lab`` [lab], ``sigma_meas``
                          [provenance], ``f_row`` [row], ``f_follower``; ``z_lab`` when non-centred),
                          ``chain`` 1 x ``draw`` ``prior_draws``;
``prior_predictive``      ``y_obs`` [obs], ``bound_obs`` [bound];
``posterior_predictive``  the same from the posterior draws;
``log_likelihood``        pointwise log densities of ``y_obs`` [obs] and ``bound_obs`` [bound];
``log_prior``             each free variable's log prior density at the posterior draws (constrained
                          space, no Jacobian, as ``pm.stats.compute_log_prior``);
``observed_data``         ``y_obs``, ``bound_obs``;
``constant_data``         the other ``pm.Data`` containers (integer arrays as int32, as ``pm.Data`` stores them).

The model's arithmetic (linear predictor, observation draws, log-likelihood, prior draws) is
:mod:`rdshare.core.generative`'s; this module turns it into DataTree groups.

Correctness is tested against PyMC (tests/inference/test_fast_predictive.py): the log likelihood and log
prior agree with ``pm.compute_log_likelihood`` / ``pm.stats.compute_log_prior`` to 1e-10, and the prior
and predictive draws agree with PyMC's in distribution. Draws differ from PyMC's draw for draw (another
random stream); for a given seed they are the same in every process.

Likelihood forms (see :mod:`rdshare.core.design`): Gaussian rows ``y ~ Normal(mu, sqrt(s^2 +
sigma_meas^2))``; bound rows are PyMC ``Censored(Normal(mu, sigma_meas), lower, upper)`` observed at
``b``: ``log P(x >= b)`` when ``b`` is the upper limit, ``log P(x <= b)`` when it is the lower one, and
predictive draws are clipped to ``[lower, upper]`` as PyMC's censored draws are.
"""

from __future__ import annotations

import datetime

import numpy as np
import xarray as xr

from rdshare.core import generative as gen
from rdshare.core.design import Design
from rdshare.core.kinds import PROVENANCES
from rdshare.core.priors import PriorSet
from rdshare.core.quantities import variant as get_variant
from rdshare.core.runs import package_version


def _attrs(sample_dims: list[str]) -> dict:
    return {
        "created_at": datetime.datetime.now(datetime.UTC).isoformat(),
        "creation_library": "rdshare",
        "creation_library_version": package_version(),
        "creation_library_language": "Python",
        "inference_library": "rdshare.inference.fast_predictive",
        "sample_dims": sample_dims,
    }


def parameters(variant_name: str) -> tuple[str, ...]:
    """The top-level parameters a variant samples (:data:`rdshare.core.quantities.VARIANTS`)."""
    return get_variant(variant_name).parameters


def log_prior(
    priors: PriorSet, p: dict[str, np.ndarray], variant_name: str, lab_effects: str
) -> dict[str, np.ndarray]:
    """Each free variable's log prior density at ``p`` (constrained space, no Jacobian)."""
    v = get_variant(variant_name)
    out = {name: priors[name].scipy().logpdf(np.asarray(p[name])) for name in v.parameters}
    if v.lab_effects:
        if lab_effects == "centred":
            sigma = np.asarray(p["sigma_lab"])[..., None]
            out["u_lab"] = gen.log_density(np.asarray(p["u_lab"]), 0.0, sigma)
        else:
            out["z_lab"] = gen.log_density(np.asarray(p["z_lab"]), 0.0, 1.0)
    return {k: np.asarray(v, dtype=np.float64) for k, v in out.items()}


def draw_prior(
    design: Design,
    priors: PriorSet,
    variant_name: str,
    lab_effects: str,
    draws: int,
    rng: np.random.Generator,
) -> dict[str, np.ndarray]:
    """``draws`` joint draws of every free variable and deterministic from the priors."""
    p = gen.draw_prior(
        priors, variant_name, design.n_labs, draws, rng, noncentred=lab_effects == "noncentred"
    )
    p.update(gen.deterministics(design, p, variant_name))
    return p


# ---------------------------------------------------------------------------------------------------
# DataTree groups
# ---------------------------------------------------------------------------------------------------


_DIMS = {
    "u_lab": ("lab",),
    "z_lab": ("lab",),
    "sigma_meas": ("provenance",),
    "f_row": ("row",),
    "y_obs": ("obs",),
    "bound_obs": ("bound",),
}


def _coords(design: Design) -> dict[str, np.ndarray]:
    return {
        "lab": np.array(design.labs),
        "row": np.array(design.row_ids),
        "obs": np.array(design.gauss_ids),
        "bound": np.array(design.bound_ids),
        "provenance": np.array(PROVENANCES),
    }


def _dataset(
    values: dict[str, np.ndarray], design: Design, sample_shape: tuple[int, ...]
) -> xr.Dataset:
    coords = _coords(design)
    sample_dims = ["chain", "draw"][: len(sample_shape)]
    data_vars, used = {}, {}
    for name, v in values.items():
        extra = _DIMS.get(name, ())
        arr = np.asarray(v).reshape(*sample_shape, *np.shape(v)[len(np.shape(v)) - len(extra) :])
        data_vars[name] = ((*sample_dims, *extra), arr)
        used.update({d: coords[d] for d in extra})
    all_coords = {d: np.arange(n) for d, n in zip(sample_dims, sample_shape, strict=True)}
    all_coords.update(used)
    return xr.Dataset(data_vars, coords=all_coords, attrs=_attrs(sample_dims))


def posterior_parameters(
    posterior: xr.Dataset, variant: str, lab_effects: str
) -> dict[str, np.ndarray]:
    """The free variables of the posterior as arrays (chain, draw, ...)."""
    names = list(parameters(variant))
    if get_variant(variant).lab_effects:
        names.append("u_lab")
        if lab_effects == "noncentred":
            names.append("z_lab")
    return {n: np.asarray(posterior[n].values, dtype=np.float64) for n in names}


def observed_data(design: Design) -> xr.Dataset:
    """``y_obs`` and ``bound_obs`` as the model observes them."""
    values = {}
    if design.gauss_idx.size:
        values["y_obs"] = np.asarray(design.y, dtype=np.float64)
    if design.bound_idx.size:
        values["bound_obs"] = np.asarray(design.b, dtype=np.float64)
    return _dataset(values, design, ())


def constant_data(design: Design) -> xr.Dataset:
    """The ``pm.Data`` containers that are not observations, with ``pm.Data``'s dtypes."""
    from rdshare.inference.model import data_dims, data_values

    coords = _coords(design)
    skip = set()
    if design.gauss_idx.size:
        skip.add("y")
    if design.bound_idx.size:
        skip.add("b")
    data_vars, used = {}, {}
    for name, v in data_values(design).items():
        if name in skip:
            continue
        arr = np.asarray(v)
        # pm.Data stores integer data as int32 (pymc.pytensorf.intX), floats as float64
        arr = arr.astype(np.int32) if arr.dtype.kind in "iu" else arr.astype(np.float64)
        dim = data_dims()[name]
        data_vars[name] = ((dim,), arr)
        used[dim] = coords[dim]
    return xr.Dataset(data_vars, coords=used, attrs=_attrs([]))


def prior_groups(
    design: Design,
    priors: PriorSet,
    variant: str,
    lab_effects: str,
    draws: int,
    seed: int,
) -> dict[str, xr.Dataset]:
    """``prior``, ``prior_predictive``, ``observed_data`` and ``constant_data``."""
    rng = np.random.default_rng(seed)
    p = draw_prior(design, priors, variant, lab_effects, draws, rng)
    obs = gen.draw_observations(design, p, variant, rng)
    return {
        "prior": _dataset(p, design, (1, draws)),
        "prior_predictive": _dataset(obs, design, (1, draws)),
        "observed_data": observed_data(design),
        "constant_data": constant_data(design),
    }


def posterior_groups(
    posterior: xr.Dataset,
    design: Design,
    priors: PriorSet,
    variant: str,
    lab_effects: str,
    seed: int,
) -> dict[str, xr.Dataset]:
    """``posterior_predictive``, ``log_likelihood`` and ``log_prior`` from the posterior draws."""
    p = posterior_parameters(posterior, variant, lab_effects)
    shape = np.shape(p["f_frontier"])
    rng = np.random.default_rng(seed)
    return {
        "posterior_predictive": _dataset(
            gen.draw_observations(design, p, variant, rng), design, shape
        ),
        "log_likelihood": _dataset(gen.log_likelihood(design, p, variant), design, shape),
        "log_prior": _dataset(log_prior(priors, p, variant, lab_effects), design, shape),
    }
