"""``modelreg reconcile``: after a merge on the protected branch, record what was merged
as annotated tags — the registry's append-only event log.

* a version file without a registration tag gets ``name@vX.Y.Z`` on the first-parent commit
  of the protected branch that added it;
* a ``stages.yaml`` entry that differs from what the tags say gets ``name#stage#N`` (or
  ``name#stage!#N`` to remove a stage), pointing at the version's registration commit so
  that GTO reads the same version; ``deprecated`` gives ``name@deprecated`` and
  ``deprecated_versions`` give ``name@vX.Y.Z!``.

Each annotation carries the evidence (pull request, reviews on the head commit, committers,
merge commit, policy digest, decision) in a ``modelreg-evidence:`` block that ``check``,
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
from modelreg.policy.reviews import approvers
from modelreg.store.git import Git
from modelreg.store.protected import on_protected, protected_branch, protected_ref
from modelreg.store.registry import MODELS_DIR, Registry, _replay, build_states, semver_key
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

    def event(self) -> dict[str, Any]:
        """The evidence block's description of the event itself: what, which model,
        version and stage."""
        out: dict[str, Any] = {"event": self.action.value, "model": self.model}
        if self.version:
            out["version"] = self.version
        if self.stage:
            out["stage"] = self.stage
        return out


@dataclass(frozen=True)
class ReconcileResult:
    created: tuple[PlannedTag, ...]
    pushed: bool
    already_done: bool               # another run had recorded these events first
    head: str


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


def plan(registry: Registry, head: str) -> list[PlannedTag]:
    """The tags that would bring the tag log in line with ``head``."""
    git = registry.git
    refs = registry.refs()
    existing = {r.name for r in refs}
    # only tags that count say what is recorded (an untrusted one is shown by verify)
    states = build_states(registry.classify(refs).trusted(refs))
    view = registry.at(head)
    view.tree.index_all()                    # one listing of the whole tree
    versions: dict[str, list[str]] = {}
    stage_files = []
    for model in view.model_names():
        if not tagmod.NAME_RE.match(model):
            continue
        if found := view.version_names(model):
            versions[model] = found
        if view.is_file(f"{MODELS_DIR}/{model}/stages.yaml"):
            stage_files.append(f"{MODELS_DIR}/{model}/stages.yaml")
    counters: dict[str, int] = {}
    for r in refs:           # every counted form, GTO's included (next = largest + 1)
        if numbered := tagmod.counter(r.name):
            counters[numbered[0]] = max(counters.get(numbered[0], 0), numbered[1])
    reg_commit = {(e.model, e.version): e.commit for s in states.values() for e in s.events
                  if e.action is Action.REGISTER}
    planned: list[PlannedTag] = []

    for model in sorted(versions):
        for v in sorted(versions[model], key=semver_key):
            tag = tagmod.registration(model, v)
            if tag in existing or (model, v) in reg_commit:   # registered in any form
                continue
            path = f"{MODELS_DIR}/{model}/versions/{v}.yaml"
            target = git.run("log", "--first-parent", "--diff-filter=A", "--format=%H", "-1",
                             head, "--", path).strip() or head
            reg_commit[(model, v)] = target
            planned.append(PlannedTag(tag, target, Action.REGISTER, model, v,
                                      title=f"Register {model} {v}"))

    for path in sorted(stage_files):
        model = path.split("/")[1]
        try:
            desired, deprecated, dep_versions = _desired(view.read_text(path), path)
        except Exception as exc:  # an unreadable stages.yaml must never be half-applied
            raise RefusedError(f"cannot read {path} at {head[:12]}: {exc}",
                               hint="fix it in a pull request; `modelreg validate` shows why") from exc
        state = states.get(model, ModelState(model, (), {}, False, ()))
        registered = set(state.registered) | {p.version for p in planned
                                               if p.model == model and p.version}

        def next_counter(model: str = model) -> int:
            counters[model] = counters.get(model, 0) + 1
            return counters[model]

        for v in dep_versions:
            if v in registered and tagmod.deregistration(model, v) not in existing:
                planned.append(PlannedTag(tagmod.deregistration(model, v),
                                          reg_commit.get((model, v), head), Action.DEREGISTER,
                                          model, v, title=f"Deprecate {model} {v}"))
        active = active_pairs(state)
        for stage in sorted(set(desired) | set(state.stages) | set(active)):
            want = desired.get(stage)
            held = state.stages.get(stage)
            if want and want[0] == held:
                continue            # the derived holder is already the wanted one
            if want and (want[0] not in registered or (model, want[0]) not in reg_commit):
                raise RefusedError(
                    f"{path} asks for {model} {want[0]} in {stage}, but {want[0]} is not "
                    "registered", hint="register and merge that version first")
            if not want:
                # every (stage, version) pair still active would take the stage back once
                # the holder leaves it: end them all, so one run empties the stage
                for v in sorted(active.get(stage, set()), key=semver_key):
                    planned.append(PlannedTag(
                        tagmod.unassignment(model, stage, next_counter()),
                        reg_commit.get((model, v), head), Action.UNASSIGN, model, v, stage,
                        title=f"Remove {model} {v} from {stage}"))
            else:
                # the newest assignment holds the stage (the greatest sort key): one is enough
                v, rollback, reason = want
                what = "Roll back" if rollback else "Promote"
                planned.append(PlannedTag(
                    tagmod.assignment(model, stage, next_counter()), reg_commit[(model, v)],
                    Action.ASSIGN, model, v, stage, title=f"{what} {model} {v} to {stage}",
                    evidence={"rollback": rollback, **({"reason": reason} if reason else {})}))
        _check_converges(model, state, [p for p in planned if p.model == model], desired, path)
        if deprecated and not state.deprecated:
            # always numbered: the counter orders it after the unassignments made with it
            name = tagmod.deprecation(model, next_counter())
            planned.append(PlannedTag(name, head, Action.DEPRECATE, model,
                                      title=f"Deprecate {model}"))
    return planned


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


def _check_converges(model: str, state: ModelState, planned: list[PlannedTag],
                     desired: dict[str, tuple[str, bool, str]], path: str) -> None:
    """Replay the existing events plus the planned tags (dated after all of them) and
    refuse a plan whose derived stages would differ from ``desired`` (a version deprecated
    in the same change holds no stage)."""
    later = max((e.time for e in state.events), default=0) + 1
    events = list(state.events)
    for p in planned:
        parsed = tagmod.parse(p.name)
        events.append(Event(action=p.action, model=model, tag=p.name, commit=p.target,
                            time=later, actor="", actor_email="", annotated=True,
                            version=p.version, stage=p.stage,
                            counter=(parsed.counter or 0) if parsed else 0))
    events.sort(key=Event.sort_key)
    after = _replay(model, events)
    wanted = {s: w[0] for s, w in desired.items() if w[0] in after.registered}
    if after.stages != wanted:
        raise CannotRunError(f"the planned tags for {path} would leave {model}'s stages at "
                             f"{after.stages}, not {wanted}; no tag was created",
                             hint="report this: reconcile must reach the merged stages.yaml")


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


def reconcile(registry: Registry, *, push: bool = False, pr: int | None = None,
              review: dict[str, Any] | None = None, engine: str = "auto", now: Any = None,
              remote: str = "origin",
              hooks: dict[str, Callable[[], None]] | None = None) -> ReconcileResult:
    """Create the tags for what was merged; see the module docstring."""
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
        planned = plan(registry, head)
        if not planned:
            return ReconcileResult((), False, attempt > 0, head)
        errors = _verdicts(registry.at(head), planned, review, engine, now)
        if errors:
            raise PolicyRefusal(f"{len(errors)} policy finding(s) deny recording these events; "
                                "no tag was created", errors,
                                hint="fix them in a pull request; reconcile records only "
                                     "what passes the stage's policies")
        stamp = timefmt.stamp(now)
        digest = policy_digest(git, head)
        base: dict[str, Any] = {"merge_commit": head, "policy_digest": digest,
                                "decision": "pass", "checked_at": stamp, "engine": engine,
                                "tool": TOOL}
        if review:
            base.update(pr=review.get("pr", pr), pr_author=review.get("pr_author"),
                        head=review.get("head"), approvers=approvers(review),
                        reviews=review.get("reviews") or [],
                        committers=review.get("committers") or [],
                        owners=review.get("owners") or {})
        elif pr is not None:
            base["pr"] = pr
        created: list[PlannedTag] = []
        dates = _tag_times(git, planned)
        try:
            for p in planned:
                evidence = p.event()
                evidence.update(p.evidence)
                evidence.update(base)
                p.evidence = evidence
                hooks.get("tag", lambda: None)()
                git.run("tag", "-a", p.name, p.target, "-m",
                        tagmod.format_message(p.title, evidence),
                        env={"GIT_COMMITTER_DATE": f"{dates[p.name]} +0000"})
                created.append(p)
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
            return ReconcileResult(tuple(created), False, False, head)
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
            return ReconcileResult(mine, True, not mine, head)
        except CommandError as exc:
            _delete(git, created)
            if "rejected" not in exc.stderr and "already exists" not in exc.stderr:
                raise CannotRunError(f"pushing the tags to {remote} failed; no tag was kept",
                                     hint="check the remote and run reconcile again") from exc
            # another run pushed first: take its tags and plan again (usually nothing left)
            git.run("fetch", "-q", remote, "+refs/tags/*:refs/tags/*")
    raise CannotRunError("reconcile kept colliding with concurrent runs",
                         hint="run it again once the other runs have finished")


def _remember(git: Git, created: list[PlannedTag]) -> None:
    """The ledger of tag objects (store/trust.py): these tags, as made here, are the real
    ones; one moved or made again later does not count."""
    if created:
        record_tags(git, git.refs([f"refs/tags/{p.name}" for p in created], contents=False))


# How far ahead of this clock an existing tag may be and still be followed (clock skew
# between machines); a tag dated further ahead is not waited for.
SKEW = 300


def _tag_times(git: Git, planned: list[PlannedTag]) -> dict[str, int]:
    """The tagger time (unix seconds) of each planned tag. Events are ordered by their
    tag's time alone (as GTO orders them; the counter does not count), so a tag must be
    dated after every event its model already has, and a deprecation after the run's
    other tags of that model (in one second, any other event would keep it active)."""
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
        others = any(p.action is not Action.DEPRECATE for p in mine)
        for p in mine:
            times[p.name] = base + 1 if p.action is Action.DEPRECATE and others else base
    return times


def _delete(git: Git, created: list[PlannedTag]) -> None:
    for p in created:
        git.run("tag", "-d", p.name, check=False)
