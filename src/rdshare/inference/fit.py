"""Fit the model: sample, add prior and predictive groups, gate on convergence, summarise.

The returned :class:`~rdshare.inference.results.FitResult` holds an ArviZ DataTree with the groups
``posterior``, ``sample_stats``, ``prior``, ``prior_predictive``, ``posterior_predictive``,
``log_likelihood``, ``log_prior``, ``observed_data`` and ``constant_data``.

Sampling uses nutpie on a model compiled once per process and structure: refits that only change data
(simulation-based calibration, changed observations) reuse the compiled sampler through
``CompiledModel.with_data``. Across processes the compiled sampler comes from rdshare's disk cache
(:mod:`rdshare.inference.compile_cache`), and the prior, predictive and log-density groups are computed
in numpy (:mod:`rdshare.inference.fast_predictive`; ``predictive_engine="pymc"`` uses PyMC's functions).
See docs/performance.md.
"""

from __future__ import annotations

import functools
import hashlib
import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import nutpie

from rdshare.core import dataset as ds_mod
from rdshare.core import design as design_mod
from rdshare.core import generative as gen
from rdshare.core import priors as priors_mod
from rdshare.core.dataset import Dataset
from rdshare.core.priors import PriorSet
from rdshare.core.quantities import REPORTED, SIGMA_MEAS, VARIANTS
from rdshare.core.runs import versions
from rdshare.inference import model as model_mod
from rdshare.inference.defaults import DEFAULTS
from rdshare.inference.diagnostics import gate
from rdshare.inference.results import FitResult, summarise

PREDICTIVE_ENGINES = ("numpy", "pymc")


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
    lab_effects: str = "centred"
    adaptation: str = "low_rank"
    predictive: bool = True
    #: "numpy" (rdshare.inference.fast_predictive, about 0.1 s) or "pymc" (PyMC's functions, about 9 s).
    predictive_engine: str = "numpy"

    def validate(self) -> None:
        from rdshare.errors import InputError, Problem

        problems = []
        for name, lo in (
            ("draws", 1),
            ("tune", 0),
            ("chains", 1),
            ("cores", 1),
            ("prior_draws", 1),
        ):
            v = getattr(self, name)
            if not isinstance(v, int) or isinstance(v, bool) or v < lo:
                problems.append(
                    Problem(
                        "<command line>",
                        f"{v!r} must be a whole number >= {lo}",
                        field=f"--{name.replace('_', '-')}",
                    )
                )
        if not isinstance(self.seed, int) or not 0 <= self.seed < 2**32:
            problems.append(
                Problem(
                    "<command line>",
                    f"{self.seed!r} must be a whole number in [0, 2**32)",
                    field="--seed",
                )
            )
        if not 0.5 <= self.target_accept < 1.0:
            problems.append(
                Problem(
                    "<command line>",
                    f"{self.target_accept!r} must be in [0.5, 1)",
                    field="--target-accept",
                )
            )
        if self.lab_effects not in model_mod.LAB_EFFECTS:
            problems.append(
                Problem(
                    "<command line>",
                    f"{self.lab_effects!r} is not one of {', '.join(model_mod.LAB_EFFECTS)}",
                    field="--lab-effects",
                )
            )
        if self.adaptation not in ("diag", "low_rank"):
            problems.append(
                Problem(
                    "<command line>",
                    f"{self.adaptation!r} is not one of diag, low_rank",
                    field="--adaptation",
                )
            )
        if self.predictive_engine not in PREDICTIVE_ENGINES:
            problems.append(
                Problem(
                    "<command line>",
                    f"{self.predictive_engine!r} is not one of {', '.join(PREDICTIVE_ENGINES)}",
                    field="predictive_engine",
                )
            )
        if self.variant not in VARIANTS:
            problems.append(
                Problem(
                    "<command line>",
                    f"{self.variant!r} is not one of {', '.join(VARIANTS)}",
                    field="--variant",
                )
            )
        if problems:
            raise InputError(problems)


_COMPILED: dict[str, object] = {}


def structure_key(
    design: design_mod.Design, priors: PriorSet, variant: str, lab_effects: str = "centred"
) -> str:
    """Everything that changes the compiled graph: shapes, coords, prior families and parameters."""
    payload = {
        "variant": variant,
        "lab_effects": lab_effects,
        "rows": list(design.row_ids),
        "labs": list(design.labs),
        "obs": list(design.gauss_ids),
        "bound": list(design.bound_ids),
        "priors": {p.name: [p.dist, p.params] for p in priors},
        "versions": versions(),
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


def _compile_logger(message: str) -> None:
    import logging

    logging.getLogger("rdshare.compile").info(message)


def compiled_sampler(
    design: design_mod.Design,
    priors: PriorSet,
    variant: str = "full",
    lab_effects: str = "centred",
    *,
    model=None,
):
    """The compiled nutpie model for this structure, with this design's data swapped in.

    Compiled once per process and structure (``_COMPILED``); across processes it is loaded from the disk
    cache of :mod:`rdshare.inference.compile_cache` (``RDSHARE_CACHE_DIR``, ``RDSHARE_NO_CACHE=1``).
    """
    from rdshare.inference import compile_cache

    key = structure_key(design, priors, variant, lab_effects)
    data = model_mod.data_values(design)
    if key not in _COMPILED:
        # built only if the cache cannot serve this structure without it
        build = functools.partial(model_mod.build, design, priors, variant, lab_effects)
        source = model if model is not None else build
        _COMPILED[key] = compile_cache.load_or_compile(source, key, data=data, log=_compile_logger)
    return compile_cache.with_data(_COMPILED[key], data)


def compiled_model(
    design: design_mod.Design, priors: PriorSet, variant: str = "full", lab_effects: str = "centred"
):
    """(pymc model, compiled nutpie model) for this structure, compiled once per process.

    A cached compiled model is returned with this design's data swapped in. Callers that do not need
    the PyMC model should use :func:`compiled_sampler` (it skips building the model on a cache hit).
    """
    model = model_mod.build(design, priors, variant, lab_effects)
    return model, compiled_sampler(design, priors, variant, lab_effects, model=model)


def _seeds(seed: int, n: int) -> list[int]:
    return [int(s.generate_state(1)[0]) for s in np.random.SeedSequence(seed).spawn(n)]


def sample_posterior(compiled, config: FitConfig, seed: int):
    """Run nutpie; returns a DataTree with posterior and sample_stats.

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
    )
    try:
        tree = sampler.wait()
    except BaseException:  # KeyboardInterrupt included: stop the chains, keep nothing
        sampler.cancel()
        raise
    sizes = tree["posterior"].sizes
    got = (sizes.get("chain", 0), sizes.get("draw", 0))
    if got != (config.chains, config.draws):
        raise SamplingError(
            f"sampling stopped early: {got[1]} draws in {got[0]} chains, expected {config.draws} in "
            f"{config.chains}; nothing was saved"
        )
    return tree


def add_new_lab(group, seed: int) -> None:
    """Add ``f_new_lab``: f for a new, unseen frontier lab (full pipeline, 2025), lab spread included.

    :func:`rdshare.core.generative.new_lab` with the frontier's covariates and one standard-normal ``z``
    per draw, drawn with ``seed``.
    """
    ds = group.ds
    if "sigma_lab" not in ds:
        return
    params = {
        name: np.asarray(ds[name].values) for name in VARIANTS["full"].parameters if name in ds
    }
    shape = params["f_frontier"].shape
    z = np.random.default_rng(seed).standard_normal(shape)
    variant = "full" if "discount" in ds else "no_discount"
    new = gen.new_lab(params, gen.frontier(), z, variant)
    group["f_new_lab"] = ds["f_frontier"].copy(data=new)


def fit(
    data: str | Path | list | tuple | Dataset | None = None,
    priors: str | Path | PriorSet | None = None,
    *,
    replace_data: bool = False,
    config: FitConfig | None = None,
    **settings,
) -> FitResult:
    """Fit the model and return the posterior with its convergence verdict.

    Parameters
    ----------
    data : path, list of paths, Dataset or None
        Extra evidence CSV file(s) added to the shipped rows (or replacing them with
        ``replace_data=True``); None for the shipped rows alone.
    priors : path, PriorSet or None
        A prior file; None for the shipped ``default.toml``.
    config : FitConfig, optional
        Sampler settings; keyword arguments (``seed=``, ``draws=`` ...) override its fields.

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
    dataset = ds_mod.coerce(data, replace=replace_data)
    prior_set = priors_mod.coerce(priors)
    design = design_mod.build(dataset.fitted)
    timings["inputs"] = time.perf_counter() - t

    t = time.perf_counter()
    compiled = compiled_sampler(design, prior_set, config.variant, config.lab_effects)
    timings["compile"] = time.perf_counter() - t

    s_sample, s_new, s_prior, s_prior_new, s_ppc = _seeds(config.seed, 5)
    t = time.perf_counter()
    tree = sample_posterior(compiled, config, s_sample)
    timings["sample"] = time.perf_counter() - t

    t = time.perf_counter()
    add_new_lab(tree["posterior"], s_new)
    if config.predictive:
        add_predictive(tree, design, prior_set, config, seeds=(s_prior, s_prior_new, s_ppc))
    timings["predictive"] = time.perf_counter() - t

    t = time.perf_counter()
    gate_vars = [v for v in gate_variables(config.variant) if v in tree["posterior"].ds]
    verdict = gate(tree, gate_vars, settings=asdict(config))
    summary = summarise(tree["posterior"].ds, [*gate_vars, "f_new_lab"])
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
    )


def add_predictive(
    tree,
    design: design_mod.Design,
    priors: PriorSet,
    config: FitConfig,
    seeds: tuple[int, int, int],
) -> None:
    """Add prior, prior_predictive, observed_data, constant_data, posterior_predictive,
    log_likelihood and log_prior to ``tree`` (in place), with ``config.predictive_engine``.

    ``seeds``: (prior draws, the prior's ``f_new_lab``, posterior predictive).
    """
    s_prior, s_prior_new, s_ppc = seeds
    if config.predictive_engine == "pymc":
        import pymc as pm

        model = model_mod.build(design, priors, config.variant, config.lab_effects)
        prior = pm.sample_prior_predictive(
            draws=config.prior_draws, model=model, random_seed=s_prior
        )
        add_new_lab(prior["prior"], s_prior_new)
        for name in ("prior", "prior_predictive", "observed_data", "constant_data"):
            if name in prior.children:
                tree[name] = prior[name]
        ppc = pm.sample_posterior_predictive(
            tree, model=model, random_seed=s_ppc, progressbar=False
        )
        tree["posterior_predictive"] = ppc["posterior_predictive"]
        pm.compute_log_likelihood(tree, model=model, progressbar=False)
        pm.stats.compute_log_prior(tree, model=model, progressbar=False)
        return
    from rdshare.inference import fast_predictive as fp

    groups = fp.prior_groups(
        design, priors, config.variant, config.lab_effects, config.prior_draws, s_prior
    )
    for name, ds in groups.items():
        tree[name] = ds
    add_new_lab(tree["prior"], s_prior_new)
    post = fp.posterior_groups(
        tree["posterior"].ds, design, priors, config.variant, config.lab_effects, s_ppc
    )
    for name, ds in post.items():
        tree[name] = ds


def gate_variables(variant: str) -> list[str]:
    """Posterior variables the convergence gate checks for a variant: its parameters (the measurement
    scales as one ``sigma_meas``), its lab effects and derived headline quantities, and ``f_row``."""
    v = VARIANTS[variant]
    names = [n for n in v.parameters if n not in SIGMA_MEAS] + ["sigma_meas"]
    if v.lab_effects:
        names += ["u_lab"]
    names += [n for n in v.derived() if n in REPORTED and n != "f_new_lab"]
    return [*names, "f_row"]
