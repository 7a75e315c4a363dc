"""The model's evidence term as one PyTensor Op with its analytic gradient, compiled by numba.

The marginalised model's log density of the data is ``log MVN(r | 0, C) + sum(z)`` with

    r = v - X theta                       v: every row's latent value, observed or not
    v[gauss_idx] = y                      the Gaussian rows observe theirs
    v[bound_idx] = b + dir * exp(z)       each bound row's latent on its side of the bound (z free)
    C = K0 + sum_k tau2[k] K[k]           (17 rows, 6 scales on the shipped data)

and ``sum(z)`` the log-Jacobian of the bound rows' transform. Written with PyTensor's own operations,
this is a graph of zeros, index updates, a matrix product, a Cholesky factor and its gradient, and the
sampler spends most of its time walking it. :class:`MarginalEvidence` computes the same numbers in one
numba function:

    logp               = -(n log(2 pi) + log det C + r' C^-1 r) / 2 + sum(z)
    d logp / d theta   = X' a,                       a = C^-1 r
    d logp / d z       = -a[bound_idx] * dir * exp(z) + 1
    d logp / d tau2[k] = (a' K[k] a - tr(C^-1 K[k])) / 2

from one Cholesky factorisation per evaluation. The ``K[k]`` are sparse (about 100 nonzeros on and below
the diagonal, against 6 x 17 x 17 entries), so they come as a list of nonzeros: building ``C`` and the
scales' gradients then costs a hundred multiplications, and only the entries of ``C^-1`` those gradients
need are formed. The Op has four outputs (the log density and the three gradients); its ``pullback``
returns the gradient outputs of the same node, so PyTensor computes the factorisation once for the log
density and its gradient together. Everything but ``theta``, ``z`` and ``tau2`` is data: no gradient
flows to it. A covariance that is not positive definite gives a log density of -inf (and zero
gradients), which the sampler treats as a rejected point.

Tests compare the Op's log density and gradient with the same model written in PyTensor's operations
(PyMC's ``MvNormal``) and with finite differences (``tests/inference/test_mvn_op.py``).
"""

from __future__ import annotations

import math

import numba
import numpy as np
import pytensor.tensor as pt
from pytensor.gradient import DisconnectedType, grad_not_implemented
from pytensor.graph.basic import Apply
from pytensor.graph.op import Op
from pytensor.link.numba.dispatch.basic import register_funcify_default_op_cache_key

_LOG_2PI = math.log(2.0 * math.pi)

#: Bumped when the numba implementation changes (part of PyTensor's numba cache key for the Op).
IMPLEMENTATION_VERSION = 3


@numba.njit(cache=False, fastmath=False)
def _normal_logp_and_grad(r, K0, k_scale, k_row, k_col, k_val, tau2):
    """``(logp, a = C^-1 r, d logp / d tau2)`` of ``r ~ MVN(0, K0 + sum_k tau2[k] K[k])``."""
    n = r.shape[0]
    S = tau2.shape[0]
    # C = K0 + sum_k tau2[k] K[k], lower triangle only, factorised in place below
    L = K0.copy()
    for q in range(k_val.shape[0]):
        L[k_row[q], k_col[q]] += tau2[k_scale[q]] * k_val[q]
    # Cholesky factor (lower); a non-positive pivot means C is not positive definite.
    # inv[j] = 1 / L[j, j]: one division per row instead of one per entry.
    inv = np.empty(n)
    for j in range(n):
        s = L[j, j]
        for m in range(j):
            s -= L[j, m] * L[j, m]
        if not s > 0.0:
            return -np.inf, np.zeros(n), np.zeros(S)
        d = math.sqrt(s)
        L[j, j] = d
        inv[j] = 1.0 / d
        for i in range(j + 1, n):
            s = L[i, j]
            for m in range(j):
                s -= L[i, m] * L[j, m]
            L[i, j] = s * inv[j]
    # z = L^-1 r; a = L'^-1 z = C^-1 r
    z = np.empty(n)
    logdet = 0.0
    quad = 0.0
    for i in range(n):
        s = r[i]
        for m in range(i):
            s -= L[i, m] * z[m]
        z[i] = s * inv[i]
        logdet += math.log(L[i, i])
        quad += z[i] * z[i]
    a = np.empty(n)
    for i in range(n - 1, -1, -1):
        s = z[i]
        for m in range(i + 1, n):
            s -= L[m, i] * a[m]
        a[i] = s * inv[i]
    logp = -0.5 * (n * _LOG_2PI + 2.0 * logdet + quad)
    # W[j, m] = (L^-1)[m, j] for m >= j (the columns of L^-1 as rows, read contiguously), then only
    # the entries of C^-1 = L'^-1 L^-1 the scales' gradients need
    W = np.zeros((n, n))
    for j in range(n):
        W[j, j] = inv[j]
        for i in range(j + 1, n):
            s = 0.0
            for m in range(j, i):
                s -= L[i, m] * W[j, m]
            W[j, i] = s * inv[i]
    g_tau2 = np.zeros(S)
    for q in range(k_val.shape[0]):
        i = k_row[q]
        j = k_col[q]
        cinv = 0.0  # (C^-1)[i, j] for i >= j
        for m in range(i, n):
            cinv += W[i, m] * W[j, m]
        w = (a[i] * a[j] - cinv) * k_val[q]
        if i != j:
            w *= 2.0  # the entry and its mirror above the diagonal
        g_tau2[k_scale[q]] += 0.5 * w
    return logp, a, g_tau2


@numba.njit(cache=False, fastmath=False)
def _evidence(
    theta, z, tau2, X, y, gauss_idx, bound_idx, b, bound_dir, K0, k_scale, k_row, k_col, k_val
):
    """``(logp, d/d theta, d/d z, d/d tau2)`` of the evidence term (module docstring)."""
    n, p = X.shape
    nb = z.shape[0]
    r = np.empty(n)
    for q in range(gauss_idx.shape[0]):
        r[gauss_idx[q]] = y[q]
    ez = np.empty(nb)
    jacobian = 0.0
    for q in range(nb):
        ez[q] = math.exp(z[q])
        r[bound_idx[q]] = b[q] + bound_dir[q] * ez[q]
        jacobian += z[q]
    for i in range(n):
        s = r[i]
        for k in range(p):
            s -= X[i, k] * theta[k]
        r[i] = s
    logp, a, g_tau2 = _normal_logp_and_grad(r, K0, k_scale, k_row, k_col, k_val, tau2)
    if logp == -np.inf:
        return -np.inf, np.zeros(p), np.zeros(nb), g_tau2
    g_theta = np.zeros(p)
    for i in range(n):
        for k in range(p):
            g_theta[k] += X[i, k] * a[i]
    g_z = np.empty(nb)
    for q in range(nb):
        g_z[q] = 1.0 - a[bound_idx[q]] * bound_dir[q] * ez[q]
    return logp + jacobian, g_theta, g_z, g_tau2


def lower_nonzeros(K) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``(scale, row, col, value)`` of the nonzero entries on and below the diagonal of each symmetric
    matrix ``K[k]``: the form :class:`MarginalEvidence` takes them in (about 100 entries against
    6 x 17 x 17 on the shipped data)."""
    K = np.asarray(K, dtype=np.float64)
    mask = np.tril(np.ones(K.shape[1:], dtype=bool))[None, :, :] & (K != 0.0)
    k, i, j = np.nonzero(mask)
    return k.astype(np.int64), i.astype(np.int64), j.astype(np.int64), K[k, i, j].copy()


def normal_logp_and_grad(r, K0, K, tau2):
    """``log MVN(r | 0, K0 + sum_k tau2[k] K[k])`` and its gradients in r and tau2, for dense ``K``
    (one evaluation, numpy in and out; for tests and checks)."""
    k, i, j, v = lower_nonzeros(K)
    logp, a, g_tau2 = _normal_logp_and_grad(
        np.ascontiguousarray(r, dtype=np.float64),
        np.ascontiguousarray(K0, dtype=np.float64),
        k,
        i,
        j,
        v,
        np.ascontiguousarray(tau2, dtype=np.float64),
    )
    return float(logp), -a, g_tau2


#: The data inputs of :class:`MarginalEvidence`, in order, with their number of dimensions and kind.
DATA_INPUTS = (
    ("X", 2, "float"),
    ("y", 1, "float"),
    ("gauss_idx", 1, "int"),
    ("bound_idx", 1, "int"),
    ("b", 1, "float"),
    ("bound_dir", 1, "int"),
    ("K0", 2, "float"),
    ("K_scale", 1, "int"),
    ("K_row", 1, "int"),
    ("K_col", 1, "int"),
    ("K_val", 1, "float"),
)
#: The parameter inputs, which the gradient flows to (all vectors).
PARAMETER_INPUTS = ("theta", "z", "tau2")


class MarginalEvidence(Op):
    """``(logp, d logp / d theta, d logp / d z, d logp / d tau2)`` of the evidence term (module
    docstring); inputs :data:`PARAMETER_INPUTS` then :data:`DATA_INPUTS`."""

    __props__ = ()

    def make_node(self, *inputs):
        names = (*PARAMETER_INPUTS, *(n for n, _, _ in DATA_INPUTS))
        if len(inputs) != len(names):
            raise TypeError(f"MarginalEvidence takes {len(names)} inputs, got {len(inputs)}")
        kinds = {n: (1, "float") for n in PARAMETER_INPUTS} | {n: (d, k) for n, d, k in DATA_INPUTS}
        out = []
        for name, x in zip(names, inputs, strict=True):
            ndim, kind = kinds[name]
            v = (
                pt.as_tensor_variable(x, dtype="float64")
                if kind == "float"
                else pt.as_tensor_variable(x)
            )
            if v.type.ndim != ndim:
                raise TypeError(f"{name} must have {ndim} dimensions, got {v.type.ndim}")
            if kind == "int" and v.type.dtype[:3] not in ("int", "uin"):
                raise TypeError(f"{name} must be an integer array")
            out.append(v)
        return Apply(self, out, [pt.dscalar(), pt.dvector(), pt.dvector(), pt.dvector()])

    def perform(self, node, inputs, output_storage):
        theta, z, tau2, X, y, gi, bi, b, bdir, K0, ks, kr, kc, kv = inputs
        i64 = np.int64
        results = _evidence(
            theta,
            z,
            tau2,
            X,
            y,
            gi.astype(i64),
            bi.astype(i64),
            b,
            bdir.astype(i64),
            K0,
            ks.astype(i64),
            kr.astype(i64),
            kc.astype(i64),
            kv,
        )
        for k, value in enumerate(results):
            output_storage[k][0] = np.asarray(value, dtype=np.float64)

    def infer_shape(self, node, shapes):
        return [(), shapes[0], shapes[1], shapes[2]]

    def pullback(self, inputs, outputs, cotangents):
        g_logp, *g_grads = cotangents
        n_params = len(PARAMETER_INPUTS)
        data = [DisconnectedType()() for _ in DATA_INPUTS]  # data: no gradient
        if not all(isinstance(g.type, DisconnectedType) for g in g_grads):
            # second derivatives are not needed by NUTS and are not implemented
            params = [grad_not_implemented(self, k, inputs[k]) for k in range(n_params)]
            return [*params, *data]
        return [g_logp * outputs[1 + k] for k in range(n_params)] + data

    def connection_pattern(self, node):
        # rows: inputs; columns: outputs. Only the parameters carry gradients; the rest is data.
        return [[True] * 4] * len(PARAMETER_INPUTS) + [[False] * 4] * len(DATA_INPUTS)


marginal_evidence = MarginalEvidence()


def evidence_logp(theta, z, tau2, **data):
    """The evidence term as a PyTensor scalar; ``data`` are :data:`DATA_INPUTS` by name."""
    return marginal_evidence(theta, z, tau2, *(data[n] for n, _, _ in DATA_INPUTS))[0]


@register_funcify_default_op_cache_key(MarginalEvidence)
def _numba_funcify_marginal_evidence(op, node=None, **kwargs):
    impl = _evidence

    @numba.njit(fastmath=False)
    def marginal_evidence_numba(
        theta, z, tau2, X, y, gauss_idx, bound_idx, b, bound_dir, K0, k_scale, k_row, k_col, k_val
    ):
        logp, g_theta, g_z, g_tau2 = impl(
            theta,
            z,
            tau2,
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
        )
        return np.asarray(logp), g_theta, g_z, g_tau2

    return marginal_evidence_numba, IMPLEMENTATION_VERSION
