"""``modelreg check``: the pull-request status check.

For every model the change touches (all models without ``changed_since``): JSON-Schema
validation of its files, then the Rego policies for the stage each version is checked at,
all documents in one engine evaluation (policy/evaluate.py). Findings come back as data with
``file:line``; the exit code is derived from them by the CLI.

The records are the work tree's; the rules that judge them are the ``base`` revision's when
one is given: its policies, policy data, schemas, card template and CODEOWNERS. A pull
request therefore cannot change the rules it is judged by; a change to the rules takes effect
once it is merged (docs/policies.md#who-judges-a-pull-request).
"""
from __future__ import annotations

import datetime as _dt
import json
import os
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import Any

from modelreg.core import timefmt
from modelreg.core.errors import CannotRunError, ModelregError, UsageError
from modelreg.core.records import Finding, Report
from modelreg.core.release import __version__
from modelreg.core.shards import Shard, shard_of
from modelreg.policy.engines import Engine, PolicySet, load_policy_set
from modelreg.policy.evaluate import Waiver, dedupe, evaluate
from modelreg.policy.rescan import rescan_findings
from modelreg.policy.scope import change_document, changed_versions, merge_base
from modelreg.store import cards, dvcyaml
from modelreg.store.codeowners import PATH as CODEOWNERS
from modelreg.store.codeowners import generate as generate_codeowners
from modelreg.store.config import DATA_DIR, ConfigError, RegistryConfig
from modelreg.store.git import Git
from modelreg.store.protected import protected_branch, protected_ref
from modelreg.store.registry import MODELS_DIR, Registry, semver_key

# A shard's report (``check --shard``) is version 2 of the report format: a reader of version 1
# refuses it rather than take one shard for the whole check. ``report merge`` gives version 1.
SHARD_REPORT_VERSION = 2

# Changes outside models/ that change every model's verdict: the rules, the shapes, and the
# card template every card's freshness (CARD-04) is judged against.
GLOBAL_PREFIXES = ("policies/", "schemas/", "templates/")


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
    base: str | None = None                 # the commit whose rules judged (None: work tree)
    shard: Shard | None = None              # --shard K/N: this report is one part of a check
    commit: str | None = None               # HEAD when checked (recorded in a shard's report)
    # the registry-wide part of the report (the rules' own data broken, the change's proposed
    # policy data): every shard reports it, and merging shards counts it once
    shared: tuple[Finding, ...] = ()
    shared_files: int = 0

    @property
    def findings(self) -> tuple[Finding, ...]:
        """The report's findings (as :class:`~modelreg.policy.evaluate.Evaluation` has them)."""
        return self.report.findings

    def ok(self, strict: bool = False) -> bool:
        return self.report.ok(strict)

    def to_json(self, strict: bool = False) -> dict[str, Any]:
        out = self.report.to_json(strict)
        out["check"] = {"engine": self.engine, "stage": self.stage,
                        "changed_since": self.changed_since, "base": self.base,
                        "models": list(self.models), "documents": self.documents}
        out["waived"] = [w.to_json() for w in self.waived]
        if self.shard is not None:
            out["report_version"] = SHARD_REPORT_VERSION
            out["shard"] = {
                "index": self.shard.index, "count": self.shard.count,
                "models": list(self.models), "commit": self.commit,
                "registry_wide": {"files": self.shared_files,
                                  "findings": [f.to_json() for f in
                                               sorted(self.shared, key=Finding.sort_key)]}}
        return out


def changed_files(git: Git, ref: str | None) -> list[str]:
    """Files changed since ``ref`` (``git diff REF...HEAD``) plus uncommitted and untracked
    ones; deleted files are left out. Without ``ref``, only the work tree's changes."""
    tracked, untracked = work_tree_changes(git, ref)
    return sorted(set(tracked) | set(untracked))


def work_tree_changes(git: Git, ref: str | None) -> tuple[list[str], list[str]]:
    """The change as git will commit it, and the untracked files beside it.

    The first list: files changed since ``ref`` plus staged and modified tracked files
    (deletions left out). Untracked files are not part of it: the weights ``register``
    copied stay untracked on ``main`` after its branch is left. Both come from one ``git
    status`` that does not descend into untracked folders (a registry's work tree holds
    hundreds of thousands of files: listing every untracked one costs twice as long); only
    a folder it reports as untracked is then listed file by file."""
    files: set[str] = set()
    if ref:
        if not git.ok("rev-parse", "--verify", "-q", f"{ref}^{{commit}}"):
            raise UsageError(f"{ref}: no such commit",
                             hint="fetch the base branch first (git fetch origin BASE)")
        out = git.run("diff", "--name-only", "--diff-filter=d", "-z", f"{ref}...HEAD")
        files.update(p for p in out.split("\0") if p)
    # --no-optional-locks: a check only reads; rewriting a 30 MB index to remember stat
    # data costs more than it saves, and would take the lock other git commands need
    out = git.run("--no-optional-locks", "status", "--porcelain=v1", "-z", "--no-renames",
                  "--untracked-files=normal", "--ignore-submodules=all")
    untracked, folders = [], []
    for entry in out.split("\0"):
        if len(entry) < 4:
            continue
        code, path = entry[:2], entry[3:]
        if code == "??":
            (folders if path.endswith("/") else untracked).append(path)
        elif code != "!!" and "D" not in code:
            files.add(path)                 # staged or modified, not deleted
    if folders:
        out = git.run("ls-files", "--others", "--exclude-standard", "-z", "--", *folders)
        untracked += [p for p in out.split("\0") if p]
    return sorted(files), sorted(untracked)


def touched_models(registry: Registry, files: list[str]) -> list[str]:
    """Models whose folder a change touches; every model when policies, schemas or the card
    template change."""
    if any(f.startswith(GLOBAL_PREFIXES) for f in files):
        return registry.model_names()
    names = {f.split("/")[1] for f in files
             if f.startswith(f"{MODELS_DIR}/") and f.count("/") >= 2}
    return sorted(n for n in names if registry.has_model(n))


def default_base(registry: Registry) -> str | None:
    """The revision ``check`` judges by when none is given: off the protected branch (on
    another branch, or a detached HEAD as CI checks out), where HEAD forked from the protected
    branch (``git merge-base``), which is what its pull request will be judged by; on the
    protected branch (or with no protected branch in this clone), None: the work tree's own
    rules, so a rule's author sees an edit's effect before proposing it."""
    if not registry.git.head():
        return None
    try:
        name = protected_branch(registry)
        ref = protected_ref(registry.git, name)
    except ModelregError:
        return None
    if registry.git.branch() == name:
        return None
    fork = registry.git.run("merge-base", "HEAD", ref, check=False).strip()
    return fork or None


def check(registry: Registry, *, stage: str | None = None, changed_since: str | None = None,
          base: str | None = None, engine: str | Engine = "auto", opa_url: str | None = None,
          now: _dt.datetime | str | None = None, review: dict[str, Any] | None = None,
          policy_set: PolicySet | None = None, models: list[str] | None = None,
          parallel: bool = True, shard: Shard | None = None,
          remember: bool | None = None) -> CheckResult:
    """Check the registry (or what changed since ``changed_since``, or ``models``) against
    schemas and policy.

    ``base`` is the revision whose rules judge the work tree's records: its policies, policy
    data, schemas and card template (None: the work tree's own); :func:`default_base` is
    the one the command line uses when none is given. ``changed_since`` selects the models
    (those the change since that revision touches), independently of ``base``.
    ``engine`` is an engine name or an already loaded :class:`Engine` (reused across calls).
    ``review`` is the pull request's sign-off evidence; without it, a version that holds a
    stage is judged with the evidence its stage tag recorded (so a stage held without
    recorded approvals fails), and other versions without approval rules.
    ``shard`` checks one shard of every model (:mod:`modelreg.core.shards`); the result
    records what :func:`merge` needs to put the shards back together as the full check.
    ``remember``: read and write the cache under ``.git/modelreg/cache`` (None: for a
    full check, a shard, or more than a few models; a pull request's check of one model
    computes faster than it reads a large registry's cache).
    Raises :class:`CannotRunError` when the policies cannot be evaluated; never passes silently.
    """
    if shard is not None:
        if changed_since is not None or models is not None:
            raise UsageError("a shard is a part of the full check: it takes no "
                             "--changed-since (nor a list of models)",
                             hint="a pull request's check (--changed-since) is already "
                                  "small: run it whole, without --shard")
        mine = [name for name in registry.model_names() if shard.holds(name)]
        result = check(registry, stage=stage, base=base, engine=engine, opa_url=opa_url,
                       now=now, review=review, policy_set=policy_set, models=mine,
                       parallel=parallel, remember=True if remember is None else remember)
        return replace(result, shard=shard, commit=registry.git.head())
    if remember is None and models is None and not changed_since:
        remember = True                       # the full check: what the cache is for
    stamp = timefmt.stamp(now)
    judge = registry.at(base) if base else registry
    try:
        config = judge.config
    except ConfigError as exc:
        # the rules' own data is wrong: report where, before judging anything with it
        files = len({f.file for f in exc.findings})
        return CheckResult(Report("check", files, exc.findings), stage=stage,
                           changed_since=changed_since, base=judge.rev,
                           shared=tuple(exc.findings), shared_files=files)
    if stage is not None:
        config.check_stage(stage)
    if policy_set is None:
        policy_set = load_policy_set(judge)
    proposed = proposed_data_findings(registry, judge) if judge is not registry else []
    tracked, untracked = work_tree_changes(registry.git, changed_since)
    changes = sorted(set(tracked) | set(untracked))
    if models is not None:
        for name in models:
            if not registry.has_model(name):
                raise UsageError(f"no model named {name!r}", hint="`modelreg ls` lists the models")
        names = sorted(set(models))
    else:
        names = touched_models(registry, changes) if changed_since else registry.model_names()
    workers = min(os.cpu_count() or 1, 8)
    if parallel and isinstance(engine, str) and len(names) >= PARALLEL_FROM and workers > 1:
        return _check_parallel(registry, names, workers, stage=stage,
                               changed_since=changed_since, base=judge.rev, engine=engine,
                               opa_url=opa_url, now=stamp, review=review, remember=remember)
    # one for-each-ref for many models; a few models ask only for their own tags
    states = registry.states() if len(names) > 20 else {n: registry.state(n) for n in names}
    scope, pull_request = _pull_request(registry, names, changed_since, tracked, review)
    result = evaluate(registry, names, judge=judge, stage=stage, states=states, review=review,
                      # the policies judge what git tracks: an untracked file is in no
                      # commit (ART-03)
                      change={"base": changed_since, "files": tracked}, engine=engine,
                      opa_url=opa_url, now=stamp, policy_set=policy_set,
                      freshness=partial(cards.stale_findings, judge),
                      scope=scope, pull_request=pull_request, remember=remember)
    cards.save_caches()
    # the recorded scans are not taken on trust: the weights that are here are scanned again
    found = result.findings + proposed + rescan_findings(registry, names)
    report = Report("check", result.files, tuple(sorted(found, key=Finding.sort_key)))
    return CheckResult(report, tuple(sorted(result.waived, key=lambda w: w.finding.sort_key())),
                       result.engine, stage, tuple(names), result.documents, changed_since,
                       base=judge.rev, shared=tuple(proposed))


class _ProposedData:
    """The work tree's ``policies/data`` read against the judge's ``schemas/data``."""

    def __init__(self, records: Registry, judge: Registry) -> None:
        self.records, self.judge = records, judge

    def _view(self, rel_path: str) -> Registry:
        return self.records if rel_path.startswith(f"{DATA_DIR}/") else self.judge

    def load(self, rel_path: str) -> Any:
        return self._view(rel_path).load(rel_path)

    def read_bytes(self, rel_path: str) -> bytes:
        return self._view(rel_path).read_bytes(rel_path)

    def list_dir(self, rel_path: str) -> list[str]:
        return self._view(rel_path).list_dir(rel_path)


def proposed_data_findings(records: Registry, judge: Registry) -> list[Finding]:
    """The change's own policy data, checked as a record (ID-00, ID-01) by the judge's data
    schemas: it does not judge this change, but it will judge the next ones once merged, so a
    broken file fails the pull request that brings it, not every one after it."""
    if records.tree.kind(DATA_DIR) is None:
        return []
    try:
        RegistryConfig.load(_ProposedData(records, judge))
    except ConfigError as exc:
        return list(exc.findings)
    except CannotRunError as exc:
        return [Finding(exc.file or DATA_DIR, "ID-00", exc.message, line=exc.line)]
    return []


def _pull_request(registry: Registry, names: list[str], changed_since: str | None,
                  tracked: list[str], review: dict[str, Any] | None
                  ) -> tuple[dict[str, set[str]] | None, dict[str, Any] | None]:
    """What the pull request changes (``changed_since`` is its base): per model, the versions
    its review is the sign-off of; and the change as one document (GOV-09 over every changed
    path, RISK-03). Without a base or a review there is no sign-off to scope: every version
    keeps the evidence its tags recorded, or the review counts for all, as before."""
    if not changed_since or review is None:
        return None, None
    base_commit = merge_base(registry, changed_since)
    base = registry.at(base_commit) if base_commit else None
    files = sorted(set(tracked) | set(review.get("owners") or {}))
    # only a model whose folder changed can have a changed version (a policy change that
    # judges every model again reads no stages.yaml twice)
    folders = {f.split("/")[1] for f in files if f.startswith(f"{MODELS_DIR}/") and
               f.count("/") >= 2}
    scope = {name: changed_versions(base, registry, name, files) if name in folders else set()
             for name in names}
    return scope, change_document(base, registry, base_ref=changed_since, files=files,
                                  review=review, generated=_generated(registry, base, files))


def _generated(registry: Registry, base: Registry | None, files: list[str]) -> list[str]:
    """Changed files that are exactly what modelreg generates from the registry: CODEOWNERS
    rewritten by ``register`` for a new model, and ``dvc.yaml`` declaring the versions the
    pull request registers. Their inputs (policy data, each model's owner.team, the version
    records) have owners of their own; a hand edit is not generated and needs governance."""
    out = []
    if CODEOWNERS in files and registry.is_file(CODEOWNERS):
        try:
            if registry.read_text(CODEOWNERS) == generate_codeowners(registry).text:
                out.append(CODEOWNERS)
        except ModelregError:
            pass
    if dvcyaml.PATH in files and _declares_registrations(registry, base, files):
        out.append(dvcyaml.PATH)
    return out


def _declares_registrations(registry: Registry, base: Registry | None, files: list[str]
                            ) -> bool:
    """``dvc.yaml`` is the base's with exactly the entries ``register`` writes for the
    versions this pull request adds, and nothing else changed. A model with several new
    versions (``import``) is declared as its highest one, which was registered last."""
    added: dict[str, list[str]] = {}
    for path in files:
        parts = path.split("/")
        if (len(parts) == 4 and parts[0] == MODELS_DIR and parts[2] == "versions"
                and parts[3].endswith(".yaml") and registry.is_file(path)
                and not (base is not None and base.is_file(path))):
            added.setdefault(parts[1], []).append(parts[3][:-len(".yaml")])
    if not registry.is_file(dvcyaml.PATH):
        return False
    try:
        current = base.read_text(dvcyaml.PATH, max_bytes=dvcyaml.MAX_BYTES) \
            if base is not None and base.is_file(dvcyaml.PATH) else None
        latest = {name: max(versions, key=semver_key) for name, versions in added.items()}
        entries = {name: dvcyaml.declaration(name, registry.model(name).data, version,
                                             registry.version(name, version).data)
                   for name, version in latest.items()}
        return registry.read_text(dvcyaml.PATH, max_bytes=dvcyaml.MAX_BYTES) == \
            dvcyaml.render(current, entries)
    except ModelregError:
        return False


PARALLEL_FROM = 200    # models; below this one process is faster than a pool


def _check_parallel(registry: Registry, names: list[str], workers: int, **kw: Any
                    ) -> CheckResult:
    """Big registries: each process reads and checks a share of the models, a batch of
    models per engine call (parsing YAML and evaluating Rego are CPU-bound)."""
    from concurrent.futures import ProcessPoolExecutor  # noqa: PLC0415 - process pools only for big registries

    chunks = [names[i::workers] for i in range(workers)]
    with ProcessPoolExecutor(workers) as pool:
        parts = list(pool.map(_check_chunk, [str(registry.root)] * workers, chunks,
                              [kw] * workers))
    findings = [f for p in parts for f in p.report.findings]
    waived = [w for p in parts for w in p.waived]
    report = Report("check", sum(p.report.files for p in parts),
                    tuple(sorted(dedupe(findings), key=Finding.sort_key)))
    return CheckResult(report, tuple(sorted(waived, key=lambda w: w.finding.sort_key())),
                       parts[0].engine, kw.get("stage"), tuple(names),
                       sum(p.documents for p in parts), kw.get("changed_since"),
                       base=kw.get("base"), shared=parts[0].shared)


def merge(reports: list[tuple[str, str]]) -> CheckResult:
    """The shards' reports (``(file name, JSON text)``, one per shard of ``check --shard``)
    put back together: the report the whole check gives, registry-wide findings once.

    A file that is not a shard's report is a :class:`UsageError`; shards that do not make one
    check (one missing or given twice, another shard count, release, commit, base, stage or
    engine) a :class:`CannotRunError`, each naming the files.
    """
    if not reports:
        raise UsageError("no shard reports to merge", hint="give every shard's JSON report")
    parts = sorted((_shard_report(name, text) for name, text in reports),
                   key=lambda p: p.index)
    first = parts[0]
    for key, what in (("count", "a different shard count"), ("version", "another modelreg"),
                      ("commit", "another commit"), ("base", "another base"),
                      ("stage", "another --stage")):
        odd = [p for p in parts if getattr(p, key) != getattr(first, key)]
        if odd:
            raise CannotRunError(
                f"the shard reports are not of one check: {odd[0].file} is from {what} "
                f"({getattr(odd[0], key)!r}) than {first.file} ({getattr(first, key)!r})",
                hint="merge the reports of one run: every shard of the same commit, base and "
                     "modelreg release, with the same --shard N and --stage")
    if first.version != __version__:
        raise CannotRunError(f"{first.file} was written by modelreg {first.version}, this is "
                             f"modelreg {__version__}",
                             hint="merge with the release that checked the shards")
    seen: dict[int, str] = {}
    for p in parts:
        if p.index in seen:
            raise CannotRunError(f"shard {p.index}/{p.count} is given twice: {seen[p.index]} "
                                 f"and {p.file}", hint="give each shard's report once")
        seen[p.index] = p.file
    missing = [str(k) for k in range(1, first.count + 1) if k not in seen]
    if missing:
        raise CannotRunError(f"shard{'s' if len(missing) > 1 else ''} {', '.join(missing)} of "
                             f"{first.count} missing: the merged report would leave out "
                             "models", hint="give every shard's report (a shard that failed "
                                            "to run must be run again)")
    owner: dict[str, str] = {}
    for p in parts:
        for name in p.models:
            if shard_of(name, p.count) != p.index or name in owner:
                raise CannotRunError(f"{p.file}: model {name!r} does not belong to shard "
                                     f"{p.index}/{p.count}",
                                     hint="was this report edited or written by another tool?")
            owner[name] = p.file
        if p.shared_json != first.shared_json or p.shared_files != first.shared_files:
            raise CannotRunError(f"{p.file} and {first.file} disagree on the registry-wide "
                                 "findings (policy data, configuration)",
                                 hint="were the shards checked out of one commit?")
    engines = {p.engine for p in parts if p.documents} or {first.engine}
    if len(engines) > 1:
        raise CannotRunError(f"the shards were evaluated by different engines: "
                             f"{', '.join(sorted(engines))}", hint="run every shard with one "
                                                                   "--engine")
    shared = {_finding(dict(f)).sort_key() for f in first.shared_json}
    findings = list(first.findings)
    files = first.files
    for p in parts[1:]:
        findings += [f for f in p.findings if f.sort_key() not in shared]
        files += p.files - p.shared_files
    notes: list[str] = []
    for p in parts:
        notes += [n for n in p.notes if n not in notes]
    waived = [w for p in parts for w in p.waived]
    report = Report("check", files, tuple(sorted(findings, key=Finding.sort_key)), tuple(notes))
    return CheckResult(report, tuple(sorted(waived, key=lambda w: w.finding.sort_key())),
                       engines.pop(), first.stage, tuple(sorted(owner)),
                       sum(p.documents for p in parts), None, base=first.base,
                       commit=first.commit)


@dataclass(frozen=True)
class _Part:
    """One shard's report, read."""

    file: str
    index: int
    count: int
    version: str
    commit: str | None
    base: str | None
    stage: str | None
    engine: str
    models: tuple[str, ...]
    documents: int
    files: int
    findings: tuple[Finding, ...]
    waived: tuple[Waiver, ...]
    notes: tuple[str, ...]
    shared_json: tuple[tuple[tuple[str, Any], ...], ...]
    shared_files: int


def _shard_report(file: str, text: str) -> _Part:
    def bad(why: str) -> UsageError:
        return UsageError(f"{file}: not the JSON report of one shard of `modelreg check` "
                          f"({why})", hint="give the files `modelreg check --shard K/N "
                                           "--format json` wrote")
    try:
        doc = json.loads(text)
    except ValueError as exc:
        raise bad(f"not JSON: {exc}") from None
    if not isinstance(doc, dict) or doc.get("command") != "check":
        raise bad("no report of modelreg check")
    if "shard" not in doc:
        raise bad("a whole check's report: it has no shard block")
    try:
        shard, chk, tool = doc["shard"], doc["check"], doc["tool"]
        if doc["report_version"] != SHARD_REPORT_VERSION:
            raise bad(f"report_version {doc['report_version']!r}")
        wide = shard["registry_wide"]
        part = _Part(
            file, _int(shard["index"]), _int(shard["count"]), str(tool["version"]),
            shard["commit"], chk["base"], chk["stage"], str(chk["engine"]),
            tuple(str(m) for m in shard["models"]), _int(chk["documents"]),
            _int(doc["summary"]["files"]),
            tuple(_finding(f) for f in doc["findings"]),
            tuple(Waiver(_finding(w), str(w["justification"]), str(w["approved_by"]),
                         str(w["expires"])) for w in doc.get("waived", [])),
            tuple(str(n) for n in doc.get("notes", [])),
            tuple(tuple(sorted(f.items())) for f in wide["findings"]),
            _int(wide["files"]))
        if tuple(chk["models"]) != part.models or chk["changed_since"] is not None:
            raise bad("its shard block does not describe its check")
        Shard(part.index, part.count)
    except (KeyError, TypeError, AttributeError, ModelregError) as exc:
        if isinstance(exc, UsageError) and exc.message.startswith(file):
            raise
        raise bad(f"{type(exc).__name__}: {exc}") from None
    return part


def _int(value: Any) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise TypeError(f"{value!r} is not a count")
    return value


def _finding(doc: Any) -> Finding:
    if not isinstance(doc, dict):
        raise TypeError("a finding is not an object")
    return Finding(str(doc["file"]), str(doc["rule"]), str(doc["message"]),
                   severity=str(doc["severity"]), line=doc.get("line"),
                   model=doc.get("model"), version=doc.get("version"), path=doc.get("path"))


def _check_chunk(root: str, names: list[str], kw: dict[str, Any]) -> CheckResult:
    return check(Registry(Path(root)), models=names, parallel=False, **kw)


__all__ = ["check", "merge", "CheckResult", "Waiver", "changed_files", "default_base", "touched_models"]
