"""``modelreg inventory``: the model inventory a regulator asks for, one row per model.

SR 11-7 asks for a firm-wide inventory of models in use, under development and retired; the
EU AI Act registers high-risk systems by their Annex III area (Art. 49, 71); NIST AI RMF
GOVERN 1.6 asks for an inventory of AI systems and GOVERN 1.7 for their decommissioning.
Each row says who owns the model, how it is classified, what it is for, which version each
stage holds (from trusted tags), its last validation, its open validation findings, when it is
due for review (GOV-05), what its monitoring says, and whether it is retired.

``at`` answers from git alone: the registry tags made up to that time and the files of the
protected branch's last first-parent commit at or before it, as ``modelreg audit --at``
reads them. The inventory is plain data; render/inventory.py turns it into CSV, Markdown or
versioned JSON.
"""
from __future__ import annotations

import datetime as _dt
from collections.abc import Mapping
from typing import Any

from modelreg.core.errors import ModelregError, UsageError
from modelreg.core.records import ModelState
from modelreg.core.tags import SEMVER_RE
from modelreg.core.timefmt import add_days, parse_when, stamp
from modelreg.core.timefmt import rfc3339 as iso
from modelreg.policy.inputs import metric_directions
from modelreg.store import findings as vf
from modelreg.store.monitoring import version_status
from modelreg.store.protected import protected_commit_at
from modelreg.store.registry import MODELS_DIR, Registry, sort_versions

INVENTORY_VERSION = 1


def inventory(registry: Registry, *, at: str | None = None,
              now: _dt.datetime | str | None = None) -> dict[str, Any]:
    """The inventory now (the work tree and today's trusted tags) or, with ``at``
    (YYYY-MM-DD, the end of that day in UTC, or an RFC 3339 time), as it stood then."""
    when = parse_when(at) if at else None
    if when is None:
        view, commit, kind = registry, registry.git.head(), "work tree"
        moment = stamp(now)
    else:
        commit = protected_commit_at(registry, when)
        if commit is None:
            raise UsageError(f"the registry's protected branch has no commit on or before {at}",
                             hint="`git log --first-parent` shows when it started")
        view, kind, moment = registry.at(commit), "git history", iso(when)
    try:
        states = registry.states(at=when)
        stages = [s for s in registry.config.stage_order if s != "registered"]
        names = sorted(set(view.model_names()))
        today = moment[:10]
        models = [_row(view, name, states.get(name) or ModelState(name, (), {}, False, ()),
                       stages, today) for name in names]
    finally:
        if view is not registry:
            view.close()
    return {"inventory_version": INVENTORY_VERSION, "at": moment,
            "source": {"kind": kind, "commit": commit}, "stages": stages, "models": models}


def _str(value: Any) -> str | None:
    return None if value is None else str(value)


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _load(view: Registry, rel: str, unreadable: list[str]) -> dict[str, Any]:
    try:
        return _dict(view.load(rel).data) if view.exists(rel) else {}
    except ModelregError:
        unreadable.append(rel)
        return {}


def _row(view: Registry, name: str, state: ModelState, stages: list[str],
         today: str) -> dict[str, Any]:
    unreadable: list[str] = []
    model = _load(view, f"{MODELS_DIR}/{name}/model.yaml", unreadable)
    owner = _dict(model.get("owner"))
    risk = _dict(model.get("risk"))
    eu = _dict(risk.get("eu_ai_act"))
    tier = risk.get("tier")
    tier = tier if isinstance(tier, int) and not isinstance(tier, bool) else None
    held = dict(state.stages)
    shown_stages = stages + sorted(s for s in held if s not in stages)
    registered = sort_versions(v for v in state.registered if SEMVER_RE.match(v))
    # the version serving the highest stage speaks for the model; else the newest one
    top_stage = next((s for s in reversed(shown_stages) if held.get(s)), None)
    top = held[top_stage] if top_stage else None
    speaker = top or (registered[-1] if registered else None)
    record = _load(view, f"{MODELS_DIR}/{name}/versions/{speaker}.yaml", unreadable) \
        if speaker else {}
    validation = _validation(speaker, record)
    found = vf.read_findings(view, name)
    open_ = vf.open_findings(found)
    retirement = _dict(model.get("retirement")) if "retirement" in model else None
    return {
        "name": name,
        "title": _str(model.get("title")),
        "owner_team": _str(owner.get("team")),
        "business_owner": _str(owner.get("business_owner")),
        "tier": tier,
        "eu_ai_act_class": _str(eu.get("class")),
        "annex_iii_area": _str(eu.get("annex_iii_area")),
        "intended_use": _str(_dict(model.get("intended_use")).get("purpose")),
        "stages": {s: held.get(s) for s in shown_stages},
        "latest_version": registered[-1] if registered else None,
        "versions": len(registered),
        "deprecated": state.deprecated,
        "last_validation": validation,
        "findings": {"open": len(open_),
                     "high": sum(1 for f in open_ if f.get("severity") == "high"),
                     "past_due": sum(1 for f in open_ if vf.past_due(f, today)),
                     "ids": [str(f.get("id")) for f in open_]},
        "next_review": _next_review(view, model, tier, validation),
        "monitoring": _monitoring(view, name, top, top_stage, state, model, today),
        "retired": None if retirement is None else {
            "date": _str(retirement.get("date")), "reason": _str(retirement.get("reason")),
            "replaced_by": _str(retirement.get("replaced_by"))},
        "unreadable": unreadable,
    }


def _validation(version: str | None, record: dict[str, Any]) -> dict[str, Any] | None:
    v = _dict(record.get("validation"))
    if not v:
        return None
    return {"version": version, "date": _str(v.get("validated_at")),
            "outcome": _str(v.get("outcome")), "validator": _str(v.get("validator"))}


def _next_review(view: Registry, model: dict[str, Any], tier: int | None,
                 validation: dict[str, Any] | None) -> str | None:
    """GOV-05's due date: the last validation plus the model's ``review.interval_days``, else
    its tier's ``review_interval_days`` (policies/data/tiers.yaml)."""
    if validation is None or not validation["date"]:
        return None
    days = _dict(model.get("review")).get("interval_days")
    if not isinstance(days, int) or isinstance(days, bool):
        try:
            params = view.config.tiers.get(str(tier))
            days = params.get("review_interval_days") if isinstance(params, Mapping) else None
        except ModelregError:
            days = None
    if not isinstance(days, int) or isinstance(days, bool):
        return None
    try:
        return add_days(validation["date"], days)
    except ValueError:
        return None


def _monitoring(view: Registry, name: str, version: str | None, stage: str | None,
                state: ModelState, model: dict[str, Any], today: str) -> dict[str, Any]:
    """What the monitoring records of the version serving the highest stage say
    (store/monitoring.py), counted from the day it took the last stage when it holds it."""
    since = None
    if version is not None and stage is not None and stage == view.config.last_stage:
        ev = state.assignment(stage, version)
        since = iso(ev.time)[:10] if ev is not None else None
    try:
        directions = metric_directions(dict(view.config.data))
    except ModelregError:
        directions = {}
    return version_status(view, name, version, model, directions=directions, since=since,
                          today=today)


__all__ = ["inventory", "INVENTORY_VERSION"]
