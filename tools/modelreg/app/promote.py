"""``promote``, ``rollback`` and ``deprecate``: pull requests that edit ``stages.yaml``;
``retire``: the pull request that records a model's retirement in its ``model.yaml``.

Each prepares a branch and a commit; none creates a tag (``reconcile`` does, on the
protected branch, after review). ``promote`` and ``rollback`` check the target stage's
policies first and refuse with the findings when they fail; there is no ``--force``.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from modelreg.core.errors import PolicyRefusal, RefusedError, UsageError
from modelreg.core.files import write_atomic
from modelreg.core.records import Finding
from modelreg.core.tags import Action
from modelreg.core.timefmt import parse_when, rfc3339
from modelreg.core.yamlio import dump_yaml, parse_yaml
from modelreg.policy.documents import validate_file
from modelreg.policy.evaluate import evaluate
from modelreg.policy.reviews import reached_without_review
from modelreg.steps.prepare import refuse_uncommitted
from modelreg.steps.stages import entry_version, requested
from modelreg.steps.stages import text as stages_text
from modelreg.store import cards
from modelreg.store.registry import Registry, check_name, check_version, semver_key
from modelreg.store.schemas import Schemas
from modelreg.store.undo import Undo


@dataclass(frozen=True)
class StageChange:
    model: str
    version: str | None
    stage: str | None
    action: str                     # promote | rollback | deprecate | retire
    branch: str | None
    commit: str | None
    findings: tuple[Finding, ...]   # warnings that did not block
    file: str = "stages.yaml"       # the model's file the commit changes


def _policy_findings(registry: Registry, name: str, version: str | None, engine: str,
                     now: Any, unreviewed: bool = False) -> tuple[list[Finding], list[Finding]]:
    """(errors, warnings) of the policies for this model's version at its requested stage.
    ``unreviewed``: the version holds the stage without recorded approvals, which the pull
    request being prepared brings (GOV-01 is its review's to satisfy)."""
    result = evaluate(registry, [name], engine=engine, now=now)
    mine = [f for f in result.findings
            if f.model in (None, name) and f.version in (None, version)
            and not (unreviewed and f.rule == "GOV-01")]
    return ([f for f in mine if f.severity == "error"],
            [f for f in mine if f.severity == "warning"])


def _apply(registry: Registry, name: str, data: dict[str, Any] | str, *, branch: str | None,
           title: str, version: str | None, check_policies: bool, engine: str,
           now: Any, action: str, stage: str | None, unreviewed: bool = False,
           file: str = "stages.yaml", card: bool = False) -> StageChange:
    """Write ``file`` of the model (``data``: stages.yaml's data, or the file's text), check
    it, and commit it (with the card rendered again, ``card``), on ``branch`` when one is
    given."""
    git = registry.git
    path = registry.model_dir(name) / file
    rel = registry.rel(path)
    if branch and git.branch_exists(branch):
        raise RefusedError(f"branch {branch} exists already",
                           hint=f"finish its pull request or delete it (git branch -D {branch})")
    refuse_uncommitted(registry, name, file)
    undo = Undo(registry)
    try:
        undo.remember(path)
        write_atomic(path, data if isinstance(data, str) else stages_text(data))
        paths = [rel]
        if card:
            card_file = registry.model_dir(name) / "card.md"
            if card_file.exists():
                undo.remember(card_file)
                cards.write(registry, name)
                paths.append(registry.rel(card_file))
        warnings: list[Finding] = []
        schema_errors = [f for f in validate_file(registry, Schemas(registry), rel)
                         if f.severity == "error"]
        if schema_errors:
            raise PolicyRefusal(f"{rel} would be invalid", schema_errors)
        if check_policies:
            errors, warnings = _policy_findings(registry, name, version, engine, now,
                                                unreviewed)
            if errors:
                raise PolicyRefusal(
                    f"the {stage} policies deny {name} {version}: nothing was changed",
                    errors, hint="fix the findings above (or record an approved exception), "
                                 "then try again")
        if branch:
            git.run("checkout", "-q", "-b", branch)
            undo.new_branch = branch
        git.run("add", "--", *paths)
        git.run("commit", "-q", "--no-verify", "-m", title, "--", *paths)
    except BaseException:
        undo.rollback()
        raise
    return StageChange(name, version, stage, action, branch, git.head(), tuple(warnings),
                       file)


def promote(registry: Registry, name: str, version: str, stage: str, *,
            reason: str | None = None, branch: bool = True, engine: str = "auto",
            now: Any = None, accept_regression: str | None = None,
            accepted_by: str | None = None) -> StageChange:
    """Ask for ``version`` of ``name`` to hold ``stage``. ``accept_regression`` (a reason)
    and ``accepted_by`` (a model-risk officer's login) record that the version may be worse
    than the one holding the stage (EVAL-05); it counts when that person approves the pull
    request."""
    check_name(name)
    version = check_version(version)
    if (accept_regression is None) != (accepted_by is None):
        raise UsageError("--accept-regression and --accepted-by go together",
                         hint="give the reason and the login of the model-risk officer who "
                              "accepts it")
    registry.config.check_stage(stage, registered=False)
    state = registry.state(name)
    if version not in state.registered:
        raise RefusedError(f"{name} {version} is not registered (no tag {name}@v{version})",
                           hint="merge its registration pull request; reconcile tags it")
    retired = registry.model(name).data.get("retirement")
    if retired is not None:
        raise RefusedError(f"{name} is retired{_since(retired)} and cannot be promoted "
                           "(OPS-04)", hint="register and promote its replacement instead")
    data = requested(registry, name)
    if version in (data.get("deprecated_versions") or []) or data.get("deprecated"):
        raise RefusedError(f"{name} {version} is deprecated and cannot be promoted")
    current = data["stages"].get(stage)
    current_v = entry_version(current)
    unreviewed = current_v == version and state.stages.get(stage) == version
    if unreviewed:
        held = state.assignment(stage, version)
        if held is None or not held.annotated or not reached_without_review(held.evidence):
            raise RefusedError(f"{name} {version} already holds {stage}")
        # held without a reviewed pull request: a pull request that changes the entry
        # records it again once merged
        if not reason or (isinstance(current, dict) and current.get("reason") == reason):
            raise RefusedError(f"{name} {version} holds {stage} without a reviewed pull "
                               "request", hint="give -m REASON: a pull request that changes "
                               "its entry, approved by the stage's owners, records it again")
    entry: Any = version
    if reason or accept_regression:
        entry = {"version": version, **({"reason": reason} if reason else {})}
    if accept_regression is not None:
        entry["accept_regression"] = {"approved_by": accepted_by, "reason": accept_regression}
    data["stages"][stage] = entry
    return _apply(registry, name, data,
                  branch=f"promote/{name}-{stage}-{version}" if branch else None,
                  title=f"Promote {name} {version} to {stage}" + (f"\n\n{reason}" if reason else ""),
                  version=version, check_policies=True, engine=engine, now=now,
                  action="promote", stage=stage, unreviewed=unreviewed)


def previous_holder(registry: Registry, name: str, stage: str) -> str | None:
    """The version that held ``stage`` before the one holding it now (from the tag history)."""
    state = registry.state(name)
    current = state.stages.get(stage)
    seen: list[str] = []
    for ev in state.events:
        if ev.action is Action.ASSIGN and ev.stage == stage and ev.version:
            if not seen or seen[-1] != ev.version:
                seen.append(ev.version)
    for v in reversed(seen):
        if v != current and v in state.registered:
            return v
    return None


def rollback(registry: Registry, name: str, stage: str, *, to: str | None = None,
             reason: str | None = None, branch: bool = True, engine: str = "auto",
             now: Any = None) -> StageChange:
    """Put ``stage`` back to ``to`` (default: the version that held it before)."""
    check_name(name)
    state = registry.state(name)
    current = state.stages.get(stage)
    if current is None:
        raise RefusedError(f"{name} holds no version in {stage}; nothing to roll back")
    target = check_version(to) if to else previous_holder(registry, name, stage)
    if target is None:
        raise RefusedError(f"no earlier version of {name} held {stage}",
                           hint=f"name one with --to {name}@X.Y.Z")
    if target == current:
        raise RefusedError(f"{name} {target} holds {stage} already")
    if target not in state.registered:
        raise RefusedError(f"{name} {target} is not registered")
    data = requested(registry, name)
    data["stages"][stage] = {"version": target, "rollback": True,
                             "reason": reason or f"roll back from {current}"}
    return _apply(registry, name, data,
                  branch=f"rollback/{name}-{stage}-{target}" if branch else None,
                  title=f"Roll back {name} in {stage} from {current} to {target}",
                  version=target, check_policies=True, engine=engine, now=now,
                  action="rollback", stage=stage)


def deprecate(registry: Registry, name: str, version: str | None = None, *,
              reason: str | None = None, branch: bool = True) -> StageChange:
    """Deprecate a version (it must hold no stage) or the whole model."""
    check_name(name)
    registry.model(name)
    data = requested(registry, name)
    if version:
        version = check_version(version)
        if version not in registry.state(name).registered:
            raise RefusedError(f"{name} {version} is not registered")
        held = [s for s, v in data["stages"].items()
                if entry_version(v) == version]
        if held:
            raise RefusedError(f"{name} {version} is still asked for in {', '.join(held)}",
                               hint="promote or roll back another version there first")
        listed = list(data.get("deprecated_versions") or [])
        if version in listed:
            raise RefusedError(f"{name} {version} is deprecated already")
        data["deprecated_versions"] = sorted([*listed, version], key=semver_key)
        title = f"Deprecate {name} {version}"
        slug = f"deprecate/{name}-{version}"
    else:
        if data.get("deprecated"):
            raise RefusedError(f"{name} is deprecated already")
        data["deprecated"] = True
        data["stages"] = {s: None for s in data["stages"]}
        title = f"Deprecate {name}"
        slug = f"deprecate/{name}"
    return _apply(registry, name, data, branch=slug if branch else None,
                  title=title + (f"\n\n{reason}" if reason else ""), version=version,
                  check_policies=False, engine="auto", now=None, action="deprecate",
                  stage=None)


_DATE = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")


def _since(retirement: Any) -> str:
    when = retirement.get("date") if isinstance(retirement, dict) else None
    return f" since {when}" if isinstance(when, str) else ""


def retire(registry: Registry, name: str, reason: str, *, date: str | None = None,
           replaced_by: str | None = None, branch: bool = True,
           branch_name: str | None = None) -> StageChange:
    """Record in ``model.yaml`` that ``name`` is retired (SR 11-7 model inventory, NIST AI
    RMF GOVERN 1.7): ``retirement: {date, reason, replaced_by}``, appended so the file's
    comments and order stay as they are. The model must hold no stage (by its trusted tags)
    and ask for none; it stays in the registry, its history and the inventory."""
    check_name(name)
    model = registry.model(name)
    reason = (reason or "").strip()
    if not reason:
        raise UsageError("a retirement needs a reason", hint="give --reason TEXT: why the "
                         "model is retired, for the inventory and the audit report")
    when = (date or "").strip() or rfc3339()[:10]
    if not _DATE.match(when):
        raise UsageError(f"invalid date {when!r}", hint="use YYYY-MM-DD")
    parse_when(when)                # a real calendar date, or a UsageError
    if model.data.get("retirement") is not None:
        raise RefusedError(f"{name} is retired already{_since(model.data['retirement'])}",
                           file=model.path)
    if replaced_by is not None:
        check_name(replaced_by)
        if replaced_by == name:
            raise UsageError(f"{name} cannot replace itself",
                             hint="--replaced-by names the model that takes over its use")
        successor = registry.model(replaced_by)
        if successor.data.get("retirement") is not None:
            raise RefusedError(f"{replaced_by} is retired too: it cannot replace {name}",
                               hint="name the model that serves its use now")
    state = registry.state(name)
    if state.stages:
        held = ", ".join(f"{s} ({v})" for s, v in sorted(state.stages.items()))
        raise RefusedError(
            f"{name} still holds {held}: a retired model holds no stage (OPS-04); nothing "
            "was changed",
            hint=f"take it out of every stage first: `modelreg deprecate {name}` prepares "
                 "the pull request that empties its stages (or `modelreg rollback` puts "
                 "another version back); once it is merged and reconcile has tagged it, "
                 "retire the model")
    asked = {s: entry_version(e) for s, e in requested(registry, name)["stages"].items()
             if entry_version(e)}
    if asked:
        shown = ", ".join(f"{s} ({v})" for s, v in sorted(asked.items()))
        raise RefusedError(
            f"models/{name}/stages.yaml still asks for {shown}: a retired model asks for no "
            "stage (OPS-04); nothing was changed",
            hint=f"`modelreg deprecate {name}` prepares the pull request that empties its "
                 "stages; merge it first")
    path = registry.model_dir(name) / "model.yaml"
    text = path.read_text(encoding="utf-8")
    parse_yaml(text, model.path)    # what is appended to must be one mapping already
    entry: dict[str, Any] = {"date": when, "reason": reason}
    if replaced_by:
        entry["replaced_by"] = replaced_by
    if text and not text.endswith("\n"):
        text += "\n"
    text += dump_yaml({"retirement": entry})
    return _apply(registry, name, text,
                  branch=(branch_name or f"retire/{name}") if branch else None,
                  title=f"Retire {name}\n\n{reason}", version=None, check_policies=False,
                  engine="auto", now=None, action="retire", stage=None, file="model.yaml",
                  card=True)
