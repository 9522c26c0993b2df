"""Which commits are on the protected branch's first-parent history, without walking all of
it on every command.

The answer is kept in ``.git/modelreg/first-parent-<branch digest>.bin``: the tip it was
computed for, then the ids of every first-parent commit of that tip, sorted, 20 bytes each
(a lookup is a binary search in the file, whatever the history's length). When the branch
has moved on, only the new part is walked (``rev-list --first-parent NEW``, stopped where
it meets the old tip) and the file is extended; a branch that was rewritten (the old tip
is not on the new tip's first-parent history) is walked again from scratch. A missing, unreadable or foreign file only costs one walk, and where
``.git`` cannot be written the walk is simply not remembered.

Before the first walk in a clone, a commit-graph is written when there is none
(``git commit-graph write --reachable --split``): the walk and every later ancestry
question (``merge-base``, ``log A..B``) read commit parents from it instead of parsing
commit objects.
"""
from __future__ import annotations

import hashlib
from bisect import bisect_left
from pathlib import Path

from modelreg.core.files import write_atomic
from modelreg.store.git import Git

_MAGIC = b"modelreg-first-parent-1\n"
_HEAD = len(_MAGIC) + 41                    # magic, the tip's hex id, a newline


class _Sorted:
    """The sorted 20-byte ids of a file's body, as a sequence for :func:`bisect_left`."""

    def __init__(self, body: bytes) -> None:
        self.body = body

    def __len__(self) -> int:
        return len(self.body) // 20

    def __getitem__(self, i: int) -> bytes:
        return self.body[i * 20:i * 20 + 20]


def _insert(body: bytes, added: list[bytes]) -> bytes:
    """``body`` (sorted ids) with ``added`` put in their places: a few memory moves for
    the commits a branch gained since the last command, one sort for many."""
    if len(added) > 1000:
        old = [body[i:i + 20] for i in range(0, len(body), 20)]
        return b"".join(sorted(old + added))
    out = bytearray(body)
    for key in added:
        i = bisect_left(_Sorted(out), key)
        if _Sorted(out)[i] != key:
            out[i * 20:i * 20] = key
    return bytes(out)


def state_dir(git: Git) -> Path | None:
    """``.git/modelreg`` of this clone (of the main work tree for a linked one)."""
    git_dir = git.root / ".git"
    if git_dir.is_dir():
        return git_dir / "modelreg"
    common = git.run("rev-parse", "--git-common-dir", check=False).strip()
    if not common:
        return None
    path = Path(common)
    return (path if path.is_absolute() else git.root / path) / "modelreg"


def ensure_commit_graph(git: Git, folder: Path | None) -> None:
    """Write a commit-graph when the repository has none (split, so later writes only add
    a small layer). Only where ``.git`` is writable; a failure is ignored (it only helps)."""
    if folder is None:
        return
    objects = folder.parent / "objects" / "info"
    if (objects / "commit-graph").is_file() or (objects / "commit-graphs").is_dir():
        return
    git.run("commit-graph", "write", "--reachable", "--split", check=False)


class FirstParents:
    """Membership in ``ref``'s first-parent history (``ref``: the protected branch as this
    clone has it), answered from the file described above."""

    def __init__(self, git: Git, ref: str) -> None:
        self.git = git
        self.ref = ref
        folder = state_dir(git)
        digest = hashlib.sha1(ref.encode()).hexdigest()[:12]
        self.folder = folder
        self.path = folder / f"first-parent-{digest}.bin" if folder else None
        self._ids: _Sorted | None = None

    def _load(self) -> tuple[str, bytes] | None:
        if not self.path or not self.path.is_file():
            return None
        try:
            raw = self.path.read_bytes()
        except OSError:
            return None
        if not raw.startswith(_MAGIC) or len(raw) < _HEAD or (len(raw) - _HEAD) % 20:
            return None
        return raw[len(_MAGIC):_HEAD - 1].decode("ascii", "replace"), raw[_HEAD:]

    def _walk(self, tip: str, old: str | None) -> tuple[list[str], bool]:
        """The first-parent commits from ``tip`` down to (not including) ``old``, and whether
        ``old`` is on ``tip``'s first-parent history; without ``old``, all of them. The walk
        stops at ``old``: extending costs what the branch gained, not its whole history."""
        commits, found = self.git.lines_until(old or "", "rev-list", "--first-parent", tip)
        return [c for c in commits if c], found or old is None

    def _ensure(self) -> _Sorted:
        if self._ids is not None:
            return self._ids
        tip = self.git.run("rev-parse", "--verify", "-q", f"{self.ref}^{{commit}}",
                           check=False).strip()
        if not tip:
            self._ids = _Sorted(b"")
            return self._ids
        loaded = self._load()
        if loaded is not None and loaded[0] == tip:
            self._ids = _Sorted(loaded[1])
            return self._ids
        ensure_commit_graph(self.git, self.folder)
        new, joined = self._walk(tip, loaded[0] if loaded else None)
        added = [bytes.fromhex(c) for c in new]
        if loaded is not None and joined:
            body = _insert(loaded[1], added)
        else:                      # the first walk, or the branch was rewritten: all of it
            body = b"".join(sorted(added))
        self._ids = _Sorted(body)
        if self.path:
            try:
                write_atomic(self.path, _MAGIC + tip.encode() + b"\n" + body)
            except OSError:
                pass                    # a read-only clone still answers, only slower
        return self._ids

    def __contains__(self, commit: object) -> bool:
        if not isinstance(commit, str) or len(commit) != 40:
            return False
        try:
            key = bytes.fromhex(commit)
        except ValueError:
            return False
        ids = self._ensure()
        i = bisect_left(ids, key)
        return i < len(ids) and ids[i] == key


__all__ = ["FirstParents", "ensure_commit_graph", "state_dir"]
