"""An undo log for commands that write: files created or changed, the index, the branch.

A failed command calls :meth:`Undo.rollback` and the repository is as it was.
"""
from __future__ import annotations

import shutil
from pathlib import Path

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

    def create_dir(self, path: Path) -> None:
        missing = []
        p = path
        while not p.exists():
            missing.append(p)
            p = p.parent
        path.mkdir(parents=True, exist_ok=True)
        self.created.extend(reversed(missing))

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
