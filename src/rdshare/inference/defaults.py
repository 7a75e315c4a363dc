"""Sampler defaults in one place, importable without PyMC (the CLI's --help shows them)."""

from __future__ import annotations

import os


def machine_cores() -> int:
    """CPU cores this process may use (its affinity where the OS says, else the machine's count)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # not Linux
        return max(1, os.cpu_count() or 1)


DEFAULTS = {
    "seed": 20260512,
    "draws": 1500,
    "tune": 1000,
    "chains": 4,
    "cores": machine_cores(),
    "target_accept": 0.995,
    "prior_draws": 1000,
}
