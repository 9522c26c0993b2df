"""``modelreg codeowners``: is .github/CODEOWNERS what the registry's data says it should be
(``--check``), or write it (``--write``)? Generating it is store/codeowners.py."""
from __future__ import annotations

from modelreg.core.errors import InputError, location
from modelreg.store.codeowners import PATH, generate, owners_of, problems, write
from modelreg.store.config import DATA_DIR
from modelreg.store.registry import Registry


def check(registry: Registry) -> list[str]:
    """Why .github/CODEOWNERS is not what ``generate`` would write (empty list: up to date)."""
    want = generate(registry)
    path = registry.root / PATH
    reasons = []
    if not path.exists():
        return [f"{PATH} is missing: run `modelreg codeowners --write`"]
    have = path.read_text(encoding="utf-8")
    for line, msg in problems(have):
        reasons.append(f"{location(PATH, line)}: {msg} (GitHub ignores the whole file)")
    if have != want.text:
        reasons.append(f"{PATH} is out of date with {DATA_DIR} and models/: "
                       "run `modelreg codeowners --write` and commit it")
    for sample, owners in want.expected.items():
        try:
            got = owners_of(have, sample)
        except InputError as exc:
            reasons.append(f"{exc} (GitHub ignores the whole file)")
            break
        if got != owners:
            reasons.append(f"{sample} is owned by {' '.join(got) or 'nobody'}, "
                           f"expected {' '.join(owners)}")
    return reasons


__all__ = ["check", "write", "generate"]
