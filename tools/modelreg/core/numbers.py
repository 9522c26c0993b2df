"""Non-finite numbers (NaN, Infinity, -Infinity): where they are, and where they were written.

YAML reads ``.nan`` and ``.inf`` as floats and Python's JSON reader accepts ``NaN``,
``Infinity`` and numbers too large for a float (``1e999``), but JSON proper has no such
values: the policy engines refuse the whole input when one is in it. So ``register`` refuses
them in what it is given, and the policy input takes them out and lists them, for a rule
(ID-08) to report each one as a finding.
"""
from __future__ import annotations

import math
import re
from typing import Any

Path = list[str | int]


def is_non_finite(value: Any) -> bool:
    return isinstance(value, float) and not math.isfinite(value)


def spelling(value: float) -> str:
    """How JSON-ish tools write it: ``NaN``, ``Infinity`` or ``-Infinity``."""
    if math.isnan(value):
        return "NaN"
    return "Infinity" if value > 0 else "-Infinity"


def find(data: Any) -> list[tuple[Path, str]]:
    """The path and spelling of every non-finite number in ``data``, in document order."""
    out: list[tuple[Path, str]] = []
    stack: list[tuple[Path, Any]] = [([], data)]
    while stack:
        path, value = stack.pop()
        if isinstance(value, dict):
            stack.extend((path + [k], v) for k, v in reversed(list(value.items())))
        elif isinstance(value, list):
            stack.extend((path + [i], v) for i, v in reversed(list(enumerate(value))))
        elif is_non_finite(value):
            out.append((path, spelling(value)))
    return out


def without(data: Any) -> Any:
    """``data`` with each non-finite number taken out: a mapping loses the key, a list keeps
    the place as ``null`` (so the other items keep their index). Untouched data is returned
    as is, not copied."""
    if isinstance(data, dict):
        if not find(data):
            return data
        return {k: without(v) for k, v in data.items() if not is_non_finite(v)}
    if isinstance(data, list):
        if not find(data):
            return data
        return [None if is_non_finite(v) else without(v) for v in data]
    return data


# A JSON text's tokens, enough to tell strings from bare numbers and constants.
_JSON_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"|(-?Infinity|NaN|-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)')


def json_lines(text: str) -> list[int]:
    """The line of each non-finite number of a JSON text, in document order (the order of
    :func:`find` on what ``json.loads`` makes of it)."""
    lines = []
    for m in _JSON_TOKEN.finditer(text):
        token = m.group(1)
        if token is None:
            continue
        if token in ("NaN", "Infinity", "-Infinity") or not math.isfinite(float(token)):
            lines.append(text.count("\n", 0, m.start()) + 1)
    return lines


__all__ = ["find", "without", "is_non_finite", "spelling", "json_lines"]
