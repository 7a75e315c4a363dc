"""``rdshare holdout RUN_DIR``: leave-one-lab-out predictive checks of a run."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from rdshare.commands._common import add_refit_options, finish_saved, unconverged_exit


def register(sub, formatter) -> None:
    p = sub.add_parser(
        "holdout",
        help="leave-one-lab-out: refit without each lab and score its figures as a new lab's",
        formatter_class=formatter,
        description=(
            "Leave-one-lab-out predictive checks of a saved run. For each lab, the run is refitted "
            "with that lab's rows (and rows about its programmes, such as contrasts against them) "
            "made uninformative, on the same compiled model, data, priors and sampler settings. Each "
            "of the lab's reported figures is then scored against its predictive distribution given "
            "every other row: a new lab's and new programme's effects, the method's known error, and "
            "the report's own measurement error. A calibrated model puts 90% of the figures inside "
            "their 90% interval; a lower bound is counted apart (it is consistent unless the "
            "predictive puts more than 95% of its mass below it). Results go to RUN_DIR/holdout/ "
            "(holdout.json, holdout.csv, holdout.md) and the run's report gains a section. Exit code "
            "3 if a refit fails the convergence gate, unless --allow-unconverged."
        ),
        epilog=(
            "examples:\n"
            "  rdshare holdout outputs/RUN\n"
            "  rdshare holdout outputs/RUN --lab DeepSeek --lab Meta     only these labs\n"
            "  rdshare holdout outputs/RUN --force                       replace RUN/holdout/\n"
        ),
    )
    p.add_argument("run_dir", metavar="RUN_DIR", help="a run folder written by 'rdshare fit'")
    p.add_argument(
        "--lab",
        metavar="NAME",
        action="append",
        default=None,
        help="hold out only this lab (repeatable; spelled as in the data's lab column); "
        "default: every lab with a fitted row",
    )
    add_refit_options(p, replaces="RUN_DIR/holdout/", refits="a refit")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from rdshare.core import runs
    from rdshare.errors import InputError, Problem
    from rdshare.inference import holdout
    from rdshare.inference.results import load_run

    run_ = load_run(args.run_dir)
    if args.lab:
        known = set(run_.dataset.fitted["lab"])
        unknown = [x for x in args.lab if x not in known]
        if unknown:
            raise InputError(
                [
                    Problem(
                        "<command line>",
                        f"{x!r} is not a lab with a fitted row in this run "
                        f"(labs: {', '.join(sorted(known))})",
                        field="--lab",
                    )
                    for x in unknown
                ]
            )
    out = Path(args.run_dir) / holdout.FOLDER
    runs.check_target(out, force=args.force)  # before any work
    if not run_.converged:
        print(
            "rdshare: WARNING: this run did not pass the convergence gate; its holdout figures "
            "inherit that",
            file=sys.stderr,
        )

    def progress(lab: str, i: int, n: int) -> None:
        print(f"rdshare holdout: refitting without {lab} ({i}/{n})", file=sys.stderr, flush=True)

    res = holdout.analyse(run_, labs=args.lab, progress=progress)
    folder = res.save(args.run_dir, force=args.force, command=args.command_line)
    print(res.describe())
    finish_saved(folder, Path(args.run_dir))
    bad = res.unconverged
    failed = f"the refit(s) without {', '.join(bad)} (their rows are marked)" if bad else None
    return unconverged_exit(failed, args)
