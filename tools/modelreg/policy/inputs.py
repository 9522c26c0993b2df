"""The policy input document, built from the registry in one place.

Its shape is documented by ``schemas/input.schema.json``::

    {"now": RFC3339, "models": [doc, ...], "shared": {name: {...}}, "change": {...}}

One ``doc`` per model version being checked (or one per model without versions), with the
stage it is checked at, its files, the parsed model, version, stages and card, the change
under review and, when known, the review that signs it off. What every document of a model
shares (its ``model.yaml`` and card: most of the bytes) goes to the engine once per model, in
``shared``; the policies read each document joined with it (``lib.documents``). ``change``
(present when a pull request is checked against its base) is the pull request as a whole,
built by policy/scope.py. The documents of a run go to the engine in a few evaluations of
many documents each, not one per document.
"""
from __future__ import annotations

import json
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

# The card's reading lives in core (one parser for card, check and site); the policy input
# uses its Card and parse_card.
from modelreg.core import monitoring, numbers
from modelreg.core.cardtext import Card, parse_card
from modelreg.core.metrics import HIGHER, LOWER, compare
from modelreg.core.records import Event, ModelState  # noqa: F401 - Event re-exported for typing
from modelreg.core.stages import REGISTERED, requested_stages
from modelreg.core.tags import Action
from modelreg.core.timefmt import day, rfc3339
from modelreg.core.yamlio import Document
from modelreg.policy.reviews import approvals, review_from_evidence
from modelreg.store.findings import applies


def history(state: ModelState, version: str) -> list[str]:
    """Stages this version has ever been assigned to, from the tag events."""
    held = {ev.stage for ev in state.events
            if ev.action is Action.ASSIGN and ev.version == version and ev.stage}
    return sorted(held)


def pick_stage(version: str | None, held: dict[str, str], requested: dict[str, str],
               rank: dict[str, int], explicit: str | None) -> str:
    """The stage a version is checked at: explicit, else the highest it holds or asks for."""
    if explicit:
        return explicit
    if version is None:
        return REGISTERED
    candidates = [s for s, v in {**held}.items() if v == version]
    candidates += [s for s, v in requested.items() if v == version]
    if not candidates:
        return REGISTERED
    # an unknown stage name ranks above every known one, so OPS-02 reports it
    return max(candidates, key=lambda s: (rank.get(s, len(rank)), s))


@dataclass(frozen=True)
class ModelFiles:
    """What was read for one model: parsed documents (None when absent or unreadable)."""

    name: str
    model: Document
    versions: dict[str, Document]          # version -> document (readable, schema-valid)
    stages: Document | None
    card: Card | None
    findings: tuple[Document, ...] = ()    # validation findings (readable, schema-valid)
    others: dict[str, Document] = field(default_factory=dict)   # read, not judged (champions)
    monitoring: Mapping[str, list[dict[str, Any]]] = field(default_factory=dict)  # version -> records


def metric_directions(data: dict[str, Any]) -> dict[str, str]:
    """Which way is better for each metric, as policies/data/metrics.yaml says."""
    metrics = data.get("metrics") if isinstance(data.get("metrics"), dict) else {}
    directions = metrics.get("directions") if isinstance(metrics.get("directions"), dict) else {}
    return {str(k): v for k, v in directions.items() if v in (HIGHER, LOWER)}


def direction_of(model: Any, directions: dict[str, str]) -> Callable[[str], str | None]:
    """A metric's direction: from a threshold model.yaml declares for it, else the
    registry's list."""
    declared: dict[str, str] = {}
    evaluation = model.get("evaluation") if isinstance(model, dict) else None
    thresholds = evaluation.get("thresholds") if isinstance(evaluation, dict) else None
    for t in thresholds if isinstance(thresholds, list) else []:
        if isinstance(t, dict) and t.get("direction") in (HIGHER, LOWER):
            declared.setdefault(str(t.get("metric")), t["direction"])
    return lambda name: declared.get(name) or directions.get(name)


def _metric_rows(record: Any) -> list[Any]:
    rows = record.get("metrics") if isinstance(record, dict) else None
    return rows if isinstance(rows, list) else []


def side_by_side(champion: str, stage: str, theirs: Any, mine: Any, model: Any,
                 directions: dict[str, str]) -> dict[str, Any]:
    """A version's record beside its champion's (``theirs``, None when it cannot be read),
    metric by metric, as EVAL-05 judges them and ``show``, the audit report and the site
    show them."""
    return {"version": champion, "stage": stage, "record": isinstance(theirs, dict),
            "comparison": compare(_metric_rows(theirs), _metric_rows(mine),
                                  direction_of(model, directions))}


def accepted_regressions(stages_data: Any) -> dict[str, Any]:
    """stage -> the ``accept_regression`` stages.yaml records for it (EVAL-05): who accepts
    the challenger's regression and why. A claim: the policy counts it only when that person
    approved the pull request."""
    raw = stages_data.get("stages") if isinstance(stages_data, dict) else None
    return {stage: value["accept_regression"] for stage, value in (raw or {}).items()
            if isinstance(value, dict) and isinstance(value.get("accept_regression"), dict)}


def champion_of(mf: ModelFiles, state: ModelState, version: str, stage: str,
                rank: dict[str, int], rollback: list[str],
                directions: dict[str, str]) -> dict[str, Any] | None:
    """The comparison EVAL-05 judges for a version checked at the last stage (production):
    the champion (the version it takes that stage from) and the metrics both report. None
    below it, for a rollback to a version that held it before (``rollback: true`` on any
    other is no rollback), or when no other version ever held it."""
    final = last_stage(rank)
    if final is None or rank.get(stage, -1) < rank[final]:
        return None
    if final in rollback and any(
            ev.action is Action.ASSIGN and ev.stage == final and ev.version == version
            for ev in state.events):
        return None     # back to a version that held it before: no challenger
    champion = state.champion(version, final)
    if champion is None:
        return None
    record = mf.versions.get(champion) or mf.others.get(champion)
    mine = mf.versions.get(version)
    return side_by_side(champion, final, record.data if record is not None else None,
                        mine.data if mine is not None else None, mf.model.data, directions)


def last_stage(rank: dict[str, int]) -> str | None:
    """The stage a challenger takes from its champion: the last of the stage order."""
    return max(rank, key=lambda s: rank[s]) if len(rank) > 1 else None


def files_of(name: str) -> dict[str, str]:
    base = f"models/{name}"
    return {"model": f"{base}/model.yaml", "stages": f"{base}/stages.yaml",
            "card": f"{base}/card.md"}


def _evidence(ev: Event) -> dict[str, Any]:
    return ev.evidence


def model_documents(mf: ModelFiles, state: ModelState, *, rank: dict[str, int],
                    stage: str | None, change: dict[str, Any],
                    review: dict[str, Any] | None = None,
                    changed: Collection[str] | None = None,
                    evidence: Callable[[Event], dict[str, Any]] = _evidence,
                    lineage: Callable[[str, str | None], dict[str, Any]] | None = None,
                    directions: dict[str, str] | None = None,
                    today: str | None = None
                    ) -> list[dict[str, Any]]:
    """The policy documents of one model: one per version (or one for the model alone).

    ``review`` (the pull request's) is the evidence of the versions the pull request changes,
    ``changed`` (all of them when None); a version it leaves alone is judged with the
    evidence its stage tag recorded, as on the protected branch: approvals given for one
    change do not re-decide another (docs/guide.md#3-sign-off)."""
    stages_data = mf.stages.data if mf.stages is not None and isinstance(mf.stages.data, dict) \
        else None
    requested, rollback = requested_stages(stages_data)
    held = dict(state.stages)
    base_files = files_of(mf.name)
    # the change as this model sees it: its own folder's paths (the pull request as a whole
    # is input.change); a change elsewhere leaves this model's documents, and the answer the
    # policy cache holds for them, as they were
    prefix = f"models/{mf.name}/"
    change = {**change, "files": [f for f in change.get("files") or [] if f.startswith(prefix)]}
    # JSON has no NaN or Infinity and the engines refuse an input holding one: take them out,
    # and list where they were for ID-08 to report
    model_data, model_bad = _finite(mf.model.data, "model")
    stages_bad = _finite(stages_data, "stages")[1] if stages_data is not None else []
    card, card_bad = _finite(mf.card.to_input(), "card") if mf.card else (None, [])
    accepted = accepted_regressions(stages_data)
    validation = [{**f.data, "file": f.path} for f in mf.findings if isinstance(f.data, dict)]
    docs = []
    versions: list[str | None] = list(mf.versions) or [None]
    for version in versions:
        vdoc = mf.versions.get(version) if version else None
        files = dict(base_files)
        files["version"] = vdoc.path if vdoc else None
        doc_stage = pick_stage(version, held, requested, rank, stage)
        version_data, version_bad = _finite(vdoc.data, "version") if vdoc else (None, [])
        doc = {
            "name": mf.name,
            "stage": doc_stage,
            "files": files,
            "model": model_data,
            "version": version_data,
            "stages": {"held": held, "requested": requested, "rollback": rollback,
                       "history": history(state, version) if version else [],
                       "accepted": accepted},
            "registered_versions": list(state.registered),
            "card": card,
            "change": change,
            "review": review if review is not None and (
                changed is None or version is None or version in changed) else
            recorded_review(state, version, doc_stage, evidence),
            "record_approvals": record_approvals(state, version, vdoc, change, review,
                                                 evidence),
        }
        if version is not None:
            doc["monitoring"] = monitoring_summary(mf, version, state, rank, directions, today)
        doc["findings"] = [f for f in validation if applies(f, version)]
        if lineage is not None:
            doc["lineage"] = lineage(mf.name, version)
        if version is not None and (champion := champion_of(
                mf, state, version, doc_stage, rank, rollback, directions or {})) is not None:
            doc["champion"] = champion
        bad = model_bad + stages_bad + card_bad + version_bad
        if bad:
            doc["non_finite"] = bad
        docs.append(doc)
    return docs


def monitoring_summary(mf: ModelFiles, version: str, state: ModelState,
                       rank: dict[str, int], directions: Mapping[str, str] | None,
                       today: str | None = None) -> dict[str, Any]:
    """What the monitoring rules read of one version (MON-01 … MON-03): its records judged
    again from their values against model.yaml's thresholds (core/monitoring.py), the
    cadence, and the day the version took the last stage, from that stage's tag. A window
    that ends after ``today`` has not happened: it is left out."""
    last = max(rank, key=lambda s: rank[s]) if rank else None
    since = None
    if last is not None and state.stages.get(last) == version:
        ev = state.assignment(last, version)
        since = day(ev.time) if ev is not None else None
    model = mf.model.data if isinstance(mf.model.data, dict) else {}
    records = [r for r in mf.monitoring.get(version, [])
               if today is None or (monitoring.window_end(r) or "") <= today]
    return monitoring.summarize(records,
                                monitoring.thresholds(model, directions),
                                cadence=monitoring.cadence_days(model), since=since)


def _finite(data: Any, file: str) -> tuple[Any, list[dict[str, Any]]]:
    """``data`` without its non-finite numbers, and where each one was (``file`` is the key
    of the document's ``files``)."""
    try:
        json.dumps(data, allow_nan=False)      # finite throughout: the encoder says so fast
        return data, []
    except (ValueError, TypeError):
        pass
    found = numbers.find(data)
    if not found:
        return data, []
    return numbers.without(data), [{"file": file, "path": path, "value": value}
                                   for path, value in found]


# Record fields that name a person who approved something: they count only when that person
# approved the pull request that introduced the record (docs/policies.md#waivers).
VOUCHING_FIELDS = ("exceptions", "validation")


def record_approvals(state: ModelState, version: str | None, vdoc: Document | None,
                     change: dict[str, Any], review: dict[str, Any] | None,
                     evidence_of: Callable[[Event], dict[str, Any]] = _evidence
                     ) -> dict[str, Any]:
    """Who approved the pull request that introduced or last changed this version's record,
    and when: ``{"source": text, "by": {login: RFC 3339 time}}``.

    The record itself is never asked: a pull request that changes the record (or adds a
    version not registered yet) is vouched for by its own reviews on the head commit, dated
    by each review's ``submitted_at``; a registered record the change leaves alone by the
    reviews its registration tag recorded, dated by the tag. Versions whose record names
    nobody (no exceptions, no validation) are not looked up."""
    if version is None or vdoc is None or not isinstance(vdoc.data, dict) or \
            not any(k in vdoc.data for k in VOUCHING_FIELDS):
        return {"source": "no record", "by": {}}
    registration = next((ev for ev in state.events if ev.action is Action.REGISTER
                         and ev.version == version), None)
    changed = vdoc.path in (change.get("files") or [])
    if review is not None and (changed or registration is None):
        pr = f"pull request #{review['pr']}" if review.get("pr") else "the pull request"
        # an approval GitHub did not date cannot bound how long a waiver lasts: left out
        return {"source": f"{pr} under review",
                "by": {k: v for k, v in approvals(review).items() if v}}
    if registration is None:
        return {"source": "no pull request review given, and the version is not registered "
                          "yet", "by": {}}
    evidence = evidence_of(registration)
    recorded = review_from_evidence(evidence)
    pr = f"pull request #{evidence['pr']}" if evidence.get("pr") else "no pull request"
    when = rfc3339(registration.time)
    return {"source": f"{pr}, as tag {registration.tag} recorded it",
            "by": {login: when for login in approvals(recorded)}}


def recorded_review(state: ModelState, version: str | None, stage: str,
                    evidence_of: Callable[[Event], dict[str, Any]] = _evidence
                    ) -> dict[str, Any] | None:
    """Sign-off evidence for a version that holds ``stage``, as the stage tag recorded it.

    On the protected branch there is no pull request to ask: the approvals reconcile wrote
    into the annotation are the evidence, so a stage held without them fails the approval
    rules. A version that does not hold the stage has no recorded evidence (None)."""
    if version is None or state.stages.get(stage) != version:
        return None
    tag = state.assignment(stage, version)
    if tag is None:
        return None

    return review_from_evidence(evidence_of(tag))


SHARED = ("model", "card")     # the keys every document of one model shares


def policy_input(now: str, docs: list[dict[str, Any]],
                 change: dict[str, Any] | None = None, *, share: bool = True
                 ) -> dict[str, Any]:
    """One batch of documents, for one engine call; ``change`` is the pull request
    as a whole (its files, their code owners, its review and the risk fields it edits),
    judged once rather than per document. ``share``: what every document of a model shares
    goes once per model, in ``shared`` (policies that read ``lib.documents``); without it
    each document carries everything."""
    out: dict[str, Any] = {"now": now, "models": docs}
    if share:
        models, shared = [], {}
        for doc in docs:
            name = doc.get("name")
            common = shared.setdefault(name, {k: doc[k] for k in SHARED if k in doc}) \
                if isinstance(name, str) else {}
            # a document whose model or card is not its model's (never, as built here)
            # keeps its own
            models.append({k: v for k, v in doc.items()
                           if not (k in common and common[k] is v)})
        out.update(models=models, shared=shared)
    if change is not None:
        out["change"] = change
    return out


__all__ = ["Card", "ModelFiles", "parse_card", "model_documents", "policy_input", "pick_stage",
           "requested_stages", "history", "REGISTERED", "files_of", "Event"]
