"""Cache entries on disk: write, verify, load, remove and prune; compile when no entry serves.

An entry is ``sampler-v<format>/<key>.json`` (the generated sources, shapes, coordinates, the numpy
initial point and check points) plus the two wrappers' numba cache files under ``sampler-v<format>/numba``.
A loaded entry is verified before use: its wrappers are evaluated at the recorded points with the
recorded data and must reproduce the recorded log density, gradient and expanded values bit for bit.
"""

from __future__ import annotations

import contextlib
import dataclasses
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
    SharedSpec,
    _assemble,
    _assemble_without_model,
    _c_signatures,
    _call_expand,
    _call_logp,
    _cast_data,
    _coords_spec,
    _expand_source,
    _hex,
    _initial_point_func,
    _logp_source,
    _make_cfunc,
    _model_data,
    _numpy_initial_point_spec,
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
