"""Report sections for the validation results saved inside a run folder.

``rdshare sensitivity RUN_DIR`` writes ``RUN_DIR/sensitivity/``, ``rdshare compare --run RUN_DIR``
``RUN_DIR/compare/`` and ``rdshare holdout RUN_DIR`` ``RUN_DIR/holdout/``; when one exists, the run's
report gains a section for it.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from rdshare.report.render import Items, Para, Section, Table


def _fmt(x, spec: str = ".3f") -> str:
    return "n/a" if x is None or pd.isna(x) else format(float(x), spec)


def sensitivity_section(run_dir: Path) -> Section | None:
    """Power-scaling sensitivity and the refits under other prior files, if saved."""
    from rdshare.inference import sensitivity

    res = sensitivity.load(run_dir)
    if res is None:
        return None
    blocks: list = [
        Para(
            "Power-scaling sensitivity (Kallioinen et al. 2024): how much each headline quantity "
            "moves when the priors, or the evidence, are given slightly more or less weight. "
            f"Values of {_fmt(res.info.get('threshold', 0.05), 'g')} or more are sensitive."
        ),
        Table(
            ("quantity", "prior", "likelihood", "diagnosis"),
            tuple(
                (str(r.name), _fmt(r.prior), _fmt(r.likelihood), f"{r.diagnosis}: {r.explanation}")
                for r in res.psense.itertuples()
            ),
            numeric=("prior", "likelihood"),
        ),
    ]
    if not res.by_prior.empty:
        cols = [c for c in res.by_prior.columns if c != "prior"]
        blocks += [
            Para(
                "Each prior on its own: the sensitivity of each quantity when only that prior is "
                "power-scaled. Every informative prior is varied, not only those of f and d."
            ),
            Table(
                ("prior", *cols),
                tuple(
                    (str(r["prior"]), *(_fmt(r[c]) for c in cols))
                    for _, r in res.by_prior.iterrows()
                ),
                numeric=tuple(cols),
            ),
        ]
    if not res.intervals.empty:
        blocks += [
            Para(
                "The run refitted under each shipped prior file: headline medians and 90% intervals, "
                "the median's shift in units of this run's interval width, and the width ratio. A "
                "refit under a prior file that rests on some rows leaves those rows out."
            ),
            Table(
                ("quantity", "priors", "median", "90% interval", "median shift", "width ratio"),
                tuple(
                    (
                        str(r.name),
                        f"{r.priors} (this run)" if r.role == "run" else str(r.priors),
                        _fmt(r.q50),
                        f"{_fmt(r.q05)} to {_fmt(r.q95)}",
                        _fmt(r.median_shift, "+.2f"),
                        _fmt(r.width_ratio, ".2f"),
                    )
                    for r in res.intervals.itertuples()
                ),
                numeric=("median", "median shift", "width ratio"),
            ),
        ]
    return Section("Prior sensitivity", tuple(blocks))


def comparison_section(run_dir: Path) -> Section | None:
    """The PSIS-LOO model comparison, if saved."""
    from rdshare.inference import compare

    doc = compare.load(Path(run_dir) / compare.FOLDER)
    if doc is None:
        return None
    rows = []
    for r in doc["table"]:
        name = r["variant"]
        high_k = doc["loo"].get(name, {}).get("high_k", [])
        hk = ", ".join(f"{row} ({k:.2f})" for row, k in high_k) or "none"
        if doc["loo"].get(name, {}).get("refitted"):
            hk += " (refitted exactly)"
        rows.append(
            (
                name,
                f"{r['elpd']:.1f} ({r['se']:.1f})",
                f"{r['elpd_diff']:.1f} ({r['dse']:.1f})",
                f"{r['weight']:.2f}",
                hk,
            )
        )
    blocks: list = [
        Para(
            "Expected log predictive density by leave-one-out (PSIS-LOO, one term per evidence "
            "row), best model first. A difference smaller than about twice its standard error does "
            "not separate two models."
        ),
        Table(
            ("variant", "elpd (se)", "difference (se)", "weight", "rows with Pareto k > 0.7"),
            tuple(rows),
        ),
    ]
    if doc.get("warnings"):
        blocks.append(Items(tuple(str(w) for w in doc["warnings"])))
    return Section("Model comparison", tuple(blocks))


def holdout_section(run_dir: Path) -> Section | None:
    """The leave-one-lab-out predictive checks, if saved."""
    from rdshare.inference import holdout

    res = holdout.load(run_dir)
    if res is None:
        return None
    blocks: list = [
        Para(res.headline() + ".", strong=True),
        Para(
            "Each lab in turn was left out of the fit (with any row about its programmes) and its "
            "reported figures predicted as a new lab's: new lab and programme effects, the method's "
            "known error, and the report's own measurement error. The interval is the 90% predictive "
            "interval on the figure's own scale (a share in its unit, a ratio, or d); PIT is the "
            "predictive probability below the reported value, which a calibrated model spreads evenly "
            "over 0 to 1. A lower bound is inside unless more than 95% of the predictive lies below it."
        ),
        Table(
            ("lab", "row", "reported", "predictive 90%", "PIT", "inside"),
            tuple(
                (
                    str(r.lab),
                    str(r.row),
                    str(r.reported_text),
                    f"{r.q05:.3g} to {r.q95:.3g}",
                    _fmt(r.pit, ".2f"),
                    ("yes" if r.inside else "NO")
                    + ("" if r.converged else " (refit not converged)"),
                )
                for r in res.table.itertuples()
            ),
            numeric=("PIT",),
        ),
    ]
    if res.unconverged:
        blocks.append(
            Items(
                (
                    "The refit(s) without "
                    + ", ".join(res.unconverged)
                    + " did not pass the convergence gate: read their rows with caution.",
                )
            )
        )
    return Section("Leave-one-lab-out", tuple(blocks))


def validation_sections(run_dir: str | Path) -> list[Section]:
    """Every validation section available for the run folder (possibly none)."""
    out = []
    for make in (sensitivity_section, comparison_section, holdout_section):
        sec = make(Path(run_dir))
        if sec is not None:
            out.append(sec)
    return out
