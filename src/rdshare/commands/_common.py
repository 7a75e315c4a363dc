"""Options and helpers shared by several subcommands (commands share code through here, not by
importing each other)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from rdshare.errors import EXIT_UNCONVERGED, InputError, Problem


def add_data_options(p: argparse.ArgumentParser, *, priors: bool = False) -> None:
    """--data, --replace-data and --exclude (and, where priors are chosen, --exclude-rests-on)."""
    p.add_argument(
        "--data",
        metavar="FILE",
        action="append",
        default=[],
        help="extra evidence CSV added to the shipped rows (repeatable); see docs/data.md",
    )
    p.add_argument(
        "--replace-data",
        action="store_true",
        help="use only the --data files, not the shipped rows",
    )
    p.add_argument(
        "--exclude",
        metavar="ID[,ID...]",
        action="append",
        default=[],
        help="row ids to show but not fit (repeatable, or comma-separated)",
    )
    if priors:
        p.add_argument(
            "--exclude-rests-on",
            action="store_true",
            help="also exclude every row the chosen prior file rests on (its priors' rests_on), so "
            "a prior built from those rows can be used without counting them twice",
        )


def excluded_ids(args: argparse.Namespace) -> list[str]:
    """The ids given with --exclude (repeated and/or comma-separated), in order."""
    out = []
    for item in args.exclude:
        out += [x.strip() for x in item.split(",") if x.strip()]
    return list(dict.fromkeys(out))


def load_inputs(args: argparse.Namespace):
    """The dataset and prior file a command fits, checked before any heavy work.

    Applies --exclude (and --exclude-rests-on) and refuses a prior that rests on a fitted row (exit 2,
    naming both).
    """
    from rdshare.core import dataset as ds_mod
    from rdshare.core import priors as priors_mod

    prior_set = priors_mod.load(resolve_priors(args.priors))
    exclude = excluded_ids(args)
    dataset = ds_mod.load(args.data, replace=args.replace_data, exclude=exclude)
    if getattr(args, "exclude_rests_on", False):
        present = set(dataset.table["id"])
        dataset = dataset.excluding([r for r in priors_mod.rests_on(prior_set) if r in present])
    priors_mod.check_independent(prior_set, dataset.table)
    return dataset, prior_set


def add_priors_option(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--priors",
        metavar="FILE",
        default=None,
        help="prior file (TOML); default: the shipped priors/default.toml. "
        "A bare name such as 'skeptical' picks a shipped file.",
    )


def resolve_priors(value: str | None) -> Path | None:
    """A path, or a shipped prior file's bare name ('default', 'epoch-2024', 'skeptical')."""
    if value is None:
        return None
    from rdshare.core import priors

    path = Path(value)
    if not path.exists() and "/" not in value and not value.endswith(".toml"):
        shipped = priors.shipped_dir() / f"{value}.toml"
        if shipped.exists():
            return shipped
        names = ", ".join(sorted(p.stem for p in priors.shipped_dir().glob("*.toml")))
        raise InputError(
            Problem(
                "<command line>",
                f"{value!r} is neither a file nor a shipped prior file ({names})",
                field="--priors",
            )
        )
    return path


def positive_int(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if v < 1:
        raise argparse.ArgumentTypeError(f"{v} must be >= 1")
    return v


def nonneg_int(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if v < 0:
        raise argparse.ArgumentTypeError(f"{v} must be >= 0")
    return v


def seed_int(text: str) -> int:
    v = nonneg_int(text)
    if v >= 2**32:
        raise argparse.ArgumentTypeError(f"{v} must be below 2**32")
    return v


def target_accept(text: str) -> float:
    """NUTS target acceptance rate: a number in [0.5, 1)."""
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0.5 <= v < 1.0:
        raise argparse.ArgumentTypeError(f"{text} must be in [0.5, 1)")
    return v


def outputs_root() -> Path:
    """Default parent of run folders: ./outputs."""
    return Path("outputs")


def add_sampler_options(
    p: argparse.ArgumentParser, *, seed_help: str = "random seed", per: str = ""
) -> None:
    """--seed, --draws, --tune, --chains, --cores, --target-accept with the defaults of a user's fit.

    ``per`` is appended to the per-chain help texts (e.g. ``" in each fit"`` for SBC).
    """
    from rdshare.inference.defaults import DEFAULTS

    p.add_argument("--seed", type=seed_int, default=DEFAULTS["seed"], help=seed_help)
    p.add_argument(
        "--draws",
        type=positive_int,
        default=DEFAULTS["draws"],
        help=f"posterior draws per chain{per}",
    )
    p.add_argument(
        "--tune", type=nonneg_int, default=DEFAULTS["tune"], help=f"tuning steps per chain{per}"
    )
    p.add_argument("--chains", type=positive_int, default=DEFAULTS["chains"], help=f"chains{per}")
    p.add_argument(
        "--cores",
        type=positive_int,
        default=DEFAULTS["cores"],
        help=f"CPU cores the chains run on{per} (default: this machine's); the numbers do not "
        "depend on it",
    )
    p.add_argument(
        "--target-accept",
        type=target_accept,
        default=DEFAULTS["target_accept"],
        help="NUTS target acceptance rate (0.5 to below 1)",
    )


def sampler_settings(args: argparse.Namespace) -> dict:
    """The options :func:`add_sampler_options` defines, as keyword arguments for a config."""
    return {
        "seed": args.seed,
        "draws": args.draws,
        "tune": args.tune,
        "chains": args.chains,
        "cores": args.cores,
        "target_accept": args.target_accept,
    }


# ------------------------------------------------------------------------------------------------
# reading a saved run


def posterior_draws(run, names, *, required=(), group: str = "posterior") -> dict:
    """Scalar variables of a run's ``group`` (the posterior, or the prior), each flattened over chains
    and draws to 1-D.

    Names absent from the group are left out, except those in ``required``, which raise a
    :class:`~rdshare.errors.RunFolderError`.
    """
    import numpy as np

    from rdshare.errors import RunFolderError

    ds = run.tree[group].ds
    out = {}
    for name in names:
        if name not in ds:
            if name in required:
                raise RunFolderError(
                    Problem(str(run.folder / "posterior.nc"), "has no posterior draws", field=name)
                )
            continue
        da = ds[name]
        extra = [d for d in da.dims if d not in ("chain", "draw")]
        if extra:
            raise RunFolderError(
                Problem(
                    str(run.folder / "posterior.nc"),
                    f"expected one value per draw, found extra dimensions {extra}",
                    field=name,
                )
            )
        out[name] = np.asarray(da.transpose("chain", "draw").values, dtype=float).reshape(-1)
    return out


def warn_if_unconverged(run) -> None:
    """A loud stderr warning when the run failed the convergence gate."""
    if not run.converged:
        print(
            f"rdshare: WARNING: run {run.folder} did NOT pass the convergence gate; "
            "numbers from it may be wrong (see its diagnostics.json)",
            file=sys.stderr,
        )


def run_seed(run, seed: int | None) -> int:
    """The seed to use: the one given, else the run's own seed (else 0)."""
    if seed is not None:
        return seed
    s = run.manifest.get("seed")
    return int(s) if isinstance(s, int) and 0 <= s < 2**32 else 0


def refresh_report(run_dir: Path) -> Path | None:
    """Rebuild a run's report so it includes newly saved validation results.

    Used by ``rdshare sensitivity``, ``rdshare compare --run`` and ``rdshare holdout`` after they write
    into the run folder. Does nothing for a run written with ``--no-report``.
    """
    run_dir = Path(run_dir)
    if not (run_dir / "report.html").exists():
        return None
    from rdshare.inference.results import load_run
    from rdshare.report import build_report
    from rdshare.report.validation import validation_sections

    return build_report(load_run(run_dir), run_dir, extra_sections=validation_sections(run_dir))


def add_refit_options(p: argparse.ArgumentParser, *, replaces: str, refits: str) -> None:
    """--force (replace ``replaces``) and --allow-unconverged (for commands that refit: ``refits`` names
    what is refitted, e.g. "a refit", "a variant")."""
    p.add_argument("--force", action="store_true", help=f"replace an existing {replaces}")
    p.add_argument(
        "--allow-unconverged",
        action="store_true",
        help=f"exit 0 even if {refits} fails the convergence gate",
    )


def finish_saved(folder: Path, run_dir: Path | None) -> None:
    """Say where results went and, when they went into a run folder with a report, rebuild it."""
    print()
    print(f"written: {folder}")
    if run_dir is not None:
        report = refresh_report(run_dir)
        if report is not None:
            print(f"report updated: {report}")


def unconverged_exit(failed: str | None, args: argparse.Namespace) -> int:
    """The exit code once refits are done: 0, or 3 when ``failed`` (what did not converge, in words)
    is given, unless --allow-unconverged (then a warning and 0)."""
    if not failed:
        return 0
    msg = f"{failed} did NOT pass the convergence gate"
    if args.allow_unconverged:
        print(f"rdshare: WARNING: {msg}", file=sys.stderr)
        return 0
    print(f"rdshare: {msg} (exit 3)", file=sys.stderr)
    return EXIT_UNCONVERGED
