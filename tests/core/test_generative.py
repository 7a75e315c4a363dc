"""The numpy generative core: the model's arithmetic, once, with explicit sample axes.

Checked here against formulas written out by hand; ``tests/inference/test_fast_predictive.py`` checks its
log-likelihood against PyMC's, and ``tests/inference/test_model.py`` the PyMC graph built from it.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats
from scipy.special import expit, logit

from rdshare.core import design as design_mod
from rdshare.core import generative as gen
from rdshare.core import priors as priors_mod
from rdshare.core import simulate
from rdshare.core.design import Covariates

from ..helpers import PARAMS, U_LAB, expected_mu, one_of_each_kind


@pytest.fixture(scope="module")
def setup():
    table = one_of_each_kind()
    design = design_mod.build(table)
    p = simulate.derived(dict(PARAMS, z_lab=U_LAB / PARAMS["sigma_lab"]))
    return table, design, p


def test_row_location_is_the_hand_formula(setup):
    table, design, p = setup
    mu, sd = gen.row_location(design, gen.eta_rows(design, p, "full"), p)
    np.testing.assert_allclose(mu, expected_mu(table), rtol=1e-12)
    want_sd = [PARAMS[f"sigma_meas_{prov}"] for prov in table["provenance"]]
    np.testing.assert_allclose(sd, want_sd)


def test_sample_axes_broadcast_like_one_draw_at_a_time(setup):
    _, design, p = setup
    rng = np.random.default_rng(0)
    shape = (3, 4)
    many = {
        k: np.asarray(v) + 0.01 * rng.standard_normal(shape + np.shape(v)) for k, v in p.items()
    }
    for k in ("f_frontier", "discount"):
        many[k] = np.clip(many[k], 0.01, 0.99)
    eta = gen.eta_rows(design, many, "full")
    assert eta.shape == (*shape, design.n_rows)
    for i, j in ((0, 0), (2, 3)):
        one = {k: v[i, j] for k, v in many.items()}
        np.testing.assert_allclose(eta[i, j], gen.eta_rows(design, one, "full"), rtol=1e-14)


def test_variants_drop_their_terms(setup):
    _, design, p = setup
    full = gen.eta_rows(design, p, "full")
    no_d = gen.eta_rows(design, p, "no_discount")
    np.testing.assert_allclose(full - no_d, np.log(1 - PARAMS["discount"]) * design.follower)
    pooled = gen.eta_rows(design, p, "pooled")
    np.testing.assert_allclose(pooled, np.full(design.n_rows, logit(PARAMS["f_frontier"])))


def test_log_likelihood_is_scipy(setup):
    _, design, p = setup
    mu, sd = gen.row_location(design, gen.eta_rows(design, p, "full"), p)
    ll = gen.log_likelihood(design, p, "full")
    g, b = design.gauss_idx, design.bound_idx
    want = stats.norm.logpdf(design.y, mu[g], np.sqrt(design.s**2 + sd[g] ** 2))
    np.testing.assert_allclose(ll["y_obs"], want, rtol=1e-12)
    np.testing.assert_allclose(ll["bound_obs"], stats.norm.logsf(design.b, mu[b], sd[b]))


def test_new_lab_is_the_fixed_effects_plus_a_fresh_lab_effect():
    p = {k: np.full(5, v) for k, v in PARAMS.items()}
    z = np.linspace(-1, 1, 5)
    x = Covariates.one(position="follower", scope="pretraining", year=2022)
    got = gen.new_lab(p, x, z, "full", offset=True)
    want = expit(
        logit(0.8)
        + PARAMS["beta_pretraining"]
        + PARAMS["beta_era"] * (2022 - 2025)
        + PARAMS["sigma_lab"] * z
        + np.log(1 - PARAMS["discount"])
        + PARAMS["unit_offset"]
    )
    np.testing.assert_allclose(got, want, rtol=1e-12)
    frontier = gen.new_lab(p, gen.frontier(), np.zeros(5), "full")
    np.testing.assert_allclose(frontier, 0.8)


def test_prior_draws_and_simulations_are_seeded(setup):
    _, design, _ = setup
    priors = priors_mod.load()
    a = gen.draw_prior(priors, "full", design.n_labs, 7, np.random.default_rng(3))
    b = gen.draw_prior(priors, "full", design.n_labs, 7, np.random.default_rng(3))
    assert a.keys() == b.keys()
    for k in a:
        np.testing.assert_array_equal(a[k], b[k])
    assert a["u_lab"].shape == (7, design.n_labs)
    one = simulate.draw_prior(priors, design.n_labs, np.random.default_rng(4))
    s1 = gen.simulate(design, one, np.random.default_rng(5))
    s2 = gen.simulate(design, one, np.random.default_rng(5))
    np.testing.assert_array_equal(s1.y, s2.y)
    assert s1.y.shape == design.y.shape


def test_observation_draws_have_the_sample_shape(setup):
    _, design, p = setup
    many = {k: np.broadcast_to(v, (6, *np.shape(v))) for k, v in p.items()}
    obs = gen.draw_observations(design, many, "full", np.random.default_rng(1))
    assert obs["y_obs"].shape == (6, design.gauss_idx.size)
    assert obs["bound_obs"].shape == (6, design.bound_idx.size)
    assert (obs["bound_obs"] <= design.bound_upper).all()
