"""Files: the one way modelreg hashes a file and the one way it writes one.

``hash_file`` reads a file once, in chunks (weights can be larger than memory), and gives
both digests the registry records: DVC's md5 and our sha256. ``write_atomic`` never leaves a
half-written file behind: readers see the old content or the new, nothing in between.
"""
from __future__ import annotations

import hashlib
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

CHUNK = 1 << 20


@dataclass(frozen=True)
class FileHashes:
    """What a version record says about one file: DVC's md5, our sha256, the size in bytes."""

    md5: str
    sha256: str
    size: int


def hash_file(path: str | os.PathLike) -> FileHashes:
    """md5, sha256 and size of ``path`` in one read pass."""
    md5, sha = hashlib.md5(), hashlib.sha256()
    size = 0
    with open(path, "rb") as fh:
        while chunk := fh.read(CHUNK):
            md5.update(chunk)
            sha.update(chunk)
            size += len(chunk)
    return FileHashes(md5.hexdigest(), sha.hexdigest(), size)


def write_atomic(path: str | os.PathLike, data: str | bytes) -> None:
    """Write ``data`` (text is UTF-8 with the newlines as given) to ``path``: a temporary file
    in the same folder, flushed to disk, then renamed over ``path``. On any failure the
    temporary file is removed and ``path`` keeps its old content. Missing parent folders
    are created; the new file gets the usual permissions (the umask applies)."""
    p = Path(path)
    raw = data.encode("utf-8") if isinstance(data, str) else bytes(data)
    p.parent.mkdir(parents=True, exist_ok=True)
    tmp = p.with_name(f".{p.name}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(raw)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, p)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


__all__ = ["FileHashes", "hash_file", "write_atomic"]
