"""Secrets in metadata: cloud keys, tokens and private keys never belong in the registry.

One detector, used by ``register`` (refuses before writing anything) and by ``check``
(rule SEC-01, reported at ``file:line``). A value is reported by its kind and a short
prefix only, so the report does not leak the secret a second time.

The detector runs in time linear in the size of the text, whatever the text holds: a card is
written by whoever opens a pull request, and a regular expression that backtracks lets one
long token stall every CI run (``[a-z][a-z0-9+.-]*://`` searched over a 200,000-character
word costs 200,000²/2 steps). So every expression below either has only bounded repeats, or
starts with a fixed marker and repeats one character class that cannot contain that marker,
so the scans started at two markers never cover the same characters; no repeat sits inside
another. What a class cannot express (the scheme of a URL, the words of a PEM label) is
judged in Python on the piece a match delimits. ``find`` reports exactly what the plain,
backtracking expressions report (one finding per line, the first kind in the order of
``KINDS``): tests/test_scanning.py keeps those as the reference and compares the two on
generated text.
"""
from __future__ import annotations

import bisect
import re
from dataclasses import dataclass

# The kinds in the order they are tried on a line: the first that matches names the finding.
_AWS = "an AWS access key id"
_GITHUB = "a GitHub token"
_PEM = "a private key"
_SLACK = "a Slack token"
_GOOGLE = "a Google API key"
_URL = "a credential in a URL"
KINDS = (_AWS, _GITHUB, _PEM, _SLACK, _GOOGLE, _URL)

# Bounded patterns: each attempt looks at a fixed number of characters. (A GitHub or Slack
# token is "at least N characters"; whether N are there is all a match needs to know.)
_BOUNDED: tuple[tuple[str, re.Pattern], ...] = (
    (_AWS, re.compile(r"(?<![A-Z0-9])(?:AKIA|ASIA|AGPA|AIDA|AROA)[0-9A-Z]{16}(?![A-Z0-9])")),
    (_GITHUB, re.compile(r"(?<![A-Za-z0-9_])(?:gh[pousr]_[A-Za-z0-9]{30}|github_pat_[A-Za-z0-9_]{22})")),
    (_SLACK, re.compile(r"(?<![A-Za-z0-9])xox[abposr]-[A-Za-z0-9-]{10}")),
    (_GOOGLE, re.compile(r"(?<![A-Za-z0-9_-])AIza[0-9A-Za-z_-]{35}")),
)
# `-----BEGIN RSA PRIVATE KEY-----`: the label's run stops at the first `-`, and every marker
# starts with one, so runs never overlap; the closing dashes are only looked at, not taken,
# so a label that ends where the next marker starts does not hide it.
_PEM_LABEL = re.compile(r"-----BEGIN ([A-Z0-9 ]*)(?=-----)")
# `scheme://user:password@`: both runs exclude `/`, so each ends before the next `://`.
# The scheme (a letter, then letters, digits, `+.-`) is checked on the text before the match.
_URL_USERINFO = re.compile(r"://[^\s/:@]+:[^\s/@]{3,}@")
_NOT_SCHEME = re.compile(r"[^a-z0-9+.-]")

# `password: hunter2-xyz`, `api_key = "…"`: a secret-looking key with a literal value. Tried on
# one line at a time (`\s` would cross line ends), and only on lines that name such a key.
_ASSIGNMENT = re.compile(
    r"(?i)(?<![A-Za-z0-9])(password|passwd|pwd|secret|secret[_-]?key|token|auth[_-]?token|"
    r"access[_-]?token|api[_-]?key|access[_-]?key|client[_-]?secret|private[_-]?key)"
    r"[\"']?\s*[:=]\s*[\"']?([^\s\"',#}{\]\[]{6,})")
_KEY_WORD = re.compile(r"(?i)pass|pwd|secret|token|api|access|private")
# str.splitlines' line boundaries, so line numbers agree with every other reader of the file
_LINE_BREAK = re.compile(r"\r\n|[\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029]")
_CLASSES = tuple(re.compile(p) for p in (r"[a-z]", r"[A-Z]", r"[0-9]", r"[^A-Za-z0-9]"))
_PLACEHOLDER_WORDS = frozenset({"changeme", "none", "null", "false", "true", "redacted",
                                "required", "optional", "..."})

# Every expression the detector runs, for the test that keeps them linear.
PATTERNS = (*(rx for _, rx in _BOUNDED), _PEM_LABEL, _URL_USERINFO, _NOT_SCHEME, _ASSIGNMENT,
            _KEY_WORD, _LINE_BREAK, *_CLASSES)


@dataclass(frozen=True)
class Leak:
    """A line that holds something that looks like a secret."""

    line: int
    kind: str
    excerpt: str          # the first characters only

    def message(self) -> str:
        return (f"{self.kind} ({self.excerpt}…) is in the metadata: remove it, rotate it, and "
                "keep secrets in a secret store")


def _placeholder(value: str) -> bool:
    low = value.lower()
    return (low.startswith(("$", "todo", "example", "placeholder"))
            or (len(low) >= 2 and low[0] == "<" and low[-1] == ">")
            or not low.strip("x") or not low.strip("*") or low in _PLACEHOLDER_WORDS)


def _looks_random(value: str) -> bool:
    """A literal that is not a word or a placeholder: has a digit or mixed case or a symbol."""
    if _placeholder(value):
        return False
    return sum(bool(rx.search(value)) for rx in _CLASSES) >= 2


def _pem_label(label: str) -> bool:
    """``(?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?``: words, each followed by one space."""
    for end in ("PRIVATE KEY", "PRIVATE KEY BLOCK"):
        if label.endswith(end):
            words = label[:-len(end)]
            if not words or (words[0] != " " and words[-1] == " " and "  " not in words):
                return True
    return False


def _url_scheme(text: str, at: int) -> int | None:
    """Where the scheme (``[a-z][a-z0-9+.-]*``) of the ``://`` at ``at`` starts, if it has one:
    at the first letter of the run of scheme characters before it. The run cannot cross a
    colon, so only the text since the previous one is looked at."""
    before = text[text.rfind(":", 0, at) + 1:at]
    other = _NOT_SCHEME.search(before[::-1])
    run = before[len(before) - other.start():] if other else before
    letter = _CLASSES[0].search(run)
    return at - len(run) + letter.start() if letter else None


def _hits(text: str) -> list[tuple[int, str, str]]:
    """(offset, kind, excerpt) of every match of the marker-led kinds."""
    found: list[tuple[int, str, str]] = []
    for kind, rx in _BOUNDED:
        found += ((m.start(), kind, m.group(0)[:4]) for m in rx.finditer(text))
    found += ((m.start(), _PEM, m.group(0)[:4]) for m in _PEM_LABEL.finditer(text)
              if _pem_label(m.group(1)))
    for m in _URL_USERINFO.finditer(text):
        start = _url_scheme(text, m.start())
        if start is not None:
            found.append((start, _URL, text[start:start + 4]))
    return found


def find(text: str) -> list[Leak]:
    """Every line of ``text`` that holds a secret (one finding per line)."""
    hits = _hits(text)
    keyed = [m.start() for m in _KEY_WORD.finditer(text)]
    if not hits and not keyed:
        return []      # most files hold none (check reads every record of the registry)
    breaks = list(_LINE_BREAK.finditer(text))
    starts = [0] + [m.end() for m in breaks]
    ends = [m.start() for m in breaks] + [len(text)]
    rank = {kind: i for i, kind in enumerate(KINDS)}
    best: dict[int, tuple[int, int, str, str]] = {}   # line index: (rank, offset, kind, excerpt)
    for offset, kind, excerpt in hits:
        line = bisect.bisect_right(starts, offset) - 1
        candidate = (rank[kind], offset, kind, excerpt)
        if line not in best or candidate < best[line]:
            best[line] = candidate
    if keyed:
        lines = {bisect.bisect_right(starts, at) - 1 for at in keyed}
        for line in sorted(lines - best.keys()):
            m = _ASSIGNMENT.search(text, starts[line], ends[line])
            if m and _looks_random(m.group(2)):
                best[line] = (len(KINDS), 0, f"a literal {m.group(1).lower()} value",
                              m.group(2)[:2])
    return [Leak(line + 1, kind, excerpt) for line, (_, _, kind, excerpt) in sorted(best.items())]


__all__ = ["KINDS", "Leak", "PATTERNS", "find"]
