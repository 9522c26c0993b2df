"""Shards of a full check: which models shard K of N checks (``check --shard K/N``).

A model belongs to shard K when the SHA-256 of its UTF-8 name, read as a big-endian integer,
is K-1 modulo N. The assignment depends on the name alone: it is the same on every machine
and Python, a model never moves when others are added or removed, and the shards stay about
equally large.
"""
from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from modelreg.core.errors import UsageError

_SPEC = re.compile(r"([0-9]{1,6})/([0-9]{1,6})")


@dataclass(frozen=True)
class Shard:
    """Shard ``index`` (1-based) of ``count``."""

    index: int
    count: int

    def __post_init__(self) -> None:
        if self.count < 1 or not 1 <= self.index <= self.count:
            raise UsageError(f"no shard {self.index}/{self.count}: a shard is K/N with "
                             "1 <= K <= N", hint="e.g. --shard 1/3, --shard 2/3, --shard 3/3")

    def holds(self, name: str) -> bool:
        """Whether the model ``name`` is checked by this shard."""
        return shard_of(name, self.count) == self.index

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"


def shard_of(name: str, count: int) -> int:
    """The shard (1-based) of ``count`` that the model ``name`` belongs to."""
    digest = hashlib.sha256(name.encode("utf-8")).digest()
    return int.from_bytes(digest, "big") % count + 1


def parse(spec: str) -> Shard:
    """``K/N`` as a :class:`Shard`; anything else is a usage error."""
    m = _SPEC.fullmatch(spec.strip())
    if m is None:
        raise UsageError(f"--shard {spec!r} is not K/N (two whole numbers, 1 <= K <= N)",
                         hint="e.g. --shard 2/3 checks the second of three shards")
    return Shard(int(m.group(1)), int(m.group(2)))


__all__ = ["Shard", "parse", "shard_of"]
