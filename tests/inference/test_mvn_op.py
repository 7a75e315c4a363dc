"""The evidence Op: its log density and gradient against the same model written with PyTensor's
operations and PyMC's MvNormal, and against finite differences, in Python mode and compiled by numba;
its behaviour off the positive-definite cone; no gradient to the data."""

from __future__ import annotations

import numpy as np
import pymc as pm
import pytensor
import pytensor.tensor as pt
import pytest

from rdshare.core import dataset as ds_mod
from rdshare.core import design as design_mod
from rdshare.inference import evidence_kernel, mvn_op


@pytest.fixture(scope="module")
def design():
    return design_mod.from_dataset(ds_mod.load())


@pytest.fixture(scope="module")
def data(design):
    return evidence_kernel.evidence_data(design)


def _params():
    return pt.dvector("theta"), pt.dvector("z"), pt.dvector("tau2")


def _reference(design):
    """The evidence term written with PyTensor's operations: the latent values assembled with
    set_subtensor, ``X @ theta``, PyMC's MvNormal (Cholesky) log density and the Jacobian sum(z)."""
    theta, z, tau2 = _params()
    v = pt.zeros(design.n_rows)
    v = pt.set_subtensor(v[design.gauss_idx], design.y)
    v = pt.set_subtensor(v[design.bound_idx], design.b + design.bound_dir * pt.exp(z))
    C = pt.as_tensor(design.K0) + pt.tensordot(tau2, pt.as_tensor(design.K), axes=1)
    mvn = pm.MvNormal.dist(mu=pt.as_tensor(design.X) @ theta, cov=C)
    logp = pm.logp(mvn, v) + pt.sum(z)
    grads = pt.grad(logp, [theta, z, tau2])
    return pytensor.function([theta, z, tau2], [logp, *grads], mode="FAST_COMPILE")


def _ours(data, mode):
    theta, z, tau2 = _params()
    logp = mvn_op.evidence_logp(theta, z, tau2, **data)
    grads = pt.grad(logp, [theta, z, tau2])
    return pytensor.function([theta, z, tau2], [logp, *grads], mode=mode)


def _point(design, rng):
    theta = rng.normal(0, 1, design.X.shape[1])
    z = rng.normal(-1, 1, design.bound_idx.size)
    tau2 = rng.gamma(2.0, 0.2, len(design.K))
    return theta, z, tau2


def test_the_nonzeros_rebuild_every_matrix(design):
    k, i, j, v = mvn_op.lower_nonzeros(design.K)
    assert len(v) < design.K.size / 10  # sparse: about 100 of 1734 entries
    back = np.zeros_like(design.K)
    back[k, i, j] = v
    back[k, j, i] = v
    np.testing.assert_array_equal(back, design.K)


def test_the_shipped_design_has_both_kinds_of_row(design):
    # the comparisons below exercise the Gaussian and the bound rows' paths
    assert design.gauss_idx.size > 0
    assert design.bound_idx.size > 0


@pytest.mark.parametrize("mode", ["FAST_COMPILE", "NUMBA"])
def test_log_density_and_gradient_equal_the_pytensor_model(design, data, mode):
    ref, ours = _reference(design), _ours(data, mode)
    rng = np.random.default_rng(0)
    for _ in range(10):
        point = _point(design, rng)
        want = ref(*point)
        got = ours(*point)
        np.testing.assert_allclose(got[0], want[0], rtol=1e-10)
        for g, w in zip(got[1:], want[1:], strict=True):
            np.testing.assert_allclose(g, w, rtol=1e-8, atol=1e-10)


def test_gradient_matches_finite_differences(design, data):
    f = _ours(data, "FAST_COMPILE")
    rng = np.random.default_rng(1)
    point = _point(design, rng)
    grads = f(*point)[1:]
    h = 1e-6
    for which, g in enumerate(grads):
        for k in range(len(point[which])):
            up = [p.copy() for p in point]
            down = [p.copy() for p in point]
            up[which][k] += h
            down[which][k] -= h
            fd = (f(*up)[0] - f(*down)[0]) / (2 * h)
            assert g[k] == pytest.approx(fd, rel=1e-5, abs=1e-6)


def test_the_normal_kernel_matches_finite_differences(design):
    rng = np.random.default_rng(2)
    r = rng.normal(0, 1, design.n_rows)
    tau2 = rng.gamma(2.0, 0.2, len(design.K))
    _, g_r, g_tau2 = mvn_op.normal_logp_and_grad(r, design.K0, design.K, tau2)
    h = 1e-6
    for i in range(design.n_rows):
        e = np.zeros_like(r)
        e[i] = h
        up = mvn_op.normal_logp_and_grad(r + e, design.K0, design.K, tau2)[0]
        down = mvn_op.normal_logp_and_grad(r - e, design.K0, design.K, tau2)[0]
        assert g_r[i] == pytest.approx((up - down) / (2 * h), rel=1e-5, abs=1e-7)
    for k in range(len(tau2)):
        e = np.zeros_like(tau2)
        e[k] = h
        up = mvn_op.normal_logp_and_grad(r, design.K0, design.K, tau2 + e)[0]
        down = mvn_op.normal_logp_and_grad(r, design.K0, design.K, tau2 - e)[0]
        assert g_tau2[k] == pytest.approx((up - down) / (2 * h), rel=1e-5, abs=1e-7)


def test_a_covariance_that_is_not_positive_definite_is_minus_infinity():
    K0 = np.eye(3)
    K = np.stack([-np.eye(3)])  # tau2 = 2 makes C = -I
    logp, g_r, g_tau2 = mvn_op.normal_logp_and_grad(np.ones(3), K0, K, np.array([2.0]))
    assert logp == -np.inf
    assert not g_r.any()
    assert not g_tau2.any()


def test_the_op_rejects_a_covariance_that_is_not_positive_definite(design, data):
    f = _ours(data, "NUMBA")
    theta, z, tau2 = _point(design, np.random.default_rng(3))
    bad = {**data, "K0": -np.asarray(data["K0"])}
    logp, g_theta, g_z, g_tau2 = _ours(bad, "NUMBA")(theta, z, tau2)
    assert logp == -np.inf
    assert not g_theta.any()
    assert not g_z.any()
    assert not g_tau2.any()
    assert np.isfinite(f(theta, z, tau2)[0])  # the shipped data at the same point is fine


def test_no_gradient_flows_to_the_data(data):
    theta, z, tau2 = _params()
    K0 = pt.dmatrix("K0")
    val = pt.dvector("val")
    y = pt.dvector("y")
    logp = mvn_op.evidence_logp(theta, z, tau2, **{**data, "K0": K0, "K_val": val, "y": y})
    for x in (K0, val, y):
        with pytest.raises(pytensor.gradient.DisconnectedInputError):
            pt.grad(logp, x)


def test_second_derivatives_are_refused(data):
    theta, z, tau2 = _params()
    logp = mvn_op.evidence_logp(theta, z, tau2, **data)
    g = pt.grad(logp, theta)
    with pytest.raises(pytensor.gradient.NullTypeGradError):
        pt.grad(g.sum(), theta)


def test_inputs_of_the_wrong_shape_are_refused(data):
    theta, z, tau2 = _params()
    with pytest.raises(TypeError, match="X must have 2 dimensions"):
        mvn_op.evidence_logp(theta, z, tau2, **{**data, "X": np.ones(3)})
    with pytest.raises(TypeError, match="gauss_idx must be an integer array"):
        mvn_op.evidence_logp(theta, z, tau2, **{**data, "gauss_idx": np.ones(3)})
