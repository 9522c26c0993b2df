"""Facts derived from file contents, kept in the clone's ``.git/modelreg/`` folder.

Two shapes, one idea: a value is stored under a key derived from the bytes it was computed
from, so a file that did not change is not parsed, validated or judged again, whether it is
committed, staged or just edited. :class:`ContentCache` is one small JSON file per use (model
summaries, rendered cards, tag verdicts); :class:`Store` holds the many entries of a full
``check`` or ``validate`` (parsed records, secret scans, policy results) in segment files
several processes can write at once. Either is a hint: a missing, unreadable, damaged or
foreign cache only costs time, and deleting ``.git/modelreg/`` is always safe.
"""
from __future__ import annotations

import hashlib
import json
import os
import secrets
import time
from pathlib import Path
from typing import Any

from modelreg.core.files import write_atomic
from modelreg.core.release import __version__


class ContentCache:
    """One JSON file of entries keyed by the SHA-1 of a file's bytes and the release."""

    def __init__(self, root: Path, name: str, *, use: bool = True) -> None:
        """``use=False``: entries of this run only, nothing read or written."""
        git_dir = root / ".git"
        self.path = git_dir / "modelreg" / f"{name}.json" if use and git_dir.is_dir() else None
        self.salt = __version__
        self._data: dict[str, Any] = {}
        self._dirty = False
        if self.path and self.path.is_file():
            try:
                loaded = json.loads(self.path.read_text(encoding="utf-8"))
                if loaded.get("salt") == self.salt and isinstance(loaded.get("entries"), dict):
                    self._data = loaded["entries"]
            except (OSError, ValueError):
                self._data = {}

    @staticmethod
    def key(raw: bytes) -> str:
        return hashlib.sha1(raw).hexdigest()

    def get(self, key: str) -> Any:
        return self._data.get(key)

    def put(self, key: str, value: Any) -> None:
        if self._data.get(key) != value:
            self._data[key] = value
            self._dirty = True

    def save(self, keep: set[str] | None = None) -> None:
        """Write the cache back (only what ``keep`` names, when given: no unbounded growth)."""
        if not self.path or not self._dirty:
            return
        entries = {k: v for k, v in self._data.items() if keep is None or k in keep}
        try:
            write_atomic(self.path, json.dumps({"salt": self.salt, "entries": entries}))
        except OSError:
            pass                       # a read-only clone still answers, only slower


# Registry-wide caches (tag verdicts, signature verdicts) are read for more tags than this
# only: one model's few are judged faster than a whole registry's entries load.
FEW_TAGS = 200


# --- the content-addressed store -----------------------------------------------------------
FORMAT = 1                       # bumped when what an entry holds changes shape
MAX_SEGMENTS = 8                 # more segment files than this: the next save merges them
MAX_ENTRIES = 200_000            # past this, a merge keeps only the entries its run used
_MAGIC = b"modelreg-cache"


def blob_id(raw: bytes) -> str:
    """git's object id of a file with these bytes (what ``git ls-files -s`` and ``ls-tree``
    print), so a committed file and the same bytes in the work tree share one key."""
    return hashlib.sha1(b"blob %d\0" % len(raw) + raw).hexdigest()


def digest(*parts: str | bytes) -> str:
    """One key from several inputs (each length-prefixed: no two lists of parts collide)."""
    h = hashlib.sha256()
    for part in parts:
        raw = part.encode("utf-8") if isinstance(part, str) else part
        h.update(b"%d:" % len(raw))
        h.update(raw)
    return h.hexdigest()


def release_salt() -> str:
    """What every key starts from: the release of modelreg and the cache's format."""
    from modelreg.core import release  # noqa: PLC0415 - read at use, so a new release is a new key

    return f"{release.__version__}/{FORMAT}"


class Store:
    """Results derived from file contents, by key, in ``.git/modelreg/cache/NAME/``.

    A key is a :func:`digest` of everything the value depends on (a blob id, the digests of
    the schemas or policies that judged it, the releases of the tools), so an entry is never
    out of date: it is right for its key or never asked for. Entries live in segment files,
    each written whole (a temporary file renamed into place) and carrying the sha256 of its
    body: a reader sees a segment complete or not at all, and one that is truncated or
    damaged fails its digest and is ignored (its entries are computed again and written to
    a new segment). Several processes share the folder without locks: each save writes a
    new segment; when there are more than :data:`MAX_SEGMENTS`, a save merges the ones it
    read into one and removes them (two merging at once each write a complete segment).
    A missing, unreadable or foreign folder only costs time; deleting it is always safe.
    """

    def __init__(self, root: Path, name: str, *, use: bool = True) -> None:
        """``use=False``: a store of this run only, nothing read or written (a command that
        judges a model or two computes faster than it reads a whole registry's cache)."""
        git_dir = _common_git_dir(root) if use else None
        self.folder = git_dir / "modelreg" / "cache" / name if git_dir is not None else None
        self._raw: dict[str, bytes | memoryview] = {}
        self._new: dict[str, bytes] = {}
        self._used: set[str] = set()
        self._read: list[Path] = []
        self._damaged = False
        if self.folder is not None:
            self._load()

    def _load(self) -> None:
        assert self.folder is not None
        try:
            names = sorted(p for p in os.listdir(self.folder) if p.endswith(".seg"))
        except OSError:
            return
        for name in names:
            path = self.folder / name
            try:
                raw = path.read_bytes()
            except OSError:
                continue                  # merged and removed by another process just now
            entries = _parse_segment(raw)
            self._read.append(path)
            if entries is None:
                self._damaged = True      # never trusted; the next save replaces it
                continue
            self._raw.update(entries)

    def __len__(self) -> int:
        return len(self._raw.keys() | self._new.keys())

    def get(self, key: str) -> Any:
        """The value stored under ``key``, or None."""
        raw = self._new.get(key) or self._raw.get(key)
        if raw is None:
            return None
        try:
            value = json.loads(bytes(raw))
        except ValueError:
            return None
        self._used.add(key)
        return value

    def put(self, key: str, value: Any) -> None:
        """Remember ``value`` (JSON) under ``key``: kept as its text until :meth:`save`, so
        a run over many records holds bytes, not every parsed record. A value JSON cannot
        hold is not kept (it is computed again next time)."""
        try:
            self._new[key] = json.dumps(value, separators=(",", ":"),
                                        allow_nan=False).encode()
        except (TypeError, ValueError):
            self._new.pop(key, None)

    def save(self) -> None:
        """Write this run's new entries (merging the segments when there are many or one
        was damaged). A read-only clone still answers, only slower."""
        if self.folder is None or not (self._new or self._damaged):
            return
        lines = [key.encode() + b"\t" + value for key, value in self._new.items()]
        fresh = list(lines)
        merge = self._damaged or len(self._read) >= MAX_SEGMENTS
        if merge:
            keep = self._raw.keys() - self._new.keys()
            if len(keep) + len(lines) > MAX_ENTRIES:
                keep = keep & self._used
            lines += [key.encode() + b"\t" + self._raw[key] for key in sorted(keep)]
        body = b"\n".join(lines) + b"\n"
        head = b"%s %d %s\n" % (_MAGIC, FORMAT, hashlib.sha256(body).hexdigest().encode())
        name = f"{time.time_ns():020d}-{os.getpid()}-{secrets.token_hex(4)}.seg"
        try:
            write_atomic(self.folder / name, head + body)
        except OSError:
            return
        if merge:
            for path in self._read:
                try:
                    path.unlink()
                except OSError:
                    pass                  # another process merged it first
            self._read = [self.folder / name]
        else:
            self._read.append(self.folder / name)
        self._damaged = False
        for line in fresh:
            key, _, value = line.partition(b"\t")
            self._raw[key.decode()] = value
        self._new = {}


def _common_git_dir(root: Path) -> Path | None:
    """The clone's git folder: ``.git`` itself, or for a linked work tree (``.git`` is a
    file naming its folder) the folder it shares with its main work tree, so every work
    tree of a clone shares one cache."""
    dot_git = root / ".git"
    if dot_git.is_dir():
        return dot_git
    try:
        line = dot_git.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError):
        return None
    if not line.startswith("gitdir: "):
        return None
    own = (root / line[len("gitdir: "):]).resolve()
    try:
        common = (own / (own / "commondir").read_text(encoding="utf-8").strip()).resolve()
    except (OSError, UnicodeDecodeError):
        common = own
    return common if common.is_dir() else None


def _parse_segment(raw: bytes) -> dict[str, memoryview] | None:
    """A segment's entries (views into ``raw``: no copy of a big file), or None when it is
    not a whole segment of this format."""
    nl = raw.find(b"\n")
    fields = raw[:nl].split(b" ") if nl >= 0 else []
    if len(fields) != 3 or fields[0] != _MAGIC or fields[1] != b"%d" % FORMAT:
        return None
    view = memoryview(raw)
    if hashlib.sha256(view[nl + 1:]).hexdigest().encode() != fields[2]:
        return None
    out: dict[str, memoryview] = {}
    pos, size = nl + 1, len(raw)
    while pos < size:
        end = raw.find(b"\n", pos)
        if end < 0:
            end = size
        if end > pos:
            tab = raw.find(b"\t", pos, end)
            if tab < 0:
                return None
            out[raw[pos:tab].decode("ascii", "replace")] = view[tab + 1:end]
        pos = end + 1
    return out
