"""Run folders without a fit: atomic staging, never overwriting, safe names, manifest verification."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rdshare.core import runs
from rdshare.errors import EXIT_INPUT, RunExistsError, RunFolderError

from ..helpers import examples


def make_run(folder: Path, files: dict[str, str] | None = None) -> Path:
    """A small but complete run folder written through the real staging and manifest code."""
    files = files if files is not None else {"posterior.nc": "draws", "summary.csv": "a,b\n1,2\n"}
    with runs.staged_folder(folder) as tmp:
        for rel, text in files.items():
            (tmp / rel).parent.mkdir(parents=True, exist_ok=True)
            (tmp / rel).write_text(text)
        runs.write_manifest(tmp, {"seed": 1}, hashed=tuple(files))
    return folder


def write_then_fail(final: Path, exc: BaseException, force: bool = False) -> None:
    """Start writing a run folder, then fail half-way with ``exc``."""
    with runs.staged_folder(final, force=force) as tmp:
        (tmp / "posterior.nc").write_text("half written")
        raise exc


def leftovers(parent: Path) -> list[str]:
    return sorted(p.name for p in parent.iterdir() if p.name.startswith((".tmp-", ".old-")))


# --- names given on the command line cannot escape outputs/ ------------------------------------

GOOD_NAMES = ["run1", "2026-11-29_a.b", "A", "x" * 128, "seed-7.final"]
BAD_NAMES = [
    "../x",
    "..",
    ".",
    "",
    "/abs",
    "/etc/passwd",
    "a/b",
    "a\\b",
    ".hidden",
    "-x",
    "a..b",
    "x" * 129,
    "run\n",
    "ok\x00",
    "é",
    "C:x",
    "~",
    "~/x",
    "a b",
    "$HOME",
]


@pytest.mark.parametrize("name", GOOD_NAMES)
def test_plain_run_names_are_accepted(name):
    assert runs.check_run_name(name) == name


@pytest.mark.parametrize("name", BAD_NAMES, ids=repr)
def test_names_that_could_leave_outputs_are_refused(name):
    with pytest.raises(RunFolderError) as err:
        runs.check_run_name(name)
    (p,) = err.value.problems
    assert (p.file, p.field) == ("<command line>", "--name")
    assert p.message == (
        f"{name!r} is not a valid run name: use letters, digits, '.', '_' and '-' "
        "(no slashes, no '..', at most 128 characters)"
    )
    assert err.value.exit_code == EXIT_INPUT


@settings(max_examples=examples(200), deadline=None)
@given(name=st.text(max_size=40))
def test_property_an_accepted_name_stays_directly_inside_outputs(name):
    outputs = Path("/srv/outputs")
    try:
        runs.check_run_name(name)
    except RunFolderError as exc:
        refused = exc
    else:
        refused = None
    if refused is not None:
        assert refused.problems[0].message
        return
    target = Path(os.path.normpath(outputs / name))
    assert target.parent == outputs
    assert target.name == name


# --- staged folders: whole or nothing, never replaced silently ----------------------------------


def test_success_moves_the_folder_into_place(tmp_path):
    final = make_run(tmp_path / "out" / "run")
    assert sorted(p.name for p in final.iterdir()) == [
        "manifest.json",
        "posterior.nc",
        "summary.csv",
    ]
    assert leftovers(final.parent) == []


@pytest.mark.parametrize("exc", [RuntimeError("boom"), KeyboardInterrupt(), SystemExit(143)])
def test_a_failure_inside_leaves_no_folder_and_no_temporary(tmp_path, exc):
    final = tmp_path / "run"
    with pytest.raises(type(exc)):
        write_then_fail(final, exc)
    assert not final.exists()
    assert leftovers(tmp_path) == []


def test_existing_folder_is_refused_without_force_and_left_alone(tmp_path):
    final = make_run(tmp_path / "run")
    before = (final / "manifest.json").read_bytes()
    with pytest.raises(RunExistsError) as err, runs.staged_folder(final):
        pytest.fail("must not get here")
    assert str(err.value) == (
        f"{final} already exists; choose another --out/--name or pass --force to replace it"
    )
    assert err.value.exit_code == EXIT_INPUT
    assert (final / "manifest.json").read_bytes() == before


def test_force_replaces_a_run_folder_only_once_the_new_one_is_complete(tmp_path):
    final = make_run(tmp_path / "run", {"posterior.nc": "old"})
    with pytest.raises(KeyboardInterrupt):
        write_then_fail(final, KeyboardInterrupt(), force=True)
    assert (
        final / "posterior.nc"
    ).read_text() == "old"  # the old run survives a failed replacement
    with runs.staged_folder(final, force=True) as tmp:
        (tmp / "posterior.nc").write_text("new")
    assert (final / "posterior.nc").read_text() == "new"
    assert leftovers(tmp_path) == []


def test_force_never_replaces_something_that_is_not_a_run_folder(tmp_path):
    notes = tmp_path / "notes"
    notes.mkdir()
    (notes / "thesis.tex").write_text("years of work")
    with pytest.raises(RunExistsError, match="is not a folder rdshare wrote"):
        runs.check_target(notes, force=True)
    a_file = tmp_path / "file.txt"
    a_file.write_text("x")
    with pytest.raises(RunExistsError, match="exists and is not a folder"):
        runs.check_target(a_file, force=True)
    link = tmp_path / "link"
    link.symlink_to(notes)
    with pytest.raises(RunExistsError, match="exists and is not a folder"):
        runs.check_target(link, force=True)
    assert (notes / "thesis.tex").read_text() == "years of work"


def test_force_may_replace_other_rdshare_output(tmp_path):
    forecast = (
        tmp_path / "forecast"
    )  # every rdshare output folder (forecast, SBC ...) has a manifest
    forecast.mkdir()
    (forecast / runs.MANIFEST).write_text("{}")
    (forecast / "forecast.csv").write_text("old")
    with runs.staged_folder(forecast, force=True) as tmp:
        (tmp / "forecast.csv").write_text("new")
    assert (forecast / "forecast.csv").read_text() == "new"


def test_force_refuses_a_folder_with_only_a_look_alike_file(tmp_path):
    folder = tmp_path / "notes"
    folder.mkdir()
    (folder / "scenario.json").write_text("{}")  # a user's file, not an rdshare manifest
    with pytest.raises(RunExistsError, match="not a folder rdshare wrote"):
        runs.check_target(folder, force=True)


def test_force_may_fill_an_empty_folder(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    runs.check_target(empty, force=True)
    with runs.staged_folder(empty, force=True) as tmp:
        (tmp / "a").write_text("a")
    assert (empty / "a").exists()


def test_a_path_under_a_file_is_a_clean_error(tmp_path):
    (tmp_path / "f").write_text("x")
    with pytest.raises(RunFolderError) as err:
        runs.check_target(tmp_path / "f" / "run")
    assert str(err.value) == (
        f"{tmp_path / 'f' / 'run'}: cannot be created: {tmp_path / 'f'} is a file, not a folder"
    )


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores folder permissions")
def test_an_unwritable_parent_is_a_clean_error(tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    try:
        with (
            pytest.raises(RunFolderError, match="cannot be created"),
            runs.staged_folder(ro / "run"),
        ):
            pass
    finally:
        ro.chmod(0o700)


def test_stale_temporary_of_the_same_process_is_cleared(tmp_path):
    stale = tmp_path / f".tmp-run-{os.getpid()}"
    stale.mkdir()
    (stale / "junk").write_text("x")
    make_run(tmp_path / "run")
    assert leftovers(tmp_path) == []


# --- verification: missing, edited, foreign and malformed folders --------------------------------


def test_a_fresh_run_verifies(tmp_path):
    m = runs.verify(make_run(tmp_path / "run"), required=("posterior.nc",))
    assert m["format"] == runs.RUN_FORMAT
    assert m["seed"] == 1
    assert set(m["files"]) == {"posterior.nc", "summary.csv"}


def verify_problems(folder: Path, required=()) -> list[tuple[str, str | None, str]]:
    with pytest.raises(RunFolderError) as err:
        runs.verify(folder, required=required)
    assert err.value.exit_code == EXIT_INPUT
    return [(p.file, p.field, p.message) for p in err.value.problems]


def test_no_such_folder(tmp_path):
    assert verify_problems(tmp_path / "nope") == [
        (str(tmp_path / "nope"), None, "is not a run folder (no such folder)")
    ]


def test_a_file_is_not_a_run_folder(tmp_path):
    (tmp_path / "f.nc").write_text("x")
    assert verify_problems(tmp_path / "f.nc") == [
        (str(tmp_path / "f.nc"), None, "is a file, not a run folder")
    ]


def test_a_folder_without_manifest_is_incomplete(tmp_path):
    run = make_run(tmp_path / "run")
    (run / "manifest.json").unlink()
    assert verify_problems(run) == [
        (str(run / "manifest.json"), None, "missing: this is not a complete rdshare run folder")
    ]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{not json", "is not valid JSON (Expecting property name enclosed in double quotes: "),
        ("[1, 2]", "has no 'files' table"),
        ('{"format": 1}', "has no 'files' table"),
        ('{"files": []}', "has no 'files' table"),
        ("[" * 100_000, "is not valid JSON ("),
    ],
)
def test_a_malformed_manifest(tmp_path, text, message):
    run = make_run(tmp_path / "run")
    (run / "manifest.json").write_text(text)
    ((file, _field, got),) = verify_problems(run)
    assert file == str(run / "manifest.json")
    assert got.startswith(message)


def test_a_manifest_from_another_format_version(tmp_path):
    run = make_run(tmp_path / "run")
    m = json.loads((run / "manifest.json").read_text())
    m["format"] = 99
    (run / "manifest.json").write_text(json.dumps(m))
    assert verify_problems(run) == [
        (
            str(run / "manifest.json"),
            "format",
            f"run format 99 is not the one this rdshare reads ({runs.RUN_FORMAT}); "
            "refit with this version",
        )
    ]


def test_missing_and_edited_files_are_all_reported(tmp_path):
    run = make_run(tmp_path / "run", {"posterior.nc": "p", "summary.csv": "s", "sub/data.csv": "d"})
    (run / "posterior.nc").unlink()
    (run / "summary.csv").write_text("s edited")
    assert verify_problems(run, required=("priors.toml",)) == [
        (str(run / "priors.toml"), None, "missing from the run's manifest"),
        (str(run / "posterior.nc"), None, "listed in the manifest but missing"),
        (
            str(run / "summary.csv"),
            None,
            "was changed after the run was written (sha256 does not match)",
        ),
    ]


def test_files_added_later_are_not_checked(tmp_path):
    run = make_run(tmp_path / "run")
    (run / "report.html").write_text("rebuilt later")
    runs.verify(run)


@pytest.mark.parametrize("rel", ["../outside.txt", "/etc/hostname", "a/../../outside.txt", ""])
def test_a_manifest_cannot_point_outside_its_folder(tmp_path, rel):
    (tmp_path / "outside.txt").write_text("x")
    run = make_run(tmp_path / "run")
    m = json.loads((run / "manifest.json").read_text())
    m["files"][rel] = "0" * 64
    (run / "manifest.json").write_text(json.dumps(m))
    assert verify_problems(run) == [
        (str(run / "manifest.json"), None, f"lists {rel!r}, which is not inside the run folder")
    ]


def test_default_run_name_is_a_valid_name():
    name = runs.default_run_name(7, "ab" * 32)
    assert runs.check_run_name(name) == name
    assert name.endswith("-s7-abababab")


# --- the one folder writer ----------------------------------------------------------------------


def test_write_folder_records_what_wrote_it_and_hashes(tmp_path):
    def write(tmp):
        (tmp / "a.csv").write_text("x\n1\n")
        (tmp / "sub").mkdir()
        (tmp / "sub" / "b.txt").write_text("b")
        return {"timings_seconds": {"write": 0.1}}

    out = runs.write_folder(
        tmp_path / "f", write, kind="test", command=["rdshare", "x"], seed=7, info={"extra": 1}
    )
    m = runs.verify(out)
    assert (m["kind"], m["command"], m["seed"], m["extra"]) == ("test", ["rdshare", "x"], 7, 1)
    assert m["timings_seconds"] == {"write": 0.1}
    assert set(m["files"]) == {"a.csv", "sub/b.txt"}  # default: every file written
    assert m["versions"]["python"]
    with pytest.raises(RunExistsError):
        runs.write_folder(tmp_path / "f", write, kind="test")
    runs.write_folder(tmp_path / "f", write, kind="test", force=True, hashed=("a.csv",))
    assert set(runs.read_manifest(out)["files"]) == {"a.csv"}


def test_write_folder_leaves_nothing_when_writing_fails(tmp_path):
    def write(tmp):
        (tmp / "half.csv").write_text("x")
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        runs.write_folder(tmp_path / "g", write, kind="test")
    assert list(tmp_path.iterdir()) == []
