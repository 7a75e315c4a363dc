"""What each figure of the report costs to make and to render, one after another in one process.

The report's figures are most of what a warm ``rdshare fit`` does after sampling (docs/performance.md).
This script times them one by one, as the report draws them (``rdshare.report.build``: the same
figures, the same scenario evaluation, the same PNG settings), so that a decision about the report
(which figures to keep, lighten or drop) can be made from measured costs, and so that each figure's
scheduling hint (``PlotSpec.cost``, which only splits the work between processes) can be checked.

For every figure: the median seconds to make it (build the matplotlib figure) and to render it (PNG at
the report's resolution) over ``--repeats`` passes, after one untimed pass that pays what a process
pays once (lazy imports, font and text caches; printed as the first pass's total); its share of the
total; the PNG's size; and its hint. Figures are listed costliest first, with the running total, which
is what leaving out the costliest ones would save.

Usage::

    .venv/bin/python benchmarks/plot_costs.py                  # fits the default run into a scratch folder
    .venv/bin/python benchmarks/plot_costs.py outputs/RUN      # a saved run folder
    .venv/bin/python benchmarks/plot_costs.py --repeats 5 --json costs.json

Run it on a quiet machine: one process, one core, nothing in parallel.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path


def _fit_default(folder: Path, seed: int | None) -> None:
    """``rdshare fit --no-report`` into ``folder``; its output is shown only if it fails."""
    import contextlib
    import io

    from rdshare.cli import main as cli_main

    argv = ["fit", "--out", str(folder), "--no-report"]
    if seed is not None:
        argv += ["--seed", str(seed)]
    said = io.StringIO()
    with contextlib.redirect_stdout(said), contextlib.redirect_stderr(said):
        code = cli_main(argv)
    if code not in (0, 3):  # 3: a fit that failed the gate is still a complete run to draw
        sys.stderr.write(said.getvalue())
        raise SystemExit(f"rdshare fit exited {code}")


def measure(run_dir: Path, repeats: int) -> dict:
    """Seconds to make and render every figure of the report of ``run_dir``, in this process."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from rdshare.inference.results import load_run
    from rdshare.report import build
    from rdshare.report.inputs import collect

    inp = collect(load_run(run_dir))
    t0 = time.perf_counter()
    evaluated = build._evaluate_scenarios(inp)
    scenarios = time.perf_counter() - t0
    specs = build._plot_specs(inp, evaluated)

    def once(spec) -> tuple[float, float, int]:
        t0 = time.perf_counter()
        fig = spec.make()
        t1 = time.perf_counter()
        png = build._png(fig)
        t2 = time.perf_counter()
        plt.close("all")
        return t1 - t0, t2 - t1, len(png)

    first = sum(sum(once(s)[:2]) for s in specs)
    timings: dict[str, list[tuple[float, float, int]]] = {s.file: [] for s in specs}
    for _ in range(repeats):
        for spec in specs:
            timings[spec.file].append(once(spec))
    figures = []
    for spec in specs:
        runs = timings[spec.file]
        make = statistics.median(r[0] for r in runs)
        render = statistics.median(r[1] for r in runs)
        figures.append(
            {
                "file": spec.file,
                "make_s": make,
                "render_s": render,
                "total_s": make + render,
                "png_kib": runs[-1][2] / 1024,
                "cost_hint": spec.cost,
            }
        )
    figures.sort(key=lambda f: -f["total_s"])
    return {
        "run": str(run_dir),
        "repeats": repeats,
        "scenarios_s": scenarios,
        "first_pass_s": first,
        "figures": figures,
        "total_s": sum(f["total_s"] for f in figures),
    }


def show(result: dict) -> None:
    total = result["total_s"]
    print(f"report figures of {result['run']}, one process, medians of {result['repeats']} passes")
    print()
    head = f"{'figure':<30} {'make s':>7} {'render s':>9} {'total s':>8} {'share':>6} "
    print(head + f"{'running s':>10} {'PNG KiB':>8} {'hint':>5}")
    running = 0.0
    for f in result["figures"]:
        running += f["total_s"]
        print(
            f"{f['file']:<30} {f['make_s']:>7.3f} {f['render_s']:>9.3f} {f['total_s']:>8.3f} "
            f"{f['total_s'] / total:>6.0%} {running:>10.2f} {f['png_kib']:>8.0f} "
            f"{f['cost_hint']:>5.1f}"
        )
    print()
    print(
        f"all figures: {total:.2f} s (the first pass, with what a process pays once: "
        f"{result['first_pass_s']:.2f} s); scenario evaluation before them: "
        f"{result['scenarios_s']:.2f} s"
    )
    print(
        "'running s': what leaving out this figure and every costlier one would save, on one core"
    )
    print(
        "'hint': PlotSpec.cost, the rough seconds the report uses to split figures between processes"
    )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("run_dir", nargs="?", help="a run folder (default: fit the default run first)")
    ap.add_argument("--repeats", type=int, default=3, help="timed passes over all figures")
    ap.add_argument("--seed", type=int, default=None, help="seed of the default fit")
    ap.add_argument("--json", metavar="PATH", help="also write the figures to this file")
    args = ap.parse_args(argv)
    if args.repeats < 1:
        ap.error("--repeats must be at least 1")
    with tempfile.TemporaryDirectory() as scratch:
        run_dir = Path(args.run_dir) if args.run_dir else Path(scratch) / "run"
        if not args.run_dir:
            _fit_default(run_dir, args.seed)
        result = measure(run_dir, args.repeats)
    show(result)
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
