"""The tag grammar: the one place that parses and formats registry tags.

It reads every form GTO 1.10 writes, so a registry made with ``gto`` reads the same here:

* ``name@vX.Y.Z``     registration          * ``name@vX.Y.Z!``    deregistration
* ``name#stage#N``    stage assignment      * ``name#stage!#N``   stage unassignment
* ``name#stage``      assignment, GTO's "simple" form; ``name#stage!`` its unassignment
* ``name@vX.Y.Z#N``   registration with a counter (``gto register --simple false``), and
  ``name@vX.Y.Z!#N`` its deregistration
* ``name@deprecated`` deprecation (``name@deprecated#N`` when numbered)

``N`` is one counter per model, over all of its tags. modelreg writes registrations without
a counter and stage tags with one; the counter only makes names unique: events are ordered by
their tag's time (see ``Event.sort_key``), as GTO orders them.

GTO's grammar is wider than the names this registry serves. :func:`parse` returns the tags
modelreg reads into a model's state; :func:`unread` says why a tag that GTO would read is
left out (an artifact name that is not a registry name, such as ``Churn``, ``team/churn``,
``churn_v2`` or a monorepo ``dir=name``; GTO's ``name@created``, which GTO parses but never
writes and cannot read back; a counter over 18 digits), so callers can report it.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum
from functools import lru_cache

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
# GTO's name rule, for artifacts and stages alike: letters (either case), digits, '-', '_'
# and '/', starting and ending with a letter or digit. A monorepo artifact adds ``dir=``.
GTO_NAME_PATTERN = r"[a-zA-Z0-9](?:[a-zA-Z0-9\-/_]*[a-zA-Z0-9])?"
GTO_DIR_PATTERN = r"[a-zA-Z0-9\-_./]+"
# modelreg's own names may end in '-', which GTO refuses: its tags still read here.
STAGE_PATTERN = rf"(?:{GTO_NAME_PATTERN}|[a-z][a-z0-9-]{{0,30}})"
STAGE_RE = re.compile(rf"^{STAGE_PATTERN}\Z")
MAX_COUNTER_DIGITS = 18

GTO_TAG_RE = re.compile(
    rf"^(?P<artifact>(?:{GTO_DIR_PATTERN}=)?{GTO_NAME_PATTERN}|{NAME_PATTERN})"
    rf"(?:(?:#(?P<stage>{STAGE_PATTERN})|@v(?P<version>{SEMVER_PATTERN}))(?P<cancel>!?)"
    rf"|@(?:(?P<deprecated>deprecated)|(?P<created>created)))"
    rf"(?:#(?P<counter>[0-9]+))?\Z"
)


class Action(str, Enum):
    REGISTER = "register"
    DEREGISTER = "deregister"
    ASSIGN = "assign"
    UNASSIGN = "unassign"
    DEPRECATE = "deprecate"


# GTO's order for events in the same second (its events' ``priority``): a deprecation
# first, so any other event of that second keeps the model active; a cancellation after
# what it cancels, so it wins the tie.
PRIORITY = {Action.DEPRECATE: 2, Action.REGISTER: 3, Action.DEREGISTER: 4,
            Action.ASSIGN: 5, Action.UNASSIGN: 6}


@dataclass(frozen=True)
class TagName:
    """What a tag name says, before looking at the tag object."""

    model: str
    action: Action
    version: str | None = None
    stage: str | None = None
    counter: int | None = None


def _match(name: str) -> re.Match | None:
    # git refuses such ref names; checking first keeps the regex off arbitrary text
    if not name or len(name) > 1024 or "#" not in name and "@" not in name:
        return None
    return GTO_TAG_RE.match(name)


# The forms reconcile writes (a registry name, a plain X.Y.Z, a lower-case stage): read
# without the full grammar's alternatives; anything else goes through GTO_TAG_RE.
_COMMON_RE = re.compile(
    rf"({NAME_PATTERN})(?:@v((?:0|[1-9][0-9]*)\.(?:0|[1-9][0-9]*)\.(?:0|[1-9][0-9]*))"
    rf"|#([a-z][a-z0-9-]{{0,30}})(!?))(?:#([0-9]{{1,{MAX_COUNTER_DIGITS}}}))?\Z")


@lru_cache(maxsize=1 << 17)
def parse(name: str) -> TagName | None:
    """Parse a tag name; ``None`` when modelreg does not read it into a model's state: not a
    registry tag at all (e.g. a release ``v1.0``), or one :func:`unread` explains."""
    c = _COMMON_RE.match(name)
    if c is not None:
        model, version, stage, cancel, digits = c.groups()
        counter = int(digits) if digits is not None else None
        if version is not None:
            return TagName(model, Action.REGISTER, version=version, counter=counter)
        return TagName(model, Action.UNASSIGN if cancel else Action.ASSIGN, stage=stage,
                       counter=counter)
    return _parse(name)


def _parse(name: str) -> TagName | None:
    m = _match(name)
    if not m or m.group("created") or not NAME_RE.match(m.group("artifact")):
        return None
    digits = m.group("counter")
    if digits is not None and len(digits) > MAX_COUNTER_DIGITS:
        return None
    model = m.group("artifact")
    counter = int(digits) if digits is not None else None
    cancel = bool(m.group("cancel"))
    if m.group("version"):
        action = Action.DEREGISTER if cancel else Action.REGISTER
        return TagName(model, action, version=m.group("version"), counter=counter)
    if m.group("stage"):
        action = Action.UNASSIGN if cancel else Action.ASSIGN
        return TagName(model, action, stage=m.group("stage"), counter=counter)
    return TagName(model, Action.DEPRECATE, counter=counter)


def unread(name: str) -> str | None:
    """Why a tag that GTO reads is not read here (``None`` for tags :func:`parse` reads and
    for tags that are no registry tag at all)."""
    if _COMMON_RE.match(name):
        return None                     # a form reconcile writes: read
    m = _match(name)
    if not m:
        return None
    artifact = m.group("artifact")
    if not NAME_RE.match(artifact):
        shown = artifact.replace("=", ":", 1) if "=" in artifact else artifact
        return (f"GTO artifact {shown!r} is not a registry name (2-63 lower-case letters, "
                "digits and dashes)")
    if m.group("created"):
        return "GTO parses @created but never writes it, and GTO 1.10 fails to read a " \
               "registry that holds one"
    digits = m.group("counter")
    if digits is not None and len(digits) > MAX_COUNTER_DIGITS:
        return f"its counter has more than {MAX_COUNTER_DIGITS} digits"
    return None


def counter(name: str) -> tuple[str, int] | None:
    """(model, counter) of any tag in GTO's grammar that has a counter, read or not (GTO's
    next counter is one more than the largest on any of the artifact's tags, whatever the
    form). The model is the name as the tag spells it."""
    m = _match(name)
    if not m or m.group("counter") is None or len(m.group("counter")) > MAX_COUNTER_DIGITS:
        return None
    return m.group("artifact"), int(m.group("counter"))


def _numbered(tag: str, counter: int | None) -> str:
    return tag + (f"#{counter}" if counter is not None else "")


def registration(model: str, version: str, counter: int | None = None) -> str:
    return _numbered(f"{model}@v{version}", counter)


def deregistration(model: str, version: str, counter: int | None = None) -> str:
    return _numbered(f"{model}@v{version}!", counter)


def assignment(model: str, stage: str, counter: int | None) -> str:
    return _numbered(f"{model}#{stage}", counter)


def unassignment(model: str, stage: str, counter: int | None) -> str:
    return _numbered(f"{model}#{stage}!", counter)


def format_tag(tag: TagName) -> str:
    """The tag name for ``tag`` (``parse(format_tag(t)) == t`` for every readable form)."""
    if tag.action is Action.REGISTER:
        return registration(tag.model, tag.version or "", tag.counter)
    if tag.action is Action.DEREGISTER:
        return deregistration(tag.model, tag.version or "", tag.counter)
    if tag.action is Action.ASSIGN:
        return assignment(tag.model, tag.stage or "", tag.counter)
    if tag.action is Action.UNASSIGN:
        return unassignment(tag.model, tag.stage or "", tag.counter)
    return deprecation(tag.model, tag.counter)


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
