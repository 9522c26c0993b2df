"""The audit report (app/audit.py builds it as data) as Markdown, a self-contained HTML page or
versioned JSON (``schemas/audit.schema.json``), and written one file per model."""
from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from markupsafe import Markup

from modelreg.core.errors import UsageError, location
from modelreg.core.files import write_atomic
from modelreg.store.cards import cell, code
from modelreg.store.defaults import TEMPLATES_DIR

FORMATS = ("md", "html", "json")


def render(report: dict[str, Any], fmt: str, *, final_stage: str | None = None) -> str:
    """The report as Markdown, a self-contained HTML page, or versioned JSON.

    ``final_stage`` (the configuration's last stage) is drawn apart from the others."""
    if fmt == "json":

        return json.dumps(report, indent=2, ensure_ascii=False) + "\n"
    if fmt not in FORMATS:
        raise UsageError(f"unknown format {fmt!r}", hint=f"use one of {', '.join(FORMATS)}")
    template = "audit.md.j2" if fmt == "md" else "audit.html.j2"
    return environment(fmt, final_stage=final_stage).get_template(template).render(r=report)


def environment(fmt: str, *, final_stage: str | None = None) -> Any:
    """A jinja2 environment that escapes every value by default: HTML escaping for pages,
    Markdown escaping (no HTML, no injected headings or table cells) for Markdown.
    ``final_stage`` is the stage whose badges are drawn as the one serving decisions."""
    import jinja2  # noqa: PLC0415 - jinja2 costs ~36 ms; only rendering needs it

    if fmt == "html":
        env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(TEMPLATES_DIR)),
                                 autoescape=True, undefined=jinja2.StrictUndefined,
                                 trim_blocks=True, lstrip_blocks=True,
                                 keep_trailing_newline=True)
    else:

        def finalize(value: Any) -> Any:
            if isinstance(value, Markup):
                return value
            return Markup(cell("—" if value is None else value))

        env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(TEMPLATES_DIR)),
                                 autoescape=False, undefined=jinja2.StrictUndefined,
                                 trim_blocks=True, lstrip_blocks=True, finalize=finalize,
                                 keep_trailing_newline=True)
        env.filters["code"] = _code_md
    env.filters.update(where=lambda f: location(f.get("file"), f.get("line")),
                       short=lambda v: (str(v)[:12] if v else None),
                       join_list=lambda v: ", ".join(str(x) for x in v) if v else None,
                       number=_number, verdict=_verdict)
    env.globals["final_stage"] = final_stage
    return env


def _code_md(value: Any) -> Any:
    """An inline code span for a Markdown table cell (``|`` escaped)."""

    return Markup("—" if value is None else code(value).replace("|", "\\|"))


def _number(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def _verdict(value: bool | None) -> str:
    return {True: "met", False: "NOT MET", None: "no threshold"}[value]


def write_reports(reports: Iterable[dict[str, Any]], out_dir: Path, fmt: str, *,
                  final_stage: str | None = None) -> list[Path]:
    """One file per model, ``OUT_DIR/NAME.{md,html,json}``, each written atomically."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for report in reports:
        path = out_dir / f"{report['model']}.{fmt}"
        write_atomic(path, render(report, fmt, final_stage=final_stage))
        written.append(path)
    return written


__all__ = ["render", "environment", "write_reports", "FORMATS"]
