"""Prior sensitivity of a run: power-scaling diagnostics and refits under the other prior files.

Two complementary checks of which conclusions rest on the priors:

Power-scaling (Kallioinen, Paananen, Bürkner and Vehtari 2024, "Detecting and diagnosing prior and
likelihood sensitivity with power-scaling", Stat Comput 34:57; arviz-stats ``psense``)
    The prior (or the likelihood) is raised to a power near 1 and the change in each headline posterior
    is measured by importance sampling, without refitting. The figure is the derivative of the
    cumulative Jensen-Shannon distance; the paper's threshold is 0.05. What is power-scaled:

    - prior: the priors written in the prior file (every ``log_prior`` term), all together and then
      each prior on its own, so every informative prior is varied, not only the discount's and f's;
    - likelihood: all the evidence (the augmented joint log likelihood ``joint``: the rows are not
      independent, so their leave-one-out terms do not add up to the likelihood).

    Diagnosis (the paper's table, in words):

    ==================  ===================  =============================================================
    prior sensitivity   likelihood sens.     diagnosis
    ==================  ===================  =============================================================
    >= 0.05             >= 0.05              (potential) prior-data conflict: they pull apart
    >= 0.05             < 0.05               prior-dominated: the data say little, the prior decides
    < 0.05              >= 0.05              likelihood-dominated: the data decide
    < 0.05              < 0.05               no sensitivity detected
    ==================  ===================  =============================================================

Refits under alternative prior files
    The run is refitted, with its own data, seed and sampler settings, under each other prior file
    (by default every shipped file other than the run's), and the headline 90% intervals are tabulated
    side by side: how far each median moves, in units of the run's interval width, and how the width
    changes. A refit that fails the convergence gate is marked.

Results are written to ``RUN_DIR/sensitivity/`` (derived files, not in the run's manifest);
:func:`load` reads them back and :meth:`SensitivityResult.to_markdown` renders them for the report.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from rdshare.core.quantities import REPORTED

#: Quantities the sensitivity analysis reports (the run's headline quantities).
QUANTITIES = REPORTED
#: Sensitivity threshold of Kallioinen et al. (2024).
THRESHOLD = 0.05
#: The log-likelihood variable power-scaling scales: the whole evidence's joint log density.
JOINT = "joint"
FOLDER = "sensitivity"
PSENSE_COLUMNS = (
    "name",
    "prior",
    "likelihood",
    "diagnosis",
    "explanation",
    "prior_q05",
    "prior_q95",
    "post_q05",
    "post_q95",
    "width_ratio",
)
INTERVAL_COLUMNS = (
    "name",
    "role",
    "priors",
    "priors_file",
    "q05",
    "q50",
    "q95",
    "converged",
    "width",
    "median_shift",
    "width_ratio",
    "excluded",
)

DIAGNOSES = {
    (True, True): (
        "prior-data conflict",
        "both power-scalings move it: the prior and the data may pull in different directions "
        "(compare the prior file's interval with what the data say)",
    ),
    (True, False): (
        "prior-dominated",
        "the data say little about it; the prior decides",
    ),
    (False, True): (
        "likelihood-dominated",
        "the data decide; the prior matters little",
    ),
    (False, False): (
        "no sensitivity detected",
        "neither power-scaling the priors nor the data moves it noticeably",
    ),
}


def diagnose(prior: float, likelihood: float, threshold: float = THRESHOLD) -> tuple[str, str]:
    """(label, explanation) for a pair of power-scaling sensitivities."""
    return DIAGNOSES[(bool(prior >= threshold), bool(likelihood >= threshold))]


def prior_terms(tree) -> list[str]:
    """The ``log_prior`` variables power-scaled as "the prior": the prior file's parameters (the grouped
    effects are integrated out of the model, so every term is a prior a user writes)."""
    return [str(v) for v in tree["log_prior"].ds.data_vars]


def power_scaling(tree, var_names=QUANTITIES, threshold: float = THRESHOLD) -> pd.DataFrame:
    """Power-scaling sensitivity of ``var_names`` with the diagnosis in words.

    Columns: ``name, prior, likelihood, diagnosis, explanation, prior_q05, prior_q95, post_q05,
    post_q95, width_ratio`` (posterior over prior 90% width: small means the data narrowed it).
    """
    import arviz_stats as azs

    from rdshare.errors import Problem, RunFolderError

    missing = [g for g in ("posterior", "log_prior", "log_likelihood") if g not in tree.children]
    if missing:
        raise RunFolderError(
            Problem("posterior.nc", f"has no {', '.join(missing)} group(s): refit with rdshare fit")
        )
    names = [v for v in var_names if v in tree["posterior"].ds]
    p_sens = azs.psense(tree, var_names=names, group="prior", group_var_names=prior_terms(tree))
    l_sens = azs.psense(
        tree, var_names=names, group="likelihood", group_var_names=_likelihood(tree)
    )
    rows = []
    for n in names:
        pr, lk = float(p_sens[n].values), float(l_sens[n].values)
        label, words = diagnose(pr, lk, threshold)
        post = np.asarray(tree["posterior"][n].values, dtype=float).ravel()
        row = {"name": n, "prior": pr, "likelihood": lk, "diagnosis": label, "explanation": words}
        q = np.quantile(post, [0.05, 0.95])
        row.update({"post_q05": q[0], "post_q95": q[1]})
        if "prior" in tree.children and n in tree["prior"].ds:
            pq = np.quantile(np.asarray(tree["prior"][n].values, dtype=float).ravel(), [0.05, 0.95])
            row.update({"prior_q05": pq[0], "prior_q95": pq[1]})
            row["width_ratio"] = (q[1] - q[0]) / (pq[1] - pq[0]) if pq[1] > pq[0] else np.nan
        rows.append(row)
    return pd.DataFrame(rows).reindex(columns=list(PSENSE_COLUMNS))


def _likelihood(tree) -> list[str] | None:
    """The log-likelihood variables to power-scale: ``joint`` where the run has it."""
    return [JOINT] if JOINT in tree["log_likelihood"].ds else None


def by_prior(tree, var_names=QUANTITIES) -> pd.DataFrame:
    """Power-scaling sensitivity of each quantity to each prior on its own.

    One row per prior term (``prior``), one column per quantity: the derivative of the cumulative
    Jensen-Shannon distance when only that prior is power-scaled (threshold :data:`THRESHOLD`).
    """
    import arviz_stats as azs

    names = [v for v in var_names if v in tree["posterior"].ds]
    rows = []
    for term in prior_terms(tree):
        sens = azs.psense(tree, var_names=names, group="prior", group_var_names=[term])
        rows.append({"prior": term, **{n: float(sens[n].values) for n in names}})
    return pd.DataFrame(rows, columns=["prior", *names])


def _label(prior_set) -> str:
    return str(prior_set.meta.get("name") or Path(prior_set.path).stem)


def _interval_rows(
    summary: pd.DataFrame, label: str, file: str, converged: bool, role: str
) -> list[dict]:
    rows = []
    for q in QUANTITIES:
        r = summary.loc[summary["name"] == q]
        if r.empty:
            continue
        r = r.iloc[0]
        rows.append(
            {
                "name": q,
                "role": role,
                "priors": label,
                "priors_file": file,
                "q05": float(r["q05"]),
                "q50": float(r["q50"]),
                "q95": float(r["q95"]),
                "converged": bool(converged),
            }
        )
    return rows


def default_alternatives(run_priors) -> list[Path]:
    """Every shipped prior file other than the one the run used (by content)."""
    from rdshare.core import priors as priors_mod

    out = []
    for p in sorted(priors_mod.shipped_dir().glob("*.toml")):
        if priors_mod.load(p).sha256 != run_priors.sha256:
            out.append(p)
    return out


def refit_intervals(
    run,
    alternatives: list[str | Path] | None = None,
    progress: Callable[[str, int, int], None] | None = None,
) -> pd.DataFrame:
    """Headline 90% intervals of the run and of a refit under each alternative prior file.

    Columns: ``name, role ("run" or "refit"), priors, priors_file, q05, q50, q95, converged, width,
    median_shift, width_ratio, excluded``; ``median_shift`` is (median - run's median) / run's 90% width
    and ``width_ratio`` the width over the run's width (both 0 and 1 for the run's own row);
    ``excluded`` lists the rows a refit left out because its prior file rests on them.
    """
    from dataclasses import fields, replace

    from rdshare.core import priors as priors_mod
    from rdshare.inference.fit import FitConfig, fit

    alts = (
        default_alternatives(run.priors)
        if alternatives is None
        else [Path(a) for a in alternatives]
    )
    rows = _interval_rows(
        run.summary, _label(run.priors), str(run.priors.path), run.converged, "run"
    )
    known = {f.name for f in fields(FitConfig)}
    cfg = replace(
        FitConfig(**{k: v for k, v in run.config.items() if k in known}), predictive=False
    )
    ids = set(run.dataset.fitted["id"])
    for j, path in enumerate(alts):
        prior_set = priors_mod.load(path)
        if progress is not None:
            progress(_label(prior_set), j + 1, len(alts))
        # a prior built from some rows is refitted without them, or they would count twice
        leave_out = [r for r in priors_mod.rests_on(prior_set) if r in ids]
        res = fit(run.dataset, prior_set, exclude=leave_out, config=cfg)
        refit = _interval_rows(
            res.summary, _label(prior_set), str(path), res.verdict.passed, "refit"
        )
        for row in refit:
            row["excluded"] = " ".join(leave_out)
        rows += refit
    df = pd.DataFrame(rows)
    df["width"] = df["q95"] - df["q05"]
    base = df.groupby("name").first()
    df["median_shift"] = (df["q50"] - df["name"].map(base["q50"])) / df["name"].map(base["width"])
    df["width_ratio"] = df["width"] / df["name"].map(base["width"])
    return df.reindex(columns=list(INTERVAL_COLUMNS))


@dataclass
class SensitivityResult:
    """Power-scaling table, interval table (may be empty) and provenance."""

    psense: pd.DataFrame
    intervals: pd.DataFrame
    info: dict = field(default_factory=dict)
    #: each quantity's sensitivity to each prior on its own (:func:`by_prior`)
    by_prior: pd.DataFrame = field(default_factory=pd.DataFrame)

    @property
    def unconverged_refits(self) -> list[str]:
        if self.intervals.empty:
            return []
        iv = self.intervals
        bad = iv.loc[(iv["role"] == "refit") & ~iv["converged"].astype(bool), "priors"]
        return list(dict.fromkeys(bad))

    def to_dict(self) -> dict:
        return {
            "threshold": self.info.get("threshold", THRESHOLD),
            "power_scaling": json.loads(self.psense.to_json(orient="records")),
            "by_prior": json.loads(self.by_prior.to_json(orient="records")),
            "intervals": json.loads(self.intervals.to_json(orient="records")),
            "unconverged_refits": self.unconverged_refits,
            **self.info,
        }

    def describe(self) -> str:
        """Plain-text summary for the terminal."""
        lines = [
            f"Power-scaling sensitivity (threshold {self.info.get('threshold', THRESHOLD):g}):"
        ]
        for r in self.psense.itertuples():
            lines.append(
                f"  {r.name:<11} prior {r.prior:.3f}  likelihood {r.likelihood:.3f}  "
                f"{r.diagnosis}: {r.explanation}"
            )
        if not self.by_prior.empty:
            t = self.info.get("threshold", THRESHOLD)
            lines.append(f"Priors each quantity is sensitive to on its own (>= {t:g}):")
            for q in [c for c in self.by_prior.columns if c != "prior"]:
                hits = self.by_prior.loc[self.by_prior[q] >= t, ["prior", q]]
                which = ", ".join(f"{r.prior} {r[q]:.3f}" for _, r in hits.iterrows()) or "none"
                lines.append(f"  {q:<11} {which}")
        if not self.intervals.empty:
            lines.append("Headline 90% intervals under each prior file:")
            for r in self.intervals.itertuples():
                mark = "" if r.converged else "  (NOT converged)"
                who = f"{r.priors} (run)" if r.role == "run" else r.priors
                lines.append(
                    f"  {r.name:<11} {who:<22} {r.q50:.3f} [{r.q05:.3f}, {r.q95:.3f}]  "
                    f"median shift {r.median_shift:+.2f} widths, width x{r.width_ratio:.2f}{mark}"
                )
        return "\n".join(lines)

    def to_markdown(self) -> str:
        """Markdown tables for the report."""
        t = self.info.get("threshold", THRESHOLD)
        out = [
            "### Prior sensitivity",
            "",
            f"Power-scaling sensitivity (Kallioinen et al. 2024; values >= {t:g} are sensitive). "
            "*Prior* power-scales the priors in the prior file; *likelihood* power-scales every "
            "evidence row.",
            "",
            "| quantity | prior | likelihood | diagnosis | prior 90% | posterior 90% |",
            "|---|---|---|---|---|---|",
        ]
        for r in self.psense.itertuples():
            prior_iv = f"{r.prior_q05:.2f} to {r.prior_q95:.2f}" if pd.notna(r.prior_q05) else "n/a"
            out.append(
                f"| {r.name} | {r.prior:.3f} | {r.likelihood:.3f} | {r.diagnosis}: {r.explanation} "
                f"| {prior_iv} | {r.post_q05:.2f} to {r.post_q95:.2f} |"
            )
        if not self.by_prior.empty:
            cols = [c for c in self.by_prior.columns if c != "prior"]
            out += [
                "",
                "Each prior on its own (power-scaling only that prior; values >= "
                f"{t:g} mean the quantity moves with it):",
                "",
                "| prior | " + " | ".join(cols) + " |",
                "|---|" + "---|" * len(cols),
            ]
            for _, r in self.by_prior.iterrows():
                cells = [f"**{r[c]:.3f}**" if r[c] >= t else f"{r[c]:.3f}" for c in cols]
                out.append(f"| {r['prior']} | " + " | ".join(cells) + " |")
        if not self.intervals.empty:
            out += [
                "",
                "Headline 90% intervals when the run is refitted under each prior file (median shift "
                "in units of the run's interval width):",
                "",
                "| quantity | priors | median | 90% interval | median shift | width ratio |",
                "|---|---|---|---|---|---|",
            ]
            for r in self.intervals.itertuples():
                conv = "" if r.converged else " (not converged)"
                who = f"{r.priors} (this run)" if r.role == "run" else r.priors
                out.append(
                    f"| {r.name} | {who}{conv} | {r.q50:.3f} | {r.q05:.3f} to {r.q95:.3f} "
                    f"| {r.median_shift:+.2f} | {r.width_ratio:.2f} |"
                )
        return "\n".join(out) + "\n"

    def save(
        self, run_dir: str | Path, *, force: bool = False, command: list[str] | None = None
    ) -> Path:
        """Write ``RUN_DIR/sensitivity/`` atomically (refuses an existing one unless ``force``)."""
        from rdshare.core import runs

        def write(tmp: Path) -> None:
            runs.write_json(tmp / "sensitivity.json", self.to_dict())
            runs.write_csv(tmp / "sensitivity.csv", self.psense)
            runs.write_csv(tmp / "intervals.csv", self.intervals)
            runs.write_csv(tmp / "by_prior.csv", self.by_prior)
            (tmp / "sensitivity.md").write_text(self.to_markdown(), encoding="utf-8")

        return runs.write_folder(
            Path(run_dir) / FOLDER,
            write,
            kind="sensitivity",
            force=force,
            command=command,
            seed=self.info.get("seed"),
            info={"run": self.info.get("run")},
            hashed=("sensitivity.json", "sensitivity.csv", "intervals.csv", "by_prior.csv"),
        )


def analyse(
    run_dir,
    *,
    alternatives: list[str | Path] | None = None,
    refit: bool = True,
    threshold: float = THRESHOLD,
    progress: Callable[[str, int, int], None] | None = None,
) -> SensitivityResult:
    """Power-scaling diagnostics of a saved run, and (with ``refit``) refits under other priors.

    Parameters
    ----------
    run_dir : path or Run
        A run folder written by ``rdshare fit`` (or a loaded :class:`~rdshare.inference.results.Run`).
    alternatives : list of path, optional
        Prior files to refit with (default: every shipped prior file other than the run's).
    refit : bool
        False skips the refits (power-scaling only, seconds instead of a minute).
    progress : callable, optional
        ``progress(prior_label, i, n)`` before each refit.
    """
    from rdshare.inference.results import Run, load_run

    run = run_dir if isinstance(run_dir, Run) else load_run(run_dir)
    table = power_scaling(run.tree, threshold=threshold)
    each = by_prior(run.tree)
    intervals = refit_intervals(run, alternatives, progress) if refit else pd.DataFrame()
    info = {
        "run": str(run.folder),
        "run_converged": run.converged,
        "run_priors": str(run.priors.path),
        "threshold": threshold,
        "prior_terms": prior_terms(run.tree),
        "seed": run.config.get("seed"),
    }
    return SensitivityResult(table, intervals, info, each)


def load(run_dir: str | Path) -> SensitivityResult | None:
    """The sensitivity results saved in a run folder, or None when there are none."""
    folder = Path(run_dir) / FOLDER
    if not (folder / "sensitivity.json").is_file():
        return None
    doc = json.loads((folder / "sensitivity.json").read_text(encoding="utf-8"))
    psense = pd.DataFrame(doc.pop("power_scaling")).reindex(columns=list(PSENSE_COLUMNS))
    rows = doc.pop("intervals")
    intervals = (
        pd.DataFrame(rows).reindex(columns=list(INTERVAL_COLUMNS)) if rows else pd.DataFrame()
    )
    doc.pop("unconverged_refits", None)
    each = pd.DataFrame(doc.pop("by_prior", []))
    return SensitivityResult(psense, intervals, doc, each)
