"""``rdshare compare``: the full model against simpler variants by PSIS-LOO."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from rdshare.commands._common import (
    add_data_options,
    add_priors_option,
    add_refit_options,
    add_sampler_options,
    finish_saved,
    load_inputs,
    outputs_root,
    sampler_settings,
    unconverged_exit,
)


def register(sub, formatter) -> None:

    p = sub.add_parser(
        "compare",
        help="compare the full model with a no-discount and a pooled model by PSIS-LOO",
        formatter_class=formatter,
        description=(
            "Fit the full model, the model without the knowledge-sharing discount and a pooled model "
            "(one f for every row) and compare their expected predictive accuracy by PSIS-LOO "
            "(arviz-stats), one leave-one-out term per evidence row. Rows whose Pareto k is too high "
            "for PSIS-LOO to be reliable are named and, unless --no-reloo, refitted without that "
            "row so their term is exact (arviz-stats reloo). Writes compare.csv, pointwise.csv, compare.json "
            "and compare.md to a new folder. With --run, the run's data, priors and sampler settings "
            "are used, its own fit stands for the full model, and the results go to RUN_DIR/compare/ "
            "where the report finds them. Exit code 3 if a variant fails the convergence gate, unless "
            "--allow-unconverged."
        ),
        epilog=(
            "examples:\n"
            "  rdshare compare                                  shipped data, default priors\n"
            "  rdshare compare --priors skeptical --out /tmp/cmp\n"
            "  rdshare compare --run outputs/RUN                reuse a run's fit; write RUN/compare/\n"
        ),
    )
    add_data_options(p, priors=True)
    add_priors_option(p)
    p.add_argument(
        "--run",
        metavar="RUN_DIR",
        default=None,
        help="take data, priors and settings from a run folder and reuse its fit",
    )
    add_sampler_options(p)
    p.add_argument(
        "--out",
        metavar="DIR",
        default=None,
        help="folder to create (default: outputs/compare-<time>-s<seed>, or RUN_DIR/compare with --run)",
    )
    p.add_argument(
        "--no-reloo",
        action="store_true",
        help="do not refit rows whose Pareto k is too high (PSIS-LOO only, with warnings)",
    )
    add_refit_options(p, replaces="folder", refits="a variant")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from rdshare.errors import InputError, Problem

    fits = {}
    if args.run is not None:
        if (
            args.data
            or args.replace_data
            or args.priors is not None
            or args.exclude
            or args.exclude_rests_on
        ):
            raise InputError(
                Problem(
                    "<command line>",
                    "--run takes data, exclusions and priors from the run; drop --data/--exclude/"
                    "--priors",
                    field="--run",
                )
            )
        from rdshare.inference.fit import FitConfig
        from rdshare.inference.results import load_run

        run_ = load_run(args.run)
        dataset, prior_set = run_.dataset, run_.priors
        known = set(FitConfig.__dataclass_fields__)
        config = FitConfig(**{k: v for k, v in run_.config.items() if k in known})
        if config.variant == "full":
            fits["full"] = run_
        from rdshare.inference.compare import FOLDER

        folder = Path(args.out) if args.out is not None else Path(args.run) / FOLDER
    else:
        dataset, prior_set = load_inputs(args)
        from rdshare.inference.fit import FitConfig

        config = FitConfig(
            **sampler_settings(args),
        )
        if args.out is not None:
            folder = Path(args.out)
        else:
            folder = outputs_root() / (
                time.strftime("compare-%Y%m%d-%H%M%S", time.gmtime()) + f"-s{args.seed}"
            )
    config.validate()
    from rdshare.core import runs

    runs.check_target(folder, force=args.force)  # before any work

    from rdshare.inference import compare

    def progress(variant: str, i: int, n: int) -> None:
        print(
            f"rdshare compare: fitting the {variant} variant ({i}/{n})", file=sys.stderr, flush=True
        )

    print(
        f"rdshare compare: {len(dataset.fitted)} evidence rows, priors {prior_set.path}, seed {config.seed}",
        file=sys.stderr,
    )
    res = compare.run(
        dataset, prior_set, config, fits=fits, reloo=not args.no_reloo, progress=progress
    )
    res.save(folder, force=args.force, command=args.command_line)
    print(res.describe())
    in_run = args.run is not None and folder == Path(args.run) / compare.FOLDER
    finish_saved(folder, Path(args.run) if in_run else None)
    bad = [v for v, ok in res.converged.items() if not ok]
    return unconverged_exit(f"variant(s) {', '.join(bad)}" if bad else None, args)
