"""What a pull request changes, so that its approvals count for exactly that.

A pull request's reviews are the sign-off of the files it changes, the versions whose
record, weights pointers or stages.yaml entry it changes, and the risk fields of the models
whose model.yaml it edits. A version it leaves alone keeps the evidence its stage tag
recorded (policy/inputs.py ``recorded_review``): registering 1.1.0 does not re-decide who
approved putting 1.0.0 in production. Base and head are compared as registry views
(:meth:`~modelreg.store.registry.Registry.at`), never by trusting the head's word.
"""
from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from modelreg.core.errors import ModelregError
from modelreg.policy.inputs import requested_stages
from modelreg.store.registry import MODELS_DIR, Registry


def merge_base(registry: Registry, ref: str) -> str | None:
    """The commit ``git diff REF...HEAD`` compares with (None without a common history)."""
    out = registry.git.run("merge-base", ref, "HEAD", check=False).strip()
    return out or None


def _stages_entries(view: Registry | None, name: str) -> dict[str, tuple[str, bool]]:
    """stages.yaml of ``name`` in ``view`` as stage -> (version, rollback)."""
    if view is None:
        return {}
    try:
        data = view.stages_file(name)
    except ModelregError:
        return {}                     # unreadable: its own finding, nothing changed here
    requested, rollback = requested_stages(data)
    return {s: (v, s in rollback) for s, v in requested.items()}


def changed_versions(base: Registry | None, head: Registry, name: str,
                     files: Iterable[str]) -> set[str]:
    """Versions of ``name`` the change touches: its record or weights pointers among
    ``files``, or an entry of stages.yaml that differs between ``base`` and ``head`` (the
    version leaving a stage and the one entering it)."""
    prefix = f"{MODELS_DIR}/{name}/versions/"
    out: set[str] = set()
    for path in files:
        if path.startswith(prefix):
            rest = path[len(prefix):]
            # versions/X.Y.Z/<file>.dvc, or versions/X.Y.Z.yaml (.sig): the version's name
            out.add(rest.split("/", 1)[0] if "/" in rest else rest.rsplit(".", 1)[0])
    before, after = _stages_entries(base, name), _stages_entries(head, name)
    for stage in set(before) | set(after):
        if before.get(stage) != after.get(stage):
            out.update(entry[0] for entry in (before.get(stage), after.get(stage)) if entry)
    return out


def _model_data(view: Registry | None, name: str) -> dict[str, Any] | None:
    rel = f"{MODELS_DIR}/{name}/model.yaml"
    if view is None or not view.is_file(rel):
        return None
    try:
        data = view.load(rel).data
    except ModelregError:
        return None
    return data if isinstance(data, dict) else None


def change_document(base: Registry | None, head: Registry, *, base_ref: str | None,
                    files: Iterable[str], review: dict[str, Any] | None,
                    generated: Iterable[str] = ()) -> dict[str, Any]:
    """The pull request as one policy document (``input.change``): its changed files, its
    review (with each file's code owners, from the base's CODEOWNERS), the changed files that
    are exactly what generating them from reviewed inputs gives (``generated``: their inputs'
    owners sign them off), and for every model.yaml it edits that existed at the base, the
    model before and after (RISK-03 compares the risk fields)."""
    paths = sorted(set(files) | set((review or {}).get("owners") or {}))
    models: dict[str, Any] = {}
    for path in paths:
        parts = path.split("/")
        if len(parts) == 3 and parts[0] == MODELS_DIR and parts[2] == "model.yaml":
            before = _model_data(base, parts[1])
            after = _model_data(head, parts[1])
            if before is not None and after is not None:
                models[parts[1]] = {"before": before, "after": after}
    return {"base": base_ref, "files": paths, "review": review, "models": models,
            "generated": sorted(set(generated) & set(paths)),
            "deleted": deleted_findings(head, base_ref)}


def deleted_findings(head: Registry, base_ref: str | None) -> list[str]:
    """Validation findings (models/NAME/validation/*.yaml) that existed where the change
    forked from ``base_ref`` and are gone from the work tree: a finding is closed, never
    deleted (GOV-06), and a deletion is otherwise no changed file to judge."""
    if not base_ref or head.git is None:
        return []
    fork = head.git.run("merge-base", base_ref, "HEAD", check=False).strip()
    if not fork:
        return []
    out = head.git.run("diff", "--name-only", "--diff-filter=D", "--no-renames", "-z", fork,
                       "--", ":(glob)models/*/validation/*.yaml", check=False)
    return sorted(p for p in out.split("\0") if p)


__all__ = ["change_document", "changed_versions", "merge_base"]
