"""``modelreg init``: a new organisation's registry, from the defaults this release ships.

It writes the default policies with their tests, the policy-data starters (placeholder people
and teams, marked for their owners to replace), the schemas, the workflow templates (which
install this exact modelreg release), the generated CODEOWNERS, a DVC project whose default
remote verifies what it pulls, a pre-commit configuration and a README; and ``.modelreg.yaml``,
which names the release and the git blob id of each file as written, so that a later upgrade
can merge newer defaults three ways (as written, as edited since, as shipped now).

It never overwrites: every path is checked before anything is written, the registry is built
in a temporary folder beside the target, and only then moved in. Nothing here prints.
"""
from __future__ import annotations

import os
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import jinja2

from modelreg.core.errors import CannotRunError, UsageError
from modelreg.core.release import __version__
from modelreg.store import codeowners, dvc
from modelreg.store.defaults import REGISTRY_TEMPLATES, STORAGE_TEMPLATES, default_files
from modelreg.store.git import Git, blob_id
from modelreg.store.registry import Registry

RECORD = ".modelreg.yaml"
BRANCH = "main"
# A GitHub organisation's name: what CODEOWNERS handles (@org/team) are made of.
ORG_RE = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,37}[A-Za-z0-9])?$")
# Files DVC writes itself, and the file generated from the others: the record leaves them out
# (an upgrade regenerates them rather than merging them).
DVC_FILES = (".dvc/config", ".dvc/.gitignore", ".dvcignore")
GENERATED = (codeowners.PATH, *DVC_FILES, RECORD)
WORKFLOWS = ".github/workflows/"
# How the reference registry's workflows install modelreg (from its own checkout, or the base
# revision's): a new registry's install this exact release instead.
_FROM_SOURCE = re.compile(r"pip install (?:-e \.|\./base)(?=\s|$)", re.MULTILINE)
_BASE_STEP = "name: Install the base revision's modelreg"
_TEMPLATE_SUFFIX = ".j2"
_DOT = "dot-"            # a packaged `dot-x` becomes `.x` (dotfiles do not travel as package data)


@dataclass(frozen=True)
class InitResult:
    """What ``init`` made."""

    root: Path
    org: str
    version: str                 # the modelreg release the files came from
    files: tuple[str, ...]       # every file written, in path order
    new_git_repository: bool     # True when ``git init`` ran (the folder was no repository)


def _rel_from_template(path: Path) -> str:
    rel = path.relative_to(REGISTRY_TEMPLATES).as_posix()
    rel = "/".join("." + part[len(_DOT):] if part.startswith(_DOT) else part
                   for part in rel.split("/"))
    return rel[:-len(_TEMPLATE_SUFFIX)] if rel.endswith(_TEMPLATE_SUFFIX) else rel


# Where each kind of DVC remote keeps weights, by URL scheme: the DVC extra a workflow
# installs, and the packaged OIDC login step written between the workflows' storage markers.
# Any other remote (a shared folder, SSH, HTTP) gets neither: its login is the owners' to add.
STORAGE = {"s3": ('"dvc[s3]==3.67.1" "dvc-s3==3.3.0"', "s3.yml.j2"),
           "gs": ('"dvc[gs]==3.67.1" "dvc-gs==3.1.0"', "gs.yml.j2"),
           "azure": ('"dvc[azure]==3.67.1" "dvc-azure==3.1.1"', "azure.yml.j2")}
_REFERENCE_EXTRA = STORAGE["s3"][0]       # what the reference registry's deploy installs
_BEGIN = re.compile(r"^ *# storage credentials: begin\b.*\n", re.MULTILINE)
_END = re.compile(r"^ *# storage credentials: end\n", re.MULTILINE)
_NO_LOGIN = ("      # none: the DVC remote is no S3, GCS or Azure bucket; a remote that needs a login\n"
             "      # gets its step here\n")
_REVIEWS_PERMISSION = "      pull-requests: read  # the pull request's reviews\n"
_OIDC_PERMISSION = ("      id-token: write      # the OIDC token exchanged for read access to "
                    "the weights\n")
_JUDGED_BY_BASE = ("the base's modelreg (installed from a\n# second checkout of the base "
                   "commit) runs")
_JUDGED_BY_RELEASE = ("modelreg {version} (the release this\n# registry pins) runs")


def storage_kind(remote: str) -> str | None:
    """``s3``, ``gs`` or ``azure`` for a remote URL of that cloud, else None."""
    scheme = remote.split("://", 1)[0].lower() if "://" in remote else ""
    return scheme if scheme in STORAGE else None


def _login_steps(storage: str | None, job: str) -> str:
    if storage is None:
        return _NO_LOGIN
    text = (STORAGE_TEMPLATES / STORAGE[storage][1]).read_text(encoding="utf-8")
    return _jinja().from_string(text).render(job=job)


def pin_workflow(rel: str, text: str, storage: str | None = "s3") -> str:
    """A reference workflow as a new registry's: it installs ``modelreg==`` this release, the
    DVC extra of the registry's ``storage`` and logs in to that storage (see :data:`STORAGE`)
    where the reference workflow marks the place."""
    extra = STORAGE[storage][0] if storage else ""
    pinned = _FROM_SOURCE.sub(f'pip install "modelreg=={__version__}"', text)
    pinned = pinned.replace(_BASE_STEP, f"name: Install modelreg {__version__}")
    pinned = pinned.replace(_JUDGED_BY_BASE, _JUDGED_BY_RELEASE.format(version=__version__))
    if "dvc pull" in pinned:                      # the jobs that read the weights
        lines = []
        for line in pinned.splitlines(keepends=True):
            if f'pip install "modelreg=={__version__}"' in line:
                line = line.replace(" " + _REFERENCE_EXTRA, "")
                if extra:
                    line = line.rstrip("\n") + " " + extra + "\n"
            lines.append(line)
        pinned = "".join(lines)
    begin = _BEGIN.search(pinned)
    if begin:
        end = _END.search(pinned, begin.end())
        if end is None:
            raise CannotRunError(f"the packaged workflow {rel} opens its storage credentials "
                                 "without closing them", hint="report it to modelreg's "
                                 "maintainers; this release cannot start a registry")
        job = "deploy" if rel.endswith("deploy.yml") else "check"
        pinned = (pinned[:begin.end()] + _login_steps(storage, job)
                  + pinned[end.start():])
        if storage and _REVIEWS_PERMISSION in pinned and "id-token: write" not in pinned:
            pinned = pinned.replace(_REVIEWS_PERMISSION, _REVIEWS_PERMISSION + _OIDC_PERMISSION)
    if any("pip install" in line and f'"modelreg=={__version__}"' not in line
           for line in pinned.splitlines()):
        raise CannotRunError(f"the packaged workflow {rel} installs modelreg in a way init "
                             "cannot pin to a release",
                             hint="report it to modelreg's maintainers; this release cannot "
                                  "start a registry")
    return pinned


def _jinja() -> jinja2.Environment:
    # `[[ name ]]`: GitHub workflows and shell use `${{ }}`, `{{ }}` and `${#x}` themselves
    return jinja2.Environment(variable_start_string="[[", variable_end_string="]]",
                              block_start_string="[%", block_end_string="%]",
                              comment_start_string="[#", comment_end_string="#]",
                              keep_trailing_newline=True, undefined=jinja2.StrictUndefined,
                              autoescape=False)


def plan(org: str, remote: str = "") -> dict[str, bytes]:
    """Every file ``init`` writes from the packaged defaults and templates (not the DVC files
    and CODEOWNERS, which are made in place): path in the registry -> content."""
    files = {rel: path.read_bytes() for rel, path in default_files()}
    for rel in files:
        if rel.startswith(WORKFLOWS):
            files[rel] = pin_workflow(rel, files[rel].decode("utf-8"),
                                      storage_kind(remote)).encode("utf-8")
    env = _jinja()
    for path in sorted(REGISTRY_TEMPLATES.rglob("*")):
        if not path.is_file() or "__pycache__" in path.parts:
            continue
        rel = _rel_from_template(path)
        data = path.read_bytes()
        if path.name.endswith(_TEMPLATE_SUFFIX):
            data = env.from_string(data.decode("utf-8")).render(
                org=org, version=__version__, remote=remote,
                storage=storage_kind(remote)).encode("utf-8")
        files[rel] = data
    return files


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


def _record(org: str, remote: str, written: dict[str, bytes]) -> bytes:
    lines = [
        "# Written by `modelreg init`: the modelreg release this registry started from, and the",
        "# git blob id of each file as that release wrote it. An upgrade merges newer defaults",
        "# three ways from these: as written, as edited here since, as shipped now.",
        f"modelreg: {__version__}",
        f"org: {org}",
        f"storage: {storage_kind(remote) or 'other'}",
        "files:",
    ]
    lines += [f"  {rel}: {blob_id(data)}" for rel, data in sorted(written.items())]
    return ("\n".join(lines) + "\n").encode("utf-8")


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
    files = plan(org, remote)
    files[RECORD] = _record(org, remote, files)
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
