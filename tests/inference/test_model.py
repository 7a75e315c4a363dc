"""The PyMC model: its evidence term against a direct scipy computation, kind by kind, and its structure.

The model integrates the grouped effects out and samples the bound rows' latent values; its evidence term
at fixed parameters and latents must be the multivariate normal density of the rows' latent values
(computed here with scipy from the hand-written mean) plus the latents' log-Jacobian.
"""

from __future__ import annotations

import math

import numpy as np
import pymc as pm
import pytest
from scipy import stats
from scipy.special import expit, logit

from rdshare.core import design as design_mod
from rdshare.core import generative as gen
from rdshare.core import priors as priors_mod
from rdshare.core.quantities import OFFSETS, VARIANTS
from rdshare.inference import model as model_mod

from ..helpers import PARAMS, expected_mean, one_of_each_kind


def evidence_term(design, params=PARAMS, x_bound=None, variant="full"):
    """The model's ``evidence`` potential with the parameters and bound latents fixed."""
    m = model_mod.build(design, priors_mod.load(), variant)
    fixed = {m[k]: v for k, v in params.items() if k in m.named_vars}
    if design.bound_idx.size:
        z = np.log(design.bound_dir * (np.asarray(x_bound) - design.b))
        fixed[m[model_mod.BOUND_Z]] = z
    m2 = pm.do(m, fixed)
    return float(m2.compile_fn(m2["evidence"], inputs=[], on_unused_input="ignore")({}))


@pytest.fixture(scope="module")
def kinds():
    table = one_of_each_kind()
    design = design_mod.build(table)
    x_bound = design.b + 0.4 * design.bound_dir  # on the bound's side
    return table, design, x_bound


def test_evidence_is_the_multivariate_normal_of_every_kind(kinds):
    """One row of each kind: the model's term is scipy's MVN at the hand-written mean and the
    design's covariance, plus the log-Jacobian of the latents (x = b + direction exp(z))."""
    table, design, x_bound = kinds
    vals = gen.latent(design, x_bound)
    C = gen.covariance(design, PARAMS, "full")
    want = stats.multivariate_normal(expected_mean(table), C).logpdf(vals)
    want += np.sum(np.log(design.bound_dir * (x_bound - design.b)))
    assert evidence_term(design, x_bound=x_bound) == pytest.approx(want, rel=1e-10)


def test_each_kind_enters_on_its_latent_scale(kinds):
    """The observations are the kinds' latent values: logit shares, the log ratio, log(1 - d)."""
    _table, design, _ = kinds
    obs = dict(zip(design.gauss_ids, design.y, strict=True))
    assert obs["pt"] == pytest.approx(logit(0.85))
    assert obs["pti"] == pytest.approx(logit(0.6))
    assert obs["iv"] == pytest.approx((logit(0.9) + logit(0.98)) / 2)
    assert obs["pair"] == pytest.approx(logit(0.6))
    assert obs["ct"] == pytest.approx(math.log(0.5))
    assert obs["di"] == pytest.approx((math.log(0.9) + math.log(0.5)) / 2)
    bounds = dict(zip(design.bound_ids, zip(design.b, design.bound_dir, strict=True), strict=True))
    assert bounds["lb"] == (pytest.approx(logit(0.3)), 1)  # f >= 0.3
    centre = (math.log(1 - 0.2) + math.log(1 - 0.02)) / 2
    assert bounds["db"] == (pytest.approx(centre), -1)  # d >= bound: log(1 - d) at most its log


def test_pair_delta_method_matches_monte_carlo():
    """The pair's log-odds sd from the delta method agrees with simulating lognormal amount errors."""
    rng = np.random.default_rng(0)
    final, total, sd = 40.0, 100.0, 0.05
    fin = final * np.exp(sd * rng.standard_normal(200_000))
    tot = total * np.exp(sd * rng.standard_normal(200_000))
    mc = np.std(logit(1 - fin / tot))
    assert mc == pytest.approx(np.sqrt(2) * sd / (1 - final / total), rel=0.03)


def test_bound_integrates_to_the_censored_probability():
    """Augmentation is exact: integrating the latent over its side gives P(on that side), the
    censored likelihood (one bound row alone, by quadrature over z)."""
    table = one_of_each_kind().iloc[[4]]  # the f lower bound, alone
    design = design_mod.build(table)
    C = gen.covariance(design, PARAMS, "full")[0, 0]
    mu = gen.mean(design, PARAMS, "full")[0]
    zs = np.linspace(-12, 5, 4001)
    terms = [
        evidence_term(design, x_bound=np.array([design.b[0] + math.exp(z)])) for z in zs[::200]
    ]
    # the potential is log N(b + e^z) + z: its integral over z is P(x >= b)
    dens = np.exp([stats.norm.logpdf(design.b[0] + math.exp(z), mu, math.sqrt(C)) + z for z in zs])
    assert np.trapezoid(dens, zs) == pytest.approx(
        stats.norm.sf(design.b[0], mu, math.sqrt(C)), rel=1e-4
    )
    want = [stats.norm.logpdf(design.b[0] + math.exp(z), mu, math.sqrt(C)) + z for z in zs[::200]]
    np.testing.assert_allclose(terms, want, rtol=1e-10)


def test_deterministics_are_the_generative_cores(kinds):
    _table, design, x_bound = kinds
    m = model_mod.build(design, priors_mod.load())
    fixed = {m[k]: v for k, v in PARAMS.items()}
    fixed[m[model_mod.BOUND_Z]] = np.log(design.bound_dir * (x_bound - design.b))
    m2 = pm.do(m, fixed)
    names = ["f_follower", *(f"f_frontier_{u}" for u in OFFSETS), model_mod.BOUND_LATENT]
    got = m2.compile_fn([m2[n] for n in names], inputs=[], on_unused_input="ignore")({})
    assert got[0] == pytest.approx(expit(logit(0.8) + math.log(0.7)))
    for value, unit in zip(got[1:4], OFFSETS, strict=True):
        assert value == pytest.approx(gen.f_in_unit(PARAMS, unit))
    np.testing.assert_allclose(got[4], x_bound)


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_variants_build_with_their_parameters(kinds, variant):
    _, design, _ = kinds
    m = model_mod.build(design, priors_mod.load(), variant)
    free = {rv.name for rv in m.free_RVs}
    assert free == {*VARIANTS[variant].parameters, model_mod.BOUND_Z}
    assert ("discount" in free) == (variant == "full")
    assert ("sigma_lab" in free) == (variant != "pooled")


def test_pooled_variant_has_no_grouped_effects(kinds):
    """The pooled model's evidence is the MVN with the noise covariance alone."""
    _table, design, x_bound = kinds
    params = {k: v for k, v in PARAMS.items() if k in VARIANTS["pooled"].parameters}
    vals = gen.latent(design, x_bound)
    want = stats.multivariate_normal(
        gen.mean(design, params, "pooled"), gen.covariance(design, params, "pooled")
    ).logpdf(vals) + np.sum(np.log(design.bound_dir * (x_bound - design.b)))
    assert evidence_term(design, params, x_bound, "pooled") == pytest.approx(want, rel=1e-10)


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


def test_discount_is_sampled_on_log_one_minus_d(kinds):
    """The reflected family's transform: the sampler's coordinate is log(1 - d), unbounded."""
    _, design, _ = kinds
    m = model_mod.build(design, priors_mod.load())
    value = m.rvs_to_values[m["discount"]]
    assert value.name == "discount_interval__"
    prior = priors_mod.load()["discount"]
    # at coordinate y the discount is 1 - exp(y), and the density on y is normal(mu, sigma)
    y = -0.4
    lp = m.compile_logp(vars=[m["discount"]], jacobian=True)({**m.initial_point(), value.name: y})
    want = stats.norm(prior.params["mu"], prior.params["sigma"]).logpdf(y)
    assert lp == pytest.approx(want, rel=1e-9)


# --- the families table's PyMC side ------------------------------------------------------------


def test_every_family_pymc_log_density_matches_scipy():
    """Each family's PyMC construction (``prior_rv``) gives scipy's log density at several points."""
    from rdshare.core.families import FAMILIES
    from rdshare.core.priors import Prior

    from ..core.test_families import EXAMPLES

    for name, family in FAMILIES.items():
        params = EXAMPLES[name]
        d = family.scipy(params)
        xs = d.ppf([0.02, 0.2, 0.5, 0.8, 0.98])
        with pm.Model():
            rv = model_mod.prior_rv(Prior("x", name, params, "r", "s"))
        ours = pm.logp(rv, xs).eval()
        np.testing.assert_allclose(ours, d.logpdf(xs), rtol=1e-8, err_msg=name)
