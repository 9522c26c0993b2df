"""``modelreg upgrade``: this release's defaults, merged into a registry an older one wrote.

``.modelreg.yaml`` names the release that wrote the registry and the git blob id of each file
as written. For every file this release's ``init`` would write (store/scaffold.py's plan)
and every file the record names, three versions are compared: the base (that blob, read
from the registry's own object store with ``git cat-file``), the current file in the work
tree, and the new one:

- the registry did not edit it: the new file replaces it (``updated``);
- both changed it: ``git merge-file`` merges the two edits (``merged``), or leaves the
  overlapping ones marked ``<<<<<<<`` … ``>>>>>>>`` for the registry's owners (``conflict``);
- the base blob is not in the object store (or the record does not name the file): a file
  that differs from the new one is a ``conflict``, marked the same way;
- a file new in this release is written (``added``); one this release no longer ships is
  deleted when unedited, kept when edited (``removed`` / ``kept``);
- the organisation's own data (people, teams, datasets, trusted keys) is never merged: it
  is updated only when still the starter as written.

The workflows and ``.pre-commit-config.yaml`` are then pinned to this release, CODEOWNERS is
regenerated, and ``.modelreg.yaml`` is rewritten (this release; the new blob id of every file
that took the new defaults cleanly; the old base id of a conflicted one, so that the next
upgrade still merges from it). Everything is one commit on a new branch,
``modelreg-upgrade-VERSION``, for a pull request that governance reviews. A dirty work tree
or an existing branch is refused before anything is written; a failure puts the original
branch and work tree back. ``dry_run`` says what would change and writes nothing.

Copier was considered for this and is not used: ``copier update`` needs the template as a
git repository with a tag per version (modelreg's defaults travel inside the wheel) and
brings about twenty more dependencies; a three-way merge per file from the recorded blob
ids is what it would do here.
"""
from __future__ import annotations

import os
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from modelreg.core.errors import CannotRunError, CommandError, ModelregError, UsageError
from modelreg.core.release import __version__
from modelreg.store import codeowners
from modelreg.store.config import DATA_DIR
from modelreg.store.git import Git, blob_id
from modelreg.store.registry import Registry
from modelreg.store.scaffold import (
    ORGANISATION_DATA,
    RECORD,
    pinned_file,
    plan,
    read_record,
    record_text,
    repin,
)

BRANCH_PREFIX = "modelreg-upgrade-"
# What happened to each file, in the order reports list them.
ACTIONS = ("conflict", "merged", "updated", "added", "removed", "kept", "unchanged")


@dataclass(frozen=True)
class Change:
    """One file: what the upgrade does to it, and why."""

    path: str
    action: str                  # one of ACTIONS
    detail: str = ""


@dataclass(frozen=True)
class UpgradeResult:
    """What ``upgrade`` did (or, with ``dry_run``, would do)."""

    root: Path
    old_version: str
    new_version: str
    changes: tuple[Change, ...]
    branch: str | None           # None: nothing to do, or a dry run
    commit: str | None
    dry_run: bool
    notes: tuple[str, ...] = ()

    @property
    def changed(self) -> tuple[Change, ...]:
        return tuple(c for c in self.changes if c.action != "unchanged")

    @property
    def conflicts(self) -> tuple[Change, ...]:
        return tuple(c for c in self.changes if c.action == "conflict")

    def to_json(self) -> dict:
        return {"version": 1, "command": "upgrade", "from": self.old_version,
                "to": self.new_version, "dry_run": self.dry_run, "branch": self.branch,
                "commit": self.commit,
                "changes": [{"path": c.path, "action": c.action, "detail": c.detail}
                            for c in self.changes],
                "notes": list(self.notes)}


def branch_name(version: str = __version__) -> str:
    return f"{BRANCH_PREFIX}{version}"


def _merge(git: Git, current: bytes, base: bytes, new: bytes, rel: str) -> tuple[bytes, int]:
    """``git merge-file`` of the registry's edit and the release's (ours: this registry);
    the merged bytes and the number of conflicts."""
    with tempfile.TemporaryDirectory(prefix=".modelreg-merge-") as tmp:
        paths = []
        for name, data in (("current", current), ("base", base), ("new", new)):
            path = Path(tmp) / name
            path.write_bytes(data)
            paths.append(str(path))
        cmd = ["git", "merge-file", "-p", "-L", f"{rel} (this registry)",
               "-L", f"{rel} (as written)", "-L", f"{rel} (modelreg {__version__})", *paths]
        proc = subprocess.run(cmd, cwd=git.root, capture_output=True)
    if proc.returncode < 0 or proc.returncode > 127:
        raise CommandError(cmd, proc.returncode, proc.stdout.decode(errors="replace"),
                           proc.stderr.decode(errors="replace"))
    return proc.stdout, proc.returncode


def _read_blobs(git: Git, ids: list[str]) -> dict[str, bytes]:
    """The blobs of ``ids`` the object store holds (one ``cat-file --batch``)."""
    if not ids:
        return {}
    proc = subprocess.run(["git", "cat-file", "--batch"], cwd=git.root,
                          input="".join(f"{i}\n" for i in ids).encode(), capture_output=True)
    if proc.returncode != 0:
        raise CommandError(["git", "cat-file", "--batch"], proc.returncode, "",
                           proc.stderr.decode(errors="replace"))
    out, data, pos = {}, proc.stdout, 0
    for ident in ids:
        end = data.index(b"\n", pos)
        header = data[pos:end].decode().split()
        pos = end + 1
        if len(header) == 2 and header[1] == "missing":
            continue
        size = int(header[2])
        if header[1] == "blob":
            out[ident] = data[pos:pos + size]
        pos += size + 1
    return out


def _in_the_way(root: Path, rel: str) -> str | None:
    """The first path on the way to ``rel`` (itself included) that a write must not go
    through: a symbolic link (it could lead out of the registry), or something that is not a
    folder where one goes or not a regular file where the file goes."""
    parts = rel.split("/")
    for n in range(1, len(parts) + 1):
        path = root.joinpath(*parts[:n])
        last = n == len(parts)
        if path.is_symlink() or (path.exists() and not (path.is_file() if last
                                                        else path.is_dir())):
            return "/".join(parts[:n])
    return None


def upgrade(path: str | os.PathLike = ".", *, dry_run: bool = False) -> UpgradeResult:
    """Bring this release's defaults into the registry whose clone holds ``path``."""
    where = Path(path)
    if not where.is_dir():
        raise CannotRunError(f"{path} is not a folder")
    root = Git.toplevel(where)
    git = Git(root)
    record = read_record(root)
    if record is None:
        raise CannotRunError(
            f"{root} has no {RECORD}: modelreg does not know which release wrote its "
            "defaults, so it cannot merge newer ones",
            hint=f"in a registry `modelreg init` made, restore it from git history (`git log "
                 f"--all -- {RECORD}`); a folder that is no registry starts with `modelreg "
                 "init`")
    if not (root / DATA_DIR).is_dir():
        raise CannotRunError(f"{root} is not a modelreg registry (no {DATA_DIR}/)",
                             hint="run upgrade in a registry's clone")
    new_files = plan(record.org, record.storage)
    bases = _read_blobs(git, sorted(set(record.files.values())))
    contents: dict[str, bytes | None] = {}      # path -> bytes to write (None: delete)
    blobs: dict[str, str] = {}                  # the new record
    changes: list[Change] = []
    for rel in sorted(set(new_files) | set(record.files)):
        if (blocked := _in_the_way(root, rel)) is not None:
            if base_id := record.files.get(rel):
                blobs[rel] = base_id
            changes.append(Change(rel, "kept", f"{blocked} is a symbolic link or not a "
                                  "regular file: never followed nor replaced"))
            continue
        file = root / rel
        current = file.read_bytes() if file.is_file() else None
        new = new_files.get(rel)
        base_id = record.files.get(rel)
        base = bases.get(base_id) if base_id else None
        if new is None:                           # no longer a default
            if current is None:
                continue
            if base is not None and current == base:
                contents[rel] = None
                changes.append(Change(rel, "removed", f"modelreg {__version__} no longer "
                                      "ships it; unedited, so deleted"))
            else:
                changes.append(Change(rel, "kept", f"modelreg {__version__} no longer ships "
                                      "it; edited here, so kept (delete it if unused)"))
            continue
        if current is None:
            if base_id is None:
                contents[rel] = new
                blobs[rel] = blob_id(new)
                changes.append(Change(rel, "added", f"new in modelreg {__version__}"))
            else:
                blobs[rel] = base_id
                changes.append(Change(rel, "kept", "deleted in this registry; not restored"))
            continue
        if current == new:
            blobs[rel] = blob_id(new)
            changes.append(Change(rel, "unchanged"))
            continue
        if rel in ORGANISATION_DATA:
            if base is not None and current == base:
                contents[rel] = new
                blobs[rel] = blob_id(new)
                changes.append(Change(rel, "updated", "still the starter as written"))
            else:
                if base_id:
                    blobs[rel] = base_id
                changes.append(Change(rel, "kept", "this organisation's own data: never "
                                      "merged"))
            continue
        if base is not None and current == base:
            contents[rel] = new
            blobs[rel] = blob_id(new)
            changes.append(Change(rel, "updated", "not edited here"))
            continue
        if base is not None and new == base:
            blobs[rel] = base_id
            changes.append(Change(rel, "unchanged", "edited here; the defaults did not "
                                  "change"))
            continue
        merged, conflicts = _merge(git, current, base if base is not None else b"", new, rel)
        if conflicts == 0:
            contents[rel] = merged
            blobs[rel] = blob_id(new)
            changes.append(Change(rel, "merged", "edited here and in the defaults; merged"))
        else:
            contents[rel] = merged
            if base_id:
                blobs[rel] = base_id
            why = "the as-written version is not in this repository" if base is None else \
                f"{conflicts} overlapping edit{'s' if conflicts != 1 else ''}"
            changes.append(Change(rel, "conflict", f"{why}: resolve the <<<<<<< markers"))
    # every workflow and the hooks install this release, merged or kept as they are
    for rel in sorted(p.relative_to(root).as_posix() for p in (root / ".github/workflows")
                      .glob("*") if p.is_file()) + [".pre-commit-config.yaml"]:
        if not pinned_file(rel) or rel not in new_files and not (root / rel).is_file():
            continue
        text = contents.get(rel, (root / rel).read_bytes() if (root / rel).is_file() else None)
        if text is None:
            continue
        pinned = repin(text.decode("utf-8", errors="surrogateescape")).encode(
            "utf-8", errors="surrogateescape")
        if pinned != text:
            contents[rel] = pinned
            if not any(c.path == rel and c.action != "unchanged" for c in changes):
                changes = [c for c in changes if c.path != rel]
                changes.append(Change(rel, "updated", f"pinned to modelreg {__version__}"))
    record_bytes = record_text(record.org, blobs, storage=record.storage)
    current_record = (root / RECORD).read_bytes()
    order = {a: i for i, a in enumerate(ACTIONS)}
    changes.sort(key=lambda c: (order[c.action], c.path))
    notes: list[str] = []
    if dry_run or (not contents and record_bytes == current_record):
        return UpgradeResult(root, record.version, __version__, tuple(changes), None, None,
                             dry_run, tuple(notes))
    return _commit(git, root, record.version, contents, record_bytes, changes, notes)


def _commit(git: Git, root: Path, old: str, contents: dict[str, bytes | None],
            record_bytes: bytes, changes: list[Change], notes: list[str]) -> UpgradeResult:
    branch = branch_name()
    if git.is_dirty() or git.run("diff", "--cached", "--name-only").strip():
        raise UsageError("the work tree has uncommitted changes",
                         hint="commit or stash them, then run modelreg upgrade again")
    if git.branch_exists(branch):
        raise UsageError(f"the branch {branch} exists already",
                         hint=f"merge or delete it (`git branch -D {branch}`), then run "
                              "modelreg upgrade again")
    head = git.head()
    if head is None:
        raise CannotRunError("the registry has no commit yet",
                             hint="commit what `modelreg init` wrote first")
    original = git.branch() or head
    written: list[str] = []
    try:
        git.run("switch", "-q", "-c", branch)
        for rel, data in contents.items():
            path = root / rel
            if data is None:
                git.run("rm", "-q", "--", rel)
                continue
            if not path.exists():
                written.append(rel)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
        (root / RECORD).write_bytes(record_bytes)
        try:
            with Registry(root) as registry:
                codeowners.write(registry)
        except ModelregError as exc:
            notes.append(f"{codeowners.PATH} was not regenerated ({exc}): resolve the "
                         "conflicts, then run `modelreg codeowners --write`")
        git.run("add", "-A", "--", *[rel for rel, data in contents.items() if data is not None],
                RECORD, codeowners.PATH)
        conflicted = [c.path for c in changes if c.action == "conflict"]
        lines = [f"Upgrade the registry's defaults to modelreg {__version__} (from {old})", ""]
        lines += [f"{c.action}: {c.path}" for c in changes if c.action != "unchanged"]
        if conflicted:
            lines += ["", "Conflicts to resolve before merging: " + ", ".join(conflicted)]
        git.run("commit", "-q", "--no-verify", "-m", "\n".join(lines))
        commit = git.head()
    except BaseException:
        git.run("reset", "-q", "--hard", head, check=False)
        for rel in written:
            try:
                (root / rel).unlink()
            except OSError:
                pass
        git.run("checkout", "-q", original, check=False)
        git.run("branch", "-q", "-D", branch, check=False)
        raise
    return UpgradeResult(root, old, __version__, tuple(changes), branch, commit, False,
                         tuple(notes))


__all__ = ["upgrade", "UpgradeResult", "Change", "branch_name", "ACTIONS"]
