"""The protected branch: which one it is, where this clone has it, what is on it."""
from __future__ import annotations

from typing import TYPE_CHECKING

from modelreg.core.errors import RefusedError
from modelreg.store.git import Git

if TYPE_CHECKING:
    from modelreg.store.registry import Registry


def protected_branch(registry: Registry) -> str:
    """The branch stage tags are made on, from the configuration (environments.yaml)."""
    return registry.config.protected_branch


def protected_ref(git: Git, branch: str) -> str:
    """The protected branch as this clone knows it: origin's copy when there is one (one
    ``for-each-ref`` call)."""
    known = git.__dict__.setdefault("_protected", {})
    if branch in known:                  # asked again by the same command
        return known[branch]
    names = git.run("for-each-ref", "--format=%(refname)", f"refs/remotes/origin/{branch}",
                    f"refs/heads/{branch}", check=False).split()
    for ref in (f"refs/remotes/origin/{branch}", f"refs/heads/{branch}"):
        if ref in names:
            known[branch] = ref
            return ref
    raise RefusedError(f"this clone has no branch {branch}",
                       hint=f"fetch it: git fetch origin {branch}")


def protected_commit_at(registry: Registry, when: int) -> str | None:
    """The last first-parent commit of the protected branch made at or before unix time
    ``when``: the registry's files as they stood then (``audit --at``, ``inventory --at``)."""
    ref = protected_ref(registry.git, protected_branch(registry))
    out = registry.git.run("rev-list", "-1", "--first-parent", f"--before={when}", ref)
    return out.strip() or None


def on_protected(git: Git, commit: str, ref: str) -> bool:
    return git.ok("merge-base", "--is-ancestor", commit, ref)
