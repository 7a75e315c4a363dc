"""Validation results saved in a run folder land in its report."""

from __future__ import annotations

import json
import shutil

import pytest

from rdshare.cli import main
from rdshare.inference import sensitivity
from rdshare.report.validation import validation_sections


@pytest.fixture
def run_copy(small_run, tmp_path):
    dst = tmp_path / "run"
    shutil.copytree(small_run, dst)
    return dst


def _fake_comparison(run_dir):
    folder = run_dir / "compare"
    folder.mkdir()
    doc = {
        "table": [
            {
                "variant": "full",
                "elpd": -15.8,
                "se": 3.1,
                "elpd_diff": 0.0,
                "dse": 0.0,
                "weight": 0.7,
            },
            {
                "variant": "pooled",
                "elpd": -22.0,
                "se": 3.5,
                "elpd_diff": -6.2,
                "dse": 3.0,
                "weight": 0.3,
            },
        ],
        "loo": {
            "full": {"high_k": [["meta-infra-2021", 1.76]], "refitted": True},
            "pooled": {"high_k": []},
        },
        "warnings": ["1 row has Pareto k > 0.7"],
    }
    (folder / "compare.json").write_text(json.dumps(doc), encoding="utf-8")


def test_no_validation_no_sections(run_copy):
    assert validation_sections(run_copy) == []


def test_sensitivity_and_comparison_sections_in_rebuilt_report(run_copy, capsys):
    sensitivity.analyse(run_copy, refit=False).save(run_copy)
    _fake_comparison(run_copy)
    titles = [s.title for s in validation_sections(run_copy)]
    assert titles == ["Prior sensitivity", "Model comparison"]

    assert main(["report", str(run_copy)]) == 0
    md = (run_copy / "report.md").read_text(encoding="utf-8")
    html = (run_copy / "report.html").read_text(encoding="utf-8")
    for text in (
        "Prior sensitivity",
        "Model comparison",
        "meta-infra-2021 (1.76) (refitted exactly)",
    ):
        assert text in md
        assert text in html
    # every headline quantity has a diagnosis row
    for name in ("f_frontier", "discount", "sigma_lab"):
        assert f"| {name} |" in md
