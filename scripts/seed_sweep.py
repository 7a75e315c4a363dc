"""Gate failures across sampler seeds, for each shipped prior file (docs/model.md, "Parametrisation").

Fits the shipped data under each shipped prior file (a file that rests on fitted rows is fitted without
them, as ``rdshare sensitivity`` does) with seeds 1, 2, ... N and rdshare's default sampler settings, or
the ones given, and counts the fits that fail the convergence gate, by failed check. The default seed
(20260512) is not among them. Prints a Markdown table and one line per failed fit; exits 1 when any fit
failed, so a regression is visible in a shell loop too.

Usage::

    .venv/bin/python scripts/seed_sweep.py                      # 8 seeds x 3 files (about 2 minutes)
    .venv/bin/python scripts/seed_sweep.py --seeds 25
    .venv/bin/python scripts/seed_sweep.py --target-accept 0.9 --tune 1000
"""

from __future__ import annotations

import argparse
import statistics
import sys
from dataclasses import replace

from rdshare.core import dataset as ds_mod
from rdshare.core import priors as priors_mod
from rdshare.inference.fit import FitConfig, fit


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seeds", type=int, default=8, help="seeds 1..N per prior file (default 8)")
    ap.add_argument("--tune", type=int, default=None, help="tuning steps (default: rdshare's)")
    ap.add_argument("--draws", type=int, default=None, help="draws per chain (default: rdshare's)")
    ap.add_argument("--target-accept", type=float, default=None, help="(default: rdshare's)")
    ap.add_argument(
        "--adaptation", choices=("low_rank", "diag"), default=None, help="(default: rdshare's)"
    )
    args = ap.parse_args(argv)
    base = FitConfig(predictive=False)
    for key in ("tune", "draws", "target_accept", "adaptation"):
        if getattr(args, key) is not None:
            base = replace(base, **{key: getattr(args, key)})
    data = ds_mod.load()
    ids = set(data.fitted["id"])
    files = sorted(priors_mod.shipped_dir().glob("*.toml"))
    print(
        f"{base.chains} chains x {base.draws} draws after {base.tune} tuning steps, "
        f"target_accept {base.target_accept}, {base.adaptation} mass matrix, seeds 1..{args.seeds}"
    )
    print()
    print(
        "| prior file | rows left out | fits failing the gate | median sampling s "
        "| lowest bulk ESS | median steps per draw |"
    )
    print("|---|---|---|---|---|---|")
    failures: list[str] = []
    total = failed = 0
    for path in files:
        prior_set = priors_mod.load(path)
        leave_out = [r for r in priors_mod.rests_on(prior_set) if r in ids]
        n_failed, seconds, ess, steps = 0, [], [], []
        for seed in range(1, args.seeds + 1):
            res = fit(data, prior_set, exclude=leave_out, config=replace(base, seed=seed))
            seconds.append(res.timings.get("sample", float("nan")))
            ess += [c.value for c in res.verdict.checks if c.name == "ess_bulk"]
            steps.append(float(res.tree["sample_stats"].ds["n_steps"].median()))
            if not res.verdict.passed:
                n_failed += 1
                checks = ", ".join(c.name for c in res.verdict.checks if not c.passed)
                failures.append(f"{path.stem} seed {seed}: {checks}")
        total += args.seeds
        failed += n_failed
        print(
            f"| {path.stem} | {len(leave_out)} | {n_failed} of {args.seeds} | "
            f"{statistics.median(seconds):.2f} | {min(ess):.0f} | {statistics.median(steps):.0f} |"
        )
    print(f"| all | | {failed} of {total} | | | |")
    for line in failures:
        print(f"failed: {line}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
