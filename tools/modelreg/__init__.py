"""modelreg: a git repository that is a model registry.

The library API mirrors the commands and never prints::

    import modelreg
    r = modelreg.open_registry(".")
    r.resolve("iris-classifier", stage="production").artifacts

docs/guide.md, "Library API", shows the rest; its examples run as tests.

Names are imported on first use (PEP 562), so a command loads only what it needs.
"""
from __future__ import annotations

import importlib
from typing import Any

from modelreg.core.release import __version__ as __version__

_WHERE = {
    "open_registry": "store.registry", "Registry": "store.registry", "Model": "store.registry",
    "Version": "store.registry", "RegistryConfig": "store.config", "ConfigError": "store.config",
    "list_models": "app.read", "show": "app.read", "history": "app.read",
    "inventory": "app.inventory",
    "validate": "app.validate", "register": "app.register",
    "RegisterRequest": "steps.registration", "RegisterResult": "steps.registration",
    "DatasetSpec": "steps.registration",
    "import_mlflow": "app.imports", "import_gto": "app.imports",
    "ImportRequest": "app.imports", "ImportResult": "app.imports",
    "check": "app.check", "CheckResult": "app.check", "gate": "app.gate",
    "GateResult": "app.gate", "due": "app.due", "DueList": "app.due",
    "export_hf": "app.export", "ExportResult": "app.export",
    "Finding": "core.records", "Report": "core.records", "Event": "core.records",
    "ModelState": "core.records", "Resolution": "core.records", "Artifact": "core.records",
    "ModelregError": "core.errors", "UsageError": "core.errors", "InputError": "core.errors",
    "RefusedError": "core.errors", "CannotRunError": "core.errors",
}

__all__ = sorted(_WHERE)


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        try:   # a subpackage: modelreg.core, modelreg.app, …
            return importlib.import_module(f".{name}", __name__)
        except ModuleNotFoundError:
            raise AttributeError(f"module 'modelreg' has no attribute {name!r}") from None
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_WHERE])
