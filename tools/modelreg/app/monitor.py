"""``monitor record``: a monitoring job's results as a reviewed record of the registry.

The job's output (JSON or YAML: the window, metric values on production data, drift
statistics per feature) becomes ``models/NAME/monitoring/X.Y.Z/END.yaml``, judged against the
thresholds the model declares (core/monitoring.py); the breaches are printed and written into
the record for the reviewer, and the file is committed on a new branch for a pull request,
as ``promote`` does with ``stages.yaml``. Nothing is left behind when it refuses. Offline:
only files are read.
"""
from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass
from typing import Any

from modelreg.core import monitoring, numbers
from modelreg.core.errors import (
    InputError,
    ModelregError,
    PolicyRefusal,
    RefusedError,
    UsageError,
)
from modelreg.core.files import write_atomic
from modelreg.core.yamlio import Document, dump_yaml, locate
from modelreg.core.yamlio import load as load_file
from modelreg.policy.documents import validate_file
from modelreg.policy.inputs import metric_directions
from modelreg.steps.prepare import refuse_uncommitted
from modelreg.store.monitoring import folder
from modelreg.store.registry import Registry, check_name, check_version
from modelreg.store.schemas import Schemas, json_path
from modelreg.store.undo import Undo


@dataclass(frozen=True)
class MonitoringRecord:
    """What ``monitor record`` wrote: the record, its breaches, the branch and commit."""

    model: str
    version: str
    path: str
    record: dict[str, Any]
    breaches: tuple[dict[str, Any], ...]
    branch: str | None
    commit: str | None

    def to_json(self) -> dict[str, Any]:
        return {"model": self.model, "version": self.version, "path": self.path,
                "window": self.record.get("window"), "breaches": list(self.breaches),
                "branch": self.branch, "commit": self.commit}


def _results(path: str) -> Document:
    if not os.path.exists(path):
        raise UsageError(f"{path} does not exist",
                         hint="give the monitoring job's output, JSON or YAML")
    return load_file(path)


def _rows(value: Any, key: str, doc: Document, where: list[str | int]) -> list[Any]:
    """A list of rows, or a mapping ``{name: value}`` made into rows."""
    if value is None:
        return []
    if isinstance(value, list):
        return value
    if isinstance(value, dict) and key == "metrics":
        return [{"name": k, "value": v} for k, v in value.items()]
    if isinstance(value, dict) and key == "drift":
        # {feature: {statistic: value}}
        rows = []
        for feature, stats in value.items():
            if not isinstance(stats, dict):
                raise InputError(f"drift for {feature!r} is not a mapping of statistic to value",
                                 file=doc.path, line=locate(doc, [*where, feature]),
                                 hint="write drift as [{feature, statistic, value}] or "
                                      "{feature: {psi: 0.1}}")
            rows += [{"feature": feature, "statistic": s, "value": v} for s, v in stats.items()]
        return rows
    raise InputError(f"{key} is neither a list nor a mapping", file=doc.path,
                     line=locate(doc, where),
                     hint=f"write {key} as a list of rows (see docs/guide.md)")


def build_record(doc: Document, name: str, version: str) -> dict[str, Any]:
    """The record from a monitoring job's output: ``window: {start, end}`` (or top-level
    ``start``/``end``), ``metrics`` (rows, or ``{name: value}``), ``drift`` (rows, or
    ``{feature: {statistic: value}}``), ``source``, ``notes``."""
    data = doc.data
    if not isinstance(data, dict):
        raise InputError("the results are not a mapping", file=doc.path, line=1,
                         hint="give window, metrics and drift at the top level")
    window = data.get("window") if "window" in data else \
        {k: data[k] for k in ("start", "end") if k in data}
    where_w: list[str | int] = ["window"] if "window" in data else []
    for key in ("start", "end"):
        if isinstance(window, dict) and not isinstance(window.get(key), str) and \
                hasattr(window.get(key), "isoformat"):
            window[key] = window[key].isoformat()      # YAML's unquoted dates
    record: dict[str, Any] = {"model": name, "version": version, "window": window}
    if data.get("source") is not None:
        record["source"] = data["source"]
    elif data.get("run_id") is not None:
        record["source"] = str(data["run_id"])
    record["metrics"] = _rows(data.get("metrics"), "metrics", doc, ["metrics"])
    drift = _rows(data.get("drift"), "drift", doc, ["drift"])
    if drift:
        record["drift"] = drift
    if data.get("notes") is not None:
        record["notes"] = data["notes"]
    bad = numbers.find(record)
    if bad:
        path, value = bad[0]
        raise InputError(f"{value} at {json_path(list(path))} is not a number JSON can carry",
                         file=doc.path, hint="give finite values")
    if isinstance(window, dict) and isinstance(window.get("start"), str) and \
            isinstance(window.get("end"), str) and window["end"] < window["start"]:
        raise InputError(f"the window ends ({window['end']}) before it starts "
                         f"({window['start']})", file=doc.path,
                         line=locate(doc, [*where_w, "end"]),
                         hint="give the first and the last day of the window measured")
    return record


def _schema_errors(registry: Registry, record: dict[str, Any], doc: Document,
                   from_results: dict[str, list[str | int]]) -> None:
    errors = Schemas(registry).errors("monitoring", record)
    if not errors:
        return
    parts, message = errors[0]
    top = parts[0] if parts else None
    back = from_results.get(str(top), []) + list(parts[1:]) if top else []
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    raise InputError(f"{json_path(parts)}: {message}{more}", file=doc.path,
                     line=locate(doc, back) if back else 1,
                     hint="see schemas/monitoring.schema.json for the record's shape")


def _directions(registry: Registry, name: str, model: dict[str, Any]
                ) -> list[monitoring.Threshold]:
    limits = monitoring.thresholds(model, metric_directions(dict(registry.config.data)))
    unknown = [t for t in limits if t.direction is None]
    if unknown:
        rel = f"models/{name}/model.yaml"
        try:
            line = locate(registry.load(rel), ["monitoring_plan", "thresholds", unknown[0].metric])
        except ModelregError:
            line = None                  # model.yaml was read a moment ago; the line is a courtesy
        names = ", ".join(t.metric for t in unknown)
        raise InputError(
            f"no direction is known for the monitoring threshold of {names}: is a higher "
            "or a lower value good?", file=rel, line=line,
            hint=f"write it as {{threshold: N, direction: higher|lower}} in {rel}, or add "
                 f"{unknown[0].metric} to policies/data/metrics.yaml directions")
    return limits


def record(registry: Registry, target: str, results: str, *, branch: str | None = None,
           commit: bool = True) -> MonitoringRecord:
    """Write the monitoring record of ``target`` (``NAME@X.Y.Z``) from ``results`` and commit
    it on ``branch`` (default ``monitor/NAME-X.Y.Z-END``)."""
    if "@" not in target:
        raise UsageError(f"{target!r} names no version", hint="give NAME@X.Y.Z")
    name, _, version = target.partition("@")
    check_name(name)
    version = check_version(version.removeprefix("v"))
    model = registry.model(name).data                    # UsageError: no such model
    registry.version(name, version)                       # UsageError: no such version
    if version not in registry.state(name).registered:
        raise RefusedError(f"{name} {version} is not registered (no tag {name}@v{version})",
                           hint="only a registered version serves traffic to monitor; "
                                "merge its registration pull request first")
    doc = _results(results)
    rec = build_record(doc, name, version)
    where = {"window": ["window"] if "window" in (doc.data or {}) else [],
             "metrics": ["metrics"], "drift": ["drift"], "source": ["source"],
             "notes": ["notes"]}
    _schema_errors(registry, rec, doc, where)
    limits = _directions(registry, name, model)
    breaches = monitoring.judge(rec, limits)
    rec["breaches"] = breaches
    end = rec["window"]["end"]
    if end > dt.datetime.now(dt.UTC).date().isoformat():
        raise InputError(f"the window ends on {end}, which is still to come", file=doc.path,
                         line=locate(doc, [*where["window"], "end"]),
                         hint="record a window once it has ended")
    rel = f"{folder(name, version)}/{end}.yaml"
    path = registry.root / rel
    if path.exists() or registry.git.tracked([rel]):
        raise RefusedError(f"{rel} exists already: a window ending {end} was recorded",
                           file=rel, hint="record a later window, or edit that record in a "
                                          "pull request of its own")
    branch = branch or f"monitor/{name}-{version}-{end}"
    git = registry.git
    if commit and git.branch_exists(branch):
        raise RefusedError(f"branch {branch} exists already",
                           hint=f"finish its pull request or delete it (git branch -D {branch})"
                                " or give --branch")
    if commit:
        refuse_uncommitted(registry, name, "the monitoring record")
    undo = Undo(registry)
    try:
        undo.create_dir(path.parent)
        undo.remember(path)
        write_atomic(path, _text(rec))
        errors = [f for f in validate_file(registry, Schemas(registry), rel)
                  if f.severity == "error"]
        if errors:
            raise PolicyRefusal(f"{rel} would be invalid", tuple(errors))
        head = None
        if commit:
            undo.branch_off(branch)
            git.run("add", "--", rel)
            title = f"Monitoring of {name} {version}, window {rec['window']['start']} to {end}"
            if breaches:
                title += f"\n\n{len(breaches)} past their thresholds:\n" + "\n".join(
                    f"- {monitoring.describe(b)}" for b in breaches)
            git.run("commit", "-q", "--no-verify", "-m", title, "--", rel)
            head = git.head()
    except BaseException:
        undo.rollback()
        raise
    return MonitoringRecord(name, version, rel, rec, tuple(breaches),
                            branch if commit else None, head)


def _text(rec: dict[str, Any]) -> str:
    head = ("# Written by `modelreg monitor record`. `breaches` is for the reviewer: the\n"
            "# policies judge the values against model.yaml's thresholds themselves.\n")
    return head + dump_yaml(rec)


__all__ = ["MonitoringRecord", "record", "build_record"]
