"""The gate's R-hat and ESS of many quantities at once: arviz-stats' numbers, bit for bit."""

from __future__ import annotations

import arviz_stats as azs
import numpy as np
import pytest
import xarray as xr

from rdshare.inference.diagnostics import rank_diagnostics


def _arviz(values: np.ndarray):
    flat = xr.Dataset({"all": (("chain", "draw", "entry"), values)})
    return (
        azs.rhat(flat)["all"].values,
        azs.ess(flat, method="bulk")["all"].values,
        azs.ess(flat, method="tail")["all"].values,
    )


def _cases():
    rng = np.random.default_rng(11)
    for chains, draws in ((4, 1500), (2, 101), (3, 8), (4, 4), (1, 50), (2, 3)):
        k = 7
        x = rng.normal(size=(chains, draws, k))
        x[..., 1] = np.cumsum(x[..., 1], axis=1) * 0.05 + rng.normal(size=(chains, 1))  # sticky
        x[..., 2] = np.round(x[..., 2], 1)  # ties
        x[..., 3] = 2.5  # constant
        x[..., 4] = rng.integers(0, 3, size=(chains, draws))  # few distinct values
        x[..., 5] = rng.standard_cauchy(size=(chains, draws))
        if draws > 5:
            x[0, 5, 6] = np.nan  # a non-finite draw: handed to arviz-stats
        yield pytest.param(x, id=f"{chains}x{draws}")


@pytest.mark.parametrize("values", list(_cases()))
def test_same_bits_as_arviz_stats(values):
    with np.errstate(all="ignore"):
        ours = rank_diagnostics(values)
        theirs = _arviz(values)
    for name, a, b in zip(("r_hat", "ess_bulk", "ess_tail"), ours, theirs, strict=True):
        np.testing.assert_array_equal(a, np.asarray(b, dtype=float), err_msg=name)


def test_a_real_posterior():
    """The default fit's draws: every quantity the gate and the summary read."""
    from rdshare.core import dataset as ds_mod
    from rdshare.core import design as design_mod
    from rdshare.core import priors as priors_mod
    from rdshare.inference.fit import FitConfig, compiled_sampler, sample_posterior

    design = design_mod.from_dataset(ds_mod.load())
    priors = priors_mod.load()
    tree = sample_posterior(
        compiled_sampler(design, priors), FitConfig(draws=300, tune=300, cores=1), seed=3
    )
    post = tree["posterior"].ds
    cols = []
    for name in post.data_vars:
        arr = np.asarray(post[name].values, dtype=float)
        cols.append(arr.reshape(arr.shape[0], arr.shape[1], -1))
    values = np.concatenate(cols, axis=2)
    for a, b in zip(rank_diagnostics(values), _arviz(values), strict=True):
        np.testing.assert_array_equal(a, np.asarray(b, dtype=float))


def _rank_rows():
    rng = np.random.default_rng(5)
    yield pytest.param(rng.normal(size=(6, 3000)), id="continuous")
    yield pytest.param(np.round(rng.normal(size=(6, 3000)), 1), id="ties")
    yield pytest.param(rng.integers(0, 3, size=(4, 500)).astype(float), id="three-values")
    yield pytest.param(np.full((3, 40), 2.5), id="constant")
    yield pytest.param(np.array([[0.0, -0.0, 1.0, -0.0, 0.0, -1.0]]), id="signed-zeros")
    yield pytest.param(np.array([[1.0], [3.0]]), id="one-draw")
    mixed = rng.normal(size=(3, 1000))
    mixed[0, ::7] = 0.25  # one large tie group among distinct values
    mixed[1, :] = np.repeat(rng.normal(size=250), 4)[rng.permutation(1000)]
    yield pytest.param(mixed, id="mixed")


@pytest.mark.parametrize("rows", list(_rank_rows()))
def test_average_ranks_are_scipys(rows):
    """The gate's ranking (an unstable sort, ties averaged as scipy averages them) gives
    scipy.stats.rankdata's average ranks, bit for bit."""
    from scipy import stats

    from rdshare.inference.diagnostics import _average_ranks

    np.testing.assert_array_equal(
        _average_ranks(rows), stats.rankdata(rows, method="average", axis=-1)
    )
