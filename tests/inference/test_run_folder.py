"""A real run folder, damaged in each way a user's disk can damage it: every case a RunFolderError.

Uses the session's ``small_run`` (one small real fit, saved once); each test works on its own copy.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import h5py
import pytest

from rdshare.core import runs
from rdshare.errors import EXIT_INPUT, RunFolderError
from rdshare.inference.results import RUN_FILES, load_run


@pytest.fixture
def run(small_run, tmp_path) -> Path:
    """A private copy of the session's run folder, safe to damage."""
    return Path(shutil.copytree(small_run, tmp_path / "run"))


def rehash(folder: Path, rel: str) -> None:
    """Update the manifest after an edit, as a careless tool might (so only deeper checks catch it)."""
    m = json.loads((folder / runs.MANIFEST).read_text())
    m["files"][rel] = runs.sha256_file(folder / rel)
    (folder / runs.MANIFEST).write_text(json.dumps(m))


def refused(folder: Path) -> list[tuple[str, str]]:
    with pytest.raises(RunFolderError) as err:
        load_run(folder)
    assert err.value.exit_code == EXIT_INPUT
    return [(p.file, p.message) for p in err.value.problems]


def test_an_intact_run_loads_and_lists_every_result_file(run):
    r = load_run(run)
    assert set(r.manifest["files"]) == set(RUN_FILES)
    assert r.manifest["format"] == runs.RUN_FORMAT
    assert r.manifest["compile"]["route"] in {"rdshare cache", "stock nutpie"}
    assert r.manifest["compile"]["status"]
    assert "f_frontier" in r.tree["posterior"].ds
    assert len(r.dataset) > 0
    assert r.headline()["q05"] < r.headline()["q95"]


def test_no_partial_or_temporary_folder_next_to_the_run(small_run):
    assert [
        p.name for p in small_run.parent.iterdir() if p.name.startswith((".tmp-", ".old-"))
    ] == []


@pytest.mark.parametrize("rel", RUN_FILES)
def test_a_missing_result_file(run, rel):
    (run / rel).unlink()
    assert refused(run) == [(str(run / rel), "listed in the manifest but missing")]


@pytest.mark.parametrize("rel", RUN_FILES)
def test_an_edited_result_file(run, rel):
    with open(run / rel, "ab") as fh:
        fh.write(b"\n")
    assert refused(run) == [
        (str(run / rel), "was changed after the run was written (sha256 does not match)")
    ]


def test_a_missing_manifest_means_an_incomplete_folder(run):
    (run / runs.MANIFEST).unlink()
    assert refused(run) == [
        (str(run / runs.MANIFEST), "missing: this is not a complete rdshare run folder")
    ]


def test_a_run_from_another_format_version(run):
    m = json.loads((run / runs.MANIFEST).read_text())
    m["format"] = runs.RUN_FORMAT + 1
    (run / runs.MANIFEST).write_text(json.dumps(m))
    assert refused(run) == [
        (
            str(run / runs.MANIFEST),
            f"run format {runs.RUN_FORMAT + 1} is not the one this rdshare reads "
            f"({runs.RUN_FORMAT}); refit with this version",
        )
    ]


def test_a_posterior_that_is_not_netcdf(run):
    (run / "posterior.nc").write_bytes(b"not a netCDF file")
    rehash(run, "posterior.nc")
    ((file, message),) = refused(run)
    assert file == str(run / "posterior.nc")
    assert message.startswith("cannot be read (")


def test_a_posterior_from_another_run(run):
    with h5py.File(run / "posterior.nc", "r+") as fh:  # restamp in place: another run's posterior
        fh.attrs["rdshare_data_sha256"] = "0" * 64
    rehash(run, "posterior.nc")
    assert refused(run) == [
        (str(run / "posterior.nc"), "its data hash does not match the manifest")
    ]


def test_a_file_and_a_missing_path_are_not_run_folders(run, tmp_path):
    assert refused(run / "summary.csv") == [
        (str(run / "summary.csv"), "is a file, not a run folder")
    ]
    assert refused(tmp_path / "nope") == [
        (str(tmp_path / "nope"), "is not a run folder (no such folder)")
    ]


def test_saving_over_an_existing_run_needs_force(small_fit, run):
    from rdshare.errors import RunExistsError
    from rdshare.inference.results import save_run

    before = runs.sha256_file(run / "posterior.nc")
    with pytest.raises(RunExistsError, match="already exists"):
        save_run(small_fit, run)
    assert runs.sha256_file(run / "posterior.nc") == before
