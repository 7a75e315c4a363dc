"""Cache entries on disk: write, verify, load, remove and prune; compile when no entry serves.

An entry is ``sampler-v<format>/<key>.json`` (the generated sources, shapes, coordinates, the initial
point and check points) plus the two wrappers' numba cache files under ``sampler-v<format>/numba``.
A loaded entry is verified before use: its wrappers are evaluated at the recorded points with the
recorded data and must reproduce the recorded log density, gradient and expanded values bit for bit.
"""

from __future__ import annotations

import contextlib
import dataclasses
import itertools
import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np

from rdshare.inference.compile_cache.key import (
    CACHE_FORMAT,
    MAX_ENTRIES,
    _entry_dir,
    environment_fingerprint,
)
from rdshare.inference.compile_cache.wrappers import (
    _EXPAND_NAME,
    _LOGP_NAME,
    NumpyInitialPoint,
    SharedSpec,
    _assemble,
    _c_signatures,
    _call_expand,
    _call_logp,
    _cast_data,
    _expand_source,
    _hex,
    _logp_source,
    _make_cfunc,
    _unhex,
    make_user_data,
)


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


def _load(root: Path, key: str, data: dict):
    """The cached compiled sampler with ``data`` (the kernels' inputs by name), or None with a reason."""
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
    shared = _cast_data(specs, data)
    if shared is None:
        return None, "the data do not have the entry's names, ranks and types"
    info = {"status": "hit", "key": key, "dir": str(root)}
    return _assemble(meta, specs, shared, logp_cf, expand_cf, info), "hit"


def _compile(target, root: Path | None, key: str):
    """Compile the kernels' callbacks for ``target`` (:class:`rdshare.inference.density.Target`); write a
    cache entry under ``root`` unless it is None."""
    from rdshare.inference import density

    lay = target.layout
    names = [name for name, _, _ in density.INPUTS]
    shared = {}
    for name in names:
        v = np.array(target.data[name], order="C", copy=True)
        v.flags.writeable = False
        shared[name] = v
    specs = tuple(SharedSpec(n, str(shared[n].dtype), shared[n].ndim) for n in names)
    n_dim = n_expanded = lay.n_dim
    logp_src = _logp_source(n_dim, specs, tuple(range(len(specs))))
    expand_used = tuple(names.index(n) for n in density.EXPAND_INPUTS)
    expand_src = _expand_source(n_dim, n_expanded, specs, expand_used)
    nd = None if root is None else _numba_dir(root)
    if root is not None:
        remove_entry(root, key)  # a broken or stale entry must not be picked up by numba
    logp_sig, expand_sig = _c_signatures()
    logp_cf, _, nc1 = _make_cfunc(
        logp_src, _LOGP_NAME, logp_sig, density.logp_and_grad, nd, _disambiguator(key, "logp")
    )
    expand_cf, _, nc2 = _make_cfunc(
        expand_src, _EXPAND_NAME, expand_sig, density.expand, nd, _disambiguator(key, "expand")
    )

    # The callbacks must agree with the kernels called directly (same code, our data plumbing).
    initial_point = NumpyInitialPoint(list(lay.base))
    points = [initial_point(s) for s in (0, 1, 2)]
    ud = make_user_data(specs, shared)
    # writable copies: the same array types as the callbacks' views, so numba reuses their compiled
    # kernels instead of compiling a read-only specialisation (seconds)
    args = [np.array(shared[n]) for n in names]
    for x in points:
        code, logp, grad = _call_logp(logp_cf, n_dim, x, ud)
        ref_logp, ref_grad = density.logp_and_grad(x, *args)
        if code not in (0, 3, 4) or not (
            np.array_equal(np.float64(logp), np.float64(ref_logp), equal_nan=True)
            and np.array_equal(grad, ref_grad, equal_nan=True)
        ):
            raise RuntimeError("generated logp wrapper disagrees with the kernel")
        ecode, expanded = _call_expand(expand_cf, n_dim, n_expanded, x, ud)
        (ref_exp,) = density.expand(x, *(args[i] for i in expand_used))
        if ecode != 0 or not np.array_equal(expanded, ref_exp, equal_nan=True):
            raise RuntimeError("generated expand wrapper disagrees with the kernel")

    sizes = [int(np.prod(shape)) for shape in lay.shapes]
    ends = np.cumsum([0, *sizes])
    meta = {
        "format": CACHE_FORMAT,
        "key": key,
        "created": time.time(),
        "n_dim": int(n_dim),
        "n_expanded": int(n_expanded),
        "shape_info": {
            "names": list(lay.names),
            "slices": [[int(a), int(b)] for a, b in itertools.pairwise(ends)],
            "shapes": [list(shape) for shape in lay.shapes],
        },
        "reparameterized_names": [],
        "shared": [dataclasses.asdict(s) for s in specs],
        "logp_source": logp_src,
        "expand_source": expand_src,
        "checks": _record_checks(logp_cf, expand_cf, n_dim, n_expanded, specs, shared, points),
        "initial_point": {
            "base": [_hex(b) for b in initial_point.base],
            "shapes": [list(b.shape) for b in initial_point.base],
        },
        "coords": {name: list(values) for name, values in lay.coords.items()},
        "dims": {name: list(d) for name, d in lay.dims.items()},
    }
    written = False
    if root is not None and not (nc1 or nc2):
        meta["environment"] = environment_fingerprint()
        try:
            _write_json_atomic(_meta_path(root, key), meta)
            written = True
        except OSError:
            remove_entry(root, key)
        with contextlib.suppress(OSError):
            prune(root)
    status = "compiled" + (", cached" if written else "")
    info = {"status": status, "key": key, "dir": None if root is None else str(root)}
    return _assemble(meta, specs, shared, logp_cf, expand_cf, info)
