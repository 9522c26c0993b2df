"""What every command that prepares a pull request of one file checks first (``promote``,
``rollback``, ``deprecate``, ``retire``, ``monitor record``): that the model's other files
are as ``HEAD`` holds them, so the check judges exactly what the pull request will hold."""
from __future__ import annotations

from modelreg.core.errors import RefusedError
from modelreg.store.registry import Registry

# Untracked files the check reads (records, the card, DVC pointers); untracked weights are
# not read, and ``register`` leaves its copies behind when its branch is left.
_READ_SUFFIXES = (".yaml", ".md", ".dvc")


def uncommitted_model_files(registry: Registry, name: str) -> list[str]:
    """The model's files whose work-tree state is not what the commit will hold. An
    uncommitted card edit would pass the command's own check and fail in the pull request."""
    folder = f"{registry.rel(registry.model_dir(name))}/"
    return sorted(path for status, path in registry.git.uncommitted(folder)
                  if status != "??" or path.endswith(_READ_SUFFIXES))


def refuse_uncommitted(registry: Registry, name: str, holds: str) -> None:
    """Refuse, changing nothing, while the model has uncommitted files; ``holds`` says what
    the pull request would hold instead."""
    dirty = uncommitted_model_files(registry, name)
    if dirty:
        shown = ", ".join(dirty[:5]) + (f" and {len(dirty) - 5} more" if len(dirty) > 5 else "")
        raise RefusedError(
            f"{name} has uncommitted changes ({shown}): the pull request would hold only "
            f"{holds}, so they cannot be judged with it; nothing was changed",
            hint="commit them on their own pull request (or git stash them), then try again")


__all__ = ["uncommitted_model_files", "refuse_uncommitted"]
