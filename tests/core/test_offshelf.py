"""Off the shelf: price files validated with located errors; the cost formulas and break-even by hand."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from rdshare.core import offshelf as oc
from rdshare.errors import InputError


@pytest.fixture(scope="module")
def prices():
    return oc.load_prices()


def test_shipped_price_files_are_valid_and_cited(prices):
    assert prices.api
    assert prices.gpu
    assert prices.throughput
    assert prices.finetune
    for table in (prices.api, prices.gpu, prices.throughput, prices.finetune):
        for row in table:
            assert row["source"]
            assert row["verified"] in ("verified", "secondary")
            assert row["as_of"][:2] == "20"
    assert {r["tier"] for r in prices.api if r["access"] == "closed"} == {
        "frontier",
        "mid",
        "small",
    }


def _copy(tmp_path):
    folder = tmp_path / "prices"
    shutil.copytree(oc.shipped_prices_dir(), folder)
    return folder


def test_bad_price_rows_are_named_by_file_line_and_column(tmp_path):
    folder = _copy(tmp_path)
    gpu = folder / "gpu_prices.csv"
    lines = gpu.read_text().splitlines()
    lines[1] = lines[1].replace(",2.95,", ",-2.95,")
    lines[2] = lines[2].replace("2026-03", "March 2026")
    lines[3] = lines[3].replace(",verified,", ",maybe,")
    gpu.write_text("\n".join(lines) + "\n")
    (folder / "api_prices.csv").write_text("provider,model\nx,y\n")
    with pytest.raises(InputError) as err:
        oc.load_prices(folder)
    got = {(p.file.rsplit("/", 1)[-1], p.line, p.field) for p in err.value.problems}
    assert ("gpu_prices.csv", 2, "usd_per_gpu_hour") in got
    assert ("gpu_prices.csv", 3, "as_of") in got
    assert ("gpu_prices.csv", 4, "verified") in got
    assert any(f == "api_prices.csv" and line == 1 for f, line, _ in got)  # missing columns
    messages = " ".join(p.message for p in err.value.problems)
    assert "must be a positive number" in messages
    assert "has no column 'access'" in messages


def test_a_missing_price_file_is_an_input_error(tmp_path):
    folder = _copy(tmp_path)
    (folder / "throughput.csv").unlink()
    with pytest.raises(InputError, match=r"throughput\.csv: file not found"):
        oc.load_prices(folder)


def test_defaults_come_from_the_price_files(prices):
    q = oc.build_question(prices, tokens_out=10)
    gpu = [r["usd_per_gpu_hour"] for r in prices.gpu if r["kind"] == "on_demand"]
    assert (q.inputs["gpu_price"].low, q.inputs["gpu_price"].high) == (min(gpu), max(gpu))
    runs = [r["output_tokens_per_s_per_gpu"] for r in prices.throughput]
    assert (q.inputs["throughput"].low, q.inputs["throughput"].high) == (min(runs), max(runs))
    assert q.gpus_per_replica == 2
    assert len(q.notes) == 2


def test_unknown_tier_model_and_kind_are_refused_with_the_options_named(prices):
    with pytest.raises(InputError) as err:
        oc.build_question(
            prices, tokens_out=10, closed_tier="huge", open_model="x", gpu_kind="owned"
        )
    assert {p.field for p in err.value.problems} == {"--closed", "--open", "--gpu-kind"}
    with pytest.raises(InputError, match="is required") as err:
        oc.build_question(prices)
    assert err.value.problems[0].field == "--tokens-out"
    with pytest.raises(InputError) as err:
        oc.build_question(prices, tokens_out="5 to 1", efficiency=2)
    assert {p.field for p in err.value.problems} == {"--tokens-out", "--efficiency"}


def _fixed(prices, **kw):
    base = dict(
        tokens_out=100, tokens_in=300, gpu_price=2.0, throughput=2000, efficiency=0.5,
        prefill_speedup=5, overhead=1000,
    )  # fmt: skip
    return oc.build_question(prices, **{**base, **kw})


def test_costs_by_hand(prices):
    q = _fixed(prices)
    a = oc.evaluate(q, 500, np.random.default_rng(1))
    closed = a.outputs["cost_closed_api"].values
    mid = [(r["input_usd_per_mtok"], r["output_usd_per_mtok"]) for r in q.closed]
    allowed = {round(300 * pi + 100 * po, 9) for pi, po in mid}
    assert set(np.round(closed, 9)) <= allowed
    assert len(set(np.round(closed, 9))) > 1
    # self-hosting: work 100 (1 + 3/5) = 160 M tokens at 2000 x 0.5 x 3600 / 1e6 = 3.6 M/GPU-h
    # = 44.4 GPU-h, below one replica of 2 GPUs all month: 1461 GPU-h x $2 + $1000
    np.testing.assert_allclose(a.outputs["self_hosted_gpu_hours"].values, 2 * oc.HOURS_PER_MONTH)
    np.testing.assert_allclose(
        a.outputs["cost_self_hosted"].values, 2 * oc.HOURS_PER_MONTH * 2 + 1000
    )
    assert a.p_self_hosted_cheaper == 0.0


def test_break_even_is_where_the_costs_cross(prices):
    """Per draw, at the break-even volume the closed API and self-hosting cost the same."""
    q = _fixed(prices, gpu_price="1.5 to 4", throughput="500 to 2500")
    a = oc.evaluate(q, 300, np.random.default_rng(2))
    be = a.outputs["break_even_tokens_out"].values
    ok = np.isfinite(be)
    assert ok.mean() > 0.8  # in the others a GPU-hour of work costs more than the API: never
    # recompute both costs at each draw's break-even volume with that draw's prices
    rng = np.random.default_rng(2)
    s = {k: u.sample(300, rng) for k, u in q.inputs.items()}
    idx = rng.integers(0, len(q.closed), size=300)
    p_in = np.array([r["input_usd_per_mtok"] for r in q.closed])[idx]
    p_out = np.array([r["output_usd_per_mtok"] for r in q.closed])[idx]
    ratio = s["tokens_in"] / s["tokens_out"]
    api = be * (ratio * p_in + p_out)
    rate = s["throughput"] * s["efficiency"] * 3600 / 1e6
    hours = np.maximum(be * (1 + ratio / s["prefill_speedup"]) / rate, 2 * oc.HOURS_PER_MONTH)
    selfhost = hours * s["gpu_price"] + s["overhead"]
    np.testing.assert_allclose(api[ok], selfhost[ok], rtol=1e-9)
    # where it never pays, self-hosting's cost per token exceeds the API's
    per_token = s["gpu_price"] * (1 + ratio / s["prefill_speedup"]) / rate
    assert np.all(per_token[~ok] >= (ratio * p_in + p_out)[~ok])


def test_never_breaks_even_when_a_gpu_hour_costs_more_than_the_api(prices):
    q = _fixed(prices, gpu_price=500.0)
    a = oc.evaluate(q, 200, np.random.default_rng(3))
    assert a.p_never_breaks_even == 1.0
    assert np.all(np.isinf(a.outputs["break_even_tokens_out"].values))


def test_cost_curves_cross_at_the_break_even(prices):
    q = _fixed(prices)
    v = np.geomspace(1, 1e5, 41)
    curves = oc.cost_curves(q, v, 400, np.random.default_rng(4))
    assert set(curves) == {"closed API", "open, hosted", "open, self-hosted"}
    med = {k: np.median(c, axis=0) for k, c in curves.items()}
    assert med["closed API"][0] < med["open, self-hosted"][0]  # small users: the API
    assert med["closed API"][-1] > med["open, self-hosted"][-1]  # very large users: self-host
