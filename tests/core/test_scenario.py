"""Scenario files and options, and their evaluation on posterior draws."""

from __future__ import annotations

import numpy as np
import pytest

from rdshare.core.scenario import (
    OUTPUT_NAMES,
    Scenario,
    evaluate,
    load_scenario,
    scenario_from_options,
    shipped_scenarios,
)
from rdshare.errors import InputError

#: f_frontier is the FLOP share; amounts use the share in the scenario's unit (0.8 and 0.5 in each)
DRAWS = {
    "f_frontier": np.array([0.7, 0.4]),
    "f_follower": np.array([0.75, 0.45]),
    "discount": np.array([0.25, 0.1]),
    **{f"f_frontier_{u}": np.array([0.8, 0.5]) for u in ("gpu_hours", "dollars", "energy")},
}

GOOD = """\
[scenario]
name = "t"
description = "test"
unit = "dollars"

[inputs]
budget = 100
labs = 5
fork_rate = 0.2
lead_months = 8
shared_fraction = 0.5
halflife_months = 8
"""


@pytest.fixture
def rng():
    return np.random.default_rng(7)


def write(tmp_path, text, name="s.toml"):
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return p


def problems_of(excinfo):
    return {(p.field, p.line): p.message for p in excinfo.value.problems}


# --- shipped examples --------------------------------------------------------------------------


def test_shipped_scenarios_load():
    found = shipped_scenarios()
    assert {"essay-claims", "consortium", "small-open-lab"} <= set(found)
    for name, path in found.items():
        s = load_scenario(path)
        assert s.name == name
        assert len(s.sha256) == 64


def test_essay_claims_reads_as_intended():
    s = load_scenario(shipped_scenarios()["essay-claims"])
    assert s.unit.label == "USD"
    assert s.basis == "budget"
    assert s.describe()["budget"] == "lognormal 90% interval 2e9 to 6e9"
    assert s.inputs["labs"].fixed == 5
    assert s.inputs["fork_rate"].fixed == 0.2
    assert s.to_dict()["inputs"]["budget"] == "2e9 to 6e9"


def test_small_open_lab_uses_gpu_hours_and_final_run():
    s = load_scenario(shipped_scenarios()["small-open-lab"])
    assert s.unit.label == "GPU-hours"
    assert s.basis == "final_run"
    assert "budget" not in s.inputs


# --- evaluation --------------------------------------------------------------------------------


def test_evaluate_by_hand(tmp_path, rng):
    out = evaluate(load_scenario(write(tmp_path, GOOD)), DRAWS, rng)
    assert tuple(out) == OUTPUT_NAMES
    expected = {
        "f_frontier": [0.7, 0.4],  # the FLOP share, reported as it is
        "f_follower": [0.75, 0.45],
        "discount": [0.25, 0.1],
        "rd_share": [0.8, 0.5],  # the share of dollars: what a dollar budget is multiplied by
        "rd_compute": [80.0, 50.0],  # C f
        "discount_effective": [0.2, 0.08],  # d (1 - 0.2)
        "savings": [16.0, 4.0],  # C f d_eff
        "ecosystem_savings": [64.0, 16.0],  # (5 - 1) C f d_eff
        "consortium_savings": [160.0, 100.0],  # (5 - 1) C f 0.5
        "discount_lead": [0.1, 0.04],  # d_eff 2^(-8/8)
        "savings_lead_lab": [8.0, 2.0],  # C f d_lead
    }
    for name, values in expected.items():
        np.testing.assert_allclose(out[name].values, values, err_msg=name)
        assert out[name].unit == ("USD" if name in {"rd_compute"} or "savings" in name else "share")
        assert out[name].description


def test_evaluate_from_final_run(rng):
    s = scenario_from_options(final_run=20, labs=2, fork_rate=0.2, unit="gpu_hours")
    out = evaluate(s, DRAWS, rng)
    # C = F / (1 - f) = [100, 40]; R&D = F r = [80, 20]; savings = F r d_eff = [16, 1.6]
    np.testing.assert_allclose(out["rd_compute"].values, [80.0, 20.0])
    np.testing.assert_allclose(out["savings"].values, [16.0, 1.6])
    np.testing.assert_allclose(out["ecosystem_savings"].values, [16.0, 1.6])
    assert out["savings"].unit == "GPU-hours"


def test_defaults_from_options(rng):
    s = scenario_from_options(budget=100)
    assert s.unit.name == "dollars"
    assert s.inputs["labs"].fixed == 1
    assert s.inputs["fork_rate"].fixed == 0
    assert s.inputs["lead_months"].fixed == 0
    assert s.inputs["shared_fraction"].fixed == 0.5
    assert s.inputs["halflife_months"].fixed == 8
    out = evaluate(s, DRAWS, rng)
    np.testing.assert_allclose(out["ecosystem_savings"].values, 0.0)
    np.testing.assert_allclose(out["savings"].values, [20.0, 5.0])
    np.testing.assert_allclose(out["discount_lead"].values, DRAWS["discount"])


def test_uncertain_inputs_are_sampled_alongside_draws():
    n = 20_000
    r = np.random.default_rng(1)
    draws = {
        "f_frontier": np.full(n, 0.45),
        "f_frontier_dollars": np.full(n, 0.5),
        "f_follower": np.full(n, 0.4),
        "discount": r.beta(2, 5, n),
    }
    s = scenario_from_options(budget="1e9 to 5e9", labs=3, fork_rate="0.1 to 0.3")
    a = evaluate(s, draws, np.random.default_rng(3))
    b = evaluate(s, draws, np.random.default_rng(3))
    for name in OUTPUT_NAMES:
        assert a[name].values.shape == (n,)
        np.testing.assert_array_equal(a[name].values, b[name].values)
    budget = a["rd_compute"].values / 0.5
    assert np.mean((budget >= 1e9) & (budget <= 5e9)) == pytest.approx(0.9, abs=0.01)
    fork = 1 - a["discount_effective"].values / draws["discount"]
    assert np.mean((fork >= 0.1) & (fork <= 0.3)) == pytest.approx(0.9, abs=0.01)


def test_each_unit_uses_its_own_share_and_flop_uses_f_frontier(rng):
    draws = {**DRAWS, "f_frontier_gpu_hours": np.array([0.9, 0.6])}
    gpu = evaluate(scenario_from_options(budget=100, unit="gpu_hours"), draws, rng)
    np.testing.assert_allclose(gpu["rd_compute"].values, [90.0, 60.0])
    flop = evaluate(scenario_from_options(budget=100, unit="flop"), draws, rng)
    np.testing.assert_allclose(flop["rd_compute"].values, [70.0, 40.0])
    mwh = evaluate(scenario_from_options(budget=100, unit="energy_mwh"), draws, rng)
    np.testing.assert_allclose(mwh["rd_share"].values, [0.8, 0.5])


def test_a_negative_discount_is_a_cost(rng):
    draws = {**DRAWS, "discount": np.array([-0.2, 0.1])}
    out = evaluate(scenario_from_options(budget=100, labs=3), draws, rng)
    np.testing.assert_allclose(out["savings"].values, [-16.0, 5.0])  # C f d: negative is a cost
    np.testing.assert_allclose(out["ecosystem_savings"].values, [-32.0, 10.0])


@pytest.mark.parametrize(
    ("draws", "field"),
    [
        ({k: v for k, v in DRAWS.items() if k != "discount"}, "discount"),
        ({k: v for k, v in DRAWS.items() if k != "f_frontier_dollars"}, "f_frontier_dollars"),
        ({**DRAWS, "discount": np.array([1.0, 0.2])}, "discount"),
        ({**DRAWS, "discount": np.array([0.1, 0.2, 0.3])}, "discount"),
        ({**DRAWS, "f_frontier": np.array([0.5, 1.5])}, "f_frontier"),
        ({**DRAWS, "f_frontier": np.array([0.5, np.nan])}, "f_frontier"),
        ({**DRAWS, "f_follower": np.ones((2, 2)) / 2}, "f_follower"),
    ],
)
def test_bad_draws(draws, field, rng):
    with pytest.raises(InputError) as err:
        evaluate(scenario_from_options(budget=100), draws, rng)
    assert err.value.problems[0].field == field


# --- options -----------------------------------------------------------------------------------


def test_options_need_exactly_one_amount():
    with pytest.raises(InputError, match="exactly one of --budget and --final-run"):
        scenario_from_options()
    with pytest.raises(InputError, match=r"\(both given\)") as err:
        scenario_from_options(budget=1, final_run=1)
    assert err.value.problems[0].field == "--final-run"


def test_options_collect_every_problem():
    with pytest.raises(InputError) as err:
        scenario_from_options(budget="5 to 1", fork_rate=1.5, labs="2 to 4", unit="euros")
    fields = {p.field for p in err.value.problems}
    assert fields == {"--budget", "--fork-rate", "--labs", "--unit"}
    assert all(p.file == "<command line>" for p in err.value.problems)
    assert "4 problems" in str(err.value)


def test_options_round_trip_through_to_dict():
    s = scenario_from_options(budget="1e9 to 5e9", labs=4, lead_months="0 to 6")
    again = scenario_from_options(**s.to_dict()["inputs"], unit=s.to_dict()["unit"])
    assert again.to_dict() == s.to_dict()
    assert isinstance(again, Scenario)


# --- file errors -------------------------------------------------------------------------------


def test_good_file_loads(tmp_path):
    s = load_scenario(write(tmp_path, GOOD))
    assert (s.name, s.description, s.unit.label) == ("t", "test", "USD")
    assert s.source.endswith("s.toml")


def test_name_defaults_to_file_stem(tmp_path):
    s = load_scenario(
        write(tmp_path, '[scenario]\nunit = "flop"\n[inputs]\nbudget = 1e25\n', "x.toml")
    )
    assert s.name == "x"
    assert s.unit.label == "FLOP"


@pytest.mark.parametrize(
    ("edit", "field", "line", "words"),
    [
        (("labs = 5", "labz = 5"), "labz", 8, "unknown key in [inputs]"),
        (("labs = 5", "labs = [1, 2]"), "labs", 8, "got an array"),
        (("fork_rate = 0.2", "fork_rate = true"), "fork_rate", 9, "got a boolean"),
        (("labs = 5", 'labs = "2 to 4"'), "labs", 8, "N must be a fixed whole number"),
        (("fork_rate = 0.2", "fork_rate = 2"), "fork_rate", 9, "between 0 and 1"),
        (("budget = 100", "budget = \"__import__('os')\""), "budget", 7, "is not a number"),
        (("budget = 100", "final_run = 100"), "final_run", None, None),
        (("budget = 100", "budget = 100\nfinal_run = 10"), "final_run", 8, "both given"),
        (("budget = 100", "# no amount"), "budget", None, "neither given"),
        (('unit = "dollars"', 'unit = "euros"'), "unit", 4, "unknown unit"),
        (('unit = "dollars"', "unit = 3"), "unit", 4, "must be a string"),
        (('unit = "dollars"', ""), "unit", None, "is required"),
        (('name = "t"', "name = 1"), "name", 2, "must be a string"),
        (('name = "t"', 'nmae = "t"'), "nmae", 2, "unknown key in [scenario]"),
        (("[inputs]", "[inputs]\n[extra]\nx = 1\n[inputs2]"), "extra", None, "unknown table"),
    ],
)
def test_file_errors_name_key_and_line(tmp_path, edit, field, line, words):
    old, new = edit
    assert old in GOOD
    path = write(tmp_path, GOOD.replace(old, new, 1))
    if words is None:  # a valid edit
        assert load_scenario(path).basis == "final_run"
        return
    with pytest.raises(InputError) as err:
        load_scenario(path)
    match = [p for p in err.value.problems if p.field == field]
    assert match, err.value.render()
    assert match[0].file == str(path)
    assert words in match[0].message
    if line is not None:
        assert match[0].line == line


def test_missing_inputs_table(tmp_path):
    with pytest.raises(InputError, match=r"needs an \[inputs\] table"):
        load_scenario(write(tmp_path, '[scenario]\nunit = "dollars"\n'))


def test_invalid_toml_gives_line(tmp_path):
    with pytest.raises(InputError) as err:
        load_scenario(write(tmp_path, '[scenario]\nunit = "dollars"\n[inputs]\nbudget = = 3\n'))
    p = err.value.problems[0]
    assert "not valid TOML" in p.message
    assert p.line == 4


def test_unreadable_files(tmp_path):
    with pytest.raises(InputError, match="file not found"):
        load_scenario(tmp_path / "nope.toml")
    with pytest.raises(InputError, match="is a folder"):
        load_scenario(tmp_path)
    bad = tmp_path / "bin.toml"
    bad.write_bytes(b"\xff\xfe\x00budget")
    with pytest.raises(InputError, match="not UTF-8"):
        load_scenario(bad)
