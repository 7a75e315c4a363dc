"""Prior, predictive, log-density and grouped-effect groups of a fit, computed in numpy from the draws.

The model's arithmetic is :mod:`rdshare.core.generative`'s; this module turns it into DataTree groups with
PyMC's group names, so every consumer (plots, report, LOO, sensitivity) reads one tree:

``prior``                 the variant's parameters and derived shares (``f_follower``, ``f_frontier_<unit>``),
                          ``chain`` 1 x ``draw`` ``prior_draws``;
``prior_predictive``      ``y_obs`` [obs] and ``bound_obs`` [bound] (the bound rows' latent values), drawn with
                          fresh lab, programme and estimator effects;
``posterior`` (added to)  the grouped effects, which the sampler integrated out, drawn once per posterior draw
                          from their Gaussian conditional given the data: ``u_lab`` [lab], ``u_programme``
                          [programme], ``u_estimator`` [estimator]; and ``f_row`` [share_row], each share row's
                          programme's R&D share in FLOP (its lab and programme effects included);
``posterior_predictive``  ``y_obs`` and ``bound_obs`` replicated with the same effects and new noise; and
                          ``y_loo`` [obs], each Gaussian row's report drawn from its leave-one-out
                          predictive given the parameters (for an exact LOO-PIT);
``log_likelihood``        per row, given every other row (the leave-one-out terms of a non-factorised normal
                          model): ``y_obs`` [obs] and ``bound_obs`` [bound]; per lab, ``by_lab`` [lab] (its rows
                          jointly given the other labs'); and ``joint`` [], the augmented log likelihood
                          ``log MVN(v | X theta, C)`` that power-scaling sensitivity scales;
``log_prior``             each parameter's log prior density at the posterior draws (constrained scale, no
                          Jacobian); the bound latents' flat prior is left out;
``observed_data``         ``y_obs`` (Gaussian rows) and ``bound_obs`` (the bounds);
``constant_data``         the other ``pm.Data`` containers.

Tests check the log densities against PyMC's model log density (tests/inference/test_fast_predictive.py).
For a given seed the groups are the same in every process.
"""

from __future__ import annotations

import datetime

import numpy as np
import xarray as xr

from rdshare.core import generative as gen
from rdshare.core.design import Design
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
    priors: PriorSet, p: dict[str, np.ndarray], variant_name: str
) -> dict[str, np.ndarray]:
    """Each parameter's log prior density at ``p`` (constrained space, no Jacobian)."""
    return {
        name: np.asarray(priors[name].scipy().logpdf(np.asarray(p[name])), dtype=np.float64)
        for name in parameters(variant_name)
    }


# ---------------------------------------------------------------------------------------------------
# DataTree groups
# ---------------------------------------------------------------------------------------------------


_DIMS = {
    "u_lab": ("lab",),
    "u_programme": ("programme",),
    "u_estimator": ("estimator",),
    "f_row": ("share_row",),
    "y_obs": ("obs",),
    "y_loo": ("obs",),
    "bound_obs": ("bound",),
    "by_lab": ("lab",),
}


def _coords(design: Design) -> dict[str, np.ndarray]:
    return {
        "lab": np.array(design.labs),
        "programme": np.array(design.programmes),
        "estimator": np.array(design.estimators),
        "row": np.array(design.row_ids),
        "share_row": np.array(design.f_ids),
        "obs": np.array(design.gauss_ids),
        "bound": np.array(design.bound_ids),
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


def posterior_parameters(posterior: xr.Dataset, variant: str) -> dict[str, np.ndarray]:
    """The parameters of the posterior as arrays (chain, draw)."""
    return {n: np.asarray(posterior[n].values, dtype=np.float64) for n in parameters(variant)}


def bound_latents(posterior: xr.Dataset, design: Design) -> np.ndarray | None:
    """The bound rows' latent values (chain, draw, bound), or None without bound rows."""
    from rdshare.inference.density import BOUND_LATENT

    if not design.bound_idx.size:
        return None
    return np.asarray(posterior[BOUND_LATENT].values, dtype=np.float64)


def observed_data(design: Design) -> xr.Dataset:
    """``y_obs`` (Gaussian rows' observations) and ``bound_obs`` (the bounds)."""
    values = {}
    if design.gauss_idx.size:
        values["y_obs"] = np.asarray(design.y, dtype=np.float64)
    if design.bound_idx.size:
        values["bound_obs"] = np.asarray(design.b, dtype=np.float64)
    return _dataset(values, design, ())


def constant_data(design: Design) -> xr.Dataset:
    """The ``pm.Data`` containers that are not observations, with ``pm.Data``'s dtypes."""
    from rdshare.core.design import FIXED, SCALES
    from rdshare.inference.evidence_kernel import DATA_DIMS, evidence_data

    values = evidence_data(design)
    coords = {**_coords(design), "fixed": np.array(FIXED), "scale": np.array(SCALES)}
    coords["knz"] = np.arange(len(values["K_val"]))
    data_vars, used = {}, {}
    for name, v in values.items():
        if name in ("y", "b"):
            continue
        arr = np.asarray(v)
        # pm.Data stores integer data as int32 (pymc.pytensorf.intX), floats as float64
        arr = arr.astype(np.int32) if arr.dtype.kind in "iu" else arr.astype(np.float64)
        dims = DATA_DIMS[name]
        # a dimension may repeat (K0 is row x row): name the second one apart for xarray
        dims = tuple(f"{d}_b" if d in dims[:i] else d for i, d in enumerate(dims))
        data_vars[name] = (dims, arr)
        used.update({d: coords[d.removesuffix("_b")] for d in dims})
    return xr.Dataset(data_vars, coords=used, attrs=_attrs([]))


def prior_groups(
    design: Design, priors: PriorSet, variant: str, draws: int, seed: int
) -> dict[str, xr.Dataset]:
    """``prior``, ``prior_predictive``, ``observed_data`` and ``constant_data``."""
    rng = np.random.default_rng(seed)
    p = gen.draw_prior(priors, variant, draws, rng)
    p.update(gen.derived(p, variant))
    effects = gen.draw_effects_prior(design, p, variant, rng)
    obs = gen.split_observations(design, gen.replicate(design, p, variant, effects, rng))
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
    seed: int,
) -> dict[str, xr.Dataset]:
    """The grouped effects and ``f_row`` (to add to the posterior), ``posterior_predictive``,
    ``log_likelihood`` and ``log_prior``, from the posterior draws."""
    p = posterior_parameters(posterior, variant)
    xb = bound_latents(posterior, design)
    shape = np.shape(p["f_frontier"])
    rng = np.random.default_rng(seed)
    v = get_variant(variant)
    if v.lab_effects:
        effects = gen.effects_given_data(design, p, variant, xb, rng)
    else:
        effects = {
            name: np.zeros((*shape, n))
            for name, n in (
                ("u_lab", design.n_labs),
                ("u_programme", len(design.programmes)),
                ("u_estimator", len(design.estimators)),
            )
        }
    extra = dict(effects) if v.lab_effects else {}
    extra["f_row"] = gen.f_rows(design, p, variant, effects)
    ll = gen.log_likelihood(design, p, variant, xb)
    ll["joint"] = gen.log_joint(design, p, variant, xb)
    replicated = gen.replicate(design, p, variant, effects, rng)
    predictive = gen.split_observations(design, replicated)
    if design.gauss_idx.size:
        predictive["y_loo"] = gen.loo_draws(design, p, variant, xb, rng)
    return {
        "posterior_extra": _dataset(extra, design, shape),
        "posterior_predictive": _dataset(predictive, design, shape),
        "log_likelihood": _dataset(ll, design, shape),
        "log_prior": _dataset(log_prior(priors, p, variant), design, shape),
    }
