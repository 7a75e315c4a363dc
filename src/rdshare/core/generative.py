"""The generative model, written once: linear predictor, new-lab draws, observations, log-likelihood.

Every computation of the model's arithmetic outside PyMC's own log density goes through this module:
the simulator of simulation-based calibration (:mod:`rdshare.core.simulate`), the prior, predictive
and log-density groups of a fit (:mod:`rdshare.inference.fast_predictive`), the new-lab predictive of
``rdshare predict`` (:mod:`rdshare.core.predict`) and ``f_new_lab`` (:mod:`rdshare.inference.fit`). The
PyMC model (:mod:`rdshare.inference.model`) builds its graph with the same :func:`linear_predictor` and
:func:`row_location`, passing PyTensor's operations instead of numpy's (:class:`Ops`), so the arithmetic
exists in one place; tests check the numpy log-likelihood against PyMC's to 1e-10.

Sample axes
    Parameters are arrays whose leading axes are sample axes of any shape (``()`` for one draw,
    ``(draws,)``, ``(chain, draw)``); per-lab parameters (``u_lab``) carry one trailing axis. Results have
    the sample axes followed by the row axis.

The model (``docs/model.md``)::

    alpha  = logit(f_frontier)
    eta_i  = alpha + beta_pretraining pre_i + beta_posttraining post_i + beta_era era_i + u_lab[lab_i]
             + log(1 - discount) follower_i
    mu_i   = eta_i + unit_offset [unit_i in (dollars, energy)]
    y_i    ~ Normal(mu_i, sqrt(s_i^2 + sigma_meas[prov_i]^2))        Gaussian rows
    x_i    ~ Normal(mu_i, sigma_meas[prov_i]), censored at b_i        bound rows
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.special import expit, log_ndtr

from rdshare.core.design import Covariates, Design
from rdshare.core.quantities import PARAMETERS, REF_YEAR, SIGMA_MEAS, Variant, variant

_LOG_SQRT_2PI = 0.5 * np.log(2.0 * np.pi)


@dataclass(frozen=True)
class Ops:
    """The array operations the model's arithmetic needs, for numpy or PyTensor.

    ``col(v)`` puts a per-draw value in front of the row axis (numpy: ``v[..., None]``; PyTensor, whose
    parameters are scalars, leaves it alone); ``take(u, idx)`` picks per-lab values for rows.
    """

    log: Callable
    log1p: Callable
    sqrt: Callable
    stack: Callable
    zeros: Callable
    col: Callable
    take: Callable


NUMPY = Ops(
    log=np.log,
    log1p=np.log1p,
    sqrt=np.sqrt,
    stack=lambda xs: np.stack([np.asarray(x) for x in xs], axis=-1),
    zeros=np.zeros,
    col=lambda v: np.asarray(v)[..., None],
    take=lambda u, idx: np.asarray(u)[..., idx],
)


def _variant(v: str | Variant) -> Variant:
    return v if isinstance(v, Variant) else variant(v)


def logit(p, ops: Ops = NUMPY):
    """Log-odds of a share."""
    return ops.log(p) - ops.log1p(-p)


def log_keep(discount, ops: Ops = NUMPY):
    """``log(1 - d)``: the follower's log R&D intensity relative to a leader's."""
    return ops.log1p(-discount)


def linear_predictor(
    x: Covariates | Any,
    p: Mapping[str, Any],
    v: str | Variant,
    lab_effect: Any = None,
    ops: Ops = NUMPY,
    n_rows: int | None = None,
):
    """Log-odds of f for each row of ``x``, without the unit offset.

    Parameters
    ----------
    x : Covariates
        Per-row ``pretraining``, ``posttraining``, ``era`` and ``follower`` (arrays or PyTensor data).
    p : mapping
        Parameter draws (see "Sample axes").
    v : str or Variant
        The model variant: ``pooled`` has no covariates or lab effects; only ``full`` has a discount.
    lab_effect : array, optional
        Each row's lab effect, sample axes then rows (``u_lab`` taken at the rows' labs, or a fresh
        draw for a new lab); required unless the variant is pooled.
    ops : Ops
        numpy (default) or PyTensor operations.
    n_rows : int, optional
        Number of rows (pooled variant only; default ``len(x.follower)``).
    """
    v = _variant(v)
    alpha = ops.col(logit(p["f_frontier"], ops))
    if not v.lab_effects:
        return alpha + ops.zeros(len(x.follower) if n_rows is None else n_rows)
    eta = (
        alpha
        + ops.col(p["beta_pretraining"]) * x.pretraining
        + ops.col(p["beta_posttraining"]) * x.posttraining
        + ops.col(p["beta_era"]) * x.era
        + lab_effect
    )
    if v.discount:
        eta = eta + ops.col(log_keep(p["discount"], ops)) * x.follower
    return eta


def sigma_meas(p: Mapping[str, Any], ops: Ops = NUMPY):
    """The measurement-error scales stacked in provenance order (trailing axis)."""
    return ops.stack([p[k] for k in SIGMA_MEAS])


def row_location(design: Design | Any, eta, p: Mapping[str, Any], ops: Ops = NUMPY):
    """(mu, sd) per row: ``mu = eta + unit_offset * offset_unit``, ``sd = sigma_meas[provenance]``."""
    mu = eta + ops.col(p["unit_offset"]) * design.offset_unit
    sd = ops.take(sigma_meas(p, ops), design.prov_idx)
    return mu, sd


def gaussian_scale(s, sd, ops: Ops = NUMPY):
    """The sd of a Gaussian row: its own stated sd and the measurement error, in quadrature."""
    return ops.sqrt(s**2 + sd**2)


# ------------------------------------------------------------------------------------------------
# numpy: the groups of a fit, simulation, prediction


def lab_effects(design: Design, p: Mapping[str, Any]) -> np.ndarray:
    """Each row's lab effect ``u_lab[lab_i]`` (sample axes, rows)."""
    return NUMPY.take(p["u_lab"], design.lab_idx)


def eta_rows(design: Design, p: Mapping[str, Any], v: str | Variant) -> np.ndarray:
    """:func:`linear_predictor` for the design's rows with their labs' effects."""
    v = _variant(v)
    u = lab_effects(design, p) if v.lab_effects else None
    return linear_predictor(design.x, p, v, u, n_rows=design.n_rows)


def f_follower(p: Mapping[str, Any]) -> np.ndarray:
    """R&D share of a follower (full pipeline, reference year, typical lab): the model's
    ``logistic(logit f_frontier + log(1 - d))``."""
    return expit(logit(np.asarray(p["f_frontier"])) + log_keep(np.asarray(p["discount"])))


def deterministics(design: Design, p: Mapping[str, Any], v: str | Variant) -> dict[str, np.ndarray]:
    """``sigma_meas``, ``f_follower`` (with a discount) and ``f_row`` from the parameters."""
    v = _variant(v)
    out = {"sigma_meas": sigma_meas(p)}
    if v.discount:
        out["f_follower"] = f_follower(p)
    out["f_row"] = expit(eta_rows(design, p, v))
    return out


def draw_prior(
    priors,
    v: str | Variant,
    n_labs: int,
    draws: int,
    rng: np.random.Generator,
    *,
    noncentred: bool = False,
) -> dict[str, np.ndarray]:
    """``draws`` joint draws of the variant's parameters and lab effects from the priors.

    Draw order (fixed, so a seed gives the same draws everywhere): each parameter in the variant's order,
    then the standard-normal lab effects ``z`` (``draws`` x ``n_labs``); ``u_lab = sigma_lab z``
    (and ``z_lab = z`` when ``noncentred``).
    """
    v = _variant(v)
    p = {name: priors[name].sample(draws, rng) for name in v.parameters}
    if v.lab_effects:
        z = rng.standard_normal((draws, n_labs))
        if noncentred:
            p["z_lab"] = z
        p["u_lab"] = p["sigma_lab"][:, None] * z
    return p


def draw_observations(
    design: Design, p: Mapping[str, Any], v: str | Variant, rng: np.random.Generator
) -> dict[str, np.ndarray]:
    """``y_obs`` and ``bound_obs`` drawn given parameters (censored draws clipped to their limits)."""
    mu, sd = row_location(design, eta_rows(design, p, v), p)
    out = {}
    g, b = design.gauss_idx, design.bound_idx
    if g.size:
        scale = gaussian_scale(design.s, sd[..., g])
        out["y_obs"] = mu[..., g] + scale * rng.standard_normal(mu[..., g].shape)
    if b.size:
        x = mu[..., b] + sd[..., b] * rng.standard_normal(mu[..., b].shape)
        out["bound_obs"] = np.clip(x, design.bound_lower, design.bound_upper)
    return out


def _normal_logpdf(x, mu, sigma):
    z = (x - mu) / sigma
    return -0.5 * z**2 - np.log(sigma) - _LOG_SQRT_2PI


def log_likelihood(design: Design, p: Mapping[str, Any], v: str | Variant) -> dict[str, np.ndarray]:
    """Pointwise log likelihood of the observed data: ``y_obs`` [obs] and ``bound_obs`` [bound].

    A bound row is PyMC's ``Censored(Normal(mu, sigma_meas), lower, upper)`` observed at ``b``:
    ``log P(x >= b)`` when ``b`` is the upper limit, ``log P(x <= b)`` when it is the lower one.
    """
    mu, sd = row_location(design, eta_rows(design, p, v), p)
    out = {}
    g, bi = design.gauss_idx, design.bound_idx
    if g.size:
        out["y_obs"] = _normal_logpdf(design.y, mu[..., g], gaussian_scale(design.s, sd[..., g]))
    if bi.size:
        m, s = mu[..., bi], sd[..., bi]
        b, lower, upper = design.b, design.bound_lower, design.bound_upper
        z = (b - m) / s
        ll = np.where(
            b == lower,
            log_ndtr(z),  # log P(x <= b)
            np.where(b == upper, log_ndtr(-z), _normal_logpdf(b, m, s)),  # log P(x >= b) or density
        )
        out["bound_obs"] = np.where((b < lower) | (b > upper), -np.inf, ll)
    return out


def log_density(x, mu, sigma):
    """Normal log density, elementwise (for the lab effects' log prior)."""
    return _normal_logpdf(x, mu, sigma)


def simulate(design: Design, p: Mapping[str, Any], rng: np.random.Generator) -> Design:
    """A dataset with ``design``'s structure simulated from one draw ``p`` of the full model.

    Gaussian rows get a new observation; bound rows a new direction (the latent log-odds at or above
    the bound, or below it).
    """
    mu, sd = row_location(design, eta_rows(design, p, "full"), p)
    g = design.gauss_idx
    y = mu[g] + rng.standard_normal(len(g)) * gaussian_scale(design.s, sd[g])
    bi = design.bound_idx
    x = mu[bi] + rng.standard_normal(len(bi)) * sd[bi]
    return design.with_observations(y, x >= design.b)


def new_lab(
    p: Mapping[str, Any],
    x: Covariates,
    z: np.ndarray,
    v: str | Variant = "full",
    *,
    offset: bool = False,
) -> np.ndarray:
    """f for a new, unseen lab with covariates ``x`` (one row), per draw.

    The lab effect is unknown, so it is a fresh draw from the between-lab distribution:
    ``sigma_lab * z`` with ``z`` standard normal, one per draw. With ``offset`` the unit offset is added
    (a dollar or energy share). Parameters absent from ``p`` that the variant lacks count as 0.
    """
    v = _variant(v)
    if v.lab_effects:
        u = NUMPY.col(np.asarray(p["sigma_lab"]) * z)
        eta = linear_predictor(x, p, v, u)
    else:
        eta = linear_predictor(x, p, v, n_rows=1)
    if offset:
        eta = eta + NUMPY.col(p["unit_offset"])
    return expit(eta[..., 0])


def frontier(year: int = REF_YEAR) -> Covariates:
    """Covariates of one frontier leader's full pipeline in ``year``."""
    return Covariates.one(position="leader", scope="full", year=year)


__all__ = [
    "NUMPY",
    "PARAMETERS",
    "Ops",
    "deterministics",
    "draw_observations",
    "draw_prior",
    "eta_rows",
    "f_follower",
    "frontier",
    "gaussian_scale",
    "linear_predictor",
    "log_density",
    "log_keep",
    "log_likelihood",
    "logit",
    "new_lab",
    "row_location",
    "sigma_meas",
    "simulate",
]
