"""Leave-one-lab-out: which rows are held out, the predictive's formulas, its calibration on simulated
data, the saved folder, the command and the report section."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from scipy import stats

from rdshare.core import dataset as ds_mod
from rdshare.core import design as design_mod
from rdshare.core import generative as gen
from rdshare.core import priors as priors_mod
from rdshare.inference import holdout


@pytest.fixture(scope="module")
def design():
    return design_mod.from_dataset(ds_mod.load())


def _ids(design, rows) -> set[str]:
    return {design.row_ids[r] for r in rows}


def test_held_out_rows_follow_labs_programmes_and_contrasts(design):
    lab = design.labs.index
    # OpenAI: its own rows and the contrasts taken against its row
    assert _ids(design, holdout.held_out(design, lab("OpenAI"))) == {
        "openai2024", "gpt3-smaller", "gpt3-rp", "minimax-ipo", "zai-ipo",
    }  # fmt: skip
    # MiniMax: only its contrast; the row it is taken against stays in (that is what it predicts from)
    assert _ids(design, holdout.held_out(design, lab("MiniMax"))) == {"minimax-ipo"}
    assert _ids(design, holdout.held_out(design, lab("DeepSeek"))) == {
        "deepseek-v3", "deepseek-v3-ablations",
    }  # fmt: skip
    # a lab whose only row is about the discount is still held out
    generic = lab("GPT-3 replicator (generic)")
    assert _ids(design, holdout.held_out(design, generic)) == {"cottier-hparam-disclosure"}


def _params(rng, priors):
    return {k: float(v[0]) for k, v in gen.draw_prior(priors, "full", 1, rng).items()}


def test_one_held_row_is_the_leave_one_out_conditional(design):
    """Holding out one row gives the same mean and sd as the model's pointwise conditional."""
    rng = np.random.default_rng(3)
    p = _params(rng, priors_mod.load())
    xb = design.b + design.bound_dir * 0.3
    cm, cs = gen.conditionals(gen.latent(design, xb), gen.mean(design, p, "full"),
                              gen.covariance(design, p, "full"))  # fmt: skip
    for r in (0, 4, int(design.bound_idx[0])):
        mu, sd = holdout.block_predictive(design, p, "full", xb, np.array([r]))
        assert mu[0] == pytest.approx(cm[r], rel=1e-10, abs=1e-10)
        assert sd[0] == pytest.approx(cs[r], rel=1e-10)


def test_block_predictive_is_gaussian_conditioning(design):
    """Against the textbook formula with explicit inverses, for a block of several rows."""
    rng = np.random.default_rng(4)
    p = _params(rng, priors_mod.load())
    xb = design.b + design.bound_dir * 0.5
    held = holdout.held_out(design, design.labs.index("OpenAI"))
    mu, sd = holdout.block_predictive(design, p, "full", xb, held)
    v = gen.latent(design, xb)
    m = gen.mean(design, p, "full")
    C = gen.covariance(design, p, "full")
    kept = np.setdiff1d(np.arange(design.n_rows), held)
    inv = np.linalg.inv(C[np.ix_(kept, kept)])
    want_mu = m[held] + C[np.ix_(held, kept)] @ inv @ (v[kept] - m[kept])
    want_cov = C[np.ix_(held, held)] - C[np.ix_(held, kept)] @ inv @ C[np.ix_(kept, held)]
    np.testing.assert_allclose(mu, want_mu, rtol=1e-9)
    np.testing.assert_allclose(sd, np.sqrt(np.diag(want_cov)), rtol=1e-9)


def test_mixture_quantiles_are_exact():
    q = holdout.mixture_quantiles(np.array([0.3]), np.array([2.0]), [0.05, 0.5, 0.95])
    np.testing.assert_allclose(q, stats.norm.ppf([0.05, 0.5, 0.95], 0.3, 2.0), atol=1e-9)
    mu, sd = np.array([-1.0, 2.0, 0.5]), np.array([0.5, 1.0, 3.0])
    q = holdout.mixture_quantiles(mu, sd, [0.1, 0.9])
    for x, prob in zip(q, [0.1, 0.9], strict=True):
        assert holdout.mixture_cdf(x, mu, sd) == pytest.approx(prob, abs=1e-9)


def test_predictive_is_calibrated_when_the_parameters_are_known(design):
    """Data simulated from the model: the held-out rows' PIT under the true parameters is uniform, so
    90% of reports land in the 90% interval. This checks that the measurement error, the stated
    uncertainty and the new lab's and programme's spread are all in the predictive (a predictive
    missing any of them would be too narrow and miss too often)."""
    rng = np.random.default_rng(11)
    priors = priors_mod.load()
    p = _params(rng, priors)
    held = holdout.held_out(design, design.labs.index("Ai2"))
    pits = []
    for _ in range(3000):
        effects = gen.draw_effects_prior(design, p, "full", rng)
        vals = gen.replicate(design, p, "full", effects, rng)
        sim = design.with_observations(vals[design.gauss_idx], vals[design.bound_idx] >= design.b)
        mu, sd = holdout.block_predictive(sim, p, "full", vals[design.bound_idx], held)
        pits.append(stats.norm.cdf((vals[held] - mu) / sd))
    pits = np.array(pits)  # (simulation, held row): independent down each column
    for j in range(len(held)):
        assert stats.kstest(pits[:, j], "uniform").pvalue > 1e-3, design.row_ids[held[j]]
        inside = np.mean((pits[:, j] >= 0.05) & (pits[:, j] <= 0.95))
        assert inside == pytest.approx(0.90, abs=0.02)


# --- end to end, on the session's small run --------------------------------------------------------


@pytest.fixture(scope="module")
def two_labs(small_run):
    return holdout.analyse(small_run, labs=["DeepSeek", "MiniMax"])


def test_analyse_scores_the_labs_rows(two_labs):
    t = two_labs.table
    assert list(t["row"]) == ["deepseek-v3", "deepseek-v3-ablations", "minimax-ipo"]
    assert list(t["form"]) == ["gaussian", "bound", "gaussian"]
    assert (t["q05"] < t["q50"]).all()
    assert (t["q50"] < t["q95"]).all()
    assert ((t["pit"] >= 0) & (t["pit"] <= 1)).all()
    g = t[t["form"] == "gaussian"]
    # inside exactly when the PIT is in the central 90%
    np.testing.assert_array_equal(g["inside"], (g["pit"] >= 0.05) & (g["pit"] <= 0.95))
    # and then the reported value lies between the interval's ends
    for r in g.itertuples():
        assert r.inside == (r.q05 <= r.reported <= r.q95)
    assert two_labs.points["n"] == 2
    assert two_labs.bounds["n"] == 1
    assert [r["lab"] for r in two_labs.refits] == ["DeepSeek", "MiniMax"]


def test_unknown_lab_is_refused(small_run):
    with pytest.raises(ValueError, match="Nowhere"):
        holdout.analyse(small_run, labs=["Nowhere"])


def test_saved_folder_round_trips_and_refuses_overwrite(two_labs, small_run, tmp_path):
    from rdshare.errors import RunExistsError

    run = tmp_path / "run"
    shutil.copytree(small_run, run)
    folder = two_labs.save(run)
    assert {p.name for p in folder.iterdir()} == {
        "holdout.json", "holdout.csv", "holdout.md", "manifest.json",
    }  # fmt: skip
    back = holdout.load(run)
    assert back.table["row"].tolist() == two_labs.table["row"].tolist()
    np.testing.assert_allclose(back.table["pit"], two_labs.table["pit"])
    assert back.headline() == two_labs.headline()
    doc = json.loads((folder / "holdout.json").read_text())
    assert doc["points"]["n"] == 2
    with pytest.raises(RunExistsError):
        two_labs.save(run)
    two_labs.save(run, force=True)


def test_cli_writes_the_folder_and_the_report_section(small_run, tmp_path, capsys):
    from rdshare.cli import main

    run = tmp_path / "run"
    shutil.copytree(small_run, run)
    code = main(["holdout", str(run), "--lab", "BigScience", "--allow-unconverged"])
    out = capsys.readouterr().out
    assert code == 0
    assert "Leave-one-lab-out: " in out
    assert (run / "holdout" / "holdout.csv").is_file()
    md = (run / "report.md").read_text()
    assert "Leave-one-lab-out" in md
    assert "| bloom |" in md or "bloom" in md
    # a lab that is not in the run is an input error naming the flag, before any work
    code = main(["holdout", str(run), "--lab", "Nowhere", "--force"])
    err = capsys.readouterr().err
    assert code == 2
    assert "--lab" in err
    assert "Nowhere" in err
