"""Plots of a scenario through time: the fan of values over the years and savings over generations.

Both take the outputs of :func:`rdshare.core.scenario.evaluate` for a scenario with ``years`` or
``generations`` and return a matplotlib ``Figure`` that pyplot does not manage (as in
:mod:`rdshare.report.plots`). Amounts may be negative (a negative discount makes savings a cost), so
their axes are symmetric-logarithmic: logarithmic away from zero, linear near it.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import SymmetricalLogLocator

from rdshare.report.plots import (
    FIGSIZE,
    POSTERIOR,
    POSTERIOR_LIGHT,
    PRIOR,
    human_amount,
    new_figure,
)

#: The per-year amounts drawn as fans, with their titles ({n}: the number of labs).
FAN_QUANTITIES = {
    "rd_compute": "this lab's R&D working alone",
    "savings": "compute it avoids by building on open work",
    "ecosystem_savings": "{n} labs sharing openly, against {n} alone",
    "consortium_savings": "{n} labs building a shared base once",
}
_PROBS = (0.05, 0.25, 0.5, 0.75, 0.95)


def _short(u) -> str:
    """An uncertain input in a few characters: ``2.4`` or ``2 to 2.9``."""
    return f"{u.fixed:g}" if u.is_fixed else f"{u.low:g} to {u.high:g}"


def _money(text: str) -> str:
    """Escape dollar signs, which matplotlib reads as mathematics between two of them."""
    return text.replace("$", r"\$")


def _band(ax, x, values: np.ndarray, color, light, label=None) -> np.ndarray:
    """Median line with 50% (dark) and 90% (light) bands of ``values`` (draws x points)."""
    q = np.quantile(values, _PROBS, axis=0)
    ax.fill_between(x, q[0], q[4], color=light, alpha=0.45, lw=0)
    ax.fill_between(x, q[1], q[3], color=color, alpha=0.35, lw=0)
    ax.plot(x, q[2], color=color, lw=2, label=label)
    return q


class _SparseSymlogLocator(SymmetricalLogLocator):
    """Symlog ticks without the decades just around the linear part, whose labels would crowd 0."""

    def tick_values(self, vmin, vmax):
        ticks = np.asarray(super().tick_values(vmin, vmax))
        keep = (ticks == 0) | (np.abs(ticks) >= 2 * self._linthresh)
        return ticks[keep]


def _symlog(ax, q: np.ndarray) -> None:
    """A symmetric log axis whose linear part is small against the medians."""
    mid = np.abs(q[2]).max()
    if mid > 0 and (q[0] <= 0).any():
        linthresh = mid * 1e-3
        ax.set_yscale("symlog", linthresh=linthresh)
        ax.yaxis.set_major_locator(_SparseSymlogLocator(linthresh=linthresh, base=10))
        ax.axhline(0, color="0.5", lw=0.8, ls=":")
    elif mid > 0:
        ax.set_yscale("log")


def fan(outputs: Mapping[str, object], scenario, prior_outputs=None) -> Figure:
    """The fan of per-year amounts over the scenario's years: median, 50% and 90% intervals.

    One panel per amount in :data:`FAN_QUANTITIES` (the group ones only for more than one lab), the
    budget's own year first for reference. With ``prior_outputs`` the priors' 90% interval is drawn as
    grey dashed lines, so a reader sees which part of the fan is assumption.
    """
    years = [scenario.budget_year, *scenario.years]
    labs = scenario.inputs.get("labs")
    n_labs = int(labs.fixed) if labs is not None and labs.is_fixed else 2
    keys = [k for k in FAN_QUANTITIES if n_labs > 1 or k in ("rd_compute", "savings")]
    ncols = 2
    nrows = int(np.ceil(len(keys) / ncols))
    fig = new_figure((FIGSIZE[0] + 1.0, max(FIGSIZE[1], 3.0 * nrows + 1.0)))
    axes = np.atleast_1d(fig.subplots(nrows, ncols, squeeze=False)).ravel()
    unit = outputs["rd_compute"].unit

    def stack(outs, key):
        cols = [outs[key].values] + [outs[f"{key}_{y}"].values for y in scenario.years]
        return np.column_stack(cols)

    for ax, key in zip(axes, keys, strict=False):
        q = _band(ax, years, stack(outputs, key), POSTERIOR, POSTERIOR_LIGHT)
        if prior_outputs is not None:
            pq = np.quantile(stack(prior_outputs, key), [0.05, 0.95], axis=0)
            ax.plot(years, pq[0], color=PRIOR, lw=1, ls="--")
            ax.plot(years, pq[1], color=PRIOR, lw=1, ls="--")
        _symlog(ax, q)
        ax.set_title(FAN_QUANTITIES[key].format(n=n_labs), fontsize=9.5, loc="left")
        ax.set_xticks(years, [str(y) for y in years], fontsize=8)
        ax.set_ylabel(unit, fontsize=8.5)
        ax.grid(color="0.92")
        ax.set_axisbelow(True)
        last = q[2][-1]
        ax.annotate(
            _money(f"{years[-1]}: median {human_amount(last, unit)}"),
            (years[-1], last),
            xytext=(-4, 8),
            textcoords="offset points",
            ha="right",
            fontsize=7.5,
            color="0.25",
        )
    for ax in axes[len(keys) :]:
        ax.set_visible(False)
    handles = [
        Line2D([], [], color=POSTERIOR, lw=2, label="median"),
        Patch(color=POSTERIOR, alpha=0.35, label="50% interval"),
        Patch(color=POSTERIOR_LIGHT, alpha=0.45, label="90% interval"),
    ]
    if prior_outputs is not None:
        handles.append(Line2D([], [], color=PRIOR, lw=1, ls="--", label="priors alone: 90%"))
    fig.legend(handles=handles, loc="outside lower center", ncols=len(handles), fontsize=8)
    growth = _short(scenario.inputs["budget_growth"])
    fig.suptitle(
        f"{scenario.name}, {years[0]} to {years[-1]}: the budget grows {growth}x a year,\n"
        "the R&D share follows the fitted era trend (median, 50% and 90% intervals)",
        fontsize=10.5,
    )
    return fig


def compounding(outputs: Mapping[str, object], scenario) -> Figure:
    """Savings over model generations: left, each generation's discount ``D_k`` against the
    one-generation discount; right, the cumulative compute avoided with and without carry-over."""
    g = scenario.generations
    ks = np.arange(1, g + 1)
    fig = new_figure((FIGSIZE[0] + 1.0, FIGSIZE[1]))
    left, right = fig.subplots(1, 2)
    D = np.column_stack([outputs[f"discount_generation_{k}"].values for k in ks])
    d_eff = outputs["discount_effective"].values
    _band(left, ks, D, POSTERIOR, POSTERIOR_LIGHT)
    qd = np.quantile(d_eff, [0.05, 0.5, 0.95])
    left.axhline(qd[1], color=PRIOR, lw=1.2, ls="--")
    left.axhspan(qd[0], qd[2], color=PRIOR, alpha=0.12, lw=0)
    left.axhline(0, color="0.5", lw=0.8, ls=":")
    left.set_xticks(ks, [str(k) for k in ks])
    left.set_xlabel("model generation", fontsize=8.5)
    left.set_ylabel("share of R&D per unit of final run avoided", fontsize=8.5)
    left.set_title("discount of each generation, D_k", fontsize=9.5, loc="left")
    left.grid(color="0.92")

    unit = outputs["savings"].unit
    per = np.column_stack([outputs[f"savings_generation_{k}"].values for k in ks])
    rd = np.column_stack([outputs[f"rd_compute_generation_{k}"].values for k in ks])
    q = _band(
        right, ks, np.cumsum(per, axis=1), POSTERIOR, POSTERIOR_LIGHT, label="with carry-over"
    )
    total_plain = outputs["savings_generations_without_compounding"].values
    # the no-carry-over path, cumulated the same way (D_k = d_eff every generation)
    qp = np.median(np.cumsum(rd * d_eff[:, None], axis=1), axis=0)
    right.plot(ks, qp, color=PRIOR, lw=1.5, ls="--", label="no carry-over (median)")
    _symlog(right, q)
    right.set_xticks(ks, [str(k) for k in ks])
    right.set_xlabel("model generation", fontsize=8.5)
    right.set_ylabel(f"cumulative compute avoided, {unit}", fontsize=8.5)
    right.set_title("compute this lab avoids, cumulated", fontsize=9.5, loc="left")
    right.legend(fontsize=7.5, loc="upper left")
    right.grid(color="0.92")
    tq = np.quantile(outputs["savings_generations"].values, 0.5)
    pq = np.quantile(total_plain, 0.5)
    months = _short(scenario.inputs["generation_months"])
    carry = _short(scenario.inputs["carryover"])
    fig.suptitle(
        _money(
            f"{scenario.name}: {g} generations {months} months apart, carry-over {carry}\n"
            f"median over {g} generations: {human_amount(tq, unit)} with carry-over, "
            f"{human_amount(pq, unit)} without; grey: the one-generation discount d_eff"
        ),
        fontsize=10,
    )
    return fig


#: Colours of the off-the-shelf options.
_OPTION_COLOURS = {
    "closed API": "#b2182b",
    "open, hosted": "#4d9221",
    "open, self-hosted": POSTERIOR,
}


def offshelf_costs(curves: Mapping[str, np.ndarray], volumes, user_volume, break_even, question):
    """Monthly cost against monthly output-token volume for each option (median, 90% interval), on
    log axes; the user's volume and the median break-even volume of self-hosting marked."""
    fig = new_figure()
    ax = fig.subplots()
    for name, values in curves.items():
        colour = _OPTION_COLOURS.get(name, PRIOR)
        q = np.quantile(values, [0.05, 0.5, 0.95], axis=0)
        ax.fill_between(volumes, q[0], q[2], color=colour, alpha=0.18, lw=0)
        ax.plot(volumes, q[1], color=colour, lw=2, label=name)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.axvline(user_volume, color="0.3", lw=1, ls=":")
    ax.annotate(
        "your volume", (user_volume, 1), xycoords=("data", "axes fraction"), xytext=(4, -14),
        textcoords="offset points", fontsize=8, color="0.3",
    )  # fmt: skip
    if break_even is not None:
        ax.axvspan(break_even[0], break_even[2], color=POSTERIOR_LIGHT, alpha=0.25, lw=0)
        ax.axvline(break_even[1], color=POSTERIOR, lw=1, ls="--")
        ax.annotate(
            "self-hosting pays beyond here\n(median; band: 90%)",
            (break_even[1], 0.02), xycoords=("data", "axes fraction"), xytext=(4, 4),
            textcoords="offset points", fontsize=8, color=POSTERIOR,
        )  # fmt: skip
    ax.set_xlabel("million output tokens a month (input tokens in the same proportion)", fontsize=9)
    ax.set_ylabel("US dollars a month", fontsize=9)
    ax.grid(color="0.92", which="both")
    ax.legend(fontsize=8.5, loc="upper left")
    ax.set_title(
        _money(
            f"{question.open_model} on {question.gpu} ({question.gpu_kind}) against a closed "
            f"{question.closed_tier}-tier API: cost a month (median, 90% interval)"
        ),
        fontsize=10,
    )
    return fig
