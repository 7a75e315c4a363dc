"""Uncertain scenario inputs: numbers and ranges read as 90% intervals."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from rdshare.core.uncertain import Uncertain, beta_from_interval, constant, parse_uncertain
from rdshare.errors import InputError

from ..helpers import examples

N = 200_000


@pytest.fixture
def rng():
    return np.random.default_rng(20260101)


# --- fixed values ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "kind", "expected"),
    [
        (5, "amount", 5.0),
        (2.5e9, "amount", 2.5e9),
        ("1e9", "amount", 1e9),
        (" 2.5e9 ", "amount", 2.5e9),
        ("1_000", "amount", 1000.0),
        (0.2, "share", 0.2),
        (0, "share", 0.0),
        (1, "share", 1.0),
        ("0", "months", 0.0),
        (5, "count", 5.0),
        ("5", "count", 5.0),
        (5.0, "count", 5.0),
    ],
)
def test_fixed_values(value, kind, expected, rng):
    u = parse_uncertain(value, kind)
    assert u.is_fixed
    assert u.fixed == expected
    assert u.dist == "fixed"
    np.testing.assert_array_equal(u.sample(7, rng), np.full(7, expected))
    assert u.describe().startswith("fixed ")


def test_constant_helper():
    assert constant(3.0).fixed == 3.0
    assert constant(0.5, "share").kind == "share"


# --- ranges ------------------------------------------------------------------------------------


@pytest.mark.parametrize("text", ["1e9 to 5e9", "1e9..5e9", "1E9 TO 5E9", "  1e9   to   5e9  "])
def test_amount_range_is_lognormal_with_90pct_inside(text, rng):
    u = parse_uncertain(text, "amount")
    assert u.dist == "lognormal"
    assert (u.low, u.high) == (1e9, 5e9)
    np.testing.assert_allclose(u.quantiles([0.05, 0.95]), [1e9, 5e9], rtol=1e-12)
    x = u.sample(N, rng)
    np.testing.assert_allclose(np.quantile(x, [0.05, 0.95]), [1e9, 5e9], rtol=0.02)
    inside = np.mean((x >= 1e9) & (x <= 5e9))
    assert inside == pytest.approx(0.9, abs=0.005)
    assert u.describe() == "lognormal 90% interval 1e9 to 5e9"


@pytest.mark.parametrize(
    ("low", "high"), [(0.1, 0.3), (0.05, 0.5), (0.6, 0.95), (0.01, 0.99), (0.001, 0.002)]
)
def test_share_range_is_beta_with_90pct_inside(low, high, rng):
    u = parse_uncertain(f"{low} to {high}", "share")
    assert u.dist == "beta"
    np.testing.assert_allclose(u.quantiles([0.05, 0.95]), [low, high], rtol=1e-6)
    x = u.sample(N, rng)
    assert np.all((x > 0) & (x < 1))
    inside = np.mean((x >= low) & (x <= high))
    assert inside == pytest.approx(0.9, abs=0.005)


def test_months_range_from_zero_is_uniform_clipped_at_zero(rng):
    u = parse_uncertain("0 to 6", "months")
    assert u.dist == "uniform"
    a, b = u.params
    assert a == pytest.approx(-6 / 18)
    assert b == pytest.approx(6 + 6 / 18)
    x = u.sample(N, rng)
    assert x.min() == 0.0
    assert np.mean(x == 0) == pytest.approx(0.05, abs=0.003)
    assert np.mean(x > 6) == pytest.approx(0.05, abs=0.003)
    assert np.mean(x <= 6) == pytest.approx(0.95, abs=0.003)
    assert "below 0 set to 0" in u.describe()


def test_months_range_above_zero_puts_90pct_inside(rng):
    u = parse_uncertain("2 to 8", "months")
    x = u.sample(N, rng)
    assert np.mean((x >= 2) & (x <= 8)) == pytest.approx(0.9, abs=0.005)
    np.testing.assert_allclose(u.quantiles([0.05, 0.5, 0.95]), [2, 5, 8])


def test_record_and_describe():
    u = parse_uncertain("2e9 to 6e9", "amount")
    assert u.to_record() == "2e9 to 6e9"
    assert parse_uncertain(5, "count").to_record() == 5.0
    assert "beta 90% interval 0.1 to 0.3" in parse_uncertain("0.1 to 0.3", "share").describe()


def test_uncertain_is_frozen():
    u = parse_uncertain(1, "amount")
    with pytest.raises(AttributeError):
        u.low = 2  # type: ignore[misc]
    assert isinstance(u, Uncertain)


# --- errors ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "kind", "words"),
    [
        ("5 to 1", "amount", "low end must be below the high end"),
        ("3 to 3", "amount", "low end must be below the high end"),
        ("abc to 3", "amount", "'abc' is not a number"),
        ("1 to xyz", "share", "'xyz' is not a number"),
        ("abc", "amount", "'abc' is not a number"),
        ("", "amount", "is empty"),
        ("   ", "amount", "is empty"),
        ("nan", "amount", "not a finite number"),
        ("inf", "amount", "not a finite number"),
        ("1 to inf", "amount", "not a finite number"),
        (float("nan"), "amount", "finite"),
        (math.inf, "months", "finite"),
        (-1, "amount", "must be positive"),
        (0, "amount", "must be positive"),
        ("0 to 5e9", "amount", "must be positive"),
        (1.5, "share", "between 0 and 1"),
        (-0.1, "share", "between 0 and 1"),
        ("0 to 0.5", "share", "strictly between 0 and 1"),
        ("0.5 to 1", "share", "strictly between 0 and 1"),
        (-2, "months", "0 or more"),
        ("-2 to 3", "months", "0 or more"),
        ("2 to 5", "count", "N must be a fixed whole number"),
        (5.5, "count", "N must be a fixed whole number"),
        (0, "count", "N must be a fixed whole number"),
        (True, "amount", "must be a number"),
        (None, "amount", "must be a number"),
        ([1, 2], "amount", "must be a number"),
    ],
)
def test_bad_values_raise_input_error(value, kind, words):
    with pytest.raises(InputError) as err:
        parse_uncertain(value, kind, field="--budget")
    (problem,) = err.value.problems
    assert words in problem.message
    assert problem.file == "<command line>"
    assert problem.field == "--budget"


def test_error_names_file_line_and_key():
    with pytest.raises(InputError) as err:
        parse_uncertain("5 to 1", "amount", source="s.toml", field="budget", line=7)
    p = err.value.problems[0]
    assert (p.file, p.line, p.field) == ("s.toml", 7, "budget")
    assert str(p).startswith("s.toml, line 7, key 'budget': ")


def test_unknown_kind_is_a_programming_error():
    with pytest.raises(ValueError, match="kind"):
        parse_uncertain(1, "dollars")


# --- beta quantile matching --------------------------------------------------------------------


@settings(max_examples=examples(60), deadline=None)
@given(
    st.floats(min_value=1e-4, max_value=0.99, allow_nan=False),
    st.floats(min_value=0.01, max_value=0.99, allow_nan=False),
)
def test_beta_from_interval_matches_any_interval(low, frac):
    high = low + frac * (0.9999 - low)
    if not high > low * (1 + 1e-3):
        return
    a, b = beta_from_interval(low, high)
    np.testing.assert_allclose(stats.beta.ppf([0.05, 0.95], a, b), [low, high], rtol=1e-5)


@pytest.mark.parametrize(("low", "high"), [(0.05, 0.97), (0.001, 0.9999), (0.0001, 0.999999)])
def test_beta_from_very_wide_intervals(low, high):
    a, b = beta_from_interval(low, high)
    assert a < 1 or b < 1
    np.testing.assert_allclose(stats.beta.ppf([0.05, 0.95], a, b), [low, high], rtol=1e-5)


def test_beta_from_interval_rejects_outside_unit_interval():
    with pytest.raises(ValueError, match="0 < low < high < 1"):
        beta_from_interval(0.0, 0.5)
