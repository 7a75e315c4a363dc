"""The evidence-kind registry: each kind's fields, reduction, implied share and text, and that a new kind
is one registry entry (validation, the design and the implied share follow it without other changes)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from rdshare.core import dataset, design
from rdshare.core.kinds import (
    FORMS,
    KINDS,
    NUMERIC,
    TARGETS,
    EvidenceKind,
    Implied,
    Reduction,
    interval_sd,
    logit,
)
from rdshare.errors import InputError

from ..helpers import one_of_each_kind

GLYPHS = ("point", "interval", "point_interval", "lower_bound")


def test_targets_map_values_to_latent_scales_and_back():
    for name, t in TARGETS.items():
        x = {"share": 0.3, "ratio": 2.5, "below_one": -0.4}[t.scale]
        assert t.value(t.latent(x)) == pytest.approx(x), name
        assert t.allows(x)
    assert not TARGETS["f"].allows(1.0)
    assert not TARGETS["discount"].allows(1.0)
    assert TARGETS["discount"].allows(-3.0)
    assert not TARGETS["contrast"].allows(0.0)
    assert TARGETS["discount"].latent(0.3) == pytest.approx(math.log(0.7))


@pytest.mark.parametrize("name", list(KINDS))
def test_entry_is_consistent(name):
    k = KINDS[name]
    assert k.name == name
    assert set(k.required) <= set(k.allowed) <= set(NUMERIC)
    assert set(k.defaults) <= set(k.allowed) - set(k.required)
    assert k.form in FORMS
    assert k.glyph in GLYPHS
    assert k.description


def test_reductions_by_hand():
    t = one_of_each_kind().set_index("id", drop=False)
    z80, z90 = stats.norm.ppf(0.9), stats.norm.ppf(0.95)
    r = KINDS["point"].reduce(t.loc["pt"])
    assert (r.form, r.y, r.s) == ("gaussian", pytest.approx(logit(0.85)), 0.0)
    r = KINDS["point_interval"].reduce(t.loc["pti"])
    assert (r.y, r.s) == pytest.approx((logit(0.6), (logit(0.75) - logit(0.4)) / (2 * z90)))
    r = KINDS["interval"].reduce(t.loc["iv"])
    assert r.y == pytest.approx((logit(0.9) + logit(0.98)) / 2)
    assert r.s == pytest.approx((logit(0.98) - logit(0.9)) / (2 * z80))
    r = KINDS["pair"].reduce(t.loc["pair"])
    assert (r.y, r.s) == pytest.approx((logit(0.6), math.sqrt(2) * 0.2 / 0.6))
    r = KINDS["lower_bound"].reduce(t.loc["lb"])
    assert (r.form, r.b, r.direction, r.s) == ("bound", pytest.approx(logit(0.3)), 1, 0.0)


def test_discount_and_contrast_reductions_by_hand():
    row = {
        "value": math.nan,
        "low": 0.013,
        "high": 0.26,
        "interval_prob": 0.9,
    }
    r = KINDS["discount_lower_bound"].reduce(row)
    a, b = math.log(1 - 0.26), math.log(1 - 0.013)
    # d >= bound means log(1 - d) <= log(1 - bound): an upper bound on the latent scale
    assert (r.target, r.form, r.direction) == ("discount", "bound", -1)
    assert r.b == pytest.approx((a + b) / 2)
    assert r.s == pytest.approx((b - a) / (2 * stats.norm.ppf(0.95)))
    r = KINDS["discount_interval"].reduce({"low": -0.1, "high": 0.5, "interval_prob": 0.8})
    assert r.y == pytest.approx((math.log(1.1) + math.log(0.5)) / 2)
    r = KINDS["contrast"].reduce({"value": 0.5, "low": math.nan, "high": math.nan})
    assert (r.target, r.y, r.s) == ("contrast", pytest.approx(math.log(0.5)), 0.0)
    r = KINDS["contrast"].reduce({"value": 0.5, "low": 0.25, "high": 1.0, "interval_prob": 0.9})
    assert r.s == pytest.approx(math.log(4) / (2 * stats.norm.ppf(0.95)))


def test_implied_shares_and_texts():
    t = one_of_each_kind().set_index("id", drop=False)
    assert KINDS["pair"].implied(t.loc["pair"]).f == pytest.approx(0.6)
    assert KINDS["lower_bound"].implied(t.loc["lb"]).low == 0.3
    assert KINDS["interval"].text(t.loc["iv"]) == "0.9 to 0.98 (80% interval)"
    assert KINDS["point_interval"].text(t.loc["pti"]) == "0.6 (90% interval 0.4 to 0.75)"
    assert interval_sd(0.4, 0.75, 0.9) > 0


ODDS = EvidenceKind(
    name="odds",
    target="f",
    required=("value",),
    allowed=("value", "amount_sd"),
    form="gaussian",
    description="R&D per unit of final run, r = f / (1 - f): value (> 0 here)",
    glyph="point",
    _reduce=lambda r: Reduction("gaussian", "f", y=math.log(r["value"]), s=r["amount_sd"]),
    _implied=lambda r: Implied(r["value"] / (1 + r["value"]), reading="odds"),
    _text=lambda r: f"r = {r['value']:g}",
    defaults={"amount_sd": 0.3},
)


def test_a_new_kind_is_one_registry_entry(monkeypatch, tmp_path):
    """Registering a kind is all it takes for validation, the design and the implied share."""
    monkeypatch.setitem(KINDS, "odds", ODDS)
    header = "id,lab,model,year,position,scope,unit,kind,value,low,high,provenance,source"
    row = "x1,Lab X,m,2024,leader,full,flop,odds,0.5,,,lab,a source"
    (tmp_path / "odds.csv").write_text(f"{header}\n{row}\n", encoding="utf-8")
    ds = dataset.read([tmp_path / "odds.csv"])
    assert ds.table.loc[0, "amount_sd"] == 0.3  # the kind's default
    d = design.build(ds.fitted)
    np.testing.assert_allclose(d.y, [math.log(0.5)])
    np.testing.assert_allclose(d.s, [0.3])
    assert dataset.implied_share(ds.table)["implied_f"].iloc[0] == pytest.approx(1 / 3)
    bad = row.replace("odds,0.5,,", "odds,0.5,0.1,")
    (tmp_path / "bad.csv").write_text(f"{header}\n{bad}\n", encoding="utf-8")
    with pytest.raises(InputError, match="must be empty for kind 'odds'"):
        dataset.read([tmp_path / "bad.csv"])


def test_dataset_kinds_are_the_registry():
    assert set(dataset.KIND_FIELDS) == set(KINDS)
    for name, (req, allowed) in dataset.KIND_FIELDS.items():
        assert (req, allowed) == (KINDS[name].required, KINDS[name].allowed)
    assert "odds" not in pd.Series(list(KINDS)).tolist()
