"""Draw parameters from the priors and simulate datasets with a design's structure (numpy only).

Simulation-based calibration fits the PyMC model (:mod:`rdshare.inference.model`) to data simulated
here. Both sides build the linear predictor with :mod:`rdshare.core.generative`, so SBC checks the
likelihood forms, the priors as PyMC reads them and the sampler; the shared arithmetic itself is checked
against hand computations (``tests/core/test_generative.py``) and the numpy log-likelihood against
PyMC's (``tests/inference/test_fast_predictive.py``).
"""

from __future__ import annotations

import numpy as np

from rdshare.core import generative as gen
from rdshare.core.design import Design
from rdshare.core.priors import PriorSet
from rdshare.core.quantities import PARAMETERS

#: The model's top-level parameters (one prior each), in the order simulations report them.
TOP_LEVEL = PARAMETERS


def draw_prior(priors: PriorSet, n_labs: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """One draw of every parameter of the full model from the priors, with the lab effects ``z_lab``,
    ``u_lab`` and the derived ``f_follower``."""
    p = gen.draw_prior(priors, "full", n_labs, 1, rng, noncentred=True)
    return derived({k: (float(v[0]) if v.ndim == 1 else v[0]) for k, v in p.items()})


def derived(p: dict) -> dict:
    """``p`` with ``u_lab = sigma_lab * z_lab`` and ``f_follower`` added (for one draw of the full model)."""
    out = dict(p)
    out["u_lab"] = np.asarray(p["sigma_lab"]) * np.asarray(p["z_lab"])
    out["f_follower"] = float(gen.f_follower(out))
    return out


simulate = gen.simulate

__all__ = ["TOP_LEVEL", "Design", "derived", "draw_prior", "simulate"]
