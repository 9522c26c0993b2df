"""A model's requested stages: ``models/NAME/stages.yaml``, as promotion pull requests edit
it. ``promote``, ``rollback``, ``deprecate`` and ``import`` write it here, in one shape;
``reconcile`` turns what a merge changed in it into stage tags."""
from __future__ import annotations

from typing import Any

from modelreg.core.yamlio import dump_yaml
from modelreg.store.registry import Registry

HEADER = ("# Desired stages of this model: edited by promotion pull requests "
          "(modelreg promote/rollback/deprecate),\n# turned into stage tags by "
          "`modelreg reconcile` after the merge. Shape: schemas/stages.schema.json.\n")


def requested(registry: Registry, name: str) -> dict[str, Any]:
    """The model's ``stages.yaml`` as data (a copy, with a ``stages`` mapping) to edit."""
    data = registry.stages_file(name)
    if data is None:
        return {"stages": {}}
    data = dict(data)
    data["stages"] = dict(data.get("stages") or {})
    return data


def text(data: dict[str, Any]) -> str:
    """The file's text for ``data``: the header, then the YAML."""
    return HEADER + dump_yaml(data)


def entry_version(entry: Any) -> str | None:
    """The version a stage entry asks for (``X.Y.Z`` or ``{version: X.Y.Z, …}``)."""
    return entry.get("version") if isinstance(entry, dict) else entry
