"""The report's plots: one function per plot, each returning a matplotlib :class:`~matplotlib.figure.Figure`.

Every function takes the run's DataTree (and, where it needs them, the dataset or scenarios) and builds
its figure on an explicit ``Figure`` object: nothing here touches pyplot's global state or
``matplotlib.rcParams``. The two plots drawn by arviz-plots (rank plots and LOO-PIT) are created through
pyplot by arviz-plots itself; they are detached from pyplot (``plt.close``) before they are returned, so
no figure is left open.

Size: :data:`FIGSIZE` inches at :data:`DPI` (8 x 5 in at 110 dpi, about 880 x 550 px) unless a plot
needs more rows. Colours: prior grey, posterior blue, data black, the essay's claim red.

What each plot shows and how to read it: ``docs/report.md``.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
import xarray as xr
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from rdshare.core import savings as sv
from rdshare.core.dataset import implied_share
from rdshare.core.kinds import KINDS, TARGETS
from rdshare.core.quantities import HEADLINE, QUANTITIES

FIGSIZE = (8.0, 5.0)
DPI = 110

PRIOR = "#8c8c8c"
POSTERIOR = "#2166ac"
POSTERIOR_LIGHT = "#92c5de"
DATA = "#111111"
CLAIM = "#b2182b"

#: The essay's claim the headline is set against ("about 80%" of development compute is R&D).
ESSAY_CLAIM = 0.8

_UNIT_WORD = {"gpu_hours": "GPU-h", "flop": "FLOP", "energy": "energy", "dollars": "USD"}


# ------------------------------------------------------------------------------------------------
# helpers


def new_figure(figsize: tuple[float, float] = FIGSIZE) -> Figure:
    """A figure that pyplot does not know about (no global state), with constrained layout."""
    return Figure(figsize=figsize, dpi=DPI, layout="constrained")


def draws(group: xr.DataTree | xr.Dataset, name: str) -> np.ndarray:
    """Draws of a variable: 1-D for a scalar, (n_draws, k) for a variable with one extra dim."""
    ds = group.ds if isinstance(group, xr.DataTree) else group
    da = ds[name]
    extra = [d for d in da.dims if d not in ("chain", "draw")]
    arr = np.asarray(da.transpose("chain", "draw", *extra).values, dtype=float)
    n = arr.shape[0] * arr.shape[1]
    return arr.reshape(n) if not extra else arr.reshape(n, -1)


def has(tree: xr.DataTree, group: str, name: str) -> bool:
    """True when ``tree[group]`` exists and holds ``name``."""
    return group in tree.children and name in tree[group].ds


def _interval_bar(ax, y, lo, hi, mid, color, lw=6, label=None):
    ax.plot([lo, hi], [y, y], color=color, lw=lw, solid_capstyle="butt", label=label)
    ax.plot([mid], [y], marker="|", ms=lw + 6, mew=2, color="white")


def _row_labels(table: pd.DataFrame, dagger: bool = True) -> tuple[list[str], list[str]]:
    """(left label, right-hand description) per row; shares in a unit other than FLOP carry a dagger."""
    left, right = [], []
    for _, r in table.iterrows():
        target = KINDS[r["kind"]].target
        mark = " †" if dagger and target == "f" and r["unit"] != "flop" else ""
        left.append(f"{r['id']} ({r['lab']}, {int(r['year'])}){mark}")
        scope = {"full": "full pipeline", "pretraining": "pretraining only"}.get(
            r["scope"], "post-training only"
        )
        if target == "contrast":
            right.append(f"ratio of R&D intensity to {r['versus']}")
        elif target == "discount":
            part = f" ({r['component']})" if r.get("component", "") else ""
            right.append(f"discount d{part}")
        else:
            right.append(f"{r['position']}, {scope}, {_UNIT_WORD.get(r['unit'], r['unit'])}")
    return left, right


def _detach(fig) -> Figure:
    """Remove a pyplot-created figure from pyplot's registry; the object stays usable."""
    import matplotlib.pyplot as plt

    plt.close(fig)
    return fig


# ------------------------------------------------------------------------------------------------
# prior against posterior


def _density(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    from arviz_stats.base import array_stats

    grid, pdf, _ = array_stats.kde(np.asarray(x, dtype=float))
    return np.asarray(grid), np.asarray(pdf)


def prior_posterior(tree: xr.DataTree, names: Sequence[str] = HEADLINE) -> Figure:
    """Prior (grey) against posterior (blue) density of each headline quantity, 90% intervals marked.

    The prior comes from the run's ``prior`` group (draws from the prior, so derived quantities such
    as ``f_follower`` have one too). Bars under each panel are the 90% equal-tailed intervals with the
    median as a white tick; the frontier panel also marks the essay's "about 80%".
    """
    names = [n for n in names if has(tree, "posterior", n)]
    ncols = 2 if len(names) > 1 else 1
    nrows = int(np.ceil(len(names) / ncols))
    fig = new_figure((FIGSIZE[0], max(FIGSIZE[1], 2.8 * nrows + 0.6)))
    axes = np.atleast_1d(fig.subplots(nrows, ncols, squeeze=False)).ravel()
    for ax in axes[len(names) :]:
        ax.set_visible(False)
    for ax, name in zip(axes, names, strict=False):
        post = draws(tree["posterior"], name)
        prior = draws(tree["prior"], name) if has(tree, "prior", name) else None
        top = 0.0
        series = [("posterior", post, POSTERIOR)]
        if prior is not None:
            series.insert(0, ("prior", prior, PRIOR))
        for label, x, color in series:
            grid, pdf = _density(x)
            ax.fill_between(grid, pdf, color=color, alpha=0.25, lw=0)
            ax.plot(grid, pdf, color=color, lw=1.8, label=label)
            top = max(top, float(np.max(pdf)))
        # 90% interval bars under the curves
        for k, (_label, x, color) in enumerate(reversed(series)):
            lo, mid, hi = np.quantile(x, [0.05, 0.5, 0.95])
            _interval_bar(ax, -(0.09 + 0.09 * k) * top, lo, hi, mid, color, lw=5)
        lo, hi = np.quantile(post, [0.05, 0.95])
        text = f"posterior 90%: {lo:.2f} to {hi:.2f}"
        if prior is not None:
            plo, phi = np.quantile(prior, [0.05, 0.95])
            text = f"prior 90%: {plo:.2f} to {phi:.2f}\n" + text
        if name == "f_frontier":
            ax.axvline(ESSAY_CLAIM, color=CLAIM, ls="--", lw=1.3, label='essay: "about 80%"')
        ax.set_ylim(-(0.09 * (len(series) + 0.8)) * top, top * 1.45)
        ax.text(0.02, 0.97, text, transform=ax.transAxes, va="top", ha="left", fontsize=8)
        if name in QUANTITIES and QUANTITIES[name].is_share:
            ax.set_xlim(0, 1)
        else:
            upper = np.quantile(np.concatenate([post, prior if prior is not None else post]), 0.99)
            ax.set_xlim(0, upper)
        ax.axhline(0, color="0.3", lw=0.6)
        ax.set_yticks([])
        ax.set_ylabel("density")
        q = QUANTITIES.get(name)
        title, xlabel = (q.title, q.axis) if q is not None and q.title else (name, name)
        ax.set_title(title, fontsize=10)
        ax.set_xlabel(xlabel, fontsize=8.5)
        for side in ("top", "right"):
            ax.spines[side].set_visible(False)
    handles = [
        Patch(color=PRIOR, alpha=0.5, label="prior"),
        Patch(color=POSTERIOR, alpha=0.6, label="posterior"),
        Line2D([], [], color="0.4", lw=5, label="90% interval (tick: median)"),
    ]
    if "f_frontier" in names:
        handles.append(Line2D([], [], color=CLAIM, ls="--", label='essay: "about 80%"'))
    fig.legend(handles=handles, loc="outside lower center", ncols=len(handles), fontsize=8.5)
    fig.suptitle("What the data changed: prior against posterior", fontsize=12)
    return fig


# ------------------------------------------------------------------------------------------------
# per-row estimates against the data


def _draw_data(ax, y, r, imp, size=7):
    """The row's own evidence, drawn as its kind's glyph: a point, an interval or a lower bound (arrow)."""
    glyph = KINDS[r["kind"]].glyph
    f, lo, hi = imp["implied_f"], imp["implied_low"], imp["implied_high"]
    if glyph == "lower_bound":
        ax.plot([lo], [y], marker="|", ms=size + 3, mew=2, color=DATA)
        ax.annotate(
            "",
            xy=(min(lo + 0.12, 0.995), y),
            xytext=(lo, y),
            arrowprops={"arrowstyle": "-|>", "color": DATA, "lw": 1.4},
        )
        return
    if not np.isnan(lo) and not np.isnan(hi):
        ax.plot([lo, hi], [y, y], color=DATA, lw=1.4)
        ax.plot([lo, hi], [y, y], ls="", marker="|", ms=size, mew=1.4, color=DATA)
    if glyph != "interval":
        ax.plot([f], [y], ls="", marker="D", ms=size - 1.5, color=DATA, mfc="white", mew=1.4)


def row_estimates(tree: xr.DataTree, table: pd.DataFrame) -> Figure:
    """Forest of each fitted share row's programme share (``f_row``) with the row's reported evidence.

    Blue: posterior median, 50% (thick) and 90% (thin) intervals of ``f_row``, the programme's share in
    FLOP terms (its lab and programme effects included, not the figure's own error). Black: what the row
    reports, read by :func:`rdshare.core.dataset.implied_share` (diamond a reported share, bracket an
    interval, bar with arrow a lower bound). Rows in another unit than FLOP (†) enter the likelihood
    shifted by that unit's offset; ``f_row`` is not, so their reported value may sit to the right of the
    blue estimate by design. Contrast and discount rows are in the predictive check.
    """
    f_row = tree["posterior"].ds["f_row"]
    row_ids = [str(x) for x in f_row["share_row"].values]
    fitted = table[table["exclude"] == ""].set_index("id", drop=False)
    rows = fitted.loc[[i for i in row_ids if i in fitted.index]]
    imp = implied_share(rows)
    x = draws(tree["posterior"], "f_row")
    n = len(rows)
    fig = new_figure((9.5, max(4.5, 0.36 * n + 2.0)))
    ax = fig.subplots()
    left, right = _row_labels(rows)
    ys = np.arange(n)[::-1]
    col = {rid: k for k, rid in enumerate(row_ids)}
    for y, (rid, r), (_, ir) in zip(ys, rows.iterrows(), imp.iterrows(), strict=True):
        v = x[:, col[rid]]
        q05, q25, q50, q75, q95 = np.quantile(v, [0.05, 0.25, 0.5, 0.75, 0.95])
        ax.plot([q05, q95], [y - 0.12, y - 0.12], color=POSTERIOR, lw=1.5)
        ax.plot([q25, q75], [y - 0.12, y - 0.12], color=POSTERIOR, lw=5, solid_capstyle="butt")
        ax.plot([q50], [y - 0.12], "o", color="white", mec=POSTERIOR, ms=5, mew=1.5)
        _draw_data(ax, y + 0.18, r, ir)
    if has(tree, "posterior", "f_frontier"):
        lo, hi = np.quantile(draws(tree["posterior"], "f_frontier"), [0.05, 0.95])
        ax.axvspan(lo, hi, color=POSTERIOR_LIGHT, alpha=0.25, lw=0, zorder=0)
    ax.set_yticks(ys, left, fontsize=8.5)
    for y, text in zip(ys, right, strict=True):
        ax.text(1.01, y, text, transform=ax.get_yaxis_transform(), va="center", fontsize=7.5)
    ax.set_xlim(0, 1)
    ax.set_ylim(-0.8, n - 0.3)
    ax.set_xlabel("R&D share of development compute (0 to 1)")
    ax.grid(axis="x", color="0.9")
    ax.set_axisbelow(True)
    fig.suptitle(
        "Each evidence row: what it reports (black) and what the model infers (blue)", fontsize=11
    )
    handles = [
        Line2D([], [], color=POSTERIOR, lw=5, label="model: 50% interval (thin line: 90%)"),
        Line2D([], [], ls="", marker="D", mfc="white", color=DATA, label="reported share"),
        Line2D([], [], color=DATA, marker="|", ms=7, label="reported interval"),
        Line2D([], [], color=DATA, marker=">", ms=6, label="reported lower bound"),
    ]
    if has(tree, "posterior", "f_frontier"):
        handles.append(
            Patch(color=POSTERIOR_LIGHT, alpha=0.5, label="frontier lab in 2025: 90% interval")
        )
    ax.legend(handles=handles, loc="lower center", bbox_to_anchor=(0.5, 1.0), ncols=3, fontsize=8)
    notes = (
        "† a share of GPU-hours, dollars or energy: the likelihood compares the report with the "
        "model's share shifted by that unit's offset\n   (R&D runs at lower utilisation), so the "
        "blue FLOP-share estimate may sit left of the black report by design."
    )
    others = table.loc[
        (table["exclude"] == "") & (table["kind"].map(lambda k: KINDS[k].target) != "f"), "id"
    ].tolist()
    if others:
        notes += f"\nContrast and discount rows (in the predictive check): {', '.join(others)}."
    excluded = table.loc[table["exclude"] != "", "id"].tolist()
    if excluded:
        notes += f"\nShown in the data but not fitted: {', '.join(excluded)}."
    fig.supxlabel(notes, x=0.01, ha="left", fontsize=7.5, color="0.25")
    return fig


# ------------------------------------------------------------------------------------------------
# posterior predictive check and LOO-PIT


def bound_coverage(tree: xr.DataTree) -> pd.Series:
    """For each bound row, the share of posterior predictive latent values on the bound's side."""
    if not has(tree, "posterior_predictive", "bound_obs"):
        return pd.Series(dtype=float)
    pp = draws(tree["posterior_predictive"], "bound_obs")
    b = np.asarray(tree["observed_data"].ds["bound_obs"].values, dtype=float)
    ids = [str(v) for v in tree["observed_data"].ds["bound"].values]
    direction = (
        np.asarray(tree["constant_data"].ds["bound_dir"].values)
        if has(tree, "constant_data", "bound_dir")
        else np.ones(b.size)
    )
    hold = np.where(direction > 0, pp >= b, pp <= b)
    return pd.Series(hold.mean(axis=0), index=ids)


def predictive_check(tree: xr.DataTree, table: pd.DataFrame) -> Figure:
    """Posterior predictive check of every observed row, on its own scale (a share, a contrast ratio or
    a discount).

    Blue: 50% and 90% intervals of the values the fitted model would report for that row (its own
    measurement error and, for shares in another unit than FLOP, that unit's offset included). Black
    diamond: the value actually reported (latent-scale midpoint for interval rows). A well-fitting model
    has most diamonds inside the thin lines; about 1 in 10 may fall outside by chance. Bound rows are
    listed with the share of simulated values that respect the bound.
    """
    ds_pp = tree["posterior_predictive"].ds
    obs = tree["observed_data"].ds
    ids = [str(v) for v in obs["obs"].values] if "y_obs" in obs else []
    cov = bound_coverage(tree)
    info = table.set_index("id", drop=False)
    rows = info.loc[ids + list(cov.index)]
    left, _ = _row_labels(rows, dagger=False)
    n = len(rows)
    fig = new_figure((FIGSIZE[0], max(4.5, 0.34 * n + 1.9)))
    ax = fig.subplots()
    ys = np.arange(n)[::-1]
    targets = [TARGETS[KINDS[k].target] for k in rows["kind"]]
    lows, highs = [0.0], [1.0]
    if ids:
        sim_latent = draws(ds_pp, "y_obs")
        obs_latent = np.asarray(obs["y_obs"].values, dtype=float)
        sim = np.column_stack([targets[k].value(sim_latent[:, k]) for k in range(len(ids))])
        y_obs = np.array([float(targets[k].value(obs_latent[k])) for k in range(len(ids))])
        q = np.quantile(sim, [0.05, 0.95], axis=0)
        lows.append(float(min(q[0].min(), y_obs.min())))
        highs.append(float(max(q[1].max(), y_obs.max())))
        for k, y in enumerate(ys[: len(ids)]):
            q05, q25, q75, q95 = np.quantile(sim[:, k], [0.05, 0.25, 0.75, 0.95])
            ax.plot([q05, q95], [y, y], color=POSTERIOR, lw=1.5)
            ax.plot([q25, q75], [y, y], color=POSTERIOR, lw=5, solid_capstyle="butt")
            inside = q05 <= y_obs[k] <= q95
            ax.plot(
                [y_obs[k]],
                [y],
                ls="",
                marker="D",
                ms=6,
                mew=1.4,
                color=DATA if inside else CLAIM,
                mfc="white",
                zorder=3,
            )
    if len(cov):
        b_latent = np.asarray(obs["bound_obs"].values, dtype=float)
        for k, y in enumerate(ys[len(ids) :]):
            b = float(targets[len(ids) + k].value(b_latent[k]))
            lows.append(b)
            ax.plot([b], [y], marker="|", ms=10, mew=2, color=DATA)
            ax.annotate(
                "",
                xy=(b + 0.12, y),
                xytext=(b, y),
                arrowprops={"arrowstyle": "-|>", "color": DATA, "lw": 1.4},
            )
            ax.text(
                b + 0.14,
                y,
                f"{cov.iloc[k]:.0%} of simulated values respect this bound",
                va="center",
                fontsize=7.5,
            )
        if ids:
            ax.axhline(ys[len(ids) - 1] - 0.5, color="0.75", lw=0.8)
    ax.set_yticks(ys, left, fontsize=8.5)
    ax.set_xlim(min(lows) - 0.02, max(highs) + 0.02)
    ax.set_ylim(-0.8, n - 0.3)
    ax.set_xlabel(
        "reported value on its own scale: R&D share (in the row's unit), ratio of R&D intensities, "
        "or discount d",
        fontsize=8.5,
    )
    ax.grid(axis="x", color="0.9")
    ax.set_axisbelow(True)
    fig.suptitle(
        "Posterior predictive check: would the model produce the reported values?", fontsize=11
    )
    handles = [
        Line2D([], [], color=POSTERIOR, lw=5, label="simulated reports: 50% (thin line 90%)"),
        Line2D([], [], ls="", marker="D", mfc="white", color=DATA, label="reported, inside 90%"),
        Line2D([], [], ls="", marker="D", mfc="white", color=CLAIM, label="reported, outside 90%"),
    ]
    if len(cov):
        handles.append(Line2D([], [], color=DATA, marker=">", ms=6, label="reported lower bound"))
    ax.legend(handles=handles, loc="lower center", bbox_to_anchor=(0.5, 1.0), ncols=2, fontsize=8)
    left_ax, right_ax = ax.get_xlim()
    if left_ax < 0 < right_ax:
        ax.axvline(0, color="0.6", lw=0.6, ls=":")
    return fig


def loo_pit(tree: xr.DataTree) -> Figure:
    """LOO-PIT calibration of the Gaussian rows (arviz-plots ``plot_loo_pit``), labelled for readers.

    Each observed share's leave-one-out probability integral transform should look like a draw from
    a uniform distribution when the model is calibrated; the line is the ECDF of those values minus
    the uniform's. Needs the ``log_likelihood`` group. Censored lower-bound rows are left out (their
    PIT is not defined). The rows are not conditionally independent, so the predictive draws are each
    row's leave-one-out predictive given the parameters (``posterior_predictive.y_loo``), re-weighted by
    PSIS; replicated reports given the fitted effects (``y_obs``) have seen the row and would make the
    predictions look too good.
    """
    import arviz_plots as azp

    pp = tree["posterior_predictive"].ds
    if "y_loo" in pp:
        tree = tree.copy()
        tree["posterior_predictive"] = pp.assign(y_obs=pp["y_loo"]).drop_vars("y_loo")
    with warnings.catch_warnings():
        # Pareto-k warnings with few draws or observations are reported in the figure, not raised.
        warnings.simplefilter("ignore", UserWarning)
        pc = azp.plot_loo_pit(
            tree,
            var_names=["y_obs"],
            backend="matplotlib",
            figure_kwargs={"figsize": FIGSIZE, "dpi": DPI, "layout": "constrained"},
            visuals={"title": False, "xlabel": False, "ylabel": False},
        )
    fig = _detach(pc.get_viz("figure"))
    n = int(tree["observed_data"].ds["y_obs"].size)
    for ax in fig.axes:
        ax.set_xlabel("LOO-PIT value (0 to 1)")
        ax.set_ylabel("ECDF of LOO-PIT minus uniform")
        ax.set_title(
            f"LOO-PIT: calibration of leave-one-out predictions ({n} observed shares)", fontsize=11
        )
        ax.text(
            0.99,
            0.03,
            "Near 0: calibrated. Above then below 0: predictions too narrow;\n"
            "below then above: too wide. A hump above 0: reports sit low in their\n"
            "predictions; a dip below: they sit high. p: uniformity test (small p: miscalibrated).",
            transform=ax.transAxes,
            ha="right",
            va="bottom",
            fontsize=8,
            color="0.3",
        )
    return fig


# ------------------------------------------------------------------------------------------------
# savings


def ecosystem_curve(
    f: np.ndarray, d: np.ndarray, n_max: int = 20
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Savings of an open ecosystem of N = 1..n_max labs, per posterior draw.

    Returns ``(N, total, share)``: ``total[k, i]`` is the R&D avoided by ``N[k]`` labs for draw ``i``
    in multiples of one lab's development budget (``C = 1``), ``share`` the same as a share of the
    ecosystem's R&D when every lab works alone.
    """
    ns = np.arange(1, n_max + 1, dtype=float)
    g = sv.ecosystem_savings(1.0, f[None, :], d[None, :], ns[:, None])
    with np.errstate(invalid="ignore", divide="ignore"):
        share = np.where(g.alone > 0, g.saving / g.alone, 0.0)
    return ns, g.saving, share


def ecosystem_savings(tree: xr.DataTree, n_max: int = 20) -> Figure:
    """Savings against ecosystem size N (median, 50% and 90% bands), from the posterior draws.

    Left: R&D avoided by N labs sharing openly against the same N labs working alone, in multiples of
    one lab's development budget: ``(N - 1) f d`` (:func:`rdshare.core.savings.ecosystem_savings`,
    ``f = f_frontier``, no forking). Right: the same as a share of the ecosystem's R&D,
    ``d (N - 1) / N``.
    """
    post = tree["posterior"]
    f, d = draws(post, "f_frontier"), draws(post, "discount")
    ns, total, share = ecosystem_curve(f, d, n_max)
    fig = new_figure()
    axes = fig.subplots(1, 2)
    for ax, vals, ylabel in (
        (axes[0], total, "R&D avoided, in one lab's development budgets"),
        (axes[1], 100 * share, "R&D avoided, % of the ecosystem's R&D"),
    ):
        q = np.quantile(vals, [0.05, 0.25, 0.5, 0.75, 0.95], axis=1)
        ax.fill_between(ns, q[0], q[4], color=POSTERIOR_LIGHT, alpha=0.45, lw=0, label="90% band")
        ax.fill_between(ns, q[1], q[3], color=POSTERIOR, alpha=0.35, lw=0, label="50% band")
        ax.plot(ns, q[2], color=POSTERIOR, lw=2, label="median")
        ax.set_xlabel("number of labs sharing openly, N")
        ax.set_ylabel(ylabel, fontsize=9)
        ax.set_xlim(1, n_max)
        ax.axhline(0, color="0.6", lw=0.6)
        ax.set_xticks([1, 5, 10, 15, 20] if n_max == 20 else ax.get_xticks())
        ax.grid(color="0.9")
        ax.set_axisbelow(True)
        for side in ("top", "right"):
            ax.spines[side].set_visible(False)
    axes[0].set_title("Total saving: (N − 1) · f · d", fontsize=10)
    axes[1].set_title("Share of R&D avoided: d · (N − 1) / N", fontsize=10)
    axes[0].legend(loc="upper left", fontsize=8)
    fig.suptitle("What an open ecosystem of N labs saves against N labs working alone", fontsize=12)
    fig.supxlabel(
        "f: frontier R&D share (FLOP); d: knowledge-sharing discount (posterior draws, no forking;\n"
        "below 0, a negative d: open work costing more than it saves). "
        "How much of d comes from its prior rather than the data: see 'What the data taught' "
        "in the report.",
        fontsize=7.5,
        color="0.25",
    )
    return fig


#: Scenario outputs shown in the scenario plot, with plain labels (``{n}``, ``{lead}`` filled in).
SCENARIO_OUTPUTS: dict[str, str] = {
    "rd_compute": "R&D of one lab working alone",
    "savings": "avoided by one lab building on open work",
    "ecosystem_savings": "avoided by {n} labs sharing openly",
    "consortium_savings": "avoided by a {n}-lab consortium",
    "savings_lead_lab": "avoided by a closed lab {lead} ahead",
}


def scenario_outputs(
    scenarios: Mapping[str, object], tree: xr.DataTree, seed: int
) -> dict[str, dict]:
    """Evaluate each scenario on the posterior draws, and on the prior's where the run has them (seeded,
    so the report is reproducible).

    Returns ``{name: {"scenario": Scenario, "outputs": dict[str, Output], "prior_outputs": ...,
    "decisions": list[Decision]}}``; ``prior_outputs`` (None without a prior group) says what the
    priors alone imply, and ``decisions`` which comparisons the data decide and which an input does.
    """
    from rdshare.core.scenario import decisions, evaluate_with_inputs, required_draws

    out = {}
    for k, (name, sc) in enumerate(scenarios.items()):
        names = required_draws(sc)
        result = {"scenario": sc, "prior_outputs": None, "decisions": []}
        sampled = None
        for group, key in (("posterior", "outputs"), ("prior", "prior_outputs")):
            if all(has(tree, group, q) for q in names):
                d = {q: draws(tree[group], q) for q in names}
                rng = np.random.default_rng([int(seed), k])
                result[key], inputs = evaluate_with_inputs(sc, d, rng)
                sampled = inputs if key == "outputs" else sampled
        if "outputs" in result and sampled is not None:
            result["decisions"] = decisions(result["outputs"], sampled, result["prior_outputs"])
        out[name] = result
    return out


def _lead_text(sc) -> str:
    lead = sc.inputs.get("lead_months")
    if lead is None:
        return "0 months"
    if lead.is_fixed:
        return f"{lead.fixed:g} months"
    return f"{lead.low:g}-{lead.high:g} months"


def scenario_label(sc, key: str) -> str:
    """Plain label of one scenario output."""
    labs = sc.inputs.get("labs")
    n = f"{labs.fixed:g}" if labs is not None and labs.is_fixed else "N"
    return SCENARIO_OUTPUTS[key].format(n=n, lead=_lead_text(sc))


def human_amount(x: float, unit: str) -> str:
    """A compact amount with its unit: ``$3.1B``, ``18M GPU-hours``, ``2.1e+25 FLOP``."""
    if unit == "FLOP" or not np.isfinite(x):
        return f"{x:.2g} {unit}"
    x = float(f"{x:.2g}")  # round first, so 999,999 reads 1M, not 1000k
    scales = ((1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "k"), (1.0, ""))
    scale, suffix = next(((s, u) for s, u in scales if abs(x) >= s), (1.0, ""))
    num = f"{float(f'{x / scale:.2g}'):g}"
    if unit == "USD":
        return f"${num}{suffix}"
    return f"{num}{suffix} {unit}"


def scenario_rows(sc, outs: Mapping[str, object]) -> tuple[list[str], list[str]]:
    """(outputs worth plotting, notes on those left out) for one evaluated scenario."""
    keys, notes = [], []
    for key in SCENARIO_OUTPUTS:
        v = outs[key].values
        lead = sc.inputs.get("lead_months")
        if key in ("ecosystem_savings", "consortium_savings") and np.all(v == 0):
            notes.append("one lab, so no ecosystem or consortium saving")
            continue
        if key == "savings_lead_lab" and (lead is None or (lead.is_fixed and lead.fixed == 0)):
            notes.append("a lead of 0 months, so the closed-lab row would repeat the one-lab row")
            continue
        keys.append(key)
    return keys, list(dict.fromkeys(notes))


def scenario_savings(evaluated: Mapping[str, dict]) -> Figure:
    """Savings for each example scenario: one panel per scenario, median with 50% and 90% intervals.

    ``evaluated`` is what :func:`scenario_outputs` returns. Amounts are on a log axis in the
    scenario's unit. Grey is one lab's R&D working alone, for scale. Outputs that are zero in every
    draw (ecosystem and consortium savings of a single lab) or repeat another (a lead of 0 months)
    are left out and named in the panel.
    """
    names = list(evaluated)
    fig = new_figure((FIGSIZE[0] + 1.5, max(FIGSIZE[1], 2.15 * len(names) + 0.8)))
    axes = np.atleast_1d(fig.subplots(len(names), 1, squeeze=False)).ravel()
    for ax, name in zip(axes, names, strict=True):
        sc, outs = evaluated[name]["scenario"], evaluated[name]["outputs"]
        keys, notes = scenario_rows(sc, outs)
        unit = outs["rd_compute"].unit
        ys = np.arange(len(keys))[::-1]
        qs = {k: np.quantile(outs[k].values, [0.05, 0.25, 0.5, 0.75, 0.95]) for k in keys}
        lowest = min(q[0] for q in qs.values())
        xmax = max(q[4] for q in qs.values()) * 8
        # a negative discount makes savings negative (a cost): symmetric log scale, linear near 0
        linthresh = max(q[2] for q in qs.values()) * 1e-3
        xmin = lowest / 3 if lowest > 0 else lowest * 3 - linthresh
        for y, key in zip(ys, keys, strict=True):
            q05, q25, q50, q75, q95 = qs[key]
            color = PRIOR if key == "rd_compute" else POSTERIOR
            ax.plot([q05, q95], [y, y], color=color, lw=1.5)
            ax.plot([q25, q75], [y, y], color=color, lw=6, solid_capstyle="butt")
            ax.plot([q50], [y], "o", color="white", mec=color, ms=5, mew=1.5)
            ax.text(
                q95 * 1.15,
                y,
                f"median {human_amount(q50, unit)}",
                va="center",
                fontsize=7.5,
                color="0.25",
            )
        ax.set_xscale("symlog", linthresh=linthresh) if lowest <= 0 else ax.set_xscale("log")
        ax.set_xlim(xmin, xmax)
        if lowest <= 0:
            ax.axvline(0, color="0.5", lw=0.8, ls=":")
            notes.append("values left of the dotted line are costs (a negative discount)")
        ax.set_yticks(ys, [scenario_label(sc, k) for k in keys], fontsize=8.5)
        ax.set_ylim(-0.7, len(keys) - 0.3)
        xlabel = f"{unit} ({'symmetric ' if lowest <= 0 else ''}log scale)"
        if notes:
            xlabel += "".join(f"\nnot shown: {note}" for note in notes)
        ax.set_xlabel(xlabel, fontsize=8.5)
        ax.grid(axis="x", color="0.9", which="major")
        ax.set_axisbelow(True)
        ax.set_title(f"{name}: {sc.description or sc.name}", fontsize=9.5, loc="left")
    fig.suptitle(
        "Example scenarios: compute avoided by sharing (median, 50% and 90% intervals;\n"
        "grey: one lab's R&D working alone, for scale)",
        fontsize=11,
    )
    return fig


# ------------------------------------------------------------------------------------------------
# sampler diagnostics


def rank(tree: xr.DataTree, names: Sequence[str] = HEADLINE) -> Figure:
    """Rank plots of the headline quantities (arviz-plots ``plot_rank``), one line per chain.

    Each line is a chain's ECDF of fractional ranks minus the uniform's. Chains that explore the same
    distribution stay near zero; black points mark where a chain leaves a simultaneous 99% band, and
    p is the p-value of that test (small p: the chains disagree).
    """
    import arviz_plots as azp

    from rdshare.report.uniformity import fast_rank_stats

    names = [n for n in names if has(tree, "posterior", n)]
    ncols = 2 if len(names) > 1 else 1
    nrows = int(np.ceil(len(names) / ncols))
    with fast_rank_stats():  # the same test as arviz-stats', a fifth of the time
        pc = azp.plot_rank(
            tree,
            var_names=names,
            backend="matplotlib",
            col_wrap=ncols,
            figure_kwargs={
                "figsize": (FIGSIZE[0], max(FIGSIZE[1], 2.4 * nrows + 0.8)),
                "dpi": DPI,
                "layout": "constrained",
            },
            visuals={"xlabel": False},
        )
    fig = _detach(pc.get_viz("figure"))
    chains = [int(c) for c in tree["posterior"].ds["chain"].values]
    axes = [ax for ax in fig.axes if ax.get_visible() and ax.has_data()]
    for ax in axes:
        title = ax.get_title()
        q = QUANTITIES.get(title)
        ax.set_title(q.title if q is not None and q.title else title, fontsize=10)
        ax.set_xlabel("fractional rank (0 to 1)", fontsize=8.5)
        ax.set_ylabel("ECDF − uniform", fontsize=8.5)
        ax.axhline(0, color="0.6", lw=0.6, ls=":")
    colors = []
    if axes:
        colors = [line.get_color() for line in axes[0].get_lines()[: len(chains)]]
    if colors:
        handles = [
            Line2D([], [], color=c, lw=1.5, label=f"chain {ch}")
            for c, ch in zip(colors, chains, strict=False)
        ]
        fig.legend(handles=handles, loc="outside lower center", ncols=len(handles), fontsize=8.5)
    fig.suptitle(
        "Rank plots: do the chains agree? (lines near zero, few black points)", fontsize=12
    )
    return fig
