"""A small cache of facts derived from file contents, kept in the clone's ``.git`` folder.

Keyed by the SHA-1 of the bytes (what git calls a blob id, minus the header): a file that
did not change is not parsed again, whether it is committed, staged or just edited. The
cache is a hint — a missing, unreadable or foreign cache only costs time.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from modelreg.core.files import write_atomic
from modelreg.core.release import __version__


class ContentCache:
    def __init__(self, root: Path, name: str) -> None:
        git_dir = root / ".git"
        self.path = git_dir / "modelreg" / f"{name}.json" if git_dir.is_dir() else None
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
