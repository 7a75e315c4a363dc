"""``rdshare predict`` end to end, in process, on the session's small saved run."""

from __future__ import annotations

import json
import subprocess
import sys
from types import SimpleNamespace

import numpy as np
import pytest

from rdshare.cli import main
from rdshare.commands.predict import posterior_draws, warn_if_unconverged
from rdshare.core.predict import PARAMETERS, parse_lab, predict_new_lab
from rdshare.inference.results import load_run

LAB = "position=follower,scope=pretraining,year=2022"


def run_json(capsys, *args) -> dict:
    assert main(["predict", *map(str, args), "--json"]) == 0
    out = capsys.readouterr().out
    return json.loads(out)


def test_text_output(small_run, capsys):
    assert main(["predict", str(small_run), "--lab", LAB]) == 0
    out = capsys.readouterr().out
    assert "position=follower, scope=pretraining, year=2022" in out
    assert "between-lab spread included" in out
    for label in ("mean", "5%", "25%", "50% (median)", "75%", "95%"):
        assert f"  {label} " in out


def test_json_has_exactly_the_keys_and_matches_the_core(small_run, capsys):
    got = run_json(capsys, small_run, "--lab", LAB, "--seed", 5)
    assert list(got) == ["mean", "q05", "q25", "q50", "q75", "q95"]
    assert got["q05"] < got["q25"] < got["q50"] < got["q75"] < got["q95"]
    run = load_run(small_run)
    expected = predict_new_lab(posterior_draws(run, PARAMETERS), parse_lab(LAB), 5).summary()
    assert got == pytest.approx(expected, rel=1e-12)


def test_json_output_is_only_json(small_run, capsys):
    assert main(["predict", str(small_run), "--json"]) == 0
    out = capsys.readouterr().out
    assert out.count("\n") == 1
    json.loads(out)


def test_seed_default_is_reproducible_and_seed_changes_draws(small_run, capsys):
    a = run_json(capsys, small_run, "--lab", LAB)
    b = run_json(capsys, small_run, "--lab", LAB)
    c = run_json(capsys, small_run, "--lab", LAB, "--seed", 999)
    assert a == b
    assert a != c


def test_covariates_move_the_prediction(small_run, capsys):
    frontier = run_json(capsys, small_run)
    follower = run_json(capsys, small_run, "--lab", "position=follower")
    assert follower["q50"] < frontier["q50"]  # the discount lowers a follower's R&D share


def test_default_lab_agrees_with_the_runs_f_new_lab(small_run, capsys):
    got = run_json(capsys, small_run)
    row = load_run(small_run).summary.set_index("name").loc["f_new_lab"]
    # the same quantity with different random lab effects: agree to Monte Carlo error
    assert got["q50"] == pytest.approx(row["q50"], abs=0.03)
    assert got["q05"] == pytest.approx(row["q05"], abs=0.05)


def test_bad_lab_exits_2_naming_the_key(small_run, capsys):
    assert main(["predict", str(small_run), "--lab", "position=folower,scope=pre"]) == 2
    err = capsys.readouterr().err
    assert "position 'folower'" in err
    assert "leader, follower" in err
    assert "scope 'pre'" in err
    assert "full, pretraining, posttraining" in err


def test_missing_run_exits_2(tmp_path, capsys):
    assert main(["predict", str(tmp_path / "nope")]) == 2
    assert "not a run folder" in capsys.readouterr().err


def test_unconverged_run_warns_on_stderr(small_run, capsys):
    run = load_run(small_run)
    assert main(["predict", str(small_run), "--json"]) == 0
    err = capsys.readouterr().err
    assert ("did NOT pass the convergence gate" in err) == (not run.converged)
    fake = SimpleNamespace(converged=False, folder="RUN")
    warn_if_unconverged(fake)
    assert "WARNING: run RUN did NOT pass the convergence gate" in capsys.readouterr().err
    warn_if_unconverged(SimpleNamespace(converged=True, folder="RUN"))
    assert capsys.readouterr().err == ""


def test_help_has_description_and_example(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["predict", "--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    assert "sigma_lab" in out
    assert "examples:" in out
    assert "--lab" in out


def test_posterior_draws_flatten_chains_and_draws(small_run):
    run = load_run(small_run)
    draws = posterior_draws(run, PARAMETERS)
    post = run.tree["posterior"].ds
    n = post.sizes["chain"] * post.sizes["draw"]
    assert set(draws) <= set(PARAMETERS)
    assert "f_frontier" in draws
    assert all(v.shape == (n,) for v in draws.values())
    np.testing.assert_array_equal(draws["f_frontier"][: post.sizes["draw"]], post["f_frontier"][0])


def test_predict_and_forecast_do_not_import_pymc(small_run, tmp_path):
    code = (
        "import sys\n"
        "from rdshare.cli import main\n"
        f"assert main(['predict', {str(small_run)!r}, '--json']) == 0\n"
        f"assert main(['forecast', {str(small_run)!r}, '--scenario', 'essay-claims', "
        f"'--out', {str(tmp_path / 'fc')!r}]) == 0\n"
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in ('pymc', 'pytensor'))\n"
        "assert not heavy, heavy\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
