"""The library API behind each read command: results as plain data, nothing printed."""
from __future__ import annotations

from typing import Any

from .errors import ModelregError
from .records import ModelState
from .registration import RegisterRequest, RegisterResult
from .registration import register as _register
from .registry import Registry, check_version
from .validation import validate as _validate
from .records import Report


def list_models(registry: Registry) -> list[dict[str, Any]]:
    """``modelreg ls``: one row per model, stages from one ``for-each-ref`` call."""
    states = registry.states()
    rows = []
    for name in registry.model_names():
        state = states.get(name, ModelState(name, (), {}, False, ()))
        files = registry.version_names(name)
        row: dict[str, Any] = {"name": name}
        try:
            data = registry.model(name).data
            owner = data.get("owner") if isinstance(data.get("owner"), dict) else {}
            risk = data.get("risk") if isinstance(data.get("risk"), dict) else {}
            eu = risk.get("eu_ai_act") if isinstance(risk.get("eu_ai_act"), dict) else {}
            row.update(title=data.get("title"), owner=owner.get("team"),
                       risk_tier=risk.get("tier"), eu_ai_act_class=eu.get("class"))
        except ModelregError as exc:
            row.update(title=None, owner=None, risk_tier=None, eu_ai_act_class=None,
                       error=str(exc))
        every = sorted(set(files) | set(state.registered), key=_key)
        row.update(latest=every[-1] if every else None, versions=len(every),
                   registered=len(state.registered), stages=dict(state.stages),
                   deprecated=state.deprecated)
        rows.append(row)
    return rows


def _key(v: str):
    from .registry import semver_key

    return semver_key(v)


def _version_entry(registry: Registry, name: str, version: str, state: ModelState) -> dict:
    entry: dict[str, Any] = {"version": version,
                             "registered": version in state.registered,
                             "stages": sorted(s for s, v in state.stages.items() if v == version)}
    reg = next((e for e in state.events if e.action.value == "register"
                and e.version == version), None)
    if reg:
        entry["registration"] = {"tag": reg.tag, "commit": reg.commit, "time": reg.time,
                                 "actor": reg.actor}
    try:
        entry["record"] = registry.version(name, version).data
    except ModelregError as exc:
        entry["record"] = None
        entry["error"] = str(exc)
    return entry


def show(registry: Registry, name: str, version: str | None = None) -> dict[str, Any]:
    """``modelreg show NAME[@VERSION]``: the model, its versions with artifacts, lineage,
    metrics, and stages."""
    model = registry.model(name)
    state = registry.state(name)
    versions = sorted(set(registry.version_names(name)) | set(state.registered), key=_key)
    if version is not None:
        version = check_version(version)
        if version not in versions:
            from .errors import UsageError
            raise UsageError(f"{name} has no version {version}",
                             hint=f"`modelreg show {name}` lists its versions")
        versions = [version]
    return {
        "name": name,
        "model": model.data,
        "stages": dict(state.stages),
        "deprecated": state.deprecated,
        "stages_requested": (registry.stages_file(name) or {}).get("stages", {}),
        "versions": [_version_entry(registry, name, v, state) for v in versions],
    }


def validate(registry: Registry, paths: list[str] | None = None) -> Report:
    """``modelreg validate``: schema and consistency findings for registry records."""
    return _validate(registry, paths)


def register(registry: Registry, request: RegisterRequest, **kw: Any) -> RegisterResult:
    """``modelreg register``: see :mod:`modelreg.registration`."""
    return _register(registry, request, **kw)
