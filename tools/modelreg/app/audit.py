"""``modelreg audit``: the evidence report an auditor reads for one model.

Identity and risk classification; for each version that ever held a stage, what it was
trained on, its metrics against thresholds, who registered and who approved it, under which
policy digest, and when it entered and left each stage; the policy result with open findings
and waivers; and which regulation or standard each check serves (``policies/data/rules.yaml``,
the catalogue of docs/policies.md).

``at`` reconstructs the report as of a date from git history alone: the registry tags made
up to that time, and the files as they were in the last first-parent commit of the protected
branch before it, read through one ``git cat-file --batch`` process. The policy result then
is the decision each tag recorded (with its policy digest): re-running today's policies on
yesterday's files would answer a different question.

The report is plain data (:func:`audit`); :func:`render` turns it into Markdown, HTML or
versioned JSON (``schemas/audit.schema.json``). Nothing here prints.
"""
from __future__ import annotations

import datetime as _dt
import re
from dataclasses import dataclass
from functools import partial
from typing import Any

from modelreg.core.errors import ModelregError, UsageError
from modelreg.core.metrics import meets_threshold
from modelreg.core.monitoring import describe
from modelreg.core.records import Event, ModelState
from modelreg.core.release import __version__
from modelreg.core.tags import SEMVER_RE, Action
from modelreg.core.timefmt import parse_when, stamp
from modelreg.core.timefmt import rfc3339 as iso
from modelreg.policy.evaluate import Evaluation, evaluate
from modelreg.policy.inputs import metric_directions, side_by_side
from modelreg.store import cards
from modelreg.store import findings as vf
from modelreg.store.monitoring import read_records
from modelreg.store.monitoring import status as monitoring_status
from modelreg.store.protected import protected_commit_at
from modelreg.store.registry import MODELS_DIR, Registry, _replay, check_name, sort_versions

AUDIT_VERSION = 1


@dataclass(frozen=True)
class Snapshot:
    """One model's files at a point: the work tree, or a commit of the protected branch."""

    source: str                          # "work tree" or "git history"
    commit: str | None                   # the commit read (None for the work tree)
    model: dict[str, Any] | None
    versions: dict[str, dict[str, Any]]
    errors: dict[str, str]               # file -> why it could not be read
    findings: tuple[dict[str, Any], ...] = ()   # validation findings (store/findings.py)
    monitoring: dict[str, list[dict[str, Any]]] | None = None   # version -> its records
    directions: dict[str, str] | None = None    # metric directions (policies/data/metrics.yaml)


# --- reading --------------------------------------------------------------------------
def snapshot(registry: Registry, name: str, when: int | None) -> Snapshot:
    """The model's files now (``when`` None: the work tree) or as the last commit of the
    protected branch made by unix time ``when`` held them."""
    if when is None:
        view, source, commit = registry, "work tree", registry.git.head()
    else:
        commit = protected_commit_at(registry, when)
        if commit is None:
            return Snapshot("git history", None, None, {}, {})
        view, source = registry.at(commit), "git history"
    errors: dict[str, str] = {}
    model = None
    rel = f"{MODELS_DIR}/{name}/model.yaml"
    try:
        if view.exists(rel):
            model = _dict(view.load(rel).data)
    except ModelregError as exc:
        errors[rel] = exc.message + (f" (line {exc.line})" if exc.line else "")
    versions: dict[str, dict[str, Any]] = {}
    for v in view.version_names(name):
        vrel = f"{MODELS_DIR}/{name}/versions/{v}.yaml"
        try:
            versions[v] = _dict(view.load(vrel).data)
        except ModelregError as exc:
            errors[vrel] = exc.message + (f" (line {exc.line})" if exc.line else "")
    found = tuple(vf.read_findings(view, name))
    records = read_records(view, name)
    try:
        directions = metric_directions(dict(view.config.data))
    except ModelregError:
        directions = {}
    if view is not registry:
        view.close()
    return Snapshot(source, commit, model, versions, errors, found, records, directions)


# --- the report -----------------------------------------------------------------------
def audit(registry: Registry, name: str, *, at: str | None = None,
          check_result: Any = None, engine: str = "auto",
          now: _dt.datetime | str | None = None) -> dict[str, Any]:
    """The evidence report of ``name`` as plain, JSON-ready data.

    ``at`` (YYYY-MM-DD or RFC 3339) reconstructs it from git history. Without ``at`` the
    current policy result is judged as ``modelreg check`` judges it (or taken from
    ``check_result``, a :class:`~modelreg.app.check.CheckResult` or
    :class:`~modelreg.policy.evaluate.Evaluation` that covers this model, to share one
    evaluation across many reports)."""
    check_name(name)
    when = parse_when(at) if at else None
    snap = snapshot(registry, name, when)
    state = registry.state(name, at=when)
    if snap.model is None and not snap.errors and not state.events:
        if when is None:
            raise UsageError(f"no model named {name!r}", hint="`modelreg ls` lists the models")
        raise UsageError(f"{name} did not exist on {at}",
                         hint=f"`modelreg history {name}` shows when it was registered")
    catalogue = _catalogue(registry)
    if when is None and snap.model is not None and check_result is None:
        check_result = _evaluate(registry, [name], engine, now)
    policy = _policy(registry, name, when, state, snap, check_result, engine, now)
    model = snap.model or {}
    report: dict[str, Any] = {
        "audit_version": AUDIT_VERSION,
        "tool": _tool(),
        "model": name,
        "as_of": iso(when) if when is not None else None,
        "source": {"kind": snap.source, "commit": snap.commit},
        "identity": _identity(model),
        "risk": _risk(model),
        "deprecated": state.deprecated,
        "retirement": _retirement(model),
        "stages": dict(sorted(state.stages.items())),
        "validation_findings": _validation_findings(
            snap.findings, (iso(when) if when is not None else stamp(now))[:10]),
        "monitoring": _monitoring(registry, snap, state,
                                  (iso(when) if when is not None else stamp(now))[:10]),
        "versions": _versions(name, model, snap, state, registry.config.last_stage),
        "timeline": [_event(ev) for ev in state.events],
        "policy": policy,
        "exceptions": _exceptions(snap, when, now, check_result if when is None else None),
        "regulations": _regulations(catalogue, policy, _reached(registry, name, state, when)),
        "unreadable": [{"file": f, "error": e} for f, e in sorted(snap.errors.items())],
    }
    if flagged := [v.to_json() for v in registry.untrusted(name)]:
        report["untrusted_tags"] = flagged       # counted nowhere above (store/trust.py)
    return report


def audit_all(registry: Registry, *, at: str | None = None, engine: str = "auto",
              now: _dt.datetime | str | None = None) -> list[dict[str, Any]]:
    """One report per model, with one policy evaluation for all of them."""
    names = registry.model_names()
    result = None
    if at is None and names:
        result = _evaluate(registry, names, engine, now)
    return [audit(registry, n, at=at, check_result=result, engine=engine, now=now)
            for n in names]


def _tool() -> dict[str, str]:

    return {"name": "modelreg", "version": __version__}


def _str(value: Any) -> str | None:
    return None if value is None else str(value)


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _identity(model: dict[str, Any]) -> dict[str, Any]:
    owner = _dict(model.get("owner"))
    return {"title": _str(model.get("title")), "summary": _str(model.get("summary")),
            "uid": _str(model.get("uid")), "task": _str(model.get("task")),
            "model_type": _str(model.get("model_type")), "license": _str(model.get("license")),
            "owner_team": _str(owner.get("team")),
            "business_owner": _str(owner.get("business_owner")),
            "developers": [str(d) for d in _list(model.get("developers"))],
            "contacts": [str(c) for c in _list(model.get("contacts"))],
            "intended_use": _str(_dict(model.get("intended_use")).get("purpose"))}


def _risk(model: dict[str, Any]) -> dict[str, Any]:
    risk = _dict(model.get("risk"))
    eu = _dict(risk.get("eu_ai_act"))
    tier = risk.get("tier")
    ia = risk.get("impact_assessment")
    return {"tier": tier if isinstance(tier, int) and not isinstance(tier, bool) else None,
            "tier_rationale": _str(risk.get("tier_rationale")),
            "eu_ai_act_class": _str(eu.get("class")),
            "eu_ai_act_rationale": _str(eu.get("rationale")),
            "annex_iii": _str(eu.get("annex_iii_area")),
            "impact_assessment": _str(_dict(ia).get("ref") or _dict(ia).get("id"))
            if isinstance(ia, dict) else _str(ia)}


def _retirement(model: dict[str, Any]) -> dict[str, Any] | None:
    if "retirement" not in model:
        return None
    r = _dict(model.get("retirement"))
    return {"date": _str(r.get("date")), "reason": _str(r.get("reason")),
            "replaced_by": _str(r.get("replaced_by"))}


def _validation_findings(found: tuple[dict[str, Any], ...], today: str
                         ) -> list[dict[str, Any]]:
    """Every validation finding, open ones first (most severe, soonest due), each with
    whether it was past due on ``today``."""
    live = vf.open_findings(list(found))
    closed = sorted((f for f in found if not vf.is_open(f)),
                    key=lambda f: (str(f.get("closed_at")), str(f.get("id"))))
    return [{"id": _str(f.get("id")), "version": _str(f.get("version")),
             "title": _str(f.get("title")), "severity": _str(f.get("severity")),
             "owner": _str(f.get("owner")), "raised_by": _str(f.get("raised_by")),
             "opened_at": _str(f.get("opened_at")), "due": _str(f.get("due")),
             "status": "open" if vf.is_open(f) else "closed",
             "closed_at": _str(f.get("closed_at")), "resolution": _str(f.get("resolution")),
             "past_due": vf.past_due(f, today), "file": _str(f.get("path"))}
            for f in [*live, *closed]]


def _monitoring(registry: Registry, snap: Snapshot, state: ModelState,
                today: str) -> dict[str, Any]:
    """The monitoring of the version serving the highest stage it holds (store/monitoring.py),
    counted from the day it took the last stage when it holds that one."""
    order = [s for s in registry.config.stage_order if s in state.stages]
    order += sorted(s for s in state.stages if s not in order)
    stage = order[-1] if order else None
    version = state.stages[stage] if stage else None
    since = None
    if stage is not None and stage == registry.config.last_stage and version:
        ev = state.assignment(stage, version)
        since = iso(ev.time)[:10] if ev is not None else None
    found = monitoring_status((snap.monitoring or {}).get(version or "", []), snap.model or {},
                              directions=snap.directions, since=since, today=today)
    return {"version": version, "stage": stage, "state": found["state"],
            "last": found["last"], "file": found["file"], "since": found["since"],
            "cadence_days": found["cadence_days"], "breach_since": found["breach_since"],
            "breaches": [{**b, "text": describe(b)} for b in found["breaches"]]}


def _metrics(record: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for m in _list(record.get("metrics")):
        if not isinstance(m, dict):
            continue
        value = m.get("value")
        threshold = m.get("threshold")
        out.append({"name": _str(m.get("name")), "dataset": _str(m.get("dataset")),
                    "split": _str(m.get("split")), "slice": _str(m.get("slice") or "overall"),
                    "value": value if isinstance(value, (int, float)) else None,
                    "threshold": threshold if isinstance(threshold, (int, float)) else None,
                    "direction": _str(m.get("direction")), "met": meets_threshold(m)})
    return out


def _datasets(record: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"id": _str(d.get("id")), "revision": _str(d.get("revision")),
             "role": _str(d.get("role")), "sha256": _str(d.get("sha256") or d.get("md5")),
             "rows": d.get("rows") if isinstance(d.get("rows"), int) else None}
            for d in _list(record.get("datasets")) if isinstance(d, dict)]


def _reviews(evidence: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for r in _list(evidence.get("reviews")):
        if not isinstance(r, dict):
            continue
        out.append({"reviewer": _str(_dict(r.get("user")).get("login") or r.get("reviewer")),
                    "state": _str(r.get("state")), "commit": _str(r.get("commit_id")),
                    "submitted_at": _str(r.get("submitted_at"))})
    return out


def _sign_off(ev: Event | None) -> dict[str, Any] | None:
    """Who did it and who approved it, from a tag and its evidence block."""
    if ev is None:
        return None
    evidence = ev.evidence
    pr = evidence.get("pr")
    return {"tag": ev.tag, "time": iso(ev.time), "tagger": ev.actor or None,
            "commit": ev.commit, "annotated": ev.annotated,
            "pull_request": pr if isinstance(pr, int) else None,
            "pr_author": _str(evidence.get("pr_author")),
            "approvers": [str(a) for a in _list(evidence.get("approvers"))],
            "reviews": _reviews(evidence),
            "merge_commit": _str(evidence.get("merge_commit")),
            "policy_digest": _str(evidence.get("policy_digest")),
            "decision": _str(evidence.get("decision")),
            "rollback": bool(evidence.get("rollback"))}


def stage_intervals(state: ModelState) -> list[dict[str, Any]]:
    """When each version entered and left each stage, replaying the tags one by one with
    the registry's own rules (so deprecation and deregistration end an interval too)."""
    holders: dict[str, str] = {}
    open_: dict[str, dict[str, Any]] = {}
    done: list[dict[str, Any]] = []
    events = list(state.events)
    for i, ev in enumerate(events):
        now = _replay(state.model, events[:i + 1]).stages
        for stage in sorted(set(holders) | set(now)):
            before, after = holders.get(stage), now.get(stage)
            if before == after:
                continue
            if before is not None:
                interval = open_.pop(stage)
                interval.update(left=iso(ev.time), left_by=ev.tag, left_reason=ev.sentence())
                done.append(interval)
            if after is not None:
                cause = ev if ev.action is Action.ASSIGN and ev.version == after else None
                open_[stage] = {"stage": stage, "version": after, "entered": iso(ev.time),
                                "entered_by": ev.tag, "left": None, "left_by": None,
                                "left_reason": None, "sign_off": _sign_off(cause)}
        holders = dict(now)
    done.extend(open_[s] for s in sorted(open_))
    return sorted(done, key=lambda i: (i["entered"], i["stage"], i["version"]))


def _champion(version: str, model: dict[str, Any], snap: Snapshot, state: ModelState,
              final: str) -> dict[str, Any] | None:
    """For a version that took the last stage: the version it took it from, and the two
    side by side on every metric both report, as EVAL-05 judged them."""
    if not any(ev.action is Action.ASSIGN and ev.stage == final and ev.version == version
               for ev in state.events):
        return None
    champion = state.champion(version, final, when_taken=True)
    if champion is None:
        return None
    return side_by_side(champion, final, snap.versions.get(champion),
                        snap.versions.get(version), model, snap.directions)


def _versions(name: str, model: dict[str, Any], snap: Snapshot,
              state: ModelState, final: str) -> list[dict[str, Any]]:
    intervals = stage_intervals(state)
    staged = {i["version"] for i in intervals}
    registrations = {ev.version: ev for ev in state.events
                     if ev.action is Action.REGISTER and ev.version}
    known = sort_versions(v for v in set(snap.versions) | set(state.registered) | staged
                          if SEMVER_RE.match(v))
    out = []
    for v in reversed(known):
        record = snap.versions.get(v)
        entry: dict[str, Any] = {
            "version": v, "registered": v in state.registered, "ever_staged": v in staged,
            "stages_now": sorted(s for s, held in state.stages.items() if held == v),
            "record": record is not None,
            "registration": _sign_off(registrations.get(v)),
            "stage_history": [i for i in intervals if i["version"] == v],
        }
        if record is not None:
            code = _dict(record.get("code"))
            parent = _dict(record.get("parent"))
            by = _dict(record.get("registered_by"))
            entry.update(
                created_at=_str(record.get("created_at")),
                registered_by=_str(by.get("name")), registered_by_email=_str(by.get("email")),
                message=_str(record.get("message")),
                code={"commit": _str(code.get("commit")), "dirty": code.get("dirty")
                      if isinstance(code.get("dirty"), bool) else None,
                      "repo": _str(code.get("repo")), "entrypoint": _str(code.get("entrypoint"))},
                parent={"model": _str(parent.get("model")), "version": _str(parent.get("version"))}
                if parent else None,
                datasets=_datasets(record), metrics=_metrics(record),
                artifacts=[{"path": _str(a.get("path")), "sha256": _str(a.get("sha256")),
                            "md5": _str(a.get("md5")), "format": _str(a.get("format"))}
                           for a in _list(record.get("artifacts")) if isinstance(a, dict)],
                champion=_champion(v, model, snap, state, final))
        out.append(entry)
    return out


def _event(ev: Event) -> dict[str, Any]:
    evidence = ev.evidence
    approvers = [str(a) for a in _list(evidence.get("approvers"))]
    pr = evidence.get("pr")
    return {"time": iso(ev.time), "event": ev.action.value, "summary": ev.sentence(),
            "version": ev.version, "stage": ev.stage, "tag": ev.tag, "actor": ev.actor or None,
            "approvers": approvers, "pull_request": pr if isinstance(pr, int) else None,
            "policy_digest": _str(evidence.get("policy_digest")),
            "decision": _str(evidence.get("decision"))}


def _evaluate(registry: Registry, names: list[str], engine: str,
              now: _dt.datetime | str | None) -> Evaluation:
    """Today's verdict on ``names``, as ``check`` gives it (card freshness included)."""
    result = evaluate(registry, names, engine=engine, now=now,
                      freshness=partial(cards.stale_findings, registry.root))
    cards.save_caches()
    return result


def _catalogue(registry: Registry) -> dict[str, dict[str, Any]]:
    return {k: v for k, v in registry.config.rules.items() if isinstance(v, dict)}


def _policy(registry: Registry, name: str, when: int | None, state: ModelState,
            snap: Snapshot, check_result: Any, engine: str,
            now: _dt.datetime | str | None) -> dict[str, Any]:
    if when is not None:
        decisions = [{"tag": ev.tag, "time": iso(ev.time), "decision": _str(ev.evidence.get(
            "decision")), "policy_digest": _str(ev.evidence.get("policy_digest"))}
            for ev in state.events if ev.annotated and ev.evidence]
        return {"kind": "recorded", "evaluated_at": None, "engine": None, "ok": None,
                "findings": [], "waived": [], "recorded_decisions": decisions}
    if snap.model is None:
        return {"kind": "evaluated", "evaluated_at": None, "engine": None, "ok": False,
                "findings": [{"file": f, "line": None, "rule": "ID-00", "severity": "error",
                              "message": e, "version": None} for f, e in
                             sorted(snap.errors.items())], "waived": [],
                "recorded_decisions": []}
    if check_result is None:
        check_result = _evaluate(registry, [name], engine, now)
    findings = [f for f in check_result.findings if f.model in (name, None)
                and f.file.startswith(f"{MODELS_DIR}/{name}/")]
    waived = [w for w in check_result.waived if w.finding.model == name]
    return {"kind": "evaluated", "evaluated_at": stamp(now) if now else None,
            "engine": check_result.engine or None,
            "ok": not any(f.severity == "error" for f in findings),
            "findings": [{"file": f.file, "line": f.line, "rule": f.rule,
                          "severity": f.severity, "message": f.message, "version": f.version}
                         for f in findings],
            "waived": [{"rule": w.finding.rule, "version": w.finding.version,
                        "message": w.finding.message, "justification": w.justification,
                        "approved_by": w.approved_by, "expires": w.expires} for w in waived],
            "recorded_decisions": []}


# What keeps a declared exception from counting, by the finding that says so.
_EXCEPTION_RULES = ("GOV-07", "GOV-10")


def _exceptions(snap: Snapshot, when: int | None, now: _dt.datetime | str | None,
                check_result: Any = None) -> list[dict[str, Any]]:
    """The waivers each version record declares, with whether they had expired and, when
    judged today, whether they count: the record's ``approved_by`` is only a claim (GOV-10:
    the approver must have approved the pull request that added it), some rules cannot be
    waived and a waiver lasts at most ``waivers.max_days`` after its approval (GOV-07)."""
    today = (iso(when) if when is not None else stamp(now))[:10]
    problems: dict[tuple[str | None, int], list[Any]] = {}
    for f in getattr(check_result, "findings", None) or ():
        m = re.match(r"^\$\.exceptions\[(\d+)\]", f.path or "")
        if f.rule in _EXCEPTION_RULES and m:
            problems.setdefault((f.version, int(m.group(1))), []).append(f)
    out = []
    for v in sort_versions(snap.versions):
        for i, e in enumerate(_list(snap.versions[v].get("exceptions"))):
            if not isinstance(e, dict):
                continue
            expires = _str(e.get("expires"))
            expired = bool(expires) and str(expires)[:10] < today
            entry = {"version": v, "rule": _str(e.get("rule")),
                     "justification": _str(e.get("justification")),
                     "approved_by": _str(e.get("approved_by")), "expires": expires,
                     "expired": expired}
            if check_result is not None:
                found = problems.get((v, i), [])
                entry["problems"] = [f"[{f.rule}] {f.message}" for f in found]
                # a denial (not approved, not waivable…) or a lapse ends it; a warning
                # that the cap shortens it does not
                entry["counts"] = not expired and not any(
                    f.severity == "error" or "no longer applies" in f.message for f in found)
            out.append(entry)
    return out


def _reached(registry: Registry, name: str, state: ModelState,
             when: int | None) -> list[str]:
    """The stages whose rules applied to this model: up to the highest stage a version
    holds (or, now, asks for in ``stages.yaml``)."""
    order = list(registry.config.stage_order)
    wanted = set(state.stages)
    if when is None:
        try:
            wanted |= set(_dict((registry.stages_file(name) or {}).get("stages")))
        except ModelregError:
            pass
    top = max((order.index(s) for s in wanted if s in order), default=0)
    return order[:top + 1]


def _regulations(catalogue: dict[str, dict[str, Any]], policy: dict[str, Any],
                 reached: list[str]) -> list[dict[str, Any]]:
    status: dict[str, str] = {}
    for w in policy["waived"]:
        status[w["rule"]] = "waived"
    for f in policy["findings"]:
        if f["severity"] == "error":
            status[f["rule"]] = "fail"
        elif status.get(f["rule"]) != "fail":
            status[f["rule"]] = "warn"
    evaluated = policy["kind"] == "evaluated" and policy["ok"] is not None
    out = []
    for rule in sorted(catalogue):
        entry = catalogue[rule]
        reg = _dict(entry.get("regulation"))
        out.append({"rule": rule, "title": _str(entry.get("title")),
                    "stage": _str(entry.get("stage")), "family": _str(entry.get("family")),
                    "eu_ai_act": _str(reg.get("eu_ai_act")),
                    "nist_ai_rmf": _str(reg.get("nist_ai_rmf")),
                    "sr_11_7": _str(reg.get("sr_11_7")),
                    "status": status.get(rule, "not evaluated" if not evaluated else "pass"
                                         if entry.get("stage") in reached else "not yet gated")})
    return out


__all__ = ["audit", "audit_all", "snapshot", "stage_intervals", "protected_commit_at",
           "AUDIT_VERSION"]
