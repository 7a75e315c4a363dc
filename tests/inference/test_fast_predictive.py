"""The numpy groups of a fit against PyMC: the log densities exactly, prior draws in distribution.

The model's evidence is a ``pm.Potential`` (the multivariate normal of the rows' latent values), so the
reference is the PyMC model's own log density: at the same parameter and latent values, rdshare's
``log_likelihood.joint`` plus the latents' log-Jacobian must equal the compiled potential, and its
``log_prior`` terms PyMC's ``compute_log_prior``.
"""

from __future__ import annotations

import numpy as np
import pymc as pm
import pytest
import xarray as xr
from scipy import stats

from rdshare.core import dataset as ds_mod
from rdshare.core import design as design_mod
from rdshare.core import generative as gen
from rdshare.core import priors as priors_mod
from rdshare.core.quantities import VARIANTS
from rdshare.inference import fast_predictive as fp
from rdshare.inference import model as model_mod

GROUPS = (
    "prior",
    "prior_predictive",
    "posterior_predictive",
    "log_likelihood",
    "log_prior",
    "observed_data",
    "constant_data",
)


def _design_with_both_bound_directions():
    """The shipped design with its bound outcomes alternating between "at least" and "below"."""
    design = design_mod.from_dataset(ds_mod.load([]))
    at_least = np.arange(design.b.size) % 2 == 0
    return design.with_observations(design.y, at_least)


def _fake_posterior(design, priors, variant, seed=0) -> xr.Dataset:
    """Prior draws laid out as a 2-chain posterior, with bound latents on their sides."""
    rng = np.random.default_rng(seed)
    p = gen.draw_prior(priors, variant, 100, rng)
    values = {k: np.asarray(v).reshape(2, 50) for k, v in p.items()}
    out = fp._dataset(values, design, (2, 50))
    if design.bound_idx.size:
        z = rng.normal(size=(2, 50, design.bound_idx.size))
        x = design.b + design.bound_dir * np.exp(z)
        out[model_mod.BOUND_Z] = (("chain", "draw", "bound"), z)
        out[model_mod.BOUND_LATENT] = (("chain", "draw", "bound"), x)
        out = out.assign_coords(bound=list(design.bound_ids))
    return out


def test_every_group_is_there_with_its_dims(small_fit):
    tree = small_fit.tree
    for g in GROUPS:
        assert g in tree.children, g
    post = tree["posterior"].ds
    for name, dim in (("u_lab", "lab"), ("u_programme", "programme"), ("u_estimator", "estimator")):
        assert post[name].dims == ("chain", "draw", dim)
    assert post["f_row"].dims == ("chain", "draw", "share_row")
    ll = tree["log_likelihood"].ds
    assert ll["y_obs"].dims[-1] == "obs"
    assert ll["bound_obs"].dims[-1] == "bound"
    assert ll["by_lab"].dims[-1] == "lab"
    assert ll["joint"].dims == ("chain", "draw")
    assert set(tree["log_prior"].ds.data_vars) == set(VARIANTS["full"].parameters)


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_log_densities_match_pymc_for_every_variant(variant):
    design = _design_with_both_bound_directions()
    assert set(design.bound_dir) == {-1, 1}  # both bound directions are exercised
    priors = priors_mod.load()
    post = _fake_posterior(design, priors, variant)
    model = model_mod.build(design, priors, variant)
    # PyMC's potential at each draw: compile it with the free variables as inputs
    names = [rv.name for rv in model.free_RVs]
    inputs = [model.rvs_to_values[model[n]] for n in names]
    (evidence,) = model.replace_rvs_by_values([model["evidence"]])
    fn = model.compile_fn(evidence, inputs=inputs, on_unused_input="ignore")
    transforms = {
        v: model.rvs_to_transforms.get(model[n]) for v, n in zip(inputs, names, strict=True)
    }
    p = fp.posterior_parameters(post, variant)
    xb = fp.bound_latents(post, design)
    ours = gen.log_joint(design, p, variant, xb) + np.log(design.bound_dir * (xb - design.b)).sum(
        axis=-1
    )
    for c, d in ((0, 0), (1, 7), (1, 49)):
        point = {}
        for value, name in zip(inputs, names, strict=True):
            x = np.asarray(post[name].values[c, d])
            t = transforms[value]
            point[value.name] = t.forward(x).eval() if t is not None else x
        assert float(fn(point)) == pytest.approx(float(ours[c, d]), rel=1e-10)
    lp = pm.stats.compute_log_prior(
        xr.DataTree.from_dict({"posterior": post}),
        model=model,
        extend_inferencedata=False,
        progressbar=False,
    )
    for name, v in fp.log_prior(priors, p, variant).items():
        np.testing.assert_allclose(v, lp[name].values, rtol=1e-10, atol=1e-10, err_msg=name)


@pytest.mark.parametrize("variant", ["full", "pooled"])
def test_prior_draws_agree_with_pymc_in_distribution(variant):
    """rdshare's scipy prior draws against PyMC's draws of the same variables (the reflected
    family included, which PyMC builds as a CustomDist)."""
    design = _design_with_both_bound_directions()
    priors = priors_mod.load()
    n = 4000
    ours = fp.prior_groups(design, priors, variant, n, seed=11)["prior"]
    model = model_mod.build(design, priors, variant)
    names = list(VARIANTS[variant].parameters)
    theirs = pm.draw([model[k] for k in names], draws=n, random_seed=12)
    for k, y in zip(names, theirs, strict=True):
        x = ours[k].values.ravel()
        assert stats.ks_2samp(x, np.asarray(y).ravel(), method="asymp").pvalue > 1e-4, k


def test_same_seed_same_groups():
    design = _design_with_both_bound_directions()
    priors = priors_mod.load()
    a = fp.prior_groups(design, priors, "full", 50, seed=3)
    b = fp.prior_groups(design, priors, "full", 50, seed=3)
    for g in a:
        xr.testing.assert_equal(a[g], b[g])
