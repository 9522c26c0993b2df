"""``modelreg reconcile``: after merges on the protected branch, record what each merge
changed as annotated tags — the registry's append-only event log.

It walks the first-parent history of the protected branch since the last commit a tag
records as reconciled (the newest ``merge_commit`` of the registry's tags on the branch; the
root when there is none), oldest first, and for each commit that changed ``models/``:

* a version file without a registration tag gets ``name@vX.Y.Z`` on the first-parent commit
  that added it;
* a ``stages.yaml`` entry that differs from what the tags say gets ``name#stage#N`` (or
  ``name#stage!#N`` to remove a stage), pointing at the version's registration commit so
  that GTO reads the same version; ``deprecated`` gives ``name@deprecated`` and
  ``deprecated_versions`` give ``name@vX.Y.Z!``.

Each tag carries the evidence of the commit that introduced its change, not of the newest
merge: ``merge_commit`` is that commit, ``head`` its second parent, and the pull request,
its reviews on that head, committers and code owners are that merge's. A change that
reached the branch without a pull request (a commit pushed straight to it, or a merge no pull
request is known for) is recorded with ``via: direct-push`` and ``pr: null``; the gate never
trusts such a stage until a later reviewed pull request changes its entry, which records it
again. After the walk, the tags say what the head's ``stages.yaml`` asks for (anything still
different is recorded with the evidence of the commit that last changed that file).

Each annotation carries the evidence in a ``modelreg-evidence:`` block that ``check``,
``gate`` and ``history`` read back. Running it twice creates nothing new; a concurrent run
that pushes first wins and the other stops cleanly.
"""
from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from modelreg.core import tags as tagmod
from modelreg.core import timefmt
from modelreg.core.errors import CannotRunError, CommandError, PolicyRefusal, RefusedError
from modelreg.core.records import Event, Finding, ModelState
from modelreg.core.release import __version__
from modelreg.core.tags import Action
from modelreg.core.yamlio import parse_yaml
from modelreg.policy.evaluate import evaluate
from modelreg.policy.reviews import (
    VIA_DIRECT_PUSH,
    VIA_PULL_REQUEST,
    PullRequest,
    approvers,
    reached_without_review,
    review_input,
)
from modelreg.store.git import Git
from modelreg.store.protected import on_protected, protected_branch, protected_ref
from modelreg.store.registry import MODELS_DIR, Registry, _replay, build_states, semver_key
from modelreg.store.tagsign import TagSigner, find_signer, signature_verdicts
from modelreg.store.trust import record_tags

TOOL = f"modelreg {__version__}"


@dataclass
class PlannedTag:
    name: str
    target: str
    action: Action
    model: str
    version: str | None = None
    stage: str | None = None
    title: str = ""
    evidence: dict[str, Any] = field(default_factory=dict)
    merge: str = ""              # the first-parent commit whose change this tag records
    step: int = 0                # the order of that commit's change in this run
    rerecord: bool = False       # records again a stage held without a reviewed pull request

    def event(self) -> dict[str, Any]:
        """The evidence block's description of the event itself: what, which model,
        version and stage."""
        out: dict[str, Any] = {"event": self.action.value, "model": self.model}
        if self.version:
            out["version"] = self.version
        if self.stage:
            out["stage"] = self.stage
        return out


# the pull request a merge commit merged, or None when none is known
PullRequests = Callable[[str], PullRequest | None]


@dataclass(frozen=True)
class ReconcileResult:
    created: tuple[PlannedTag, ...]
    pushed: bool
    already_done: bool               # another run had recorded these events first
    head: str
    signer: str | None = None        # the allowed signer the tags are signed as


def policy_digest(git: Git, rev: str = "HEAD") -> str:
    """sha256 over the policies and their data at ``rev`` (paths and blob ids)."""
    listing = git.run("ls-tree", "-r", rev, "--", "policies")
    return "sha256:" + hashlib.sha256(listing.encode()).hexdigest()


def _desired(text: str, name: str) -> tuple[dict[str, tuple[str, bool, str]], bool, list[str]]:
    data = parse_yaml(text, name) or {}
    stages = {}
    for stage, value in (data.get("stages") or {}).items():
        if isinstance(value, dict) and value.get("version"):
            stages[stage] = (str(value["version"]), bool(value.get("rollback")),
                             str(value.get("reason") or ""))
        elif isinstance(value, str):
            stages[stage] = (value, False, "")
    return stages, bool(data.get("deprecated")), [str(v) for v in
                                                  data.get("deprecated_versions") or []]


# --- the history since the last reconciled commit -----------------------------------------

@dataclass(frozen=True)
class Step:
    """One first-parent commit of the protected branch that changed ``models/``."""

    commit: str
    parents: tuple[str, ...]
    models: tuple[str, ...]          # the models whose folders it changed

    @property
    def second_parent(self) -> str | None:
        return self.parents[1] if len(self.parents) > 1 else None


def last_reconciled(git: Git, head: str, refs: list) -> str | None:
    """The newest first-parent commit of ``head`` that a registry tag records as reconciled
    (the ``merge_commit`` of its evidence), or None."""
    marks: set[str] = set()
    for ref in refs:
        if ref.annotated and tagmod.parse(ref.name) is not None:
            merge = tagmod.evidence_field(ref.message, "merge_commit")
            if merge:
                marks.add(merge)
    if not marks:
        return None
    for commit in git.run("rev-list", "--first-parent", head).split():
        if commit in marks:
            return commit
    return None


def history(git: Git, head: str, since: str | None) -> list[Step]:
    """The first-parent commits after ``since`` up to ``head`` that changed ``models/``
    (a merge compared with its first parent), oldest first, in one ``git log``."""
    rng = f"{since}..{head}" if since else head
    out = git.run("log", "--first-parent", "--diff-merges=first-parent", "--no-renames",
                  "--name-only", "--format=%x01%H %P", rng, "--", MODELS_DIR)
    steps = []
    for block in out.split("\x01")[1:]:
        lines = block.splitlines()
        ids = lines[0].split()
        models = sorted({p.split("/")[1] for p in lines[1:]
                         if p.startswith(MODELS_DIR + "/") and p.count("/") >= 2})
        steps.append(Step(ids[0], tuple(ids[1:]),
                          tuple(m for m in models if tagmod.NAME_RE.match(m))))
    steps.reverse()
    return steps


# --- planning: the tags one commit's change needs ----------------------------------------

class Planner:
    """The tag log as it stands plus what this run has planned so far: each model's state,
    counters and registration commits, advanced commit by commit."""

    def __init__(self, registry: Registry) -> None:
        self.registry = registry
        self.git = registry.git
        every = registry.refs()
        self.existing = {r.name for r in every}
        # only tags that count say what is recorded (an untrusted one is shown by verify);
        # every name is taken all the same
        self.refs = registry.classify(every).trusted(every)
        self.all_refs = every
        self.states = build_states(self.refs)
        self.counters: dict[str, int] = {}
        for r in every:          # every counted form, GTO's included (next = largest + 1)
            if numbered := tagmod.counter(r.name):
                self.counters[numbered[0]] = max(self.counters.get(numbered[0], 0),
                                                 numbered[1])
        self.reg_commit = {(e.model, e.version): e.commit for s in self.states.values()
                           for e in s.events if e.action is Action.REGISTER}
        # events are ordered by their tag's time alone: each commit's change of this run is
        # dated after the one before it (``_tag_times`` gives the tags the same order)
        self.time = max((e.time for s in self.states.values() for e in s.events),
                        default=0) + 1
        self.step = 0
        self.accepted: list[PlannedTag] = []

    def state(self, model: str) -> ModelState:
        return self.states.get(model, ModelState(model, (), {}, False, ()))

    def model_at(self, view: Registry, commit: str, model: str, merge: str,
                 changed_entries: Callable[[], set[str]] | None = None) -> list[PlannedTag]:
        """The tags that bring ``model``'s tag log in line with ``commit`` (``view`` reads
        it), recording ``merge``'s change. Nothing is accepted yet; a refusal (an unreadable
        ``stages.yaml``, a stage asking for an unregistered version) raises."""
        git = self.git
        planned: list[PlannedTag] = []
        counter = self.counters.get(model, 0)
        reg_commit = dict(self.reg_commit)
        for v in sorted(view.version_names(model), key=semver_key):
            tag = tagmod.registration(model, v)
            if tag in self.existing or (model, v) in self.reg_commit:   # in any form
                continue
            path = f"{MODELS_DIR}/{model}/versions/{v}.yaml"
            target = git.run("log", "--first-parent", "--diff-filter=A", "--format=%H", "-1",
                             commit, "--", path).strip() or commit
            reg_commit[(model, v)] = target
            planned.append(PlannedTag(tag, target, Action.REGISTER, model, v,
                                      title=f"Register {model} {v}", merge=merge,
                                      step=self.step))
        path = f"{MODELS_DIR}/{model}/stages.yaml"
        if not view.is_file(path):
            return planned
        try:
            desired, deprecated, dep_versions = _desired(view.read_text(path), path)
        except Exception as exc:  # an unreadable stages.yaml must never be half-applied
            raise RefusedError(f"cannot read {path} at {commit[:12]}: {exc}",
                               hint="fix it in a pull request; `modelreg validate` shows "
                                    "why") from exc
        state = self.state(model)
        registered = set(state.registered) | {p.version for p in planned if p.version}

        def next_counter() -> int:
            nonlocal counter
            counter += 1
            return counter

        for v in dep_versions:
            if v in registered and tagmod.deregistration(model, v) not in self.existing:
                planned.append(PlannedTag(tagmod.deregistration(model, v),
                                          reg_commit.get((model, v), commit), Action.DEREGISTER,
                                          model, v, title=f"Deprecate {model} {v}",
                                          merge=merge, step=self.step))
        active = active_pairs(state)
        for stage in sorted(set(desired) | set(state.stages) | set(active)):
            want = desired.get(stage)
            held = state.stages.get(stage)
            if want and want[0] == held:
                if changed_entries is not None and _unreviewed(state, stage, held) \
                        and stage in changed_entries():
                    # a reviewed change to this entry records the holder again
                    v, rollback, reason = want
                    planned.append(PlannedTag(
                        tagmod.assignment(model, stage, next_counter()), reg_commit[(model, v)],
                        Action.ASSIGN, model, v, stage,
                        title=f"Record {model} {v} in {stage} through a reviewed pull request",
                        evidence={"rollback": rollback, **({"reason": reason} if reason else {})},
                        merge=merge, rerecord=True, step=self.step))
                continue            # the derived holder is already the wanted one
            if want and (want[0] not in registered or (model, want[0]) not in reg_commit):
                raise RefusedError(
                    f"{path} asks for {model} {want[0]} in {stage} at {commit[:12]}, but "
                    f"{want[0]} is not registered", hint="register and merge that version first")
            if not want:
                # every (stage, version) pair still active would take the stage back once
                # the holder leaves it: end them all, so one run empties the stage
                for v in sorted(active.get(stage, set()), key=semver_key):
                    planned.append(PlannedTag(
                        tagmod.unassignment(model, stage, next_counter()),
                        reg_commit.get((model, v), commit), Action.UNASSIGN, model, v, stage,
                        title=f"Remove {model} {v} from {stage}", merge=merge,
                        step=self.step))
            else:
                # the newest assignment holds the stage (the greatest sort key): one is enough
                v, rollback, reason = want
                what = "Roll back" if rollback else "Promote"
                planned.append(PlannedTag(
                    tagmod.assignment(model, stage, next_counter()), reg_commit[(model, v)],
                    Action.ASSIGN, model, v, stage, title=f"{what} {model} {v} to {stage}",
                    evidence={"rollback": rollback, **({"reason": reason} if reason else {})},
                    merge=merge, step=self.step))
        after = self._check_converges(model, planned, desired, path)
        if deprecated and not after.deprecated:
            # always numbered: the counter orders it after the unassignments made with it
            name = tagmod.deprecation(model, next_counter())
            planned.append(PlannedTag(name, merge, Action.DEPRECATE, model,
                                      title=f"Deprecate {model}", merge=merge,
                                      step=self.step))
        return planned

    def _events(self, model: str, planned: list[PlannedTag]) -> list[Event]:
        events = list(self.state(model).events)
        offsets = _offsets(planned, compact=False)
        for p in planned:
            parsed = tagmod.parse(p.name)
            # the message as it will be, so a later commit of this run reads its evidence
            events.append(Event(action=p.action, model=model, tag=p.name, commit=p.target,
                                time=self.time + offsets[p.name], actor="", actor_email="",
                                annotated=True,
                                version=p.version, stage=p.stage,
                                counter=(parsed.counter or 0) if parsed else 0,
                                message=tagmod.format_message(p.title, p.evidence)))
        events.sort(key=Event.sort_key)
        return events

    def _check_converges(self, model: str, planned: list[PlannedTag],
                         desired: dict[str, tuple[str, bool, str]], path: str) -> ModelState:
        """Replay the existing events plus the planned tags and refuse a plan whose derived
        stages would differ from ``desired`` (a version deprecated in the same change holds
        no stage); the state it gives."""
        after = _replay(model, self._events(model, planned))
        wanted = {s: w[0] for s, w in desired.items() if w[0] in after.registered}
        if after.stages != wanted:
            raise CannotRunError(f"the planned tags for {path} would leave {model}'s stages "
                                 f"at {after.stages}, not {wanted}; no tag was created",
                                 hint="report this: reconcile must reach the merged "
                                      "stages.yaml")
        return after

    def accept(self, model: str, planned: list[PlannedTag]) -> None:
        """Take ``planned`` into the state the next commits are planned against."""
        if not planned:
            return
        self.states[model] = _replay(model, self._events(model, planned))
        for p in planned:
            self.existing.add(p.name)
            parsed = tagmod.parse(p.name)
            if parsed and parsed.counter:
                self.counters[model] = max(self.counters.get(model, 0), parsed.counter)
            if p.action is Action.REGISTER:
                self.reg_commit[(model, p.version)] = p.target
        self.accepted.extend(planned)


def _unreviewed(state: ModelState, stage: str, version: str | None) -> bool:
    """Whether the tag that gave ``version`` its ``stage`` records no reviewed pull request."""
    if version is None:
        return False
    ev = state.assignment(stage, version)
    if ev is None or not ev.annotated:
        return False
    evidence = ev.evidence
    return bool(evidence) and reached_without_review(evidence)


def plan(registry: Registry, head: str) -> list[PlannedTag]:
    """The tags that would bring the tag log in line with ``head``, each recording the
    commit that introduced its change, without the policies and without any pull request:
    what a run that finds every verdict passing creates."""
    planner = Planner(registry)
    _walk(planner, registry, head, _as_planned)
    _settle(planner, registry, head, _as_planned)
    return planner.accepted


def _as_planned(commit: str, tags: list[PlannedTag]) -> list[PlannedTag]:
    tags = [p for p in tags if not p.rerecord]       # only a reviewed pull request does
    for p in tags:
        p.evidence = {**p.event(), **p.evidence, "merge_commit": commit}
    return tags


def _walk(planner: Planner, registry: Registry, head: str,
          judge: Callable[[str, list[PlannedTag]], list[PlannedTag]]) -> None:
    """Plan commit by commit since the last reconciled one; ``judge`` returns the tags of a
    step that may be recorded (the others are left for a later commit to bring)."""
    git = registry.git
    since = last_reconciled(git, head, planner.refs)
    if since is None and any(tagmod.parse(r.name) for r in planner.refs):
        # tags that record no reconciled commit (made by other tools): nothing tells where
        # to start, so only the rest, below, is recorded
        return
    for step in history(git, head, since):
        planner.step += 1
        tags: list[PlannedTag] = []
        with registry.at(step.commit) as view:
            for model in step.models:
                entries = _changed_entries(git, step, model)
                try:
                    tags += planner.model_at(view, step.commit, model, step.commit, entries)
                except RefusedError:
                    # not applicable as it stands (unreadable, names an unregistered version):
                    # a later commit that settles it records its change
                    continue
        if not tags:
            continue
        allowed = judge(step.commit, tags)
        for model in step.models:
            planner.accept(model, [p for p in allowed if p.model == model])


def _settle(planner: Planner, registry: Registry, head: str,
            judge: Callable[[str, list[PlannedTag]], list[PlannedTag]]) -> None:
    """After the walk: whatever still differs from the head's ``stages.yaml`` (tags made by
    hand, a change a failed verdict held back), recorded with the evidence of the commit that
    last changed the file in question. ``judge`` raises on a failed verdict."""
    git = registry.git
    planner.step += 1
    with registry.at(head) as view:
        view.tree.index_all()                    # one listing of the whole tree
        found: list[PlannedTag] = []
        for model in view.model_names():
            if not tagmod.NAME_RE.match(model):
                continue
            tags = planner.model_at(view, head, model, head)
            if not tags:
                continue
            stages_commit = git.run("log", "--first-parent", "--format=%H", "-1", head, "--",
                                    f"{MODELS_DIR}/{model}/stages.yaml").strip() or head
            for p in tags:
                p.merge = p.target if p.action is Action.REGISTER else stages_commit
            found += tags
    by_merge: dict[str, list[PlannedTag]] = {}
    for p in found:
        by_merge.setdefault(p.merge, []).append(p)
    for merge, tags in by_merge.items():
        judge(merge, tags)
    for model in sorted({p.model for p in found}):
        planner.accept(model, [p for p in found if p.model == model])


def _changed_entries(git: Git, step: Step, model: str) -> Callable[[], set[str]] | None:
    """For a merge commit: the stages whose entry in ``model``'s ``stages.yaml`` it changed
    (read only when asked: a stage held without review)."""
    if step.second_parent is None:
        return None
    path = f"{MODELS_DIR}/{model}/stages.yaml"

    def changed() -> set[str]:
        sides = []
        for rev in (step.parents[0], step.commit):
            text = git.run("show", f"{rev}:{path}", check=False)
            try:
                sides.append(_desired(text, path)[0] if text else {})
            except Exception:  # an unreadable side: every entry counts as changed
                sides.append({})
        before, after = sides
        return {s for s in set(before) | set(after) if before.get(s) != after.get(s)}
    return changed


def active_pairs(state: ModelState) -> dict[str, set[str]]:
    """Per stage, the registered versions whose last stage event is an assignment: the
    holder and every version that would take the stage back if the holder left it."""
    last: dict[tuple[str, str], bool] = {}
    for ev in sorted(state.events, key=lambda e: e.sort_key()):
        if ev.action in (Action.ASSIGN, Action.UNASSIGN) and ev.version and ev.stage:
            last[(ev.stage, ev.version)] = ev.action is Action.ASSIGN
    registered = set(state.registered)
    found: dict[str, set[str]] = {}
    for (stage, version), on in last.items():
        if on and version in registered:
            found.setdefault(stage, set()).add(version)
    return found


def _verdicts(registry: Registry, planned: list[PlannedTag], review: dict | None,
              engine: str, now: Any) -> list[Finding]:
    """Policy errors for the versions the planned tags record, as the merged commit
    (``registry``, a view of it) holds them, in one engine call."""
    models = sorted({p.model for p in planned if p.action in (Action.REGISTER, Action.ASSIGN)})
    if not models:
        return []
    result = evaluate(registry, models, review=review, engine=engine, now=now)
    wanted = {(p.model, p.version) for p in planned
              if p.action in (Action.REGISTER, Action.ASSIGN)}
    return [f for f in result.findings if f.severity == "error"
            and (f.model, f.version) in wanted | {(m, None) for m in models}]


class _Judge:
    """The verdicts and evidence of each commit whose change is recorded: its pull request
    (asked once per commit), the policies on the change as that commit holds it."""

    def __init__(self, registry: Registry, pulls: PullRequests | None, engine: str,
                 now: Any) -> None:
        self.registry, self.pulls, self.engine, self.now = registry, pulls, engine, now
        self.git = registry.git
        self.stamp = timefmt.stamp(now)
        self.errors: list[Finding] = []

    def _parents(self, commit: str) -> list[str]:
        return self.git.run("rev-list", "--parents", "-n", "1", commit).split()[1:]

    def _review(self, commit: str, parents: list[str]) -> tuple[dict[str, Any], dict | None]:
        """The evidence block's fields for ``commit`` and the policies' review object."""
        base: dict[str, Any] = {"merge_commit": commit,
                                "policy_digest": policy_digest(self.git, commit),
                                "decision": "pass", "checked_at": self.stamp,
                                "engine": self.engine, "tool": TOOL}
        found = self.pulls(commit) if len(parents) > 1 and self.pulls is not None else None
        if found is None:
            # pushed straight to the branch, or a merge no pull request is known for
            base.update(via=VIA_DIRECT_PUSH, pr=None)
            return base, None
        base.update(via=VIA_PULL_REQUEST, pr=found.number, head=parents[1])
        if found.reviews is None:
            return base, None
        with self.registry.at(parents[0]) as judge:      # the base's rules and people
            review = review_input(self.git, pr_author=found.author or "", head=parents[1],
                                  base=parents[0], config=judge.config,
                                  reviews=found.reviews, pr=found.number, rules=parents[0])
        base.update(pr_author=review.get("pr_author"), approvers=approvers(review),
                    reviews=review.get("reviews") or [],
                    committers=review.get("committers") or [],
                    owners=review.get("owners") or {})
        return base, review

    def settle(self, commit: str, tags: list[PlannedTag]) -> list[PlannedTag]:
        """:meth:`judge`, refusing the whole run when any of the tags fails."""
        before = len(self.errors)
        allowed = self.judge(commit, tags)
        if len(allowed) != len(tags):
            errors = tuple(self.errors[before:])
            raise PolicyRefusal(f"{len(errors)} policy finding(s) deny recording the change of "
                                f"{commit[:12]}; no tag was created", errors,
                                hint="fix them in a pull request; reconcile records only what "
                                     "passes the stage's policies")
        return allowed

    def judge(self, commit: str, tags: list[PlannedTag]) -> list[PlannedTag]:
        """The tags of ``commit``'s change that pass its policies, with their evidence; the
        findings of the others are kept in ``errors``."""
        base, review = self._review(commit, self._parents(commit))
        if base["via"] != VIA_PULL_REQUEST or review is None:
            tags = [p for p in tags if not p.rerecord]   # only a review records it again
        if not tags:
            return []
        with self.registry.at(commit) as view:
            errors = _verdicts(view, tags, review, self.engine, self.now)
        failed = {f.model for f in errors}
        self.errors += errors
        for p in tags:
            evidence = p.event()
            evidence.update(p.evidence)
            evidence.update(base)
            p.evidence = evidence
        return [p for p in tags if p.model not in failed]


def _plan_run(registry: Registry, head: str, pulls: PullRequests | None, engine: str,
              now: Any) -> list[PlannedTag]:
    """The tags of one run, each with its evidence and verdict: the walk, then the rest."""
    planner = Planner(registry)
    judge = _Judge(registry, pulls, engine, now)
    _walk(planner, registry, head, judge.judge)
    _settle(planner, registry, head, judge.settle)
    return planner.accepted


def reconcile(registry: Registry, *, push: bool = False, pulls: PullRequests | None = None,
              engine: str = "auto", now: Any = None, remote: str = "origin",
              signing_key: str | None = None, signing_format: str | None = None,
              hooks: dict[str, Callable[[], None]] | None = None) -> ReconcileResult:
    """Create the tags for what each merge since the last reconciled commit changed, with
    that merge's evidence; see the module docstring. ``pulls`` tells which pull request
    merged a commit (None: no pull request is known for any).

    Every tag is signed: with ``signing_key`` (an SSH private key file, or an OpenPGP key id
    with ``signing_format="openpgp"``), else git's ``user.signingKey``, else the file
    ``$MODELREG_SIGNING_KEY``. When ``tag-signing.yaml`` requires signed tags, a missing key
    or a key that is not an allowed signer stops it before any tag is made (exit 3)."""
    hooks = hooks or {}
    git = registry.git
    head = git.head()
    if head is None:
        raise RefusedError("the repository has no commits")
    branch = protected_branch(registry)
    ref = protected_ref(git, branch)
    if not on_protected(git, head, ref):
        raise RefusedError(f"HEAD {head[:12]} is not on the protected branch {branch}",
                           hint=f"reconcile runs on {branch} after a merge, never on a "
                                "pull-request branch")
    if git.run("status", "--porcelain", "--untracked-files=no", "--", MODELS_DIR,
               "policies").strip():
        raise RefusedError("models/ or policies/ have uncommitted changes",
                           hint="reconcile records what was merged: run it on a clean checkout")
    for attempt in range(3):
        planned = _plan_run(registry, head, pulls, engine, now)
        if not planned:
            return ReconcileResult((), False, attempt > 0, head)
        if attempt == 0:
            signer, signer_id = _signer(registry, head, signing_key, signing_format)
        created: list[PlannedTag] = []
        dates = _tag_times(git, planned)
        try:
            for p in planned:
                hooks.get("tag", lambda: None)()
                make_tag(git, p, dates[p.name], signer)
                created.append(p)
            if signer is not None:
                _check_signatures(registry, head, created)
        except CommandError as exc:
            _delete(git, created)
            if "already exists" in exc.stderr:
                continue            # a concurrent run in this clone: plan again
            raise
        except BaseException:
            _delete(git, created)
            raise
        if not push:
            _remember(git, created)
            return ReconcileResult(tuple(created), False, False, head, signer_id)
        try:
            hooks.get("push", lambda: None)()
            out = git.run("push", "--atomic", "--porcelain", remote,
                          *[f"refs/tags/{p.name}" for p in created])
            # "=" marks a ref the remote already had, byte for byte (a concurrent run made
            # the identical tag): it was not created by this run
            same = {line.split("\t")[1].split(":")[0][len("refs/tags/"):]
                    for line in out.splitlines() if line.startswith("=\t")}
            mine = tuple(p for p in created if p.name not in same)
            _remember(git, created)
            return ReconcileResult(mine, True, not mine, head, signer_id)
        except CommandError as exc:
            _delete(git, created)
            if "rejected" not in exc.stderr and "already exists" not in exc.stderr:
                raise CannotRunError(f"pushing the tags to {remote} failed; no tag was kept",
                                     hint="check the remote and run reconcile again") from exc
            # another run pushed first: take its tags and plan again (usually nothing left)
            git.run("fetch", "-q", remote, "+refs/tags/*:refs/tags/*")
    raise CannotRunError("reconcile kept colliding with concurrent runs",
                         hint="run it again once the other runs have finished")


def _signer(registry: Registry, head: str, key: str | None, fmt: str | None
            ) -> tuple[TagSigner | None, str | None]:
    """The key to sign with and the allowed signer it is, judged by the merged commit's
    ``tag-signing.yaml``; refuses (exit 3) when signed tags are required and there is no
    usable, allowed key."""
    config = registry.at(head).config
    signing, data_file = config.tag_signing, config.file("tag-signing")
    signer = find_signer(registry.git, key, fmt)
    if signer is None:
        if signing.required:
            raise CannotRunError(
                f"{data_file} requires signed tags and no signing key was given; no tag "
                "was created",
                hint="pass --signing-key PATH (the reconcile job's SSH private key), set "
                     "git's user.signingKey or $MODELREG_SIGNING_KEY; or say "
                     "signed_tags: false in a governance-approved pull request")
        return None, None
    signer_id = signer.allowed_as(signing)
    if signer_id is None and signing.required:
        raise CannotRunError(
            f"the signing key ({signer.source}: {_shown(signer)}) is not an allowed signer "
            f"in {data_file}; no tag was created",
            hint="add its public key to allowed_signers in a pull request governance "
                 "approves, or sign with the key listed there")
    return signer, signer_id


def _shown(signer: TagSigner) -> str:
    parts = signer.public.split()
    return " ".join(parts[:1] + [parts[1][:24] + "…"]) if len(parts) > 1 else signer.public


def _check_signatures(registry: Registry, head: str, created: list[PlannedTag]) -> None:
    """Each new tag's signature verifies against the allowed signers, or every new tag is
    deleted and nothing is pushed."""
    config = registry.at(head).config
    signing = config.tag_signing
    if not signing.required:
        return
    refs = registry.git.refs([f"refs/tags/{p.name}" for p in created], contents=False)
    verdicts = signature_verdicts(registry, refs, signing=signing)
    bad = [(r.name, verdicts.get(r.object)) for r in refs
           if not (verdicts.get(r.object) and verdicts[r.object].valid)]
    if bad or len(refs) != len(created):
        name, verdict = bad[0] if bad else (created[0].name, None)
        raise CannotRunError(
            f"tag {name} does not verify against {config.file('tag-signing')}: "
            f"{verdict.reason if verdict else 'it was not found'}; no tag was kept",
            hint="check that git signs with the key listed in allowed_signers "
                 "(gpg.format, user.signingKey)")


def make_tag(git: Git, p: PlannedTag, when: int, signer: TagSigner | None = None) -> None:
    """Create one annotated tag: ``p``'s name on its target, its title and evidence, dated
    ``when`` (unix seconds), signed by ``signer`` when there is one."""
    message = tagmod.format_message(p.title, p.evidence)
    env = {"GIT_COMMITTER_DATE": f"{when} +0000"}
    if signer is None:
        git.run("tag", "-a", p.name, p.target, "-m", message, env=env)
    else:
        git.run(*signer.git_args(), "tag", "-s", p.name, p.target, "-m", message, env=env,
                hint="check the signing key (modelreg reconcile --signing-key)")


def _offsets(planned: list[PlannedTag], compact: bool = True) -> dict[str, int]:
    """Seconds after the run's first date, per tag of one model: two per change of the run,
    in order (``compact``: counting only the changes among ``planned``; else by the run's
    step numbers), so each change comes after the one before it; a deprecation one more than
    the other tags of its change (in the same second, any other event would keep it
    active)."""
    steps = sorted({p.step for p in planned})
    others = {p.step for p in planned if p.action is not Action.DEPRECATE}
    return {p.name: 2 * (steps.index(p.step) if compact else p.step)
            + (1 if p.action is Action.DEPRECATE and p.step in others else 0)
            for p in planned}


# How far ahead of this clock an existing tag may be and still be followed (clock skew
# between machines); a tag dated further ahead is not waited for.
SKEW = 300


def _tag_times(git: Git, planned: list[PlannedTag]) -> dict[str, int]:
    """The tagger time (unix seconds) of each planned tag. Events are ordered by their
    tag's time alone (as GTO orders them; the counter does not count), so a model's tags
    are dated after every event it already has, each change of the run after the one
    before it, and a deprecation after its change's other tags (``_offsets``)."""
    ident = git.run("var", "GIT_COMMITTER_IDENT").split()
    now = int(ident[-2])
    models = {p.model for p in planned}
    last: dict[str, int] = {}
    # a few models: their tags only; many: one listing of all (one pattern per model costs
    # more than reading every tag)
    patterns = [p for m in sorted(models) for p in tagmod.patterns(m)] \
        if len(models) <= 20 else tagmod.patterns()
    for r in git.refs(patterns, contents=False):
        parsed = tagmod.parse(r.name)
        if parsed and parsed.model in models and r.time <= now + SKEW:
            last[parsed.model] = max(last.get(parsed.model, 0), r.time)
    times: dict[str, int] = {}
    for model in models:
        base = max(now, last.get(model, 0) + 1)
        mine = [p for p in planned if p.model == model]
        for name, offset in _offsets(mine).items():
            times[name] = base + offset
    return times


def _remember(git: Git, created: list[PlannedTag]) -> None:
    """The ledger of tag objects (store/trust.py): these tags, as made here, are the real
    ones; one moved or made again later does not count."""
    if created:
        record_tags(git, git.refs([f"refs/tags/{p.name}" for p in created], contents=False))


def _delete(git: Git, created: list[PlannedTag]) -> None:
    for p in created:
        git.run("tag", "-d", p.name, check=False)
