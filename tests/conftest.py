"""Shared fixtures. MCMC is expensive to compile, so one small fit is made per session and reused."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("MPLBACKEND", "Agg")

FIXTURES = Path(__file__).parent / "fixtures"

#: Small but real settings for plumbing tests: enough draws for every group and plot, not for the gate.
SMALL = {"draws": 200, "tune": 300, "chains": 2, "prior_draws": 200}


def slow_scale() -> float:
    """Fraction of the full size slow tests run at (RDSHARE_SLOW_SCALE, default 0.1 = CI's reduced form)."""
    return float(os.environ.get("RDSHARE_SLOW_SCALE", "0.1"))


@pytest.fixture(scope="session")
def small_fit():
    """One small fit of the shipped data with the default priors (seed 1). Do not mutate it."""
    from rdshare.inference.fit import fit

    return fit(seed=1, **SMALL)


@pytest.fixture(scope="session")
def small_run(small_fit, tmp_path_factory):
    """The small fit saved as a run folder (with its report). Do not modify files in it."""
    folder = tmp_path_factory.mktemp("runs") / "small"
    writers = []
    try:
        from rdshare.report import write_report_into
    except ImportError:  # the report module lands separately
        pass
    else:
        writers.append(write_report_into)
    small_fit.save(folder, command=["pytest"], extra_writers=writers)
    return folder
