"""The sampler's log density: the whole model in two numba functions that read the structure from data.

Why
    nutpie samples a log density and its gradient. Compiled from the PyMC model, that is a PyTensor graph
    of about a hundred small nodes which PyTensor's numba backend compiles one by one: about 15 s on a
    machine's first fit of each model structure, and about 4.7 µs per log density and gradient
    (docs/performance.md). Here the same density is two numba functions written once; what differs
    between prior files, variants and data sets (each prior's family, parameters and transform, how the
    fixed effects and scales are made from the parameters, the design's arrays) is passed in as arrays.
    Compiling them and the compile cache's callbacks costs about 4 s once per structure and machine,
    and an evaluation about 4 µs, 3 µs of it the evidence kernel.

The density (``docs/model.md``), in the sampler's unconstrained coordinates::

    x = (x_1 .. x_P, z_1 .. z_B)       one value per parameter (the variant's order), then the bound rows'
    v_j = backward(x_j)                 the parameter's value: x (real), exp(x) (positive), logistic(x)
                                        (0 to 1), lower + (upper - lower) logistic(x) (a uniform's
                                        interval), 1 - exp(x) (below 1: a reflected family)
    log p(x) = sum_j [log prior_j(v_j) + log |dv_j / dx_j|]
             + log MVN(v_rows | X theta, K0 + sum_k tau_k^2 K[k]) + sum(z)      (evidence_kernel._evidence)

with ``theta`` and ``tau`` made from the parameters as :func:`rdshare.core.generative.fixed_effect_sources`
and :func:`~rdshare.core.generative.scale_sources` say (the same tables the PyMC model's arithmetic reads).
Each prior family's log density and the transforms are the ones PyMC uses for the class the family names
(:mod:`rdshare.core.families`): ``tests/inference/test_density.py`` checks log density and gradient
against the PyMC model's compiled ``logp`` and ``dlogp`` to 1e-10 for every family, variant and shipped
prior file, and the gradient against finite differences.

The sampler's draws hold each parameter's value and the bound rows' ``z``; the deterministic quantities
(the bound rows' latent values and the derived shares) are computed from them afterwards in numpy with
:mod:`rdshare.core.generative` (:func:`complete_posterior`), so they too are written once.

Importing this module compiles nothing; numba compiles the kernels when the compile cache asks for them
(:mod:`rdshare.inference.compile_cache`).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numba
import numpy as np

from rdshare.core import generative as gen
from rdshare.core.design import FIXED, SCALES, Design
from rdshare.core.families import FAMILIES
from rdshare.core.priors import PriorSet
from rdshare.core.quantities import variant as get_variant
from rdshare.inference.evidence_kernel import DATA_INPUTS, _evidence, evidence_data

__all__ = [
    "BOUND_LATENT",
    "BOUND_Z",
    "EXPAND_INPUTS",
    "INPUTS",
    "STRUCTURE_INPUTS",
    "Layout",
    "Target",
    "complete_posterior",
    "expand",
    "forward",
    "inputs",
    "layout",
    "logp_and_grad",
    "prior_constant",
    "structure_data",
]

#: The bound rows' unconstrained latent variable (``x = b + direction * exp(z)``) and their latent values.
BOUND_Z = "bound_z"
BOUND_LATENT = "bound_latent"

_LOG_2PI = math.log(2.0 * math.pi)
_HALF_LOG_2_OVER_PI = 0.5 * math.log(2.0 / math.pi)

#: Family codes: positions in :data:`rdshare.core.families.FAMILIES`.
FAMILY_CODES: dict[str, int] = {name: i for i, name in enumerate(FAMILIES)}
_NORMAL = FAMILY_CODES["normal"]
_STUDENT_T = FAMILY_CODES["student_t"]
_LOGNORMAL = FAMILY_CODES["lognormal"]
_HALFNORMAL = FAMILY_CODES["halfnormal"]
_EXPONENTIAL = FAMILY_CODES["exponential"]
_GAMMA = FAMILY_CODES["gamma"]
_BETA = FAMILY_CODES["beta"]
_UNIFORM = FAMILY_CODES["uniform"]
_REFLECTED_LOGNORMAL = FAMILY_CODES["reflected_lognormal"]

#: Transforms to the unconstrained line, by a family's support (PyMC's default transform of its class).
T_NONE, T_LOG, T_LOGODDS, T_INTERVAL, T_UPPER = range(5)
TRANSFORM_OF_SUPPORT = {
    "real": T_NONE,
    "positive": T_LOG,
    "unit": T_LOGODDS,
    "bounded": T_INTERVAL,
    "below_one": T_UPPER,
}
#: Fixed-effect maps: codes of :data:`rdshare.core.generative.THETA_MAPS`.
THETA_MAP_CODES = {name: i for i, name in enumerate(gen.THETA_MAPS)}
_M_IDENTITY = THETA_MAP_CODES["identity"]
_M_LOGIT = THETA_MAP_CODES["logit"]
_M_LOG_KEEP = THETA_MAP_CODES["log_keep"]

#: The structure's arrays, in the order the kernels take them after the evidence term's data.
STRUCTURE_INPUTS = (
    ("prior_family", 1, "int"),  # family code per parameter
    ("prior_params", 2, "float"),  # (P, 3): the family's parameters in its order, zero-padded
    ("prior_const", 1, "float"),  # the family's normalising constant (prior_constant)
    ("prior_transform", 1, "int"),  # transform code per parameter
    ("prior_bounds", 2, "float"),  # (P, 2): lower and upper of an interval transform
    ("theta_param", 1, "int"),  # parameter index of each fixed effect, -1 for a zero
    ("theta_map", 1, "int"),  # map code of each fixed effect
    ("tau_param", 1, "int"),  # parameter index of each scale, -1 for a zero
)
#: Every array input of :func:`logp_and_grad`, after ``x``, in order.
INPUTS = (*DATA_INPUTS, *STRUCTURE_INPUTS)
#: The inputs :func:`expand` reads, after ``x``, in order.
EXPAND_INPUTS = ("prior_transform", "prior_bounds")

_MAX_PARAMS = max(len(f.params) for f in FAMILIES.values())


# ---------------------------------------------------------------------------------------------------
# Kernels (numba; fastmath off, like the rest of the sampler, for the same numbers everywhere;
# numpy's error model: a division by zero gives inf or nan, which the sampler rejects, instead of raising)
# ---------------------------------------------------------------------------------------------------


@numba.njit(cache=False, fastmath=False, error_model="numpy")
def _softplus(x):
    """``log(1 + exp(x))`` without overflow."""
    if x > 0.0:
        return x + math.log1p(math.exp(-x))
    return math.log1p(math.exp(x))


@numba.njit(cache=False, fastmath=False, error_model="numpy")
def _logistic(x):
    if x >= 0.0:
        return 1.0 / (1.0 + math.exp(-x))
    e = math.exp(x)
    return e / (1.0 + e)


@numba.njit(cache=False, fastmath=False, error_model="numpy")
def _safe_log(v):
    return math.log(v) if v > 0.0 else -np.inf


@numba.njit(cache=False, fastmath=False, error_model="numpy")
def _transform(code, x, lower, upper):
    """``(v, dv, lv, dlv, l1v, dl1v, lj, dlj)`` at ``x``: the value ``v``, ``log v``, ``log(1 - v)`` and
    ``log |dv/dx|``, each with its derivative in ``x``. The logs are formed from ``x`` where that is
    exact (a logistic's ``log v = -softplus(-x)``), so no precision is lost in the tails."""
    if code == T_LOG:
        v = math.exp(x)
        l1v = math.log1p(-v) if v < 1.0 else -np.inf
        return v, v, x, 1.0, l1v, -v / (1.0 - v), x, 1.0
    if code == T_LOGODDS:
        v = _logistic(x)
        lv = -_softplus(-x)
        l1v = -_softplus(x)
        w = _logistic(-x)  # 1 - v without cancellation
        return v, v * w, lv, w, l1v, -v, lv + l1v, w - v
    if code == T_INTERVAL:
        s = _logistic(x)
        w = _logistic(-x)
        width = upper - lower
        v = lower + width * s
        dv = width * s * w
        return (
            v,
            dv,
            _safe_log(v),
            dv / v,
            _safe_log(1.0 - v),
            -dv / (1.0 - v),
            math.log(width) - _softplus(-x) - _softplus(x),
            w - s,
        )
    if code == T_UPPER:
        e = math.exp(x)
        v = upper - e
        if upper == 1.0:  # a reflected family: log(1 - v) = x exactly
            return v, -e, _safe_log(v), -e / v, x, 1.0, x, 1.0
        return v, -e, _safe_log(v), -e / v, _safe_log(1.0 - v), e / (1.0 - v), x, 1.0
    # T_NONE
    return x, 1.0, _safe_log(x), 1.0 / x, _safe_log(1.0 - x), -1.0 / (1.0 - x), 0.0, 0.0


@numba.njit(cache=False, fastmath=False, error_model="numpy")
def _prior(family, par, const, v, dv, lv, dlv, l1v, dl1v):
    """``(log prior(v), its derivative in x)`` for a family code, its parameters ``par`` and its
    normalising constant ``const`` (:func:`prior_constant`)."""
    if family == _NORMAL:
        mu, sigma = par[0], par[1]
        t = (v - mu) / sigma
        return const - 0.5 * t * t, -t / sigma * dv
    if family == _STUDENT_T:
        nu, mu, sigma = par[0], par[1], par[2]
        t = (v - mu) / sigma
        return (
            const - 0.5 * (nu + 1.0) * math.log1p(t * t / nu),
            -(nu + 1.0) * t / (sigma * (nu + t * t)) * dv,
        )
    if family == _LOGNORMAL:
        mu, sigma = par[0], par[1]
        t = (lv - mu) / sigma
        return const - lv - 0.5 * t * t, -(1.0 + t / sigma) * dlv
    if family == _HALFNORMAL:
        t = v / par[0]
        return const - 0.5 * t * t, -t / par[0] * dv
    if family == _EXPONENTIAL:
        return const - par[0] * v, -par[0] * dv
    if family == _GAMMA:
        alpha, beta = par[0], par[1]
        return const + (alpha - 1.0) * lv - beta * v, (alpha - 1.0) * dlv - beta * dv
    if family == _BETA:
        a, b = par[0], par[1]
        return const + (a - 1.0) * lv + (b - 1.0) * l1v, (a - 1.0) * dlv + (b - 1.0) * dl1v
    if family == _UNIFORM:
        return const, 0.0
    if family == _REFLECTED_LOGNORMAL:
        # 1 - v is lognormal(mu, sigma)
        mu, sigma = par[0], par[1]
        t = (l1v - mu) / sigma
        return const - l1v - 0.5 * t * t, -(1.0 + t / sigma) * dl1v
    return np.nan, np.nan


def prior_constant(family: str, params) -> float:
    """The part of a family's log density that depends only on its parameters (numpy side of
    :func:`_prior`, computed once per prior file instead of at every gradient)."""
    p = [float(params[k]) for k in FAMILIES[family].params]
    if family in ("normal", "lognormal", "reflected_lognormal"):
        return -math.log(p[1]) - 0.5 * _LOG_2PI
    if family == "student_t":
        nu, _, sigma = p
        return (
            math.lgamma(0.5 * (nu + 1.0))
            - math.lgamma(0.5 * nu)
            - 0.5 * math.log(nu * math.pi)
            - math.log(sigma)
        )
    if family == "halfnormal":
        return _HALF_LOG_2_OVER_PI - math.log(p[0])
    if family == "exponential":
        return math.log(p[0])
    if family == "gamma":
        return p[0] * math.log(p[1]) - math.lgamma(p[0])
    if family == "beta":
        return -(math.lgamma(p[0]) + math.lgamma(p[1]) - math.lgamma(p[0] + p[1]))
    if family == "uniform":
        return -math.log(p[1] - p[0])
    raise ValueError(f"no log density for family {family!r}")


@numba.njit(cache=False, fastmath=False, error_model="numpy")
def logp_and_grad(
    x,
    X,
    y,
    gauss_idx,
    bound_idx,
    b,
    bound_dir,
    K0,
    k_scale,
    k_row,
    k_col,
    k_val,
    prior_family,
    prior_params,
    prior_const,
    prior_transform,
    prior_bounds,
    theta_param,
    theta_map,
    tau_param,
):
    """``(log density, gradient)`` at the unconstrained position ``x`` (module docstring)."""
    n_params = prior_family.shape[0]
    grad = np.zeros(x.shape[0])
    logp = 0.0
    v = np.empty(n_params)
    dv = np.empty(n_params)
    lv = np.empty(n_params)
    dlv = np.empty(n_params)
    l1v = np.empty(n_params)
    dl1v = np.empty(n_params)
    for j in range(n_params):
        v[j], dv[j], lv[j], dlv[j], l1v[j], dl1v[j], lj, dlj = _transform(
            prior_transform[j], x[j], prior_bounds[j, 0], prior_bounds[j, 1]
        )
        lp, dlp = _prior(
            prior_family[j],
            prior_params[j],
            prior_const[j],
            v[j],
            dv[j],
            lv[j],
            dlv[j],
            l1v[j],
            dl1v[j],
        )
        logp += lp + lj
        grad[j] = dlp + dlj
    n_fixed = theta_param.shape[0]
    theta = np.zeros(n_fixed)
    d_theta = np.zeros(n_fixed)
    for k in range(n_fixed):
        j = theta_param[k]
        if j < 0:
            continue
        m = theta_map[k]
        if m == _M_IDENTITY:
            theta[k] = v[j]
            d_theta[k] = dv[j]
        elif m == _M_LOGIT:
            theta[k] = lv[j] - l1v[j]
            d_theta[k] = dlv[j] - dl1v[j]
        else:  # log_keep: log(1 - v)
            theta[k] = l1v[j]
            d_theta[k] = dl1v[j]
    n_scales = tau_param.shape[0]
    tau2 = np.zeros(n_scales)
    for s in range(n_scales):
        j = tau_param[s]
        if j >= 0:
            tau2[s] = v[j] * v[j]
    z = x[n_params:]
    ev, g_theta, g_z, g_tau2 = _evidence(
        theta, z, tau2, X, y, gauss_idx, bound_idx, b, bound_dir, K0, k_scale, k_row, k_col, k_val
    )
    logp += ev
    for k in range(n_fixed):
        j = theta_param[k]
        if j >= 0:
            grad[j] += g_theta[k] * d_theta[k]
    for s in range(n_scales):
        j = tau_param[s]
        if j >= 0:
            grad[j] += g_tau2[s] * 2.0 * v[j] * dv[j]
    for q in range(z.shape[0]):
        grad[n_params + q] = g_z[q]
    return logp, grad


@numba.njit(cache=False, fastmath=False, error_model="numpy")
def expand(x, prior_transform, prior_bounds):
    """``(values,)``: each parameter's value, then the bound rows' ``z`` (what a draw stores). Its inputs
    are :data:`EXPAND_INPUTS`."""
    n_params = prior_transform.shape[0]
    out = np.empty(x.shape[0])
    for j in range(n_params):
        out[j] = _transform(prior_transform[j], x[j], prior_bounds[j, 0], prior_bounds[j, 1])[0]
    for q in range(n_params, x.shape[0]):
        out[q] = x[q]
    return (out,)


# ---------------------------------------------------------------------------------------------------
# Structure as data, the draws' layout, the initial point (numpy)
# ---------------------------------------------------------------------------------------------------


def structure_data(priors: PriorSet, variant_name: str = "full") -> dict[str, np.ndarray]:
    """The arrays :data:`STRUCTURE_INPUTS` for a prior file and variant."""
    v = get_variant(variant_name)
    names = list(v.parameters)
    index = {n: j for j, n in enumerate(names)}
    n = len(names)
    family = np.zeros(n, dtype=np.int64)
    params = np.zeros((n, _MAX_PARAMS), dtype=np.float64)
    const = np.zeros(n, dtype=np.float64)
    transform = np.zeros(n, dtype=np.int64)
    bounds = np.zeros((n, 2), dtype=np.float64)
    for j, name in enumerate(names):
        prior = priors[name]
        fam = FAMILIES[prior.dist]
        family[j] = FAMILY_CODES[prior.dist]
        params[j, : len(fam.params)] = [float(prior.params[k]) for k in fam.params]
        const[j] = prior_constant(prior.dist, prior.params)
        transform[j] = TRANSFORM_OF_SUPPORT[fam.support]
        if fam.support == "bounded":
            bounds[j] = float(prior.params["lower"]), float(prior.params["upper"])
        elif fam.support == "below_one":
            bounds[j] = -np.inf, 1.0
    fixed = gen.fixed_effect_sources(v)
    assert len(fixed) == len(FIXED)
    scales = gen.scale_sources(v)
    assert len(scales) == len(SCALES)
    return {
        "prior_family": family,
        "prior_params": params,
        "prior_const": const,
        "prior_transform": transform,
        "prior_bounds": bounds,
        "theta_param": np.array([-1 if s is None else index[s[0]] for s in fixed], dtype=np.int64),
        "theta_map": np.array([0 if s is None else THETA_MAP_CODES[s[1]] for s in fixed], np.int64),
        "tau_param": np.array([-1 if s is None else index[s] for s in scales], dtype=np.int64),
    }


def inputs(design: Design, priors: PriorSet, variant_name: str = "full") -> dict[str, np.ndarray]:
    """Every array the kernels read (:data:`INPUTS`), by name."""
    return {**evidence_data(design), **structure_data(priors, variant_name)}


def forward(code: int, value, lower: float = 0.0, upper: float = 1.0):
    """The unconstrained ``x`` of a parameter value (numpy; the inverse of the kernels' transform)."""
    value = np.asarray(value, dtype=np.float64)
    if code == T_LOG:
        return np.log(value)
    if code == T_LOGODDS:
        return np.log(value) - np.log1p(-value)
    if code == T_INTERVAL:
        u = (value - lower) / (upper - lower)
        return np.log(u) - np.log1p(-u)
    if code == T_UPPER:
        return np.log(upper - value)
    return value


@dataclass(frozen=True)
class Layout:
    """What one draw of the sampler holds, and where the sampler starts.

    Attributes
    ----------
    names, shapes : tuples
        The stored variables (the variant's parameters, then ``bound_z`` if there are bound rows) and
        their shapes.
    dims, coords : dicts
        Named dimensions (``bound_z`` runs over ``bound``, the bound rows' ids).
    base : list of arrays
        The unconstrained centre of the initial points, one array per stored variable: each parameter's
        prior median, ``z = 0`` for the bound rows (their latent values one unit from the bound).
    """

    names: tuple[str, ...]
    shapes: tuple[tuple[int, ...], ...]
    dims: dict[str, tuple[str, ...]]
    coords: dict[str, tuple]
    base: tuple[np.ndarray, ...]

    @property
    def n_dim(self) -> int:
        return int(sum(int(np.prod(s)) for s in self.shapes))


def layout(design: Design, priors: PriorSet, variant_name: str = "full") -> Layout:
    """The :class:`Layout` of a fit of ``design`` with ``priors`` and a variant."""
    v = get_variant(variant_name)
    st = structure_data(priors, variant_name)
    names = list(v.parameters)
    shapes: list[tuple[int, ...]] = [()] * len(names)
    base = []
    for j, name in enumerate(names):
        median = float(priors[name].scipy().ppf(0.5))
        lower, upper = st["prior_bounds"][j]
        base.append(np.asarray(forward(int(st["prior_transform"][j]), median, lower, upper)))
    dims: dict[str, tuple[str, ...]] = {}
    coords: dict[str, tuple] = {}
    nb = int(design.bound_idx.size)
    if nb:
        names.append(BOUND_Z)
        shapes.append((nb,))
        base.append(np.zeros(nb))
        dims[BOUND_Z] = ("bound",)
        coords["bound"] = tuple(design.bound_ids)
    return Layout(tuple(names), tuple(shapes), dims, coords, tuple(base))


@dataclass(frozen=True)
class Target:
    """What the compile cache turns into a nutpie sampler: the kernels' layout and inputs for one
    structure, and how to build the equivalent PyMC model (the stock route, used only when rdshare's own
    sampler cannot be: an unsupported nutpie, or a failure compiling the kernels)."""

    layout: Layout
    data: dict[str, np.ndarray]
    build_model: Callable[[], object] = field(repr=False, compare=False)


def complete_posterior(posterior, data: dict[str, np.ndarray], variant_name: str):
    """Add the deterministic quantities to a posterior Dataset of parameter draws (and ``bound_z``):
    ``bound_latent`` (:func:`rdshare.core.generative.bound_latent`) and the variant's derived shares
    (:func:`rdshare.core.generative.derived`). Quantities already present are left as they are."""
    v = get_variant(variant_name)
    add = {}
    if BOUND_Z in posterior and BOUND_LATENT not in posterior:
        z = posterior[BOUND_Z]
        add[BOUND_LATENT] = z.copy(data=gen.bound_latent(data["b"], data["bound_dir"], z.values))
    if any(name not in posterior for name in v.derived() if name != "f_new_lab"):
        p = {name: np.asarray(posterior[name].values) for name in v.parameters}
        ref = posterior[v.parameters[0]]
        for name, values in gen.derived(p, v).items():
            if name not in posterior:
                add[name] = ref.copy(data=np.asarray(values, dtype=np.float64))
    return posterior.assign(add) if add else posterior
