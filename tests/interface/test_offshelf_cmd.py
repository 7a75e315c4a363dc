"""``rdshare offshelf`` end to end: files, printed answer, input errors, no overwriting."""

from __future__ import annotations

import json
import shutil

import pandas as pd

from rdshare.cli import main
from rdshare.core import offshelf as oc


def test_writes_the_answer_and_its_sources(tmp_path, capsys):
    out = tmp_path / "os"
    assert main(["offshelf", "--tokens-out", "50", "--out", str(out), "--draws", "800"]) == 0
    printed = capsys.readouterr().out
    assert "P(self-hosting is cheaper than the closed API) = " in printed
    assert "P(hosted open weights are cheaper than the closed API) = " in printed
    assert "self-hosting pays from about" in printed
    assert sorted(p.name for p in out.iterdir()) == [
        "costs.png", "manifest.json", "offshelf.csv", "offshelf.json",
    ]  # fmt: skip
    table = pd.read_csv(out / "offshelf.csv")
    assert list(table["name"]) == list(oc.OUTPUT_NAMES)
    doc = json.loads((out / "offshelf.json").read_text())
    assert set(doc["price_files"]) == set(oc.TABLES)
    assert all(len(v["sha256"]) == 64 for v in doc["price_files"].values())
    assert 0 <= doc["p_self_hosted_cheaper"] <= 1
    assert doc["rows_used"]["closed"]
    assert all(r["source"] for r in doc["rows_used"]["closed"])
    # small volumes: the closed API; the answer is printed, not just written
    assert doc["p_self_hosted_cheaper"] < 0.05
    # the same seed gives the same files
    again = tmp_path / "again"
    main(["offshelf", "--tokens-out", "50", "--out", str(again), "--draws", "800"])
    assert (again / "offshelf.csv").read_bytes() == (out / "offshelf.csv").read_bytes()
    # the manifest records this call's arguments, not the test runner's command line
    manifest = json.loads((again / "manifest.json").read_text())
    argv = ["offshelf", "--tokens-out", "50", "--out", str(again), "--draws", "800"]
    assert manifest["command"] == ["rdshare", *argv]


def test_bad_price_file_exits_2_naming_file_line_and_column(tmp_path, capsys):
    folder = tmp_path / "prices"
    shutil.copytree(oc.shipped_prices_dir(), folder)
    api = folder / "api_prices.csv"
    api.write_text(api.read_text().replace(",0.75,", ",cheap,", 1))
    code = main(
        ["offshelf", "--tokens-out", "5", "--prices", str(folder), "--out", str(tmp_path / "o")]
    )
    err = capsys.readouterr().err
    assert code == 2
    assert "api_prices.csv, line 2, column 'input_usd_per_mtok': 'cheap' is not a number" in err
    assert not (tmp_path / "o").exists()


def test_bad_options_and_existing_folders(tmp_path, capsys):
    assert main(["offshelf", "--out", str(tmp_path / "x")]) == 2
    assert "--tokens-out" in capsys.readouterr().err
    out = tmp_path / "os"
    assert main(["offshelf", "--tokens-out", "5", "--out", str(out), "--draws", "100"]) == 0
    capsys.readouterr()
    assert main(["offshelf", "--tokens-out", "5", "--out", str(out), "--draws", "100"]) == 2
    assert "exists" in capsys.readouterr().err
    assert (
        main(["offshelf", "--tokens-out", "5", "--out", str(out), "--draws", "100", "--force"]) == 0
    )
