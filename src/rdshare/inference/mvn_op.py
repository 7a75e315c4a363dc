"""The model's log density as one PyTensor Op with its analytic gradient, compiled by numba.

The marginalised model's likelihood is ``log MVN(r | 0, C)`` with ``r = v - X theta`` and
``C = K0 + sum_k tau2[k] K[k]`` (17 rows, 6 scales on the shipped data). Written with PyTensor's own
operations, the log density and its gradient become a graph of about 300 small nodes (the covariance sum,
a Cholesky factor and its gradient, triangular solves), and the sampler spends most of its time walking
it. :class:`MarginalNormal` computes the same numbers in one numba function:

    logp           = -(n log(2 pi) + log det C + r' C^-1 r) / 2
    d logp / d r   = -C^-1 r
    d logp / d tau2[k] = (a' K[k] a - tr(C^-1 K[k])) / 2,   a = C^-1 r

from one Cholesky factorisation per evaluation. The ``K[k]`` are sparse (about 100 nonzeros on and below
the diagonal, against 6 x 17 x 17 entries), so they come as a list of nonzeros: building ``C`` and the
scales' gradients then costs a hundred multiplications, and only the entries of ``C^-1`` those gradients
need are formed. The Op has three outputs (the log density and the two
gradients); its ``pullback`` returns the gradient outputs of the same node, so PyTensor computes the
factorisation once for the log density and its gradient together. ``K0`` and ``K`` are data: no gradient
flows to them. A covariance that is not positive definite gives a log density of -inf (and zero
gradients), which the sampler treats as a rejected point.

Tests compare the Op's log density and gradient with PyMC's ``MvNormal`` graph and with finite
differences (``tests/inference/test_mvn_op.py``).
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
IMPLEMENTATION_VERSION = 2


@numba.njit(cache=False, fastmath=False)
def _logp_and_grad(r, K0, k_scale, k_row, k_col, k_val, tau2):
    n = r.shape[0]
    S = tau2.shape[0]
    # C = K0 + sum_k tau2[k] K[k], lower triangle only (K given by its lower-triangle nonzeros)
    C = K0.copy()
    for q in range(k_val.shape[0]):
        C[k_row[q], k_col[q]] += tau2[k_scale[q]] * k_val[q]
    # Cholesky factor, lower triangular; a non-positive pivot means C is not positive definite
    L = np.zeros((n, n))
    for j in range(n):
        s = C[j, j]
        for m in range(j):
            s -= L[j, m] * L[j, m]
        if not s > 0.0:
            return -np.inf, np.zeros(n), np.zeros(S)
        L[j, j] = math.sqrt(s)
        for i in range(j + 1, n):
            s = C[i, j]
            for m in range(j):
                s -= L[i, m] * L[j, m]
            L[i, j] = s / L[j, j]
    # z = L^-1 r; a = L'^-1 z = C^-1 r
    z = np.empty(n)
    for i in range(n):
        s = r[i]
        for m in range(i):
            s -= L[i, m] * z[m]
        z[i] = s / L[i, i]
    a = np.empty(n)
    for i in range(n - 1, -1, -1):
        s = z[i]
        for m in range(i + 1, n):
            s -= L[m, i] * a[m]
        a[i] = s / L[i, i]
    logdet = 0.0
    quad = 0.0
    for i in range(n):
        logdet += 2.0 * math.log(L[i, i])
        quad += z[i] * z[i]
    logp = -0.5 * (n * _LOG_2PI + logdet + quad)
    # L^-1, then only the entries of C^-1 = L'^-1 L^-1 the scales' gradients need
    Li = np.zeros((n, n))
    for j in range(n):
        Li[j, j] = 1.0 / L[j, j]
        for i in range(j + 1, n):
            s = 0.0
            for m in range(j, i):
                s -= L[i, m] * Li[m, j]
            Li[i, j] = s / L[i, i]
    g_tau2 = np.zeros(S)
    for q in range(k_val.shape[0]):
        i = k_row[q]
        j = k_col[q]
        cinv = 0.0  # (C^-1)[i, j] for i >= j
        for m in range(i, n):
            cinv += Li[m, i] * Li[m, j]
        w = (a[i] * a[j] - cinv) * k_val[q]
        if i != j:
            w *= 2.0  # the entry and its mirror above the diagonal
        g_tau2[k_scale[q]] += 0.5 * w
    return logp, -a, g_tau2


def lower_nonzeros(K) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``(scale, row, col, value)`` of the nonzero entries on and below the diagonal of each symmetric
    matrix ``K[k]``: the form :class:`MarginalNormal` takes them in (about 100 entries against 6 x 17 x 17
    on the shipped data)."""
    K = np.asarray(K, dtype=np.float64)
    mask = np.tril(np.ones(K.shape[1:], dtype=bool))[None, :, :] & (K != 0.0)
    k, i, j = np.nonzero(mask)
    return k.astype(np.int64), i.astype(np.int64), j.astype(np.int64), K[k, i, j].copy()


def logp_and_grad(r, K0, K, tau2):
    """The log density and its gradients in r and tau2 for dense ``K`` (one evaluation, numpy in and
    out; for tests and checks)."""
    k, i, j, v = lower_nonzeros(K)
    logp, g_r, g_tau2 = _logp_and_grad(
        np.ascontiguousarray(r, dtype=np.float64),
        np.ascontiguousarray(K0, dtype=np.float64),
        k,
        i,
        j,
        v,
        np.ascontiguousarray(tau2, dtype=np.float64),
    )
    return float(logp), g_r, g_tau2


class MarginalNormal(Op):
    """``(logp, d logp / d r, d logp / d tau2)`` of ``r ~ MVN(0, K0 + sum_k tau2[k] K[k])``, with the
    ``K[k]`` given by their lower-triangle nonzeros (:func:`lower_nonzeros`)."""

    __props__ = ()

    def make_node(self, r, K0, k_scale, k_row, k_col, k_val, tau2):
        floats = {"r": (r, 1), "K0": (K0, 2), "k_val": (k_val, 1), "tau2": (tau2, 1)}
        ints = {"k_scale": k_scale, "k_row": k_row, "k_col": k_col}
        v = {n: pt.as_tensor_variable(x, dtype="float64") for n, (x, _) in floats.items()}
        v.update({n: pt.as_tensor_variable(x) for n, x in ints.items()})
        for name, (_, ndim) in floats.items():
            if v[name].type.ndim != ndim:
                raise TypeError(f"{name} must have {ndim} dimensions, got {v[name].type.ndim}")
        for name in ints:
            if v[name].type.ndim != 1 or v[name].type.dtype[:3] not in ("int", "uin"):
                raise TypeError(f"{name} must be a 1-D integer array")
        order = ("r", "K0", "k_scale", "k_row", "k_col", "k_val", "tau2")
        return Apply(self, [v[n] for n in order], [pt.dscalar(), pt.dvector(), pt.dvector()])

    def perform(self, node, inputs, output_storage):
        r, K0, k, i, j, val, tau2 = inputs
        logp, g_r, g_tau2 = _logp_and_grad(
            r, K0, k.astype(np.int64), i.astype(np.int64), j.astype(np.int64), val, tau2
        )
        output_storage[0][0] = np.asarray(logp, dtype=np.float64)
        output_storage[1][0] = np.asarray(g_r, dtype=np.float64)
        output_storage[2][0] = np.asarray(g_tau2, dtype=np.float64)

    def infer_shape(self, node, shapes):
        return [(), shapes[0], shapes[6]]

    def pullback(self, inputs, outputs, cotangents):
        g_logp, g_gr, g_gtau2 = cotangents
        data = [DisconnectedType()() for _ in range(5)]  # K0 and the K entries: data, no gradient
        for g in (g_gr, g_gtau2):
            if not isinstance(g.type, DisconnectedType):
                # second derivatives are not needed by NUTS and are not implemented
                return [
                    grad_not_implemented(self, 0, inputs[0]),
                    *data,
                    grad_not_implemented(self, 6, inputs[6]),
                ]
        return [g_logp * outputs[1], *data, g_logp * outputs[2]]

    def connection_pattern(self, node):
        # rows: inputs; columns: outputs. Only r and tau2 carry gradients; the rest is data.
        return [[True] * 3] + [[False] * 3] * 5 + [[True] * 3]


marginal_normal = MarginalNormal()


def marginal_normal_logp(r, K0, k_scale, k_row, k_col, k_val, tau2):
    """The log density of ``r ~ MVN(0, K0 + sum_k tau2[k] K[k])`` as a PyTensor scalar."""
    return marginal_normal(r, K0, k_scale, k_row, k_col, k_val, tau2)[0]


@register_funcify_default_op_cache_key(MarginalNormal)
def _numba_funcify_marginal_normal(op, node=None, **kwargs):
    impl = _logp_and_grad

    @numba.njit(fastmath=False)
    def marginal_normal_numba(r, K0, k_scale, k_row, k_col, k_val, tau2):
        logp, g_r, g_tau2 = impl(r, K0, k_scale, k_row, k_col, k_val, tau2)
        return np.asarray(logp), g_r, g_tau2

    return marginal_normal_numba, IMPLEMENTATION_VERSION
