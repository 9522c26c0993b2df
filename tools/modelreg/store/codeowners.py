"""Reading CODEOWNERS: which owners GitHub requires for a path, and which lines it rejects."""
from __future__ import annotations

import re

from modelreg.core.errors import InputError

PATH = ".github/CODEOWNERS"
OWNER_RE = re.compile(r"^@[A-Za-z0-9-]+(/[A-Za-z0-9._-]+)?$")


def owners_of(text: str, path: str) -> tuple[str, ...]:
    """Owners GitHub would require for ``path`` under CODEOWNERS ``text``."""
    from codeowners import CodeOwners

    try:
        return tuple(owner for _, owner in CodeOwners(text).of(path))
    except (ValueError, re.error) as exc:   # a pattern the library cannot compile
        raise InputError(f"invalid pattern: {exc}", file=PATH,
                         hint="`modelreg codeowners --write` regenerates the file") from None


def problems(text: str) -> list[tuple[int, str]]:
    """Lines GitHub would reject (which disables the whole file): (line, message)."""
    out = []
    for n, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        parts = line.split()
        pattern, owners = parts[0], parts[1:]
        if pattern.startswith("!") or "[" in pattern or "\\#" in pattern:
            out.append((n, f"pattern {pattern!r} uses syntax GitHub does not support"))
        for owner in owners:
            if not (OWNER_RE.match(owner) or re.match(r"^[^@\s]+@[^@\s]+\.[^@\s]+$", owner)):
                out.append((n, f"owner {owner!r} is not @user, @org/team or an e-mail"))
    return out
