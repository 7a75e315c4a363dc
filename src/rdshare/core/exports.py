"""Forecast exports: quantile tables, samples, Squiggle expressions and Metaculus CDFs.

Every function takes named outputs (``dict[str, Output]``, as returned by
:func:`rdshare.core.scenario.evaluate`) or a plain array of draws, and returns text, a DataFrame or
an array; the ``write_*`` functions put those in files.

- ``forecast.csv``: one row per quantity, columns :data:`FORECAST_COLUMNS` (mean and equal-tailed
  quantiles of the draws).
- ``samples.csv``: a seeded, thinned subsample of the draws, one column per quantity; every column
  uses the same draws, so the joint structure (correlations) is kept.
- ``samples.xlsx``: the same table as a spreadsheet, numbers stored as numbers, so it opens the
  same under any locale (a comma-decimal locale misreads ``samples.csv``).
- ``squiggle.txt``: for each quantity a parametric Squiggle distribution that matches the draws' 5%
  and 95% quantiles (lognormal for positive amounts, beta for shares, normal otherwise), a comment
  with its fit error, and a ``SampleSet`` of exactly Squiggle's default sample count of joint draws,
  so Squiggle pairs them index by index.
- a Metaculus CDF: 201 values of the CDF on the question's grid, satisfying Metaculus' rules for
  any draws, with margins.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import xlsxwriter
from scipy import special, stats

from rdshare.core.savings import SHARE, Output
from rdshare.core.uncertain import beta_from_interval
from rdshare.errors import InputError, Problem

#: Quantiles of ``forecast.csv`` and their column names.
QUANTILES: dict[str, float] = {
    "q01": 0.01,
    "q05": 0.05,
    "q10": 0.10,
    "q25": 0.25,
    "q50": 0.50,
    "q75": 0.75,
    "q90": 0.90,
    "q95": 0.95,
    "q99": 0.99,
}
FORECAST_COLUMNS: tuple[str, ...] = ("name", "unit", "mean", *QUANTILES)
#: Columns added when the priors' outputs are given: what the priors alone imply, and how much
#: narrower the posterior's 90% interval is (1: the data added nothing).
PRIOR_COLUMNS: tuple[str, ...] = ("prior_q05", "prior_q50", "prior_q95", "width_ratio")

#: A Squiggle fit is "good" when its 5/50/95% quantiles are within this fraction of the draws'
#: 5-95% width of the draws' own quantiles. Fits match 5% and 95% exactly, so the error is in the
#: median: for draws that really are lognormal (amounts) or beta (shares) it is well under this.
SQUIGGLE_TOLERANCE = 0.05

#: Squiggle's default sample count (its environment's ``sampleCount``, 1000 in Squiggle 0.10), and
#: the number of draws in each ``SampleSet`` of ``squiggle.txt``. Squiggle takes the first
#: ``sampleCount`` samples of a sample set that has at least that many, so sets written with the
#: same draws at the same positions are combined draw by draw; a shorter set is filled by random
#: resampling, separately for each set, which loses the pairing.
SQUIGGLE_SAMPLE_COUNT = 1000
#: Squiggle refuses a sample set of this many samples or fewer.
_SQUIGGLE_MIN_SAMPLES = 5

#: Metaculus' rules for continuous questions.
METACULUS_POINTS = 201
METACULUS_MIN_STEP = 5e-5
METACULUS_MAX_STEP = 0.2
METACULUS_OPEN_TAIL = 0.001

#: What :func:`metaculus_cdf` keeps, with margins over Metaculus' rules, so that a client that
#: re-interpolates or rounds the CDF still holds a valid one: every step at least 2.5 times the
#: minimum, at most 0.19 (the cap Metaculus' Python client, forecasting-tools, standardises to) and
#: at least 0.2% beyond an open bound.
CDF_MIN_STEP = 2.5 * METACULUS_MIN_STEP
CDF_MAX_STEP = 0.95 * METACULUS_MAX_STEP
CDF_OPEN_TAIL = 2.0 * METACULUS_OPEN_TAIL
_MAX_KERNEL_POINTS = 5000


def _values(out: Output | np.ndarray) -> np.ndarray:
    v = out.values if isinstance(out, Output) else out
    return np.asarray(v, dtype=float).ravel()


def _common_length(outputs: Mapping[str, Output]) -> int:
    lengths = {k: _values(o).size for k, o in outputs.items()}
    if not lengths:
        raise ValueError("no outputs given")
    if len(set(lengths.values())) != 1:
        raise ValueError(f"outputs have different numbers of draws: {lengths}")
    n = next(iter(lengths.values()))
    if n == 0:
        raise ValueError("outputs have no draws")
    return n


def _rng(rng: np.random.Generator | int | None) -> np.random.Generator:
    if isinstance(rng, np.random.Generator):
        return rng
    return np.random.default_rng(0 if rng is None else rng)


def _thin_index(n: int, k: int, rng: np.random.Generator) -> np.ndarray:
    if k >= n:
        return np.arange(n)
    return np.sort(rng.choice(n, size=k, replace=False))


def _joint_index(n: int, k: int, rng: np.random.Generator) -> np.ndarray:
    """Exactly ``k`` of ``n`` draw indices in random order, each draw used equally often (+-1).

    Distinct draws when ``k <= n``; otherwise every draw appears ``k // n`` or ``k // n + 1`` times.
    The order is random, so any first part is itself a random subsample.
    """
    return np.concatenate([rng.permutation(n) for _ in range(-(-k // n))])[:k]


# ------------------------------------------------------------------------------------------------
# forecast.csv and samples.csv


def quantile_table(
    outputs: Mapping[str, Output], prior: Mapping[str, Output] | None = None
) -> pd.DataFrame:
    """Mean and quantiles of each output, one row per quantity.

    Parameters
    ----------
    outputs : mapping of str to Output
    prior : mapping of str to Output, optional
        The same outputs computed from the priors alone; adds :data:`PRIOR_COLUMNS` (the prior's 5%,
        50% and 95% quantiles and ``width_ratio``, the posterior's 90% width over the prior's).

    Returns
    -------
    pandas.DataFrame
        Columns ``name, unit, mean, q01, q05, q10, q25, q50, q75, q90, q95, q99`` (then
        :data:`PRIOR_COLUMNS` with ``prior``), rows in the order of ``outputs``. Quantiles are
        numpy's default (linear interpolation).
    """
    probs = np.array(list(QUANTILES.values()))
    rows = []
    for name, out in outputs.items():
        v = _values(out)
        qs = np.quantile(v, probs)
        row = [name, out.unit, float(np.mean(v)), *map(float, qs)]
        if prior is not None:
            p05, p50, p95 = (float(x) for x in np.quantile(_values(prior[name]), [0.05, 0.5, 0.95]))
            q05, q95 = np.quantile(v, [0.05, 0.95])
            ratio = float((q95 - q05) / (p95 - p05)) if p95 > p05 else math.nan
            row += [p05, p50, p95, ratio]
        rows.append(row)
    columns = [*FORECAST_COLUMNS, *(PRIOR_COLUMNS if prior is not None else ())]
    return pd.DataFrame(rows, columns=columns)


def write_forecast_csv(df: pd.DataFrame, path: str | Path) -> Path:
    """Write a :func:`quantile_table` as ``forecast.csv`` (no index column, full precision)."""
    path = Path(path)
    df.to_csv(path, index=False)
    return path


def samples_frame(
    outputs: Mapping[str, Output], n: int = 1000, rng: np.random.Generator | int | None = None
) -> pd.DataFrame:
    """A thinned subsample of the draws, one column per quantity.

    The same draws (rows) are taken for every column, so correlations between quantities are kept.

    Parameters
    ----------
    outputs : mapping of str to Output
        All with the same number of draws.
    n : int
        Rows wanted; all draws (in order) when there are no more than ``n``.
    rng : numpy.random.Generator, int or None
        Picks the rows; an int seeds a generator, None means seed 0 (same file every time).

    Returns
    -------
    pandas.DataFrame
    """
    total = _common_length(outputs)
    idx = _thin_index(total, int(n), _rng(rng))
    return pd.DataFrame({name: _values(out)[idx] for name, out in outputs.items()})


def write_samples_csv(df: pd.DataFrame, path: str | Path) -> Path:
    """Write a :func:`samples_frame` as ``samples.csv`` (for scripts: ``.`` decimal point, full
    precision; a spreadsheet under a comma-decimal locale misreads it, use ``samples.xlsx``)."""
    path = Path(path)
    df.to_csv(path, index=False)
    return path


#: Significant digits kept in ``samples.xlsx``: the precision spreadsheets show and compute with,
#: and the most that always survive the 16 digits xlsx writers (XlsxWriter, openpyxl) store.
XLSX_DIGITS = 15
#: Creation time written into ``samples.xlsx``, fixed so the same draws give the same bytes.
XLSX_CREATED = datetime(2000, 1, 1, tzinfo=UTC)


def spreadsheet_number(x: float) -> float:
    """``x`` rounded to :data:`XLSX_DIGITS` significant digits, as ``samples.xlsx`` stores it."""
    return float(f"{float(x):.{XLSX_DIGITS}g}")


def write_samples_xlsx(frame: pd.DataFrame, path: str | Path) -> Path:
    """Write a :func:`samples_frame` as ``samples.xlsx``, for spreadsheets.

    One sheet, ``samples``: a header row with the column names, then one row per draw, in the
    frame's order, every value a number cell (so no locale can misread it, unlike ``samples.csv``
    under a comma-decimal locale). Values are rounded to :data:`XLSX_DIGITS` (15) significant
    digits (:func:`spreadsheet_number`), which the file then holds exactly; NaN is written as
    ``#NUM!`` and infinities as ``#DIV/0!``. The header row is frozen. The same frame gives the
    same bytes (fixed creation time, fixed times inside the zip).

    Parameters
    ----------
    frame : pandas.DataFrame
        Numeric columns, as returned by :func:`samples_frame`.
    path : str or Path

    Returns
    -------
    Path
    """
    path = Path(path)
    columns = [str(c) for c in frame.columns]
    values = frame.to_numpy(dtype=float)
    workbook = xlsxwriter.Workbook(str(path), {"in_memory": True, "nan_inf_to_errors": True})
    workbook.set_properties({"title": "rdshare samples", "created": XLSX_CREATED})
    sheet = workbook.add_worksheet("samples")
    sheet.write_row(0, 0, columns)
    for i, row in enumerate(values, start=1):
        sheet.write_row(i, 0, [spreadsheet_number(x) if math.isfinite(x) else x for x in row])
    sheet.freeze_panes(1, 0)
    if columns:
        sheet.set_column(0, len(columns) - 1, max(12, max(len(c) for c in columns) + 2))
    workbook.close()
    return path


# ------------------------------------------------------------------------------------------------
# Squiggle


@dataclass(frozen=True)
class SquiggleFit:
    """A parametric Squiggle distribution fitted to one quantity's draws.

    Attributes
    ----------
    family : str
        ``"lognormal"``, ``"beta"``, ``"reflected_lognormal"``, ``"normal"`` or ``"point"``.
    expression : str
        Squiggle expression, e.g. ``lognormal({p5: 1e9, p95: 5e9})``.
    draws_quantiles : tuple of float
        The draws' 5%, 50% and 95% quantiles.
    fit_quantiles : tuple of float
        The same quantiles of the expression as written (rounded parameters).
    error : float
        ``max |fit - draws|`` over the three quantiles, divided by the draws' 5-95% width (0 when
        both are equal; infinite when the width is 0 but they differ).
    """

    family: str
    expression: str
    draws_quantiles: tuple[float, float, float]
    fit_quantiles: tuple[float, float, float]
    error: float


def _num(x: float) -> str:
    """A Squiggle number literal with 6 significant digits: 1e9, 2.5e-5, 0.25, -3."""
    x = float(x)
    if x == 0:
        return "0"
    text = f"{x:.6g}"
    if "e" in text:
        mant, exp = text.split("e")
        text = f"{mant}e{int(exp)}"
    return text


def squiggle_fit(values: np.ndarray | Output, unit: str = "") -> SquiggleFit:
    """Fit one quantity's draws with a parametric Squiggle distribution.

    The family follows the support of the draws: shares (``unit == "share"``, all draws strictly
    inside (0, 1)) get ``beta(alpha, beta)`` matched to the draws' 5% and 95% quantiles; a share
    below 1 that reaches 0 or below (a discount) gets ``1 - lognormal({p5, p95})``, the model's own
    family for d; other positive draws get ``lognormal({p5, p95})``; anything else
    ``normal({p5, p95})``; draws whose 5% and 95% quantiles coincide get their median as a plain
    number.

    Parameters
    ----------
    values : array_like or Output
        The draws (finite).
    unit : str
        Unit label; ``"share"`` allows a beta. Taken from ``values`` when it is an Output.

    Returns
    -------
    SquiggleFit
    """
    if isinstance(values, Output):
        unit = values.unit
    v = _values(values)
    if v.size == 0 or not np.isfinite(v).all():
        raise ValueError("draws must be non-empty and finite")
    q5, q50, q95 = (float(x) for x in np.quantile(v, [0.05, 0.5, 0.95]))
    drawn = (q5, q50, q95)
    probs = np.array([0.05, 0.5, 0.95])
    if q95 <= q5:
        expr, family, fitted = _num(q50), "point", (float(_num(q50)),) * 3
    else:
        family = "normal"
        if unit == SHARE and v.min() > 0 and v.max() < 1:
            try:
                a, b = beta_from_interval(q5, q95)
                family = "beta"
            except ValueError:
                pass
        elif unit == SHARE and v.max() < 1:
            family = "reflected_lognormal"  # a discount below 1 that may be negative: 1 - lognormal
        elif v.min() > 0:
            family = "lognormal"
        if family == "beta":
            sa, sb = _num(a), _num(b)
            expr = f"beta({sa}, {sb})"
            fitted = tuple(float(x) for x in stats.beta.ppf(probs, float(sa), float(sb)))
        elif family == "reflected_lognormal":
            s5, s95 = _num(1.0 - q95), _num(1.0 - q5)
            expr = f"1 - lognormal({{p5: {s5}, p95: {s95}}})"
            lo, hi = float(s5), float(s95)
            fitted = (1.0 - hi, 1.0 - math.sqrt(lo * hi), 1.0 - lo)
        else:
            s5, s95 = _num(q5), _num(q95)
            expr = f"{family}({{p5: {s5}, p95: {s95}}})"
            lo, hi = float(s5), float(s95)
            fitted = (
                (lo, math.sqrt(lo * hi), hi) if family == "lognormal" else (lo, 0.5 * (lo + hi), hi)
            )
    diff = max(abs(f - d) for f, d in zip(fitted, drawn, strict=True))
    width = q95 - q5
    # a zero width only happens with a point fit, exact when the three quantiles agree
    error = diff / width if width > 0 else (0.0 if diff == 0 else math.inf)
    return SquiggleFit(family, expr, drawn, fitted, float(error))


def squiggle_fits(outputs: Mapping[str, Output]) -> dict[str, SquiggleFit]:
    """:func:`squiggle_fit` for every output."""
    return {name: squiggle_fit(out) for name, out in outputs.items()}


def fit_errors(outputs: Mapping[str, Output]) -> dict[str, float]:
    """Each output's Squiggle fit error (see :class:`SquiggleFit`); compare with
    :data:`SQUIGGLE_TOLERANCE`."""
    return {name: fit.error for name, fit in squiggle_fits(outputs).items()}


def squiggle_name(name: str) -> str:
    """A valid Squiggle variable name: lower-case start, letters, digits and underscores."""
    out = "".join(c if c.isalnum() or c == "_" else "_" for c in name)
    if not out or not (out[0].isalpha() and out[0].islower()):
        out = "q_" + out
    return out


def squiggle_text(
    outputs: Mapping[str, Output],
    n_samples: int = SQUIGGLE_SAMPLE_COUNT,
    rng: np.random.Generator | int | None = None,
    header: str | None = None,
) -> str:
    """Squiggle code defining each output, parametric and as samples.

    For each quantity ``name`` it writes a comment (unit, family, the draws' and the fit's
    5/50/95% quantiles and the fit error), ``name = <parametric distribution>`` and
    ``name_samples = SampleSet.fromList([...])`` of ``n_samples`` joint draws: position ``i`` of
    every sample set holds the same posterior draw (picked at random, in random order; a run with
    fewer draws repeats them, each equally often). Squiggle combines sample sets position by
    position when they hold at least its sample count, so with the default ``n_samples``
    (:data:`SQUIGGLE_SAMPLE_COUNT`, Squiggle's default) ``savings_samples / rd_compute_samples`` is
    computed draw by draw and keeps the correlation. With a higher sample count in Squiggle's
    settings, or fewer ``n_samples``, Squiggle resamples each set on its own and the pairing is
    lost; a lower sample count keeps it (Squiggle takes the first draws of every set).

    Parameters
    ----------
    outputs : mapping of str to Output
    n_samples : int
        Draws per sample set; more than 5 (Squiggle's minimum).
    rng : numpy.random.Generator, int or None
        Picks the draws; None means seed 0.
    header : str or None
        Extra comment lines at the top (e.g. the run, seed and sample count).

    Returns
    -------
    str
    """
    total = _common_length(outputs)
    n_samples = int(n_samples)
    if n_samples <= _SQUIGGLE_MIN_SAMPLES:
        raise ValueError(
            f"Squiggle needs more than {_SQUIGGLE_MIN_SAMPLES} samples, got n_samples={n_samples}"
        )
    idx = _joint_index(total, n_samples, _rng(rng))
    lines = ["// rdshare forecast export: parametric fits and joint posterior draws"]
    lines.append(
        f"// fits match the draws' 5% and 95% quantiles; fit error = largest gap at 5/50/95%, "
        f"as a share of the draws' 5-95% width (good below {SQUIGGLE_TOLERANCE:.0%})"
    )
    repeated = f" (the {total} draws, each used about {n_samples / total:.3g} times)"
    lines.append(
        f"// *_samples: {n_samples} joint draws{repeated if total < n_samples else ''}; sample "
        f"sets pair draw by draw while Squiggle's sample count is at most {n_samples} "
        f"(default {SQUIGGLE_SAMPLE_COUNT})"
    )
    if header:
        lines += [f"// {ln}" for ln in header.splitlines()]
    for name, out in outputs.items():
        fit = squiggle_fit(out)
        var = squiggle_name(name)
        d, f = fit.draws_quantiles, fit.fit_quantiles
        lines.append("")
        lines.append(
            f"// {name} ({out.unit}): {fit.family}; draws 5/50/95% "
            f"{_num(d[0])} / {_num(d[1])} / {_num(d[2])}, fit {_num(f[0])} / {_num(f[1])} / "
            f"{_num(f[2])}; fit error {fit.error:.1%}"
        )
        if out.description:
            lines.append(f"// {out.description}")
        lines.append(f"{var} = {fit.expression}")
        sample = ", ".join(_num(x) for x in _values(out)[idx])
        lines.append(f"{var}_samples = SampleSet.fromList([{sample}])")
    return "\n".join(lines) + "\n"


def write_squiggle(path: str | Path, text: str) -> Path:
    """Write :func:`squiggle_text` output as ``squiggle.txt``."""
    path = Path(path)
    path.write_text(text, encoding="utf-8")
    return path


# ------------------------------------------------------------------------------------------------
# Metaculus


def _check_range(low: float, high: float, log_scale: bool) -> None:
    src = "<command line>"
    if not (math.isfinite(low) and math.isfinite(high)):
        raise InputError(Problem(src, "range bounds must be finite numbers", field="range"))
    if not low < high:
        raise InputError(
            Problem(src, f"lower bound {low:g} must be below upper bound {high:g}", field="range")
        )
    if log_scale and low <= 0:
        raise InputError(
            Problem(
                src, f"a log-scale range needs a positive lower bound, got {low:g}", field="range"
            )
        )


def metaculus_grid(low: float, high: float, log_scale: bool = False) -> np.ndarray:
    """The 201 points a Metaculus CDF is given at.

    Evenly spaced from ``low`` to ``high``, or geometrically spaced when ``log_scale`` (Metaculus'
    log scaling with its zero point at 0).
    """
    low, high = float(low), float(high)
    _check_range(low, high, log_scale)
    k = np.linspace(0.0, 1.0, METACULUS_POINTS)
    if log_scale:
        return low * (high / low) ** k
    return low + (high - low) * k


def metaculus_cdf(
    values,
    low: float,
    high: float,
    *,
    log_scale: bool = False,
    open_lower: bool = True,
    open_upper: bool = True,
) -> np.ndarray:
    """A 201-point CDF of the draws that satisfies Metaculus' rules, whatever the draws.

    Steps:

    1. Work on the question's scale (``log`` of the values when ``log_scale``; values <= 0 are then
       below the range), where the grid is evenly spaced with cell width ``h``.
    2. Smooth the empirical CDF with a Gaussian kernel whose width is Silverman's rule clipped to
       between 2.5 and 10 grid cells (at least 2.5 cells, so a point mass spreads over enough cells
       to respect the largest allowed step). Above 5000 draws, 5000 evenly spaced order statistics
       stand in for them.
    3. A closed bound cannot be passed: draws beyond it are moved onto it, and the CDF is rescaled
       to run from exactly 0 (closed lower) to exactly 1 (closed upper). An open bound keeps the
       mass beyond it, clipped so at least :data:`CDF_OPEN_TAIL` (0.2%) lies on each open side.
    4. Every step gets a floor, :data:`CDF_MIN_STEP` (2.5 times Metaculus' minimum), and the rest
       of the rise is shared in proportion to the smoothed steps. Next to a closed bound the floor
       of the outermost step is raised so that it still gives every cell
       :data:`CDF_MIN_STEP` when spread over the cells that Metaculus' Python client moves onto
       the bound (see :func:`_edge_cells`). Steps above :data:`CDF_MAX_STEP` are then capped and
       their excess handed to the other steps in proportion to their size.

    Parameters
    ----------
    values : array_like
        Draws (NaN not allowed; +-inf count as beyond the range).
    low, high : float
        The question's range.
    log_scale : bool
        Geometric grid; needs ``low > 0``.
    open_lower, open_upper : bool
        Whether the question's bounds are open.

    Returns
    -------
    numpy.ndarray
        201 CDF values at :func:`metaculus_grid` points. Strictly increasing with every step in
        [1.25e-4, 0.19] (Metaculus: [5e-5, 0.2]); ``cdf[0] >= 0.002`` when the lower bound is open
        (Metaculus: 0.001), else exactly 0; ``cdf[-1] <= 0.998`` when the upper bound is open
        (Metaculus: 0.999), else exactly 1.
    """
    low, high = float(low), float(high)
    _check_range(low, high, log_scale)
    v = np.asarray(values, dtype=float).ravel()
    if v.size == 0:
        raise InputError(Problem("<draws>", "no draws to build a CDF from"))
    if np.isnan(v).any():
        raise InputError(Problem("<draws>", "draws contain NaN"))

    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        if log_scale:
            t = np.where(v > 0, np.log(np.where(v > 0, v, 1.0)), -np.inf)
            t0, t1 = math.log(low), math.log(high)
        else:
            t, t0, t1 = v, low, high
    if not open_lower:
        t = np.maximum(t, t0)
    if not open_upper:
        t = np.minimum(t, t1)
    t = np.sort(t)
    n = t.size
    if n > _MAX_KERNEL_POINTS:
        t = t[((np.arange(_MAX_KERNEL_POINTS) + 0.5) * n / _MAX_KERNEL_POINTS).astype(int)]

    cells = METACULUS_POINTS - 1
    h = (t1 - t0) / cells
    grid = t0 + h * np.arange(METACULUS_POINTS)
    bw = _bandwidth(t, n, h)
    with np.errstate(over="ignore", invalid="ignore"):
        p = special.ndtr((grid[:, None] - t[None, :]) / bw).mean(axis=1)
    p = np.maximum.accumulate(np.clip(np.nan_to_num(p, nan=0.0), 0.0, 1.0))

    a = p[0] if not open_lower else 0.0
    b = p[-1] if not open_upper else 1.0
    q = (p - a) / (b - a) if b - a > 1e-12 else np.linspace(0.0, 1.0, METACULUS_POINTS)
    q = np.clip(q, 0.0, 1.0)

    floor = np.full(cells, CDF_MIN_STEP)
    lower_cells, upper_cells = _edge_cells(low, high, log_scale)
    if not open_lower:
        floor[0] = CDF_MIN_STEP * max(1.0, lower_cells)
    if not open_upper:
        floor[-1] = max(floor[-1], CDF_MIN_STEP * max(1.0, upper_cells))
    rise_min = float(floor.sum())
    top = 1.0 if not open_upper else 1.0 - CDF_OPEN_TAIL
    c0 = 0.0 if not open_lower else float(np.clip(q[0], CDF_OPEN_TAIL, top - rise_min))
    c1 = 1.0 if not open_upper else float(np.clip(q[-1], c0 + rise_min, top))
    rise = c1 - c0

    steps = np.clip(np.diff(q), 0.0, None)
    total = steps.sum()
    shape = steps / total if total > 0 else np.full(cells, 1.0 / cells)
    steps = floor + max(rise - rise_min, 0.0) * shape
    steps = _cap_steps(steps, CDF_MAX_STEP)

    cdf = np.empty(METACULUS_POINTS)
    cdf[0] = c0
    cdf[1:] = c0 + np.cumsum(steps)
    cdf[-1] = c1
    problems = metaculus_problems(cdf, open_lower=open_lower, open_upper=open_upper)
    if problems:  # pragma: no cover - the construction above rules this out
        raise AssertionError("Metaculus CDF construction failed: " + "; ".join(problems))
    return cdf


def _edge_cells(low: float, high: float, log_scale: bool) -> tuple[float, float]:
    """Grid cells next to the lower and upper bound that Metaculus' Python client collapses.

    With a closed bound, forecasting-tools (``NumericDistribution.get_cdf``, 0.3) moves every point
    within ``d`` of the bound onto ``bound +- d`` (``d`` = 1, or 1% of the range when the range is
    at most 100) and interpolates linearly from the bound: the outermost step of the CDF is then
    spread over that many cells. A linear question loses up to 2 cells; a log-scaled one with a
    small lower bound many more (30 for 1 to 100).
    """
    d = 1.0 if high - low > 100 else 0.01 * (high - low)
    scale = math.log if log_scale else float
    h = (scale(high) - scale(low)) / (METACULUS_POINTS - 1)
    return (scale(low + d) - scale(low)) / h, (scale(high) - scale(high - d)) / h


def _bandwidth(t: np.ndarray, n: int, h: float) -> float:
    """Silverman's rule on the finite draws, clipped to [2.5 h, 10 h]."""
    finite = t[np.isfinite(t)]
    bw = math.nan
    if finite.size >= 2:
        with np.errstate(over="ignore", invalid="ignore"):
            sd = float(np.std(finite))
            q25, q75 = np.quantile(finite, [0.25, 0.75], method="inverted_cdf")
            iqr = float(q75 - q25) / 1.349
        spread = min(s for s in (sd, iqr) if s > 0) if max(sd, iqr) > 0 else 0.0
        bw = 0.9 * spread * n ** (-0.2)
    if not math.isfinite(bw):
        bw = 0.0
    return float(np.clip(bw, 2.5 * h, 10.0 * h))


def _cap_steps(steps: np.ndarray, cap: float) -> np.ndarray:
    """Cap steps at ``cap``, handing the excess to uncapped steps in proportion to their size."""
    steps = steps.copy()
    capped = np.zeros(steps.size, dtype=bool)
    for _ in range(steps.size):
        over = steps > cap
        if not over.any():
            break
        excess = float((steps[over] - cap).sum())
        steps[over] = cap
        capped |= over
        free = ~capped
        steps[free] += excess * steps[free] / steps[free].sum()
    return steps


def metaculus_problems(cdf, *, open_lower: bool = True, open_upper: bool = True) -> list[str]:
    """Every way ``cdf`` breaks Metaculus' rules (an empty list when it is valid).

    Rules: 201 finite values; every step between neighbours at least 5e-5 and at most 0.2; an open
    lower bound needs ``cdf[0] >= 0.001``, a closed one ``cdf[0] == 0``; an open upper bound needs
    ``cdf[-1] <= 0.999``, a closed one ``cdf[-1] == 1``.
    """
    c = np.asarray(cdf, dtype=float)
    if c.shape != (METACULUS_POINTS,):
        return [f"needs {METACULUS_POINTS} values, got shape {c.shape}"]
    if not np.isfinite(c).all():
        return ["values must be finite"]
    out = []
    d = np.diff(c)
    if d.min() < METACULUS_MIN_STEP:
        out.append(f"smallest step {d.min():.3g} is below {METACULUS_MIN_STEP}")
    if d.max() > METACULUS_MAX_STEP:
        out.append(f"largest step {d.max():.3g} is above {METACULUS_MAX_STEP}")
    if open_lower and c[0] < METACULUS_OPEN_TAIL:
        out.append(f"open lower bound needs cdf[0] >= {METACULUS_OPEN_TAIL}, got {c[0]:.3g}")
    if not open_lower and c[0] != 0.0:
        out.append(f"closed lower bound needs cdf[0] == 0, got {c[0]:.3g}")
    if open_upper and c[-1] > 1.0 - METACULUS_OPEN_TAIL:
        out.append(f"open upper bound needs cdf[-1] <= {1 - METACULUS_OPEN_TAIL}, got {c[-1]:.6g}")
    if not open_upper and c[-1] != 1.0:
        out.append(f"closed upper bound needs cdf[-1] == 1, got {c[-1]:.6g}")
    return out


def write_metaculus_json(
    path: str | Path,
    name: str,
    cdf,
    low: float,
    high: float,
    log_scale: bool = False,
    open_lower: bool = True,
    open_upper: bool = True,
    note: str | None = None,
) -> Path:
    """Write a Metaculus CDF as JSON.

    The file holds ``name``, ``cdf`` (201 floats), ``lower_bound``, ``upper_bound``,
    ``open_lower_bound``, ``open_upper_bound``, ``log_scale`` and ``note``.

    Raises
    ------
    ValueError
        When ``cdf`` breaks Metaculus' rules (see :func:`metaculus_problems`).
    """
    problems = metaculus_problems(cdf, open_lower=open_lower, open_upper=open_upper)
    if problems:
        raise ValueError("not a valid Metaculus CDF: " + "; ".join(problems))
    if note is None:
        scale = "geometrically" if log_scale else "evenly"
        note = (
            f"CDF at {METACULUS_POINTS} points spaced {scale} from lower_bound to upper_bound, "
            "from posterior draws smoothed with a Gaussian kernel and adjusted by rdshare to "
            "Metaculus' step and tail rules."
        )
    doc = {
        "name": name,
        "cdf": [float(x) for x in np.asarray(cdf, dtype=float)],
        "lower_bound": float(low),
        "upper_bound": float(high),
        "open_lower_bound": bool(open_lower),
        "open_upper_bound": bool(open_upper),
        "log_scale": bool(log_scale),
        "note": note,
    }
    path = Path(path)
    path.write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
    return path
