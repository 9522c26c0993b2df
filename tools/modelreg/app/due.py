"""``due``: what model-risk work falls due, and when — from the registry's files and tags alone.

Five kinds of item, each with its model, version, due date, days left (negative: overdue),
the owner who must act and a stable key (the same item keeps its key from one day to the
next, so an issue tracker can follow it):

- ``review``: the periodic review (GOV-05) of a version that holds a stage: its
  ``validation.validated_at`` plus model.yaml ``review.interval_days``, else its tier's
  ``review_interval_days``;
- ``revalidation``: ``validation.next_review_due`` of a version that holds a stage;
- ``waiver``: an exception's ``expires`` on a registered version that is not deprecated;
- ``finding``: an open validation finding's ``due`` (models/NAME/validation/ID.yaml), for the
  model or for a registered version that is not deprecated;
- ``monitoring``: the next monitoring record of the version holding the last stage
  (production): the latest window's end, or the day the version took the stage when that is
  later, plus the cadence of ``monitoring_plan.frequency``.

Versions that hold no stage need no review or monitoring; deprecated versions and models
need nothing. ``sync_issues`` keeps one GitHub issue per item (store/github.py).
"""
from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

from modelreg.core import monitoring, timefmt
from modelreg.core.errors import ModelregError, UsageError
from modelreg.core.timefmt import day
from modelreg.policy.documents import RecordCache
from modelreg.store.findings import is_open, read_findings
from modelreg.store.github import GitHub
from modelreg.store.monitoring import read_records
from modelreg.store.registry import MODELS_DIR, Registry
from modelreg.store.schemas import Schemas

KINDS = ("review", "revalidation", "waiver", "finding", "monitoring")
DEFAULT_WITHIN = 30
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


@dataclass(frozen=True)
class Item:
    """One thing that falls due."""

    key: str                 # stable: kind:model@version[:what]
    kind: str
    model: str
    version: str | None
    due: str                 # YYYY-MM-DD
    days_left: int           # negative: overdue
    owner: str | None
    title: str
    detail: str
    file: str | None         # the file that says so

    @property
    def overdue(self) -> bool:
        return self.days_left < 0

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "overdue": self.overdue}


@dataclass(frozen=True)
class DueList:
    today: str
    within: int
    items: tuple[Item, ...]
    notes: tuple[str, ...] = ()

    @property
    def overdue(self) -> int:
        return sum(1 for i in self.items if i.overdue)

    def to_json(self) -> dict[str, Any]:
        return {"due_version": 1, "today": self.today, "within": self.within,
                "overdue": self.overdue, "items": [i.to_json() for i in self.items],
                "notes": list(self.notes)}


def _dict(x: Any) -> dict[str, Any]:
    return x if isinstance(x, dict) else {}


def _date(x: Any) -> str | None:
    if hasattr(x, "isoformat") and not isinstance(x, str):
        x = x.isoformat()
    return x[:10] if isinstance(x, str) and _DATE.match(x[:10]) else None


def _owner(model: dict[str, Any]) -> str | None:
    owner = _dict(model.get("owner"))
    return owner.get("business_owner") or owner.get("team")


def due(registry: Registry, *, within: int = DEFAULT_WITHIN, today: str | None = None,
        names: Iterable[str] | None = None) -> DueList:
    """Everything due within ``within`` days of ``today`` (default: the current UTC date),
    overdue items included, soonest first."""
    if within < 0:
        raise UsageError(f"--within {within} is negative", hint="give a number of days, 0 or more")
    today = today or dt.datetime.now(dt.UTC).date().isoformat()
    if not _DATE.match(today):
        raise UsageError(f"invalid date {today!r}", hint="use YYYY-MM-DD")
    config = registry.config
    last_stage = config.last_stage
    states = registry.states()
    items: list[Item] = []
    notes: list[str] = []
    # the records parsed once per content, shared with check and validate (.git/modelreg)
    cache, schemas = RecordCache(registry), Schemas(registry)
    for name in sorted(names or registry.model_names()):
        try:
            model = _dict(registry.model(name).data)
        except ModelregError as exc:
            notes.append(f"{name}: model.yaml could not be read ({exc.message})")
            continue
        state = states.get(name)
        if state is None or state.deprecated:
            continue
        try:
            deprecated = set(_dict(registry.stages_file(name)).get("deprecated_versions") or [])
        except ModelregError as exc:
            notes.append(f"{name}: stages.yaml could not be read ({exc.message})")
            deprecated = set()
        live = [v for v in state.registered if v not in deprecated]
        holding = {v: sorted(s for s, held in state.stages.items() if held == v)
                   for v in live}
        for version in live:
            rel = f"{MODELS_DIR}/{name}/versions/{version}.yaml"
            try:
                doc, _ = cache.read(registry, schemas, rel, "version")
            except ModelregError as exc:
                notes.append(f"{name} {version}: {rel} could not be read ({exc.message})")
                continue
            data = _dict(doc.data)
            if holding[version]:
                items += _reviews(config, name, version, model, data, rel, today,
                                  holding[version])
            items += _waivers(name, version, data, rel, model, today)
        items += _findings(registry, name, set(live), model, today)
        serving = state.stages.get(last_stage)
        if serving in live:
            ev = state.assignment(last_stage, serving)
            items += _monitoring(registry, name, serving, model, today,
                                 day(ev.time) if ev is not None else None, last_stage)
    cache.save()
    shown = sorted((i for i in items if i.days_left <= within),
                   key=lambda i: (i.due, i.model, i.key))
    return DueList(today, within, tuple(shown), tuple(notes))


def _item(kind: str, name: str, version: str | None, what: str | None, due_on: str,
          today: str, owner: str | None, title: str, detail: str, file: str | None) -> Item:
    key = f"{kind}:{name}" + (f"@{version}" if version else "") + (f":{what}" if what else "")
    key = re.sub(r"[^A-Za-z0-9@:._+-]", "_", key)      # one token in the issue's marker
    return Item(key, kind, name, version, due_on, timefmt.days_between(today, due_on),
                owner, title, detail, file)


def _reviews(config: Any, name: str, version: str, model: dict[str, Any],
             data: dict[str, Any], path: str, today: str, stages: list[str]) -> list[Item]:
    out = []
    validation = _dict(data.get("validation"))
    held = ", ".join(stages)
    validator = validation.get("validator")
    at = _date(validation.get("validated_at"))
    interval = _dict(model.get("review")).get("interval_days")
    tier = _dict(model.get("risk")).get("tier")
    if not isinstance(interval, int):
        interval = _dict(config.tiers.get(str(tier))).get("review_interval_days")
    if at and isinstance(interval, int):
        out.append(_item("review", name, version, None, timefmt.add_days(at, interval),
                         today, _owner(model), f"Periodic review of {name} {version}",
                         f"validated {at}; review every {interval} days (GOV-05); holds "
                         f"{held}", path))
    nxt = _date(validation.get("next_review_due"))
    if nxt:
        out.append(_item("revalidation", name, version, None, nxt, today,
                         validator if isinstance(validator, str) else _owner(model),
                         f"Revalidation of {name} {version}",
                         f"validation.next_review_due; holds {held}", path))
    return out


def _waivers(name: str, version: str, data: dict[str, Any], path: str,
             model: dict[str, Any], today: str) -> list[Item]:
    out = []
    for i, w in enumerate(data.get("exceptions") or []):
        w = _dict(w)
        expires = _date(w.get("expires"))
        if not expires:
            continue
        rule = str(w.get("rule") or f"exception-{i}")
        out.append(_item("waiver", name, version, rule, expires, today, _owner(model),
                         f"Waiver of {rule} for {name} {version} expires",
                         f"approved by {w.get('approved_by')}: {w.get('justification', '')}"
                         .strip(), path))
    return out


def _findings(registry: Registry, name: str, live: set[str], model: dict[str, Any],
              today: str) -> list[Item]:
    out = []
    for f in read_findings(registry, name):
        version = f.get("version")
        due_on = _date(f.get("due"))
        if not is_open(f) or not due_on or (version is not None and str(version) not in live):
            continue
        owner = f.get("owner") if isinstance(f.get("owner"), str) else _owner(model)
        out.append(_item("finding", name, str(version) if version else None,
                         str(f.get("id")), due_on, today, owner,
                         f"Validation finding {f.get('id')} of {name}: {f.get('title', '')}"
                         .rstrip(": "),
                         f"severity {f.get('severity')}, raised by {f.get('raised_by')}",
                         f.get("path")))
    return out


def _monitoring(registry: Registry, name: str, version: str, model: dict[str, Any],
                today: str, since: str | None, stage: str) -> list[Item]:
    cadence = monitoring.cadence_days(model)
    if cadence is None:
        return []
    records = [r for r in read_records(registry, name, version).get(version, [])
               if r["window"]["end"] <= today]          # a window still to come is not one
    last = records[-1]["window"]["end"] if records else None
    start = max(d for d in (last, since) if d) if (last or since) else None
    if start is None:
        return []
    plan = _dict(model.get("monitoring_plan"))
    owner = plan.get("owner") if isinstance(plan.get("owner"), str) else _owner(model)
    detail = (f"last window ended {last}" if last else "no monitoring record yet") + \
        f"; {plan.get('frequency')} (every {cadence} days); in {stage} since {since}"
    return [_item("monitoring", name, version, None, timefmt.add_days(start, cadence), today,
                  owner, f"Monitoring of {name} {version} in {stage}", detail,
                  records[-1]["path"] if records else None)]


# --- GitHub issues ---------------------------------------------------------------------
LABEL = "modelreg-due"
MARKER = re.compile(r"<!--\s*modelreg-due:\s*([^\s>]+)\s*-->")


@dataclass(frozen=True)
class IssueSpec:
    """An issue as it should read: its item's key, title, body and labels."""

    key: str
    title: str
    body: str
    labels: tuple[str, ...] = (LABEL,)


@dataclass(frozen=True)
class SyncResult:
    opened: tuple[int, ...]
    updated: tuple[int, ...]
    reopened: tuple[int, ...]
    closed: tuple[int, ...]
    unchanged: tuple[int, ...]

    def to_json(self) -> dict[str, Any]:
        return {k: list(v) for k, v in asdict(self).items()}


def marker(key: str) -> str:
    """The hidden line that ties an issue to its item."""
    return f"<!-- modelreg-due: {key} -->"


def key_of(issue: Mapping[str, Any]) -> str | None:
    m = MARKER.search(str(issue.get("body") or ""))
    return m.group(1) if m else None


def sync_issues(github: GitHub, specs: Iterable[IssueSpec]) -> SyncResult:
    """One open issue per item, idempotently: an issue carrying the item's marker (and the
    ``modelreg-due`` label) is updated when its title or body differ, reopened when it was
    closed, opened when there is none; an open one whose item is gone is closed. Issues
    without a marker are left alone."""
    wanted = {s.key: s for s in specs}
    existing: dict[str, list[dict[str, Any]]] = {}
    for issue in github.issues(labels=LABEL, state="all"):
        if "pull_request" in issue:
            continue
        key = key_of(issue)
        if key is not None:
            existing.setdefault(key, []).append(issue)
    opened, updated, reopened, closed, unchanged = [], [], [], [], []
    for key, spec in wanted.items():
        found = sorted(existing.get(key, []),
                       key=lambda i: (i.get("state") != "open", int(i.get("number") or 0)))
        if not found:
            made = github.create_issue(spec.title, spec.body, list(spec.labels))
            opened.append(int(made.get("number") or 0))
            continue
        issue = found[0]
        number = int(issue["number"])
        change: dict[str, Any] = {}
        if issue.get("title") != spec.title:
            change["title"] = spec.title
        if (issue.get("body") or "") != spec.body:
            change["body"] = spec.body
        if issue.get("state") != "open":
            change["state"] = "open"
        if change:
            github.update_issue(number, **change)
            (reopened if "state" in change else updated).append(number)
        else:
            unchanged.append(number)
        for extra in found[1:]:          # the same item twice: one issue is enough
            if extra.get("state") == "open":
                github.update_issue(int(extra["number"]), state="closed",
                                    state_reason="not_planned")
                closed.append(int(extra["number"]))
    for key, issues in existing.items():
        if key in wanted:
            continue
        for issue in issues:
            if issue.get("state") == "open":
                github.update_issue(int(issue["number"]), state="closed",
                                    state_reason="completed")
                closed.append(int(issue["number"]))
    return SyncResult(tuple(opened), tuple(updated), tuple(reopened), tuple(sorted(closed)),
                      tuple(unchanged))


__all__ = ["Item", "DueList", "due", "KINDS", "DEFAULT_WITHIN", "IssueSpec", "SyncResult",
           "sync_issues", "marker", "key_of", "LABEL"]
