"""``rdshare forecast`` end to end, in process, on the session's small saved run."""

from __future__ import annotations

import json
import re
import shutil

import numpy as np
import pandas as pd
import pytest

from rdshare.cli import main
from rdshare.core.exports import (
    FORECAST_COLUMNS,
    METACULUS_POINTS,
    PRIOR_COLUMNS,
    metaculus_problems,
)
from rdshare.core.scenario import OUTPUT_NAMES, load_scenario, output_names, shipped_scenarios
from rdshare.inference.results import load_run


@pytest.fixture
def run_copy(small_run, tmp_path):
    """A private copy of the small run, for tests that write into the run folder itself."""
    dest = tmp_path / "run"
    shutil.copytree(small_run, dest, ignore=shutil.ignore_patterns("forecast*"))
    return dest


def forecast(*args) -> int:
    return main(["forecast", *map(str, args)])


def test_shipped_scenario_writes_every_file(small_run, tmp_path, capsys):
    out = tmp_path / "fc"
    assert forecast(small_run, "--scenario", "essay-claims", "--out", out) == 0
    printed = capsys.readouterr().out
    assert sorted(p.name for p in out.iterdir()) == [
        "compounding.png",
        "fan.png",
        "forecast.csv",
        "manifest.json",
        "samples.csv",
        "samples.xlsx",
        "scenario.json",
        "squiggle.txt",
        "years.csv",
    ]
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["kind"] == "forecast"
    assert set(manifest["files"]) == {
        "compounding.png",
        "fan.png",
        "years.csv",
        "forecast.csv",
        "samples.csv",
        "samples.xlsx",
        "scenario.json",
        "squiggle.txt",
    }
    assert f"forecast folder: {out}" in printed
    scenario = load_scenario(shipped_scenarios()["essay-claims"])
    names = output_names(scenario)
    assert names[: len(OUTPUT_NAMES)] == OUTPUT_NAMES
    for name in names:
        assert name in printed
    lines = printed.splitlines()
    assert "vs prior" in next(ln for ln in lines if ln.strip().startswith("name "))
    assert "comparisons (what decides each):" in printed

    table = pd.read_csv(out / "forecast.csv")
    assert tuple(table.columns) == FORECAST_COLUMNS + PRIOR_COLUMNS
    assert tuple(table["name"]) == names
    # per year: one row per year and quantity, the same numbers as forecast.csv
    years = pd.read_csv(out / "years.csv")
    assert list(years.columns[:2]) == ["year", "quantity"]
    assert sorted(set(years["year"])) == [2026, 2027, 2028, 2029, 2030]
    row = years[(years["year"] == 2028) & (years["quantity"] == "savings")].iloc[0]
    assert row["q50"] == pytest.approx(table.set_index("name").loc["savings_2028", "q50"])
    # the budget grows through the years
    med = table.set_index("name")["q50"]
    assert med["budget_2026"] < med["budget_2028"] < med["budget_2030"]
    for png in ("fan.png", "compounding.png"):
        assert (out / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert table.set_index("name").loc["savings_generations", "q50"] > 0
    # what the priors alone imply, beside the posterior: the data narrow f far more than d
    ratio = table.set_index("name")["width_ratio"]
    assert ratio["f_frontier"] < 0.6
    assert ratio["f_frontier"] < ratio["discount"] <= 1.2
    units = dict(zip(table["name"], table["unit"], strict=True))
    assert units["savings"] == "USD"
    assert units["f_frontier"] == "share"
    assert (table["q05"] <= table["q50"]).all()
    assert (table["q50"] <= table["q95"]).all()

    samples = pd.read_csv(out / "samples.csv")
    assert tuple(samples.columns) == names
    n_draws = load_run(small_run).tree["posterior"].ds["f_frontier"].size
    assert len(samples) == min(1000, n_draws)
    # samples.xlsx: the same rows, as number cells (15 significant digits)
    sheet = pd.read_excel(out / "samples.xlsx", sheet_name="samples", engine="openpyxl")
    assert tuple(sheet.columns) == names
    np.testing.assert_allclose(sheet.to_numpy(), samples.to_numpy(), rtol=1e-14, atol=0)
    # joint draws: savings = rd_compute * discount_effective, row by row
    np.testing.assert_allclose(
        samples["savings"], samples["rd_compute"] * samples["discount_effective"], rtol=1e-9
    )

    squiggle = (out / "squiggle.txt").read_text()
    for name in names:
        assert f"\n{name} = " in squiggle
        assert f"\n{name}_samples = SampleSet.fromList([" in squiggle
    assert "fit error" in squiggle
    assert "scenario essay-claims" in squiggle

    doc = json.loads((out / "scenario.json").read_text())
    assert doc["scenario"]["name"] == "essay-claims"
    assert doc["scenario"]["inputs"]["budget"] == "2e9 to 6e9"
    assert doc["seed"] == load_run(small_run).manifest["seed"]
    assert doc["run"]["id"] == small_run.name
    assert doc["run"]["posterior_sha256"] == load_run(small_run).manifest["files"]["posterior.nc"]
    assert 'budget = "2e9 to 6e9"' in doc["source_text"]
    assert doc["draws"] == n_draws
    assert doc["scenario"]["years"] == [2026, 2027, 2028, 2029, 2030]
    assert {d["statement"] for d in doc["decisions"]} >= {
        "building on open work saves this lab compute"
    }


def test_years_and_generations_inline_and_per_year_metaculus(small_run, tmp_path, capsys):
    out = tmp_path / "fc"
    args = [small_run, "--budget", "1e9", "--years", "2027..2028", "--generations", "2",
            "--out", out, "--metaculus", "savings_2028", "--range", "1e7", "1e11", "--log-scale",
            "--metaculus", "rd_compute_YEAR", "--range", "1e8", "1e12", "--log-scale"]  # fmt: skip
    assert forecast(*args) == 0
    names = set(pd.read_csv(out / "forecast.csv")["name"])
    assert {"savings_2027", "budget_2028", "savings_generation_2", "savings_generations"} <= names
    # NAME_YEAR: one file per year, each the CDF of that year's quantity
    assert sorted(p.name for p in (out / "metaculus").iterdir()) == [
        "rd_compute_2027.json",
        "rd_compute_2028.json",
        "savings_2028.json",
    ]
    samples = pd.read_csv(out / "samples.csv")
    for year in (2027, 2028):
        doc = json.loads((out / "metaculus" / f"rd_compute_{year}.json").read_text())
        cdf = np.array(doc["cdf"])
        assert not metaculus_problems(cdf, open_lower=True, open_upper=True)
        # the CDF's median sits near that year's draws' median (budgets grow, so 2028 > 2027)
        median = float(np.median(samples[f"rd_compute_{year}"]))
        t = np.log(1e8) + np.interp(0.5, cdf, np.linspace(0, 1, cdf.size)) * np.log(1e4)
        assert abs(t - np.log(median)) < 0.25, (year, np.exp(t), median)
    capsys.readouterr()
    # a per-year quantity without --years: the message says what is missing
    code = forecast(small_run, "--budget", "1e9", "--out", tmp_path / "x",
                    "--metaculus", "savings_2028", "--range", "1", "2")  # fmt: skip
    assert code == 2
    assert "per-year quantities need --years" in capsys.readouterr().err


def test_metaculus_groups_meet_the_rules(small_run, tmp_path, capsys):
    out = tmp_path / "fc"
    args = [
        small_run,
        "--scenario",
        "essay-claims",
        "--out",
        out,
        "--metaculus",
        "f_frontier",
        "--range",
        "0",
        "1",
        "--metaculus",
        "savings",
        "--range",
        "1e7",
        "1e10",
        "--log-scale",
        "--metaculus",
        "discount",
        "--closed-lower",
        "--range",
        "0",
        "1",
        "--closed-upper",
        "--metaculus",
        "ecosystem_savings",
        "--range",
        "1",
        "2",
    ]
    assert forecast(*args) == 0
    printed = capsys.readouterr().out
    files = sorted(p.name for p in (out / "metaculus").iterdir())
    assert files == ["discount.json", "ecosystem_savings.json", "f_frontier.json", "savings.json"]
    for f in files:
        doc = json.loads((out / "metaculus" / f).read_text())
        assert len(doc["cdf"]) == METACULUS_POINTS
        assert not metaculus_problems(
            doc["cdf"], open_lower=doc["open_lower_bound"], open_upper=doc["open_upper_bound"]
        )
    savings = json.loads((out / "metaculus" / "savings.json").read_text())
    assert savings["log_scale"]
    assert savings["lower_bound"] == 1e7
    discount = json.loads((out / "metaculus" / "discount.json").read_text())
    assert discount["cdf"][0] == 0.0
    assert discount["cdf"][-1] == 1.0
    # (almost) every draw is outside a range of 1 to 2 dollars: the shares below (d < 0 makes savings
    # negative) and above are said on the terminal, and the file is still a valid CDF
    m = re.search(
        r"ecosystem_savings.json: ([\d.]+)% of draws below the range, ([\d.]+)% above", printed
    )
    assert m is not None, printed
    below, above = float(m.group(1)), float(m.group(2))
    assert below + above == pytest.approx(100, abs=0.2)
    assert above > 50
    doc = json.loads((out / "scenario.json").read_text())
    assert [m["name"] for m in doc["metaculus"]] == [
        "f_frontier",
        "savings",
        "discount",
        "ecosystem_savings",
    ]


def test_inline_scenario_and_unit(small_run, tmp_path):
    out = tmp_path / "fc"
    rc = forecast(
        small_run,
        "--budget",
        "1e6 to 3e6",
        "--labs",
        "3",
        "--fork-rate",
        "0.1 to 0.3",
        "--unit",
        "gpu_hours",
        "--out",
        out,
        "--samples",
        "50",
    )
    assert rc == 0
    table = pd.read_csv(out / "forecast.csv").set_index("name")
    assert table.loc["savings", "unit"] == "GPU-hours"
    assert len(pd.read_csv(out / "samples.csv")) == 50
    doc = json.loads((out / "scenario.json").read_text())
    assert doc["source"] == "<command line>"
    assert doc["source_text"] is None
    assert doc["scenario"]["inputs"]["fork_rate"] == "0.1 to 0.3"
    assert doc["interpreted_as"]["fork_rate"].startswith("beta 90% interval")


def test_scenario_file_path(small_run, tmp_path):
    path = tmp_path / "mine.toml"
    path.write_text('[scenario]\nunit = "flop"\n[inputs]\nfinal_run = "1e24 to 3e24"\nlabs = 2\n')
    assert forecast(small_run, "--scenario", path, "--out", tmp_path / "fc") == 0
    table = pd.read_csv(tmp_path / "fc" / "forecast.csv").set_index("name")
    assert table.loc["ecosystem_savings", "unit"] == "FLOP"
    assert table.loc["ecosystem_savings", "q50"] > 0


def test_same_seed_same_files(small_run, tmp_path):
    for name in ("a", "b"):
        assert forecast(small_run, "--scenario", "essay-claims", "--out", tmp_path / name) == 0
    assert (
        forecast(small_run, "--scenario", "essay-claims", "--out", tmp_path / "c", "--seed", 3) == 0
    )
    for f in ("forecast.csv", "samples.csv", "samples.xlsx", "squiggle.txt"):
        a, b, c = ((tmp_path / n / f).read_bytes() for n in "abc")
        assert a == b
        assert a != c


def test_squiggle_option_picks_the_quantities_and_keeps_their_pairing(small_run, tmp_path, capsys):
    out = tmp_path / "fc"
    pick = "savings_2030,rd_compute_2030"
    assert forecast(small_run, "--scenario", "essay-claims", "--squiggle", pick, "--out", out) == 0
    text = (out / "squiggle.txt").read_text()
    assert re.findall(r"^(\w+)_samples = SampleSet", text, re.M) == pick.split(",")
    full = tmp_path / "full"
    assert forecast(small_run, "--scenario", "essay-claims", "--out", full) == 0
    whole = (full / "squiggle.txt").read_text()
    # the same draws at the same positions as in the full file: picking quantities keeps the pairing
    for name in pick.split(","):
        line = re.search(rf"^{name}_samples = .*$", text, re.M).group(0)
        assert line in whole
    capsys.readouterr()
    # NAME_YEAR: the quantity for every year of the forecast
    years = tmp_path / "years"
    assert forecast(small_run, "--scenario", "essay-claims", "--squiggle", "savings_YEAR",
                    "--out", years) == 0  # fmt: skip
    names = re.findall(r"^(\w+)_samples = SampleSet", (years / "squiggle.txt").read_text(), re.M)
    assert names == [f"savings_{y}" for y in range(2026, 2031)]
    code = forecast(small_run, "--scenario", "essay-claims", "--squiggle", "savings,nope",
                    "--out", tmp_path / "x")  # fmt: skip
    assert code == 2
    err = capsys.readouterr().err
    assert "--squiggle" in err
    assert "'nope'" in err
    assert not (tmp_path / "x").exists()


def test_help_examples_are_one_command_per_line(capsys):
    with pytest.raises(SystemExit):
        main(["forecast", "--help"])
    examples = capsys.readouterr().out.split("examples:")[1]
    for line in examples.splitlines():
        assert "--metaculus" not in line or line.count("--metaculus") == 1, line


def test_explicit_out_is_never_overwritten_without_force(small_run, tmp_path, capsys):
    out = tmp_path / "fc"
    assert forecast(small_run, "--scenario", "essay-claims", "--out", out) == 0
    before = (out / "forecast.csv").read_bytes()
    assert forecast(small_run, "--scenario", "consortium", "--out", out) == 2
    assert "already exists" in capsys.readouterr().err
    assert (out / "forecast.csv").read_bytes() == before
    assert forecast(small_run, "--scenario", "consortium", "--out", out, "--force") == 0
    assert (out / "forecast.csv").read_bytes() != before
    assert json.loads((out / "scenario.json").read_text())["scenario"]["name"] == "consortium"
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".tmp-")]


def test_default_folder_is_numbered_inside_the_run(run_copy, capsys):
    for _ in range(3):
        assert forecast(run_copy, "--scenario", "essay-claims") == 0
    names = sorted(p.name for p in run_copy.iterdir() if p.name.startswith("forecast"))
    assert names == ["forecast", "forecast-2", "forecast-3"]
    assert f"forecast folder: {run_copy / 'forecast-3'}" in capsys.readouterr().out
    first = (run_copy / "forecast" / "scenario.json").read_bytes()
    assert forecast(run_copy, "--scenario", "consortium", "--force") == 0
    assert (run_copy / "forecast" / "scenario.json").read_bytes() != first
    assert not (run_copy / "forecast-4").exists()
    load_run(run_copy)  # the run itself still verifies


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--scenario", "essay-claims", "--budget", "5"], "not both"),
        (["--scenario", "essay-claims", "--unit", "flop"], "--unit"),
        ([], "give a scenario"),
        (["--labs", "3"], "give a scenario"),
        (["--scenario", "no-such"], "essay-claims"),
        (["--scenario", "nowhere/x.toml"], "neither a file"),
        (["--budget", "5 to 1"], "low end must be below"),
        (["--budget", "5", "--fork-rate", "1.5"], "--fork-rate"),
        (["--budget", "5", "--labs", "2 to 4"], "whole number"),
        (["--budget", "5", "--unit", "litres"], "unknown unit"),
        (["--budget", "5", "--metaculus", "savngs", "--range", "0", "1"], "unknown quantity"),
        (["--budget", "5", "--metaculus", "savings"], "needs --range"),
        (["--budget", "5", "--metaculus", "savings", "--range", "a", "b"], "not two numbers"),
        (["--budget", "5", "--metaculus", "savings", "--range", "3", "1"], "LOW < HIGH"),
        (
            ["--budget", "5", "--metaculus", "savings", "--range", "0", "1", "--log-scale"],
            "--log-scale needs LOW > 0",
        ),
        (
            [
                "--budget",
                "5",
                "--metaculus",
                "discount",
                "--range",
                "0",
                "1",
                "--metaculus",
                "discount",
                "--range",
                "0",
                "1",
            ],
            "more than once",
        ),
    ],
)
def test_bad_input_exits_2_and_writes_nothing(small_run, tmp_path, capsys, args, expected):
    out = tmp_path / "fc"
    assert forecast(small_run, *args, "--out", out) == 2
    assert expected in capsys.readouterr().err
    assert not out.exists()


def test_bad_scenario_file_names_the_file(small_run, tmp_path, capsys):
    path = tmp_path / "bad.toml"
    path.write_text('[scenario]\nunit = "dollars"\n[inputs]\nbudget = 5\nfork_rat = 0.2\n')
    assert forecast(small_run, "--scenario", path, "--out", tmp_path / "fc") == 2
    err = capsys.readouterr().err
    assert str(path) in err
    assert "fork_rat" in err
    assert "line 5" in err


def test_missing_run_exits_2(tmp_path, capsys):
    assert forecast(tmp_path / "nope", "--scenario", "essay-claims") == 2
    assert "not a run folder" in capsys.readouterr().err
    assert not (tmp_path / "nope").exists()


def test_group_flag_before_metaculus_is_a_usage_error(small_run, capsys):
    with pytest.raises(SystemExit) as exc:
        forecast(small_run, "--budget", "5", "--range", "0", "1")
    assert exc.value.code == 2
    assert "--range must follow --metaculus NAME" in capsys.readouterr().err


def test_help_states_the_range_rule(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["forecast", "--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    for words in ("90% interval", "lognormal", "beta", "uniform", "examples:", "forecast-2"):
        assert words in out
