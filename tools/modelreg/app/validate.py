"""``modelreg validate``: JSON-Schema validation of every registry record, plus the checks
that tie files together (names match folders, versions match file names, pointers match
the recorded hashes). Problems come back as findings, never as exceptions.
"""
from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from modelreg.core import tags as tagmod
from modelreg.core.errors import ModelregError, UsageError
from modelreg.core.records import Finding, Report
from modelreg.core.yamlio import Document, locate
from modelreg.store.config import DATA_DIR, ConfigError
from modelreg.store.dvc import read_pointer
from modelreg.store.registry import MODELS_DIR, Registry
from modelreg.store.schemas import Schemas, json_path, kind_of

# Rule ids for what validate finds (the policy catalogue's identity and artifact families).
UNREADABLE = "ID-00"     # the file cannot be read or parsed
SCHEMA = "ID-01"         # JSON-Schema violation
NAMING = "ID-02"         # name does not match its folder
VERSIONING = "ID-03"     # version does not match its file name / stages name an unknown version
POINTER = "ART-01"       # .dvc pointer missing or disagreeing with the record


def _model_and_version(rel: str) -> tuple[str | None, str | None]:
    parts = rel.split("/")
    model = parts[1] if len(parts) > 2 else None
    version = parts[3][:-5] if len(parts) == 4 and parts[2] == "versions" else None
    return model, version


def collect(registry: Registry, paths: Iterable[str] | None = None) -> tuple[list[str], list[Finding]]:
    """The registry records to validate (root-relative), and findings about what was skipped."""
    root = registry.root
    real_root = os.path.realpath(root)
    findings: list[Finding] = []
    targets: list[Path] = []
    if paths:
        for p in paths:
            full = (Path.cwd() / p).resolve() if not os.path.isabs(p) else Path(p)
            if not full.exists():
                raise UsageError(f"{p} does not exist")
            targets.append(full)
    else:
        targets.append(root / MODELS_DIR)
    files: list[str] = []
    for target in targets:
        if target.is_file():
            rel = registry.rel(target)
            if rel.startswith(".."):
                raise UsageError(f"{target} is outside the registry")
            files.append(rel)
            continue
        _walk(registry, str(target), real_root, files, findings)
    return sorted(set(files)), findings


PARALLEL_FROM = 2000        # files; below this a process pool costs more than it saves


def _walk(registry: Registry, folder: str, real_root: str, files: list[str],
          findings: list[Finding]) -> None:
    """Registry records under ``folder``; symlinks leaving the repository become findings
    and are never followed (scandir's cached entry types: one system call per folder)."""
    base = os.path.relpath(folder, registry.root).replace(os.sep, "/")
    with os.scandir(folder) as it:
        entries = sorted(it, key=lambda e: e.name)
    for entry in entries:
        rel = f"{base}/{entry.name}" if base != "." else entry.name
        if entry.is_symlink():
            real = os.path.realpath(entry.path)
            if os.path.commonpath([real, real_root]) != real_root:
                model, version = _model_and_version(rel)
                findings.append(Finding(
                    rel, UNREADABLE, "symlink points outside the repository "
                    f"({real}); registry files must live in the repository",
                    model=model, version=version))
                continue
        if entry.is_dir(follow_symlinks=False):
            _walk(registry, entry.path, real_root, files, findings)
        elif kind_of(rel):
            files.append(rel)


def validate(registry: Registry, paths: Iterable[str] | None = None) -> Report:
    """Validate registry records (all of ``models/`` when ``paths`` is empty) and, unless
    ``paths`` names only records, the registry's configuration."""
    paths = list(paths or [])
    files, findings = collect(registry, paths)
    if not paths or any(_in_config(registry, p) for p in paths):
        try:
            _ = registry.config          # loading it checks it
        except ConfigError as exc:
            findings.extend(exc.findings)
    workers = min(os.cpu_count() or 1, 8)
    if len(files) >= PARALLEL_FROM and workers > 1:
        # parsing YAML is CPU-bound Python: one process per core for big registries
        from concurrent.futures import ProcessPoolExecutor

        chunks = [files[i::workers] for i in range(workers)]
        with ProcessPoolExecutor(workers) as pool:
            for part in pool.map(_validate_chunk, [str(registry.root)] * workers, chunks):
                findings.extend(part)
    else:
        findings.extend(_validate_chunk(str(registry.root), files, registry))
    return Report("validate", len(files), tuple(sorted(findings, key=Finding.sort_key)))


def _in_config(registry: Registry, path: str) -> bool:
    full = (Path.cwd() / path).resolve() if not os.path.isabs(path) else Path(path)
    rel = registry.rel(full)
    return rel == DATA_DIR or rel.startswith(f"{DATA_DIR}/") or DATA_DIR.startswith(f"{rel}/")


def _validate_chunk(root: str, files: list[str], registry: Registry | None = None
                    ) -> list[Finding]:
    registry = registry or Registry(Path(root))
    schemas = Schemas(registry.root)
    out: list[Finding] = []
    for rel in files:
        out.extend(validate_file(registry, schemas, rel))
    return out


def validate_file(registry: Registry, schemas: Schemas, rel: str, *,
                  loaded: dict[str, Document] | None = None) -> list[Finding]:
    """Findings for one record. With ``loaded``, the parsed document is also stored there
    under ``rel`` (when it parses), so a caller such as ``check`` does not parse it again."""
    kind = kind_of(rel)
    model, version = _model_and_version(rel)
    if kind is None:
        return []
    try:
        doc = registry.load(rel)
    except ModelregError as exc:
        return [Finding(rel, UNREADABLE, f"{exc.message}" + (f" ({exc.hint})" if exc.hint else ""),
                        line=exc.line, model=model, version=version)]
    if loaded is not None:
        loaded[rel] = doc
    out: list[Finding] = []

    def add(rule: str, parts: list, message: str) -> None:
        out.append(Finding(rel, rule, message, line=locate(doc, parts), model=model,
                           version=version, path=json_path(parts)))

    for parts, message in schemas.errors(kind, doc.data):
        add(SCHEMA, parts, message)
    data = doc.data if isinstance(doc.data, dict) else {}
    if kind == "model" and "name" in data and data["name"] != model:
        add(NAMING, ["name"], f"name {data['name']!r} does not match the folder {model!r}; "
                              "rename one of them")
    elif kind == "version":
        if not tagmod.SEMVER_RE.match(version or ""):
            add(VERSIONING, [], f"file name {version!r} is not a SemVer version")
        if "version" in data and str(data["version"]) != version:
            add(VERSIONING, ["version"],
                f"version {data['version']!r} does not match the file name {version!r}")
        if "model" in data and data["model"] != model:
            add(NAMING, ["model"], f"model {data['model']!r} does not match the folder {model!r}")
        out.extend(_check_pointers(registry, doc, data, model, version))
    elif kind == "stages":
        stages = data.get("stages") if isinstance(data.get("stages"), dict) else {}
        known = set(registry.version_names(model)) if model else set()
        for stage, value in stages.items():
            wanted = value.get("version") if isinstance(value, dict) else value
            if isinstance(wanted, str) and wanted not in known:
                add(VERSIONING, ["stages", stage],
                    f"stage {stage!r} asks for version {wanted}, which is not registered "
                    f"(no models/{model}/versions/{wanted}.yaml)")
    return out


def _check_pointers(registry: Registry, doc: Document, data: dict, model: str | None,
                    version: str | None) -> list[Finding]:
    out = []
    artifacts = data.get("artifacts")
    if not isinstance(artifacts, list):
        return out
    for i, art in enumerate(artifacts):
        if not isinstance(art, dict) or not isinstance(art.get("dvc_file"), str):
            continue
        dvc_rel = art["dvc_file"]
        parts = ["artifacts", i, "dvc_file"]
        expected_dir = f"{MODELS_DIR}/{model}/versions/{version}/"
        if not dvc_rel.startswith(expected_dir) or ".." in dvc_rel.split("/"):
            out.append(Finding(doc.path, POINTER, f"DVC pointer {dvc_rel!r} is not inside "
                               f"{expected_dir}", line=locate(doc, parts), model=model, version=version,
                               path=json_path(parts)))
            continue
        full = registry.root / dvc_rel
        if not full.is_file():
            out.append(Finding(doc.path, POINTER, f"DVC pointer {dvc_rel} is missing; "
                               "restore it from git history", line=locate(doc, parts), model=model,
                               version=version, path=json_path(parts)))
            continue
        try:
            pointers = read_pointer(full, display=dvc_rel)
        except ModelregError as exc:
            out.append(Finding(dvc_rel, UNREADABLE, exc.message, line=exc.line, model=model,
                               version=version))
            continue
        if art.get("md5") not in {p.md5 for p in pointers}:
            out.append(Finding(doc.path, POINTER,
                               f"artifact md5 {art.get('md5')} does not match {dvc_rel} "
                               f"({', '.join(p.md5 for p in pointers)}); the weights changed "
                               "after registration — register a new version instead",
                               line=locate(doc, ["artifacts", i, "md5"]), model=model,
                               version=version, path=json_path(["artifacts", i, "md5"])))
    return out
