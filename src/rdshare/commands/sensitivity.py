"""``rdshare sensitivity RUN_DIR``: which conclusions of a run rest on its priors."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from rdshare.commands._common import (
    add_refit_options,
    finish_saved,
    resolve_priors,
    unconverged_exit,
)


def register(sub, formatter) -> None:
    p = sub.add_parser(
        "sensitivity",
        help="prior sensitivity of a run: power-scaling diagnostics and refits under other priors",
        formatter_class=formatter,
        description=(
            "Prior sensitivity of a saved run. Power-scaling (Kallioinen et al. 2024, arviz-stats "
            "psense) says, for each headline quantity, whether it is prior-dominated, "
            "likelihood-dominated or shows prior-data conflict, without refitting. Then the run is "
            "refitted under each other prior file (by default every shipped file other than the "
            "run's) and the headline 90% intervals are tabulated side by side. Results go to "
            "RUN_DIR/sensitivity/ (sensitivity.json, sensitivity.csv, intervals.csv, "
            "sensitivity.md). Exit code 3 if a refit fails the convergence gate, unless "
            "--allow-unconverged."
        ),
        epilog=(
            "examples:\n"
            "  rdshare sensitivity outputs/RUN\n"
            "  rdshare sensitivity outputs/RUN --no-refit          power-scaling only (seconds)\n"
            "  rdshare sensitivity outputs/RUN --priors my-priors.toml --priors skeptical --force\n"
        ),
    )
    p.add_argument("run_dir", metavar="RUN_DIR", help="a run folder written by 'rdshare fit'")
    p.add_argument(
        "--priors",
        metavar="FILE",
        action="append",
        default=None,
        help="alternative prior file to refit with (repeatable; a bare name picks a shipped file); "
        "default: every shipped prior file other than the run's",
    )
    p.add_argument(
        "--no-refit", action="store_true", help="power-scaling diagnostics only; no refits"
    )
    p.add_argument(
        "--threshold",
        type=float,
        default=0.05,
        help="sensitivity threshold (Kallioinen et al. 2024)",
    )
    add_refit_options(p, replaces="RUN_DIR/sensitivity/", refits="a refit")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from rdshare.errors import InputError, Problem
    from rdshare.inference.results import load_run

    if not 0 < args.threshold < 1:
        raise InputError(
            Problem("<command line>", f"{args.threshold!r} must be in (0, 1)", field="--threshold")
        )
    alternatives = None if args.priors is None else [resolve_priors(v) for v in args.priors]
    if alternatives is not None:
        from rdshare.core import priors as priors_mod

        for a in alternatives:
            priors_mod.load(a)  # validate every file before any work
    run_ = load_run(args.run_dir)
    out = Path(args.run_dir) / "sensitivity"
    from rdshare.core import runs

    runs.check_target(out, force=args.force)  # before any work
    if not run_.converged:
        print(
            "rdshare: WARNING: this run did not pass the convergence gate; its sensitivity figures inherit that",
            file=sys.stderr,
        )

    from rdshare.inference import sensitivity

    def progress(label: str, i: int, n: int) -> None:
        print(
            f"rdshare sensitivity: refitting under '{label}' priors ({i}/{n})",
            file=sys.stderr,
            flush=True,
        )

    res = sensitivity.analyse(
        run_,
        alternatives=alternatives,
        refit=not args.no_refit,
        threshold=args.threshold,
        progress=progress,
    )
    folder = res.save(args.run_dir, force=args.force, command=args.command_line)
    print(res.describe())
    finish_saved(folder, Path(args.run_dir))
    bad = res.unconverged_refits
    failed = f"refit(s) under {', '.join(bad)} (their intervals are marked)" if bad else None
    return unconverged_exit(failed, args)
