"""``modelreg check``: the pull-request status check.

For every model the change touches (all models without ``changed_since``): JSON-Schema
validation of its files, then the Rego policies for the stage each version is checked at,
all documents in ONE engine evaluation. Findings come back as data with ``file:line``; the
exit code is derived from them by the CLI.
"""
from __future__ import annotations

import datetime as _dt
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from modelreg.app.validate import validate_file
from modelreg.core.errors import CannotRunError, ModelregError, UsageError
from modelreg.core.records import Finding, Report
from modelreg.core.yamlio import Document, locate, read_text
from modelreg.policy import inputs
from modelreg.policy.engines import (
    DECISION_QUERY,
    Engine,
    PolicySet,
    create_engine,
    load_policy_set,
)
from modelreg.store.config import ConfigError
from modelreg.store.git import Git
from modelreg.store.registry import MODELS_DIR, Registry
from modelreg.store.schemas import Schemas, json_path

UNREADABLE_RULES = {"ID-00", "ID-01"}     # a file with these findings is not sent to the policies
SEVERITY = {"deny": "error", "warn": "warning"}
# Changes outside models/ that change every model's verdict.
GLOBAL_PREFIXES = ("policies/", "schemas/")


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


@dataclass(frozen=True)
class CheckResult:
    """The outcome of ``check``: the findings report plus what was waived and how."""

    report: Report
    waived: tuple[Waiver, ...] = ()
    engine: str = ""
    stage: str | None = None
    models: tuple[str, ...] = ()
    documents: int = 0
    changed_since: str | None = None
    extra: dict[str, Any] = field(default_factory=dict, compare=False)

    def ok(self, strict: bool = False) -> bool:
        return self.report.ok(strict)

    def to_json(self, strict: bool = False) -> dict[str, Any]:
        out = self.report.to_json(strict)
        out["check"] = {"engine": self.engine, "stage": self.stage,
                        "changed_since": self.changed_since, "models": list(self.models),
                        "documents": self.documents}
        out["waived"] = [w.to_json() for w in self.waived]
        return out


def changed_files(git: Git, ref: str | None) -> list[str]:
    """Files changed since ``ref`` (``git diff REF...HEAD``) plus uncommitted and untracked
    ones; deleted files are left out. Without ``ref``, only the work tree's changes."""
    files: set[str] = set()
    if ref:
        if not git.ok("rev-parse", "--verify", "-q", f"{ref}^{{commit}}"):
            raise UsageError(f"--changed-since {ref}: no such commit",
                             hint="fetch the base branch first (git fetch origin BASE)")
        out = git.run("diff", "--name-only", "--diff-filter=d", "-z", f"{ref}...HEAD")
        files.update(p for p in out.split("\0") if p)
    if git.head():
        out = git.run("diff", "--name-only", "--diff-filter=d", "-z", "HEAD")
        files.update(p for p in out.split("\0") if p)
    out = git.run("ls-files", "--others", "--exclude-standard", "-z")
    files.update(p for p in out.split("\0") if p)
    return sorted(files)


def touched_models(registry: Registry, files: list[str]) -> list[str]:
    """Models whose folder a change touches; every model when policies or schemas change."""
    if any(f.startswith(GLOBAL_PREFIXES) for f in files):
        return registry.model_names()
    names = {f.split("/")[1] for f in files
             if f.startswith(f"{MODELS_DIR}/") and f.count("/") >= 2}
    return sorted(n for n in names if registry.has_model(n))


def now_rfc3339(now: _dt.datetime | str | None) -> str:
    if isinstance(now, str):
        try:
            _dt.datetime.fromisoformat(now.replace("Z", "+00:00"))
        except ValueError:
            raise UsageError(f"invalid time {now!r}", hint="use RFC 3339, e.g. "
                             "2026-11-27T12:00:00Z") from None
        return now
    moment = now or _dt.datetime.now(_dt.UTC)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=_dt.UTC)
    return moment.astimezone(_dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def check(registry: Registry, *, stage: str | None = None, changed_since: str | None = None,
          engine: str | Engine = "auto", opa_url: str | None = None, strict: bool = False,
          now: _dt.datetime | str | None = None, review: dict[str, Any] | None = None,
          policy_set: PolicySet | None = None, models: list[str] | None = None,
          parallel: bool = True) -> CheckResult:
    """Check the registry (or what changed since ``changed_since``, or ``models``) against
    schemas and policy.

    ``engine`` is an engine name or an already loaded :class:`Engine` (reused across calls).
    ``review`` is the pull request's sign-off evidence; without it, a version that holds a
    stage is judged with the evidence its stage tag recorded (so a stage held without
    recorded approvals fails), and other versions without approval rules.
    Raises :class:`CannotRunError` when the policies cannot be evaluated; never passes silently.
    """
    del strict  # the verdict is derived from the report: CheckResult.ok(strict)
    stamp = now_rfc3339(now)
    try:
        config = registry.config
    except ConfigError as exc:
        # the rules' own data is wrong: report where, before judging anything with it
        return CheckResult(Report("check", len(exc.findings), exc.findings), stage=stage,
                           changed_since=changed_since)
    if stage is not None:
        config.check_stage(stage)
    if policy_set is None:
        policy_set = load_policy_set(registry)
    rank = config.stage_rank
    placeholders = config.cards.placeholders

    changes = changed_files(registry.git, changed_since)
    if models is not None:
        for name in models:
            if not registry.has_model(name):
                raise UsageError(f"no model named {name!r}", hint="`modelreg ls` lists the models")
        names = sorted(set(models))
    else:
        names = touched_models(registry, changes) if changed_since else registry.model_names()
    change = {"base": changed_since, "files": changes}
    workers = min(os.cpu_count() or 1, 8)
    if parallel and isinstance(engine, str) and len(names) >= PARALLEL_FROM and workers > 1:
        return _check_parallel(registry, names, workers, stage=stage,
                               changed_since=changed_since, engine=engine, opa_url=opa_url,
                               now=stamp, review=review)
    # one for-each-ref for many models; a few models ask only for their own tags
    states = registry.states() if len(names) > 20 else {n: registry.state(n) for n in names}

    schemas = Schemas(registry.root)
    findings: list[Finding] = []
    documents: dict[str, Document] = {}
    cards: dict[str, inputs.Card] = {}
    docs: list[dict[str, Any]] = []
    files_checked = 0
    for name in names:
        mf, found, n = _read_model(registry, schemas, name, placeholders, documents)
        findings.extend(found)
        findings.extend(secret_findings(registry, name))
        files_checked += n
        if mf is None:
            continue
        if mf.card is not None:
            cards[name] = mf.card
        state = states.get(name) or registry.state(name)
        docs.extend(inputs.model_documents(mf, state, rank=rank, stage=stage, change=change,
                                           review=review))

    from modelreg.app.sign import annotate

    annotate(registry, docs)                 # the signature facts SIGN-01/02 judge
    from modelreg.app.cards import save_caches

    save_caches()
    policy_findings, waived, engine_name = _evaluate(docs, documents, cards, engine, opa_url,
                                                     policy_set, stamp)
    findings.extend(policy_findings)
    unique = _dedupe(findings)
    report = Report("check", files_checked, tuple(sorted(unique, key=Finding.sort_key)))
    return CheckResult(report, tuple(sorted(waived, key=lambda w: w.finding.sort_key())),
                       engine_name, stage, tuple(names), len(docs), changed_since)


PARALLEL_FROM = 200    # models; below this one process is faster than a pool


def _check_parallel(registry: Registry, names: list[str], workers: int, **kw: Any
                    ) -> CheckResult:
    """Big registries: each process reads and checks a share of the models and evaluates
    its share in one engine call (parsing YAML and evaluating Rego are CPU-bound)."""
    from concurrent.futures import ProcessPoolExecutor

    chunks = [names[i::workers] for i in range(workers)]
    with ProcessPoolExecutor(workers) as pool:
        parts = list(pool.map(_check_chunk, [str(registry.root)] * workers, chunks,
                              [kw] * workers))
    findings = [f for p in parts for f in p.report.findings]
    waived = [w for p in parts for w in p.waived]
    report = Report("check", sum(p.report.files for p in parts),
                    tuple(sorted(_dedupe(findings), key=Finding.sort_key)))
    return CheckResult(report, tuple(sorted(waived, key=lambda w: w.finding.sort_key())),
                       parts[0].engine, kw.get("stage"), tuple(names),
                       sum(p.documents for p in parts), kw.get("changed_since"))


def _check_chunk(root: str, names: list[str], kw: dict[str, Any]) -> CheckResult:
    return check(Registry(Path(root)), models=names, parallel=False, **kw)


def _evaluate(docs: list[dict[str, Any]], documents: dict[str, Document],
              cards: dict[str, inputs.Card], engine: str | Engine, opa_url: str | None,
              policy_set: PolicySet, stamp: str) -> tuple[list[Finding], list[Waiver], str]:
    """All documents in one engine call; findings mapped back to file:line."""
    engine_name = engine if isinstance(engine, str) else engine.name
    if not docs:
        return [], [], engine_name
    if isinstance(engine, str):
        eng = create_engine(engine, opa_url=opa_url)
        eng.load(policy_set)
    else:
        eng = engine
    decision = eng.evaluate(DECISION_QUERY, inputs.policy_input(stamp, docs))
    found, waived = _map_decision(decision, eng.name, docs, documents, cards)
    return found, waived, eng.name


def check_at(registry: Registry, name: str, version: str, stage: str, *, rev: str,
             review: dict[str, Any] | None, engine: str | Engine = "auto",
             opa_url: str | None = None, now: _dt.datetime | str | None = None
             ) -> tuple[list[Finding], dict[str, Any] | None]:
    """Judge one version as recorded at commit ``rev`` (not the work tree) at ``stage``,
    with today's policies and the given sign-off evidence. Returns the findings and the
    version record (None when it does not exist at ``rev``)."""
    from modelreg.core.yamlio import decode, parse_text
    from modelreg.store.git import CatFile

    policy_set = load_policy_set(registry)
    stamp = now_rfc3339(now)
    placeholders = registry.config.cards.placeholders
    paths = inputs.files_of(name)
    vpath = f"{MODELS_DIR}/{name}/versions/{version}.yaml"
    texts: dict[str, str] = {}
    findings: list[Finding] = []
    with CatFile(registry.git) as cat:
        for rel in (paths["model"], vpath, paths["stages"], paths["card"]):
            raw = cat.read(f"{rev}:{rel}")
            if raw is not None:
                texts[rel] = decode(raw, f"{rel}@{rev[:12]}")
    documents: dict[str, Document] = {}
    schemas = Schemas(registry.root)
    for rel, kind in ((paths["model"], "model"), (vpath, "version"), (paths["stages"], "stages")):
        if rel not in texts:
            continue
        try:
            data = parse_text(texts[rel], rel)
        except ModelregError as exc:
            findings.append(Finding(rel, "ID-00", exc.message, line=exc.line, model=name,
                                    version=version))
            continue
        doc = Document(rel, texts[rel], data)
        for parts, message in schemas.errors(kind, data):
            findings.append(Finding(rel, "ID-01", message, line=locate(doc, parts), model=name,
                                    version=version, path=json_path(parts)))
        documents[rel] = doc
    if paths["model"] not in documents or vpath not in documents:
        return findings or [Finding(vpath, "ID-00", f"no record of {name} {version} at "
                                    f"{rev[:12]}", model=name, version=version)], \
            (documents[vpath].data if vpath in documents else None)
    card = inputs.parse_card(texts[paths["card"]], paths["card"], placeholders) \
        if paths["card"] in texts else None
    mf = inputs.ModelFiles(name, documents[paths["model"]], {version: documents[vpath]},
                           documents.get(paths["stages"]), card)
    rank = registry.config.stage_rank
    registry.config.check_stage(stage)
    docs = inputs.model_documents(mf, registry.state(name), rank=rank, stage=stage,
                                  change={"base": None, "files": []}, review=review)
    from modelreg.app.sign import annotate

    annotate(registry, docs, rev=rev)
    found, _, _ = _evaluate(docs, documents, {name: card} if card else {}, engine, opa_url,
                            policy_set, stamp)
    return _dedupe(findings + found), documents[vpath].data


def secret_findings(registry: Registry, name: str) -> list[Finding]:
    """SEC-01: secrets in a model's metadata files, one finding per line (the detector is
    modelreg/credentials.py, shared with register)."""
    from modelreg.store.credentials import find

    base = registry.model_dir(name)
    paths = [base / "model.yaml", base / "stages.yaml", base / "card.md"]
    vdir = base / "versions"
    if vdir.is_dir():
        paths += sorted(vdir.glob("*.yaml"))
    out = []
    for path in paths:
        if not path.is_file() or path.is_symlink():
            continue
        rel = registry.rel(path)
        try:
            text = read_text(path, display=rel)
        except ModelregError:
            continue                      # unreadable files are ID-00's finding
        for leak in find(text):
            out.append(Finding(rel, "SEC-01", leak.message(), line=leak.line, model=name))
    return out


def _read_model(registry: Registry, schemas: Schemas, name: str, placeholders: tuple[str, ...],
                documents: dict[str, Document]
                ) -> tuple[inputs.ModelFiles | None, list[Finding], int]:
    """Validate and load one model's files. A file that does not parse or validate is
    reported and left out of the policy input; the model is skipped when model.yaml is."""
    findings: list[Finding] = []
    paths = inputs.files_of(name)
    version_paths = [f"{MODELS_DIR}/{name}/versions/{v}.yaml"
                     for v in registry.version_names(name)]
    candidates = [paths["model"], *version_paths]
    if (registry.root / paths["stages"]).is_file():
        candidates.append(paths["stages"])
    bad: set[str] = set()
    loaded: dict[str, Document] = {}        # each file parsed once, by validate_file
    for rel in candidates:
        for f in validate_file(registry, schemas, rel, loaded=loaded):
            findings.append(f)
            if f.rule in UNREADABLE_RULES:
                bad.add(rel)
    card = None
    card_path = registry.root / paths["card"]
    if card_path.is_file():
        try:
            text = read_text(card_path, display=paths["card"])
            card = inputs.parse_card(text, paths["card"], placeholders)
        except ModelregError as exc:
            findings.append(Finding(paths["card"], "ID-00", exc.message, line=exc.line,
                                    model=name))
            bad.add(paths["card"])
    n = len(candidates) + (1 if card_path.is_file() else 0)
    if paths["model"] in bad:
        return None, findings, n

    def load(rel: str) -> Document:
        doc = loaded.get(rel) or registry.load(rel)
        documents[rel] = doc
        return doc

    model = load(paths["model"])
    versions = {p.rsplit("/", 1)[1][:-5]: load(p) for p in version_paths if p not in bad}
    stages = load(paths["stages"]) if paths["stages"] in candidates and \
        paths["stages"] not in bad else None
    if card is not None and not bad:     # CARD-04: the card is what rendering it gives
        from modelreg.app.cards import stale_findings
        findings.extend(stale_findings(registry.root, name, text, model.data,
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
    rel = (doc["files"].get(file_key) if doc else None) or \
        (file_key if "/" in str(file_key) else f"{MODELS_DIR}/{model}/{file_key}")
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


def _dedupe(findings: list[Finding]) -> list[Finding]:
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


__all__ = ["check", "check_at", "CheckResult", "Waiver", "changed_files", "touched_models"]
