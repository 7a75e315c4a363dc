"""The numpy generative core: the model's arithmetic, once, with explicit sample axes.

Checked here against formulas written out by hand; ``tests/inference/test_fast_predictive.py`` checks its
log density against PyMC's model, and ``tests/inference/test_model.py`` the PyMC graph built from it.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats
from scipy.special import expit, logit

from rdshare.core import design as design_mod
from rdshare.core import generative as gen
from rdshare.core import priors as priors_mod
from rdshare.core import simulate
from rdshare.core.design import Covariates

from ..helpers import PARAMS, expected_mean, one_of_each_kind

SD = {"lab": 0.3, "third_party": 0.6, "derived": 0.7}


@pytest.fixture(scope="module")
def setup():
    table = one_of_each_kind()
    design = design_mod.build(table)
    return table, design


def test_mean_is_the_hand_formula(setup):
    table, design = setup
    np.testing.assert_allclose(gen.mean(design, PARAMS, "full"), expected_mean(table), rtol=1e-12)


def test_covariance_is_the_hand_formula(setup):
    """Spot checks of C: shared lab, programme and estimator; a contrast against a fitted row."""
    _table, design = setup
    C = gen.covariance(design, PARAMS, "full")
    ids = list(design.row_ids)
    i = {r: ids.index(r) for r in ids}
    lab, prog, est = PARAMS["sigma_lab"] ** 2, PARAMS["sigma_programme"] ** 2, 0.2**2
    # pt and pair: same lab, programme a1 and estimator e1
    assert C[i["pt"], i["pair"]] == pytest.approx(lab + prog + est)
    # pt and pti: different labs and programmes, one estimator (e1)
    assert C[i["pt"], i["pti"]] == pytest.approx(est)
    # pti and lb: same lab (B), own programmes and estimators
    assert C[i["pti"], i["lb"]] == pytest.approx(lab)
    # a row's variance: effects + its own stated sd and its provenance's measurement error
    s_pti = (logit(0.75) - logit(0.4)) / (2 * stats.norm.ppf(0.95))
    assert C[i["pti"], i["pti"]] == pytest.approx(
        lab + prog + est + s_pti**2 + SD["third_party"] ** 2
    )
    # contrast ct (lab C) against pti (lab B): +C -B effects, and -1 on pti's own noise
    assert C[i["ct"], i["pti"]] == pytest.approx(-lab - prog - (s_pti**2 + SD["third_party"] ** 2))
    assert C[i["ct"], i["ct"]] == pytest.approx(
        2 * lab + 2 * prog + SD["third_party"] ** 2 + s_pti**2 + SD["third_party"] ** 2
    )
    # ct and iv share lab C (the contrast's own side)
    assert C[i["ct"], i["iv"]] == pytest.approx(lab)
    # discount rows: their own programme effects and noise only
    s_di = (math.log(0.9) - math.log(0.5)) / (2 * stats.norm.ppf(0.9))
    assert C[i["di"], i["di"]] == pytest.approx(prog + s_di**2 + SD["third_party"] ** 2)
    assert C[i["di"], i["db"]] == pytest.approx(0.0)
    assert C[i["di"], i["pt"]] == pytest.approx(0.0)
    np.testing.assert_allclose(C, C.T)
    assert np.linalg.eigvalsh(C).min() > 0


def test_sample_axes_broadcast_like_one_draw_at_a_time(setup):
    _, design = setup
    rng = np.random.default_rng(0)
    shape = (3, 4)
    many = {k: v * np.exp(0.01 * rng.standard_normal(shape)) for k, v in PARAMS.items()}
    m, C = gen.mean(design, many, "full"), gen.covariance(design, many, "full")
    assert m.shape == (*shape, design.n_rows)
    assert C.shape == (*shape, design.n_rows, design.n_rows)
    for i, j in ((0, 0), (2, 3)):
        one = {k: v[i, j] for k, v in many.items()}
        np.testing.assert_allclose(m[i, j], gen.mean(design, one, "full"), rtol=1e-14)
        np.testing.assert_allclose(C[i, j], gen.covariance(design, one, "full"), rtol=1e-14)


def test_variants_drop_their_terms(setup):
    _, design = setup
    full = gen.mean(design, PARAMS, "full")
    no_d = gen.mean(design, PARAMS, "no_discount")
    np.testing.assert_allclose(full - no_d, math.log(0.7) * design.X[:, 4])
    pooled = gen.mean(design, PARAMS, "pooled")
    # no covariates: only the intercept (its difference cancels in the contrast) and the offsets
    assert pooled[design.row_ids.index("pt")] == pytest.approx(logit(0.8) + 0.2)
    C = gen.covariance(design, PARAMS, "pooled")
    pt, pair = design.row_ids.index("pt"), design.row_ids.index("pair")
    assert C[pt, pair] == 0.0


def test_log_joint_is_scipys_multivariate_normal(setup):
    _, design = setup
    xb = design.b + 0.3 * design.bound_dir
    vals = gen.latent(design, xb)
    want = stats.multivariate_normal(
        gen.mean(design, PARAMS, "full"), gen.covariance(design, PARAMS, "full")
    ).logpdf(vals)
    assert gen.log_joint(design, PARAMS, "full", xb) == pytest.approx(want, rel=1e-12)


def test_pointwise_terms_are_conditionals_given_every_other_row(setup):
    """Each Gaussian row's term is its density given all others (checked by partitioning C)."""
    _, design = setup
    xb = design.b + 0.3 * design.bound_dir
    vals = gen.latent(design, xb)
    m, C = gen.mean(design, PARAMS, "full"), gen.covariance(design, PARAMS, "full")
    ll = gen.log_likelihood(design, PARAMS, "full", xb)
    for k, i in enumerate(design.gauss_idx):
        rest = [j for j in range(design.n_rows) if j != i]
        w = np.linalg.solve(C[np.ix_(rest, rest)], C[rest, i])
        mu = m[i] + w @ (vals[rest] - m[rest])
        var = C[i, i] - C[i, rest] @ w
        assert ll["y_obs"][k] == pytest.approx(stats.norm.logpdf(vals[i], mu, math.sqrt(var)))
    for k, i in enumerate(design.bound_idx):
        rest = [j for j in range(design.n_rows) if j != i]
        w = np.linalg.solve(C[np.ix_(rest, rest)], C[rest, i])
        mu = m[i] + w @ (vals[rest] - m[rest])
        sd = math.sqrt(C[i, i] - C[i, rest] @ w)
        side = stats.norm.logsf if design.bound_dir[k] > 0 else stats.norm.logcdf
        assert ll["bound_obs"][k] == pytest.approx(side(design.b[k], mu, sd))
    assert ll["by_lab"].shape == (design.n_labs,)


def test_loo_draws_come_from_each_rows_conditional_given_the_others(setup):
    """The leave-one-out predictive draws (for LOO-PIT) have the conditional's mean and sd, per row."""
    _, design = setup
    xb = design.b + 0.3 * design.bound_dir
    vals = gen.latent(design, xb)
    m, C = gen.mean(design, PARAMS, "full"), gen.covariance(design, PARAMS, "full")
    cm, cs = gen.conditionals(vals, m, C)
    n = 40_000
    params = {k: np.full(n, v) for k, v in PARAMS.items()}
    draws = gen.loo_draws(design, params, "full", np.tile(xb, (n, 1)), np.random.default_rng(3))
    assert draws.shape == (n, design.gauss_idx.size)
    g = design.gauss_idx
    np.testing.assert_allclose(draws.mean(axis=0), cm[g], atol=4 * cs[g].max() / math.sqrt(n))
    np.testing.assert_allclose(draws.std(axis=0), cs[g], rtol=0.02)


def test_effects_given_data_match_the_gaussian_conditional(setup):
    """Many draws of the lab effects given the data have the conditional mean and variance."""
    _, design = setup
    xb = design.b + 0.3 * design.bound_dir
    rng = np.random.default_rng(1)
    many = {k: np.full(20_000, v) for k, v in PARAMS.items()}
    eff = gen.effects_given_data(design, many, "full", np.broadcast_to(xb, (20_000, xb.size)), rng)
    # the exact conditional of u_lab[A]: joint Gaussian of (u, v) with cov(u, v) = sigma_lab^2 Z_lab'
    m, C = gen.mean(design, PARAMS, "full"), gen.covariance(design, PARAMS, "full")
    vals = gen.latent(design, xb)
    c = PARAMS["sigma_lab"] ** 2 * design.Z_lab[:, 0]
    mu = c @ np.linalg.solve(C, vals - m)
    var = PARAMS["sigma_lab"] ** 2 - c @ np.linalg.solve(C, c)
    assert eff["u_lab"][:, 0].mean() == pytest.approx(mu, abs=0.01)
    assert eff["u_lab"][:, 0].var() == pytest.approx(var, rel=0.05)


def test_new_lab_is_the_fixed_effects_plus_fresh_lab_and_programme_effects():
    p = {k: np.full(5, v) for k, v in PARAMS.items()}
    z, w = np.linspace(-1, 1, 5), np.linspace(1, -1, 5)
    x = Covariates.one(position="follower", scope="pretraining", year=2022, unit="dollars")
    got = gen.new_lab(p, x, z, w, "full")
    want = expit(
        logit(0.8)
        + PARAMS["beta_pretraining"]
        + PARAMS["beta_era"] * (2022 - 2025)
        + PARAMS["sigma_lab"] * z
        + PARAMS["sigma_programme"] * w
        + np.log(1 - PARAMS["discount"])
        + PARAMS["offset_dollars"]
    )
    np.testing.assert_allclose(got, want, rtol=1e-12)
    frontier = gen.new_lab(p, gen.frontier(), np.zeros(5), np.zeros(5), "full")
    np.testing.assert_allclose(frontier, 0.8)
    assert gen.f_in_unit(PARAMS, "gpu_hours") == pytest.approx(expit(logit(0.8) + 0.2))
    assert gen.f_follower(PARAMS) == pytest.approx(expit(logit(0.8) + math.log(0.7)))


def test_prior_draws_and_simulations_are_seeded(setup):
    _, design = setup
    priors = priors_mod.load()
    a = gen.draw_prior(priors, "full", 7, np.random.default_rng(3))
    b = gen.draw_prior(priors, "full", 7, np.random.default_rng(3))
    assert a.keys() == b.keys()
    for k in a:
        np.testing.assert_array_equal(a[k], b[k])
    one = simulate.draw_prior(priors, np.random.default_rng(4))
    s1 = gen.simulate(design, one, np.random.default_rng(5))
    s2 = gen.simulate(design, one, np.random.default_rng(5))
    np.testing.assert_array_equal(s1.y, s2.y)
    np.testing.assert_array_equal(s1.bound_dir, s2.bound_dir)
    assert s1.y.shape == design.y.shape


def test_simulated_rows_have_the_model_covariance(setup):
    """Many simulations from fixed parameters: the sample covariance of the latent vector is C."""
    _, design = setup
    rng = np.random.default_rng(7)
    p = {k: np.full(40_000, v) for k, v in PARAMS.items()}
    effects = gen.draw_effects_prior(design, p, "full", rng)
    vals = gen.replicate(design, p, "full", effects, rng)
    C = gen.covariance(design, PARAMS, "full")
    np.testing.assert_allclose(np.cov(vals.T), C, atol=0.03)
    np.testing.assert_allclose(vals.mean(axis=0), gen.mean(design, PARAMS, "full"), atol=0.03)
