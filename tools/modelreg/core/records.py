"""Small frozen records for the registry's domain values.

The metadata itself stays a plain mapping: its shape is defined by the JSON Schemas in
``schemas/`` alone. These records carry identity, location and what the tags say.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple

from modelreg.core.errors import location, printable
from modelreg.core.release import __version__
from modelreg.core.tags import PRIORITY, Action, parse_message


@dataclass(frozen=True)
class Finding:
    """One problem found in a file: a schema violation or a policy decision."""

    file: str
    rule: str
    message: str
    severity: str = "error"          # "error" or "warning"
    line: int | None = None
    model: str | None = None
    version: str | None = None
    path: str | None = None          # JSON path inside the file, e.g. "$.risk.tier"

    @property
    def where(self) -> str:
        """``file:line`` (just ``file`` when the line is not known)."""
        return location(self.file, self.line)

    def __str__(self) -> str:
        """``file:line: [RULE] message``, with ``warning:`` before a warning's message."""
        level = "warning: " if self.severity == "warning" else ""
        return f"{self.where}: [{printable(self.rule)}] {level}{printable(self.message)}"

    def sort_key(self) -> tuple:
        return (self.file, self.line or 0, self.rule, self.message)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"file": self.file, "line": self.line, "rule": self.rule,
                               "severity": self.severity, "message": self.message,
                               "model": self.model, "version": self.version}
        if self.path:
            out["path"] = self.path
        return out


class Event(NamedTuple):
    """One registry event, read from one tag (a named tuple: thousands per read)."""

    action: Action
    model: str
    tag: str
    commit: str
    time: int                      # unix seconds (tagger date)
    actor: str
    actor_email: str
    annotated: bool
    version: str | None = None     # None when a stage tag's version cannot be resolved
    stage: str | None = None
    counter: int = 0
    message: str = ""               # the annotation in full
    object: str = ""                # the tag object's id (the commit's for lightweight tags)

    @property
    def title(self) -> str:
        return self.message.split("\n", 1)[0]

    @property
    def evidence(self) -> dict[str, Any]:
        """The annotation's evidence block (pull request, approvers, policy digest…), parsed
        when asked for: most reads never need it."""
        return parse_message(self.message) if self.annotated else {}

    def sort_key(self) -> tuple:
        """The order GTO replays events in: by the tag's time (seconds); within one second
        a deprecation first and a cancellation after what it cancels (GTO's priorities).
        The counter and the name only make the order total: GTO never reads the counter."""
        return (self.time, PRIORITY[self.action], self.counter, self.tag)

    def sentence(self) -> str:
        """A readable line for ``history``."""
        v = f" {self.version}" if self.version else ""
        return {
            Action.REGISTER: f"{self.model}{v} registered",
            Action.DEREGISTER: f"{self.model}{v} deregistered",
            Action.ASSIGN: f"{self.model}{v} promoted to {self.stage}",
            Action.UNASSIGN: f"{self.model}{v} removed from {self.stage}",
            Action.DEPRECATE: f"{self.model} deprecated",
        }[self.action]


@dataclass(frozen=True)
class ModelState:
    """What the tags say about one model (at a point in time)."""

    model: str
    registered: tuple[str, ...]            # registered versions, SemVer order
    stages: dict[str, str]                 # stage -> version holding it
    deprecated: bool
    events: tuple[Event, ...]
    deregistered: tuple[str, ...] = ()     # versions whose registration was cancelled

    def assignment(self, stage: str, version: str) -> Event | None:
        """The latest tag that assigned ``version`` to ``stage`` (the evidence of its hold)."""
        found = None
        for ev in self.events:
            if ev.action is Action.ASSIGN and ev.stage == stage and ev.version == version:
                found = ev
        return found

    def champion(self, version: str, stage: str, *, when_taken: bool = False) -> str | None:
        """The version ``version`` challenges for ``stage``: the last other version assigned
        to it before ``version`` took it (before now, when ``version`` does not hold it;
        with ``when_taken``, before it last took it, whether it holds it now or not). A
        stage emptied in between still has its champion: taking a stage down first is no
        way around the comparison."""
        assigned = [ev for ev in self.events
                    if ev.action is Action.ASSIGN and ev.stage == stage and ev.version]
        if self.stages.get(stage) == version or (
                when_taken and any(ev.version == version for ev in assigned)):
            last = max(i for i, ev in enumerate(assigned) if ev.version == version)
            assigned = assigned[:last]
        return next((ev.version for ev in reversed(assigned) if ev.version != version), None)


@dataclass(frozen=True)
class Artifact:
    """One weights file of a version, as its record lists it: what a deploy script fetches
    (``dvc pull``) and checks (``sha256``) before it serves the model."""

    path: str                      # models/NAME/versions/X.Y.Z/<file>, restored by dvc pull
    sha256: str
    md5: str                       # DVC's content hash: the object name in the DVC remote
    dvc_file: str
    size: int | None = None
    format: str | None = None

    @classmethod
    def from_record(cls, entry: dict[str, Any]) -> Artifact:
        size = entry.get("size")
        return cls(str(entry.get("path", "")), str(entry.get("sha256", "")),
                   str(entry.get("md5", "")), str(entry.get("dvc_file", "")),
                   size if isinstance(size, int) else None,
                   str(entry["format"]) if entry.get("format") else None)

    def to_json(self) -> dict[str, Any]:
        return {"path": self.path, "sha256": self.sha256, "md5": self.md5,
                "dvc_file": self.dvc_file, "size": self.size, "format": self.format}


@dataclass(frozen=True)
class Resolution:
    """The answer to "which version of NAME is in STAGE?", with the version's artifacts."""

    model: str
    version: str
    stage: str | None
    tag: str | None
    commit: str | None
    artifacts: tuple[Artifact, ...] = ()

    def __str__(self) -> str:
        where = f" in {self.stage}" if self.stage else ""
        return f"{self.model}@{self.version}{where}"


REPORT_VERSION = 1


@dataclass(frozen=True)
class Report:
    """The result of ``validate`` or ``check``: findings as data, plus counts."""

    command: str
    files: int
    findings: tuple[Finding, ...]
    notes: tuple[str, ...] = ()       # what was not checked, and why (stderr in text output)

    @property
    def errors(self) -> int:
        return sum(1 for f in self.findings if f.severity == "error")

    @property
    def warnings(self) -> int:
        return sum(1 for f in self.findings if f.severity == "warning")

    def ok(self, strict: bool = False) -> bool:
        return self.errors == 0 and (not strict or self.warnings == 0)

    def to_json(self, strict: bool = False) -> dict[str, Any]:
        out: dict[str, Any] = {
            "report_version": REPORT_VERSION,
            "tool": {"name": "modelreg", "version": __version__},
            "command": self.command,
            "ok": self.ok(strict),
            "summary": {"files": self.files, "errors": self.errors, "warnings": self.warnings},
            "findings": [f.to_json() for f in sorted(self.findings, key=Finding.sort_key)],
        }
        if self.notes:
            out["notes"] = list(self.notes)
        return out
