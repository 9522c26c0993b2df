"""``modelreg init``: a new organisation's registry, from the defaults this release ships.

It writes the default policies with their tests, the policy-data starters (placeholder people
and teams, marked for their owners to replace), the schemas, the workflow templates (which
install this exact modelreg release), the generated CODEOWNERS, a DVC project whose default
remote verifies what it pulls, a pre-commit configuration and a README; and ``.modelreg.yaml``,
which names the release and the git blob id of each file as written, so that a later upgrade
can merge newer defaults three ways (as written, as edited since, as shipped now).

What it writes is store/scaffold.py's plan, shared with ``upgrade`` and ``doctor``. It
never overwrites: every path is checked before anything is written, the registry is built
in a temporary folder beside the target, and only then moved in. Nothing here prints.
"""
from __future__ import annotations

import os
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from modelreg.core.errors import CannotRunError, UsageError
from modelreg.core.release import __version__
from modelreg.store import codeowners, dvc
from modelreg.store.git import Git
from modelreg.store.registry import Registry
from modelreg.store.scaffold import (
    GENERATED,
    RECORD,
    pin_workflow,
    plan,
    record_of,
    storage_kind,
)

BRANCH = "main"
# A GitHub organisation's name: what CODEOWNERS handles (@org/team) are made of.
ORG_RE = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,37}[A-Za-z0-9])?$")


@dataclass(frozen=True)
class InitResult:
    """What ``init`` made."""

    root: Path
    org: str
    version: str                 # the modelreg release the files came from
    files: tuple[str, ...]       # every file written, in path order
    new_git_repository: bool     # True when ``git init`` ran (the folder was no repository)


def _conflict(root: Path, rel: str) -> str | None:
    """The first path on the way to ``rel`` that is in the way, or None."""
    parts = rel.split("/")
    for n in range(1, len(parts)):
        folder = root.joinpath(*parts[:n])
        if folder.is_symlink() or (folder.exists() and not folder.is_dir()):
            return "/".join(parts[:n])
    target = root / rel
    return rel if target.exists() or target.is_symlink() else None


def _remote_for(remote: str, root: Path, stage: Path) -> str:
    """``--remote`` as DVC must be given it while the registry is built in ``stage`` (a
    sibling of ``root``, so ``.dvc/`` sits as deep): a URL or an absolute path as it is; a
    relative local path is the caller's, and DVC writes it relative to ``.dvc/`` as `dvc
    remote add` does, which comes out the same from the sibling."""
    if re.match(r"^\w+://", remote) or os.path.isabs(remote):
        return remote
    path = Path(os.path.abspath(remote))
    if path == root or root in path.parents:          # storage inside the registry itself
        path = stage / path.relative_to(root)
    return os.path.relpath(path)


def init(target: str | os.PathLike, *, org: str, remote: str) -> InitResult:
    """Scaffold a registry for ``org`` in ``target`` (made when missing), with ``remote`` as
    its DVC storage. Refuses (exit 2, naming the file) when any file it would write exists."""
    if not ORG_RE.match(org):
        raise UsageError(f"--org {org!r} is not a GitHub organisation name",
                         hint="letters, digits and single hyphens, as in github.com/ORG")
    root = Path(target).absolute()
    if root.exists() and not root.is_dir():
        raise UsageError(f"{target} exists and is not a folder")
    probe = root
    while not probe.exists():
        probe = probe.parent
    top = Git(probe).run("rev-parse", "--show-toplevel", check=False).strip()
    if top and Path(top).resolve() != root.resolve():
        raise UsageError(f"{target} is inside the git repository {top}",
                         hint="a registry is a repository of its own: pick a folder outside "
                              "it, or that repository's top level")
    new_repo = not top
    files = plan(org, storage_kind(remote))
    files[RECORD] = record_of(org, files, storage_kind(remote))
    for rel in sorted({*files, *GENERATED}):
        if (found := _conflict(root, rel)) is not None:
            raise UsageError("already exists; modelreg init writes nothing over it",
                             file=found,
                             hint="run it in a new or empty folder (or a fresh clone)")
    if not remote.strip():
        raise UsageError("--remote is empty",
                         hint="give the DVC storage URL, e.g. s3://bucket/path")

    root.parent.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(prefix=".modelreg-init-", dir=root.parent))
    try:
        for rel, data in files.items():
            path = stage / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
        git = Git(stage)
        git.run("init", "-q", "-b", BRANCH)
        dvc.init_project(stage, _remote_for(remote, root, stage))
        with Registry(stage, git=git) as registry:
            owners = codeowners.generate(registry).text
        (stage / codeowners.PATH).write_text(owners, encoding="utf-8")
        shutil.rmtree(stage / ".git")
        shutil.rmtree(stage / ".dvc" / "tmp", ignore_errors=True)
        written = sorted(p.relative_to(stage).as_posix() for p in stage.rglob("*")
                         if p.is_file())
        _move_in(stage, root, written)
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    if new_repo:
        Git(root).run("init", "-q", "-b", BRANCH)
    return InitResult(root, org, __version__, tuple(written), new_repo)


def _move_in(stage: Path, root: Path, written: list[str]) -> None:
    """Move each file into ``root``; on failure, take back what was moved."""
    moved: list[str] = []
    made: list[Path] = []
    try:
        if not root.exists():
            root.mkdir()
            made.append(root)
        for rel in written:
            dest = root / rel
            for folder in reversed(dest.parents):
                if folder != root and root in folder.parents and not folder.exists():
                    folder.mkdir()
                    made.append(folder)
            if dest.exists() or dest.is_symlink():      # appeared since the check
                raise UsageError(f"{rel} appeared while the registry was being written",
                                 file=str(dest), hint="run modelreg init again")
            os.replace(stage / rel, dest)
            moved.append(rel)
    except BaseException as exc:
        for rel in reversed(moved):
            try:
                os.replace(root / rel, stage / rel)
            except OSError:
                pass
        for folder in reversed(made):
            try:
                folder.rmdir()
            except OSError:
                pass
        if isinstance(exc, OSError):
            raise CannotRunError(f"could not move the new registry into {root}: {exc}",
                                 hint="check the folder's permissions and free space") from exc
        raise


__all__ = ["init", "InitResult", "plan", "pin_workflow", "RECORD", "GENERATED"]
