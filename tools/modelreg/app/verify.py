"""``modelreg verify``: tamper detection over the whole registry or some models (the checks
are policy/integrity.py, which the gate runs for the model it gates)."""
from __future__ import annotations

from modelreg.core.records import Report
from modelreg.policy.integrity import verify as _verify
from modelreg.store.registry import Registry


def verify(registry: Registry, models: list[str] | None = None, *, weights: bool = True,
           remote: bool = False) -> Report:
    """Findings VER-01..06 for ``models`` (every model when None); ``weights=False`` skips
    the weights (re-hashing the copies that are here, looking for missing ones);
    ``remote=True`` asks a default DVC remote that is not a local folder whether it holds
    the registered weights (otherwise it is not contacted, and the report's notes say so)."""
    return _verify(registry, models, weights=weights, remote=remote)


__all__ = ["verify"]
