"""Tamper detection: is the registry what its tags say it was? (``modelreg verify``, and
the gate for the model it gates.)

* VER-01 — a version record or one of its ``.dvc`` pointers differs from the blob the
  registration tag's commit holds (registered records are immutable);
* VER-02 — a registry tag does not count (store/trust.py says why: lightweight or borrowed,
  dated in the future, moved since verify last saw it, evidence not bound to the protected
  branch…), a stage tag is not on its version's registration commit, or a stage tag names a
  version whose registration tag was deleted;
* VER-03 — a copy of the weights that is here (work tree, DVC cache, a local DVC remote)
  no longer hashes to the recorded sha256/md5: DVC trusts object names unless
  ``verify = true`` (docs/architecture.md#pitfalls-of-the-tools-underneath), so we re-hash;
* ART-05 — a copy of the weights in the work tree that hashes right scans otherwise than
  its record says (policy/rescan.py: a recorded scan is never taken on trust);
* VER-04 — ``stages.yaml`` asks for a version that was never registered or is deprecated;
* VER-07 — a registry tag is not signed by an allowed signer of ``tag-signing.yaml``
  (unsigned, signed by another key, or changed after signing; store/tagsign.py), unless the
  registry says ``signed_tags: false``.

Findings are data (a :class:`Report`); what cannot be checked at all raises.
"""
from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass
from pathlib import Path

from modelreg.core import tags as tagmod
from modelreg.core.errors import CannotRunError, ModelregError
from modelreg.core.files import hash_file
from modelreg.core.records import Finding, Report
from modelreg.core.tags import Action
from modelreg.core.yamlio import locate
from modelreg.policy.inputs import requested_stages
from modelreg.policy.rescan import compare, rescan_file
from modelreg.store.config import DATA_DIR
from modelreg.store.dvc import object_path, remote_holds, storage
from modelreg.store.git import Ref, read_objects
from modelreg.store.protected import protected_branch, protected_ref
from modelreg.store.registry import MODELS_DIR, Registry, build_states, check_name
from modelreg.store.tagsign import UNSIGNED_REASON, untrusted_signatures
from modelreg.store.trust import record_tags

WORK_TREE = "the work tree"
LOST = "VER-05"             # a registered artifact with no good copy anywhere it can be seen
NOT_IN_REMOTE = "VER-06"    # the remote lacks it, a good copy is here: `dvc push`
UNSIGNED_TAG = "VER-07"     # a registry tag no allowed signer signed (store/tagsign.py)


@dataclass(frozen=True)
class _Stored:
    """An artifact of a registered version: is a good copy here, and does the remote hold
    one?"""

    vrel: str
    model: str
    version: str
    path: str
    pointer: str
    md5: str
    good_here: str | None           # where a copy that hashes right is here, if anywhere
    corrupted_in_remote: bool = False


def _tree_entries(oid: str, raw: bytes) -> list[tuple[str, str, str]] | None:
    """(mode, name, object id) of a tree object's entries; None when one is a folder or the
    object is no tree (its id is not that of a tree with these bytes)."""
    if hashlib.sha1(b"tree %d\0" % len(raw) + raw, usedforsecurity=False).hexdigest() != oid:
        return None
    out, pos = [], 0
    while pos < len(raw):
        space = raw.index(b" ", pos)
        nul = raw.index(b"\0", space)
        mode = raw[pos:space].decode()
        if mode.startswith("40"):
            return None
        out.append((mode, raw[space + 1:nul].decode(errors="replace"),
                    raw[nul + 1:nul + 21].hex()))
        pos = nul + 21
    return out


class _Verifier:
    def __init__(self, registry: Registry, models: list[str] | None, weights: bool,
                 versions: dict[str, list[str]] | None = None, remote: bool = False) -> None:
        self.registry = registry
        self.git = registry.git
        self.weights = weights
        self.remote = remote
        self.findings: list[Finding] = []
        self.notes: list[str] = []
        self.stored: list[_Stored] = []
        self.store = storage(registry.root)
        self.files = 0
        names = models if models is not None else registry.model_names()
        self.models = [check_name(n) for n in names]
        wanted = set(self.models)
        judged = registry.judged
        if judged is not None and registry.trust is not None and [judged[0]] == self.models:
            # the gate just read this model's tags and judged them (Registry.state)
            self.refs = [r for r in judged[1] if (p := tagmod.parse(r.name)) and p.model in wanted]
            self.trust = registry.trust
        else:
            # a few models: ask git for their tags only (a registry holds tens of thousands)
            refs = [r for m in self.models for r in registry.refs(m)] \
                if models is not None and len(self.models) <= 20 else registry.refs()
            self.refs = [r for r in refs if (p := tagmod.parse(r.name)) and p.model in wanted]
            # every tag of these models is judged (store/trust.py), whatever ``versions`` says
            self.trust = registry.classify(self.refs)
        self.states = build_states(self.trust.trusted(self.refs))
        branch = protected_branch(registry)
        try:
            self.protected = protected_ref(self.git, branch)
        except ModelregError as exc:
            raise CannotRunError(f"cannot verify tags: {exc}",
                                 hint=f"fetch the protected branch: git fetch origin {branch}"
                                 ) from exc
        self.branch = branch

    def warn(self, file: str, rule: str, message: str, model: str | None = None) -> None:
        self.findings.append(Finding(file, rule, message, severity="warning", model=model))

    def unread(self) -> None:
        """Tags GTO reads that this registry does not (core/tags.py says why): reported,
        never silently dropped."""
        for name in self.git.run("for-each-ref", "--format=%(refname:lstrip=2)",
                                 "refs/tags/").splitlines():
            if why := tagmod.unread(name):
                self.warn(f"refs/tags/{name}", "VER-02", f"tag {name} is not read: {why}")

    def add(self, file: str, rule: str, message: str, model: str | None = None,
            version: str | None = None, line: int | None = None) -> None:
        self.findings.append(Finding(file, rule, message, line=line, model=model,
                                     version=version))

    # --- (a) and (b): records and tags ---------------------------------------------------
    def tags(self) -> None:
        reg_tags: dict[tuple[str, str], Ref] = {}
        parsed = [(r, tagmod.parse(r.name)) for r in self.refs]
        regs: list[tuple[Ref, str, str]] = []
        for ref, p in parsed:
            if p.action is Action.REGISTER:
                reg_tags[(p.model, p.version)] = ref
        try:
            known: set[str] | None = set(self.registry.config.stage_names)
        except ModelregError:
            known = None                              # validate reports the configuration
        for ref, p in parsed:
            where = f"refs/tags/{ref.name}"
            if p.stage and known is not None and p.stage not in known:
                self.warn(where, "VER-02", f"tag {ref.name} names stage {p.stage!r}, which "
                          f"{DATA_DIR}/environments.yaml does not list: no stage policy "
                          "or gate applies to it", p.model)
            verdict = self.trust.get(ref.name)
            # a missing or foreign signature is VER-07's (signatures())
            reasons = [r for r in verdict.reasons if not r.startswith(UNSIGNED_REASON)] \
                if verdict is not None else []
            if reasons:
                self.add(where, "VER-02", f"tag {ref.name} does not count: "
                         + "; ".join(reasons), p.model)
            if p.action is Action.REGISTER:
                regs.append((ref, p.model, p.version))
            elif p.action in (Action.ASSIGN, Action.UNASSIGN) and ref.annotated:
                version = tagmod.evidence_field(ref.message, "version")
                if not version:
                    continue
                reg = reg_tags.get((p.model, version))
                if reg is None:
                    self.add(where, "VER-02", f"tag {ref.name} puts {p.model} {version} in "
                             f"{p.stage}, but the registration tag "
                             f"{tagmod.registration(p.model, version)} does not exist (deleted?)",
                             p.model, version)
                elif reg.target != ref.target:
                    self.add(where, "VER-02", f"tag {ref.name} points at {ref.target[:12]}, not "
                             f"at {p.model} {version}'s registration commit {reg.target[:12]}: "
                             "one of them was moved", p.model, version)
        self._registrations(regs)

    def signatures(self) -> None:
        """VER-07: every annotated registry tag signed by an allowed signer (lightweight and
        borrowed tags are VER-02's)."""
        untrusted = untrusted_signatures(self.registry, self.refs,
                                         signing=self.registry.tag_signing())
        for ref in self.refs:
            if ref.name in untrusted:
                p = tagmod.parse(ref.name)
                self.add(f"refs/tags/{ref.name}", UNSIGNED_TAG,
                         f"tag {ref.name} is {untrusted[ref.name]}",
                         p.model if p else None, p.version if p else None)
    def remember(self) -> None:
        """Record the trusted tags' objects: a tag moved or made again later is caught."""
        record_tags(self.git, [r for r in self.refs
                               if (v := self.trust.get(r.name)) is not None and v.trusted])

    def _registrations(self, regs: list[tuple[Ref, str, str]]) -> None:
        """Each registered version's record and pointers as its registration tag's commit
        holds them, against the files here: every commit's listing through one
        ``cat-file`` process and every file here hashed by one ``hash-object``."""
        git = self.git
        requests: list[tuple[str, str]] = []
        for ref, model, version in regs:
            vrel = f"{MODELS_DIR}/{model}/versions/{version}"
            requests += [("info", f"{ref.target}:{vrel}.yaml"), ("contents", f"{ref.target}:{vrel}")]
        answers = read_objects(git, requests)
        plans: list[tuple[Ref, str, str, dict[str, str], dict[str, Path]]] = []
        for i, (ref, model, version) in enumerate(regs):
            vrel = f"{MODELS_DIR}/{model}/versions/{version}.yaml"
            record, folder = answers[2 * i], answers[2 * i + 1]
            if record is None:
                continue                 # the trust verdict says it does not add the file
            tagged = {vrel: record[0]}
            listing = _tree_entries(*folder) if folder is not None and folder[1] else []
            if listing is None:          # a folder inside: as ls-tree -r lists it
                tagged = self._listing(ref, model, version)
            else:
                for mode, name, oid in listing:
                    if name.endswith(".dvc") and not mode.startswith("40"):
                        tagged[f"{MODELS_DIR}/{model}/versions/{version}/{name}"] = oid
            root = self.registry.root
            current = {p: root / p for p in tagged}
            vdir = root / MODELS_DIR / model / "versions" / version
            if vdir.is_dir():
                for e in os.scandir(vdir):
                    if e.name.endswith(".dvc"):
                        current.setdefault(f"{MODELS_DIR}/{model}/versions/{version}/{e.name}",
                                           Path(e.path))
            plans.append((ref, model, version, tagged, current))
        present = [(p, f) for *_, current in plans for p, f in current.items()
                   if f.is_file() and not f.is_symlink()]
        hashed = git.run("hash-object", "--stdin-paths",
                         input="".join(f"{f}\n" for _, f in present)).split() if present else []
        blobs = {str(f): h for (_, f), h in zip(present, hashed)}
        for ref, model, version, tagged, current in plans:
            self.files += len(current)
            for path in sorted(current):
                now = blobs.get(str(current[path]))
                if now is None:
                    self.add(path, "VER-01", f"{path} was deleted after its registration tag "
                             f"{ref.name}: registered records are immutable", model, version)
                elif path not in tagged:
                    self.add(path, "VER-01", f"{path} was added after the registration tag "
                             f"{ref.name}: a registered version's weights cannot change",
                             model, version)
                elif now != tagged[path]:
                    self.add(path, "VER-01", f"{path} changed after its registration tag "
                             f"{ref.name} (blob {tagged[path][:12]} then, {now[:12]}"
                             " now): registered records are immutable; register a new version",
                             model, version)

    def _listing(self, ref: Ref, model: str, version: str) -> dict[str, str]:
        vrel = f"{MODELS_DIR}/{model}/versions/{version}.yaml"
        listing = self.git.run("ls-tree", "-r", ref.target, "--", vrel,
                               f"{MODELS_DIR}/{model}/versions/{version}/")
        tagged: dict[str, str] = {}
        for line in listing.splitlines():
            meta, _, path = line.partition("\t")
            if path == vrel or path.endswith(".dvc"):
                tagged[path] = meta.split()[2]
        return tagged

    # --- (c): the weights ------------------------------------------------------------------
    def weights_of(self, model: str, versions: list[str] | None = None) -> None:
        """Re-hash every copy of the weights that is here (VER-03, ART-05), and remember the
        artifacts of registered versions for :meth:`stored_weights`."""
        registry = self.registry
        store = self.store
        stores = [("DVC cache", store.cache)]
        if store.folder is not None:
            stores.append((f"DVC remote {store.remote!r}", store.folder))
        state = self.states.get(model)
        registered = set(state.registered) if state else set()
        for version in versions if versions is not None else registry.version_names(model):
            vrel = f"{MODELS_DIR}/{model}/versions/{version}.yaml"
            try:
                record = registry.load(vrel).data
            except ModelregError:
                continue                              # unreadable: validate's finding
            for art in (record or {}).get("artifacts") or [] if isinstance(record, dict) else []:
                if not isinstance(art, dict):
                    continue
                md5, sha = str(art.get("md5", "")), str(art.get("sha256", ""))
                if not re.fullmatch(r"[0-9a-f]{32}", md5):
                    continue
                copies = []
                path = str(art.get("path", ""))
                if path.startswith(f"{MODELS_DIR}/{model}/versions/{version}/") and \
                        ".." not in path.split("/"):
                    copies.append((WORK_TREE, registry.root / path))
                copies += [(label, object_path(folder, md5)) for label, folder in stores]
                good_here, corrupted_in_remote = None, False
                for label, copy in copies:
                    if not copy.is_file():
                        continue
                    self.files += 1
                    got = hash_file(copy)
                    if got.md5 != md5 or (sha and got.sha256 != sha):
                        shown = os.path.relpath(copy, registry.root)
                        self.add(vrel, "VER-03", f"{label} holds {path} ({shown}) with sha256 "
                                 f"{got.sha256[:16]}…, not the recorded {sha[:16]}…: the weights "
                                 "were corrupted or replaced; do not deploy them", model, version)
                        corrupted_in_remote |= label.startswith("DVC remote")
                        continue
                    if not label.startswith("DVC remote"):
                        good_here = good_here or label
                    if label == WORK_TREE:
                        # the recorded scan is not taken on trust (ART-05)
                        now = rescan_file(copy, copy.name, sha256=got.sha256)
                        self.findings.extend(compare(vrel, art, now, name=model,
                                                     version=version))
                if version in registered:
                    pointer = str(art.get("dvc_file") or f"{path}.dvc")
                    self.stored.append(_Stored(vrel, model, version, path, pointer, md5,
                                               good_here, corrupted_in_remote))

    def stored_weights(self) -> None:
        """Does the default DVC remote hold every artifact of every registered version?
        A local remote is looked at (its copies were re-hashed above); another (S3, …) is
        asked through DVC with ``remote``, and not contacted otherwise. An artifact of a
        version that is not registered yet (a pull request's) is not asked for: its pull
        request's check pulls it. When a remote was never pushed to, or lost an object,
        the two look the same here, and the finding says both."""
        store = self.store
        if (store.remote is None or store.url is None) and self.remote:
            raise CannotRunError("there is no DVC remote to ask: no default remote (with a url) "
                                 "is configured in .dvc/config",
                                 hint="add one with `dvc remote add -d NAME URL`, or run "
                                      "verify without --remote")
        if store.remote is None or store.url is None:
            self.notes.append("no default DVC remote is configured: the weights were checked "
                              "only in the DVC cache and the work tree")
            return
        where = f"the DVC remote {store.remote!r} ({store.url})"
        if not self.stored:
            return
        if store.folder is not None:
            if not store.folder.is_dir():
                raise CannotRunError(
                    f"{where} is not here: its folder {store.folder} does not exist, so the "
                    "registered weights in it cannot be checked",
                    hint="mount the remote or fix its url in .dvc/config (`dvc remote list`), "
                         "or leave the weights out with --no-weights")
            held = {s.md5 for s in self.stored
                    if object_path(store.folder, s.md5).is_file() and not s.corrupted_in_remote}
        elif self.remote:
            held = remote_holds(self.registry.root, (s.md5 for s in self.stored))
            self.notes.append(f"{where} was asked whether it holds the "
                              f"{len({s.md5 for s in self.stored})} registered weights file(s); "
                              "it was not downloaded from, so its copies were not re-hashed "
                              "(`dvc pull` re-hashes what it downloads, verify = true)")
        else:
            self.notes.append(f"{where} was not contacted (verify works offline unless asked): "
                              "registered weights missing from it are not reported; run "
                              "`modelreg verify --remote` to ask it")
            return
        name = store.remote
        for s in self.stored:
            if s.md5 in held:
                continue
            if s.corrupted_in_remote:
                # `dvc push` skips an object the remote has by name: the bad one goes first
                lacks = f"the DVC remote {name!r} holds a corrupted copy of {s.path} (md5 {s.md5})"
                push = f"remove the corrupted object from the remote, then run `dvc push {s.pointer}`"
                cause = "its copy was corrupted or replaced"
            else:
                lacks = f"the DVC remote {name!r} does not hold {s.path} (md5 {s.md5})"
                push = f"run `dvc push {s.pointer}`"
                cause = ("it was never pushed or the remote lost it (a `dvc pull` with verify = "
                         "true deletes a corrupted object from a local remote)")
            if s.good_here:
                self.add(s.vrel, NOT_IN_REMOTE, f"{lacks}, so nobody else can pull it; "
                         f"{s.good_here} here holds a good copy: {push}", s.model, s.version)
            else:
                self.add(s.vrel, LOST, f"{lacks}, and no good copy is here either (DVC cache, "
                         f"work tree): {cause}; from a clone that still has a good copy "
                         f"{push}, or register the weights again as a new version",
                         s.model, s.version)

    # --- (d): stages.yaml --------------------------------------------------------------------
    def stages(self, model: str) -> None:
        registry = self.registry
        rel = f"{MODELS_DIR}/{model}/stages.yaml"
        if not (registry.root / rel).is_file():
            return
        try:
            doc = registry.load(rel)
        except ModelregError:
            return                                    # validate reports it (ID-00)

        data = doc.data if isinstance(doc.data, dict) else {}
        requested, _ = requested_stages(data)
        state = self.states.get(model)
        registered = set(state.registered) if state else set()
        ever = {e.version for e in state.events if e.action is Action.REGISTER} if state else set()
        deprecated = {str(v) for v in data.get("deprecated_versions") or []}
        self.files += 1
        for stage, version in sorted(requested.items()):
            line = locate(doc, ["stages", stage])
            if version not in ever:
                self.add(rel, "VER-04", f"{stage} asks for {model} {version}, which was never "
                         "registered (no registration tag)", model, version, line)
            elif version not in registered or version in deprecated:
                self.add(rel, "VER-04", f"{stage} asks for {model} {version}, which is "
                         "deprecated or deregistered", model, version, line)
        if requested and (data.get("deprecated") is True or (state and state.deprecated)):
            self.add(rel, "VER-04", f"{model} is deprecated but stages.yaml still assigns "
                     "stages", model, None, locate(doc, ["stages"]))


def verify(registry: Registry, models: list[str] | None = None, *, weights: bool = True,
           versions: dict[str, list[str]] | None = None, remote: bool = False) -> Report:
    """Tamper detection over ``models`` (all by default); see the module docstring.

    ``versions`` limits the re-hash of the weights to some versions per model (the gate's);
    every tag of the models is judged all the same. ``remote`` asks a default DVC remote that is not a local
    folder (S3, …) whether it holds the registered weights; without it that remote is not
    contacted, and the report's notes say so."""
    v = _Verifier(registry, models, weights, versions, remote)
    v.tags()
    v.signatures()
    v.remember()
    if models is None:
        v.unread()
    for model in v.models:
        v.stages(model)
        if weights:
            v.weights_of(model, (versions or {}).get(model))
    if weights:
        v.stored_weights()
    unique = {(f.file, f.line, f.rule, f.message): f for f in v.findings}
    return Report("verify", v.files, tuple(sorted(unique.values(), key=Finding.sort_key)),
                  notes=tuple(v.notes))


__all__ = ["LOST", "NOT_IN_REMOTE", "UNSIGNED_TAG", "verify"]
