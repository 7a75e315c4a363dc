"""The ``rdshare`` command line: parses arguments, dispatches to a command, maps errors to exit codes.

Each subcommand lives in :mod:`rdshare.commands` as a module with ``register(subparsers)``; heavy imports
(PyMC, ArviZ, matplotlib) happen inside the command's handler, so ``rdshare --help`` stays fast.

Exit codes: 0 success; 2 bad input (every problem listed with file, line and field); 3 a fit that failed
the convergence gate (unless ``--allow-unconverged``) or an SBC that failed calibration; 130 interrupted.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from importlib import metadata

from rdshare.errors import EXIT_INTERRUPTED, InputError, RdshareError

#: Subcommand modules, in the order ``--help`` lists them.
COMMANDS = (
    "fit",
    "data",
    "priors",
    "predict",
    "forecast",
    "report",
    "sbc",
    "sensitivity",
    "compare",
)


def _version() -> str:
    try:
        return metadata.version("rdshare")
    except metadata.PackageNotFoundError:  # running from a source tree without install
        return "unknown"


class _Formatter(argparse.RawDescriptionHelpFormatter, argparse.ArgumentDefaultsHelpFormatter):
    pass


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="rdshare",
        formatter_class=_Formatter,
        description=(
            "Estimate, with honest error bars, the share of an AI lab's development compute that goes "
            "to R&D rather than the final training run, and what open knowledge sharing saves."
        ),
        epilog=(
            "examples:\n"
            "  rdshare fit                          fit the shipped data with the default priors\n"
            "  rdshare data show                    the evidence table and the share each row implies\n"
            "  rdshare priors show priors/skeptical.toml\n"
            "  rdshare predict outputs/RUN --lab position=follower,scope=pretraining,year=2022\n"
            "  rdshare forecast outputs/RUN --scenario essay-claims\n"
            "\n"
            "Run 'rdshare COMMAND --help' for a command's options and an example."
        ),
    )
    parser.add_argument("--version", action="version", version=f"rdshare {_version()}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name in COMMANDS:
        try:
            mod = importlib.import_module(f"rdshare.commands.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"rdshare.commands.{name}":
                raise
            continue
        mod.register(sub, _Formatter)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``rdshare`` console script; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except InputError as exc:
        print(f"rdshare: error: {exc.render()}", file=sys.stderr)
        return exc.exit_code
    except RdshareError as exc:
        print(f"rdshare: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("rdshare: interrupted; nothing was written", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
