"""``rdshare sbc``: simulation-based calibration of the model and sampler, in process or on Dask."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from rdshare.commands._common import (
    add_data_options,
    add_priors_option,
    add_sampler_options,
    load_inputs,
    outputs_root,
    positive_int,
    sampler_settings,
)
from rdshare.errors import EXIT_UNCONVERGED


def register(sub, formatter) -> None:

    p = sub.add_parser(
        "sbc",
        help="simulation-based calibration: does the model recover what it simulates?",
        formatter_class=formatter,
        description=(
            "Simulation-based calibration: draw parameters from the priors, simulate a dataset with "
            "the same rows, kinds and covariates as the real one, fit it with the same sampler "
            "settings as 'rdshare fit', and record where each true value ranks among the posterior "
            "draws. If model, simulator and sampler agree, ranks are uniform; each quantity's rank "
            "ECDF must stay inside a simultaneous band (Bonferroni over the quantities, family level "
            "95%). Writes sbc.csv, verdict.json and ECDF-difference plots to a new folder. Exit code "
            "0 when calibrated, 3 when not. See docs/validation.md."
        ),
        epilog=(
            "examples:\n"
            "  rdshare sbc --sims 200 --workers 2                 local Dask cluster, 2 processes\n"
            "  rdshare sbc --scheduler tcp://10.0.0.5:8786        an existing Dask cluster\n"
            "  rdshare sbc --sims 20 --draws 300 --tune 300 --chains 2 --thin 2   quick look\n"
        ),
    )
    add_data_options(p, priors=True)
    add_priors_option(p)
    p.add_argument("--sims", type=positive_int, default=200, help="number of simulations")
    add_sampler_options(
        p, seed_help="root seed; simulation i uses its i-th child seed", per=" in each fit"
    )
    p.add_argument(
        "--thin",
        type=positive_int,
        default=None,
        help="keep every THIN-th draw of each chain for the ranks (default: chains*draws/400, "
        "rounded up, so a fit that passes the gate gives about one effective draw per kept draw)",
    )
    p.add_argument(
        "--alpha",
        type=float,
        default=0.05,
        help="family-wise error rate of the verdict over all quantities",
    )
    where = p.add_mutually_exclusive_group()
    where.add_argument(
        "--workers",
        type=positive_int,
        default=None,
        help="run on a local Dask cluster of N worker processes (1 thread each)",
    )
    where.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        default=None,
        help="run on an existing Dask cluster (e.g. tcp://host:8786)",
    )
    p.add_argument(
        "--chunk",
        type=positive_int,
        default=None,
        help="simulations per Dask task (default: about 4 tasks per worker, at most 10)",
    )
    p.add_argument(
        "--out",
        metavar="DIR",
        default=None,
        help="folder to create (default: outputs/sbc-<time>-s<seed>)",
    )
    p.add_argument("--force", action="store_true", help="replace an existing folder")
    p.set_defaults(func=run)


class StderrProgress:
    """Progress lines on stderr: at most one every ``every`` seconds, and the last one."""

    def __init__(self, stream=None, every: float = 5.0):
        self.stream = stream if stream is not None else sys.stderr
        self.every = every
        self.t0 = time.perf_counter()
        self.last = -float("inf")

    def __call__(self, done: int, total: int, failed: int) -> None:
        now = time.perf_counter()
        if done < total and now - self.last < self.every:
            return
        self.last = now
        elapsed = now - self.t0
        left = elapsed / done * (total - done) if done else float("nan")
        gate = f", {failed} failed the convergence gate" if failed else ""
        eta = f", about {_clock(left)} left" if done < total else ""
        print(
            f"rdshare sbc: {done}/{total} fits{gate}; {_clock(elapsed)} elapsed{eta}",
            file=self.stream,
            flush=True,
        )


def _clock(seconds: float) -> str:
    if seconds != seconds:  # nan
        return "?"
    m, s = divmod(round(seconds), 60)
    return f"{m}m{s:02d}s" if m else f"{s}s"


def run(args: argparse.Namespace) -> int:
    from rdshare.errors import InputError, Problem

    dataset, prior_set = load_inputs(args)
    if args.out is not None:
        folder = Path(args.out)
    else:
        folder = outputs_root() / (
            time.strftime("sbc-%Y%m%d-%H%M%S", time.gmtime()) + f"-s{args.seed}"
        )
    from rdshare.core import runs

    runs.check_target(folder, force=args.force)  # before any work
    if args.workers is not None or args.scheduler is not None:
        try:
            import distributed  # noqa: F401
        except ImportError:
            raise InputError(
                Problem(
                    "<command line>",
                    "needs dask.distributed: pip install 'rdshare[distributed]'",
                    field="--workers" if args.workers is not None else "--scheduler",
                )
            ) from None

    from rdshare.inference import sbc

    config = sbc.SBCConfig(
        sims=args.sims,
        **sampler_settings(args),
        thin=args.thin,
        alpha=args.alpha,
    )
    config.validate()
    where = (
        f"a local Dask cluster of {args.workers} workers"
        if args.workers is not None
        else f"the Dask cluster at {args.scheduler}"
        if args.scheduler is not None
        else "this process"
    )
    print(
        f"rdshare sbc: {config.sims} simulations of {len(dataset.fitted)} evidence rows with "
        f"{prior_set.path}, {config.chains} chains x {config.draws} draws (ranks among "
        f"{config.kept_draws} draws, thin {config.thin_used}), seed {config.seed}, on {where}",
        file=sys.stderr,
    )
    res = sbc.run(
        dataset,
        prior_set,
        config,
        workers=args.workers,
        scheduler=args.scheduler,
        chunk=args.chunk,
        progress=StderrProgress(),
    )
    from rdshare.report.sbc_plots import write_plots

    res.save(folder, force=args.force, command=args.command_line, extra_writers=[write_plots])
    print(res.describe())
    print()
    print(f"wall time {_clock(res.info['wall_seconds'])}; folder: {folder}")
    if not res.passed:
        print(
            "rdshare: SBC FAILED: the model does not recover what it simulates (exit 3)",
            file=sys.stderr,
        )
        return EXIT_UNCONVERGED
    return 0
