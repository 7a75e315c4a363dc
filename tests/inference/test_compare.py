"""Model comparison: pointwise log-likelihood per evidence row, PSIS-LOO of three variants, Pareto k."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from rdshare.inference import compare
from rdshare.inference.fit import FitConfig

from ..conftest import SMALL


def test_evidence_log_likelihood_has_one_term_per_row(small_fit):
    tree = small_fit.tree
    da = compare.evidence_log_likelihood(tree)
    rows = list(small_fit.design.row_ids)
    assert da.dims == ("chain", "draw", "row")
    assert [str(r) for r in da["row"].values] == rows
    ll = tree["log_likelihood"].ds
    for r in small_fit.design.gauss_ids:
        np.testing.assert_array_equal(da.sel(row=r).values, ll["y_obs"].sel(obs=r).values)
    for r in small_fit.design.bound_ids:
        np.testing.assert_array_equal(da.sel(row=r).values, ll["bound_obs"].sel(bound=r).values)


def test_loo_sums_pointwise_terms(small_fit):
    e = compare.loo(small_fit.tree)
    assert e.n_data_points == small_fit.design.n_rows == 17
    assert float(e.elpd_i.sum()) == pytest.approx(float(e.elpd))
    for row, k in compare.high_k_rows(e):
        assert k > e.good_k
        assert row in small_fit.design.row_ids


def test_row_log_likelihood_matches_the_models(small_fit):
    tree, design = small_fit.tree, small_fit.design
    ll = compare.evidence_log_likelihood(tree)
    post = tree["posterior"].ds
    for r, rid in enumerate(design.row_ids):
        ours = compare.row_log_likelihood(design, post, r)
        np.testing.assert_allclose(ours, ll.sel(row=rid).values, rtol=1e-7, atol=1e-9)


def _linked(design, r: int) -> set[int]:
    """Rows in row r's connected block of the covariance (they share a lab, programme, estimator or a
    contrast's versus row with r, directly or through other rows)."""
    from scipy.sparse.csgraph import connected_components

    C = design.K0 + design.K.sum(axis=0)
    _, comp = connected_components(np.abs(C) > 0, directed=False)
    return set(np.flatnonzero(comp == comp[r]).tolist())


def test_without_row_makes_the_row_uninformative(small_fit):
    """Its own term becomes flat; rows outside its covariance block keep their terms exactly; rows in
    its block are conditioned on it (each term is given every other row), so theirs may move."""
    design, post = small_fit.design, small_fit.tree["posterior"].ds
    for r in (int(design.gauss_idx[0]), int(design.bound_idx[0])):
        neutral = compare.without_row(design, r)
        assert neutral.y.shape == design.y.shape
        assert neutral.b.shape == design.b.shape
        flat = compare.row_log_likelihood(neutral, post, r)
        assert np.ptp(flat) < 1e-4  # the same for every draw: carries no information
        linked = _linked(design, r)
        outside = [i for i in range(design.n_rows) if i not in linked]
        assert outside, "the shipped data should have rows independent of this one"
        for i in outside:
            np.testing.assert_array_equal(
                compare.row_log_likelihood(neutral, post, i),
                compare.row_log_likelihood(design, post, i),
            )
        moved = [
            i
            for i in linked - {r}
            if not np.allclose(
                compare.row_log_likelihood(neutral, post, i),
                compare.row_log_likelihood(design, post, i),
            )
        ]
        assert moved, "leaving a row out should change what its block-mates are conditioned on"


@pytest.fixture(scope="module")
def comparison(small_fit):
    cfg = FitConfig(seed=1, **SMALL)
    return compare.run(config=cfg, fits={"full": small_fit})


def test_three_variants_are_compared(comparison):
    res = comparison
    assert set(res.table.index) == set(compare.VARIANTS)
    assert res.table["rank"].tolist() == [0, 1, 2]
    assert res.pointwise.groupby("variant").size().to_dict() == {v: 17 for v in compare.VARIANTS}
    for v in compare.VARIANTS:
        pw = res.pointwise[res.pointwise["variant"] == v]
        assert pw["elpd_i"].sum() == pytest.approx(res.loo[v]["elpd"])
    for v, d in res.loo.items():
        refitted = {x["row"] for x in d["refitted"]}
        assert refitted == {row for row, _ in d["high_k"]}
        pw = res.pointwise[res.pointwise["variant"] == v]
        assert set(pw.loc[pw["refitted"], "row"]) == refitted
    text = res.describe()
    assert "Best expected predictive accuracy" in text
    for v, d in res.loo.items():
        for row, _ in d["high_k"]:
            assert row in " ".join(res.warnings)
            assert v in " ".join(res.warnings)


def test_save_and_load(comparison, tmp_path):
    out = comparison.save(tmp_path / "cmp", command=["pytest"])
    assert {p.name for p in out.iterdir()} == {
        "compare.csv",
        "pointwise.csv",
        "compare.json",
        "compare.md",
        "manifest.json",
    }
    doc = compare.load(out)
    assert [r["variant"] for r in doc["table"]] == list(comparison.table.index)
    assert "### Model comparison" in doc["markdown"]
    assert json.loads((out / "compare.json").read_text())["warnings"] == comparison.warnings
    from rdshare.errors import RunExistsError

    with pytest.raises(RunExistsError):
        comparison.save(tmp_path / "cmp")


def test_cli_with_a_run_writes_into_it(small_run, tmp_path, capsys):
    from rdshare.cli import main

    run = tmp_path / "run"
    shutil.copytree(small_run, run)
    code = main(["compare", "--run", str(run), "--allow-unconverged"])
    assert code == 0
    out = capsys.readouterr().out
    assert "PSIS-LOO comparison" in out
    assert (run / "compare" / "compare.csv").is_file()
    assert main(["compare", "--run", str(run), "--priors", "skeptical"]) == 2
