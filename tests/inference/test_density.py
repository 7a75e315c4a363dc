"""The sampler's log-density kernels against the PyMC model they replace: log density and gradient to
1e-10 for every prior family, transform, variant and shipped prior file, finite differences, the stored
values, the deterministic quantities added after sampling, and the initial points."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from rdshare.core import dataset as ds_mod
from rdshare.core import design as design_mod
from rdshare.core import generative as gen
from rdshare.core import priors as priors_mod
from rdshare.core import simulate
from rdshare.core.families import FAMILIES
from rdshare.core.priors import Prior, PriorSet
from rdshare.core.quantities import VARIANTS
from rdshare.inference import density


@pytest.fixture(scope="module")
def design():
    return design_mod.from_dataset(ds_mod.load())


def _prior(name, dist, **params):
    return Prior(name, dist, {k: float(v) for k, v in params.items()}, "test", "test")


def every_family_priors() -> PriorSet:
    """A prior set that uses each of the nine families at least once, each on a parameter whose support
    it fits."""
    base = priors_mod.load()
    chosen = {
        "f_frontier": _prior("f_frontier", "uniform", lower=0.3, upper=0.98),
        "discount": _prior("discount", "reflected_lognormal", mu=-0.4, sigma=0.5),
        "sigma_lab": _prior("sigma_lab", "halfnormal", sigma=0.6),
        "sigma_programme": _prior("sigma_programme", "exponential", lam=2.5),
        "sigma_estimator": _prior("sigma_estimator", "lognormal", mu=-1.5, sigma=0.7),
        "beta_pretraining": _prior("beta_pretraining", "student_t", nu=4, mu=0.1, sigma=0.8),
        "beta_posttraining": _prior("beta_posttraining", "normal", mu=-0.2, sigma=0.5),
    }
    return replace(base, priors={**base.priors, **chosen})


def _prior_sets():
    shipped = {p.stem: priors_mod.load(p) for p in sorted(priors_mod.shipped_dir().glob("*.toml"))}
    return {**shipped, "every-family": every_family_priors()}


PRIOR_SETS = _prior_sets()


def test_every_family_is_covered():
    used = {p.dist for ps in PRIOR_SETS.values() for p in ps}
    assert used == set(FAMILIES)


def _pymc_point(model, x):
    point, cursor = {}, 0
    ip = model.initial_point()
    for rv in model.free_RVs:
        name = model.rvs_to_values[rv].name
        shape = np.shape(ip[name])
        size = int(np.prod(shape))
        point[name] = x[cursor : cursor + size].reshape(shape)
        cursor += size
    return point


def _values_fn(model, names):
    """PyMC's values of the named free variables and Deterministics, as functions of the value variables."""
    by_name = {v.name: v for v in model.unobserved_value_vars}
    return model.compile_fn(
        [by_name[n] for n in names], inputs=model.value_vars, on_unused_input="ignore"
    )


def _expand_args(design, priors, variant):
    data = density.inputs(design, priors, variant)
    return [np.ascontiguousarray(data[n]) for n in density.EXPAND_INPUTS]


def _args(design, priors, variant):
    data = density.inputs(design, priors, variant)
    return [np.ascontiguousarray(data[n]) for n, _, _ in density.INPUTS]


@pytest.mark.parametrize("variant", list(VARIANTS))
@pytest.mark.parametrize("prior_set", list(PRIOR_SETS))
def test_log_density_and_gradient_equal_pymcs(design, variant, prior_set):
    """At points around the initial points (and on simulated data, the SBC path): the same log density
    and gradient as the PyMC model's compiled ``logp`` and ``dlogp``, to 1e-10."""
    from rdshare.inference import model as model_mod

    priors = PRIOR_SETS[prior_set]
    rng = np.random.default_rng(7)
    sim = simulate.simulate(design, simulate.draw_prior(priors, rng), rng)
    for d in (design, sim):
        model = model_mod.build(d, priors, variant)
        logp = model.compile_logp(jacobian=True)
        dlogp = model.compile_dlogp(jacobian=True)
        lay = density.layout(d, priors, variant)
        # the sampler's position is laid out as PyMC orders its free variables
        assert [rv.name for rv in model.free_RVs] == list(lay.names)
        args = _args(d, priors, variant)
        centre = np.concatenate([np.ravel(b) for b in lay.base])
        for _ in range(8):
            x = centre + rng.uniform(-2.0, 2.0, size=centre.size)
            ours, grad = density.logp_and_grad(x, *args)
            point = _pymc_point(model, x)
            np.testing.assert_allclose(ours, logp(point), rtol=1e-10, atol=1e-10)
            np.testing.assert_allclose(grad, dlogp(point), rtol=1e-10, atol=1e-9)


@pytest.mark.parametrize("prior_set", list(PRIOR_SETS))
def test_gradient_matches_finite_differences(design, prior_set):
    priors = PRIOR_SETS[prior_set]
    args = _args(design, priors, "full")
    lay = density.layout(design, priors, "full")
    x = np.concatenate([np.ravel(b) for b in lay.base]) + 0.3
    _, grad = density.logp_and_grad(x, *args)
    h = 1e-6
    for j in range(x.size):
        e = np.zeros_like(x)
        e[j] = h
        up = density.logp_and_grad(x + e, *args)[0]
        down = density.logp_and_grad(x - e, *args)[0]
        assert abs((up - down) / (2 * h) - grad[j]) < 1e-5 * max(1.0, abs(grad[j])), j


def test_stored_values_are_the_parameters_and_z(design):
    """``expand`` gives each parameter's value (PyMC's backward transform) and the bound rows' z."""
    from rdshare.inference import model as model_mod

    priors = PRIOR_SETS["every-family"]
    model = model_mod.build(design, priors, "full")
    lay = density.layout(design, priors, "full")
    x = np.concatenate([np.ravel(b) for b in lay.base]) - 0.4
    (values,) = density.expand(x, *_expand_args(design, priors, "full"))
    point = _pymc_point(model, x)
    constrained = _values_fn(model, VARIANTS["full"].parameters)(point)
    n = len(VARIANTS["full"].parameters)
    np.testing.assert_allclose(values[:n], np.asarray(constrained), rtol=1e-13)
    np.testing.assert_array_equal(values[n:], x[n:])


def test_deterministics_added_after_sampling_equal_pymcs(design):
    """``complete_posterior`` gives the bound rows' latent values and the derived shares as the PyMC
    model's Deterministics would."""
    import xarray as xr

    from rdshare.inference import model as model_mod

    priors = priors_mod.load()
    model = model_mod.build(design, priors, "full")
    rng = np.random.default_rng(3)
    lay = density.layout(design, priors, "full")
    args = _expand_args(design, priors, "full")
    draws = []
    for _ in range(5):
        x = np.concatenate([np.ravel(b) for b in lay.base]) + rng.uniform(-1, 1, lay.n_dim)
        draws.append((x, density.expand(x, *args)[0]))
    n = len(VARIANTS["full"].parameters)
    post = xr.Dataset(
        {
            name: (("chain", "draw"), np.array([[v[j] for _, v in draws]]))
            for j, name in enumerate(VARIANTS["full"].parameters)
        }
        | {density.BOUND_Z: (("chain", "draw", "bound"), np.array([[v[n:] for _, v in draws]]))}
    )
    data = density.inputs(design, priors, "full")
    done = density.complete_posterior(post, data, "full")
    names = [density.BOUND_LATENT, *VARIANTS["full"].derived()]
    names.remove("f_new_lab")
    fn = _values_fn(model, names)
    for k, (x, _) in enumerate(draws):
        ref = fn(_pymc_point(model, x))
        for name, value in zip(names, ref, strict=True):
            np.testing.assert_allclose(done[name].values[0, k], value, rtol=1e-12, err_msg=name)
    # nothing is recomputed when present (the stock route's posterior has them already)
    again = density.complete_posterior(done, data, "full")
    assert again is done or again.identical(done)


def test_structure_arrays_read_the_generative_tables():
    priors = priors_mod.load()
    for name, v in VARIANTS.items():
        st = density.structure_data(priors, name)
        params = list(v.parameters)
        for k, src in enumerate(gen.fixed_effect_sources(v)):
            if src is None:
                assert st["theta_param"][k] == -1
            else:
                assert params[st["theta_param"][k]] == src[0]
                assert list(gen.THETA_MAPS)[st["theta_map"][k]] == src[1]
        for k, src in enumerate(gen.scale_sources(v)):
            assert (st["tau_param"][k] == -1) if src is None else params[st["tau_param"][k]] == src


def test_kernels_never_raise_far_out(design):
    """Far-out positions (overflowing exp, zero scales) return a negligible or non-finite log density,
    which the sampler rejects, and never raise: the C callbacks could not pass an exception on."""
    priors = PRIOR_SETS["every-family"]
    args = _args(design, priors, "full")
    n = density.layout(design, priors, "full").n_dim
    for value in (800.0, -800.0, 1e308, -1e308, np.inf, np.nan):
        with np.errstate(all="ignore"):
            logp, grad = density.logp_and_grad(np.full(n, value), *args)
            (values,) = density.expand(np.full(n, value), *_expand_args(design, priors, "full"))
        assert grad.shape == values.shape == (n,)
        assert not (np.isfinite(logp) and logp > -1e4), (value, logp)


def test_layout_and_initial_point_centre(design):
    priors = priors_mod.load()
    lay = density.layout(design, priors, "full")
    assert lay.names == (*VARIANTS["full"].parameters, density.BOUND_Z)
    assert lay.shapes[-1] == (design.bound_idx.size,)
    assert lay.coords["bound"] == tuple(design.bound_ids)
    # the sampler's own transform (the expand kernel) takes each parameter's centre to its prior median
    (values,) = density.expand(
        np.concatenate([np.ravel(b) for b in lay.base]), *_expand_args(design, priors, "full")
    )
    for j, name in enumerate(VARIANTS["full"].parameters):
        np.testing.assert_allclose(values[j], priors[name].scipy().ppf(0.5), rtol=1e-12)
    np.testing.assert_array_equal(lay.base[-1], np.zeros(design.bound_idx.size))


def test_design_without_bound_rows(design):
    """No bound rows: no z, no bound_z in the layout, the kernels still agree with PyMC."""
    from rdshare.inference import model as model_mod

    table = ds_mod.load().fitted
    gauss_only = design_mod.build(table[~table["kind"].str.contains("bound")])
    assert gauss_only.bound_idx.size == 0
    priors = priors_mod.load()
    lay = density.layout(gauss_only, priors, "full")
    assert density.BOUND_Z not in lay.names
    model = model_mod.build(gauss_only, priors, "full")
    x = np.concatenate([np.ravel(b) for b in lay.base]) + 0.2
    ours, grad = density.logp_and_grad(x, *_args(gauss_only, priors, "full"))
    point = _pymc_point(model, x)
    np.testing.assert_allclose(ours, model.compile_logp()(point), rtol=1e-10)
    np.testing.assert_allclose(grad, model.compile_dlogp()(point), rtol=1e-10, atol=1e-9)


def test_module_is_light():
    """The kernels' module imports neither PyMC nor PyTensor (a warm fit never does)."""
    import subprocess
    import sys

    code = (
        "import sys; import rdshare.inference.density, rdshare.inference.fit; "
        "print('pymc' in sys.modules, 'pytensor' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=Path.cwd()
    )
    assert out.stdout.split() == ["False", "False"]
