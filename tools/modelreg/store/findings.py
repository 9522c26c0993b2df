"""Validation findings: ``models/NAME/validation/ID.yaml``, one finding per file.

Independent validation (SR 11-7's effective challenge) raises findings; each has an id, a
severity, an owner, a due date and a status (``schemas/finding.schema.json``). They are
reviewed files, opened and closed through pull requests the validation team approves (GOV-06
judges that and what an open finding blocks). This module reads them at any revision and
answers the questions every reader asks: which apply to a version, which are open, which
are past due.
"""
from __future__ import annotations

from typing import Any

from modelreg.core.errors import ModelregError
from modelreg.store.registry import MODELS_DIR, Registry

FOLDER = "validation"
SEVERITIES = ("high", "medium", "low")      # most serious first


def folder(name: str) -> str:
    return f"{MODELS_DIR}/{name}/{FOLDER}"


def finding_paths(registry: Registry, name: str) -> list[str]:
    """The finding files of one model, sorted by path."""
    base = folder(name)
    if not registry.exists(base):
        return []
    return [f"{base}/{entry}" for entry in sorted(registry.list_dir(base))
            if entry.endswith(".yaml") and registry.is_file(f"{base}/{entry}")]


def read_findings(registry: Registry, name: str) -> list[dict[str, Any]]:
    """The model's findings as the registry holds them (at its revision), each with its
    ``path``. A file that cannot be read or is not a mapping is left out here: ``validate``
    and ``check`` report it (ID-00, ID-01), and a check never passes while it is broken."""
    out = []
    for rel in finding_paths(registry, name):
        try:
            data = registry.load(rel).data
        except ModelregError:
            continue
        if isinstance(data, dict):
            out.append({**data, "path": rel})
    return out


def applies(finding: dict[str, Any], version: str | None) -> bool:
    """Whether a finding concerns ``version`` (one without a version concerns them all)."""
    concerns = finding.get("version")
    return concerns is None or version is None or concerns == version


def is_open(finding: dict[str, Any]) -> bool:
    """Open unless it says closed: a finding with a status nobody recognises stays open."""
    return finding.get("status") != "closed"


def past_due(finding: dict[str, Any], today: str) -> bool:
    """An open finding whose due date (YYYY-MM-DD) is before ``today``."""
    due = finding.get("due")
    return is_open(finding) and isinstance(due, str) and due < today


def open_findings(findings: list[dict[str, Any]], version: str | None = None
                  ) -> list[dict[str, Any]]:
    """The open findings that concern ``version`` (every open one when None), most severe
    and soonest due first."""
    rank = {s: i for i, s in enumerate(SEVERITIES)}
    return sorted((f for f in findings if is_open(f) and applies(f, version)),
                  key=lambda f: (rank.get(f.get("severity"), -1), str(f.get("due")),
                                 str(f.get("id"))))


def summary(findings: list[dict[str, Any]], today: str, version: str | None = None
            ) -> dict[str, int]:
    """Counts for a status line: open, open high-severity, open past due."""
    live = open_findings(findings, version)
    return {"open": len(live), "high": sum(1 for f in live if f.get("severity") == "high"),
            "past_due": sum(1 for f in live if past_due(f, today))}


__all__ = ["FOLDER", "SEVERITIES", "folder", "finding_paths", "read_findings", "applies",
           "is_open", "past_due", "open_findings", "summary"]
