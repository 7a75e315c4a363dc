"""The compile cache: hits give the same draws as compiling, the callbacks give the PyMC model's log
density, safe fallbacks (damaged entries, unusable directories, an unsupported nutpie)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from rdshare.core import dataset as ds_mod
from rdshare.core import design as design_mod
from rdshare.core import priors as priors_mod
from rdshare.core import simulate
from rdshare.inference import compile_cache as cc
from rdshare.inference import density
from rdshare.inference.compile_cache import wrappers

DESIGN = design_mod.build(ds_mod.load([]).fitted)
PRIORS = priors_mod.load()


def _build(design, priors, variant):
    from rdshare.inference import model as model_mod

    return model_mod.build(design, priors, variant)


def target(variant: str = "full", design=DESIGN, priors=PRIORS) -> density.Target:
    """The sampler target of a fit of ``design`` (the shipped rows by default)."""
    return density.Target(
        density.layout(design, priors, variant),
        density.inputs(design, priors, variant),
        lambda: _build(design, priors, variant),
    )


def _sample(compiled, seed: int = 3):
    import nutpie

    return nutpie.sample(
        compiled, draws=100, tune=100, chains=2, cores=1, seed=seed, progress_bar=False
    )


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
    first = cc.load_or_compile(target(), "key")
    assert cc.last_status["status"] == "compiled, cached"
    assert len(_files(cache_dir, "*.json")) == 1
    assert len(_files(cache_dir, "*.nbc")) == 2
    second = cc.load_or_compile(target(), "key")
    assert cc.last_status["status"] == "hit"
    assert second.cache_info["status"] == "hit"
    assert second.coords.keys() == first.coords.keys()
    for name, index in first.coords.items():
        assert second.coords[name].equals(index)
    assert second.dims == first.dims
    for seed in (0, 5, 2**64 - 1):
        np.testing.assert_array_equal(
            second.initial_point_func(seed), first.initial_point_func(seed)
        )
    _assert_same_draws(_sample(first), _sample(second))


def test_data_of_another_rank_is_not_served_and_falls_back_to_stock(cache_dir):
    """Inputs the entry was not compiled for are refused; compiling the kernels for them fails too, and
    the stock route (the PyMC model) is taken instead of failing."""
    cc.load_or_compile(target(), "key")
    good = target()
    bad = density.Target(good.layout, {**good.data, "X": good.data["X"][0]}, good.build_model)
    notes: list[str] = []
    cc.load_or_compile(bad, "key", log=notes.append)
    assert cc.last_status["status"] == "stock"
    assert any("names, ranks and types" in n for n in notes), notes
    assert any("failed" in n for n in notes), notes


def test_initial_points_jitter_the_layouts_centre():
    """``base + Uniform(-1, 1)`` per variable, one generator per variable, the same for the same seed."""
    lay = density.layout(DESIGN, PRIORS, "full")
    ip = wrappers.NumpyInitialPoint(list(lay.base))
    centre = np.concatenate([np.ravel(b) for b in lay.base])
    again = wrappers._numpy_initial_point(
        json.loads(
            json.dumps(
                {
                    "base": [wrappers._hex(b) for b in lay.base],
                    "shapes": [list(b.shape) for b in lay.base],
                }
            )
        )
    )
    points = [ip(seed) for seed in range(20)]
    assert all(np.all(np.abs(x - centre) <= 1.0) for x in points)
    assert len({x.tobytes() for x in points}) == 20
    for seed in (0, 7, 2**64 - 1):
        np.testing.assert_array_equal(ip(seed), again(seed))


def test_other_structure_key_is_another_entry(cache_dir):
    cc.load_or_compile(target(), "key-a")
    cc.load_or_compile(target("pooled"), "key-b")
    assert cc.last_status["status"] == "compiled, cached"
    assert len(_files(cache_dir, "*.json")) == 2
    assert cc.entry_key("key-a") != cc.entry_key("key-b")
    fp = cc.environment_fingerprint()
    for field in ("nutpie", "numba", "llvmlite", "numpy", "python", "cpu", "sources"):
        assert field in fp
    assert {"rdshare.inference.density", "rdshare.inference.evidence_kernel"} <= set(fp["sources"])


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
    reference = _sample(cc.load_or_compile(target(), "key"))
    damage(cache_dir)
    notes: list[str] = []
    compiled = cc.load_or_compile(target(), "key", log=notes.append)
    assert cc.last_status["status"] == "compiled, cached", notes
    assert any("not used" in n for n in notes), notes
    _assert_same_draws(reference, _sample(compiled))
    # the entry was rewritten and is good again
    cc.load_or_compile(target(), "key")
    assert cc.last_status["status"] == "hit"


def test_unusable_cache_directory_still_compiles(tmp_path, monkeypatch):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    monkeypatch.setenv("RDSHARE_CACHE_DIR", str(blocker / "cache"))
    notes: list[str] = []
    compiled = cc.load_or_compile(target(), "key", log=notes.append)
    assert cc.last_status["status"] == "compiled"
    assert any("unavailable" in n for n in notes)
    assert _sample(compiled)["posterior"].sizes["draw"] == 100


def test_read_only_cache_is_read_but_not_written(cache_dir, monkeypatch):
    cc.load_or_compile(target(), "key")
    monkeypatch.setattr(cc, "_writable", lambda directory: False)
    cc.load_or_compile(target(), "key")
    assert cc.last_status["status"] == "hit"
    notes: list[str] = []
    cc.load_or_compile(target(), "key-other", log=notes.append)
    assert cc.last_status["status"] == "compiled"
    assert any("read-only" in n for n in notes)
    assert len(_files(cache_dir, "*.json")) == 1


def test_no_cache_setting_reads_and_writes_nothing(cache_dir, monkeypatch):
    monkeypatch.setenv("RDSHARE_NO_CACHE", "1")
    assert not cc.cache_enabled()
    cc.load_or_compile(target(), "key")
    assert cc.last_status["status"] == "compiled"
    assert not cache_dir.exists() or not _files(cache_dir, "*.json")


def test_default_location_follows_xdg(monkeypatch, tmp_path):
    monkeypatch.delenv("RDSHARE_CACHE_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cc.cache_root() == tmp_path / "xdg" / "rdshare"
    monkeypatch.setenv("RDSHARE_CACHE_DIR", str(tmp_path / "mine"))
    assert cc.cache_root() == tmp_path / "mine"


def test_unsupported_nutpie_uses_stock_compile(cache_dir, monkeypatch):
    """With a nutpie whose internals are not mirrored, the PyMC model is sampled by stock nutpie; the
    posterior then has the same variables as rdshare's route gives."""
    from rdshare.inference.fit import FitConfig, sample_posterior

    monkeypatch.setattr(cc, "SUPPORTED_NUTPIE", ())
    t = target()
    compiled = cc.load_or_compile(t, "key")
    assert cc.last_status["status"] == "stock"
    assert not isinstance(compiled, cc.compiled_class())
    # the helper skips the kernels' structure arrays, which the PyMC model does not have
    swapped = cc.with_data(compiled, t.data)
    config = FitConfig(draws=100, tune=100, chains=2, cores=1)
    stock = sample_posterior(swapped, config, seed=1)["posterior"].ds
    monkeypatch.undo()
    ours = sample_posterior(cc.load_or_compile(t, "key"), config, seed=1)["posterior"].ds
    assert set(stock.data_vars) == set(ours.data_vars)
    for name in stock.data_vars:
        assert stock[name].dims == ours[name].dims, name


def test_the_route_taken_is_named_for_the_manifest(cache_dir, monkeypatch):
    """A nutpie upgrade must not lose the cache silently: the run manifest says which route ran."""
    from rdshare.inference.fit import compile_path

    cc.load_or_compile(target(), "key")
    info = compile_path()
    assert info["route"] == "rdshare cache"
    assert info["status"] in {"compiled, cached", "hit"}
    assert info["cache_dir"] == str(cache_dir)
    monkeypatch.setattr(cc, "SUPPORTED_NUTPIE", ())
    cc.load_or_compile(target(), "key")
    info = compile_path()
    assert info["route"] == "stock nutpie"
    assert info["reason"] == "unsupported nutpie"


def test_with_data_rejects_unknown_names_and_rank_changes(cache_dir):
    compiled = cc.load_or_compile(target(), "key")
    with pytest.raises(KeyError):
        compiled.with_data(nope=np.zeros(3))
    with pytest.raises(ValueError, match="rank"):
        compiled.with_data(y=np.zeros((2, 3)))


def test_callbacks_give_the_pymc_models_log_density(cache_dir):
    """The C callbacks nutpie calls, freshly compiled and loaded from the cache, on the shipped rows and
    after swapping in simulated data (the SBC path): the PyMC model's log density and gradient to 1e-10,
    and nutpie's status codes off the support (3: gradient not finite, 4: log density not finite)."""
    rng = np.random.default_rng(5)
    sim = simulate.simulate(DESIGN, simulate.draw_prior(PRIORS, rng), rng)
    fresh = cc.load_or_compile(target(), "key")
    loaded = cc.load_or_compile(target(), "key")
    assert cc.last_status["status"] == "hit"
    for d in (DESIGN, sim):
        model = _build(d, PRIORS, "full")
        logp = model.compile_logp(jacobian=True)
        dlogp = model.compile_dlogp(jacobian=True)
        names = [model.rvs_to_values[rv].name for rv in model.free_RVs]
        shapes = [np.shape(model.initial_point()[n]) for n in names]
        data = target(design=d).data
        for compiled in (fresh, loaded):
            swapped = cc.with_data(compiled, data)
            n_dim = swapped.n_dim
            for seed in range(4):
                x = swapped.initial_point_func(seed)
                code, ours, grad = wrappers._call_logp(
                    swapped.compiled_logp_func, n_dim, x, swapped.user_data
                )
                point, cursor = {}, 0
                for name, shape in zip(names, shapes, strict=True):
                    size = int(np.prod(shape))
                    point[name] = x[cursor : cursor + size].reshape(shape)
                    cursor += size
                assert code == 0
                np.testing.assert_allclose(ours, logp(point), rtol=1e-10)
                np.testing.assert_allclose(grad, dlogp(point), rtol=1e-10, atol=1e-9)
            far = np.full(n_dim, 800.0)
            code, value, _ = wrappers._call_logp(
                swapped.compiled_logp_func, n_dim, far, swapped.user_data
            )
            assert code in (3, 4), (code, value)


def test_fresh_loaded_and_uncached_samplers_draw_the_same(cache_dir, monkeypatch):
    fresh = cc.load_or_compile(target(), "key")
    loaded = cc.load_or_compile(target(), "key")
    monkeypatch.setenv("RDSHARE_NO_CACHE", "1")
    uncached = cc.load_or_compile(target(), "key")
    assert cc.last_status["status"] == "compiled"
    reference = _sample(fresh, seed=9)
    _assert_same_draws(_sample(loaded, seed=9), reference)
    _assert_same_draws(_sample(uncached, seed=9), reference)


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
