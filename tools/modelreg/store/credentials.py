"""Secrets in metadata: cloud keys, tokens and private keys never belong in the registry.

One detector, used by ``register`` (refuses before writing anything) and by ``check``
(rule SEC-01, reported at ``file:line``). A value is reported by its kind and a short
prefix only, so the report does not leak the secret a second time.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

_PATTERNS: tuple[tuple[str, re.Pattern], ...] = (
    ("an AWS access key id", re.compile(r"(?<![A-Z0-9])(?:AKIA|ASIA|AGPA|AIDA|AROA)[0-9A-Z]{16}(?![A-Z0-9])")),
    ("a GitHub token", re.compile(r"(?<![A-Za-z0-9_])(?:gh[pousr]_[A-Za-z0-9]{30,}|github_pat_[A-Za-z0-9_]{22,})")),
    ("a private key", re.compile(r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----")),
    ("a Slack token", re.compile(r"(?<![A-Za-z0-9])xox[abposr]-[A-Za-z0-9-]{10,}")),
    ("a Google API key", re.compile(r"(?<![A-Za-z0-9_-])AIza[0-9A-Za-z_-]{35}")),
    ("a credential in a URL", re.compile(r"[a-z][a-z0-9+.-]*://[^\s/:@]+:[^\s/@]{3,}@")),
)
# `password: hunter2-xyz`, `api_key = "…"`: a secret-looking key with a literal value.
_ASSIGNMENT = re.compile(
    r"(?i)(?<![A-Za-z0-9])(password|passwd|pwd|secret|secret[_-]?key|token|auth[_-]?token|"
    r"access[_-]?token|api[_-]?key|access[_-]?key|client[_-]?secret|private[_-]?key)"
    r"[\"']?\s*[:=]\s*[\"']?([^\s\"',#}{\]\[]{6,})")
_PLACEHOLDER = re.compile(r"(?i)^(?:\$\{?.*|<.*>|x+|\*+|todo.*|changeme|none|null|false|true|"
                          r"redacted|example.*|placeholder.*|required|optional|\.\.\.)$")


@dataclass(frozen=True)
class Leak:
    """A line that holds something that looks like a secret."""

    line: int
    kind: str
    excerpt: str          # the first characters only

    def message(self) -> str:
        return (f"{self.kind} ({self.excerpt}…) is in the metadata: remove it, rotate it, and "
                "keep secrets in a secret store")


def _looks_random(value: str) -> bool:
    """A literal that is not a word or a placeholder: has a digit or mixed case or a symbol."""
    if _PLACEHOLDER.match(value):
        return False
    classes = sum(bool(re.search(p, value)) for p in (r"[a-z]", r"[A-Z]", r"[0-9]", r"[^A-Za-z0-9]"))
    return classes >= 2


def find(text: str) -> list[Leak]:
    """Every line of ``text`` that holds a secret (one finding per line)."""
    # most files hold none: one pass per pattern over the whole text, then line by line
    # only when something matched (check reads every record of the registry)
    head = text[:10_000_000]
    if not any(rx.search(head) for _, rx in _PATTERNS) and not _ASSIGNMENT.search(head):
        return []
    out = []
    for n, line in enumerate(text.splitlines(), 1):
        if len(line) > 100_000:
            line = line[:100_000]
        for kind, rx in _PATTERNS:
            m = rx.search(line)
            if m:
                out.append(Leak(n, kind, m.group(0)[:4]))
                break
        else:
            m = _ASSIGNMENT.search(line)
            if m and _looks_random(m.group(2)):
                out.append(Leak(n, f"a literal {m.group(1).lower()} value", m.group(2)[:2]))
    return out


__all__ = ["Leak", "find"]
