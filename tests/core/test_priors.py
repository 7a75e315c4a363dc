"""Prior files: every validation rule against a broken fixture, elicitation against scipy, properties.

Each ``tests/fixtures/wrong_*.toml`` is ``good_priors.toml`` with one thing broken (a few break two, to
show every problem is collected). Elicitation is checked where it matters: the elicited distribution,
evaluated with scipy, really puts the stated mass inside the interval, with equal tails.
"""

from __future__ import annotations

import json
import math
import re
import tomllib
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from scipy import stats

from rdshare.core import priors
from rdshare.core.priors import DISTRIBUTIONS, PARAMETERS
from rdshare.errors import InputError

from ..helpers import assert_clean, examples, toml_value

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
GOOD = FIXTURES / "good_priors.toml"
DISTS = ", ".join(DISTRIBUTIONS)
NEEDS_RATIONALE = "is required: say why this prior and where it comes from"


def fx(name: str) -> Path:
    return FIXTURES / name


def problems_of(path: Path) -> list[tuple[str, int | None, str | None, str]]:
    with pytest.raises(InputError) as err:
        priors.load(path)
    return [(p.file, p.line, p.field, p.message) for p in err.value.problems]


# --- each rule, its fixture and its exact messages ------------------------------------------------

#: fixture -> [(line, key, message)], in the order they are reported.
BROKEN: dict[str, list[tuple[int | None, str | None, str]]] = {
    "wrong_syntax.toml": [(15, None, "is not valid TOML: Invalid value")],
    "wrong_duplicate_key.toml": [(17, None, "is not valid TOML: Cannot overwrite a value")],
    "wrong_encoding.toml": [(5, None, "is not UTF-8 text (save it as UTF-8)")],
    "wrong_empty.toml": [
        (None, None, "the file needs a [priors.NAME] table for each of: " + ", ".join(PARAMETERS))
    ],
    "wrong_no_priors.toml": [
        (None, None, "the file needs a [priors.NAME] table for each of: " + ", ".join(PARAMETERS))
    ],
    "wrong_unknown_dist.toml": [
        (
            15,
            "priors.discount.dist",
            f"'Betta' is not a known distribution (allowed: {DISTS}); did you mean 'beta'?",
        )
    ],
    "wrong_code_dist.toml": [
        (
            28,
            "priors.beta_pretraining.dist",
            "\"__import__('os').system('touch PWNED')\" is not a known distribution "
            f"(allowed: {DISTS})",
        ),
        (
            43,
            "priors.beta_era.dist",
            f"'scipy.stats.norm' is not a known distribution (allowed: {DISTS})",
        ),
    ],
    "wrong_negative_sigma.toml": [(30, "priors.beta_pretraining.sigma", "-0.75 must be > 0")],
    "wrong_uniform_bounds.toml": [
        (50, "priors.offset_gpu_hours.lower", "lower 1 must be below upper -0.5")
    ],
    "wrong_beta_interval.toml": [
        (9, "priors.f_frontier.interval", "a beta interval needs 0 < low < high < 1")
    ],
    "wrong_lognormal_interval.toml": [
        (
            63,
            "priors.sigma_meas_third_party.interval",
            "a lognormal interval needs 0 < low < high",
        )
    ],
    "wrong_interval_order.toml": [
        (23, "priors.sigma_lab.interval", "interval low 1.2 must be below high 0.15")
    ],
    "wrong_halfnormal_interval.toml": [
        (
            57,
            "priors.sigma_meas_lab.interval",
            "a halfnormal interval must start at 0: [0, high] means P(X <= high) = mass",
        )
    ],
    "wrong_support.toml": [
        (
            15,
            "priors.discount.dist",
            "a normal prior does not fit 'discount', which takes values below 1, negative ones "
            "included (reflected_lognormal, beta, or uniform with upper <= 1)",
        ),
        (
            69,
            "priors.sigma_meas_derived.dist",
            "a uniform prior does not fit 'sigma_meas_derived', which takes positive values "
            "(lognormal, halfnormal, exponential, gamma, or uniform >= 0)",
        ),
    ],
    "wrong_missing_prior.toml": [
        (
            None,
            "priors.sigma_lab",
            "no prior for 'sigma_lab' (between-lab spread of log-odds R&D intensity); "
            "add a [priors.sigma_lab] table",
        )
    ],
    "wrong_unknown_key.toml": [
        (8, "model", "unknown top-level table (allowed: meta, priors)"),
        (4, "meta.author", "unknown key in [meta] (allowed: description, name, updated, use_when)"),
        (
            11,
            "priors.gamma_x",
            "unknown parameter (the model's are: " + ", ".join(PARAMETERS) + ")",
        ),
        (
            42,
            "priors.beta_pretraining.sd",
            "unknown key for a normal prior (allowed: dist, interval, mass, mu, rationale, "
            "rests_on, sigma, source)",
        ),
    ],
    "wrong_missing_rationale.toml": [
        (14, "priors.discount.rationale", NEEDS_RATIONALE),
        (18, "priors.discount.source", NEEDS_RATIONALE),
    ],
    "wrong_mass.toml": [
        (10, "priors.f_frontier.mass", "1.5 must be a number in (0, 1)"),
        (71, "priors.sigma_meas_derived.mass", "only meaningful with an interval"),
    ],
    "wrong_both.toml": [
        (45, "priors.beta_era.sigma", "give either an interval or the parameters, not both")
    ],
    "wrong_param_type.toml": [
        (
            23,
            "priors.sigma_lab.interval",
            "must be a list of two numbers, e.g. interval = [0.6, 0.95]",
        ),
        (30, "priors.beta_pretraining.sigma", "'0.75' is not a number"),
    ],
    "wrong_nonfinite.toml": [
        (29, "priors.beta_pretraining.mu", "nan is not a finite number"),
        (30, "priors.beta_pretraining.sigma", "inf is not a finite number"),
    ],
    "wrong_missing_param.toml": [
        (
            27,
            "priors.beta_pretraining.sigma",
            "a normal prior needs mu, sigma (or an interval)",
        )
    ],
    "wrong_not_table.toml": [(70, "priors.sigma_meas_derived", "must be a table")],
    "wrong_student_nu.toml": [
        (36, "priors.beta_posttraining.nu", "-1 must be a finite number > 0")
    ],
}


@pytest.mark.parametrize("name", sorted(BROKEN))
def test_broken_fixture_names_file_line_key_and_message(name):
    expected = [(str(fx(name)), line, key, msg) for line, key, msg in BROKEN[name]]
    assert problems_of(fx(name)) == expected


def test_every_broken_toml_fixture_is_tested():
    assert {p.name for p in FIXTURES.glob("wrong_*.toml")} == set(BROKEN)


def test_a_prior_file_naming_python_code_runs_nothing(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(InputError, match="is not a known distribution"):
        priors.load(fx("wrong_code_dist.toml"))
    assert not (tmp_path / "PWNED").exists()


@pytest.mark.parametrize("missing", list(PARAMETERS))
def test_each_parameter_the_model_needs_is_required(missing):
    doc = priors.load(GOOD)
    raw = tomllib.loads(GOOD.read_text())
    del raw["priors"][missing]
    with pytest.raises(InputError) as err:
        priors.parse(raw, path="p.toml")
    (p,) = err.value.problems
    assert p.field == f"priors.{missing}"
    assert p.message.startswith(f"no prior for '{missing}'")
    assert missing in doc.priors


def test_missing_file_folder_and_too_large(tmp_path, monkeypatch):
    assert problems_of(tmp_path / "no.toml") == [
        (str(tmp_path / "no.toml"), None, None, "file not found")
    ]
    assert problems_of(tmp_path) == [(str(tmp_path), None, None, "is a folder, not a TOML file")]
    monkeypatch.setattr(priors, "MAX_BYTES", 100)
    assert problems_of(GOOD) == [(str(GOOD), None, None, "is larger than the limit of 100 bytes")]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("a = " + "[" * 5000, "is not valid TOML: arrays or tables nested too deeply"),
        ("a = 1" + "0" * 5000, "is not valid TOML: Exceeds the limit (4300 digits)"),
        ("[priors\n", "is not valid TOML: Expected ']' at the end of a table declaration"),
        ('a = "x', "is not valid TOML: Unterminated string"),
    ],
)
def test_hostile_toml_ends_in_a_clean_message(tmp_path, text, message):
    p = tmp_path / "h.toml"
    p.write_text(text)
    ((file, _line, _key, got),) = problems_of(p)
    assert file == str(p)
    assert got.startswith(message)


def test_huge_integer_parameter_is_not_finite(tmp_path):
    text = GOOD.read_text().replace("mu = -0.5\nsigma = 0.75", "mu = -0.5\nsigma = " + "9" * 400)
    p = tmp_path / "p.toml"
    p.write_text(text)
    ((_, line, key, msg),) = problems_of(p)
    assert (line, key, msg) == (30, "priors.beta_pretraining.sigma", "inf is not a finite number")


def test_inline_table_form_and_bom_are_accepted(tmp_path):
    doc = tomllib.loads(GOOD.read_text())
    lines = ["[priors]"]
    for name, spec in doc["priors"].items():
        inner = ", ".join(f"{k} = {json.dumps(v)}" for k, v in spec.items())
        lines.append(f"{name} = {{ {inner} }}")
    p = tmp_path / "inline.toml"
    p.write_bytes(b"\xef\xbb\xbf" + "\n".join(lines).encode())
    ps = priors.load(p)
    assert ps["f_frontier"].params == priors.load(GOOD)["f_frontier"].params


# --- what is accepted -----------------------------------------------------------------------------


def test_good_fixture_reads_every_family_and_both_forms():
    ps = priors.load(GOOD)
    assert list(ps.priors) == list(PARAMETERS)
    assert {p.dist for p in ps} == set(DISTRIBUTIONS)  # every family is used
    assert ps["discount"].params == {"alpha": 2.0, "beta": 5.0}
    assert ps["discount"].interval is None
    assert ps["f_frontier"].interval == (0.5, 0.95)
    assert ps["f_frontier"].mass == 0.9
    assert ps["sigma_meas_third_party"].mass == 0.8
    assert ps["beta_era"].mass == priors.DEFAULT_MASS
    assert ps.meta == {"name": "test", "description": "Valid priors used by the tests."}
    assert len(ps.sha256) == 64


@pytest.mark.parametrize("path", sorted(priors.shipped_dir().glob("*.toml")), ids=lambda p: p.name)
def test_shipped_prior_files_are_valid_and_reasoned(path):
    ps = priors.load(path)
    for p in ps:
        assert len(p.rationale) > 20
        assert p.source
        q = p.quantiles()
        assert np.all(np.isfinite(q))
        assert q[0] < q[1] < q[2]


#: Shipped prior files that rest on shipped rows, with those rows: they can only be fitted with the rows
#: excluded (``--exclude-rests-on``; ``rdshare sensitivity`` does it for its refits). Adding a shipped file
#: that rests on a fitted row means adding it here, on purpose, with docs/priors.md saying why.
FITTED_WITHOUT = {
    "epoch-2024.toml": {
        "gpt3-smaller", "gpt3-rp", "opt-175b", "opt-175b-rp", "bloom", "meta-infra-2021",
    },
}  # fmt: skip


@pytest.mark.parametrize("path", sorted(priors.shipped_dir().glob("*.toml")), ids=lambda p: p.name)
def test_no_shipped_prior_rests_on_a_row_it_is_fitted_with(path):
    """Evidence counts once: every row a shipped prior rests on exists (no typo hides a clash) and is
    either excluded in the shipped data or one of the file's listed rows, without which it is fitted."""
    from rdshare.core import dataset

    shipped = dataset.load()
    ids = set(shipped.table["id"])
    fitted = set(shipped.fitted["id"])
    ps = priors.load(path)
    rests = set(priors.rests_on(ps))
    assert rests <= ids, f"{path.name} rests on unknown rows {sorted(rests - ids)}"
    assert rests & fitted == FITTED_WITHOUT.get(path.name, set())
    priors.check_independent(ps, shipped.excluding(sorted(rests)).table)  # how it is fitted: clean


def test_a_prior_resting_on_a_fitted_row_is_refused_naming_both():
    from rdshare.core import dataset

    shipped = dataset.load()
    epoch = priors.load(priors.shipped_dir() / "epoch-2024.toml")
    with pytest.raises(InputError) as exc:
        priors.check_independent(epoch, shipped.table)
    problems = exc.value.problems
    assert {p.message.split("'")[3] for p in problems} == FITTED_WITHOUT["epoch-2024.toml"]
    first = problems[0]
    assert first.file.endswith("epoch-2024.toml")
    assert first.line is not None
    assert first.field == "priors.f_frontier.rests_on"
    assert "the prior of 'f_frontier' rests on row 'gpt3-smaller'" in first.message
    assert "disclosures.csv, line" in first.message
    assert "--exclude gpt3-smaller" in first.message
    # one row excluded: only the others are named
    rest = priors.check_independent
    with pytest.raises(InputError) as exc:
        rest(epoch, shipped.excluding(["gpt3-smaller"]).table)
    assert len(exc.value.problems) == len(FITTED_WITHOUT["epoch-2024.toml"]) - 1


def test_default_is_the_shipped_default():
    assert priors.load().path == priors.default_path()


def test_prior_quantiles_and_samples_match_scipy():
    ps = priors.load(GOOD)
    rng = np.random.default_rng(0)
    for p in ps:
        d = p.scipy()
        np.testing.assert_allclose(p.quantiles((0.1, 0.9)), d.ppf([0.1, 0.9]))
        x = p.sample(4000, rng)
        assert x.shape == (4000,)
        assert abs(np.mean(x <= d.ppf(0.5)) - 0.5) < 0.04


# --- elicitation: the elicited distribution really holds the stated mass -------------------------

MASSES = (0.5, 0.8, 0.9, 0.95, 0.99)

#: family -> intervals to elicit from (one-sided families start at 0).
INTERVALS = {
    "normal": [(-1.75, 0.75), (10.0, 10.001), (-1e6, 3e6)],
    "student_t": [(-1.0, 1.0), (0.0, 50.0)],
    "lognormal": [(0.2, 1.2), (1e-4, 1e4), (5.0, 5.5)],
    "gamma": [(0.15, 1.2), (0.1, 0.6), (1000.0, 1001.0), (1e-5, 2e-5)],
    "beta": [(0.35, 0.95), (0.05, 0.7), (0.6, 0.95), (0.001, 0.002), (0.01, 0.99)],
    "halfnormal": [(0.0, 0.6), (0.0, 1e3)],
    "exponential": [(0.0, 5.0), (0.0, 1e-3)],
    "reflected_lognormal": [(-0.15, 0.58), (-3.0, 0.999), (0.1, 0.2)],
}


def test_every_family_but_uniform_can_be_elicited():
    assert set(INTERVALS) == set(DISTRIBUTIONS) - {"uniform"}


@pytest.mark.parametrize("mass", MASSES)
@pytest.mark.parametrize(
    ("dist", "low", "high"), [(d, lo, hi) for d, ivs in INTERVALS.items() for lo, hi in ivs]
)
def test_elicited_distribution_puts_the_mass_in_the_interval(dist, low, high, mass):
    params = priors.elicit(dist, low, high, mass)
    d = _independent_scipy(dist, params)
    assert d.cdf(high) - d.cdf(low) == pytest.approx(mass, abs=1e-6)
    if dist in ("halfnormal", "exponential"):
        assert d.cdf(low) == 0.0
    else:  # equal tails
        assert d.cdf(low) == pytest.approx((1 - mass) / 2, abs=1e-6)
        assert d.sf(high) == pytest.approx((1 - mass) / 2, abs=1e-6)


def _independent_scipy(dist, p):
    """scipy distributions built here, not through rdshare's own mapping."""
    return {
        "normal": lambda: stats.norm(loc=p.get("mu"), scale=p.get("sigma")),
        "student_t": lambda: stats.t(df=p.get("nu"), loc=p.get("mu"), scale=p.get("sigma")),
        "lognormal": lambda: stats.lognorm(s=p.get("sigma"), scale=np.exp(p.get("mu", 0.0))),
        "gamma": lambda: stats.gamma(a=p.get("alpha"), scale=1 / p.get("beta", 1.0)),
        "beta": lambda: stats.beta(a=p.get("alpha"), b=p.get("beta")),
        "halfnormal": lambda: stats.halfnorm(scale=p.get("sigma")),
        "exponential": lambda: stats.expon(scale=1 / p.get("lam", 1.0)),
        "reflected_lognormal": lambda: _OneMinus(
            stats.lognorm(s=p.get("sigma"), scale=np.exp(p.get("mu", 0.0)))
        ),
    }[dist]()


class _OneMinus:
    """``1 - X``: P(1 - X <= x) = P(X >= 1 - x), written here, not through rdshare."""

    def __init__(self, x):
        self.x = x

    def cdf(self, v):
        return self.x.sf(1.0 - np.asarray(v))

    def sf(self, v):
        return self.x.cdf(1.0 - np.asarray(v))


def test_student_t_keeps_the_given_nu():
    p = priors.elicit("student_t", -1, 1, 0.9, nu=7)
    assert p["nu"] == 7
    d = stats.t(7, p["mu"], p["sigma"])
    assert d.cdf(1) - d.cdf(-1) == pytest.approx(0.9)


def test_elicitation_example_from_the_docs():
    """docs/priors.md: "90% sure f_frontier lies between 0.6 and 0.95"."""
    p = priors.elicit("beta", 0.6, 0.95, 0.9)
    assert p == pytest.approx({"alpha": 10.01, "beta": 2.449}, rel=1e-3)


@pytest.mark.parametrize(
    ("dist", "low", "high", "mass", "message"),
    [
        ("beta", 0.5, 1.2, 0.9, "a beta interval needs 0 < low < high < 1"),
        ("beta", -0.1, 0.5, 0.9, "a beta interval needs 0 < low < high < 1"),
        ("lognormal", 0.0, 2.0, 0.9, "a lognormal interval needs 0 < low < high"),
        ("gamma", -1.0, 2.0, 0.9, "a gamma interval needs 0 < low < high"),
        ("halfnormal", 0.1, 2.0, 0.9, "a halfnormal interval must start at 0"),
        ("exponential", 0.1, 2.0, 0.9, "a exponential interval must start at 0"),
        ("uniform", 0.0, 1.0, 0.9, "give a uniform's lower and upper directly"),
        ("normal", 1.0, 1.0, 0.9, "interval low 1 must be below high 1"),
        ("normal", 0.0, 1.0, 1.0, "mass 1 must be in (0, 1)"),
        ("normal", 0.0, 1.0, 0.0, "mass 0 must be in (0, 1)"),
        ("normal", 0.0, math.inf, 0.9, "interval [0, inf] must hold two finite numbers"),
        ("normal", -1e308, 1e308, 0.9, "no normal distribution puts 90% of its mass"),
        ("gamma", 1e-300, 1e300, 0.9, "no distribution of this family puts 90% of its mass"),
        ("pareto", 0.0, 1.0, 0.9, "unknown distribution 'pareto'"),
    ],
)
def test_impossible_intervals_are_refused_with_a_reason(dist, low, high, mass, message):
    with pytest.raises(ValueError, match="^" + re.escape(message)):
        priors.elicit(dist, low, high, mass)


# 60 examples: a gamma or beta elicitation is a numerical solve of about 10 ms.
@settings(max_examples=examples(60), deadline=None)
@given(
    dist=st.sampled_from(["normal", "lognormal", "gamma", "beta", "student_t"]),
    a=st.floats(-50, 50),
    b=st.floats(-50, 50),
    mass=st.floats(0.01, 0.999),
)
def test_property_elicitation_either_holds_the_mass_or_says_why(dist, a, b, mass):
    low, high = sorted((a, b))
    if dist in ("lognormal", "gamma"):
        low, high = math.exp(low / 5), math.exp(high / 5)
    elif dist == "beta":
        low, high = 1 / (1 + math.exp(-low / 5)), 1 / (1 + math.exp(-high / 5))
    assume(low < high)
    try:
        params = priors.elicit(dist, low, high, mass)
    except ValueError as exc:
        params, reason = None, str(exc)
    if params is None:
        assert reason.strip()
        return
    d = priors._scipy(dist, params)
    assert d.cdf(high) - d.cdf(low) == pytest.approx(mass, abs=1e-5)


# --- properties of the loader: a PriorSet or an InputError with messages, nothing else -----------

_SCALAR = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(-(10**30), 10**30),
    st.booleans(),
    st.text(max_size=12),
    st.sampled_from([*DISTRIBUTIONS, "Normal", "scipy.stats.norm", "os.system", ""]),
)
_VALUE = st.one_of(_SCALAR, st.lists(_SCALAR, max_size=3))
_KEYS = st.sampled_from(
    [
        *sorted(priors._PRIOR_KEYS),
        "mu",
        "sigma",
        "nu",
        "alpha",
        "beta",
        "lam",
        "lower",
        "upper",
        "sd",
    ]
)


@st.composite
def prior_texts(draw):
    """TOML text shaped like a prior file: real tables with random, often wrong, keys and values."""
    base = tomllib.loads(GOOD.read_text())["priors"]
    lines = []
    if draw(st.booleans()):
        lines += ["[meta]", f"name = {toml_value(draw(_SCALAR))}"]
    names = draw(st.lists(st.sampled_from([*PARAMETERS, "other"]), unique=True, max_size=12))
    for name in names:
        spec = dict(base.get(name, base["beta_era"]))
        for k in draw(st.lists(_KEYS, max_size=3, unique=True)):
            if draw(st.booleans()):
                spec.pop(k, None)
            else:
                spec[k] = draw(_VALUE)
        lines.append(f"[priors.{name}]")
        lines += [f"{k} = {toml_value(v)}" for k, v in spec.items()]
    return "\n".join(lines) + "\n"


def _outcome(path: Path):
    try:
        return priors.load(path), None
    except InputError as exc:
        return None, exc


def _check(path: Path) -> None:
    ps, exc = _outcome(path)
    if exc is not None:
        assert_clean(exc, str(path))
        return
    assert list(ps.priors) == list(PARAMETERS)
    for p in ps:
        assert all(math.isfinite(v) for v in p.params.values())
        assert np.all(np.isfinite(p.quantiles((0.25, 0.75))))
        assert p.rationale
        assert p.source


_PROPS = settings(
    max_examples=examples(100),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)


@_PROPS
@given(text=prior_texts())
def test_property_structured_prior_text(tmp_path, text):
    p = tmp_path / "p.toml"
    p.write_text(text, encoding="utf-8")
    _check(p)


@_PROPS
@given(text=st.text(max_size=300))
def test_property_arbitrary_text(tmp_path, text):
    p = tmp_path / "p.toml"
    p.write_text(text, encoding="utf-8", errors="surrogatepass")
    _check(p)


@_PROPS
@given(raw=st.binary(max_size=300))
def test_property_arbitrary_bytes(tmp_path, raw):
    p = tmp_path / "p.toml"
    p.write_bytes(raw)
    _check(p)
