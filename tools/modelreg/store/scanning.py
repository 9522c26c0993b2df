"""Weights scanning: does a weights file carry code that runs when it is loaded?

Pickle-family files (``.pkl .pickle .joblib .pt .pth .bin``, zip archives holding pickles,
and anything whose first bytes are a pickle) are disassembled by picklescan — never loaded.
Any dangerous global refuses registration; a parse error is "error", never "clean":
picklescan exits 2 on joblib's numpy buffers and a payload placed after them is not seen, so
the policy blocks ``joblib`` outright, ART-02
(docs/architecture.md#pitfalls-of-the-tools-underneath).
safetensors files get their header checked (8-byte length + JSON); skops files are asked
for untrusted types when skops is installed. The result is a scan record for the version
file: ``{tool, tool_version, status, findings, at}`` (schemas/version.schema.json).
"""
from __future__ import annotations

import importlib.metadata
import importlib.util
import json
import logging
import os
import struct
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from modelreg.core import timefmt

PICKLE_EXTENSIONS = (".pkl", ".pickle", ".joblib", ".pt", ".pth", ".bin")
MAX_SAFETENSORS_HEADER = 100 * 1024 * 1024     # safetensors' own limit on the JSON header


@dataclass(frozen=True)
class ScanRecord:
    """The verdict on one file, as stored in ``artifacts[].scan``."""

    tool: str
    tool_version: str
    status: str                        # clean | findings | error | not-applicable
    findings: tuple[str, ...] = ()
    at: str = ""
    dangerous: tuple[str, ...] = field(default=(), compare=False)   # "module.name" globals

    def to_json(self) -> dict[str, Any]:
        return {"tool": self.tool, "tool_version": self.tool_version, "status": self.status,
                "findings": list(self.findings), "at": self.at}


def _now() -> str:
    return timefmt.rfc3339()


def _version(dist: str) -> str:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def _head(path: Path, n: int = 8) -> bytes:
    with open(path, "rb") as fh:
        return fh.read(n)


def looks_like_pickle(head: bytes) -> bool:
    """A protocol 2+ pickle starts with PROTO (0x80) and its protocol number."""
    return len(head) >= 2 and head[0] == 0x80 and 2 <= head[1] <= 5


def _zip_has_pickle(path: Path) -> bool:
    try:
        with zipfile.ZipFile(path) as zf:
            for info in zf.infolist()[:10_000]:
                if info.filename.endswith((".pkl", ".pickle")) or info.filename.endswith("/data"):
                    return True
                if info.file_size >= 2:
                    with zf.open(info) as member:
                        if looks_like_pickle(member.read(2)):
                            return True
    except (zipfile.BadZipFile, OSError, RuntimeError, NotImplementedError, ValueError):
        return True     # a damaged archive is scanned (and fails closed), not waved through
    return False


def is_pickle_family(path: str | os.PathLike) -> bool:
    """Pickle-family by extension, by content (a pickle under any name), or a zip of pickles."""
    p = Path(path)
    if p.suffix.lower() in PICKLE_EXTENSIONS:
        return True
    head = _head(p)
    if looks_like_pickle(head):
        return True
    return head.startswith(b"PK\x03\x04") and _zip_has_pickle(p)


class _Capture(logging.Handler):
    """picklescan reports parse problems only through its logger: keep them."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage()[:300])


def scan_pickle(path: str | os.PathLike, display: str | None = None) -> ScanRecord:
    """Scan with picklescan's Python API (it only disassembles; nothing is unpickled)."""
    from picklescan import scanner

    name = display or str(path)
    logger = logging.getLogger("picklescan")
    capture = _Capture()
    propagate, level = logger.propagate, logger.level
    logger.addHandler(capture)
    logger.propagate = False            # its warnings are ours to report, not to print
    logger.setLevel(logging.WARNING)
    try:
        result = scanner.scan_file_path(str(path))
        error = None
    except Exception as exc:            # any failure to parse is a failure to clear the file
        result, error = None, f"{type(exc).__name__}: {exc}"[:300]
    finally:
        logger.removeHandler(capture)
        logger.propagate, logger.level = propagate, level
    version = _version("picklescan")
    stamp = _now()
    if result is None:
        return ScanRecord("picklescan", version, "error", (f"could not scan: {error}",), stamp)
    dangerous = tuple(sorted({f"{g.module}.{g.name}" for g in result.globals
                              if g.safety is scanner.SafetyLevel.Dangerous}))
    findings = [f"dangerous import {g}" for g in dangerous]
    if dangerous or result.issues_count:
        return ScanRecord("picklescan", version, "findings", tuple(findings), stamp, dangerous)
    problems = [m.replace(str(path), name) for m in capture.messages]
    if result.scan_err or problems:
        return ScanRecord("picklescan", version, "error",
                          tuple(problems or ["the file could not be parsed completely"]), stamp)
    if result.scanned_files == 0:
        return ScanRecord("picklescan", version, "error", ("no pickle was found to scan",),
                          stamp)
    return ScanRecord("picklescan", version, "clean", (), stamp)


def check_safetensors(path: str | os.PathLike) -> ScanRecord:
    """Header check: an 8-byte little-endian length, then that many bytes of a JSON object
    whose tensors' offsets stay inside the file. No code can run from such a file."""
    p = Path(path)
    size = p.stat().st_size
    tool, version = "safetensors-header", _version("modelreg")
    problem = None
    with open(p, "rb") as fh:
        raw = fh.read(8)
        if len(raw) < 8:
            problem = "shorter than the 8-byte header length"
        else:
            (n,) = struct.unpack("<Q", raw)
            if n > MAX_SAFETENSORS_HEADER or n > size - 8:
                problem = f"header length {n} exceeds the file"
            else:
                try:
                    header = json.loads(fh.read(n).decode("utf-8"))
                except (UnicodeDecodeError, ValueError, RecursionError):
                    header = None
                if not isinstance(header, dict):
                    problem = "the header is not a JSON object"
                else:
                    data_size = size - 8 - n
                    for key, entry in header.items():
                        if key == "__metadata__":
                            continue
                        offsets = entry.get("data_offsets") if isinstance(entry, dict) else None
                        if not (isinstance(offsets, list) and len(offsets) == 2
                                and all(isinstance(o, int) for o in offsets)
                                and 0 <= offsets[0] <= offsets[1] <= data_size):
                            problem = f"tensor {str(key)[:60]!r} has invalid data_offsets"
                            break
    if problem:
        # not a safetensors file after all; it is no pickle either (checked before), so
        # nothing to clear or to refuse: say so
        return ScanRecord(tool, version, "not-applicable", (f"not a safetensors file: {problem}",),
                          _now())
    return ScanRecord(tool, version, "clean", (), _now())


def check_skops(path: str | os.PathLike) -> ScanRecord | None:
    """skops files name the types they need; an untrusted one would run code on load.
    Optional: only when skops is installed."""
    if importlib.util.find_spec("skops") is None:
        return None
    try:
        from skops.io import get_untrusted_types

        untrusted = get_untrusted_types(file=str(path))
    except Exception as exc:
        return ScanRecord("skops", _version("skops"), "error",
                          (f"could not read: {type(exc).__name__}: {exc}"[:300],), _now())
    if untrusted:
        return ScanRecord("skops", _version("skops"), "findings",
                          tuple(f"untrusted type {t}" for t in untrusted), _now(),
                          tuple(untrusted))
    return ScanRecord("skops", _version("skops"), "clean", (), _now())


def scan(path: str | os.PathLike, display: str | None = None) -> ScanRecord | None:
    """The scan record for one weights file, or None when no scanner applies to it."""
    p = Path(path)
    if is_pickle_family(p):
        return scan_pickle(p, display)
    suffix = p.suffix.lower()
    if suffix == ".safetensors":
        return check_safetensors(p)
    if suffix == ".skops":
        return check_skops(p)
    return None


__all__ = ["ScanRecord", "scan", "scan_pickle", "check_safetensors", "check_skops",
           "is_pickle_family", "PICKLE_EXTENSIONS"]
