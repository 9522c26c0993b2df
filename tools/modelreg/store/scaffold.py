"""What a registry is made of when this release of modelreg starts or upgrades it: the files
``init`` writes from the packaged defaults and templates (:func:`plan`), the workflow install
step pinned to this release, and ``.modelreg.yaml``, the record of the release that wrote a
registry and of the git blob id of each file as written (:func:`record_text`,
:func:`read_record`). ``init`` writes a plan into an empty folder; ``upgrade`` merges it
three ways into a registry that exists; ``doctor`` compares a registry with it.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import jinja2

from modelreg.core.errors import CannotRunError, InputError, ModelregError
from modelreg.core.release import __version__
from modelreg.core.yamlio import parse_text
from modelreg.store import codeowners
from modelreg.store.defaults import (
    REGISTRY_TEMPLATES,
    STARTERS,
    STORAGE_TEMPLATES,
    default_files,
)
from modelreg.store.git import blob_id

RECORD = ".modelreg.yaml"
# Files DVC writes itself, and the file generated from the others: the record leaves them out
# (an upgrade regenerates them rather than merging them).
DVC_FILES = (".dvc/config", ".dvc/.gitignore", ".dvcignore")
GENERATED = (codeowners.PATH, *DVC_FILES, RECORD)
WORKFLOWS = ".github/workflows/"
PRE_COMMIT = ".pre-commit-config.yaml"
# The starters' paths as a registry has them: its own people, teams, datasets and keys.
ORGANISATION_DATA = frozenset(STARTERS)
# How the reference registry's workflows install modelreg (from its own checkout, or the base
# revision's): a new registry's install this exact release instead.
_FROM_SOURCE = re.compile(r"pip install (?:-e \.|\./base)(?=\s|$)", re.MULTILINE)
_BASE_STEP = "name: Install the base revision's modelreg"
# A pinned release in a workflow's install step or the pre-commit hooks' dependencies.
PIN = re.compile(r"modelreg==([0-9A-Za-z.+!-]+)")
_PIN_STEP = re.compile(r"name: Install modelreg [0-9][0-9A-Za-z.+!-]*(?=\s|$)", re.MULTILINE)
_TEMPLATE_SUFFIX = ".j2"
_DOT = "dot-"            # a packaged `dot-x` becomes `.x` (dotfiles do not travel as package data)


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
OTHER_STORAGE = "other"     # the record's word for a remote of no cloud modelreg logs in to


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


def repin(text: str) -> str:
    """A registry's workflow or pre-commit configuration, every ``modelreg==`` pin (and the
    install step's name) moved to this release; the rest as it is."""
    text = PIN.sub(f"modelreg=={__version__}", text)
    return _PIN_STEP.sub(f"name: Install modelreg {__version__}", text)


def pinned_file(rel: str) -> bool:
    """Whether ``rel`` is a file that pins the modelreg release (workflows, pre-commit)."""
    return rel == PRE_COMMIT or (rel.startswith(WORKFLOWS) and rel.endswith((".yml", ".yaml")))


def plan(org: str, storage: str | None = None) -> dict[str, bytes]:
    """Every file ``init`` writes from the packaged defaults and templates (not the DVC files
    and CODEOWNERS, which are made in place): path in the registry -> content. ``storage``
    (:func:`storage_kind`) picks the cloud login the workflows carry."""
    files = {rel: path.read_bytes() for rel, path in default_files()}
    for rel in files:
        if rel.startswith(WORKFLOWS):
            files[rel] = pin_workflow(rel, files[rel].decode("utf-8"), storage).encode("utf-8")
    env = _jinja()
    for path in sorted(REGISTRY_TEMPLATES.rglob("*")):
        if not path.is_file() or "__pycache__" in path.parts:
            continue
        rel = _rel_from_template(path)
        data = path.read_bytes()
        if path.name.endswith(_TEMPLATE_SUFFIX):
            data = env.from_string(data.decode("utf-8")).render(
                org=org, version=__version__, storage=storage).encode("utf-8")
        files[rel] = data
    return files


def record_text(org: str, blobs: dict[str, str], version: str = __version__,
                storage: str | None = None) -> bytes:
    """``.modelreg.yaml``: the release, the organisation and each file's blob id as written."""
    lines = [
        "# Written by `modelreg init`: the modelreg release this registry started from, and the",
        "# git blob id of each file as that release wrote it. An upgrade merges newer defaults",
        "# three ways from these: as written, as edited here since, as shipped now.",
        f"modelreg: {version}",
        f"org: {org}",
        f"storage: {storage or OTHER_STORAGE}",
        "files:",
    ]
    lines += [f"  {rel}: {blob}" for rel, blob in sorted(blobs.items())]
    return ("\n".join(lines) + "\n").encode("utf-8")


def record_of(org: str, written: dict[str, bytes], storage: str | None = None) -> bytes:
    """``.modelreg.yaml`` for files just written from this release's plan."""
    return record_text(org, {rel: blob_id(data) for rel, data in written.items()},
                       storage=storage)


@dataclass(frozen=True)
class Record:
    """``.modelreg.yaml`` as read: which release wrote the registry, for which organisation,
    and each default file's git blob id as that release wrote it."""

    version: str
    org: str
    files: dict[str, str] = field(default_factory=dict)
    storage: str | None = None        # s3, gs or azure: the cloud login the workflows carry


_BLOB = re.compile(r"^[0-9a-f]{40}$")


def read_record(root: Path) -> Record | None:
    """The registry's ``.modelreg.yaml`` (None when it has none); an unreadable one is an
    error naming the file."""
    path = root / RECORD
    if not path.is_file():
        return None
    try:
        data = parse_text(path.read_text(encoding="utf-8"), RECORD)
    except (ModelregError, UnicodeDecodeError, OSError) as exc:
        raise InputError(f"cannot read it: {exc}", file=RECORD,
                         hint="restore it from git history "
                              f"(`git log -p -- {RECORD}`)") from exc
    files = data.get("files") if isinstance(data, dict) else None
    if (not isinstance(data, dict) or not isinstance(data.get("modelreg"), (str, int, float))
            or not isinstance(files, dict) or data.get("org") is None
            or not all(isinstance(k, str) and isinstance(v, str) and _BLOB.match(v)
                       for k, v in files.items())):
        raise InputError("is not what modelreg init writes (modelreg: RELEASE, org: NAME, "
                         "files: PATH: BLOB-ID)", file=RECORD,
                         hint=f"restore it from git history (`git log -p -- {RECORD}`)")
    for rel in files:
        if not _safe_path(rel):
            raise InputError(f"names {rel!r}, which is no path inside the registry",
                             file=RECORD, hint="restore it from git history "
                                               f"(`git log -p -- {RECORD}`)")
    storage = data.get("storage")
    return Record(str(data["modelreg"]), str(data["org"]), dict(files),
                  storage if storage in STORAGE else None)


_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def _safe_path(rel: str) -> bool:
    """A relative path in the work tree, outside ``.git``: no absolute path, no ``..``."""
    parts = rel.split("/")
    return (bool(rel) and not rel.startswith("/") and "\\" not in rel
            and not _CONTROL.search(rel) and parts[0] != ".git"
            and all(part not in ("", ".", "..") for part in parts))


__all__ = ["RECORD", "GENERATED", "DVC_FILES", "WORKFLOWS", "PRE_COMMIT", "PIN",
           "ORGANISATION_DATA", "Record", "STORAGE", "plan", "pin_workflow", "storage_kind", "repin", "pinned_file",
           "record_text", "record_of", "read_record"]
