"""rdshare against the by-hand PyMC baseline, in one run on one machine (``make bench``).

Every measurement runs in a fresh subprocess (imports, compiles and interpreter exit included); fits are
repeated and reported as the median with its range; rdshare and the baseline alternate, so load from other
programmes on the machine falls on both. The goals are ratios measured side by side in this run.

1. ``baseline``: a plain script that builds the same PyMC model (``rdshare.inference.model.build`` on the
   shipped design) and calls ``pm.sample(chains=4, cores=2, random_seed=1, progressbar=False)`` with every
   other setting at its default (nutpie, 1000 draws, 1000 tuning steps).
2. ``rdshare fit`` end to end (fit, convergence gate, predictive groups, plots, report, run folder), cold
   (PyTensor's ``base_compiledir`` and ``RDSHARE_CACHE_DIR`` both fresh, empty directories) and warm
   (both caches filled by an earlier, untimed run). The baseline is measured cold and warm the same way.
   Goals: warm rdshare / warm baseline <= 0.33; cold / cold <= 0.6. The compile route each rdshare fit
   took (rdshare's cache or stock nutpie, from the run manifest) is printed, so a nutpie upgrade that
   loses the cache shows here. Warm ``rdshare fit --no-report`` runs alongside (not a goal): the
   difference is what the report's figures and pages add, and the script prints how much of that the
   warm goal leaves room for.
3. SBC: the full ``rdshare sbc --sims 200 --workers <cores>`` with the sampler settings users run (warm
   caches), measured, not extrapolated: wall time, fits failing the convergence gate, median sampling time
   per fit, the verdict. Goal: wall <= 8 x one warm by-hand fit (the baseline's median in this run).
4. Peak memory (maximum resident set size) of each subprocess, from ``os.wait4``.

Usage::

    .venv/bin/python benchmarks/bench_fit.py                 # the full run (6 to 12 minutes on 2 cores)
    .venv/bin/python benchmarks/bench_fit.py --quick         # one repetition of each, SBC of 20 fits
    .venv/bin/python benchmarks/bench_fit.py --json out.json # also write every measurement
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from dataclasses import asdict, dataclass, field
from importlib import metadata
from pathlib import Path

PY = sys.executable
REPO = Path(__file__).resolve().parents[1]
SBC_TARGET_FITS = 200
#: The warm fit without plots and report pages: what the report adds is the difference.
NO_REPORT = "rdshare fit --no-report warm"
#: The goals, as ratios measured in the same run.
WARM_GOAL, COLD_GOAL, SBC_GOAL = 0.33, 0.6, 8.0

BASELINE = textwrap.dedent(
    """
    import pymc as pm
    from rdshare.core import dataset, design, priors
    from rdshare.inference import model

    d = design.build(dataset.load([]).fitted)
    m = model.build(d, priors.load(None))
    with m:
        idata = pm.sample(chains=4, cores=2, random_seed=1, progressbar=False)
    print(float(idata.posterior["f_frontier"].mean()))
    """
)


@dataclass
class Run:
    wall: float
    max_rss_mb: float
    returncode: int
    stdout: str = ""
    stderr: str = ""
    extra: dict = field(default_factory=dict)


def run_child(cmd: list[str], env: dict, cwd: Path) -> Run:
    """Run ``cmd`` in a fresh process; wall time and that process's own peak RSS (``os.wait4``)."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, env=env, cwd=cwd, stdout=out, stderr=err)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        return Run(wall, usage.ru_maxrss / 1024.0, proc.returncode, out.read(), err.read())


def base_env() -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RDSHARE_", "PYTENSOR_FLAGS"))}
    env["MPLBACKEND"] = "Agg"
    env["PYTHONUNBUFFERED"] = "1"
    return env


def env_with(pytensor_dir: Path, rdshare_dir: Path) -> dict:
    env = base_env()
    env["PYTENSOR_FLAGS"] = f"base_compiledir={pytensor_dir}"
    env["RDSHARE_CACHE_DIR"] = str(rdshare_dir)
    return env


def check(run: Run, what: str, ok=(0,)) -> Run:
    if run.returncode not in ok:
        sys.stderr.write(f"\n{what} failed (exit {run.returncode}):\n{run.stderr[-3000:]}\n")
        raise SystemExit(1)
    return run


class Bench:
    def __init__(self, work: Path):
        self.work = work
        self.n = 0
        self.results: dict[str, list[Run]] = {}

    def fresh(self, name: str) -> Path:
        self.n += 1
        p = self.work / f"{name}-{self.n}"
        p.mkdir(parents=True)
        return p

    def record(self, key: str, run: Run) -> Run:
        self.results.setdefault(key, []).append(run)
        print(
            f"  {key:<28} {run.wall:7.2f} s  {run.max_rss_mb:6.0f} MB  (exit {run.returncode})",
            flush=True,
        )
        return run

    def baseline(self, env: dict, key: str) -> Run:
        script = self.work / "baseline.py"
        script.write_text(BASELINE, encoding="utf-8")
        return self.record(key, check(run_child([PY, str(script)], env, self.work), key))

    def rdshare_fit(self, env: dict, key: str, seed: int, *options: str) -> Run:
        out = self.fresh("run") / "run"
        cmd = [PY, "-m", "rdshare.cli", "fit", "--out", str(out), "--seed", str(seed), *options]
        # exit 3: the fit ran but did not pass the convergence gate (still a complete, timed run)
        run = check(run_child(cmd, env, self.work), key, ok=(0, 3))
        manifest = out / "manifest.json"
        if manifest.exists():
            doc = json.loads(manifest.read_text())
            run.extra["timings"] = doc["timings_seconds"]
            run.extra["compile"] = doc.get("compile", {})
        run.extra["report"] = (out / "report.html").exists()
        return self.record(key, run)

    def sbc(self, env: dict, sims: int, workers: int) -> Run:
        out = self.fresh("sbc") / "sbc"
        cmd = [PY, "-m", "rdshare.cli", "sbc", "--sims", str(sims), "--out", str(out)]
        if workers > 1:
            cmd += ["--workers", str(workers)]
        run = check(run_child(cmd, env, self.work), "rdshare sbc", ok=(0, 3))
        verdict = json.loads((out / "verdict.json").read_text())
        import csv

        with open(out / "sbc.csv", newline="") as fh:
            rows = list(csv.DictReader(fh))
        run.extra = {
            "passed": bool(verdict.get("passed")),
            "fits": len(rows),
            "gate_failed": sum(r["converged"] not in ("True", "true", "1") for r in rows),
            "fit_seconds": [float(r["fit_seconds"]) for r in rows],
            "workers": workers,
        }
        return self.record("rdshare sbc", run)

    def help(self, env: dict) -> Run:
        return self.record(
            "rdshare --help",
            check(run_child([PY, "-m", "rdshare.cli", "--help"], env, self.work), "help"),
        )


def med(runs: list[Run], attr: str = "wall") -> float:
    return statistics.median(getattr(r, attr) for r in runs)


def span(runs: list[Run], attr: str = "wall") -> str:
    vals = [getattr(r, attr) for r in runs]
    return f"{min(vals):.1f}-{max(vals):.1f}" if len(vals) > 1 else "-"


def machine_info() -> dict:
    info = {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "cpu": platform.processor() or "unknown",
    }
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                info["cpu"] = line.split(":", 1)[1].strip()
                break
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                info["memory_gb"] = round(int(line.split()[1]) / 1024**2, 1)
    except OSError:
        pass
    for pkg in (
        "rdshare",
        "pymc",
        "pytensor",
        "nutpie",
        "numba",
        "arviz",
        "numpy",
        "scipy",
        "xarray",
        "matplotlib",
    ):
        try:
            info[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            info[pkg] = "not installed"
    return info


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument(
        "--repeats", type=int, default=5, help="warm repetitions of each (median reported)"
    )
    ap.add_argument("--cold-repeats", type=int, default=2, help="cold repetitions of each")
    ap.add_argument(
        "--sbc-sims", type=int, default=SBC_TARGET_FITS, help="simulations in the SBC measurement"
    )
    ap.add_argument(
        "--sbc-workers", type=int, default=os.cpu_count() or 1, help="Dask workers (default: cores)"
    )
    ap.add_argument(
        "--seed", type=int, default=None, help="seed of the rdshare fits (default: rdshare's)"
    )
    ap.add_argument("--skip-cold", action="store_true")
    ap.add_argument("--skip-sbc", action="store_true")
    ap.add_argument("--quick", action="store_true", help="one repetition of each, SBC of 20 fits")
    ap.add_argument("--json", metavar="PATH", help="write every measurement to this file")
    ap.add_argument("--keep", action="store_true", help="keep the scratch directory")
    args = ap.parse_args(argv)
    if args.quick:
        args.repeats, args.cold_repeats, args.sbc_sims = 1, 1, 20
    if args.seed is None:
        from rdshare.inference.defaults import DEFAULTS

        args.seed = DEFAULTS["seed"]

    info = machine_info()
    load_before = os.getloadavg()
    print("rdshare benchmark: by-hand pm.sample() baseline against rdshare, same machine, same run")
    for k, v in info.items():
        print(f"  {k:<11} {v}")
    print(f"  load avg    {load_before[0]:.2f} {load_before[1]:.2f} {load_before[2]:.2f} (before)")
    print(flush=True)

    work = Path(tempfile.mkdtemp(prefix="rdshare-bench-"))
    bench = Bench(work)
    try:
        warm_pt, warm_rd = bench.fresh("pytensor-warm"), bench.fresh("rdshare-warm")
        warm_env = env_with(warm_pt, warm_rd)

        print("CLI start-up")
        for _ in range(args.repeats):
            bench.help(warm_env)

        if not args.skip_cold:
            print("cold: fresh PyTensor and rdshare cache directories for every run")
            for _ in range(args.cold_repeats):
                bench.baseline(env_with(bench.fresh("pt"), bench.fresh("rd")), "baseline cold")
                bench.rdshare_fit(
                    env_with(bench.fresh("pt"), bench.fresh("rd")), "rdshare fit cold", args.seed
                )

        print("warm: caches filled by one untimed run of each")
        bench.baseline(warm_env, "(warm-up baseline)")
        bench.rdshare_fit(warm_env, "(warm-up rdshare)", args.seed)
        arms = [
            lambda: bench.baseline(warm_env, "baseline warm"),
            lambda: bench.rdshare_fit(warm_env, "rdshare fit warm", args.seed),
            lambda: bench.rdshare_fit(warm_env, NO_REPORT, args.seed, "--no-report"),
        ]
        for i in range(args.repeats):
            for k in range(len(arms)):  # each arm first, second and third in turn
                arms[(i + k) % len(arms)]()

        if not args.skip_sbc:
            print(
                f"SBC: rdshare sbc --sims {args.sbc_sims} --workers {args.sbc_workers}, the sampler "
                "settings users run (warm caches)"
            )
            bench.sbc(warm_env, args.sbc_sims, args.sbc_workers)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    load_after = os.getloadavg()
    report(bench.results, args, info, load_before, load_after)
    if args.json:
        payload = {
            "machine": info,
            "load_before": load_before,
            "load_after": load_after,
            "args": vars(args),
            "runs": {
                k: [asdict(r) | {"stdout": "", "stderr": ""} for r in v]
                for k, v in bench.results.items()
            },
        }
        Path(args.json).write_text(json.dumps(payload, indent=1), encoding="utf-8")
        print(f"\nmeasurements written to {args.json}")
    return 0


def report(results: dict[str, list[Run]], args, info, load_before, load_after) -> None:
    print()
    print(
        f"load avg {load_before[0]:.2f} before, {load_after[0]:.2f} after (1-minute; {info['cpus']} CPUs)"
    )
    print()
    print(f"{'measurement':<28} {'n':>3} {'median s':>9} {'range s':>12} {'peak MB':>8}")
    for key, runs in results.items():
        if key.startswith("("):
            continue
        print(
            f"{key:<28} {len(runs):>3} {med(runs):>9.2f} {span(runs):>12} {med(runs, 'max_rss_mb'):>8.0f}"
        )

    def ratio(a: str, b: str) -> float | None:
        if a in results and b in results:
            return med(results[a]) / med(results[b])
        return None

    print()
    warm = ratio("rdshare fit warm", "baseline warm")
    cold = ratio("rdshare fit cold", "baseline cold")
    if cold is not None:
        verdict = "met" if cold <= COLD_GOAL else "NOT met"
        print(f"ratio rdshare/baseline, cold: {cold:.2f}   (goal <= {COLD_GOAL}: {verdict})")
    if warm is not None:
        verdict = "met" if warm <= WARM_GOAL else "NOT met"
        print(f"ratio rdshare/baseline, warm: {warm:.2f}   (goal <= {WARM_GOAL}: {verdict})")
        m = med(results["rdshare fit warm"], "max_rss_mb") / med(
            results["baseline warm"], "max_rss_mb"
        )
        print(f"peak memory rdshare/baseline, warm: {m:.2f}")
    if warm is not None and NO_REPORT in results:
        base, full = med(results["baseline warm"]), med(results["rdshare fit warm"])
        bare = med(results[NO_REPORT])
        room = WARM_GOAL * base - bare
        leaves = (
            f"the warm goal leaves it {room:.2f} s"
            if room > 0
            else "the warm goal is out of reach even without it"
        )
        print(
            f"without the report (--no-report, not a goal): warm ratio {bare / base:.2f}; the report "
            f"adds {full - bare:.2f} s, and {leaves}"
        )
    fits = [r for k in ("rdshare fit warm", "rdshare fit cold") for r in results.get(k, [])]
    routes = sorted({json.dumps(r.extra.get("compile", {}), sort_keys=True) for r in fits})
    for route in routes:
        print(f"compile route of rdshare fits (manifest): {route}")
    timed = [
        r.extra.get("timings")
        for r in results.get("rdshare fit warm", [])
        if r.extra.get("timings")
    ]
    if timed:
        phases = sorted({k for t in timed for k in t})
        parts = ", ".join(
            f"{p} {statistics.median(t.get(p, 0.0) for t in timed):.2f}" for p in phases
        )
        print(f"rdshare fit warm, median seconds by phase (manifest): {parts}")

    if "rdshare sbc" in results:
        r = results["rdshare sbc"][0]
        x = r.extra
        print()
        print(
            f"SBC: {x['fits']} fits on {x['workers']} worker(s), the sampler settings users run: "
            f"{r.wall:.1f} s wall ({r.wall / 60:.1f} min), {'PASSED' if x['passed'] else 'FAILED'}"
        )
        print(
            f"  median sampling per fit {statistics.median(x['fit_seconds']):.2f} s "
            f"(one core per worker); fits failing the convergence gate: {x['gate_failed']} of "
            f"{x['fits']}"
        )
        if "baseline warm" in results:
            b = med(results["baseline warm"])
            ratio_sbc = r.wall / b
            verdict = "met" if ratio_sbc <= SBC_GOAL else "NOT met"
            scale = (
                ""
                if x["fits"] == SBC_TARGET_FITS
                else f" ({x['fits']} fits, not {SBC_TARGET_FITS})"
            )
            print(
                f"  SBC wall / one warm by-hand fit ({b:.1f} s): {ratio_sbc:.1f}{scale}   "
                f"(goal <= {SBC_GOAL:g}: {verdict})"
            )


if __name__ == "__main__":
    sys.exit(main())
