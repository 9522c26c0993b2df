"""Model card text: YAML front matter and ``##`` sections, with the line each starts on.

A card is Hugging Face's format: an optional YAML block between two ``---`` lines at the top,
then Markdown whose ``##`` headings are the sections (a ``##`` inside a fenced code block is
text, not a heading). This module is the one place that splits a card; the renderer
(``modelreg card``), the policy input (``modelreg check``) and the static site all read cards
through it. The front matter is parsed with the registry's safe YAML loader, so its errors
carry the card's own line numbers.
"""
from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from modelreg.core.errors import InputError
from modelreg.core.yamlio import parse_yaml

FENCE = "```"
_FRONT_MATTER_RE = re.compile(r"\A---[ \t]*\n(.*?)\n---[ \t]*(?:\n|\Z)", re.S)
_HEADING_RE = re.compile(r"^##[ \t]+(.+?)[ \t]*#*[ \t]*$")
_COMMENT_RE = re.compile(r"<!--.*?-->", re.S)


def front_matter_span(text: str, name: str) -> tuple[str | None, int]:
    """The front matter's YAML text (None when the card has none) and the offset at which the
    Markdown body starts (0 without front matter). Raises :class:`InputError` when the
    opening ``---`` is never closed."""
    if not text.startswith("---"):
        return None, 0
    m = _FRONT_MATTER_RE.match(text)
    if m is None:
        raise InputError("the front matter opened by --- on line 1 is never closed",
                         file=name, line=1,
                         hint="end the front matter with a line holding only ---")
    return m.group(1), m.end()


def split_front_matter(text: str, name: str) -> tuple[dict[str, Any], int]:
    """A card's parsed front matter (``{}`` without one) and the offset of its body.

    ``name`` is the card's path in error messages; a YAML error names the card's line."""
    raw, body_start = front_matter_span(text, name)
    if raw is None:
        return {}, 0
    parsed = parse_yaml("\n" + raw, name)     # the YAML starts on the card's line 2
    if parsed is not None and not isinstance(parsed, dict):
        raise InputError("card front matter must be a YAML mapping", file=name, line=2,
                         hint="write key: value pairs between the --- lines")
    return parsed or {}, body_start


def body(text: str) -> str:
    """The Markdown body, front matter left out, for display. A front matter that is never
    closed is shown as text (``modelreg check`` reports it)."""
    try:
        _, start = front_matter_span(text, "card.md")
    except InputError:
        return text
    return text[start:]


@dataclass(frozen=True)
class Section:
    """One ``##`` section (title ``""`` for what comes before the first heading): its
    heading's line and its body lines, each with its 1-based line number."""

    title: str
    line: int
    lines: tuple[tuple[int, str], ...]


def sections(text: str, name: str) -> tuple[dict[str, Any], list[Section]]:
    """The front matter and the sections, in card order. The first section is always the
    text before the first heading (title ``""``); a title may repeat (callers decide)."""
    front, body_start = split_front_matter(text, name)
    first = text[:body_start].count("\n") + 1
    heads: list[tuple[str, int]] = [("", first)]
    bodies: list[list[tuple[int, str]]] = [[]]
    in_fence = False
    for offset, line in enumerate(text[body_start:].split("\n")):
        if line.lstrip().startswith(FENCE):
            in_fence = not in_fence
        heading = None if in_fence else _HEADING_RE.match(line)
        if heading:
            heads.append((heading.group(1).strip(), first + offset))
            bodies.append([])
        else:
            bodies[-1].append((first + offset, line))
    return front, [Section(t, n, tuple(b)) for (t, n), b in zip(heads, bodies)]


@dataclass(frozen=True)
class Card:
    """A card as the policies read it: front matter, each section's text, and the line of
    each heading (for ``file:line`` in findings)."""

    front_matter: dict[str, Any]
    sections: dict[str, str]
    lines: dict[str, int] = field(default_factory=dict, compare=False)

    def to_input(self) -> dict[str, Any]:
        return {"front_matter": self.front_matter, "sections": self.sections}


def parse_card(text: str, name: str, placeholders: Iterable[str] = ()) -> Card:
    """Split ``card.md`` into front matter and ``##`` section texts.

    Section text loses HTML comments, and a section that still holds a template placeholder
    ("[More Information Needed]") counts as empty: its author has not written it yet
    (``modelreg card`` starts every section's prose that way). A repeated title's texts are
    joined; its line is the first heading's.
    """
    front, parts = sections(text, name)
    texts: dict[str, list[str]] = {}
    lines: dict[str, int] = {}
    for section in parts[1:]:
        texts.setdefault(section.title, []).extend(line for _, line in section.lines)
        lines.setdefault(section.title, section.line)
    cleaned = {}
    for title, body_lines in texts.items():
        content = _COMMENT_RE.sub("", "\n".join(body_lines))
        if any(placeholder in content for placeholder in placeholders):
            content = ""
        cleaned[title] = content.strip()
    return Card(front, cleaned, lines)


__all__ = ["Card", "Section", "parse_card", "sections", "split_front_matter",
           "front_matter_span", "body", "FENCE"]
