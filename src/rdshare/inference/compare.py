"""Model comparison by PSIS-LOO: the full model against simpler variants.

Variants (see :mod:`rdshare.inference.model`): ``full`` (the design's model), ``no_discount`` (the same
with the discount fixed at 0) and ``pooled`` (one f for every row: no lab effect, covariates or discount).

Pointwise log-likelihood per evidence row
    The rows are not conditionally independent (rows of one lab, programme or estimator share effects
    the model integrates out, and a contrast shares its versus row's error), so each row's term is its
    log density *given every other row* (the leave-one-out term of a non-factorised normal model;
    Bürkner, Gabry and Vehtari 2021): ``y_obs`` for the Gaussian rows, and for the bound rows
    ``bound_obs``, the log probability that the row's latent value lies on its side of the bound. The two
    are concatenated into one variable ``evidence`` on the dimension ``row`` (in the dataset's row
    order): LOO then leaves out one piece of evidence at a time, whatever its kind. A bound row's term is
    a log-probability and a Gaussian row's a log-density on its latent scale; both are fixed by the data
    and identical across variants, so elpd differences between variants are meaningful even though the
    total mixes the two.

Pareto k and exact refits
    PSIS-LOO is unreliable for rows whose Pareto shape estimate k exceeds ``good_k``
    (``min(1 - 1/log10(S), 0.7)``, S draws; 0.7 for S >= 2200). With under twenty rows and labs seen
    in one or two rows only, many rows are that influential. Those rows are named in words and, by
    default, their terms are recomputed exactly (arviz-stats ``reloo``): the variant is refitted
    without the row, on the model compiled once per variant, and ``log p(y_i | rest)`` is averaged
    over the refit's draws. "Without the row" keeps the shapes, so no recompilation is needed: a
    row's stated sd is set to 1e3 on its latent scale and a bound row's bound moves 1e3 away on its
    open side (:meth:`rdshare.core.design.Design.without`), which makes its likelihood term flat (it
    then carries no information). Refits that fail the convergence gate are reported.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from rdshare.core.quantities import VARIANTS as _VARIANTS

VARIANTS = tuple(_VARIANTS)
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
    for group, var in (("constant_data", "X"), ("posterior", "f_row")):
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


def without_row(design, r: int):
    """``design`` with row ``r`` (position in ``design.row_ids``) made uninformative, same shapes."""
    return design.without([r])


def row_log_likelihood(design, posterior, r: int, variant: str = "full"):
    """``log p(row r | every other row, draw)`` for every posterior draw, ``(chain, draw)``, as the
    model defines it (:func:`rdshare.core.generative.log_likelihood` with ``design``'s data)."""
    from rdshare.core import generative as gen
    from rdshare.inference.fast_predictive import bound_latents, posterior_parameters

    p = posterior_parameters(posterior, variant)
    ll = gen.log_likelihood(design, p, variant, bound_latents(posterior, design))
    g = np.flatnonzero(design.gauss_idx == r)
    if g.size:
        return ll["y_obs"][..., g[0]]
    return ll["bound_obs"][..., int(np.flatnonzero(design.bound_idx == r)[0])]


def _row_refitter(design, priors, config, variant, row_ids, refits):
    """An arviz-stats SamplingWrapper refitting ``variant`` without one row at a time."""
    import xarray as xr
    from arviz_stats.loo.wrapper import SamplingWrapper

    from rdshare.inference import fit as fit_mod
    from rdshare.inference.diagnostics import gate

    class RowRefit(SamplingWrapper):
        def sel_observations(self, idx):
            r = design.row_ids.index(row_ids[int(idx)])
            return without_row(design, r), r

        def sample(self, modified_observed_data):
            # same structure as the original fit: the cached compiled model, with this data
            compiled = fit_mod.compiled_sampler(modified_observed_data, priors, variant)
            key = [config.seed, VARIANTS.index(variant) if variant in VARIANTS else 9, len(refits)]
            seed = int(np.random.SeedSequence(key).generate_state(1)[0])
            tree = fit_mod.sample_posterior(compiled, config, seed, variant)
            names = [n for n in fit_mod.gate_variables(variant) if n in tree["posterior"].ds]
            refits.append({"converged": bool(gate(tree, names).passed)})
            return tree

        def get_inference_data(self, fitted_model):
            return fitted_model

        def log_likelihood__i(self, excluded_obs, idata__i):
            ll = row_log_likelihood(design, idata__i["posterior"].ds, excluded_obs, variant)
            refits[-1]["row"] = design.row_ids[excluded_obs]
            return xr.DataArray(ll, dims=("chain", "draw"))

    return RowRefit


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
            if not d["high_k"]:
                continue
            rows = ", ".join(f"{r} (k = {k:.2f})" for r, k in d["high_k"])
            head = (
                f"{name}: Pareto k above {d['good_k']:.2f} for {len(d['high_k'])} of "
                f"{d['n_rows']} rows: {rows}. PSIS-LOO is unreliable for them (each is highly "
                "influential: leaving it out changes the posterior a lot)"
            )
            refitted = d.get("refitted") or []
            if refitted:
                bad = [x["row"] for x in refitted if not x["converged"]]
                n = len(refitted)
                tail = (
                    f"; {'its term was' if n == 1 else 'their terms were'} recomputed exactly by "
                    f"refitting without {'the row' if n == 1 else 'each row'} ({n} "
                    f"refit{'s' if n > 1 else ''}; elpd {d['elpd_psis']:.2f} by PSIS, "
                    f"{d['elpd']:.2f} with the exact terms)"
                )
                if bad:
                    tail += (
                        f"; the refit{'s' if len(bad) > 1 else ''} without {', '.join(bad)} "
                        "did not pass the convergence gate"
                    )
                out.append(head + tail + ".")
            else:
                out.append(
                    head + ", so this variant's elpd is optimistic; treat differences involving "
                    "it with caution (rerun without --no-reloo to refit those rows exactly)."
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
        if {"full", "no_discount"} <= set(self.table.index):
            gap = abs(float(self.table.loc["full", "elpd"] - self.table.loc["no_discount", "elpd"]))
            if gap < SMALL_DIFF:
                out.append(
                    "  The data cannot tell the full model from the one without a discount: "
                    "LOO does not show the discount is zero, only that the evidence rows do not "
                    "pin it down; its estimate rests on its prior (see rdshare sensitivity)."
                )
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
            if self.loo[name].get("refitted"):
                hk += " (refitted exactly)"
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
        from rdshare.core import runs

        def write(tmp: Path) -> None:
            runs.write_csv(tmp / "compare.csv", self.table, index_label="variant")
            runs.write_csv(tmp / "pointwise.csv", self.pointwise)
            runs.write_json(tmp / "compare.json", self.to_dict())
            (tmp / "compare.md").write_text(self.to_markdown(), encoding="utf-8")

        return runs.write_folder(
            folder,
            write,
            kind="compare",
            force=force,
            command=command,
            seed=self.info.get("seed"),
            hashed=("compare.csv", "pointwise.csv", "compare.json"),
        )


def compare_trees(
    trees: dict,
    converged: dict[str, bool] | None = None,
    info: dict | None = None,
    *,
    refit: dict | None = None,
) -> ComparisonResult:
    """Compare fitted variants given as ``{name: DataTree}`` (each with a log_likelihood group).

    ``refit``, when given, is ``{"design": Design, "priors": PriorSet, "config": FitConfig}``: the
    rows with high Pareto k are then refitted exactly (arviz-stats ``reloo``).
    """
    import arviz_stats as azs

    elpds = {name: loo(tree) for name, tree in trees.items()}
    summary: dict[str, dict] = {}
    for name, e in elpds.items():
        summary[name] = {
            "elpd_psis": float(e.elpd),
            "n_rows": int(e.n_data_points),
            "n_draws": int(e.n_samples),
            "good_k": float(e.good_k),
            "high_k": high_k_rows(e),
            "refitted": [],
        }
        if refit is not None and summary[name]["high_k"]:
            from dataclasses import replace

            from arviz_stats.loo import reloo

            cfg = replace(refit["config"], variant=name)
            row_ids = [str(r) for r in e.pareto_k["row"].values]
            refits: list[dict] = []
            wrapper_cls = _row_refitter(
                refit["design"], refit["priors"], cfg, name, row_ids, refits
            )
            wrapper = wrapper_cls(model=None, idata_orig=loo_tree(trees[name]))
            exact = reloo(wrapper, loo_orig=e, var_name=LOG_LIK_VAR, pointwise=True)
            psis_i = dict(zip(row_ids, e.elpd_i.values, strict=True))
            exact_i = dict(zip(row_ids, exact.elpd_i.values, strict=True))
            k_before = dict(summary[name]["high_k"])
            for x in refits:
                x.update(
                    {
                        "k": k_before.get(x["row"]),
                        "elpd_psis": float(psis_i[x["row"]]),
                        "elpd_exact": float(exact_i[x["row"]]),
                    }
                )
            summary[name]["refitted"] = refits
            elpds[name] = exact
    with warnings.catch_warnings():
        warnings.filterwarnings(
            "ignore", message="Estimated shape parameter of Pareto", category=UserWarning
        )
        table = azs.compare(elpds, round_to="none")
    rows = []
    for name, e in elpds.items():
        refitted = {x["row"] for x in summary[name]["refitted"]}
        k_orig = dict(summary[name]["high_k"])
        for row, ki, ei in zip(
            e.pareto_k["row"].values, e.pareto_k.values, e.elpd_i.values, strict=True
        ):
            row = str(row)
            rows.append(
                {
                    "variant": name,
                    "row": row,
                    "elpd_i": float(ei),
                    "pareto_k": float(k_orig.get(row, ki)),
                    "refitted": row in refitted,
                }
            )
        summary[name].update({"elpd": float(e.elpd), "se": float(e.se), "p_loo": float(e.p)})
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
    reloo: bool = True,
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
    reloo : bool
        Refit each variant without each row whose Pareto k is too high and use the exact term.
    progress : callable, optional
        ``progress(variant, i, n)`` before each fit.
    """
    from dataclasses import replace

    from rdshare.core import dataset as ds_mod
    from rdshare.core import design as design_mod
    from rdshare.core import priors as priors_mod
    from rdshare.inference import fit as fit_mod
    from rdshare.inference.diagnostics import gate

    config = config or fit_mod.FitConfig()
    dataset = ds_mod.coerce(data)
    prior_set = priors_mod.coerce(priors)
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
            converged[v] = bool(gate(given, names, settings=vars(config)).passed)
    info = {
        "data_sha256": dataset.sha256,
        "priors_file": str(prior_set.path),
        "priors_sha256": prior_set.sha256,
        "seed": config.seed,
        "config": {k: getattr(config, k) for k in ("draws", "tune", "chains", "target_accept")},
    }
    refit = None
    if reloo:
        design = design_mod.from_dataset(dataset)
        refit = {"design": design, "priors": prior_set, "config": replace(config, predictive=False)}
    return compare_trees(trees, converged, info, refit=refit)


#: Name of the comparison folder inside a run folder (``rdshare compare --run RUN_DIR``).
FOLDER = "compare"


def load(folder: str | Path) -> dict | None:
    """The saved comparison (``compare.json`` as a dict, plus ``markdown``), or None if absent."""
    folder = Path(folder)
    if not (folder / "compare.json").is_file():
        return None
    doc = json.loads((folder / "compare.json").read_text(encoding="utf-8"))
    md = folder / "compare.md"
    doc["markdown"] = md.read_text(encoding="utf-8") if md.is_file() else ""
    return doc
