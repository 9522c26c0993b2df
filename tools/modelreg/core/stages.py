"""Stage order: ``registered`` first, then the configured stages in promotion order.

Which stages exist and in what order is registry configuration (``environments.yaml``, read
by :mod:`modelreg.store.config`); this module only knows the stage every version starts in and
how to compare stages once the order is given.
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

# Every version holds this once its registration tag exists; it gates the rules that apply
# to every record, before any configured stage.
REGISTERED = "registered"


def order(stages: Iterable[str]) -> tuple[str, ...]:
    """``registered`` followed by ``stages`` (configured stages, in promotion order)."""
    return (REGISTERED, *(s for s in stages if s != REGISTERED))


def rank(stage_order: Sequence[str]) -> dict[str, int]:
    """Stage name -> position; a higher position is a later stage."""
    return {name: i for i, name in enumerate(stage_order)}


def up_to(stage_order: Sequence[str], stage: str) -> tuple[str, ...]:
    """The stages whose rules apply at ``stage``: it and every earlier one."""
    if stage not in stage_order:
        return ()
    return tuple(stage_order[:list(stage_order).index(stage) + 1])


def from_(stage_order: Sequence[str], stage: str) -> tuple[str, ...]:
    """The stages a rule gating at ``stage`` applies to: it and every later one."""
    if stage not in stage_order:
        return ()
    return tuple(stage_order[list(stage_order).index(stage):])


def requested_stages(stages_data: dict[str, Any] | None) -> tuple[dict[str, str], list[str]]:
    """stages.yaml normalised to stage -> version, and the stages marked ``rollback: true``."""
    requested: dict[str, str] = {}
    rollback: list[str] = []
    raw = (stages_data or {}).get("stages") if isinstance(stages_data, dict) else None
    if not isinstance(raw, dict):
        return requested, rollback
    for stage, value in raw.items():
        if isinstance(value, str):
            requested[stage] = value
        elif isinstance(value, dict) and isinstance(value.get("version"), str):
            requested[stage] = value["version"]
            if value.get("rollback") is True:
                rollback.append(stage)
    return requested, sorted(rollback)


__all__ = ["REGISTERED", "order", "rank", "up_to", "from_", "requested_stages"]
