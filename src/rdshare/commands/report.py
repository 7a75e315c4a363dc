"""``rdshare report``: rebuild a run's plots and HTML/Markdown report from the saved run, without refitting."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def register(sub, formatter) -> None:
    p = sub.add_parser(
        "report",
        help="rebuild the plots and report.html / report.md of a saved run (no refitting)",
        formatter_class=formatter,
        description=(
            "Rebuild the plots (plots/*.png), report.html (self-contained: plots embedded, opens "
            "from a file) and report.md of a saved run folder, from its posterior.nc and other "
            "files. The run is verified against its manifest first: a folder whose files were "
            "changed after the run was written is refused. Nothing is refitted, and the files the "
            "manifest hashes are never modified. Each report file is replaced by a rename, so an "
            "interrupted rebuild leaves the previous report whole."
        ),
        epilog=(
            "examples:\n"
            "  rdshare report outputs/20261129-101500-s20260512-2deed1eb\n"
            "  rdshare report outputs/my-run --out /tmp/my-run-report\n"
            "\n"
            "What each section and plot shows: docs/report.md."
        ),
    )
    p.add_argument("run_dir", metavar="RUN_DIR", help="a run folder written by 'rdshare fit'")
    p.add_argument(
        "--out",
        metavar="DIR",
        default=argparse.SUPPRESS,
        help="write the report into DIR instead of RUN_DIR (created if missing; other files in "
        "it are left alone)",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from rdshare.inference.results import load_run

    run_dir = Path(args.run_dir)
    loaded = load_run(run_dir)  # verifies the manifest's hashes; raises RunFolderError
    out = Path(getattr(args, "out", run_dir))
    print(f"rdshare: building the report of {run_dir}", file=sys.stderr)

    from rdshare.report import build_report
    from rdshare.report.validation import validation_sections

    path = build_report(loaded, out, extra_sections=validation_sections(run_dir))
    if not loaded.converged:
        print(
            "rdshare: WARNING: this run did NOT pass the convergence gate; the report says so",
            file=sys.stderr,
        )
    print(f"report: {path}")
    print(f"markdown: {path.with_name('report.md')}")
    return 0
