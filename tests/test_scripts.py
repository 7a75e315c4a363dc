"""The analysis scripts under scripts/ (quoted in docs/validation.md and docs/model.md) still run."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

SCRIPTS = Path(__file__).resolve().parents[1] / "scripts"
BENCHMARKS = SCRIPTS.parent / "benchmarks"


def _load(name: str, folder: Path = SCRIPTS):
    """Import ``folder/name.py`` as a module (registered, as an import would: dataclasses need it)."""
    spec = importlib.util.spec_from_file_location(name, folder / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    spec.loader.exec_module(mod)
    return mod


def test_hypothetical_discount_rows_are_valid_evidence(tmp_path):
    from rdshare.core import dataset

    mod = _load("discount_evidence")
    for kind in ("discount_interval", "contrast"):
        rows = mod.hypothetical_rows(kind, 3, 0.1, 0.33)
        path = tmp_path / f"{kind}.csv"
        rows.reindex(columns=list(dataset.COLUMNS)).to_csv(path, index=False)
        ds = dataset.load([path])
        added = ds.fitted[ds.fitted["id"].str.startswith("whatif-")]
        assert len(added) == 3
        assert added["programme"].is_unique  # independent studies of independent programmes
        if kind == "discount_interval":
            assert (added["low"] == 0.23).all()
            assert (added["high"] == 0.43).all()
        else:
            assert (added["versus"] == "openai2024").all()


def test_discount_evidence_script_runs_and_narrows_the_discount(tmp_path, capsys):
    mod = _load("discount_evidence")
    out = tmp_path / "whatif.json"
    code = mod.main(["--only", "d4-0.10", "--draws", "300", "--json", str(out)])
    printed = capsys.readouterr().out
    assert "| scenario | rows added |" in printed
    table = json.loads(out.read_text())
    assert [r["scenario"] for r in table] == ["shipped", "d4-0.10"]
    assert code in (0, 3)  # 3: a short fit failed the gate, which the table says
    shipped, more = table
    assert more["width_ratio"] < shipped["width_ratio"]


@pytest.mark.parametrize("column", ["programme", "estimator"])
def test_grouping_script_makes_every_row_independent(tmp_path, column):
    mod = _load("grouping_effect")
    ds = mod.ungrouped(tmp_path)
    assert ds.table[column].eq("").all()
    from rdshare.core import dataset

    assert len(ds.table) == len(dataset.load().table)


def test_seed_sweep_counts_every_fit_and_names_each_failure(capsys):
    import re

    from rdshare.core import priors

    mod = _load("seed_sweep")
    code = mod.main(["--seeds", "1", "--draws", "200", "--tune", "200"])
    printed = capsys.readouterr().out
    files = sorted(p.stem for p in priors.shipped_dir().glob("*.toml"))
    rows = re.findall(r"^\| ([\w-]+) \| (\d+) \| (\d+) of 1 \|", printed, re.M)
    assert [r[0] for r in rows] == files
    failed = sum(int(r[2]) for r in rows)
    assert re.search(rf"^\| all \| \| {failed} of {len(files)} \|", printed, re.M)
    assert len(re.findall(r"^failed: ", printed, re.M)) == failed
    assert code == (1 if failed else 0)
    # a prior file resting on fitted rows is fitted without them
    left_out = {r[0]: int(r[1]) for r in rows}
    assert left_out["epoch-2024"] > 0
    assert left_out["default"] == 0


def test_trace_fit_prints_each_step_and_figure_with_its_process(tmp_path):
    """benchmarks/trace_fit.py (the traces in docs/performance.md): every step starts and ends, each
    process's lines in order of time (processes writing at once may interleave), and the figures are
    drawn by the process that forks them and by its children."""
    import re
    import subprocess

    script = BENCHMARKS / "trace_fit.py"
    out = tmp_path / "run"
    proc = subprocess.run(
        [sys.executable, str(script), "--out", str(out), "--", "--draws", "200", "--tune", "200"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode in (0, 3), proc.stderr  # 3: a short fit failed the gate
    assert (out / "report.html").exists()
    lines = re.findall(
        r"^\[\s*([\d.]+) s  pid (\d+)\] (start|end)\s+(\S+)(?: (\S+))?$", proc.stderr, re.M
    )
    for pid in {pid for _, pid, *_ in lines}:
        times = [float(t) for t, p, *_ in lines if p == pid]
        assert times == sorted(times)
    steps = {(what, name) for _, _, what, name, _ in lines}
    for name in ("sample_posterior", "add_predictive", "gate", "to_netcdf", "build_report"):
        assert {("start", name), ("end", name)} <= steps
    drawn = {
        (pid, fig) for _, pid, what, name, fig in lines if name == "_render_into" and what == "end"
    }
    assert {"rank.png", "prior_posterior.png"} <= {fig for _, fig in drawn}
    assert len({pid for pid, _ in drawn}) >= 2  # the early child and the report's own processes


def test_plot_costs_times_every_figure_the_report_draws(small_run, tmp_path, capsys):
    """benchmarks/plot_costs.py (the per-figure costs in docs/performance.md): every figure of the run's
    report is timed, costliest first, with a running total that adds up, and kept in --json."""
    mod = _load("plot_costs", BENCHMARKS)
    out = tmp_path / "costs.json"
    assert mod.main([str(small_run), "--repeats", "1", "--json", str(out)]) == 0
    result = json.loads(out.read_text())
    figures = result["figures"]
    assert {f["file"] for f in figures} == {p.name for p in (small_run / "plots").glob("*.png")}
    totals = [f["total_s"] for f in figures]
    assert totals == sorted(totals, reverse=True)
    assert min(totals) > 0
    assert result["total_s"] == pytest.approx(sum(totals))
    for f in figures:
        assert f["total_s"] == pytest.approx(f["make_s"] + f["render_s"])
        assert f["png_kib"] > 1
    printed = capsys.readouterr().out
    assert "rank.png" in printed
    assert f"all figures: {result['total_s']:.2f} s" in printed
    with pytest.raises(SystemExit):
        mod.main([str(small_run), "--repeats", "0"])


@pytest.mark.parametrize(
    ("bare", "said"),
    [
        (3.5, "the report adds 1.70 s, and the warm goal leaves it 0.53 s"),
        (4.2, "the report adds 1.00 s, and the warm goal is out of reach even without it"),
    ],
)
def test_bench_report_says_what_the_report_adds_and_what_the_goal_leaves(bare, said, capsys):
    """make bench's summary: the warm ratio against its goal, and from the --no-report arm what the
    report adds and how much of it the warm goal (0.33 of the baseline) leaves room for."""
    bench = _load("bench_fit", BENCHMARKS)
    run = bench.Run
    results = {
        "baseline warm": [run(12.0, 470, 0), run(12.4, 470, 0), run(12.2, 470, 0)],
        "rdshare fit warm": [run(5.2, 446, 0), run(5.1, 446, 0), run(5.3, 446, 0)],
        bench.NO_REPORT: [run(bare, 426, 0), run(bare - 0.1, 426, 0), run(bare + 0.1, 426, 0)],
    }
    info = {"cpus": 2}
    bench.report(results, None, info, (0.5, 0.5, 0.5), (1.0, 1.0, 1.0))
    out = capsys.readouterr().out
    assert "ratio rdshare/baseline, warm: 0.43   (goal <= 0.33: NOT met)" in out
    assert f"warm ratio {bare / 12.2:.2f}; {said}" in out
    assert f"{bench.NO_REPORT:<28}   3" in out
