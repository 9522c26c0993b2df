"""Reporters for ``check``: text, JSON and GitHub workflow annotations, chosen by name.

Each takes a :class:`~modelreg.app.check.CheckResult` and returns text; the CLI prints it.
Machine output is the versioned report of ``schemas/report.schema.json``.
"""
from __future__ import annotations

import json
from collections.abc import Callable

from modelreg.app.check import CheckResult
from modelreg.core.errors import UsageError, printable


def text(result: CheckResult, strict: bool = False) -> str:
    """``file:line: [RULE-ID] message`` per finding, waivers after them."""
    lines = []
    for f in result.report.findings:
        lines.append(str(f))
    for w in result.waived:
        lines.append(printable(f"{w.finding.where}: [{w.finding.rule}] waived until "
                               f"{w.expires} (approved by {w.approved_by}): "
                               f"{w.finding.message}"))
    return "\n".join(lines) + ("\n" if lines else "")


def summary_line(result: CheckResult, strict: bool = False) -> str:
    r = result.report
    verdict = "ok" if result.ok(strict) else "FAILED"
    part = f" (shard {result.shard})" if result.shard is not None else ""
    return (f"check{part}: {len(result.models)} models, {result.documents} documents, {r.files} files "
            f"({result.engine or 'no engine'}): {r.errors} errors, {r.warnings} warnings, "
            f"{len(result.waived)} waived — {verdict}")


def as_json(result: CheckResult, strict: bool = False) -> str:
    return json.dumps(result.to_json(strict), indent=2, ensure_ascii=False) + "\n"


def _escape_data(value: str) -> str:
    # control characters shown as escapes (as in every text output), then GitHub workflow
    # command escaping (toolkit's issueCommand) for what is left
    value = printable(value)
    return value.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(value: str) -> str:
    return _escape_data(value).replace(":", "%3A").replace(",", "%2C")


def github(result: CheckResult, strict: bool = False) -> str:
    """``::error file=…,line=…,title=RULE-ID::message`` workflow annotations."""
    lines = []
    for f in result.report.findings:
        kind = "error" if f.severity == "error" or strict else "warning"
        props = [f"file={_escape_property(f.file)}"]
        if f.line:
            props.append(f"line={f.line}")
        props.append(f"title={_escape_property(f.rule)}")
        lines.append(f"::{kind} {','.join(props)}::{_escape_data(f.message)}")
    for w in result.waived:
        f = w.finding
        props = [f"file={_escape_property(f.file)}"] + ([f"line={f.line}"] if f.line else [])
        props.append(f"title={_escape_property(f.rule + ' (waived)')}")
        lines.append(f"::notice {','.join(props)}::{_escape_data(f.message)}")
    return "\n".join(lines) + ("\n" if lines else "")


def _cell(value: str) -> str:
    return printable(value).replace("|", "\\|")


def markdown_summary(result: CheckResult, strict: bool = False) -> str:
    """The job summary GitHub shows on the run page ($GITHUB_STEP_SUMMARY)."""
    r = result.report
    icon = "✅" if result.ok(strict) else "❌"
    out = [f"## {icon} modelreg check",
           "",
           f"{len(result.models)} models, {result.documents} documents checked with "
           f"`{result.engine or 'no engine'}`"
           + (f" (changed since `{result.changed_since}`)" if result.changed_since else "")
           + (f", judged by the rules of `{result.base[:12]}`" if result.base else "")
           + f": **{r.errors} errors**, {r.warnings} warnings, {len(result.waived)} waived.",
           ""]
    if r.findings:
        out += ["| | file | rule | message |", "|---|---|---|---|"]
        for f in r.findings:
            mark = "❌" if f.severity == "error" else "⚠️"
            out.append(f"| {mark} | `{_cell(f.where)}` | {f.rule} | {_cell(f.message)} |")
        out.append("")
    if result.waived:
        out += ["### Waived", "", "| file | rule | approved by | expires | justification |",
                "|---|---|---|---|---|"]
        for w in result.waived:
            out.append(f"| `{_cell(w.finding.where)}` | {w.finding.rule} | "
                       f"{_cell(w.approved_by)} | {_cell(w.expires)} | "
                       f"{_cell(w.justification)} |")
        out.append("")
    return "\n".join(out) + "\n"


REPORTERS: dict[str, Callable[[CheckResult, bool], str]] = {
    "text": text,
    "json": as_json,
    "github": github,
}


def reporter(name: str) -> Callable[[CheckResult, bool], str]:
    """A reporter by name; an unknown name is a usage error listing the known ones."""
    try:
        return REPORTERS[name]
    except KeyError:
        raise UsageError(f"unknown format {name!r}; known formats: {', '.join(REPORTERS)}") \
            from None


__all__ = ["REPORTERS", "reporter", "text", "as_json", "github", "markdown_summary",
           "summary_line"]
