"""Report sections for the validation results saved inside a run folder.

``rdshare sensitivity RUN_DIR`` writes ``RUN_DIR/sensitivity/`` and ``rdshare compare --run RUN_DIR``
writes ``RUN_DIR/compare/``; when either exists, the run's report gains a section for it.
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
    if not res.intervals.empty:
        blocks += [
            Para(
                "The run refitted under each shipped prior file: headline medians and 90% intervals, "
                "the median's shift in units of this run's interval width, and the width ratio."
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


def validation_sections(run_dir: str | Path) -> list[Section]:
    """Every validation section available for the run folder (possibly none)."""
    out = []
    for make in (sensitivity_section, comparison_section):
        sec = make(Path(run_dir))
        if sec is not None:
            out.append(sec)
    return out
