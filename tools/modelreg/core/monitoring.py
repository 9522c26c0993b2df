"""Ongoing monitoring judged one way: a monitoring record's values against the thresholds
its model declares, and a version's records summed up for the policies.

A model declares ``monitoring_plan.thresholds`` in ``model.yaml``: a metric or drift
statistic to a number, or to ``{threshold, direction}``. A bare number's direction is the one
the model's ``evaluation.thresholds`` gives the same metric, else the registry's
``policies/data/metrics.yaml`` ``directions``. A drift threshold is keyed by the statistic
(``psi: 0.2``) and judges every feature's value of it. Pure functions over parsed data:
``modelreg monitor record`` writes what :func:`judge` finds into the record for the reviewer,
and the policy input carries what :func:`summarize` says, computed again from the values
(the record's own ``breaches:`` list is never read).
"""
from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from modelreg.core.metrics import HIGHER, LOWER, value_meets

# monitoring_plan.frequency -> the longest gap between two records, in days
CADENCE_DAYS = {"daily": 1, "weekly": 7, "monthly": 31, "quarterly": 92}
DIRECTIONS = (HIGHER, LOWER)


@dataclass(frozen=True)
class Threshold:
    """One monitored metric's threshold, and where its direction came from."""

    metric: str
    threshold: float
    direction: str | None          # None: given nowhere
    source: str                    # "model.yaml", "evaluation.thresholds", "metrics.yaml", ""


def cadence_days(model: Any) -> int | None:
    """How many days may pass between two monitoring records (None: no frequency)."""
    plan = model.get("monitoring_plan") if isinstance(model, dict) else None
    freq = plan.get("frequency") if isinstance(plan, dict) else None
    return CADENCE_DAYS.get(freq) if isinstance(freq, str) else None


def _number(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def _evaluation_direction(model: dict[str, Any], metric: str) -> str | None:
    evaluation = model.get("evaluation")
    rows = evaluation.get("thresholds") if isinstance(evaluation, dict) else None
    for row in rows if isinstance(rows, list) else []:
        if isinstance(row, dict) and row.get("metric") == metric and \
                row.get("direction") in DIRECTIONS:
            return str(row["direction"])
    return None


def thresholds(model: Any, directions: Mapping[str, Any] | None) -> list[Threshold]:
    """The model's monitoring thresholds, each with its direction (None when neither the
    threshold, the model's evaluation thresholds nor ``directions`` give one)."""
    plan = model.get("monitoring_plan") if isinstance(model, dict) else None
    declared = plan.get("thresholds") if isinstance(plan, dict) else None
    out: list[Threshold] = []
    for metric, spec in (declared.items() if isinstance(declared, dict) else ()):
        if isinstance(spec, dict):
            value, direction = spec.get("threshold"), spec.get("direction")
            source = "model.yaml" if direction in DIRECTIONS else ""
        else:
            value, direction, source = spec, None, ""
        if not _number(value) or not math.isfinite(value):
            continue                        # ID-08 reports a non-finite threshold
        if direction not in DIRECTIONS:
            direction = _evaluation_direction(model, str(metric))
            source = "evaluation.thresholds" if direction else ""
        if direction is None and directions and directions.get(metric) in DIRECTIONS:
            direction, source = str(directions[metric]), "metrics.yaml"
        out.append(Threshold(str(metric), float(value), direction, source))
    return out


def _shown(value: Any) -> Any:
    """A value as a breach carries it: NaN and infinities (which JSON cannot carry) as None."""
    return value if _number(value) and math.isfinite(value) else None


def _breaks(value: Any, t: Threshold) -> bool:
    """Whether ``value`` is on the wrong side of ``t``; a value that is no finite number
    (NaN compares false both ways) breaks every threshold."""
    if not _number(value) or not math.isfinite(value):
        return True
    return value_meets(value, t.threshold, t.direction or HIGHER) is False


def judge(record: Any, limits: Iterable[Threshold]) -> list[dict[str, Any]]:
    """Every value of ``record`` on the wrong side of its threshold, in record order, then
    every threshold the record reports no value for (``missing``: a record that leaves out
    the metric that went wrong does not pass for one within its thresholds).

    A threshold without a direction is judged ``higher`` (core/metrics.py's reading of a
    metric that names none); ``monitor record`` refuses to write a record under one."""
    by_metric = {t.metric: t for t in limits}
    data = record if isinstance(record, dict) else {}
    out: list[dict[str, Any]] = []
    seen: set[Any] = set()
    for row in data.get("metrics") or []:
        if not isinstance(row, dict):
            continue
        seen.add(row.get("name"))
        t = by_metric.get(row.get("name"))               # type: ignore[arg-type]
        if t is not None and _breaks(row.get("value"), t):
            breach = {"metric": t.metric, "value": _shown(row.get("value")),
                      "threshold": t.threshold,
                      "direction": t.direction or HIGHER}
            if isinstance(row.get("slice"), str) and row["slice"] != "overall":
                breach["slice"] = row["slice"]
            out.append(breach)
    for row in data.get("drift") or []:
        if not isinstance(row, dict):
            continue
        seen.add(row.get("statistic"))
        t = by_metric.get(row.get("statistic"))          # type: ignore[arg-type]
        if t is not None and _breaks(row.get("value"), t):
            out.append({"metric": t.metric, "feature": str(row.get("feature")),
                        "value": _shown(row.get("value")), "threshold": t.threshold,
                        "direction": t.direction or HIGHER})
    for t in by_metric.values():
        if t.metric not in seen:
            out.append({"metric": t.metric, "value": None, "threshold": t.threshold,
                        "direction": t.direction or HIGHER, "missing": True})
    return out


def window_end(record: Any) -> str | None:
    window = record.get("window") if isinstance(record, dict) else None
    end = window.get("end") if isinstance(window, dict) else None
    return end if isinstance(end, str) else None


def summarize(records: Iterable[Any], limits: Iterable[Threshold], *,
              cadence: int | None, since: str | None) -> dict[str, Any]:
    """What the policies read of one version's monitoring (``input.models[].monitoring``):
    ``last`` (the latest window's end), ``breaches`` (the latest record's, judged from its
    values), ``breach_since`` (the first window end of the unbroken run of breaching records
    that reaches the latest), ``cadence_days``, ``since`` (the day the version took the
    last stage, from its tag) and ``file`` (the latest record's path, when the records carry
    theirs as ``"path"``)."""
    limits = list(limits)
    dated = sorted(((end, r) for r in records if (end := window_end(r)) is not None),
                   key=lambda p: p[0])
    judged = [(end, judge(r, limits)) for end, r in dated]
    breach_since = None
    for end, found in reversed(judged):
        if not found:
            break
        breach_since = end
    latest = dated[-1][1] if dated else {}
    path = latest.get("path") if isinstance(latest, dict) else None
    return {"last": judged[-1][0] if judged else None,
            "file": path if isinstance(path, str) else None,
            "breaches": judged[-1][1] if judged else [],
            "breach_since": breach_since,
            "cadence_days": cadence,
            "since": since}


def describe(breach: Mapping[str, Any]) -> str:
    """One breach as people read it: ``auc 0.64 < 0.7`` (``psi of income 0.31 > 0.2``,
    ``auc not reported (threshold 0.7)``)."""
    if breach.get("missing"):
        return f"{breach.get('metric')} not reported (threshold {breach.get('threshold')})"
    sign = "<" if breach.get("direction") != LOWER else ">"
    what = str(breach.get("metric"))
    if breach.get("feature"):
        what += f" of {breach['feature']}"
    if breach.get("slice"):
        what += f" ({breach['slice']})"
    return f"{what} {breach.get('value')} {sign} {breach.get('threshold')}"


__all__ = ["CADENCE_DAYS", "Threshold", "cadence_days", "thresholds", "judge", "summarize",
           "window_end", "describe"]
