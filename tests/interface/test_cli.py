"""The command line: exit codes for every kind of bad input, --help with an example everywhere, --version.

Exit codes: 0 success, 2 bad input (every problem listed, nothing written), 1 an OS error (clean
message), 130 interrupted. Most tests call ``main()`` in-process (milliseconds); a few run the
installed console script to check what a user's shell sees.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from rdshare import cli
from rdshare.commands import data as data_cmd
from rdshare.core import runs
from rdshare.errors import EXIT_ERROR, EXIT_INPUT, EXIT_INTERRUPTED

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
RDSHARE = Path(sys.executable).with_name("rdshare")


def fx(name: str) -> str:
    return str(FIXTURES / name)


def run(capsys, *argv: str) -> tuple[int, str, str]:
    """(exit code, stdout, stderr) of ``rdshare ARGV`` run in-process."""
    try:
        code = cli.main(list(argv))
    except SystemExit as exc:  # argparse: --help, --version, usage errors
        code = exc.code if isinstance(exc.code, int) else 1
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def in_tmp(tmp_path, monkeypatch) -> Path:
    """Run in an empty folder, so a stray outputs/ would be seen."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


def assert_nothing_written(folder: Path) -> None:
    assert sorted(p.name for p in folder.iterdir()) == []


# --- --version and --help -----------------------------------------------------------------------


def test_version(capsys):
    code, out, _ = run(capsys, "--version")
    assert code == 0
    assert out.strip() == f"rdshare {cli._version()}"


def _all_parsers(parser: argparse.ArgumentParser, prefix=()):
    yield prefix, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _all_parsers(sub, (*prefix, name))


ALL_COMMANDS = [p for p, _ in _all_parsers(cli.build_parser())]


def test_every_command_is_registered():
    top = [p[0] for p in ALL_COMMANDS if len(p) == 1]
    assert top == list(cli.COMMANDS)
    assert ("data", "check") in ALL_COMMANDS
    assert ("priors", "show") in ALL_COMMANDS


def test_a_missing_command_module_fails_loudly(monkeypatch):
    """A command named in COMMANDS whose module is missing is a broken install, never skipped."""
    monkeypatch.setattr(cli, "COMMANDS", (*cli.COMMANDS, "nonexistent"))
    with pytest.raises(ModuleNotFoundError, match=r"rdshare\.commands\.nonexistent"):
        cli.build_parser()


@pytest.mark.parametrize("command", ALL_COMMANDS, ids=lambda c: " ".join(c) or "rdshare")
def test_help_of_every_command_shows_an_example(capsys, command):
    code, out, _ = run(capsys, *command, "--help")
    assert code == 0
    assert "example" in out.lower()
    assert "rdshare " + " ".join(command) in out.replace("\n  ", " ")


def test_no_command_and_unknown_command_are_usage_errors(capsys):
    assert run(capsys)[0] == EXIT_INPUT
    code, _, err = run(capsys, "fitt")
    assert code == EXIT_INPUT
    assert "invalid choice: 'fitt'" in err


# --- data ----------------------------------------------------------------------------------------


def test_data_check_clean_file(capsys):
    assert run(capsys, "data", "check", fx("good.csv")) == (
        0,
        "ok: 10 rows in 1 file(s) (9 fitted, 1 excluded)\n",
        "",
    )


def test_data_check_lists_every_problem_in_every_file(capsys):
    code, out, err = run(
        capsys, "data", "check", fx("wrong_share_range.csv"), fx("wrong_year.csv"), "nope.csv"
    )
    assert code == EXIT_INPUT
    assert out == ""
    lines = err.splitlines()
    assert lines[0] == "rdshare: error: 10 problems:"
    assert (
        lines[1]
        == f"  - {fx('wrong_share_range.csv')}, line 3, column 'value': 1.4 is not a share in (0, 1)"
    )
    assert "  - nope.csv: file not found" in lines
    assert "Traceback" not in err


@pytest.mark.parametrize("name", sorted(p.name for p in FIXTURES.glob("wrong_*.csv")))
def test_data_check_exits_2_on_each_broken_fixture(capsys, name):
    args = ["data", "check", fx(name)]
    if name == "wrong_duplicate_shipped_id.csv":
        args.insert(2, "--with-shipped")
    code, out, err = run(capsys, *args)
    assert (code, out) == (EXIT_INPUT, "")
    assert err.startswith("rdshare: error: ")
    assert "Traceback" not in err


def test_data_show_with_extra_rows_and_replace(capsys):
    code, out, _ = run(
        capsys, "data", "show", "--data", fx("extra_rows.csv"), "--replace-data", "--csv"
    )
    assert code == 0
    assert out.splitlines()[0].startswith("id,lab,year")
    assert [line.split(",")[0] for line in out.splitlines()[1:]] == ["u1", "u2"]


def test_data_show_replace_without_data_is_refused(capsys):
    code, out, err = run(capsys, "data", "show", "--replace-data")
    assert (code, out) == (EXIT_INPUT, "")
    assert err == (
        "rdshare: error: <command line>, option '--replace-data': needs at least one --data file\n"
    )


def test_data_show_with_a_bad_file(capsys):
    code, _, err = run(capsys, "data", "show", "--data", fx("wrong_missing_source.csv"))
    assert code == EXIT_INPUT
    assert "column 'source': is empty" in err


# --- priors --------------------------------------------------------------------------------------


def test_priors_check_and_show(capsys):
    code, out, _ = run(capsys, "priors", "check", fx("good_priors.toml"), "skeptical")
    assert code == 0
    assert out.splitlines() == [
        f"ok: {fx('good_priors.toml')}: 14 priors",
        "ok: skeptical: 14 priors",
    ]
    code, out, _ = run(capsys, "priors", "show", "epoch-2024", "--rationale")
    assert code == 0
    assert "f_frontier" in out
    assert "rationale:" in out


def test_fit_refuses_a_prior_resting_on_a_fitted_row_before_any_work(capsys, tmp_path):
    """epoch-2024's f prior was built from six shipped rows: fitting them with it exits 2, naming the
    prior, each row and the way out, and writes nothing."""
    out = tmp_path / "run"
    code, _, err = run(capsys, "fit", "--priors", "epoch-2024", "--out", str(out), "--no-report")
    assert code == EXIT_INPUT
    assert "the prior of 'f_frontier' rests on row 'bloom'" in err
    assert "epoch-2024.toml, line" in err
    assert "priors.f_frontier.rests_on" in err
    assert "--exclude-rests-on" in err
    assert "Traceback" not in err
    assert not out.exists()


def test_priors_check_collects_problems_across_files(capsys):
    code, out, err = run(
        capsys,
        "priors",
        "check",
        fx("wrong_mass.toml"),
        fx("good_priors.toml"),
        fx("wrong_syntax.toml"),
    )
    assert code == EXIT_INPUT
    assert out == f"ok: {fx('good_priors.toml')}: 14 priors\n"
    assert err.splitlines()[0] == "rdshare: error: 3 problems:"
    assert f"  - {fx('wrong_syntax.toml')}, line 15: is not valid TOML: Invalid value" in err


@pytest.mark.parametrize("name", sorted(p.name for p in FIXTURES.glob("wrong_*.toml")))
def test_priors_check_exits_2_on_each_broken_fixture(capsys, name):
    code, out, err = run(capsys, "priors", "check", fx(name))
    assert (code, out) == (EXIT_INPUT, "")
    assert err.startswith("rdshare: error: ")
    assert "Traceback" not in err


def test_priors_show_unknown_shipped_name(capsys):
    code, _, err = run(capsys, "priors", "show", "sceptical")
    assert code == EXIT_INPUT
    assert err == (
        "rdshare: error: <command line>, option '--priors': 'sceptical' is neither a file nor a "
        "shipped prior file (default, epoch-2024, skeptical)\n"
    )


# --- fit: everything refused before sampling, nothing written ------------------------------------


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--data", fx("wrong_categories.csv")], "column 'position': 'Leader' is not one of"),
        (["--data", fx("extra_rows.csv"), "--data", fx("extra_rows.csv")], "duplicate id 'u1'"),
        (["--replace-data"], "needs at least one --data file"),
        (["--priors", fx("wrong_support.toml")], "a normal prior does not fit 'discount'"),
        (["--priors", "nope"], "'nope' is neither a file nor a shipped prior file"),
        (["--name", "../escape"], "'../escape' is not a valid run name"),
        (["--name", "/tmp/abs"], "'/tmp/abs' is not a valid run name"),
        (["--name", "a/b"], "'a/b' is not a valid run name"),
        (["--name", ".."], "'..' is not a valid run name"),
        (["--name", "x", "--out", "y"], "give --out or --name, not both"),
        (["--draws", "0"], "argument --draws: 0 must be >= 1"),
        (["--draws", "many"], "argument --draws: 'many' is not a whole number"),
        (["--tune", "-1"], "argument --tune: -1 must be >= 0"),
        (["--chains", "1.5"], "argument --chains: '1.5' is not a whole number"),
        (["--seed", "-3"], "argument --seed: -3 must be >= 0"),
        (["--seed", str(2**32)], f"argument --seed: {2**32} must be below 2**32"),
        (["--target-accept", "1.5"], "argument --target-accept: 1.5 must be in [0.5, 1)"),
        (["--target-accept", "nan"], "argument --target-accept: nan must be in [0.5, 1)"),
        (["--target-accept", "high"], "argument --target-accept: 'high' is not a number"),
        (["--variant", "other"], "argument --variant: invalid choice: 'other'"),
    ],
)
def test_fit_refuses_bad_input_with_exit_2_and_writes_nothing(capsys, in_tmp, args, needle):
    code, _, err = run(capsys, "fit", *args)
    assert code == EXIT_INPUT
    assert needle in err
    assert "Traceback" not in err
    assert_nothing_written(in_tmp)


def _fake_run_folder(folder: Path) -> Path:
    with runs.staged_folder(folder) as tmp:
        (tmp / "posterior.nc").write_text("x")
        runs.write_manifest(tmp, {}, hashed=("posterior.nc",))
    return folder


def test_fit_refuses_an_existing_run_folder_without_force(capsys, in_tmp):
    folder = _fake_run_folder(in_tmp / "outputs" / "mine")
    before = (folder / "manifest.json").read_bytes()
    for args, shown in ((["--out", str(folder)], folder), (["--name", "mine"], "outputs/mine")):
        code, _, err = run(capsys, "fit", *args)
        assert code == EXIT_INPUT
        assert err == (
            f"rdshare: error: {shown} already exists; choose another --out/--name or pass "
            "--force to replace it\n"
        )
    assert (folder / "manifest.json").read_bytes() == before


def test_fit_force_never_replaces_a_folder_that_is_not_a_run(capsys, in_tmp):
    (in_tmp / "thesis.tex").write_text("years of work")
    code, _, err = run(capsys, "fit", "--out", ".", "--force")
    assert code == EXIT_INPUT
    assert err == (
        "rdshare: error: . is not a folder rdshare wrote (no manifest.json); not replaced, even "
        "with --force\n"
    )
    assert (in_tmp / "thesis.tex").read_text() == "years of work"


def test_fit_out_under_a_file(capsys, in_tmp):
    (in_tmp / "f").write_text("x")
    code, _, err = run(capsys, "fit", "--out", "f/run")
    assert code == EXIT_INPUT
    assert err == "rdshare: error: f/run: cannot be created: f is a file, not a folder\n"


# --- commands that read a run folder -------------------------------------------------------------

RUN_READERS = [
    ["predict", "{run}"],
    ["report", "{run}"],
    ["forecast", "{run}", "--scenario", "essay-claims"],
    ["sensitivity", "{run}", "--no-refit"],
]


@pytest.mark.parametrize("argv", RUN_READERS, ids=lambda a: a[0])
def test_commands_refuse_a_path_that_is_not_a_run_folder(capsys, in_tmp, argv):
    cmd = [a.format(run=str(in_tmp / "nope")) for a in argv]
    code, _, err = run(capsys, *cmd)
    assert code == EXIT_INPUT
    assert err == f"rdshare: error: {in_tmp / 'nope'}: is not a run folder (no such folder)\n"


@pytest.mark.parametrize("argv", RUN_READERS, ids=lambda a: a[0])
def test_commands_refuse_an_incomplete_run_folder(capsys, in_tmp, argv):
    folder = in_tmp / "half"
    folder.mkdir()
    (folder / "posterior.nc").write_text("half written")
    cmd = [a.format(run=str(folder)) for a in argv]
    code, _, err = run(capsys, *cmd)
    assert code == EXIT_INPUT
    assert err == (
        f"rdshare: error: {folder / 'manifest.json'}: missing: this is not a complete rdshare run "
        "folder\n"
    )


# --- operating-system errors and interrupts map to clean exits -----------------------------------


def test_an_os_error_is_a_clean_exit_1(capsys, monkeypatch):
    def denied(args):
        raise PermissionError(13, "Permission denied", "/data/rows.csv")

    monkeypatch.setattr(data_cmd, "run_check", denied)
    assert run(capsys, "data", "check", "x.csv") == (
        EXIT_ERROR,
        "",
        "rdshare: error: /data/rows.csv: Permission denied\n",
    )


def test_ctrl_c_in_a_command_exits_130(capsys, monkeypatch):
    def interrupted(args):
        raise KeyboardInterrupt

    monkeypatch.setattr(data_cmd, "run_check", interrupted)
    assert run(capsys, "data", "check", "x.csv") == (
        EXIT_INTERRUPTED,
        "",
        "rdshare: interrupted; no run folder was left behind\n",
    )


def test_sigterm_handler_is_restored_after_main(capsys):
    import signal

    before = signal.getsignal(signal.SIGTERM)
    run(capsys, "data", "check", fx("good.csv"))
    assert signal.getsignal(signal.SIGTERM) == before


# --- the installed console script, as a shell sees it --------------------------------------------


def test_console_script_is_installed():
    """The console script is part of every install (make test installs it): never skip its tests."""
    assert RDSHARE.exists(), f"{RDSHARE} is missing: install rdshare (make test does)"


def test_console_script_exit_codes(tmp_path):
    def sh(*argv):
        return subprocess.run([str(RDSHARE), *argv], cwd=tmp_path, capture_output=True, text=True)

    ok = sh("--version")
    assert (ok.returncode, ok.stdout.startswith("rdshare ")) == (0, True)
    bad = sh("data", "check", fx("wrong_many_problems.csv"))
    assert bad.returncode == EXIT_INPUT
    assert bad.stderr.startswith("rdshare: error: 4 problems:")
    assert bad.stdout == ""


def test_a_closed_pipe_is_not_an_error(tmp_path):
    """``rdshare data show --csv ... | head -1``: the reader leaves early; exit 0, no traceback."""
    big = tmp_path / "big.csv"
    _write_rows(big, [_row(f"x{i}") for i in range(5000)])
    proc = subprocess.Popen(
        [str(RDSHARE), "data", "show", "--csv", "--replace-data", "--data", str(big)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdout.readline().startswith(b"id,")
    proc.stdout.close()  # the reader goes away with most of the output unread
    err = proc.stderr.read().decode()
    proc.stderr.close()
    assert proc.wait(timeout=60) == 0
    assert err == ""


def test_everything_printed_reaches_a_file_before_the_fast_exit(tmp_path):
    """The console script ends with os._exit (rdshare.cli.exit_now): buffered output must be flushed."""
    big = tmp_path / "big.csv"
    _write_rows(big, [_row(f"x{i}") for i in range(3000)])
    out = tmp_path / "out.csv"
    with open(out, "w") as fh:
        proc = subprocess.run(
            [str(RDSHARE), "data", "show", "--csv", "--replace-data", "--data", str(big)],
            stdout=fh,
            stderr=subprocess.PIPE,
            text=True,
        )
    assert (proc.returncode, proc.stderr) == (0, "")
    lines = out.read_text().splitlines()
    assert len(lines) == 3001
    assert lines[-1].startswith("x2999,")


@pytest.mark.parametrize("thread", [False, True])
def test_exit_now_keeps_the_code_and_waits_for_a_live_thread(tmp_path, thread):
    """exit_now flushes and keeps the exit code; with a non-daemon thread alive it exits the ordinary
    way, so the thread finishes its work."""
    done = tmp_path / "done"
    script = textwrap.dedent(
        f"""
        import sys, threading, time
        from pathlib import Path
        from rdshare.cli import exit_now

        def work():
            time.sleep(0.5)
            Path({str(done)!r}).write_text("ok")

        if {thread}:
            threading.Thread(target=work).start()
        sys.stdout.write("no newline, still buffered")
        exit_now(3)
        """
    )
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert proc.returncode == 3
    assert proc.stdout == "no newline, still buffered"
    assert done.exists() == thread


def data_cmd_columns():
    from rdshare.core.dataset import COLUMNS

    return list(COLUMNS)


def _row(rid: str, **kw) -> dict:
    base = {c: "" for c in data_cmd_columns()}
    base.update(
        id=rid, lab="LabA", model="M", year="2025", position="leader", scope="full",
        unit="flop", kind="point", value="0.5", provenance="lab", source="S",
    )  # fmt: skip
    return {**base, **kw}


def _write_rows(path, rows: list[dict]) -> None:
    import csv

    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=data_cmd_columns(), lineterminator="\n")
        w.writeheader()
        w.writerows(rows)


def test_hundreds_of_bad_rows_list_the_first_fifty_and_count_the_rest(tmp_path, capsys):
    """One message, not a wall: the first 50 problems named (file, line, field), the rest counted."""
    big = tmp_path / "bad.csv"
    _write_rows(big, [_row(f"x{i}", value="1.5") for i in range(300)])
    code, _out, err = run(capsys, "data", "check", str(big))
    assert code == EXIT_INPUT
    lines = err.splitlines()
    assert lines[0] == "rdshare: error: 300 problems:"
    listed = [ln for ln in lines if ln.startswith("  - ")]
    assert len(listed) == 50
    assert f"{big}, line 2" in listed[0]
    assert "value" in listed[0]
    assert lines[-1].startswith("  ... and 250 more")
