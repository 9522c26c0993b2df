"""The tag grammar: the one place that parses and formats registry tags.

Compatible with GTO, so ``gto show`` reads the same registry:

* ``name@vX.Y.Z``     registration          * ``name@vX.Y.Z!``   deregistration
* ``name#stage#N``    stage assignment      * ``name#stage!#N``  stage unassignment
* ``name@deprecated`` deprecation (``name@deprecated#N`` when repeated)

``N`` is one counter per model, over all of its tags.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum

from modelreg.core.errors import ModelregError
from modelreg.core.yamlio import dump_yaml, parse_yaml

# A registry name: no path traversal, no upper case, no spaces
# (docs/architecture.md#the-tag-grammar).
NAME_PATTERN = r"[a-z0-9][a-z0-9-]{1,62}"
NAME_RE = re.compile(rf"^{NAME_PATTERN}\Z")
# SemVer 2.0 (semver.org's recommended regex).
SEMVER_PATTERN = (
    r"(?:0|[1-9]\d*)\.(?:0|[1-9]\d*)\.(?:0|[1-9]\d*)"
    r"(?:-(?:(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?"
    r"(?:\+(?:[0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?"
)
SEMVER_RE = re.compile(rf"^{SEMVER_PATTERN}\Z")
STAGE_PATTERN = r"[a-z][a-z0-9-]{0,30}"
STAGE_RE = re.compile(rf"^{STAGE_PATTERN}\Z")

TAG_RE = re.compile(
    rf"^(?P<model>{NAME_PATTERN})"
    rf"(?:(?:@v(?P<version>{SEMVER_PATTERN})(?P<dereg>!)?)"
    rf"|(?:#(?P<stage>{STAGE_PATTERN})(?P<unassign>!)?#(?P<counter>[0-9]{{1,9}}))"
    rf"|(?:@deprecated(?:#(?P<dcounter>[0-9]{{1,9}}))?))\Z"
)


class Action(str, Enum):
    REGISTER = "register"
    DEREGISTER = "deregister"
    ASSIGN = "assign"
    UNASSIGN = "unassign"
    DEPRECATE = "deprecate"


@dataclass(frozen=True)
class TagName:
    """What a tag name says, before looking at the tag object."""

    model: str
    action: Action
    version: str | None = None
    stage: str | None = None
    counter: int | None = None


def parse(name: str) -> TagName | None:
    """Parse a tag name; ``None`` when it is not a registry tag (e.g. a release ``v1.0``)."""
    m = TAG_RE.match(name)
    if not m:
        return None
    model = m.group("model")
    if m.group("version"):
        action = Action.DEREGISTER if m.group("dereg") else Action.REGISTER
        return TagName(model, action, version=m.group("version"))
    if m.group("stage"):
        action = Action.UNASSIGN if m.group("unassign") else Action.ASSIGN
        return TagName(model, action, stage=m.group("stage"), counter=int(m.group("counter")))
    counter = m.group("dcounter")
    return TagName(model, Action.DEPRECATE, counter=int(counter) if counter else None)


def registration(model: str, version: str) -> str:
    return f"{model}@v{version}"


def deregistration(model: str, version: str) -> str:
    return f"{model}@v{version}!"


def assignment(model: str, stage: str, counter: int) -> str:
    return f"{model}#{stage}#{counter}"


def unassignment(model: str, stage: str, counter: int) -> str:
    return f"{model}#{stage}!#{counter}"


def deprecation(model: str, counter: int | None = None) -> str:
    return f"{model}@deprecated" + (f"#{counter}" if counter is not None else "")


def patterns(model: str | None = None) -> list[str]:
    """``git for-each-ref`` patterns that select a model's tags (all registry tags if None)."""
    if model is None:
        return ["refs/tags/"]
    return [f"refs/tags/{model}@*", f"refs/tags/{model}#*"]


# Annotated tags carry a readable first line and a YAML block with the evidence
# (pull request, approvers, merge commit, policy digest, decision).
EVIDENCE_MARKER = "modelreg-evidence:"


def format_message(title: str, evidence: dict) -> str:

    return f"{title}\n\n{dump_yaml({EVIDENCE_MARKER[:-1]: evidence})}"


_FIELD_RE: dict[str, re.Pattern] = {}


def evidence_field(message: str, key: str) -> str | None:
    """One top-level scalar of the evidence block, without a YAML parse (reading 10,000 tags
    must stay fast); ``parse_message`` gives the whole block."""
    idx = message.find(EVIDENCE_MARKER)
    if idx < 0:
        return None
    rx = _FIELD_RE.get(key)
    if rx is None:
        rx = _FIELD_RE[key] = re.compile(
            rf"^  {re.escape(key)}: ['\"]?([^'\"\n]*?)['\"]?\s*$", re.M)
    m = rx.search(message, idx)
    return m.group(1) if m else None


# A signature git appends to a tag message starts with one of these lines (the last one wins).
_SIGNATURE_STARTS = ("-----BEGIN SSH SIGNATURE-----", "-----BEGIN PGP SIGNATURE-----",
                     "-----BEGIN PGP MESSAGE-----", "-----BEGIN SIGNED MESSAGE-----")


def without_signature(message: str) -> str:
    """A tag message without the signature git appends to it (store/tagsign.py checks it); the
    evidence block is read from what is left."""
    if "-----BEGIN " not in message:
        return message
    cut = -1
    for marker in _SIGNATURE_STARTS:
        i = message.rfind(marker)
        while i > 0 and message[i - 1] != "\n":
            i = message.rfind(marker, 0, i)
        cut = max(cut, i)
    return message[:cut] if cut >= 0 else message


def parse_message(message: str) -> dict:
    """The evidence block of a tag message, or ``{}`` when it has none or it is malformed."""
    message = without_signature(message)
    idx = message.find("\n" + EVIDENCE_MARKER)
    if idx < 0:
        if not message.startswith(EVIDENCE_MARKER):
            return {}
        idx = -1

    try:
        data = parse_yaml(message[idx + 1:], "tag message")
    except ModelregError:
        return {}
    block = data.get(EVIDENCE_MARKER[:-1]) if isinstance(data, dict) else None
    return block if isinstance(block, dict) else {}
