"""Metaculus CDFs through Metaculus' own Python client, forecasting-tools (0.3.5).

A bot posting rdshare's CDF with forecasting-tools declares it as the 201 percentiles of a
``NumericDistribution`` and calls ``get_cdf()``, which re-interpolates it (moving the points next to
a closed bound) and validates the result: strictly increasing, every step at least 5e-5, and, with
its re-standardisation (``standardize_cdf``, the default), no step above 0.2 and values within
the bounds. Both ways accept every CDF rdshare writes, except where forecasting-tools rejects
nearly every CDF: without re-standardisation, on a log-scaled question with a closed upper bound
whose location it rounds below 1 (then it puts the last point a hair above 1; see
test_forecasting_tools_rejects_an_even_cdf_...).
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from pydantic import ValidationError

from rdshare.core.exports import (
    METACULUS_MIN_STEP,
    METACULUS_POINTS,
    metaculus_cdf,
    metaculus_grid,
)

from ..helpers import examples, metaculus_questions

#: What forecasting-tools 0.3.5 says when its rounding puts the last point above 1.
CLIENT_BUG = "Percentile must be between 0 and 1, but was 1.0000000000000"


def _top_rounds_below_one(distribution, standardize: bool) -> bool:
    """forecasting-tools' rounding bug applies: without standardisation, a closed upper bound whose
    location on the question's scale it computes below 1, from which it extrapolates past 1."""
    top = distribution._nominal_location_to_cdf_location(distribution.upper_bound)
    return not standardize and not distribution.open_upper_bound and top < 1.0


def _distribution(numeric_report, cdf, low, high, log_scale, open_lower, open_upper, standardize):
    grid = metaculus_grid(low, high, log_scale)
    declared = [
        numeric_report.Percentile(value=float(x), percentile=float(c))
        for x, c in zip(grid, cdf, strict=True)
    ]
    return numeric_report.NumericDistribution(
        declared_percentiles=declared,
        open_lower_bound=open_lower,
        open_upper_bound=open_upper,
        lower_bound=low,
        upper_bound=high,
        zero_point=0.0 if log_scale else None,  # Metaculus' log scaling: zero point 0
        cdf_size=METACULUS_POINTS,
        standardize_cdf=standardize,
    )


def client_cdf(numeric_report, cdf, low, high, log_scale, open_lower, open_upper, standardize):
    """The CDF forecasting-tools would post for ``cdf``, as (x values, CDF values); raises pydantic's
    ValidationError when it rejects it, or returns None when it rejects it for its rounding bug."""
    args = (low, high, log_scale, open_lower, open_upper, standardize)
    distribution = _distribution(numeric_report, cdf, *args)
    try:
        points = distribution.get_cdf()
    except ValidationError as e:
        if CLIENT_BUG in str(e) and _top_rounds_below_one(distribution, standardize):
            return None
        raise
    return np.array([p.value for p in points]), np.array([p.percentile for p in points])


QUESTIONS = [
    pytest.param(0.0, 1.0, False, id="share"),  # snaps 2 cells at a closed bound
    pytest.param(-50.0, 5000.0, False, id="linear-wide"),
    pytest.param(1e7, 1e11, True, id="log-amount"),
    pytest.param(1.0, 100.0, True, id="log-from-1"),  # snaps 30 cells at a closed lower bound
]
BOUNDS = [
    pytest.param(True, True, id="open"),
    pytest.param(False, False, id="closed"),
    pytest.param(False, True, id="closed-lower"),
    pytest.param(True, False, id="closed-upper"),
]


def _draws(low, high, log_scale, rng, on_bounds):
    """A normal in the middle of the range (on the question's scale), so the CDF rises by the
    minimum step next to the bounds; with ``on_bounds``, a fifth of the mass on each bound too."""
    t0, t1 = (np.log(low), np.log(high)) if log_scale else (low, high)
    t = rng.normal(t0 + 0.45 * (t1 - t0), 0.08 * (t1 - t0), 1000)
    if on_bounds:
        t = np.r_[np.full(400, t0), np.full(400, t1), t]
    return np.exp(t) if log_scale else t


#: Points far from both bounds: forecasting-tools moves none of them (up to 30 cells of "log-from-1").
MIDDLE = slice(40, 161)


@pytest.mark.parametrize(("low", "high"), [(1e7, 1e11), (1.0, 100.0)])
def test_forecasting_tools_rejects_an_even_cdf_of_some_log_questions_with_a_closed_top(
    numeric_report, low, high
):
    """forecasting-tools' own bug, not rdshare's: it puts these upper bounds at location 1 - 3e-16
    and extrapolates the last point past 1, so without re-standardisation it rejects even an evenly
    rising CDF. Standardised (its default), the same CDF is fine."""
    even = np.linspace(0.0, 1.0, METACULUS_POINTS)
    args = (low, high, True, False, False)
    assert _top_rounds_below_one(_distribution(numeric_report, even, *args, False), False)
    with pytest.raises(ValidationError, match=CLIENT_BUG):
        _distribution(numeric_report, even, *args, False).get_cdf()
    assert client_cdf(numeric_report, even, *args, False) is None
    assert client_cdf(numeric_report, even, *args, True) is not None


@pytest.mark.parametrize(("open_lower", "open_upper"), BOUNDS)
@pytest.mark.parametrize(("low", "high", "log_scale"), QUESTIONS)
def test_forecasting_tools_accepts_the_cdf_as_it_is(
    numeric_report, low, high, log_scale, open_lower, open_upper
):
    """Without re-standardisation: only its interpolation and checks, and the margins survive."""
    v = _draws(low, high, log_scale, np.random.default_rng(1), on_bounds=False)
    cdf = metaculus_cdf(
        v, low, high, log_scale=log_scale, open_lower=open_lower, open_upper=open_upper
    )
    result = client_cdf(numeric_report, cdf, low, high, log_scale, open_lower, open_upper, False)
    if result is None:  # its rounding bug (see above): rejected whatever the CDF
        assert log_scale
        assert not open_upper
        return
    x, out = result
    np.testing.assert_allclose(x, metaculus_grid(low, high, log_scale), rtol=1e-9)  # same grid
    # twice the minimum step, even where it spread the step next to a closed bound over many cells
    assert np.diff(out).min() >= 2 * METACULUS_MIN_STEP
    # it only moves points next to a closed bound
    np.testing.assert_allclose(out[MIDDLE], cdf[MIDDLE], rtol=0, atol=1e-12)
    np.testing.assert_allclose(out[[0, -1]], cdf[[0, -1]], rtol=0, atol=1e-12)


@pytest.mark.parametrize(("open_lower", "open_upper"), BOUNDS)
@pytest.mark.parametrize(("low", "high", "log_scale"), QUESTIONS)
def test_forecasting_tools_accepts_the_cdf_standardised(
    numeric_report, low, high, log_scale, open_lower, open_upper
):
    v = _draws(low, high, log_scale, np.random.default_rng(2), on_bounds=True)
    cdf = metaculus_cdf(
        v, low, high, log_scale=log_scale, open_lower=open_lower, open_upper=open_upper
    )
    _, out = client_cdf(numeric_report, cdf, low, high, log_scale, open_lower, open_upper, True)
    assert np.diff(out).min() >= METACULUS_MIN_STEP
    # its standardisation moves the CDF a little: it mixes in 1% of uniform mass, and its cap on
    # the steps (0.19) with these point masses on the bounds shifts the rest by up to 5%
    assert np.abs(out[MIDDLE] - cdf[MIDDLE]).max() < 0.06


@settings(
    max_examples=examples(25),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(metaculus_questions())
def test_forecasting_tools_accepts_the_cdf_of_any_posterior(numeric_report, case):
    v, low, high, log_scale, open_lower, open_upper = case
    cdf = metaculus_cdf(
        v, low, high, log_scale=log_scale, open_lower=open_lower, open_upper=open_upper
    )
    for standardize in (False, True):
        client_cdf(numeric_report, cdf, low, high, log_scale, open_lower, open_upper, standardize)
