"""JSON-Schema validation of registry files, against the schemas in ``schemas/``.

The registry's own ``schemas/`` folder is the single definition of the metadata's shape;
validators are built once per schema and reused for every file.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
from pathlib import Path
from typing import Any

from modelreg.core.errors import CannotRunError, ModelregError
from modelreg.store.registry import Registry

KINDS = ("model", "version", "stages", "finding", "monitoring", "report")

_KIND_OF_PATH = [
    (re.compile(r"^models/[^/]+/model\.yaml$"), "model"),
    (re.compile(r"^models/[^/]+/versions/[^/]+\.yaml$"), "version"),
    (re.compile(r"^models/[^/]+/stages\.yaml$"), "stages"),
    (re.compile(r"^models/[^/]+/validation/[^/]+\.yaml$"), "finding"),
    (re.compile(r"^models/[^/]+/monitoring/[^/]+/[^/]+\.yaml$"), "monitoring"),
]


def kind_of(rel_path: str) -> str | None:
    """Which schema a root-relative path is checked against (None: not a registry record)."""
    for rx, kind in _KIND_OF_PATH:
        if rx.match(rel_path):
            return kind
    return None


def json_path(parts: list[str | int] | tuple) -> str:
    out = "$"
    for p in parts:
        out += f"[{p}]" if isinstance(p, int) else f".{p}"
    return out


class Schemas:
    """The schemas of a registry at one revision (``schemas/`` read through ``registry``),
    compiled lazily and cached."""

    def __init__(self, registry: Registry | str | os.PathLike) -> None:
        self.registry = registry if isinstance(registry, Registry) else Registry(Path(registry))
        self._schemas: dict[str, dict] = {}
        self._validators: dict[str, Any] = {}
        self._fast: dict[str, Any] = {}
        self._digests: dict[str, str] = {}

    def _schema(self, kind: str) -> dict:
        if kind not in self._schemas:
            rel = f"schemas/{kind}.schema.json"
            if not self.registry.exists(rel):
                raise CannotRunError(f"schema {rel} is missing",
                                     hint="restore it from the registry template")
            try:
                raw = self.registry.read_bytes(rel)
                self._schemas[kind] = json.loads(raw)
                self._digests[kind] = hashlib.sha256(raw).hexdigest()
            except ModelregError as exc:
                raise CannotRunError(f"{rel} cannot be read: {exc.message}",
                                     hint="fix the schema file") from None
            except ValueError as exc:
                raise CannotRunError(f"{rel} is not valid JSON: {exc}",
                                     hint="fix the schema file") from None
        return self._schemas[kind]

    def digest(self, kind: str) -> str:
        """The sha256 of ``schemas/KIND.schema.json`` as read (a cache key's part: a result
        computed under one schema is never reused under another)."""
        self._schema(kind)
        return self._digests[kind]

    def validator(self, kind: str) -> Any:
        """jsonschema's validator: it explains what is wrong (built on first need, with the
        schema itself checked against the 2020-12 meta-schema)."""
        if kind not in self._validators:
            from jsonschema import Draft202012Validator  # noqa: PLC0415 - jsonschema costs ~58 ms; needed only to explain a failure

            schema = self._schema(kind)
            try:
                Draft202012Validator.check_schema(schema)
            except Exception as exc:
                raise CannotRunError(f"schemas/{kind}.schema.json is not a valid JSON Schema: "
                                     f"{exc}", hint="fix the schema file") from None
            self._validators[kind] = Draft202012Validator(schema)
        return self._validators[kind]

    def _fast_for(self, kind: str) -> Any:
        if kind not in self._fast:
            try:
                self._fast[kind] = _fast_validator(self._schema(kind))
            except (ValueError, TypeError):
                self._fast[kind] = None      # jsonschema's check_schema will say what is wrong
        return self._fast[kind]

    def errors(self, kind: str, data: Any) -> list[tuple[list[str | int], str]]:
        """Every violation as (path inside the document, message), in document order."""
        fast = self._fast_for(kind)
        if fast is not None and fast.is_valid(data):
            return []               # the common case, ~70x faster than jsonschema's walk
        found = []
        for err in self.validator(kind).iter_errors(data):
            found.append((list(err.absolute_path), _message(err)))
        found.sort(key=lambda e: [str(p) for p in e[0]])
        return found


def violations(schema: dict, data: Any, *, name: str) -> list[tuple[list[str | int], str]]:
    """Every violation of ``schema`` by ``data`` as (path, message), for a schema used once
    (``name`` says which file it is in messages). An unexpected key's path ends at that key,
    so its line is the line of the typo, not of the mapping holding it."""
    try:
        fast = _fast_validator(schema)
        if fast is not None and fast.is_valid(data):
            return []
    except (ValueError, TypeError):
        pass                            # jsonschema's check_schema will say what is wrong
    from jsonschema import Draft202012Validator  # noqa: PLC0415 - jsonschema costs ~58 ms; needed only to explain a failure

    try:
        Draft202012Validator.check_schema(schema)
    except Exception as exc:
        raise CannotRunError(f"{name} is not a valid JSON Schema: {exc}",
                             hint="fix the schema file") from None
    found = []
    for err in Draft202012Validator(schema).iter_errors(data):
        parts = list(err.absolute_path)
        if err.validator == "additionalProperties" and isinstance(err.instance, dict):
            extra = _unexpected_keys(err.schema, err.instance)
            if extra:
                parts.append(extra[0])
        found.append((parts, _message(err)))
    found.sort(key=lambda e: [str(p) for p in e[0]])
    return found


def _unexpected_keys(schema: dict, instance: dict) -> list[str]:
    props = schema.get("properties") or {}
    patterns = [re.compile(p) for p in schema.get("patternProperties") or {}]
    return [k for k in instance if k not in props and not any(rx.search(k) for rx in patterns)]


def _fast_validator(schema: dict) -> Any:
    """jsonschema-rs answers "valid?" in microseconds; jsonschema (pure Python) then
    explains the invalid documents with the messages users see. Both implement 2020-12;
    tests/test_schemas.py checks they agree on every example."""
    try:
        import jsonschema_rs  # noqa: PLC0415 - jsonschema-rs costs ~20 ms; needed only when a schema is used
    except ImportError:                 # pragma: no cover - declared dependency
        return None
    return jsonschema_rs.validator_for(schema)


def _message(err: Any) -> str:
    where = json_path(list(err.absolute_path))
    msg = err.message
    if err.validator in ("oneOf", "anyOf") and err.context:
        best = min(err.context, key=lambda e: len(e.message))
        msg = f"{msg[:120]} (e.g. {best.message[:160]})"
    if len(msg) > 400:
        msg = msg[:400] + "…"
    return f"{where}: {msg}"
