"""The project's own error types.

Every problem with user input ends as an :class:`InputError` carrying one or more :class:`Problem`
records, each naming the file, line and field at fault. The CLI prints them and exits with code 2.
Nothing else in the library should let a bare ``ValueError`` or ``KeyError`` escape from input handling.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_INPUT = 2
EXIT_UNCONVERGED = 3
EXIT_INTERRUPTED = 130


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

    def render(self) -> str:
        """All problems, one per line, with a count when there are several."""
        if len(self.problems) == 1:
            return str(self.problems[0])
        lines = [f"{len(self.problems)} problems:"]
        lines += [f"  - {p}" for p in self.problems]
        return "\n".join(lines)


class RunFolderError(InputError):
    """A run folder is missing files, was edited after it was written, or is from another version."""


class RunExistsError(RdshareError):
    """A result would overwrite an existing one and ``--force`` was not given."""

    exit_code = EXIT_INPUT


class SamplingError(RdshareError):
    """The sampler stopped without producing every draw asked for; nothing is saved."""
