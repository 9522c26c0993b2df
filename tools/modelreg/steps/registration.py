"""Registering one version from files, shared by ``register`` and ``import``.

Two steps. :func:`plan` decides everything and writes nothing: every refusal (an existing
or lower version, missing or git-tracked weights, a stale ``.dvc`` pointer, a dangerous
pickle, a secret in the metadata, NaN metrics, control characters in names, no metrics for a
model with thresholds, an invalid record…), the hashes of each weights file (read once), the
record, card, ``dvc.yaml`` and CODEOWNERS texts, the branch. :func:`apply` carries the plan
out under an undo log: branch, copy, ``dvc add``, record, card and the version's DVC artifact
declaration (``dvc.yaml``), the registered-stage policies on the files as written
(:func:`judge`: register says what ``check`` will say), ``dvc push``, commit. If anything
fails there, the work tree, the index and the branch are put back byte for byte.
:func:`refuse_interrupted` looks for a run killed before its commit; the use cases run the
steps holding the clone's lock (``app/register.py``, ``app/imports.py``).
"""
from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from modelreg.core import files, numbers, timefmt
from modelreg.core import tags as tagmod
from modelreg.core.errors import (
    CannotRunError,
    InputError,
    PolicyRefusal,
    RefusedError,
    UsageError,
)
from modelreg.core.files import FileHashes
from modelreg.core.records import Finding
from modelreg.core.tags import Action
from modelreg.core.yamlio import Document, dump_yaml, load, locate, parse_yaml, read_text
from modelreg.policy.evaluate import evaluate
from modelreg.policy.inputs import REGISTERED
from modelreg.store import cards, codeowners, dvcyaml, lock
from modelreg.store.codeowners import PATH as CODEOWNERS
from modelreg.store.credentials import find
from modelreg.store.dvc import Dvc, object_path, read_pointer
from modelreg.store.dvc import storage as dvc_storage
from modelreg.store.git import Git
from modelreg.store.registry import Registry, check_name, check_version, semver_key
from modelreg.store.scanning import scan
from modelreg.store.schemas import Schemas
from modelreg.store.undo import Undo

if TYPE_CHECKING:
    from modelreg.store.scanning import ScanRecord

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
# license_link: URL      # needed for a licence that is not a Hugging Face licence id
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
        refuse_control_characters("--dataset", text)
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
    robustness: str | None = None            # --robustness: robustness and security tests
    model_file: str | None = None            # --from
    message: str | None = None
    datasets: list[DatasetSpec | str] = field(default_factory=list)
    config: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    parent: str | None = None                # NAME@X.Y.Z
    code: str | None = None                  # path of the training code's git checkout
    entrypoint: str | None = None
    # the training code as another registry recorded it ({"commit": 40 hex, "repo": URL}),
    # instead of reading a checkout (``import``: the run's or the tag's commit)
    code_record: dict[str, Any] | None = None
    branch: bool = True
    allow_lower: bool = False
    # What the registered-stage policies find in the new version is returned as data
    # (RegisterResult.findings); with refuse_findings an error among them refuses the
    # registration before anything is committed or pushed (the command line's default,
    # --allow-findings turns it off).
    refuse_findings: bool = False
    engine: str = "auto"

    def __post_init__(self) -> None:
        # the library takes datasets as the CLI does, "ROLE:ID@REVISION[:PATH]", too
        self.datasets = [DatasetSpec.parse(d) if isinstance(d, str) else d
                         for d in self.datasets]
        if isinstance(self.weights, (str, os.PathLike)):
            self.weights = [self.weights]


@dataclass(frozen=True)
class RegisterResult:
    """What ``register`` did: the commit, the files it holds, the recorded artifacts."""

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
    findings: tuple[Finding, ...] = ()       # what `check` will report for the new version
    dataset_entries: tuple[str, ...] = ()    # datasets.yaml entries to add (YAML)


# The external steps, in the order ``register`` runs them ("scan" is in the plan, before
# anything is written; the others are in apply).
STEPS = ("scan", "branch", "write", "dvc_add", "card", "policies", "dvc_push", "git_add",
         "git_commit")


class Hooks:
    """Test seams: a callable per step name (:data:`STEPS`), called just before that step,
    so a test can make any external step fail and check that nothing was changed."""

    def __init__(self, calls: Mapping[str, Callable[[], None]] | None = None) -> None:
        unknown = sorted(set(calls or ()) - set(STEPS))
        if unknown:
            raise ValueError(f"no register step named {', '.join(unknown)}; "
                             f"steps: {', '.join(STEPS)}")
        self._calls = dict(calls or {})

    @classmethod
    def of(cls, hooks: Hooks | Mapping[str, Callable[[], None]] | None) -> Hooks:
        return hooks if isinstance(hooks, Hooks) else cls(hooks)

    def __call__(self, step: str) -> None:
        call = self._calls.get(step)
        if call is not None:
            call()


@dataclass(frozen=True)
class WeightsFile:
    """One weights file of the version: where it comes from, where it goes, what it hashes to."""

    source: Path                  # the real file given (symlinks refused)
    dest: Path                    # models/NAME/versions/X.Y.Z/FILE
    hashes: FileHashes            # of ``source``, read once; DVC's md5 must agree
    scan: ScanRecord | None
    copy: bool                    # False: the weights were given at their destination

    @property
    def pointer(self) -> Path:
        return self.dest.with_name(self.dest.name + ".dvc")


@dataclass(frozen=True)
class RegisterPlan:
    """Everything ``register`` will write, decided before the first write."""

    name: str
    version: str
    branch: str | None            # None: commit on the current branch (--no-branch)
    weights: tuple[WeightsFile, ...]
    version_file: Path
    record_text: str
    artifacts: tuple[dict, ...]   # the record's artifacts, as written in record_text
    model_text: str | None        # model.yaml of a new model; None for an existing one
    card_text: str | None         # None: the card is up to date already
    codeowners_text: str | None   # None: .github/CODEOWNERS does not change
    commit_message: str
    new_model: bool
    starter: bool
    warnings: tuple[str, ...]
    refuse_findings: bool = False
    engine: str = "auto"
    dataset_entries: tuple[str, ...] = ()
    dvc_yaml_text: str | None = None   # None: dvc.yaml declares this version already

    @property
    def version_dir(self) -> Path:
        return self.version_file.with_suffix("")

    @property
    def model_dir(self) -> Path:
        return self.version_file.parent.parent


def _weights(registry: Registry, req: RegisterRequest, vdir: Path) -> list[tuple[Path, Path]]:
    """(source, destination) of each weights file, after every refusal rule."""
    pairs = []
    names = set()
    root_real = os.path.realpath(registry.root)
    inside: list[str] = []
    for w in req.weights:
        refuse_control_characters("--weights", str(w))
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
        pairs.append((Path(real), vdir / src.name))
    tracked = registry.git.tracked(inside)
    if tracked:
        first = sorted(tracked)[0]
        raise RefusedError(
            f"weights file {first} is tracked by git, not DVC",
            hint=f"weights belong in DVC: `git rm --cached {first}`, commit, then register")
    return pairs


def _refuse_stale_pointer(registry: Registry, weights: WeightsFile) -> None:
    """A pre-existing ``.dvc`` beside the destination must describe the same bytes."""
    pointer = weights.pointer
    if not pointer.exists():
        return
    rel = registry.rel(pointer)
    recorded = {p.md5 for p in read_pointer(pointer, display=rel)}
    md5 = weights.hashes.md5
    if md5 not in recorded:
        raise RefusedError(
            f"{rel} records md5 {', '.join(sorted(recorded))} but the weights hash to {md5}",
            file=rel, hint="the pointer is stale: delete it, or restore the matching weights")


def _metrics(req: RegisterRequest, model: dict) -> tuple[list[dict], list[str | None]]:
    """The metric rows for the record, and for each the artifact the metrics file says it
    was computed on (``artifact:`` on the row or at the top of the file: a file name or
    path, or a sha256), bound to the artifact's hash once the weights are hashed."""
    if not req.metrics:
        return [], []
    doc = load(req.metrics)
    _refuse_non_finite(doc)
    rows = doc.data.get("metrics") if isinstance(doc.data, dict) else doc.data
    if not isinstance(rows, list):
        raise InputError("expected a list of metrics or {\"metrics\": [...]}", file=req.metrics)
    top = doc.data.get("artifact") if isinstance(doc.data, dict) else None
    thresholds = _thresholds(model)
    out, named = [], []
    for row in rows:
        if not isinstance(row, dict):
            raise InputError("each metric must be a mapping", file=req.metrics)
        row = dict(row)
        which = row.pop("artifact", top)
        named.append(str(which) if which is not None else None)
        row.setdefault("slice", "overall")
        if "threshold" not in row:
            best = _threshold_for(row, thresholds)
            if best:
                row["threshold"] = best["threshold"]
                row["direction"] = best["direction"]
        out.append(row)
    return out, named


def _bind_metrics(req: RegisterRequest, metrics: list[dict], named: list[str | None],
                  artifacts: tuple[dict[str, Any], ...], warnings: list[str]) -> None:
    """Record on each metric row the sha256 of the artifact it was computed on (EVAL-03):
    the one the metrics file names, else the version's only artifact. A name that is none
    of the version's artifacts is refused; rows left unbound with several artifacts are
    warned about (EVAL-03 denies them from staging on)."""
    unbound = 0
    for row, which in zip(metrics, named):
        given = row.get("artifact_sha256") or which
        if given is None:
            if len(artifacts) == 1:
                row["artifact_sha256"] = artifacts[0]["sha256"]
            else:
                unbound += 1
            continue
        match = [a for a in artifacts if given in (a["sha256"], a["path"])
                 or a["path"].rsplit("/", 1)[1] == str(given).rsplit("/", 1)[-1]]
        if len(match) != 1:
            raise InputError(
                f"metric {row.get('name')} names artifact {given!r}, which is not one of "
                f"this version's weights ({', '.join(a['path'].rsplit('/', 1)[1] for a in artifacts) or 'none'})",
                file=req.metrics, hint="name the weights file the metric was computed on "
                "(artifact: FILE) or its sha256")
        row["artifact_sha256"] = match[0]["sha256"]
    if unbound and artifacts:
        warnings.append(f"{unbound} metric row(s) do not say which of the {len(artifacts)} "
                        "artifacts they were computed on: add `artifact: FILE` to the metrics "
                        "file (EVAL-03 denies unbound metrics once the version is promoted)")


def _robustness(req: RegisterRequest) -> list[Any]:
    """The robustness and security tests of ``--robustness`` (a list, or
    ``{"robustness": [...]}``), as the record keeps them (EVAL-06); the record's schema
    judges each row with the rest of the record."""
    doc = load(str(req.robustness))
    _refuse_non_finite(doc)
    rows = doc.data.get("robustness") if isinstance(doc.data, dict) else doc.data
    if not isinstance(rows, list) or not rows:
        raise InputError("expected a list of tests or {\"robustness\": [...]}, each with "
                         "test, result and date", file=req.robustness)
    return rows


def _refuse_non_finite(doc: Document) -> None:
    """NaN and infinite values have no JSON form and are no measurement: refuse them, at
    their line (``check`` reports them as ID-08 in a record that holds one)."""
    found = numbers.find(doc.data)
    if not found:
        return
    path, value = found[0]
    if doc.path.endswith(".json"):
        lines = numbers.json_lines(doc.text)
        line = lines[0] if lines else None
    else:
        line = locate(doc, path)
    where = ".".join(str(p) for p in path) or "the value"
    more = f" (and {len(found) - 1} more)" if len(found) > 1 else ""
    raise InputError(f"{where} is {value}, not a finite number{more}", file=doc.path, line=line,
                     hint="record the metric's real value: a failed evaluation is not a metric")


def _thresholds(model: dict) -> list:
    evaluation = model.get("evaluation") if isinstance(model, dict) else None
    declared = evaluation.get("thresholds") if isinstance(evaluation, dict) else None
    return [t for t in declared or [] if isinstance(t, dict)]


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


def _datasets(registry: Registry, req: RegisterRequest, warnings: list[str],
              entries: list[str]) -> list[dict]:
    known = registry.config.datasets
    out = []
    for spec in req.datasets:
        entry = known.get(spec.id) or {}
        rev = (entry.get("revisions") or {}).get(spec.revision) or {}
        if spec.path:
            if not os.path.isfile(spec.path):
                raise UsageError(f"dataset file {spec.path} does not exist")
            digest = files.hash_file(spec.path).sha256
            if not rev:
                entries.append(dataset_entry(spec, digest, known=spec.id in known))
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


def dataset_entry(spec: DatasetSpec, sha256: str, *, known: bool) -> str:
    """The ``policies/data/datasets.yaml`` lines that register a dataset hashed from its file
    (DATA-01/02 deny a version naming an unregistered dataset or revision)."""
    revision = json.dumps(spec.revision)
    if known:
        return (f"  {spec.id}:\n    revisions:            # add to its revisions\n"
                f"      {revision}: {{sha256: {sha256}}}\n")
    return (f"  {spec.id}:\n"
            "    description: TODO what the data is, where it comes from, its rows\n"
            "    license: TODO\n"
            "    contains_personal_data: false    # TODO: true if it holds data about people\n"
            "    revisions:\n"
            f"      {revision}: {{sha256: {sha256}}}\n")


_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def refuse_control_characters(label: str, text: str) -> None:
    """File names and dataset references are recorded and shown in logs, annotations and
    pull requests: a control character (a newline, an escape sequence) in one could forge a
    line there. Refuse them."""
    m = _CONTROL.search(text)
    if m:
        raise UsageError(f"{label} {text!r} holds the control character "
                         f"U+{ord(m.group()):04X}",
                         hint="rename the file (or fix the reference) without control "
                              "characters or line breaks")


def _training(req: RegisterRequest, code_root: Path | None) -> dict:
    training: dict[str, Any] = {}
    params: dict[str, Any] = {}
    if req.config:
        doc = load(req.config)
        real = Path(req.config).resolve()
        shown = real.name
        if code_root and str(real).startswith(str(code_root) + os.sep):
            shown = os.path.relpath(real, code_root)
        training["config"] = {"path": shown, "sha256": files.hash_file(real).sha256}
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


def _code(req: RegisterRequest, registry: Registry) -> tuple[dict, Path | None]:
    if req.code_record is not None:
        code = {"dirty": False, **req.code_record}
        if req.entrypoint:
            code["entrypoint"] = req.entrypoint
        return code, None
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
    when = timefmt.rfc3339(seconds)
    return {"name": name.strip(), "email": email.strip()}, when


_FIELD_SOURCE = {"metrics": "--metrics", "datasets": "--dataset", "training": "--config/--param",
                 "parent": "--parent", "code": "--code", "message": "--message",
                 "robustness": "--robustness"}


def _blame(path: list, msg: str, req: RegisterRequest) -> str:
    """Say which input a problem in the assembled record came from."""
    top = path[0] if path else None
    if top == "metrics" and req.metrics:
        return f"{req.metrics}: {msg}"
    if top == "robustness" and req.robustness:
        return f"{req.robustness}: {msg}"
    if top == "datasets" and not req.datasets:
        return f"{msg} (give at least one --dataset ROLE:ID@REV)"
    return f"{msg} (from {_FIELD_SOURCE[top]})" if top in _FIELD_SOURCE else msg


def _scan_weights(pairs: list[tuple[Path, Path]]) -> dict[Path, ScanRecord | None]:
    """Scan every weights file before anything is written; a dangerous global refuses
    the registration, naming it (modelreg/store/scanning.py)."""
    scans = {}
    for src, dest in pairs:
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
    for label, path in (("--metrics", req.metrics), ("--config", req.config),
                        ("--robustness", req.robustness), ("--from", req.model_file)):
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



def _previous_version(registry: Registry, name: str, version: str, allow_lower: bool
                      ) -> str | None:
    """The highest version below ``version``; refuses an existing version, and a version
    below the highest one unless ``allow_lower`` (a patch of an older line)."""
    # every registration tag's name is taken, whether it counts or not (store/trust.py):
    # reconcile could not make the tag of a version registered again under it
    tagged = {p.version for r in registry.refs(name)
              if (p := tagmod.parse(r.name)) and p.action is Action.REGISTER and p.version}
    existing = set(registry.version_names(name)) | set(registry.state(name).registered) | tagged
    if version in existing:
        raise RefusedError(f"{name} {version} is already registered",
                           hint="registered versions are immutable: choose a new version")
    higher = [v for v in existing if semver_key(v) > semver_key(version)]
    if higher and not allow_lower:
        top = max(higher, key=semver_key)
        raise RefusedError(f"{version} is lower than {name}'s highest version {top}",
                           hint="choose a version above it, or pass --allow-lower for a "
                                "patch of an older line")
    lower = [v for v in existing if semver_key(v) < semver_key(version)]
    return max(lower, key=semver_key) if lower else None


def _model(registry: Registry, req: RegisterRequest, name: str
           ) -> tuple[dict, str | None, bool]:
    """model.yaml's data, and for a new model the text to write and whether it is the
    starter record (no ``--from``)."""
    mdir = registry.model_dir(name)
    if (mdir / "model.yaml").exists():
        if req.model_file:
            raise RefusedError(f"model {name} exists already; --from only creates new models",
                               hint=f"edit models/{name}/model.yaml in a pull request instead")
        data = registry.model(name).data
        retired = data.get("retirement")
        if isinstance(retired, dict):
            raise RefusedError(
                f"model {name} is retired ({retired.get('date') or 'no date'}: "
                f"{retired.get('reason') or 'no reason'}); it takes no new versions",
                file=f"models/{name}/model.yaml",
                hint="register under a new model name, or remove `retirement` from "
                     "model.yaml in a reviewed pull request first")
        return data, None, False
    if not req.model_file:
        return {}, STARTER.format(name=name), True
    mdoc = load(req.model_file)
    model_data = mdoc.data if isinstance(mdoc.data, dict) else None
    if model_data is None:
        raise InputError("expected a mapping", file=req.model_file)
    if model_data.get("name", name) != name:
        raise InputError(f"name {model_data.get('name')!r} is not {name!r}",
                         file=req.model_file, hint="make them agree")
    errors = Schemas(registry.root).errors("model", {**model_data, "name": name})
    if errors:
        path, msg = errors[0]
        raise InputError(f"not a valid model record: {msg}"
                         + (f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""),
                         file=req.model_file, line=locate(mdoc, path),
                         hint="`modelreg validate FILE` lists every problem")
    text = mdoc.text if "name" in model_data else f"name: {name}\n{mdoc.text}"
    return model_data, text, False


def _parent(registry: Registry, req: RegisterRequest, name: str) -> dict | None:
    if not req.parent:
        return None
    pname, at, pver = req.parent.partition("@")
    if not at:
        pname, pver = name, req.parent
    pver = check_version(pver)
    if not (registry.model_dir(pname) / "versions" / f"{pver}.yaml").exists():
        raise UsageError(f"parent {pname}@{pver} is not registered",
                         hint="`modelreg show NAME` lists the versions")
    return {"model": pname, "version": pver}


def _default_remote(registry: Registry) -> str:
    dvc = Dvc(registry.root)
    try:
        return dvc.default_remote()
    finally:
        dvc.close()


def _check_record(registry: Registry, req: RegisterRequest, record: dict,
                  sources: list[tuple[Path, Path]]) -> None:
    """Validate the record before the weights are hashed (which can take a while): the
    artifacts get placeholder hashes."""
    probe = dict(record)
    probe["artifacts"] = [{"path": registry.rel(d), "format": "other", "size": 0,
                           "md5": "0" * 32, "sha256": "0" * 64,
                           "dvc_file": registry.rel(d) + ".dvc"} for _, d in sources]
    errors = Schemas(registry.root).errors("version", probe)
    if errors:
        raise InputError("the version record would be invalid:\n  " + "\n  ".join(
            _blame(path, msg, req) for path, msg in errors[:8]),
            hint="fix the inputs named above; field meanings are in schemas/version.schema.json")


def _artifact(registry: Registry, weights: WeightsFile, remote: str) -> dict[str, Any]:
    dest = weights.dest
    row: dict[str, Any] = {"path": registry.rel(dest),
                           "format": FORMATS.get(dest.suffix.lower(), "other"),
                           "size": weights.hashes.size, "md5": weights.hashes.md5,
                           "sha256": weights.hashes.sha256,
                           "dvc_file": registry.rel(weights.pointer), "remote": remote}
    if weights.scan is not None:
        row["scan"] = weights.scan.to_json()
    return row


def _card_text(registry: Registry, name: str, model_data: dict, version: str,
               record_text: str) -> str | None:
    """The card as it will be once the version is recorded; None when that is the card on
    disk already. The record is read back from its text, as ``card`` will read the file."""
    rel = cards.card_path(name)
    vrel = f"models/{name}/versions/{version}.yaml"
    versions = {v: registry.version(name, v).data for v in registry.version_names(name)}
    new = parse_yaml(record_text, vrel)
    versions[version] = new if isinstance(new, dict) else {}
    path = registry.root / rel
    current = read_text(path, display=rel) if path.is_file() else None
    text, _ = cards.render_text(registry.root, name, model_data, versions, current, display=rel)
    return None if text == current else text


def _dvc_yaml_text(registry: Registry, name: str, model_data: dict, version: str,
                   record_text: str) -> str | None:
    """``dvc.yaml`` declaring this version's weights as ``name``'s DVC artifact (so that at
    the registration commit, where the tags point, ``dvc artifacts get`` finds them); None
    when it says so already."""
    path = registry.root / dvcyaml.PATH
    current = read_text(path, display=dvcyaml.PATH, max_bytes=dvcyaml.MAX_BYTES) \
        if path.is_file() else None
    record = parse_yaml(record_text, f"models/{name}/versions/{version}.yaml")
    entry = dvcyaml.declaration(name, model_data, version, record if isinstance(record, dict)
                                else {})
    text = dvcyaml.render(current, {name: entry})
    return None if text == current else text


def _codeowners_text(registry: Registry, name: str, model_data: dict) -> str | None:
    """CODEOWNERS with the new model's owners (for its next changes), when it changes."""
    path = registry.root / CODEOWNERS
    text = codeowners.generate(registry, adding={name: model_data}).text
    return None if path.exists() and path.read_text(encoding="utf-8") == text else text


def plan(registry: Registry, request: RegisterRequest,
         hooks: Hooks | Mapping[str, Callable[[], None]] | None = None) -> RegisterPlan:
    """Decide everything ``register`` will do, writing nothing: raises the refusal, or
    returns the plan :func:`apply` carries out. Each weights file is hashed once, here."""
    hooks = Hooks.of(hooks)
    req = request
    name = check_name(req.name)
    version = check_version(req.version, new=True)
    if not req.weights:
        raise UsageError("no weights given", hint="pass --weights PATH (repeatable)")
    for label, value in (("--metrics", req.metrics), ("--config", req.config),
                         ("--robustness", req.robustness), ("--code", req.code),
                         ("--entrypoint", req.entrypoint), ("--from", req.model_file)):
        if value:
            refuse_control_characters(label, str(value))
    mdir = registry.model_dir(name)
    vfile = mdir / "versions" / f"{version}.yaml"
    vdir = mdir / "versions" / version
    git = registry.git

    previous = _previous_version(registry, name, version, req.allow_lower)
    model_data, model_text, starter = _model(registry, req, name)
    new_model = model_text is not None
    parent = _parent(registry, req, name)
    sources = _weights(registry, req, vdir)
    hooks("scan")
    scans = _scan_weights(sources)
    branch = f"register/{name}-{version}" if req.branch else None
    if branch and git.branch_exists(branch):
        raise RefusedError(f"branch {branch} exists already",
                           hint=f"delete it (`git branch -D {branch}`) or finish its pull request")
    warnings: list[str] = []
    entries: list[str] = []
    metrics, named = _metrics(req, model_data)
    datasets = _datasets(registry, req, warnings, entries)
    code, code_root = _code(req, registry)
    training = _training(req, code_root)
    who, when = _identity(git)
    remote = _default_remote(registry)

    record: dict[str, Any] = {"model": name, "version": version, "created_at": when,
                              "registered_by": who}
    if req.message:
        record["message"] = req.message
    if previous:
        record["previous_version"] = previous
    if parent:
        record["parent"] = parent
    record["code"] = code
    if training:
        record["training"] = training
    record["artifacts"] = []      # after the checks below: hashing is the slow part
    record["datasets"] = datasets
    record["metrics"] = metrics
    if req.robustness:
        record["robustness"] = _robustness(req)
    _refuse_secrets(req, record)
    _check_record(registry, req, record, sources)

    weights = tuple(WeightsFile(src, dest, files.hash_file(src), scans.get(dest),
                                copy=src != Path(os.path.realpath(dest)))
                    for src, dest in sources)
    for w in weights:
        _refuse_stale_pointer(registry, w)
    _no_metrics(req, name, model_data, metrics, starter, warnings)   # after what the files are
    artifacts = tuple(_artifact(registry, w, remote) for w in weights)
    record["artifacts"] = list(artifacts)
    _bind_metrics(req, metrics, named, artifacts, warnings)
    record_text = dump_yaml(record)

    if new_model:
        parsed = parse_yaml(model_text or "", registry.rel(mdir / "model.yaml"))
        model_data = parsed if isinstance(parsed, dict) else {}
    card_text = _card_text(registry, name, model_data, version, record_text)
    dvc_yaml_text = _dvc_yaml_text(registry, name, model_data, version, record_text)
    codeowners_text = None
    if new_model and not starter and (registry.root / CODEOWNERS).exists():
        codeowners_text = _codeowners_text(registry, name, model_data)
    title = f"Register {name} {version}"
    return RegisterPlan(
        name=name, version=version, branch=branch, weights=weights, version_file=vfile,
        record_text=record_text, artifacts=artifacts, model_text=model_text,
        card_text=card_text, codeowners_text=codeowners_text,
        commit_message=title + (f"\n\n{req.message}" if req.message else ""),
        new_model=new_model, starter=starter, warnings=tuple(warnings),
        refuse_findings=req.refuse_findings, engine=req.engine, dataset_entries=tuple(entries),
        dvc_yaml_text=dvc_yaml_text)


def _no_metrics(req: RegisterRequest, name: str, model: dict, metrics: list[dict],
                starter: bool, warnings: list[str]) -> None:
    """A model that declares thresholds needs a result for each (EVAL-01): refuse a version
    without metrics, early and by name, rather than as one finding per threshold."""
    if metrics or starter:
        return
    declared = sorted({str(t.get("metric")) for t in _thresholds(model)})
    if not declared:
        return
    text = (f"no metrics given, but models/{name}/model.yaml declares thresholds for "
            f"{', '.join(declared)}")
    if req.refuse_findings:
        raise RefusedError(text + "; nothing was changed",
                           hint="pass --metrics FILE with a result for each (EVAL-01 denies a "
                                "version without them), or --allow-findings to register anyway")
    warnings.append(text + " (EVAL-01 will deny the version)")


def _check_pointer(registry: Registry, weights: WeightsFile) -> None:
    """DVC hashed the copy itself: its md5 must be the one we recorded (else the file
    changed between the plan and the copy)."""
    pointer = weights.pointer
    md5 = read_pointer(pointer, display=registry.rel(pointer))[0].md5
    if md5 != weights.hashes.md5:
        raise CannotRunError(f"DVC recorded md5 {md5} for {registry.rel(weights.dest)} but the "
                             f"file hashes to {weights.hashes.md5}",
                             hint="the file changed while registering; try again")


def apply(registry: Registry, plan: RegisterPlan,
          hooks: Hooks | Mapping[str, Callable[[], None]] | None = None) -> RegisterResult:
    """Carry out ``plan`` under an undo log: on any failure the work tree, the index and the
    branch are put back byte for byte and the error says ``nothing was changed``.

    Before the weights are pushed, the registered-stage policies judge the new version as
    ``check`` will; with ``plan.refuse_findings`` an error among the findings refuses it.
    A journal in ``.git/modelreg/`` says what was under way, for a run that is killed
    (:func:`refuse_interrupted` reads it). Call it through :func:`register`, which holds the
    clone's lock.
    """
    hooks = Hooks.of(hooks)
    root, git = registry.root, registry.git
    model_file = plan.model_dir / "model.yaml"
    card_file = root / cards.card_path(plan.name)
    dvc_yaml = root / dvcyaml.PATH
    ignores = (plan.version_dir / ".gitignore", root / ".gitignore")   # dvc add edits them
    dvc: Dvc | None = None
    undo = Undo(registry)
    journal = Journal(registry)
    journal.start(plan, undo, [model_file] if plan.model_text is not None else [],
                  [card_file, *ignores] + ([root / CODEOWNERS] if plan.codeowners_text else [])
                  + ([dvc_yaml] if plan.dvc_yaml_text is not None else []))
    try:
        with undo.guard("register"):
            if plan.branch:
                hooks("branch")
                undo.branch_off(plan.branch)
            hooks("write")
            undo.create_dir(plan.version_dir)
            if plan.model_text is not None:
                undo.write(model_file, plan.model_text)
            if plan.codeowners_text is not None:
                undo.write(root / CODEOWNERS, plan.codeowners_text)
            for w in plan.weights:
                if w.copy:
                    undo.copy(w.source, w.dest)
                undo.remember(w.pointer)
            for path in ignores:
                undo.remember(path)
            cache = dvc_storage(root).cache          # what `dvc add` puts in the cache
            for w in plan.weights:
                undo.may_create(object_path(cache, w.hashes.md5))
            hooks("dvc_add")
            dvc = Dvc(root)
            dvc.add([w.dest for w in plan.weights])
            for w in plan.weights:
                _check_pointer(registry, w)
            undo.write(plan.version_file, plan.record_text)
            hooks("card")
            if plan.card_text is not None:
                undo.write(card_file, plan.card_text)
            if plan.dvc_yaml_text is not None:
                undo.write(dvc_yaml, plan.dvc_yaml_text)
            paths = [registry.rel(p) for p in (
                ([model_file] if plan.model_text is not None else []) + [plan.version_file]
                + [w.pointer for w in plan.weights] + [card_file]
                + [p for p in ignores if undo.changed(p)]
                + ([root / CODEOWNERS] if plan.codeowners_text is not None else [])
                + ([dvc_yaml] if plan.dvc_yaml_text is not None else []))]
            hooks("policies")
            findings = judge(registry, plan, paths)
            journal.step("pushing")
            hooks("dvc_push")
            pushed = dvc.push([w.pointer for w in plan.weights])
            journal.step("pushed")
            hooks("git_add")
            git.run("add", "--", *paths)
            hooks("git_commit")
            git.run("commit", "-q", "--no-verify", "-m", plan.commit_message, "--", *paths)
            commit = git.head() or ""
    finally:
        journal.end()
        if dvc is not None:
            dvc.close()
    return RegisterResult(plan.name, plan.version, plan.branch, commit, tuple(paths),
                          plan.artifacts, plan.new_model, plan.starter, pushed, plan.warnings,
                          tuple(findings), plan.dataset_entries)


def judge(registry: Registry, plan: RegisterPlan, paths: list[str]) -> list[Finding]:
    """The findings ``check`` will report for the new version, judged from the files as
    written (before the commit): the registered-stage policies, schemas, secrets and the
    card's freshness. With ``plan.refuse_findings``, raises :class:`PolicyRefusal` on an
    error, except in what the registration leaves for people to write: the card's prose and
    a starter model.yaml (``modelreg card`` and ``validate`` say what is missing there)."""
    view = Registry(registry.root, git=registry.git)      # nothing cached from before
    result = evaluate(view, [plan.name], versions={plan.name: [plan.version]},
                      stage=REGISTERED, change={"base": None, "files": sorted(paths)},
                      engine=plan.engine, freshness=partial(cards.stale_findings, registry.root))
    findings = sorted(result.findings, key=Finding.sort_key)
    to_write = {cards.card_path(plan.name)}
    if plan.starter:
        to_write.add(registry.rel(plan.model_dir / "model.yaml"))
    errors = [f for f in findings if f.severity == "error" and f.file not in to_write]
    if plan.refuse_findings and errors:
        hint = ("fix what they name and register again; or pass --allow-findings to register "
                "anyway (the pull request's check fails until they are fixed)")
        if plan.dataset_entries:
            hint += ("\nadd to policies/data/datasets.yaml, under `datasets:` (in a reviewed "
                     "pull request):\n" + "".join(plan.dataset_entries).rstrip("\n"))
        raise PolicyRefusal(f"check would report {len(errors)} error(s) for {plan.name} "
                            f"{plan.version} at stage {REGISTERED}", errors, hint=hint)
    return findings


class Journal:
    """``.git/modelreg/register.json`` while :func:`apply` runs: which version, which branch
    it left, which files it creates or edits, how far it got. Removed when ``apply`` ends,
    however it ends, except when the process is killed: then the next ``register`` finds it
    and says how to finish or undo (:func:`refuse_interrupted`)."""

    def __init__(self, registry: Registry) -> None:
        self.registry = registry
        self.path = lock.state_dir(registry.git) / "register.json"
        self.data: dict[str, Any] = {}

    def start(self, plan: RegisterPlan, undo: Undo, new: list[Path], edited: list[Path]
              ) -> None:
        rel = self.registry.rel
        created = [plan.version_file, *(w.pointer for w in plan.weights),
                   *(w.dest for w in plan.weights if w.copy), *new,
                   *(p for p in edited if not p.exists())]
        self.data = {
            "name": plan.name, "version": plan.version, "branch": plan.branch,
            "from_branch": undo.branch, "head": undo.head, "pid": os.getpid(),
            "started": timefmt.rfc3339(), "step": "writing",
            "created": [rel(p) for p in created if not p.exists()],
            "edited": [rel(p) for p in edited if p.exists()],
            "pointers": [rel(w.pointer) for w in plan.weights],
            "commit": [rel(p) for p in [*new, plan.version_file,
                                        *(w.pointer for w in plan.weights), *edited]],
            "message": plan.commit_message,
        }
        self._save()

    def step(self, name: str) -> None:
        self.data["step"] = name
        self._save()

    def _save(self) -> None:
        files.write_atomic(self.path, json.dumps(self.data, indent=1))

    def end(self) -> None:
        self.path.unlink(missing_ok=True)


def refuse_interrupted(registry: Registry, name: str, version: str) -> None:
    """A ``register`` killed before its commit leaves its branch checked out and its files
    written: say what happened and how to finish or undo, instead of going on from there
    (a new version would branch off the leftover branch) or calling it "already registered"."""
    path = lock.state_dir(registry.git) / "register.json"
    git = registry.git
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        data = None
    except (OSError, ValueError):
        path.unlink(missing_ok=True)          # unreadable: nothing to go on
        data = None
    if data is None:
        vrel = f"models/{name}/versions/{version}.yaml"
        if (registry.root / vrel).is_file() and not git.tracked([vrel]) \
                and version not in registry.state(name).registered:
            raise RefusedError(
                f"{vrel} exists but is not committed: an earlier register of {name} {version} "
                "stopped before its commit",
                file=vrel, hint=f"look at `git status`; to finish, `dvc push` the pointers under "
                                f"models/{name}/versions/{version}/, then `git add` and "
                                f"`git commit` models/{name}; to undo, remove the new files "
                                "there and `git checkout` the edited ones")
        return
    leftover = _leftover(registry, data)
    if not leftover:
        path.unlink(missing_ok=True)         # finished or undone by hand since
        return
    pushed = {"pushed": "after its weights were pushed",
              "pushing": "while its weights were being pushed"}.get(
        str(data.get("step")), "before its weights were pushed")
    who = f"{data.get('name')} {data.get('version')}"
    created = [p for p in data.get("created") or [] if (registry.root / p).exists()]
    edited = [p for p in data.get("edited") or []
              if git.run("status", "--porcelain", "--", p).strip()]
    finish = [f"git checkout {data['branch']}"] if data.get("branch") and \
        git.branch() != data["branch"] else []
    finish += ["dvc push " + " ".join(data.get("pointers") or []),
               "git add -- " + " ".join(p for p in data.get("commit") or []
                                        if (registry.root / p).exists()),
               f"git commit -m {json.dumps((data.get('message') or '').splitlines()[0])}"]
    undo = []
    if edited:
        undo.append("git checkout HEAD -- " + " ".join(edited))
    if created:
        undo.append("rm -f -- " + " ".join(created))
    if data.get("branch") and git.branch_exists(data["branch"]):
        back = data.get("from_branch") or data.get("head") or "main"
        undo += [f"git checkout {back}", f"git branch -d {data['branch']}"]
    raise RefusedError(
        f"a register of {who} (pid {data.get('pid')}, started {data.get('started')}) was "
        f"interrupted {pushed} and before its commit: " + "; ".join(leftover)
        + "; nothing was changed now",
        hint="to finish it:  " + "  &&  ".join(finish)
             + "\n      to undo it:    " + ("  &&  ".join(undo) or "nothing is left to undo")
             + "\n      then run register again")


def _leftover(registry: Registry, data: dict[str, Any]) -> list[str]:
    """What an interrupted run left behind (empty: nothing, it was finished or undone)."""
    git = registry.git
    out = []
    branch = data.get("branch")
    if branch and git.branch_exists(branch):
        tip = git.run("rev-parse", "-q", "--verify", f"refs/heads/{branch}", check=False).strip()
        if tip == data.get("head"):
            out.append(f"branch {branch} exists without its commit")
    created = set(data.get("created") or [])
    written = [p for p in data.get("commit") or [] if p in created
               and (registry.root / p).exists() and not git.tracked([p])]
    if written:
        out.append("files written but not committed: " + ", ".join(written))
    return out

