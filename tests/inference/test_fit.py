"""Fitting: groups, summary, the convergence gate, reproducibility, recovery of known parameters."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from rdshare.core import design as design_mod
from rdshare.core import priors as priors_mod
from rdshare.core import simulate
from rdshare.inference import diagnostics
from rdshare.inference.fit import FitConfig, compiled_sampler, fit, sample_posterior
from rdshare.inference.results import SUMMARY_COLUMNS

from ..conftest import SMALL, slow_scale

HEADLINE = ("f_frontier", "f_follower", "discount", "sigma_lab")


def test_tree_has_every_group(small_fit):
    groups = set(small_fit.tree.children)
    for g in (
        "posterior",
        "sample_stats",
        "prior",
        "prior_predictive",
        "posterior_predictive",
        "log_likelihood",
        "log_prior",
        "observed_data",
        "constant_data",
    ):
        assert g in groups, g
    post = small_fit.tree["posterior"].ds
    assert post.sizes["chain"] == SMALL["chains"]
    assert post.sizes["draw"] == SMALL["draws"]
    for name in (*HEADLINE, "f_new_lab"):
        assert name in post
        assert name in small_fit.tree["prior"].ds
    attrs = small_fit.tree.attrs
    assert attrs["rdshare_seed"] == 1
    assert len(attrs["rdshare_data_sha256"]) == 64


def test_summary_columns_and_values(small_fit):
    s = small_fit.summary
    assert tuple(s.columns) == SUMMARY_COLUMNS
    assert s["name"].is_unique
    for name in (*HEADLINE, "f_new_lab", "sigma_meas_lab", "beta_era"):
        assert name in set(s["name"])
    x = small_fit.tree["posterior"]["f_frontier"].values.ravel()
    row = s.set_index("name").loc["f_frontier"]
    assert row["q05"] == pytest.approx(np.quantile(x, 0.05))
    assert row["q95"] == pytest.approx(np.quantile(x, 0.95))
    assert row["mean"] == pytest.approx(x.mean())
    assert 0 < row["q05"] < row["q50"] < row["q95"] < 1


def test_new_lab_is_wider_than_the_typical_lab(small_fit):
    """f_new_lab includes between-lab spread, so its interval is wider than f_frontier's."""
    s = small_fit.summary.set_index("name")
    width = s["q95"] - s["q05"]
    assert width["f_new_lab"] > width["f_frontier"]


def test_follower_share_is_below_leader_share_exactly_when_the_discount_is_positive(small_fit):
    """d may be negative (open work can cost a follower more); the follower's share is below the
    frontier's in just the draws where d > 0, and the data put most draws there."""
    post = small_fit.tree["posterior"].ds
    below = post["f_follower"].values < post["f_frontier"].values
    np.testing.assert_array_equal(below, post["discount"].values > 0)
    assert below.mean() > 0.5


def test_gate_fails_on_a_deliberately_short_fit(small_fit):
    """Ten draws cannot reach ESS 400: the gate must say so and name the figure."""
    res = fit(seed=3, draws=10, tune=10, chains=2, predictive=False)
    v = res.verdict
    assert not v.passed
    failed = {c.name for c in v.failed}
    assert {"ess_bulk", "ess_tail"} <= failed
    assert "NOT CONVERGED" in v.describe()
    assert any("--draws" in a for a in v.advice)
    assert res.tree.attrs["rdshare_converged"] == 0


def _fake_tree(diverging: np.ndarray, energy: np.ndarray, x: np.ndarray) -> xr.DataTree:
    post = xr.Dataset({"theta": (("chain", "draw"), x)})
    stats = xr.Dataset(
        {
            "diverging": (("chain", "draw"), diverging),
            "energy": (("chain", "draw"), energy),
        }
    )
    return xr.DataTree.from_dict({"posterior": post, "sample_stats": stats})


def test_gate_counts_divergences_and_low_bfmi():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((4, 1000))
    div = np.zeros((4, 1000), dtype=bool)
    div[2, 17] = True
    energy = np.cumsum(rng.standard_normal((4, 1000)), axis=1)  # random walk: E-BFMI near 0
    v = diagnostics.gate(_fake_tree(div, energy, x), ["theta"])
    checks = {c.name: c for c in v.checks}
    assert not checks["divergences"].passed
    assert checks["divergences"].value == 1
    assert not checks["e_bfmi"].passed
    assert checks["e_bfmi"].value < 0.3
    assert checks["r_hat"].passed
    assert checks["ess_bulk"].passed


def test_gate_passes_on_independent_draws():
    rng = np.random.default_rng(1)
    tree = _fake_tree(
        np.zeros((4, 1000), bool), rng.standard_normal((4, 1000)), rng.standard_normal((4, 1000))
    )
    v = diagnostics.gate(tree, ["theta"])
    assert v.passed, v.describe()
    d = v.to_dict()
    assert d["converged"] is True
    assert d["thresholds"]["ess_min"] == 400


def test_gate_flags_chains_that_disagree():
    rng = np.random.default_rng(2)
    x = rng.standard_normal((4, 1000))
    x[0] += 3.0
    tree = _fake_tree(np.zeros((4, 1000), bool), rng.standard_normal((4, 1000)), x)
    v = diagnostics.gate(tree, ["theta"])
    assert not {c.name: c for c in v.checks}["r_hat"].passed


def test_bad_settings_are_input_errors():
    from rdshare.errors import InputError

    with pytest.raises(InputError, match="--draws"):
        FitConfig(draws=0).validate()
    with pytest.raises(InputError, match="--target-accept"):
        FitConfig(target_accept=1.5).validate()


def test_same_seed_same_numbers_in_process(small_fit):
    again = fit(seed=1, **SMALL)
    pd.testing.assert_frame_equal(again.summary, small_fit.summary, check_exact=True)


def _cli_fit(out: Path, env: dict) -> bytes:
    cmd = [
        sys.executable, "-m", "rdshare.cli", "fit", "--out", str(out), "--no-report",
        "--draws", "150", "--tune", "150", "--chains", "2", "--seed", "11", "--allow-unconverged",
    ]  # fmt: skip
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return (out / "summary.csv").read_bytes()


def test_two_processes_same_seed_identical_summary(tmp_path):
    """A cold process (fresh compile caches) and a warm one (caches on disk) give identical bytes.

    This is the regression test for the numba fastmath issue (docs/model.md, "Reproducibility").
    """
    env = dict(os.environ)
    env.pop("PYTENSOR_FLAGS", None)
    env["PYTENSOR_FLAGS"] = f"base_compiledir={tmp_path / 'pytensor'}"
    env["RDSHARE_CACHE_DIR"] = str(tmp_path / "rdshare-cache")
    cold = _cli_fit(tmp_path / "a", env)
    warm = _cli_fit(tmp_path / "b", env)
    assert cold == warm


# --- recovery of known parameters ----------------------------------------------------------------


def synthetic_table(n_labs: int, rng: np.random.Generator) -> pd.DataFrame:
    """A larger dataset of the shipped kinds, so parameters are identifiable: three share rows per
    lab (several sharing a programme or an estimator) and, for every fourth lab, a discount interval."""
    kinds = ["point", "point_interval", "interval", "pair", "lower_bound"]
    rows = []

    def row(**kw):
        base = {
            "value": np.nan, "low": np.nan, "high": np.nan, "interval_prob": np.nan,
            "final_amount": np.nan, "total_amount": np.nan, "amount_sd": np.nan,
            "programme": "", "estimator": "", "versus": "", "component": "", "exclude": "",
        }  # fmt: skip
        rows.append({**base, **kw})

    for lab in range(n_labs):
        position = "leader" if lab % 3 == 0 else "follower"
        for j in range(3):
            kind = kinds[(lab + j) % len(kinds)]
            row(
                id=f"r{lab}-{j}",
                lab=f"lab{lab}",
                year=int(rng.integers(2020, 2027)),
                position=position,
                scope=["full", "pretraining", "full", "posttraining"][(lab * 3 + j) % 4],
                unit=["gpu_hours", "dollars", "flop", "energy"][(lab + 2 * j) % 4],
                kind=kind,
                value=0.6 if kind in ("point", "point_interval") else np.nan,
                low={"point_interval": 0.4, "interval": 0.5, "lower_bound": 0.5}.get(kind, np.nan),
                high={"point_interval": 0.8, "interval": 0.8}.get(kind, np.nan),
                interval_prob=0.9 if kind in ("point_interval", "interval") else np.nan,
                final_amount=40.0 if kind == "pair" else np.nan,
                total_amount=100.0 if kind == "pair" else np.nan,
                amount_sd=0.1 if kind == "pair" else np.nan,
                provenance=["lab", "third_party", "derived"][(lab + j) % 3],
                programme=f"p{lab}" if j < 2 else "",  # two rows of one programme
                estimator=f"e{lab % 4}" if j == 2 else "",  # four estimators shared across labs
            )
        if lab % 4 == 1:
            row(
                id=f"d{lab}", lab=f"lab{lab}", year=2024, position="follower", scope="full",
                unit="flop", kind="discount_interval", low=0.2, high=0.5, interval_prob=0.9,
                provenance="derived",
            )  # fmt: skip
    return pd.DataFrame(rows)


TRUTH = {
    "f_frontier": 0.82,
    "discount": 0.35,
    "sigma_lab": 0.5,
    "sigma_programme": 0.2,
    "sigma_estimator": 0.2,
    "beta_pretraining": -0.8,
    "beta_posttraining": 0.6,
    "beta_era": 0.15,
    "offset_gpu_hours": 0.2,
    "offset_dollars": 0.25,
    "offset_energy": 0.3,
    "sigma_meas_lab": 0.25,
    "sigma_meas_third_party": 0.5,
    "sigma_meas_derived": 0.5,
}


@pytest.mark.slow
def test_recovers_known_parameters():
    """Data simulated from known parameters: each lands inside its posterior 95% interval.

    Full size: 60 labs (180 rows); CI's reduced form (RDSHARE_SLOW_SCALE=0.1) still uses 24 labs.
    """
    rng = np.random.default_rng(2026)
    n_labs = max(24, int(60 * slow_scale()))
    table = synthetic_table(n_labs, rng)
    design = design_mod.build(table)
    sim = simulate.simulate(design, simulate.derived(TRUTH), rng)
    priors = priors_mod.load()
    compiled = compiled_sampler(sim, priors)
    tree = sample_posterior(compiled, FitConfig(draws=500, tune=500, chains=2), seed=5)
    verdict = diagnostics.gate(tree, ["f_frontier", "discount", "sigma_lab", "beta_era"])
    assert verdict.checks[3].passed, verdict.describe()  # no divergences
    post = tree["posterior"].ds
    misses = []
    for name in (
        "f_frontier",
        "discount",
        "sigma_lab",
        "beta_pretraining",
        "beta_era",
        "offset_dollars",
    ):
        lo, hi = np.quantile(post[name].values, [0.025, 0.975])
        if not lo <= TRUTH[name] <= hi:
            misses.append(f"{name}: {TRUTH[name]} not in [{lo:.3f}, {hi:.3f}]")
    assert not misses, misses
    # and the data sharpened f_frontier well beyond its prior (90% width 0.6)
    q = np.quantile(post["f_frontier"].values, [0.05, 0.95])
    assert q[1] - q[0] < 0.3


def test_probability_the_discount_is_positive_before_and_after_the_data(small_fit):
    from rdshare.inference.results import discount_positive

    after, before = discount_positive(small_fit.tree, small_fit.priors)
    d = small_fit.tree["posterior"]["discount"].values
    assert after == (d > 0).mean()
    # the prior's is exact: default.toml says about 0.88
    assert before == pytest.approx(small_fit.priors["discount"].scipy().sf(0.0))
    assert before == pytest.approx(0.88, abs=0.01)
    assert discount_positive(small_fit.tree)[1] is None
    no_d = small_fit.tree.copy()
    no_d["posterior"] = no_d["posterior"].ds.drop_vars("discount")
    assert discount_positive(no_d) is None


def test_light_trace_has_the_same_draws():
    """The SBC's light reading of nutpie's raw trace: the same posterior (values, dimensions,
    coordinates) and the same divergences and energies as nutpie's own conversion."""
    from rdshare.core import dataset as ds_mod

    design = design_mod.from_dataset(ds_mod.load())
    compiled = compiled_sampler(design, priors_mod.load())
    config = FitConfig(draws=120, tune=100, chains=2, cores=1)
    full = sample_posterior(compiled, config, seed=4)
    light = sample_posterior(compiled, config, seed=4, light=True)
    a, b = full["posterior"].ds, light["posterior"].ds
    assert set(a.data_vars) == set(b.data_vars)
    for name in a.data_vars:
        assert a[name].dims == b[name].dims, name
        np.testing.assert_array_equal(a[name].values, b[name].values, err_msg=name)
    for dim in b.dims:
        np.testing.assert_array_equal(a[dim].values, b[dim].values)
    for name in ("diverging", "energy"):
        np.testing.assert_array_equal(
            full["sample_stats"].ds[name].values, light["sample_stats"].ds[name].values
        )
