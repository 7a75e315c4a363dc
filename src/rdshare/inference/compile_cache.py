"""Compile a PyMC model into a nutpie sampler once, and keep it on disk for the next process.

Why
    A stock ``nutpie.compile_pymc_model`` spends, per process, about 3 s on PyTensor graph work and 7 to
    20 s having numba compile nutpie's two C-callback wrappers (the log-density-and-gradient function and
    the "expand" function that computes the deterministics). Those wrappers are never cached between
    processes: they close over freshly built dispatchers and uniquely named record fields, so numba's
    cache key differs every run (docs/performance.md, ../shared/STACK.md "Performance leads").

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

Key
    The entry key hashes the caller's structure key (for rdshare: variant, parametrisation, rows, labs,
    priors and package versions; :func:`rdshare.inference.fit.structure_key`), this module's cache
    format, the versions of nutpie, PyMC, PyTensor, numba, llvmlite and Python, the CPU, the PyTensor
    flags that change generated code, and the bytes of ``model.py``, ``_config.py``, this file,
    ``core/dataset.py`` and ``core/design.py``. The key is what keeps an intact but stale entry from being
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
import ctypes
import dataclasses
import hashlib
import json
import os
import platform
import sys
import tempfile
import time
import warnings
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import numpy as np

#: Bumped when the entry layout or the generated wrappers change.
CACHE_FORMAT = 2
#: nutpie versions whose internals this module mirrors (see the module docstring).
SUPPORTED_NUTPIE = ("0.16.11",)
#: Entries kept on disk; the least recently used beyond this are removed when a new one is written.
MAX_ENTRIES = 64
#: PyTensor settings that change the code it generates.
_PYTENSOR_FLAGS = (
    "floatX",
    "numba__fastmath",
    "numba__cache",
    "mode",
    "linker",
    "optimizer",
    "optimizer_including",
    "optimizer_excluding",
    "optimizer_requiring",
    "cast_policy",
)
_LOGP_NAME = "rdshare_logp"
_EXPAND_NAME = "rdshare_expand"

#: What the last call to :func:`load_or_compile` in this process did: "hit", "compiled", "stock".
last_status: dict[str, object] = {}


# ---------------------------------------------------------------------------------------------------
# Settings
# ---------------------------------------------------------------------------------------------------


def cache_enabled() -> bool:
    """False when ``RDSHARE_NO_CACHE`` is set to a true value."""
    return os.environ.get("RDSHARE_NO_CACHE", "").strip().lower() not in ("1", "true", "yes", "on")


def cache_root() -> Path:
    """The cache directory (it may not exist yet)."""
    explicit = os.environ.get("RDSHARE_CACHE_DIR", "").strip()
    if explicit:
        return Path(explicit).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME", "").strip()
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "rdshare"


def _entry_dir(root: Path) -> Path:
    return root / f"sampler-v{CACHE_FORMAT}"


def _file_sha(path: str | Path) -> str:
    try:
        return hashlib.sha256(Path(path).read_bytes()).hexdigest()
    except OSError:
        return "unreadable"


def environment_fingerprint() -> dict[str, object]:
    """Everything outside the model's structure that changes the compiled sampler."""
    import llvmlite.binding
    import pytensor

    from rdshare.core import dataset as dataset_mod
    from rdshare.core import design as design_mod
    from rdshare.inference import _config
    from rdshare.inference import model as model_mod

    out: dict[str, object] = {
        "format": CACHE_FORMAT,
        "python": sys.version,
        "machine": platform.machine(),
        "cpu": llvmlite.binding.get_host_cpu_name(),
        "cpu_features": llvmlite.binding.get_host_cpu_features().flatten(),
    }
    for pkg in ("nutpie", "pymc", "pytensor", "numba", "llvmlite", "numpy"):
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            out[pkg] = "not installed"
    out["pytensor_flags"] = {f: str(getattr(pytensor.config, f, None)) for f in _PYTENSOR_FLAGS}
    # The modules that shape the graph or its inputs' types. The key is the only guard against an entry
    # that is intact but stale (a warm load builds no model to compare with), so it errs on the side of
    # recompiling: any edit to these files gives new entries.
    out["sources"] = {
        "model.py": _file_sha(model_mod.__file__),
        "_config.py": _file_sha(_config.__file__),
        "compile_cache.py": _file_sha(__file__),
        "core/dataset.py": _file_sha(dataset_mod.__file__),
        "core/design.py": _file_sha(design_mod.__file__),
    }
    return out


def entry_key(structure_key: str) -> str:
    """The cache key of a model whose structure key is ``structure_key``."""
    payload = {"structure": structure_key, "environment": environment_fingerprint()}
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


# ---------------------------------------------------------------------------------------------------
# numba: a cache locator for our generated wrappers
# ---------------------------------------------------------------------------------------------------

#: generated wrapper function -> (numba cache directory, disambiguator)
_REGISTRY: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _install_locator() -> None:
    from numba.core.caching import CacheImpl, _CacheLocator

    if any(getattr(c, "_rdshare_locator", False) for c in CacheImpl._locator_classes):
        return

    class RdshareWrapperLocator(_CacheLocator):
        """Puts rdshare's generated wrappers in rdshare's cache, keyed by our own key."""

        _rdshare_locator = True

        def __init__(self, py_func, py_file, path: str, disambiguator: str):
            self._py_func = py_func
            self._py_file = py_file
            self._path = path
            self._disambiguator = disambiguator

        def ensure_cache_path(self):
            os.makedirs(self._path, exist_ok=True)

        def get_cache_path(self):
            return self._path

        def get_source_stamp(self):
            return CACHE_FORMAT

        def get_disambiguator(self):
            return self._disambiguator

        @classmethod
        def from_function(cls, py_func, py_file):
            entry = _REGISTRY.get(py_func)
            if entry is None:
                return None
            return cls(py_func, py_file, *entry)

    CacheImpl._locator_classes.insert(0, RdshareWrapperLocator)


def _void_ptr_intrinsic():
    from numba.core import cgutils, types
    from numba.extending import intrinsic

    @intrinsic
    def void_ptr(typingctx, address):
        """The integer ``address`` as a ``void*``."""
        sig = types.voidptr(address)

        def codegen(cgctx, builder, sig, args):
            return builder.inttoptr(args[0], cgutils.voidptr_t)

        return sig, codegen

    return void_ptr


_VOID_PTR = None


def _void_ptr():
    global _VOID_PTR
    if _VOID_PTR is None:
        _VOID_PTR = _void_ptr_intrinsic()
    return _VOID_PTR


# ---------------------------------------------------------------------------------------------------
# Shared data: a flat int64 array of (pointer, size, shape...) per shared variable
# ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SharedSpec:
    """One shared variable (a ``pm.Data`` container) the compiled functions read."""

    name: str
    dtype: str
    ndim: int

    @property
    def width(self) -> int:
        return 2 + self.ndim


def _offsets(specs: tuple[SharedSpec, ...]) -> list[int]:
    out, o = [], 0
    for s in specs:
        out.append(o)
        o += s.width
    return out


def make_user_data(specs: tuple[SharedSpec, ...], values: dict[str, np.ndarray]) -> np.ndarray:
    """The flat array the wrappers read; ``values`` must stay alive as long as it is used."""
    ud = np.zeros(max(1, sum(s.width for s in specs)), dtype=np.int64)
    for s, o in zip(specs, _offsets(specs), strict=True):
        v = values[s.name]
        if v.dtype != np.dtype(s.dtype) or v.ndim != s.ndim or not v.flags.c_contiguous:
            raise ValueError(f"shared variable {s.name}: expected {s.dtype} rank {s.ndim}")
        ud[o] = v.ctypes.data
        ud[o + 1] = v.size
        ud[o + 2 : o + 2 + s.ndim] = v.shape
    return ud


def _array_expr(s: SharedSpec, o: int) -> str:
    shape = ", ".join(f"ud[{o + 2 + k}]" for k in range(s.ndim))
    shape = f"({shape},)" if s.ndim == 1 else f"({shape})"
    return f"numba.carray(void_ptr(ud[{o}]), {shape}, np.{np.dtype(s.dtype).name})"


def _logp_source(n_dim: int, specs: tuple[SharedSpec, ...], used: tuple[int, ...]) -> str:
    """A C callback with nutpie's logp ABI and status codes (see ``_make_c_logp_func`` in nutpie)."""
    offs = _offsets(specs)
    ud_len = max(1, sum(s.width for s in specs))
    lines = [
        f"def {_LOGP_NAME}(dim, x_, out_, logp_, user_data_):",
        f"    if dim != {n_dim}:",
        "        return -1",
        "    try:",
        f"        ud = numba.carray(user_data_, ({ud_len},), np.int64)",
        f"        x = numba.carray(x_, ({n_dim},))",
        f"        out = numba.carray(out_, ({n_dim},))",
        "        logp = numba.carray(logp_, ())",
    ]
    args = ["x"]
    for i in used:
        lines.append(f"        s{i} = {_array_expr(specs[i], offs[i])}")
        args.append(f"s{i}")
    lines += [
        f"        logp_val, grad = inner({', '.join(args)})",
        "        logp[()] = logp_val",
        f"        for i in range({n_dim}):",
        "            out[i] = grad[i]",
        f"        for i in range({n_dim}):",
        "            if not np.isfinite(out[i]):",
        "                return 3",
        "        if not np.isfinite(logp_val):",
        "            return 4",
        "    except Exception:",
        "        return 1",
        "    return 0",
    ]
    return "\n".join(lines) + "\n"


def _expand_source(
    n_dim: int, n_expanded: int, specs: tuple[SharedSpec, ...], used: tuple[int, ...]
) -> str:
    """A C callback with nutpie's expand ABI and status codes (see ``_make_c_expand_func``)."""
    offs = _offsets(specs)
    ud_len = max(1, sum(s.width for s in specs))
    lines = [
        f"def {_EXPAND_NAME}(dim, expanded, x_, out_, user_data_):",
        f"    if dim != {n_dim}:",
        "        return -1",
        f"    if expanded != {n_expanded}:",
        "        return -1",
        "    try:",
        f"        ud = numba.carray(user_data_, ({ud_len},), np.int64)",
        f"        x = numba.carray(x_, ({n_dim},))",
        f"        out = numba.carray(out_, ({n_expanded},))",
    ]
    args = ["x"]
    for i in used:
        lines.append(f"        s{i} = {_array_expr(specs[i], offs[i])}")
        args.append(f"s{i}")
    lines += [
        f"        (values,) = inner({', '.join(args)})",
        f"        for i in range({n_expanded}):",
        "            out[i] = values[i]",
        "    except Exception:",
        "        return -2",
        "    return 0",
    ]
    return "\n".join(lines) + "\n"


def _c_signatures():
    import numba

    t = numba.types
    logp = t.int64(
        t.uint64, t.CPointer(t.double), t.CPointer(t.double), t.CPointer(t.double), t.voidptr
    )
    expand = t.int64(t.uint64, t.uint64, t.CPointer(t.double), t.CPointer(t.double), t.voidptr)
    return logp, expand


def _make_cfunc(source: str, name: str, sig, inner, cache_dir: Path | None, disambiguator: str):
    """Exec ``source`` and compile it as a numba C callback (cached under ``cache_dir`` if given).

    Returns (cfunc, cached) where ``cached`` says it was loaded from numba's cache. With
    ``inner=None`` (a warm load) a cache miss raises instead of compiling.
    """
    import numba

    env = {
        "__name__": __name__,
        "numba": numba,
        "np": np,
        "void_ptr": _void_ptr(),
        "inner": inner,
    }
    code = compile(source, f"<rdshare-{name}-{disambiguator[:12]}>", "exec")
    exec(code, env)
    fn = env[name]
    if cache_dir is not None:
        _install_locator()
        _REGISTRY[fn] = (str(cache_dir), disambiguator)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", numba.NumbaWarning)
        # nutpie compiles its wrappers with numba's defaults (no fastmath); so do we.
        cf = numba.cfunc(sig, cache=cache_dir is not None)(fn)
    not_cached = [w for w in caught if "Cannot cache" in str(w.message)]
    return cf, (cf.cache_hits > 0), bool(not_cached)


# ---------------------------------------------------------------------------------------------------
# The compiled model nutpie samples
# ---------------------------------------------------------------------------------------------------


def _compiled_class():
    from nutpie.compile_pymc import CompiledPyMCModel

    @dataclass(frozen=True)
    class RdshareCompiledModel(CompiledPyMCModel):
        """nutpie's compiled PyMC model with rdshare's cached wrappers and data layout.

        ``shared_data`` is keyed by the ``pm.Data`` name; :meth:`with_data` swaps arrays (same rank; a
        changed shape is read by the wrappers at call time).
        """

        shared_specs: tuple = ()
        unused_data: frozenset = frozenset()
        cache_info: dict = dataclasses.field(default_factory=dict)

        def with_data(self, **updates):
            shared = dict(self.shared_data)
            by_name = {s.name: s for s in self.shared_specs}
            for name, value in updates.items():
                if name not in by_name:
                    if name in self.unused_data:
                        continue  # a pm.Data container the compiled functions do not read
                    raise KeyError(f"Unknown shared variable: {name}")
                old = shared[name]
                new = np.array(value, dtype=old.dtype, order="C", copy=True)
                new.flags.writeable = False
                if old.ndim != new.ndim:
                    raise ValueError(f"Shared variable {name} must have rank {old.ndim}")
                shared[name] = new
            return dataclasses.replace(
                self,
                shared_data=shared,
                user_data=make_user_data(self.shared_specs, shared),
            )

    return RdshareCompiledModel


_CLASS = None


def compiled_class():
    """The :class:`CompiledPyMCModel` subclass this module returns (created on first use)."""
    global _CLASS
    if _CLASS is None:
        _CLASS = _compiled_class()
    return _CLASS


def _initial_point_func(model, joined_names, joined_shapes):
    """PyMC's initial-point function, wrapped exactly as ``nutpie.compile_pymc_model`` wraps it."""
    from nutpie.compile_pymc import _rv_dict_to_flat_array_wrapper, _wrap_with_lock
    from pymc.initial_point import make_initial_point_fn

    fn = make_initial_point_fn(
        model=model,
        overrides=None,
        default_strategy="support_point",
        jitter_rvs=set(model.free_RVs),
        return_transformed=True,
    )
    fn = _wrap_with_lock(fn)
    return fn, _rv_dict_to_flat_array_wrapper(fn, names=joined_names, shapes=joined_shapes)


class NumpyInitialPoint:
    """PyMC's jittered initial point, in numpy: ``support_point (transformed) + Uniform(-1, 1)``.

    ``make_initial_point_fn`` compiles a small PyTensor function (about 0.3 s with the imports it pulls
    in). PyMC seeds one ``np.random.Generator(PCG64(child))`` per free variable from the children of
    ``SeedSequence(seed)`` (``pymc.pytensorf.reseed_rngs``), in the order its graph lists the random
    generators; ``order[k]`` is the child that variable ``k`` uses. The order is found, and the whole
    function checked bit for bit against PyMC's for ten seeds, when an entry is written
    (:func:`_numpy_initial_point_spec`); an entry where that fails keeps PyMC's own function.
    """

    def __init__(self, base: list[np.ndarray], order: list[int]):
        self.base = [np.asarray(b, dtype=np.float64) for b in base]
        self.order = [int(j) for j in order]
        self.size = int(sum(b.size for b in self.base))

    def __call__(self, seed=None) -> np.ndarray:
        children = np.random.SeedSequence(seed).spawn(len(self.base))
        out = np.empty(self.size, dtype=np.float64)
        cursor = 0
        for b, j in zip(self.base, self.order, strict=True):
            jitter = np.random.Generator(np.random.PCG64(children[j])).uniform(-1, 1, size=b.shape)
            out[cursor : cursor + b.size] = (b + jitter).ravel()
            cursor += b.size
        return out


_IP_CHECK_SEEDS = (0, 1, 2, 7, 12345, 2**31 - 1, 2**32 - 1, 2**53 + 3, 2**63 + 5, 2**64 - 1)


def _jitter_order(pymc_flat_ipfn, base: list[np.ndarray], seed: int = 20260512) -> list[int] | None:
    """Which ``SeedSequence`` child jitters each variable in PyMC's function (None if not a permutation)."""
    flat = np.asarray(pymc_flat_ipfn(seed))
    children = np.random.SeedSequence(seed).spawn(len(base))
    order, cursor = [], 0
    for b in base:
        target = flat[cursor : cursor + b.size]
        cursor += b.size
        hits = [
            j
            for j, child in enumerate(children)
            if np.array_equal(
                (
                    b + np.random.Generator(np.random.PCG64(child)).uniform(-1, 1, size=b.shape)
                ).ravel(),
                target,
            )
        ]
        if len(hits) != 1:
            return None
        order.append(hits[0])
    return order if sorted(order) == list(range(len(base))) else None


def _numpy_initial_point_spec(model, pymc_flat_ipfn, joined_names) -> dict | None:
    """The numpy initial point's constants, if it reproduces PyMC's for every check seed; else None."""
    from pymc.initial_point import make_initial_point_fn

    try:
        base_fn = make_initial_point_fn(
            model=model,
            overrides=None,
            default_strategy="support_point",
            jitter_rvs=set(),
            return_transformed=True,
        )
        point = base_fn(0)
        base = [np.asarray(point[n], dtype=np.float64) for n in joined_names]
        order = _jitter_order(pymc_flat_ipfn, base)
        if order is None:
            return None
        ours = NumpyInitialPoint(base, order)
        for seed in _IP_CHECK_SEEDS:
            if not np.array_equal(ours(seed), pymc_flat_ipfn(seed)):
                return None
    except Exception:  # anything unexpected: keep PyMC's own function
        return None
    return {
        "base": [_hex(b) for b in base],
        "shapes": [list(b.shape) for b in base],
        "order": order,
    }


def _numpy_initial_point(spec: dict) -> NumpyInitialPoint:
    base = [_unhex(h).reshape(shape) for h, shape in zip(spec["base"], spec["shapes"], strict=True)]
    return NumpyInitialPoint(base, spec["order"])


def _coords_spec(coords: dict) -> dict | None:
    """JSON form of nutpie's coords (pandas indexes of str or int), if it rebuilds them exactly."""
    import pandas as pd

    out = {}
    for name, index in coords.items():
        values = list(index)
        if all(isinstance(v, str) for v in values):
            values = [str(v) for v in values]
        elif all(isinstance(v, int | np.integer) for v in values):
            values = [int(v) for v in values]
        else:
            return None
        rebuilt = pd.Index(values)
        if (
            type(rebuilt) is not type(index)
            or rebuilt.dtype != index.dtype
            or not rebuilt.equals(index)
        ):
            return None
        out[name] = values
    return out


def _model_data(model) -> dict[str, object]:
    """name -> shared variable, for the model's ``pm.Data`` containers and mutable dimension lengths."""
    from pytensor.compile.sharedvalue import SharedVariable

    out = {v.name: v for v in model.data_vars if isinstance(v, SharedVariable)}
    for name, length in model.dim_lengths.items():
        if isinstance(length, SharedVariable) and name not in out:
            out[name] = length
    return out


def _assemble(
    model,
    *,
    n_dim,
    n_expanded,
    shape_info,
    reparameterized_names,
    specs,
    logp_cf,
    expand_cf,
    initial_point_func,
    logp_fn_pt,
    expand_fn_pt,
    info,
):
    from nutpie.compile_pymc import _prepare_dims_and_coords

    data = _model_data(model)
    shared = {}
    for s in specs:
        v = np.array(data[s.name].get_value(), order="C", copy=True)
        if v.dtype != np.dtype(s.dtype) or v.ndim != s.ndim:
            raise ValueError(f"data container {s.name} changed type")
        v.flags.writeable = False
        shared[s.name] = v
    dims, coords = _prepare_dims_and_coords(model, shape_info, reparameterized_names)
    used = {s.name for s in specs}
    return compiled_class()(
        _n_dim=n_dim,
        dims=dims,
        _coords=coords,
        _shapes={name: tuple(shape) for name, _, shape in zip(*shape_info, strict=True)},
        compiled_logp_func=logp_cf,
        compiled_expand_func=expand_cf,
        initial_point_func=initial_point_func,
        shared_data=shared,
        shared_var_keys={},
        user_data=make_user_data(specs, shared),
        n_expanded=n_expanded,
        shape_info=shape_info,
        logp_func=logp_fn_pt,
        expand_func=expand_fn_pt,
        reparameterized_names=reparameterized_names,
        shared_specs=tuple(specs),
        unused_data=frozenset(n for n in data if n not in used),
        cache_info=info,
    )


def _cast_data(specs, data: dict) -> dict[str, np.ndarray] | None:
    """The caller's data arrays as the compiled functions read them (``pm.Data``'s dtypes), or None."""
    out = {}
    for s in specs:
        if s.name not in data:
            return None
        raw = np.asarray(data[s.name])
        v = np.array(raw, dtype=s.dtype, order="C", copy=True)
        if v.ndim != s.ndim or (raw.dtype.kind in "iub" and not np.array_equal(v, raw)):
            return None
        v.flags.writeable = False
        out[s.name] = v
    return out


def _assemble_without_model(meta: dict, specs, shared, logp_cf, expand_cf, info):
    """A compiled model from a cache entry and the caller's data alone (no PyMC model needed)."""
    import pandas as pd

    names = list(meta["shape_info"]["names"])
    slices = [slice(a, b) for a, b in meta["shape_info"]["slices"]]
    shapes = [np.array(s, dtype=np.int64) for s in meta["shape_info"]["shapes"]]
    shape_info = (names, slices, shapes)
    coords = {name: pd.Index(values) for name, values in meta["coords"].items()}
    dims = {name: tuple(d) for name, d in meta["dims"].items()}
    used = {s.name for s in specs}
    return compiled_class()(
        _n_dim=int(meta["n_dim"]),
        dims=dims,
        _coords=coords,
        _shapes={name: tuple(shape) for name, _, shape in zip(*shape_info, strict=True)},
        compiled_logp_func=logp_cf,
        compiled_expand_func=expand_cf,
        initial_point_func=_numpy_initial_point(meta["initial_point"]),
        shared_data=shared,
        shared_var_keys={},
        user_data=make_user_data(specs, shared),
        n_expanded=int(meta["n_expanded"]),
        shape_info=shape_info,
        logp_func=None,
        expand_func=None,
        reparameterized_names=list(meta["reparameterized_names"]),
        shared_specs=tuple(specs),
        unused_data=frozenset(n for n in meta["data_names"] if n not in used),
        cache_info=info,
    )


# ---------------------------------------------------------------------------------------------------
# Check points: the wrappers evaluated at recorded points must reproduce recorded values
# ---------------------------------------------------------------------------------------------------


def _call_logp(cf, n_dim: int, x: np.ndarray, ud: np.ndarray) -> tuple[int, float, np.ndarray]:
    dp = ctypes.POINTER(ctypes.c_double)
    x = np.ascontiguousarray(x, dtype=np.float64)
    grad = np.zeros(n_dim)
    logp = np.zeros(1)
    code = cf.ctypes(
        n_dim,
        x.ctypes.data_as(dp),
        grad.ctypes.data_as(dp),
        logp.ctypes.data_as(dp),
        ud.ctypes.data,
    )
    return int(code), float(logp[0]), grad


def _call_expand(cf, n_dim: int, n_expanded: int, x: np.ndarray, ud: np.ndarray):
    dp = ctypes.POINTER(ctypes.c_double)
    x = np.ascontiguousarray(x, dtype=np.float64)
    out = np.zeros(n_expanded)
    code = cf.ctypes(
        n_dim, n_expanded, x.ctypes.data_as(dp), out.ctypes.data_as(dp), ud.ctypes.data
    )
    return int(code), out


def _hex(a) -> list[str]:
    return [float(v).hex() for v in np.asarray(a, dtype=np.float64).ravel()]


def _unhex(h: list[str]) -> np.ndarray:
    return np.array([float.fromhex(v) for v in h], dtype=np.float64)


def _record_checks(logp_cf, expand_cf, n_dim, n_expanded, specs, shared, points) -> dict:
    ud = make_user_data(specs, shared)
    checks = []
    for x in points:
        code, logp, grad = _call_logp(logp_cf, n_dim, x, ud)
        ecode, expanded = _call_expand(expand_cf, n_dim, n_expanded, x, ud)
        checks.append(
            {
                "x": _hex(x),
                "code": code,
                "logp": float(logp).hex(),
                "grad": _hex(grad),
                "expand_code": ecode,
                "expand": _hex(expanded),
            }
        )
    data = {
        s.name: {
            "dtype": s.dtype,
            "shape": list(shared[s.name].shape),
            "values": shared[s.name].ravel().tolist(),
        }
        for s in specs
    }
    return {"points": checks, "data": {k: _json_safe(v) for k, v in data.items()}}


def _json_safe(d: dict) -> dict:
    vals = d["values"]
    if np.dtype(d["dtype"]).kind == "f":
        vals = _hex(vals)
    return {**d, "values": vals}


def _verify_checks(logp_cf, expand_cf, n_dim, n_expanded, specs, record: dict) -> bool:
    shared = {}
    for s in specs:
        d = record["data"][s.name]
        if d["dtype"] != s.dtype:
            return False
        is_float = np.dtype(s.dtype).kind == "f"
        vals = _unhex(d["values"]) if is_float else np.array(d["values"], dtype=s.dtype)
        shared[s.name] = np.ascontiguousarray(vals.astype(s.dtype).reshape(d["shape"]))
    ud = make_user_data(specs, shared)
    for c in record["points"]:
        x = _unhex(c["x"])
        code, logp, grad = _call_logp(logp_cf, n_dim, x, ud)
        if code != c["code"] or float(logp).hex() != c["logp"] or _hex(grad) != c["grad"]:
            return False
        ecode, expanded = _call_expand(expand_cf, n_dim, n_expanded, x, ud)
        if ecode != c["expand_code"] or _hex(expanded) != c["expand"]:
            return False
    return bool(record["points"])


# ---------------------------------------------------------------------------------------------------
# Entries on disk
# ---------------------------------------------------------------------------------------------------


def _meta_path(root: Path, key: str) -> Path:
    return _entry_dir(root) / f"{key}.json"


def _numba_dir(root: Path) -> Path:
    return _entry_dir(root) / "numba"


def _write_json_atomic(path: Path, payload: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".json")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(payload, fh)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def remove_entry(root: Path, key: str) -> None:
    """Delete an entry's metadata and its numba files (any that exist)."""
    with contextlib.suppress(OSError):
        _meta_path(root, key).unlink()
    nd = _numba_dir(root)
    if nd.is_dir():
        for p in nd.iterdir():
            if key in p.name:
                with contextlib.suppress(OSError):
                    p.unlink()


def prune(root: Path, keep: int = MAX_ENTRIES) -> None:
    """Remove the least recently used entries beyond ``keep``."""
    d = _entry_dir(root)
    if not d.is_dir():
        return
    metas = sorted(d.glob("*.json"), key=lambda p: p.stat().st_mtime, reverse=True)
    for p in metas[keep:]:
        remove_entry(root, p.stem)


def _writable(directory: Path) -> bool:
    """Create ``directory`` if needed; True if a file can be written in it."""
    try:
        directory.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=directory):
            pass
    except OSError:
        return False
    return True


def _disambiguator(key: str, which: str) -> str:
    # numba names files "<function>-<disambiguator>.py313.nbi"; keep the entry key in it for removal.
    return f"{key}-{which}"


# ---------------------------------------------------------------------------------------------------
# Loading and compiling
# ---------------------------------------------------------------------------------------------------


def _resolve(model):
    """A PyMC model from a model or a zero-argument function that builds one."""
    return model if hasattr(model, "free_RVs") else model()


def _load(model, root: Path, key: str, data: dict | None = None):
    """The cached compiled model, or None (with a reason) if there is no usable entry.

    ``model`` is a PyMC model or a function that builds one; with ``data`` (the values of the model's
    ``pm.Data`` containers by name) and an entry that holds everything else, it is not built at all.
    """
    path = _meta_path(root, key)
    if not path.exists():
        return None, "no entry"
    meta = json.loads(path.read_text(encoding="utf-8"))
    if meta.get("format") != CACHE_FORMAT or meta.get("key") != key:
        return None, "entry of another format or key"
    n_dim, n_expanded = int(meta["n_dim"]), int(meta["n_expanded"])
    specs = tuple(SharedSpec(**s) for s in meta["shared"])
    logp_sig, expand_sig = _c_signatures()
    nd = _numba_dir(root)
    logp_cf, hit1, _ = _make_cfunc(
        meta["logp_source"], _LOGP_NAME, logp_sig, None, nd, _disambiguator(key, "logp")
    )
    expand_cf, hit2, _ = _make_cfunc(
        meta["expand_source"], _EXPAND_NAME, expand_sig, None, nd, _disambiguator(key, "expand")
    )
    if not (hit1 and hit2):
        return None, "wrapper not in numba's cache"
    if not _verify_checks(logp_cf, expand_cf, n_dim, n_expanded, specs, meta["checks"]):
        return None, "wrappers do not reproduce the recorded values"

    model_free = all(meta.get(k) is not None for k in ("initial_point", "coords", "dims"))
    shared = _cast_data(specs, data) if (model_free and data is not None) else None
    if shared is not None:
        info = {"status": "hit", "key": key, "dir": str(root), "model_built": False}
        return _assemble_without_model(meta, specs, shared, logp_cf, expand_cf, info), "hit"

    model = _resolve(model)
    names = list(meta["shape_info"]["names"])
    slices = [slice(a, b) for a, b in meta["shape_info"]["slices"]]
    shapes = [np.array(s, dtype=np.int64) for s in meta["shape_info"]["shapes"]]
    shape_info = (names, slices, shapes)
    n_free = len(model.free_RVs)
    joined_names, joined_shapes = names[:n_free], shapes[:n_free]
    value_names = [model.rvs_to_values[v].name for v in model.free_RVs]
    if value_names != joined_names:
        return None, "the model's free variables differ from the entry's"
    raw_ipfn, ipfn = _initial_point_func(model, joined_names, joined_shapes)
    point = raw_ipfn(0)
    for name, shape in zip(joined_names, joined_shapes, strict=True):
        if tuple(np.shape(point[name])) != tuple(shape):
            return None, "the model's variable shapes differ from the entry's"
    data = _model_data(model)
    for s in specs:
        v = data.get(s.name)
        value = None if v is None else np.asarray(v.get_value())
        if value is None or value.ndim != s.ndim or str(value.dtype) != s.dtype:
            return None, "the model's data containers differ from the entry's"
    return (
        _assemble(
            model,
            n_dim=n_dim,
            n_expanded=n_expanded,
            shape_info=shape_info,
            reparameterized_names=list(meta["reparameterized_names"]),
            specs=specs,
            logp_cf=logp_cf,
            expand_cf=expand_cf,
            initial_point_func=ipfn,
            logp_fn_pt=None,
            expand_fn_pt=None,
            info={"status": "hit", "key": key, "dir": str(root), "model_built": True},
        ),
        "hit",
    )


def _compile(model, root: Path | None, key: str):
    """Compile the model with our wrappers; write a cache entry under ``root`` unless it is None."""
    from nutpie.compile_pymc import _make_functions, _wrap_with_lock
    from pymc.initial_point import make_initial_point_fn

    n_free = len(model.free_RVs)
    # PyMC's initial-point function, exactly as nutpie.compile_pymc_model builds it.
    pymc_ipfn = _wrap_with_lock(
        make_initial_point_fn(
            model=model,
            overrides=None,
            default_strategy="support_point",
            jitter_rvs=set(model.free_RVs),
            return_transformed=True,
        )
    )
    (
        n_dim,
        n_expanded,
        logp_fn_pt,
        expand_fn_pt,
        initial_point_func,
        shape_info,
        reparameterized_names,
    ) = _make_functions(
        model,
        mode="NUMBA",
        compute_grad=True,
        join_expanded=True,
        pymc_initial_point_fn=pymc_ipfn,
        var_names=None,
    )
    logp_shared = list(logp_fn_pt.get_shared())
    expand_shared = list(expand_fn_pt.get_shared())
    order, seen = [], set()
    for v in [*logp_shared, *expand_shared]:
        if v not in seen:
            seen.add(v)
            order.append(v)
    names = [v.name for v in order]
    if len(set(names)) != len(names) or any(n is None for n in names):
        raise ValueError("shared variables must have unique names")
    values = {v.name: np.array(v.get_value(), order="C", copy=True) for v in order}
    specs = tuple(SharedSpec(v.name, str(values[v.name].dtype), values[v.name].ndim) for v in order)
    idx = {v: i for i, v in enumerate(order)}
    logp_used = tuple(idx[v] for v in logp_shared)
    expand_used = tuple(idx[v] for v in expand_shared)

    logp_src = _logp_source(n_dim, specs, logp_used)
    expand_src = _expand_source(n_dim, n_expanded, specs, expand_used)
    nd = None if root is None else _numba_dir(root)
    if root is not None:
        remove_entry(root, key)  # a broken or stale entry must not be picked up by numba
    logp_sig, expand_sig = _c_signatures()
    logp_cf, _, nc1 = _make_cfunc(
        logp_src, _LOGP_NAME, logp_sig, logp_fn_pt.vm.jit_fn, nd, _disambiguator(key, "logp")
    )
    expand_cf, _, nc2 = _make_cfunc(
        expand_src,
        _EXPAND_NAME,
        expand_sig,
        expand_fn_pt.vm.jit_fn,
        nd,
        _disambiguator(key, "expand"),
    )

    # The wrappers must agree with PyTensor's own functions (same compiled code, our data plumbing).
    points = [initial_point_func(s) for s in (0, 1, 2)]
    ud = make_user_data(specs, values)
    for x in points:
        code, logp, grad = _call_logp(logp_cf, n_dim, x, ud)
        ref_logp, ref_grad = logp_fn_pt(x)
        if code not in (0, 3, 4) or not (
            np.array_equal(np.float64(logp), np.asarray(ref_logp), equal_nan=True)
            and np.array_equal(grad, np.asarray(ref_grad), equal_nan=True)
        ):
            raise RuntimeError("generated logp wrapper disagrees with PyTensor's function")
        ecode, expanded = _call_expand(expand_cf, n_dim, n_expanded, x, ud)
        (ref_exp,) = expand_fn_pt(x)
        if ecode != 0 or not np.array_equal(expanded, np.asarray(ref_exp), equal_nan=True):
            raise RuntimeError("generated expand wrapper disagrees with PyTensor's function")

    written = False
    if root is not None and not (nc1 or nc2):
        all_names, all_slices, all_shapes = shape_info
        meta = {
            "format": CACHE_FORMAT,
            "key": key,
            "created": time.time(),
            "n_dim": int(n_dim),
            "n_expanded": int(n_expanded),
            "shape_info": {
                "names": list(all_names),
                "slices": [[int(s.start), int(s.stop)] for s in all_slices],
                "shapes": [[int(k) for k in np.asarray(s).ravel()] for s in all_shapes],
            },
            "n_free": n_free,
            "reparameterized_names": list(reparameterized_names),
            "shared": [dataclasses.asdict(s) for s in specs],
            "logp_source": logp_src,
            "expand_source": expand_src,
            "checks": _record_checks(logp_cf, expand_cf, n_dim, n_expanded, specs, values, points),
            "environment": environment_fingerprint(),
        }
        # What a warm load needs to skip building the PyMC model (each None if it cannot be exact).
        from nutpie.compile_pymc import _prepare_dims_and_coords

        dims, coords = _prepare_dims_and_coords(model, shape_info, reparameterized_names)
        meta["initial_point"] = _numpy_initial_point_spec(
            model, initial_point_func, all_names[:n_free]
        )
        meta["coords"] = _coords_spec(coords)
        meta["dims"] = {k: list(v) for k, v in dims.items()}
        meta["data_names"] = sorted(_model_data(model))
        try:
            _write_json_atomic(_meta_path(root, key), meta)
            written = True
        except OSError:
            remove_entry(root, key)
        with contextlib.suppress(OSError):
            prune(root)
    status = "compiled" + (", cached" if written else "")
    return _assemble(
        model,
        n_dim=n_dim,
        n_expanded=n_expanded,
        shape_info=shape_info,
        reparameterized_names=reparameterized_names,
        specs=specs,
        logp_cf=logp_cf,
        expand_cf=expand_cf,
        initial_point_func=initial_point_func,
        logp_fn_pt=logp_fn_pt,
        expand_fn_pt=expand_fn_pt,
        info={"status": status, "key": key, "dir": None if root is None else str(root)},
    )


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
