"""The generative model, written once: fixed effects, mean and covariance, draws, log-likelihood.

Every computation of the model's arithmetic goes through this module. The PyMC model
(:mod:`rdshare.inference.model`) builds its graph with :func:`fixed_effects`, :func:`mean`,
:func:`covariance` and the derived shares, passing PyTensor's operations (:class:`Ops`); the simulator of
simulation-based calibration, the prior, predictive and log-density groups of a fit, ``rdshare predict``
and ``f_new_lab`` call the numpy side. Tests check the numpy log density against PyMC's model log density
to 1e-10 (``tests/inference/test_fast_predictive.py``) and the arithmetic against hand-written formulas
(``tests/core/test_generative.py``).

The model (``docs/model.md``; the arrays come from :mod:`rdshare.core.design`)::

    theta  = (logit f_frontier, beta_pretraining, beta_posttraining, beta_era, log(1 - discount),
              offset_gpu_hours, offset_dollars, offset_energy)
    v      = X theta + Z_lab u + Z_programme w_p + Z_estimator w_e + L e       (one element per row)
    u ~ N(0, sigma_lab), w_p ~ N(0, sigma_programme), w_e ~ N(0, sigma_estimator),
    e_i ~ N(0, sqrt(s_i^2 + sigma_meas[prov_i]^2))
    marginally  v ~ MVN(X theta, C),  C = K0 + sum_k tau_k^2 K[k]

Gaussian rows observe their element of ``v``; a bound row's element is known only to lie above (or below)
its bound. The model integrates the grouped effects out (no funnel at small scales) and samples each
bound row's element as a latent value on its side of the bound (data augmentation: the marginal of the
augmented density is exactly the censored likelihood).

Sample axes
    Parameters are arrays whose leading axes are sample axes of any shape (``()`` for one draw,
    ``(draws,)``, ``(chain, draw)``). Results have the sample axes first.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.special import expit, log_ndtr

from rdshare.core.design import FIXED, Covariates, Design
from rdshare.core.quantities import (
    GROUP_SCALES,
    OFFSETS,
    PARAMETERS,
    REF_YEAR,
    SIGMA_MEAS,
    Variant,
    share_in,
    variant,
)

_LOG_2PI = float(np.log(2.0 * np.pi))


@dataclass(frozen=True)
class Ops:
    """The array operations the model's arithmetic needs, for numpy or PyTensor."""

    log: Callable
    log1p: Callable
    exp: Callable
    sigmoid: Callable
    stack: Callable
    matvec: Callable  # matvec(X, theta): X @ theta over the trailing axis of theta
    combine: Callable  # combine(tau2, K): sum_k tau2[..., k] K[k]


NUMPY = Ops(
    log=np.log,
    log1p=np.log1p,
    exp=np.exp,
    sigmoid=expit,
    stack=lambda xs: np.stack(
        np.broadcast_arrays(*[np.asarray(x, dtype=float) for x in xs]), axis=-1
    ),
    matvec=lambda X, theta: np.asarray(theta) @ np.asarray(X).T,
    combine=lambda tau2, K: np.tensordot(np.asarray(tau2), np.asarray(K), axes=([-1], [0])),
)


def _variant(v: str | Variant) -> Variant:
    return v if isinstance(v, Variant) else variant(v)


def logit(p, ops: Ops = NUMPY):
    """Log-odds of a share."""
    return ops.log(p) - ops.log1p(-p)


def log_keep(discount, ops: Ops = NUMPY):
    """``log(1 - d)``: a follower's log R&D per unit of final run relative to a leader's."""
    return ops.log1p(-discount)


#: How a fixed effect is made from its parameter (:func:`fixed_effect_sources`).
THETA_MAPS: dict[str, Callable] = {
    "identity": lambda x, ops: x,
    "logit": logit,
    "log_keep": log_keep,
}


def fixed_effect_sources(v: str | Variant) -> tuple[tuple[str, str] | None, ...]:
    """Where each fixed effect (:data:`rdshare.core.design.FIXED` order) comes from in a variant:
    ``(parameter, map)`` with a map of :data:`THETA_MAPS`, or None for a zero (the pooled variant has no
    covariates, and only the full model has a discount). :func:`fixed_effects` and the sampler's log
    density (:mod:`rdshare.inference.density`) both read this table."""
    v = _variant(v)
    betas = [(n, "identity") if v.lab_effects else None for n in FIXED[1:4]]
    keep = ("discount", "log_keep") if v.discount else None
    return (("f_frontier", "logit"), *betas, keep, *((n, "identity") for n in OFFSETS.values()))


def scale_sources(v: str | Variant) -> tuple[str | None, ...]:
    """The parameter behind each scale (:data:`rdshare.core.design.SCALES` order), or None for a zero (a
    pooled variant has no grouped effects). Read by :func:`scales` and the sampler's log density."""
    v = _variant(v)
    return (*(n if v.lab_effects else None for n in GROUP_SCALES), *SIGMA_MEAS)


def fixed_effects(p: Mapping[str, Any], v: str | Variant, ops: Ops = NUMPY):
    """``theta`` (trailing axis in :data:`rdshare.core.design.FIXED` order) for a variant
    (:func:`fixed_effect_sources`)."""
    parts = [None if s is None else THETA_MAPS[s[1]](p[s[0]], ops) for s in fixed_effect_sources(v)]
    zero = parts[0] * 0.0  # logit f_frontier: every variant has it
    return ops.stack([zero if x is None else x for x in parts])


def scales(p: Mapping[str, Any], v: str | Variant, ops: Ops = NUMPY):
    """``tau`` (trailing axis in :data:`rdshare.core.design.SCALES` order) for a variant
    (:func:`scale_sources`)."""
    zero = p[SIGMA_MEAS[0]] * 0.0
    return ops.stack([zero if n is None else p[n] for n in scale_sources(v)])


def bound_latent(b, direction, z, ops: Ops = NUMPY):
    """A bound row's latent value from its unconstrained ``z``: ``b + direction * exp(z)``, on its side
    of the bound ``b`` (direction +1: at or above; -1: below)."""
    return b + direction * ops.exp(z)


def mean(design: Design | Any, p: Mapping[str, Any], v: str | Variant, ops: Ops = NUMPY):
    """``X theta``: the mean of every row's latent value."""
    return ops.matvec(design.X, fixed_effects(p, v, ops))


def covariance(design: Design | Any, p: Mapping[str, Any], v: str | Variant, ops: Ops = NUMPY):
    """``C = K0 + sum_k tau_k^2 K[k]``: the covariance of the rows' latent values."""
    tau = scales(p, v, ops)
    return design.K0 + ops.combine(tau**2, design.K)


def f_follower(p: Mapping[str, Any], ops: Ops = NUMPY):
    """R&D share (FLOP) of a follower: full pipeline, reference year, typical lab."""
    return ops.sigmoid(logit(p["f_frontier"], ops) + log_keep(p["discount"], ops))


def f_in_unit(p: Mapping[str, Any], unit: str, ops: Ops = NUMPY):
    """A frontier lab's share measured in ``unit``: ``logistic(logit f_frontier + offset_unit)``."""
    return ops.sigmoid(logit(p["f_frontier"], ops) + p[OFFSETS[unit]])


def derived(p: Mapping[str, Any], v: str | Variant) -> dict[str, np.ndarray]:
    """The derived quantities that are functions of the parameters (numpy): ``f_frontier`` in each unit
    and, with a discount, ``f_follower``."""
    v = _variant(v)
    out = {share_in(unit): f_in_unit(p, unit) for unit in OFFSETS}
    if v.discount:
        out["f_follower"] = f_follower(p)
    return out


# ------------------------------------------------------------------------------------------------
# numpy: the latent vector, densities, conditionals


def latent(design: Design, x_bound: np.ndarray | None = None) -> np.ndarray:
    """Every row's latent value: the observations for Gaussian rows, ``x_bound`` for bound rows.

    ``x_bound`` has the sample axes then one value per bound row (None: no bound rows).
    """
    y = np.asarray(design.y, dtype=float)
    if not design.bound_idx.size:
        return _place(design, y, np.zeros(0))
    xb = np.asarray(x_bound, dtype=float)
    return _place(design, y, xb)


def _place(design: Design, y: np.ndarray, xb: np.ndarray) -> np.ndarray:
    shape = np.broadcast_shapes(y.shape[:-1] if y.ndim > 1 else (), xb.shape[:-1])
    out = np.empty((*shape, design.n_rows))
    out[..., design.gauss_idx] = y
    out[..., design.bound_idx] = xb
    return out


def _chol(C: np.ndarray) -> np.ndarray:
    return np.linalg.cholesky(C)


def mvn_logpdf(vals: np.ndarray, m: np.ndarray, C: np.ndarray) -> np.ndarray:
    """Multivariate normal log density, batched over leading axes."""
    chol = _chol(C)
    r = (vals - m)[..., None]
    z = np.linalg.solve(chol, r)[..., 0]
    logdet = 2.0 * np.sum(np.log(np.diagonal(chol, axis1=-2, axis2=-1)), axis=-1)
    return -0.5 * (vals.shape[-1] * _LOG_2PI + logdet + np.sum(z**2, axis=-1))


def conditionals(
    vals: np.ndarray, m: np.ndarray, C: np.ndarray, P: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Each element's mean and sd given every other element (Bürkner, Gabry and Vehtari 2021):
    with ``P = C^-1`` (computed unless given) and ``g = P (v - m)``, mean ``v_i - g_i / P_ii``, variance
    ``1 / P_ii``."""
    P = np.linalg.inv(C) if P is None else P
    g = (P @ (vals - m)[..., None])[..., 0]
    d = np.diagonal(P, axis1=-2, axis2=-1)
    return vals - g / d, 1.0 / np.sqrt(d)


def _normal_logpdf(x, mu, sigma):
    z = (x - mu) / sigma
    return -0.5 * z**2 - np.log(sigma) - 0.5 * _LOG_2PI


def log_density(x, mu, sigma):
    """Normal log density, elementwise."""
    return _normal_logpdf(x, mu, sigma)


def log_joint(design: Design, p: Mapping[str, Any], v: str | Variant, x_bound=None) -> np.ndarray:
    """``log MVN(v | X theta, C)`` of the augmented latent vector (Gaussian rows and bound latents)."""
    vals = latent(design, x_bound)
    return mvn_logpdf(vals, mean(design, p, v), covariance(design, p, v))


def log_likelihood(
    design: Design, p: Mapping[str, Any], v: str | Variant, x_bound=None
) -> dict[str, np.ndarray]:
    """Pointwise log likelihood for leave-one-out, one term per row, each given every other row.

    ``y_obs`` [obs]: a Gaussian row's log density given the others (the non-factorised normal model's LOO
    term); ``bound_obs`` [bound]: the log probability that a bound row's latent value lies on its side of
    the bound, given the others. ``by_lab`` [lab]: the log density of a lab's Gaussian rows jointly given
    every other lab's rows, plus its bound rows' terms (for a leave-one-lab-out first look).
    """
    vals = latent(design, x_bound)
    m, C = mean(design, p, v), covariance(design, p, v)
    P = np.linalg.inv(C)
    cm, cs = conditionals(vals, m, C, P)
    out = {}
    g, bi = design.gauss_idx, design.bound_idx
    if g.size:
        out["y_obs"] = _normal_logpdf(vals[..., g], cm[..., g], cs[..., g])
    if bi.size:
        z = (design.b - cm[..., bi]) / cs[..., bi]
        out["bound_obs"] = np.where(design.bound_dir > 0, log_ndtr(-z), log_ndtr(z))
    out["by_lab"] = _lab_terms(design, vals, m, P, out)
    return out


def _lab_terms(design: Design, vals, m, P, pointwise) -> np.ndarray:
    """Per lab: the block conditional log density of its Gaussian rows, plus its bound rows' terms
    (``P`` the precision matrix ``C^-1``)."""
    n_labs = design.n_labs
    out = np.zeros((*vals.shape[:-1], n_labs))
    r = vals - m
    gauss = set(design.gauss_idx.tolist())
    for lab in range(n_labs):
        rows = [i for i in np.flatnonzero(design.lab_idx == lab) if i in gauss]
        if rows:
            idx = np.array(rows)
            Pb = P[..., idx[:, None], idx[None, :]]
            g = (P @ r[..., None])[..., 0][..., idx]
            # conditional of a block: mean r_b - Pb^-1 g_b, precision Pb
            resid = np.linalg.solve(Pb, g[..., None])[..., 0]
            _sign, logdet = np.linalg.slogdet(Pb)
            quad = np.sum(resid * (Pb @ resid[..., None])[..., 0], axis=-1)
            out[..., lab] = 0.5 * logdet - 0.5 * (len(rows) * _LOG_2PI + quad)
        if "bound_obs" in pointwise:
            k = np.flatnonzero(design.lab_idx[design.bound_idx] == lab)
            if k.size:
                out[..., lab] += pointwise["bound_obs"][..., k].sum(axis=-1)
    return out


# ------------------------------------------------------------------------------------------------
# numpy: the grouped effects, draws and simulation


def _group_loadings(design: Design) -> tuple[np.ndarray, list[slice]]:
    B = np.concatenate([design.Z_lab, design.Z_programme, design.Z_estimator], axis=1)
    sizes = [design.Z_lab.shape[1], design.Z_programme.shape[1], design.Z_estimator.shape[1]]
    edges = np.cumsum([0, *sizes])
    return B, [slice(int(a), int(b)) for a, b in itertools.pairwise(edges)]


def _group_prior_sd(design: Design, p, v) -> np.ndarray:
    tau = scales(p, v)
    _, parts = _group_loadings(design)
    cols = [
        np.repeat(tau[..., k : k + 1], sl.stop - sl.start, axis=-1) for k, sl in enumerate(parts)
    ]
    return np.concatenate(cols, axis=-1)


def effects_given_data(
    design: Design,
    p: Mapping[str, Any],
    v: str | Variant,
    x_bound,
    rng: np.random.Generator,
) -> dict[str, np.ndarray]:
    """One draw of the lab, programme and estimator effects from their conditional given the data, the
    bound latents and the parameters, per sample. Keys ``u_lab``, ``u_programme``, ``u_estimator``.

    The conditional is Gaussian with mean ``G B' C^-1 (v - m)`` and covariance ``G - G B' C^-1 B G``
    (``G`` the effects' prior covariance, ``B`` their loadings). It is drawn by pathwise conditioning
    (Matheron's rule): draw effects ``u0`` and noise ``e0`` from their priors, then
    ``u = u0 + G B' C^-1 (v - m - B u0 - e0)``, which has exactly that distribution and needs only the
    rows' covariance ``C`` (17 x 17 on the shipped data), not a factorisation of the effects' (about 40 x
    40) conditional covariance.
    """
    B, parts = _group_loadings(design)
    vals = latent(design, x_bound)
    m, C = mean(design, p, v), covariance(design, p, v)
    sd = _group_prior_sd(design, p, v)  # (..., G)
    u0 = sd * rng.standard_normal(sd.shape)
    noise = _noise_cov(design, p, v)
    e0 = (_chol(noise) @ rng.standard_normal((*m.shape, 1)))[..., 0]
    resid = vals - m - u0 @ B.T - e0
    w = np.linalg.solve(C, resid[..., None])[..., 0]  # C^-1 (v - m - B u0 - e0)
    draw = u0 + sd**2 * (w @ B)
    names = ("u_lab", "u_programme", "u_estimator")
    return {n: draw[..., sl] for n, sl in zip(names, parts, strict=True)}


def draw_prior(
    priors, v: str | Variant, draws: int, rng: np.random.Generator
) -> dict[str, np.ndarray]:
    """``draws`` joint draws of the variant's parameters from the priors (in the variant's order)."""
    v = _variant(v)
    return {name: priors[name].sample(draws, rng) for name in v.parameters}


def draw_effects_prior(
    design: Design, p: Mapping[str, Any], v: str | Variant, rng: np.random.Generator
) -> dict[str, np.ndarray]:
    """Lab, programme and estimator effects drawn from their priors, per sample."""
    sd = _group_prior_sd(design, p, v)
    draw = sd * rng.standard_normal(sd.shape)
    _, parts = _group_loadings(design)
    names = ("u_lab", "u_programme", "u_estimator")
    return {n: draw[..., sl] for n, sl in zip(names, parts, strict=True)}


def _noise_cov(design: Design, p, v) -> np.ndarray:
    tau = scales(p, v)
    k = len(GROUP_SCALES)
    return design.K0 + NUMPY.combine(tau[..., k:] ** 2, design.K[k:])


def replicate(
    design: Design,
    p: Mapping[str, Any],
    v: str | Variant,
    effects: Mapping[str, np.ndarray],
    rng: np.random.Generator,
) -> np.ndarray:
    """Every row's latent value drawn again given the grouped effects: new noise, the same programmes."""
    B, _ = _group_loadings(design)
    b = np.concatenate([effects["u_lab"], effects["u_programme"], effects["u_estimator"]], axis=-1)
    m = mean(design, p, v) + b @ B.T
    chol = _chol(_noise_cov(design, p, v))
    return m + (chol @ rng.standard_normal((*m.shape, 1)))[..., 0]


def loo_draws(
    design: Design, p: Mapping[str, Any], v: str | Variant, x_bound, rng: np.random.Generator
) -> np.ndarray:
    """One draw per sample of each Gaussian row's report from its leave-one-out predictive given the
    parameters, ``p(y_i | every other row, theta)`` (the conditional :func:`log_likelihood` scores).
    Re-weighted by PSIS, these give an exact LOO-PIT for a model whose rows are not conditionally
    independent; replicated reports given the fitted effects would not (they have seen ``y_i``)."""
    vals = latent(design, x_bound)
    cm, cs = conditionals(vals, mean(design, p, v), covariance(design, p, v))
    g = design.gauss_idx
    return cm[..., g] + cs[..., g] * rng.standard_normal(cm[..., g].shape)


def split_observations(design: Design, vals: np.ndarray) -> dict[str, np.ndarray]:
    """``y_obs`` (Gaussian rows) and ``bound_obs`` (bound rows' latent values) of a latent vector."""
    out = {}
    if design.gauss_idx.size:
        out["y_obs"] = vals[..., design.gauss_idx]
    if design.bound_idx.size:
        out["bound_obs"] = vals[..., design.bound_idx]
    return out


def simulate(design: Design, p: Mapping[str, Any], rng: np.random.Generator) -> Design:
    """A dataset with ``design``'s structure simulated from one draw ``p`` of the full model.

    The grouped effects are drawn from their priors, then every row's latent value; Gaussian rows get a new
    observation, bound rows a new outcome (the latent value at or above the bound, or below it).
    """
    effects = draw_effects_prior(design, p, "full", rng)
    vals = replicate(design, p, "full", effects, rng)
    return design.with_observations(vals[design.gauss_idx], vals[design.bound_idx] >= design.b)


def f_rows(design: Design, p: Mapping[str, Any], v: str | Variant, effects) -> np.ndarray:
    """Each share row's programme's R&D share in FLOP: its fixed effects without the unit offset, plus its
    lab and programme effects (not the estimator's, which is the figure's error). Rows ``f_idx``."""
    theta = fixed_effects(p, v)
    no_offset = np.array(design.X[design.f_idx], copy=True)
    no_offset[:, len(FIXED) - len(OFFSETS) :] = 0.0
    eta = theta @ no_offset.T
    eta = eta + effects["u_lab"][..., design.lab_idx[design.f_idx]]
    eta = eta + effects["u_programme"][..., design.programme_idx[design.f_idx]]
    return expit(eta)


def new_lab(
    p: Mapping[str, Any],
    x: Covariates,
    z_lab: np.ndarray,
    z_programme: np.ndarray | None = None,
    v: str | Variant = "full",
) -> np.ndarray:
    """f for a new, unseen lab's programme with covariates ``x`` (one programme), per draw.

    Its lab and programme effects are unknown, so each is a fresh draw from its spread:
    ``sigma_lab z_lab + sigma_programme z_programme`` (standard-normal ``z``, one per draw). The share is in
    ``x``'s unit (its offset is added; FLOP by default).
    """
    v = _variant(v)
    eta = (fixed_effects(p, v) @ x.fixed_rows().T)[..., 0]
    if v.lab_effects:
        eta = eta + np.asarray(p["sigma_lab"]) * z_lab
        if z_programme is not None:
            eta = eta + np.asarray(p["sigma_programme"]) * z_programme
    return expit(eta)


def frontier(year: int = REF_YEAR, unit: str | None = None) -> Covariates:
    """Covariates of one frontier leader's full pipeline in ``year`` (share in ``unit``, FLOP default)."""
    return Covariates.one(position="leader", scope="full", year=year, unit=unit)


__all__ = [
    "NUMPY",
    "PARAMETERS",
    "Ops",
    "conditionals",
    "covariance",
    "derived",
    "draw_effects_prior",
    "draw_prior",
    "effects_given_data",
    "f_follower",
    "f_in_unit",
    "f_rows",
    "fixed_effects",
    "frontier",
    "latent",
    "log_density",
    "log_joint",
    "log_keep",
    "log_likelihood",
    "logit",
    "mean",
    "mvn_logpdf",
    "new_lab",
    "replicate",
    "scales",
    "simulate",
    "split_observations",
]
