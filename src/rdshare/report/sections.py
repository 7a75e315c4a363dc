"""The report's sections, as render-neutral blocks (:mod:`rdshare.report.render` writes them as HTML and
Markdown): headline, convergence, what the data taught, scenarios, summary, dataset, priors, provenance."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from rdshare.core.kinds import KINDS
from rdshare.core.quantities import QUANTITIES, REPORTED, UNIT_SHARES
from rdshare.inference.results import SUMMARY_COLUMNS, discount_positive
from rdshare.report.inputs import ReportInputs
from rdshare.report.render import Banner, Block, Image, Items, Para, Section, Table
from rdshare.report.taught import (
    LEARNED_MAX,
    MOSTLY_PRIOR_MIN,
    SHIFT_NOTABLE,
    Learning,
    data_taught,
    summary_row,
)


@dataclass(frozen=True)
class PlotSpec:
    """One plot of the report."""

    file: str
    title: str
    caption: str
    make: Callable[[], object]
    #: drawn through pyplot (arviz-plots): made apart from the others (rdshare.report.build)
    pyplot: bool = False
    #: seconds to make and render it, roughly (measured on the default run); only splits the work
    cost: float = 0.3


def _has_savings(tree) -> bool:
    post = tree["posterior"].ds
    return all(k in post for k in ("f_frontier", "f_follower", "discount"))


def fmt2(x: float) -> str:
    """Shares and headline numbers: two decimals."""
    return f"{x:.2f}"


def fmt3(x: float) -> str:
    """Summary-table numbers: three decimals."""
    return "nan" if pd.isna(x) else f"{x:.3f}"


def headline_sentence(summary: pd.DataFrame, name: str = "f_frontier") -> str:
    """``"<label>: 0.xx, 90% interval 0.xx to 0.xx"`` from the summary's q50, q05 and q95."""
    r = summary_row(summary, name)
    if r is None:
        raise KeyError(name)
    q = QUANTITIES.get(name)
    label = (q.label[:1].upper() + q.label[1:]) if q is not None and q.label else name
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
                "(pretraining and post-training) in 2025, as a share of development FLOP, with an "
                f"equal-tailed 90% interval, from {len(fitted)} evidence rows on "
                f"{fitted['lab'].nunique()} labs and the priors in "
                f"'{inp.priors.meta.get('name', Path(str(inp.priors.path)).stem)}'."
                + unit_sentence(s)
            )
        )
        blocks.append(Para(essay_sentence(s, inp.tree)))
    others = [headline_sentence(s, n) for n in REPORTED[1:] if summary_row(s, n) is not None]
    if others:
        blocks.append(Items(tuple(others)))
    p_pos = discount_positive(inp.tree, inp.priors)
    if p_pos is not None:
        after, before = p_pos
        prior_words = "" if before is None else f" (under the prior alone: {before:.2f})"
        blocks.append(
            Para(
                f"Probability that the discount is positive (open work saves a follower R&D rather "
                f"than costing it): P(d > 0) = {after:.2f}{prior_words}."
            )
        )
    return blocks


def unit_sentence(summary: pd.DataFrame) -> str:
    """`` Measured in GPU-hours it is 0.88 (...), in dollars ...`` from the unit shares, or ``""``."""
    parts = []
    for name in UNIT_SHARES:
        r = summary_row(summary, name)
        if r is not None:
            unit = name.removeprefix("f_frontier_").replace("_", "-")
            parts.append(f"{unit} {fmt2(r['q50'])} ({fmt2(r['q05'])} to {fmt2(r['q95'])})")
    return (" As a share of other units: " + "; ".join(parts) + ".") if parts else ""


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

    def text(x: float, unit: str) -> str:
        return fmt2(x) if unit == SHARE else human_amount(x, unit)

    blocks: list[Block] = [
        Para(
            "Each output's 90% interval from the posterior, beside the same output from the priors "
            "alone (the scenario's inputs sampled the same way), and the ratio of the two widths: near 1, "
            "the data added little and the interval restates the priors; well below 1, the evidence "
            "narrowed it."
        )
    ]
    from rdshare.core.scenario import OUTPUT_NAMES

    for name, item in evaluated.items():
        sc, outs, prior = item["scenario"], item["outputs"], item.get("prior_outputs")
        blocks.append(Para(f"{name}: {sc.description}", strong=False))
        settings = []
        if sc.years:
            settings.append(
                f"years: {sc.years[0]} to {sc.years[-1]} (budget for {sc.budget_year}; the fan "
                "plot shows every year, forecast files have each)"
            )
        if sc.generations:
            settings.append(f"generations: {sc.generations} (see the compounding plot)")
        blocks.append(
            Items(
                (
                    *(f"{k} = {v}" for k, v in sc.describe().items()),
                    f"unit: {sc.unit.label}",
                    *settings,
                )
            )
        )
        # the per-year and per-generation outputs are in the plots; the table keeps the headline ones
        shown = [k for k in outs if k in OUTPUT_NAMES or k.startswith("savings_generations")]
        rows = []
        for key in shown:
            out = outs[key]
            q05, q50, q95 = np.quantile(out.values, [0.05, 0.5, 0.95])
            row = [
                key,
                out.description,
                text(q50, out.unit),
                f"{text(q05, out.unit)} to {text(q95, out.unit)}",
            ]
            if prior is not None:
                p05, p95 = np.quantile(prior[key].values, [0.05, 0.95])
                ratio = (q95 - q05) / (p95 - p05) if p95 > p05 else float("nan")
                row += [f"{text(p05, out.unit)} to {text(p95, out.unit)}", fmt2(ratio)]
            rows.append(tuple(row))
        header = ["output", "what it is", "median", "90% interval"]
        if prior is not None:
            header += ["prior-only 90%", "width ratio"]
        blocks.append(Table(tuple(header), tuple(rows), numeric=("median", "width ratio")))
        decided = item.get("decisions") or []
        if decided:
            blocks.append(
                Para(
                    "What decides each comparison: the scenario input or posterior quantity whose "
                    "draws track it most closely (rank correlation). Where an input decides, the "
                    "answer is that input's judgement, not something the evidence settled."
                )
            )
            blocks.append(
                Items(
                    tuple(
                        ("INPUT DECIDES: " if dc.by_input else "") + dc.describe() for dc in decided
                    )
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
    kind = KINDS.get(r["kind"])
    return kind.text(r) if kind is not None else ""


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
    rows = []
    for p in priors:
        lo, hi = p.quantiles((0.05, 0.95))
        rows.append(
            (
                p.name,
                QUANTITIES[p.name].meaning if p.name in QUANTITIES else "",
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
