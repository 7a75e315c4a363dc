"""What grouped errors do to each headline interval (docs/model.md, "Grouped errors").

Fits the shipped data with the default priors and settings twice: as shipped (rows of one programme share
a programme effect, rows of one estimator share an estimator effect) and with every row its own programme
and estimator (the columns emptied), which treats correlated rows as independent evidence. Prints each
headline quantity's median and 90% interval under both and the ratio of the widths. Every fit is gated on
convergence.

Usage::

    .venv/bin/python scripts/grouping_effect.py
    .venv/bin/python scripts/grouping_effect.py --draws 500
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

import numpy as np

from rdshare.core import dataset as ds_mod
from rdshare.core import priors as priors_mod
from rdshare.core.quantities import REPORTED
from rdshare.inference.fit import FitConfig, fit


def ungrouped(tmp: Path) -> ds_mod.Dataset:
    """The shipped rows with every row its own programme and estimator."""
    table = ds_mod.load().table.copy()
    table["programme"] = ""
    table["estimator"] = ""
    path = tmp / "ungrouped.csv"
    table.reindex(columns=list(ds_mod.COLUMNS)).to_csv(path, index=False)
    return ds_mod.load([path], replace=True)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--draws", type=int, default=None, help="draws per chain (default: rdshare's)")
    args = ap.parse_args(argv)
    config = FitConfig(predictive=False)
    if args.draws:
        config = replace(config, draws=args.draws)
    priors = priors_mod.load()
    with tempfile.TemporaryDirectory() as tmp:
        fits = {"grouped": fit(None, priors, config=config)}
        fits["independent"] = fit(ungrouped(Path(tmp)), priors, config=config)
    print(f"{config.chains} chains x {config.draws} draws, seed {config.seed}")
    for name, res in fits.items():
        print(f"{name}: {'converged' if res.verdict.passed else 'NOT converged'}")
    print()
    print(
        "| quantity | grouped (shipped) | every row independent | width ratio (grouped / independent) |"
    )
    print("|---|---|---|---|")
    for q in [*REPORTED, "sigma_programme", "sigma_estimator"]:
        cells = []
        widths = []
        for res in fits.values():
            x = np.asarray(res.tree["posterior"][q].values, dtype=float).ravel()
            lo, mid, hi = np.quantile(x, [0.05, 0.5, 0.95])
            cells.append(f"{mid:.2f} ({lo:.2f} to {hi:.2f})")
            widths.append(hi - lo)
        print(f"| {q} | {cells[0]} | {cells[1]} | {widths[0] / widths[1]:.2f} |")
    return 0 if all(r.verdict.passed for r in fits.values()) else 3


if __name__ == "__main__":
    sys.exit(main())
