"""Every report plot, drawn from the session's small fit: a real, non-blank image of a readable size."""

from __future__ import annotations

import io

import matplotlib as mpl
import numpy as np
import pytest
from matplotlib.figure import Figure
from PIL import Image

from rdshare.core.scenario import load_scenario, shipped_scenarios
from rdshare.report import plots


def _scenarios():
    return {name: load_scenario(path) for name, path in shipped_scenarios().items()}


MAKERS = {
    "prior_posterior": lambda res: plots.prior_posterior(res.tree),
    "row_estimates": lambda res: plots.row_estimates(res.tree, res.dataset.table),
    "predictive_check": lambda res: plots.predictive_check(res.tree, res.dataset.table),
    "loo_pit": lambda res: plots.loo_pit(res.tree),
    "ecosystem_savings": lambda res: plots.ecosystem_savings(res.tree),
    "scenario_savings": lambda res: plots.scenario_savings(
        plots.scenario_outputs(_scenarios(), res.tree, seed=1)
    ),
    "rank": lambda res: plots.rank(res.tree),
}


def check_png(data: bytes, min_size=(600, 380)) -> None:
    """A decodable PNG, at least ``min_size`` pixels, with real content (not one flat colour)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(data) > 15_000
    img = Image.open(io.BytesIO(data))
    assert img.format == "PNG"
    assert img.size[0] >= min_size[0]
    assert img.size[1] >= min_size[1]
    gray = np.asarray(img.convert("L"), dtype=float)
    inked = (gray < 200).mean()  # share of clearly non-white pixels
    assert 0.01 < inked < 0.6, inked
    assert gray.std() > 10


@pytest.mark.parametrize("name", list(MAKERS))
def test_plot_is_a_real_image(small_fit, name, tmp_path):
    fig = MAKERS[name](small_fit)
    assert isinstance(fig, Figure)
    path = tmp_path / f"{name}.png"
    fig.savefig(path, dpi=plots.DPI)
    assert path.exists()
    check_png(path.read_bytes())
    # every axis a reader sees has a label or a title
    for ax in fig.axes:
        if ax.get_visible() and ax.has_data():
            assert ax.get_xlabel() or ax.get_title()


def test_plots_leave_no_global_matplotlib_state(small_fit):
    import matplotlib.pyplot as plt

    before = {k: str(v) for k, v in mpl.rcParams.items()}
    open_before = plt.get_fignums()
    for make in MAKERS.values():
        make(small_fit)
    assert plt.get_fignums() == open_before
    after = {k: str(v) for k, v in mpl.rcParams.items()}
    assert after == before


def test_importing_the_report_changes_no_rcparams():
    import subprocess
    import sys

    code = (
        "import matplotlib as mpl; b = dict(mpl.rcParams); "
        "import rdshare.report, rdshare.report.plots; "
        "assert {k for k in b if str(b[k]) != str(mpl.rcParams[k])} == set()"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_ecosystem_curve_matches_the_savings_formula():
    f = np.array([0.5, 0.8])
    d = np.array([0.2, 0.4])
    ns, total, share = plots.ecosystem_curve(f, d, n_max=5)
    assert ns.tolist() == [1, 2, 3, 4, 5]
    np.testing.assert_allclose(total, (ns[:, None] - 1) * f * d)
    np.testing.assert_allclose(share, d * (ns[:, None] - 1) / ns[:, None])
    assert np.all(total[0] == 0)


@pytest.mark.parametrize(
    ("x", "unit", "text"),
    [
        (3.1e9, "USD", "$3.1B"),
        (5.5e8, "USD", "$550M"),
        (1.8e7, "GPU-hours", "18M GPU-hours"),
        (350e3, "GPU-hours", "350k GPU-hours"),
        (12.0, "MWh", "12 MWh"),
        (2.1e25, "FLOP", "2.1e+25 FLOP"),
    ],
)
def test_human_amount(x, unit, text):
    assert plots.human_amount(x, unit) == text


def test_bound_coverage_is_a_share_per_bound_row(small_fit):
    cov = plots.bound_coverage(small_fit.tree)
    assert list(cov.index) == [str(v) for v in small_fit.tree["observed_data"].ds["bound"].values]
    assert ((cov >= 0) & (cov <= 1)).all()
