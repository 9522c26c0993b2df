"""The recorded scan is never taken on trust: the weights that are here are scanned again.

A version record says what the scanner found when the version was registered
(``artifacts[].scan``), but the record is a file in the pull request: anyone can write
``scan: {status: clean}`` by hand. ``check`` and ``verify`` therefore re-scan every weights
file of the versions they judge that is present in the work tree (the pull-request workflow
pulls the weights of the versions a pull request adds), and the gate re-scans the file it is
handed. ART-05 (docs/policies.md) is a finding when:

* the file here does not hash to the recorded sha256 (the scan would be of other bytes), or
* a re-scan gives ``findings`` or ``error`` and the record says anything else.

A weights file that is not here is not re-scanned; the policies judge its record (ART-02).
Re-scans are remembered in ``.git/modelreg/rescan.json``, keyed by the file's path, size,
modification time and inode and the scanner's allow-list digest: an unchanged file is not
read again.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from modelreg.core.errors import ModelregError
from modelreg.core.files import hash_file
from modelreg.core.records import Finding
from modelreg.core.yamlio import Document, locate
from modelreg.store import scanning
from modelreg.store.cache import ContentCache
from modelreg.store.registry import MODELS_DIR, Registry

RULE = "ART-05"
PASSING = ("clean", "not-applicable")


@dataclass(frozen=True)
class Rescan:
    """One file scanned again: its sha256 and what the scanner says of it now."""

    sha256: str
    status: str                       # clean | findings | error | not-applicable
    findings: tuple[str, ...] = ()

    @property
    def passes(self) -> bool:
        return self.status in PASSING

    def summary(self) -> str:
        said = "; ".join(self.findings)
        return f"{self.status}" + (f" ({said[:300]})" if said else "")


def rescan_file(path: str | os.PathLike, display: str | None = None, *,
                sha256: str | None = None) -> Rescan:
    """Scan one file again (no cache), and hash it unless its ``sha256`` is already known:
    what the gate does with the file it is handed."""
    digest = sha256 or hash_file(path).sha256
    record = scanning.scan(path, display=display)
    if record is None:
        return Rescan(digest, "not-applicable")
    return Rescan(digest, record.status, tuple(record.findings))


class _Cache:
    def __init__(self, root: Path) -> None:
        self.store = ContentCache(root, "rescan")
        self.tool = scanning.tool_version()

    def get(self, path: Path) -> Rescan:
        st = path.stat()
        key = ContentCache.key(
            f"{path}\0{st.st_size}\0{st.st_mtime_ns}\0{st.st_ino}\0{self.tool}".encode())
        hit = self.store.get(key)
        if isinstance(hit, list) and len(hit) == 3:
            return Rescan(str(hit[0]), str(hit[1]), tuple(str(x) for x in hit[2]))
        result = rescan_file(path, path.name)
        self.store.put(key, [result.sha256, result.status, list(result.findings)])
        return result

    def save(self) -> None:
        self.store.save()


def _recorded(art: dict[str, Any]) -> str:
    scan = art.get("scan")
    if isinstance(scan, dict) and isinstance(scan.get("status"), str):
        return scan["status"]
    return "none"


def _here(registry: Registry, name: str, version: str, art: dict[str, Any]) -> Path | None:
    """The work-tree copy of an artifact, when it is here (a regular file, inside the
    version's folder)."""
    rel = str(art.get("path", ""))
    prefix = f"{MODELS_DIR}/{name}/versions/{version}/"
    if not rel.startswith(prefix) or ".." in rel.split("/") or "\\" in rel:
        return None
    path = registry.root / rel
    if path.is_symlink() or not path.is_file():
        return None
    return path


def _holds_weights(folder: Path) -> bool:
    """Whether a version's folder holds anything beside its DVC pointers."""
    try:
        with os.scandir(folder) as entries:
            return any(not e.name.endswith(".dvc") for e in entries)
    except OSError:
        return False


def compare(rel: str, art: dict[str, Any], now: Rescan, *, name: str, version: str,
            line: int | None = None) -> list[Finding]:
    """ART-05 findings for one artifact of ``rel`` (a version record) re-scanned as ``now``."""
    path = str(art.get("path", ""))
    recorded_sha = str(art.get("sha256", ""))
    if recorded_sha and now.sha256 and now.sha256 != recorded_sha:
        return [Finding(rel, RULE, f"the weights here at {path} hash to sha256 "
                        f"{now.sha256[:16]}…, not the recorded {recorded_sha[:16]}…: the record "
                        "does not describe these bytes; `dvc pull` them again or register them "
                        "as a new version", line=line, model=name, version=version)]
    recorded = _recorded(art)
    if not now.passes and recorded != now.status:
        return [Finding(rel, RULE, f"the record says the scan of {path} is {recorded}, but "
                        f"scanning it again gives {now.summary()}: do not load this file; "
                        "a scan result is never taken from the record", line=line, model=name,
                        version=version)]
    return []


def rescan_findings(registry: Registry, names: list[str],
                    versions: dict[str, list[str]] | None = None) -> list[Finding]:
    """ART-05 over the versions of ``names`` (or ``versions[name]``) whose weights are in
    the work tree. Records that cannot be read are left to the schema pass (ID-00)."""
    cache = _Cache(registry.root)
    out: list[Finding] = []
    for name in names:
        wanted = (versions or {}).get(name)
        for version in wanted if wanted is not None else registry.version_names(name):
            if not _holds_weights(registry.root / MODELS_DIR / name / "versions" / version):
                continue          # no weights here (the usual case in CI): no record to read
            rel = f"{MODELS_DIR}/{name}/versions/{version}.yaml"
            try:
                doc: Document = registry.load(rel)
            except ModelregError:
                continue
            data = doc.data if isinstance(doc.data, dict) else {}
            arts = data.get("artifacts") if isinstance(data.get("artifacts"), list) else []
            for i, art in enumerate(arts):
                if not isinstance(art, dict):
                    continue
                path = _here(registry, name, version, art)
                if path is None:
                    continue
                try:
                    now = cache.get(path)
                except OSError as exc:
                    now = Rescan("", "error", (f"cannot be read: {exc}",))
                out.extend(compare(rel, art, now, name=name, version=version,
                                   line=locate(doc, ["artifacts", i])))
    cache.save()
    return out


__all__ = ["RULE", "Rescan", "compare", "rescan_file", "rescan_findings"]
