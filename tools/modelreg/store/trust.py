"""Which registry tags count: every registry ref is trusted, or untrusted with its reasons.

Anyone who may push tags can make one, so a tag counts for state (``ls``, ``show``,
``history``, ``gate``, ``audit``, ``site``, ``reconcile``) only when it is what reconcile
makes, bound to the protected branch:

* an annotated tag whose object names this tag (not lightweight, not another tag's object
  borrowed under a new name), dated no later than a few minutes from now, whose object is
  the one ``verify`` or ``reconcile`` last recorded for that name (the ledger), with an
  evidence block that describes the event its name says;
* a registration ``NAME@vX.Y.Z`` points at a commit on the first-parent history of the
  protected branch that adds ``models/NAME/versions/X.Y.Z.yaml`` (that commit binds it: an
  evidence block, when there is one, must describe it, but none is needed);
* every other event tag (stage assignment and removal, deprecation) records a
  ``merge_commit`` on that first-parent history whose ``models/NAME/stages.yaml`` asks for
  exactly that event; when the evidence records a pull request, the merge's second parent
  is the recorded head. A stage tag recording no pull request (a change pushed straight to
  the protected branch) counts, marked unreviewed: the gate refuses it.

An untrusted tag counts nowhere; read commands show it flagged and ``verify`` reports it.
Every object is read through one ``git cat-file`` process; verdicts are cached under
``.git/modelreg/`` by tag object id (the protected branch only grows, so only positive
answers about it are cached; a date is judged afresh every time).
"""
from __future__ import annotations

import hashlib
import json
import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from modelreg.core import tags as tagmod
from modelreg.core.errors import ModelregError
from modelreg.core.files import write_atomic
from modelreg.core.stages import requested_stages
from modelreg.core.tags import Action
from modelreg.core.timefmt import rfc3339
from modelreg.core.yamlio import parse_yaml
from modelreg.store import cache as cache_mod
from modelreg.store.cache import ContentCache
from modelreg.store.firstparent import FirstParents, state_dir
from modelreg.store.git import Git, Ref, read_objects
from modelreg.store.protected import protected_ref

MODELS_DIR = "models"
#: How far ahead of this machine's clock a tagger's clock may run before the tag is refused.
FUTURE_SKEW = 300
#: Bumped whenever the rules below change: cached verdicts of older rules are not reused.
RULES = "5"
_SHA = re.compile(r"^[0-9a-f]{40}$")
UNREVIEWED = "reached main without a reviewed pull request"
_PLAIN: dict = {"r": [], "u": False, "m": None, "b": ""}


@dataclass(frozen=True)
class Verdict:
    """What one registry ref is worth."""

    tag: str
    model: str
    reasons: tuple[str, ...] = ()
    unreviewed: bool = False        # bound, but no pull request was reviewed (stage tags)
    merge: str | None = None        # the bound merge commit (stage, deprecation tags)

    @property
    def trusted(self) -> bool:
        return not self.reasons

    def to_json(self) -> dict:
        return {"tag": self.tag, "reasons": list(self.reasons)}


class Trust:
    """The verdicts on a set of refs. A trusted tag read from the cache keeps its cached
    entry and becomes a :class:`Verdict` only when asked for (a registry lists tens of
    thousands of them)."""

    def __init__(self) -> None:
        self.bad: dict[str, Verdict] = {}                     # untrusted, by tag name
        self.good: dict[str, tuple[str, bool, str | None]] = {}   # tag -> model, unreviewed, merge

    def add(self, verdict: Verdict) -> None:
        if verdict.trusted:
            self.good[verdict.tag] = (verdict.model, verdict.unreviewed, verdict.merge)
        else:
            self.bad[verdict.tag] = verdict

    def distrust(self, tag: str, reason: str) -> None:
        """One more reason not to count ``tag`` (a check made outside this module: the
        signature, store/tagsign.py)."""
        verdict = self.get(tag)
        if verdict is not None:
            self.good.pop(tag, None)
            self.bad[tag] = Verdict(tag, verdict.model, (*verdict.reasons, reason),
                                    verdict.unreviewed, verdict.merge)

    def trusted(self, refs: Iterable[Ref]) -> list[Ref]:
        """``refs`` without the untrusted registry tags (other refs pass through)."""
        bad = self.bad
        return [ref for ref in refs if ref.name not in bad] if bad else list(refs)

    def untrusted(self, model: str | None = None) -> list[Verdict]:
        return sorted((v for v in self.bad.values() if model is None or v.model == model),
                      key=lambda v: v.tag)

    def untrusted_by_model(self) -> dict[str, list[Verdict]]:
        out: dict[str, list[Verdict]] = {}
        for v in self.untrusted():
            out.setdefault(v.model, []).append(v)
        return out

    def get(self, tag: str) -> Verdict | None:
        if tag in self.bad:
            return self.bad[tag]
        if tag in self.good:
            model, unreviewed, merge = self.good[tag]
            return Verdict(tag, model, (), unreviewed, merge)
        return None


# --- the ledger: tag name -> the object verify or reconcile saw ------------------------------
class Ledger:
    """``.git/modelreg/ledger.json``: the object each registry tag had when ``verify`` (or
    ``reconcile``, after making it) last saw it trusted. A tag whose object differs since was
    moved, or deleted and made again. The first object recorded for a name stays."""

    def __init__(self, git: Git) -> None:
        folder = state_dir(git)
        self.path = folder / "ledger.json" if folder else None
        self.entries: dict[str, str] = {}
        self._dirty = False
        if self.path and self.path.is_file():
            try:
                loaded = json.loads(self.path.read_text(encoding="utf-8"))
                if isinstance(loaded, dict) and isinstance(loaded.get("tags"), dict):
                    self.entries = {str(k): str(v) for k, v in loaded["tags"].items()}
            except (OSError, ValueError):
                self.entries = {}

    def record(self, name: str, obj: str) -> None:
        if name not in self.entries:
            self.entries[name] = obj
            self._dirty = True

    def save(self) -> None:
        if not self.path or not self._dirty:
            return
        try:
            write_atomic(self.path, json.dumps({"tags": self.entries}, sort_keys=True))
        except OSError:
            pass                       # a read-only clone still answers
        self._dirty = False


def record_tags(git: Git, refs: Iterable[Ref]) -> None:
    """Remember the objects of ``refs`` in the ledger (reconcile after making them, verify
    after judging them trusted)."""
    ledger = Ledger(git)
    for ref in refs:
        ledger.record(ref.name, ref.object)
    ledger.save()


# --- the protected branch's first-parent history ---------------------------------------------
def first_parents(git: Git, ref: str) -> set[str]:
    """Every commit of ``ref``'s first-parent history, in one ``rev-list`` call (a walk of
    all history: commands ask :class:`FirstParents` instead)."""
    return set(git.run("rev-list", "--first-parent", ref).split())


def _asks(raw: bytes | None) -> tuple[dict[str, str], bool, set[str]] | None:
    """stages.yaml as (stage -> version, deprecated, deprecated versions); None when it
    does not parse."""
    if raw is None:
        return {}, False, set()
    try:
        data = parse_yaml(raw.decode("utf-8"), "stages.yaml")
    except (ModelregError, UnicodeDecodeError):
        return None
    if data is None:
        return {}, False, set()
    if not isinstance(data, dict):
        return None
    requested, _ = requested_stages(data)
    dep = data.get("deprecated_versions")
    return (requested, data.get("deprecated") is True,
            {str(v) for v in dep} if isinstance(dep, list) else set())


def _parents(raw: bytes | None) -> list[str]:
    if raw is None:
        return []
    head = raw.split(b"\n\n", 1)[0].decode(errors="replace")
    return [line[7:] for line in head.splitlines() if line.startswith("parent ")]


def _field(message: str, key: str) -> str | None:
    value = tagmod.evidence_field(message, key)
    return None if value in (None, "", "null", "~") else value


class _Classifier:
    def __init__(self, git: Git, branch: str, now: float | None, *, remember: bool = True
                 ) -> None:
        self.git = git
        self.branch = branch
        self.now = time.time() if now is None else now
        try:
            self.tip: str | None = protected_ref(git, branch)
        except ModelregError:
            self.tip = None
        self._fp: FirstParents | set[str] | None = None
        digest = hashlib.sha1(f"{RULES}\0{branch}".encode()).hexdigest()[:12]
        self.cache = ContentCache(git.root, f"trust-{digest}", use=remember)
        self.ledger = Ledger(git)

    @property
    def on_branch(self) -> FirstParents | set[str]:
        """The protected branch's first-parent history, remembered between commands and
        extended from the tip it was last computed for (store/firstparent.py)."""
        if self._fp is None:
            self._fp = FirstParents(self.git, self.tip) if self.tip else set()
        return self._fp

    def classify(self, refs: list[Ref],
                 messages: Callable[[], dict[str, str]] | None = None) -> Trust:
        """``messages``: gives full annotations by tag name, for refs listed without them
        (asked only when a verdict is not cached)."""
        trust = Trust()
        pending: list[tuple[Ref, tagmod.TagName, str]] = []
        get = self.cache.get
        good = trust.good
        for ref in refs:
            cached = get(ref.object) if ref.tag_name == ref.name else None
            if cached == 1:                      # trusted, reviewed, no merge (most tags)
                cached = _PLAIN
            elif not isinstance(cached, dict) or not isinstance(cached.get("b"), str):
                cached = None                    # none, or not this rule's answer
            if cached is not None:
                # only registry tags are cached (and the object names this tag): the model
                # is what comes before the first '@' or '#', no need to parse the name again
                model = ref.name.split("@", 1)[0].split("#", 1)[0]
                live = self._live(ref)
                # the commit the tag is bound to was on the branch's first-parent history;
                # the branch may have moved since (a clone that fetched a rewrite): asked
                # again every time, a binary search
                bound = cached["b"]
                if bound == "" and ref.target not in self.on_branch:
                    live.append(f"points at {ref.target[:12]}, which is not on the "
                                f"first-parent history of {self.branch}")
                elif bound not in ("", "-") and bound not in self.on_branch:
                    live.append(f"its merge commit {bound[:12]} is not on the first-parent "
                                f"history of {self.branch}")
                if live or cached["r"]:
                    trust.add(Verdict(ref.name, model, (*live, *cached["r"]),
                                      bool(cached.get("u")), cached.get("m")))
                else:
                    good[ref.name] = (model, bool(cached.get("u")), cached.get("m"))
                continue
            parsed = tagmod.parse(ref.name)
            if parsed is None:
                continue
            if ref.object_type != "tag" or ref.tag_name != ref.name:
                trust.add(Verdict(ref.name, parsed.model, tuple(self._live(ref))))
                continue
            pending.append((ref, parsed, ref.message))
        if pending and messages is not None:
            full = messages()
            pending = [(r, p, full.get(r.name, m)) for r, p, m in pending]
        if pending:
            self._bind(pending, trust)
        self.cache.save()
        return trust

    def _live(self, ref: Ref) -> list[str]:
        """The reasons judged afresh every time: kind of ref, date, ledger."""
        reasons = []
        if ref.object_type == "tag" and ref.tag_name != ref.name:
            reasons.append(f"borrows the object of tag {ref.tag_name or ref.object[:12]}: "
                           "registry tags are made by reconcile, one object per tag")
        elif ref.object_type != "tag":
            reasons.append("is lightweight: registry tags are annotated by reconcile")
        if ref.time > self.now + FUTURE_SKEW:
            reasons.append(f"is dated {rfc3339(ref.time)}, in the future")
        seen = self.ledger.entries.get(ref.name)
        if seen is not None and seen != ref.object:
            reasons.append(f"was moved or made again: its object is {ref.object[:12]}, "
                           f"{seen[:12]} when verify last saw it")
        return reasons

    def _bind(self, pending: list[tuple[Ref, tagmod.TagName, str]], trust: Trust) -> None:
        requests: list[tuple[str, str]] = []
        plans = []
        for ref, p, message in pending:
            reasons: list[str] = []
            merge = None
            asks: list[tuple[str, str]] = []
            if tagmod.EVIDENCE_MARKER not in message:
                # a registration is bound by its commit alone (a GTO-made one has no
                # evidence); every other event is bound through its evidence
                if p.action is not Action.REGISTER:
                    reasons.append("has no modelreg-evidence block: it was not made by "
                                   "reconcile")
                    plans.append((ref, p, message, reasons, merge, []))
                    continue
            else:
                self._describes(p, message, reasons)
            if p.action is Action.REGISTER:
                vrel = f"{MODELS_DIR}/{p.model}/versions/{p.version}.yaml"
                asks = [("info", f"{ref.target}:{vrel}"), ("info", f"{ref.target}^1:{vrel}")]
            else:
                merge = _field(message, "merge_commit")
                if merge is None or not _SHA.match(merge):
                    reasons.append("its evidence records no merge commit")
                    merge = None
                else:
                    asks = [("contents", f"{merge}:{MODELS_DIR}/{p.model}/stages.yaml"),
                            ("contents", merge)]
            start = len(requests)
            requests.extend(asks)
            plans.append((ref, p, message, reasons, merge, list(range(start, len(requests)))))
        answers = read_objects(self.git, requests)
        stages_of: dict[str, tuple | None] = {}
        for ref, p, message, reasons, merge, idx in plans:
            got = [answers[i] for i in idx]
            positive = True            # every fact about the branch came out yes
            unreviewed = False
            if p.action is Action.REGISTER and got:
                vrel = f"{MODELS_DIR}/{p.model}/versions/{p.version}.yaml"
                if ref.target not in self.on_branch:
                    positive = False
                    reasons.append(f"points at {ref.target[:12]}, which is not on the "
                                   f"first-parent history of {self.branch}")
                elif got[0] is None or got[1] is not None:
                    reasons.append(f"points at {ref.target[:12]}, which does not add {vrel}")
            elif merge is not None and got:
                if merge not in self.on_branch:
                    positive = False
                    reasons.append(f"its merge commit {merge[:12]} is not on the first-parent "
                                   f"history of {self.branch}")
                else:
                    blob = got[0]
                    key = blob[0] if blob else ""
                    if key not in stages_of:
                        stages_of[key] = _asks(blob[1] if blob else None)
                    asked = stages_of[key]
                    problem = self._asks_for(p, message, merge, asked)
                    if problem:
                        reasons.append(problem)
                    pr = _field(message, "pr")
                    if pr is None or _field(message, "via") == "direct-push":
                        unreviewed = True
                    else:
                        head = _field(message, "head")
                        parents = _parents(got[1][1] if got[1] else None)
                        second = parents[1] if len(parents) > 1 else None
                        if head is None or second != head:
                            reasons.append(
                                f"records pull request #{pr} with head "
                                f"{(head or 'none')[:12]}, but {merge[:12]}'s second parent "
                                f"is {(second or 'none')[:12]}: it is not that pull "
                                "request's merge")
            verdict = Verdict(ref.name, p.model, tuple(reasons), unreviewed, merge)
            if positive:
                # the common verdict as one number: the cache of 12,000 tags loads faster
                # "b": the commit that must stay on the branch, checked again on every read
                # ("" the tag's target, as in the one-number form; "-" none)
                bound = "" if p.action is Action.REGISTER else (merge or "-")
                self.cache.put(ref.object, 1 if not reasons and not unreviewed and merge is None
                               and bound == ""
                               else {"r": list(reasons), "u": unreviewed, "m": merge,
                                     "b": bound})
            live = self._live(ref)
            trust.add(Verdict(ref.name, p.model, (*live, *verdict.reasons), unreviewed, merge)
                      if live else verdict)

    @staticmethod
    def _describes(p: tagmod.TagName, message: str, reasons: list[str]) -> None:
        said = {k: _field(message, k) for k in ("event", "model", "version", "stage")}
        wanted = {"event": p.action.value, "model": p.model, "version": p.version,
                  "stage": p.stage}
        if p.action in (Action.ASSIGN, Action.UNASSIGN):
            wanted["version"] = said["version"] or "?"
            if said["version"] is None:
                reasons.append("its evidence names no version")
        if any(said[k] != wanted[k] for k in wanted if wanted[k] is not None or said[k]):
            shown = " ".join(str(said[k]) for k in ("event", "model", "version", "stage")
                             if said[k])
            reasons.append(f"its evidence describes {shown or 'nothing'}, not what its "
                           "name says")

    @staticmethod
    def _asks_for(p: tagmod.TagName, message: str, merge: str,
                  asked: tuple[dict[str, str], bool, set[str]] | None) -> str | None:
        where = f"models/{p.model}/stages.yaml at {merge[:12]}"
        if asked is None:
            return f"{where} does not parse"
        requested, deprecated, dep_versions = asked
        if p.action is Action.ASSIGN:
            version = _field(message, "version")
            held = requested.get(p.stage or "")
            if held != version:
                return (f"{where} asks for {held or 'no version'} in {p.stage}, "
                        f"not {version}")
        elif p.action is Action.UNASSIGN:
            version = _field(message, "version")
            if requested.get(p.stage or "") == version:
                return f"{where} still asks for {version} in {p.stage}"
        elif p.action is Action.DEPRECATE:
            if not deprecated:
                return f"{where} does not deprecate {p.model}"
        elif p.action is Action.DEREGISTER:
            if p.version not in dep_versions:
                return f"{where} does not deprecate {p.model} {p.version}"
        return None


def classify(git: Git, branch: str, refs: list[Ref], *, now: float | None = None,
             messages: Callable[[], dict[str, str]] | None = None) -> Trust:
    """The verdict on every registry tag among ``refs`` (see the module docstring). The
    verdicts cached in ``.git/modelreg/`` are read for many tags only
    (:data:`~modelreg.store.cache.FEW_TAGS`)."""
    return _Classifier(git, branch, now, remember=len(refs) > cache_mod.FEW_TAGS
                       ).classify(refs, messages)


__all__ = ["Trust", "Verdict", "Ledger", "classify", "record_tags", "first_parents",
           "FUTURE_SKEW", "UNREVIEWED"]
