"""The numba kernels of the model's evidence term: no PyTensor, no PyMC.

``log MVN(r | 0, C) + sum(z)`` with the rows' latent values built from ``y`` and the bound rows' ``z``
(the formulas are in :mod:`rdshare.inference.mvn_op`, which wraps :func:`_evidence` as a PyTensor Op
for the PyMC model; :mod:`rdshare.inference.density` calls it directly in the sampler's log density).
Importing this module compiles nothing: numba compiles a kernel when it is first called. The kernels use
numpy's error model (a division by zero gives inf or nan, never an exception), so the sampler's C
callbacks, which cannot handle exceptions, never meet one.
"""

from __future__ import annotations

import math

import numba
import numpy as np

_LOG_2PI = math.log(2.0 * math.pi)


@numba.njit(cache=False, fastmath=False, error_model="numpy")
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


@numba.njit(cache=False, fastmath=False, error_model="numpy")
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


#: The data inputs of the evidence term (and of :class:`~rdshare.inference.mvn_op.MarginalEvidence`), in
#: order, with their number of dimensions and kind.
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

#: Each data input's named dimensions (the PyMC model's ``pm.Data`` containers and ``constant_data``).
DATA_DIMS: dict[str, tuple[str, ...]] = {
    "X": ("row", "fixed"),
    "y": ("obs",),
    "gauss_idx": ("obs",),
    "bound_idx": ("bound",),
    "b": ("bound",),
    "bound_dir": ("bound",),
    "K0": ("row", "row"),
    # the per-scale matrices K[k], as their nonzeros on and below the diagonal (lower_nonzeros)
    "K_scale": ("knz",),
    "K_row": ("knz",),
    "K_col": ("knz",),
    "K_val": ("knz",),
}


def evidence_data(design) -> dict[str, np.ndarray]:
    """The values of :data:`DATA_INPUTS` for a :class:`~rdshare.core.design.Design`, by name: its arrays,
    with the per-scale matrices ``K[k]`` as their nonzeros on and below the diagonal
    (:func:`lower_nonzeros`)."""
    k, i, j, v = lower_nonzeros(design.K)
    sparse = {"K_scale": k, "K_row": i, "K_col": j, "K_val": v}
    return {
        name: sparse[name] if name in sparse else np.asarray(getattr(design, name))
        for name, _, _ in DATA_INPUTS
    }
