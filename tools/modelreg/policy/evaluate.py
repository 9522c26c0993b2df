"""Judging registry documents: schemas, secrets and the Rego policies, a batch of models per engine call.

``evaluate`` reads the models' files from one view of the registry (``records``: the work
tree or any revision) and judges them with the schemas, policies and policy data of another
(``judge``, by default the same view). ``check`` judges the work tree; the gate judges the
record as it was approved, with today's rules. Findings come back as data with
``file:line``; nothing here prints or decides an exit code.
"""
from __future__ import annotations

import datetime as _dt
import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from functools import partial
from typing import Any

from modelreg.core import timefmt
from modelreg.core.errors import CannotRunError, InputError, ModelregError
from modelreg.core.records import Event, Finding, ModelState
from modelreg.core.yamlio import MAX_BYTES, Document, decode, locate
from modelreg.policy import inputs
from modelreg.policy.documents import RecordCache, plain, unreadable, validate_file
from modelreg.policy.engines import (
    DECISION_QUERY,
    Engine,
    PolicySet,
    create_engine,
    engine_release,
    load_policy_set,
    resolve_engine_name,
)
from modelreg.store.cache import Store, blob_id, digest, release_salt
from modelreg.store.credentials import Leak
from modelreg.store.credentials import find as find_secrets
from modelreg.store.findings import finding_paths
from modelreg.store.index import RegistryIndex
from modelreg.store.monitoring import record_paths as monitoring_paths
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
             pull_request: dict[str, Any] | None = None,
             remember: bool | None = None, watch: Registry | None = None) -> Evaluation:
    """Judge the models ``names`` as ``records`` holds them.

    ``versions`` limits a model to some of its versions (a missing one is an ID-00 finding).
    ``states`` are the models' tag states (read when not given). ``review`` is the pull
    request's sign-off evidence; without it a version holding a stage is judged with the
    evidence its stage tag recorded. ``scope`` (model -> versions the pull request changes,
    policy/scope.py) limits ``review`` to those versions; the others keep their recorded
    evidence. ``pull_request`` is the change as a whole (``input.change``: its files and
    their code owners, GOV-09; its risk-field edits, RISK-03), judged even when no model is.
    ``remember``: read and write the cache (None: when judging more than :data:`FEW` models).
    ``watch``: where the monitoring records are read (default ``records``).
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
    # the cache holds the whole registry's records: worth reading for many models, not for
    # the few a gate or a pull request's check judges (parsing those is cheaper)
    cache = RecordCache(records, use=len(names) > FEW if remember is None else remember)
    out = Evaluation()
    found: list[Finding] = []
    # other models' records, as far as the lineage rules follow them (ID-07, DATA-06)
    index = RegistryIndex(records, states=lambda n: states[n] if states is not None and
                          n in states else records.state(n))
    directions = inputs.metric_directions(policy_set.data)
    # a pull request's check judges the change as a whole beside its (few) models: one batch
    size = len(names) if pull_request is not None else BATCH
    eng = _Lazy(engine, opa_url, policy_set) if isinstance(engine, str) else engine
    for start in range(0, max(len(names), 1), max(size, 1)):
        documents: dict[str, Document] = {}
        cards: dict[str, inputs.Card] = {}
        docs: list[dict[str, Any]] = []
        for name in names[start:start + size]:
            only = versions.get(name) if versions is not None else None
            mf, read, n = read_model(records, schemas, name, placeholders, documents,
                                     only=only, freshness=freshness, cache=cache,
                                     watch=watch)
            found.extend(read)
            found.extend(secret_findings(records, name, only=only, store=cache.store))
            out.files += n
            if mf is None:
                continue
            if mf.card is not None:
                cards[name] = mf.card
            # a model the given states leave out has no trusted tag: asking git again per
            # model (a tag listing and its trust verdicts each) would only say so a thousand
            # times
            state = states.get(name) or ModelState(name, (), {}, False, ()) \
                if states is not None else records.state(name)
            index.judging(name, mf.model.data, {v: d.data for v, d in mf.versions.items()})
            docs.extend(inputs.model_documents(
                _with_champions(records, mf, state, rank), state, rank=rank, stage=stage,
                change=change, review=review,
                changed=None if scope is None else scope.get(name, set()),
                evidence=partial(_tag_evidence, cache.store), lineage=index.facts,
                directions=directions, today=stamp[:10]))
        annotate(records, docs, judge=judge)        # the signature facts SIGN-01/02 judge
        judged, waived, out.engine = run_policies(docs, documents, cards, eng, opa_url,
                                                  policy_set, stamp, pull_request,
                                                  cache=cache.store)
        found.extend(judged)
        out.waived.extend(waived)
        out.documents += len(docs)
    cache.save()
    out.findings = dedupe(found)
    return out


def _with_champions(records: Registry, mf: inputs.ModelFiles, state: ModelState,
                    rank: dict[str, int]) -> inputs.ModelFiles:
    """``mf`` with the records of the versions its versions challenge for the last stage
    (EVAL-05) that it was not asked to judge (a gate reads one version)."""
    final = inputs.last_stage(rank)
    if final is None:
        return mf
    wanted = {c for v in mf.versions
              if (c := state.champion(v, final)) and c not in mf.versions}
    others = {}
    for version in sorted(wanted):
        rel = f"{MODELS_DIR}/{mf.name}/versions/{version}.yaml"
        try:
            others[version] = records.load(rel)
        except ModelregError:
            continue                  # judged without it: EVAL-05 says it cannot compare
    return replace(mf, others=others) if others else mf


FEW = 20      # models; up to this many are judged without reading or writing the cache

# Models judged per engine call: the engine is given many documents at once (its fixed cost
# per call is paid a few times, not once per document), and the documents, their input and
# the engine's working memory are those of one batch, whatever the registry holds.
BATCH = 100


class _Lazy:
    """An engine by name, created and loaded with the policies when a batch first needs it
    (a run whose answers all come from the cache loads none), then reused."""

    def __init__(self, name: str, opa_url: str | None, policy_set: PolicySet) -> None:
        self.name, self.opa_url, self.policy_set = name, opa_url, policy_set
        self._engine: Engine | None = None

    def get(self) -> Engine:
        if self._engine is None:
            self._engine = create_engine(self.name, opa_url=self.opa_url)
            self._engine.load(self.policy_set)
        return self._engine


def run_policies(docs: list[dict[str, Any]], documents: dict[str, Document],
                 cards: dict[str, inputs.Card], engine: str | Engine | _Lazy, opa_url: str | None,
                 policy_set: PolicySet, stamp: str, pull_request: dict[str, Any] | None = None,
                 *, cache: Store | None = None) -> tuple[list[Finding], list[Waiver], str]:
    """The documents in one engine call; findings mapped back to file:line.

    With ``cache``, each model's documents are judged once per content: the engine's answer
    for a model is stored under the digest of its documents, the day (``input.now`` as the
    policies read it), the policies, their data and the engine's release, and only models
    without an answer go to the engine. A pull request's check (``pull_request``: the
    change as a whole is judged beside the documents) is never cached."""
    if isinstance(engine, str):
        engine = _Lazy(engine, opa_url, policy_set)
    engine_name = engine.name
    if not docs and pull_request is None:
        return [], [], engine_name
    resolved = resolve_engine_name(engine.name) if isinstance(engine, _Lazy) else engine.name
    salt = _policy_salt(resolved, policy_set) if cache is not None and pull_request is None \
        else None
    decision: dict[str, list[Any]] = {"deny": [], "warn": [], "waived": []}
    todo, keys = docs, {}
    if salt is not None:
        assert cache is not None
        todo, keys = [], {}
        for name, group in _by_model(docs).items():
            key = digest(salt, stamp[:10], _shape_key(group))
            hit = cache.get(key)
            if isinstance(hit, dict) and all(isinstance(hit.get(k), list) for k in decision):
                for k in decision:
                    decision[k].extend(hit[k])
            else:
                keys[name] = key
                todo.extend(group)
    if todo or pull_request is not None:
        eng = engine.get() if isinstance(engine, _Lazy) else engine
        fresh = eng.evaluate(DECISION_QUERY, inputs.policy_input(
            stamp, todo, pull_request, share=reads_documents(policy_set)))
        engine_name = eng.name
        _check_decision(fresh, eng.name)
        if cache is not None and keys:
            _remember(cache, keys, fresh)
        for k in decision:
            decision[k].extend(fresh[k])
    else:
        engine_name = resolved
    found, waived = _map_decision(decision, engine_name, docs, documents, cards)
    return found, waived, engine_name


# How the shipped policies read the time: the date of ``input.now`` (lib.today). A policy that
# reads more of it (or the clock) makes each run's answer its own, so nothing is cached.
_TODAY = "substring(input.now, 0, 10)"
_NOW = re.compile(r"\bnow\b|now_ns")


def _reads_the_date_only(policy_set: PolicySet) -> bool:
    for pf in policy_set.policies:
        for line in pf.text.splitlines():
            code = line.split("#", 1)[0].replace(_TODAY, "")
            if _NOW.search(code):
                return False
    return True


_INPUT_MODELS = re.compile(r"\binput\.models\b")
_DEFINES_DOCUMENTS = re.compile(r"^package modelreg\.lib\b.*^documents\s*:?=", re.M | re.S)


def reads_documents(policy_set: PolicySet) -> bool:
    """Whether the policies read documents through ``lib.documents`` (which joins each one
    with what its model's documents share) and none reads ``input.models`` itself. Only then
    is a model's ``model.yaml`` and card sent once per model (``input.shared``); policies
    written for documents that carry everything (an older ``lib.rego``, a rule of the
    registry's own reading ``input.models``) are given exactly that."""
    defined = False
    for pf in policy_set.policies:
        code = "\n".join(line.split("#", 1)[0] for line in pf.text.splitlines())
        if _DEFINES_DOCUMENTS.search(code):
            defined = True                 # lib's definition is the one reader allowed
        elif _INPUT_MODELS.search(code):
            return False
    return defined


def _policy_salt(engine: str, policy_set: PolicySet) -> str | None:
    """What every policy result depends on besides its documents and the day: the release of
    modelreg and of the engine, every policy file and the policies' data (None: not
    cacheable: an engine outside this process, or policies that read the time of day)."""
    release = engine_release(engine)
    if release is None or not _reads_the_date_only(policy_set):
        return None
    parts: list[str] = [release_salt(), release]
    for pf in sorted(policy_set.policies, key=lambda f: f.path):
        parts += [pf.path, pf.text]
    parts.append(json.dumps(policy_set.data, sort_keys=True, default=str))
    parts.append(json.dumps(list(policy_set.stage_order)))
    return digest(*parts)


def _by_model(docs: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for d in docs:
        out.setdefault(str(d.get("name")), []).append(d)
    return out


def _shape_key(group: list[dict[str, Any]]) -> str:
    """One model's documents as text, a value they share (the model, the card, the change)
    written once: what the engine would be given, in less text."""
    shared: dict[str, Any] = {}
    first = group[0]
    for k, v in first.items():
        if isinstance(v, (dict, list)) and all(d.get(k) is v for d in group[1:]):
            shared[k] = v
    rest = [{k: v for k, v in d.items() if k not in shared} for d in group]
    return json.dumps([shared, rest], separators=(",", ":"), default=str)


def _check_decision(decision: Any, engine: str) -> None:
    if not isinstance(decision, dict) or not all(
            isinstance(decision.get(k), list) for k in ("deny", "warn", "waived")):
        raise CannotRunError(f"policy engine {engine} returned no decision "
                             f"(data.modelreg.main.decision is {type(decision).__name__})",
                             hint="are policies/main.rego and its imports intact?")


def _remember(cache: Store, keys: dict[str, str], decision: dict[str, list[Any]]) -> None:
    """Each judged model's part of the decision under its key. An answer that names no
    judged model (a rule about the batch as a whole) makes the whole answer uncacheable."""
    parts: dict[str, dict[str, list[Any]]] = {
        name: {"deny": [], "warn": [], "waived": []} for name in keys}
    for kind in parts[next(iter(parts))]:
        for raw in decision[kind]:
            model = raw.get("model") if isinstance(raw, dict) else None
            if not isinstance(model, str) or model not in parts:
                return
            parts[model][kind].append(raw)
    for name, key in keys.items():
        cache.put(key, parts[name])


def _tag_evidence(store: Store, ev: Event) -> dict[str, Any]:
    """A tag's evidence block, parsed once per annotation text (a registry of 10,000
    versions has 12,000 of them to read for every full check)."""
    if not ev.annotated:
        return {}
    key = digest(release_salt(), "evidence", ev.message)
    hit = store.get(key)
    if isinstance(hit, dict):
        return hit
    evidence = ev.evidence
    if plain(evidence):
        store.put(key, evidence)
    return evidence


def _read_card(records: Registry, rel: str, placeholders: Sequence[str],
               store: Store | None) -> tuple[str, inputs.Card]:
    """A card's text and what the policies read of it, split once per content and
    placeholder list."""
    raw = records.read_bytes(rel)
    text = records_text(raw, rel)
    if store is None:
        return text, inputs.parse_card(text, rel, placeholders)
    key = digest(release_salt(), "card", blob_id(raw), json.dumps(list(placeholders)))
    hit = store.get(key)
    if isinstance(hit, dict) and isinstance(hit.get("front_matter"), dict) and \
            isinstance(hit.get("sections"), dict) and isinstance(hit.get("lines"), dict):
        return text, inputs.Card(hit["front_matter"], hit["sections"], hit["lines"])
    card = inputs.parse_card(text, rel, placeholders)
    entry = {"front_matter": card.front_matter, "sections": card.sections, "lines": card.lines}
    if plain(entry):
        store.put(key, entry)
    return text, card


def _model_files(records: Registry, name: str) -> list[str]:
    base = f"{MODELS_DIR}/{name}"
    paths = [f"{base}/{f}" for f in ("model.yaml", "stages.yaml", "card.md")]
    paths += [f"{base}/versions/{entry}" for entry, kind in records.tree.listdir(f"{base}/versions")
              if kind == "file" and entry.endswith(".yaml")]
    return paths


def secret_findings(records: Registry, name: str, only: list[str] | None = None, *,
                    store: Store | None = None) -> list[Finding]:
    """SEC-01: secrets in a model's metadata files, one finding per line (the detector,
    store/credentials.py, is shared with register). With ``store``, each file's bytes are
    scanned once: the leaks are kept under its blob id and modelreg's release."""
    out = []
    for rel in _model_files(records, name):
        if only is not None and "/versions/" in rel and rel.rsplit("/", 1)[1][:-5] not in only:
            continue
        if not records.is_file(rel):
            continue
        try:
            raw = records.read_bytes(rel)
        except ModelregError:
            continue                      # unreadable files are ID-00's finding
        for leak in _leaks(raw, rel, store):
            out.append(Finding(rel, "SEC-01", leak.message(), line=leak.line, model=name))
    return out


def _leaks(raw: bytes, rel: str, store: Store | None) -> list[Leak]:
    key = digest(release_salt(), "secrets", blob_id(raw)) if store is not None else ""
    hit = store.get(key) if store is not None else None
    if isinstance(hit, list) and all(isinstance(h, list) and len(h) == 3 for h in hit):
        return [Leak(int(line), str(kind), str(excerpt)) for line, kind, excerpt in hit]
    try:
        text = records_text(raw, rel)
    except ModelregError:
        return []                         # unreadable files are ID-00's finding
    leaks = find_secrets(text)
    if store is not None:
        store.put(key, [[leak.line, leak.kind, leak.excerpt] for leak in leaks])
    return leaks


def records_text(raw: bytes, rel: str) -> str:
    """A registry file's bytes as text, with the size limit ``Registry.read_text`` keeps."""
    if len(raw) > MAX_BYTES:
        raise InputError(f"file is {len(raw)} bytes, over the {MAX_BYTES}-byte limit",
                         file=rel, hint="metadata files are small; keep weights under DVC")
    return decode(raw, rel)


def read_model(records: Registry, schemas: Schemas, name: str, placeholders: Sequence[str],
               documents: dict[str, Document], *, only: list[str] | None = None,
               freshness: Freshness | None = None, cache: RecordCache | None = None,
               watch: Registry | None = None
               ) -> tuple[inputs.ModelFiles | None, list[Finding], int]:
    """Validate and load one model's files. A file that does not parse or validate is
    reported and left out of the policy input; the model is skipped when model.yaml is.
    The monitoring records come from ``watch`` when given (the gate: the protected branch
    as it is today, not the record as it was approved), else from ``records``; each is
    validated like the other files."""
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
    finding_files = finding_paths(records, name)
    candidates = [paths["model"], *version_paths, *finding_files]
    if records.exists(paths["stages"]):
        candidates.append(paths["stages"])
    bad: set[str] = set()
    loaded: dict[str, Document] = {}        # each file parsed once, by validate_file
    for rel in candidates:
        for f in validate_file(records, schemas, rel, loaded=loaded, cache=cache):
            findings.append(f)
            if f.rule in UNREADABLE_RULES:
                bad.add(rel)
    card = None
    text = ""
    has_card = records.exists(paths["card"])
    if has_card:
        try:
            text, card = _read_card(records, paths["card"], placeholders,
                                    cache.store if cache is not None else None)
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
    validation = tuple(load(p) for p in finding_files if p not in bad)
    watched, found, m = _monitoring(records, schemas, name, names, watch, cache)
    findings.extend(found)
    return inputs.ModelFiles(name, model, versions, stages, card, validation,
                             monitoring=watched), findings, n + m


def _monitoring(records: Registry, schemas: Schemas, name: str, names: list[str],
                watch: Registry | None, cache: RecordCache | None
                ) -> tuple[dict[str, list[dict[str, Any]]], list[Finding], int]:
    """The monitoring records of the judged versions (version -> records) as ``watch`` (else
    ``records``) holds them, the findings about the unusable ones (a record that does not
    validate is never quietly left out: that would hide its breach) and how many files were
    read."""
    source = watch if watch is not None else records
    out: dict[str, list[dict[str, Any]]] = {}
    findings: list[Finding] = []
    paths = [p for p in monitoring_paths(source, name) if p.split("/")[3] in names]
    loaded: dict[str, Document] = {}
    for rel in paths:
        found = validate_file(source, schemas, rel, loaded=loaded, cache=cache)
        findings.extend(found)
        doc = loaded.get(rel)
        if doc is not None and not any(f.severity == "error" for f in found) and \
                isinstance(doc.data, dict):
            out.setdefault(rel.split("/")[3], []).append({**doc.data, "path": rel})
    return out, findings, len(paths)


def _map_decision(decision: Any, engine: str, docs: list[dict[str, Any]],
                  documents: dict[str, Document], cards: dict[str, inputs.Card]
                  ) -> tuple[list[Finding], list[Waiver]]:
    _check_decision(decision, engine)
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
