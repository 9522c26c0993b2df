"""One error family for everything that stops a command.

Findings (a schema or policy failure) are data, not exceptions; an exception here means the
command could not do what it was asked. Each carries the exit code the CLI uses and a hint
that tells the user what to do next.
"""
from __future__ import annotations

import re

# Exit codes, decided here and only here (docs/commands.md#exit-codes).
EXIT_OK = 0
EXIT_FINDINGS = 1
EXIT_USAGE = 2
EXIT_CANNOT_RUN = 3
EXIT_INTERNAL = 4


# C0 and C1 controls, DEL, the Unicode line and paragraph separators and the bidirectional
# overrides: characters that start a new line (a GitHub workflow command reads any line that
# starts with ``::``), move the cursor or reorder what a terminal shows.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    if char in _NAMED:
        return _NAMED[char]
    code = ord(char)
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


def printable(text: object) -> str:
    """``text`` on one line, safe for a terminal or a CI log: control characters shown as
    escapes (``\\n``, ``\\x1b``, ``\\u202e``). Every text output passes names and messages
    through this, so a file name cannot start a line of its own (a ``.dvc`` file named
    ``x\\n::warning::…`` would otherwise inject a workflow command into the log)."""
    text = str(text)
    if not _CONTROL.search(text):
        return text
    return _CONTROL.sub(_escape, text)


def printable_lines(text: object) -> str:
    """Like :func:`printable`, but a text of several lines (a command's output in an error)
    keeps its lines; a line that would read as a workflow command (``::``) is defused."""
    lines = [printable(line) for line in str(text).split("\n")]
    return "\n".join(f"\\x3a{line.lstrip()[1:]}" if line.lstrip().startswith("::") else line
                     for line in lines)


def location(file: str | None, line: int | None = None) -> str:
    """``file:line``, or ``file`` without a line, or "" without a file: how every message,
    report and annotation names a place in the registry (escaped: :func:`printable`)."""
    if not file:
        return ""
    return f"{printable(file)}:{line}" if line else printable(file)


class ModelregError(Exception):
    """Base class: a command failed; ``str()`` is the user-facing message."""

    exit_code = EXIT_CANNOT_RUN

    def __init__(self, message: str, *, hint: str | None = None, file: str | None = None,
                 line: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.file = file
        self.line = line

    @property
    def location(self) -> str:
        """``file:line: `` before the message ("" when no file is known)."""
        where = location(self.file, self.line)
        return f"{where}: " if where else ""

    def __str__(self) -> str:
        return f"{self.location}{printable_lines(self.message)}"


class UsageError(ModelregError):
    """The arguments are wrong: a bad name, version or path (exit 2)."""

    exit_code = EXIT_USAGE


class InputError(ModelregError):
    """A file the user gave or the registry holds cannot be read as valid input (exit 1).

    Used when a command cannot go on because of a finding it cannot report as data,
    e.g. ``register`` refusing an existing version.
    """

    exit_code = EXIT_FINDINGS


class RefusedError(InputError):
    """The registry's rules refuse the request (existing version, downgrade, untracked weights)."""


class CannotRunError(ModelregError):
    """Something outside the registry failed: git, DVC, a remote, an engine (exit 3)."""

    exit_code = EXIT_CANNOT_RUN


class CommandError(CannotRunError):
    """An external command failed; the message shows the command, its code and its output."""

    def __init__(self, cmd: list[str], returncode: int, stdout: str, stderr: str,
                 hint: str | None = None) -> None:
        out = stdout.strip()
        err = stderr.strip()
        parts = [f"command failed ({returncode}): {' '.join(cmd)}"]
        if err:
            parts.append(f"stderr: {err[-2000:]}")
        if out:
            parts.append(f"stdout: {out[-2000:]}")
        super().__init__("\n  ".join(parts), hint=hint)
        self.cmd = cmd
        self.returncode = returncode
        self.stdout = stdout
        self.stderr = stderr



class PolicyRefusal(RefusedError):
    """The policies deny the request; ``findings`` says why, rule by rule (exit 1)."""

    def __init__(self, message: str, findings: tuple = (), **kw) -> None:
        super().__init__(message, **kw)
        self.findings = tuple(findings)
