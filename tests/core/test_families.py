"""The distribution-families table: every family is complete, consistent with scipy and its support.

The PyMC side of the same table (each family's PyMC log density against scipy's) is checked in
``tests/inference/test_model.py::test_every_family_pymc_log_density_matches_scipy``.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from rdshare.core import families
from rdshare.core.families import FAMILIES, fits_support, uniform_from_interval

#: One valid parameter set per family (the PyMC test uses the same).
EXAMPLES = {
    "normal": {"mu": 0.3, "sigma": 1.7},
    "student_t": {"nu": 4.0, "mu": -0.2, "sigma": 0.8},
    "lognormal": {"mu": -0.5, "sigma": 0.6},
    "halfnormal": {"sigma": 0.9},
    "exponential": {"lam": 2.5},
    "gamma": {"alpha": 3.0, "beta": 4.0},
    "beta": {"alpha": 2.0, "beta": 5.0},
    "uniform": {"lower": -1.0, "upper": 2.0},
    "reflected_lognormal": {"mu": -0.36, "sigma": 0.31},
}


def test_every_family_has_an_example():
    assert set(EXAMPLES) == set(FAMILIES)


@pytest.mark.parametrize("name", list(FAMILIES))
def test_family_is_complete_and_draws_inside_its_support(name):
    f = FAMILIES[name]
    params = EXAMPLES[name]
    assert f.params == tuple(params)
    assert f.support in ("real", "positive", "unit", "bounded", "below_one")
    assert f.pymc[:1].isupper()  # a PyMC class name
    assert set(f.pymc_kwargs(params)) == set(params)
    assert f.problems(params) == []
    x = f.scipy(params).rvs(size=500, random_state=np.random.default_rng(1))
    if f.support == "positive":
        assert (x > 0).all()
    if f.support == "unit":
        assert ((x > 0) & (x < 1)).all()
    if f.support == "bounded":
        assert ((x >= params["lower"]) & (x <= params["upper"])).all()
    if f.support == "below_one":
        assert (x < 1).all()
        assert (x < 0).any()  # a reflected family reaches below zero
    assert np.isfinite(f.scipy(params).logpdf(x)).all()


@pytest.mark.parametrize("name", [n for n in FAMILIES if n != "uniform"])
def test_elicitation_puts_the_mass_inside(name):
    low, high = (0.0, 2.0) if FAMILIES[name].one_sided else (0.2, 0.7)
    p = FAMILIES[name].elicit(low, high, 0.8)
    d = FAMILIES[name].scipy(p)
    assert d.cdf(high) - d.cdf(low) == pytest.approx(0.8, abs=1e-6)


def test_uniform_is_given_directly_or_from_a_90_percent_interval():
    with pytest.raises(ValueError, match="directly"):
        FAMILIES["uniform"].elicit(0.0, 1.0)
    p = uniform_from_interval(0.0, 9.0)
    d = FAMILIES["uniform"].scipy(p)
    assert d.ppf(0.05) == pytest.approx(0.0, abs=1e-12)
    assert d.ppf(0.95) == pytest.approx(9.0)


@pytest.mark.parametrize(
    ("params", "problem"),
    [
        ({"mu": 0.0, "sigma": -1.0}, "sigma"),
        ({"mu": math.nan, "sigma": 1.0}, "mu"),
    ],
)
def test_impossible_parameters_are_named(params, problem):
    assert [k for k, _ in FAMILIES["normal"].problems(params)] == [problem]


def test_reflected_lognormal_is_one_minus_a_lognormal():
    f = FAMILIES["reflected_lognormal"]
    d = f.scipy(EXAMPLES["reflected_lognormal"])
    base = FAMILIES["lognormal"].scipy(EXAMPLES["reflected_lognormal"])
    x = np.array([-0.5, 0.0, 0.3, 0.9])
    np.testing.assert_allclose(d.cdf(x), base.sf(1 - x))
    np.testing.assert_allclose(d.logpdf(x), base.logpdf(1 - x))
    np.testing.assert_allclose(d.ppf([0.05, 0.95]), 1 - base.ppf([0.95, 0.05]))
    assert d.mean() == pytest.approx(1 - base.mean())
    p = f.elicit(-0.15, 0.58)
    assert f.scipy(p).cdf(0.58) - f.scipy(p).cdf(-0.15) == pytest.approx(0.9)
    with pytest.raises(ValueError, match="below 1"):
        f.elicit(0.2, 1.2)


def test_support_rules():
    assert fits_support("beta", EXAMPLES["beta"], "unit")
    assert fits_support("beta", EXAMPLES["beta"], "below_one")
    assert fits_support("reflected_lognormal", EXAMPLES["reflected_lognormal"], "below_one")
    assert not fits_support("reflected_lognormal", EXAMPLES["reflected_lognormal"], "unit")
    assert not fits_support("normal", EXAMPLES["normal"], "below_one")
    assert fits_support("gamma", EXAMPLES["gamma"], "real")
    assert not fits_support("normal", EXAMPLES["normal"], "positive")
    assert fits_support("uniform", {"lower": 0.1, "upper": 0.9}, "unit")
    assert not fits_support("uniform", {"lower": -0.1, "upper": 0.9}, "positive")


def test_unknown_family_is_a_key_error():
    with pytest.raises(KeyError):
        families.get("Normal")
