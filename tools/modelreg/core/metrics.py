"""Metrics against their declared thresholds, compared one way everywhere.

A version record's metric may carry ``threshold`` and ``direction`` (schemas/version.schema.json):
``higher`` means the value must be at least the threshold, ``lower`` at most. A metric that
names no direction is read as ``higher``, the common case (accuracy, AUC, F1). The policies
(Rego) decide pass or fail; this is what ``show``, ``card``, ``audit`` and ``site`` display.
"""
from __future__ import annotations

from collections.abc import Callable
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


def row_key(metric: dict[str, Any]) -> tuple[Any, Any, Any, Any]:
    """What makes two metric rows comparable: the metric, dataset, split and slice."""
    return (metric.get("name"), metric.get("dataset"), metric.get("split"), metric.get("slice"))


def compare(champion: list[Any], challenger: list[Any],
            direction_of: Callable[[str], str | None]) -> list[dict[str, Any]]:
    """The challenger's metrics beside the champion's, row by row on what both report (same
    metric, dataset, split and slice). ``worse_by`` is how much worse the challenger is in the
    metric's direction (negative: better); a row whose direction is unknown (not on the row,
    not from ``direction_of``) has none and is not judged. ``index`` is the challenger row's
    position in its record."""
    theirs = {row_key(m): m for m in champion
              if isinstance(m, dict) and _number(m.get("value"))}
    out = []
    for i, m in enumerate(challenger):
        if not isinstance(m, dict) or not _number(m.get("value")):
            continue
        old = theirs.get(row_key(m))
        if old is None:
            continue
        direction = m.get("direction") or old.get("direction") or direction_of(str(m["name"]))
        row = {"index": i, "metric": m["name"], "dataset": m.get("dataset"),
               "split": m.get("split"), "slice": m.get("slice"), "champion": old["value"],
               "challenger": m["value"], "direction": direction, "worse_by": None}
        if direction in (HIGHER, LOWER):
            worse = old["value"] - m["value"] if direction == HIGHER else m["value"] - old["value"]
            row["worse_by"] = round(worse, 10)      # no float noise at the tolerance's edge
        out.append(row)
    return out


__all__ = ["HIGHER", "LOWER", "value_meets", "meets_threshold", "threshold_sign", "row_key",
           "compare"]
