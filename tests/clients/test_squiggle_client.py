"""squiggle.txt in the real Squiggle interpreter (@quri/squiggle-lang 0.10) at its default settings.

One file is evaluated once (Squiggle parses 1000-number lists slowly, about 0.3 s each): the export
of a run with more draws than Squiggle's sample count, of a run with fewer, and, as a control, sample
sets of 200 draws (the old export), which Squiggle fills up by resampling each on its own.
"""

from __future__ import annotations

import re

import numpy as np
import pytest

from rdshare.core.exports import SQUIGGLE_SAMPLE_COUNT, squiggle_fits, squiggle_text, write_squiggle
from rdshare.core.savings import Output

#: ecosystem_savings / savings in every draw of the synthetic outputs.
RATIO = 4.0
PREFIXES = ("", "few_", "short_")


def _amounts(n: int, rng: np.random.Generator, prefix: str) -> dict[str, Output]:
    # 5 significant digits, so that the amounts and 4 times them are written exactly (squiggle.txt
    # keeps 6) and the exact ratio is 4.0 in floating point too
    savings = rng.integers(10_000, 100_000, n) * 1e4
    return {
        f"{prefix}savings": Output(savings, "USD"),
        f"{prefix}ecosystem_savings": Output(RATIO * savings, "USD"),
    }


@pytest.fixture(scope="module")
def evaluated(squiggle, tmp_path_factory):
    """(text, the outputs of the main export, what Squiggle made of the file)."""
    rng = np.random.default_rng(7)
    n = 6000
    main = {
        **_amounts(n, rng, ""),
        "f_frontier": Output(rng.beta(8, 2, n), "share"),  # beta
        "discount": Output(1 - np.exp(rng.normal(-0.36, 0.3, n)), "share"),  # 1 - lognormal
        "delta": Output(rng.normal(-1e6, 5e5, n), "USD"),  # normal
    }
    text = (
        squiggle_text(main, rng=1)
        + squiggle_text(_amounts(300, rng, "few_"), rng=2)  # fewer draws than the sample count
        + squiggle_text(_amounts(n, rng, "short_"), n_samples=200, rng=3)
        + "".join(
            f"{p}ratio = {p}ecosystem_savings_samples / {p}savings_samples\n" for p in PREFIXES
        )
    )
    path = write_squiggle(tmp_path_factory.mktemp("squiggle") / "squiggle.txt", text)
    names = [f"{p}{q}" for p in PREFIXES for q in ("ratio", "savings_samples")]
    names += ["savings", "f_frontier", "discount", "delta"]
    return text, main, squiggle(path, names)


def _written(text: str, var: str) -> np.ndarray:
    m = re.search(rf"^{var} = SampleSet\.fromList\(\[(.*)\]\)$", text, re.M)
    assert m, var
    return np.array([float(x) for x in m.group(1).split(", ")])


def test_squiggle_runs_at_its_default_sample_count(evaluated):
    _, _, result = evaluated
    assert result["sampleCount"] == SQUIGGLE_SAMPLE_COUNT == 1000


@pytest.mark.parametrize("prefix", ["", "few_"])
def test_sample_sets_are_combined_draw_by_draw(evaluated, prefix):
    text, _, result = evaluated
    ratio = result["variables"][f"{prefix}ratio"]
    assert ratio["tag"] == "SampleSet"
    ratio = np.array(ratio["samples"])
    assert ratio.size == SQUIGGLE_SAMPLE_COUNT
    np.testing.assert_array_equal(ratio, RATIO)  # exact in every one of the 1000 samples
    # Squiggle keeps the written draws, in the written order
    samples = np.array(result["variables"][f"{prefix}savings_samples"]["samples"])
    np.testing.assert_array_equal(samples, _written(text, f"{prefix}savings_samples"))


def test_short_sample_sets_lose_the_pairing(evaluated):
    """The control: with fewer samples than its sample count Squiggle resamples each set on its own."""
    _, _, result = evaluated
    ratio = np.array(result["variables"]["short_ratio"]["samples"])
    assert ratio.size == SQUIGGLE_SAMPLE_COUNT
    assert np.mean(ratio == RATIO) < 0.05
    assert ratio.min() < 1
    assert ratio.max() > 16


@pytest.mark.parametrize("name", ["savings", "f_frontier", "discount", "delta"])
def test_parametric_fits_evaluate_to_their_quantiles(evaluated, name):
    _, main, result = evaluated
    fit = squiggle_fits(main)[name]
    value = result["variables"][name]
    assert value["type"] == "Dist"
    q05, q50, q95 = value["quantiles"]  # from Squiggle's 1000 samples of the distribution
    width = fit.fit_quantiles[2] - fit.fit_quantiles[0]
    np.testing.assert_allclose([q05, q50, q95], fit.fit_quantiles, rtol=0, atol=0.1 * width)
