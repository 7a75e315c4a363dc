"""Model comparison by PSIS-LOO: the full model against simpler variants.

Variants (see :mod:`rdshare.inference.model`): ``full`` (the design's model), ``no_discount`` (the same
with the discount fixed at 0) and ``pooled`` (one f for every row: no lab effect, covariates or discount).

Pointwise log-likelihood per evidence row
    The model has two observed variables: ``y_obs`` (the Gaussian rows, dimension ``obs``) and
    ``bound_obs`` (the censored lower-bound rows, dimension ``bound``). Each fitted row appears in
    exactly one of them and rows are conditionally independent given the parameters, so the two are
    concatenated into one variable ``evidence`` on the dimension ``row`` (in the dataset's row order):
    LOO then leaves out one piece of evidence at a time, whatever its kind. A bound row's term is a
    log-probability (of the censoring event) and a Gaussian row's a log-density on the log-odds scale;
    both are fixed by the data, identical across variants, so elpd differences between variants are
    meaningful even though the total mixes the two.

Pareto k
    PSIS-LOO is unreliable for rows whose Pareto shape estimate k exceeds ``good_k``
    (``min(1 - 1/log10(S), 0.7)``, S draws; 0.7 for S >= 2200). Those rows are named in words: with
    15 rows and several labs seen in one row only, single rows can be highly influential, and the
    elpd of a variant with high-k rows is optimistic.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

VARIANTS = ("full", "no_discount", "pooled")
LOG_LIK_VAR = "evidence"
#: |elpd difference| below this is "similar predictive performance" (Sivula et al. 2022, LOO FAQ).
SMALL_DIFF = 4.0


def evidence_log_likelihood(tree):
    """The pointwise log-likelihood per evidence row, ``(chain, draw, row)``, from both observed variables."""
    import xarray as xr

    ll = tree["log_likelihood"].ds
    parts = []
    for var, dim in (("y_obs", "obs"), ("bound_obs", "bound")):
        if var in ll:
            da = ll[var].rename({dim: "row"})
            parts.append(da.assign_coords(row=[str(r) for r in da["row"].values]))
    if not parts:
        raise ValueError("the log_likelihood group has neither y_obs nor bound_obs")
    da = xr.concat(parts, dim="row")
    order = None
    for group, var in (("posterior", "f_row"), ("constant_data", "lab_idx")):
        if group in tree.children and var in tree[group].ds and "row" in tree[group][var].dims:
            order = [str(r) for r in tree[group]["row"].values]
            break
    if order is not None:
        da = da.sel(row=[r for r in order if r in set(da["row"].values)])
    return da.rename(LOG_LIK_VAR)


def loo_tree(tree):
    """A DataTree with the posterior and the combined ``evidence`` log-likelihood, for arviz-stats."""
    import xarray as xr

    ll = evidence_log_likelihood(tree).to_dataset()
    return xr.DataTree.from_dict({"posterior": tree["posterior"].ds, "log_likelihood": ll})


def loo(tree):
    """PSIS-LOO (arviz-stats) with one term per evidence row; Pareto-k warnings are returned, not raised."""
    import arviz_stats as azs

    with warnings.catch_warnings():
        warnings.filterwarnings(
            "ignore", message="Estimated shape parameter of Pareto", category=UserWarning
        )
        return azs.loo(loo_tree(tree), pointwise=True, var_name=LOG_LIK_VAR)


def high_k_rows(elpd) -> list[tuple[str, float]]:
    """(row id, k) of the rows whose Pareto k exceeds the reliability threshold ``elpd.good_k``."""
    k = elpd.pareto_k
    out = [
        (str(r), float(v))
        for r, v in zip(k["row"].values, k.values, strict=True)
        if v > elpd.good_k
    ]
    return sorted(out, key=lambda t: -t[1])


@dataclass
class ComparisonResult:
    """The comparison table, pointwise LOO figures and warnings in words."""

    table: pd.DataFrame
    pointwise: pd.DataFrame
    loo: dict[str, dict]
    converged: dict[str, bool] = field(default_factory=dict)
    info: dict = field(default_factory=dict)

    @property
    def warnings(self) -> list[str]:
        out = []
        for name, d in self.loo.items():
            if d["high_k"]:
                rows = ", ".join(f"{r} (k = {k:.2f})" for r, k in d["high_k"])
                out.append(
                    f"{name}: Pareto k above {d['good_k']:.2f} for {len(d['high_k'])} of "
                    f"{d['n_rows']} rows: {rows}. PSIS-LOO is unreliable for them (each is highly "
                    "influential: leaving it out changes the posterior a lot), so this variant's "
                    "elpd is optimistic; treat differences involving it with caution (exact "
                    "leave-one-out refits or k-fold CV would settle it)."
                )
        for name, ok in self.converged.items():
            if not ok:
                out.append(
                    f"{name}: the fit did NOT pass the convergence gate; its LOO figures are unreliable"
                )
        return out

    def to_dict(self) -> dict:
        return {
            "table": json.loads(self.table.reset_index(names="variant").to_json(orient="records")),
            "loo": self.loo,
            "converged": self.converged,
            "warnings": self.warnings,
            "pointwise_log_likelihood": (
                "one term per evidence row: y_obs (Gaussian rows) and bound_obs (censored rows) "
                "concatenated along 'row'"
            ),
            **self.info,
        }

    def describe(self) -> str:
        lines = ["PSIS-LOO comparison (one term per evidence row; best first):"]
        for name, r in self.table.iterrows():
            lines.append(
                f"  {name:<12} elpd {r['elpd']:8.2f} (se {r['se']:.2f})  p_loo {r['p']:5.1f}  "
                f"diff {r['elpd_diff']:7.2f} (se {r['dse']:.2f})  weight {r['weight']:.2f}"
            )
        lines += ["", *self.verdict_lines()]
        if self.warnings:
            lines += ["", "Warnings:", *(f"  - {w}" for w in self.warnings)]
        return "\n".join(lines)

    def verdict_lines(self) -> list[str]:
        """The comparison in words: each variant against the best."""
        best = self.table.index[0]
        out = [f"Best expected predictive accuracy: {best}."]
        for name, r in self.table.iloc[1:].iterrows():
            diff, dse = -float(r["elpd_diff"]), float(r["dse"])
            if diff < SMALL_DIFF:
                how = "predicts about as well (difference below 4: not a meaningful difference)"
            elif diff > 2 * dse:
                how = "predicts clearly worse (difference more than twice its standard error)"
            else:
                how = "predicts worse, but the difference is within two standard errors"
            out.append(f"  {name}: elpd {diff:.1f} lower (se {dse:.1f}): {how}.")
        return out

    def to_markdown(self) -> str:
        out = [
            "### Model comparison (PSIS-LOO)",
            "",
            "One leave-one-out term per evidence row. Best model first.",
            "",
            "| variant | elpd (se) | p_loo | elpd diff (se) | weight | rows with high Pareto k |",
            "|---|---|---|---|---|---|",
        ]
        for name, r in self.table.iterrows():
            hk = ", ".join(f"{row} ({k:.2f})" for row, k in self.loo[name]["high_k"]) or "none"
            out.append(
                f"| {name} | {r['elpd']:.1f} ({r['se']:.1f}) | {r['p']:.1f} | "
                f"{r['elpd_diff']:.1f} ({r['dse']:.1f}) | {r['weight']:.2f} | {hk} |"
            )
        out += ["", *(line.strip() for line in self.verdict_lines())]
        if self.warnings:
            out += ["", *(f"- {w}" for w in self.warnings)]
        return "\n".join(out) + "\n"

    def save(
        self, folder: str | Path, *, force: bool = False, command: list[str] | None = None
    ) -> Path:
        """Write compare.csv, pointwise.csv, compare.json and compare.md into a new folder (atomically)."""
        import sys

        from rdshare.core import runs
        from rdshare.inference.results import versions

        folder = Path(folder)
        with runs.staged_folder(folder, force=force) as tmp:
            self.table.to_csv(
                tmp / "compare.csv", index_label="variant", float_format="%.6g", lineterminator="\n"
            )
            self.pointwise.to_csv(
                tmp / "pointwise.csv", index=False, float_format="%.6g", lineterminator="\n"
            )
            doc = self.to_dict()
            doc["command"] = command if command is not None else sys.argv
            doc["versions"] = versions()
            runs.write_json(tmp / "compare.json", doc)
            (tmp / "compare.md").write_text(self.to_markdown(), encoding="utf-8")
        return folder


def compare_trees(
    trees: dict, converged: dict[str, bool] | None = None, info: dict | None = None
) -> ComparisonResult:
    """Compare fitted variants given as ``{name: DataTree}`` (each with a log_likelihood group)."""
    import arviz_stats as azs

    elpds = {name: loo(tree) for name, tree in trees.items()}
    with warnings.catch_warnings():
        warnings.filterwarnings(
            "ignore", message="Estimated shape parameter of Pareto", category=UserWarning
        )
        table = azs.compare(elpds, round_to="none")
    rows = []
    summary = {}
    for name, e in elpds.items():
        k = e.pareto_k
        for row, ki, ei in zip(k["row"].values, k.values, e.elpd_i.values, strict=True):
            rows.append(
                {"variant": name, "row": str(row), "elpd_i": float(ei), "pareto_k": float(ki)}
            )
        summary[name] = {
            "elpd": float(e.elpd),
            "se": float(e.se),
            "p_loo": float(e.p),
            "n_rows": int(e.n_data_points),
            "n_draws": int(e.n_samples),
            "good_k": float(e.good_k),
            "high_k": high_k_rows(e),
        }
    return ComparisonResult(
        table, pd.DataFrame(rows), summary, dict(converged or {}), dict(info or {})
    )


def run(
    data=None,
    priors=None,
    config=None,
    *,
    variants: tuple[str, ...] = VARIANTS,
    fits: dict | None = None,
    progress: Callable[[str, int, int], None] | None = None,
) -> ComparisonResult:
    """Fit each variant (unless given in ``fits``) and compare them by PSIS-LOO.

    Parameters
    ----------
    data, priors
        As for :func:`rdshare.fit` (None: the shipped rows and default priors).
    config : FitConfig, optional
        Sampler settings shared by every variant (its ``variant`` field is overridden).
    fits : dict of {variant: FitResult, Run or DataTree}, optional
        Fits already made (e.g. the run's own full fit), reused instead of refitting.
    progress : callable, optional
        ``progress(variant, i, n)`` before each fit.
    """
    from dataclasses import replace

    from rdshare.core import dataset as ds_mod
    from rdshare.core import priors as priors_mod
    from rdshare.core.dataset import Dataset
    from rdshare.core.priors import PriorSet
    from rdshare.inference import fit as fit_mod
    from rdshare.inference.diagnostics import gate

    config = config or fit_mod.FitConfig()
    if isinstance(data, Dataset):
        dataset = data
    else:
        extra = [] if data is None else [data] if isinstance(data, str | Path) else list(data)
        dataset = ds_mod.load(extra)
    prior_set = priors if isinstance(priors, PriorSet) else priors_mod.load(priors)
    fits = dict(fits or {})
    trees, converged = {}, {}
    for j, v in enumerate(variants):
        given = fits.get(v)
        if given is None:
            if progress is not None:
                progress(v, j + 1, len(variants))
            res = fit_mod.fit(
                dataset, prior_set, config=replace(config, variant=v, predictive=True)
            )
            trees[v], converged[v] = res.tree, bool(res.verdict.passed)
        elif hasattr(given, "verdict"):  # a FitResult
            trees[v], converged[v] = given.tree, bool(given.verdict.passed)
        elif hasattr(given, "converged"):  # a saved Run
            trees[v], converged[v] = given.tree, bool(given.converged)
        else:
            trees[v] = given
            names = [n for n in fit_mod.gate_variables(v) if n in given["posterior"].ds]
            converged[v] = bool(gate(given, names).passed)
    info = {
        "data_sha256": dataset.sha256,
        "priors_file": str(prior_set.path),
        "priors_sha256": prior_set.sha256,
        "seed": config.seed,
        "config": {k: getattr(config, k) for k in ("draws", "tune", "chains", "target_accept")},
    }
    return compare_trees(trees, converged, info)


def load(folder: str | Path) -> dict | None:
    """The saved comparison (``compare.json`` as a dict, plus ``markdown``), or None if absent."""
    folder = Path(folder)
    if not (folder / "compare.json").is_file():
        return None
    doc = json.loads((folder / "compare.json").read_text(encoding="utf-8"))
    md = folder / "compare.md"
    doc["markdown"] = md.read_text(encoding="utf-8") if md.is_file() else ""
    return doc
