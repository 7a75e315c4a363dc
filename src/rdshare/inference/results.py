"""Fit results: the summary table, saving a run folder and loading one back (no PyMC import).

A run folder holds:

``posterior.nc``      the DataTree (every group; attributes carry config, seed, versions, input hashes)
``summary.csv``       ``name, mean, sd, q05, q25, q50, q75, q95, r_hat, ess_bulk, ess_tail``
``diagnostics.json``  the convergence verdict and every figure it used
``data.csv``          the evidence rows the run read (fitted and excluded)
``priors.toml``       the prior file the run used, byte for byte
``manifest.json``     command line, versions, hashes of inputs and of every file, seed, timings
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from rdshare.core import dataset as ds_mod
from rdshare.core import priors as priors_mod
from rdshare.core import runs
from rdshare.errors import Problem, RunFolderError

SUMMARY_COLUMNS = (
    "name",
    "mean",
    "sd",
    "q05",
    "q25",
    "q50",
    "q75",
    "q95",
    "r_hat",
    "ess_bulk",
    "ess_tail",
)
QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)
RUN_FILES = ("posterior.nc", "summary.csv", "diagnostics.json", "data.csv", "priors.toml")


def _flat_names(da: xr.DataArray) -> list[tuple[str, dict]]:
    """(display name, selection) for every scalar element of a variable."""
    extra = [d for d in da.dims if d not in ("chain", "draw")]
    if not extra:
        return [(str(da.name), {})]
    out = []
    for idx in np.ndindex(*[da.sizes[d] for d in extra]):
        sel = {d: i for d, i in zip(extra, idx, strict=True)}
        labels = [str(da[d].values[i]) if d in da.coords else str(i) for d, i in sel.items()]
        if str(da.name) == "sigma_meas" and len(labels) == 1:
            out.append((f"sigma_meas_{labels[0]}", sel))
        else:
            out.append((f"{da.name}[{','.join(labels)}]", sel))
    return out


def summarise(posterior: xr.Dataset, var_names: list[str]) -> pd.DataFrame:
    """One row per scalar quantity: mean, sd, equal-tailed quantiles, r_hat, bulk and tail ESS.

    Every element of every variable is stacked into one array first, so the diagnostics and quantiles
    run once over all of them (the summary has about 80 rows: the grouped effects and the per-row shares
    included). R-hat and ESS are arviz-stats' numbers
    (:func:`rdshare.inference.diagnostics.rank_diagnostics`)."""
    from rdshare.inference.diagnostics import rank_diagnostics

    present = [v for v in var_names if v in posterior]
    names, columns = [], []
    for v in present:
        da = posterior[v]
        extra = [d for d in da.dims if d not in ("chain", "draw")]
        arr = np.asarray(da.transpose("chain", "draw", *extra).values, dtype=float)
        columns.append(arr.reshape(arr.shape[0], arr.shape[1], -1))
        names += [name for name, _ in _flat_names(da)]
    if not names:
        return pd.DataFrame(columns=list(SUMMARY_COLUMNS))
    values = np.concatenate(columns, axis=2)
    rhat, ess_b, ess_t = rank_diagnostics(values)
    x = values.reshape(-1, values.shape[2])
    q = np.quantile(x, QUANTILES, axis=0)
    table = {
        "name": names,
        "mean": x.mean(axis=0),
        "sd": x.std(axis=0, ddof=1),
        **{f"q{int(p * 100):02d}": q[k] for k, p in enumerate(QUANTILES)},
        "r_hat": rhat,
        "ess_bulk": ess_b,
        "ess_tail": ess_t,
    }
    return pd.DataFrame(table, columns=list(SUMMARY_COLUMNS))


def write_summary(df: pd.DataFrame, path: Path) -> None:
    """Stable, readable CSV (6 significant digits)."""
    runs.write_csv(path, df)


@dataclass
class FitResult:
    """What :func:`rdshare.fit` returns."""

    tree: xr.DataTree
    verdict: object
    summary: pd.DataFrame
    dataset: ds_mod.Dataset
    priors: priors_mod.PriorSet
    config: dict
    design: object
    timings: dict = field(default_factory=dict)
    #: which compile route the fit took (:func:`rdshare.inference.fit.compile_path`)
    compile_info: dict = field(default_factory=dict)

    def headline(self, name: str = "f_frontier") -> dict[str, float]:
        """Mean and 90% interval of a summary quantity."""
        return headline(self.summary, name)

    def save(
        self,
        folder: str | Path,
        *,
        force: bool = False,
        command: list[str] | None = None,
        extra_writers=(),
    ) -> Path:
        """Write the run folder (atomically; refuses an existing folder unless ``force``)."""
        return save_run(
            self, Path(folder), force=force, command=command, extra_writers=extra_writers
        )


def discount_positive(tree, priors=None) -> tuple[float, float | None] | None:
    """``(P(d > 0) after the data, P(d > 0) under the prior alone)``, or None for a run without a
    discount. The posterior's share comes from the draws; the prior's is exact, from the prior file's
    distribution (None when ``priors`` is not given)."""
    post = tree["posterior"].ds
    if "discount" not in post:
        return None
    after = float((np.asarray(post["discount"].values) > 0).mean())
    before = None if priors is None else float(priors["discount"].scipy().sf(0.0))
    return after, before


def headline(summary: pd.DataFrame, name: str = "f_frontier") -> dict[str, float]:
    """Mean, median and 90% interval of one quantity of a summary table."""
    row = summary.loc[summary["name"] == name]
    if row.empty:
        raise KeyError(name)
    r = row.iloc[0]
    return {
        "mean": float(r["mean"]),
        "q05": float(r["q05"]),
        "q50": float(r["q50"]),
        "q95": float(r["q95"]),
    }


def save_run(
    res: FitResult,
    folder: Path,
    *,
    force: bool = False,
    command: list[str] | None = None,
    extra_writers=(),
) -> Path:
    """Write ``res`` into ``folder``; ``extra_writers`` are callables ``(tmp_folder, res)`` (e.g. the report)."""
    t0 = time.perf_counter()

    def write(tmp: Path) -> dict:
        res.tree.to_netcdf(tmp / "posterior.nc", engine="h5netcdf")
        write_summary(res.summary, tmp / "summary.csv")
        runs.write_json(tmp / "diagnostics.json", res.verdict.to_dict())
        cols = list(ds_mod.COLUMNS)
        res.dataset.table[cols].to_csv(
            tmp / "data.csv", index=False, lineterminator="\n", float_format="%.10g"
        )
        (tmp / "priors.toml").write_bytes(Path(res.priors.path).read_bytes())
        for writer in extra_writers:
            writer(tmp, res)
        timings = {**res.timings, "write": time.perf_counter() - t0}
        return {
            "timings_seconds": {k: round(v, 3) for k, v in timings.items()},
            "compile": res.compile_info,
        }

    return runs.write_folder(
        folder,
        write,
        kind="run",
        force=force,
        command=command,
        seed=res.config["seed"],
        info={
            "config": res.config,
            "converged": res.verdict.passed,
            "inputs": {
                "data_files": [str(p) for p in res.dataset.files],
                "data_sha256": res.dataset.sha256,
                "priors_file": str(res.priors.path),
                "priors_sha256": res.priors.sha256,
            },
        },
        hashed=RUN_FILES,
    )


@dataclass
class Run:
    """A saved run, verified against its manifest."""

    folder: Path
    tree: xr.DataTree
    summary: pd.DataFrame
    diagnostics: dict
    manifest: dict
    dataset: ds_mod.Dataset
    priors: priors_mod.PriorSet

    @property
    def converged(self) -> bool:
        return bool(self.diagnostics.get("converged"))

    @property
    def config(self) -> dict:
        return self.manifest.get("config", {})

    def headline(self, name: str = "f_frontier") -> dict[str, float]:
        return headline(self.summary, name)


def load_run(folder: str | Path) -> Run:
    """Load a run folder, refusing one whose files do not match the hashes stamped in it."""
    folder = Path(folder)
    manifest = runs.verify(folder, required=RUN_FILES)
    try:
        tree = xr.open_datatree(folder / "posterior.nc", engine="h5netcdf")
        tree = tree.load()
        tree.close()
    except Exception as exc:
        raise RunFolderError(
            Problem(str(folder / "posterior.nc"), f"cannot be read ({exc})")
        ) from None
    inputs = manifest.get("inputs")
    if not isinstance(inputs, dict):
        raise RunFolderError(
            Problem(str(folder / runs.MANIFEST), "has no 'inputs' table", field="inputs")
        )
    if tree.attrs.get("rdshare_data_sha256") != inputs.get("data_sha256"):
        raise RunFolderError(
            Problem(str(folder / "posterior.nc"), "its data hash does not match the manifest")
        )
    summary = pd.read_csv(folder / "summary.csv")
    diagnostics = json.loads((folder / "diagnostics.json").read_text(encoding="utf-8"))
    dataset = ds_mod.read([folder / "data.csv"])
    priors = priors_mod.load(folder / "priors.toml")
    return Run(folder, tree, summary, diagnostics, manifest, dataset, priors)
