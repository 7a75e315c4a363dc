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
    "tune": 500,
    "chains": 4,
    "cores": machine_cores(),
    "target_accept": 0.97,
    "prior_draws": 4000,
}


def setting_problems(config, whole: tuple[tuple[str, int], ...]) -> list:
    """Located problems with a sampler config's settings: whole numbers at least their minimum, a seed
    in [0, 2**32) and ``target_accept`` in [0.5, 1) (options named as on the command line)."""
    from rdshare.errors import Problem

    problems = []
    for name, lo in whole:
        v = getattr(config, name)
        if not isinstance(v, int) or isinstance(v, bool) or v < lo:
            option = f"--{name.replace('_', '-')}"
            problems.append(
                Problem("<command line>", f"{v!r} must be a whole number >= {lo}", field=option)
            )
    seed = config.seed
    if not isinstance(seed, int) or isinstance(seed, bool) or not 0 <= seed < 2**32:
        msg = f"{seed!r} must be a whole number in [0, 2**32)"
        problems.append(Problem("<command line>", msg, field="--seed"))
    if not 0.5 <= config.target_accept < 1.0:
        msg = f"{config.target_accept!r} must be in [0.5, 1)"
        problems.append(Problem("<command line>", msg, field="--target-accept"))
    return problems
