"""``due``'s list as text, versioned JSON, or GitHub issues (title, Markdown body with the
item's hidden marker, label): ``--format github-issues`` prints what ``--sync-issues`` sends."""
from __future__ import annotations

from typing import Any

from modelreg.app.due import LABEL, DueList, IssueSpec, Item, marker
from modelreg.core.errors import printable


def _when(item: Item) -> str:
    if item.days_left < 0:
        return f"{-item.days_left} days overdue"
    if item.days_left == 0:
        return "due today"
    return f"in {item.days_left} days"


def text(result: DueList) -> str:
    """One line per item, soonest first, and a last line with the counts."""
    lines = []
    for i in result.items:
        version = i.version or "-"
        lines.append(printable(f"{i.due}  {_when(i):>18}  {i.kind:<12} {i.model} {version}  "
                               f"owner {i.owner or '-'}  {i.detail}"))
    lines.append(f"{len(result.items)} items due by {result.within} days after "
                 f"{result.today}, {result.overdue} overdue")
    return "\n".join(lines)


def _cell(value: Any) -> str:
    return str(value if value is not None else "-").replace("|", "\\|").replace("\n", " ")


def issue(item: Item) -> IssueSpec:
    """The issue of one item: what is due, when, for whom, and the file that says so."""
    state = "**Overdue**" if item.overdue else "Due"
    body = "\n".join([
        f"{state} on **{item.due}** ({_when(item)}).",
        "",
        "| | |",
        "| --- | --- |",
        f"| Model | `{_cell(item.model)}` |",
        f"| Version | `{_cell(item.version)}` |",
        f"| Kind | {_cell(item.kind)} |",
        f"| Owner | {_cell(item.owner)} |",
        f"| Details | {_cell(item.detail)} |",
        f"| File | `{_cell(item.file)}` |",
        "",
        "Opened and kept up to date by `modelreg due --sync-issues`; it is closed when the "
        "registry no longer lists the item (the review recorded, the finding closed, the "
        "monitoring window recorded …).",
        "",
        marker(item.key),
    ])
    title = f"[{item.kind}] {item.title} — due {item.due}"
    return IssueSpec(item.key, title[:250], body, (LABEL,))


def issues(result: DueList) -> list[IssueSpec]:
    return [issue(i) for i in result.items]


def issues_json(result: DueList) -> dict[str, Any]:
    return {"due_version": 1, "today": result.today, "within": result.within,
            "issues": [{"key": s.key, "title": s.title, "body": s.body,
                        "labels": list(s.labels)} for s in issues(result)]}


__all__ = ["text", "issue", "issues", "issues_json"]
