"""The posterior predictive of f for a new lab, and the --lab parser."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from scipy.special import expit, logit

from rdshare.core.design import REF_YEAR
from rdshare.core.predict import (
    SUMMARY_KEYS,
    LabSpec,
    Prediction,
    parse_lab,
    predict_new_lab,
)
from rdshare.errors import InputError

N = 4000


def params(sigma_lab: float = 0.0, n: int = N, **over) -> dict[str, np.ndarray]:
    """Constant posterior draws, so every effect can be checked by hand."""
    base = {
        "f_frontier": 0.8,
        "discount": 0.3,
        "sigma_lab": sigma_lab,
        "beta_pretraining": -0.4,
        "beta_posttraining": -1.2,
        "beta_era": 0.15,
        "offset_gpu_hours": 0.2,
        "offset_dollars": 0.5,
        "offset_energy": 0.35,
        "sigma_programme": 0.0,
    }
    base.update(over)
    return {k: np.full(n, float(v)) for k, v in base.items()}


# ------------------------------------------------------------------------------------------------
# parse_lab


def test_parse_lab_full_example():
    lab = parse_lab("position=follower,scope=pretraining,year=2022,unit=dollars")
    assert lab == LabSpec("follower", "pretraining", 2022, "dollars")
    assert lab.offset_applies


def test_parse_lab_defaults_spaces_case_and_aliases():
    assert parse_lab(None) == LabSpec()
    assert parse_lab("") == LabSpec("leader", "full", REF_YEAR, None)
    assert parse_lab(" Year = 2023 , POSITION=Frontier ") == LabSpec("leader", "full", 2023, None)
    assert parse_lab("unit=energy_mwh").unit == "energy"
    assert parse_lab("year=2024.0").year == 2024


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("positon=follower", ["'positon'", "position, scope, year, unit"]),
        ("position=folower", ["position 'folower'", "leader, follower"]),
        ("scope=training", ["scope 'training'", "full, pretraining, posttraining"]),
        ("unit=joules", ["unit 'joules'", "flop, gpu_hours, dollars, energy"]),
        ("year=twenty", ["year 'twenty'", "whole year"]),
        ("year=2022.5", ["year '2022.5'", "whole year"]),
        ("year=1900", ["year 1900", "2010 to 2040"]),
        ("year=nan", ["year 'nan'"]),
        ("position=follower,position=leader", ["'position'", "more than once"]),
        ("follower", ["'follower' is not key=value", "position, scope, year, unit"]),
        ("scope=", ["'scope' has no value"]),
        ("scope=full,,year=2022", ["empty item"]),
    ],
)
def test_parse_lab_errors_name_the_key_and_allowed_values(text, expected):
    with pytest.raises(InputError) as exc:
        parse_lab(text)
    msg = exc.value.render()
    assert "--lab" in msg
    for part in expected:
        assert part in msg


def test_parse_lab_reports_every_problem_at_once():
    with pytest.raises(InputError) as exc:
        parse_lab("position=x,scope=y,year=z,colour=red")
    assert len(exc.value.problems) == 4


def test_describe_says_whether_the_offset_applies():
    assert "dollars offset applied" in parse_lab("unit=dollars").describe()
    assert "gpu_hours offset applied" in parse_lab("unit=gpu_hours").describe()
    assert "the reference unit" in parse_lab("unit=flop").describe()
    assert "no unit offset" in parse_lab("").describe()


# ------------------------------------------------------------------------------------------------
# predict_new_lab


def test_matches_a_hand_computation_without_lab_spread():
    lab = LabSpec("follower", "pretraining", 2022, "dollars")
    pred = predict_new_lab(params(), lab, rng=1)
    eta = logit(0.8) - 0.4 + 0.15 * (2022 - REF_YEAR) + np.log(1 - 0.3) + 0.5
    np.testing.assert_allclose(pred.draws, expit(eta))
    post = predict_new_lab(params(), LabSpec(scope="posttraining"), rng=1)
    np.testing.assert_allclose(post.draws, expit(logit(0.8) - 1.2))


def test_default_lab_is_the_frontier_share_plus_lab_and_programme_spread():
    p = params(sigma_lab=0.0)
    np.testing.assert_allclose(predict_new_lab(p, LabSpec()).draws, 0.8)
    pred = predict_new_lab(params(sigma_lab=0.8, sigma_programme=0.6, n=20000), LabSpec(), rng=3)
    z = logit(pred.draws) - logit(0.8)
    assert abs(z.mean()) < 0.03
    assert abs(z.std() - 1.0) < 0.03  # fresh lab and programme effects: sd sqrt(0.8^2 + 0.6^2)


@pytest.mark.parametrize(
    "lab", [LabSpec(), LabSpec("follower", "pretraining", 2022), LabSpec(year=2030, unit="energy")]
)
def test_interval_widens_when_sigma_lab_grows(lab):
    widths = []
    for sigma in (0.0, 0.2, 0.5, 1.0, 2.0):
        s = predict_new_lab(params(sigma_lab=sigma), lab, rng=7).summary()
        widths.append(s["q95"] - s["q05"])
    assert widths[0] == pytest.approx(0.0, abs=1e-12)
    assert all(b > a for a, b in itertools.pairwise(widths))


def test_interval_widens_with_real_looking_posterior_spread():
    rng = np.random.default_rng(0)
    base = params()
    base["f_frontier"] = expit(rng.normal(1.5, 0.3, N))
    narrow = dict(base, sigma_lab=np.abs(rng.normal(0.1, 0.02, N)))
    wide = dict(base, sigma_lab=np.abs(rng.normal(0.8, 0.1, N)))
    s_n = predict_new_lab(narrow, LabSpec(), rng=1).summary()
    s_w = predict_new_lab(wide, LabSpec(), rng=1).summary()
    assert s_w["q95"] - s_w["q05"] > 1.5 * (s_n["q95"] - s_n["q05"])


@pytest.mark.parametrize(
    ("unit", "offset"),
    [(None, 0.0), ("flop", 0.0), ("gpu_hours", 0.2), ("dollars", 0.5), ("energy", 0.35)],
)
def test_each_unit_has_its_own_offset_and_flop_none(unit, offset):
    flop = predict_new_lab(params(), LabSpec(), rng=0).draws
    pred = predict_new_lab(params(), LabSpec(unit=unit), rng=0).draws
    np.testing.assert_allclose(pred, expit(logit(flop) + offset))


def test_seeded_and_reproducible():
    p = params(sigma_lab=0.5)
    a = predict_new_lab(p, LabSpec(), rng=11).draws
    b = predict_new_lab(p, LabSpec(), rng=np.random.default_rng(11)).draws
    c = predict_new_lab(p, LabSpec(), rng=12).draws
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    np.testing.assert_array_equal(
        predict_new_lab(p, LabSpec()).draws, predict_new_lab(p, LabSpec(), rng=0).draws
    )


def test_missing_optional_parameters_count_as_zero():
    only_f = {"f_frontier": np.full(10, 0.7)}
    pred = predict_new_lab(only_f, LabSpec("follower", "pretraining", 2020, "dollars"))
    np.testing.assert_allclose(pred.draws, 0.7)


def test_summary_keys_and_order():
    s = predict_new_lab(params(sigma_lab=0.5), LabSpec(), rng=0).summary()
    assert tuple(s) == SUMMARY_KEYS == ("mean", "q05", "q25", "q50", "q75", "q95")
    assert s["q05"] < s["q25"] < s["q50"] < s["q75"] < s["q95"]
    assert all(isinstance(v, float) for v in s.values())
    direct = Prediction(LabSpec(), np.array([0.1, 0.2, 0.3, 0.4, 0.5])).summary()
    assert direct["mean"] == pytest.approx(0.3)
    assert direct["q50"] == pytest.approx(0.3)


@pytest.mark.parametrize(
    ("bad", "field"),
    [
        ({"f_frontier": None}, "f_frontier"),
        ({"f_frontier": np.full(N, 1.2)}, "f_frontier"),
        ({"discount": np.full(N, 1.0)}, "discount"),
        ({"sigma_lab": np.full(N, -1.0)}, "sigma_lab"),
        ({"beta_era": np.full(3, 0.1)}, None),
        ({"beta_era": np.full((2, 2), 0.1)}, "beta_era"),
        ({"offset_dollars": np.full(N, np.nan)}, "offset_dollars"),
    ],
)
def test_bad_draws_raise_input_error(bad, field):
    p = params()
    for k, v in bad.items():
        if v is None:
            del p[k]
        else:
            p[k] = v
    with pytest.raises(InputError) as exc:
        predict_new_lab(p, LabSpec())
    if field is not None:
        assert any(pr.field == field for pr in exc.value.problems)
