"""The ``rdshare`` command line: parses arguments, dispatches to a command, maps errors to exit codes.

Each subcommand lives in :mod:`rdshare.commands` as a module with ``register(subparsers)``; heavy imports
(PyMC, ArviZ, matplotlib) happen inside the command's handler, so ``rdshare --help`` stays fast.

Exit codes: 0 success; 2 bad input (every problem listed with file, line and field); 3 a fit that failed
the convergence gate (unless ``--allow-unconverged``) or an SBC that failed calibration; 130 interrupted
(Ctrl-C); 143 terminated (SIGTERM); 1 an unreadable or unwritable path.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import os
import signal
import sys
import threading
from importlib import metadata
from typing import NoReturn

from rdshare.errors import (
    EXIT_ERROR,
    EXIT_INTERRUPTED,
    EXIT_TERMINATED,
    InputError,
    RdshareError,
)

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
    "holdout",
    "offshelf",
)


def _version() -> str:
    try:
        return metadata.version("rdshare")
    except metadata.PackageNotFoundError:  # running from a source tree without install
        return "unknown"


class _Formatter(argparse.RawDescriptionHelpFormatter, argparse.ArgumentDefaultsHelpFormatter):
    """Keeps the examples' line breaks and shows defaults, except empty ones ("None", "False")."""

    def _get_help_string(self, action):
        if action.default is None or action.default is False or action.default == []:
            return action.help
        return super()._get_help_string(action)


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
        # every command is part of the package: a missing one is a broken install and fails loudly
        mod = importlib.import_module(f"rdshare.commands.{name}")
        mod.register(sub, _Formatter)
    return parser


class _Terminated(BaseException):
    """SIGTERM, turned into an exception so staged run folders are cleaned up as on Ctrl-C."""


def _on_sigterm(signum, frame):
    raise _Terminated


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``rdshare`` console script; returns the exit code.

    Bad input exits 2 with every problem listed; Ctrl-C exits 130 and SIGTERM 143, in both cases
    after removing any half-written run folder; an unreadable or unwritable path exits 1 with the
    operating system's reason. Anything else is a bug and keeps its traceback.
    """
    previous = None
    # The CLI never opens a window: a headless backend also lets the report draw its arviz-plots
    # figures on a worker thread (rdshare.report.build). An explicit MPLBACKEND is respected.
    os.environ.setdefault("MPLBACKEND", "Agg")
    if threading.current_thread() is threading.main_thread():
        previous = signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        parser = build_parser()
        argv = sys.argv[1:] if argv is None else list(argv)
        args = parser.parse_args(argv)
        # what the run manifests record: this call's arguments, also when called from Python
        args.command_line = ["rdshare", *argv]
        return int(args.func(args) or 0)
    except InputError as exc:
        print(f"rdshare: error: {exc.render()}", file=sys.stderr)
        return exc.exit_code
    except RdshareError as exc:
        print(f"rdshare: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("rdshare: interrupted; no run folder was left behind", file=sys.stderr)
        return EXIT_INTERRUPTED
    except _Terminated:
        print("rdshare: terminated; no run folder was left behind", file=sys.stderr)
        return EXIT_TERMINATED
    except BrokenPipeError:
        # the reader went away (e.g. `rdshare data show | head`): not an error
        with contextlib.suppress(OSError):
            sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - silence the flush at exit
        return 0
    except OSError as exc:
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"rdshare: error: {where}{exc.strerror or exc}", file=sys.stderr)
        return EXIT_ERROR
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def console() -> NoReturn:
    """The installed ``rdshare`` script: :func:`main`, then :func:`exit_now` with its code."""
    exit_now(main())


def exit_now(code: int) -> NoReturn:
    """Exit with ``code`` without tearing the interpreter down.

    A fit leaves PyMC, PyTensor, numba, ArviZ and matplotlib loaded, and unloading them at exit takes
    about a second, longer than loading a cached model. Everything rdshare writes is closed and moved
    into place before :func:`main` returns (run folders are published by rename), so only the standard
    streams and logging need flushing. If a child process or a non-daemon thread is still alive (a
    Dask cluster, a user's own thread), the ordinary exit runs instead, so nothing is cut short.
    """
    # Neither module is imported just for this (``rdshare --help`` stays fast): if a command never
    # loaded them, it started no child process and configured no logging.
    mp, logging = sys.modules.get("multiprocessing"), sys.modules.get("logging")
    if (mp is not None and mp.active_children()) or any(
        t.is_alive() and not t.daemon
        for t in threading.enumerate()
        if t is not threading.main_thread()
    ):
        sys.exit(code)
    if logging is not None:
        logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):  # a closed pipe: nothing left to say
            stream.flush()
    os._exit(code)


if __name__ == "__main__":  # pragma: no cover
    console()
