"""Property tests for scenario files and options: a valid Scenario or an InputError, nothing else.

Complements tests/core/test_scenario.py (examples). Generated files are shaped like real scenarios
(the real tables and keys, random and often wrong values) or are arbitrary text and bytes; every
accepted scenario must also evaluate to finite outputs on simple posterior draws.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rdshare.core.savings import UNITS
from rdshare.core.scenario import (
    INPUTS,
    Scenario,
    evaluate,
    load_scenario,
    output_names,
    scenario_from_options,
)
from rdshare.errors import InputError

from ..helpers import assert_clean, examples, toml_value

_SCALAR = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(-(10**400), 10**400),
    st.booleans(),
    st.text(max_size=8),
    st.sampled_from(["1e9 to 5e9", "0 to 6", "5 to 1", "abc to 3", "-1e9", "0.2", "0.1..0.3"]),
    st.sampled_from([*UNITS, "tokens", "Dollars", "", "os.system('x')"]),
)
_VALUE = st.one_of(
    _SCALAR,
    st.lists(_SCALAR, max_size=2),
    st.dictionaries(st.sampled_from(["a", "low", "high"]), _SCALAR, max_size=2),
)
_SETTINGS = ("years", "budget_year", "generations")
_KEYS = st.sampled_from([*INPUTS, *_SETTINGS, "name", "description", "unit", "budgets", "eval"])
_SETTING_VALUES = st.one_of(
    _SCALAR, st.sampled_from(["2026..2030", "2027", 2030, "2030..2026", 3, 0, 25, "2026 to 2028"])
)
_GOOD_INPUTS = {"budget": "1e9 to 5e9", "labs": 5, "fork_rate": 0.2, "lead_months": "0 to 6"}


@st.composite
def scenario_texts(draw):
    """A scenario file: the real tables (sometimes others), good inputs with some keys broken."""
    scenario = {"name": "t", "unit": draw(st.sampled_from(list(UNITS)))}
    inputs = dict(_GOOD_INPUTS)
    for table in (scenario, inputs):
        n = draw(st.sampled_from([0, 0, 1, 2]))
        for k in draw(st.lists(_KEYS, min_size=n, max_size=n, unique=True)):
            if draw(st.booleans()):
                table.pop(k, None)
            else:
                table[k] = draw(_SETTING_VALUES if k in _SETTINGS else _VALUE)
    tables = {"scenario": scenario, "inputs": inputs}
    if draw(st.integers(0, 5)) == 0:
        tables["extra"] = {"x": 1}
    lines = []
    for name in draw(st.permutations(list(tables))):
        if draw(st.integers(0, 9)) == 0:
            continue  # a missing table
        lines.append(f"[{name}]")
        lines += [f"{k} = {toml_value(v)}" for k, v in tables[name].items()]
    return "\n".join(lines) + "\n"


DRAWS = {
    "f_frontier": np.array([0.8, 0.6, 0.9]),
    "f_follower": np.array([0.7, 0.5, 0.85]),
    "discount": np.array([0.3, -0.1, 0.5]),
    "sigma_lab": np.array([0.3, 0.0, 1.2]),
    "sigma_programme": np.array([0.2, 0.5, 0.0]),
    "beta_era": np.array([0.1, -0.3, 0.0]),
    **{f"offset_{u}": np.array([0.2, -0.1, 0.4]) for u in ("gpu_hours", "dollars", "energy")},
}


def _check_scenario(s: Scenario) -> None:
    assert s.basis in ("budget", "final_run")
    assert set(s.inputs) == set(INPUTS) - ({"budget", "final_run"} - {s.basis})
    assert s.describe()
    json.dumps(s.to_dict())
    out = evaluate(s, DRAWS, np.random.default_rng(0))
    assert list(out) == list(output_names(s))
    for o in out.values():
        v = np.asarray(o.values, dtype=float)
        assert v.shape == (3,)
        assert not np.any(np.isnan(v))


def _load(path: Path):
    try:
        return load_scenario(path), None
    except InputError as exc:
        return None, exc


_PROPS = settings(
    max_examples=examples(150),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)


@_PROPS
@given(text=scenario_texts())
def test_property_structured_scenario_text(tmp_path, text):
    p = tmp_path / "s.toml"
    p.write_text(text, encoding="utf-8")
    s, exc = _load(p)
    if exc is not None:
        assert_clean(exc, str(p))
    else:
        _check_scenario(s)


@_PROPS
@given(text=st.text(max_size=200))
def test_property_arbitrary_text(tmp_path, text):
    p = tmp_path / "s.toml"
    p.write_text(text, encoding="utf-8", errors="surrogatepass")
    s, exc = _load(p)
    if exc is not None:
        assert_clean(exc, str(p))
    else:
        _check_scenario(s)


@_PROPS
@given(raw=st.binary(max_size=200))
def test_property_arbitrary_bytes(tmp_path, raw):
    p = tmp_path / "s.toml"
    p.write_bytes(raw)
    s, exc = _load(p)
    if exc is not None:
        assert_clean(exc, str(p))
    else:
        _check_scenario(s)


_OPTION = st.one_of(st.none(), _SCALAR)


@settings(max_examples=examples(150), deadline=None)
@given(
    options=st.fixed_dictionaries({k: _OPTION for k in INPUTS}),
    settings_=st.fixed_dictionaries({k: st.one_of(st.none(), _SETTING_VALUES) for k in _SETTINGS}),
    unit=st.sampled_from([*UNITS, "tokens", ""]),
)
def test_property_command_line_options(options, settings_, unit):
    try:
        s = scenario_from_options(**options, **settings_, unit=unit)
    except InputError as exc:
        assert_clean(exc, "<command line>")
        for p in exc.problems:
            assert p.field is not None
            assert p.field.startswith("--")
        return
    _check_scenario(s)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[inputs]\nbudget = " + "[" * 5000, "is not valid TOML: nested too deeply"),
        ("[inputs]\nbudget = 1" + "0" * 5000, "is not valid TOML: Exceeds the limit (4300 digits)"),
    ],
)
def test_hostile_toml_is_a_clean_error(tmp_path, text, message):
    p = tmp_path / "s.toml"
    p.write_text(text)
    _s, exc = _load(p)
    assert exc is not None
    assert exc.problems[0].message.startswith(message)


def test_an_integer_budget_beyond_float_range_is_a_clean_error(tmp_path):
    p = tmp_path / "s.toml"
    p.write_text('[scenario]\nunit = "dollars"\n[inputs]\nbudget = 1' + "0" * 400 + "\n")
    _s, exc = _load(p)
    assert exc is not None
    (prob,) = exc.problems
    assert (prob.field, prob.line) == ("budget", 4)
    assert prob.message.startswith("must be a finite number")
