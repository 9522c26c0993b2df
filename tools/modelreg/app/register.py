"""``modelreg register``: record a new model version, its weights under DVC, on a branch.

The steps (plan, apply, the journal of a run killed half-way) live in
``steps/registration.py``, which ``import`` shares; this use case holds the clone's lock
and runs them for one version.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping

from modelreg.steps.registration import (
    Hooks,
    RegisterRequest,
    RegisterResult,
    apply,
    plan,
    refuse_interrupted,
)
from modelreg.store import lock
from modelreg.store.registry import Registry, check_name, check_version


def register(registry: Registry, req: RegisterRequest,
             hooks: Hooks | Mapping[str, Callable[[], None]] | None = None) -> RegisterResult:
    """Register ``req.name`` at ``req.version``: plan, then apply, holding the clone's
    register lock (a second run at the same time is refused).

    ``hooks`` lets tests inject a failure before each external step
    (``steps.registration.STEPS``).
    """
    hooks = Hooks.of(hooks)
    with lock.hold(registry.git, "register", "modelreg register"):
        refuse_interrupted(registry, check_name(req.name), check_version(req.version, new=True))
        return apply(registry, plan(registry, req, hooks), hooks)
