"""Property tests for uncertain inputs ("1e9 to 5e9"): a valid Uncertain or an InputError, nothing else.

Complements tests/core/test_uncertain.py (examples) with generated, mostly malformed, inputs as a user
types them on the command line or writes them in a scenario file.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rdshare.core.uncertain import KINDS, Uncertain, parse_uncertain
from rdshare.errors import InputError

from ..helpers import examples

_TOKENS = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.integers(-(10**30), 10**30).map(str),
    st.sampled_from(["1e9", "0", "-1", "0.5", "1", "nan", "inf", "-inf", "1e999", "0x10", "1_0"]),
    st.sampled_from(["abc", "", " ", "٣", "1,5", "5e", "--1", "+2", "1e-320"]),
    st.text(max_size=6),
)
_SEPARATORS = st.sampled_from([" to ", "..", " TO ", "to", " - ", "...", " to to ", "\tto\t"])
_TEXTS = st.one_of(
    st.text(max_size=30),
    st.builds(lambda a, sep, b: f"{a}{sep}{b}", _TOKENS, _SEPARATORS, _TOKENS),
)
_VALUES = st.one_of(
    _TEXTS,
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(-(10**400), 10**400),
    st.none(),
    st.booleans(),
    st.lists(st.integers(), max_size=2),
    st.binary(max_size=4),
)


def _outcome(value, kind):
    try:
        return parse_uncertain(value, kind, source="s.toml", field="budget", line=3), None
    except InputError as exc:
        return None, exc


@settings(max_examples=examples(200), deadline=None)
@given(value=_VALUES, kind=st.sampled_from(KINDS))
def test_property_any_input_is_an_uncertain_or_a_clean_input_error(value, kind):
    u, exc = _outcome(value, kind)
    if exc is not None:
        (p,) = exc.problems
        assert (p.file, p.field, p.line) == ("s.toml", "budget", 3)
        assert p.message.strip()
        return
    assert isinstance(u, Uncertain)
    assert u.kind == kind
    assert math.isfinite(u.low)
    assert math.isfinite(u.high)
    assert u.low <= u.high
    assert u.describe()
    assert u.to_record() is not None
    x = u.sample(64, np.random.default_rng(0))
    q = u.quantiles()
    assert x.shape == (64,)
    assert np.all(np.isfinite(x))
    assert np.all(np.isfinite(q))
    if kind == "share":
        assert np.all((x >= 0) & (x <= 1))
    if kind == "amount":
        assert np.all(x >= 0)
    if kind == "months":
        assert np.all(x >= 0)
    if kind == "count":
        assert u.is_fixed
        assert u.fixed >= 1
        assert u.fixed == round(u.fixed)


@settings(max_examples=examples(150), deadline=None)
@given(
    a=st.floats(-1e6, 1e6, allow_nan=False),
    b=st.floats(-1e6, 1e6, allow_nan=False),
    kind=st.sampled_from(["amount", "share", "months"]),
)
def test_property_a_range_is_read_as_a_90_percent_interval(a, b, kind):
    if kind == "share":
        a, b = a / 1e6, b / 1e6
    u, exc = _outcome(f"{a!r} to {b!r}", kind)
    if exc is not None:
        assert exc.problems[0].message.strip()
        return
    assert u.low == a
    assert u.high == b
    lo, hi = u.quantiles((0.05, 0.95))
    if kind == "months" and a == 0:  # the part below 0 is stacked at 0
        assert lo == 0
    else:
        assert lo == pytest.approx(a, rel=1e-6, abs=1e-9)
    assert hi == pytest.approx(b, rel=1e-6, abs=1e-9)


@pytest.mark.parametrize(
    ("text", "kind", "start"),
    [
        ("5 to 1", "amount", "in the range '5 to 1' the low end must be below the high end"),
        ("abc to 3", "amount", "'abc' is not a number"),
        ("-1e9", "amount", "budget must be positive, got -1e9"),
        ("0 to 5e9", "amount", "budget must be positive; the range '0 to 5e9' starts at 0"),
        ("nan", "share", "'nan' is not a finite number"),
        ("1e999", "months", "'1e999' is not a finite number"),
        ("2 to 3", "count", "N must be a fixed whole number, not a range ('2 to 3')"),
        ("0 to 0.5", "share", "budget is a share; a range must lie strictly between 0 and 1"),
        ("", "amount", "is empty"),
    ],
)
def test_bad_ranges_named_in_the_brief_have_clean_messages(text, kind, start):
    _u, exc = _outcome(text, kind)
    assert exc is not None
    assert exc.problems[0].message.startswith(start)


def test_an_integer_too_large_for_a_float_is_refused_not_crashed():
    # TOML integers have no size limit; float() of one beyond 1.8e308 raises OverflowError.
    _u, exc = _outcome(10**400, "amount")
    assert exc is not None
    assert exc.problems[0].message.startswith("must be a finite number")


def test_an_amount_range_beyond_float_range_is_refused():
    _u, exc = _outcome("1e-300 to 1e9", "amount")
    assert exc is not None
    assert "HIGH / LOW" in str(exc)
