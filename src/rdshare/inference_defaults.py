"""Sampler defaults in one place, importable without PyMC (the CLI's --help shows them)."""

DEFAULTS = {
    "seed": 20260512,
    "draws": 1500,
    "tune": 1000,
    "chains": 4,
    "cores": 2,
    "target_accept": 0.995,
    "prior_draws": 1000,
}
