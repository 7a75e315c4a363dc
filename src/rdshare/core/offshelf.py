"""Off the shelf: self-hosting an open-weight model against a hosted closed API, for one user's volume.

The seed essay claims that using open models off the shelf, with little iteration, is almost always
more expensive than closed, hosted ones, because hosted providers enjoy economies of scale. This module
puts a number on that claim for a user with a given monthly token volume and amount of fine-tuning,
from cited public prices kept in CSV files with their sources and dates (``src/rdshare/data/prices/``,
validated like the evidence table: every problem names the file, line and column).

Three ways to serve the same monthly traffic (all in US dollars a month):

closed API
    ``T_in p_in + T_out p_out + T_train p_train``: the closed model's list prices per million input,
    output and training tokens (a model of the chosen tier, drawn at random from the price file's models
    of that tier, one per draw, so the spread of prices across comparable models is in the answer).
open, hosted by a provider
    The same formula with a provider's prices for the open-weight model (drawn among the file's
    providers), and its managed fine-tuning price.
self-hosted open
    ``max(W / (3600 t e), R H) g + T_train p_ft_open + overhead``: the GPU-hours the work needs
    (``W = T_out + T_in / k`` output-token equivalents, ``k`` how much faster prompts are read than
    tokens written; ``t`` the published saturation throughput per GPU and ``e`` the share of it real
    traffic achieves), but never less than one replica of ``R`` GPUs kept up all month (``H`` = 730
    hours); ``g`` the GPU-hour price; fine-tuning at a provider's managed price; and the engineering
    and operations a self-hosted endpoint needs.

The inputs are uncertain (:mod:`rdshare.core.uncertain`: a number or a "LOW to HIGH" 90% interval).
Prices and throughput default to the price files: the range of the listed values for the chosen GPU,
kind of rental and model. The efficiency, the prefill speed-up and the overhead are judgements, said so
in :data:`INPUTS` and docs/scenarios.md.

:func:`evaluate` gives each option's monthly cost per draw, the probability that each open option is
cheaper than the closed API, and the break-even monthly volume (output tokens; the input-to-output
ratio kept as given) at which self-hosting starts to pay.
"""

from __future__ import annotations

import csv
import io
import math
import re
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import numpy as np

from rdshare.core.savings import Output
from rdshare.core.uncertain import Uncertain, parse_uncertain
from rdshare.errors import InputError, Problem, read_input

#: Hours in an average month (365.25 x 24 / 12).
HOURS_PER_MONTH = 365.25 * 24 / 12
#: Largest price file read.
MAX_BYTES = 2 * 1024 * 1024
CMDLINE = "<command line>"

# ------------------------------------------------------------------------------------------------
# price files


@dataclass(frozen=True)
class Column:
    """One column of a price file: its name, kind and meaning."""

    name: str
    kind: str  # text, positive, int, date, access
    meaning: str
    required: bool = True


_COMMON = (
    Column("as_of", "date", "when the price or figure held: YYYY, YYYY-MM or YYYY-MM-DD"),
    Column("source", "text", "where it was published"),
    Column("verified", "verified", "verified (seen in a stored copy) or secondary"),
    Column("note", "text", "a short note", required=False),
)

#: The price files, their columns, and what one row is.
TABLES: dict[str, tuple[Column, ...]] = {
    "api_prices": (
        Column("provider", "text", "who sells access"),
        Column("model", "text", "the model"),
        Column("access", "access", "closed (a closed model's API) or open (hosted open weights)"),
        Column("tier", "text", "closed: frontier, mid or small; open: the open model's id"),
        Column("input_usd_per_mtok", "positive", "US dollars per million input tokens"),
        Column("output_usd_per_mtok", "positive", "US dollars per million output tokens"),
        *_COMMON,
    ),
    "gpu_prices": (
        Column("gpu", "text", "accelerator, e.g. H100"),
        Column("kind", "text", "on_demand, reserved or spot"),
        Column("usd_per_gpu_hour", "positive", "US dollars per GPU-hour"),
        *_COMMON,
    ),
    "throughput": (
        Column("model", "text", "the open model's id, e.g. llama-3.3-70b"),
        Column("gpu", "text", "accelerator"),
        Column("gpus_per_replica", "int", "GPUs one serving replica needs"),
        Column("output_tokens_per_s_per_gpu", "positive", "output tokens a second per GPU"),
        Column("engine", "text", "serving engine"),
        Column("conditions", "text", "benchmark conditions"),
        *_COMMON,
    ),
    "finetune_prices": (
        Column("provider", "text", "who fine-tunes"),
        Column("model", "text", "the model or size class"),
        Column("access", "access", "closed or open"),
        Column("usd_per_mtok_training", "positive", "US dollars per million training tokens"),
        *_COMMON,
    ),
}

_DATE = re.compile(r"^\d{4}(-\d{2}(-\d{2})?)?$")


@dataclass(frozen=True)
class PriceTables:
    """The four price tables, each a list of validated rows (dicts), with the files they came from."""

    api: list[dict]
    gpu: list[dict]
    throughput: list[dict]
    finetune: list[dict]
    files: dict[str, str] = field(default_factory=dict)


def shipped_prices_dir() -> Path:
    """Folder of the price files shipped inside the package."""
    return Path(str(resources.files("rdshare") / "data" / "prices"))


def read_table(path: Path, name: str, problems: list[Problem]) -> list[dict]:
    """Rows of one price file, every problem (file, line, column) appended to ``problems``."""
    columns = TABLES[name]
    src = str(path)
    try:
        raw = read_input(path, MAX_BYTES, "CSV file")
    except InputError as exc:
        problems += exc.problems
        return []
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        problems.append(Problem(src, "is not UTF-8 text"))
        return []
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader)
    except (StopIteration, csv.Error):
        problems.append(Problem(src, "is empty: it needs a header line and rows", line=1))
        return []
    header = [h.strip() for h in header]
    known = {c.name for c in columns}
    for c in columns:
        if c.required and c.name not in header:
            problems.append(Problem(src, f"has no column '{c.name}' ({c.meaning})", line=1))
    for h in header:
        if h not in known:
            allowed = ", ".join(c.name for c in columns)
            problems.append(Problem(src, f"unknown column '{h}' (allowed: {allowed})", line=1))
    rows = []
    by_name = {c.name: c for c in columns}
    try:
        for cells in reader:
            line = reader.line_num
            if not cells or all(not c.strip() for c in cells):
                continue
            if len(cells) != len(header):
                problems.append(
                    Problem(src, f"has {len(cells)} cells; the header has {len(header)}", line=line)
                )
                continue
            row, ok = {"_file": src, "_line": line}, True
            for h, cell in zip(header, cells, strict=True):
                col = by_name.get(h)
                if col is None:
                    continue
                value, message = _cell(col, cell.strip())
                if message:
                    problems.append(Problem(src, message, line=line, field=h))
                    ok = False
                row[h] = value
            if ok:
                rows.append(row)
    except csv.Error as exc:
        problems.append(Problem(src, f"is not valid CSV: {exc}", line=reader.line_num))
    if not rows and not any(p.file == src for p in problems):
        problems.append(Problem(src, "has no rows"))
    return rows


def _cell(col: Column, cell: str) -> tuple[object, str | None]:
    if not cell:
        return ("", None) if not col.required else (None, "is empty")
    if col.kind == "text":
        return cell, None
    if col.kind == "date":
        return (
            (cell, None)
            if _DATE.match(cell)
            else (None, f"{cell!r} is not YYYY, YYYY-MM or YYYY-MM-DD")
        )
    if col.kind == "verified":
        ok = cell in ("verified", "secondary")
        return (cell, None) if ok else (None, f"{cell!r} must be verified or secondary")
    if col.kind == "access":
        ok = cell in ("closed", "open")
        return (cell, None) if ok else (None, f"{cell!r} must be closed or open")
    try:
        value = float(cell)
    except ValueError:
        return None, f"{cell!r} is not a number"
    if not math.isfinite(value) or value <= 0:
        return None, f"{cell!r} must be a positive number"
    if col.kind == "int":
        if value != round(value):
            return None, f"{cell!r} must be a whole number"
        return int(value), None
    return value, None


def load_prices(folder: str | Path | None = None) -> PriceTables:
    """The price tables in ``folder`` (default: the shipped ones): ``api_prices.csv``,
    ``gpu_prices.csv``, ``throughput.csv`` and ``finetune_prices.csv``.

    Raises
    ------
    InputError
        Every problem in every file, each naming the file, line and column.
    """
    folder = shipped_prices_dir() if folder is None else Path(folder)
    problems: list[Problem] = []
    tables = {name: read_table(folder / f"{name}.csv", name, problems) for name in TABLES}
    if problems:
        raise InputError(problems)
    return PriceTables(
        api=tables["api_prices"],
        gpu=tables["gpu_prices"],
        throughput=tables["throughput"],
        finetune=tables["finetune_prices"],
        files={name: str(folder / f"{name}.csv") for name in TABLES},
    )


# ------------------------------------------------------------------------------------------------
# the question


@dataclass(frozen=True)
class InputSpec:
    """One input: its kind, default (None: from the price files) and meaning."""

    kind: str
    default: object
    help: str


#: The inputs, with defaults. Those defaulting to None take the price files' range (see
#: :func:`build_question`).
INPUTS: dict[str, InputSpec] = {
    "tokens_out": InputSpec("amount", None, "million output tokens a month (required)"),
    "tokens_in": InputSpec("amount", None, "million input tokens a month (default: 3x output)"),
    "train_tokens": InputSpec("nonneg", 0.0, "million fine-tuning tokens a month (0: none)"),
    "gpu_price": InputSpec("amount", None, "US dollars per GPU-hour (default: the file's range)"),
    "throughput": InputSpec(
        "amount", None, "output tokens a second per GPU at saturation (default: the file's range)"
    ),
    "efficiency": InputSpec(
        "share",
        "0.3 to 0.8",
        "share of the saturation throughput real traffic achieves (judgement)",
    ),
    "prefill_speedup": InputSpec(
        "amount",
        "3 to 8",
        "how many times faster input tokens are read than output tokens are written",
    ),
    "overhead": InputSpec(
        "nonneg", "500 to 2000", "US dollars a month of engineering and operations (judgement)"
    ),
}
#: The default input-to-output token ratio when ``tokens_in`` is not given.
DEFAULT_IN_PER_OUT = 3.0


@dataclass(frozen=True)
class Question:
    """A validated off-the-shelf question: the inputs, the open model, the closed tier, the GPU."""

    inputs: dict[str, Uncertain]
    open_model: str
    closed_tier: str
    gpu: str
    gpu_kind: str
    gpus_per_replica: int
    closed: list[dict]
    hosted: list[dict]
    finetune_closed: list[dict]
    finetune_open: list[dict]
    notes: list[str]

    def describe(self) -> dict[str, str]:
        return {k: u.describe() for k, u in self.inputs.items()}


def _range_text(values: list[float]) -> object:
    lo, hi = min(values), max(values)
    return lo if lo == hi else f"{lo:g} to {hi:g}"


def build_question(
    prices: PriceTables,
    *,
    open_model: str = "llama-3.3-70b",
    closed_tier: str = "mid",
    gpu: str = "H100",
    gpu_kind: str = "on_demand",
    **given: object,
) -> Question:
    """Check the inputs against the price tables and fill the defaults.

    ``given`` holds :data:`INPUTS` keys (``None``: the default). ``gpu_price`` defaults to the range of
    the file's prices for ``gpu`` and ``gpu_kind``, read as a 90% interval; ``throughput`` to the range
    of the file's figures for ``open_model`` on ``gpu`` (and its replica size to their most common one);
    ``tokens_in`` to :data:`DEFAULT_IN_PER_OUT` times ``tokens_out``.

    Raises
    ------
    InputError
        Every problem, each naming the option (``--tokens-out``).
    """
    problems: list[Problem] = []
    notes: list[str] = []

    def bad(message: str, option: str) -> None:
        problems.append(Problem(CMDLINE, message, field=option))

    unknown = [k for k in given if k not in INPUTS]
    if unknown:
        raise TypeError(f"unknown inputs: {', '.join(unknown)}")
    closed = [r for r in prices.api if r["access"] == "closed" and r["tier"] == closed_tier]
    hosted = [r for r in prices.api if r["access"] == "open" and r["tier"] == open_model]
    gpus = [r for r in prices.gpu if r["gpu"] == gpu and r["kind"] == gpu_kind]
    runs = [r for r in prices.throughput if r["model"] == open_model and r["gpu"] == gpu]
    if not closed:
        tiers = sorted({r["tier"] for r in prices.api if r["access"] == "closed"})
        bad(
            f"no closed API of tier {closed_tier!r} in the price file (tiers: {', '.join(tiers)})",
            "--closed",
        )
    if not runs:
        models = sorted({r["model"] for r in prices.throughput})
        bad(
            f"no throughput figures for {open_model!r} on {gpu} (models: {', '.join(models)})",
            "--open",
        )
    if not gpus and given.get("gpu_price") is None:
        kinds = sorted({f"{r['gpu']} {r['kind']}" for r in prices.gpu})
        bad(
            f"no {gpu} {gpu_kind} prices in the price file (have: {', '.join(kinds)})", "--gpu-kind"
        )
    values = {k: v for k, v in given.items() if v is not None}
    if "gpu_price" not in values and gpus:
        values["gpu_price"] = _range_text([r["usd_per_gpu_hour"] for r in gpus])
        notes.append(f"gpu_price: the range of {len(gpus)} listed {gpu} {gpu_kind} prices")
    if "throughput" not in values and runs:
        values["throughput"] = _range_text([r["output_tokens_per_s_per_gpu"] for r in runs])
        notes.append(f"throughput: the range of {len(runs)} published {open_model} benchmarks")
    inputs: dict[str, Uncertain] = {}
    for key, spec in INPUTS.items():
        value = values.get(key, spec.default)
        if value is None:
            if key == "tokens_out":
                bad("is required: million output tokens a month, or a range", "--tokens-out")
            continue
        # a non-negative amount reads like months: a number >= 0, or a range read as a uniform
        kind = "months" if spec.kind == "nonneg" else spec.kind
        try:
            inputs[key] = parse_uncertain(value, kind, source=CMDLINE, field=option_name(key))
        except InputError as exc:
            problems += exc.problems
    if problems:
        raise InputError(problems)
    replicas = [r["gpus_per_replica"] for r in runs]
    return Question(
        inputs=inputs,
        open_model=open_model,
        closed_tier=closed_tier,
        gpu=gpu,
        gpu_kind=gpu_kind,
        gpus_per_replica=max(set(replicas), key=replicas.count),
        closed=closed,
        hosted=hosted,
        finetune_closed=[r for r in prices.finetune if r["access"] == "closed"],
        finetune_open=[r for r in prices.finetune if r["access"] == "open"],
        notes=notes,
    )


def option_name(key: str) -> str:
    return "--" + key.replace("_", "-")


# ------------------------------------------------------------------------------------------------
# evaluation


#: Outputs of :func:`evaluate`, in order.
OUTPUT_NAMES = (
    "cost_closed_api",
    "cost_open_hosted",
    "cost_self_hosted",
    "self_hosted_gpu_hours",
    "break_even_tokens_out",
)


def _pick(rows: list[dict], key: str, n: int, rng: np.random.Generator) -> np.ndarray:
    """One row's ``key`` per draw, the rows drawn with equal probability."""
    values = np.array([r[key] for r in rows], dtype=float)
    return values[rng.integers(0, len(values), size=n)]


@dataclass(frozen=True)
class Answer:
    """Monthly costs per draw, and the summary probabilities."""

    outputs: dict[str, Output]
    p_self_hosted_cheaper: float
    p_hosted_cheaper: float
    p_never_breaks_even: float


def evaluate(question: Question, n: int, rng: np.random.Generator) -> Answer:
    """Each option's monthly cost, ``n`` draws of the inputs and of the listed prices.

    ``break_even_tokens_out`` is, per draw, the monthly output-token volume (millions; the input
    tokens in the same proportion, the fine-tuning as given) at which self-hosting costs what the
    closed API does: infinite when self-hosting costs more per token than the API (it never pays).
    """
    s = {k: u.sample(n, rng) for k, u in question.inputs.items()}
    t_out = s["tokens_out"]
    t_in = s["tokens_in"] if "tokens_in" in s else DEFAULT_IN_PER_OUT * t_out
    train = s["train_tokens"]
    # one closed model per draw, the same for its input and output prices
    idx = rng.integers(0, len(question.closed), size=n)
    p_in = np.array([r["input_usd_per_mtok"] for r in question.closed])[idx]
    p_out = np.array([r["output_usd_per_mtok"] for r in question.closed])[idx]
    ft_closed = (
        _pick(question.finetune_closed, "usd_per_mtok_training", n, rng)
        if question.finetune_closed
        else np.full(n, np.nan)
    )
    ft_open = (
        _pick(question.finetune_open, "usd_per_mtok_training", n, rng)
        if question.finetune_open
        else np.full(n, np.nan)
    )
    train_closed = np.where(train > 0, train * ft_closed, 0.0)
    train_open = np.where(train > 0, train * ft_open, 0.0)
    closed = t_in * p_in + t_out * p_out + train_closed
    if question.hosted:
        jdx = rng.integers(0, len(question.hosted), size=n)
        h_in = np.array([r["input_usd_per_mtok"] for r in question.hosted])[jdx]
        h_out = np.array([r["output_usd_per_mtok"] for r in question.hosted])[jdx]
        hosted = t_in * h_in + t_out * h_out + train_open
    else:
        hosted = np.full(n, np.nan)
    # self-hosting: GPU-hours for the work, at least one replica kept up all month
    rate = s["throughput"] * s["efficiency"] * 3600.0 / 1e6  # million output tokens per GPU-hour
    ratio = t_in / t_out
    work = t_out * (1.0 + ratio / s["prefill_speedup"])  # million output-token equivalents
    floor = question.gpus_per_replica * HOURS_PER_MONTH
    gpu_hours = np.maximum(work / rate, floor)
    fixed = floor * s["gpu_price"] + s["overhead"] + train_open
    self_hosted = gpu_hours * s["gpu_price"] + s["overhead"] + train_open
    # break-even: API cost per million output tokens (inputs in proportion) a; self-hosting is the
    # fixed cost up to the floor, then price per million output tokens b
    a = p_in * ratio + p_out
    b = s["gpu_price"] * (1.0 + ratio / s["prefill_speedup"]) / rate
    fixed_api = train_closed
    v_floor = floor * rate / (1.0 + ratio / s["prefill_speedup"])  # volume that fills the floor
    v1 = (fixed - fixed_api) / a  # if it breaks even on the floor
    extra = fixed_api - (s["overhead"] + train_open)
    with np.errstate(divide="ignore", invalid="ignore"):
        v2 = np.where(a > b, -extra / (a - b), np.inf)
    v2 = np.where((a > b) & (v2 < 0), 0.0, v2)
    break_even = np.where(v1 <= v_floor, np.maximum(v1, 0.0), v2)
    usd = "USD a month"
    outputs = {
        "cost_closed_api": Output(
            closed, usd, f"closed API ({question.closed_tier} tier): T_in p_in + T_out p_out"
        ),
        "cost_open_hosted": Output(
            hosted, usd, f"{question.open_model} hosted by a provider, at its list prices"
        ),
        "cost_self_hosted": Output(
            self_hosted,
            usd,
            f"{question.open_model} self-hosted on {question.gpu} ({question.gpu_kind}): GPU-hours "
            "x price + overhead",
        ),
        "self_hosted_gpu_hours": Output(
            gpu_hours, "GPU-hours a month", "GPU-hours self-hosting needs"
        ),
        "break_even_tokens_out": Output(
            break_even,
            "million output tokens a month",
            "volume at which self-hosting costs what the closed API does (inf: never)",
        ),
    }
    return Answer(
        outputs=outputs,
        p_self_hosted_cheaper=float(np.mean(self_hosted < closed)),
        p_hosted_cheaper=float(np.nanmean(hosted < closed)) if question.hosted else math.nan,
        p_never_breaks_even=float(np.mean(~np.isfinite(break_even))),
    )


def cost_curves(question: Question, volumes: np.ndarray, n: int, rng: np.random.Generator):
    """Monthly cost of each option at each output-token volume (the input tokens in the given
    proportion): ``{option: array (n, len(volumes))}``, the same draws of prices at every volume."""
    volumes = np.asarray(volumes, dtype=float)
    s = {k: u.sample(n, rng) for k, u in question.inputs.items()}
    ratio = (
        (s["tokens_in"] / s["tokens_out"]) if "tokens_in" in s else np.full(n, DEFAULT_IN_PER_OUT)
    )
    idx = rng.integers(0, len(question.closed), size=n)
    p_in = np.array([r["input_usd_per_mtok"] for r in question.closed])[idx]
    p_out = np.array([r["output_usd_per_mtok"] for r in question.closed])[idx]
    v = volumes[None, :]
    out = {"closed API": (p_in * ratio + p_out)[:, None] * v}
    if question.hosted:
        jdx = rng.integers(0, len(question.hosted), size=n)
        h_in = np.array([r["input_usd_per_mtok"] for r in question.hosted])[jdx]
        h_out = np.array([r["output_usd_per_mtok"] for r in question.hosted])[jdx]
        out["open, hosted"] = (h_in * ratio + h_out)[:, None] * v
    rate = s["throughput"] * s["efficiency"] * 3600.0 / 1e6
    work = v * (1.0 + ratio / s["prefill_speedup"])[:, None]
    floor = question.gpus_per_replica * HOURS_PER_MONTH
    gpu_hours = np.maximum(work / rate[:, None], floor)
    out["open, self-hosted"] = gpu_hours * s["gpu_price"][:, None] + s["overhead"][:, None]
    return out
