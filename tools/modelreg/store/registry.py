"""Reading the registry: models, versions and what the tags say about them.

Everything here reads; nothing prints. Files come from the work tree or any commit (see
``store/tree.py``); tags from one ``git for-each-ref`` call, never one git call per tag.
"""
from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cached_property, lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import semver

from modelreg.core import tags as tagmod
from modelreg.core.errors import InputError, ModelregError, UsageError
from modelreg.core.records import Artifact, Event, ModelState, Resolution
from modelreg.core.tags import Action
from modelreg.core.timefmt import When, parse_when
from modelreg.core.yamlio import MAX_BYTES, Document, decode, parse_text
from modelreg.store.cache import ContentCache, digest, release_salt
from modelreg.store.firstparent import state_dir
from modelreg.store.git import Git, Ref, RefMemo
from modelreg.store.tree import CommitTree, Tree, WorkTree
from modelreg.store.trust import Trust, Verdict, classify

if TYPE_CHECKING:
    from modelreg.store.config import RegistryConfig, TagSigning

MODELS_DIR = "models"


def check_name(name: str) -> str:
    if not tagmod.NAME_RE.match(name or ""):
        raise UsageError(
            f"invalid model name {name!r}",
            hint="use 2-63 lower-case letters, digits and dashes, starting with a letter or digit")
    return name


def check_version(version: str, *, new: bool = False) -> str:
    """``version`` as X.Y.Z. A leading ``v`` is accepted when naming an existing version
    (``show NAME@v1.0.0``) but refused for a ``new`` one: it would be recorded without it."""
    if version.startswith("v") and tagmod.SEMVER_RE.match(version[1:]):
        if new:
            raise UsageError(f"invalid version {version!r}: a version is X.Y.Z, without a 'v'",
                             hint=f"use {version[1:]}")
        version = version[1:]
    if not tagmod.SEMVER_RE.match(version or ""):
        raise UsageError(f"invalid version {version!r}: not SemVer",
                         hint="use MAJOR.MINOR.PATCH, e.g. 1.4.0")
    return version


@lru_cache(maxsize=65536)
def semver_key(version: str) -> tuple:
    """A sort key with SemVer 2.0 precedence, cheap to compare (a registry sorts tens of
    thousands of versions): a pre-release sorts before its release, numeric identifiers
    numerically and before alphanumeric ones; build metadata is ignored."""
    v = semver.Version.parse(version)
    if not v.prerelease:
        return (v.major, v.minor, v.patch, 1, ())
    return (v.major, v.minor, v.patch, 0,
            tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in v.prerelease.split(".")))


def sort_versions(versions: Iterable[str]) -> list[str]:
    return sorted(versions, key=semver_key)


@dataclass(frozen=True)
class Model:
    name: str
    path: str                      # models/NAME/model.yaml, relative to the root
    data: dict[str, Any]


@dataclass(frozen=True)
class Version:
    model: str
    version: str
    path: str                      # models/NAME/versions/X.Y.Z.yaml
    data: dict[str, Any]


def build_states(refs: list[Ref], at: int | None = None) -> dict[str, ModelState]:
    """Replay registry tags into per-model states with GTO's semantics, up to time ``at``.

    Every tag form GTO writes is read (``core/tags.py``). A stage tag names its version in
    its evidence, or else (GTO's way) by its commit: the version registered there."""
    events_by_model: dict[str, list[Event]] = {}
    version_at_commit: dict[tuple[str, str], str] = {}
    parsed_refs = []
    for ref in refs:
        parsed = tagmod.parse(ref.name)
        if parsed is None:
            continue
        parsed_refs.append((ref, parsed))
        if parsed.action is Action.REGISTER:
            version_at_commit[(parsed.model, ref.target)] = parsed.version  # type: ignore[assignment]
        elif parsed.action is Action.DEREGISTER:
            version_at_commit.setdefault((parsed.model, ref.target), parsed.version)  # type: ignore[arg-type]
    staged = (Action.ASSIGN, Action.UNASSIGN)
    evidence_field = tagmod.evidence_field
    for ref, parsed in parsed_refs:
        if at is not None and ref.time > at:
            continue
        version = parsed.version
        annotated = ref.object_type == "tag" and ref.tag_name == ref.name   # Ref.annotated
        if parsed.action in staged:
            claimed = evidence_field(ref.message, "version") if annotated else None
            version = claimed or version_at_commit.get((parsed.model, ref.target))
        events = events_by_model.get(parsed.model)
        if events is None:
            events = events_by_model[parsed.model] = []
        # positional, in Event's field order (a named tuple: 12,000 per listing)
        events.append(Event(parsed.action, parsed.model, ref.name, ref.target, ref.time,
                            ref.tagger_name, ref.tagger_email, annotated, version,
                            parsed.stage, parsed.counter or 0, ref.message, ref.object))
    states = {}
    for model, events in events_by_model.items():
        states[model] = _replay(model, events)
    return states


def _replay(model: str, events: list[Event]) -> ModelState:
    """One model's state from its events, as GTO 1.10 derives it:

    * a version is registered while its last registration event (in ``Event.sort_key``
      order) is a registration; a deregistered version holds no stage and is never latest;
    * a (stage, version) pair is active while its last stage event is an assignment;
    * a stage is held by the registered version of an active pair whose latest assignment
      is the newest; in a tie (the same second) GTO keeps the version registered earlier,
      then the one it met first;
    * a model is deprecated while a deprecation is its last event.
    """
    events.sort(key=Event.sort_key)
    registered: dict[str, bool] = {}
    reg_time: dict[str, int] = {}                 # latest registration of each version
    met: dict[str, int] = {}       # the order GTO meets versions in: by time, then tag name
    for ev in sorted((e for e in events if e.action in (Action.REGISTER, Action.DEREGISTER)),
                     key=lambda e: (e.time, e.tag)):
        if ev.version:
            met.setdefault(ev.version, len(met))
    last: dict[tuple[str, str], tuple[bool, int]] = {}   # (stage, version) -> (active, time)
    deprecated = False
    for ev in events:
        version = ev.version
        if ev.action in (Action.REGISTER, Action.DEREGISTER) and version:
            registered[version] = ev.action is Action.REGISTER
            if ev.action is Action.REGISTER:
                reg_time[version] = ev.time
        elif ev.action in (Action.ASSIGN, Action.UNASSIGN) and version and ev.stage:
            last[(ev.stage, version)] = (ev.action is Action.ASSIGN, ev.time)
        deprecated = ev.action is Action.DEPRECATE
    stages: dict[str, tuple[tuple, str]] = {}
    for (stage, version), (active, when) in last.items():
        if not (active and registered.get(version, False)):
            continue
        key = (when, -reg_time.get(version, 0), -met.get(version, 0))
        if stage not in stages or key > stages[stage][0]:
            stages[stage] = (key, version)
    live = [v for v, ok in registered.items() if ok and tagmod.SEMVER_RE.match(v)]
    gone = [v for v, ok in registered.items() if not ok and tagmod.SEMVER_RE.match(v)]
    return ModelState(model=model, registered=tuple(sort_versions(live)),
                      stages={s: v for s, (_, v) in sorted(stages.items())},
                      deprecated=deprecated, events=tuple(events),
                      deregistered=tuple(sort_versions(gone)))


class Registry:
    """The registry at one revision: the work tree (:func:`open_registry`) or any commit
    (:meth:`at`). Every file read goes through its :class:`~modelreg.store.tree.Tree`, so
    each reader works the same on both."""

    def __init__(self, root: Path, tree: Tree | None = None, git: Git | None = None) -> None:
        self.root = root
        self.git = git or Git(root)
        self.tree: Tree = tree or WorkTree(root)
        self.trust: Trust | None = None        # the verdicts of the last state read
        # the model and its refs behind :attr:`trust`, when :meth:`state` read them
        self.judged: tuple[str, list[Ref]] | None = None
        self.newest_tag = 0                    # the latest tag date the last states() read

    @property
    def rev(self) -> str | None:
        """The commit this view reads, or None for the work tree."""
        return self.tree.rev

    def at(self, rev: str) -> Registry:
        """The same registry as it was at ``rev`` (a commit, branch or tag), read from git."""
        commit = self.git.run("rev-parse", "--verify", "-q", f"{rev}^{{commit}}",
                              check=False).strip()
        if not commit:
            raise UsageError(f"{rev}: no such commit",
                             hint="fetch it first (git fetch origin REF)")
        return Registry(self.root, CommitTree(self.git, commit), self.git)

    def close(self) -> None:
        self.tree.close()

    def __enter__(self) -> Registry:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- files -----------------------------------------------------------------------
    def rel(self, path: str | os.PathLike) -> str:
        return os.path.relpath(path, self.root).replace(os.sep, "/")

    def model_names(self) -> list[str]:
        return [name for name, kind in self.tree.listdir(MODELS_DIR)
                if kind == "dir" and not name.startswith(".")]

    def model_dir(self, name: str) -> Path:
        """The model's folder in the work tree (for commands that write)."""
        return self.root / MODELS_DIR / check_name(name)

    def is_file(self, rel_path: str) -> bool:
        return self.tree.kind(rel_path) == "file"

    def exists(self, rel_path: str) -> bool:
        """Whether anything is at ``rel_path``. A folder or a FIFO where a file belongs
        counts: reading it then reports "not a regular file" (ID-00) instead of the file
        looking absent."""
        return self.tree.kind(rel_path) is not None

    def has_model(self, name: str) -> bool:
        return self.exists(f"{MODELS_DIR}/{check_name(name)}/model.yaml")

    def read_bytes(self, rel_path: str) -> bytes:
        """Raw bytes of a registry file, refusing paths that leave the root and anything that
        is not a regular file."""
        return self.tree.read(rel_path)

    def read_text(self, rel_path: str, *, max_bytes: int = MAX_BYTES) -> str:
        """A registry file as UTF-8 text, refusing oversized files."""
        raw = self.tree.read(rel_path)
        if len(raw) > max_bytes:
            raise InputError(f"file is {len(raw)} bytes, over the {max_bytes}-byte limit",
                             file=rel_path, hint="metadata files are small; keep weights "
                             "under DVC")
        return decode(raw, rel_path)

    def load(self, rel_path: str) -> Document:
        """Load a registry file (YAML, or JSON by extension) by its root-relative path."""
        text = self.read_text(rel_path)
        return Document(rel_path, text, parse_text(text, rel_path))

    def list_dir(self, rel_path: str) -> list[str]:
        """Names of the regular files directly in a registry folder, sorted (empty when the
        folder does not exist); symlinks and sub-folders are left out."""
        return sorted(name for name, kind in self.tree.listdir(rel_path) if kind == "file")

    @cached_property
    def config(self) -> RegistryConfig:
        """The registry's configuration (``policies/data``), loaded and checked once."""
        from modelreg.store.config import RegistryConfig  # config reads through Registry  # noqa: PLC0415

        return RegistryConfig.load(self)

    def model(self, name: str) -> Model:
        rel = f"{MODELS_DIR}/{check_name(name)}/model.yaml"
        if not self.exists(rel):
            raise UsageError(f"no model named {name!r}", file=None,
                             hint="`modelreg ls` lists the models")
        doc = self.load(rel)
        data = doc.data if isinstance(doc.data, dict) else {}
        return Model(name, rel, data)

    def version_names(self, name: str) -> list[str]:
        found = []
        for entry, _ in self.tree.listdir(f"{MODELS_DIR}/{check_name(name)}/versions"):
            # a folder or FIFO named X.Y.Z.yaml too: reading it reports what it is
            if entry.endswith(".yaml"):
                v = entry[:-5]
                if tagmod.SEMVER_RE.match(v):
                    found.append(v)
        return sort_versions(found)

    def version(self, name: str, version: str) -> Version:
        version = check_version(version)
        rel = f"{MODELS_DIR}/{check_name(name)}/versions/{version}.yaml"
        if not self.exists(rel):
            raise UsageError(f"{name} has no version {version}",
                             hint=f"`modelreg show {name}` lists its versions")
        doc = self.load(rel)
        return Version(name, version, rel, doc.data if isinstance(doc.data, dict) else {})

    def stages_file(self, name: str) -> dict[str, Any] | None:
        rel = f"{MODELS_DIR}/{check_name(name)}/stages.yaml"
        if not self.exists(rel):
            return None
        data = self.load(rel).data
        return data if isinstance(data, dict) else None

    # --- tags ------------------------------------------------------------------------
    def refs(self, model: str | None = None) -> list[Ref]:
        return self.git.refs(tagmod.patterns(model))

    @cached_property
    def _all_refs(self) -> list[Ref]:
        return self.refs()

    # --- which tags count (store/trust.py) ---------------------------------------------
    def protected_branch(self) -> str:
        """The branch stage tags are made on (``environments.yaml``, read alone: listing the
        tags must not wait for the whole configuration to load)."""
        if "config" in self.__dict__:
            return self.config.protected_branch
        from modelreg.store.config import protected_branch_of  # config reads through Registry  # noqa: PLC0415

        return protected_branch_of(self)

    def classify(self, refs: list[Ref], *, full: bool = True) -> Trust:
        """The trust verdict on every registry tag among ``refs`` (``full=False``: some
        were listed with their annotation's subject line only)."""
        messages = None if full else (
            lambda: {r.name: r.message for r in self.git.refs(["refs/tags/*@*"])})
        self.judged = None
        self.trust = classify(self.git, self.protected_branch(), refs, messages=messages)
        signing = self.tag_signing()
        if signing.required:
            # no valid signature of an allowed signer: the tag counts nowhere either
            from modelreg.store.tagsign import untrusted_signatures  # noqa: PLC0415 - it reads the configuration's types, which read through Registry

            ours = [r for r in refs if r.name in self.trust.good or r.name in self.trust.bad]
            for name, why in untrusted_signatures(self, ours, signing=signing).items():
                self.trust.distrust(name, why)
        return self.trust

    def tag_signing(self) -> TagSigning:
        """Who may sign registry tags, as the protected branch says (store/config.py); read
        once per tip of that branch, however many commands of one run ask."""
        from modelreg.store.config import tag_signing_of  # noqa: PLC0415 - config reads through Registry

        branch = self.protected_branch()
        tips = self.git.run("for-each-ref", "--format=%(objectname)", f"refs/heads/{branch}",
                            f"refs/remotes/origin/{branch}").split()
        tip = tips[-1] if tips else None            # origin's copy when there is one
        known = self.__dict__.get("_tag_signing")
        if tip is not None and known is not None and known[0] == tip:
            return known[1]
        signing = tag_signing_of(self, tip)
        self.__dict__["_tag_signing"] = (tip, signing)
        return signing

    def untrusted(self, model: str | None = None) -> list[Verdict]:
        """The untrusted registry tags (of ``model``) the last state read found."""
        return self.trust.untrusted(model) if self.trust is not None else []

    def states_key(self) -> str:
        """A digest of everything :meth:`states` and :attr:`trust` are computed from: the
        names and objects of every tag, the protected branch's name and tips (here and on
        origin: the history tags are bound to, and the tag signers it lists), the ledger of
        tags seen before, and the release. Equal keys give equal states and verdicts, but
        for the clock: a tag dated in the future is judged again once it no longer is, so
        a caller keeps an answer only when :attr:`newest_tag` is not ahead of now."""
        branch = self.protected_branch()
        tips = self.git.run("for-each-ref", "--format=%(refname) %(objectname)",
                            f"refs/heads/{branch}", f"refs/remotes/origin/{branch}")
        tags = self.git.run("for-each-ref", "--format=%(refname) %(objectname)", "refs/tags/")
        folder = state_dir(self.git)
        try:
            ledger = (folder / "ledger.json").read_bytes() if folder is not None else b""
        except OSError:
            ledger = b""
        return digest(release_salt(), branch, tips, ledger, tags)

    def states(self, at: int | None = None, evidence: bool = True) -> dict[str, ModelState]:
        """Every model's state from one ``for-each-ref`` call, from trusted tags only
        (:attr:`trust` holds the verdicts).

        ``evidence=False`` reads full annotations only for stage tags (which may name their
        version there) and just the subject line of the others: a third of the bytes on a
        registry of 10,000 versions, for callers that never look at ``Event.evidence``."""
        if evidence or "_all_refs" in self.__dict__:
            refs = self._all_refs
            trust = self.classify(refs)
        else:
            memo = RefMemo(ContentCache(self.root, "tags"))
            refs = self.git.refs(["refs/tags/*#*"], memo=memo) + \
                self.git.refs(["refs/tags/*@*"], contents=False, memo=memo)
            memo.save()
            trust = self.classify(refs, full=False)
        self.newest_tag = max((r.time for r in refs), default=0)
        return build_states(trust.trusted(refs), at)

    def state(self, name: str, at: When | None = None) -> ModelState:
        """What the trusted tags say about ``name``, now or as of ``at``: unix seconds, a
        ``datetime``, or text as ``--at`` takes it (``2026-11-30`` is the end of that day,
        UTC; RFC 3339 times are exact)."""
        check_name(name)
        refs = self.refs(name)
        trust = self.classify(refs)
        self.judged = (name, refs)
        when = parse_when(at) if at is not None else None
        return build_states(trust.trusted(refs), when).get(
            name, ModelState(name, (), {}, False, ()))

    def artifacts(self, name: str, version: str, commit: str | None = None
                  ) -> tuple[Artifact, ...]:
        """The weights files ``version``'s record lists: from this registry's files, or
        from ``commit`` (the registration's) when they do not hold the record."""
        rel = f"{MODELS_DIR}/{check_name(name)}/versions/{check_version(version)}.yaml"
        data: Any = None
        if self.exists(rel):
            data = self.load(rel).data
        elif commit:
            with self.at(commit) as then:
                if then.exists(rel):
                    data = then.load(rel).data
        listed = data.get("artifacts") if isinstance(data, dict) else None
        return tuple(Artifact.from_record(a) for a in listed or [] if isinstance(a, dict))

    # --- answers ---------------------------------------------------------------------
    def resolve(self, name: str, *, stage: str | None = None,
                version: str | None = None) -> Resolution | None:
        """Which version of ``name`` a stage holds (or check that ``version`` exists).

        Returns None when the stage holds no version. Without ``stage`` or ``version`` it
        resolves the latest registered version.
        """
        if not self.has_model(name):
            raise UsageError(f"no model named {name!r}", hint="`modelreg ls` lists the models")
        state = self.state(name)
        if stage is not None:
            held = state.stages.get(stage)
            if held is None:
                return None
            ev = state.assignment(stage, held)
            reg = next((e for e in state.events
                        if e.action is Action.REGISTER and e.version == held), None)
            return Resolution(name, held, stage, ev.tag if ev else None,
                              ev.commit if ev else None,
                              self.artifacts(name, held, reg.commit if reg else None))
        if version is None:
            # a deregistered version is never the latest, even while its record stays
            candidates = list(state.registered) or [
                v for v in self.version_names(name) if v not in state.deregistered]
            if not candidates:
                return None
            version = candidates[-1]
        version = check_version(version)
        if version not in self.version_names(name) and version not in state.registered:
            raise UsageError(f"{name} has no version {version}")
        reg = next((e for e in state.events
                    if e.action is Action.REGISTER and e.version == version), None)
        return Resolution(name, version, None, reg.tag if reg else None,
                          reg.commit if reg else None,
                          self.artifacts(name, version, reg.commit if reg else None))


def open_registry(path: str | os.PathLike = ".") -> Registry:
    """Open the registry whose git work tree contains ``path``."""
    p = Path(path)
    if not p.exists():
        raise UsageError(f"{path} does not exist")
    root = Git.toplevel(p)
    return Registry(root)


__all__ = ["Registry", "Model", "Version", "open_registry", "build_states", "ModelregError"]
