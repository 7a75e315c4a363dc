"""Scenario files and options, and their evaluation on posterior draws."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.special import expit, logit

from rdshare.core.scenario import (
    OUTPUT_NAMES,
    YEARLY,
    Scenario,
    decisions,
    evaluate,
    evaluate_with_inputs,
    load_scenario,
    output_names,
    parse_years,
    scenario_from_options,
    shipped_scenarios,
    with_settings,
)
from rdshare.errors import InputError

#: f_frontier is the FLOP share; each unit's offset moves it to 0.8 and 0.5; no spread between labs and
#: no era trend, so the by-hand numbers need no random draws
DRAWS = {
    "f_frontier": np.array([0.7, 0.4]),
    "f_follower": np.array([0.75, 0.45]),
    "discount": np.array([0.25, 0.1]),
    "sigma_lab": np.zeros(2),
    "sigma_programme": np.zeros(2),
    "beta_era": np.zeros(2),
    **{
        f"offset_{u}": logit(np.array([0.8, 0.5])) - logit(np.array([0.7, 0.4]))
        for u in ("gpu_hours", "dollars", "energy")
    },
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
    assert s.inputs["leaders"].fixed == 1
    assert s.inputs["fork_rate"].fixed == 0.2
    assert s.to_dict()["inputs"]["budget"] == "2e9 to 6e9"
    assert s.years == (2026, 2027, 2028, 2029, 2030)
    assert (s.budget_year, s.generations) == (2025, 4)


def test_small_open_lab_uses_gpu_hours_and_final_run():
    s = load_scenario(shipped_scenarios()["small-open-lab"])
    assert s.unit.label == "GPU-hours"
    assert s.basis == "final_run"
    assert "budget" not in s.inputs


# --- evaluation --------------------------------------------------------------------------------


def test_evaluate_by_hand(tmp_path, rng):
    out = evaluate(load_scenario(write(tmp_path, GOOD)), DRAWS, rng)
    assert output_names(load_scenario(write(tmp_path, GOOD))) == OUTPUT_NAMES
    assert tuple(out) == OUTPUT_NAMES
    expected = {
        "f_frontier": [0.7, 0.4],  # the FLOP share, reported as it is
        "f_follower": [0.75, 0.45],
        "discount": [0.25, 0.1],
        "rd_share": [0.8, 0.5],  # the share of dollars: what a dollar budget is multiplied by
        "rd_compute": [80.0, 50.0],  # C f
        "discount_effective": [0.2, 0.08],  # d (1 - 0.2)
        "savings": [16.0, 4.0],  # C f d_eff
        "ecosystem_savings": [64.0, 16.0],  # (5 - 1) C f d_eff: no leaders by default
        "consortium_savings": [160.0, 100.0],  # (5 - 1) C f 0.5
        "discount_lead": [0.1, 0.04],  # d_eff 2^(-8/8)
        "savings_lead_lab": [8.0, 2.0],  # C f d_lead
    }
    for name, values in expected.items():
        np.testing.assert_allclose(out[name].values, values, err_msg=name)
        assert out[name].unit == ("USD" if name in {"rd_compute"} or "savings" in name else "share")
        assert out[name].description


def test_leaders_get_the_lead_discount_in_the_ecosystem(tmp_path, rng):
    """One of five labs leads by 8 months (half-life 8): it avoids C f d_eff / 2; the four followers
    C f d_eff each; one copy of the shared work (the largest part, C f d_eff) is still paid for."""
    out = evaluate(
        load_scenario(write(tmp_path, GOOD.replace("labs = 5", "labs = 5\nleaders = 1"))),
        DRAWS,
        rng,
    )
    c_f = np.array([80.0, 50.0])
    d_eff = np.array([0.2, 0.08])
    want = c_f * (4 * d_eff + d_eff / 2 - d_eff)
    np.testing.assert_allclose(out["ecosystem_savings"].values, want)
    all_lead = load_scenario(write(tmp_path, GOOD.replace("labs = 5", "labs = 5\nleaders = 5")))
    out = evaluate(all_lead, DRAWS, rng)
    np.testing.assert_allclose(out["ecosystem_savings"].values, 4 * c_f * d_eff / 2)


def test_more_leaders_than_labs_is_refused(tmp_path):
    with pytest.raises(InputError, match="more than the 5 labs") as err:
        load_scenario(write(tmp_path, GOOD.replace("labs = 5", "labs = 5\nleaders = 6")))
    assert err.value.problems[0].field == "leaders"
    with pytest.raises(InputError, match="--leaders"):
        scenario_from_options(budget=1, labs=2, leaders=3)


def test_a_specific_lab_carries_the_spread_between_labs():
    """rd_share is a new lab's share: the typical lab's log-odds plus N(0, sqrt(sl^2 + sp^2)); a group's
    mean share is much less spread."""
    n = 40_000
    draws = {
        "f_frontier": np.full(n, 0.7),
        "f_follower": np.full(n, 0.65),
        "discount": np.full(n, 0.2),
        "sigma_lab": np.full(n, 0.3),
        "sigma_programme": np.full(n, 0.4),
        "beta_era": np.zeros(n),
        "offset_dollars": np.full(n, 0.2),
    }
    s = scenario_from_options(budget=1.0, labs=50, shared_fraction=0.5)
    out = evaluate(s, draws, np.random.default_rng(2))
    lat = logit(out["rd_share"].values)
    assert np.mean(lat) == pytest.approx(logit(0.7) + 0.2, abs=0.01)
    assert np.std(lat) == pytest.approx(0.5, rel=0.02)
    group = out["consortium_savings"].values / (49 * 0.5)  # (N - 1) C f_group s, s fixed below
    assert np.std(group) < np.std(out["rd_share"].values) / 4


def test_years_grow_the_budget_and_follow_the_era_trend(rng):
    s = scenario_from_options(budget=100, years="2026..2028", budget_growth=2.0)
    draws = {**DRAWS, "beta_era": np.array([0.1, -0.2])}
    out = evaluate(s, draws, rng)
    assert tuple(out) == output_names(s)
    assert tuple(out)[-len(YEARLY) :] == tuple(f"{q}_2028" for q in YEARLY)
    for year in (2026, 2027, 2028):
        t = year - 2025
        np.testing.assert_allclose(out[f"budget_{year}"].values, 100 * 2.0**t)
        f = expit(logit(np.array([0.8, 0.5])) + draws["beta_era"] * t)
        np.testing.assert_allclose(out[f"rd_share_{year}"].values, f)
        np.testing.assert_allclose(
            out[f"savings_{year}"].values, 100 * 2.0**t * f * DRAWS["discount"]
        )


def test_generations_compound_by_hand(rng):
    s = scenario_from_options(
        budget=100,
        generations=3,
        carryover=0.5,
        generation_months=12,
        budget_growth=2.0,
        fork_rate=0.2,
    )
    out = evaluate(s, DRAWS, rng)
    d = DRAWS["discount"] * 0.8  # d_eff
    c = 0.5 * 0.8  # carry-over eroded by forking as the discount is
    D1 = d
    D2 = 1 - (1 - d) * (1 - c * D1)
    D3 = 1 - (1 - d) * (1 - c * D2)
    for k, D in enumerate((D1, D2, D3), start=1):
        np.testing.assert_allclose(out[f"discount_generation_{k}"].values, D)
    f = np.array([0.8, 0.5])
    per = [100 * 2.0 ** (k - 1) * f * D for k, D in enumerate((D1, D2, D3), start=1)]
    np.testing.assert_allclose(out["savings_generation_2"].values, per[1])
    np.testing.assert_allclose(out["savings_generations"].values, sum(per))
    plain = sum(100 * 2.0 ** (k - 1) * f * d for k in (1, 2, 3))
    np.testing.assert_allclose(out["savings_generations_without_compounding"].values, plain)
    assert np.all(out["savings_generations"].values >= plain)  # compounding helps when d > 0


def test_years_parse_and_refuse_nonsense():
    assert parse_years("2026..2030") == (2026, 2027, 2028, 2029, 2030)
    assert parse_years("2026 to 2027") == (2026, 2027)
    assert parse_years(2027) == (2027,)
    for bad, words in (
        ("2030..2026", "before the first"),
        ("2026..2099", "between"),
        ("26..30", "not a year"),
        ("2026..2070", "between"),
        (True, "must be a year"),
    ):
        with pytest.raises(InputError, match=words) as err:
            parse_years(bad)
        assert err.value.problems[0].field == "--years"
    with pytest.raises(InputError) as err:
        scenario_from_options(budget=1, generations=50, budget_year=1999)
    assert {p.field for p in err.value.problems} == {"--generations", "--budget-year"}


def test_settings_override_a_file(tmp_path):
    s = load_scenario(write(tmp_path, GOOD))
    assert s.years == ()
    t = with_settings(s, years="2027..2028", generations=2)
    assert (t.years, t.generations, t.budget_year) == ((2027, 2028), 2, 2025)
    assert t.inputs == s.inputs
    with pytest.raises(InputError, match="--years"):
        with_settings(s, years="soon")


def test_years_in_a_file_name_their_line(tmp_path):
    text = GOOD.replace('unit = "dollars"', 'unit = "dollars"\nyears = "2030..2026"')
    with pytest.raises(InputError) as err:
        load_scenario(write(tmp_path, text))
    p = err.value.problems[0]
    assert (p.field, p.line) == ("years", 5)


# --- which comparisons an input decides ----------------------------------------------------------


def _many(n, discount):
    return {
        "f_frontier": np.full(n, 0.7),
        "f_follower": np.full(n, 0.65),
        "discount": discount,
        "sigma_lab": np.zeros(n),
        "sigma_programme": np.zeros(n),
        "beta_era": np.zeros(n),
        "offset_dollars": np.zeros(n),
    }


def test_a_wide_input_decides_and_is_named():
    """The discount is pinned; the consortium's shared fraction is a wide judgement: it decides
    whether a consortium beats the ecosystem, and the statement says so."""
    n = 4000
    s = scenario_from_options(budget=1.0, labs=5, shared_fraction="0.05 to 0.6")
    draws = _many(n, np.random.default_rng(1).normal(0.3, 0.005, n))
    out, sampled = evaluate_with_inputs(s, draws, np.random.default_rng(2))
    dc = {d.statement: d for d in decisions(out, sampled)}
    versus = dc["a consortium saves more than an open ecosystem"]
    assert versus.by_input
    assert versus.decided_by == "shared_fraction"
    assert "the input shared_fraction decides it, not the data" in versus.describe()
    saves = dc["building on open work saves this lab compute"]
    assert not saves.by_input
    assert saves.decided_by == "discount"
    # a lead of 0 months repeats "saves compute": left out
    assert "a lab ahead of the open frontier still saves compute" not in dc


def test_the_model_decides_when_inputs_are_fixed():
    n = 4000
    s = scenario_from_options(budget=1.0, labs=5, shared_fraction=0.3)
    draws = _many(n, np.random.default_rng(1).normal(0.3, 0.15, n))
    out, sampled = evaluate_with_inputs(s, draws, np.random.default_rng(2))
    prior, _ = evaluate_with_inputs(s, _many(n, np.full(n, 0.5)), np.random.default_rng(2))
    (versus, *_rest) = decisions(out, sampled, prior)
    assert versus.decided_by == "discount"
    assert not versus.by_input
    assert versus.input_share < 0.01  # only noise from inputs that play no part here
    assert versus.prior_probability == 0.0  # with d = 0.5 an ecosystem of five beats s = 0.3
    assert versus.probability == pytest.approx(np.mean(4 * draws["discount"] < 0.3 * 4))
    single = scenario_from_options(budget=1.0)
    out, sampled = evaluate_with_inputs(single, draws, np.random.default_rng(2))
    assert [d.statement for d in decisions(out, sampled)] == [
        "building on open work saves this lab compute"
    ]


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
    assert s.inputs["leaders"].fixed == 0
    assert s.inputs["fork_rate"].fixed == 0
    assert s.inputs["lead_months"].fixed == 0
    # judgements are uncertain by default, each a wide 90% interval (docs/scenarios.md)
    assert (s.inputs["shared_fraction"].low, s.inputs["shared_fraction"].high) == (0.3, 0.7)
    assert (s.inputs["halflife_months"].low, s.inputs["halflife_months"].high) == (2, 12)
    assert (s.inputs["budget_growth"].low, s.inputs["budget_growth"].high) == (2.0, 2.9)
    assert (s.years, s.budget_year, s.generations) == ((), 2025, 0)
    out = evaluate(s, DRAWS, rng)
    np.testing.assert_allclose(out["ecosystem_savings"].values, 0.0)
    np.testing.assert_allclose(out["savings"].values, [20.0, 5.0])
    np.testing.assert_allclose(out["discount_lead"].values, DRAWS["discount"])


def test_uncertain_inputs_are_sampled_alongside_draws():
    n = 20_000
    r = np.random.default_rng(1)
    draws = {
        "f_frontier": np.full(n, 0.5),
        "f_follower": np.full(n, 0.4),
        "discount": r.beta(2, 5, n),
        "sigma_lab": np.zeros(n),
        "sigma_programme": np.zeros(n),
        "beta_era": np.zeros(n),
        "offset_dollars": np.zeros(n),
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
    draws = {**DRAWS, "offset_gpu_hours": logit(np.array([0.9, 0.6])) - logit(np.array([0.7, 0.4]))}
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
        ({k: v for k, v in DRAWS.items() if k != "offset_dollars"}, "offset_dollars"),
        ({**DRAWS, "sigma_lab": np.array([0.1, -0.1])}, "sigma_lab"),
        ({**DRAWS, "beta_era": np.array([0.1, np.inf])}, "beta_era"),
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
    s = scenario_from_options(
        budget="1e9 to 5e9", labs=4, lead_months="0 to 6", years="2026..2027", generations=2
    )
    d = s.to_dict()
    again = scenario_from_options(
        **d["inputs"], unit=d["unit"], years=f"{d['years'][0]}..{d['years'][-1]}",
        budget_year=d["budget_year"], generations=d["generations"],
    )  # fmt: skip
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
