"""Compile rdshare's log density into a nutpie sampler once, and keep it on disk for the next process.

Why
    nutpie samples through two C callbacks: the log density with its gradient, and the "expand" function
    that turns a position into the values a draw stores. A stock ``nutpie.compile_pymc_model`` builds them
    from the PyMC model: about 3 s of PyTensor graph work, about 15 s of numba compiling the graph's nodes
    on a machine's first fit, and 7 to 20 s of numba compiling the callbacks, which numba never caches
    between processes (they close over freshly built objects). docs/performance.md has the figures.

What this module does instead
    The callbacks call rdshare's own log-density kernels (:mod:`rdshare.inference.density`: the whole
    model in two numba functions that read the structure from data; tested against the PyMC model's
    log density to 1e-10). They are generated here as plain source with no closures and registered with a
    numba cache locator of ours, under a key derived from everything that determines the compiled code, so
    numba caches them (with the kernels) in rdshare's cache directory. They read the kernels' inputs
    through a flat ``int64`` array of (pointer, size, shape...) per array, copy the gradient with explicit
    loops (``out[...] = grad`` makes numba compile an error-formatting path that costs about 4.5 s) and
    return nutpie's own status codes.

    A warm process loads the two callbacks from numba's cache, checks them, and takes the data from the
    caller: no PyMC model, no PyTensor. A cold one compiles them in a few seconds.

Layout
    :mod:`.key` (the cache key), :mod:`.wrappers` (the generated C callbacks, the compiled-model class, the
    initial point), :mod:`.store` (entries on disk, loading and compiling); this module holds the entry
    point :func:`load_or_compile`.

Key
    The entry key hashes the caller's structure key (for rdshare: variant, rows, labs, priors and package
    versions; :func:`rdshare.inference.fit.structure_key`), this module's cache format, the versions of
    nutpie, numba, llvmlite, numpy and Python, the CPU, and the bytes of the modules that shape the
    kernels or their inputs (``density.py``, ``evidence_kernel.py``, this package, and ``core/``
    ``dataset``, ``design``, ``families``, ``generative``, ``kinds``, ``priors``, ``quantities``). The key
    is what keeps an intact but stale entry from being used (the checks below catch damaged entries, not a
    changed model), so it errs towards recompiling.

Safety
    Any failure to read, load or verify an entry falls back to compiling (the broken entry is removed and
    rewritten); nothing here makes a fit fail. A loaded entry is verified before use: its two callbacks are
    evaluated at points recorded when it was written (with the data recorded then) and must reproduce the
    recorded log density, gradient and expanded values bit for bit; the data passed in must have the
    entry's names, ranks and dtypes.

    The route uses nutpie internals (``CompiledPyMCModel`` and its C-callback ABI) of the versions in
    :data:`SUPPORTED_NUTPIE`. With any other nutpie version, or if compiling the kernels fails, it samples
    the equivalent PyMC model with stock ``nutpie.compile_pymc_model`` (correct, slower, not cached); the
    run manifest and the benchmark name the route taken.

Settings
    ``RDSHARE_CACHE_DIR``  cache directory (default ``$XDG_CACHE_HOME/rdshare`` or ``~/.cache/rdshare``);
    ``RDSHARE_NO_CACHE=1``  neither read nor write the cache (the callbacks are still ours, compiled fresh).
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
    _writable,
    prune,
    remove_entry,
)
from rdshare.inference.compile_cache.wrappers import NumpyInitialPoint, compiled_class

__all__ = [
    "CACHE_FORMAT",
    "MAX_ENTRIES",
    "SUPPORTED_NUTPIE",
    "NumpyInitialPoint",
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
    """``compiled.with_data(**data)`` for rdshare's sampler and for a stock one (which takes only its
    model's ``pm.Data`` containers: the kernels' structure arrays are skipped, and a design without bound
    rows still has the bound containers)."""
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
    """``nutpie.compile_pymc_model`` with its defaults (no cross-process cache), with the PyTensor flags
    rdshare compiles with (:func:`rdshare.inference.pytensor_flags.compile_flags`)."""
    import nutpie

    from rdshare.inference.pytensor_flags import compile_flags

    with compile_flags():
        return nutpie.compile_pymc_model(model)


def load_or_compile(
    target,
    structure_key: str,
    *,
    use_cache: bool | None = None,
    log: Callable[[str], None] | None = None,
):
    """A nutpie compiled sampler for ``target``: from the disk cache if possible, else compiled.

    Parameters
    ----------
    target : rdshare.inference.density.Target
        The kernels' layout and inputs for one structure, and how to build the same model in PyMC.
    structure_key : str
        A hash of everything about the structure that changes the compiled callbacks (shapes,
        coordinates, prior families and parameters, variant); combined here with the environment's
        fingerprint.
    use_cache : bool, optional
        Read and write the disk cache; default: unless ``RDSHARE_NO_CACHE`` is set.
    log : callable, optional
        Receives a one-line note of what happened (hit, compiled, why an entry was not used).

    Never fails where a stock compile would not: any cache problem falls back to compiling, and any
    problem with rdshare's own callbacks falls back to stock ``nutpie.compile_pymc_model`` on the PyMC
    model.
    """
    t0 = time.perf_counter()
    note = log or (lambda _msg: None)
    last_status.clear()
    if not supported():
        note("nutpie version not supported by the compile cache; using stock nutpie")
        last_status.update(
            status="stock", reason="unsupported nutpie", seconds=time.perf_counter() - t0
        )
        return stock_compile(target.build_model())
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
            compiled, reason = _load(root, key, target.data)
        except Exception as exc:  # corrupt, truncated or foreign entries
            compiled, reason = None, f"unreadable entry ({type(exc).__name__}: {exc})"
        if compiled is not None:
            note(f"compiled sampler loaded from cache {root}")
            last_status.update(status="hit", key=key, seconds=time.perf_counter() - t0)
            with contextlib.suppress(OSError):
                os.utime(_meta_path(root, key))
            return compiled
        if reason != "no entry":
            note(f"compile cache entry not used: {reason}; compiling")
    if root is not None and not writable:
        note(f"compile cache {root} is read-only; compiling without writing to it")
        root, key = None, "nocache"
    try:
        compiled = _compile(target, root, key if root is not None else "nocache")
    except Exception as exc:  # our callbacks failed: the stock route still works
        note(
            f"rdshare's sampler callbacks failed ({type(exc).__name__}: {exc}); using stock nutpie"
        )
        if root is not None:
            with contextlib.suppress(Exception):
                remove_entry(root, key)
        last_status.update(status="stock", reason=str(exc), seconds=time.perf_counter() - t0)
        return stock_compile(target.build_model())
    last_status.update(
        status=compiled.cache_info["status"],
        reason=reason,
        key=key,
        seconds=time.perf_counter() - t0,
    )
    return compiled
