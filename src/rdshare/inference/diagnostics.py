"""The convergence gate: a verdict with every figure it used, not a log line.

Thresholds (docs/report.md, "Convergence"; README, "Exit codes"): r_hat <= 1.01, bulk and tail
ESS >= 400, no divergent transition after tuning, E-BFMI >= 0.3 in every chain.

The figures are arviz-stats' (rank-normalised split R-hat, bulk and tail ESS, E-BFMI), to the last bit.
:func:`rank_diagnostics` computes R-hat and the two ESS of many quantities at once: arviz-stats ranks and
transforms each quantity separately and ranks the same draws twice (R-hat and bulk ESS), which cost
about 0.1 s per fit, a tenth of a simulation-based calibration's time. It follows arviz-stats' steps
array by array, so the numbers are the same bits (``tests/inference/test_diagnostics.py`` compares
them with ``arviz_stats.rhat`` and ``arviz_stats.ess`` on random draws with ties, constant and non-finite
columns); a quantity with a non-finite draw, or too few chains or draws, is handed to arviz-stats itself.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import arviz_stats as azs
import numpy as np
import xarray as xr
from scipy import special
from scipy.fftpack import next_fast_len

RHAT_MAX = 1.01
#: The last piece of advice after a failed gate (left out where the run was kept anyway).
KEEP_ADVICE = "to keep this run anyway, rerun with --allow-unconverged (it stays marked)"
ESS_MIN = 400
BFMI_MIN = 0.3


@dataclass(frozen=True)
class Check:
    """One criterion of the gate."""

    name: str
    value: float
    threshold: float
    passed: bool
    worst: str = ""

    def describe(self) -> str:
        op = {
            "r_hat": "<=",
            "divergences": "<=",
            "ess_bulk": ">=",
            "ess_tail": ">=",
            "e_bfmi": ">=",
        }
        where = f" ({self.worst})" if self.worst else ""
        status = "ok" if self.passed else "FAILED"
        val = (
            f"{self.value:.0f}"
            if self.name != "r_hat" and self.name != "e_bfmi"
            else f"{self.value:.3f}"
        )
        return f"{self.name} = {val}{where}, needs {op[self.name]} {self.threshold:g}: {status}"


@dataclass(frozen=True)
class Verdict:
    """Result of the gate."""

    passed: bool
    checks: tuple[Check, ...]
    advice: tuple[str, ...] = field(default_factory=tuple)
    n_draws: int = 0
    n_chains: int = 0

    @property
    def failed(self) -> tuple[Check, ...]:
        return tuple(c for c in self.checks if not c.passed)

    def to_dict(self) -> dict:
        return {
            "converged": self.passed,
            "checks": [asdict(c) for c in self.checks],
            "advice": list(self.advice),
            "draws": self.n_draws,
            "chains": self.n_chains,
            "thresholds": {
                "r_hat_max": RHAT_MAX,
                "ess_min": ESS_MIN,
                "divergences_max": 0,
                "e_bfmi_min": BFMI_MIN,
            },
        }

    def describe(self, *, kept: bool = False) -> str:
        """The verdict in words; ``kept`` (the run is kept with --allow-unconverged) drops the advice
        to do that."""
        head = "converged: every check passed" if self.passed else "NOT CONVERGED"
        lines = [head, *("  " + c.describe() for c in self.checks)]
        advice = [a for a in self.advice if not (kept and a == KEEP_ADVICE)]
        if advice:
            lines.append("What to try:")
            lines += [f"  - {a}" for a in advice]
        return "\n".join(lines)


def advice(failed: set[str], settings: dict | None = None) -> list[str]:
    """What to try after the gate failed ``failed`` checks, naming settings the user does not have yet.

    ``settings`` holds the sampler settings the fit ran with (``draws``, ``tune``, ``target_accept``,
    ``seed``); each suggestion is a change from those values.
    """
    s = settings or {}
    out = []
    if failed & {"ess_bulk", "ess_tail", "r_hat"}:
        draws = int(s.get("draws", 1000))
        out.append(
            f"draw more: --draws {2 * draws} (this fit had {draws}); ESS grows with the number of draws"
        )
    if "r_hat" in failed:
        tune = int(s.get("tune", 1000))
        out.append(
            f"chains disagree: more tuning, --tune {2 * tune} (this fit had {tune}), and look at the "
            "rank plots in the report"
        )
    if "divergences" in failed:
        ta = float(s.get("target_accept", 0.8))
        if ta < 0.999:
            higher = round(1.0 - (1.0 - ta) / 2.0, 6)
            step = f"raise --target-accept to {higher:g} (this fit had {ta:g})"
        else:
            step = f"--target-accept is already {ta:g}, so raising it further will not help"
        seed = s.get("seed")
        other = f" or another --seed (this fit had {seed})" if seed is not None else ""
        out.append(
            "divergences mean the sampler could not explore part of the posterior: "
            f"{step}{other}; check the priors of the scale parameters (sigma_lab, sigma_meas_*) "
            "for mass near zero"
        )
    if "e_bfmi" in failed:
        tune = int(s.get("tune", 1000))
        out.append(
            "low E-BFMI: the scale parameters' priors may be too wide; longer tuning, "
            f"--tune {2 * tune} (this fit had {tune})"
        )
    if failed:
        out.append(KEEP_ADVICE)
    return out


# ---------------------------------------------------------------------------------------------------
# R-hat and ESS of many quantities at once (arviz-stats' arithmetic, array by array)
# ---------------------------------------------------------------------------------------------------


def _average_ranks(flat: np.ndarray) -> np.ndarray:
    """``scipy.stats.rankdata(flat, method="average", axis=-1)`` of finite rows, the same bits.

    scipy sorts stably (merge sort); tied values share one average rank whatever their order, so an
    unstable sort does (numpy's default sorts floats with SIMD, about 5 times faster on a fit's draws).
    Each rank is computed as scipy computes it, ``first + (count - 1) / 2`` with ``first`` the tie
    group's first ordinal rank: integers and halves, exact in floating point."""
    k, n = flat.shape
    order = np.argsort(flat, axis=-1)
    srt = np.take_along_axis(flat, order, axis=-1)
    starts = np.ones((k, n), dtype=bool)
    np.not_equal(srt[:, 1:], srt[:, :-1], out=starts[:, 1:])
    ordinal = np.arange(1, n + 1, dtype=float)
    if starts.all():  # no ties (continuous draws): the ordinal ranks
        sorted_ranks = np.broadcast_to(ordinal, (k, n))
    else:
        pos = np.arange(n)
        first = np.maximum.accumulate(np.where(starts, pos, 0), axis=-1)
        ends = np.ones((k, n), dtype=bool)
        ends[:, :-1] = starts[:, 1:]
        last = np.minimum.accumulate(np.where(ends, pos, n)[:, ::-1], axis=-1)[:, ::-1]
        counts = (last - first + 1).astype(float)
        sorted_ranks = ordinal[first] + (counts - 1) / 2
    ranks = np.empty((k, n))
    np.put_along_axis(ranks, order, sorted_ranks, axis=-1)
    return ranks


def _z_scale(x: np.ndarray) -> np.ndarray:
    """arviz-stats' ``_z_scale`` of each ``x[i]`` (all its draws pooled): Blom-backtransformed average
    ranks through the normal quantile function (``scipy.stats.norm.ppf`` is ``ndtri`` of the
    probabilities, which here lie strictly inside (0, 1); called directly, without its argument
    checks)."""
    k = x.shape[0]
    flat = x.reshape(k, -1)
    rank = _average_ranks(flat)
    size = flat.shape[1]
    return special.ndtri((rank - 3 / 8) / (size - 2 * 3 / 8 + 1)).reshape(x.shape)


def _split(x: np.ndarray) -> np.ndarray:
    """arviz-stats' ``_split_chains`` of each ``x[i]`` (chain, draw): halves stacked as chains."""
    half = x.shape[2] // 2
    return np.concatenate((x[:, :, :half], x[:, :, -half:]), axis=1)


def _rhat(x: np.ndarray) -> np.ndarray:
    """arviz-stats' ``_rhat`` of each ``x[i]`` (chain, draw)."""
    n = x.shape[2]
    chain_mean = np.mean(x, axis=2)
    chain_var = np.var(x, axis=2, ddof=1)
    between = n * np.var(chain_mean, axis=1, ddof=1)
    within = np.mean(chain_var, axis=1)
    return np.sqrt((between / within + n - 1) / n)


def _autocov(x: np.ndarray) -> np.ndarray:
    """arviz-stats' ``autocov`` along the last axis."""
    n = x.shape[-1]
    m = next_fast_len(2 * n)
    x = x - x.mean(-1, keepdims=True)
    f = np.fft.rfft(x, n=m, axis=-1)
    f *= np.conjugate(f)
    cov = np.fft.irfft(f, n=m, axis=-1)[..., :n]
    cov /= n
    return cov


def _ess_one(ary: np.ndarray, acov: np.ndarray) -> float:
    """arviz-stats' ``_ess`` of one (chain, draw) array, its autocovariance given (Geyer's initial
    positive and monotone sequences)."""
    n_chain, n_draw = ary.shape
    chain_mean = ary.mean(axis=1)
    mean_var = np.mean(acov[:, 0]) * n_draw / (n_draw - 1.0)
    var_plus = mean_var * (n_draw - 1.0) / n_draw
    if n_chain > 1:
        var_plus += np.var(chain_mean, axis=None, ddof=1)
    rho_hat_t = np.zeros(n_draw)
    rho_hat_even = 1.0
    rho_hat_t[0] = rho_hat_even
    rho_hat_odd = 1.0 - (mean_var - np.mean(acov[:, 1])) / var_plus
    rho_hat_t[1] = rho_hat_odd
    t = 1
    while t < (n_draw - 3) and (rho_hat_even + rho_hat_odd) > 0.0:
        rho_hat_even = 1.0 - (mean_var - np.mean(acov[:, t + 1])) / var_plus
        rho_hat_odd = 1.0 - (mean_var - np.mean(acov[:, t + 2])) / var_plus
        if (rho_hat_even + rho_hat_odd) >= 0:
            rho_hat_t[t + 1] = rho_hat_even
            rho_hat_t[t + 2] = rho_hat_odd
        t += 2
    max_t = t - 2
    if rho_hat_even > 0:
        rho_hat_t[max_t + 1] = rho_hat_even
    t = 1
    while t <= max_t - 2:
        if (rho_hat_t[t + 1] + rho_hat_t[t + 2]) > (rho_hat_t[t - 1] + rho_hat_t[t]):
            rho_hat_t[t + 1] = (rho_hat_t[t - 1] + rho_hat_t[t]) / 2.0
            rho_hat_t[t + 2] = rho_hat_t[t + 1]
        t += 2
    ess = n_chain * n_draw
    tau_hat = -1.0 + 2.0 * np.sum(rho_hat_t[: max_t + 1]) + np.sum(rho_hat_t[max_t + 1 : max_t + 2])
    tau_hat = max(tau_hat, 1 / np.log10(ess))
    ess = ess / tau_hat
    if np.isnan(rho_hat_t).any():
        ess = np.nan
    return ess


def _ess(x: np.ndarray) -> np.ndarray:
    """arviz-stats' ``_ess`` of each ``x[i]`` (chain, draw)."""
    x = np.asarray(x, dtype=float)
    acov = _autocov(x)
    out = np.empty(x.shape[0])
    for i in range(x.shape[0]):
        if (np.max(x[i]) - np.min(x[i])) < np.finfo(float).resolution:
            out[i] = x[i].size
        else:
            out[i] = _ess_one(x[i], acov[i])
    return out


def _tail_probs() -> tuple[float, float]:
    """The tail ESS's two probabilities, as ``arviz_stats.ess(method="tail")`` chooses them."""
    from arviz_base import rcParams

    prob = rcParams["stats.ci_prob"]
    low, high = sorted((prob, 1 - prob))
    return low, high


def rank_diagnostics(values: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rank-normalised split R-hat, bulk ESS and tail ESS of each column of ``values`` (chain, draw,
    k): ``arviz_stats.rhat`` and ``arviz_stats.ess(method="bulk" / "tail")``, bit for bit (module
    docstring)."""
    values = np.asarray(values, dtype=float)
    k = values.shape[2]
    rhat, bulk, tail = np.full(k, np.nan), np.full(k, np.nan), np.full(k, np.nan)
    usable = values.shape[0] >= 2 and values.shape[1] >= 4
    ok = np.isfinite(values).all(axis=(0, 1)) & usable
    if ok.any():
        x = np.ascontiguousarray(np.moveaxis(values[:, :, ok], 2, 0))  # (k, chain, draw)
        split = _split(x)
        z = _z_scale(split)
        med = np.median(split.reshape(split.shape[0], -1), axis=-1)
        folded = np.abs(split - med[:, None, None])
        rhat[ok] = np.maximum(_rhat(z), _rhat(_z_scale(folded)))
        bulk[ok] = _ess(z)
        ends = []
        for p in _tail_probs():
            q = np.quantile(x.reshape(x.shape[0], -1), p, axis=-1)
            ends.append(_ess(_split(x <= q[:, None, None])))
        tail[ok] = np.minimum(ends[0], ends[1])
    if not ok.all():
        # anything unusual (non-finite draws, too few chains or draws): arviz-stats decides
        flat = xr.Dataset({"all": (("chain", "draw", "entry"), values[:, :, ~ok])})
        rhat[~ok] = azs.rhat(flat)["all"].values
        bulk[~ok] = azs.ess(flat, method="bulk")["all"].values
        tail[~ok] = azs.ess(flat, method="tail")["all"].values
    return rhat, bulk, tail


def _stacked(post: xr.Dataset) -> xr.Dataset:
    """Every element of every variable as one variable ``all`` (chain, draw, entry), labelled
    ``name`` or ``name[coord,...]``: the diagnostics then run once, not once per variable (about 0.1 s
    less per fit, which adds up over an SBC's 200 fits)."""
    parts, labels = [], []
    for name, da in post.data_vars.items():
        extra = [d for d in da.dims if d not in ("chain", "draw")]
        arr = np.asarray(da.transpose("chain", "draw", *extra).values, dtype=float)
        parts.append(arr.reshape(arr.shape[0], arr.shape[1], -1))
        if not extra:
            labels.append(str(name))
            continue
        for pos in np.ndindex(*[da.sizes[d] for d in extra]):
            cells = [
                str(da[d].values[i]) if d in da.coords else str(i)
                for d, i in zip(extra, pos, strict=True)
            ]
            labels.append(f"{name}[{','.join(cells)}]")
    values = np.concatenate(parts, axis=2)
    return xr.Dataset(
        {"all": (("chain", "draw", "entry"), values)},
        coords={"chain": post["chain"].values, "draw": post["draw"].values, "entry": labels},
    )


def _extreme_entry(values: np.ndarray, labels, fn) -> tuple[float, str]:
    """(value, label) of the extreme entry (the first one on ties), via fn in {max, min}."""
    arr = np.asarray(values, dtype=float)
    if arr.size == 0 or np.all(np.isnan(arr)):
        return float("nan"), ""
    idx = int(np.nanargmax(arr) if fn is max else np.nanargmin(arr))
    return float(arr[idx]), str(labels[idx])


def gate(tree, var_names: list[str], settings: dict | None = None) -> Verdict:
    """Run the convergence gate on ``var_names`` of the posterior of ``tree``.

    ``settings`` (the sampler settings of the fit) make the advice name changes from them.
    """
    post = tree["posterior"].ds[var_names]
    n_chains, n_draws = int(post.sizes["chain"]), int(post.sizes["draw"])
    flat = _stacked(post)["all"]
    labels = flat["entry"].values
    rhat, ess_bulk, ess_tail = rank_diagnostics(flat.values)
    r_val, r_where = _extreme_entry(rhat, labels, max)
    eb_val, eb_where = _extreme_entry(ess_bulk, labels, min)
    et_val, et_where = _extreme_entry(ess_tail, labels, min)
    stats = tree["sample_stats"].ds
    n_div = int(np.asarray(stats["diverging"].values).sum()) if "diverging" in stats else 0
    bfmi = np.asarray(azs.bfmi(tree)["energy"].values, dtype=float).ravel()
    bfmi_min = float(np.min(bfmi)) if bfmi.size else float("nan")
    checks = (
        Check("r_hat", r_val, RHAT_MAX, bool(r_val <= RHAT_MAX), r_where),
        Check("ess_bulk", eb_val, ESS_MIN, bool(eb_val >= ESS_MIN), eb_where),
        Check("ess_tail", et_val, ESS_MIN, bool(et_val >= ESS_MIN), et_where),
        Check("divergences", float(n_div), 0, n_div == 0, f"of {n_chains * n_draws} draws"),
        Check(
            "e_bfmi",
            bfmi_min,
            BFMI_MIN,
            bool(bfmi_min >= BFMI_MIN),
            f"lowest of {bfmi.size} chains",
        ),
    )
    failed = {c.name for c in checks if not c.passed}
    return Verdict(
        passed=not failed,
        checks=checks,
        advice=tuple(advice(failed, settings)),
        n_draws=n_draws,
        n_chains=n_chains,
    )
