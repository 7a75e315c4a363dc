"""Leave-one-lab-out predictive checks: would the model have predicted a lab it had never seen?

For each lab in the fitted rows, the model is refitted with that lab's evidence made uninformative
(:meth:`rdshare.core.design.Design.without`: same shapes, so the compiled model is reused), and each of the
lab's rows is scored against its predictive distribution given every other row:

- *Held out together*: the lab's own rows, every row that mentions the lab (a contrast against one of
  its rows) and every row of, or against, one of its programmes. The lab is then new to the refit: its
  lab effect and its programmes' effects are drawn from their population distributions. Only the lab's
  own rows are scored (a contrast is scored when its own lab is held out).
- *The predictive of a held-out row* is, per posterior draw of the refit, the normal distribution of the
  row's latent value given all rows that were kept (the block conditional of the model's multivariate
  normal, with the held-out rows' stated uncertainty and provenance noise included). So it is the
  distribution of *a report*, measurement error and all, and a calibrated model puts 90% of reported
  figures inside their 90% interval. Mixing over the draws gives the predictive; its quantiles are
  computed exactly (bisection on the mixture's CDF), not from random draws.
- *Scores*: the probability integral transform (PIT) of the reported value, the 90% interval on the
  value scale and whether the value lies inside it. A bound row ("at least 0.33") is *consistent* unless
  the predictive puts more than 95% of its mass on the wrong side of the bound; its nominal rate is
  therefore at least 95%, and it is counted apart from the point rows.

Estimator effects are not new to a held-out lab's rows when other labs' rows share the estimator: the
method is known, only the lab is new. Estimates of the lab's figures by a method used nowhere else get the
estimator's population spread.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.special import ndtr

#: Name of the folder inside a run folder.
FOLDER = "holdout"
#: The nominal coverage of the predictive interval scored.
LEVEL = 0.9
COLUMNS = (
    "lab",
    "row",
    "kind",
    "target",
    "form",
    "reported",
    "reported_text",
    "q05",
    "q50",
    "q95",
    "pit",
    "inside",
    "held_with",
    "converged",
)


def held_out(design, lab: int) -> np.ndarray:
    """Positions of the rows held out with lab ``lab``: its own rows, every row that mentions the lab (a
    contrast against one of its rows) and every row of, or against, one of its programmes."""
    own = design.lab_idx == lab
    programmes = np.unique(design.programme_idx[own])
    mentions = own | (np.abs(design.Z_lab[:, lab]) > 0)
    mentions |= np.abs(design.Z_programme[:, programmes]).sum(axis=1) > 0
    return np.flatnonzero(mentions).astype(np.int64)


def block_predictive(design, p, variant: str, x_bound, held: np.ndarray):
    """Mean and sd of each held-out row's latent value given the kept rows, per draw.

    ``design`` is the *original* design (the held-out rows' stated uncertainty is part of what a report
    of them would show); ``p`` and ``x_bound`` come from the refit's posterior. Returns two arrays with the
    draws' shape and one trailing entry per held-out row.
    """
    from rdshare.core import generative as gen

    vals = gen.latent(design, x_bound)
    m = gen.mean(design, p, variant)
    C = gen.covariance(design, p, variant)
    kept = np.setdiff1d(np.arange(design.n_rows), held)
    C_hk = C[..., held[:, None], kept[None, :]]
    C_kk = C[..., kept[:, None], kept[None, :]]
    resid = (vals - m)[..., kept]
    w = np.linalg.solve(C_kk, resid[..., None])[..., 0]
    mu = m[..., held] + (C_hk @ w[..., None])[..., 0]
    # diag(C_hh - C_hk C_kk^-1 C_kh)
    A = np.linalg.solve(C_kk, np.swapaxes(C_hk, -1, -2))
    var = np.diagonal(C[..., held[:, None], held[None, :]], axis1=-2, axis2=-1) - np.sum(
        C_hk * np.swapaxes(A, -1, -2), axis=-1
    )
    return mu, np.sqrt(np.maximum(var, 1e-300))


def mixture_cdf(x: float, mu: np.ndarray, sd: np.ndarray) -> float:
    """CDF at ``x`` of the equal-weight mixture of normals ``N(mu_j, sd_j)``."""
    return float(np.mean(ndtr((x - mu) / sd)))


def mixture_quantiles(mu: np.ndarray, sd: np.ndarray, probs) -> np.ndarray:
    """Quantiles of the equal-weight mixture of normals, by bisection on its CDF (exact to 1e-10)."""
    probs = np.asarray(probs, dtype=float)
    lo = np.full(probs.shape, float(np.min(mu - 12 * sd)))
    hi = np.full(probs.shape, float(np.max(mu + 12 * sd)))
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        below = np.array([mixture_cdf(x, mu, sd) for x in mid]) < probs
        lo, hi = np.where(below, mid, lo), np.where(below, hi, mid)
        if np.max(hi - lo) < 1e-10:
            break
    return 0.5 * (lo + hi)


def score_rows(design, dataset_rows: pd.DataFrame, posterior, variant: str, lab: int, held):
    """One scored row per row of lab ``lab`` (its own rows), from a refit without ``held``."""
    from rdshare.core.kinds import KINDS, TARGETS
    from rdshare.inference.fast_predictive import bound_latents, posterior_parameters

    p = posterior_parameters(posterior, variant)
    x_bound = bound_latents(posterior, design)
    mu, sd = block_predictive(design, p, variant, x_bound, held)
    mu, sd = mu.reshape(-1, len(held)), sd.reshape(-1, len(held))
    by_id = dataset_rows.set_index("id", drop=False)
    out = []
    for j, r in enumerate(held):
        if design.lab_idx[r] != lab:
            continue  # held out with the lab but not its report (a contrast against it, say)
        rid = design.row_ids[r]
        row = by_id.loc[rid]
        kind = KINDS[row["kind"]]
        target = TARGETS[design.targets[r]]
        q_lat = mixture_quantiles(mu[:, j], sd[:, j], [0.05, 0.5, 0.95])
        q = np.sort(np.asarray(target.value(q_lat), dtype=float))
        g = np.flatnonzero(design.gauss_idx == r)
        if g.size:
            x = float(design.y[g[0]])
            pit_lat = mixture_cdf(x, mu[:, j], sd[:, j])
            pit = pit_lat if target.increasing else 1.0 - pit_lat
            inside = (1 - LEVEL) / 2 <= pit <= (1 + LEVEL) / 2
            form = "gaussian"
        else:
            k = int(np.flatnonzero(design.bound_idx == r)[0])
            x = float(design.b[k])
            below = mixture_cdf(x, mu[:, j], sd[:, j])
            # the probability of the wrong side of the bound (below it for "at least" on the latent)
            wrong = below if design.bound_dir[k] > 0 else 1.0 - below
            pit = below if target.increasing else 1.0 - below
            inside = wrong <= (1 + LEVEL) / 2
            form = "bound"
        out.append(
            {
                "lab": design.labs[lab],
                "row": rid,
                "kind": row["kind"],
                "target": target.name,
                "form": form,
                "reported": float(target.value(x)),
                "reported_text": kind.text(row),
                "q05": q[0],
                "q50": q[1],
                "q95": q[2],
                "pit": pit,
                "inside": bool(inside),
            }
        )
    return out


def _seed(seed: int, lab: int) -> int:
    return int(np.random.SeedSequence([seed, 7_771, lab]).generate_state(1)[0])


def leave_one_lab_out(
    dataset,
    priors,
    config,
    *,
    labs: list[str] | None = None,
    progress: Callable[[str, int, int], None] | None = None,
) -> tuple[pd.DataFrame, list[dict]]:
    """Refit without each lab and score its rows. Returns (scored rows, one dict per refit)."""
    from dataclasses import replace

    from rdshare.core import design as design_mod
    from rdshare.inference import fit as fit_mod
    from rdshare.inference.diagnostics import gate

    design = design_mod.from_dataset(dataset)
    variant = config.variant
    cfg = replace(config, predictive=False)
    chosen = list(design.labs) if labs is None else list(labs)
    unknown = [x for x in chosen if x not in design.labs]
    if unknown:
        raise ValueError(f"no fitted rows of lab(s) {', '.join(unknown)}")
    rows, refits = [], []
    for i, name in enumerate(chosen):
        lab = design.labs.index(name)
        if not np.any(design.lab_idx == lab):
            continue  # a lab only mentioned as a contrast's versus row has no report to score
        if progress is not None:
            progress(name, i + 1, len(chosen))
        held = held_out(design, lab)
        neutral = design.without(held)
        compiled = fit_mod.compiled_sampler(neutral, priors, variant)
        tree = fit_mod.sample_posterior(compiled, cfg, _seed(cfg.seed, lab), variant)
        names = [n for n in fit_mod.gate_variables(variant) if n in tree["posterior"].ds]
        verdict = gate(tree, names, settings=vars(cfg))
        scored = score_rows(design, dataset.fitted, tree["posterior"].ds, variant, lab, held)
        with_ = " ".join(design.row_ids[r] for r in held if design.lab_idx[r] != lab)
        for s in scored:
            s["held_with"] = with_
            s["converged"] = bool(verdict.passed)
        rows += scored
        refits.append(
            {
                "lab": name,
                "held_out": [design.row_ids[r] for r in held],
                "converged": bool(verdict.passed),
                "verdict": verdict.describe(),
            }
        )
    return pd.DataFrame(rows).reindex(columns=list(COLUMNS)), refits


def _rate(flags: pd.Series) -> dict:
    n = int(flags.size)
    k = int(flags.sum())
    return {"inside": k, "n": n, "share": k / n if n else math.nan}


@dataclass
class HoldoutResult:
    """Scored rows, one entry per refit, and provenance."""

    table: pd.DataFrame
    refits: list[dict]
    info: dict = field(default_factory=dict)

    @property
    def points(self) -> dict:
        """Point and interval rows inside their 90% predictive interval (nominal 90%)."""
        return _rate(self.table.loc[self.table["form"] == "gaussian", "inside"].astype(bool))

    @property
    def bounds(self) -> dict:
        """Bound rows consistent with their predictive (nominal at least 95%)."""
        return _rate(self.table.loc[self.table["form"] == "bound", "inside"].astype(bool))

    @property
    def labs_inside(self) -> dict:
        """Labs all of whose point rows are inside their interval."""
        pts = self.table[self.table["form"] == "gaussian"]
        return _rate(pts.groupby("lab")["inside"].all())

    @property
    def unconverged(self) -> list[str]:
        return [r["lab"] for r in self.refits if not r["converged"]]

    def headline(self) -> str:
        p, b = self.points, self.bounds
        out = (
            f"{p['inside']} of {p['n']} held-out reported figures inside their 90% new-lab "
            f"predictive interval ({p['share']:.0%}; nominal 90%)"
        )
        if b["n"]:
            out += (
                f"; {b['inside']} of {b['n']} held-out bounds consistent with their predictive "
                f"(nominal at least 95%)"
            )
        return out

    def describe(self) -> str:
        lines = ["Leave-one-lab-out: " + self.headline() + "."]
        for r in self.table.itertuples():
            mark = "" if r.inside else "   <-- outside"
            conv = "" if r.converged else "  (refit NOT converged)"
            lines.append(
                f"  {r.lab:<14} {r.row:<26} reported {r.reported_text}; predictive 90% {r.q05:.3g} "
                f"to {r.q95:.3g}, PIT {r.pit:.2f}{mark}{conv}"
            )
        return "\n".join(lines)

    def to_dict(self) -> dict:
        return {
            "level": LEVEL,
            "points": self.points,
            "bounds": self.bounds,
            "labs_inside": self.labs_inside,
            "rows": json.loads(self.table.to_json(orient="records")),
            "refits": self.refits,
            "unconverged": self.unconverged,
            **self.info,
        }

    def to_markdown(self) -> str:
        out = [
            "### Leave-one-lab-out",
            "",
            self.headline() + ".",
            "",
            "| lab | row | reported | predictive 90% | PIT | inside |",
            "|---|---|---|---|---|---|",
        ]
        for r in self.table.itertuples():
            out.append(
                f"| {r.lab} | {r.row} | {r.reported_text} | {r.q05:.3g} to {r.q95:.3g} "
                f"| {r.pit:.2f} | {'yes' if r.inside else '**no**'} |"
            )
        return "\n".join(out) + "\n"

    def save(
        self, run_dir: str | Path, *, force: bool = False, command: list[str] | None = None
    ) -> Path:
        """Write ``RUN_DIR/holdout/`` atomically (refuses an existing one unless ``force``)."""
        from rdshare.core import runs

        def write(tmp: Path) -> None:
            runs.write_json(tmp / "holdout.json", self.to_dict())
            runs.write_csv(tmp / "holdout.csv", self.table)
            (tmp / "holdout.md").write_text(self.to_markdown(), encoding="utf-8")

        return runs.write_folder(
            Path(run_dir) / FOLDER,
            write,
            kind="holdout",
            force=force,
            command=command,
            seed=self.info.get("seed"),
            info={"run": self.info.get("run")},
            hashed=("holdout.json", "holdout.csv"),
        )


def analyse(
    run_dir,
    *,
    labs: list[str] | None = None,
    progress: Callable[[str, int, int], None] | None = None,
) -> HoldoutResult:
    """Leave-one-lab-out checks of a saved run, with the run's data, priors and sampler settings.

    Parameters
    ----------
    run_dir : path or Run
        A run folder written by ``rdshare fit`` (or a loaded :class:`~rdshare.inference.results.Run`).
    labs : list of str, optional
        Hold out only these labs (default: every lab with a fitted row).
    progress : callable, optional
        ``progress(lab, i, n)`` before each refit.
    """
    from dataclasses import fields

    from rdshare.inference.fit import FitConfig
    from rdshare.inference.results import Run, load_run

    run = run_dir if isinstance(run_dir, Run) else load_run(run_dir)
    known = {f.name for f in fields(FitConfig)}
    config = FitConfig(**{k: v for k, v in run.config.items() if k in known})
    table, refits = leave_one_lab_out(run.dataset, run.priors, config, labs=labs, progress=progress)
    info = {
        "run": str(run.folder),
        "run_converged": run.converged,
        "priors_file": str(run.priors.path),
        "seed": config.seed,
        "config": {k: getattr(config, k) for k in ("draws", "tune", "chains", "target_accept")},
    }
    return HoldoutResult(table, refits, info)


def load(run_dir: str | Path) -> HoldoutResult | None:
    """The leave-one-lab-out results saved in a run folder, or None when there are none."""
    folder = Path(run_dir) / FOLDER
    if not (folder / "holdout.json").is_file():
        return None
    doc = json.loads((folder / "holdout.json").read_text(encoding="utf-8"))
    table = pd.DataFrame(doc.pop("rows")).reindex(columns=list(COLUMNS))
    refits = doc.pop("refits")
    for k in ("points", "bounds", "labs_inside", "unconverged", "level"):
        doc.pop(k, None)
    return HoldoutResult(table, refits, doc)
