"""The marginal normal Op: its log density and gradient against PyMC's MvNormal graph and finite
differences, in Python mode and compiled by numba, and its behaviour off the positive-definite cone."""

from __future__ import annotations

import numpy as np
import pymc as pm
import pytensor
import pytensor.tensor as pt
import pytest

from rdshare.core import dataset as ds_mod
from rdshare.core import design as design_mod
from rdshare.inference import mvn_op


@pytest.fixture(scope="module")
def design():
    return design_mod.from_dataset(ds_mod.load())


def _reference(design):
    """log MVN(r | 0, K0 + sum tau2 K) and its gradient, from PyMC's MvNormal (Cholesky) graph."""
    r = pt.dvector("r")
    tau2 = pt.dvector("tau2")
    C = pt.as_tensor(design.K0) + pt.tensordot(tau2, pt.as_tensor(design.K), axes=1)
    logp = pm.logp(pm.MvNormal.dist(mu=pt.zeros(design.n_rows), cov=C), r)
    return pytensor.function([r, tau2], [logp, *pt.grad(logp, [r, tau2])], mode="FAST_COMPILE")


def _ours(design, mode):
    r = pt.dvector("r")
    tau2 = pt.dvector("tau2")
    k, i, j, v = mvn_op.lower_nonzeros(design.K)
    logp = mvn_op.marginal_normal_logp(r, pt.as_tensor(design.K0), k, i, j, v, tau2)
    return pytensor.function([r, tau2], [logp, *pt.grad(logp, [r, tau2])], mode=mode)


def test_the_nonzeros_rebuild_every_matrix(design):
    k, i, j, v = mvn_op.lower_nonzeros(design.K)
    assert len(v) < design.K.size / 10  # sparse: about 100 of 1734 entries
    back = np.zeros_like(design.K)
    back[k, i, j] = v
    back[k, j, i] = v
    np.testing.assert_array_equal(back, design.K)


@pytest.mark.parametrize("mode", ["FAST_COMPILE", "NUMBA"])
def test_log_density_and_gradient_equal_pymcs_mvnormal(design, mode):
    ref, ours = _reference(design), _ours(design, mode)
    rng = np.random.default_rng(0)
    for _ in range(10):
        r = rng.normal(0, 1.5, design.n_rows)
        tau2 = rng.gamma(2.0, 0.2, len(design.K))
        want = ref(r, tau2)
        got = ours(r, tau2)
        np.testing.assert_allclose(got[0], want[0], rtol=1e-10)
        np.testing.assert_allclose(got[1], want[1], rtol=1e-8, atol=1e-10)
        np.testing.assert_allclose(got[2], want[2], rtol=1e-8, atol=1e-10)


def test_gradient_matches_finite_differences(design):
    rng = np.random.default_rng(1)
    r = rng.normal(0, 1, design.n_rows)
    tau2 = rng.gamma(2.0, 0.2, len(design.K))
    _, g_r, g_tau2 = mvn_op.logp_and_grad(r, design.K0, design.K, tau2)
    h = 1e-6
    for i in range(design.n_rows):
        e = np.zeros_like(r)
        e[i] = h
        up = mvn_op.logp_and_grad(r + e, design.K0, design.K, tau2)[0]
        down = mvn_op.logp_and_grad(r - e, design.K0, design.K, tau2)[0]
        assert g_r[i] == pytest.approx((up - down) / (2 * h), rel=1e-5, abs=1e-7)
    for k in range(len(tau2)):
        e = np.zeros_like(tau2)
        e[k] = h
        up = mvn_op.logp_and_grad(r, design.K0, design.K, tau2 + e)[0]
        down = mvn_op.logp_and_grad(r, design.K0, design.K, tau2 - e)[0]
        assert g_tau2[k] == pytest.approx((up - down) / (2 * h), rel=1e-5, abs=1e-7)


def test_a_covariance_that_is_not_positive_definite_is_minus_infinity():
    K0 = np.eye(3)
    K = np.stack([-np.eye(3)])  # tau2 = 2 makes C = -I
    logp, g_r, g_tau2 = mvn_op.logp_and_grad(np.ones(3), K0, K, np.array([2.0]))
    assert logp == -np.inf
    assert not g_r.any()
    assert not g_tau2.any()


def test_no_gradient_flows_to_the_data(design):
    K0 = pt.dmatrix("K0")
    val = pt.dvector("val")
    r = pt.dvector("r")
    k, i, j, _ = mvn_op.lower_nonzeros(design.K)
    logp = mvn_op.marginal_normal_logp(r, K0, k, i, j, val, pt.ones(len(design.K)))
    for data in (K0, val):
        with pytest.raises(pytensor.gradient.DisconnectedInputError):
            pt.grad(logp, data)


def test_second_derivatives_are_refused(design):
    r = pt.dvector("r")
    k, i, j, v = mvn_op.lower_nonzeros(design.K)
    logp = mvn_op.marginal_normal_logp(
        r, pt.as_tensor(design.K0), k, i, j, v, pt.ones(len(design.K))
    )
    g = pt.grad(logp, r)
    with pytest.raises(pytensor.gradient.NullTypeGradError):
        pt.grad(g.sum(), r)
