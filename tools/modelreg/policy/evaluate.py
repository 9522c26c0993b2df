"""Judging registry documents: schemas, secrets and the Rego policies, in one engine call.

``evaluate`` reads the models' files from one view of the registry (``records``: the work
tree or any revision) and judges them with the schemas, policies and policy data of another
(``judge``, by default the same view). ``check`` judges the work tree; the gate judges the
record as it was approved, with today's rules. Findings come back as data with
``file:line``; nothing here prints or decides an exit code.
"""
from __future__ import annotations

import datetime as _dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from modelreg.core import timefmt
from modelreg.core.errors import CannotRunError, ModelregError
from modelreg.core.records import Finding, ModelState
from modelreg.core.yamlio import Document, locate
from modelreg.policy import inputs
from modelreg.policy.documents import unreadable, validate_file
from modelreg.policy.engines import (
    DECISION_QUERY,
    Engine,
    PolicySet,
    create_engine,
    load_policy_set,
)
from modelreg.store.credentials import find as find_secrets
from modelreg.store.registry import MODELS_DIR, Registry
from modelreg.store.schemas import Schemas, json_path
from modelreg.store.signatures import annotate

UNREADABLE_RULES = {"ID-00", "ID-01"}     # a file with these findings is not sent to the policies
SEVERITY = {"deny": "error", "warn": "warning"}

# CARD-04 (is the card what rendering it gives?) is judged by the card renderer; callers that
# want it pass this function: (name, card text, model data, {version: record}) -> findings.
Freshness = Callable[[str, str, dict[str, Any], dict[str, dict[str, Any]]], list[Finding]]


@dataclass(frozen=True)
class Waiver:
    """A denial or warning that an approved, unexpired exception waived."""

    finding: Finding
    justification: str
    approved_by: str
    expires: str

    def to_json(self) -> dict[str, Any]:
        return {**self.finding.to_json(), "justification": self.justification,
                "approved_by": self.approved_by, "expires": self.expires}


@dataclass
class Evaluation:
    """What judging some models gave: findings (deduplicated), waivers, and counts."""

    findings: list[Finding] = field(default_factory=list)
    waived: list[Waiver] = field(default_factory=list)
    engine: str = ""
    documents: int = 0        # policy input documents evaluated
    files: int = 0            # registry files read


def evaluate(records: Registry, names: list[str], *, judge: Registry | None = None,
             stage: str | None = None, versions: dict[str, list[str]] | None = None,
             states: dict[str, ModelState] | None = None, review: dict[str, Any] | None = None,
             change: dict[str, Any] | None = None, engine: str | Engine = "auto",
             opa_url: str | None = None, now: _dt.datetime | str | None = None,
             policy_set: PolicySet | None = None,
             freshness: Freshness | None = None,
             scope: dict[str, set[str]] | None = None,
             pull_request: dict[str, Any] | None = None) -> Evaluation:
    """Judge the models ``names`` as ``records`` holds them.

    ``versions`` limits a model to some of its versions (a missing one is an ID-00 finding).
    ``states`` are the models' tag states (read when not given). ``review`` is the pull
    request's sign-off evidence; without it a version holding a stage is judged with the
    evidence its stage tag recorded. ``scope`` (model -> versions the pull request changes,
    policy/scope.py) limits ``review`` to those versions; the others keep their recorded
    evidence. ``pull_request`` is the change as a whole (``input.change``: its files and
    their code owners, GOV-09; its risk-field edits, RISK-03), judged even when no model is.
    Raises :class:`CannotRunError` when the policies cannot be evaluated: never passes
    silently.
    """
    judge = judge or records
    stamp = timefmt.stamp(now)
    if policy_set is None:
        policy_set = load_policy_set(judge)
    config = judge.config
    if stage is not None:
        config.check_stage(stage)                # an unknown stage is a usage error
    rank = config.stage_rank
    placeholders = config.cards.placeholders
    change = change or {"base": None, "files": []}
    schemas = Schemas(judge)
    out = Evaluation()
    documents: dict[str, Document] = {}
    cards: dict[str, inputs.Card] = {}
    docs: list[dict[str, Any]] = []
    for name in names:
        only = versions.get(name) if versions is not None else None
        mf, found, n = read_model(records, schemas, name, placeholders, documents,
                                  only=only, freshness=freshness)
        out.findings.extend(found)
        out.findings.extend(secret_findings(records, name, only=only))
        out.files += n
        if mf is None:
            continue
        if mf.card is not None:
            cards[name] = mf.card
        state = (states or {}).get(name) or records.state(name)
        docs.extend(inputs.model_documents(mf, state, rank=rank, stage=stage, change=change,
                                           review=review, changed=None if scope is None
                                           else scope.get(name, set())))
    annotate(records, docs, judge=judge)        # the signature facts SIGN-01/02 judge
    found, waived, out.engine = run_policies(docs, documents, cards, engine, opa_url,
                                             policy_set, stamp, pull_request)
    out.findings = dedupe(out.findings + found)
    out.waived = waived
    out.documents = len(docs)
    return out


def run_policies(docs: list[dict[str, Any]], documents: dict[str, Document],
                 cards: dict[str, inputs.Card], engine: str | Engine, opa_url: str | None,
                 policy_set: PolicySet, stamp: str, pull_request: dict[str, Any] | None = None
                 ) -> tuple[list[Finding], list[Waiver], str]:
    """All documents in one engine call; findings mapped back to file:line."""
    engine_name = engine if isinstance(engine, str) else engine.name
    if not docs and pull_request is None:
        return [], [], engine_name
    if isinstance(engine, str):
        eng = create_engine(engine, opa_url=opa_url)
        eng.load(policy_set)
    else:
        eng = engine
    decision = eng.evaluate(DECISION_QUERY, inputs.policy_input(stamp, docs, pull_request))
    found, waived = _map_decision(decision, eng.name, docs, documents, cards)
    return found, waived, eng.name


def _model_files(records: Registry, name: str) -> list[str]:
    base = f"{MODELS_DIR}/{name}"
    paths = [f"{base}/{f}" for f in ("model.yaml", "stages.yaml", "card.md")]
    paths += [f"{base}/versions/{entry}" for entry, kind in records.tree.listdir(f"{base}/versions")
              if kind == "file" and entry.endswith(".yaml")]
    return paths


def secret_findings(records: Registry, name: str, only: list[str] | None = None
                    ) -> list[Finding]:
    """SEC-01: secrets in a model's metadata files, one finding per line (the detector,
    store/credentials.py, is shared with register)."""
    out = []
    for rel in _model_files(records, name):
        if only is not None and "/versions/" in rel and rel.rsplit("/", 1)[1][:-5] not in only:
            continue
        if not records.is_file(rel):
            continue
        try:
            text = records.read_text(rel)
        except ModelregError:
            continue                      # unreadable files are ID-00's finding
        for leak in find_secrets(text):
            out.append(Finding(rel, "SEC-01", leak.message(), line=leak.line, model=name))
    return out


def read_model(records: Registry, schemas: Schemas, name: str, placeholders: Sequence[str],
               documents: dict[str, Document], *, only: list[str] | None = None,
               freshness: Freshness | None = None
               ) -> tuple[inputs.ModelFiles | None, list[Finding], int]:
    """Validate and load one model's files. A file that does not parse or validate is
    reported and left out of the policy input; the model is skipped when model.yaml is."""
    findings: list[Finding] = []
    paths = inputs.files_of(name)
    names = records.version_names(name)
    if only is not None:
        for v in only:
            if v not in names:
                where = f" at {records.rev[:12]}" if records.rev else ""
                findings.append(Finding(f"{MODELS_DIR}/{name}/versions/{v}.yaml", "ID-00",
                                        f"no record of {name} {v}{where}", model=name,
                                        version=v))
        names = [v for v in names if v in only]
    version_paths = [f"{MODELS_DIR}/{name}/versions/{v}.yaml" for v in names]
    if not records.exists(paths["model"]):
        where = f" at {records.rev[:12]}" if records.rev else ""
        return None, findings + [Finding(paths["model"], "ID-00", f"no model {name}{where}",
                                         model=name)], 0
    candidates = [paths["model"], *version_paths]
    if records.exists(paths["stages"]):
        candidates.append(paths["stages"])
    bad: set[str] = set()
    loaded: dict[str, Document] = {}        # each file parsed once, by validate_file
    for rel in candidates:
        for f in validate_file(records, schemas, rel, loaded=loaded):
            findings.append(f)
            if f.rule in UNREADABLE_RULES:
                bad.add(rel)
    card = None
    text = ""
    has_card = records.exists(paths["card"])
    if has_card:
        try:
            text = records.read_text(paths["card"])
            card = inputs.parse_card(text, paths["card"], placeholders)
        except ModelregError as exc:
            findings.append(unreadable(paths["card"], exc, name))
            bad.add(paths["card"])
    n = len(candidates) + (1 if has_card else 0)
    if paths["model"] in bad:
        return None, findings, n

    def load(rel: str) -> Document:
        doc = loaded.get(rel) or records.load(rel)
        documents[rel] = doc
        return doc

    model = load(paths["model"])
    versions = {p.rsplit("/", 1)[1][:-5]: load(p) for p in version_paths if p not in bad}
    stages = load(paths["stages"]) if paths["stages"] in candidates and \
        paths["stages"] not in bad else None
    if freshness is not None and card is not None and not bad:
        findings.extend(freshness(name, text, model.data,
                                  {v: d.data for v, d in versions.items()}))
    return inputs.ModelFiles(name, model, versions, stages, card), findings, n


def _map_decision(decision: Any, engine: str, docs: list[dict[str, Any]],
                  documents: dict[str, Document], cards: dict[str, inputs.Card]
                  ) -> tuple[list[Finding], list[Waiver]]:
    if not isinstance(decision, dict) or not all(
            isinstance(decision.get(k), list) for k in ("deny", "warn", "waived")):
        raise CannotRunError(f"policy engine {engine} returned no decision "
                             f"(data.modelreg.main.decision is {type(decision).__name__})",
                             hint="are policies/main.rego and its imports intact?")
    by_key = {(d["name"], (d["version"] or {}).get("version") if d["version"] else None): d
              for d in docs}
    out: list[Finding] = []
    for kind in ("deny", "warn"):
        for raw in decision[kind]:
            out.append(_finding(raw, SEVERITY[kind], by_key, documents, cards, engine))
    waived = []
    for raw in decision["waived"]:
        w = raw.get("waiver") if isinstance(raw, dict) else None
        if not isinstance(w, dict):
            raise CannotRunError(f"policy engine {engine} returned a malformed waiver: {raw!r}")
        f = _finding(raw, "error", by_key, documents, cards, engine)
        waived.append(Waiver(f, str(w.get("justification", "")), str(w.get("approved_by", "")),
                             str(w.get("expires", ""))))
    return out, waived


def _finding(raw: Any, severity: str, by_key: dict, documents: dict[str, Document],
             cards: dict[str, inputs.Card], engine: str) -> Finding:
    if not isinstance(raw, dict) or not isinstance(raw.get("id"), str) \
            or not isinstance(raw.get("msg"), str):
        raise CannotRunError(f"policy engine {engine} returned a malformed finding: {raw!r}",
                             hint="rules must return {id, msg, model, version, file, path}")
    rule = raw["id"]
    message = raw["msg"]
    prefix = f"[{rule}] "
    if message.startswith(prefix):
        message = message[len(prefix):]
    model, version = raw.get("model"), raw.get("version")
    doc = by_key.get((model, version))
    file_key = raw.get("file") or "model"
    path = [p for p in raw.get("path") or [] if isinstance(p, (str, int))]
    # a finding about the pull request as a whole names the changed path itself
    rel = (doc["files"].get(file_key) if doc else None) or \
        (file_key if "/" in str(file_key) or model is None
         else f"{MODELS_DIR}/{model}/{file_key}")
    line = None
    if file_key == "card":
        card = cards.get(model)
        if card and len(path) >= 2 and path[0] == "sections":
            line = card.lines.get(str(path[1]))
        elif card:
            line = 1
    elif rel in documents:
        line = locate(documents[rel], path)
    return Finding(rel, rule, message, severity=severity, line=line, model=model,
                   version=version, path=json_path(path) if path else None)


def dedupe(findings: list[Finding]) -> list[Finding]:
    """One finding per (file, line, rule, message): model-level rules fire once per version
    document, and validate and the policies may both report a naming problem."""
    seen: dict[tuple, Finding] = {}
    by_place: set[tuple] = set()
    for f in findings:
        key = (f.file, f.line, f.rule, f.message, f.severity)
        if key in seen:
            continue
        # the schema pass and a policy both flagging the same rule at the same place
        place = (f.file, f.line, f.rule)
        if place in by_place and f.rule in ("ID-02", "ID-03"):
            continue
        by_place.add(place)
        seen[key] = f
    return list(seen.values())


__all__ = ["evaluate", "run_policies", "read_model", "secret_findings", "dedupe", "Evaluation",
           "Waiver"]
