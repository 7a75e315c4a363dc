"""The rank plot's multi-chain uniformity test against arviz-stats' own, and the plot it draws."""

from __future__ import annotations

import contextlib

import numpy as np
import pytest
from arviz_stats.base.array import array_stats
from scipy.stats import hypergeom, rankdata

from rdshare.report import build, plots, uniformity


def _ranks(n_chains, n_draws, shift, seed=0):
    """Fractional ranks of ``n_chains`` normal chains, the first moved by ``shift`` sd."""
    x = np.random.default_rng(seed).normal(size=(n_chains, n_draws))
    x[0] += shift
    return rankdata(x, axis=None).reshape(n_chains, n_draws) / x.size


def _marked(p, b, w, alpha=0.01):
    """Which (draw, chain) points the rank plot marks, as arviz-plots decides it."""
    return ((b > 0) * (w[..., None] > 0)) & (np.asarray(p)[..., None, None] < alpha)


def _counts(ranks):
    n_draws = ranks.shape[-1]
    z = np.arange(1, n_draws + 1) / (n_draws + 1)
    return np.stack([np.searchsorted(np.sort(r), z, side="right") for r in ranks], axis=1)


def _scipy_mid_p(counts, n_chains):
    """arviz-stats' mid-p values, computed as it computes them (scipy's hypergeom, value by value)."""
    n_draws = counts.shape[0]
    z = np.arange(1, n_draws + 1) / (n_draws + 1)
    k = np.floor(z * n_chains * n_draws).astype(int)
    out = np.empty(counts.shape)
    for j in range(n_chains):
        exact = hypergeom.pmf(counts[:, j], n_chains * n_draws, n_draws, k)
        lower = hypergeom.cdf(counts[:, j], n_chains * n_draws, n_draws, k) - 0.5 * exact
        out[:, j] = 2 * np.minimum(lower, 1 - lower)
    return out


@pytest.mark.parametrize(
    ("n_chains", "n_draws", "shift"),
    [
        (4, 1500, 0.0),
        (4, 1500, 0.3),
        (4, 1500, 2.0),
        (2, 50, 0.0),
        (2, 400, 0.2),
        (3, 7, 1.0),
        (8, 200, 0.1),
        (4, 300, 0.5),
    ],
)
def test_mid_p_values_match_scipy(n_chains, n_draws, shift):
    """The statistic the test is built from, to 1e-13 in every cell, far tails included."""
    counts = _counts(_ranks(n_chains, n_draws, shift))
    ours = uniformity.hypergeom_mid_p(counts, n_chains)
    np.testing.assert_allclose(ours, _scipy_mid_p(counts, n_chains), rtol=1e-12, atol=1e-13)


def test_chunked_table_has_the_same_values(monkeypatch):
    counts = _counts(_ranks(4, 300, 0.5, seed=3))
    kept = uniformity.hypergeom_mid_p(counts, 4)
    monkeypatch.setattr(uniformity, "_CACHE_VALUES", 0)  # too large to keep: rows in chunks of 7
    monkeypatch.setattr(uniformity, "_CHUNK_VALUES", 7 * 301)
    np.testing.assert_array_equal(uniformity.hypergeom_mid_p(counts, 4), kept)


def _assert_same_test(ours, theirs):
    """The same p-values and Shapley values to rounding, and the same marked points."""
    (p1, b1, w1), (p0, b0, w0) = ours, theirs
    assert b1.shape == b0.shape
    assert w1.shape == w0.shape
    np.testing.assert_allclose(p1, p0, rtol=1e-9, atol=1e-300)
    # Shapley values are sums of Cauchy values tan((0.5 - g) * pi), up to 1.6e16 where g is 0:
    # compared after arctan, back on the probability scale
    np.testing.assert_allclose(np.arctan(b1), np.arctan(b0), rtol=0, atol=1e-12)
    np.testing.assert_allclose(np.arctan(w1), np.arctan(w0), rtol=0, atol=1e-12)
    assert np.array_equal(_marked(p1, b1, w1), _marked(p0, b0, w0))


#: chains, draws, shift of chain 0 (0: mixed; 0.3: some points marked; 2: p = 0, far tails everywhere)
CASES = [(4, 1500, 0.0), (4, 1500, 0.3), (4, 1500, 2.0), (3, 7, 1.0), (8, 200, 0.1), (4, 300, 0.5)]


@pytest.mark.parametrize(("n_chains", "n_draws", "shift"), CASES)
def test_matches_arviz_stats(n_chains, n_draws, shift):
    """The whole test, p-value, Shapley values and marks, as arviz-stats computes it.

    Not with two chains: their hypergeometric distributions are symmetric, so a count at the centre
    has a mid-p value of 1 exactly, which both implementations round to 1 +- 1 ulp; its Cauchy value
    is then +-1e15 to 1e16 at random and swamps the Shapley values of the other draws, in arviz-stats
    as here. Those cases are checked above on the mid-p values, which agree to 1e-13.
    """
    ranks = _ranks(n_chains, n_draws, shift)
    assert not np.any(np.abs(_scipy_mid_p(_counts(ranks), n_chains) - 1) < 1e-12)
    theirs = array_stats.mchain_uniformity_test(ranks)
    _assert_same_test(uniformity._Array().mchain_uniformity_test(ranks), theirs)
    if shift >= 0.3 and n_draws >= 300:  # the cases exercise the marks, not only their absence
        assert _marked(*theirs).any()


def test_leading_dimensions_and_axis_order():
    ranks = np.stack([_ranks(4, 120, s, seed=i) for i, s in enumerate((0.0, 0.4, 1.0))])
    p0, b0, w0 = array_stats.mchain_uniformity_test(ranks)
    p1, b1, w1 = uniformity._Array().mchain_uniformity_test(ranks)
    assert p1.shape == p0.shape == (3,)
    _assert_same_test((p1, b1, w1), (p0, b0, w0))
    swapped = np.swapaxes(ranks, -1, -2)  # (case, draw, chain)
    p2, b2, w2 = uniformity._Array().mchain_uniformity_test(swapped, chain_axis=-1, draw_axis=-2)
    np.testing.assert_array_equal(p2, p1)
    np.testing.assert_array_equal(b2, b1)
    np.testing.assert_array_equal(w2, w1)


@pytest.mark.parametrize(
    "ranks",
    [_ranks(1, 50, 0.0), np.where(np.eye(2, 50, dtype=bool), np.nan, _ranks(2, 50, 0.0))],
    ids=["one chain", "not finite"],
)
def test_what_it_does_not_cover_goes_to_arviz_stats(ranks):
    with pytest.raises(ValueError, match=r"chain|finite") as theirs:
        array_stats.mchain_uniformity_test(ranks)
    with pytest.raises(ValueError, match=r"chain|finite") as ours:
        uniformity._Array().mchain_uniformity_test(ranks)
    assert str(ours.value) == str(theirs.value)


def _rank_png(tree, monkeypatch, fast: bool) -> bytes:
    if not fast:
        monkeypatch.setattr(uniformity, "fast_rank_stats", contextlib.nullcontext)
    return build._png(plots.rank(tree))


@pytest.mark.parametrize("shift", [0.0, 0.5], ids=["as fitted", "one chain moved"])
def test_rank_plot_pixels_are_arviz_stats_own(small_fit, shift, monkeypatch):
    """The rank plot drawn with this test is the same image, byte for byte, as with arviz-stats' test,
    on a real fit and on the same fit with one chain moved so that points are marked."""
    tree = small_fit.tree.copy()
    post = tree["posterior"].ds
    if shift:
        moved = {}
        for name in plots.HEADLINE:
            if name in post:
                da = post[name]
                moved[name] = da + shift * float(da.std()) * (da["chain"] == da["chain"][0])
        tree["posterior"] = post.assign(moved)
        discount = moved["discount"].values
        ranks = rankdata(discount, axis=None).reshape(discount.shape) / discount.size
        assert _marked(
            *array_stats.mchain_uniformity_test(ranks)
        ).any()  # the moved chain is marked
    fast = _rank_png(tree, monkeypatch, fast=True)
    assert fast == _rank_png(tree, monkeypatch, fast=False)


def test_rank_plot_goes_through_it(small_fit, monkeypatch):
    """If an arviz upgrade stopped asking the ``stats.module`` rcParam, the speed would be lost
    silently: this fails instead."""
    calls = []
    real = uniformity.mtc_c
    monkeypatch.setattr(uniformity, "mtc_c", lambda ary: calls.append(ary.shape) or real(ary))
    plots.rank(small_fit.tree)
    names = [n for n in plots.HEADLINE if n in small_fit.tree["posterior"].ds]
    assert len(calls) == len(names)
    post = small_fit.tree["posterior"].ds
    assert calls[0] == (post.sizes["chain"], post.sizes["draw"])


def test_the_table_is_shared_within_a_plot_and_dropped_after(small_fit, monkeypatch):
    built = []
    real = uniformity._mid_p_rows
    monkeypatch.setattr(uniformity, "_mid_p_rows", lambda *a: built.append(a) or real(*a))
    plots.rank(small_fit.tree)
    post = small_fit.tree["posterior"].ds
    assert built == [(post.sizes["draw"], post.sizes["chain"], 0, post.sizes["draw"])]
    assert uniformity._cached_table.cache_info().currsize == 0
