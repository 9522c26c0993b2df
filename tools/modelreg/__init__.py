"""modelreg: a git repository that is a model registry.

The library API mirrors the commands and never prints::

    import modelreg
    r = modelreg.open_registry(".")
    r.resolve("iris-classifier", stage="production")
"""
from __future__ import annotations

__version__ = "0.1.0"

from .errors import (CannotRunError, InputError, ModelregError, RefusedError,  # noqa: E402
                     UsageError)
from .records import Event, Finding, ModelState, Report, Resolution  # noqa: E402
from .registry import Model, Registry, Version, open_registry  # noqa: E402
from .registration import DatasetSpec, RegisterRequest, RegisterResult  # noqa: E402
from .service import list_models, register, show, validate  # noqa: E402

__all__ = [
    "open_registry", "Registry", "Model", "Version",
    "list_models", "show", "validate", "register",
    "RegisterRequest", "RegisterResult", "DatasetSpec",
    "Finding", "Report", "Event", "ModelState", "Resolution",
    "ModelregError", "UsageError", "InputError", "RefusedError", "CannotRunError",
]
