"""The evidence dataset: its schema, loading, validation and the share each row implies.

Each row is one piece of public evidence about one lab's model-development programme. The schema is
declared once here (:data:`COLUMNS`) and documented in ``docs/data.md``. Loading collects every problem in
every file before raising one :class:`~rdshare.errors.InputError`, each problem naming the file, line and
column.

Evidence kinds (what each needs, how it relates and enters the likelihood) are registered in
:mod:`rdshare.core.kinds`; validation reads that registry, so a new kind needs no change here.
"""

from __future__ import annotations

import csv
import hashlib
import io
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd

from rdshare.core.kinds import (
    DEFAULT_AMOUNT_SD,
    DEFAULT_INTERVAL_PROB,
    KINDS,
    NUMERIC,
    POSITIONS,
    PROVENANCES,
    SCOPES,
    TARGETS,
    UNITS,
    VALUE_FIELDS,
    logit,
)
from rdshare.errors import InputError, Problem, read_input

__all__ = [
    "COLUMNS",
    "KIND_FIELDS",
    "NUMERIC",
    "POSITIONS",
    "PROVENANCES",
    "SCOPES",
    "UNITS",
    "Dataset",
    "coerce",
    "implied_share",
    "load",
    "logit",
    "read",
    "shipped_path",
]

YEAR_RANGE = (2010, 2040)
MAX_ROWS = 10_000
MAX_BYTES = 20 * 1024 * 1024

#: column -> description; the order is the canonical column order.
COLUMNS: dict[str, str] = {
    "id": "stable unique slug: lowercase letters, digits and hyphens",
    "lab": "organisation; rows of one lab share one spelling (it groups the lab effect)",
    "model": "model or period the evidence is about",
    "year": f"year the development happened, an integer in {YEAR_RANGE[0]}..{YEAR_RANGE[1]}",
    "position": "leader (frontier lab) or follower (builds on peers' openly published work)",
    "scope": "full (whole pipeline incl. post-training), pretraining or posttraining",
    "unit": "unit the share was measured in: " + ", ".join(UNITS),
    "kind": "evidence kind: " + ", ".join(KINDS),
    "value": "the reported value: a share f in (0, 1), a contrast ratio > 0 or a discount d < 1, "
    "as the kind's target says",
    "low": "interval lower end, or the bound of a lower-bound kind (same scale as value)",
    "high": "interval upper end (same scale as value)",
    "interval_prob": f"probability the interval carries, in (0, 1); default {DEFAULT_INTERVAL_PROB}",
    "final_amount": "final-run amount, > 0 (pair)",
    "total_amount": "total development amount, same unit, > final_amount (pair)",
    "amount_sd": f"log-scale sd of each amount's error, > 0 (pair); default {DEFAULT_AMOUNT_SD}",
    "provenance": "lab, third_party or derived",
    "programme": "slug of the development programme the row is about (default: its own id); "
    "rows of one programme share a programme effect and belong to one lab",
    "estimator": "slug of the method or study that produced the figure (default: its own id); rows "
    "of one estimator share an error term",
    "versus": "contrast rows: the id of the row whose programme the ratio is taken against",
    "component": "discount lower bounds: the component of R&D the figure is about (empty: whole)",
    "source": "where the figure was published (required)",
    "note": "short note in our own words",
    "exclude": "empty to fit the row; otherwise the reason it is shown but not fitted",
}
#: Text columns a file may leave out of its header.
OPTIONAL_TEXT = ("programme", "estimator", "versus", "component", "note", "exclude")
REQUIRED_TEXT = ("id", "lab", "model", "year", "position", "scope", "unit", "kind", "provenance")

#: kind -> (numeric columns required, numeric columns allowed): a view of the kinds registry.
KIND_FIELDS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    name: (k.required, k.allowed) for name, k in KINDS.items()
}

_ID_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,63}$")
#: The reason recorded for rows excluded on the command line (or the Python API's ``exclude``).
EXCLUDED_BY_OPTION = "excluded for this run (--exclude)"


def shipped_path() -> Path:
    """Path of the dataset shipped inside the package."""
    return Path(str(resources.files("rdshare") / "data" / "disclosures.csv"))


@dataclass(frozen=True)
class Dataset:
    """A validated evidence table.

    Attributes
    ----------
    table : pandas.DataFrame
        One row per piece of evidence, canonical columns, numeric columns as floats (NaN where empty),
        plus ``source_file`` and ``source_line``.
    files : tuple of Path
        The files it was read from, in order.
    sha256 : str
        Hash of the files' bytes, in order; stamped into every run.
    """

    table: pd.DataFrame
    files: tuple[Path, ...]
    sha256: str

    def excluding(self, ids: Sequence[str], reason: str = EXCLUDED_BY_OPTION) -> Dataset:
        """A copy with the rows ``ids`` excluded from the fit (their reason set to ``reason``).

        Raises :class:`InputError` naming the option for an id no row has.
        """
        ids = list(dict.fromkeys(ids))
        if not ids:
            return self
        unknown = [i for i in ids if i not in set(self.table["id"])]
        if unknown:
            raise InputError(
                Problem(
                    "<command line>",
                    f"no row has the id {', '.join(map(repr, unknown))} (see rdshare data show)",
                    field="--exclude",
                )
            )
        table = self.table.copy()
        hit = table["id"].isin(ids) & (table["exclude"] == "")
        table.loc[hit, "exclude"] = reason
        return Dataset(table=table, files=self.files, sha256=self.sha256)

    @property
    def fitted(self) -> pd.DataFrame:
        """The rows the model fits (those with an empty ``exclude``)."""
        return self.table[self.table["exclude"] == ""].reset_index(drop=True)

    def __len__(self) -> int:
        return len(self.table)


def load(
    extra: list[str | Path] | tuple[str | Path, ...] = (),
    *,
    replace: bool = False,
    exclude: Sequence[str] = (),
) -> Dataset:
    """Load the shipped dataset, plus or instead of the user's files.

    Parameters
    ----------
    extra : list of path
        User CSV files with the same columns.
    replace : bool
        If True, use only ``extra`` and not the shipped rows.
    exclude : sequence of str
        Row ids to show but not fit (``--exclude``), for example the rows a prior rests on.

    Raises
    ------
    InputError
        With every problem found in every file.
    """
    paths = [Path(p) for p in extra]
    if replace and not paths:
        raise InputError(
            Problem("<command line>", "needs at least one --data file", field="--replace-data")
        )
    if not replace:
        paths = [shipped_path(), *paths]
    return read(paths, exclude=exclude)


def coerce(data=None, *, replace: bool = False, exclude: Sequence[str] = ()) -> Dataset:
    """A :class:`Dataset` from what the Python API accepts: a Dataset (rows in ``exclude`` then
    excluded), None (the shipped rows), or a path or list of paths (added to the shipped rows, or
    instead of them with ``replace``)."""
    if isinstance(data, Dataset):
        return data.excluding(exclude)
    extra = [] if data is None else [data] if isinstance(data, str | Path) else list(data)
    return load(extra, replace=replace, exclude=exclude)


def read(paths: list[Path] | tuple[Path, ...], *, exclude: Sequence[str] = ()) -> Dataset:
    """Read and validate exactly these CSV files (rows concatenated in order); rows whose id is in
    ``exclude`` are kept but not fitted."""
    paths = [Path(p) for p in paths]
    if not paths:
        raise InputError(Problem("<command line>", "no data file given", field="--data"))
    problems: list[Problem] = []
    frames: list[pd.DataFrame] = []
    digest = hashlib.sha256()
    keys: list[
        tuple[str, str, str, int]
    ] = []  # (id, lab, file, line) of every record, valid or not
    for path in paths:
        frame, raw = _read_one(path, problems, keys)
        if raw is not None:
            digest.update(raw)
        if frame is not None:
            frames.append(frame)
    # Across rows and files, on every record (a row with another problem still claims its id).
    _check_ids(keys, problems)
    _check_lab_spelling(keys, problems)
    table = pd.concat(frames, ignore_index=True) if frames else _empty_table()
    if not problems:
        _check_references(table, problems)
    if problems:
        raise InputError(problems)
    ds = Dataset(table=table, files=tuple(paths), sha256=digest.hexdigest()).excluding(exclude)
    if ds.table["exclude"].eq("").sum() == 0:
        raise InputError(Problem(str(paths[-1]), "no row is left to fit (every row is excluded)"))
    return ds


def _empty_table() -> pd.DataFrame:
    return pd.DataFrame(
        {c: pd.Series(dtype=object) for c in [*COLUMNS, "source_file", "source_line"]}
    )


def _read_one(
    path: Path, problems: list[Problem], keys: list[tuple[str, str, str, int]]
) -> tuple[pd.DataFrame | None, bytes | None]:
    name = str(path)
    try:
        raw = read_input(path, MAX_BYTES, "CSV file")
    except InputError as exc:
        problems.extend(exc.problems)
        return None, None
    if raw[:2] in (b"\xff\xfe", b"\xfe\xff"):
        problems.append(Problem(name, "is UTF-16 text; save it as UTF-8 (e.g. 'CSV UTF-8')"))
        return None, raw
    if b"\x00" in raw:
        problems.append(Problem(name, "contains NUL bytes: not a text CSV file"))
        return None, raw
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        problems.append(Problem(name, "is not UTF-8 text (save it as UTF-8)", line=line))
        return None, raw
    if not text.strip():
        problems.append(Problem(name, "is empty; expected a header row: " + ",".join(COLUMNS)))
        return None, raw

    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        rows = list(reader)
    except csv.Error as exc:
        problems.append(Problem(name, f"is not valid CSV ({exc})", line=reader.line_num))
        return None, raw
    if not rows[0] or all(not h.strip() for h in rows[0]):
        problems.append(
            Problem(name, "the first line must be the header row: " + ",".join(COLUMNS), line=1)
        )
        return None, raw
    header = [h.strip() for h in rows[0]]
    if len(header) == 1 and any(sep in header[0] for sep in (";", "\t", "|")):
        problems.append(
            Problem(name, "the header has one column: the file must be comma-separated", line=1)
        )
        return None, raw
    missing = [c for c in COLUMNS if c not in header and c not in (*NUMERIC, *OPTIONAL_TEXT)]
    unknown = [h for h in header if h not in COLUMNS]
    dup_cols = sorted({h for h in header if header.count(h) > 1})
    for col in missing:
        problems.append(Problem(name, "required column is missing", line=1, field=col))
    for col in unknown:
        problems.append(
            Problem(name, "unknown column (allowed: " + ", ".join(COLUMNS) + ")", line=1, field=col)
        )
    for col in dup_cols:
        problems.append(Problem(name, "column appears more than once", line=1, field=col))
    if missing or unknown or dup_cols:
        return None, raw

    # physical line numbers: csv.reader tracks them, but we re-read to map record -> line.
    records: list[tuple[int, dict[str, str]]] = []
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    next(reader)
    start = reader.line_num + 1
    for cells in reader:
        line = start
        start = reader.line_num + 1
        if not cells or all(not c.strip() for c in cells):
            continue
        if cells[0].lstrip().startswith("#"):
            continue
        if len(cells) != len(header):
            problems.append(
                Problem(name, f"has {len(cells)} cells; the header has {len(header)}", line=line)
            )
            continue
        records.append((line, {h: c.strip() for h, c in zip(header, cells, strict=True)}))
    if len(records) > MAX_ROWS:
        problems.append(Problem(name, f"has {len(records)} rows; the limit is {MAX_ROWS}"))
        return None, raw
    if not records:
        problems.append(Problem(name, "has a header but no data rows"))
        return None, raw

    out = []
    for line, rec in records:
        keys.append((rec.get("id", ""), rec.get("lab", ""), name, line))
        row = _validate_row(name, line, rec, problems)
        if row is not None:
            row["source_file"] = name
            row["source_line"] = line
            out.append(row)
    frame = pd.DataFrame(out, columns=[*COLUMNS, "source_file", "source_line"])
    for col in NUMERIC:
        frame[col] = frame[col].astype(float)
    frame["year"] = frame["year"].astype(int)
    return frame, raw


def _validate_row(
    file: str, line: int, rec: dict[str, str], problems: list[Problem]
) -> dict | None:
    """Check one record; append every problem found (not only the first) and return the row or None."""
    n_before = len(problems)

    def bad(field: str, message: str) -> None:
        problems.append(Problem(file, message, line=line, field=field))

    row: dict[str, object] = {c: rec.get(c, "") for c in COLUMNS}
    for col in REQUIRED_TEXT:
        if not row[col]:
            bad(col, "is empty; " + COLUMNS[col])
    if not row.get("source"):
        bad("source", "is empty: every row needs the locator of where its figure was published")
    if row["id"] and not _ID_RE.fullmatch(str(row["id"])):
        bad("id", f"{row['id']!r} is not a slug (lowercase letters, digits, hyphens; at most 64)")
    for col, allowed in (
        ("position", POSITIONS),
        ("scope", SCOPES),
        ("unit", UNITS),
        ("kind", KINDS),
        ("provenance", PROVENANCES),
    ):
        if row[col] and row[col] not in allowed:
            bad(col, f"{row[col]!r} is not one of: " + ", ".join(allowed))
    if row["year"]:
        text = str(row["year"])
        if not (text.isascii() and text.isdigit()):
            bad("year", f"{text!r} is not a whole year")
        else:
            year = int(text)
            if not YEAR_RANGE[0] <= year <= YEAR_RANGE[1]:
                bad("year", f"{year} is outside {YEAR_RANGE[0]}..{YEAR_RANGE[1]}")
            row["year"] = year

    # Each number on its own: parsed, finite, in its range (the value fields' range is the kind's
    # target's: a share, a ratio or a discount). `good` holds those that passed.
    kind = KINDS.get(str(row["kind"]))
    target = TARGETS[kind.target] if kind is not None else TARGETS["f"]
    nums: dict[str, float] = {col: math.nan for col in NUMERIC}
    good: set[str] = set()
    for col in NUMERIC:
        text = str(row[col])
        if text == "":
            continue
        val = _parse_number(text)
        if val is None:
            hint = ""
            if _parse_number(text.replace(",", ".")) is not None:
                hint = f" (use a dot as the decimal mark: {text.replace(',', '.')})"
            bad(col, f"{text!r} is not a number{hint}")
            continue
        if not math.isfinite(val):
            bad(col, f"{text!r} is not a finite number")
            continue
        nums[col] = val
        if col in VALUE_FIELDS and not target.allows(val):
            bad(col, f"{val:g} is not {target.scale_words}")
        elif col == "interval_prob" and not 0.0 < val < 1.0:
            bad(col, f"{val:g} is not a probability in (0, 1)")
        elif col in ("final_amount", "total_amount", "amount_sd") and val <= 0:
            bad(col, f"{val:g} must be > 0")
        else:
            good.add(col)

    for col in ("programme", "estimator", "versus"):
        if row[col] and not _ID_RE.fullmatch(str(row[col])):
            bad(col, f"{row[col]!r} is not a slug (lowercase letters, digits, hyphens; at most 64)")
    # What the kind needs, allows, and how its numbers relate (the kinds registry).
    if kind is not None:
        if kind.needs_versus and not row["versus"]:
            bad("versus", f"is required for kind '{kind.name}': the id of the row compared with")
        if not kind.needs_versus and row["versus"]:
            bad("versus", f"must be empty for kind '{kind.name}' (only contrasts compare rows)")
        if row["component"] and not kind.allows_component:
            bad(
                "component",
                f"must be empty for kind '{kind.name}': a figure on one component of R&D bounds "
                "the whole discount from below (kind discount_lower_bound)",
            )
        for col in kind.required:
            if str(row[col]) == "":
                bad(col, f"is required for kind '{kind.name}'")
        for col in NUMERIC:
            if col not in kind.allowed and str(row[col]) != "":
                bad(
                    col,
                    f"must be empty for kind '{kind.name}' (it uses: {', '.join(kind.allowed)})",
                )
        kind.check(nums, good, bad)
        for col, default in kind.defaults.items():
            if str(row[col]) == "":
                nums[col] = default
    if len(problems) > n_before:
        return None
    row.update(nums)
    return row


def _parse_number(text: str) -> float | None:
    """A plain decimal or scientific number (``0.82``, ``1.2e9``, ``1_000``); None if it is not one."""
    if not text.isascii():
        return None
    try:
        return float(text.replace("_", ""))
    except ValueError:
        return None


def _check_ids(keys: list[tuple[str, str, str, int]], problems: list[Problem]) -> None:
    seen: dict[str, tuple[str, int]] = {}
    for rid, _lab, f, ln in keys:
        if not rid:
            continue
        if rid in seen:
            first = seen[rid]
            problems.append(
                Problem(f, f"duplicate id {rid!r} (first at {first[0]}, line {first[1]})", ln, "id")
            )
        else:
            seen[rid] = (f, ln)


def _check_references(table: pd.DataFrame, problems: list[Problem]) -> None:
    """Across rows: a contrast's versus row exists, is another row and measures a share; a programme
    belongs to one lab."""
    by_id = {r["id"]: r for _, r in table.iterrows()}
    for _, r in table.iterrows():
        versus = r["versus"]
        if not versus:
            continue
        file, line = str(r["source_file"]), int(r["source_line"])
        if versus == r["id"]:
            problems.append(Problem(file, "a row cannot be compared with itself", line, "versus"))
        elif versus not in by_id:
            problems.append(Problem(file, f"no row has the id {versus!r}", line, "versus"))
        elif KINDS[by_id[versus]["kind"]].target != "f":
            msg = f"row {versus!r} is not about a share f; compare with one that is"
            problems.append(Problem(file, msg, line, "versus"))
    labs: dict[str, tuple[str, str, int]] = {}
    for _, r in table.iterrows():
        prog = r["programme"] or r["id"]
        first = labs.setdefault(prog, (r["lab"], str(r["source_file"]), int(r["source_line"])))
        if first[0] != r["lab"]:
            problems.append(
                Problem(
                    str(r["source_file"]),
                    f"programme {prog!r} belongs to lab {first[0]!r} ({first[1]}, line {first[2]}); "
                    "a programme has one lab",
                    int(r["source_line"]),
                    "programme",
                )
            )


def _check_lab_spelling(keys: list[tuple[str, str, str, int]], problems: list[Problem]) -> None:
    """Rows of one lab must share one spelling: 'OpenAI' and 'openai ' would split its lab effect."""
    first: dict[str, tuple[str, str, int]] = {}
    for _rid, lab, f, ln in keys:
        if not lab:
            continue
        key = " ".join(lab.split()).casefold()
        if key not in first:
            first[key] = (lab, f, ln)
        elif first[key][0] != lab:
            spelling, f0, ln0 = first[key]
            problems.append(
                Problem(
                    f,
                    f"{lab!r} is spelled differently from {spelling!r} ({f0}, line {ln0}); "
                    "rows of one lab must use one spelling",
                    ln,
                    "lab",
                )
            )


# --- what each row implies ---------------------------------------------------------------------------


def implied_share(table: pd.DataFrame) -> pd.DataFrame:
    """The value each row implies on its target's scale, with an interval where the row gives one.

    Returns a frame with columns ``target`` (``f``, ``contrast`` or ``discount``), ``implied`` (point
    estimate; for a lower bound, the bound), ``implied_low``, ``implied_high`` and ``reading`` (a few
    words on how it was read). ``implied_f`` repeats ``implied`` for rows whose target is f (NaN
    otherwise).
    """
    kinds = [KINDS[k] for k in table["kind"]]
    implied = [k.implied(r) for k, (_, r) in zip(kinds, table.iterrows(), strict=True)]
    out = pd.DataFrame(index=table.index)
    out["target"] = np.array([k.target for k in kinds], dtype=object)
    out["implied"] = np.array([i.value for i in implied], dtype=float)
    out["implied_f"] = np.where(out["target"] == "f", out["implied"], np.nan)
    out["implied_low"] = np.array([i.low for i in implied], dtype=float)
    out["implied_high"] = np.array([i.high for i in implied], dtype=float)
    out["reading"] = np.array([i.reading for i in implied], dtype=object)
    return out
