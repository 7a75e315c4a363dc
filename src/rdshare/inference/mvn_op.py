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

import numba
import numpy as np
import pytensor.tensor as pt
from pytensor.gradient import DisconnectedType, grad_not_implemented
from pytensor.graph.basic import Apply
from pytensor.graph.op import Op
from pytensor.link.numba.dispatch.basic import register_funcify_default_op_cache_key

from rdshare.inference.evidence_kernel import (  # noqa: F401  (re-exported for tests and model.py)
    DATA_INPUTS,
    _evidence,
    _normal_logp_and_grad,
    lower_nonzeros,
    normal_logp_and_grad,
)

#: Bumped when the numba implementation changes (part of PyTensor's numba cache key for the Op).
IMPLEMENTATION_VERSION = 4


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
        *inputs,
    ):  # PARAMETER_INPUTS then DATA_INPUTS, as _evidence takes them
        logp, g_theta, g_z, g_tau2 = impl(*inputs)
        return np.asarray(logp), g_theta, g_z, g_tau2

    return marginal_evidence_numba, IMPLEMENTATION_VERSION
