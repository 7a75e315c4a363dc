"""The sampler's C callbacks, generated as plain source with no closures so numba can cache them.

The wrappers have nutpie's C-callback ABI and status codes (``_make_c_logp_func`` and
``_make_c_expand_func`` in nutpie 0.16.11): they read the kernels' inputs through a flat ``int64`` array of
(pointer, size, shape...) per array, call rdshare's log-density kernels
(:func:`rdshare.inference.density.logp_and_grad` and :func:`~rdshare.inference.density.expand`), and copy
the gradient with explicit loops (``out[...] = grad`` makes numba compile an error-formatting path that
costs about 4.5 s). Each is registered with a numba cache locator of ours, keyed by the entry key, so numba
caches it (with the kernels it calls) in rdshare's cache directory. Also here: nutpie's compiled-model
class with rdshare's data layout, and the jittered initial point.
"""

from __future__ import annotations

import ctypes
import dataclasses
import os
import warnings
import weakref
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rdshare.inference.compile_cache.key import CACHE_FORMAT

_LOGP_NAME = "rdshare_logp"
_EXPAND_NAME = "rdshare_expand"

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
    """One input array of the kernels (by name, dtype and rank) the callbacks read."""

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
    """A C callback with nutpie's logp ABI and status codes (see ``_make_c_logp_func`` in nutpie).

    No ``try``/``except`` (nutpie's own wrappers have one, returning 1): the kernels cannot raise (numpy's
    error model, no bounds checks, no explicit raise), and numba's exception handling would cost about
    2 s of compiling per callback.
    """
    offs = _offsets(specs)
    ud_len = max(1, sum(s.width for s in specs))
    lines = [
        f"def {_LOGP_NAME}(dim, x_, out_, logp_, user_data_):",
        f"    if dim != {n_dim}:",
        "        return -1",
        f"    ud = numba.carray(user_data_, ({ud_len},), np.int64)",
        f"    x = numba.carray(x_, ({n_dim},))",
        f"    out = numba.carray(out_, ({n_dim},))",
        "    logp = numba.carray(logp_, ())",
    ]
    args = ["x"]
    for i in used:
        lines.append(f"    s{i} = {_array_expr(specs[i], offs[i])}")
        args.append(f"s{i}")
    lines += [
        f"    logp_val, grad = inner({', '.join(args)})",
        "    logp[()] = logp_val",
        f"    for i in range({n_dim}):",
        "        out[i] = grad[i]",
        f"    for i in range({n_dim}):",
        "        if not np.isfinite(out[i]):",
        "            return 3",
        "    if not np.isfinite(logp_val):",
        "        return 4",
        "    return 0",
    ]
    return "\n".join(lines) + "\n"


def _expand_source(
    n_dim: int, n_expanded: int, specs: tuple[SharedSpec, ...], used: tuple[int, ...]
) -> str:
    """A C callback with nutpie's expand ABI and status codes (see ``_make_c_expand_func``; no
    ``try``/``except``, as in :func:`_logp_source`)."""
    offs = _offsets(specs)
    ud_len = max(1, sum(s.width for s in specs))
    lines = [
        f"def {_EXPAND_NAME}(dim, expanded, x_, out_, user_data_):",
        f"    if dim != {n_dim}:",
        "        return -1",
        f"    if expanded != {n_expanded}:",
        "        return -1",
        f"    ud = numba.carray(user_data_, ({ud_len},), np.int64)",
        f"    x = numba.carray(x_, ({n_dim},))",
        f"    out = numba.carray(out_, ({n_expanded},))",
    ]
    args = ["x"]
    for i in used:
        lines.append(f"    s{i} = {_array_expr(specs[i], offs[i])}")
        args.append(f"s{i}")
    lines += [
        f"    (values,) = inner({', '.join(args)})",
        f"    for i in range({n_expanded}):",
        "        out[i] = values[i]",
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

    Returns ``(cfunc, cached, not_cacheable)``: ``cached`` says it was loaded from numba's cache,
    ``not_cacheable`` that numba warned it cannot cache it. With ``inner=None`` (a warm load) a cache
    miss raises instead of compiling.
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
        """nutpie's compiled-model class with rdshare's cached wrappers and data layout.

        ``shared_data`` holds the kernels' inputs by name; :meth:`with_data` swaps arrays (same rank and
        dtype; a changed shape is read by the wrappers at call time).
        """

        shared_specs: tuple = ()
        cache_info: dict = dataclasses.field(default_factory=dict)

        def with_data(self, **updates):
            shared = dict(self.shared_data)
            by_name = {s.name: s for s in self.shared_specs}
            for name, value in updates.items():
                if name not in by_name:
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
    """The nutpie ``CompiledPyMCModel`` subclass this module returns (created on first use)."""
    global _CLASS
    if _CLASS is None:
        _CLASS = _compiled_class()
    return _CLASS


class NumpyInitialPoint:
    """The sampler's initial points: ``base + Uniform(-1, 1)`` on the unconstrained scale, as PyMC jitters
    them: variable ``k`` draws from ``np.random.Generator(PCG64(child k))``, the children of
    ``SeedSequence(seed)``."""

    def __init__(self, base: list[np.ndarray]):
        self.base = [np.asarray(b, dtype=np.float64) for b in base]
        self.size = int(sum(b.size for b in self.base))

    def __call__(self, seed=None) -> np.ndarray:
        children = np.random.SeedSequence(seed).spawn(len(self.base))
        out = np.empty(self.size, dtype=np.float64)
        cursor = 0
        for b, child in zip(self.base, children, strict=True):
            jitter = np.random.Generator(np.random.PCG64(child)).uniform(-1, 1, size=b.shape)
            out[cursor : cursor + b.size] = (b + jitter).ravel()
            cursor += b.size
        return out


def _numpy_initial_point(spec: dict) -> NumpyInitialPoint:
    base = [_unhex(h).reshape(shape) for h, shape in zip(spec["base"], spec["shapes"], strict=True)]
    return NumpyInitialPoint(base)


def _cast_data(specs, data: dict) -> dict[str, np.ndarray] | None:
    """The caller's data arrays as the kernels read them (the entry's dtypes), or None."""
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


def _assemble(meta: dict, specs, shared, logp_cf, expand_cf, info):
    """nutpie's compiled model from an entry's metadata, the two callbacks and the data."""
    import pandas as pd

    names = list(meta["shape_info"]["names"])
    slices = [slice(a, b) for a, b in meta["shape_info"]["slices"]]
    shapes = [np.array(s, dtype=np.int64) for s in meta["shape_info"]["shapes"]]
    shape_info = (names, slices, shapes)
    coords = {name: pd.Index(values) for name, values in meta["coords"].items()}
    dims = {name: tuple(d) for name, d in meta["dims"].items()}
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
