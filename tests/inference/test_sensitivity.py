"""Prior sensitivity: power-scaling diagnosis in words, refits under another prior file, output folder."""

from __future__ import annotations

import json
import shutil

import pandas as pd
import pytest

from rdshare.core import priors as priors_mod
from rdshare.inference import sensitivity


@pytest.fixture
def run_copy(small_run, tmp_path):
    """A private copy of the session's small run (the shared one must not change)."""
    dst = tmp_path / "run"
    shutil.copytree(small_run, dst)
    return dst


@pytest.mark.parametrize(
    ("prior", "lik", "label"),
    [
        (0.2, 0.2, "prior-data conflict"),
        (0.2, 0.01, "prior-dominated"),
        (0.01, 0.2, "likelihood-dominated"),
        (0.01, 0.01, "no sensitivity detected"),
        (0.05, 0.05, "prior-data conflict"),  # the threshold itself counts as sensitive
    ],
)
def test_diagnosis_follows_the_paper_table(prior, lik, label):
    assert sensitivity.diagnose(prior, lik)[0] == label


def test_fit_stores_both_groups_psense_needs(small_fit):
    tree = small_fit.tree
    assert {"y_obs", "bound_obs"} <= set(tree["log_likelihood"].ds.data_vars)
    terms = sensitivity.prior_terms(tree)
    from rdshare.core.quantities import PARAMETERS

    assert set(terms) == set(PARAMETERS)  # every prior a user writes, nothing structural
    assert "u_lab" not in tree["log_prior"].ds  # the grouped effects are integrated out


def test_power_scaling_table(small_fit):
    df = sensitivity.power_scaling(small_fit.tree)
    assert df["name"].tolist() == list(sensitivity.QUANTITIES)
    assert (df[["prior", "likelihood"]] >= 0).all().all()
    assert set(df["diagnosis"]) <= {d[0] for d in sensitivity.DIAGNOSES.values()}
    for r in df.itertuples():
        assert sensitivity.diagnose(r.prior, r.likelihood)[0] == r.diagnosis
    # the data narrow f_frontier a lot more than the prior file's interval
    row = df.set_index("name").loc["f_frontier"]
    assert row["width_ratio"] < 0.6


def test_missing_groups_are_a_clear_error(small_fit):
    from rdshare.errors import RunFolderError

    tree = small_fit.tree.copy()
    del tree["log_prior"]
    with pytest.raises(RunFolderError, match="log_prior"):
        sensitivity.power_scaling(tree)


def test_refit_under_skeptical_moves_the_discount_down(run_copy):
    skeptical = priors_mod.shipped_dir() / "skeptical.toml"
    res = sensitivity.analyse(run_copy, alternatives=[skeptical])
    iv = res.intervals
    assert set(iv["role"]) == {"run", "refit"}
    d = iv.set_index(["name", "priors"])
    assert d.loc[("discount", "skeptical"), "q50"] < d.loc[("discount", "default"), "q50"]
    assert d.loc[("discount", "skeptical"), "median_shift"] < -0.2
    # f_frontier rests on the data: the discount prior barely moves it
    assert abs(d.loc[("f_frontier", "skeptical"), "median_shift"]) < 0.5
    assert (iv.loc[iv["role"] == "run", "median_shift"] == 0).all()

    folder = res.save(run_copy)
    assert {p.name for p in folder.iterdir()} == {
        "sensitivity.json",
        "sensitivity.csv",
        "intervals.csv",
        "sensitivity.md",
        "by_prior.csv",
        "manifest.json",
    }
    back = sensitivity.load(run_copy)
    pd.testing.assert_frame_equal(back.psense, res.psense, check_dtype=False)
    md = back.to_markdown()
    assert "| discount | skeptical" in md
    assert "### Prior sensitivity" in md
    doc = json.loads((folder / "sensitivity.json").read_text())
    assert doc["threshold"] == 0.05
    assert len(doc["intervals"]) == len(iv)
    # the run folder still verifies: derived files are not in the manifest
    from rdshare.inference.results import load_run

    load_run(run_copy)


def test_default_alternatives_exclude_the_runs_own_file():
    default = priors_mod.load(None)
    names = [p.stem for p in sensitivity.default_alternatives(default)]
    assert "default" not in names
    assert {"skeptical", "epoch-2024"} <= set(names)


def test_cli_power_scaling_only(run_copy, capsys):
    from rdshare.cli import main

    assert main(["sensitivity", str(run_copy), "--no-refit"]) == 0
    out = capsys.readouterr().out
    assert "Power-scaling sensitivity" in out
    assert "f_frontier" in out
    assert (run_copy / "sensitivity" / "sensitivity.csv").is_file()
    assert main(["sensitivity", str(run_copy), "--no-refit"]) == 2  # exists, no --force
    assert main(["sensitivity", str(run_copy), "--no-refit", "--force"]) == 0
    assert main(["sensitivity", str(run_copy), "--priors", "no-such-prior"]) == 2
