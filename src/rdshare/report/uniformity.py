"""The rank plot's multi-chain uniformity test, computed from one table per plot instead of per value.

arviz-plots' ``plot_rank`` (method ``"mtc_c"``) asks arviz-stats, for every quantity, whether the
chains rank alike: for each chain and each of the ``n_draws`` evaluation points it needs the
hypergeometric probability and CDF of that chain's ECDF count (Tesso and Vehtari's mid-p test,
combined with the Cauchy method). arviz-stats gets them from ``scipy.stats.hypergeom``, one Boost
evaluation per value: with 4 chains of 1500 draws that is 48,000 evaluations per plot, about 1.2 s, most
of the cost of the report's rank plot.

Every one of those evaluations is an entry of one table. The population (all draws), the successes
(one chain's draws) and the number drawn at each evaluation point depend only on the numbers of chains
and draws, so each row of the table, the hypergeometric distribution at one evaluation point, is
computed once over its whole support, and each chain's values are read out of it. The arithmetic after
that (Cauchy combination, Shapley contributions) is arviz-stats' own, written out here over whole
arrays. The results agree with arviz-stats to rounding (tested against it on well-mixed and badly mixed
chains), and the rank plot's pixels are the same (tested on a fit and on one with a chain moved).

It plugs in through arviz-stats' documented extension point, the ``stats.module`` rcParam, so only
this one test changes and only inside :func:`fast_rank_stats`. Anything it does not cover (extra
arguments, fewer than two chains, non-finite ranks, no draws) goes to arviz-stats unchanged.
"""

from __future__ import annotations

from contextlib import contextmanager
from functools import lru_cache

import numpy as np
from arviz_stats.base.array import BaseArray
from arviz_stats.base.dataarray import BaseDataArray

#: rows of the table computed at once where it is not kept (bounds memory: rows x (n_draws + 1) floats)
_CHUNK_VALUES = 1 << 20
#: the largest table kept between the quantities of one plot (32 MiB; 4 x 1500 draws need 18 MiB)
_CACHE_VALUES = 1 << 22


def hypergeom_mid_p(counts: np.ndarray, n_chains: int) -> np.ndarray:
    """Two-sided mid-p values of each chain's ECDF counts, shape ``(n_draws, n_chains)``.

    ``counts[i, j]`` is how many of chain ``j``'s ``n_draws`` fractional ranks are at most
    ``z_i = (i + 1) / (n_draws + 1)``. Under uniformity it is hypergeometric: ``k_i = floor(z_i *
    n_chains * n_draws)`` draws taken from all ``n_chains * n_draws``, of which chain ``j`` holds
    ``n_draws``. The result is ``2 * min(P(X < c) + P(X = c) / 2, 1 - that)``, as in arviz-stats.
    """
    counts = np.asarray(counts, dtype=np.intp)
    n_draws = counts.shape[0]
    if n_draws * (n_draws + 1) <= _CACHE_VALUES:
        return np.take_along_axis(_cached_table(n_draws, n_chains), counts, axis=1)
    out = np.empty(counts.shape)
    rows = max(1, _CHUNK_VALUES // (n_draws + 1))
    for start in range(0, n_draws, rows):
        stop = min(n_draws, start + rows)
        table = _mid_p_rows(n_draws, n_chains, start, stop)
        out[start:stop] = np.take_along_axis(table, counts[start:stop], axis=1)
    return out


@lru_cache(maxsize=1)
def _cached_table(n_draws: int, n_chains: int) -> np.ndarray:
    """The whole table, kept for the next quantity of the same plot (the same chains and draws) until
    :func:`fast_rank_stats` ends."""
    table = _mid_p_rows(n_draws, n_chains, 0, n_draws)
    table.flags.writeable = False
    return table


def _mid_p_rows(n_draws: int, n_chains: int, start: int, stop: int) -> np.ndarray:
    """Rows ``start:stop`` of the table of mid-p values: row ``i`` holds the value of every possible
    count ``0..n_draws`` at evaluation point ``i``.

    Each row's probabilities are built outward from its mode by the ratio of neighbouring terms, so
    they carry no cancellation between large log-factorials (relative error about 1e-14). The CDF is
    summed as Boost, behind scipy's ``hypergeom.cdf``, sums it: from below when the count is under the
    mode, otherwise as one minus the terms above it, stopping after the first term under machine
    epsilon. So the far tails round as in arviz-stats, where they decide which points are marked.
    """
    total = n_chains * n_draws
    z = np.arange(1, n_draws + 1) / (n_draws + 1)
    kk = np.floor(z * total)[start:stop, None]
    x = np.arange(n_draws + 1, dtype=float)
    lo = np.maximum(0.0, kk - (total - n_draws))
    hi = np.minimum(float(n_draws), kk)
    mode = np.floor((n_draws + 1.0) * (kk + 1.0) / (total + 2.0))
    # log P(X = x + 1) - log P(X = x), defined for lo <= x < hi
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = ((n_draws - x) * (kk - x)) / ((x + 1.0) * (total - n_draws - kk + x + 1.0))
        log_ratio = np.where((x >= lo) & (x < hi), np.log(ratio), 0.0)
    # log P(X = x) - log P(X = mode): sums of steps from the mode outward, each side on its own
    up = np.cumsum(np.where(x >= mode, log_ratio, 0.0), axis=1)
    up = np.concatenate([np.zeros_like(up[:, :1]), up[:, :-1]], axis=1)
    down = np.cumsum(np.where(x < mode, log_ratio, 0.0)[:, ::-1], axis=1)[:, ::-1]
    inside = (x >= lo) & (x <= hi)
    pmf = np.where(inside, np.exp(np.where(x >= mode, up, -down)), 0.0)
    pmf /= pmf.sum(axis=1, keepdims=True)
    below = np.cumsum(pmf, axis=1)  # P(X <= x)
    # Boost's sum above x: the terms from x + 1 up to and including the first one <= eps above the mode
    tail = np.cumsum(pmf[:, ::-1], axis=1)[:, ::-1]  # P(X >= x)
    tail = np.concatenate([tail, np.zeros_like(tail[:, :2])], axis=1)  # and 0 past the end
    big = (pmf > np.finfo(float).eps) & (x >= mode)
    last_big = np.where(big, x, mode - 1.0).max(axis=1, keepdims=True).astype(np.intp)
    # below last_big the sum runs to last_big + 1; from there on it is the single next term
    end = np.take_along_axis(tail, np.minimum(last_big + 2, n_draws + 2), axis=1)
    next_term = np.concatenate([pmf[:, 1:], np.zeros_like(pmf[:, :1])], axis=1)
    above = np.where(x < last_big, tail[:, 1:-1] - end, next_term)
    cdf = np.where(x < mode, below, 1.0 - above)
    # Outside the support the CDF is exactly 0 or 1 (and the mass 0), as scipy returns them.
    cdf = np.where(x < lo, 0.0, np.where(x >= hi, 1.0, cdf))
    lower = cdf - 0.5 * pmf
    return 2 * np.minimum(lower, 1.0 - lower)


def _shapley_mean(values: np.ndarray) -> np.ndarray:
    """Closed-form Shapley contributions to a mean, along the last axis (arviz-stats' formula)."""
    n = values.shape[-1]
    if n == 1:
        return np.zeros_like(values)
    harmonic_n = np.sum(1.0 / np.arange(1, n + 1))
    mean_others = (values.sum(axis=-1, keepdims=True) - values) / (n - 1)
    return values / n + ((harmonic_n - 1) / n) * (values - mean_others)


def mtc_c(ary: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
    """The multi-chain test for one ``(n_chains, n_draws)`` array of fractional ranks: the global
    p-value, the between-chain Shapley values ``(n_draws, n_chains)`` and the draw-wise ones."""
    n_chains, n_draws = ary.shape
    z = np.arange(1, n_draws + 1) / (n_draws + 1)
    sorted_ary = np.sort(ary, axis=1)
    counts = np.empty((n_draws, n_chains), dtype=int)
    for j in range(n_chains):
        counts[:, j] = np.searchsorted(sorted_ary[j], z, side="right")
    gamma_chains = hypergeom_mid_p(counts, n_chains)
    b_cauchy = np.tan((0.5 - gamma_chains) * np.pi)
    ps = 0.5 - np.arctan(b_cauchy.mean(axis=1)) / np.pi
    w_cauchy = np.tan((0.5 - ps) * np.pi)
    p_value = 0.5 - np.arctan(w_cauchy.mean()) / np.pi
    return p_value, _shapley_mean(b_cauchy), _shapley_mean(w_cauchy)


class _Array(BaseArray):
    """arviz-stats' array functions with :func:`mtc_c` as the multi-chain uniformity test."""

    def mchain_uniformity_test(self, ary, chain_axis=-2, draw_axis=-1, **kwargs):
        ary = np.asarray(ary)
        if (
            kwargs
            or ary.ndim < 2
            or ary.shape[chain_axis] < 2
            or ary.shape[draw_axis] == 0
            or not np.all(np.isfinite(ary))
        ):
            return super().mchain_uniformity_test(ary, chain_axis, draw_axis, **kwargs)
        ary = np.moveaxis(ary, [chain_axis, draw_axis], [-2, -1])
        lead, (n_chains, n_draws) = ary.shape[:-2], ary.shape[-2:]
        p = np.empty(lead)
        b = np.empty((*lead, n_draws, n_chains))
        w = np.empty((*lead, n_draws))
        for i in np.ndindex(lead):
            p[i], b[i], w[i] = mtc_c(ary[i])
        return p, b, w


#: the ``stats.module`` object: arviz-stats' DataArray layer over :class:`_Array`
STATS_MODULE = BaseDataArray(array_class=_Array())


@contextmanager
def fast_rank_stats():
    """Within the block, arviz-stats (and so ``arviz_plots.plot_rank``) runs :func:`mtc_c`; the table
    it builds is shared by the block's quantities and dropped at its end."""
    from arviz_base import rc_context

    try:
        with rc_context({"stats.module": STATS_MODULE}):
            yield
    finally:
        _cached_table.cache_clear()  # kept for one plot's quantities, not for the process's life
