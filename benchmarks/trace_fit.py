"""A timeline of one ``rdshare fit``: which process does what, when (the traces in docs/performance.md).

Runs the CLI's ``fit`` in this process, with rdshare's main steps wrapped so that each prints when it
starts and ends, in seconds since this script started, with the process id: the parent's sampling,
predictive groups, gate, summary, netCDF file and report, and each figure made and rendered in whichever
forked process draws it. The wrappers only record time; the run folder is the same as without them.

Usage::

    .venv/bin/python benchmarks/trace_fit.py                     # a warm fit into a scratch folder
    .venv/bin/python benchmarks/trace_fit.py --out DIR --seed 7  # keep the run folder
    .venv/bin/python benchmarks/trace_fit.py -- --draws 200     # further ``rdshare fit`` options

Run it once first so the compiled sampler is cached, and on a quiet machine. The timeline goes to standard
error, the CLI's own output to standard output; the script's start is about 0.05 s after the
interpreter's.
"""

from __future__ import annotations

import time

T0 = time.time()

import argparse  # noqa: E402
import functools  # noqa: E402
import os  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402

#: (module, function names) wrapped; figures are named by their file
STEPS = {
    "rdshare.inference.fit": (
        "compiled_sampler",
        "sample_posterior",
        "add_predictive",
        "gate",
        "summarise",
    ),
    "rdshare.inference.results": ("save_run",),
    "rdshare.report.build": (
        "prerender",
        "_evaluate_scenarios",
        "_render_forked",
        "_make",
        "_render_into",
        "build_report",
    ),
}


def _log(message: str) -> None:
    os.write(2, f"[{time.time() - T0:6.2f} s  pid {os.getpid()}] {message}\n".encode())


def _wrap(owner, name: str) -> None:
    inner = getattr(owner, name)

    @functools.wraps(inner)
    def timed(*args, **kwargs):
        label = name + (f" {args[0].file}" if args and hasattr(args[0], "file") else "")
        _log(f"start {label}")
        try:
            return inner(*args, **kwargs)
        finally:
            _log(f"end   {label}")

    setattr(owner, name, timed)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", help="run folder to write (default: a scratch folder, removed)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "fit_args", nargs="*", help="further `rdshare fit` options, after --, e.g. -- --draws 200"
    )
    args = parser.parse_args(argv)

    import importlib

    import xarray as xr

    from rdshare.cli import main as cli_main

    for module, names in STEPS.items():
        mod = importlib.import_module(module)
        for name in names:
            _wrap(mod, name)
    _wrap(xr.DataTree, "to_netcdf")
    _log("imports done")
    with tempfile.TemporaryDirectory() as scratch:
        out = args.out or os.path.join(scratch, "run")
        code = cli_main(["fit", "--out", out, "--seed", str(args.seed), *args.fit_args])
    _log(f"rdshare fit returned {code}")
    return code


if __name__ == "__main__":
    sys.exit(main())
