"""The evidence dataset: every validation rule against a deliberately broken fixture, plus properties.

Each ``tests/fixtures/wrong_*.csv`` breaks one rule (a few break several, to show that every problem is
collected before failing). The tests assert the exact file, line, column and message of every problem.
"""

from __future__ import annotations

import csv
import io
import math
import string
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rdshare.core import dataset
from rdshare.core.dataset import COLUMNS, KIND_FIELDS, NUMERIC
from rdshare.core.kinds import KINDS, TARGETS
from rdshare.errors import InputError, Problem

from ..helpers import examples

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
HEADER = ",".join(COLUMNS)
#: The first version's header: the optional programme, estimator, versus and component columns left out.
HEADER_V1 = (FIXTURES / "wrong_kind_fields.csv").read_text().splitlines()[0]
ALL = ", ".join(COLUMNS)


def fx(name: str) -> Path:
    return FIXTURES / name


def problems(paths) -> list[tuple[str, int | None, str | None, str]]:
    with pytest.raises(InputError) as err:
        dataset.read([fx(p) if isinstance(p, str) else p for p in paths])
    return [(p.file, p.line, p.field, p.message) for p in err.value.problems]


# --- each rule, its fixture and its exact messages ------------------------------------------------

#: fixture -> [(line, column, message)], in the order they are reported.
BROKEN: dict[str, list[tuple[int | None, str | None, str]]] = {
    "wrong_duplicate_id.csv": [
        (4, "id", f"duplicate id 'p1' (first at {fx('wrong_duplicate_id.csv')}, line 2)"),
    ],
    "wrong_duplicate_of_bad_row.csv": [
        (3, "value", "1.4 is not a share in (0, 1)"),
        (4, "id", f"duplicate id 'x1' (first at {fx('wrong_duplicate_of_bad_row.csv')}, line 3)"),
    ],
    "wrong_categories.csv": [
        (3, "position", "'Leader' is not one of: leader, follower"),
        (3, "scope", "'whole' is not one of: full, pretraining, posttraining"),
        (3, "unit", "'tokens' is not one of: flop, gpu_hours, dollars, energy"),
        (3, "kind", "'estimate' is not one of: " + ", ".join(KIND_FIELDS)),
        (3, "provenance", "'press' is not one of: lab, third_party, derived"),
    ],
    "wrong_numbers.csv": [
        (3, "value", "'0,8' is not a number (use a dot as the decimal mark: 0.8)"),
        (4, "year", "'20x5' is not a whole year"),
        (5, "final_amount", "'ten' is not a number"),
    ],
    "wrong_nonfinite.csv": [
        (3, "value", "'inf' is not a finite number"),
        (4, "value", "'nan' is not a finite number"),
        (5, "total_amount", "'1e400' is not a finite number"),
    ],
    "wrong_share_range.csv": [
        (3, "value", "1.4 is not a share in (0, 1)"),
        (4, "value", "0 is not a share in (0, 1)"),
        (5, "low", "-0.1 is not a share in (0, 1)"),
        (6, "high", "1 is not a share in (0, 1)"),
    ],
    "wrong_final_gt_total.csv": [
        (3, "final_amount", "final 900 must be below total 800"),
        (4, "final_amount", "final 5 must be below total 5"),
    ],
    "wrong_low_gt_high.csv": [
        (3, "low", "low 0.8 must be below high 0.5"),
        (4, "low", "low 0.7 must be below high 0.7"),
    ],
    "wrong_value_outside_interval.csv": [
        (3, "value", "0.9 is not inside its interval (0.5, 0.8)"),
    ],
    "wrong_missing_source.csv": [
        (3, "source", "is empty: every row needs the locator of where its figure was published"),
    ],
    "wrong_missing_column.csv": [
        (1, "kind", "required column is missing"),
        (1, "source", "required column is missing"),
    ],
    "wrong_extra_column.csv": [
        (1, "comment", f"unknown column (allowed: {ALL})"),
    ],
    "wrong_duplicate_column.csv": [
        (1, "note", "column appears more than once"),
    ],
    "wrong_delimiter.csv": [
        (1, None, "the header has one column: the file must be comma-separated"),
    ],
    "wrong_delimiter_tab.csv": [
        (1, None, "the header has one column: the file must be comma-separated"),
    ],
    "wrong_encoding.csv": [
        (3, None, "is not UTF-8 text (save it as UTF-8)"),
    ],
    "wrong_utf16.csv": [
        (None, None, "is UTF-16 text; save it as UTF-8 (e.g. 'CSV UTF-8')"),
    ],
    "wrong_nul.csv": [
        (None, None, "contains NUL bytes: not a text CSV file"),
    ],
    "wrong_empty.csv": [
        (None, None, f"is empty; expected a header row: {HEADER}"),
    ],
    "wrong_blank.csv": [
        (None, None, f"is empty; expected a header row: {HEADER}"),
    ],
    "wrong_blank_first_line.csv": [
        (1, None, f"the first line must be the header row: {HEADER}"),
    ],
    "wrong_header_only.csv": [
        (None, None, "has a header but no data rows"),
    ],
    "wrong_cell_count.csv": [
        (3, None, "has 4 cells; the header has 19"),
        (4, None, "has 21 cells; the header has 19"),
    ],
    "wrong_quote.csv": [
        (3, None, "is not valid CSV (unexpected end of data)"),
    ],
    "wrong_kind_fields.csv": [
        (3, "low", "must be empty for kind 'point' (it uses: value)"),
        (4, "value", "must be empty for kind 'lower_bound' (it uses: low, high, interval_prob)"),
        (5, "total_amount", "is required for kind 'pair'"),
        (6, "value", "is required for kind 'point'"),
        (6, "interval_prob", "must be empty for kind 'point' (it uses: value)"),
    ],
    "wrong_id_slug.csv": [
        (3, "id", "'Bad ID' is not a slug (lowercase letters, digits, hyphens; at most 64)"),
        (4, "id", "'-lead' is not a slug (lowercase letters, digits, hyphens; at most 64)"),
    ],
    "wrong_year.csv": [
        (3, "year", "1999 is outside 2010..2040"),
        (4, "year", "'2025.5' is not a whole year"),
    ],
    "wrong_interval_prob.csv": [
        (3, "interval_prob", "1.5 is not a probability in (0, 1)"),
    ],
    "wrong_amounts.csv": [
        (3, "final_amount", "-5 must be > 0"),
        (3, "amount_sd", "0 must be > 0"),
    ],
    "wrong_required_empty.csv": [
        (3, "lab", "is empty; " + COLUMNS["lab"]),
        (3, "year", "is empty; " + COLUMNS["year"]),
        (3, "kind", "is empty; " + COLUMNS["kind"]),
    ],
    "wrong_lab_spelling.csv": [
        (
            3,
            "lab",
            f"'laba' is spelled differently from 'LabA' ({fx('wrong_lab_spelling.csv')}, line 2); "
            "rows of one lab must use one spelling",
        ),
    ],
    "wrong_all_excluded.csv": [
        (None, None, "no row is left to fit (every row is excluded)"),
    ],
    "wrong_many_problems.csv": [
        (2, "value", "1.4 is not a share in (0, 1)"),
        (4, "source", "is empty: every row needs the locator of where its figure was published"),
        (4, "unit", "'tokens' is not one of: flop, gpu_hours, dollars, energy"),
        (5, "id", f"duplicate id 'p1' (first at {fx('wrong_many_problems.csv')}, line 3)"),
    ],
}


@pytest.mark.parametrize("name", sorted(BROKEN))
def test_broken_fixture_names_file_line_column_and_message(name):
    expected = [(str(fx(name)), line, field, msg) for line, field, msg in BROKEN[name]]
    assert problems([name]) == expected


def test_every_broken_csv_fixture_is_tested():
    on_disk = {p.name for p in FIXTURES.glob("wrong_*.csv")}
    assert on_disk - set(BROKEN) == {"wrong_duplicate_shipped_id.csv"}  # tested with load() below


def test_rendered_message_reads_file_line_column():
    with pytest.raises(InputError) as err:
        dataset.read([fx("wrong_value_outside_interval.csv")])
    where = f"{fx('wrong_value_outside_interval.csv')}, line 3, column 'value'"
    assert err.value.render() == f"{where}: 0.9 is not inside its interval (0.5, 0.8)"
    with pytest.raises(InputError) as err:
        dataset.read([fx("wrong_low_gt_high.csv")])
    assert err.value.render().splitlines()[0] == "2 problems:"


def test_problems_in_several_files_are_all_reported():
    got = problems(["wrong_share_range.csv", "wrong_year.csv", "missing.csv"])
    share, year = str(fx("wrong_share_range.csv")), str(fx("wrong_year.csv"))
    # each file's own problems in order, then the ids the two files share (p1, x1, x2), even where
    # the first holder of the id has a problem of its own
    assert [(f, ln, col) for f, ln, col, _ in got] == [
        (share, 3, "value"),
        (share, 4, "value"),
        (share, 5, "low"),
        (share, 6, "high"),
        (year, 3, "year"),
        (year, 4, "year"),
        (str(fx("missing.csv")), None, None),
        (year, 2, "id"),
        (year, 3, "id"),
        (year, 4, "id"),
    ]
    assert got[6][3] == "file not found"
    assert got[8][3] == f"duplicate id 'x1' (first at {share}, line 3)"


def test_duplicate_id_across_files():
    got = problems(["good.csv", "wrong_duplicate_id.csv"])
    assert (str(fx("wrong_duplicate_id.csv")), 2, "id") == got[0][:3]
    assert got[0][3] == f"duplicate id 'p1' (first at {fx('good.csv')}, line 2)"


def test_user_row_reusing_a_shipped_id_is_rejected_by_load():
    with pytest.raises(InputError) as err:
        dataset.load([fx("wrong_duplicate_shipped_id.csv")])
    (p,) = err.value.problems
    assert (p.file, p.line, p.field) == (str(fx("wrong_duplicate_shipped_id.csv")), 2, "id")
    assert p.message.startswith("duplicate id 'olmo3' (first at ")


def test_replace_data_without_files_names_the_option():
    with pytest.raises(InputError) as err:
        dataset.load([], replace=True)
    assert err.value.problems == [
        Problem("<command line>", "needs at least one --data file", field="--replace-data")
    ]


def test_read_of_no_files_is_an_input_error():
    with pytest.raises(InputError, match="no data file given"):
        dataset.read([])


def test_missing_file_and_folder(tmp_path):
    got = problems([tmp_path / "nope.csv", tmp_path])
    assert got == [
        (str(tmp_path / "nope.csv"), None, None, "file not found"),
        (str(tmp_path), None, None, "is a folder, not a CSV file"),
    ]


def test_huge_file_over_the_byte_limit(tmp_path, monkeypatch):
    monkeypatch.setattr(dataset, "MAX_BYTES", 4096)
    big = tmp_path / "big.csv"
    big.write_text(fx("good.csv").read_text() * 20)
    assert problems([big]) == [(str(big), None, None, "is larger than the limit of 4096 bytes")]


def test_huge_file_at_the_real_limit_is_refused_without_reading_it_all(tmp_path):
    big = tmp_path / "big.csv"
    with open(big, "wb") as fh:
        fh.truncate(dataset.MAX_BYTES + 1)  # sparse: cheap to create
    limit = dataset.MAX_BYTES
    assert problems([big]) == [(str(big), None, None, f"is larger than the limit of {limit} bytes")]


@pytest.mark.skipif(not Path("/dev/zero").exists(), reason="no /dev/zero")
def test_an_endless_device_is_refused_after_a_bounded_read():
    limit = dataset.MAX_BYTES
    assert problems([Path("/dev/zero")]) == [
        ("/dev/zero", None, None, f"is larger than the limit of {limit} bytes")
    ]


def test_too_many_rows(tmp_path, monkeypatch):
    monkeypatch.setattr(dataset, "MAX_ROWS", 3)
    text = fx("good.csv").read_text()
    p = tmp_path / "rows.csv"
    p.write_text(text)
    assert problems([p]) == [(str(p), None, None, "has 10 rows; the limit is 3")]


# --- what is accepted -----------------------------------------------------------------------------


def test_good_fixture_reads_every_kind():
    ds = dataset.read([fx("good.csv")])
    t = ds.table
    ids = ["p1", "pi1", "iv1", "pr1", "lb1", "ct1", "dp1", "di1", "db1"]
    assert list(t["id"]) == [*ids, "ex1"]
    assert set(t["kind"]) == set(KIND_FIELDS)
    assert list(t["source_line"]) == list(range(2, 12))
    assert list(ds.fitted["id"]) == ids
    assert t.loc[t["id"] == "dp1", "value"].item() == -0.1  # a discount may be negative
    assert t.loc[t["id"] == "ct1", "versus"].item() == "p1"
    assert t.loc[t["id"] == "db1", "component"].item() == "hyperparameters"
    assert t.loc[t["id"] == "iv1", "interval_prob"].item() == dataset.DEFAULT_INTERVAL_PROB
    assert t.loc[t["id"] == "pi1", "interval_prob"].item() == 0.8  # given, not defaulted
    assert t.loc[t["id"] == "pr1", "amount_sd"].item() == 0.05
    assert t.loc[t["id"] == "p1", "source"].item() == "Report A, table 2"  # quoted comma
    assert t["year"].dtype.kind == "i"
    assert all(t[c].dtype == float for c in NUMERIC)


def test_bom_and_crlf_are_accepted_and_read_the_same():
    plain = dataset.read([fx("good.csv")]).table.drop(columns="source_file")
    for name in ("good_bom.csv", "good_crlf.csv"):
        other = dataset.read([fx(name)]).table.drop(columns="source_file")
        pd.testing.assert_frame_equal(plain, other)


def test_optional_columns_may_be_left_out():
    t = dataset.read([fx("good_minimal_columns.csv")]).table
    assert list(t.columns[: len(COLUMNS)]) == list(COLUMNS)
    assert (t["note"] == "").all()
    assert (t["exclude"] == "").all()
    assert t["low"].isna().all()


def test_comment_and_blank_lines_are_skipped_and_lines_stay_physical():
    t = dataset.read([fx("good_comments_blank_lines.csv")]).table
    assert list(t["id"]) == ["p1", "pi1"]
    assert list(t["source_line"]) == [3, 6]


def test_extra_rows_are_added_to_the_shipped_ones_or_replace_them():
    shipped = dataset.load()
    both = dataset.load([fx("extra_rows.csv")])
    only = dataset.load([fx("extra_rows.csv")], replace=True)
    assert len(both) == len(shipped) + 2
    assert list(only.table["id"]) == ["u1", "u2"]
    assert both.files == (dataset.shipped_path(), fx("extra_rows.csv"))
    assert len({shipped.sha256, both.sha256, only.sha256}) == 3


def test_shipped_dataset_is_valid_and_every_row_has_a_source():
    ds = dataset.load()
    assert len(ds.fitted) >= 10
    assert (ds.table["source"].str.len() > 10).all()


def test_implied_share_of_each_kind():
    t = dataset.read([fx("good.csv")]).table
    imp = dataset.implied_share(t).set_index(t["id"])
    assert imp.loc["p1", "implied_f"] == 0.8
    assert imp.loc["pr1", "implied_f"] == pytest.approx(0.7)
    mid = 1 / (1 + math.exp(-(dataset.logit(0.5) + dataset.logit(0.8)) / 2))
    assert imp.loc["iv1", "implied_f"] == pytest.approx(mid)
    assert imp.loc["lb1", ["implied_f", "implied_low"]].tolist() == [0.7, 0.7]
    assert np.isnan(imp.loc["lb1", "implied_high"])


def test_pair_whose_ratio_underflows_is_rejected(tmp_path):
    p = tmp_path / "tiny.csv"
    row = "x1,LabA,M,2025,leader,full,flop,pair,,,,,1e-300,1e300,,lab,S,,"
    p.write_text(HEADER_V1 + "\n" + row + "\n")
    assert problems([p]) == [
        (
            str(p),
            2,
            "final_amount",
            "final 1e-300 is too small against total 1e+300 to give a share",
        )
    ]


def test_non_ascii_digits_are_not_numbers(tmp_path):
    p = tmp_path / "digits.csv"
    row = "x1,LabA,M,２０２５,leader,full,flop,point,٠.٥,,,,,,,lab,S,,"
    p.write_text(HEADER_V1 + "\n" + row + "\n", encoding="utf-8")
    assert [(ln, f) for _, ln, f, _ in problems([p])] == [(2, "year"), (2, "value")]


# --- properties: any text gives a Dataset or an InputError with messages, nothing else -----------

_CELL = st.one_of(
    st.sampled_from(["", "0.5", "1.4", "-1", "nan", "inf", "1e400", "abc", "0,8", "2025", "x"]),
    st.sampled_from(["leader", "follower", "full", "flop", "point", "pair", "interval", "lab"]),
    st.sampled_from(["point_interval", "lower_bound", "derived", "third_party", "dollars"]),
    st.text(alphabet=string.printable + "é\u2028\ufeff\x00", max_size=8),
)
_GOOD_ROWS = list(csv.DictReader(io.StringIO(fx("good.csv").read_text())))


def _row(cells):
    buf = io.StringIO()
    csv.writer(buf, lineterminator="").writerow(cells)
    return buf.getvalue()


@st.composite
def csv_texts(draw):
    """CSV text close to valid: the real header (maybe shuffled or cut), good rows with mutated cells."""
    header = list(COLUMNS)
    if draw(st.booleans()):
        header = draw(st.permutations(header))
    if draw(st.integers(0, 5)) == 0:
        header = header[: draw(st.integers(0, len(header)))]
    lines = [",".join(header)]
    for j in range(draw(st.integers(0, 5))):
        if draw(st.integers(0, 4)):
            rec = dict(draw(st.sampled_from(_GOOD_ROWS)))
            rec["id"] = f"r{j}"
            for col in draw(st.lists(st.sampled_from(header), max_size=2)) if header else []:
                rec[col] = draw(_CELL)
            lines.append(_row([rec.get(c, "") for c in header]))
        else:
            lines.append(_row(draw(st.lists(_CELL, max_size=len(header) + 2))))
    sep = draw(st.sampled_from(["\n", "\r\n", "\r"]))
    return sep.join(lines) + draw(st.sampled_from(["", sep]))


def _outcome(path: Path):
    """(dataset, None) or (None, InputError); any other exception fails the test."""
    try:
        return dataset.read([path]), None
    except InputError as exc:
        return None, exc


def assert_clean_error(exc: InputError, file: str) -> None:
    assert exc.problems
    for p in exc.problems:
        assert isinstance(p.message, str)
        assert p.message.strip()
        assert p.file == file
        assert p.line is None or p.line >= 1
    assert exc.render().strip()


def _check_outcome(path: Path) -> None:
    ds, exc = _outcome(path)
    if exc is not None:
        assert_clean_error(exc, str(path))
    else:
        t = ds.table
        assert len(t) >= 1
        assert t["id"].is_unique
        for _, r in t.iterrows():
            needed, allowed = KIND_FIELDS[r["kind"]]
            assert all(math.isfinite(r[c]) for c in needed)
            assert all(math.isnan(r[c]) for c in NUMERIC if c not in allowed)
            target = TARGETS[KINDS[r["kind"]].target]
            for c in ("value", "low", "high"):
                assert math.isnan(r[c]) or target.allows(r[c])
        imp = dataset.implied_share(t)
        f = imp.loc[imp["target"] == "f", "implied"]
        assert ((f > 0) & (f < 1)).all()


_PROPS = settings(
    max_examples=examples(100),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)


@_PROPS
@given(text=csv_texts())
def test_property_structured_csv_text(tmp_path, text):
    p = tmp_path / "prop.csv"
    p.write_text(text, encoding="utf-8", newline="")
    _check_outcome(p)


@_PROPS
@given(raw=st.binary(max_size=300))
def test_property_arbitrary_bytes(tmp_path, raw):
    p = tmp_path / "prop.csv"
    p.write_bytes(raw)
    _check_outcome(p)


@_PROPS
@given(data=st.data())
def test_property_random_text_after_a_valid_header(tmp_path, data):
    body = data.draw(st.text(alphabet=string.printable + "\"'é", max_size=400))
    p = tmp_path / "prop.csv"
    p.write_text(HEADER + "\n" + body, encoding="utf-8", newline="")
    _check_outcome(p)
