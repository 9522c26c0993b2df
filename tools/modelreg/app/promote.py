"""``promote``, ``rollback`` and ``deprecate``: pull requests that edit ``stages.yaml``.

Each prepares a branch and a commit; none creates a tag (``reconcile`` does, on the
protected branch, after review). ``promote`` and ``rollback`` check the target stage's
policies first and refuse with the findings when they fail; there is no ``--force``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from modelreg.core.errors import PolicyRefusal, RefusedError
from modelreg.core.files import write_atomic
from modelreg.core.records import Finding
from modelreg.core.tags import Action
from modelreg.policy.documents import validate_file
from modelreg.policy.evaluate import evaluate
from modelreg.policy.reviews import reached_without_review
from modelreg.steps.stages import entry_version, requested
from modelreg.steps.stages import text as stages_text
from modelreg.store.registry import Registry, check_name, check_version, semver_key
from modelreg.store.schemas import Schemas
from modelreg.store.undo import Undo


@dataclass(frozen=True)
class StageChange:
    model: str
    version: str | None
    stage: str | None
    action: str                     # promote | rollback | deprecate
    branch: str | None
    commit: str | None
    findings: tuple[Finding, ...]   # warnings that did not block


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


# Untracked files the check reads (records, the card, DVC pointers); untracked weights are
# not read, and ``register`` leaves its copies behind when its branch is left.
_READ_SUFFIXES = (".yaml", ".md", ".dvc")


def uncommitted_model_files(registry: Registry, name: str) -> list[str]:
    """The model's files whose work-tree state is not what the commit will hold.

    The stage change commits ``stages.yaml`` alone, on top of ``HEAD``; the check must judge
    exactly that. An uncommitted card edit would pass here and fail in the pull request."""
    folder = f"{registry.rel(registry.model_dir(name))}/"
    return sorted(path for status, path in registry.git.uncommitted(folder)
                  if status != "??" or path.endswith(_READ_SUFFIXES))


def _refuse_uncommitted(registry: Registry, name: str) -> None:
    dirty = uncommitted_model_files(registry, name)
    if dirty:
        shown = ", ".join(dirty[:5]) + (f" and {len(dirty) - 5} more" if len(dirty) > 5 else "")
        raise RefusedError(
            f"{name} has uncommitted changes ({shown}): the pull request would hold only "
            "stages.yaml, so they cannot be judged with it; nothing was changed",
            hint="commit them on their own pull request (or git stash them), then try again")


def _apply(registry: Registry, name: str, data: dict[str, Any], *, branch: str | None,
           title: str, version: str | None, check_policies: bool, engine: str,
           now: Any, action: str, stage: str | None, unreviewed: bool = False) -> StageChange:
    git = registry.git
    path = registry.model_dir(name) / "stages.yaml"
    rel = registry.rel(path)
    if branch and git.branch_exists(branch):
        raise RefusedError(f"branch {branch} exists already",
                           hint=f"finish its pull request or delete it (git branch -D {branch})")
    _refuse_uncommitted(registry, name)
    undo = Undo(registry)
    try:
        undo.remember(path)
        write_atomic(path, stages_text(data))
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
        git.run("add", "--", rel)
        git.run("commit", "-q", "--no-verify", "-m", title, "--", rel)
    except BaseException:
        undo.rollback()
        raise
    return StageChange(name, version, stage, action, branch, git.head(), tuple(warnings))


def promote(registry: Registry, name: str, version: str, stage: str, *,
            reason: str | None = None, branch: bool = True, engine: str = "auto",
            now: Any = None) -> StageChange:
    """Ask for ``version`` of ``name`` to hold ``stage``."""
    check_name(name)
    version = check_version(version)
    registry.config.check_stage(stage, registered=False)
    state = registry.state(name)
    if version not in state.registered:
        raise RefusedError(f"{name} {version} is not registered (no tag {name}@v{version})",
                           hint="merge its registration pull request; reconcile tags it")
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
    if reason:
        entry = {"version": version, "reason": reason}
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
