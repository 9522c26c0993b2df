"""``modelreg validate``: JSON-Schema validation of every registry record, plus the checks
that tie files together (names match folders, versions match file names, pointers match
the recorded hashes). Problems come back as findings, never as exceptions.
"""
from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from modelreg.core.errors import UsageError
from modelreg.core.records import Finding, Report
from modelreg.policy.documents import UNREADABLE, RecordCache, model_and_version, validate_file
from modelreg.store.config import DATA_DIR, ConfigError
from modelreg.store.registry import MODELS_DIR, Registry
from modelreg.store.schemas import Schemas, kind_of


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
    elif (root / MODELS_DIR).is_dir():
        # a new registry's clone has no models/ folder (git keeps no empty folders)
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
                model, version = model_and_version(rel)
                findings.append(Finding(
                    rel, UNREADABLE, "symlink points outside the repository "
                    f"({real}); registry files must live in the repository",
                    model=model, version=version))
                continue
        if entry.is_dir(follow_symlinks=False) and not kind_of(rel):
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
        from concurrent.futures import ProcessPoolExecutor  # noqa: PLC0415 - process pools only for big registries

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
    schemas = Schemas(registry)
    cache = RecordCache(registry)
    out: list[Finding] = []
    for rel in files:
        out.extend(validate_file(registry, schemas, rel, cache=cache))
    cache.save()
    return out
