"""``modelreg import``: models a team keeps elsewhere, brought into the registry for review.

Two sources: an MLflow registry (registered models, their versions with the run's metrics,
parameters and artifacts, tags and aliases) and a GTO repository (its registration and stage
tags, and the ``artifacts:`` it declares). Each source is read into :class:`SourceModel`
values; :func:`run` then does the same thing for both, on one new branch:

- every version not in the registry yet goes through the steps of ``register``
  (``steps/registration.py``): the scanner judges its files, DVC tracks its weights, its record
  and card are written, the registered-stage policies judge it; one commit each;
- what the source says about stages (MLflow aliases and legacy stages, GTO's stage tags)
  becomes *requested* stages in ``stages.yaml``, as ``promote`` writes them: the pull request
  must still be approved, merged and reconciled before any stage counts;
- model-level fields the source lacks (owner, risk tier, EU AI Act class, intended use…) come
  from the ``--defaults`` file and ``modelreg.*`` tags; a model missing one is refused, by
  name, before anything is written.

Everything is decided before the first write where it can be (names, fields, datasets,
stages); the rest runs under one undo log, so a failure puts the work tree, the index and the
branch back as they were. Versions already registered are skipped and reported: running it
again changes nothing.
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from modelreg.core import tags as tagmod
from modelreg.core import timefmt
from modelreg.core.errors import CannotRunError, InputError, ModelregError, UsageError
from modelreg.core.files import hash_file
from modelreg.core.tags import Action
from modelreg.core.yamlio import dump_yaml, load, parse_yaml
from modelreg.policy.documents import validate_file
from modelreg.steps import stages as requested_stages
from modelreg.steps.registration import (
    DatasetSpec,
    RegisterRequest,
    RegisterResult,
    apply,
    plan,
    refuse_interrupted,
)
from modelreg.store import cards, dvcyaml, lock
from modelreg.store.codeowners import PATH as CODEOWNERS
from modelreg.store.git import CatFile, Git
from modelreg.store.registry import Registry, build_states
from modelreg.store.schemas import Schemas
from modelreg.store.undo import Undo

KINDS = {"mlflow": "MLflow", "gto": "GTO"}
TAG_PREFIX = "modelreg."          # MLflow tags that fill model.yaml fields: modelreg.risk.tier
_METRIC_NAME = re.compile(r"[^a-z0-9_.-]+")


@dataclass(frozen=True)
class SourceVersion:
    """One version as the source has it; its files are fetched only when it is registered."""

    version: str                                  # SemVer, as the registry names it
    label: str                                    # as the source names it: "version 3", "v1.2.0"
    fetch: Callable[[Path], list[Path]]           # the artifact's files, into a folder
    metrics: dict[str, float] = field(default_factory=dict)
    params: dict[str, Any] = field(default_factory=dict)
    message: str | None = None
    code: dict[str, Any] | None = None            # {"commit": 40 hex, "repo": URL}
    datasets: tuple[str, ...] = ()                # ROLE:ID@REV the source recorded


@dataclass(frozen=True)
class SourceModel:
    """One model as the source has it."""

    source_name: str
    name: str                                     # the registry name
    fields: dict[str, Any]                        # model.yaml fields the source knows
    versions: tuple[SourceVersion, ...]
    stages: dict[str, str]                        # source label ("alias champion") -> version


@dataclass
class ImportRequest:
    """What to import and how; the command line fills it from its options."""

    models: list[str] = field(default_factory=list)    # SOURCE-NAME[=NAME]; empty: all
    defaults: str | None = None                         # the --defaults YAML file
    stage_map: dict[str, str] = field(default_factory=dict)   # source alias/stage -> stage
    branch: str | None = None
    allow_findings: bool = False
    engine: str = "auto"


@dataclass(frozen=True)
class ImportResult:
    """What ``import`` did: versions registered and skipped, stages requested, notes."""

    source: str                                   # MLflow | GTO
    branch: str | None                            # None: nothing to do
    registered: tuple[dict, ...]                  # {model, version, source, commit, warnings}
    skipped: tuple[dict, ...]                     # {model, version, source, reason}
    stages: tuple[dict, ...]                      # {model, stage, version, source}
    notes: tuple[str, ...]


# --- the defaults file ----------------------------------------------------------------
@dataclass(frozen=True)
class Defaults:
    """``--defaults FILE``::

        model:                      # model.yaml fields every imported model starts from
          owner: {team: credit-risk}
          risk: {tier: 2, eu_ai_act: {class: limited}}
        datasets: [train:credit-train@2026.10, test:credit-test@2026.10]
        stages: {champion: production}   # a source alias or stage -> a registry stage
        models:                     # per registry name: what differs for that model
          credit-default:
            model: {title: Credit default}
            datasets: [train:credit-train@2026.11]
    """

    model: dict[str, Any]
    datasets: tuple[str, ...]
    stages: dict[str, str]
    models: dict[str, dict[str, Any]]
    path: str | None = None

    @classmethod
    def read(cls, path: str | None) -> Defaults:
        if not path:
            return cls({}, (), {}, {})
        doc = load(path)
        data = doc.data if doc.data is not None else {}
        if not isinstance(data, dict):
            raise InputError("expected a mapping (model, datasets, stages, models)", file=path)
        unknown = sorted(set(data) - {"model", "datasets", "stages", "models"})
        if unknown:
            raise InputError(f"unknown key {unknown[0]!r}", file=path,
                             hint="the keys are model, datasets, stages and models")
        models = data.get("models") or {}
        if not isinstance(models, dict) or not all(isinstance(v, dict) for v in models.values()):
            raise InputError("models: expected registry names mapped to {model, datasets}",
                             file=path)
        for name, entry in models.items():
            extra = sorted(set(entry) - {"model", "datasets"})
            if extra:
                raise InputError(f"models.{name}: unknown key {extra[0]!r}", file=path,
                                 hint="per model: model (model.yaml fields) and datasets")
        stages = data.get("stages") or {}
        if not isinstance(stages, dict):
            raise InputError("stages: expected source aliases mapped to stages", file=path)
        return cls(_mapping(data.get("model"), "model", path), _texts(data.get("datasets"), path),
                   {str(k).lower(): str(v) for k, v in stages.items()},
                   {str(k): v for k, v in models.items()}, path)

    def fields(self, name: str) -> dict[str, Any]:
        return _mapping((self.models.get(name) or {}).get("model"), f"models.{name}.model",
                        self.path)

    def datasets_for(self, name: str) -> tuple[str, ...]:
        own = (self.models.get(name) or {}).get("datasets")
        return _texts(own, self.path) if own is not None else self.datasets


def _mapping(value: Any, where: str, path: str | None) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise InputError(f"{where}: expected a mapping of model.yaml fields", file=path)
    return value


def _texts(value: Any, path: str | None) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise InputError("datasets: expected a list of ROLE:ID@REV", file=path)
    return tuple(value)


def merged(*layers: dict[str, Any]) -> dict[str, Any]:
    """Later layers win; mappings are merged key by key, anything else is replaced."""
    out: dict[str, Any] = {}
    for layer in layers:
        for key, value in layer.items():
            if isinstance(value, dict) and isinstance(out.get(key), dict):
                out[key] = merged(out[key], value)
            else:
                out[key] = value
    return out


def tag_fields(tags: dict[str, str]) -> dict[str, Any]:
    """``modelreg.risk.tier = 2`` → ``{"risk": {"tier": 2}}``; values read as YAML scalars."""
    out: dict[str, Any] = {}
    for key in sorted(tags):
        if not key.startswith(TAG_PREFIX):
            continue
        parts = key[len(TAG_PREFIX):].split(".")
        if not all(parts):
            continue
        try:
            value = parse_yaml(tags[key], key)
        except ModelregError:
            value = tags[key]
        if isinstance(value, (dict, list)) or value is None:
            value = tags[key]
        node = out
        for part in parts[:-1]:
            if not isinstance(node.get(part), dict):
                node[part] = {}
            node = node[part]
        node[parts[-1]] = value
    return out


def registry_name(source_name: str) -> str:
    """A registry name for a source's model name: lower case, runs of anything else as ``-``."""
    return re.sub(r"[^a-z0-9]+", "-", source_name.lower()).strip("-")[:63]


def _selection(request: ImportRequest) -> dict[str, str | None]:
    """``--model SOURCE[=NAME]`` → {source name: registry name or None (derived)}."""
    out: dict[str, str | None] = {}
    for spec in request.models:
        source, eq, name = spec.partition("=")
        if not source or (eq and not name):
            raise UsageError(f"invalid --model {spec!r}", hint="use SOURCE-NAME[=REGISTRY-NAME]")
        out[source] = name or None
    return out


def _pick(names: list[str], request: ImportRequest, kind: str) -> dict[str, str]:
    """The source's models to import, each with its registry name."""
    chosen = _selection(request)
    missing = [n for n in chosen if n not in names]
    if missing:
        raise UsageError(f"{KINDS[kind]} has no model named {missing[0]!r}",
                         hint="its models: " + (", ".join(sorted(names)) or "none"))
    picked = {n: chosen.get(n) or registry_name(n) for n in (chosen or names)}
    for source, name in picked.items():
        if not tagmod.NAME_RE.match(name):
            raise UsageError(f"{KINDS[kind]} model {source!r} has no usable registry name "
                             f"({name!r})", hint=f"name it: --model {source!r}=NAME "
                                                 "(lower case, digits and -)")
    seen: dict[str, str] = {}
    for source, name in picked.items():
        if name in seen:
            raise UsageError(f"{KINDS[kind]} models {seen[name]!r} and {source!r} would both "
                             f"be {name}", hint="name one with --model SOURCE=NAME")
        seen[name] = source
    return picked


# --- MLflow ---------------------------------------------------------------------------
def read_mlflow(tracking_uri: str, registry_uri: str | None, request: ImportRequest
                ) -> list[SourceModel]:
    """The registered models of an MLflow registry (all, or those ``request.models`` names)."""
    mlflow, client = _mlflow_client(tracking_uri, registry_uri)
    try:
        found = {}
        token = None
        while True:                     # every page: a registry may hold thousands
            page = client.search_registered_models(max_results=1000, page_token=token)
            found.update((m.name, m) for m in page)
            token = page.token
            if not token:
                break
    except Exception as exc:            # MLflow raises its own and its stores' errors
        raise CannotRunError(f"cannot read the MLflow registry at {tracking_uri}: {exc}",
                             hint="check --tracking-uri/--registry-uri and that the server "
                                  "or database is reachable; nothing was changed") from exc
    out = []
    for source, name in _pick(sorted(found), request, "mlflow").items():
        rm = found[source]
        try:
            versions = client.search_model_versions(f"name = '{_quote(source)}'")
        except Exception as exc:
            raise CannotRunError(f"cannot read the versions of MLflow model {source!r}: {exc}",
                                 hint="nothing was changed") from exc
        fields: dict[str, Any] = {}
        if rm.description:
            fields["description"] = rm.description
        if len(source) >= 3:
            fields["title"] = source
        fields = merged(fields, tag_fields(dict(rm.tags or {})))
        svs = []
        stages: dict[str, str] = {}
        for mv in sorted(versions, key=lambda v: int(v.version)):
            version = f"{int(mv.version)}.0.0"
            svs.append(_mlflow_version(mlflow, client, tracking_uri, registry_uri, mv, version))
            stage = (mv.current_stage or "").strip()
            if stage and stage.lower() not in ("none", "archived"):
                stages[f"stage {stage}"] = version
        for alias, number in sorted((rm.aliases or {}).items()):
            stages[f"alias {alias}"] = f"{int(number)}.0.0"
        out.append(SourceModel(source, name, fields, tuple(svs), stages))
    return out


def _quote(name: str) -> str:
    return name.replace("\\", "\\\\").replace("'", "\\'")


def _mlflow_client(tracking_uri: str, registry_uri: str | None) -> tuple[Any, Any]:
    # no usage reports from a registry tool; no progress bars on stderr
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    try:
        # MLflow takes about a second to import: only this command pays for it
        import mlflow  # noqa: PLC0415
        from mlflow import MlflowClient  # noqa: PLC0415
    except ImportError as exc:
        raise CannotRunError("MLflow is not installed: `modelreg import mlflow` reads an "
                             "MLflow registry through MLflow's client",
                             hint='pip install "modelreg[mlflow]"') from exc
    for uri in (tracking_uri, registry_uri):
        _refuse_missing_database(uri)
    try:
        return mlflow, MlflowClient(tracking_uri=tracking_uri, registry_uri=registry_uri)
    except Exception as exc:
        raise CannotRunError(f"cannot open the MLflow registry at {tracking_uri}: {exc}",
                             hint="check --tracking-uri; nothing was changed") from exc


def _refuse_missing_database(uri: str | None) -> None:
    """MLflow creates a SQLite database or a file store where none is: reading must not."""
    if not uri:
        return
    if uri.startswith("sqlite:///"):
        path = Path(unquote(uri[len("sqlite:///"):]))
    elif uri.startswith("file:"):
        path = Path(unquote(urlparse(uri).path))
    elif "://" not in uri:
        path = Path(uri)                       # a folder: MLflow's file store
    else:
        return                                 # a server: asking it tells
    if not path.exists():
        raise CannotRunError(f"no MLflow registry at {uri}: {path} does not exist",
                             hint="check --tracking-uri/--registry-uri; nothing was changed")


def _mlflow_version(mlflow: Any, client: Any, tracking_uri: str, registry_uri: str | None,
                    mv: Any, version: str) -> SourceVersion:
    metrics: dict[str, float] = {}
    params: dict[str, Any] = {}
    code = None
    datasets: tuple[str, ...] = ()
    entrypoint = None
    if mv.run_id:
        try:
            run = client.get_run(mv.run_id)
        except Exception as exc:
            raise CannotRunError(f"cannot read run {mv.run_id} of MLflow model {mv.name!r} "
                                 f"version {mv.version}: {exc}",
                                 hint="nothing was changed") from exc
        metrics = dict(run.data.metrics)
        params = {k: _scalar(v) for k, v in run.data.params.items()}
        tags = dict(run.data.tags)
        commit = tags.get("mlflow.source.git.commit", "")
        if re.fullmatch(r"[0-9a-f]{40}", commit):
            code = {"commit": commit}
            repo = tags.get("mlflow.source.git.repoURL", "")
            if repo and "://" in repo and "@" not in repo.split("://", 1)[1].split("/", 1)[0]:
                code["repo"] = repo
            entrypoint = tags.get("mlflow.source.name") or None
        if tags.get("modelreg.datasets"):
            datasets = tuple(d.strip() for d in tags["modelreg.datasets"].split(",") if d.strip())
    if code is not None and entrypoint and not os.path.isabs(entrypoint):
        code["entrypoint"] = entrypoint

    def fetch(folder: Path) -> list[Path]:
        try:
            got = mlflow.artifacts.download_artifacts(
                artifact_uri=mv.source, dst_path=str(folder), tracking_uri=tracking_uri,
                registry_uri=registry_uri)
        except Exception as exc:
            raise CannotRunError(f"cannot download the artifacts of MLflow model {mv.name!r} "
                                 f"version {mv.version} ({mv.source}): {exc}",
                                 hint="check the artifact store is reachable; nothing was "
                                      "changed") from exc
        return _files(Path(got), f"MLflow model {mv.name!r} version {mv.version}")

    message = mv.description or None
    return SourceVersion(version, f"version {mv.version}", fetch, metrics, params, message,
                         code, datasets)


def _scalar(text: str) -> Any:
    """MLflow keeps parameters as text: numbers and booleans back as values."""
    try:
        value = json.loads(text)
    except ValueError:
        return text
    return value if isinstance(value, (int, float, bool)) and value == value \
        and value not in (float("inf"), float("-inf")) else text


def _files(got: Path, what: str) -> list[Path]:
    """The regular files of a fetched artifact (one file, or a folder without subfolders:
    a version's files share one folder)."""
    if got.is_file():
        return [got]
    found = sorted(p for p in got.rglob("*") if not p.is_dir())
    nested = [p for p in found if p.parent != got]
    if nested:
        raise InputError(f"{what}: {nested[0].relative_to(got)} is in a subfolder; the files "
                         "of a version share one folder",
                         hint="flatten the artifact, or import its files with "
                              "`modelreg register --weights`")
    if not found:
        raise InputError(f"{what} has no files")
    return found


# --- GTO ------------------------------------------------------------------------------
def read_gto(source: str, workdir: Path, request: ImportRequest
             ) -> tuple[list[SourceModel], list[str]]:
    """The artifacts of a GTO repository: its registration tags, the versions' files at the
    tagged commits, and the stages its tags assign now (as GTO replays them). Artifacts that
    are no model (a dataset) or have no files (GTO's virtual artifacts) are left out, with a
    note, unless ``--model`` names them (then they are refused)."""
    root, url = _gto_checkout(source, workdir)
    git = Git(root)
    refs = git.refs(tagmod.patterns())
    states = build_states(refs)
    commits: dict[tuple[str, str], str] = {}
    for ref in refs:
        parsed = tagmod.parse(ref.name)
        if parsed and parsed.action is Action.REGISTER and parsed.version:
            commits.setdefault((parsed.model, parsed.version), ref.target)
    names = sorted(n for n, s in states.items() if s.registered)
    named = set(_selection(request))
    out: list[SourceModel] = []
    notes: list[str] = []
    for source_name, name in _pick(names, request, "gto").items():
        state = states[source_name]
        svs = []
        fields: dict[str, Any] = {}
        decls = {v: _declaration(git, commits[(source_name, v)], source_name)
                 for v in state.registered}
        latest = decls[state.registered[-1]]
        why = None
        if latest.get("type") not in (None, "model"):
            why = f"is of type {latest.get('type')!r}, not a model"
        elif not any(d.get("path") for d in decls.values()):
            why = "has no path in dvc.yaml or artifacts.yaml at any of its versions"
        if why:
            if source_name in named:
                raise InputError(f"GTO artifact {source_name} {why}; nothing was changed",
                                 hint="import models with files only")
            notes.append(f"GTO artifact {source_name} {why}: not imported")
            continue
        for version in state.registered:
            commit = commits[(source_name, version)]
            decl = decls[version]
            if decl.get("description"):
                fields["description"] = str(decl["description"])
            if decl.get("labels"):
                fields["tags"] = [str(x) for x in decl["labels"]]
            svs.append(SourceVersion(
                version, f"{source_name}@v{version}",
                _gto_fetch(root, git, commit, source_name, version, decl),
                message=f"Imported from GTO tag {source_name}@v{version}",
                code={"commit": commit, **({"repo": url} if url else {})}))
        fields.setdefault("title", source_name)
        stages = {f"stage {s}": v for s, v in sorted(state.stages.items())}
        out.append(SourceModel(source_name, name, fields, tuple(svs), stages))
    return out, notes


def _gto_checkout(source: str, workdir: Path) -> tuple[Path, str | None]:
    """The repository to read: a local one in place, a URL cloned (tags with it)."""
    local = Path(source).expanduser()
    if local.is_dir():
        try:
            return Git.toplevel(local), None
        except ModelregError as exc:
            raise CannotRunError(f"{source} is not a git repository: {exc.message}",
                                 hint="pass a GTO repository's path or git URL; nothing was "
                                      "changed") from exc
    if "://" not in source and not re.match(r"^[\w.-]+@[\w.-]+:", source):
        raise CannotRunError(f"{source} is neither a folder nor a git URL",
                             hint="pass a GTO repository's path or git URL; nothing was changed")
    dest = workdir / "source"
    proc = subprocess.run(["git", "clone", "-q", "--", source, str(dest)],
                          capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise CannotRunError(f"cannot clone {source}: {proc.stderr.strip()}",
                             hint="check the URL and your access; nothing was changed")
    shown = source
    if "://" in shown and "@" in shown.split("://", 1)[1].split("/", 1)[0]:
        shown = shown.split("://", 1)[0] + "://" + shown.split("@", 1)[1]  # never credentials
    return dest, shown


def _declaration(git: Git, commit: str, name: str) -> dict[str, Any]:
    """The artifact's declaration at ``commit``: ``dvc.yaml``'s ``artifacts:`` (desc, path,
    type, labels) or GTO's older ``artifacts.yaml`` (description, path, type, labels)."""
    for path, key in (("dvc.yaml", "artifacts"), ("artifacts.yaml", None)):
        text = git.run("show", f"{commit}:{path}", check=False)
        if not text.strip():
            continue
        data = parse_yaml(text, f"{path} at {commit[:12]}")
        table = data.get(key) if key and isinstance(data, dict) else data
        entry = table.get(name) if isinstance(table, dict) else None
        if isinstance(entry, dict):
            out = dict(entry)
            if "desc" in out:
                out.setdefault("description", out.pop("desc"))
            return out
    return {}


def _gto_fetch(root: Path, git: Git, commit: str, name: str, version: str,
               decl: dict[str, Any]) -> Callable[[Path], list[Path]]:
    what = f"GTO artifact {name}@v{version}"

    def fetch(folder: Path) -> list[Path]:
        path = str(decl.get("path") or "")
        if not path:
            raise InputError(f"{what}: its commit {commit[:12]} declares no path for it in "
                             "dvc.yaml or artifacts.yaml", hint="declare the artifact's path "
                             "(`gto annotate NAME --path PATH`), or register it by hand")
        kind = git.run("cat-file", "-t", f"{commit}:{path}", check=False).strip()
        folder.mkdir(parents=True, exist_ok=True)
        if kind == "blob":
            dest = folder / Path(path).name
            with CatFile(git) as cat:
                dest.write_bytes(cat.read(f"{commit}:{path}") or b"")
            return [dest]
        if git.run("cat-file", "-t", f"{commit}:{path}.dvc", check=False).strip() == "blob" \
                or kind == "tree":
            return _dvc_get(root, commit, path, folder, what)
        raise InputError(f"{what}: {path} is neither in git nor tracked by DVC at commit "
                         f"{commit[:12]}", hint="check the artifact's path in dvc.yaml")
    return fetch


def _dvc_get(root: Path, commit: str, path: str, folder: Path, what: str) -> list[Path]:
    """The file (or folder of files) at ``path`` in the source at ``commit``, through DVC:
    from the source's cache, or its remote."""
    try:
        # DVC takes about 0.25 s to import: only GTO imports with DVC-tracked files pay it
        from dvc.fs import DVCFileSystem  # noqa: PLC0415
        fs = DVCFileSystem(url=str(root), rev=commit)
        if fs.isdir(path):
            dest = folder / Path(path).name
            fs.get(path, str(dest), recursive=True)
        else:
            dest = folder / Path(path).name
            fs.get_file(path, str(dest))
    except ModelregError:
        raise
    except Exception as exc:             # DVC's errors: a missing object, an unreachable remote
        raise CannotRunError(f"cannot fetch {what} ({path} at {commit[:12]}) through DVC: "
                             f"{exc}", hint="check the source's DVC remote is reachable "
                                            "(`dvc pull` there); nothing was changed") from exc
    return _files(dest, what)


# --- the import ---------------------------------------------------------------------------
def import_mlflow(registry: Registry, tracking_uri: str, request: ImportRequest,
                  registry_uri: str | None = None) -> ImportResult:
    """``modelreg import mlflow``: read the MLflow registry, then :func:`run`."""
    defaults = Defaults.read(request.defaults)
    models = read_mlflow(tracking_uri, registry_uri, request)
    return run(registry, "mlflow", models, request, defaults)


def import_gto(registry: Registry, source: str, request: ImportRequest) -> ImportResult:
    """``modelreg import gto``: read the GTO repository, then :func:`run`."""
    defaults = Defaults.read(request.defaults)
    with tempfile.TemporaryDirectory(prefix="modelreg-gto-") as tmp:
        models, notes = read_gto(source, Path(tmp), request)
        return run(registry, "gto", models, request, defaults, notes)


@dataclass
class _Model:
    source: SourceModel
    model_file: Path | None          # model.yaml of a new model, composed
    datasets: tuple[DatasetSpec, ...]
    todo: list[SourceVersion]
    stages: dict[str, tuple[str, str]]    # stage -> (version, source label)


def run(registry: Registry, kind: str, models: list[SourceModel], request: ImportRequest,
        defaults: Defaults, notes: list[str] | None = None) -> ImportResult:
    """Register each model's new versions and request its stages, on one new branch."""
    source = KINDS[kind]
    notes = list(notes or [])
    skipped: list[dict] = []
    with tempfile.TemporaryDirectory(prefix="modelreg-import-") as tmp:
        work = Path(tmp)
        prepared = [_prepare(registry, m, defaults, request, work, skipped, notes, source)
                    for m in models]
        if not any(p.todo or p.stages for p in prepared):
            return ImportResult(source, None, (), tuple(skipped), (), tuple(notes))
        with lock.hold(registry.git, "register", "modelreg import"):
            for p in prepared:
                for v in p.todo:
                    refuse_interrupted(registry, p.source.name, v.version)
            branch = request.branch or _branch_name(registry, kind)
            if registry.git.branch_exists(branch):
                raise UsageError(f"branch {branch} exists already",
                                 hint=f"finish its pull request, delete it (git branch -D "
                                      f"{branch}) or name another with --branch")
            registered: list[dict] = []
            requested: list[dict] = []
            undo = Undo(registry)
            with undo.guard("import"):
                undo.branch_off(branch)
                for p in prepared:
                    for v in p.todo:
                        result = _register(registry, undo, p, v, request, work, source)
                        registered.append({"model": p.source.name, "version": v.version,
                                           "source": v.label, "commit": result.commit,
                                           "warnings": list(result.warnings),
                                           "findings": [f.to_json() for f in result.findings]})
                        p.model_file = None            # the model exists from now on
                        if v.code is None:
                            notes.append(
                                f"{p.source.name} {v.version}: {source} {v.label} records no "
                                "git commit of its training code; its record names this "
                                "registry's commit instead: correct `code` in the pull request")
                for p in prepared:
                    requested += _request_stages(registry, undo, p, source, notes)
        return ImportResult(source, branch, tuple(registered), tuple(skipped),
                            tuple(requested), tuple(notes))


def _branch_name(registry: Registry, kind: str) -> str:
    stamp = timefmt.rfc3339().replace("-", "").replace(":", "")
    return f"import/{kind}-{stamp.rstrip('Z').replace('T', '-')}"


def _prepare(registry: Registry, m: SourceModel, defaults: Defaults, request: ImportRequest,
             work: Path, skipped: list[dict], notes: list[str], source: str) -> _Model:
    """Everything about one model decided before the first write: its model.yaml (new
    models), its datasets, which versions are new, which stages it asks for."""
    name = m.name
    existing = (set(registry.version_names(name)) | set(registry.state(name).registered)
                if registry.model_dir(name).exists() else set())
    todo = []
    for v in m.versions:
        if v.version in existing:
            skipped.append({"model": name, "version": v.version, "source": v.label,
                            "reason": "already registered"})
        else:
            todo.append(v)
    model_file = None
    if todo and not (registry.model_dir(name) / "model.yaml").exists():
        data = merged(defaults.model, m.fields, defaults.fields(name))
        data.pop("name", None)
        data = {"name": name, **data}
        errors = Schemas(registry.root).errors("model", data)
        if errors:
            path, msg = errors[0]
            where = ".".join(str(p) for p in path) or "model.yaml"
            raise InputError(
                f"{source} model {m.source_name!r} ({name}): {where}: {msg}; nothing was "
                "changed", file=defaults.path,
                hint=f"give it in the --defaults file (under `model:`, or `models: {{{name}: "
                     "{model: …}}`)" + (" or as an MLflow tag modelreg.FIELD.PATH"
                                        if source == "MLflow" else ""))
        model_file = work / f"{name}.model.yaml"
        model_file.write_text(dump_yaml(data), encoding="utf-8")
    specs: list[DatasetSpec] = []
    if todo:
        texts = defaults.datasets_for(name) or next((v.datasets for v in todo if v.datasets), ())
        if not texts:
            raise InputError(f"{source} model {m.source_name!r} ({name}): no datasets for its "
                             "versions; nothing was changed", file=defaults.path,
                             hint="list them in the --defaults file: `datasets: "
                                  "[ROLE:ID@REV, …]` (every version's lineage must name its "
                                  "data)")
        try:
            specs = [DatasetSpec.parse(t) for t in texts]
        except UsageError as exc:
            raise InputError(f"{name}: {exc.message}", file=defaults.path,
                             hint=exc.hint) from exc
        known = registry.config.datasets
        for spec in specs:
            if spec.path is None and not ((known.get(spec.id) or {}).get("revisions") or {}
                                          ).get(spec.revision):
                raise InputError(f"{name}: dataset {spec.id}@{spec.revision} is not in "
                                 f"{registry.config.file('datasets')}; nothing was changed",
                                 hint="register it there first, in a reviewed pull request")
    return _Model(m, model_file, tuple(specs), todo,
                  _stages(registry, m, defaults, request, {v.version for v in m.versions}
                          | existing, notes, source))


def _stages(registry: Registry, m: SourceModel, defaults: Defaults, request: ImportRequest,
            versions: set[str], notes: list[str], source: str) -> dict[str, tuple[str, str]]:
    """The registry stages the source's aliases and stages ask for, and those that change
    ``stages.yaml``: an alias names a stage through ``--stage-map``/the defaults' ``stages``,
    or by being a stage's name."""
    names = set(registry.config.stage_names)
    mapping = {**defaults.stages, **{k.lower(): v for k, v in request.stage_map.items()}}
    for stage in mapping.values():
        registry.config.check_stage(stage, registered=False)
    out: dict[str, tuple[str, str]] = {}
    # legacy stages first: an alias for the same stage says it more recently and wins; two
    # aliases (or two stages) asking one stage for different versions are refused
    for label, version in sorted(m.stages.items(), key=lambda kv: not kv[0].startswith("stage")):
        kind, word = label.split(" ", 1)
        stage = mapping.get(word.lower()) or (word.lower() if word.lower() in names else None)
        if stage is None:
            notes.append(f"{m.name}: {source} {label} (version {version}) names no stage here; "
                         f"map it with --stage-map {word}=STAGE to request one")
            continue
        if version not in versions:
            notes.append(f"{m.name}: {source} {label} names version {version}, which is not "
                         "imported; no stage requested")
            continue
        held = out.get(stage)
        if held and held[0] != version:
            if held[1].split(" ", 1)[0] == kind:
                raise InputError(
                    f"{source} model {m.source_name!r}: {held[1]} and {label} both ask for "
                    f"{stage}, with {held[0]} and {version}; nothing was changed",
                    hint="map only one of them to the stage (--stage-map, or `stages:` in "
                         "the --defaults file)")
            notes.append(f"{m.name}: {source} {label} asks for {stage} with {version}, not "
                         f"{held[1]}'s {held[0]}: the alias is requested")
        out[stage] = (version, label)
    desired = requested_stages.requested(registry, m.name) \
        if registry.model_dir(m.name).exists() else {"stages": {}}
    if desired.get("deprecated"):
        if out:
            notes.append(f"{m.name} is deprecated here: no stage requested")
        return {}
    return {s: vl for s, vl in out.items()
            if requested_stages.entry_version(desired["stages"].get(s)) != vl[0]}


def _register(registry: Registry, undo: Undo, p: _Model, v: SourceVersion,
              request: ImportRequest, work: Path, source: str) -> RegisterResult:
    """One version through ``register``'s steps, committed on the import branch."""
    name = p.source.name
    folder = work / name / v.version
    what = f"{source} model {p.source.source_name!r} {v.label}"
    try:
        files = v.fetch(folder / "files")
        metrics = folder / "metrics.json"
        # the run's metrics are the model's: bound to its weights, the largest file
        weights = max(files, key=lambda f: (Path(f).stat().st_size, str(f)), default=None)
        bound = {"artifact": hash_file(weights).sha256} if weights else {}
        metrics.write_text(json.dumps({**bound, "metrics": _metric_rows(v.metrics, p.datasets)}),
                           encoding="utf-8")
        req = RegisterRequest(
            name=name, version=v.version, weights=[str(f) for f in files],
            metrics=str(metrics) if v.metrics else None,
            model_file=str(p.model_file) if p.model_file else None,
            message=v.message or f"Imported from {source} ({v.label})",
            datasets=list(p.datasets), params=dict(v.params), code_record=v.code,
            branch=False, refuse_findings=not request.allow_findings, engine=request.engine)
        planned = plan(registry, req)
    except ModelregError as exc:
        exc.message = f"{what}: {exc.message}"
        exc.args = (exc.message,)
        raise
    # the outer log takes what this version's steps create or edit, so that a later failure
    # puts back the versions committed before it too
    for path in (planned.model_dir / "model.yaml", planned.version_file,
                 registry.root / cards.card_path(name), registry.root / dvcyaml.PATH,
                 registry.root / CODEOWNERS, registry.root / ".gitignore"):
        undo.remember(path)
    undo.create_dir(planned.version_dir)
    try:
        return apply(registry, planned)
    except ModelregError as exc:
        exc.message = f"{what}: {exc.message}"
        exc.args = (exc.message,)
        raise


def _metric_rows(metrics: dict[str, float], datasets: tuple[DatasetSpec, ...]) -> list[dict]:
    """The source's metrics as rows, measured on the version's evaluation data: its test
    dataset, else validation, calibration or training data."""
    rank = {"test": 0, "validation": 1, "calibration": 2, "train": 3}
    spec = min(datasets, key=lambda d: rank[d.role]) if datasets else None
    rows = []
    for key in sorted(metrics):
        row: dict[str, Any] = {"name": _METRIC_NAME.sub("_", key.lower()).strip("_") or "metric",
                               "value": metrics[key], "slice": "overall"}
        if spec is not None:
            row["dataset"], row["split"] = spec.id, spec.role
        rows.append(row)
    return rows


def _request_stages(registry: Registry, undo: Undo, p: _Model, source: str,
                    notes: list[str]) -> list[dict]:
    """``stages.yaml`` asking for the source's stages, committed: requests a pull request's
    reviewers approve, never stages held."""
    if not p.stages:
        return []
    name = p.source.name
    view = Registry(registry.root, git=registry.git)      # as the import left it
    data = requested_stages.requested(view, name)
    for stage, (version, label) in sorted(p.stages.items()):
        data["stages"][stage] = {"version": version,
                                 "reason": f"imported from {source} ({label})"}
    path = registry.model_dir(name) / "stages.yaml"
    rel = registry.rel(path)
    undo.write(path, requested_stages.text(data))
    problems = [f for f in validate_file(view, Schemas(view), rel) if f.severity == "error"]
    if problems:
        raise InputError(f"{rel} would be invalid: {problems[0].message}",
                         hint="check the stage names the source's aliases map to")
    summary = ", ".join(f"{s} = {v} ({lbl})" for s, (v, lbl) in sorted(p.stages.items()))
    registry.git.run("add", "--", rel)
    registry.git.run("commit", "-q", "--no-verify", "-m",
                     f"Request stages for {name} from {source}\n\n{summary}\n\n"
                     "Requests only: the stages count once this pull request is approved, "
                     "merged and reconciled.", "--", rel)
    return [{"model": name, "stage": s, "version": v, "source": lbl}
            for s, (v, lbl) in sorted(p.stages.items())]
