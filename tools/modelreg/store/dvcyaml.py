"""``dvc.yaml``: each model's weights declared as a DVC artifact, so DVC's own model commands
(``dvc artifacts get REPO NAME --stage production``, ``--rev vX.Y.Z``) read the registry.

DVC resolves an artifact through the registry's tags: the ``NAME#stage#N`` or
``NAME@vX.Y.Z`` tag gives a commit, and the ``artifacts:`` section of the top-level
``dvc.yaml`` *at that commit* gives the path to download. A plain name (``NAME``, as in the
tags) is only looked up in the top-level file; ``models/NAME/dvc.yaml`` would declare
``models/NAME:NAME``, a name the tags do not carry. Registration and stage tags point at the
commit that registered the version, so ``register`` writes the entry of the version it adds
in that same commit: at every registration commit the declaration names that version's
weights. The file is generated, one line per model (a JSON object, which is YAML too), so a
registration edits one line of it however many models there are; other models' lines are
kept as they are.
"""
from __future__ import annotations

import json
import re
from typing import Any

from modelreg.core.errors import InputError
from modelreg.core.yamlio import dump_yaml, parse_yaml
from modelreg.store.registry import MODELS_DIR

PATH = "dvc.yaml"
# One entry per model, about 250 bytes: 10,000 models make a file of a few MiB, past the
# limit of a hand-written metadata file. This one is generated and read only here.
MAX_BYTES = 64 * 1024 * 1024
HEADER = """\
# Each model's weights as a DVC artifact, for `dvc artifacts get REPO NAME --stage STAGE`.
# Written by `modelreg register`: an entry names the weights of the version its registration
# added, so every registration commit (where the registry's tags point) declares its own
# version. One line per model. Do not edit by hand: a pull request that does needs
# governance's approval.
"""


def declaration(name: str, model: dict[str, Any], version: str, record: dict[str, Any]
                ) -> dict[str, Any]:
    """The ``artifacts:`` entry of ``name`` at the commit that registers ``version``: its one
    weights file, or its version folder when it has several."""
    paths = [a["path"] for a in record.get("artifacts") or []
             if isinstance(a, dict) and isinstance(a.get("path"), str)]
    folder = f"{MODELS_DIR}/{name}/versions/{version}"
    entry: dict[str, Any] = {"path": paths[0] if len(paths) == 1 else folder, "type": "model"}
    model = model if isinstance(model, dict) else {}
    desc = model.get("title") or model.get("summary")
    if isinstance(desc, str) and desc.strip():
        entry["desc"] = " ".join(desc.split())
    labels: list[str] = []
    for value in [model.get("task"), model.get("library_name"), *(model.get("tags") or [])]:
        if isinstance(value, str) and value and value not in labels:
            labels.append(value)
    if labels:
        entry["labels"] = labels
    entry["meta"] = {"version": version}
    return entry


# One line per model, a JSON object (which is YAML too): a registration edits one line, so
# at 10,000 models it costs a text edit, not a parse and a dump of the whole file (15 s).
_LINE = re.compile(r"^  ([a-z0-9][a-z0-9-]{1,62}): (\{.*\})$")


def _line(name: str, entry: dict[str, Any]) -> str:
    return f"  {name}: {json.dumps(entry, ensure_ascii=True, sort_keys=False)}"


def render(current: str | None, entries: dict[str, dict[str, Any]],
           display: str = PATH) -> str:
    """``dvc.yaml`` with ``entries`` (model name → declaration) set and the other models'
    entries kept, one line each, sorted by name. A file not in that form (edited by hand,
    with pipeline stages) is parsed once and written back in it, its other keys kept."""
    lines = _canonical(current)
    if lines is None:
        return _rewrite(current or "", entries, display)
    for name, entry in entries.items():
        lines[name] = _line(name, entry)
    return HEADER + "artifacts:\n" + "".join(lines[k] + "\n" for k in sorted(lines))


def _canonical(text: str | None) -> dict[str, str] | None:
    """The entry lines of a file in the generated form, by model name; None otherwise."""
    if not text:
        return {}
    if not text.startswith(HEADER):
        return None
    body = text[len(HEADER):].split("\n")
    if body[:1] != ["artifacts:"] or body[-1] != "":
        return None
    out: dict[str, str] = {}
    for line in body[1:-1]:
        m = _LINE.match(line)
        if not m or m.group(1) in out:
            return None
        out[m.group(1)] = line
    return out


def _rewrite(text: str, entries: dict[str, dict[str, Any]], display: str) -> str:
    data = parse_yaml(text, display) if text.strip() else None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise InputError("dvc.yaml is not a mapping", file=display,
                         hint="fix or remove it; `modelreg register` writes its artifacts")
    artifacts = data.get("artifacts")
    if artifacts is None:
        artifacts = {}
    if not isinstance(artifacts, dict):
        raise InputError("dvc.yaml's artifacts is not a mapping", file=display,
                         hint="fix or remove it; `modelreg register` writes its artifacts")
    merged = {**artifacts, **entries}
    rest = {k: v for k, v in data.items() if k != "artifacts"}
    return (HEADER + (dump_yaml(rest) if rest else "") + "artifacts:\n"
            + "".join(_line(str(k), merged[k]) + "\n" for k in sorted(merged, key=str)))


def declared_path(text: str, name: str, display: str = PATH) -> str | None:
    """The path ``dvc.yaml`` declares for ``name`` (None when it declares none)."""
    data = parse_yaml(text, display)
    artifacts = data.get("artifacts") if isinstance(data, dict) else None
    entry = artifacts.get(name) if isinstance(artifacts, dict) else None
    path = entry.get("path") if isinstance(entry, dict) else None
    return path if isinstance(path, str) else None


__all__ = ["MAX_BYTES", "PATH", "declaration", "declared_path", "render"]
