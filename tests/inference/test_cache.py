"""The compile cache: same draws as stock nutpie, same results cached or not, safe fallbacks."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from rdshare.inference import compile_cache as cc


def tiny_model(n: int = 6):
    """A two-parameter regression with its data in pm.Data (compiles in a few seconds)."""
    import pymc as pm

    x = np.linspace(0.0, 1.0, n)
    with pm.Model(coords={"i": range(n)}) as m:
        xd = pm.Data("x", x, dims="i")
        yd = pm.Data("y", 0.5 + 2.0 * x + 0.1 * np.sin(7 * x), dims="i")
        a = pm.Normal("a", 0.0, 1.0)
        b = pm.Normal("b", 0.0, 2.0)
        s = pm.HalfNormal("s", 1.0)
        pm.Normal("obs", a + b * xd, s, observed=yd, dims="i")
        pm.Deterministic("ab", a * b)
    return m


def _sample(compiled, seed: int = 3):
    import nutpie

    tree = nutpie.sample(
        compiled, draws=100, tune=100, chains=2, cores=1, seed=seed, progress_bar=False
    )
    return tree


def _assert_same_draws(t1, t2) -> None:
    for group in ("posterior", "sample_stats"):
        a, b = t1[group].ds, t2[group].ds
        assert set(a.data_vars) == set(b.data_vars)
        for v in a.data_vars:
            if a[v].dtype.kind in "fiub":
                np.testing.assert_array_equal(a[v].values, b[v].values, err_msg=f"{group}.{v}")


@pytest.fixture
def cache_dir(tmp_path, monkeypatch):
    d = tmp_path / "rdshare-cache"
    monkeypatch.setenv("RDSHARE_CACHE_DIR", str(d))
    monkeypatch.delenv("RDSHARE_NO_CACHE", raising=False)
    return d


def _files(cache: Path, pattern: str) -> list[Path]:
    return sorted(cache.rglob(pattern))


def test_second_load_is_a_hit_with_identical_draws(cache_dir):
    first = cc.load_or_compile(tiny_model(), "tiny")
    assert cc.last_status["status"] == "compiled, cached"
    assert len(_files(cache_dir, "*.json")) == 1
    assert len(_files(cache_dir, "*.nbc")) == 2
    second = cc.load_or_compile(tiny_model(), "tiny")
    assert cc.last_status["status"] == "hit"
    assert second.logp_func is None  # nothing compiled: the wrappers came from numba's cache
    _assert_same_draws(_sample(first), _sample(second))


def _tiny_data(n: int = 6) -> dict:
    x = np.linspace(0.0, 1.0, n)
    return {"x": x, "y": 0.5 + 2.0 * x + 0.1 * np.sin(7 * x)}


def test_hit_with_data_builds_no_model(cache_dir):
    built = []

    def build():
        built.append(1)
        return tiny_model()

    first = cc.load_or_compile(build, "tiny", data=_tiny_data())
    assert len(built) == 1
    second = cc.load_or_compile(build, "tiny", data=_tiny_data())
    assert cc.last_status == {**cc.last_status, "status": "hit", "model_built": False}
    assert len(built) == 1
    assert second.coords.keys() == first.coords.keys()
    for name, index in first.coords.items():
        assert second.coords[name].equals(index)
        assert second.coords[name].dtype == index.dtype
    assert second.dims == first.dims
    for seed in (0, 5, 2**64 - 1):
        np.testing.assert_array_equal(
            second.initial_point_func(seed), first.initial_point_func(seed)
        )
    _assert_same_draws(_sample(first), _sample(second))
    # data of another dtype or rank than the entry's: the model is built instead
    cc.load_or_compile(build, "tiny", data={"x": np.zeros((2, 3)), "y": np.zeros(6)})
    assert cc.last_status["model_built"] is True


@pytest.mark.parametrize("variant", ["full", "pooled"])
def test_numpy_initial_point_is_pymcs(variant):
    """Bit for bit, for many seeds, on the rdshare model (no compilation needed)."""
    from nutpie.compile_pymc import _rv_dict_to_flat_array_wrapper
    from pymc.initial_point import make_initial_point_fn

    from rdshare.core import dataset as ds_mod
    from rdshare.core import design as design_mod
    from rdshare.core import priors as priors_mod
    from rdshare.inference import model as model_mod

    design = design_mod.build(ds_mod.load([]).fitted)
    model = model_mod.build(design, priors_mod.load(), variant)
    names = [model.rvs_to_values[v].name for v in model.free_RVs]
    fn = make_initial_point_fn(model=model, jitter_rvs=set(model.free_RVs), return_transformed=True)
    point = fn(0)
    flat = _rv_dict_to_flat_array_wrapper(fn, names, [np.shape(point[n]) for n in names])
    spec = cc._numpy_initial_point_spec(model, flat, names)
    assert spec is not None
    ours = cc._numpy_initial_point(json.loads(json.dumps(spec)))
    for seed in [*range(20), 2**40 + 17, 2**64 - 2]:
        np.testing.assert_array_equal(ours(seed), flat(seed))


def test_initial_point_that_cannot_be_matched_keeps_pymcs(monkeypatch):
    """A wrong guess of PyMC's generator order is caught by the bitwise check."""
    from nutpie.compile_pymc import _rv_dict_to_flat_array_wrapper
    from pymc.initial_point import make_initial_point_fn

    model = tiny_model()
    names = [model.rvs_to_values[v].name for v in model.free_RVs]
    fn = make_initial_point_fn(model=model, jitter_rvs=set(model.free_RVs), return_transformed=True)
    flat = _rv_dict_to_flat_array_wrapper(fn, names, [()] * len(names))
    base_fn = make_initial_point_fn(model=model, jitter_rvs=set(), return_transformed=True)
    right = cc._jitter_order(flat, [np.asarray(base_fn(0)[n], dtype=float) for n in names])
    assert right is not None
    wrong = right[1:] + right[:1]
    from rdshare.inference.compile_cache import wrappers

    monkeypatch.setattr(wrappers, "_jitter_order", lambda fn, base, seed=0: wrong)
    assert cc._numpy_initial_point_spec(model, flat, names) is None


def test_other_structure_key_is_another_entry(cache_dir):
    cc.load_or_compile(tiny_model(), "tiny-a")
    cc.load_or_compile(tiny_model(), "tiny-b")
    assert cc.last_status["status"] == "compiled, cached"
    assert len(_files(cache_dir, "*.json")) == 2
    assert cc.entry_key("tiny-a") != cc.entry_key("tiny-b")
    from rdshare.inference.pytensor_flags import compile_flags

    with compile_flags():  # the key is computed while rdshare compiles
        fp = cc.environment_fingerprint()
    for field in (
        "nutpie",
        "pymc",
        "pytensor",
        "numba",
        "llvmlite",
        "python",
        "cpu",
        "pytensor_flags",
        "sources",
    ):
        assert field in fp
    assert fp["pytensor_flags"]["numba__fastmath"] == "False"


def _corrupt_json(cache: Path) -> None:
    (meta,) = _files(cache, "*.json")
    meta.write_text(meta.read_text()[:100], encoding="utf-8")


def _corrupt_numba(cache: Path) -> None:
    for p in _files(cache, "*.nbc"):
        p.write_bytes(b"\x80\x04garbage" * 10)


def _corrupt_index(cache: Path) -> None:
    for p in _files(cache, "*.nbi"):
        p.write_bytes(p.read_bytes()[:20])


def _wrong_recorded_value(cache: Path) -> None:
    (meta,) = _files(cache, "*.json")
    d = json.loads(meta.read_text())
    d["checks"]["points"][0]["logp"] = (
        float.fromhex(d["checks"]["points"][0]["logp"]) + 1e-9
    ).hex()
    meta.write_text(json.dumps(d), encoding="utf-8")


def _other_format(cache: Path) -> None:
    (meta,) = _files(cache, "*.json")
    d = json.loads(meta.read_text())
    d["format"] = -1
    meta.write_text(json.dumps(d), encoding="utf-8")


def _lost_numba_files(cache: Path) -> None:
    for p in _files(cache, "*.nb*"):
        p.unlink()


@pytest.mark.parametrize(
    "damage",
    [
        _corrupt_json,
        _corrupt_numba,
        _corrupt_index,
        _wrong_recorded_value,
        _other_format,
        _lost_numba_files,
    ],
)
def test_damaged_entry_falls_back_to_compiling(cache_dir, damage):
    reference = _sample(cc.load_or_compile(tiny_model(), "tiny"))
    damage(cache_dir)
    notes: list[str] = []
    compiled = cc.load_or_compile(tiny_model(), "tiny", log=notes.append)
    assert cc.last_status["status"] == "compiled, cached", notes
    assert any("not used" in n for n in notes), notes
    _assert_same_draws(reference, _sample(compiled))
    # the entry was rewritten and is good again
    cc.load_or_compile(tiny_model(), "tiny")
    assert cc.last_status["status"] == "hit"


def test_unusable_cache_directory_still_compiles(tmp_path, monkeypatch):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    monkeypatch.setenv("RDSHARE_CACHE_DIR", str(blocker / "cache"))
    notes: list[str] = []
    compiled = cc.load_or_compile(tiny_model(), "tiny", log=notes.append)
    assert cc.last_status["status"] == "compiled"
    assert any("unavailable" in n for n in notes)
    assert _sample(compiled)["posterior"].sizes["draw"] == 100


def test_read_only_cache_is_read_but_not_written(cache_dir, monkeypatch):
    cc.load_or_compile(tiny_model(), "tiny")
    monkeypatch.setattr(cc, "_writable", lambda directory: False)
    cc.load_or_compile(tiny_model(), "tiny")
    assert cc.last_status["status"] == "hit"
    notes: list[str] = []
    cc.load_or_compile(tiny_model(), "tiny-other", log=notes.append)
    assert cc.last_status["status"] == "compiled"
    assert any("read-only" in n for n in notes)
    assert len(_files(cache_dir, "*.json")) == 1


def test_no_cache_setting_reads_and_writes_nothing(cache_dir, monkeypatch):
    monkeypatch.setenv("RDSHARE_NO_CACHE", "1")
    assert not cc.cache_enabled()
    cc.load_or_compile(tiny_model(), "tiny")
    assert cc.last_status["status"] == "compiled"
    assert not cache_dir.exists() or not _files(cache_dir, "*.json")


def test_default_location_follows_xdg(monkeypatch, tmp_path):
    monkeypatch.delenv("RDSHARE_CACHE_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cc.cache_root() == tmp_path / "xdg" / "rdshare"
    monkeypatch.setenv("RDSHARE_CACHE_DIR", str(tmp_path / "mine"))
    assert cc.cache_root() == tmp_path / "mine"


def test_unsupported_nutpie_uses_stock_compile(cache_dir, monkeypatch):
    monkeypatch.setattr(cc, "SUPPORTED_NUTPIE", ())
    compiled = cc.load_or_compile(tiny_model(), "tiny")
    assert cc.last_status["status"] == "stock"
    assert not isinstance(compiled, cc.compiled_class())
    # the helper tolerates data names the compiled functions do not read
    swapped = cc.with_data(compiled, {"y": np.ones(6), "not_a_container": np.zeros(2)})
    assert _sample(swapped)["posterior"].sizes["chain"] == 2


def test_the_route_taken_is_named_for_the_manifest(cache_dir, monkeypatch):
    """A nutpie upgrade must not lose the cache silently: the run manifest says which route ran."""
    from rdshare.inference.fit import compile_path

    cc.load_or_compile(tiny_model(), "tiny")
    info = compile_path()
    assert info["route"] == "rdshare cache"
    assert info["status"] in {"compiled, cached", "hit"}
    assert info["cache_dir"] == str(cache_dir)
    monkeypatch.setattr(cc, "SUPPORTED_NUTPIE", ())
    cc.load_or_compile(tiny_model(), "tiny")
    info = compile_path()
    assert info["route"] == "stock nutpie"
    assert info["reason"] == "unsupported nutpie"


def test_with_data_rejects_unknown_names_and_rank_changes(cache_dir):
    compiled = cc.load_or_compile(tiny_model(), "tiny")
    with pytest.raises(KeyError):
        compiled.with_data(nope=np.zeros(3))
    with pytest.raises(ValueError, match="rank"):
        compiled.with_data(y=np.zeros((2, 3)))


def test_draws_identical_to_stock_nutpie_on_the_rdshare_model(cache_dir):
    """Our wrappers and data plumbing change nothing: stock nutpie gives the same draws, also after
    swapping in simulated data (the SBC path)."""
    import nutpie

    from rdshare.core import dataset as ds_mod
    from rdshare.core import design as design_mod
    from rdshare.core import priors as priors_mod
    from rdshare.core import simulate
    from rdshare.inference import model as model_mod
    from rdshare.inference.fit import structure_key

    design = design_mod.build(ds_mod.load([]).fitted)
    priors = priors_mod.load()
    key = structure_key(design, priors, "full")
    data = model_mod.data_values(design)
    compiled = cc.load_or_compile(lambda: model_mod.build(design, priors), key, data=data)
    assert cc.last_status["status"] == "compiled, cached"
    loaded = cc.load_or_compile(lambda: model_mod.build(design, priors), key, data=data)
    assert cc.last_status["status"] == "hit"
    assert cc.last_status["model_built"] is False
    from rdshare.inference.pytensor_flags import compile_flags

    with compile_flags():  # as rdshare compiles: the same flags give the same machine code
        stock = nutpie.compile_pymc_model(model_mod.build(design, priors))
    rng = np.random.default_rng(5)
    sim = simulate.simulate(design, simulate.draw_prior(priors, rng), rng)
    for new_data in (design, sim):
        values = model_mod.data_values(new_data)
        reference = _sample(cc.with_data(stock, values), seed=9)
        for ours in (compiled, loaded):
            _assert_same_draws(_sample(cc.with_data(ours, values), seed=9), reference)


_FIT_SCRIPT = textwrap.dedent(
    """
    import json, sys
    from rdshare.inference import compile_cache
    from rdshare.inference.fit import fit
    res = fit(seed=11, draws=150, tune=150, chains=2, prior_draws=100)
    status = compile_cache.last_status.get("status")
    csv = res.summary.to_csv(index=False, float_format="%.17g")
    sys.stdout.write(json.dumps({"status": status, "summary": csv}))
    """
)


def _fit_in_subprocess(env: dict) -> dict:
    proc = subprocess.run(
        [sys.executable, "-c", _FIT_SCRIPT], env=env, capture_output=True, text=True, timeout=900
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_cached_and_uncached_fits_identical_in_separate_processes(tmp_path):
    """A fit that compiles and writes the cache, one that loads it, and one with the cache off: the same
    summary to the last bit (17 significant digits), each in its own process."""
    env = {k: v for k, v in os.environ.items() if k not in ("RDSHARE_NO_CACHE",)}
    env["RDSHARE_CACHE_DIR"] = str(tmp_path / "cache")
    env["MPLBACKEND"] = "Agg"
    writes = _fit_in_subprocess(env)
    loads = _fit_in_subprocess(env)
    uncached = _fit_in_subprocess({**env, "RDSHARE_NO_CACHE": "1"})
    assert writes["status"] == "compiled, cached"
    assert loads["status"] == "hit"
    assert uncached["status"] == "compiled"
    assert writes["summary"] == loads["summary"] == uncached["summary"]
