"""``modelreg export hf NAME@VERSION OUT_DIR``: one version as a folder the Hugging Face Hub
takes as it is (``huggingface-cli upload ORG/NAME OUT_DIR``).

The folder holds ``README.md`` — the model card rendered for that version (its metrics in
``model-index``, the Hub's licence, metric and dataset conventions in the front matter, the
owners' prose kept) —, the version's weights, each checked against the sha256 its record
holds, and ``config.json``: what the files are, the task and library, the hyperparameters and
where it all comes from. Weights come from the work tree, or are pulled with DVC when they
are not there. The folder is written beside ``OUT_DIR`` and renamed into place, so a failed
export leaves nothing behind.
"""
from __future__ import annotations

import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from modelreg.core.errors import CannotRunError, RefusedError, UsageError
from modelreg.core.files import hash_file, write_atomic
from modelreg.core.tags import registration
from modelreg.core.yamlio import read_text
from modelreg.store import cards
from modelreg.store.dvc import Dvc
from modelreg.store.registry import Registry, check_name, check_version, semver_key

README = "README.md"
CONFIG = "config.json"


@dataclass(frozen=True)
class ExportResult:
    model: str
    version: str
    out_dir: str
    files: tuple[str, ...]          # written, relative to out_dir
    pulled: tuple[str, ...]         # weights fetched with DVC (root-relative paths)


@dataclass(frozen=True)
class _Weights:
    name: str                        # the file name in the export
    path: Path                       # in the work tree
    pointer: Path
    sha256: str


def export_hf(registry: Registry, name: str, version: str, out_dir: str | os.PathLike,
              *, pull: bool = True) -> ExportResult:
    """Write ``name`` ``version`` to ``out_dir`` (new or empty) as a Hugging Face model
    folder. Raises :class:`RefusedError` when the card lacks what the Hub needs or the weights
    are absent or not the registered bytes; nothing is written then."""
    name, version = check_name(name), check_version(version)
    record = registry.version(name, version)
    model = registry.model(name).data
    out = Path(out_dir)
    if out.is_symlink() or (out.exists() and (not out.is_dir() or any(out.iterdir()))):
        raise UsageError(f"{out} exists and is not an empty folder",
                         hint="name a new or empty folder: the export is the whole folder")
    readme, front = _readme(registry, name, model, version)
    _refuse_incomplete_front_matter(registry, name, front)
    weights = _weights(registry, name, version, record.data)
    clash = sorted({w.name for w in weights} & {README, CONFIG})
    if clash:
        raise RefusedError(f"{name} {version} has a weights file named {clash[0]}, which the "
                           "Hub folder uses for the card or the config",
                           hint="register the weights under another file name")
    pulled = _ensure_present(registry, weights, pull)
    config = _config(registry, name, version, model, record.data, weights)

    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        write_atomic(staging / README, readme)
        write_atomic(staging / CONFIG, json.dumps(config, indent=2, sort_keys=False) + "\n")
        for w in weights:
            shutil.copyfile(w.path, staging / w.name)
            if hash_file(staging / w.name).sha256 != w.sha256:
                raise CannotRunError(f"{registry.rel(w.path)} changed while it was copied",
                                     hint="export again")
        if out.exists():
            out.rmdir()                   # empty, checked above
        os.replace(staging, out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    files = (README, *(w.name for w in weights), CONFIG)
    return ExportResult(name, version, str(out), tuple(sorted(files)), tuple(pulled))


def _readme(registry: Registry, name: str, model: dict[str, Any], version: str
            ) -> tuple[str, dict[str, Any]]:
    """The card as it reads for ``version``: the versions up to it, the prose of the card on
    disk."""
    key = semver_key(version)
    versions = {v: registry.version(name, v).data for v in registry.version_names(name)
                if semver_key(v) <= key}
    rel = cards.card_path(name)
    path = registry.root / rel
    current = read_text(path, display=rel) if path.is_file() else None
    return cards.render_text(registry, name, model, versions, current, display=rel)


def _refuse_incomplete_front_matter(registry: Registry, name: str, front: dict[str, Any]
                                    ) -> None:
    """The Hub rejects `license: other` without its name and link."""
    if front.get("license") != "other":
        return
    missing = [k for k in ("license_name", "license_link") if not front.get(k)]
    if missing:
        rel = registry.rel(registry.model_dir(name) / "model.yaml")
        raise RefusedError(f"the card says license: other without {' and '.join(missing)}, "
                           "which the Hub needs with it", file=rel,
                           hint="set license_link (and for `other`, license_name) in "
                                "model.yaml, in a pull request")


def _weights(registry: Registry, name: str, version: str, record: dict[str, Any]
             ) -> list[_Weights]:
    vdir = registry.model_dir(name) / "versions" / version
    prefix = registry.rel(vdir) + "/"
    out = []
    for a in record.get("artifacts") or []:
        if not isinstance(a, dict):
            continue
        rel, sha = a.get("path"), a.get("sha256")
        fname = rel[len(prefix):] if isinstance(rel, str) and rel.startswith(prefix) else ""
        if not fname or "/" in fname or fname.startswith(".") or not isinstance(sha, str):
            raise RefusedError(f"{name} {version} records an artifact outside its version "
                               f"folder or without a sha256: {rel!r}",
                               file=registry.rel(vdir) + ".yaml",
                               hint="`modelreg validate` says what is wrong with the record")
        out.append(_Weights(fname, vdir / fname, vdir / f"{fname}.dvc", sha))
    if not out:
        raise RefusedError(f"{name} {version} records no weights to export",
                           file=registry.rel(vdir) + ".yaml")
    return out


def _present(w: _Weights) -> bool:
    return w.path.is_file() and not w.path.is_symlink() and hash_file(w.path).sha256 == w.sha256


def _ensure_present(registry: Registry, weights: list[_Weights], pull: bool) -> list[str]:
    """The registered bytes of every file, in the work tree: pulled with DVC when absent."""
    missing = [w for w in weights if not (w.path.is_file() or w.path.is_symlink())]
    changed = [w for w in weights if w not in missing and not _present(w)]
    if changed:
        rel = registry.rel(changed[0].path)
        raise RefusedError(f"{rel} does not hash to the sha256 its record holds",
                           hint=f"restore the registered bytes (`dvc checkout {rel}.dvc`) and "
                                "export again; never publish bytes that were not registered")
    pointers = " ".join(registry.rel(w.pointer) for w in missing)
    if missing and not pull:
        raise RefusedError(f"the weights {registry.rel(missing[0].path)} are not in the work "
                           "tree", hint=f"run `dvc pull {pointers}`, or export without "
                                        "--no-pull to pull them")
    if missing:
        dvc = Dvc(registry.root)
        try:
            dvc.pull([w.pointer for w in missing])
        except CannotRunError as exc:
            raise CannotRunError(f"the weights {registry.rel(missing[0].path)} are not in the "
                                 f"work tree and could not be pulled: {exc.message}",
                                 hint=f"check the DVC remote, then `dvc pull {pointers}`"
                                 ) from exc
        finally:
            dvc.close()
        for w in missing:
            if not _present(w):
                raise RefusedError(f"the weights pulled for {registry.rel(w.path)} are not "
                                   "the registered bytes",
                                   hint="`modelreg verify` checks the remote's objects")
    return [registry.rel(w.path) for w in missing]


def _config(registry: Registry, name: str, version: str, model: dict[str, Any],
            record: dict[str, Any], weights: list[_Weights]) -> dict[str, Any]:
    """config.json: the Hub reads ``library_name`` and ``pipeline_tag`` from the card; this
    says what the files are, how the model was trained and where it comes from."""
    artifacts = {a.get("path"): a for a in record.get("artifacts") or [] if isinstance(a, dict)}
    files = []
    for w in weights:
        a = artifacts.get(registry.rel(w.path), {})
        files.append({"file": w.name, "format": a.get("format"), "size": a.get("size"),
                      "sha256": w.sha256})
    config: dict[str, Any] = {"name": name, "version": version}
    for key, source in (("pipeline_tag", "task"), ("library_name", "library_name")):
        if isinstance(model.get(source), str) and model[source]:
            config[key] = model[source]
    training = record.get("training") if isinstance(record.get("training"), dict) else {}
    if isinstance(training.get("hyperparameters"), dict):
        config["hyperparameters"] = training["hyperparameters"]
    config["files"] = files
    code = record.get("code") if isinstance(record.get("code"), dict) else {}
    source: dict[str, Any] = {"record": registry.rel(registry.model_dir(name) / "versions"
                                                     / f"{version}.yaml")}
    if version in registry.state(name).registered:
        source["registration_tag"] = registration(name, version)
    if isinstance(code.get("commit"), str):
        source["code_commit"] = code["commit"]
    config["source"] = source
    return config


__all__ = ["ExportResult", "export_hf"]
