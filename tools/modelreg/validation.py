"""``modelreg validate``: JSON-Schema validation of every registry record, plus the checks
that tie files together (names match folders, versions match file names, pointers match
the recorded hashes). Problems come back as findings, never as exceptions.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Iterable

from . import tags as tagmod
from .dvc import read_pointer
from .errors import ModelregError, UsageError
from .records import Finding, Report
from .registry import MODELS_DIR, Registry
from .schemas import Schemas, json_path, kind_of
from .yamlio import Document, load, locate

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
        for dirpath, dirnames, filenames in os.walk(target):
            for name in list(dirnames) + filenames:
                full = os.path.join(dirpath, name)
                if os.path.islink(full):
                    real = os.path.realpath(full)
                    if os.path.commonpath([real, real_root]) != real_root:
                        rel = registry.rel(full)
                        model, version = _model_and_version(rel)
                        findings.append(Finding(
                            rel, UNREADABLE, "symlink points outside the repository "
                            f"({real}); registry files must live in the repository",
                            model=model, version=version))
                        if name in dirnames:
                            dirnames.remove(name)
                        continue
            dirnames.sort()
            for name in sorted(filenames):
                full = os.path.join(dirpath, name)
                rel = registry.rel(full)
                if kind_of(rel) and not (os.path.islink(full) and any(
                        f.file == rel for f in findings)):
                    files.append(rel)
    return sorted(set(files)), findings


def validate(registry: Registry, paths: Iterable[str] | None = None) -> Report:
    """Validate registry records (all of ``models/`` when ``paths`` is empty)."""
    files, findings = collect(registry, paths)
    schemas = Schemas(registry.root)
    for rel in files:
        findings.extend(validate_file(registry, schemas, rel))
    return Report("validate", len(files), tuple(sorted(findings, key=Finding.sort_key)))


def validate_file(registry: Registry, schemas: Schemas, rel: str) -> list[Finding]:
    kind = kind_of(rel)
    model, version = _model_and_version(rel)
    if kind is None:
        return []
    try:
        doc = registry.load(rel)
    except ModelregError as exc:
        return [Finding(rel, UNREADABLE, f"{exc.message}" + (f" ({exc.hint})" if exc.hint else ""),
                        line=exc.line, model=model, version=version)]
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
        where = locate(doc, parts)
        expected_dir = f"{MODELS_DIR}/{model}/versions/{version}/"
        if not dvc_rel.startswith(expected_dir) or ".." in dvc_rel.split("/"):
            out.append(Finding(doc.path, POINTER, f"DVC pointer {dvc_rel!r} is not inside "
                               f"{expected_dir}", line=where, model=model, version=version,
                               path=json_path(parts)))
            continue
        full = registry.root / dvc_rel
        if not full.is_file():
            out.append(Finding(doc.path, POINTER, f"DVC pointer {dvc_rel} is missing; "
                               "restore it from git history", line=where, model=model,
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
