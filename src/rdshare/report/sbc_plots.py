"""Plots of a simulation-based calibration: each quantity's rank ECDF against its simultaneous band.

Drawn on explicit :class:`matplotlib.figure.Figure` objects (no pyplot state). ``rdshare sbc`` passes
:func:`write_plots` to :meth:`rdshare.inference.sbc.SBCResult.save`, which writes ``plots/`` into the SBC
folder; the verdicts themselves come from :mod:`rdshare.inference.sbc`.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from rdshare.inference.sbc import QuantityVerdict


def plot_ecdf_diff(ax, v: QuantityVerdict) -> None:
    """ECDF-difference plot of one quantity: ECDF(rank) - uniform CDF, with the simultaneous band."""
    z = np.concatenate(([0.0], v.z, [1.0]))
    d = np.concatenate(([0.0], v.ecdf - v.z, [0.0]))
    lo = np.concatenate(([0.0], v.lower - v.z, [0.0]))
    hi = np.concatenate(([0.0], v.upper - v.z, [0.0]))
    ax.fill_between(
        z, lo, hi, step="post", color="0.85", label=f"{v.band_prob:.2%} simultaneous band"
    )
    ax.step(
        z, d, where="post", color="C0" if v.passed else "C3", lw=1.5, label="rank ECDF - uniform"
    )
    ax.axhline(0.0, color="0.4", lw=0.8)
    ax.set_xlim(0, 1)
    ax.set_title(f"{v.name}: {'ok' if v.passed else 'FAIL'} (p={v.p_value:.2g})", fontsize=9)
    ax.set_xlabel("fractional rank")
    ax.set_ylabel("ECDF difference")


def save_plots(verdicts: dict[str, QuantityVerdict], folder: Path) -> list[Path]:
    """One PNG per quantity (``ecdf_diff_<name>.png``) and a grid of all (``ecdf_diff_all.png``)."""
    paths = []
    for name, v in verdicts.items():
        fig = Figure(figsize=(5, 3.5), layout="constrained")
        ax = fig.subplots()
        plot_ecdf_diff(ax, v)
        ax.legend(fontsize=7, loc="upper right")
        p = folder / f"ecdf_diff_{name}.png"
        fig.savefig(p, dpi=110)
        paths.append(p)
    if verdicts:
        n = len(verdicts)
        cols = 4
        rows = math.ceil(n / cols)
        fig = Figure(figsize=(4 * cols, 3 * rows), layout="constrained")
        axes = np.atleast_1d(fig.subplots(rows, cols)).ravel()
        for ax, v in zip(axes, verdicts.values(), strict=False):
            plot_ecdf_diff(ax, v)
        for ax in axes[n:]:
            ax.set_visible(False)
        p = folder / "ecdf_diff_all.png"
        fig.savefig(p, dpi=90)
        paths.append(p)
    return paths


def write_plots(folder: Path, result) -> list[Path]:
    """``save`` extra writer: ``plots/`` with the ECDF-difference plots of ``result``'s verdicts."""
    (Path(folder) / "plots").mkdir()
    return save_plots(result.verdicts, Path(folder) / "plots")
