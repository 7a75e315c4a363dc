"""The forecast figures (rdshare.report.scenario_plots) on amounts that change sign."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np
from matplotlib.figure import Figure

from rdshare.report.scenario_plots import _symlog


def test_a_symlog_axis_labels_zero_and_decades_clear_of_it():
    fig = Figure()
    ax = fig.add_subplot()
    # quantiles 5/25/50/75/95 of savings over six years: the 5% quantile below zero
    q = np.array([[-5e7, -3e9], [4e8, 2e10], [8e8, 5e10], [1.1e9, 9e10], [1.8e9, 2e11]])
    ax.fill_between([0, 1], q[0], q[4])
    _symlog(ax, q)
    fig.canvas.draw()
    ticks = np.array([t for t in ax.get_yticks() if ax.get_ylim()[0] <= t <= ax.get_ylim()[1]])
    linthresh = 5e10 * 1e-3
    assert ax.get_yscale() == "symlog"
    assert 0 in ticks
    # no decade inside the linear part's neighbourhood, whose labels would overprint "0"
    assert not np.any((ticks != 0) & (np.abs(ticks) < 2 * linthresh))
    assert (ticks >= 1e10).any()
    assert (ticks <= -1e9).any()


def test_amounts_that_stay_positive_get_a_log_axis():
    fig = Figure()
    ax = fig.add_subplot()
    q = np.array([[1e8, 2e9], [2e8, 3e9], [3e8, 4e9], [4e8, 5e9], [5e8, 6e9]])
    _symlog(ax, q)
    assert ax.get_yscale() == "log"
