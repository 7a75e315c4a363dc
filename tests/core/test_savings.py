"""Savings arithmetic against hand computations on small fixed draws."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rdshare.core import savings as sv
from rdshare.errors import InputError

from ..helpers import examples

# Two draws: f = 0.8 and 0.5, d = 0.25 and 0.1, a budget of 100.
F_ = np.array([0.8, 0.5])
D_ = np.array([0.25, 0.1])
C_ = 100.0


def test_rd_compute():
    np.testing.assert_allclose(sv.rd_compute(C_, F_), [80.0, 50.0])


def test_odds():
    np.testing.assert_allclose(sv.odds(F_), [4.0, 1.0])
    np.testing.assert_allclose(sv.odds(0.0), 0.0)


def test_avoided_from_budget():
    # C f d = 100 * 0.8 * 0.25, 100 * 0.5 * 0.1
    np.testing.assert_allclose(sv.avoided_from_budget(C_, F_, D_), [20.0, 5.0])


def test_avoided_from_final_run():
    # F r d = 20 * 4 * 0.25, 20 * 1 * 0.1
    np.testing.assert_allclose(sv.avoided_from_final_run(20.0, F_, D_), [20.0, 2.0])


def test_final_run_and_budget_forms_agree():
    final = np.array([20.0, 20.0])
    c = sv.budget_from_final_run(final, F_)
    np.testing.assert_allclose(c, [100.0, 40.0])
    np.testing.assert_allclose(sv.rd_from_final_run(final, F_), sv.rd_compute(c, F_))
    np.testing.assert_allclose(
        sv.avoided_from_final_run(final, F_, D_), sv.avoided_from_budget(c, F_, D_)
    )


def test_effective_discount():
    np.testing.assert_allclose(sv.effective_discount(D_, 0.2), [0.2, 0.08])
    np.testing.assert_allclose(sv.effective_discount(D_, 0.0), D_)
    np.testing.assert_allclose(sv.effective_discount(D_, 1.0), [0.0, 0.0])


def test_lead_discount_halves_every_halflife():
    np.testing.assert_allclose(sv.lead_discount(D_, 0.0, 8.0), D_)
    np.testing.assert_allclose(sv.lead_discount(D_, 8.0, 8.0), [0.125, 0.05])
    np.testing.assert_allclose(sv.lead_discount(D_, 16.0, 8.0), [0.0625, 0.025])
    np.testing.assert_allclose(sv.lead_discount(D_, 6.0, 6.0), D_ / 2)


def test_ecosystem_savings_five_labs():
    eco = sv.ecosystem_savings(C_, F_, D_, 5)
    # alone N C f; saving (N - 1) C f d = 4 * [20, 5]; shared = alone - saving
    np.testing.assert_allclose(eco.alone, [400.0, 250.0])
    np.testing.assert_allclose(eco.saving, [80.0, 20.0])
    np.testing.assert_allclose(eco.shared, [320.0, 230.0])


def test_ecosystem_single_lab_saves_nothing():
    eco = sv.ecosystem_savings(C_, F_, D_, 1)
    np.testing.assert_allclose(eco.saving, [0.0, 0.0])
    np.testing.assert_allclose(eco.shared, eco.alone)


def test_ecosystem_shared_work_done_once():
    # With sharing, the duplicated part C f d is paid for exactly once across the ecosystem.
    for n in (2, 3, 10):
        eco = sv.ecosystem_savings(C_, F_, D_, n)
        np.testing.assert_allclose(eco.shared, n * C_ * F_ * (1 - D_) + C_ * F_ * D_)


def test_consortium_savings():
    con = sv.consortium_savings(C_, F_, 0.5, 3)
    # (N - 1) C f s = 2 * [40, 25]
    np.testing.assert_allclose(con.saving, [80.0, 50.0])
    np.testing.assert_allclose(con.alone, [240.0, 150.0])
    np.testing.assert_allclose(con.shared, [160.0, 100.0])
    np.testing.assert_allclose(sv.consortium_savings(C_, F_, 0.5, 1).saving, [0.0, 0.0])


def test_ecosystem_with_leaders_pays_the_largest_share_once():
    """Leaders get their own (lead-discounted) discount; the shared work is paid for once, at the
    largest part any lab avoids."""
    d_lead = D_ / 2
    eco = sv.ecosystem_savings(C_, F_, D_, 5, leaders=2, d_leaders=d_lead)
    rd = C_ * F_
    np.testing.assert_allclose(eco.saving, rd * (3 * D_ + 2 * d_lead - D_))
    everyone_leads = sv.ecosystem_savings(C_, F_, D_, 5, leaders=5, d_leaders=d_lead)
    np.testing.assert_allclose(everyone_leads.saving, 4 * rd * d_lead)
    # no leaders: the earlier formula, (N - 1) C f d
    np.testing.assert_allclose(sv.ecosystem_savings(C_, F_, D_, 5).saving, 4 * rd * D_)
    # a negative discount: the costs add up the same way
    neg = sv.ecosystem_savings(C_, F_, -D_, 3)
    np.testing.assert_allclose(neg.saving, -2 * rd * D_)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [({"leaders": 6, "d_leaders": 0.1}, "leaders"), ({"leaders": 1}, "d_leaders"),
     ({"leaders": -1, "d_leaders": 0.1}, "leaders"), ({"leaders": 1.5, "d_leaders": 0.1}, "leaders")],
)  # fmt: skip
def test_ecosystem_leaders_are_checked(kwargs, field):
    with pytest.raises(InputError) as err:
        sv.ecosystem_savings(C_, F_, D_, 5, **kwargs)
    assert err.value.problems[0].field == field


def test_grown_compounds_yearly_growth():
    np.testing.assert_allclose(sv.grown(100.0, 2.0, [0, 1, 2.5, -1]), [100, 200, 100 * 2**2.5, 50])
    with pytest.raises(InputError, match="growth"):
        sv.grown(1.0, 0.0, 1)


def test_compound_discount_recursion_and_limit():
    d = np.array([0.3, -0.2, 0.0])
    c = np.array([0.5, 0.5, 0.9])
    D = sv.compound_discount(d, c, 60)
    assert D.shape == (3, 60)
    np.testing.assert_allclose(D[:, 0], d)
    np.testing.assert_allclose(D[:, 1], 1 - (1 - d) * (1 - c * d))
    np.testing.assert_allclose(D[:, -1], d / (1 - c + c * d), rtol=1e-9)  # the fixed point
    steps = np.diff(D[0])
    assert np.all(steps[:10] > 0)
    assert np.all(steps >= 0)
    assert np.all(np.diff(steps[:10]) < 0)  # ... with diminishing returns
    assert np.all(D[2] == 0)
    np.testing.assert_allclose(sv.compound_discount(d, 0.0, 3), np.repeat(d[:, None], 3, axis=1))
    with pytest.raises(InputError, match="generations"):
        sv.compound_discount(d, c, 0)


def test_broadcast_over_lab_counts_and_draws():
    n = np.arange(1, 6)[:, None]
    eco = sv.ecosystem_savings(C_, F_[None, :], D_[None, :], n)
    assert eco.saving.shape == (5, 2)
    np.testing.assert_allclose(eco.saving[:, 0], (np.arange(1, 6) - 1) * 20.0)


def test_per_draw_inputs_broadcast():
    budget = np.array([100.0, 200.0])
    np.testing.assert_allclose(sv.avoided_from_budget(budget, F_, D_), [20.0, 10.0])


@pytest.mark.parametrize(
    ("call", "field"),
    [
        (lambda: sv.rd_compute(-1.0, F_), "budget"),
        (lambda: sv.rd_compute(np.array([1.0, np.nan]), F_), "budget"),
        (lambda: sv.rd_compute(C_, [0.5, 1.2]), "f"),
        (lambda: sv.avoided_from_budget(C_, F_, [1.0, 0.2]), "d"),
        (lambda: sv.avoided_from_final_run(-5.0, F_, D_), "final_run"),
        (lambda: sv.odds(1.0), "f"),
        (lambda: sv.effective_discount(D_, 1.5), "fork_rate"),
        (lambda: sv.lead_discount(D_, -1.0, 8.0), "lead_months"),
        (lambda: sv.lead_discount(D_, 1.0, 0.0), "halflife_months"),
        (lambda: sv.ecosystem_savings(-100.0, F_, D_, 5), "budget_per_lab"),
        (lambda: sv.ecosystem_savings(C_, F_, D_, 0), "n_labs"),
        (lambda: sv.ecosystem_savings(C_, F_, D_, 2.5), "n_labs"),
        (lambda: sv.consortium_savings(C_, F_, 1.5, 3), "shared_fraction"),
        (lambda: sv.rd_compute("lots", F_), "budget"),
    ],
)
def test_bad_inputs_raise_input_error(call, field):
    with pytest.raises(InputError) as err:
        call()
    assert err.value.problems[0].field == field


def test_mismatched_shapes_raise_input_error():
    with pytest.raises(InputError, match="shapes do not match"):
        sv.rd_compute(np.ones(3), F_)


def test_units():
    assert sv.get_unit("gpu_hours").label == "GPU-hours"
    assert sv.get_unit("flop").label == "FLOP"
    assert sv.get_unit("dollars").label == "USD"
    assert sv.get_unit("energy_mwh").label == "MWh"
    with pytest.raises(InputError) as err:
        sv.get_unit("euros")
    p = err.value.problems[0]
    assert (p.file, p.field) == ("<command line>", "unit")
    assert '"gpu_hours"' in p.message


def test_output_carries_unit():
    out = sv.Output(np.array([1.0]), "USD", "x")
    assert out.unit == "USD"


shares = st.floats(min_value=0.0, max_value=1.0, allow_nan=False)


@settings(max_examples=examples(100), deadline=None)
@given(
    st.floats(min_value=0.0, max_value=1e12, allow_nan=False),
    shares,
    st.floats(min_value=0.0, max_value=1.0, exclude_max=True, allow_nan=False),
    st.integers(min_value=1, max_value=50),
)
def test_ecosystem_identities(c, f, d, n):
    eco = sv.ecosystem_savings(c, f, d, n)
    np.testing.assert_allclose(eco.shared + eco.saving, eco.alone, rtol=1e-12, atol=1e-6)
    assert eco.saving <= eco.alone * d + 1e-6
    assert eco.saving >= 0
    # per lab, the saving is d (N - 1) / N of its R&D
    np.testing.assert_allclose(eco.saving, n * c * f * d * (n - 1) / n, rtol=1e-9, atol=1e-6)
    more = sv.ecosystem_savings(c, f, d, n + 1)
    assert more.saving >= eco.saving
