"""samples.xlsx and samples.csv in a real spreadsheet, LibreOffice Calc, under a German locale.

In a comma-decimal locale a spreadsheet reads "0.85" in a CSV file as text and "2500.125" as
2,500,125 ('.' groups thousands there): samples.csv is for scripts. samples.xlsx holds number cells,
which no locale reinterprets. Calc saves it back as CSV the German way (';' between fields, ','
before decimals, 15 significant digits), and those numbers are the draws.
"""

from __future__ import annotations

import csv

import numpy as np
import openpyxl
import pandas as pd
import pytest

from rdshare.core.exports import spreadsheet_number, write_samples_csv, write_samples_xlsx

#: LibreOffice's CSV filter options: separator, quote (ASCII codes), UTF-8 (76), first line 1.
CSV_EXPORT = "csv:Text - txt - csv (StarCalc):59,34,76,1"  # ';' as a German spreadsheet does
CSV_IMPORT = "CSV:44,34,76,1"  # ',' as samples.csv is written


@pytest.fixture(scope="module")
def frame():
    """Draws like a forecast's: shares, amounts in the billions, negatives, tiny and exact values,
    and a value with three decimals that German number parsing takes for a thousands group."""
    r = np.random.default_rng(5)
    n = 200
    df = pd.DataFrame(
        {
            "f_frontier": r.beta(8, 2, n),
            "rd_compute": r.lognormal(np.log(3e9), 0.4, n),
            "savings": r.normal(8e8, 5e8, n),
            "discount": 1 - np.exp(r.normal(-0.36, 0.3, n)),
            "tiny": r.lognormal(np.log(1e-7), 1.0, n),
        }
    )
    df.loc[0, "savings"] = 2500.125
    df.loc[1, "savings"] = 0.0
    df.loc[2, "rd_compute"] = 123456789012345678.0
    return df


def test_samples_xlsx_numbers_survive_a_german_locale(calc, frame, tmp_path):
    xlsx = write_samples_xlsx(frame, tmp_path / "samples.xlsx")
    exported = calc(xlsx, CSV_EXPORT)
    with exported.open(encoding="utf-8", newline="") as f:
        rows = list(csv.reader(f, delimiter=";"))
    assert rows[0] == list(frame.columns)
    assert len(rows) == len(frame) + 1
    # the German way: comma decimals, no grouping ("2500,125", not "2.500,125")
    assert rows[1][frame.columns.get_loc("savings")] == "2500,125"
    assert all("." not in cell for row in rows[1:] for cell in row)
    values = np.array([[float(cell.replace(",", ".")) for cell in row] for row in rows[1:]])
    np.testing.assert_array_equal(values, frame.map(spreadsheet_number).to_numpy())


def test_samples_csv_is_misread_under_a_german_locale(calc, frame, tmp_path):
    """Why samples.xlsx exists, and the control that Calc really runs under a German locale: the
    same draws opened from samples.csv come back as text or 1000 times too large."""
    csv_path = write_samples_csv(frame, tmp_path / "samples.csv")
    opened = calc(csv_path, "xlsx", infilter=CSV_IMPORT)
    cells = list(openpyxl.load_workbook(opened).active.iter_rows(min_row=2, values_only=True))
    savings = frame.columns.get_loc("savings")
    assert cells[0][savings] == 2500125  # "2500.125": '.' taken for a thousands separator
    assert cells[1][savings] == "0.0"
    numbers = [
        (x, v)
        for row, draws in zip(cells, frame.to_numpy(), strict=True)
        for x, v in zip(row, draws, strict=True)
        if isinstance(x, int | float)
    ]
    text = sum(isinstance(x, str) for row in cells for x in row)
    assert text > 0.95 * frame.size  # nearly every draw became text
    assert not any(x == v for x, v in numbers)  # and not one number survived
