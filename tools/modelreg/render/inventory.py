"""The model inventory (app/inventory.py builds it as data) as CSV, a Markdown table or
versioned JSON (``{"inventory_version": 1, "at": ..., "models": [...]}``)."""
from __future__ import annotations

import csv
import io
import json
from typing import Any

from modelreg.core.errors import UsageError
from modelreg.store.cards import cell

FORMATS = ("csv", "json", "md")

# Spreadsheets run a cell that starts with one of these as a formula (CSV injection): such
# text is written with a leading apostrophe, which they show as text.
_FORMULA = ("=", "+", "-", "@", "\t", "\r")


def columns(inv: dict[str, Any]) -> list[str]:
    """The flat columns of the CSV and the Markdown table, in order."""
    return ["name", "title", "owner_team", "business_owner", "tier", "eu_ai_act_class",
            "annex_iii_area", "intended_use",
            *[f"stage:{s}" for s in _stages(inv)],
            "latest_version", "deprecated", "last_validation_version", "last_validation_date",
            "last_validation_outcome", "last_validation_validator", "open_findings",
            "open_high_findings", "past_due_findings", "next_review", "monitoring",
            "monitoring_last", "retired", "retired_date", "retired_reason", "replaced_by",
            "unreadable"]


def _stages(inv: dict[str, Any]) -> list[str]:
    seen = list(inv.get("stages") or [])
    for row in inv["models"]:
        seen += [s for s in row["stages"] if s not in seen]
    return seen


def flat(row: dict[str, Any], stages: list[str]) -> dict[str, Any]:
    """One model's row as flat values (None where there is nothing to say)."""
    val = row["last_validation"] or {}
    retired = row["retired"]
    mon = row["monitoring"] or {}
    return {
        "name": row["name"], "title": row["title"], "owner_team": row["owner_team"],
        "business_owner": row["business_owner"], "tier": row["tier"],
        "eu_ai_act_class": row["eu_ai_act_class"], "annex_iii_area": row["annex_iii_area"],
        "intended_use": row["intended_use"],
        **{f"stage:{s}": row["stages"].get(s) for s in stages},
        "latest_version": row["latest_version"], "deprecated": row["deprecated"],
        "last_validation_version": val.get("version"), "last_validation_date": val.get("date"),
        "last_validation_outcome": val.get("outcome"),
        "last_validation_validator": val.get("validator"),
        "open_findings": row["findings"]["open"], "open_high_findings": row["findings"]["high"],
        "past_due_findings": row["findings"]["past_due"], "next_review": row["next_review"],
        "monitoring": mon.get("state"), "monitoring_last": mon.get("last"),
        "retired": retired is not None,
        "retired_date": (retired or {}).get("date"),
        "retired_reason": (retired or {}).get("reason"),
        "replaced_by": (retired or {}).get("replaced_by"),
        "unreadable": "; ".join(row.get("unreadable") or []) or None,
    }


def _csv_value(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    text = str(value)
    return "'" + text if text.startswith(_FORMULA) else text


def _md_value(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    return cell(value)


def render(inv: dict[str, Any], fmt: str) -> str:
    """The inventory in ``fmt``: ``csv`` (one header row, one row per model), ``md`` (a
    heading and one table) or ``json``."""
    if fmt == "json":
        return json.dumps(inv, indent=2, ensure_ascii=False) + "\n"
    if fmt not in FORMATS:
        raise UsageError(f"unknown format {fmt!r}", hint=f"use one of {', '.join(FORMATS)}")
    cols = columns(inv)
    stages = _stages(inv)
    rows = [flat(r, stages) for r in inv["models"]]
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(cols)
        for r in rows:
            writer.writerow([_csv_value(r[c]) for c in cols])
        return out.getvalue()
    source = inv["source"]
    lines = [f"# Model inventory at {inv['at']}", "",
             f"From the {source['kind']}" + (f" at commit {source['commit'][:12]}"
                                              if source.get("commit") else "")
             + f"; {len(rows)} models, "
             f"{sum(1 for r in inv['models'] if r['retired'] is not None)} retired.", "",
             "| " + " | ".join(cols) + " |", "|" + " --- |" * len(cols)]
    for r in rows:
        lines.append("| " + " | ".join(_md_value(r[c]) for c in cols) + " |")
    return "\n".join(lines) + "\n"


__all__ = ["render", "columns", "flat", "FORMATS"]
