"""The numpy predictive groups agree with PyMC's: exactly for log densities, in distribution for draws."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr
from scipy import stats

from rdshare.core import dataset as ds_mod
from rdshare.core import design as design_mod
from rdshare.core import priors as priors_mod
from rdshare.inference import fast_predictive as fp
from rdshare.inference import model as model_mod
from rdshare.inference.fit import FitConfig, add_predictive

GROUPS = (
    "prior",
    "prior_predictive",
    "posterior_predictive",
    "log_likelihood",
    "log_prior",
    "observed_data",
    "constant_data",
)


@pytest.fixture(scope="module")
def pymc_tree(small_fit):
    """small_fit's posterior with every group computed by PyMC's own functions."""
    tree = xr.DataTree.from_dict(
        {"posterior": small_fit.tree["posterior"].ds, "sample_stats": small_fit.tree["sample_stats"].ds}
    )
    cfg = FitConfig(**{**small_fit.config, "predictive_engine": "pymc"})
    add_predictive(tree, small_fit.design, small_fit.priors, cfg, seeds=(1, 2, 3))
    return tree


def test_same_groups_variables_dims_and_coords(small_fit, pymc_tree):
    ours = small_fit.tree
    for g in GROUPS:
        a, b = ours[g].ds, pymc_tree[g].ds
        assert set(a.data_vars) == set(b.data_vars), g
        for v in b.data_vars:
            assert a[v].dims == b[v].dims, (g, v)
            assert a[v].dtype == b[v].dtype, (g, v)
            if g not in ("prior", "prior_predictive"):
                assert a[v].shape == b[v].shape, (g, v)
        for c in b.coords:
            if c in ("chain", "draw") and g.startswith("prior"):
                continue  # prior_draws may differ
            np.testing.assert_array_equal(np.asarray(a[c].values), np.asarray(b[c].values), err_msg=f"{g}.{c}")


def test_observed_and_constant_data_identical(small_fit, pymc_tree):
    for g in ("observed_data", "constant_data"):
        xr.testing.assert_identical(
            small_fit.tree[g].ds.drop_attrs(), pymc_tree[g].ds.drop_attrs()
        )


def test_log_likelihood_and_log_prior_match_pymc(small_fit, pymc_tree):
    """Same posterior draws, PyMC's compiled log densities: equal to 1e-10."""
    for g in ("log_likelihood", "log_prior"):
        for v in pymc_tree[g].ds.data_vars:
            np.testing.assert_allclose(
                small_fit.tree[g][v].values, pymc_tree[g][v].values, rtol=1e-10, atol=1e-10, err_msg=f"{g}.{v}"
            )


def test_posterior_predictive_agrees_in_distribution(small_fit, pymc_tree):
    ours, theirs = small_fit.tree["posterior_predictive"].ds, pymc_tree["posterior_predictive"].ds
    for v in theirs.data_vars:
        dim = ours[v].dims[-1]
        for i in range(ours.sizes[dim]):
            a = ours[v].isel({dim: i}).values.ravel()
            b = theirs[v].isel({dim: i}).values.ravel()
            assert stats.ks_2samp(a, b).pvalue > 1e-4, (v, i)


def _design_with_both_bound_directions():
    """The shipped design with its bound rows split between "at least" and "below"."""
    design = design_mod.build(ds_mod.load([]).fitted)
    at_least = np.arange(design.b.size) % 2 == 0
    return design.with_observations(design.y, at_least)


def _fake_posterior(design, priors, variant, lab_effects, seed=0) -> xr.Dataset:
    """Prior draws laid out as a 2-chain posterior (any draws do for comparing log densities)."""
    rng = np.random.default_rng(seed)
    p = fp.draw_prior(design, priors, variant, lab_effects, 100, rng)
    return fp._dataset(
        {k: np.asarray(v).reshape(2, 50, *np.shape(v)[1:]) for k, v in p.items()}, design, (2, 50)
    )


@pytest.mark.parametrize(
    ("variant", "lab_effects"),
    [("full", "noncentred"), ("no_discount", "centred"), ("pooled", "centred")],
)
def test_log_densities_match_pymc_for_every_variant(variant, lab_effects):
    import pymc as pm

    design = _design_with_both_bound_directions()
    assert set(design.bound_lower) != {-np.inf}  # both censoring directions are exercised
    priors = priors_mod.load()
    post = _fake_posterior(design, priors, variant, lab_effects)
    model = model_mod.build(design, priors, variant, lab_effects)
    tree = xr.DataTree.from_dict({"posterior": post})
    ll = pm.compute_log_likelihood(tree, model=model, extend_inferencedata=False, progressbar=False)
    lp = pm.stats.compute_log_prior(tree, model=model, extend_inferencedata=False, progressbar=False)
    p = fp.posterior_parameters(post, variant, lab_effects)
    ours_ll = fp.log_likelihood(design, p, variant)
    ours_lp = fp.log_prior(priors, p, variant, lab_effects)
    assert set(ours_ll) == set(ll.data_vars)
    assert set(ours_lp) == set(lp.data_vars)
    for name, v in ours_ll.items():
        np.testing.assert_allclose(v, ll[name].values, rtol=1e-10, atol=1e-10, err_msg=name)
    for name, v in ours_lp.items():
        np.testing.assert_allclose(v, lp[name].values, rtol=1e-10, atol=1e-10, err_msg=name)


@pytest.mark.parametrize(("variant", "lab_effects"), [("full", "centred"), ("full", "noncentred"), ("pooled", "centred")])
def test_prior_draws_agree_with_pymc_in_distribution(variant, lab_effects):
    import pymc as pm

    design = _design_with_both_bound_directions()
    priors = priors_mod.load()
    n = 2000
    ours = fp.prior_groups(design, priors, variant, lab_effects, n, seed=11)
    model = model_mod.build(design, priors, variant, lab_effects)
    theirs = pm.sample_prior_predictive(draws=n, model=model, random_seed=12)
    for group in ("prior", "prior_predictive"):
        a, b = ours[group], theirs[group].ds
        assert set(a.data_vars) == set(b.data_vars), group
        for v in b.data_vars:
            assert a[v].dims == b[v].dims
            extra = a[v].dims[2:]
            cells = [{}] if not extra else [{extra[0]: i} for i in range(a.sizes[extra[0]])]
            for sel in cells:
                x = a[v].isel(sel).values.ravel()
                y = b[v].isel(sel).values.ravel()
                assert stats.ks_2samp(x, y).pvalue > 1e-4, (group, v, sel)


def test_same_seed_same_groups():
    design = _design_with_both_bound_directions()
    priors = priors_mod.load()
    a = fp.prior_groups(design, priors, "full", "centred", 50, seed=3)
    b = fp.prior_groups(design, priors, "full", "centred", 50, seed=3)
    for g in a:
        xr.testing.assert_equal(a[g], b[g])
