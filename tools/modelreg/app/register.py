"""``modelreg register``: record a new model version, its weights under DVC, on a branch.

All-or-nothing: every check runs before the first write, and if anything fails after that
(DVC add or push, git) the work tree, the index and the branch are put back as they were.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from modelreg.core.errors import CannotRunError, InputError, ModelregError, RefusedError, UsageError
from modelreg.core.yamlio import dump_yaml, load, write_atomic
from modelreg.store import cards, codeowners
from modelreg.store.dvc import Dvc, file_hashes, read_pointer
from modelreg.store.git import Git
from modelreg.store.registry import Registry, check_name, check_version, semver_key
from modelreg.store.schemas import Schemas
from modelreg.store.undo import Undo

FORMATS = {
    ".safetensors": "safetensors", ".onnx": "onnx", ".skops": "skops",
    ".pkl": "pickle", ".pickle": "pickle", ".joblib": "joblib", ".pt": "pytorch",
    ".pth": "pytorch", ".bin": "bin", ".h5": "keras-h5", ".keras": "keras", ".gguf": "gguf",
    ".ubj": "xgboost-ubj", ".json": "json", ".npz": "numpy",
}
ROLES = ("train", "validation", "test", "calibration")

STARTER = """\
# Starter record for {name}: complete every TODO, then `modelreg validate` must pass
# before the pull request can merge. Field meanings: schemas/model.schema.json.
name: {name}
title: TODO one-line title
task: TODO-task          # Hugging Face pipeline_tag, e.g. tabular-classification
library_name: TODO
license: TODO            # must be in policies/data/licenses.yaml
owner:
  team: TODO             # a team from policies/data/teams.yaml
developers: []
intended_use:
  purpose: TODO describe the business purpose and the decisions the model supports
risk:
  tier: 0                # 1 (highest materiality) to 3
  eu_ai_act:
    class: TODO          # prohibited | high | limited | minimal | gpai
"""


@dataclass(frozen=True)
class DatasetSpec:
    role: str
    id: str
    revision: str
    path: str | None = None

    @classmethod
    def parse(cls, text: str) -> DatasetSpec:
        """``ROLE:ID@REVISION[:PATH]``, e.g. ``train:iris-train@2026.11:data/train.csv``."""
        role, sep, rest = text.partition(":")
        ident, _, path = rest.partition(":")
        ds_id, at, revision = ident.partition("@")
        if not sep or not at or not ds_id or not revision or role not in ROLES:
            raise UsageError(f"invalid --dataset {text!r}",
                             hint="use ROLE:ID@REVISION[:PATH], ROLE one of " + ", ".join(ROLES))
        return cls(role, ds_id, revision, path or None)


@dataclass
class RegisterRequest:
    """Everything ``register`` needs; the CLI fills it from its options."""

    name: str
    version: str
    weights: list[str]
    metrics: str | None = None
    model_file: str | None = None            # --from
    message: str | None = None
    datasets: list[DatasetSpec] = field(default_factory=list)
    config: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    parent: str | None = None                # NAME@X.Y.Z
    code: str | None = None                  # path of the training code's git checkout
    entrypoint: str | None = None
    branch: bool = True
    allow_lower: bool = False


@dataclass(frozen=True)
class RegisterResult:
    name: str
    version: str
    branch: str | None
    commit: str
    files: tuple[str, ...]
    artifacts: tuple[dict, ...]
    new_model: bool
    starter: bool
    pushed: int
    warnings: tuple[str, ...]


def sha256_file(path: str | os.PathLike) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def _weights_plan(registry: Registry, req: RegisterRequest, vdir: Path) -> list[tuple[Path, Path]]:
    """(source, destination) of each weights file, after every refusal rule."""
    plan = []
    names = set()
    root_real = os.path.realpath(registry.root)
    inside: list[str] = []
    for w in req.weights:
        src = Path(w).expanduser()
        if not src.exists():
            raise UsageError(f"weights file {w} does not exist", hint="check the path")
        if src.is_symlink():
            raise UsageError(f"weights path {w} is a symlink",
                             hint="pass the real file, so the recorded hash is of what you see")
        if not src.is_file():
            raise UsageError(f"weights path {w} is not a regular file")
        real = os.path.realpath(src)
        if real.startswith(root_real + os.sep):
            inside.append(os.path.relpath(real, root_real))
        if src.name in names:
            raise UsageError(f"two weights files are named {src.name}",
                             hint="rename one; files of a version share one folder")
        if src.name.endswith(".dvc") or src.name.startswith("."):
            raise UsageError(f"weights file name {src.name!r} is not allowed")
        names.add(src.name)
        plan.append((Path(real), vdir / src.name))
    tracked = registry.git.tracked(inside)
    if tracked:
        first = sorted(tracked)[0]
        raise RefusedError(
            f"weights file {first} is tracked by git, not DVC",
            hint=f"weights belong in DVC: `git rm --cached {first}`, commit, then register")
    return plan


def _existing_pointer(dest: Path, registry: Registry) -> None:
    """A pre-existing ``.dvc`` beside the destination must describe the same bytes."""
    pointer = dest.with_name(dest.name + ".dvc")
    if not pointer.exists():
        return
    rel = registry.rel(pointer)
    recorded = {p.md5 for p in read_pointer(pointer, display=rel)}
    md5, _, _ = file_hashes(dest)
    if md5 not in recorded:
        raise RefusedError(
            f"{rel} records md5 {', '.join(sorted(recorded))} but the weights hash to {md5}",
            file=rel, hint="the pointer is stale: delete it, or restore the matching weights")


def _metrics(req: RegisterRequest, model: dict) -> list[dict]:
    if not req.metrics:
        return []
    doc = load(req.metrics)
    rows = doc.data.get("metrics") if isinstance(doc.data, dict) else doc.data
    if not isinstance(rows, list):
        raise InputError("expected a list of metrics or {\"metrics\": [...]}", file=req.metrics)
    thresholds = ((model.get("evaluation") or {}).get("thresholds") or []) \
        if isinstance(model, dict) else []
    out = []
    for row in rows:
        if not isinstance(row, dict):
            raise InputError("each metric must be a mapping", file=req.metrics)
        row = dict(row)
        row.setdefault("slice", "overall")
        if "threshold" not in row:
            best = _threshold_for(row, thresholds)
            if best:
                row["threshold"] = best["threshold"]
                row["direction"] = best["direction"]
        out.append(row)
    return out


def _threshold_for(row: dict, thresholds: list) -> dict | None:
    best, score = None, -1
    for t in thresholds:
        if not isinstance(t, dict) or t.get("metric") != row.get("name"):
            continue
        if "dataset" in t and t["dataset"] != row.get("dataset"):
            continue
        if "slice" in t and t["slice"] != row.get("slice"):
            continue
        s = ("dataset" in t) + 2 * ("slice" in t)
        if s > score:
            best, score = t, s
    return best


def _datasets(registry: Registry, req: RegisterRequest, warnings: list[str]) -> list[dict]:
    known = registry.config.datasets
    out = []
    for spec in req.datasets:
        entry = known.get(spec.id) or {}
        rev = (entry.get("revisions") or {}).get(spec.revision) or {}
        if spec.path:
            if not os.path.isfile(spec.path):
                raise UsageError(f"dataset file {spec.path} does not exist")
            digest = sha256_file(spec.path)
            if rev.get("sha256") and rev["sha256"] != digest:
                warnings.append(f"dataset {spec.id}@{spec.revision}: {spec.path} hashes to "
                                f"{digest[:12]}…, the dataset registry says "
                                f"{rev['sha256'][:12]}… (policy DATA-02 will flag it)")
        elif rev.get("sha256"):
            digest = rev["sha256"]
        else:
            raise UsageError(
                f"dataset {spec.id}@{spec.revision} is not in {registry.config.file('datasets')}",
                hint="register it there, or pass its file (ROLE:ID@REV:PATH) to hash it")
        row: dict[str, Any] = {"id": spec.id, "revision": spec.revision, "role": spec.role,
                               "sha256": digest}
        if rev.get("rows") is not None:
            row["rows"] = rev["rows"]
        if "contains_personal_data" in entry:
            row["contains_personal_data"] = bool(entry["contains_personal_data"])
        out.append(row)
    return out


def _training(req: RegisterRequest, code_root: Path | None) -> dict:
    training: dict[str, Any] = {}
    params: dict[str, Any] = {}
    if req.config:
        doc = load(req.config)
        real = Path(req.config).resolve()
        shown = real.name
        if code_root and str(real).startswith(str(code_root) + os.sep):
            shown = os.path.relpath(real, code_root)
        training["config"] = {"path": shown, "sha256": sha256_file(real)}
        if isinstance(doc.data, dict):
            hp = doc.data.get("hyperparameters")
            if isinstance(hp, dict):
                params.update(hp)
            if isinstance(doc.data.get("seed"), int):
                training["seed"] = doc.data["seed"]
    params.update(req.params)
    if params:
        training["hyperparameters"] = params
    return training


def _code(req: RegisterRequest, registry: Registry) -> tuple[dict, Path]:
    path = Path(req.code) if req.code else registry.root
    root = Git.toplevel(path)
    git = Git(root)
    commit = git.head()
    if not commit:
        raise RefusedError(f"the code repository {root.name} has no commit yet",
                           hint="commit the training code first, so the model can be traced")
    code: dict[str, Any] = {"commit": commit, "dirty": git.is_dirty()}
    url = git.run("config", "--get", "remote.origin.url", check=False).strip()
    if url and "://" in url and "@" in url.split("://", 1)[1].split("/", 1)[0]:
        url = url.split("://", 1)[0] + "://" + url.split("@", 1)[1]   # never store credentials
    if url and not os.path.isabs(url):
        code["repo"] = url
    if req.entrypoint:
        code["entrypoint"] = req.entrypoint
    return code, root


def _identity(git: Git) -> tuple[dict, str]:
    ident = git.run("var", "GIT_AUTHOR_IDENT",
                    hint="set git config user.name and user.email").strip()
    name_email, _, stamp = ident.rpartition(">")
    name, _, email = name_email.partition("<")
    seconds = int(stamp.split()[0])
    when = dt.datetime.fromtimestamp(seconds, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {"name": name.strip(), "email": email.strip()}, when


_FIELD_SOURCE = {"metrics": "--metrics", "datasets": "--dataset", "training": "--config/--param",
                 "parent": "--parent", "code": "--code", "message": "--message"}


def _blame(path: list, msg: str, req: RegisterRequest) -> str:
    """Say which input a problem in the assembled record came from."""
    top = path[0] if path else None
    if top == "metrics" and req.metrics:
        return f"{req.metrics}: {msg}"
    if top == "datasets" and not req.datasets:
        return f"{msg} (give at least one --dataset ROLE:ID@REV)"
    return f"{msg} (from {_FIELD_SOURCE[top]})" if top in _FIELD_SOURCE else msg


def _scan_weights(plan: list[tuple[Path, Path]]) -> dict:
    """Scan every weights file before anything is written; a dangerous global refuses
    the registration, naming it (modelreg/store/scanning.py)."""
    from modelreg.store.scanning import scan

    scans = {}
    for src, dest in plan:
        record = scan(src, display=dest.name)
        if record is not None and record.status == "findings":
            found = ", ".join(record.dangerous) or "; ".join(record.findings)
            raise RefusedError(
                f"weights file {dest.name} can run code when loaded: {record.tool} found "
                f"{found}",
                hint="do not load this file; export the model to safetensors, ONNX or skops "
                     "from a trusted environment and register that")
        scans[dest] = record
    return scans


def _refuse_secrets(req: RegisterRequest, record: dict) -> None:
    """Refuse cloud keys, tokens and private keys in any metadata input
    (modelreg/store/credentials.py)."""
    from modelreg.store.credentials import find

    for label, path in (("--metrics", req.metrics), ("--config", req.config),
                        ("--from", req.model_file)):
        if not path:
            continue
        try:
            text = Path(path).read_text(encoding="utf-8", errors="replace")
        except OSError:
            continue
        leaks = find(text)
        if leaks:
            raise RefusedError(f"{leaks[0].message()} ({label})", file=path, line=leaks[0].line,
                               hint="registry metadata is readable by everyone with access")
    leaks = find(dump_yaml(record))
    if leaks:
        raise RefusedError(f"{leaks[0].message()} (from --message, --param, --dataset or "
                           "--code)", hint="registry metadata is readable by everyone with access")


def register(registry: Registry, req: RegisterRequest,
             hooks: dict[str, Callable[[], None]] | None = None) -> RegisterResult:
    """Register ``req.name`` at ``req.version``; see the module docstring.

    ``hooks`` lets tests inject a failure at each external step (names: ``scan``,
    ``branch``, ``write``, ``dvc_add``, ``card``, ``dvc_push``, ``git_add``, ``git_commit``).
    """
    hooks = hooks or {}
    name = check_name(req.name)
    version = check_version(req.version)
    if not req.weights:
        raise UsageError("no weights given", hint="pass --weights PATH (repeatable)")
    root = registry.root
    mdir = registry.model_dir(name)
    vfile = mdir / "versions" / f"{version}.yaml"
    vdir = mdir / "versions" / version
    git = registry.git

    # --- refusals: nothing is written before all of these pass ------------------------
    state = registry.state(name)
    existing = set(registry.version_names(name)) | set(state.registered)
    if version in existing:
        raise RefusedError(f"{name} {version} is already registered",
                           hint="registered versions are immutable: choose a new version")
    higher = [v for v in existing if semver_key(v) > semver_key(version)]
    if higher and not req.allow_lower:
        top = max(higher, key=semver_key)
        raise RefusedError(f"{version} is lower than {name}'s highest version {top}",
                           hint="choose a version above it, or pass --allow-lower for a "
                                "patch of an older line")
    new_model = not (mdir / "model.yaml").exists()
    starter = False
    if new_model:
        if req.model_file:
            mdoc = load(req.model_file)
            model_data = mdoc.data if isinstance(mdoc.data, dict) else None
            if model_data is None:
                raise InputError("expected a mapping", file=req.model_file)
            if model_data.get("name", name) != name:
                raise InputError(f"name {model_data.get('name')!r} is not {name!r}",
                                 file=req.model_file, hint="make them agree")
            errors = Schemas(root).errors("model", {**model_data, "name": name})
            if errors:
                path, msg = errors[0]
                from modelreg.core.yamlio import locate
                raise InputError(f"not a valid model record: {msg}"
                                 + (f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""),
                                 file=req.model_file, line=locate(mdoc, path),
                                 hint="`modelreg validate FILE` lists every problem")
            model_text = mdoc.text if "name" in model_data else f"name: {name}\n{mdoc.text}"
        else:
            model_data = {}
            model_text = STARTER.format(name=name)
            starter = True
    else:
        if req.model_file:
            raise RefusedError(f"model {name} exists already; --from only creates new models",
                               hint=f"edit models/{name}/model.yaml in a pull request instead")
        model_data = registry.model(name).data
    parent = None
    if req.parent:
        pname, at, pver = req.parent.partition("@")
        if not at:
            pname, pver = name, req.parent
        pver = check_version(pver)
        if not (registry.model_dir(pname) / "versions" / f"{pver}.yaml").exists():
            raise UsageError(f"parent {pname}@{pver} is not registered",
                             hint="`modelreg show NAME` lists the versions")
        parent = {"model": pname, "version": pver}
    plan = _weights_plan(registry, req, vdir)
    hooks.get("scan", lambda: None)()
    scans = _scan_weights(plan)
    branch = f"register/{name}-{version}" if req.branch else None
    if branch and git.branch_exists(branch):
        raise RefusedError(f"branch {branch} exists already",
                           hint=f"delete it (`git branch -D {branch}`) or finish its pull request")
    warnings: list[str] = []
    metrics = _metrics(req, model_data)
    datasets = _datasets(registry, req, warnings)
    code, code_root = _code(req, registry)
    training = _training(req, code_root)
    who, when = _identity(git)
    dvc = Dvc(root)
    remote = dvc.default_remote()
    lower = sorted((v for v in existing if semver_key(v) < semver_key(version)), key=semver_key)

    record: dict[str, Any] = {"model": name, "version": version, "created_at": when,
                              "registered_by": who}
    if req.message:
        record["message"] = req.message
    if lower:
        record["previous_version"] = lower[-1]
    if parent:
        record["parent"] = parent
    record["code"] = code
    if training:
        record["training"] = training
    record["artifacts"] = []   # filled after dvc add
    record["datasets"] = datasets
    record["metrics"] = metrics

    _refuse_secrets(req, record)

    # Validate the record before any write (artifacts get placeholder hashes).
    probe = dict(record)
    probe["artifacts"] = [{"path": registry.rel(d), "format": "other", "size": 0, "md5": "0" * 32,
                           "sha256": "0" * 64, "dvc_file": registry.rel(d) + ".dvc"}
                          for _, d in plan]
    errors = Schemas(root).errors("version", probe)
    if errors:
        raise InputError("the version record would be invalid:\n  " + "\n  ".join(
            _blame(path, msg, req) for path, msg in errors[:8]),
            hint="fix the inputs named above; field meanings are in schemas/version.schema.json")

    # --- writes: undone on any failure -------------------------------------------------
    undo = Undo(registry)
    try:
        if branch:
            hooks.get("branch", lambda: None)()
            git.run("checkout", "-q", "-b", branch)
            undo.new_branch = branch
        hooks.get("write", lambda: None)()
        undo.create_dir(vdir)
        if new_model:
            write_atomic(mdir / "model.yaml", model_text)
            undo.created.append(mdir / "model.yaml")
            owners_file = root / ".github" / "CODEOWNERS"
            if owners_file.exists() and not starter:
                undo.remember(owners_file)
                codeowners.write(registry)   # the new model's owners, for its next changes
        for src, dest in plan:
            if src != Path(os.path.realpath(dest)):
                undo.remember(dest)
                shutil.copyfile(src, dest)
            _existing_pointer(dest, registry)
            undo.remember(dest.with_name(dest.name + ".dvc"))
        undo.remember(vdir / ".gitignore")
        undo.remember(root / ".gitignore")
        hooks.get("dvc_add", lambda: None)()
        dvc.add([d for _, d in plan])
        artifacts = []
        for _, dest in plan:
            pointer = dest.with_name(dest.name + ".dvc")
            md5 = read_pointer(pointer, display=registry.rel(pointer))[0].md5
            real_md5, sha, size = file_hashes(dest)
            if md5 != real_md5:
                raise CannotRunError(f"DVC recorded md5 {md5} for {registry.rel(dest)} but the "
                                     f"file hashes to {real_md5}",
                                     hint="the file changed while registering; try again")
            artifacts.append({"path": registry.rel(dest),
                              "format": FORMATS.get(dest.suffix.lower(), "other"),
                              "size": size, "md5": md5, "sha256": sha,
                              "dvc_file": registry.rel(pointer), "remote": remote})
            if scans.get(dest) is not None:
                artifacts[-1]["scan"] = scans[dest].to_json()
        record["artifacts"] = artifacts
        write_atomic(vfile, dump_yaml(record))
        undo.created.append(vfile)
        card_file = root / cards.card_path(name)
        undo.remember(card_file)
        hooks.get("card", lambda: None)()
        cards.write(registry, name)
        hooks.get("dvc_push", lambda: None)()
        pushed = dvc.push([d.with_name(d.name + ".dvc") for _, d in plan])
        paths = [registry.rel(vfile)] + [a["dvc_file"] for a in artifacts]
        paths.append(registry.rel(card_file))
        if new_model:
            paths.insert(0, registry.rel(mdir / "model.yaml"))
        for extra in (vdir / ".gitignore", root / ".gitignore", root / ".github" / "CODEOWNERS"):
            if extra.exists() and undo.saved.get(extra) != extra.read_bytes():
                paths.append(registry.rel(extra))
        hooks.get("git_add", lambda: None)()
        git.run("add", "--", *paths)
        title = f"Register {name} {version}"
        body = req.message or ""
        hooks.get("git_commit", lambda: None)()
        git.run("commit", "-q", "--no-verify", "-m", title + (f"\n\n{body}" if body else ""),
                "--", *paths)
        commit = git.head() or ""
    except BaseException as exc:
        problems = undo.rollback()
        dvc.close()
        if isinstance(exc, ModelregError):
            if problems:
                exc.message += "\n  rollback problems: " + "; ".join(problems)
            exc.message = f"register failed, nothing was changed: {exc.message}" if not problems \
                else exc.message
            raise
        if isinstance(exc, (KeyboardInterrupt, SystemExit)):
            raise
        raise CannotRunError(f"register failed, nothing was changed: {exc}",
                             hint="fix the cause above and run register again") from exc
    dvc.close()
    return RegisterResult(name, version, branch, commit, tuple(paths), tuple(artifacts),
                          new_model, starter, pushed, tuple(warnings))
