"""Simulation-based calibration (SBC) of the model and sampler.

For each simulation ``i`` (Talts et al. 2018; Modrák et al. 2023):

1. draw every parameter from the priors (:func:`rdshare.core.simulate.draw_prior`);
2. simulate a dataset with the structure of the real one (same rows, kinds, covariates, labs) with the
   numpy simulator :func:`rdshare.core.simulate.simulate`, written independently of the PyMC model;
3. fit the PyMC model to it with the sampler settings a user's fit uses, on a model compiled once per
   process (``compiled.with_data``);
4. record, for every top-level parameter and the headline ``f_follower``, the rank of the true value among
   the thinned posterior draws, and the fit's convergence-gate figures.

If the model, the simulator and the sampler agree, every rank is uniform on ``0..L`` (``L`` kept draws).

Seeds
    Simulation ``i`` uses the ``i``-th child of ``np.random.SeedSequence(seed)`` (``.spawn``), whatever
    runs it: results do not depend on the number of workers, on chunking or on the order fits finish.

Thinning
    Ranks need (nearly) independent draws: autocorrelated draws make the rank histogram lumpy and the
    test anti-conservative. By default every ``thin``-th draw of each chain is kept with
    ``thin = ceil(chains * draws / ESS_MIN)`` (15 for 4 x 1500 draws): a fit that passes the gate has
    bulk ESS >= ESS_MIN for every quantity, so the kept draws are about one effective draw each.

Verdict
    Per quantity, the ECDF of the ranks must lie inside a simultaneous confidence band (Säilynoja,
    Bürkner and Vehtari 2022, "Graphical test for discrete uniformity and its applications in
    goodness-of-fit evaluation and multiple sample comparison", Stat Comput 32:32). The band here is
    computed exactly (their "optimisation" method), not by simulation: for ``K`` evaluation points on
    the rank grid, the probability that a uniform sample's ECDF stays inside pointwise binomial
    intervals of tail probability ``t`` is computed with a Poissonised forward recursion, and ``t`` is
    set by bisection so that probability is at least the band level. Multiplicity: ``Q`` quantities are
    tested, so each band has level ``1 - alpha / Q`` (Bonferroni), and the whole SBC passes at family
    level ``1 - alpha`` when every quantity is inside its band. Bonferroni is conservative here (the
    quantities' ranks are correlated), so a failure is a real signal.

Fits that fail the convergence gate
    are kept in the verdict (dropping them conditions on the data and would itself bias the ranks; the
    user of such a fit is warned by the gate, not misled), counted and reported per failed check. The
    verdict restricted to the fits that passed the gate is reported alongside.

This module is light to import (numpy, scipy, pandas); PyMC, nutpie and Dask are imported where used.
The ECDF-difference plots are drawn by the report layer (:mod:`rdshare.report.sbc_plots`), which
``rdshare sbc`` passes to :meth:`SBCResult.save`.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from rdshare.core.quantities import PARAMETERS, VARIANTS
from rdshare.inference.defaults import DEFAULTS, setting_problems

#: Quantities whose ranks are recorded and tested: every parameter of the full model and the derived
#: quantities that are functions of them (``f_new_lab`` adds a fresh lab effect, so it has no true value).
QUANTITIES: tuple[str, ...] = (
    *PARAMETERS,
    *(q for q in VARIANTS["full"].derived() if q != "f_new_lab"),
)
#: Family-wise error rate of the whole SBC verdict.
ALPHA = 0.05
#: Bulk ESS the convergence gate asks for (kept in sync with rdshare.inference.diagnostics.ESS_MIN).
ESS_MIN = 400
#: Gate figures recorded for every fit, in sbc.csv.
GATE_COLUMNS = (
    "converged",
    "failed_checks",
    "r_hat_max",
    "ess_bulk_min",
    "ess_tail_min",
    "divergences",
    "e_bfmi_min",
)

ProgressFn = Callable[[int, int, int], None]
Simulator = Callable[..., object]


# ---------------------------------------------------------------------------------------------------
# The simultaneous band (pure numpy / scipy)
# ---------------------------------------------------------------------------------------------------


def eval_points(n_sims: int, n_ranks: int) -> tuple[np.ndarray, np.ndarray]:
    """Rank-grid evaluation points for the ECDF of ``n_sims`` ranks taking ``n_ranks`` values.

    Returns ``(k, z)``: the ECDF is evaluated as ``#{rank < k} / n_sims`` at ``z = k / n_ranks``, which
    under uniformity is exactly ``Binomial(n_sims, z) / n_sims``. At most ``n_sims`` points are used
    (Säilynoja et al. recommend ``K <= N``), evenly spread over ``1 .. n_ranks - 1``.
    """
    if n_sims < 1 or n_ranks < 2:
        raise ValueError("need at least one simulation and two possible ranks")
    if n_ranks - 1 <= n_sims:
        k = np.arange(1, n_ranks)
    else:
        k = np.unique(np.floor(np.arange(1, n_sims + 1) * n_ranks / (n_sims + 1)).astype(np.int64))
        k = k[(k >= 1) & (k <= n_ranks - 1)]
    return k.astype(np.int64), k / n_ranks


@dataclass(frozen=True)
class Band:
    """A simultaneous band for the ECDF of ``n`` uniform ranks at points ``z``.

    ``lower[i] <= count_i <= upper[i]`` for every ``i`` with probability at least ``prob`` under
    uniformity, where ``count_i`` is the number of ranks below ``z[i]``. ``tail`` is the pointwise
    two-sided tail probability the band was built from, ``coverage`` its exact simultaneous coverage.
    """

    n: int
    z: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    tail: float
    prob: float
    coverage: float


class _BandCalc:
    """Exact simultaneous-coverage computations for fixed ``n`` and evaluation points ``z``."""

    def __init__(self, n: int, z: np.ndarray):
        self.n = int(n)
        self.z = np.asarray(z, dtype=float)
        c = np.arange(self.n + 1)
        self.cdf = stats.binom.cdf(c[None, :], self.n, self.z[:, None])  # P(X <= c)
        self.sf_ge = stats.binom.sf(c[None, :] - 1, self.n, self.z[:, None])  # P(X >= c)
        steps = np.diff(np.concatenate(([0.0], self.z)))
        self._kernels = [self._kernel(d) for d in steps]
        self._final = self._kernel(1.0 - self.z[-1])[::-1]  # pmf of N - a, a = 0..n
        self._norm = stats.poisson.pmf(self.n, self.n)

    def _kernel(self, width: float) -> np.ndarray:
        return stats.poisson.pmf(np.arange(self.n + 1), self.n * width)

    def limits(self, tail: float) -> tuple[np.ndarray, np.ndarray]:
        """Allowed counts at each point: both binomial tails of the count exceed ``tail / 2``."""
        ok = (self.cdf > tail / 2) & (self.sf_ge > tail / 2)
        lower = np.argmax(ok, axis=1)
        upper = self.n - np.argmax(ok[:, ::-1], axis=1)
        return lower, upper

    def inside(self, lower: np.ndarray, upper: np.ndarray) -> float:
        """P(the ECDF counts of ``n`` uniform draws stay within [lower, upper] at every point).

        Poissonisation: with a Poisson(n) total the counts in successive intervals are independent
        Poisson; conditioning on the total being n gives the multinomial (uniform-sample) answer.
        """
        v = np.zeros(self.n + 1)
        v[0] = 1.0
        for ker, lo, hi in zip(self._kernels, lower, upper, strict=True):
            v = np.convolve(v, ker)[: self.n + 1]
            v[:lo] = 0.0
            v[hi + 1 :] = 0.0
        return float(np.clip(v @ self._final / self._norm, 0.0, 1.0))

    def coverage(self, tail: float) -> float:
        return self.inside(*self.limits(tail))

    def band(self, prob: float) -> Band:
        """The narrowest band of this family with simultaneous coverage at least ``prob``."""
        lo_t, hi_t = 1e-300, 1.0  # coverage(lo_t) ~ 1 >= prob; search the largest tail that works
        if self.coverage(hi_t) >= prob:
            lo_t = hi_t
        else:
            for _ in range(200):
                mid = math.sqrt(lo_t * hi_t)
                if self.coverage(mid) >= prob:
                    lo_t = mid
                else:
                    hi_t = mid
                if hi_t / lo_t < 1 + 1e-9:
                    break
        lower, upper = self.limits(lo_t)
        return Band(self.n, self.z, lower, upper, lo_t, prob, self.inside(lower, upper))

    def p_value(self, counts: np.ndarray) -> float:
        """Exact P(a uniform sample's smallest pointwise tail is at most the observed one)."""
        idx = np.arange(len(self.z))
        t_obs = float(np.min(np.minimum(self.cdf[idx, counts], self.sf_ge[idx, counts])))
        ok = (self.cdf > t_obs) & (self.sf_ge > t_obs)
        lower = np.argmax(ok, axis=1)
        upper = self.n - np.argmax(ok[:, ::-1], axis=1)
        if not ok.any(axis=1).all():
            return 1.0
        return float(np.clip(1.0 - self.inside(lower, upper), 0.0, 1.0))


def simultaneous_band(n_sims: int, n_ranks: int, prob: float = 0.95) -> Band:
    """Exact simultaneous band of level ``prob`` for ``n_sims`` ranks uniform on ``0 .. n_ranks - 1``."""
    if not 0.0 < prob < 1.0:
        raise ValueError("prob must be in (0, 1)")
    _, z = eval_points(n_sims, n_ranks)
    return _BandCalc(n_sims, z).band(prob)


# ---------------------------------------------------------------------------------------------------
# Per-quantity verdicts
# ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class QuantityVerdict:
    """Calibration of one quantity: its rank ECDF against the simultaneous band."""

    name: str
    passed: bool
    p_value: float
    n: int
    n_ranks: int
    band_prob: float
    z: np.ndarray = field(repr=False)
    ecdf: np.ndarray = field(repr=False)
    lower: np.ndarray = field(repr=False)
    upper: np.ndarray = field(repr=False)
    mean_rank: float = float("nan")
    low_share: float = float("nan")
    high_share: float = float("nan")

    @property
    def worst(self) -> tuple[float, float]:
        """(z, ECDF - z) where the ECDF is furthest from uniform."""
        d = self.ecdf - self.z
        i = int(np.argmax(np.abs(d)))
        return float(self.z[i]), float(d[i])

    def describe(self) -> str:
        """One line in words: calibrated, or how the ranks depart from uniform."""
        status = "calibrated" if self.passed else "MISCALIBRATED"
        line = f"{self.name}: {status} (p = {self.p_value:.3g}, band {self.band_prob:.4f})"
        if self.passed:
            return line
        lo, hi = self.low_share, self.high_share
        notes = [
            f"mean fractional rank {self.mean_rank:.2f} (0.5 expected), {lo:.0%} of ranks in the "
            f"lowest tenth and {hi:.0%} in the highest (10% expected each)"
        ]
        if lo > 0.15 and hi > 0.15:
            notes.append("the posteriors are too narrow (overconfident)")
        elif lo < 0.05 and hi < 0.05:
            notes.append("the posteriors are too wide (underconfident)")
        elif self.mean_rank > 0.5:
            notes.append("true values tend to lie above the posterior: the fit underestimates it")
        else:
            notes.append("true values tend to lie below the posterior: the fit overestimates it")
        z, d = self.worst
        notes.append(f"largest ECDF departure {d:+.3f} at {z:.2f}")
        return line + ": " + "; ".join(notes)

    def to_dict(self) -> dict:
        z, d = self.worst
        return {
            "passed": self.passed,
            "p_value": self.p_value,
            "n": self.n,
            "n_ranks": self.n_ranks,
            "band_prob": self.band_prob,
            "mean_fractional_rank": self.mean_rank,
            "lowest_tenth_share": self.low_share,
            "highest_tenth_share": self.high_share,
            "worst_z": z,
            "worst_ecdf_minus_z": d,
            "in_words": self.describe(),
        }


def calibrate(
    ranks: dict[str, np.ndarray], n_ranks: int, alpha: float = ALPHA
) -> dict[str, QuantityVerdict]:
    """Verdict per quantity for ranks on ``0 .. n_ranks - 1``, Bonferroni over the quantities.

    Each quantity's band has level ``1 - alpha / len(ranks)``, so all quantities pass together with
    probability at least ``1 - alpha`` when the model is calibrated.
    """
    if not ranks:
        return {}
    n = len(next(iter(ranks.values())))
    if n == 0:
        return {}
    prob = 1.0 - alpha / len(ranks)
    k, z = eval_points(n, n_ranks)
    calc = _BandCalc(n, z)
    band = calc.band(prob)
    out = {}
    for name, r in ranks.items():
        r = np.asarray(r, dtype=np.int64)
        if len(r) != n:
            raise ValueError("every quantity needs the same number of ranks")
        if r.min() < 0 or r.max() >= n_ranks:
            raise ValueError(f"ranks of {name} must lie in 0..{n_ranks - 1}")
        counts = np.searchsorted(np.sort(r), k, side="left")  # #{rank < k}
        inside = bool(np.all((counts >= band.lower) & (counts <= band.upper)))
        frac = (r + 0.5) / n_ranks
        out[name] = QuantityVerdict(
            name=name,
            passed=inside,
            p_value=calc.p_value(counts),
            n=n,
            n_ranks=n_ranks,
            band_prob=prob,
            z=z,
            ecdf=counts / n,
            lower=band.lower / n,
            upper=band.upper / n,
            mean_rank=float(frac.mean()),
            low_share=float(np.mean(frac < 0.1)),
            high_share=float(np.mean(frac > 0.9)),
        )
    return out


# ---------------------------------------------------------------------------------------------------
# Configuration and one simulation
# ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SBCConfig:
    """Settings of an SBC run; the sampler settings default to a user's fit."""

    sims: int = 200
    seed: int = DEFAULTS["seed"]
    draws: int = DEFAULTS["draws"]
    tune: int = DEFAULTS["tune"]
    chains: int = DEFAULTS["chains"]
    target_accept: float = DEFAULTS["target_accept"]
    adaptation: str = "low_rank"
    thin: int | None = None
    alpha: float = ALPHA
    #: cores each fit's chains run on, in process (a Dask worker uses one)
    cores: int = DEFAULTS["cores"]

    @property
    def thin_used(self) -> int:
        if self.thin is not None:
            return self.thin
        return max(1, math.ceil(self.chains * self.draws / ESS_MIN))

    @property
    def kept_draws(self) -> int:
        """L: posterior draws each rank is taken among (ranks run 0..L)."""
        return self.chains * len(range(0, self.draws, self.thin_used))

    def validate(self) -> None:
        from rdshare.errors import InputError, Problem

        whole = (("sims", 1), ("draws", 1), ("tune", 0), ("chains", 1), ("cores", 1))
        problems = setting_problems(self, whole)
        if self.thin is not None and (not isinstance(self.thin, int) or self.thin < 1):
            msg = f"{self.thin!r} must be a whole number >= 1"
            problems.append(Problem("<command line>", msg, field="--thin"))
        if not 0.0 < self.alpha < 1.0:
            msg = f"{self.alpha!r} must be in (0, 1)"
            problems.append(Problem("<command line>", msg, field="--alpha"))
        if not problems and self.kept_draws < 2:
            msg = "thinning leaves fewer than 2 draws; lower --thin"
            problems.append(Problem("<command line>", msg, field="--thin"))
        if problems:
            raise InputError(problems)


@dataclass(frozen=True)
class _Spec:
    """Everything a worker needs to run simulations (pickled once per task)."""

    design: object
    priors: object
    config: SBCConfig
    cores: int
    simulator: Simulator | None = None


def sim_seeds(seed: int, sims: int) -> list[np.random.SeedSequence]:
    """The per-simulation seed sequences: ``SeedSequence(seed).spawn(sims)``."""
    return np.random.SeedSequence(seed).spawn(sims)


def _children(ss: np.random.SeedSequence) -> tuple[np.random.SeedSequence, np.random.SeedSequence]:
    """(simulation stream, sampler stream) of one simulation, independent of how often it is run."""
    return tuple(np.random.SeedSequence(ss.entropy, spawn_key=(*ss.spawn_key, j)) for j in (0, 1))


def _fit_config(cfg: SBCConfig, cores: int):
    from rdshare.inference.fit import FitConfig

    return FitConfig(
        seed=cfg.seed,
        draws=cfg.draws,
        tune=cfg.tune,
        chains=cfg.chains,
        cores=cores,
        target_accept=cfg.target_accept,
        adaptation=cfg.adaptation,
        predictive=False,
    )


def _one(spec: _Spec, i: int, ss: np.random.SeedSequence) -> dict:
    from rdshare.core import simulate as sim_mod
    from rdshare.inference import fit as fit_mod
    from rdshare.inference.diagnostics import gate

    cfg = spec.config
    sim_ss, fit_ss = _children(ss)
    rng = np.random.default_rng(sim_ss)
    truth = sim_mod.draw_prior(spec.priors, rng)
    simulator = spec.simulator or sim_mod.simulate
    data = simulator(spec.design, truth, rng)
    seed = int(fit_ss.generate_state(1)[0])
    # Compiled once per process and structure (fit's cache); this only swaps the data in.
    compiled = fit_mod.compiled_sampler(data, spec.priors, "full")
    t0 = time.perf_counter()
    tree = fit_mod.sample_posterior(compiled, _fit_config(cfg, spec.cores), seed, light=True)
    seconds = time.perf_counter() - t0
    post = tree["posterior"].ds
    rec: dict = {"sim": i, "seed": seed}
    thin = cfg.thin_used
    for q in QUANTITIES:
        rec[f"true_{q}"] = float(truth[q])
    for q in QUANTITIES:
        draws = np.asarray(post[q].values)[:, ::thin].ravel()
        rec[f"rank_{q}"] = int(np.sum(draws < truth[q]))
    for q in QUANTITIES:
        rec[f"sd_{q}"] = float(np.std(np.asarray(post[q].values), ddof=1))
    gate_vars = [v for v in fit_mod.gate_variables("full") if v in post]
    verdict = gate(tree, gate_vars, settings=asdict(cfg))
    checks = {c.name: c for c in verdict.checks}
    rec.update(
        {
            "converged": bool(verdict.passed),
            "failed_checks": ";".join(c.name for c in verdict.failed),
            "r_hat_max": checks["r_hat"].value,
            "ess_bulk_min": checks["ess_bulk"].value,
            "ess_tail_min": checks["ess_tail"].value,
            "divergences": int(checks["divergences"].value),
            "e_bfmi_min": checks["e_bfmi"].value,
            "fit_seconds": seconds,
        }
    )
    return rec


def run_chunk(spec: _Spec, items: list[tuple[int, np.random.SeedSequence]]) -> list[dict]:
    """Run the simulations ``items`` (index, seed sequence) in this process; the unit of a Dask task."""
    return [_one(spec, i, ss) for i, ss in items]


# ---------------------------------------------------------------------------------------------------
# Running: in process or on Dask
# ---------------------------------------------------------------------------------------------------


def _chunks(items: list, size: int) -> list[list]:
    return [items[j : j + size] for j in range(0, len(items), size)]


def _run_local(spec: _Spec, items: list, progress: ProgressFn | None) -> list[dict]:
    out: list[dict] = []
    failed = 0
    for i, ss in items:
        rec = _one(spec, i, ss)
        out.append(rec)
        failed += not rec["converged"]
        if progress is not None:
            progress(len(out), len(items), failed)
    return out


def _run_dask(
    spec: _Spec,
    items: list,
    progress: ProgressFn | None,
    *,
    workers: int | None,
    scheduler: str | None,
    client=None,
    chunk: int | None = None,
) -> tuple[list[dict], int]:
    import logging

    from dask.distributed import Client, LocalCluster, as_completed

    cluster = None
    own_client = client is None
    try:
        if client is None:
            if scheduler is not None:
                client = Client(scheduler)
            else:
                cluster = LocalCluster(
                    n_workers=workers,
                    threads_per_worker=1,
                    processes=True,
                    dashboard_address=None,
                    silence_logs=logging.ERROR,
                )
                client = Client(cluster)
        n_workers = max(1, sum(client.nthreads().values()))
        # about 20 tasks per worker: the last tasks' uneven finish then costs a few fits, not ten
        size = chunk or max(1, min(10, math.ceil(len(items) / (20 * n_workers))))
        futures = [
            client.submit(run_chunk, spec, part, pure=False) for part in _chunks(items, size)
        ]
        out: list[dict] = []
        failed = 0
        for fut in as_completed(futures):
            recs = fut.result()
            out.extend(recs)
            failed += sum(not r["converged"] for r in recs)
            if progress is not None:
                progress(len(out), len(items), failed)
        return out, n_workers
    finally:
        if own_client and client is not None:
            client.close()
        if cluster is not None:
            cluster.close()


@dataclass
class SBCResult:
    """What :func:`run` returns: the per-simulation table and the verdicts."""

    table: pd.DataFrame
    config: SBCConfig
    verdicts: dict[str, QuantityVerdict]
    verdicts_converged: dict[str, QuantityVerdict]
    info: dict = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return bool(self.verdicts) and all(v.passed for v in self.verdicts.values())

    @property
    def n_gate_failed(self) -> int:
        return int((~self.table["converged"].astype(bool)).sum())

    def gate_failures(self) -> dict[str, int]:
        """How many fits failed each gate check."""
        counts: dict[str, int] = {}
        for s in self.table["failed_checks"].fillna(""):
            for name in filter(None, str(s).split(";")):
                counts[name] = counts.get(name, 0) + 1
        return dict(sorted(counts.items()))

    def contraction(self) -> dict[str, float]:
        """Posterior contraction per quantity: ``1 - mean(posterior variance) / prior variance``.

        A passing SBC says the intervals have their stated coverage; contraction says whether the data
        (of this dataset's structure, simulated from the priors) narrow a quantity at all.
        """
        prior_sd = self.info.get("prior_sd", {})
        out = {}
        for q in QUANTITIES:
            col = f"sd_{q}"
            if col in self.table and prior_sd.get(q):
                post_var = float(np.mean(self.table[col].to_numpy() ** 2))
                out[q] = 1.0 - post_var / prior_sd[q] ** 2
        return out

    def to_dict(self) -> dict:
        n = len(self.table)
        return {
            "passed": self.passed,
            "sims": n,
            "seed": self.config.seed,
            "alpha": self.config.alpha,
            "n_quantities": len(self.verdicts),
            "band_prob_per_quantity": 1.0 - self.config.alpha / max(1, len(self.verdicts)),
            "method": (
                "rank ECDF inside an exact simultaneous band (Säilynoja, Bürkner and Vehtari 2022, "
                "optimisation method), Bonferroni over quantities"
            ),
            "kept_draws": self.config.kept_draws,
            "n_ranks": self.config.kept_draws + 1,
            "thin": self.config.thin_used,
            "config": asdict(self.config),
            "ranks_include_unconverged_fits": True,
            "gate": {
                "failed": self.n_gate_failed,
                "share": self.n_gate_failed / n if n else float("nan"),
                "by_check": self.gate_failures(),
                "max_divergences": int(self.table["divergences"].max()) if n else 0,
            },
            "quantities": {q: v.to_dict() for q, v in self.verdicts.items()},
            "contraction": self.contraction(),
            "contraction_meaning": (
                "1 - (mean posterior variance) / (prior variance), over the simulations: 0 when the "
                "simulated data teach nothing about a quantity, 1 when they pin it down"
            ),
            "converged_only": {
                "sims": n - self.n_gate_failed,
                "passed": bool(self.verdicts_converged)
                and all(v.passed for v in self.verdicts_converged.values()),
                "quantities": {
                    q: {"passed": v.passed, "p_value": v.p_value}
                    for q, v in self.verdicts_converged.items()
                },
            },
            **self.info,
        }

    def describe(self) -> str:
        """The verdict in words, one quantity per line."""
        n = len(self.table)
        head = (
            f"SBC {'PASSED' if self.passed else 'FAILED'}: {n} simulations, ranks among "
            f"{self.config.kept_draws} draws (thin {self.config.thin_used}); each quantity's band at "
            f"{1 - self.config.alpha / max(1, len(self.verdicts)):.4f} (Bonferroni over "
            f"{len(self.verdicts)} quantities, family level {1 - self.config.alpha:.2f})"
        )
        lines = [head, *("  " + v.describe() for v in self.verdicts.values())]
        k = self.n_gate_failed
        if k:
            by = ", ".join(f"{c} {m}" for c, m in self.gate_failures().items())
            lines.append(
                f"{k} of {n} fits ({k / n:.0%}) failed the convergence gate (failed checks: {by}); "
                "their ranks are included in the verdict."
            )
            if self.verdicts_converged:
                bad = [q for q, v in self.verdicts_converged.items() if not v.passed]
                lines.append(
                    f"Restricted to the {n - k} fits that passed the gate: "
                    + (f"NOT calibrated ({', '.join(bad)})" if bad else "calibrated")
                )
        else:
            lines.append(f"all {n} fits passed the convergence gate")
        contraction = self.contraction()
        if contraction:
            lines.append(
                "posterior contraction, 1 - posterior/prior variance (0: the data teach nothing): "
                + ", ".join(f"{q} {c:.2f}" for q, c in contraction.items())
            )
        return "\n".join(lines)

    def save(
        self,
        folder: str | Path,
        *,
        force: bool = False,
        command: list[str] | None = None,
        extra_writers=(),
    ) -> Path:
        """Write sbc.csv, verdict.json and manifest.json into a new folder (atomically).

        ``extra_writers`` are callables ``writer(tmp_folder, result)`` that add derived files (``rdshare
        sbc`` passes :func:`rdshare.report.sbc_plots.write_plots`).
        """
        from rdshare.core import runs

        def write(tmp: Path) -> None:
            self.table.to_csv(
                tmp / "sbc.csv", index=False, float_format="%.8g", lineterminator="\n"
            )
            runs.write_json(tmp / "verdict.json", self.to_dict())
            for writer in extra_writers:
                writer(tmp, self)

        return runs.write_folder(
            folder,
            write,
            kind="sbc",
            force=force,
            command=command,
            seed=self.config.seed,
            info={"config": asdict(self.config), "passed": self.passed},
            hashed=("sbc.csv", "verdict.json"),
        )


def verdicts_from_table(table: pd.DataFrame, config: SBCConfig) -> dict[str, QuantityVerdict]:
    """Per-quantity verdicts from an sbc.csv table (every row)."""
    ranks = {q: table[f"rank_{q}"].to_numpy() for q in QUANTITIES if f"rank_{q}" in table}
    return calibrate(ranks, config.kept_draws + 1, config.alpha)


def run(
    data=None,
    priors=None,
    config: SBCConfig | None = None,
    *,
    workers: int | None = None,
    scheduler: str | None = None,
    client=None,
    chunk: int | None = None,
    progress: ProgressFn | None = None,
    simulator: Simulator | None = None,
    sim_ids: Iterable[int] | None = None,
) -> SBCResult:
    """Run simulation-based calibration of the full model.

    Parameters
    ----------
    data : Dataset, path, list of paths or None
        Evidence whose structure the simulations copy (None: the shipped rows).
    priors : PriorSet, path or None
        The priors to draw from and fit with (None: the shipped default).
    config : SBCConfig
        Number of simulations, seed, sampler settings, thinning, family-wise alpha.
    workers : int, optional
        Run on a local ``dask.distributed`` cluster of this many worker processes (1 thread each).
    scheduler : str, optional
        Address of an existing Dask scheduler (``tcp://host:8786``); its workers need rdshare installed.
    client : dask.distributed.Client, optional
        An existing client (the caller keeps ownership).
    chunk : int, optional
        Simulations per Dask task (default: about 20 tasks per worker, at most 10 per task).
    progress : callable, optional
        ``progress(done, total, gate_failures)`` after each finished simulation (or task).
    simulator : callable, optional
        ``simulator(design, params, rng) -> Design`` replacing :func:`rdshare.core.simulate.simulate`
        (tests use it to check that a wrong simulator is caught). Must be importable for Dask workers.
    sim_ids : iterable of int, optional
        Run only these simulation indices (each with its own seed, as in the full run).

    Returns
    -------
    SBCResult
    """
    from rdshare.core import dataset as ds_mod
    from rdshare.core import design as design_mod
    from rdshare.core import priors as priors_mod

    config = config or SBCConfig()
    config.validate()
    dataset = ds_mod.coerce(data)
    prior_set = priors_mod.coerce(priors)
    design = design_mod.from_dataset(dataset)
    seeds = sim_seeds(config.seed, config.sims)
    ids = list(range(config.sims)) if sim_ids is None else sorted(set(sim_ids))
    if any(not 0 <= i < config.sims for i in ids):
        raise ValueError(f"sim_ids must lie in 0..{config.sims - 1}")
    items = [(i, seeds[i]) for i in ids]
    distributed = workers is not None or scheduler is not None or client is not None
    cores = 1 if distributed else config.cores
    spec = _Spec(design, prior_set, config, cores, simulator)

    t0 = time.perf_counter()
    if distributed:
        records, n_workers = _run_dask(
            spec, items, progress, workers=workers, scheduler=scheduler, client=client, chunk=chunk
        )
    else:
        records, n_workers = _run_local(spec, items, progress), 0
    wall = time.perf_counter() - t0

    table = pd.DataFrame(records).sort_values("sim").reset_index(drop=True)
    verdicts = verdicts_from_table(table, config)
    conv = table[table["converged"].astype(bool)]
    verdicts_conv = verdicts_from_table(conv, config) if len(conv) else {}
    info = {
        "workers": n_workers,
        "scheduler": scheduler,
        "wall_seconds": round(wall, 1),
        "fit_seconds_mean": float(table["fit_seconds"].mean()),
        "data_sha256": dataset.sha256,
        "priors_file": str(prior_set.path),
        "priors_sha256": prior_set.sha256,
        "rows": len(design.row_ids),
        "gaussian_rows": int(design.gauss_idx.size),
        "bound_rows": int(design.bound_idx.size),
        "prior_sd": prior_sd(prior_set, config.seed),
    }
    return SBCResult(table, replace(config), verdicts, verdicts_conv, info)


def prior_sd(priors, seed: int, draws: int = 20_000) -> dict[str, float]:
    """Each SBC quantity's prior standard deviation, from seeded prior draws (for contraction)."""
    from rdshare.core import generative as gen

    rng = np.random.default_rng([int(seed), 1])
    p = gen.draw_prior(priors, "full", draws, rng)
    p.update(gen.derived(p, "full"))
    return {q: float(np.std(p[q], ddof=1)) for q in QUANTITIES}


def load(folder: str | Path) -> dict | None:
    """The saved verdict (``verdict.json``) of an SBC folder, or None if there is none."""
    import json

    path = Path(folder) / "verdict.json"
    if not path.is_file():
        return None
    return json.loads(path.read_text(encoding="utf-8"))
