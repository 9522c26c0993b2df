"""modelreg: a git repository that is a model registry.

The library API mirrors the commands and never prints::

    import modelreg
    r = modelreg.open_registry(".")
    r.resolve("iris-classifier", stage="production")

Names are imported on first use (PEP 562), so a command loads only what it needs.
"""
from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_WHERE = {
    "open_registry": "registry", "Registry": "registry", "Model": "registry",
    "Version": "registry",
    "list_models": "service", "show": "service", "validate": "service", "register": "service",
    "history": "service",
    "RegisterRequest": "registration", "RegisterResult": "registration",
    "DatasetSpec": "registration",
    "Finding": "records", "Report": "records", "Event": "records", "ModelState": "records",
    "Resolution": "records",
    "ModelregError": "errors", "UsageError": "errors", "InputError": "errors",
    "RefusedError": "errors", "CannotRunError": "errors",
}

__all__ = sorted(_WHERE)


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        try:   # a submodule: modelreg.yamlio, modelreg.check, …
            return importlib.import_module(f".{name}", __name__)
        except ModuleNotFoundError:
            raise AttributeError(f"module 'modelreg' has no attribute {name!r}") from None
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_WHERE])
