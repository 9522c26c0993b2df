"""Metrics against their declared thresholds, compared one way everywhere.

A version record's metric may carry ``threshold`` and ``direction`` (schemas/version.schema.json):
``higher`` means the value must be at least the threshold, ``lower`` at most. A metric that
names no direction is read as ``higher``, the common case (accuracy, AUC, F1). The policies
(Rego) decide pass or fail; this is what ``show``, ``card``, ``audit`` and ``site`` display.
"""
from __future__ import annotations

from typing import Any

HIGHER, LOWER = "higher", "lower"


def _number(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def value_meets(value: Any, threshold: Any, direction: str | None = HIGHER) -> bool | None:
    """Whether ``value`` meets ``threshold`` in ``direction``; None when either is not a
    number (there is nothing to compare)."""
    if not _number(value) or not _number(threshold):
        return None
    return value <= threshold if direction == LOWER else value >= threshold


def meets_threshold(metric: dict[str, Any]) -> bool | None:
    """Whether a record's metric meets its own threshold (None when it declares none)."""
    return value_meets(metric.get("value"), metric.get("threshold"), metric.get("direction"))


def threshold_sign(direction: str | None) -> str:
    """The comparison a threshold asks for, as shown to people: ``≥`` or ``≤``."""
    return "≤" if direction == LOWER else "≥"


__all__ = ["HIGHER", "LOWER", "value_meets", "meets_threshold", "threshold_sign"]
