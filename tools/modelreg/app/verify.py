"""``modelreg verify``: tamper detection over the whole registry or some models (the checks
are policy/integrity.py, which the gate runs for the model it gates)."""
from __future__ import annotations

from modelreg.core.records import Report
from modelreg.policy.integrity import verify as _verify
from modelreg.store.registry import Registry


def verify(registry: Registry, models: list[str] | None = None, *, weights: bool = True
           ) -> Report:
    """Findings VER-01..05 for ``models`` (every model when None); ``weights=False`` skips
    re-hashing the copies of the weights that are here."""
    return _verify(registry, models, weights=weights)


__all__ = ["verify"]
