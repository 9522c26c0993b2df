"""A model's monitoring records (``models/NAME/monitoring/X.Y.Z/YYYY-MM-DD.yaml``) as the
registry holds them, on the work tree or at any revision (the ``Registry`` it is given).

Only records that parse and validate against ``schemas/monitoring.schema.json`` and whose
folders and file name agree with what they say are returned; ``check`` and ``validate``
report the others (ID-00, ID-01, ID-02, ID-03). What the records mean is core/monitoring.py's.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from modelreg.core import monitoring, timefmt
from modelreg.core.errors import ModelregError
from modelreg.core.tags import SEMVER_RE
from modelreg.store.registry import MODELS_DIR, Registry, check_name
from modelreg.store.schemas import Schemas

FOLDER = "monitoring"


def folder(name: str, version: str | None = None) -> str:
    """``models/NAME/monitoring`` (or the folder of one version's records)."""
    base = f"{MODELS_DIR}/{check_name(name)}/{FOLDER}"
    return f"{base}/{version}" if version else base


def record_paths(registry: Registry, name: str, version: str | None = None) -> list[str]:
    """Root-relative paths of the monitoring records of one version (every version when
    None), by version then window end."""
    versions = [version] if version else [
        entry for entry, kind in registry.tree.listdir(folder(name))
        if kind == "dir" and SEMVER_RE.match(entry)]
    out = []
    for v in sorted(versions):
        base = folder(name, v)
        out += [f"{base}/{f}" for f, kind in registry.tree.listdir(base)
                if kind == "file" and f.endswith(".yaml")]
    return out


def usable(rel: str, data: Any, name: str, version: str) -> bool:
    """Whether a parsed record is the one its path promises (model, version, window end)."""
    if not isinstance(data, dict):
        return False
    window = data.get("window") if isinstance(data.get("window"), dict) else {}
    end, start = window.get("end"), window.get("start")
    return (data.get("model") == name and str(data.get("version")) == version
            and isinstance(end, str) and rel.rsplit("/", 1)[1] == f"{end}.yaml"
            and isinstance(start, str) and start <= end)


def read_records(registry: Registry, name: str, version: str | None = None, *,
                 schemas: Schemas | None = None) -> dict[str, list[dict[str, Any]]]:
    """Version -> its usable monitoring records (each the parsed record plus ``"path"``),
    oldest window first."""
    schemas = schemas or Schemas(registry)
    out: dict[str, list[dict[str, Any]]] = {}
    for rel in record_paths(registry, name, version):
        v = rel.split("/")[3]
        try:
            data = registry.load(rel).data
        except ModelregError:
            continue
        if schemas.errors("monitoring", data) or not usable(rel, data, name, v):
            continue
        out.setdefault(v, []).append({**data, "path": rel})
    for records in out.values():
        records.sort(key=lambda r: r["window"]["end"])
    return out


def version_status(registry: Registry, name: str, version: str | None,
                   model: dict[str, Any], *, directions: Mapping[str, str] | None,
                   since: str | None, today: str) -> dict[str, Any]:
    """One version's monitoring as the inventory, the audit report and the site show it:
    :func:`status` of its records as the registry holds them."""
    records = read_records(registry, name, version).get(version, []) if version else []
    return status(records, model, directions=directions, since=since, today=today)


def status(records: list[dict[str, Any]], model: dict[str, Any], *,
           directions: Mapping[str, str] | None, since: str | None,
           today: str) -> dict[str, Any]:
    """:func:`modelreg.core.monitoring.summarize` of one version's records (windows that end
    after ``today`` left out) plus ``state``: ``breach`` (the latest record breaks a
    threshold, judged again from its values), ``missing`` (no record for longer than the
    plan's cadence, counted from the later of the last window's end and ``since``, the day
    the version took its stage), ``ok``, or ``none`` (no record, and none due yet)."""
    records = [r for r in records if (monitoring.window_end(r) or "") <= today]
    summary = monitoring.summarize(records, monitoring.thresholds(model, directions),
                                   cadence=monitoring.cadence_days(model), since=since)
    cadence, last = summary["cadence_days"], summary["last"]
    start = max((d for d in (last, since) if d), default=None)
    if summary["breaches"]:
        state = "breach"
    elif cadence is not None and start is not None and \
            timefmt.add_days(start, cadence) < today:
        state = "missing"
    else:
        state = "ok" if last else "none"
    return {"state": state, **summary}


__all__ = ["FOLDER", "folder", "record_paths", "read_records", "usable", "version_status",
           "status"]
