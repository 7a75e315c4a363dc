"""The run report: plots, ``report.html`` (self-contained) and ``report.md``, built from a fit or a saved run.

Public functions
----------------
:func:`build_report`
    ``build_report(run_or_result, folder)`` writes ``report.html``, ``report.md`` and ``plots/*.png``
    into ``folder`` from a :class:`~rdshare.inference.results.FitResult` or a loaded
    :class:`~rdshare.inference.results.Run`. Nothing is refitted.
:func:`write_report_into`
    ``write_report_into(folder, res)``: the same, with the argument order of a ``save_run`` extra
    writer (``rdshare fit`` passes it).
:func:`data_taught`
    The "what the data taught" comparison of prior and posterior for each headline quantity.

The report's sections, in order: headline, convergence, what the data taught, the plots (each with a
how-to-read caption), example scenarios, any ``extra_sections`` (the hook for sensitivity and model
comparison), the summary table, the dataset with sources, the priors with rationales, provenance.
``docs/report.md`` explains each section and plot for readers.
"""

from __future__ import annotations

import io
import json
import os
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from rdshare.inference.results import SUMMARY_COLUMNS
from rdshare.report.render import (
    Banner,
    Block,
    Image,
    Items,
    Para,
    Section,
    Table,
    render_html,
    render_markdown,
)

__all__ = [
    "LEARNED_MAX",
    "MOSTLY_PRIOR_MIN",
    "SHIFT_NOTABLE",
    "Banner",
    "Image",
    "Items",
    "Learning",
    "Para",
    "ReportInputs",
    "Section",
    "Table",
    "build_report",
    "collect",
    "data_taught",
    "headline_sentence",
    "write_report_into",
]

#: Width ratio (posterior 90% width / prior 90% width) from which a quantity is "mostly prior".
MOSTLY_PRIOR_MIN = 0.8
#: Width ratio at or below which a quantity is "learned from the data".
LEARNED_MAX = 0.5
#: Shift of the median, in prior standard deviations, that counts as the data moving a quantity.
SHIFT_NOTABLE = 0.5

#: Quantities the headline and the "what the data taught" table cover, in order.
TAUGHT = ("f_frontier", "f_follower", "discount", "sigma_lab", "f_new_lab")

HEADLINE_TEXT = {
    "f_frontier": "R&D share of a frontier lab's development compute",
    "f_follower": "R&D share for a follower that builds on open work",
    "discount": "Knowledge-sharing discount d (R&D per unit of final run avoided)",
    "sigma_lab": "Between-lab spread σ_lab (sd of lab effects, log-odds)",
    "f_new_lab": "R&D share of a new, unseen frontier lab (lab spread included)",
}

REPORT_FILES = ("report.html", "report.md")
PLOTS_DIR = "plots"


# ------------------------------------------------------------------------------------------------
# inputs: a FitResult or a saved Run, normalised


@dataclass
class ReportInputs:
    """What a report is built from, whether it comes from a fresh fit or a saved run folder."""

    name: str
    tree: object
    summary: pd.DataFrame
    diagnostics: dict
    dataset: object
    priors: object
    config: dict
    provenance: dict = field(default_factory=dict)

    @property
    def converged(self) -> bool:
        return bool(self.diagnostics.get("converged"))

    @property
    def seed(self) -> int:
        return int(self.config.get("seed", 0))


def _run_name(folder: Path) -> str:
    """The run's name; a staging folder ``.tmp-NAME-PID`` (see ``core.runs``) gives NAME."""
    name = Path(folder).name
    if name.startswith(".tmp-") and name.rsplit("-", 1)[-1].isdigit():
        return name[len(".tmp-") :].rsplit("-", 1)[0]
    return name


def collect(run_or_result, folder: Path | None = None) -> ReportInputs:
    """Normalise a :class:`FitResult` or a :class:`Run` into :class:`ReportInputs`."""
    tree = run_or_result.tree
    attrs = dict(tree.attrs)
    if hasattr(run_or_result, "manifest"):  # a saved Run
        run = run_or_result
        man = run.manifest
        inputs = man.get("inputs", {})
        prov = {
            "command": " ".join(map(str, man.get("command", []))),
            "seed": man.get("seed"),
            "versions": man.get("versions", {}),
            "data_files": inputs.get("data_files", []),
            "data_sha256": inputs.get("data_sha256", ""),
            "priors_file": inputs.get("priors_file", ""),
            "priors_sha256": inputs.get("priors_sha256", ""),
            "file_sha256": man.get("files", {}),
            "timings_seconds": man.get("timings_seconds", {}),
        }
        return ReportInputs(
            name=Path(run.folder).name,
            tree=tree,
            summary=run.summary,
            diagnostics=run.diagnostics,
            dataset=run.dataset,
            priors=run.priors,
            config=dict(run.config),
            provenance=prov,
        )
    res = run_or_result
    try:
        vers = json.loads(attrs.get("rdshare_versions", "{}"))
    except (TypeError, ValueError):
        vers = {}
    prov = {
        "command": "",
        "seed": res.config.get("seed"),
        "versions": vers,
        "data_files": [str(p) for p in res.dataset.files],
        "data_sha256": res.dataset.sha256,
        "priors_file": str(res.priors.path),
        "priors_sha256": res.priors.sha256,
        "file_sha256": {},
        "timings_seconds": {k: round(v, 3) for k, v in getattr(res, "timings", {}).items()},
    }
    return ReportInputs(
        name=_run_name(folder) if folder is not None else "run",
        tree=tree,
        summary=res.summary,
        diagnostics=res.verdict.to_dict(),
        dataset=res.dataset,
        priors=res.priors,
        config=dict(res.config),
        provenance=prov,
    )


# ------------------------------------------------------------------------------------------------
# numbers


def fmt2(x: float) -> str:
    """Shares and headline numbers: two decimals."""
    return f"{x:.2f}"


def fmt3(x: float) -> str:
    """Summary-table numbers: three decimals."""
    return "nan" if pd.isna(x) else f"{x:.3f}"


def summary_row(summary: pd.DataFrame, name: str) -> pd.Series | None:
    row = summary.loc[summary["name"] == name]
    return None if row.empty else row.iloc[0]


def headline_sentence(summary: pd.DataFrame, name: str = "f_frontier") -> str:
    """``"<label>: 0.xx, 90% interval 0.xx to 0.xx"`` from the summary's q50, q05 and q95."""
    r = summary_row(summary, name)
    if r is None:
        raise KeyError(name)
    label = HEADLINE_TEXT.get(name, name)
    return f"{label}: {fmt2(r['q50'])}, 90% interval {fmt2(r['q05'])} to {fmt2(r['q95'])}"


def essay_sentence(summary: pd.DataFrame, tree, claim: float = 0.8) -> str:
    """One sentence setting the headline against the essay's "about 80%"."""
    r = summary_row(summary, "f_frontier")
    if r is None:
        return ""
    lo, hi = float(r["q05"]), float(r["q95"])
    if lo <= claim <= hi:
        where = "lies inside"
    elif claim < lo:
        where = "lies below"
    else:
        where = "lies above"
    text = (
        f'The essay\'s claim that "about 80%" of development compute is R&D ({fmt2(claim)}) '
        f"{where} this 90% interval ({fmt2(lo)} to {fmt2(hi)})"
    )
    post = tree["posterior"].ds
    if "f_frontier" in post:
        p = float((np.asarray(post["f_frontier"].values) > claim).mean())
        text += f"; the posterior probability that the share exceeds {fmt2(claim)} is {p:.0%}"
    return text + "."


@dataclass(frozen=True)
class Learning:
    """How far the data moved one quantity from its prior (one row of "what the data taught")."""

    name: str
    prior_q05: float
    prior_q50: float
    prior_q95: float
    prior_sd: float
    post_q05: float
    post_q50: float
    post_q95: float

    @property
    def width_ratio(self) -> float:
        """Posterior 90% width over prior 90% width (1: the data narrowed nothing)."""
        return (self.post_q95 - self.post_q05) / (self.prior_q95 - self.prior_q05)

    @property
    def shift(self) -> float:
        """Move of the median, in prior standard deviations (signed)."""
        return (self.post_q50 - self.prior_q50) / self.prior_sd

    @property
    def reading(self) -> str:
        """The plain-words flag (thresholds :data:`MOSTLY_PRIOR_MIN`, :data:`LEARNED_MAX`,
        :data:`SHIFT_NOTABLE`), applied to the ratio and shift rounded to two decimals as the report
        shows them, so a reader never sees "0.80" next to "partly learned"."""
        ratio, shift = round(self.width_ratio, 2), round(self.shift, 2)
        moved = abs(shift) >= SHIFT_NOTABLE
        if ratio >= MOSTLY_PRIOR_MIN:
            if moved:
                return (
                    "shifted, not narrowed: the data moved it but its spread is still the prior's"
                )
            return "mostly prior: the data barely moved it"
        if ratio > LEARNED_MAX:
            return "partly learned: the data narrowed it somewhat"
        return "learned from the data: the interval is under half the prior's"


def _prior_draws(tree, priors, name: str) -> np.ndarray | None:
    if "prior" in tree.children and name in tree["prior"].ds:
        return np.asarray(tree["prior"].ds[name].values, dtype=float).ravel()
    try:
        prior = priors[name]
    except KeyError:
        return None
    return prior.sample(4000, np.random.default_rng(0))


def data_taught(
    tree, summary: pd.DataFrame, priors, names: Sequence[str] = TAUGHT
) -> list[Learning]:
    """Prior against posterior for each quantity present in the posterior.

    The prior's quantiles and sd come from the run's ``prior`` group (draws from the prior, so
    derived quantities have them too); without that group, from the prior file for parameters that
    have their own prior. The posterior's quantiles come from the summary table, so the report and
    ``summary.csv`` agree.
    """
    out = []
    for name in names:
        r = summary_row(summary, name)
        prior = _prior_draws(tree, priors, name)
        if r is None or prior is None or prior.size < 2:
            continue
        q05, q50, q95 = np.quantile(prior, [0.05, 0.5, 0.95])
        out.append(
            Learning(
                name=name,
                prior_q05=float(q05),
                prior_q50=float(q50),
                prior_q95=float(q95),
                prior_sd=float(np.std(prior, ddof=1)),
                post_q05=float(r["q05"]),
                post_q50=float(r["q50"]),
                post_q95=float(r["q95"]),
            )
        )
    return out


# ------------------------------------------------------------------------------------------------
# plots


@dataclass(frozen=True)
class PlotSpec:
    """One plot of the report."""

    file: str
    title: str
    caption: str
    make: Callable[[], object]


def _png(fig) -> bytes:
    from rdshare.report.plots import DPI

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI)
    return buf.getvalue()


def _has_savings(tree) -> bool:
    post = tree["posterior"].ds
    return all(k in post for k in ("f_frontier", "f_follower", "discount"))


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
            "bracket an interval, arrow a lower bound). Rows marked † are dollar or energy shares: "
            "the model compares them with its share shifted by the unit offset, so the black mark "
            "may sit to the right of blue by design. Pooling pulls rows toward each other; a row far "
            "from its black mark is one the rest of the evidence disagrees with.",
            lambda: plots.row_estimates(t, table),
        ),
        PlotSpec(
            "predictive_check.png",
            "Posterior predictive check",
            "For each observed row, the shares the fitted model would report (blue, 50% and 90%), "
            "measurement error and unit offset included, against what was reported (diamond; red "
            "when outside the 90% interval). With a well-fitting model about one row in ten falls "
            "outside by chance. Lower-bound rows list how often simulated reports respect the bound.",
            lambda: plots.predictive_check(t, table),
        ),
    ]
    if "log_likelihood" in t.children and "y_obs" in t["log_likelihood"].ds:
        specs.append(
            PlotSpec(
                "loo_pit.png",
                "LOO-PIT calibration",
                "Where each reported share falls in the model's leave-one-out prediction for it. "
                "Calibrated predictions put these at uniform positions, so the line stays near 0 "
                "and p is not small. With a dozen observations only gross miscalibration shows.",
                lambda: plots.loo_pit(t),
            )
        )
    if _has_savings(t):
        specs.append(
            PlotSpec(
                "ecosystem_savings.png",
                "Savings against ecosystem size",
                "R&D avoided when N labs share openly instead of each working alone, from every "
                "posterior draw of the frontier R&D share f and the discount d (line: median; bands: "
                "50% and 90%). Left in units of one lab's development budget, (N − 1) f d; right as "
                "a share of the group's R&D, d (N − 1) / N. No forking; see docs/scenarios.md.",
                lambda: plots.ecosystem_savings(t),
            )
        )
    if evaluated:
        specs.append(
            PlotSpec(
                "scenario_savings.png",
                "Savings in the example scenarios",
                "The shipped example scenarios (src/rdshare/data/scenarios) evaluated on the "
                "posterior draws, uncertain inputs sampled alongside (seeded by the run's seed). "
                "Log scale, in each scenario's unit; grey is one lab's R&D for scale.",
                lambda: plots.scenario_savings(evaluated),
            )
        )
    specs.append(
        PlotSpec(
            "rank.png",
            "Sampler diagnostics: rank plots",
            "One line per chain: how that chain's draws rank among all chains' draws, as an ECDF "
            "minus the uniform. Chains that explored the same distribution stay near zero; black "
            "points mark where a chain leaves a 99% simultaneous band, and a small p says the chains "
            "disagree (more tuning or draws needed).",
            lambda: plots.rank(t),
        )
    )
    return specs


def _render_plots(specs: list[PlotSpec]) -> tuple[dict[str, bytes], dict[str, str]]:
    """PNG bytes per file; failures are recorded (the report says so) rather than raised.

    A plotting bug must not lose a fit: :func:`write_report_into` runs inside ``save_run``.
    """
    pngs, errors = {}, {}
    for spec in specs:
        try:
            pngs[spec.file] = _png(spec.make())
        except Exception as exc:  # reported in the page, see the docstring
            errors[spec.file] = f"{type(exc).__name__}: {exc}"
    return pngs, errors


# ------------------------------------------------------------------------------------------------
# sections


def _convergence_blocks(diag: dict) -> list[Block]:
    checks = diag.get("checks", [])
    failed = [c["name"] for c in checks if not c.get("passed")]
    if diag.get("converged"):
        banner = Banner(
            "Converged: every check of the convergence gate passed (r_hat ≤ 1.01, bulk and tail "
            "ESS ≥ 400, no divergent transitions, E-BFMI ≥ 0.3).",
            "ok",
        )
    else:
        banner = Banner(
            f"NOT CONVERGED: the sampler failed {len(failed)} of {len(checks)} checks "
            f"({', '.join(failed)}). Treat every number in this report as unreliable until a "
            "rerun passes the gate.",
            "danger",
        )
    ops = {"r_hat": "≤", "divergences": "≤"}
    rows = []
    for c in checks:
        val = c["value"]
        shown = f"{val:.3f}" if c["name"] in ("r_hat", "e_bfmi") else f"{val:.0f}"
        rows.append(
            (
                c["name"],
                shown,
                f"{ops.get(c['name'], '≥')} {c['threshold']:g}",
                c.get("worst", ""),
                "ok" if c.get("passed") else "FAILED",
            )
        )
    blocks: list[Block] = [
        banner,
        Para(f"{diag.get('chains', '?')} chains × {diag.get('draws', '?')} draws after tuning."),
        Table(("check", "value", "needs", "where", "result"), tuple(rows), numeric=("value",)),
    ]
    if diag.get("advice"):
        blocks += [Para("What to try:"), Items(tuple(diag["advice"]))]
    return blocks


def _headline_blocks(inp: ReportInputs) -> list[Block]:
    s = inp.summary
    fitted = inp.dataset.fitted
    blocks: list[Block] = []
    if summary_row(s, "f_frontier") is not None:
        blocks.append(Para(headline_sentence(s) + ".", strong=True))
        blocks.append(
            Para(
                "The number is the posterior median for a frontier lab's full pipeline "
                "(pretraining and post-training) in 2025, with an equal-tailed 90% interval, from "
                f"{len(fitted)} evidence rows on {fitted['lab'].nunique()} labs and the priors in "
                f"'{inp.priors.meta.get('name', Path(str(inp.priors.path)).stem)}'."
            )
        )
        blocks.append(Para(essay_sentence(s, inp.tree)))
    others = [headline_sentence(s, n) for n in TAUGHT[1:] if summary_row(s, n) is not None]
    if others:
        blocks.append(Items(tuple(others)))
    return blocks


def _taught_blocks(learned: list[Learning]) -> list[Block]:
    rows = tuple(
        (
            lr.name,
            f"{fmt2(lr.prior_q05)} to {fmt2(lr.prior_q95)}",
            f"{fmt2(lr.post_q05)} to {fmt2(lr.post_q95)}",
            fmt2(lr.width_ratio),
            f"{lr.shift:+.2f}",
            lr.reading,
        )
        for lr in learned
    )
    return [
        Para(
            "For each headline quantity: its 90% interval under the priors alone (from draws of "
            "the prior) and after the data, the ratio of the two widths, and how far the median "
            "moved in prior standard deviations. "
            f"Width ratio {MOSTLY_PRIOR_MIN:g} or more: mostly prior (or, if the median moved by "
            f"{SHIFT_NOTABLE:g} prior sd or more, shifted but not narrowed); "
            f"between {LEARNED_MAX:g} and {MOSTLY_PRIOR_MIN:g}: partly learned; {LEARNED_MAX:g} or "
            "below: "
            "learned from the data. A 'mostly prior' number restates an assumption: change the "
            "prior file and it changes."
        ),
        Table(
            (
                "quantity",
                "prior 90%",
                "posterior 90%",
                "width ratio",
                "median shift (prior sd)",
                "reading",
            ),
            rows,
            numeric=("width ratio", "median shift (prior sd)"),
        ),
    ]


def _scenario_blocks(evaluated: dict) -> list[Block]:
    from rdshare.core.savings import SHARE
    from rdshare.report.plots import human_amount

    blocks: list[Block] = []
    for name, item in evaluated.items():
        sc, outs = item["scenario"], item["outputs"]
        blocks.append(Para(f"{name}: {sc.description}", strong=False))
        blocks.append(
            Items((*(f"{k} = {v}" for k, v in sc.describe().items()), f"unit: {sc.unit.label}"))
        )
        rows = []
        for key, out in outs.items():
            q05, q50, q95 = np.quantile(out.values, [0.05, 0.5, 0.95])
            if out.unit == SHARE:
                cells = (fmt2(q50), f"{fmt2(q05)} to {fmt2(q95)}")
            else:
                cells = (
                    human_amount(q50, out.unit),
                    f"{human_amount(q05, out.unit)} to {human_amount(q95, out.unit)}",
                )
            rows.append((key, out.description, *cells))
        blocks.append(
            Table(
                ("output", "what it is", "median", "90% interval"), tuple(rows), numeric=("median",)
            )
        )
    return blocks


def summary_cells(summary: pd.DataFrame) -> tuple[tuple[str, ...], ...]:
    """The summary table as shown: 3 decimals for values and r_hat, whole numbers for ESS."""
    rows = []
    for _, r in summary.iterrows():
        rows.append(
            (
                str(r["name"]),
                *(fmt3(r[c]) for c in ("mean", "sd", "q05", "q25", "q50", "q75", "q95", "r_hat")),
                *("nan" if pd.isna(r[c]) else f"{r[c]:.0f}" for c in ("ess_bulk", "ess_tail")),
            )
        )
    return tuple(rows)


def _evidence_text(r: pd.Series) -> str:
    kind = r["kind"]
    if kind == "point":
        return f"{r['value']:g}"
    if kind == "point_interval":
        return f"{r['value']:g} ({r['interval_prob']:.0%} interval {r['low']:g} to {r['high']:g})"
    if kind == "interval":
        return f"{r['low']:g} to {r['high']:g} ({r['interval_prob']:.0%} interval)"
    if kind == "pair":
        f = 1.0 - r["final_amount"] / r["total_amount"]
        return f"final {r['final_amount']:g} of total {r['total_amount']:g} (f = {f:.3f})"
    if kind == "lower_bound":
        return f"at least {r['low']:g}"
    return ""


def _dataset_blocks(dataset) -> list[Block]:
    t = dataset.table
    rows = tuple(
        (
            str(r["id"]),
            str(r["lab"]),
            str(r["model"]),
            str(int(r["year"])),
            str(r["position"]),
            str(r["scope"]),
            str(r["unit"]),
            f"{r['kind']}: {_evidence_text(r)}",
            str(r["provenance"]),
            "yes" if r["exclude"] == "" else f"no: {r['exclude']}",
            str(r["source"]),
            str(r["note"]),
        )
        for _, r in t.iterrows()
    )
    n_fit = int((t["exclude"] == "").sum())
    return [
        Para(
            f"{len(t)} rows, {n_fit} fitted. Shares are f = 1 − final run / total development "
            "compute. Files: " + ", ".join(str(f) for f in dataset.files) + "."
        ),
        Table(
            (
                "id",
                "lab",
                "model",
                "year",
                "position",
                "scope",
                "unit",
                "evidence",
                "provenance",
                "fitted",
                "source",
                "note",
            ),
            rows,
            css_class="long-text",
        ),
    ]


def _priors_blocks(priors) -> list[Block]:
    from rdshare.core.priors import PARAMETERS

    rows = []
    for p in priors:
        lo, hi = p.quantiles((0.05, 0.95))
        rows.append(
            (
                p.name,
                PARAMETERS.get(p.name, ("", ""))[1],
                p.describe(),
                f"{lo:.3g} to {hi:.3g}",
                p.rationale,
                p.source,
            )
        )
    meta = priors.meta
    intro = f"Prior file: {priors.path}"
    if meta.get("name"):
        intro += f" ('{meta['name']}'"
        intro += f": {meta['description']})" if meta.get("description") else ")"
    return [
        Para(intro + "."),
        Table(
            ("parameter", "meaning", "distribution", "90% interval", "rationale", "source"),
            tuple(rows),
            css_class="long-text",
        ),
    ]


def _provenance_blocks(inp: ReportInputs) -> list[Block]:
    p = inp.provenance
    cfg = inp.config
    created = (
        str(inp.tree["posterior"].attrs.get("created_at", ""))
        if "posterior" in inp.tree.children
        else ""
    )
    rows = [
        ("run", inp.name),
        ("sampled at", created),
        ("command", p.get("command", "") or "(recorded in manifest.json)"),
        ("seed", str(p.get("seed", cfg.get("seed", "")))),
        ("converged", "yes" if inp.converged else "NO"),
        (
            "sampler",
            ", ".join(f"{k}={cfg[k]}" for k in sorted(cfg) if k != "seed"),
        ),
        ("data files", ", ".join(map(str, p.get("data_files", [])))),
        ("data sha256", str(p.get("data_sha256", ""))),
        ("priors file", str(p.get("priors_file", ""))),
        ("priors sha256", str(p.get("priors_sha256", ""))),
    ]
    rows += [(f"version: {k}", str(v)) for k, v in sorted(p.get("versions", {}).items())]
    rows += [(f"sha256: {k}", str(v)) for k, v in sorted(p.get("file_sha256", {}).items())]
    timings = p.get("timings_seconds", {})
    if timings:
        rows.append(("timings (s)", ", ".join(f"{k} {v:g}" for k, v in timings.items())))
    note = (
        "File hashes are in manifest.json; the report and plots are derived views, not hashed, "
        "and 'rdshare report RUN_DIR' rebuilds them."
    )
    return [Para(note), Table(("item", "value"), tuple(rows))]


def build_sections(
    inp: ReportInputs,
    pngs: dict[str, bytes],
    specs: list[PlotSpec],
    errors: dict[str, str],
    evaluated: dict | None,
    extra_sections: Sequence[Section] = (),
) -> list[Section]:
    """Every section of the report, in order."""
    sections: list[Section] = []
    top: list[Block] = []
    if not inp.converged:
        top.append(
            Banner(
                "NOT CONVERGED: this run failed the convergence gate; the numbers below may be "
                "wrong. See 'Convergence'.",
                "danger",
            )
        )
    sections.append(Section("Headline", tuple(top + _headline_blocks(inp))))
    sections.append(Section("Convergence", tuple(_convergence_blocks(inp.diagnostics))))
    learned = data_taught(inp.tree, inp.summary, inp.priors)
    sections.append(Section("What the data taught", tuple(_taught_blocks(learned))))
    sections.append(
        Section(
            "Plots",
            (Para("Each plot is also saved as a PNG in plots/ next to this report."),),
        )
    )
    for spec in specs:
        if spec.file in pngs:
            blocks: tuple[Block, ...] = (
                Image(spec.file, pngs[spec.file], spec.title, spec.caption),
            )
        else:
            blocks = (
                Banner(f"This plot could not be drawn: {errors.get(spec.file, '')}", "danger"),
            )
        sections.append(Section(spec.title, blocks, level=3, anchor="plot-" + spec.file[:-4]))
    if evaluated:
        sections.append(Section("Example scenarios", tuple(_scenario_blocks(evaluated))))
    elif not _has_savings(inp.tree):
        sections.append(
            Section(
                "Example scenarios",
                (Para("This model variant has no discount d, so savings are not computed."),),
            )
        )
    sections.extend(extra_sections)
    sections.append(
        Section(
            "Summary table",
            (
                Para(
                    "Posterior mean, sd, equal-tailed quantiles, r_hat and effective sample sizes "
                    "of every summarised quantity (the same numbers as summary.csv, rounded)."
                ),
                Table(
                    SUMMARY_COLUMNS,
                    summary_cells(inp.summary),
                    numeric=SUMMARY_COLUMNS[1:],
                    css_class="summary",
                ),
            ),
        )
    )
    sections.append(Section("Dataset", tuple(_dataset_blocks(inp.dataset))))
    sections.append(Section("Priors", tuple(_priors_blocks(inp.priors))))
    sections.append(Section("Provenance", tuple(_provenance_blocks(inp))))
    return sections


# ------------------------------------------------------------------------------------------------
# writing


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

    Returns
    -------
    Path
        ``folder / "report.html"``.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    inp = collect(run_or_result, folder)
    evaluated = _evaluate_scenarios(inp)
    specs = _plot_specs(inp, evaluated)
    pngs, errors = _render_plots(specs)
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


def write_report_into(folder: str | Path, res, *, extra_sections: Sequence[Section] = ()) -> Path:
    """Extra writer for :func:`rdshare.inference.results.save_run`: ``writer(tmp_folder, res)``."""
    return build_report(res, folder, extra_sections=extra_sections)
