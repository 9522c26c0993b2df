"""The library API behind each read command: results as plain data, nothing printed."""
from __future__ import annotations

import hashlib
import time
from typing import Any

from modelreg.core import tags as tagmod
from modelreg.core.errors import ModelregError, UsageError
from modelreg.core.records import ModelState
from modelreg.core.timefmt import When, parse_when, rfc3339
from modelreg.policy.inputs import metric_directions, side_by_side
from modelreg.store import findings as vf
from modelreg.store.cache import ContentCache
from modelreg.store.config import DATA_DIR, SCHEMA_DIR
from modelreg.store.index import RegistryIndex, model_summary
from modelreg.store.protected import protected_commit_at
from modelreg.store.registry import Registry, check_name, check_version, semver_key
from modelreg.store.trust import FUTURE_SKEW


def list_models(registry: Registry) -> list[dict[str, Any]]:
    """``modelreg ls``: one row per model, in one pass over the registry-wide index
    (store/index.py: each ``model.yaml`` summary kept by the file's bytes). What the tags
    say of every model (stages, registered versions, untrusted tags) is remembered under
    :meth:`Registry.states_key`, so it is worked out again only when a tag, the protected
    branch or the ledger changed. Open validation findings are counted, past-due ones
    apart."""
    cache = ContentCache(registry.root, "ls")
    used: set[str] = set()
    tagged = _tag_states(registry, cache, used)
    known = _known_stages(registry, cache, used)
    index = RegistryIndex(registry, cache=cache)
    today = rfc3339()[:10]
    rows = []
    for name in registry.model_names():
        state = tagged.get(name) or _NO_TAGS
        files = registry.version_names(name)
        entry = index.model(name) or {**model_summary({}), "error": f"no models/{name}/model.yaml"}
        row: dict[str, Any] = {"name": name}
        row.update({k: entry.get(k) for k in ("title", "owner", "risk_tier", "eu_ai_act_class")})
        retired = entry.get("retired")
        row["retired"] = (retired.get("date") or True) if retired else None
        if entry.get("error"):
            row["error"] = entry["error"]
        every = sorted(set(files) | set(state["registered"]), key=_key)
        # a deregistered version is never the latest, even while its record stays
        live = [v for v in every if v not in state["deregistered"]]
        row.update(latest=live[-1] if live else None, versions=len(every),
                   registered=len(state["registered"]), stages=dict(state["stages"]),
                   deprecated=state["deprecated"], untrusted_tags=list(state["untrusted"]),
                   findings=index.findings(name, today))
        if known is not None and (unknown := sorted(set(state["stages"]) - known)):
            row["unknown_stages"] = unknown
        rows.append(row)
    cache.save(keep=used | index.used)
    return rows


_NO_TAGS: dict[str, Any] = {"registered": [], "deregistered": [], "stages": {},
                            "deprecated": False, "untrusted": []}


def _tag_states(registry: Registry, cache: ContentCache, used: set[str]
                ) -> dict[str, dict[str, Any]]:
    """Per model, what its trusted tags say and which of its tags are untrusted, as plain
    data: from the cache when nothing they depend on changed, else from the tags."""
    key = "states:" + registry.states_key()
    hit = cache.get(key)
    if isinstance(hit, dict):
        used.add(key)
        return hit
    states = registry.states(evidence=False)
    untrusted = registry.trust.untrusted_by_model() if registry.trust is not None else {}
    out = {name: {"registered": list(state.registered),
                  "deregistered": list(state.deregistered), "stages": dict(state.stages),
                  "deprecated": state.deprecated, "untrusted": []}
           for name, state in states.items()}
    for name, verdicts in untrusted.items():
        out.setdefault(name, {**_NO_TAGS, "untrusted": []})["untrusted"] = \
            [v.to_json() for v in verdicts]
    # a tag dated ahead of now is judged again once the clock passes it: not kept
    if registry.newest_tag <= time.time() + FUTURE_SKEW:
        cache.put(key, out)
        used.add(key)
    return out


def unread_tags(registry: Registry) -> list[dict[str, str]]:
    """Tags in GTO's grammar that the registry does not read (a name that is not a registry
    name, GTO's ``@created``…), each with the reason: ``ls`` lists them, ``verify`` warns."""
    names = registry.git.run("for-each-ref", "--format=%(refname:lstrip=2)", "refs/tags/")
    return [{"tag": n, "reason": why} for n in names.splitlines()
            if (why := tagmod.unread(n))]


def _known_stages(registry: Registry, cache: ContentCache | None = None,
                  used: set[str] | None = None) -> set[str] | None:
    """The stages the registry's configuration lists (None when it cannot be read: validate
    reports why); a tag may name any stage GTO accepts, and ``ls`` flags the others
    (``verify`` reports them). With ``cache``: remembered by the bytes of every file the
    configuration is read and checked from (``policies/data/``, ``schemas/data/``), so a
    listing does not load and check the whole configuration again."""
    key = None
    if cache is not None:
        digest = hashlib.sha1(b"stages\0")
        try:
            for folder in (DATA_DIR, SCHEMA_DIR):
                for name in registry.list_dir(folder):
                    rel = f"{folder}/{name}"
                    digest.update(rel.encode() + b"\0")
                    if registry.is_file(rel):
                        raw = registry.read_bytes(rel)
                        digest.update(b"%d\0" % len(raw) + raw)
            key = digest.hexdigest()
        except ModelregError:
            key = None
        if key is not None and used is not None:
            used.add(key)
        hit = cache.get(key) if key is not None else None
        if isinstance(hit, dict) and "stages" in hit:
            return None if hit["stages"] is None else set(hit["stages"])
    try:
        known: set[str] | None = set(registry.config.stage_names)
    except ModelregError:
        known = None
    if cache is not None and key is not None:
        cache.put(key, {"stages": None if known is None else sorted(known)})
    return known


def _key(v: str):

    return semver_key(v)


def _version_entry(registry: Registry, name: str, version: str, state: ModelState) -> dict:
    entry: dict[str, Any] = {"version": version,
                             "registered": version in state.registered,
                             "deregistered": version in state.deregistered,
                             "stages": sorted(s for s, v in state.stages.items() if v == version)}
    reg = next((e for e in state.events if e.action.value == "register"
                and e.version == version), None)
    if reg:
        entry["registration"] = {"tag": reg.tag, "commit": reg.commit, "time": reg.time,
                                 "actor": reg.actor}
    try:
        entry["record"] = registry.version(name, version).data
    except ModelregError as exc:
        entry["record"] = None
        entry["error"] = str(exc)
    return entry


def history(registry: Registry, name: str | None = None, *,
            stage: str | None = None) -> list[dict[str, Any]]:
    """``modelreg history [NAME] [--stage STAGE]``: every event from the tags, oldest first,
    with who did it, who approved it, the pull request and the commit; with ``stage``, only
    the events of that stage."""
    if name is not None:
        check_name(name)
        if not registry.has_model(name) and not registry.state(name).events:
            raise UsageError(f"no model named {name!r}", hint="`modelreg ls` lists the models")
        events = list(registry.state(name).events)
    else:
        events = [e for s in registry.states().values() for e in s.events]
        events.sort(key=lambda e: e.sort_key())
    out = []
    for ev in events:
        if stage is not None and ev.stage != stage:
            continue
        evidence = ev.evidence
        row: dict[str, Any] = {
            "time": rfc3339(ev.time), "event": _EVENT_NAMES[ev.action.value], "model": ev.model,
            "version": ev.version, "stage": ev.stage, "actor": ev.actor,
            "actor_email": ev.actor_email, "approvers": list(evidence.get("approvers") or []),
            "pull_request": evidence.get("pr"), "commit": evidence.get("merge_commit") or ev.commit,
            "tag": ev.tag, "annotated": ev.annotated, "summary": ev.sentence()}
        if ev.action.value == "assign" and evidence.get("rollback"):
            row["event"] = "rolled back"
            row["summary"] = f"{ev.model} {ev.version} rolled back into {ev.stage}"
        out.append(row)
    return out


def _as_of(registry: Registry, name: str, model: dict[str, Any], when: int | None
           ) -> tuple[list[dict[str, Any]], Any]:
    """The model's open validation findings and its retirement: now, or (``when``) as the
    protected branch held them then."""
    if when is None:
        return vf.open_findings(vf.read_findings(registry, name)), model.get("retirement")
    commit = protected_commit_at(registry, when)
    if commit is None:
        return [], None
    with registry.at(commit) as view:
        then = view.model(name).data if view.has_model(name) else {}
        return vf.open_findings(vf.read_findings(view, name)), then.get("retirement")


def challenge(registry: Registry, name: str, version: str, state: ModelState,
              model: dict[str, Any]) -> dict[str, Any] | None:
    """``version`` beside the version it takes (or would take) the last stage from, metric
    by metric, as EVAL-05 judges it; None when no other version ever held that stage."""
    final = registry.config.last_stage
    champion = state.champion(version, final)
    if champion is None:
        return None
    records = []
    for v in (champion, version):
        try:
            records.append(registry.version(name, v).data)
        except ModelregError:
            records.append(None)
    return side_by_side(champion, final, records[0], records[1], model,
                        metric_directions(dict(registry.config.data)))


def untrusted_tags(registry: Registry, name: str | None = None) -> list[dict[str, Any]]:
    """The registry tags (of ``name``) the last state read left out, with why: they count
    nowhere, and a reader should know they are there."""
    return [v.to_json() for v in registry.untrusted(name)]


_EVENT_NAMES = {"register": "registered", "deregister": "deregistered", "assign": "promoted",
                "unassign": "unassigned", "deprecate": "deprecated"}


def show(registry: Registry, name: str, version: str | None = None,
         at: When | None = None) -> dict[str, Any]:
    """``modelreg show NAME[@VERSION] [--at DATE]``: the model, its versions with artifacts,
    lineage, metrics, and stages; with ``at``, the stages and versions as of that date."""
    model = registry.model(name)
    when = parse_when(at) if at is not None else None
    state = registry.state(name, at=when)
    versions = sorted(set(state.registered) if when is not None else
                      set(registry.version_names(name)) | set(state.registered), key=_key)
    if version is not None:
        version = check_version(version)
        if version not in versions:
            raise UsageError(f"{name} has no version {version}",
                             hint=f"`modelreg show {name}` lists its versions")
        versions = [version]
    out: dict[str, Any] = {"name": name}
    if when is not None:
        out["at"] = rfc3339(when)
    if len(versions) == 1 and (champion := challenge(registry, name, versions[0], state,
                                                     model.data)) is not None:
        out["champion"] = champion
    today = rfc3339(when)[:10] if when is not None else rfc3339()[:10]
    live, retirement = _as_of(registry, name, model.data, when)
    return {
        **out,
        "model": model.data,
        "retirement": retirement if isinstance(retirement, dict) else None,
        "validation_findings": [
            {"id": f.get("id"), "version": f.get("version"), "title": f.get("title"),
             "severity": f.get("severity"), "owner": f.get("owner"), "due": f.get("due"),
             "past_due": vf.past_due(f, today), "path": f["path"]} for f in live],
        "untrusted_tags": untrusted_tags(registry, name),
        "stages": dict(state.stages),
        "deprecated": state.deprecated,
        "stages_requested": (registry.stages_file(name) or {}).get("stages", {}),
        "versions": [_version_entry(registry, name, v, state) for v in versions],
    }


