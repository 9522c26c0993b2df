"""One writer at a time per clone: a lock file under ``.git/modelreg/``.

Two ``register`` runs in one clone would share one work tree, one index and one HEAD: the
second would branch off the first's branch and commit onto it. The lock is an ``flock`` on
``.git/modelreg/NAME.lock``; the kernel releases it when the process ends, however it ends
(``kill -9`` included), so a lock file left behind never blocks anyone. The file holds the
holder's pid and start time, for the message the second run gets.
"""
from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path

from modelreg.core import timefmt
from modelreg.core.errors import CannotRunError
from modelreg.store.git import Git


def state_dir(git: Git) -> Path:
    """``.git/modelreg`` of the clone (the common git folder, shared by its worktrees)."""
    common = git.run("rev-parse", "--git-common-dir").strip()
    path = Path(common)
    if not path.is_absolute():
        path = Path(git.root) / path
    return path / "modelreg"


@contextlib.contextmanager
def hold(git: Git, name: str, command: str) -> Iterator[Path]:
    """Hold ``.git/modelreg/NAME.lock`` while the block runs; raise
    :class:`CannotRunError` at once when another process holds it."""
    folder = state_dir(git)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.lock"
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 200, 0).decode("utf-8", "replace").strip() or "unknown"
            raise CannotRunError(
                f"another {command} is running in this clone ({holder}); nothing was changed",
                hint=f"wait for it to finish, then run {command} again (the lock, "
                     f"{path.name} in .git/modelreg, is released when that process ends)"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()}, since {timefmt.rfc3339()}\n".encode(), 0)
        try:
            yield path
        finally:
            with contextlib.suppress(OSError):
                os.ftruncate(fd, 0)
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


__all__ = ["hold", "state_dir"]
