"""The quantities registry: one list of names that every other module reads."""

from __future__ import annotations

import pytest

from rdshare.core import priors
from rdshare.core.quantities import (
    HEADLINE,
    OFFSETS,
    PARAMETERS,
    QUANTITIES,
    REPORTED,
    SIGMA_MEAS,
    VARIANTS,
    variant,
)


def test_every_shipped_prior_file_has_exactly_the_parameters():
    for path in sorted(priors.shipped_dir().glob("*.toml")):
        assert tuple(priors.load(path).priors) == PARAMETERS, path.name


def test_reported_quantities_have_words_for_people():
    assert set(HEADLINE) <= set(REPORTED) <= set(QUANTITIES)
    for name in REPORTED:
        q = QUANTITIES[name]
        assert all((q.label, q.title, q.axis, q.meaning)), name


def test_variants_sample_subsets_of_the_parameters():
    assert VARIANTS["full"].parameters == PARAMETERS
    for v in VARIANTS.values():
        assert set(v.parameters) <= set(PARAMETERS)
        assert set(SIGMA_MEAS) <= set(v.parameters)
        assert ("discount" in v.parameters) == v.discount
        assert ("sigma_lab" in v.parameters) == v.lab_effects
        assert set(OFFSETS.values()) <= set(v.parameters)
    units = tuple(f"f_frontier_{u}" for u in OFFSETS)
    assert VARIANTS["full"].derived() == (*units, "f_follower", "f_new_lab")
    assert VARIANTS["pooled"].derived() == units


def test_unknown_variant_names_the_allowed_ones():
    with pytest.raises(ValueError, match="full"):
        variant("partial")
