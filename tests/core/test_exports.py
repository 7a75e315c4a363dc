"""Forecast exports: quantile tables, samples, Squiggle and Metaculus CDFs."""

from __future__ import annotations

import json
import re

import numpy as np
import openpyxl
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings

from rdshare.core.exports import (
    CDF_MAX_STEP,
    CDF_MIN_STEP,
    CDF_OPEN_TAIL,
    FORECAST_COLUMNS,
    METACULUS_MAX_STEP,
    METACULUS_MIN_STEP,
    METACULUS_OPEN_TAIL,
    SQUIGGLE_SAMPLE_COUNT,
    SQUIGGLE_TOLERANCE,
    XLSX_DIGITS,
    fit_errors,
    metaculus_cdf,
    metaculus_grid,
    metaculus_problems,
    quantile_table,
    samples_frame,
    spreadsheet_number,
    squiggle_fit,
    squiggle_name,
    squiggle_text,
    write_forecast_csv,
    write_metaculus_json,
    write_samples_csv,
    write_samples_xlsx,
    write_squiggle,
)
from rdshare.core.savings import Output
from rdshare.core.scenario import evaluate, required_draws, scenario_from_options
from rdshare.errors import InputError

from ..helpers import examples, metaculus_questions

N = 20_000


@pytest.fixture(scope="module")
def outputs():
    r = np.random.default_rng(11)
    f = r.beta(8, 2, N)
    draws = {
        "f_frontier": f,
        "f_frontier_dollars": 1 / (1 + (1 - f) / f * np.exp(-0.25)),
        "f_follower": r.beta(6, 3, N),
        "discount": 1 - np.exp(r.normal(-0.36, 0.3, N)),  # the model's family: some below 0
    }
    s = scenario_from_options(budget="2e9 to 6e9", labs=5, fork_rate=0.2, lead_months="0 to 6")
    # whatever else the scenario reads (spread between labs and programmes, era trend, the dollar
    # offset): fixed, plausible values
    plausible = {"sigma_lab": 0.4, "sigma_programme": 0.2, "beta_era": 0.0, "offset_dollars": 0.25}
    for name in required_draws(s):
        draws.setdefault(name, np.full(N, plausible.get(name, 0.0)))
    return evaluate(s, draws, np.random.default_rng(12))


# --- forecast.csv and samples.csv --------------------------------------------------------------


def test_quantile_table(outputs, tmp_path):
    df = quantile_table(outputs)
    assert list(df.columns) == list(FORECAST_COLUMNS)
    assert list(df.columns) == [
        "name",
        "unit",
        "mean",
        "q01",
        "q05",
        "q10",
        "q25",
        "q50",
        "q75",
        "q90",
        "q95",
        "q99",
    ]
    assert list(df["name"]) == list(outputs)
    row = df.set_index("name").loc["savings"]
    v = outputs["savings"].values
    assert row["unit"] == "USD"
    assert row["mean"] == pytest.approx(v.mean())
    assert row["q05"] == pytest.approx(np.quantile(v, 0.05))
    assert row["q99"] == pytest.approx(np.quantile(v, 0.99))
    assert (np.diff(df[list(FORECAST_COLUMNS[3:])].to_numpy(), axis=1) >= 0).all()

    path = write_forecast_csv(df, tmp_path / "forecast.csv")
    back = pd.read_csv(path)
    assert list(back.columns) == list(FORECAST_COLUMNS)
    np.testing.assert_allclose(back["q50"], df["q50"], rtol=1e-12)


def test_samples_frame_keeps_joint_structure(outputs, tmp_path):
    df = samples_frame(outputs, n=500, rng=3)
    assert df.shape == (500, len(outputs))
    assert list(df.columns) == list(outputs)
    # rows are whole draws: the identity savings = rd_compute * discount_effective holds row-wise
    np.testing.assert_allclose(df["savings"], df["rd_compute"] * df["discount_effective"])
    pd.testing.assert_frame_equal(df, samples_frame(outputs, n=500, rng=3))
    path = write_samples_csv(df, tmp_path / "samples.csv")
    np.testing.assert_allclose(pd.read_csv(path)["savings"], df["savings"], rtol=1e-12)


def _read_xlsx(path) -> tuple[list, list[list]]:
    rows = list(openpyxl.load_workbook(path).active.iter_rows(values_only=True))
    return list(rows[0]), [list(r) for r in rows[1:]]


def test_samples_xlsx_holds_the_frame_as_numbers(outputs, tmp_path):
    df = samples_frame(outputs, n=300, rng=3)
    path = write_samples_xlsx(df, tmp_path / "samples.xlsx")
    header, rows = _read_xlsx(path)
    assert header == list(df.columns)
    assert len(rows) == len(df)
    assert all(isinstance(x, float | int) for row in rows for x in row)  # number cells, no text
    # exactly the draws rounded to 15 significant digits, which is within 5e-15 of them
    expected = df.map(spreadsheet_number)
    pd.testing.assert_frame_equal(
        pd.DataFrame(rows, columns=header, dtype=float), expected, check_exact=True
    )
    np.testing.assert_allclose(expected, df, rtol=0.5 * 10.0 ** (1 - XLSX_DIGITS), atol=0)
    # the same rows as samples.csv
    csv = pd.read_csv(write_samples_csv(df, tmp_path / "samples.csv"))
    pd.testing.assert_frame_equal(csv.map(spreadsheet_number), expected, check_exact=True)


def test_samples_xlsx_is_reproducible(tmp_path):
    df = pd.DataFrame({"a": [0.1, 2.5e9, -3.0], "b": [1e-300, 0.0, 123456789.123456789]})
    first = write_samples_xlsx(df, tmp_path / "one.xlsx").read_bytes()
    second = write_samples_xlsx(df, tmp_path / "two.xlsx").read_bytes()
    assert first == second
    assert write_samples_xlsx(df * 2, tmp_path / "three.xlsx").read_bytes() != first


def test_samples_xlsx_marks_non_finite_values_as_errors(tmp_path):
    df = pd.DataFrame({"a": [1.0, np.nan, np.inf, -np.inf]})
    _, rows = _read_xlsx(write_samples_xlsx(df, tmp_path / "samples.xlsx"))
    assert rows[0] == [1.0]
    assert rows[1][0] == "=#NUM!"  # formulas that Excel and LibreOffice show as errors
    assert rows[2][0] == "=1/0"
    assert rows[3][0] == "=-1/0"


def test_samples_frame_with_fewer_draws_than_asked():
    outs = {"a": Output(np.arange(5.0), "USD"), "b": Output(np.arange(5.0) * 2, "USD")}
    df = samples_frame(outs, n=1000)
    np.testing.assert_array_equal(df["a"], np.arange(5.0))


def test_samples_frame_rejects_ragged_outputs():
    outs = {"a": Output(np.arange(5.0), "USD"), "b": Output(np.arange(4.0), "USD")}
    with pytest.raises(ValueError, match="different numbers of draws"):
        samples_frame(outs)


# --- Squiggle ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("values", "unit", "family"),
    [
        (np.random.default_rng(1).lognormal(21.0, 0.8, N), "USD", "lognormal"),
        (np.random.default_rng(2).beta(8, 2, N), "share", "beta"),
        (np.random.default_rng(3).beta(0.8, 5, N), "share", "beta"),
        (np.random.default_rng(4).normal(0.0, 3.0, N), "USD", "normal"),
    ],
)
def test_squiggle_fit_reproduces_draws_quantiles(values, unit, family):
    fit = squiggle_fit(values, unit)
    assert fit.family == family
    assert fit.error < SQUIGGLE_TOLERANCE
    width = fit.draws_quantiles[2] - fit.draws_quantiles[0]
    for f, d in zip(fit.fit_quantiles, fit.draws_quantiles, strict=True):
        assert abs(f - d) <= SQUIGGLE_TOLERANCE * width


def test_squiggle_fit_reports_bad_fits():
    r = np.random.default_rng(5)
    bimodal = np.concatenate([r.normal(1.0, 0.01, 8000), r.normal(10.0, 0.01, 2000)])
    fit = squiggle_fit(bimodal, "USD")
    assert fit.family == "lognormal"
    assert fit.error > SQUIGGLE_TOLERANCE


def test_squiggle_fit_point_and_zero():
    assert squiggle_fit(np.zeros(100), "USD").expression == "0"
    fit = squiggle_fit(np.full(10, 2.5e9), "USD")
    assert (fit.family, fit.expression, fit.error) == ("point", "2.5e9", 0.0)
    mixed = np.r_[np.zeros(99), 1.0]  # 5% and 95% quantiles coincide
    assert squiggle_fit(mixed, "USD").family == "point"


def test_share_reaching_zero_is_one_minus_a_lognormal_and_beyond_one_normal():
    v = np.r_[np.zeros(10), np.linspace(0.1, 0.5, 90)]
    fit = squiggle_fit(v, "share")
    assert fit.family == "reflected_lognormal"
    assert fit.expression.startswith("1 - lognormal({p5: ")
    d = 1 - np.exp(np.random.default_rng(2).normal(-0.36, 0.3, 20_000))  # a discount, some < 0
    exact = squiggle_fit(d, "share")
    assert exact.family == "reflected_lognormal"
    assert exact.error < 0.01
    assert squiggle_fit(np.linspace(-0.5, 1.5, 100), "share").family == "normal"


def test_fit_errors_of_scenario_outputs(outputs):
    errs = fit_errors(outputs)
    assert set(errs) == set(outputs)
    # draws that are (close to) beta or lognormal fit well
    for name in ("f_frontier", "f_follower", "discount", "rd_compute"):
        assert errs[name] < SQUIGGLE_TOLERANCE, name


_LINE = re.compile(r"^[a-z][A-Za-z0-9_]* = .+$")
_NUM = r"-?\d+(\.\d+)?(e-?\d+)?"


def _looks_like_squiggle(text: str) -> None:
    for line in text.splitlines():
        if not line or line.startswith("//"):
            continue
        assert _LINE.match(line), line
        rhs = line.split(" = ", 1)[1]
        assert rhs.count("(") == rhs.count(")"), line
        assert rhs.count("[") == rhs.count("]"), line
        for bad in ("e+", "nan", "inf"):
            assert bad not in rhs, line
        assert re.fullmatch(
            rf"{_NUM}|(1 - )?lognormal\(\{{p5: {_NUM}, p95: {_NUM}\}}\)|normal\(\{{p5: {_NUM}, p95: "
            rf"{_NUM}\}}\)|beta\({_NUM}, {_NUM}\)|SampleSet\.fromList\(\[{_NUM}(, {_NUM})*\]\)",
            rhs,
        ), line


def test_squiggle_text(outputs, tmp_path):
    text = squiggle_text(outputs, n_samples=50, rng=1, header="run abc\nseed 1, 20000 draws")
    _looks_like_squiggle(text)
    assert "// run abc" in text
    assert re.search(r"^rd_compute = lognormal\(\{p5: \S+, p95: \S+\}\)$", text, re.M)
    assert re.search(r"^f_frontier = beta\(\S+, \S+\)$", text, re.M)
    m = re.search(r"^savings_samples = SampleSet\.fromList\(\[(.*)\]\)$", text, re.M)
    assert m
    assert len(m.group(1).split(", ")) == 50
    assert text.count("fit error") == len(outputs) + 1
    assert text == squiggle_text(
        outputs, n_samples=50, rng=1, header="run abc\nseed 1, 20000 draws"
    )
    path = write_squiggle(tmp_path / "squiggle.txt", text)
    assert path.read_text(encoding="utf-8") == text


def _sample_sets(text: str) -> dict[str, np.ndarray]:
    found = re.findall(r"^(\w+)_samples = SampleSet\.fromList\(\[(.*)\]\)$", text, re.M)
    return {name: np.array([float(x) for x in values.split(", ")]) for name, values in found}


@pytest.mark.parametrize("n_draws", [6000, 300])
def test_squiggle_sample_sets_hold_squiggles_sample_count_of_joint_draws(n_draws):
    draw = np.arange(1.0, n_draws + 1)  # draw i holds i: positions can be traced back
    outs = {"a": Output(draw, "USD"), "b": Output(-2 * draw, "USD")}
    text = squiggle_text(outs, rng=5)
    sets = _sample_sets(text)
    assert SQUIGGLE_SAMPLE_COUNT == 1000
    assert {k: v.size for k, v in sets.items()} == {"a": 1000, "b": 1000}
    np.testing.assert_array_equal(sets["b"], -2 * sets["a"])  # the same draw at every position
    counts = np.bincount(sets["a"].astype(int) - 1, minlength=n_draws)
    if n_draws >= 1000:
        assert counts.max() == 1  # distinct draws, in random order
        assert not (np.diff(sets["a"]) > 0).all()
    else:
        assert set(counts) <= {1000 // n_draws, 1000 // n_draws + 1}  # each draw equally often
    assert "// *_samples: 1000 joint draws" in text
    assert squiggle_text(outs, rng=5) == text


def test_squiggle_needs_more_than_five_samples():
    outs = {"a": Output(np.arange(100.0), "USD")}
    with pytest.raises(ValueError, match="more than 5"):
        squiggle_text(outs, n_samples=5)
    assert len(_sample_sets(squiggle_text(outs, n_samples=6))["a"]) == 6


def test_squiggle_text_with_negative_and_constant_outputs():
    outs = {
        "delta": Output(np.random.default_rng(0).normal(-1e6, 5e5, 1000), "USD"),
        "ecosystem_savings": Output(np.zeros(1000), "USD"),
    }
    text = squiggle_text(outs, n_samples=10)
    _looks_like_squiggle(text)
    assert "delta = normal({p5: -" in text
    assert "ecosystem_savings = 0\n" in text


def test_squiggle_names():
    assert squiggle_name("f_frontier") == "f_frontier"
    assert squiggle_name("Savings-2") == "q_Savings_2"
    assert squiggle_name("2x") == "q_2x"


# --- Metaculus ---------------------------------------------------------------------------------


def assert_metaculus_ok(cdf, open_lower, open_upper):
    """Metaculus' rules, and rdshare's margins over them."""
    cdf = np.asarray(cdf)
    assert cdf.shape == (201,)
    steps = np.diff(cdf)
    assert steps.min() >= METACULUS_MIN_STEP
    assert steps.max() <= METACULUS_MAX_STEP
    if open_lower:
        assert cdf[0] >= METACULUS_OPEN_TAIL
    else:
        assert cdf[0] == 0.0
    if open_upper:
        assert cdf[-1] <= 1 - METACULUS_OPEN_TAIL
    else:
        assert cdf[-1] == 1.0
    assert metaculus_problems(cdf, open_lower=open_lower, open_upper=open_upper) == []
    # margins: every step at least 2.5 times the minimum (up to rounding in the sums), at most 0.19
    assert steps.min() >= CDF_MIN_STEP * (1 - 1e-9) > 2 * METACULUS_MIN_STEP
    assert steps.max() <= CDF_MAX_STEP * (1 + 1e-9) < METACULUS_MAX_STEP
    if open_lower:
        assert cdf[0] >= CDF_OPEN_TAIL == 2 * METACULUS_OPEN_TAIL
    if open_upper:
        assert cdf[-1] <= 1 - CDF_OPEN_TAIL


def test_grid():
    g = metaculus_grid(1.0, 100.0)
    assert g.shape == (201,)
    assert (g[0], g[-1]) == (1.0, 100.0)
    np.testing.assert_allclose(np.diff(g), 99.0 / 200)
    g = metaculus_grid(1.0, 1e4, log_scale=True)
    np.testing.assert_allclose(g[[0, 50, 100, 200]], [1.0, 10.0, 100.0, 1e4])


def test_cdf_follows_the_draws():
    r = np.random.default_rng(0)
    v = r.normal(50.0, 10.0, 5000)
    cdf = metaculus_cdf(v, 0.0, 100.0)
    assert_metaculus_ok(cdf, True, True)
    grid = metaculus_grid(0.0, 100.0)
    ecdf = (v[None, :] <= grid[:, None]).mean(axis=1)
    assert np.abs(cdf - ecdf).max() < 0.02
    assert cdf[100] == pytest.approx(0.5, abs=0.02)


def test_log_scale_cdf_follows_the_draws():
    r = np.random.default_rng(1)
    v = r.lognormal(np.log(1e9), 1.0, 5000)
    cdf = metaculus_cdf(v, 1e7, 1e11, log_scale=True)
    assert_metaculus_ok(cdf, True, True)
    assert cdf[100] == pytest.approx(0.5, abs=0.02)  # the grid's middle is 1e9


@pytest.mark.parametrize("open_lower", [True, False])
@pytest.mark.parametrize("open_upper", [True, False])
@pytest.mark.parametrize(
    "values",
    [
        np.full(1000, 50.0),  # a point mass inside
        np.array([50.0]),  # a single draw
        np.full(7, -1e6),  # all below the range
        np.full(7, 1e6),  # all above
        np.full(30, 0.0),  # exactly at the lower bound
        np.full(30, 100.0),  # exactly at the upper bound
        np.array([-np.inf, np.inf, 1e308, -1e308, 3.0]),  # extremes
        np.random.default_rng(2).standard_cauchy(2000) * 30 + 50,  # heavy tails
    ],
)
def test_cdf_rules_hold_for_awkward_draws(values, open_lower, open_upper):
    cdf = metaculus_cdf(values, 0.0, 100.0, open_lower=open_lower, open_upper=open_upper)
    assert_metaculus_ok(cdf, open_lower, open_upper)


def test_mass_outside_stays_outside_when_open():
    # as much as the margins allow: the range keeps 200 minimum steps and the other side its tail
    most = 1 - CDF_OPEN_TAIL - 200 * CDF_MIN_STEP
    below = metaculus_cdf(np.full(100, -5.0), 0.0, 1.0)
    assert below[0] == pytest.approx(most)
    assert below[0] > 0.97
    above = metaculus_cdf(np.full(100, 5.0), 0.0, 1.0)
    assert above[-1] == pytest.approx(1 - most)
    assert above[-1] < 0.03


@pytest.mark.parametrize(
    ("low", "high", "log_scale", "cells"),
    [
        (0.0, 1.0, False, 2.0),  # 1% of a range up to 100: 2 cells
        (0.0, 1000.0, False, 0.2),  # 1 unit of a wider range: a fifth of a cell
        (1.0, 100.0, True, 29.88),  # 0.99 above 1 on a log scale to 100: 30 cells
        (1e7, 1e11, True, 0.0),  # 1 unit next to 1e7: nothing
    ],
)
def test_step_next_to_a_closed_bound_survives_being_spread(low, high, log_scale, cells):
    """Metaculus' Python client spreads the outermost step next to a closed bound over the cells
    within 1 unit (1% of a range up to 100) of it; that step is big enough to stay above the minimum."""
    v = np.random.default_rng(4).uniform(low + 0.3 * (high - low), low + 0.6 * (high - low), 2000)
    cdf = metaculus_cdf(v, low, high, log_scale=log_scale, open_lower=False, open_upper=False)
    assert_metaculus_ok(cdf, False, False)
    assert (cdf[1] - cdf[0]) / max(1.0, cells) >= CDF_MIN_STEP * (1 - 1e-6)


def test_log_scale_counts_nonpositive_values_as_below():
    cdf = metaculus_cdf(np.array([-1.0, 0.0, 5e8]), 1e7, 1e10, log_scale=True)
    assert cdf[0] == pytest.approx(2 / 3, abs=0.01)


@pytest.mark.parametrize(
    ("values", "low", "high", "log_scale", "words"),
    [
        ([], 0, 1, False, "no draws"),
        ([0.5, np.nan], 0, 1, False, "NaN"),
        ([0.5], 1, 0, False, "must be below"),
        ([0.5], 0, np.inf, False, "finite"),
        ([0.5], 0, 1, True, "positive lower bound"),
    ],
)
def test_cdf_bad_input(values, low, high, log_scale, words):
    with pytest.raises(InputError, match=words):
        metaculus_cdf(np.asarray(values, dtype=float), low, high, log_scale=log_scale)


def test_metaculus_problems_finds_each_rule():
    good = np.linspace(0.01, 0.99, 201)
    assert metaculus_problems(good) == []
    assert "needs 201" in metaculus_problems(good[:-1])[0]
    flat = good.copy()
    flat[5] = flat[4]
    assert any("smallest step" in p for p in metaculus_problems(flat))
    jump = np.r_[np.linspace(0.01, 0.3, 100), np.linspace(0.6, 0.99, 101)]
    assert any("largest step" in p for p in metaculus_problems(jump))
    assert any("cdf[0] >= 0.001" in p for p in metaculus_problems(good - 0.0095))
    assert any("cdf[0] == 0" in p for p in metaculus_problems(good, open_lower=False))
    assert any("cdf[-1] == 1" in p for p in metaculus_problems(good, open_upper=False))
    assert any("cdf[-1] <= 0.999" in p for p in metaculus_problems(good + 0.0095))


def test_write_metaculus_json(tmp_path):
    cdf = metaculus_cdf(np.random.default_rng(3).normal(5, 1, 1000), 0, 10, open_lower=False)
    path = write_metaculus_json(tmp_path / "m.json", "savings", cdf, 0, 10, open_lower=False)
    doc = json.loads(path.read_text(encoding="utf-8"))
    assert set(doc) == {
        "name",
        "cdf",
        "lower_bound",
        "upper_bound",
        "open_lower_bound",
        "open_upper_bound",
        "log_scale",
        "note",
    }
    assert doc["name"] == "savings"
    assert doc["cdf"] == [float(x) for x in cdf]
    assert (doc["lower_bound"], doc["upper_bound"]) == (0.0, 10.0)
    assert (doc["open_lower_bound"], doc["open_upper_bound"], doc["log_scale"]) == (
        False,
        True,
        False,
    )
    assert_metaculus_ok(doc["cdf"], False, True)
    with pytest.raises(ValueError, match="not a valid Metaculus CDF"):
        write_metaculus_json(tmp_path / "bad.json", "x", np.zeros(201), 0, 1)


# --- property test: the rules hold for any posterior -------------------------------------------


@settings(
    max_examples=examples(150),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(metaculus_questions())
def test_metaculus_rules_hold_for_any_posterior(case):
    v, low, high, log_scale, open_lower, open_upper = case
    cdf = metaculus_cdf(
        v, low, high, log_scale=log_scale, open_lower=open_lower, open_upper=open_upper
    )
    assert_metaculus_ok(cdf, open_lower, open_upper)
