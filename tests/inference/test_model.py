"""The PyMC model's likelihood, checked kind by kind against a direct scipy computation."""

from __future__ import annotations

import numpy as np
import pymc as pm
import pytest
from scipy import stats
from scipy.special import expit, logit

from rdshare.core import design as design_mod
from rdshare.core import generative as gen
from rdshare.core import priors as priors_mod
from rdshare.core import simulate
from rdshare.core.quantities import VARIANTS
from rdshare.inference import model as model_mod

from ..helpers import PARAMS, U_LAB, expected_mu, one_of_each_kind


def model_logp(design, table=None):
    priors = priors_mod.load()
    m = model_mod.build(design, priors)
    fixed = {m[k]: v for k, v in PARAMS.items()}
    fixed[m["u_lab"]] = U_LAB[: design.n_labs]
    m2 = pm.do(m, fixed)
    fn = m2.compile_fn(
        m2.logp(vars=m2.observed_RVs, sum=False), inputs=[], on_unused_input="ignore"
    )
    values = fn({})
    return {rv.name: v for rv, v in zip(m2.observed_RVs, values, strict=True)}


@pytest.fixture(scope="module")
def kinds():
    table = one_of_each_kind()
    design = design_mod.build(table)
    return table, design, model_logp(design)


def test_point_share(kinds):
    table, _design, lp = kinds
    mu = expected_mu(table)[0]
    want = stats.norm(mu, PARAMS["sigma_meas_lab"]).logpdf(logit(0.85))
    assert lp["y_obs"][0] == pytest.approx(want, rel=1e-10)


def test_point_with_interval(kinds):
    table, _design, lp = kinds
    mu = expected_mu(table)[1]
    s = (logit(0.75) - logit(0.4)) / (2 * stats.norm.ppf(0.95))
    sd = np.hypot(s, PARAMS["sigma_meas_third_party"])
    assert lp["y_obs"][1] == pytest.approx(stats.norm(mu, sd).logpdf(logit(0.6)), rel=1e-10)


def test_interval_only(kinds):
    table, _design, lp = kinds
    mu = expected_mu(table)[2]
    centre = (logit(0.9) + logit(0.98)) / 2
    s = (logit(0.98) - logit(0.9)) / (2 * stats.norm.ppf(0.9))
    sd = np.hypot(s, PARAMS["sigma_meas_third_party"])
    assert lp["y_obs"][2] == pytest.approx(stats.norm(mu, sd).logpdf(centre), rel=1e-10)


def test_pair_of_amounts(kinds):
    table, _design, lp = kinds
    mu = expected_mu(table)[3]
    f = 1 - 40 / 100
    s = np.sqrt(2) * 0.2 / f  # delta method: d logit(f) / d log(total/final) = 1/f
    sd = np.hypot(s, PARAMS["sigma_meas_lab"])
    assert lp["y_obs"][3] == pytest.approx(stats.norm(mu, sd).logpdf(logit(f)), rel=1e-10)


def test_pair_delta_method_matches_monte_carlo():
    """The pair's log-odds sd from the delta method agrees with simulating lognormal amount errors."""
    rng = np.random.default_rng(0)
    final, total, sd = 40.0, 100.0, 0.05
    fin = final * np.exp(sd * rng.standard_normal(200_000))
    tot = total * np.exp(sd * rng.standard_normal(200_000))
    mc = np.std(logit(1 - fin / tot))
    assert mc == pytest.approx(np.sqrt(2) * sd / (1 - final / total), rel=0.03)


def test_lower_bound_is_censored(kinds):
    table, _design, lp = kinds
    mu = expected_mu(table)[4]
    want = stats.norm(mu, PARAMS["sigma_meas_derived"]).logsf(logit(0.3))
    # PyMC's normal log-CDF uses its own erfc approximation: agreement to 1e-6 relative.
    assert lp["bound_obs"][0] == pytest.approx(want, rel=1e-6)


def test_bound_below_direction():
    """The simulator's complementary fact 'x < b' enters as the log CDF."""
    table = one_of_each_kind()
    design = design_mod.build(table).with_observations(design_mod.build(table).y, np.array([False]))
    lp = model_logp(design)
    mu = expected_mu(table)[4]
    want = stats.norm(mu, PARAMS["sigma_meas_derived"]).logcdf(logit(0.3))
    assert lp["bound_obs"][0] == pytest.approx(want, rel=1e-6)


def test_numpy_generative_core_agrees_with_the_hand_formula(kinds):
    """core.generative's linear predictor (used by SBC, the predictive groups and predict) gives the
    hand-written expected location, row by row."""
    table, design, _ = kinds
    p = simulate.derived(dict(PARAMS, z_lab=U_LAB / PARAMS["sigma_lab"]))
    mu, _sd = gen.row_location(design, gen.eta_rows(design, p, "full"), p)
    np.testing.assert_allclose(mu, expected_mu(table), rtol=1e-12)
    assert p["f_follower"] == pytest.approx(expit(logit(0.8) + np.log(0.7)))


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_variants_build_with_their_parameters(kinds, variant):
    _, design, _ = kinds
    m = model_mod.build(design, priors_mod.load(), variant)
    free = {rv.name for rv in m.free_RVs}
    for name in model_mod.VARIANT_PARAMETERS[variant]:
        assert name in free
    assert ("discount" in free) == (variant == "full")
    assert ("u_lab" in free) == (variant != "pooled")


def test_noncentred_parametrisation_is_the_same_model(kinds):
    _table, design, _ = kinds
    m = model_mod.build(design, priors_mod.load(), lab_effects="noncentred")
    assert "z_lab" in {rv.name for rv in m.free_RVs}
    assert "u_lab" in {d.name for d in m.deterministics}


def test_no_prior_is_hard_coded(kinds):
    """Changing a prior file changes the model: every parameter's distribution follows the file."""
    _, design, _ = kinds
    base = priors_mod.load()
    swapped = priors_mod.parse(
        {
            "priors": {
                **{
                    p.name: {"dist": p.dist, **p.params, "rationale": "r", "source": "s"}
                    for p in base
                },
                "f_frontier": {
                    "dist": "uniform",
                    "lower": 0.1,
                    "upper": 0.9,
                    "rationale": "r",
                    "source": "s",
                },
            }
        }
    )
    m = model_mod.build(design, swapped)
    pt = {"f_frontier_interval__": 0.0}
    full = m.compile_logp(vars=[m["f_frontier"]])({**m.initial_point(), **pt})
    # Uniform(0.1, 0.9) at its midpoint with the interval transform's Jacobian: log(1/0.8) + log(0.8/4)
    assert full == pytest.approx(np.log(1 / 0.8) + np.log(0.8 / 4), rel=1e-9)


# --- the families table's PyMC side ------------------------------------------------------------


def test_every_family_pymc_log_density_matches_scipy():
    """Each family's PyMC class and keyword mapping give scipy's log density at several points."""
    from rdshare.core.families import FAMILIES

    from ..core.test_families import EXAMPLES

    for name, family in FAMILIES.items():
        params = EXAMPLES[name]
        d = family.scipy(params)
        xs = d.ppf([0.02, 0.2, 0.5, 0.8, 0.98])
        rv = getattr(pm, family.pymc).dist(**family.pymc_kwargs(params))
        ours = pm.logp(rv, xs).eval()
        np.testing.assert_allclose(ours, d.logpdf(xs), rtol=1e-8, err_msg=name)


def test_pymc_graph_is_the_generative_core(kinds):
    """The PyMC model's f_row at fixed parameters is the numpy core's, row by row."""
    _table, design, _ = kinds
    m = model_mod.build(design, priors_mod.load())
    fixed = {m[k]: v for k, v in PARAMS.items()}
    fixed[m["u_lab"]] = U_LAB[: design.n_labs]
    m2 = pm.do(m, fixed)
    f_row = m2.compile_fn(m2["f_row"], inputs=[], on_unused_input="ignore")({})
    p = simulate.derived(dict(PARAMS, z_lab=U_LAB / PARAMS["sigma_lab"]))
    np.testing.assert_allclose(f_row, expit(gen.eta_rows(design, p, "full")), rtol=1e-12)
