"""Draw parameters from the priors and simulate datasets with a design's structure (numpy only).

Simulation-based calibration fits the PyMC model (:mod:`rdshare.inference.model`) to data simulated
here. The simulator draws the lab, programme and estimator effects explicitly and the noise row by row
(:func:`rdshare.core.generative.simulate`), while the model integrates the effects out and samples the
bound rows' latent values, so SBC checks the marginalisation, the augmentation, the priors as PyMC reads
them and the sampler. Both sides take the fixed effects and covariance pieces from
:mod:`rdshare.core.generative`, which is checked against hand computations
(``tests/core/test_generative.py``) and its log density against PyMC's
(``tests/inference/test_fast_predictive.py``).
"""

from __future__ import annotations

import numpy as np

from rdshare.core import generative as gen
from rdshare.core.design import Design
from rdshare.core.priors import PriorSet
from rdshare.core.quantities import PARAMETERS

#: The model's top-level parameters (one prior each), in the order simulations report them.
TOP_LEVEL = PARAMETERS


def draw_prior(priors: PriorSet, rng: np.random.Generator) -> dict[str, float]:
    """One draw of every parameter of the full model from the priors, with the derived shares
    (``f_follower``, ``f_frontier_<unit>``). The grouped effects are drawn by :func:`simulate`."""
    p = {k: float(v[0]) for k, v in gen.draw_prior(priors, "full", 1, rng).items()}
    return derived(p)


def derived(p: dict) -> dict:
    """``p`` with the derived shares of the full model added (one draw)."""
    return {**p, **{k: float(v) for k, v in gen.derived(p, "full").items()}}


simulate = gen.simulate

__all__ = ["TOP_LEVEL", "Design", "derived", "draw_prior", "simulate"]
