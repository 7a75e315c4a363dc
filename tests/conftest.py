"""Shared fixtures. MCMC is expensive to compile, so one small fit is made per session and reused."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import settings

os.environ.setdefault("MPLBACKEND", "Agg")

# Generated tests: CI and `make test` run a derandomized profile (the same examples every run, so a
# green suite stays green); `make fuzz` runs the randomised profile with many more examples
# (RDSHARE_FUZZ_FACTOR), and prints a reproduction blob for any failure it finds.
settings.register_profile("ci", derandomize=True, print_blob=True)
settings.register_profile("fuzz", derandomize=False, print_blob=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

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
    from rdshare.report import write_report_into

    folder = tmp_path_factory.mktemp("runs") / "small"
    small_fit.save(folder, command=["pytest"], extra_writers=[write_report_into])
    return folder
