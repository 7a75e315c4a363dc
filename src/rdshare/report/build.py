"""Build a run's report: draw the plots, assemble the sections, write report.html, report.md and plots/."""

from __future__ import annotations

import concurrent.futures
import contextlib
import functools
import io
import os
import pickle
import shutil
import signal
import sys
import threading
import time
import warnings
from collections.abc import Sequence
from pathlib import Path

from rdshare.report import scenario_plots
from rdshare.report.inputs import ReportInputs, collect
from rdshare.report.render import Section, render_html, render_markdown
from rdshare.report.sections import PlotSpec, _has_savings, build_sections

REPORT_FILES = ("report.html", "report.md")
PLOTS_DIR = "plots"


def _png(fig) -> bytes:
    from rdshare.report.plots import DPI

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI)
    return buf.getvalue()


def _plot_specs(inp: ReportInputs, evaluated: dict | None) -> list[PlotSpec]:
    from rdshare.report import plots

    t, table = inp.tree, inp.dataset.table
    specs = [
        PlotSpec(
            "prior_posterior.png",
            "Prior against posterior",
            "Grey: what the priors alone say; blue: what the priors and the data say together. "
            "Bars under each panel are the 90% intervals (white tick: median). Where blue sits on "
            "grey with a similar width, the data taught little and the number is an assumption.",
            lambda: plots.prior_posterior(t),
        ),
        PlotSpec(
            "row_estimates.png",
            "Per-row estimates against the data",
            "One line per fitted evidence row. Blue: the model's estimate of that row's R&D share "
            "(FLOP terms) with 50% and 90% intervals; black: what the row reports (diamond a share, "
            "bracket an interval, arrow a lower bound). Rows marked † are GPU-hour, dollar or energy "
            "shares: the model compares them with its share shifted by that unit's offset, so the "
            "black mark may sit to the right of blue by design. Pooling pulls rows toward each other; a row far "
            "from its black mark is one the rest of the evidence disagrees with.",
            lambda: plots.row_estimates(t, table),
        ),
        PlotSpec(
            "predictive_check.png",
            "Posterior predictive check",
            "For each observed row, the values the fitted model would report (blue, 50% and 90%) on "
            "the row's own scale (a share, a ratio or d), measurement error and unit offset "
            "included, against what was reported (diamond; red when outside the 90% interval). "
            "With a well-fitting model about one row in ten falls outside by chance. Lower-bound "
            "rows list how often simulated reports respect the bound.",
            lambda: plots.predictive_check(t, table),
        ),
    ]
    if "log_likelihood" in t.children and "y_obs" in t["log_likelihood"].ds:
        specs.append(
            PlotSpec(
                "loo_pit.png",
                "LOO-PIT calibration",
                "Where each reported value falls in the model's prediction for it made without it "
                "(its leave-one-out predictive, PSIS-weighted). "
                "Calibrated predictions put these at uniform positions, so the line stays near 0 "
                "and p is not small. With a dozen observations only gross miscalibration shows.",
                lambda: plots.loo_pit(t),
                pyplot=True,
            )
        )
    eco = _ecosystem_spec(t)
    if eco is not None:
        specs.append(eco)
    if evaluated:
        specs.append(
            PlotSpec(
                "scenario_savings.png",
                "Savings in the example scenarios",
                "The shipped example scenarios (src/rdshare/data/scenarios) evaluated on the "
                "posterior draws, uncertain inputs sampled alongside (seeded by the run's seed). "
                "Log scale, in each scenario's unit; grey is one lab's R&D for scale.",
                lambda: plots.scenario_savings(evaluated),
                cost=0.5,
            )
        )
    for name, item in (evaluated or {}).items():
        sc = item["scenario"]
        outs, prior = item.get("outputs"), item.get("prior_outputs")
        if outs is None:
            continue
        if sc.years:
            specs.append(
                PlotSpec(
                    f"fan_{name}.png",
                    f"{name} through the years",
                    f"The {name} scenario's amounts from its budget year to {sc.years[-1]}: the "
                    "budget grows by the scenario's budget_growth a year (cited: Cottier et al. 2024, "
                    "2.4x, 90% CI 2.0-2.9) and the R&D share follows the fitted era trend. Blue: "
                    "median, 50% and 90% intervals; grey dashes: the priors alone. Below the dotted "
                    "zero line, savings are costs (a negative discount).",
                    functools.partial(scenario_plots.fan, outs, sc, prior),
                    cost=0.6,
                )
            )
        if sc.generations:
            specs.append(
                PlotSpec(
                    f"compounding_{name}.png",
                    f"{name}: savings compounding over model generations",
                    "Left: each generation's discount D_k, with 1 - D_k = (1 - d_eff)(1 - c D_k-1), "
                    "c the carry-over eroded by forking; grey is the one-generation discount. Right: "
                    "the compute this lab avoids, cumulated over the generations, with and without "
                    "carry-over. The carry-over and the generation length are judgements "
                    "(docs/scenarios.md).",
                    functools.partial(scenario_plots.compounding, outs, sc),
                )
            )
    specs.append(_rank_spec(t))
    return specs


def _ecosystem_spec(t) -> PlotSpec | None:
    from rdshare.report import plots

    if not _has_savings(t):
        return None
    return PlotSpec(
        "ecosystem_savings.png",
        "Savings against ecosystem size",
        "R&D avoided when N labs share openly instead of each working alone, from every "
        "posterior draw of the frontier R&D share f and the discount d (line: median; bands: "
        "50% and 90%). Left in units of one lab's development budget, (N − 1) f d; right as "
        "a share of the group's R&D, d (N − 1) / N. No forking; see docs/scenarios.md.",
        lambda: plots.ecosystem_savings(t),
    )


def _rank_spec(t) -> PlotSpec:
    from rdshare.report import plots

    return PlotSpec(
        "rank.png",
        "Sampler diagnostics: rank plots",
        "One line per chain: how that chain's draws rank among all chains' draws, as an ECDF "
        "minus the uniform. Chains that explored the same distribution stay near zero; black "
        "points mark where a chain leaves a 99% simultaneous band, and a small p says the chains "
        "disagree (more tuning or draws needed).",
        lambda: plots.rank(t),
        pyplot=True,
        cost=1.0,
    )


def posterior_specs(tree) -> list[PlotSpec]:
    """The report's figures that read nothing but the posterior group (the sampler's draws and the
    quantities derived from them): :func:`prerender` can draw these while the fit goes on."""
    return [s for s in (_ecosystem_spec(tree), _rank_spec(tree)) if s is not None]


def _render_plots(
    specs: list[PlotSpec], early: Forked | None = None
) -> tuple[dict[str, bytes], dict[str, str]]:
    """PNG bytes per file; failures are recorded (the report says so) rather than raised.

    A plotting bug must not lose a fit: :func:`write_report_into` runs inside ``save_run``.

    Making and rendering the nine figures of a default run costs about 3 to 4.3 s on one core
    (``benchmarks/plot_costs.py``), most of it matplotlib laying out text and rasterising, which
    holds the GIL. Where the operating system can fork (Linux), the work is split between this
    process and forked copies of it, one per spare core (:func:`_render_forked`), so every core
    draws; elsewhere the figures arviz-plots draws through pyplot (the rank plot, about 1 s) are
    made on one worker thread while this thread makes and renders the others
    (:func:`_render_threaded`). With an interactive matplotlib backend (pyplot must then stay on the
    main thread) everything runs here in order. Every route renders each figure the same way, so the
    pictures are the same bytes.

    ``early`` (from :func:`prerender`) holds figures forked processes have been drawing since the
    posterior was sampled: they are taken from there, and whatever is not delivered is drawn here.
    """
    ahead = {s.file for s in early.specs} if early is not None else set()
    now = [s for s in specs if s.file not in ahead]
    headless = _headless()
    if headless and _can_fork():
        pngs, errors = _render_forked(now)
    elif headless and any(s.pyplot for s in now):
        pngs, errors = _render_threaded(now)
    else:
        pngs, errors = {}, {}
        for spec in now:
            _render_into(spec, _make(spec), pngs, errors)
    if early is not None:
        _collect(early, pngs, errors)
    return _in_order(pngs, specs), errors


def _make(spec: PlotSpec):
    try:
        return spec.make(), None
    except Exception as exc:  # reported in the page, see _render_plots
        return None, f"{type(exc).__name__}: {exc}"


def _render_into(spec: PlotSpec, made, pngs: dict, errors: dict) -> None:
    fig, error = made
    if error is None:
        try:
            pngs[spec.file] = _png(fig)
        except Exception as exc:  # reported in the page
            error = f"{type(exc).__name__}: {exc}"
    if error is not None:
        errors[spec.file] = error


def _render_threaded(specs: list[PlotSpec]) -> tuple[dict[str, bytes], dict[str, str]]:
    """pyplot figures made on one worker thread, everything else made here; every figure rendered
    here (Agg and the font cache are used by one thread at a time)."""
    pngs: dict[str, bytes] = {}
    errors: dict[str, str] = {}
    apart = [s for s in specs if s.pyplot]
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        future = pool.submit(lambda: [_make(s) for s in apart])
        for spec in specs:
            if not spec.pyplot:
                _render_into(spec, _make(spec), pngs, errors)
        for spec, made in zip(apart, future.result(), strict=True):
            _render_into(spec, made, pngs, errors)
    return pngs, errors


#: Seconds to wait for a forked renderer after this process has drawn its share, before drawing
#: the rest here instead (a child that hangs costs time, never the report).
FORK_TIMEOUT = 120.0


def _headless() -> bool:
    """matplotlib's backend never opens a window (pyplot may be used off the main thread)."""
    import matplotlib

    return matplotlib.get_backend().lower() in _NON_INTERACTIVE


def _can_fork() -> bool:
    return sys.platform == "linux" and hasattr(os, "fork") and not os.environ.get("RDSHARE_NO_FORK")


def _children() -> int:
    """How many forked processes draw beside this one: one per core this process may use, less its
    own (at least one). On the project's 2-core machine: one."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return max(1, (cores or 1) - 1)


def _split(specs: Sequence[PlotSpec], children: int) -> tuple[list[PlotSpec], list[list[PlotSpec]]]:
    """``(here, bins)``: one bin per child. The pyplot figures go to the children, the rest to
    whichever side has least work, largest first, by each figure's rough ``cost`` (a tie goes to
    this process, then to the first child). Empty bins are dropped."""
    bins: list[list[PlotSpec]] = [[] for _ in range(max(1, children))]
    sides = [[], *bins]

    def least(options):
        return min(options, key=lambda side: sum(s.cost for s in side))

    by_cost = sorted(specs, key=lambda s: -s.cost)
    for spec in (s for s in by_cost if s.pyplot):
        least(bins).append(spec)
    for spec in (s for s in by_cost if not s.pyplot):
        least(sides).append(spec)
    return sides[0], [b for b in bins if b]


class _Child:
    """One forked copy of this process drawing ``specs``.

    The child inherits everything the figures need (the posterior, matplotlib's state), so it starts
    in milliseconds; it sends back its pickled ``(pngs, errors)`` through a pipe, read here on a
    daemon thread so it never waits for this process, and ends with ``os._exit`` (no cleanup of the
    parent's state runs twice). Raises OSError (nothing left open) if the process cannot fork.
    """

    def __init__(self, specs: Sequence[PlotSpec]):
        self.specs = list(specs)
        self._received: list[bytes] = []
        read_fd, write_fd = os.pipe()
        try:
            with warnings.catch_warnings():
                # Python warns that forking a process with threads may deadlock the child:
                # sampling's idle worker threads hold no lock the child needs, and a stuck child is
                # timed out.
                warnings.simplefilter("ignore", DeprecationWarning)
                pid = os.fork()
        except OSError:
            os.close(read_fd)
            os.close(write_fd)
            raise
        if pid == 0:  # the child: draw, send, leave without any cleanup
            try:
                os.close(read_fd)
                pngs: dict[str, bytes] = {}
                errors: dict[str, str] = {}
                for spec in self.specs:
                    _render_into(spec, _make(spec), pngs, errors)
                with os.fdopen(write_fd, "wb") as fh:
                    fh.write(pickle.dumps((pngs, errors), protocol=pickle.HIGHEST_PROTOCOL))
            finally:
                os._exit(0)
        os.close(write_fd)
        self.pid = pid
        self._reader = threading.Thread(
            target=self._read, args=(read_fd,), name="rdshare-report-reader", daemon=True
        )
        self._reader.start()

    def _read(self, fd: int) -> None:
        with os.fdopen(fd, "rb") as fh:
            self._received.append(fh.read())

    def result(self, timeout: float) -> tuple[dict, dict]:
        self._reader.join(max(0.0, timeout))
        done = not self._reader.is_alive()
        self.reap(kill=not done)
        if done and self._received:
            with contextlib.suppress(Exception):  # a child that died mid-write
                return pickle.loads(self._received[0])
        return {}, {}

    def reap(self, kill: bool) -> None:
        if kill:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGKILL)
        with contextlib.suppress(ChildProcessError):
            os.waitpid(self.pid, 0)


class Forked:
    """Figures being drawn in forked copies of this process, one per bin (:class:`_Child`).

    :meth:`result` collects what they sent; :meth:`cancel` kills them. A bin whose process could not
    be forked is simply not sent: the caller draws what was not delivered (:func:`_collect`).
    """

    def __init__(self, bins: Sequence[Sequence[PlotSpec]]):
        self.specs = [spec for b in bins for spec in b]
        self._children: list[_Child] = []
        self._result: tuple[dict, dict] | None = None
        for b in bins:
            with contextlib.suppress(OSError):  # no fork today: drawn by the caller instead
                self._children.append(_Child(b))

    @property
    def pids(self) -> list[int]:
        return [child.pid for child in self._children]

    def result(self, timeout: float) -> tuple[dict[str, bytes], dict[str, str]]:
        """``(pngs, errors)`` the children delivered within ``timeout`` seconds in all; nothing from
        a child that crashed, was killed or hangs (it is killed). The children are reaped; later
        calls give the same."""
        if self._result is None:
            deadline = time.monotonic() + timeout
            pngs: dict[str, bytes] = {}
            errors: dict[str, str] = {}
            for child in self._children:
                sent_pngs, sent_errors = child.result(deadline - time.monotonic())
                pngs.update(sent_pngs)
                errors.update(sent_errors)
            self._result = (pngs, errors)
        return self._result

    def cancel(self) -> None:
        """Kill the children (if they are still drawing) and reap them; :meth:`result` then gives
        nothing."""
        if self._result is None:
            for child in self._children:
                child.reap(kill=True)
            self._result = ({}, {})


def _render_forked(
    specs: list[PlotSpec], children: int | None = None
) -> tuple[dict[str, bytes], dict[str, str]]:
    """Draw ``specs`` in this process and ``children`` forked copies of it (default
    :func:`_children`: one per spare core), in parallel (:class:`Forked`).

    Whatever a child does not deliver in time (it crashed, was killed, hangs, or could not be
    forked) is drawn here, so the report is always complete. An interrupt here kills the children
    first.
    """
    here, bins = _split(specs, _children() if children is None else children)
    pngs: dict[str, bytes] = {}
    errors: dict[str, str] = {}
    if len(bins) + bool(here) < 2:  # nothing to share: no fork
        for spec in specs:
            _render_into(spec, _make(spec), pngs, errors)
        return pngs, errors
    job = Forked(bins)
    try:
        for spec in here:
            _render_into(spec, _make(spec), pngs, errors)
    except BaseException:
        job.cancel()
        raise
    _collect(job, pngs, errors)
    return pngs, errors


def _collect(job: Forked, pngs: dict, errors: dict) -> None:
    """Add what ``job`` delivered within :data:`FORK_TIMEOUT` (a figure, or the error that stopped
    it) to ``pngs`` and ``errors``; draw here whatever it did not deliver."""
    sent_pngs, sent_errors = job.result(FORK_TIMEOUT)
    for spec in job.specs:
        if spec.file in sent_pngs:
            pngs[spec.file] = sent_pngs[spec.file]
        elif spec.file in sent_errors:
            errors[spec.file] = sent_errors[spec.file]
        else:  # the child crashed, was killed, hangs or never started
            _render_into(spec, _make(spec), pngs, errors)


def prerender(tree) -> Forked | None:
    """Start drawing the figures that need only the posterior (:func:`posterior_specs`) in forked
    processes, while the caller goes on (``rdshare fit`` calls it as soon as the sampler is done, so
    the rank plot and the ecosystem savings, about 1.2 s, are drawn beside the predictive groups, the
    gate and the netCDF file). Pass the handle to :func:`build_report` / :func:`write_report_into` as
    ``early``.

    One process on a 2-core machine, one per figure where there are more spare cores. None where
    the figures would be drawn differently or not in parallel (no ``fork``, ``RDSHARE_NO_FORK``, an
    interactive matplotlib backend, or the fork fails): the report then draws them itself. The
    children draw from their copy of ``tree`` as it is now, so the caller must not change the
    posterior's values afterwards (adding groups or variables is fine).
    """
    if not (_headless() and _can_fork()):
        return None
    specs = posterior_specs(tree)
    n = min(len(specs), _children())
    job = Forked([specs[i::n] for i in range(n)]) if specs else None
    return job if job is not None and job.pids else None


#: matplotlib backends that never open a window: pyplot may be used off the main thread.
_NON_INTERACTIVE = {
    "agg",
    "pdf",
    "ps",
    "svg",
    "pgf",
    "cairo",
    "module://matplotlib_inline.backend_inline",
}


def _in_order(pngs: dict[str, bytes], specs: list[PlotSpec]) -> dict[str, bytes]:
    return {s.file: pngs[s.file] for s in specs if s.file in pngs}


def _evaluate_scenarios(inp: ReportInputs) -> dict | None:
    if not _has_savings(inp.tree):
        return None
    from rdshare.core.scenario import load_scenario, shipped_scenarios
    from rdshare.report.plots import scenario_outputs

    scenarios = {name: load_scenario(path) for name, path in shipped_scenarios().items()}
    return scenario_outputs(scenarios, inp.tree, inp.seed)


def _publish(stage: Path, folder: Path) -> None:
    """Move the staged report into ``folder``: plots first, report.html last, each by rename."""
    plots_new, plots_old = stage / PLOTS_DIR, folder / PLOTS_DIR
    if plots_old.exists():
        trash = folder / f".plots-old-{os.getpid()}"
        os.replace(plots_old, trash)
        os.replace(plots_new, plots_old)
        shutil.rmtree(trash, ignore_errors=True)
    else:
        os.replace(plots_new, plots_old)
    for name in ("report.md", "report.html"):
        os.replace(stage / name, folder / name)


def build_report(
    run_or_result,
    folder: str | Path,
    *,
    extra_sections: Sequence[Section] = (),
    early: Forked | None = None,
) -> Path:
    """Write ``report.html``, ``report.md`` and ``plots/*.png`` into ``folder``; returns report.html.

    Parameters
    ----------
    run_or_result : FitResult or Run
        A fresh fit (:func:`rdshare.fit`) or a saved run (:func:`rdshare.inference.results.load_run`).
        Nothing is refitted; savings scenarios are evaluated on the posterior draws with the run's
        seed, so rebuilding gives the same report.
    folder : path
        Created if missing. The report is built in a hidden staging folder inside it and moved into
        place file by file, so an interrupted build leaves the previous report whole.
    extra_sections : sequence of Section
        Further sections (e.g. prior sensitivity, model comparison), placed after the example
        scenarios and before the reference tables.
    early : Forked, optional
        The figures :func:`prerender` started drawing from this fit's posterior; they are taken from
        it (and drawn here if it fails). The build owns it: the child is reaped whatever happens.

    Returns
    -------
    Path
        ``folder / "report.html"``.
    """
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        inp = collect(run_or_result, folder)
        evaluated = _evaluate_scenarios(inp)
        specs = _plot_specs(inp, evaluated)
        pngs, errors = _render_plots(specs, early)
    except BaseException:
        if early is not None:
            early.cancel()  # a no-op once the figures were collected
        raise
    sections = build_sections(inp, pngs, specs, errors, evaluated, extra_sections)
    title = f"rdshare run report: {inp.name}"
    subtitle = "R&D share of AI labs' development compute and the knowledge-sharing discount"
    if not inp.converged:
        subtitle += " (NOT CONVERGED)"

    stage = folder / f".report-tmp-{os.getpid()}"
    if stage.exists():
        shutil.rmtree(stage)
    (stage / PLOTS_DIR).mkdir(parents=True)
    try:
        for file, png in pngs.items():
            (stage / PLOTS_DIR / file).write_bytes(png)
        (stage / "report.md").write_text(
            render_markdown(title, sections, subtitle, plots_dir=PLOTS_DIR), encoding="utf-8"
        )
        (stage / "report.html").write_text(render_html(title, sections, subtitle), encoding="utf-8")
        _publish(stage, folder)
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    return folder / "report.html"


def write_report_into(
    folder: str | Path,
    res,
    *,
    extra_sections: Sequence[Section] = (),
    early: Forked | None = None,
) -> Path:
    """Extra writer for :func:`rdshare.inference.results.save_run`: ``writer(tmp_folder, res)``
    (bind ``early`` with :func:`functools.partial`)."""
    return build_report(res, folder, extra_sections=extra_sections, early=early)
