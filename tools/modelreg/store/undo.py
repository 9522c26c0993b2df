"""An undo log for commands that write: files created or changed, the index, the branch.

A failed command calls :meth:`Undo.rollback` (or runs its writes in :meth:`Undo.guard`) and
the repository is as it was, byte for byte.
"""
from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

from modelreg.core.errors import CannotRunError, ModelregError
from modelreg.core.files import write_atomic
from modelreg.store.registry import Registry


class Undo:
    """Remembers every change so a failure can put the repository back."""

    def __init__(self, registry: Registry) -> None:
        self.registry = registry
        self.git = registry.git
        self.created: list[Path] = []
        self.saved: dict[Path, bytes | None] = {}
        self.index = registry.root / ".git" / "index"
        self.index_bytes = self.index.read_bytes() if self.index.exists() else None
        self.branch = self.git.branch()
        self.head = self.git.head()
        self.new_branch: str | None = None

    def remember(self, path: Path) -> None:
        if path not in self.saved:
            self.saved[path] = path.read_bytes() if path.exists() else None

    def changed(self, path: Path) -> bool:
        """Whether a remembered file differs now from what it was."""
        now = path.read_bytes() if path.exists() else None
        return now != self.saved.get(path)

    def write(self, path: Path, data: str | bytes) -> None:
        """Write ``path`` atomically, remembering what it held."""
        self.remember(path)
        write_atomic(path, data)

    def copy(self, source: str | os.PathLike, path: Path) -> None:
        """Copy ``source`` to ``path``, remembering what ``path`` held."""
        self.remember(path)
        shutil.copyfile(source, path)

    def may_create(self, path: Path) -> None:
        """Something else (DVC) may create ``path`` and the folders on the way to it: the
        rollback removes those of them that do not exist now. Nothing is read or copied, so
        it suits large files such as cache objects."""
        missing = []
        p = path
        while not p.exists() and not p.is_symlink():
            missing.append(p)
            p = p.parent
        self.created.extend(reversed(missing))

    def create_dir(self, path: Path) -> None:
        missing = []
        p = path
        while not p.exists():
            missing.append(p)
            p = p.parent
        path.mkdir(parents=True, exist_ok=True)
        self.created.extend(reversed(missing))

    def branch_off(self, branch: str) -> None:
        """Create ``branch`` at HEAD and switch to it (the rollback deletes it)."""
        self.git.run("checkout", "-q", "-b", branch)
        self.new_branch = branch

    def rollback(self) -> list[str]:
        problems: list[str] = []
        for path, content in self.saved.items():
            try:
                if content is None:
                    path.unlink(missing_ok=True)
                else:
                    path.write_bytes(content)
            except OSError as exc:
                problems.append(f"could not restore {path}: {exc}")
        for path in reversed(self.created):
            try:
                if path.is_dir() and not path.is_symlink():
                    shutil.rmtree(path)
                else:
                    path.unlink(missing_ok=True)
            except OSError as exc:
                problems.append(f"could not remove {path}: {exc}")
        if self.index_bytes is not None:
            self.index.write_bytes(self.index_bytes)
        elif self.index.exists():
            self.index.unlink()
        if self.new_branch:
            if self.branch:
                self.git.run("symbolic-ref", "HEAD", f"refs/heads/{self.branch}", check=False)
            elif self.head:
                self.git.run("update-ref", "--no-deref", "HEAD", self.head, check=False)
            self.git.run("branch", "-D", self.new_branch, check=False)
        return problems

    @contextlib.contextmanager
    def guard(self, command: str) -> Iterator[Undo]:
        """Run a command's writes; on any failure roll back, and let the error say so:
        ``COMMAND failed, nothing was changed: …``, or what could not be put back.

        Errors of the family keep their type, exit code and hint; anything else becomes a
        :class:`CannotRunError`. An interrupt (Ctrl-C) is rolled back and re-raised as is.
        """
        try:
            yield self
        except BaseException as exc:
            problems = self.rollback()
            if isinstance(exc, (KeyboardInterrupt, SystemExit)):
                raise
            if isinstance(exc, ModelregError):
                if problems:
                    exc.message += "\n  rollback problems: " + "; ".join(problems)
                else:
                    exc.message = f"{command} failed, nothing was changed: {exc.message}"
                exc.args = (exc.message,)
                raise
            if problems:
                raise CannotRunError(f"{command} failed: {exc}\n  rollback problems: "
                                     + "; ".join(problems)) from exc
            raise CannotRunError(f"{command} failed, nothing was changed: {exc}",
                                 hint=f"fix the cause above and run {command} again") from exc
