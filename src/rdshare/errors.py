"""The project's own error types.

Every problem with user input ends as an :class:`InputError` carrying one or more :class:`Problem`
records, each naming the file, line and field at fault. The CLI prints them and exits with code 2.
Nothing else in the library should let a bare ``ValueError`` or ``KeyError`` escape from input handling.

Two helpers turn the ways reading a user's file can fail into such problems: :func:`read_input` (a
bounded read: missing file, folder, unreadable, too large) and :func:`parse_toml` (encoding and every
exception :mod:`tomllib` raises on hostile text).
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_INPUT = 2
EXIT_UNCONVERGED = 3
EXIT_INTERRUPTED = 130
EXIT_TERMINATED = 143


@dataclass(frozen=True)
class Problem:
    """One thing wrong with one input.

    Parameters
    ----------
    file : str
        The file (or ``"<command line>"``) the problem is in.
    message : str
        What is wrong and what is allowed.
    line : int or None
        1-based line number in the file, where one applies.
    field : str or None
        The column, key or option at fault.
    """

    file: str
    message: str
    line: int | None = None
    field: str | None = None

    def __str__(self) -> str:
        where = self.file
        if self.line is not None:
            where += f", line {self.line}"
        if self.field is not None:
            where += f", {_field_word(self.file)} '{self.field}'"
        return f"{where}: {self.message}"


def _field_word(file: str) -> str:
    if file.endswith(".csv"):
        return "column"
    if file == "<command line>":
        return "option"
    return "key"


class RdshareError(Exception):
    """Base class of every error rdshare raises on purpose."""

    exit_code = EXIT_ERROR


class InputError(RdshareError):
    """Bad user input: one or more problems, each naming file, line and field."""

    exit_code = EXIT_INPUT

    def __init__(self, problems: list[Problem] | Problem | str, file: str | Path | None = None):
        if isinstance(problems, str):
            problems = [Problem(str(file) if file is not None else "<input>", problems)]
        elif isinstance(problems, Problem):
            problems = [problems]
        if not problems:
            raise ValueError("InputError needs at least one problem")
        self.problems: list[Problem] = list(problems)
        super().__init__(self.render())

    #: At most this many problems are listed; the rest are counted (the full list stays in ``problems``).
    SHOWN = 50

    def render(self) -> str:
        """The problems, one per line, with a count when there are several (at most :attr:`SHOWN`)."""
        if len(self.problems) == 1:
            return str(self.problems[0])
        lines = [f"{len(self.problems)} problems:"]
        lines += [f"  - {p}" for p in self.problems[: self.SHOWN]]
        rest = len(self.problems) - self.SHOWN
        if rest > 0:
            lines.append(f"  ... and {rest} more (fix these first; the rest may be alike)")
        return "\n".join(lines)


class RunFolderError(InputError):
    """A run folder is missing files, was edited after it was written, or is from another version."""


class RunExistsError(RdshareError):
    """A result would overwrite an existing one and ``--force`` was not given."""

    exit_code = EXIT_INPUT


class SamplingError(RdshareError):
    """The sampler stopped without producing every draw asked for; nothing is saved."""


def read_input(path: str | Path, limit: int, what: str = "file") -> bytes:
    """The bytes of a user's input file, or an :class:`InputError` saying why they cannot be read.

    At most ``limit`` bytes are accepted: the file is read in one bounded call, so a huge file, a device
    such as ``/dev/zero`` or a pipe never exhausts memory.

    Parameters
    ----------
    path : path
        The file.
    limit : int
        Largest accepted size in bytes.
    what : str
        What the file should be (``"CSV file"``, ``"TOML file"``), for messages.
    """
    name = str(path)
    path = Path(path)
    try:
        if path.is_dir():
            raise InputError(Problem(name, f"is a folder, not a {what}"))
        with open(path, "rb") as fh:
            raw = fh.read(limit + 1)
    except FileNotFoundError:
        raise InputError(Problem(name, "file not found")) from None
    except IsADirectoryError:
        raise InputError(Problem(name, f"is a folder, not a {what}")) from None
    except OSError as exc:
        raise InputError(Problem(name, f"cannot be read ({exc.strerror or exc})")) from None
    except ValueError:  # e.g. a NUL byte in the name
        raise InputError(Problem(repr(name), "is not a valid file name")) from None
    if len(raw) > limit:
        raise InputError(Problem(name, f"is larger than the limit of {limit} bytes"))
    return raw


_TOML_WHERE = re.compile(r"\s*\(at line (\d+), column \d+\)\s*$|\s*\(at end of document\)\s*$")


def parse_toml(raw: bytes, name: str) -> tuple[str, dict]:
    """Decode and parse a TOML file's bytes: ``(text, document)`` or an :class:`InputError`.

    Everything :mod:`tomllib` can raise on hostile input (syntax errors, integers too long to convert,
    nesting deep enough to exhaust the recursion limit) becomes a problem naming the file and, where
    the parser says, the line. Nothing in the file is evaluated.
    """
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise InputError(Problem(name, "is not UTF-8 text (save it as UTF-8)", line=line)) from None
    try:
        doc = tomllib.loads(text)
    except ValueError as exc:
        # a TOMLDecodeError, or int() refusing a number with thousands of digits
        msg = str(exc)
        m = _TOML_WHERE.search(msg)
        line = getattr(exc, "lineno", None)
        if m is not None:
            msg = msg[: m.start()]
            if line is None and m.group(1) is not None:
                line = int(m.group(1))
        if "at end of document" in str(exc):
            msg += " (at the end of the file)"
        raise InputError(Problem(name, f"is not valid TOML: {msg}", line=line)) from None
    except RecursionError:
        raise InputError(
            Problem(name, "is not valid TOML: arrays or tables nested too deeply")
        ) from None
    return text, doc
