"""Fit the model: sample, add prior and predictive groups, gate on convergence, summarise.

The returned :class:`~rdshare.inference.results.FitResult` holds an ArviZ DataTree with the groups
``posterior``, ``sample_stats``, ``prior``, ``prior_predictive``, ``posterior_predictive``,
``log_likelihood``, ``log_prior``, ``observed_data`` and ``constant_data``.

Sampling uses nutpie on a model compiled once per process and structure: refits that only change data
(simulation-based calibration, changed observations) reuse the compiled sampler through
``CompiledModel.with_data``. Across processes the compiled sampler comes from rdshare's disk cache
(:mod:`rdshare.inference.compile_cache`), and the prior, predictive, log-density and grouped-effect
groups are computed in numpy (:mod:`rdshare.inference.fast_predictive`).
See docs/performance.md.
"""

from __future__ import annotations

import functools
import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import nutpie
import xarray as xr

from rdshare.core import dataset as ds_mod
from rdshare.core import design as design_mod
from rdshare.core import generative as gen
from rdshare.core import priors as priors_mod
from rdshare.core.dataset import Dataset
from rdshare.core.priors import PriorSet
from rdshare.core.quantities import PARAMETERS, VARIANTS
from rdshare.core.runs import package_version, versions
from rdshare.inference import density
from rdshare.inference.defaults import DEFAULTS, setting_problems
from rdshare.inference.diagnostics import gate
from rdshare.inference.results import FitResult, summarise


@dataclass(frozen=True)
class FitConfig:
    """Sampler settings; stamped into every run."""

    seed: int = DEFAULTS["seed"]
    draws: int = DEFAULTS["draws"]
    tune: int = DEFAULTS["tune"]
    chains: int = DEFAULTS["chains"]
    cores: int = DEFAULTS["cores"]
    target_accept: float = DEFAULTS["target_accept"]
    prior_draws: int = DEFAULTS["prior_draws"]
    variant: str = "full"
    adaptation: str = "low_rank"
    predictive: bool = True

    def validate(self) -> None:
        from rdshare.errors import InputError, Problem

        whole = (("draws", 1), ("tune", 0), ("chains", 1), ("cores", 1), ("prior_draws", 1))
        problems = setting_problems(self, whole)
        for name, value, allowed in (
            ("--adaptation", self.adaptation, ("diag", "low_rank")),
            ("--variant", self.variant, tuple(VARIANTS)),
        ):
            if value not in allowed:
                msg = f"{value!r} is not one of {', '.join(allowed)}"
                problems.append(Problem("<command line>", msg, field=name))
        if problems:
            raise InputError(problems)


_COMPILED: dict[str, object] = {}
#: What :func:`compiled_sampler` did for each structure key ("last": the latest call).
_COMPILE_INFO: dict[str, dict] = {}


def structure_key(design: design_mod.Design, priors: PriorSet, variant: str) -> str:
    """Everything that changes the compiled graph: shapes, names, prior families and parameters."""
    payload = {
        "variant": variant,
        "rows": list(design.row_ids),
        "groups": [list(design.labs), list(design.programmes), list(design.estimators)],
        "obs": list(design.gauss_ids),
        "bound": list(design.bound_ids),
        "priors": {p.name: [p.dist, p.params] for p in priors},
        "versions": versions(),
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


def _compile_logger(message: str) -> None:
    import logging

    logging.getLogger("rdshare.compile").info(message)


def compiled_sampler(design: design_mod.Design, priors: PriorSet, variant: str = "full"):
    """The compiled nutpie sampler for this structure, with this design's data swapped in.

    Compiled once per process and structure (``_COMPILED``); across processes it is loaded from the disk
    cache of :mod:`rdshare.inference.compile_cache` (``RDSHARE_CACHE_DIR``, ``RDSHARE_NO_CACHE=1``).
    """
    from rdshare.inference import compile_cache

    key = structure_key(design, priors, variant)
    data = density.inputs(design, priors, variant)
    if key not in _COMPILED:
        build = functools.partial(_build_model, design, priors, variant)
        target = density.Target(density.layout(design, priors, variant), data, build)
        _COMPILED[key] = compile_cache.load_or_compile(target, key, log=_compile_logger)
        _COMPILE_INFO[key] = compile_path()
    else:
        _COMPILE_INFO[key] = {**_COMPILE_INFO.get(key, {}), "status": "in-process"}
    _COMPILE_INFO["last"] = _COMPILE_INFO[key]
    return compile_cache.with_data(_COMPILED[key], data)


def _build_model(design, priors, variant):
    """The same model in PyMC (for the stock route; imports PyMC only when called)."""
    from rdshare.inference import model as model_mod

    return model_mod.build(design, priors, variant)


def compile_path() -> dict:
    """Which compile route the last :func:`rdshare.inference.compile_cache.load_or_compile` took, for the
    run manifest and the benchmark: ``route`` ("rdshare cache": rdshare's wrappers, cached on disk, or
    "stock nutpie": ``nutpie.compile_pymc_model``, not cached between processes), ``status`` ("hit",
    "compiled, cached", "compiled, not cached", "stock", or "in-process" when this process had it
    already), the cache directory and, for the stock route, why."""
    from rdshare.inference import compile_cache

    st = dict(compile_cache.last_status)
    status = str(st.get("status", "unknown"))
    route = "stock nutpie" if status == "stock" else "rdshare cache"
    info = {"route": route, "status": status, "nutpie": package_version("nutpie")}
    if st.get("reason"):
        info["reason"] = str(st["reason"])
    if route == "rdshare cache":
        info["cache_dir"] = (
            str(compile_cache.cache_root()) if compile_cache.cache_enabled() else None
        )
    return info


def _seeds(seed: int, n: int) -> list[int]:
    return [int(s.generate_state(1)[0]) for s in np.random.SeedSequence(seed).spawn(n)]


def sample_posterior(
    compiled, config: FitConfig, seed: int, variant: str | None = None, *, light: bool = False
):
    """Run nutpie; returns a DataTree with posterior and sample_stats.

    The posterior holds the parameters, the bound rows' ``z`` and the deterministic quantities of
    ``variant`` (default ``config.variant``): the bound rows' latent values and the derived shares,
    computed from the draws (:func:`rdshare.inference.density.complete_posterior`).

    ``light=True`` (simulation-based calibration) reads nutpie's raw trace directly into a posterior
    with the same values and a ``sample_stats`` with only ``diverging`` and ``energy`` (what the
    convergence gate reads): about 0.04 s less per fit than nutpie's full conversion.

    ``nutpie.sample`` in blocking mode catches KeyboardInterrupt and returns the partial trace drawn so
    far, so Ctrl-C would go on to save a truncated fit. The sampler is therefore started in the
    background (same settings, same numbers) and waited on here: an interrupt cancels it and propagates,
    and a trace with fewer draws than asked for is refused, so a partial fit is never returned.
    """
    from rdshare.errors import SamplingError

    sampler = nutpie.sample(
        compiled,
        draws=config.draws,
        tune=config.tune,
        chains=config.chains,
        cores=config.cores,
        seed=seed,
        progress_bar=False,
        save_warmup=False,
        target_accept=config.target_accept,
        adaptation=config.adaptation,
        blocking=False,
        return_raw_trace=light,
    )
    try:
        tree = sampler.wait()
    except BaseException:  # KeyboardInterrupt included: stop the chains, keep nothing
        sampler.cancel()
        raise
    if light:
        tree = _light_tree(tree, compiled)
    sizes = tree["posterior"].sizes
    got = (sizes.get("chain", 0), sizes.get("draw", 0))
    if got != (config.chains, config.draws):
        raise SamplingError(
            f"sampling stopped early: {got[1]} draws in {got[0]} chains, expected {config.draws} in "
            f"{config.chains}; nothing was saved"
        )
    post = density.complete_posterior(
        tree["posterior"].ds, compiled.shared_data, variant or config.variant
    )
    tree["posterior"] = xr.DataTree(post)
    return tree


def _column(batch, name: str, keep: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """One column of a nutpie arrow batch as (kept rows, *shape)."""
    import pyarrow

    col = pyarrow.array(batch.column(name))
    if pyarrow.types.is_list(col.type) or pyarrow.types.is_large_list(col.type):
        values = col.flatten().to_numpy(zero_copy_only=False).reshape(len(col), *shape)
    else:
        values = col.to_numpy(zero_copy_only=False)
    return values[keep]


def _light_tree(results, compiled) -> xr.DataTree:
    """A DataTree of the posterior draws (the stored variables, with nutpie's dimensions and
    coordinates) and the two sampler statistics the gate needs, from nutpie's raw arrow trace."""
    draws, stats = results.get_arrow_trace()
    names, _, shapes = compiled.shape_info
    keeps = [~np.asarray(_column(s, "tuning", slice(None), ()), dtype=bool) for s in stats]
    post, sample_stats = {}, {}
    for name, shape in zip(names, shapes, strict=True):
        shape = tuple(int(k) for k in np.asarray(shape).ravel())
        values = np.stack([_column(b, name, k, shape) for b, k in zip(draws, keeps, strict=True)])
        post[name] = (("chain", "draw", *compiled.dims.get(name, ())), values)
    for name in ("diverging", "energy"):
        values = np.stack([_column(s, name, k, ()) for s, k in zip(stats, keeps, strict=True)])
        sample_stats[name] = (("chain", "draw"), values)
    n_chains, n_draws = post[names[0]][1].shape[:2]
    coords = {"chain": np.arange(n_chains), "draw": np.arange(n_draws)}
    used = {d for name in names for d in compiled.dims.get(name, ())}
    coords.update({d: np.asarray(v) for d, v in compiled.coords.items() if d in used})
    return xr.DataTree.from_dict(
        {
            "posterior": xr.Dataset(post, coords=coords),
            "sample_stats": xr.Dataset(sample_stats, coords=coords),
        }
    )


def add_new_lab(group, seed: int) -> None:
    """Add ``f_new_lab``: f (FLOP) for a new, unseen frontier lab's programme (full pipeline, 2025), with
    the spread between labs and between programmes: one standard-normal ``z`` for each per draw, drawn
    with ``seed`` (:func:`rdshare.core.generative.new_lab`)."""
    ds = group.ds
    if "sigma_lab" not in ds:
        return
    params = {name: np.asarray(ds[name].values) for name in PARAMETERS if name in ds}
    shape = params["f_frontier"].shape
    rng = np.random.default_rng(seed)
    z_lab, z_programme = rng.standard_normal(shape), rng.standard_normal(shape)
    variant = "full" if "discount" in ds else "no_discount"
    new = gen.new_lab(params, gen.frontier(), z_lab, z_programme, variant)
    group["f_new_lab"] = ds["f_frontier"].copy(data=new)


def fit(
    data: str | Path | list | tuple | Dataset | None = None,
    priors: str | Path | PriorSet | None = None,
    *,
    replace_data: bool = False,
    exclude: list[str] | tuple[str, ...] = (),
    config: FitConfig | None = None,
    on_posterior: Callable[[xr.DataTree], None] | None = None,
    **settings,
) -> FitResult:
    """Fit the model and return the posterior with its convergence verdict.

    Parameters
    ----------
    data : path, list of paths, Dataset or None
        Extra evidence CSV file(s) added to the shipped rows (or replacing them with
        ``replace_data=True``); None for the shipped rows alone.
    priors : path, PriorSet or None
        A prior file; None for the shipped ``default.toml``. A prior that rests on a fitted row is
        refused (:func:`rdshare.core.priors.check_independent`): exclude that row.
    exclude : list of str
        Row ids to show but not fit.
    config : FitConfig, optional
        Sampler settings; keyword arguments (``seed=``, ``draws=`` ...) override its fields.
    on_posterior : callable, optional
        Called with the tree as soon as its posterior group holds the sampler's draws and the
        deterministic quantities computed from them (not yet ``f_new_lab``, the grouped effects or
        the predictive groups, nor the gate): ``rdshare fit`` starts drawing the posterior-only
        figures there (:func:`rdshare.report.build.prerender`). It must not change the tree.

    Returns
    -------
    FitResult
        ``.tree`` (DataTree), ``.verdict`` (the gate), ``.summary`` (table), inputs and timings.

    Examples
    --------
    >>> import rdshare
    >>> res = rdshare.fit(seed=1)                      # doctest: +SKIP
    >>> res.verdict.passed, res.headline()             # doctest: +SKIP
    """
    timings: dict[str, float] = {}
    t = time.perf_counter()
    config = FitConfig(**{**asdict(config or FitConfig()), **settings})
    config.validate()
    dataset = ds_mod.coerce(data, replace=replace_data, exclude=exclude)
    prior_set = priors_mod.coerce(priors)
    priors_mod.check_independent(prior_set, dataset.table)
    design = design_mod.from_dataset(dataset)
    timings["inputs"] = time.perf_counter() - t

    t = time.perf_counter()
    compiled = compiled_sampler(design, prior_set, config.variant)
    timings["compile"] = time.perf_counter() - t
    compile_info = dict(_COMPILE_INFO.get("last", {}))

    s_sample, s_new, s_prior, s_prior_new, s_ppc = _seeds(config.seed, 5)
    t = time.perf_counter()
    tree = sample_posterior(compiled, config, s_sample)
    timings["sample"] = time.perf_counter() - t
    if on_posterior is not None:
        on_posterior(tree)

    t = time.perf_counter()
    add_new_lab(tree["posterior"], s_new)
    if config.predictive:
        add_predictive(tree, design, prior_set, config, seeds=(s_prior, s_prior_new, s_ppc))
    timings["predictive"] = time.perf_counter() - t

    t = time.perf_counter()
    gate_vars = [v for v in gate_variables(config.variant) if v in tree["posterior"].ds]
    verdict = gate(tree, gate_vars, settings=asdict(config))
    summary = summarise(tree["posterior"].ds, summary_variables(config.variant))
    timings["diagnostics"] = time.perf_counter() - t

    tree.attrs.update(
        {
            "rdshare_config": json.dumps(asdict(config), sort_keys=True),
            "rdshare_seed": config.seed,
            "rdshare_versions": json.dumps(versions(), sort_keys=True),
            "rdshare_data_sha256": dataset.sha256,
            "rdshare_priors_sha256": prior_set.sha256,
            "rdshare_converged": int(verdict.passed),
        }
    )
    return FitResult(
        tree=tree,
        verdict=verdict,
        summary=summary,
        dataset=dataset,
        priors=prior_set,
        config=asdict(config),
        design=design,
        timings=timings,
        compile_info=compile_info,
    )


def add_predictive(
    tree,
    design: design_mod.Design,
    priors: PriorSet,
    config: FitConfig,
    seeds: tuple[int, int, int],
) -> None:
    """Add the grouped effects and ``f_row`` to the posterior, and the prior, prior_predictive,
    observed_data, constant_data, posterior_predictive, log_likelihood and log_prior groups (in place;
    :mod:`rdshare.inference.fast_predictive`). ``seeds``: (prior draws, the prior's ``f_new_lab``,
    posterior groups)."""
    from rdshare.inference import fast_predictive as fp

    s_prior, s_prior_new, s_post = seeds
    groups = fp.prior_groups(design, priors, config.variant, config.prior_draws, s_prior)
    for name, ds in groups.items():
        tree[name] = ds
    add_new_lab(tree["prior"], s_prior_new)
    post = fp.posterior_groups(tree["posterior"].ds, design, priors, config.variant, s_post)
    tree["posterior"] = tree["posterior"].ds.assign(post.pop("posterior_extra").data_vars)
    for name, ds in post.items():
        tree[name] = ds


def gate_variables(variant: str) -> list[str]:
    """Posterior variables the convergence gate checks for a variant: what the sampler drew (its
    parameters and the bound rows' latent values) and the derived quantities that are functions of them."""
    v = VARIANTS[variant]
    return [*v.parameters, density.BOUND_LATENT, *(n for n in v.derived() if n != "f_new_lab")]


def summary_variables(variant: str) -> list[str]:
    """What ``summary.csv`` lists: the gate's variables, ``f_new_lab`` and the grouped effects."""
    return [*gate_variables(variant), "f_new_lab", "u_lab", "u_programme", "u_estimator", "f_row"]
