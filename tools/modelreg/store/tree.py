"""Where a registry's files come from: the work tree, or the tree of one commit.

Both answer the same three questions — what kind of entry is at a path, what a folder holds,
what a file's bytes are — so every reader of the registry (``Registry`` and everything built on
it) works unchanged on any revision. A commit is read through one ``git ls-tree`` per model
folder (or one for the whole tree, see :meth:`CommitTree.index_all`) and one
``git cat-file --batch`` process for every blob; blobs are read by id, so a file that several
revisions share is read once per view.
"""
from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Literal, Protocol

from modelreg.core.errors import InputError
from modelreg.store.git import CatFile, Git

Kind = Literal["file", "dir", "other"]

_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)    # without it (Windows), every read is the careful one
_MODE_KIND: dict[str, Kind] = {"100644": "file", "100755": "file", "040000": "dir"}


class Tree(Protocol):
    """A registry's files at one revision; paths are root-relative with ``/``."""

    rev: str | None            # the commit, or None for the work tree

    def kind(self, rel: str) -> Kind | None:
        """``file`` (a regular file), ``dir``, ``other`` (symlink, FIFO, submodule…) or None."""

    def listdir(self, rel: str) -> list[tuple[str, Kind]]:
        """The entries of folder ``rel`` (``""`` for the root), sorted by name."""

    def read(self, rel: str) -> bytes:
        """A regular file's bytes. Raises :class:`InputError` naming the file when it is
        missing, not a regular file, or leaves the registry."""

    def close(self) -> None: ...


class WorkTree:
    """The files on disk under ``root``."""

    rev: str | None = None

    def __init__(self, root: Path) -> None:
        self.root = root
        self._real_root = os.path.realpath(root)
        self._root = str(root)
        self._inside_dirs: dict[str, bool] = {}     # folder -> its real path is inside root

    def _inside(self, rel: str) -> Path:
        path = self.root / rel
        real = os.path.realpath(path)
        if os.path.commonpath([real, self._real_root]) != self._real_root:
            raise InputError("path points outside the registry (symlink?)", file=rel,
                             hint="registry files must live inside the repository")
        return path

    def kind(self, rel: str) -> Kind | None:
        try:
            mode = os.lstat(os.path.join(self._root, rel)).st_mode
        except (FileNotFoundError, NotADirectoryError):
            return None
        if stat.S_ISREG(mode):
            return "file"
        if stat.S_ISDIR(mode):
            return "dir"
        if stat.S_ISLNK(mode):     # a link inside the registry reads as what it points at
            try:
                target = self._inside(rel)
                mode = os.stat(target).st_mode
            except (InputError, OSError):
                return "other"
            return "file" if stat.S_ISREG(mode) else "dir" if stat.S_ISDIR(mode) else "other"
        return "other"

    def listdir(self, rel: str) -> list[tuple[str, Kind]]:
        folder = self.root / rel if rel else self.root
        try:
            entries = list(os.scandir(folder))
        except (FileNotFoundError, NotADirectoryError):
            return []
        out: list[tuple[str, Kind]] = []
        for e in entries:
            if e.is_symlink():
                out.append((e.name, self.kind(f"{rel}/{e.name}" if rel else e.name) or "other"))
            elif e.is_file(follow_symlinks=False):
                out.append((e.name, "file"))
            elif e.is_dir(follow_symlinks=False):
                out.append((e.name, "dir"))
            else:
                out.append((e.name, "other"))
        return sorted(out)

    def _dir_inside(self, folder: str) -> bool:
        """Whether ``folder`` (a path under the root) really is inside the registry: a folder
        that is no link is where its parent is, so one ``lstat`` per folder decides."""
        known = self._inside_dirs.get(folder)
        if known is None:
            parent, name = os.path.split(folder)
            if folder == self._root:
                known = True
            elif name in ("", ".", "..") or not folder.startswith(self._root + os.sep):
                real = os.path.realpath(folder)
                known = real == self._real_root or real.startswith(self._real_root + os.sep)
            else:
                try:
                    link = stat.S_ISLNK(os.lstat(folder).st_mode)
                except OSError:
                    link = True           # the careful path says what is wrong
                if link:
                    real = os.path.realpath(folder)
                    known = real.startswith(self._real_root + os.sep)
                else:
                    known = self._dir_inside(parent)
            self._inside_dirs[folder] = known
        return known

    def read(self, rel: str) -> bytes:
        # The common case in one open: a regular file (never a link: O_NOFOLLOW) in a folder
        # whose real path, resolved once per folder, is inside the registry.
        path = os.path.join(self._root, rel)
        folder = os.path.dirname(path)
        if _NOFOLLOW and self._dir_inside(folder):
            try:
                fd = os.open(path, os.O_RDONLY | _NOFOLLOW | getattr(os, "O_NONBLOCK", 0))
            except OSError:
                fd = -1                   # missing, a link, …: the careful path says which
            if fd >= 0:
                try:
                    regular = stat.S_ISREG(os.fstat(fd).st_mode)
                except OSError:
                    regular = False
                if not regular:
                    os.close(fd)          # a folder, FIFO or device: the careful path says so
                else:
                    with os.fdopen(fd, "rb") as fh:
                        return fh.read()
        return self._read_slowly(rel)

    def _read_slowly(self, rel: str) -> bytes:
        path = self._inside(rel)
        try:
            st = path.stat()
        except FileNotFoundError:
            raise InputError("file not found", file=rel) from None
        except OSError as exc:
            raise InputError(f"cannot read: {exc.strerror}", file=rel) from None
        if not stat.S_ISREG(st.st_mode):   # a FIFO would block, a folder cannot be read
            raise InputError("not a regular file", file=rel,
                             hint="a registry file must be a plain file")
        return path.read_bytes()

    def close(self) -> None:
        pass


class CommitTree:
    """The files of one commit, read from git's object store."""

    def __init__(self, git: Git, commit: str) -> None:
        self.git = git
        self.rev: str | None = commit
        self._entries: dict[str, tuple[Kind, str]] = {}     # path -> (kind, object id)
        self._children: dict[str, dict[str, Kind]] = {}     # folder -> {name: kind}
        self._indexed: set[str] = set()                      # prefixes already listed
        self._all = False
        self._cat: CatFile | None = None

    @staticmethod
    def _prefix(rel: str) -> str:
        """The folder listed at once for ``rel``: a model's folder, or a top-level one."""
        parts = rel.split("/")
        if parts[0] == "models" and len(parts) >= 2:
            return "/".join(parts[:2])
        return parts[0]

    def _index(self, prefix: str) -> None:
        if self._all or prefix in self._indexed:
            return
        args = ["ls-tree", "-r", "-t", "-z", self.rev or "", "--"]
        out = self.git.run(*args, prefix) if prefix else self.git.run(*args[:-1])
        for record in out.split("\0"):
            if not record:
                continue
            meta, path = record.split("\t", 1)
            mode, _, oid = meta.split(" ")
            kind = _MODE_KIND.get(mode, "other")
            self._entries[path] = (kind, oid)
            folder, _, name = path.rpartition("/")
            self._children.setdefault(folder, {})[name] = kind
        if prefix:
            self._indexed.add(prefix)
        else:
            self._all = True

    def index_all(self) -> None:
        """List the whole tree in one call (for views that read most of the registry)."""
        self._index("")

    def kind(self, rel: str) -> Kind | None:
        if rel in ("", "."):
            return "dir"
        self._index(self._prefix(rel))
        entry = self._entries.get(rel)
        return entry[0] if entry else None

    def listdir(self, rel: str) -> list[tuple[str, Kind]]:
        rel = rel.strip("/")
        if rel in ("", "models") and not self._all:
            # one non-recursive listing: the model folders, without every file in them
            out = self.git.run("ls-tree", "-z", self.rev or "", *(["--", f"{rel}/"] if rel else []))
            found = []
            for record in out.split("\0"):
                if record:
                    meta, path = record.split("\t", 1)
                    found.append((path.rsplit("/", 1)[-1], _MODE_KIND.get(meta.split(" ")[0],
                                                                           "other")))
            return sorted(found)
        if rel:
            self._index(self._prefix(rel))
        return sorted(self._children.get(rel, {}).items())

    def read(self, rel: str) -> bytes:
        kind = self.kind(rel)
        where = f"{rel}@{(self.rev or '')[:12]}"
        if kind is None:
            raise InputError("file not found", file=where)
        if kind != "file":
            raise InputError("not a regular file", file=where,
                             hint="a registry file must be a plain file")
        if self._cat is None:
            self._cat = CatFile(self.git)
        raw = self._cat.read(self._entries[rel][1])
        if raw is None:                                # pragma: no cover - listed just now
            raise InputError("file not found", file=where)
        return raw

    def close(self) -> None:
        if self._cat is not None:
            self._cat.close()
            self._cat = None

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:  # noqa: BLE001 - interpreter shutdown
            pass
