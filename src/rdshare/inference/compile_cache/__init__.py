"""Compile a PyMC model into a nutpie sampler once, and keep it on disk for the next process.

Why
    A stock ``nutpie.compile_pymc_model`` spends, per process, about 3 s on PyTensor graph work and 7 to
    20 s having numba compile nutpie's two C-callback wrappers (the log-density-and-gradient function and
    the "expand" function that computes the deterministics). Those wrappers are never cached between
    processes: they close over freshly built dispatchers and uniquely named record fields, so numba's
    cache key differs every run (docs/performance.md, "What makes it fast").

What this module does instead
    The same PyTensor functions nutpie builds (``nutpie.compile_pymc._make_functions``: the same graph,
    the same rewrites, compiled by PyTensor's numba backend with its own on-disk cache), wrapped in C
    callbacks generated here as plain source with no closures. Each wrapper is registered with a numba
    cache locator of ours, under a key derived from everything that determines the compiled code, so
    numba caches it in rdshare's cache directory. The wrappers read the model's data through a flat
    ``int64`` array of (pointer, size, shape...) per shared variable, and copy the gradient with explicit
    loops (``out[...] = grad`` makes numba compile an error-formatting path that costs about 4.5 s).
    They return the same status codes as nutpie's own wrappers, so the sampler behaves identically:
    draws are bit-identical to stock nutpie for the same seed (tests/inference/test_cache.py).

    A warm process loads the two wrappers from numba's cache (no PyTensor graph work at all) and takes
    the model's data from the caller. It does not build the PyMC model: the initial points come from
    :class:`NumpyInitialPoint`, which reproduces PyMC's jittered initial point bit for bit (checked
    against PyMC's own function, for ten seeds, when the entry is written; an entry where it does not
    match keeps using PyMC's function), and nutpie's coordinates and dimensions are stored in the entry.

Layout
    :mod:`.key` (the cache key), :mod:`.wrappers` (the generated C callbacks, the compiled-model class,
    the numpy initial point), :mod:`.store` (entries on disk, loading and compiling); this module holds
    the entry point :func:`load_or_compile`.

Key
    The entry key hashes the caller's structure key (for rdshare: variant, parametrisation, rows, labs,
    priors and package versions; :func:`rdshare.inference.fit.structure_key`), this module's cache
    format, the versions of nutpie, PyMC, PyTensor, numba, llvmlite and Python, the CPU, the PyTensor
    flags that change generated code, and the bytes of the modules that shape the graph (``model.py``,
    ``pytensor_flags.py``, this package, and ``core/`` ``dataset``, ``design``, ``families``,
    ``generative``, ``kinds``, ``quantities``). The key is what keeps an intact but stale entry from being
    used (the checks below catch damaged entries, not a changed model), so it errs towards recompiling.

Safety
    Any failure to read, load or verify an entry falls back to compiling (the broken entry is removed and
    rewritten); nothing here makes a fit fail that a stock compile would not. A loaded entry is verified
    before use: its two wrappers are evaluated at points recorded when it was written (with the data
    recorded then) and must reproduce the recorded log density, gradient and expanded values bit for bit;
    the data passed in must have the entry's names, ranks and dtypes (when a model is built, its free
    variables and their shapes must match the entry's too).

    The route uses nutpie internals (``_make_functions``, ``CompiledPyMCModel``, the C-callback ABI) of
    the versions in :data:`SUPPORTED_NUTPIE`; with any other nutpie version it uses stock
    ``nutpie.compile_pymc_model`` (correct, not cached).

Settings
    ``RDSHARE_CACHE_DIR``  cache directory (default ``$XDG_CACHE_HOME/rdshare`` or ``~/.cache/rdshare``);
    ``RDSHARE_NO_CACHE=1``  neither read nor write the cache (the wrappers are still ours, compiled fresh).
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable
from importlib import metadata
from pathlib import Path

import numpy as np

from rdshare.inference.compile_cache.key import (
    CACHE_FORMAT,
    MAX_ENTRIES,
    SUPPORTED_NUTPIE,
    _entry_dir,
    cache_enabled,
    cache_root,
    entry_key,
    environment_fingerprint,
)
from rdshare.inference.compile_cache.store import (
    _compile,
    _load,
    _meta_path,
    _resolve,
    _writable,
    prune,
    remove_entry,
)
from rdshare.inference.compile_cache.wrappers import (
    NumpyInitialPoint,
    _jitter_order,
    _numpy_initial_point,
    _numpy_initial_point_spec,
    compiled_class,
)
from rdshare.inference.pytensor_flags import compile_flags

__all__ = [
    "CACHE_FORMAT",
    "MAX_ENTRIES",
    "SUPPORTED_NUTPIE",
    "NumpyInitialPoint",
    "_jitter_order",
    "_numpy_initial_point",
    "_numpy_initial_point_spec",
    "cache_enabled",
    "cache_root",
    "compiled_class",
    "entry_key",
    "environment_fingerprint",
    "last_status",
    "load_or_compile",
    "prune",
    "remove_entry",
    "stock_compile",
    "supported",
    "with_data",
]

#: What the last call to :func:`load_or_compile` in this process did: "hit", "compiled", "stock".
last_status: dict[str, object] = {}


def with_data(compiled, data: dict[str, np.ndarray]):
    """``compiled.with_data(**data)``, skipping ``pm.Data`` containers the compiled functions do not read.

    (A design without bound rows still has the bound containers; stock nutpie refuses unknown names.)
    """
    if isinstance(compiled, compiled_class()):
        return compiled.with_data(**data)
    known = {getattr(v, "name", None) for v in getattr(compiled, "shared_var_keys", {})}
    return compiled.with_data(**{k: v for k, v in data.items() if k in known})


def supported() -> bool:
    """True when the installed nutpie is one whose internals this module mirrors."""
    try:
        return metadata.version("nutpie") in SUPPORTED_NUTPIE
    except metadata.PackageNotFoundError:
        return False


def stock_compile(model):
    """``nutpie.compile_pymc_model`` with its defaults (no cross-process cache)."""
    import nutpie

    return nutpie.compile_pymc_model(model)


def load_or_compile(
    model,
    structure_key: str,
    *,
    data: dict[str, np.ndarray] | None = None,
    use_cache: bool | None = None,
    log: Callable[[str], None] | None = None,
):
    """A nutpie compiled model for ``model``: from the disk cache if possible, else compiled.

    Parameters
    ----------
    model : pymc.Model or callable
        The model, built with every changing input as ``pm.Data``, or a function without arguments that
        builds it (called only when needed: a cache hit with ``data`` needs no model).
    data : dict, optional
        Values of the model's ``pm.Data`` containers by name (they must be the values the model would
        hold). With them a cache hit builds no PyMC model: about 0.4 s less.
    structure_key : str
        A hash of everything about the model's structure that changes its graph (shapes, coordinates,
        prior families and parameters, variant); combined here with the environment's fingerprint.
    use_cache : bool, optional
        Read and write the disk cache; default: unless ``RDSHARE_NO_CACHE`` is set.
    log : callable, optional
        Receives a one-line note of what happened (hit, compiled, why an entry was not used).

    Never fails where a stock compile would not: any cache problem falls back to compiling, and any
    problem with rdshare's own wrappers falls back to stock ``nutpie.compile_pymc_model``.
    """
    with compile_flags():
        return _load_or_compile(model, structure_key, data, use_cache, log)


def _load_or_compile(model, structure_key, data, use_cache, log):
    t0 = time.perf_counter()
    note = log or (lambda _msg: None)
    last_status.clear()
    if not supported():
        note("nutpie version not supported by the compile cache; using stock nutpie")
        last_status.update(
            status="stock", reason="unsupported nutpie", seconds=time.perf_counter() - t0
        )
        return stock_compile(_resolve(model))
    use = cache_enabled() if use_cache is None else use_cache
    root: Path | None = None
    writable = False
    key = "nocache"
    if use:
        try:
            root = cache_root()
            key = entry_key(structure_key)
        except Exception as exc:  # an unusable cache directory must not stop a fit
            note(f"compile cache unavailable ({exc}); compiling without it")
            root = None
            key = "nocache"
    if root is not None:
        writable = _writable(_entry_dir(root))
        if not writable and not _entry_dir(root).is_dir():
            note(f"compile cache unavailable ({root} cannot be created); compiling without it")
            root = None
    reason = "cache disabled"
    if root is not None:
        try:
            compiled, reason = _load(model, root, key, data)
        except Exception as exc:  # corrupt, truncated or foreign entries
            compiled, reason = None, f"unreadable entry ({type(exc).__name__}: {exc})"
        if compiled is not None:
            note(f"compiled sampler loaded from cache {root}")
            last_status.update(
                status="hit",
                key=key,
                model_built=compiled.cache_info.get("model_built"),
                seconds=time.perf_counter() - t0,
            )
            with contextlib.suppress(OSError):
                os.utime(_meta_path(root, key))
            return compiled
        if reason != "no entry":
            note(f"compile cache entry not used: {reason}; compiling")
    model = _resolve(model)
    if root is not None and not writable:
        note(f"compile cache {root} is read-only; compiling without writing to it")
        root, key = None, "nocache"
    try:
        compiled = _compile(model, root, key if root is not None else "nocache")
    except Exception as exc:  # our wrappers failed: the stock route still works
        note(f"rdshare's sampler wrappers failed ({type(exc).__name__}: {exc}); using stock nutpie")
        if root is not None:
            with contextlib.suppress(Exception):
                remove_entry(root, key)
        last_status.update(status="stock", reason=str(exc), seconds=time.perf_counter() - t0)
        return stock_compile(model)
    last_status.update(
        status=compiled.cache_info["status"],
        reason=reason,
        key=key,
        seconds=time.perf_counter() - t0,
    )
    return compiled
