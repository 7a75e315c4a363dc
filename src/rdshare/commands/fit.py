"""``rdshare fit``: fit the model and write a run folder (posterior, summary, diagnostics, report)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from rdshare.commands._common import (
    add_data_options,
    add_priors_option,
    add_sampler_options,
    load_inputs,
    outputs_root,
    sampler_settings,
)
from rdshare.errors import EXIT_UNCONVERGED


def register(sub, formatter) -> None:

    p = sub.add_parser(
        "fit",
        help="fit the model and write a run folder with posterior, summary, diagnostics and report",
        formatter_class=formatter,
        description=(
            "Fit the hierarchical model of the R&D compute fraction to the evidence rows and write a "
            "new run folder: posterior.nc, summary.csv, diagnostics.json, manifest.json, plots and "
            "report.html / report.md. The fit is gated on convergence (r_hat <= 1.01, bulk and tail "
            "ESS >= 400, no divergences, E-BFMI >= 0.3): a run that fails is still written, marked "
            "not converged, and the exit code is 3 unless --allow-unconverged."
        ),
        epilog=(
            "examples:\n"
            "  rdshare fit                                   shipped data, default priors\n"
            "  rdshare fit --priors skeptical --seed 7\n"
            "  rdshare fit --data my-rows.csv --name with-my-rows\n"
            "  rdshare fit --data only-mine.csv --replace-data --out /tmp/run1 --force\n"
        ),
    )
    add_data_options(p, priors=True)
    add_priors_option(p)
    add_sampler_options(p, seed_help="random seed; same inputs and seed give the same numbers")
    p.add_argument(
        "--out",
        metavar="DIR",
        default=None,
        help="run folder to create (default: outputs/<run-name>)",
    )
    p.add_argument(
        "--name", default=None, help="run name inside outputs/ (default: time, seed and input hash)"
    )
    p.add_argument("--force", action="store_true", help="replace an existing run folder")
    p.add_argument(
        "--allow-unconverged",
        action="store_true",
        help="exit 0 even if the convergence gate fails (the run stays marked)",
    )
    p.add_argument(
        "--no-report", action="store_true", help="skip plots and the HTML/Markdown report"
    )
    p.add_argument(
        "--variant",
        default="full",
        choices=("full", "no_discount", "pooled"),
        help=argparse.SUPPRESS,
    )
    p.set_defaults(func=run)


def run_folder(args, inputs_sha: str) -> Path:
    from rdshare.core import runs

    if args.out is not None and args.name is not None:
        from rdshare.errors import InputError, Problem

        raise InputError(
            Problem("<command line>", "give --out or --name, not both", field="--name")
        )
    if args.out is not None:
        return Path(args.out)
    name = args.name if args.name is not None else runs.default_run_name(args.seed, inputs_sha)
    return outputs_root() / runs.check_run_name(name)


def format_headline(summary, names=None) -> str:
    """The headline quantities of a summary table (default: the reported set), one line each: median,
    90% interval, label."""
    from rdshare.core.quantities import QUANTITIES, REPORTED

    names = REPORTED if names is None else names
    lines = []
    for n in names:
        row = summary.loc[summary["name"] == n]
        if row.empty:
            continue
        r = row.iloc[0]
        lines.append(
            f"  {n:<11} {r['q50']:.2f}  (90% interval {r['q05']:.2f} to {r['q95']:.2f})  {QUANTITIES[n].label}"
        )
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    import hashlib

    from rdshare.core import runs

    # Validate every input before any heavy import or sampling; nothing is written on bad input.
    dataset, prior_set = load_inputs(args)
    inputs_sha = hashlib.sha256((dataset.sha256 + prior_set.sha256).encode()).hexdigest()
    folder = run_folder(args, inputs_sha)
    runs.check_target(folder, force=args.force)  # refuse before sampling, not after

    from rdshare.inference.fit import FitConfig, fit

    config = FitConfig(
        **sampler_settings(args),
        variant=args.variant,
    )
    config.validate()
    print(
        f"rdshare: fitting {len(dataset.fitted)} evidence rows with {prior_set.path} (seed {args.seed})",
        file=sys.stderr,
    )
    early = []  # the posterior-only figures, drawn in forked processes while the fit goes on
    on_posterior = None
    if not args.no_report:
        from rdshare.report.build import prerender

        def on_posterior(tree) -> None:
            job = prerender(tree)
            if job is not None:
                early.append(job)

    try:
        res = fit(dataset, prior_set, config=config, on_posterior=on_posterior)
        writers = []
        if not args.no_report:
            import functools

            from rdshare.report import write_report_into

            writers.append(functools.partial(write_report_into, early=next(iter(early), None)))
        res.save(folder, force=args.force, command=args.command_line, extra_writers=writers)
    finally:
        for job in early:
            job.cancel()  # reaps children the report never collected; a no-op otherwise

    print(format_headline(res.summary))
    from rdshare.inference.results import discount_positive

    p_pos = discount_positive(res.tree, prior_set)
    if p_pos is not None:
        after, before = p_pos
        print(
            f"  P(d > 0)    {after:.2f}  probability that open work saves followers R&D "
            f"(prior alone: {before:.2f})"
        )
    print()
    print(res.verdict.describe(kept=args.allow_unconverged))
    print()
    print(f"run folder: {folder}")
    if (folder / "report.html").exists():
        print(f"report:     {folder / 'report.html'}")
    if not res.verdict.passed:
        if args.allow_unconverged:
            print(
                "rdshare: WARNING: the fit did NOT pass the convergence gate; kept because of --allow-unconverged",
                file=sys.stderr,
            )
            return 0
        print(
            "rdshare: the fit did NOT pass the convergence gate (exit 3); the run folder is marked not converged",
            file=sys.stderr,
        )
        return EXIT_UNCONVERGED
    return 0
