"""rdshare: Bayesian estimates of the R&D share of AI labs' compute and of what open sharing saves.

The top-level names load their layer on first use, so ``import rdshare`` is cheap and has no side
effects::

    import rdshare
    res = rdshare.fit(seed=1)            # PyMC is imported here, not before
    res.verdict.passed, res.headline()
    run = rdshare.load_run("outputs/RUN")

Layers: :mod:`rdshare.core` (numpy/pandas, never imports PyMC), :mod:`rdshare.inference` (PyMC model,
sampling, diagnostics), interface (:mod:`rdshare.cli`, :mod:`rdshare.report`).
"""

from __future__ import annotations

from importlib import import_module, metadata

try:
    __version__ = metadata.version("rdshare")
except metadata.PackageNotFoundError:  # pragma: no cover - source tree without install
    __version__ = "0+unknown"

_LAZY = {
    "fit": ("rdshare.inference.fit", "fit"),
    "FitConfig": ("rdshare.inference.fit", "FitConfig"),
    "load_run": ("rdshare.inference.results", "load_run"),
    "load_data": ("rdshare.core.dataset", "load"),
    "load_priors": ("rdshare.core.priors", "load"),
}

__all__ = ["FitConfig", "__version__", "fit", "load_data", "load_priors", "load_run"]


def __getattr__(name: str):
    if name in _LAZY:
        module, attr = _LAZY[name]
        value = getattr(import_module(module), attr)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'rdshare' has no attribute {name!r}")
