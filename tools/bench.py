"""Benchmark: build a synthetic registry of M models x V versions and time the read commands.

The targets (docs/performance.md), on 1,000 x 10 (12,000 tags, records and cards shaped as
`register` writes them) and on 10,000 x 10: ``ls --json`` 0.5 s / 3 s, ``show NAME`` and
``history NAME`` 0.2 s / 0.3 s, ``gate NAME --stage production`` 0.35 s / 0.5 s, a pull
request's check of one model (``check --changed-since``) 0.5 s / 0.7 s, the full ``check`` 8 s
and ``validate`` 3 s on 1,000 x 10. Each command runs in a fresh process; beside it, in the
same run, git's own listing of every tag with its message (the floor no registry on git can
go under) and GTO's ``show``, ``show NAME`` and ``history NAME`` on the same registry (GTO
from an environment of its own under ``.bench/``, made on first use)::

    python tools/bench.py                      # 100 x 10 and 1,000 x 10 (BENCH_LARGE=1: and 10,000 x 10)
    python tools/bench.py --models 1000 --versions 10 --repeat 5 --json bench.json
    python tools/bench.py --models 100 --out .bench/r      # keep the registry to poke at
    python tools/bench.py --only ls,show,check-all         # choose (--only for-each-ref: none)

The registry is written with one ``git fast-import`` stream (commits, files and annotated
tags in one pass), then its refs are packed and its objects repacked, as in a fresh clone
(with loose refs, listing 10,000 tags takes about 3x longer than in a clone).
``schemas/`` and ``policies/`` are copied from this repository, so every generated record is
checked against the real schemas.

The Markdown table goes to stdout (median, minimum, peak memory of the largest process, the
ratio to git's listing and how many times longer GTO took), progress to stderr. Exit code: 0
when every command that exists gave sane output (a command the CLI does not have yet is
reported as n/a), 1 when a command failed or its output does not match the registry, 2 for
bad arguments.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import pstats
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))

from modelreg import __version__  # noqa: E402
from modelreg.core import tags as tagmod  # noqa: E402
from modelreg.core.yamlio import load, parse_yaml  # noqa: E402

# Fixed dates and identities, so two runs build byte-identical repositories.
EPOCH = 1767225600              # 2026-01-01T00:00:00Z
STEP = 60                       # seconds between two commits (at least)
PER_COMMIT = 1                  # registrations (or promotions) per merged pull request
AUTHORS = [("Alice Martin", "alice.martin@example.com", "alice-ds", "ml-platform"),
           ("Bob Okafor", "bob.okafor@example.com", "bob-ds", "credit-analytics")]
BOT = ("modelreg-bot", "modelreg-bot@example.com")
APPROVERS = ["carol-risk", "dave-risk"]     # approvers and model-risk officers
COPIED = ("schemas", "policies")  # folders taken from this repository as they are
WEIGHTS = "model.safetensors"
DEFAULT_SCENARIOS = [(100, 10), (1000, 10)]
LARGE_SCENARIO = (10000, 10)     # added by BENCH_LARGE=1 (or --large)
GTO_VERSION = "1.10.1"           # the GTO compared with, installed in an environment of its own
GTO_TIMEOUT = 3600.0             # a GTO command still running after this is reported as ">"


# --- synthetic records -------------------------------------------------------------------

def model_name(index: int, models: int) -> str:
    return f"model-{index:0{max(4, len(str(models - 1)))}d}"


def version_name(index: int) -> str:
    return f"1.{index}.0"       # 1.0.0, 1.1.0, ... 1.10.0 sorts after 1.9.0 only by SemVer


def _hex(*parts: object, size: int = 64) -> str:
    digest = hashlib.sha256("/".join(map(str, parts)).encode()).hexdigest()
    return (digest * 2)[:size]


def weights_bytes(name: str, version: str) -> bytes:
    """A version's weights: a few KB of bytes of its own, so that the recorded hashes are
    real and a gate can find the weights it is asked about in the DVC remote."""
    return f"{name} {version} weights\n".encode() * (64 + int(_unit(name, version, "size") * 64))


def pull_weights(root: Path, name: str, versions: int) -> None:
    """What a deploy clone has after ``dvc pull`` of one model: its weights in the local DVC
    remote beside the work tree (``.dvc/config``: ``../dvc-storage``), which git ignores."""
    for index in range(versions):
        payload = weights_bytes(name, version_name(index))
        md5 = hashlib.md5(payload).hexdigest()
        obj = root / "dvc-storage" / "files" / "md5" / md5[:2] / md5[2:]
        obj.parent.mkdir(parents=True, exist_ok=True)
        obj.write_bytes(payload)
    exclude = root / ".git" / "info" / "exclude"
    exclude.parent.mkdir(parents=True, exist_ok=True)
    if "/dvc-storage/" not in (exclude.read_text() if exclude.exists() else ""):
        with exclude.open("a") as out:
            out.write("/dvc-storage/\n")


def _unit(*parts: object) -> float:
    """A deterministic number in [0, 1) from ``parts``."""
    return int(_hex(*parts, size=8), 16) / 0x1_0000_0000


@dataclass(frozen=True)
class Dataset:
    id: str
    revision: str
    sha256: str
    rows: int


def reference_datasets(root: Path) -> dict[str, tuple[Dataset, Dataset]]:
    """(train, test) datasets per model family, from ``policies/data/datasets.yaml``.

    Using registered datasets with their real hashes keeps the synthetic versions valid for
    the dataset policies too, not only for the schemas.
    """
    path = root / "policies" / "data" / "datasets.yaml"
    found: dict[str, Dataset] = {}
    if path.is_file():
        for ds_id, entry in (load(path).data or {}).get("datasets", {}).items():
            revision, info = sorted(entry.get("revisions", {}).items())[-1]
            found[ds_id] = Dataset(ds_id, str(revision), info["sha256"], info.get("rows", 0))
    families = {}
    for family in ("iris", "credit-applications"):
        train, test = found.get(f"{family}-train"), found.get(f"{family}-test")
        if train is None or test is None:  # a registry started from this template
            train = Dataset(f"{family}-train", "2026.01", _hex(family, "train"), 1000)
            test = Dataset(f"{family}-test", "2026.01", _hex(family, "test"), 250)
        families[family] = (train, test)
    return families


def is_high_risk(index: int) -> bool:
    return index % 3 == 0       # every third model is an EU AI Act high-risk credit model


def family(index: int) -> str:
    return "credit-applications" if is_high_risk(index) else "iris"


def model_record(name: str, index: int) -> dict[str, Any]:
    """A model.yaml like the examples in models/."""
    high = is_high_risk(index)
    author, _, login, team = AUTHORS[1 if high else 0]
    record: dict[str, Any] = {
        "name": name,
        "uid": str(uuid.uuid5(uuid.NAMESPACE_URL, f"modelreg-bench/{name}")),
        "title": f"Synthetic benchmark model {name}",
        "summary": "Generated by tools/bench.py to measure the registry at scale.",
        "task": "tabular-classification",
        "model_type": "logistic regression",
        "library_name": "sklearn",
        "license": "proprietary-internal" if high else "Apache-2.0",
        **({"license_link": "https://example.com/licences/internal-models"} if high else {}),
        "owner": {"team": team, "business_owner": login},
        "developers": [login],
        "contacts": [f"{team}@example.com"],
        "intended_use": {
            "purpose": "Benchmark fixture; supports no decision about anything or anyone.",
            "users": ["registry maintainers"],
            "affected_persons": ["nobody"],
            "out_of_scope": ["any production use"],
        },
        "risk": {
            "tier": 1 if high else 2 + index % 2,
            "tier_rationale": "Synthetic tier, spread evenly over the registry.",
            "eu_ai_act": ({"class": "high", "annex_iii_area": "5(b)",
                           "rationale": "Synthetic stand-in for a creditworthiness model."}
                          if high else
                          {"class": "minimal", "rationale": "Not an Annex III use."}),
        },
        "evaluation": {
            "thresholds": [
                {"metric": "accuracy", "threshold": 0.7, "direction": "higher"},
                {"metric": "auc", "threshold": 0.75, "direction": "higher"},
            ],
            "sensitive_attributes": ["age_band", "sex"] if high else [],
            "max_slice_gap": 0.08,
        },
        "monitoring_plan": {"metrics": ["accuracy"], "thresholds": {"accuracy": 0.7},
                            "frequency": "monthly", "owner": team},
        "logging": {"events": ["request_id", "prediction"], "retention_days": 365 if high else 30,
                    "where": "platform log store"},
        "review": {"interval_days": 365},
        "tags": ["synthetic", "benchmark"],
    }
    if high:
        record["risk"]["impact_assessment"] = {"ref": f"docs/{name}-fria.md",
                                               "date": "2025-12-01"}
        record["human_oversight"] = {"mode": "human-in-the-loop", "override": True}
    return record


def version_record(name: str, index: int, version: int, created: int,
                   datasets: dict[str, tuple[Dataset, Dataset]]) -> dict[str, Any]:
    """A version record of about 2.5 KB with 8 metric rows, each bound to the version's
    weights, retrained from the version before it; valid against version.schema.json."""
    high = is_high_risk(index)
    train, test = datasets[family(index)]
    author, email, _, _ = AUTHORS[1 if high else 0]
    v = version_name(version)
    payload = weights_bytes(name, v)
    size = len(payload)
    slices = (["overall", "age_band=18-25", "age_band=26-60", "sex=female"] if high else
              ["overall", "petal=short", "petal=long", "sepal=wide"])
    metrics = []
    for metric, base in (("accuracy", 0.8), ("auc", 0.85)):
        overall = base + 0.1 * _unit(name, v, metric)
        for slice_ in slices:   # slices within 0.03 of overall: under every tier's gap limit
            value = overall if slice_ == "overall" else overall - 0.03 * _unit(name, v, slice_)
            metrics.append({
                "name": metric, "value": round(value, 4),
                "dataset": test.id, "split": "test", "slice": slice_,
                "threshold": 0.7 if metric == "accuracy" else 0.75, "direction": "higher",
                "n": test.rows, "artifact_sha256": hashlib.sha256(payload).hexdigest(),
            })
    record: dict[str, Any] = {
        "model": name,
        "version": v,
        "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(created)),
        "registered_by": {"name": author, "email": email},
        "message": f"Retrained {name} on the {train.revision} data.",
    }
    if version:
        record["previous_version"] = version_name(version - 1)
        record["parent"] = {"model": name, "version": version_name(version - 1)}
        record["change_summary"] = "Retrained with a new random seed."
    record.update({
        "code": {"repo": "https://git.example.com/ml/training.git",
                 "commit": _hex(name, v, "code", size=40), "dirty": False,
                 "entrypoint": "train.py"},
        "environment": {"python": "3.11.7",
                        "packages": {"scikit-learn": "1.9.1", "numpy": "2.3.4"}},
        "artifacts": [{
            "path": f"models/{name}/versions/{v}/{WEIGHTS}",
            "format": "safetensors", "size": size, "md5": hashlib.md5(payload).hexdigest(),
            "sha256": hashlib.sha256(payload).hexdigest(),
            "dvc_file": f"models/{name}/versions/{v}/{WEIGHTS}.dvc", "remote": "storage",
        }],
        "training": {
            "config": {"path": "configs/train.yaml", "sha256": _hex(name, v, "config")},
            "hyperparameters": {"C": 1.0, "max_iter": 200, "penalty": "l2"},
            "seed": version,
        },
        "datasets": [
            {"id": ds.id, "revision": ds.revision, "role": role, "sha256": ds.sha256,
             "rows": ds.rows}
            for ds, role in ((train, "train"), (test, "test"))
        ],
        "metrics": metrics,
        "validation": {"validator": "erin-val", "independent": True,
                       "validated_at": record["created_at"][:10],
                       "scope": ["conceptual_soundness", "outcomes_analysis"],
                       "outcome": "approved"},
    })
    if high:    # EU high-risk: robustness and security tests before production (EVAL-06)
        record["robustness"] = [
            {"test": "Gaussian noise on every numeric feature", "category": "perturbation",
             "result": "pass", "date": record["created_at"][:10]},
            {"test": "Membership inference on the training rows", "category": "security",
             "result": "pass", "date": record["created_at"][:10]}]
    return record


def card_sections(root: Path) -> list[str]:
    """Every ``##`` section a card may be asked for, from ``policies/data/cards.yaml``."""
    path = root / "policies" / "data" / "cards.yaml"
    data = load(path).data if path.is_file() else {}
    sections: list[str] = []
    for group in ("required", "high_risk"):
        for names in (data.get(group) or {}).values():
            sections += [n for n in names if n not in sections]
    return sections


PROSE = "Synthetic prose written by tools/bench.py for the benchmark."


def card_text(record: dict[str, Any], versions: dict[str, dict[str, Any]],
              root: Path = ROOT) -> str:
    """``card.md`` as ``modelreg card NAME --write`` renders it from model.yaml and the
    version records (so ``check`` finds it up to date, CARD-04), with the placeholder of
    every section's prose replaced by text (so the sections count as written, CARD-01)."""
    from modelreg.store import cards

    name = record["name"]
    display = f"models/{name}/card.md"
    text, _ = cards.render_text(root, name, record, versions, None, display=display)
    text = text.replace(cards.PLACEHOLDER, PROSE)
    # once more over the filled-in card: what `modelreg card --write` would leave on disk
    text, _ = cards.render_text(root, name, record, versions, text, display=display)
    return text


def dvc_pointer(artifact: dict[str, Any]) -> str:
    """A DVC 3 ``.dvc`` file, as ``dvc add`` writes it."""
    return (f"outs:\n- md5: {artifact['md5']}\n  size: {artifact['size']}\n"
            f"  hash: md5\n  path: {WEIGHTS}\n")


# PyYAML's dumper costs ~1 ms per version file (10 s for 10,000); this block-style writer
# covers the plain data the records above hold, and the tests read its output back.
_PLAIN = re.compile(r"^[A-Za-z][A-Za-z0-9 ._/()@-]*$")
_RESERVED = {"true", "false", "yes", "no", "on", "off", "null"}


def _scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, int):
        return repr(value)
    if isinstance(value, float):
        text = repr(value)   # PyYAML reads 1e-05 as a string: it wants a dot before the e
        return text.replace("e", ".0e", 1) if "e" in text and "." not in text else text
    if isinstance(value, (dict, list)):  # only empty ones get here
        return "{}" if isinstance(value, dict) else "[]"
    if _PLAIN.match(value) and value.lower() not in _RESERVED and not value.endswith(" "):
        return value
    return json.dumps(value)


def _emit(value: Any, depth: int, out: list[str]) -> None:
    pad = "  " * depth
    if isinstance(value, dict):
        for key, item in value.items():
            if isinstance(item, (dict, list)) and item:
                out.append(f"{pad}{key}:")
                _emit(item, depth + 1, out)
            else:
                out.append(f"{pad}{key}: {_scalar(item)}")
        return
    for item in value:
        if isinstance(item, dict) and item:
            start = len(out)
            _emit(item, depth + 1, out)
            out[start] = f"{pad}- {out[start].lstrip()}"
        elif isinstance(item, list) and item:
            raise ValueError("nested lists are not needed by the records")
        else:
            out.append(f"{pad}- {_scalar(item)}")


def to_yaml(data: dict[str, Any]) -> str:
    out: list[str] = []
    _emit(data, 0, out)
    return "\n".join(out) + "\n"


def stages_text(held: dict[str, str]) -> str:
    return to_yaml({"stages": held}) if held else "stages: {}\n"


# --- tags --------------------------------------------------------------------------------

_TIME_SLOT = "2000-01-01T00:00:00Z"   # YAML quotes it as it will quote the real time


def _message_template(title: str, event: str, **slots: Any) -> str:
    # The evidence reconcile records (tools/modelreg/app/reconcile.py), so that gate and history
    # read these tags as their own: the merge commit and the pull request's head are the real
    # commits (filled in once fast-import has named them), the reviews approve that head.
    # Formatting 12,000 messages through format_message costs
    # ~2 s: format once with placeholders that YAML writes bare, then fill them in.
    # the independent validator approves too: a validation counts only when its validator
    # approved the pull request that recorded it
    signers = [*APPROVERS, "erin-val"]
    review = [{"user": {"login": login}, "state": "APPROVED", "commit_id": "HEAD_SLOT",
               "submitted_at": _TIME_SLOT} for login in signers]
    evidence = {"event": event, "model": "MODEL_SLOT", "version": "VERSION_SLOT", **slots,
                "policy_digest": "sha256:DIGEST_SLOT",
                "decision": "pass", "checked_at": _TIME_SLOT, "engine": "regorus",
                "tool": f"modelreg {__version__}", "merge_commit": "MERGE_SLOT",
                "pr": "PR_SLOT", "pr_author": "AUTHOR_SLOT",
                "head": "HEAD_SLOT", "approvers": sorted(signers), "reviews": review,
                "committers": ["AUTHOR_SLOT"], "owners": {"FILE_SLOT": sorted(APPROVERS)}}
    return tagmod.format_message(title, evidence)


REGISTER_MESSAGE = _message_template("Register MODEL_SLOT version VERSION_SLOT", "register")
ASSIGN_MESSAGE = _message_template("Assign stage STAGE_SLOT to MODEL_SLOT version VERSION_SLOT",
                                   "assign", stage="STAGE_SLOT")


def tag_message(template: str, model: str, version: str, pull_request: int, when: int,
                author: str, stage: str = "") -> str:
    """The message with every slot filled but MERGE_SLOT and HEAD_SLOT (the commits, known
    once fast-import has written them: :meth:`Stream.write_tags`)."""
    changed = (f"models/{model}/stages.yaml" if stage else
               f"models/{model}/versions/{version}.yaml")
    return (template.replace("MODEL_SLOT", model).replace("VERSION_SLOT", version)
            .replace("STAGE_SLOT", stage).replace("PR_SLOT", str(pull_request))
            .replace("AUTHOR_SLOT", author).replace("FILE_SLOT", changed)
            .replace("DIGEST_SLOT", _hex("policies", "v1"))
            .replace(_TIME_SLOT, time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(when))))


def stage_plan(versions: int) -> list[tuple[str, int]]:
    """Stage assignments per model, in order: the one before last in production, the last in
    staging (a promotion counter over all of a model's tags, as GTO numbers them)."""
    plan = [("production", versions - 2)] if versions >= 2 else []
    return plan + [("staging", versions - 1)]


def expected_tags(models: int, versions: int) -> set[str]:
    names = set()
    for m in range(models):
        name = model_name(m, models)
        names.update(tagmod.registration(name, version_name(v)) for v in range(versions))
        names.update(tagmod.assignment(name, stage, n)
                     for n, (stage, _) in enumerate(stage_plan(versions), start=1))
    return names


# --- the fast-import stream --------------------------------------------------------------

class TagKey:
    """The generated registry's tag-signing key: an ed25519 key from a fixed seed (two runs
    build the same registry), signing in this process in git's SSH signature format, as
    ``git tag -s`` with ``gpg.format=ssh`` would (ed25519 signatures are deterministic)."""

    SEED = hashlib.sha256(b"modelreg bench tag-signing key").digest()

    def __init__(self) -> None:
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

        self.key = Ed25519PrivateKey.from_private_bytes(self.SEED)
        raw = self.key.public_key().public_bytes_raw()
        self.blob = self._string(b"ssh-ed25519") + self._string(raw)

    @staticmethod
    def _string(value: bytes) -> bytes:
        return len(value).to_bytes(4, "big") + value

    @property
    def public(self) -> str:
        import base64

        return "ssh-ed25519 " + base64.b64encode(self.blob).decode() + " modelreg-bench"

    def sign(self, payload: bytes) -> bytes:
        """The armored signature git appends to a tag object over ``payload``."""
        import base64

        s = self._string
        signed = (b"SSHSIG" + s(b"git") + s(b"") + s(b"sha512")
                  + s(hashlib.sha512(payload).digest()))
        sig = s(b"ssh-ed25519") + s(self.key.sign(signed))
        blob = (b"SSHSIG" + (1).to_bytes(4, "big") + s(self.blob) + s(b"git") + s(b"")
                + s(b"sha512") + s(sig))
        text = base64.b64encode(blob).decode()
        lines = [text[i:i + 70] for i in range(0, len(text), 70)]
        return ("-----BEGIN SSH SIGNATURE-----\n" + "\n".join(lines)
                + "\n-----END SSH SIGNATURE-----\n").encode()


class Stream:
    """Writes a ``git fast-import`` stream: commits on ``main``, each a pull request's merge
    (a branch commit with the change, merged with ``--no-ff``); annotated tags are kept and
    written, signed, by :meth:`write_tags` in a second stream once the commits have ids
    (a signature covers the ids)."""

    def __init__(self, out: Any) -> None:
        self.out = out
        self.marks = 0
        self.commits = 0
        self.tags = 0
        self.main = 0                 # the mark of main's tip
        self.heads: dict[int, int] = {}   # merge mark -> the merged branch commit's mark
        self.pending: list[tuple[str, int, int, str, int]] = []

    def _data(self, text: str | bytes) -> None:
        raw = text.encode() if isinstance(text, str) else text
        self.out.write(b"data %d\n" % len(raw))
        self.out.write(raw)
        self.out.write(b"\n")

    def _commit(self, ref: str, message: str, when: int, author: tuple[str, str],
                files: dict[str, str | bytes], parents: list[int]) -> int:
        self.marks += 1
        self.commits += 1
        self.out.write(f"commit {ref}\nmark :{self.marks}\n".encode())
        self.out.write(f"author {author[0]} <{author[1]}> {when} +0000\n".encode())
        self.out.write(f"committer {BOT[0]} <{BOT[1]}> {when} +0000\n".encode())
        self._data(message)
        for i, parent in enumerate(parents):
            self.out.write(f"{'from' if i == 0 else 'merge'} :{parent}\n".encode())
        for path, content in files.items():
            self.out.write(f"M 100644 inline {path}\n".encode())
            self._data(content)
        self.out.write(b"\n")
        return self.marks

    def commit(self, message: str, when: int, author: tuple[str, str],
               files: dict[str, str | bytes], merge: bool = True) -> int:
        """A commit on main: the merge of a branch commit holding ``files`` (the first
        commit, or ``merge=False``, goes straight on main)."""
        if not merge or not self.main:
            self.main = self._commit("refs/heads/main", message, when, author, files,
                                     [self.main] if self.main else [])
            return self.main
        head = self._commit("refs/heads/pull", message, when - 1, author, files, [self.main])
        self.main = self._commit("refs/heads/main", f"Merge pull request\n\n{message}", when,
                                 BOT, files, [self.main, head])
        self.heads[self.main] = head
        return self.main

    def tag(self, name: str, mark: int, when: int, message: str, merge: int | None = None
            ) -> None:
        """A tag on ``mark`` recording the merge ``merge`` (default: ``mark``)."""
        self.tags += 1
        self.pending.append((name, mark, when, message, merge or mark))

    def write_tags(self, out: Any, ids: dict[int, str], key: TagKey) -> None:
        """The kept tags as a second fast-import stream, now that ``ids`` names the marks:
        each tag object is the header git writes, the message, then the signature over both."""
        self.out = out
        for name, mark, when, message, merge in self.pending:
            head = ids.get(self.heads.get(merge, 0), ids[merge])
            message = message.replace("MERGE_SLOT", ids[merge]).replace("HEAD_SLOT", head)
            tagger = f"{BOT[0]} <{BOT[1]}> {when} +0000"
            payload = (f"object {ids[mark]}\ntype commit\ntag {name}\ntagger {tagger}\n\n"
                       f"{message}").encode()
            out.write(f"tag {name}\nfrom {ids[mark]}\ntagger {tagger}\n".encode())
            self._data(payload.split(b"\n\n", 1)[1] + key.sign(payload))


def _copied_files(root: Path) -> dict[str, bytes]:
    files = {}
    for folder in COPIED:
        base = root / folder
        for path in sorted(base.rglob("*")):
            rel = path.relative_to(root).as_posix()
            if path.is_file() and "__pycache__" not in rel:
                files[rel] = path.read_bytes()
    return files


def _merge_message(verb: str, changes: list[tuple[str, str, int, str]]) -> str:
    lines = [f"- {verb.lower()} {name} {version} (#{pr})" for name, version, pr, _ in changes]
    noun = "version" if len(changes) == 1 else "versions"
    return f"{verb} {len(changes)} {noun}\n\n" + "\n".join(lines) + "\n"


def write_stream(stream: Stream, models: int, versions: int, per_commit: int = 10,
                 root: Path = ROOT) -> None:
    """The whole history: one setup commit, then the registrations, one round per version,
    ``per_commit`` of them per commit (a merge train; fast-import rewrites the 1,000-entry
    ``models/`` tree for each commit, ~1.2 ms, so one commit per registration costs 12 s
    more on 1,000 x 10), then the promotions, ``per_commit`` models per commit. Each
    registration is tagged at the commit that added its file; each stage assignment at the
    commit that changed ``stages.yaml``."""
    datasets = reference_datasets(root)
    copied = _copied_files(root)
    # no signing keys exist for synthetic weights: production does not ask for signatures
    copied["policies/data/signing.yaml"] = b"keys: {}\nproduction_requires_signature: []\n"
    # every tag is signed by the generator's key, the one allowed signer
    copied["policies/data/tag-signing.yaml"] = (
        "signed_tags: true\nallowed_signers:\n  - id: reconcile\n    format: ssh\n"
        f"    key: {json.dumps(TagKey().public)}\n").encode()
    setup = {**copied,
             ".dvc/config": "[core]\n    remote = storage\n    verify = true\n"
                            "['remote \"storage\"']\n    url = ../dvc-storage\n",
             ".gitignore": "/models/*/versions/*/model.safetensors\n",
             # the approvers (model-risk) own every model file: the gate computes who
             # approved from the merge commit's code owners
             ".github/CODEOWNERS": "* @example-org/ai-governance\n"
                                   "/models/ @example-org/model-risk\n"}
    step = max(STEP, 4 * per_commit)  # tags come after their commit, before the next one
    clock = EPOCH
    stream.commit("Registry skeleton: schemas and policies", clock, BOT, setup, merge=False)
    pull_request = 0
    records: dict[str, dict[str, Any]] = {}      # model -> version -> record, for its card
    registration_mark: dict[tuple[str, str], int] = {}
    for v in range(versions):
        for first in range(0, models, per_commit):
            clock += step
            files: dict[str, str | bytes] = {}
            registered = []
            for m in range(first, min(first + per_commit, models)):
                name = model_name(m, models)
                pull_request += 1
                record = version_record(name, m, v, clock, datasets)
                version = record["version"]
                records.setdefault(name, {})[version] = record
                files[f"models/{name}/versions/{version}.yaml"] = to_yaml(record)
                files[record["artifacts"][0]["dvc_file"]] = dvc_pointer(record["artifacts"][0])
                if v == 0:
                    files[f"models/{name}/model.yaml"] = to_yaml(model_record(name, m))
                    files[f"models/{name}/stages.yaml"] = stages_text({})
                if v >= versions - 2:
                    # the card as rendered after the registrations of the versions that
                    # will hold production and staging (the gate reads the record and card
                    # at those commits); rendering it at every registration would add
                    # ~10 ms per version to the build
                    files[f"models/{name}/card.md"] = card_text(
                        model_record(name, m), dict(records[name]), root)
                registered.append((name, version, pull_request,
                                   AUTHORS[1 if is_high_risk(m) else 0][2]))
            mark = stream.commit(_merge_message("Register", registered), clock,
                                 AUTHORS[v % 2][:2], files)
            for offset, (name, version, pr, login) in enumerate(registered, start=1):
                registration_mark[(name, version)] = mark
                stream.tag(tagmod.registration(name, version), mark, clock + offset,
                           tag_message(REGISTER_MESSAGE, name, version, pr, clock, login))
    for first in range(0, models, per_commit):
        clock += step
        files = {}
        promoted = []
        for m in range(first, min(first + per_commit, models)):
            name = model_name(m, models)
            pull_request += 1
            plan = [(stage, version_name(v)) for stage, v in stage_plan(versions)]
            files[f"models/{name}/stages.yaml"] = stages_text(dict(plan))
            promoted.append((name, plan, pull_request))
        mark = stream.commit(
            _merge_message("Promote", [(n, plan[-1][1], pr, "") for n, plan, pr in promoted]),
            clock, AUTHORS[0][:2], files)
        offset = 0
        for name, plan, pr in promoted:
            for counter, (stage, version) in enumerate(plan, start=1):
                offset += 1
                # on the version's registration commit, as reconcile tags it (GTO reads
                # the version from the commit)
                stream.tag(tagmod.assignment(name, stage, counter),
                           registration_mark[(name, version)], clock + offset,
                           tag_message(ASSIGN_MESSAGE, name, version, pr, clock,
                                       AUTHORS[0][2], stage), merge=mark)


# --- building a registry -----------------------------------------------------------------

def _git(root: Path, *args: str, input: bytes | None = None) -> str:
    proc = subprocess.run(["git", *args], cwd=root, input=input, capture_output=True,
                          env=_git_env())
    if proc.returncode != 0:
        raise RuntimeError(f"git {' '.join(args)} exited {proc.returncode}:\n"
                           f"{proc.stdout.decode(errors='replace')}"
                           f"{proc.stderr.decode(errors='replace')}")
    return proc.stdout.decode()


def _git_env() -> dict[str, str]:
    # isolated from the user's and the machine's git configuration
    return {**os.environ, "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": os.devnull,
            "GIT_TERMINAL_PROMPT": "0", "LC_ALL": "C"}


@dataclass(frozen=True)
class Built:
    root: Path
    models: int
    versions: int
    seconds: float
    commits: int
    tags: int
    git_bytes: int
    per_commit: int = PER_COMMIT


def generate(dest: Path, models: int, versions: int, per_commit: int = PER_COMMIT,
             root: Path = ROOT) -> Built:
    """Build a registry of ``models`` x ``versions`` in ``dest`` (created; must be empty)."""
    start = time.perf_counter()
    dest.mkdir(parents=True, exist_ok=True)
    if any(dest.iterdir()):
        raise FileExistsError(f"{dest} is not empty")
    _git(dest, "init", "-q", "-b", "main")
    _git(dest, "config", "user.name", BOT[0])
    _git(dest, "config", "user.email", BOT[1])
    with tempfile.TemporaryFile() as errors:   # a file, not a pipe: no deadlock on errors
        marks = dest / ".git" / "bench-marks"
        stream = Stream(None)

        def fast_import(write: Callable[[Any], None], *extra: str) -> None:
            proc = subprocess.Popen(["git", "fast-import", "--quiet", "--date-format=raw",
                                     *extra], cwd=dest, stdin=subprocess.PIPE, stderr=errors,
                                    env=_git_env())
            assert proc.stdin is not None
            try:
                proc.stdin.write(b"feature done\n")
                write(proc.stdin)
                proc.stdin.write(b"done\n")
                proc.stdin.close()
            except BrokenPipeError:
                pass
            if proc.wait() != 0:
                errors.seek(0)
                raise RuntimeError(f"git fast-import exited {proc.returncode}:\n"
                                   f"{errors.read().decode(errors='replace')}")

        def commits(out: Any) -> None:
            stream.out = out
            write_stream(stream, models, versions, per_commit, root)

        fast_import(commits, f"--export-marks={marks}")
        ids = {int(mark[1:]): sha for mark, sha in
               (line.split() for line in marks.read_text().splitlines())}
        marks.unlink()
        fast_import(lambda out: stream.write_tags(out, ids, TagKey()))
        _git(dest, "update-ref", "-d", "refs/heads/pull")
    # as a clone has it: refs in packed-refs, objects in one pack, files checked out
    _git(dest, "pack-refs", "--all", "--prune")
    _git(dest, "repack", "-a", "-d", "-q")
    _git(dest, "prune-packed")
    _git(dest, "reset", "-q", "--hard", "main")
    seconds = time.perf_counter() - start
    git_bytes = sum(p.stat().st_size for p in (dest / ".git").rglob("*") if p.is_file())
    return Built(dest, models, versions, seconds, stream.commits, stream.tags, git_bytes,
                 per_commit)


def verify(root: Path, models: int, versions: int, sample: int | None = None) -> list[str]:
    """Problems with a generated registry (empty when it is what a clone would look like).

    Checks the tags (expected names, all annotated, all packed, each registration on the
    commit that added its file, evidence naming the version) and validates the files of
    ``sample`` models (all when None) against the registry's schemas.
    """
    from jsonschema import Draft202012Validator

    problems: list[str] = []
    out = _git(root, "for-each-ref", "--format=%(refname:strip=2)%00%(objecttype)%00%(contents)%1e",
               "refs/tags")
    found: dict[str, tuple[str, str]] = {}
    for record in out.split("\x1e"):
        record = record.lstrip("\n")
        if record:
            name, otype, message = record.split("\0", 2)
            found[name] = (otype, message)
    expected = expected_tags(models, versions)
    if set(found) != expected:
        missing, extra = sorted(expected - set(found)), sorted(set(found) - expected)
        problems.append(f"tags differ: missing {missing[:5]}, unexpected {extra[:5]}")
    lightweight = sorted(n for n, (otype, _) in found.items() if otype != "tag")
    if lightweight:
        problems.append(f"{len(lightweight)} tags are not annotated, e.g. {lightweight[0]}")
    loose = [p for p in (root / ".git" / "refs" / "tags").rglob("*") if p.is_file()]
    if loose:
        problems.append(f"{len(loose)} tags are loose refs, not packed")
    packed = (root / ".git" / "packed-refs")
    if not packed.is_file() or packed.read_text().count(" refs/tags/") != len(found):
        problems.append("packed-refs does not hold every tag")

    validators = {kind: Draft202012Validator(json.loads(
        (root / "schemas" / f"{kind}.schema.json").read_text())) for kind in
        ("model", "version", "stages")}
    picks = range(models) if sample is None else sorted({0, models // 2, models - 1})[:sample]
    batch: list[str] = []
    for m in picks:
        name = model_name(m, models)
        base = root / "models" / name
        files = [("model", base / "model.yaml"), ("stages", base / "stages.yaml")]
        files += [("version", base / "versions" / f"{version_name(v)}.yaml")
                  for v in range(versions)]
        for kind, path in files:
            rel = path.relative_to(root).as_posix()
            data = parse_yaml(path.read_text(), rel)
            for error in validators[kind].iter_errors(data):
                problems.append(f"{rel}: {error.message}")
            if kind == "version":
                artifact = data["artifacts"][0]
                pointer = parse_yaml((root / artifact["dvc_file"]).read_text(), rel)
                if pointer["outs"][0]["md5"] != artifact["md5"]:
                    problems.append(f"{artifact['dvc_file']}: md5 differs from {rel}")
                tag = tagmod.registration(name, data["version"])
                evidence = tagmod.parse_message(found.get(tag, ("", ""))[1])
                if str(evidence.get("version")) != data["version"]:
                    problems.append(f"{tag}: evidence does not name version {data['version']}")
                # the registration tag's commit adds the file; its parent lacks it
                batch += [f"{tag}^{{commit}}:{rel}", f"{tag}^{{commit}}^:{rel}"]
    if batch:
        lines = _git(root, "cat-file", "--batch-check",
                     input="\n".join(batch).encode() + b"\n").splitlines()
        for spec, line in zip(batch, lines):
            missing = line.endswith(" missing")
            if missing != spec.split(":")[0].endswith("^"):
                problems.append(f"registration tag not on the commit that adds the file: {spec}")
    return problems


# --- timing the commands -----------------------------------------------------------------

@dataclass
class Context:
    """What a sanity check knows about the registry under test."""

    built: Built
    model: str                      # the model `show` asks about
    gto_timeout: float = GTO_TIMEOUT  # a GTO command still running after this is stopped

    @property
    def key_file(self) -> str:
        """The registry's tag-signing key as an OpenSSH private key file (reconcile signs)."""
        from cryptography.hazmat.primitives import serialization

        path = self.built.root.parent / "tag-signing-key"
        if not path.is_file():
            path.write_bytes(TagKey().key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH,
                serialization.NoEncryption()))
            path.chmod(0o600)
        return str(path)

    @property
    def models(self) -> int:
        return self.built.models

    @property
    def versions(self) -> int:
        return self.built.versions


Check = Callable[[subprocess.CompletedProcess, Context], "str | None"]


def _json(proc: subprocess.CompletedProcess) -> Any:
    return json.loads(proc.stdout)


def _count(data: Any, key: str) -> int | None:
    """Length of ``data`` or of ``data[key]`` (a list or a mapping), whichever is there."""
    if isinstance(data, dict) and key in data:
        data = data[key]
    return len(data) if isinstance(data, (list, dict)) else None


def _exit_zero(proc: subprocess.CompletedProcess, ctx: Context) -> str | None:
    return None if proc.returncode == 0 else f"exit code {proc.returncode}"


def _exit_decided(proc: subprocess.CompletedProcess, ctx: Context) -> str | None:
    # 0 ok or 1 findings are both answers; 2-4 mean the command could not do its job
    return None if proc.returncode in (0, 1) else f"exit code {proc.returncode}"


def check_tags(proc: subprocess.CompletedProcess, ctx: Context) -> str | None:
    found = proc.stdout.count("\x1e")
    return None if found == ctx.built.tags else f"{found} tags listed, {ctx.built.tags} made"


def check_gto(proc: subprocess.CompletedProcess, ctx: Context) -> str | None:
    if proc.returncode != 0:
        return f"exit code {proc.returncode}"
    return None if proc.stdout.strip() else "printed nothing"


def check_ls(proc: subprocess.CompletedProcess, ctx: Context) -> str | None:
    found = _count(_json(proc), "models")
    return None if found == ctx.models else f"{found} models listed, {ctx.models} exist"


def check_show(proc: subprocess.CompletedProcess, ctx: Context) -> str | None:
    found = _count(_json(proc), "versions")
    return None if found == ctx.versions else f"{found} versions shown, {ctx.versions} exist"


def check_validate(proc: subprocess.CompletedProcess, ctx: Context) -> str | None:
    report = _json(proc)
    files = report.get("summary", {}).get("files")
    least = ctx.models * ctx.versions
    if proc.returncode != 0 or not report.get("ok"):
        first = (report.get("findings") or [{}])[0]
        return f"exit code {proc.returncode}, first finding: {first}"
    if not isinstance(files, int) or files < least:
        return f"validated {files} files, the registry has {least} version files"
    return None


def check_check(proc: subprocess.CompletedProcess, ctx: Context) -> str | None:
    """A full check of a clean synthetic registry passes: exit 0, every version checked."""
    report = _json(proc)
    if proc.returncode != 0 or not report.get("ok"):
        first = (report.get("findings") or [{}])[0]
        return f"exit code {proc.returncode}, first finding: {first}"
    documents = (report.get("check") or {}).get("documents")
    if documents != ctx.models * ctx.versions:
        return f"checked {documents} documents, the registry has {ctx.models * ctx.versions}"
    return None


def check_one_model(proc: subprocess.CompletedProcess, ctx: Context) -> str | None:
    """A pull request that touches one model checks that model alone, and it passes."""
    report = _json(proc)
    if proc.returncode != 0 or not report.get("ok"):
        first = (report.get("findings") or [{}])[0]
        return f"exit code {proc.returncode}, first finding: {first}"
    info = report.get("check") or {}
    if info.get("models") != [ctx.model] or info.get("documents") != ctx.versions:
        return (f"checked models {info.get('models')} ({info.get('documents')} documents), "
                f"expected [{ctx.model}] ({ctx.versions})")
    return None


def touch_one_model(ctx: Context) -> Callable[[], None]:
    """An uncommitted edit to one model's stages.yaml (a comment: same data), as a pull
    request's work tree has it; returns what undoes it."""
    path = ctx.built.root / "models" / ctx.model / "stages.yaml"
    before = path.read_bytes()
    path.write_bytes(before + b"# edited by tools/bench.py\n")
    return lambda: path.write_bytes(before)


def merge_one_version(ctx: Context) -> Callable[[], None]:
    """A merged registration pull request on main: one new version of one model (record,
    pointer, re-rendered card) in one commit; returns what undoes it and its tags."""
    import shutil

    from modelreg import open_registry
    from modelreg.store import cards
    from modelreg.store.registry import sort_versions

    root = ctx.built.root
    vdir = root / "models" / ctx.model / "versions"
    last = sort_versions(p.stem for p in vdir.glob("*.yaml"))[-1]
    new = f"{int(last.split('.')[0]) + 1}.0.0"
    text = (vdir / f"{last}.yaml").read_text()
    (vdir / f"{new}.yaml").write_text(
        re.sub(rf"^version: ['\"]?{re.escape(last)}['\"]?$", f'version: "{new}"', text, count=1,
               flags=re.M).replace(f"versions/{last}/", f"versions/{new}/"))
    shutil.copytree(vdir / last, vdir / new)
    cards.write(open_registry(root), ctx.model)
    git_env = {**os.environ, "GIT_AUTHOR_NAME": BOT[0], "GIT_AUTHOR_EMAIL": BOT[1],
               "GIT_COMMITTER_NAME": BOT[0], "GIT_COMMITTER_EMAIL": BOT[1]}
    subprocess.run(["git", "add", "-A", f"models/{ctx.model}"], cwd=root, check=True)
    subprocess.run(["git", "commit", "-q", "-m", f"Merge {ctx.model} {new}"], cwd=root,
                   check=True, env=git_env)

    def undo() -> None:
        subprocess.run(["git", "tag", "-d", f"{ctx.model}@v{new}"], cwd=root,
                       capture_output=True)
        subprocess.run(["git", "reset", "-q", "--hard", "HEAD~1"], cwd=root, check=True)
    return undo


def drop_cache(ctx: Context) -> None:
    """What a fresh clone has: no cache under .git/modelreg."""
    shutil.rmtree(ctx.built.root / ".git" / "modelreg", ignore_errors=True)


def check_reconciled_one(proc: subprocess.CompletedProcess, ctx: Context) -> str | None:
    report = _json(proc)
    created = [c.get("tag") for c in report.get("created") or []]
    if proc.returncode != 0 or len(created) != 1:
        return f"exit code {proc.returncode}, created {created}: {proc.stderr[-300:]}"
    return None


@dataclass(frozen=True)
class Timed:
    """One timed command. ``{model}`` and ``{last}`` in ``argv`` are filled in per registry."""

    argv: tuple[str, ...]
    check: Check
    target: float | None = None     # seconds on 1,000 x 10 (docs/performance.md)
    large_target: float | None = None   # seconds on 10,000 x 10
    program: str = "modelreg"       # modelreg, git or gto
    compare: str | None = None      # a gto row: the key of the modelreg command it matches
    label: str | None = None
    default: bool = True            # False: timed only when named in --only (too slow today)
    name: str | None = None         # what --only calls it (default: the subcommand)
    setup: Callable[[Context], Callable[[], None]] | None = None  # returns its undo
    before_each: Callable[[Context], None] | None = None   # run before every run, untimed

    @property
    def key(self) -> str:
        return self.name or self.argv[0]


_TAG_FORMAT = ("--format=%(refname)%00%(objecttype)%00%(*objectname)%00%(taggername)"
               "%00%(taggerdate:unix)%00%(contents)%1e")

# What a user runs. A command the installed CLI does not know yet is reported as n/a.
COMMANDS = [
    Timed(("for-each-ref", _TAG_FORMAT, "refs/tags"), check_tags, program="git",
          label="git for-each-ref (all tags, messages)", name="for-each-ref"),
    Timed(("ls", "--json"), check_ls, target=0.5, large_target=3.0),
    Timed(("show", "{model}", "--json"), check_show, target=0.2, large_target=0.3),
    Timed(("show", "{model}@{last}", "--json"), _exit_zero, name="show-version"),
    Timed(("validate", "--json"), check_validate, target=3.0),
    Timed(("history", "{model}", "--json"), _exit_zero, target=0.2, large_target=0.3),
    Timed(("show", "{model}", "--at", "2026-01-15", "--json"), _exit_zero, target=0.2,
          name="show-at"),
    Timed(("check", "--changed-since", "HEAD~1", "--json"), _exit_decided),  # a PR's check
    # a pull request that touches one model: costs what it touches, whatever the registry
    Timed(("check", "--changed-since", "HEAD", "--engine", "regorus", "--json"),
          check_one_model, target=0.5, large_target=0.7, name="check-one",
          setup=touch_one_model),
    # every version of the registry, on each embedded engine
    Timed(("check", "--engine", "regorus", "--json"), check_check, target=8.0,
          name="check-all"),
    # the same with no cache (a new clone, or after `rm -rf .git/modelreg`)
    Timed(("check", "--engine", "regorus", "--json"), check_check, name="check-all-cold",
          label="modelreg check --engine regorus --json (no cache)", before_each=drop_cache),
    Timed(("validate", "--json"), check_validate, name="validate-cold",
          label="modelreg validate --json (no cache)", before_each=drop_cache),
    Timed(("check", "--engine", "opa-lib", "--json"), check_check,
          name="check-all-opa-lib", default=False),
    Timed(("gate", "{model}", "--stage", "production"), _exit_zero, target=0.35,
          large_target=0.5),
    # what falls due across the registry (reviews, waivers, findings, monitoring)
    Timed(("due", "--json"), _exit_decided, name="due", default=False),
    # the model inventory: one row per model, from the tags, records and findings
    Timed(("inventory", "--json"), _exit_zero, name="inventory", default=False),
    # after one merge on main: tag it, whatever the registry's size
    Timed(("reconcile", "--engine", "regorus", "--json", "--signing-key", "{key}"),
          check_reconciled_one, target=2.0, label="modelreg reconcile --engine regorus --json",
          setup=merge_one_version),
    # GTO on the same registry (its overview, one model, one model's history)
    Timed(("show",), check_gto, program="gto", label="gto show", name="gto-show",
          compare="ls"),
    Timed(("show", "{model}"), check_gto, program="gto", label="gto show {model}",
          name="gto-show-model", compare="show"),
    Timed(("history", "{model}"), check_gto, program="gto", label="gto history {model}",
          name="gto-history", compare="history"),
]


def modelreg_program() -> list[str]:
    """The installed console script next to this interpreter, else ``python -m modelreg``."""
    script = Path(sys.executable).parent / ("modelreg.exe" if os.name == "nt" else "modelreg")
    return [str(script)] if script.is_file() else [sys.executable, "-m", "modelreg"]


# Compiles the package the console script imports (same interpreter, same environment).
_COMPILE = ("import compileall, os, modelreg\n"
            "compileall.compile_dir(os.path.dirname(modelreg.__file__), quiet=1)\n")


def compile_modelreg() -> None:
    """Compile the modelreg the timed runs import, as pip does at install: with
    PYTHONDONTWRITEBYTECODE set, every timed run would otherwise compile its modules again."""
    subprocess.run([sys.executable, "-P", "-c", _COMPILE], env=_git_env(), check=True)


GTO_ENV = ROOT / ".bench" / f"gto-{GTO_VERSION}"


def gto_program() -> list[str] | str:
    """``gto`` from an environment of its own (made on first use: GTO's dependencies are
    not modelreg's), or why it cannot be had."""
    script = GTO_ENV / "bin" / "gto"
    if not script.is_file():
        _log(f"installing gto=={GTO_VERSION} into {GTO_ENV} ...")
        made = subprocess.run([sys.executable, "-m", "venv", str(GTO_ENV)],
                              capture_output=True, text=True)
        if made.returncode == 0:
            made = subprocess.run([str(GTO_ENV / "bin" / "python"), "-m", "pip", "install",
                                   "-q", f"gto=={GTO_VERSION}"], capture_output=True, text=True)
        if made.returncode != 0 or not script.is_file():
            return f"could not install gto=={GTO_VERSION}: {made.stderr.strip()[-200:]}"
    return [str(script)]


@dataclass
class Result:
    command: str
    status: str                     # "ok", "n/a", "timeout" or "failed"
    target: float | None
    runs: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)
    problem: str | None = None
    peak_mib: float | None = None   # the largest process of the command's tree, in MiB
    key: str = ""
    program: str = "modelreg"
    compare: str | None = None

    @property
    def median(self) -> float | None:
        return statistics.median(self.runs) if self.runs else None

    @property
    def best(self) -> float | None:
        return min(self.runs) if self.runs else None

    @property
    def over_target(self) -> bool:
        return self.target is not None and self.median is not None and self.median > self.target


# Runs a command and reports the peak resident set of the largest process of its tree
# (itself, git, DVC, a parallel check's workers): what `getrusage(RUSAGE_CHILDREN)` keeps.
_PEAK = ("import resource, subprocess, sys\n"
         "code = subprocess.run(sys.argv[2:], stdout=subprocess.DEVNULL,"
         " stderr=subprocess.DEVNULL).returncode\n"
         "open(sys.argv[1], 'w').write(str(resource.getrusage(resource.RUSAGE_CHILDREN)"
         ".ru_maxrss))\n"
         "sys.exit(code)\n")


def _run(argv: list[str], cwd: Path, timeout: float | None = None
         ) -> tuple[subprocess.CompletedProcess | None, float, float]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    try:
        proc = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=timeout,
                              env={**_git_env(), "DVC_NO_ANALYTICS": "1"})
    except subprocess.TimeoutExpired:
        proc = None
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return proc, wall, cpu


def peak_mib(argv: list[str], cwd: Path) -> float | None:
    with tempfile.NamedTemporaryFile("r", suffix=".rss") as out:
        proc = subprocess.run([sys.executable, "-c", _PEAK, out.name, *argv], cwd=cwd,
                              env={**_git_env(), "DVC_NO_ANALYTICS": "1"})
        text = Path(out.name).read_text().strip()
    return int(text) / 1024 if proc.returncode in (0, 1) and text else None


SLOW = 60.0   # past this, a command is timed once: warm after its warm-up run, or that run if each starts cold


def measure(timed: Timed, ctx: Context, repeat: int) -> Result:
    """One warm-up run, checked for sanity, then ``repeat`` timed runs (the warm-up alone
    when it took over ``SLOW`` seconds, as GTO's benchmark did for its 5-minute runs), then
    one run for peak memory."""
    args = [a.format(model=ctx.model, last=version_name(ctx.versions - 1), key=ctx.key_file)
            for a in timed.argv]
    label = (timed.label or " ".join([timed.program, *timed.argv])).format(
        model=ctx.model, last=version_name(ctx.versions - 1))
    target = timed.large_target if ctx.models >= LARGE_SCENARIO[0] else timed.target
    result = Result(label, "ok", target, key=timed.key, program=timed.program,
                    compare=timed.compare)
    if timed.program == "git":
        program: list[str] | str = ["git"]
    elif timed.program == "gto":
        program = gto_program()
    else:
        program = modelreg_program()
    if isinstance(program, str):
        result.status, result.problem = "n/a", program
        return result
    undo = timed.setup(ctx) if timed.setup else None
    try:
        return _measure(timed, ctx, repeat, program + args, result)
    finally:
        if undo is not None:
            undo()


def _measure(timed: Timed, ctx: Context, repeat: int, argv: list[str],
             result: Result) -> Result:
    timeout = ctx.gto_timeout if timed.program == "gto" else None
    if timed.before_each:
        timed.before_each(ctx)
    proc, wall, cpu = _run(argv, ctx.built.root, timeout)
    if proc is None:
        result.status, result.runs = "timeout", [wall]
        result.problem = f"still running after {wall:.0f} s"
        return result
    if timed.program == "modelreg" and proc.returncode == 2 and "No such command" in proc.stderr:
        result.status = "n/a"
        return result
    try:
        result.problem = timed.check(proc, ctx)
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        result.problem = f"unreadable output ({exc.__class__.__name__}: {exc})"
    if result.problem:
        result.status = "failed"
        tail = proc.stderr.strip().splitlines()[-3:]
        if tail:
            result.problem += " | stderr: " + " / ".join(tail)
        return result
    if wall > SLOW:
        # one timed run is enough; a command timed warm gets it after this warm-up run
        # (its first run on a new registry fills the caches the warm figure is about)
        if timed.program == "modelreg" and timed.before_each is None:
            _, wall, cpu = _run(argv, ctx.built.root)
        result.runs.append(wall)
        result.cpu.append(cpu)
        return result
    for _ in range(repeat):
        if timed.before_each:
            timed.before_each(ctx)
        _, wall, cpu = _run(argv, ctx.built.root)
        result.runs.append(wall)
        result.cpu.append(cpu)
    if timed.program == "modelreg":
        if timed.before_each:
            timed.before_each(ctx)
        result.peak_mib = peak_mib(argv, ctx.built.root)
    return result


# --- reporting ---------------------------------------------------------------------------

# A full check of the registry in the current folder, in one process, under cProfile.
_PROFILED_CHECK = ("import cProfile, sys\n"
                   "from modelreg import open_registry\n"
                   "from modelreg.app.check import check\n"
                   "registry = open_registry('.')\n"
                   "profile = cProfile.Profile()\n"
                   "result = profile.runcall(check, registry, engine='regorus', parallel=False)\n"
                   "profile.dump_stats(sys.argv[1])\n"
                   "sys.exit(0 if result.ok() else 1)\n")

# The entry points through which a check uses the registry-wide index (ID-07, DATA-06).
INDEX_CALLS = ("__init__", "judging", "facts")


def index_share(ctx: Context, full_check: Result | None) -> Result:
    """What the registry-wide index adds to a warm full check: the check run once under
    cProfile, the time spent inside store/index.py's entry points as a share of the run,
    applied to the full check's median (profiling slows every Python call alike)."""
    label = "registry-wide index within the full check (profiled share × its median)"
    result = Result(label, "failed", None, key="index-share")
    if full_check is None or full_check.median is None:
        result.status, result.problem = "n/a", "the full check was not timed"
        return result
    with tempfile.TemporaryDirectory() as tmp:
        profile = Path(tmp) / "check.prof"
        # in one process (the command spreads a full check over worker processes, which a
        # profile of the command would not see)
        argv = [sys.executable, "-c", _PROFILED_CHECK, str(profile)]
        proc, _, _ = _run(argv, ctx.built.root)
        if proc is None or proc.returncode != 0 or not profile.is_file():
            result.problem = "the profiled check did not pass"
            return result
        stats = pstats.Stats(str(profile))
        inside = sum(row[3] for (file, _, func), row in stats.stats.items()  # type: ignore[attr-defined]
                     if file.endswith(os.path.join("store", "index.py"))
                     and func in INDEX_CALLS)
        share = inside / stats.total_tt  # type: ignore[attr-defined]
    result.status, result.runs = "ok", [share * full_check.median]
    result.command = f"registry-wide index within the full check: {share:.1%} (profiled)"
    return result


def scenario_label(models: int, versions: int) -> str:
    return f"{models:,}×{versions:,}"


def _seconds(value: float | None) -> str:
    if value is None:
        return "–"
    return f"{value:.3f}" if value < 1 else f"{value:.2f}"


def _ratio(value: float | None, base: float | None) -> str:
    if value is None or not base:
        return "–"
    return f"{value / base:.1f}×" if value / base < 100 else f"{value / base:,.0f}×"


def markdown(scenarios: list[tuple[Built, list[Result]]]) -> str:
    """One table: each command's median and minimum, its peak memory, its ratio to git's
    own listing of every tag in the same run, and — for the commands GTO has too — how many
    times longer GTO took on the same registry."""
    lines = ["| scenario | command | median s | min s | peak MiB | × git listing | "
             "GTO × | target s |",
             "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for built, results in scenarios:
        scenario = f"{scenario_label(built.models, built.versions)} ({built.tags:,} tags)"
        floor = next((r.median for r in results if r.program == "git"), None)
        gto = {r.compare: r for r in results if r.program == "gto"}
        for r in results:
            if r.status == "ok":
                median, best = _seconds(r.median), _seconds(r.best)
            elif r.status == "timeout":
                median, best = f"> {_seconds(r.runs[0])}", "–"
            else:
                median = best = r.status
            peak = f"{r.peak_mib:.0f}" if r.peak_mib is not None else "–"
            vs_git = _ratio(r.median, floor) if r.program != "git" and r.status == "ok" else "–"
            other = gto.get(r.key) if r.program == "modelreg" else None
            if other is not None and other.runs and r.median:
                vs_gto = ("> " if other.status == "timeout" else "") + \
                    _ratio(other.runs[0] if other.status == "timeout" else other.median,
                           r.median)
            else:
                vs_gto = "–"
            target = _seconds(r.target) if r.target is not None else "–"
            lines.append(f"| {scenario} | `{r.command}` | {median} | {best} | {peak} | "
                         f"{vs_git} | {vs_gto} | {target} |")
    return "\n".join(lines) + "\n"


def to_json(scenarios: list[tuple[Built, list[Result]]], repeat: int) -> dict[str, Any]:
    git_version = _git(ROOT, "--version").strip()
    return {
        "bench_version": 2,
        "machine": {"python": sys.version.split()[0], "git": git_version,
                    "cpus": os.cpu_count(), "platform": sys.platform},
        "repeat": repeat,
        "gto": GTO_VERSION,
        "scenarios": [{
            "models": b.models, "versions": b.versions, "generate_s": round(b.seconds, 3),
            "commits": b.commits, "per_commit": b.per_commit, "tags": b.tags,
            "git_bytes": b.git_bytes,
            "results": [{
                "command": r.command, "program": r.program, "status": r.status,
                "target_s": r.target, "median_s": r.median, "min_s": r.best,
                "runs_s": r.runs, "cpu_s": r.cpu, "peak_mib": r.peak_mib,
                "problem": r.problem,
            } for r in results],
        } for b, results in scenarios],
    }


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def run_scenario(dest: Path, models: int, versions: int, repeat: int,
                 per_commit: int = PER_COMMIT, commands: list[Timed] = COMMANDS,
                 gto_timeout: float = GTO_TIMEOUT) -> tuple[Built, list[Result]]:
    label = scenario_label(models, versions)
    _log(f"[{label}] generating in {dest} ...")
    built = generate(dest, models, versions, per_commit)
    _log(f"[{label}] generated in {built.seconds:.1f} s: {built.commits:,} commits, "
         f"{built.tags:,} tags, .git {built.git_bytes / 1e6:.1f} MB")
    problems = verify(built.root, models, versions, sample=3)
    for problem in problems:
        _log(f"[{label}] GENERATOR PROBLEM: {problem}")
    ctx = Context(built, model_name(models // 2, models), gto_timeout)
    pull_weights(built.root, ctx.model, versions)
    results = []
    for timed in commands:
        result = measure(timed, ctx, repeat)
        if result.status == "ok":
            note = " OVER TARGET" if result.over_target else ""
            _log(f"[{label}] {result.command}: median {_seconds(result.median)} s, "
                 f"min {_seconds(result.best)} s, n={len(result.runs)}{note}")
        elif result.status == "failed":
            _log(f"[{label}] {result.command}: FAILED: {result.problem}")
        elif result.status == "timeout":
            _log(f"[{label}] {result.command}: {result.problem}")
        else:
            _log(f"[{label}] {result.command}: n/a ({result.problem or 'not in the CLI'})")
        results.append(result)
        if timed.key == "check-all" and result.status == "ok":
            share = index_share(ctx, result)
            _log(f"[{label}] {share.command}: {_seconds(share.median)} s")
            results.append(share)
    if problems:
        results.append(Result("generator self-check", "failed", None, problem=problems[0]))
    return built, results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="bench.py", description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", type=int, help="models (default: 100 and 1000)")
    parser.add_argument("--versions", type=int, help="versions per model (default: 10)")
    parser.add_argument("--out", type=Path,
                        help="build the registries here (one M x V folder each; kept)")
    parser.add_argument("--repeat", type=int, default=3, help="timed runs per command")
    parser.add_argument("--json", type=Path, help="also write the results as JSON here")
    parser.add_argument("--keep", action="store_true", help="keep the temporary registries")
    parser.add_argument("--only", metavar="CMD[,CMD…]",
                        help="time only these commands, e.g. ls,show,validate,for-each-ref")
    parser.add_argument("--per-commit", type=int, default=PER_COMMIT,
                        help="registrations per merged pull request (default 1, as teams work; more: fewer commits, faster to build)")
    parser.add_argument("--large", action="store_true",
                        default=os.environ.get("BENCH_LARGE", "") not in ("", "0"),
                        help="also 10,000 x 10 (default when BENCH_LARGE=1); GTO is not "
                             "run there")
    parser.add_argument("--no-gto", action="store_true", help="leave GTO out")
    parser.add_argument("--gto-timeout", type=float, default=GTO_TIMEOUT, metavar="SECONDS",
                        help=f"stop a GTO command after this long and report it as more "
                             f"than that (default {GTO_TIMEOUT:.0f})")
    args = parser.parse_args(argv)
    if (args.models is not None and args.models < 1) or \
            (args.versions is not None and args.versions < 1) or args.repeat < 1 \
            or args.per_commit < 1 or args.gto_timeout <= 0:
        parser.error("--models, --versions, --repeat and --per-commit must be at least 1, "
                     "--gto-timeout more than 0")
    if args.models is None and args.versions is None:
        scenarios = DEFAULT_SCENARIOS + ([LARGE_SCENARIO] if args.large else [])
    else:
        scenarios = [(args.models or 1000, args.versions or 10)]
    commands = [c for c in COMMANDS if c.default and not (args.no_gto and c.program == "gto")]
    if args.only:
        wanted = set(args.only.split(","))
        commands = [c for c in COMMANDS if c.key in wanted]
        unknown = wanted - {c.key for c in COMMANDS}
        if unknown:
            parser.error(f"--only: no timed command {', '.join(sorted(unknown))}")

    compile_modelreg()
    base = args.out or Path(tempfile.mkdtemp(prefix="modelreg-bench-"))
    done: list[tuple[Built, list[Result]]] = []
    try:
        for models, versions in scenarios:
            dest = base / f"{models}x{versions}"
            if dest.exists() and any(dest.iterdir()):
                parser.error(f"{dest} is not empty; choose another --out")
            # GTO takes minutes per command at 1,000 x 10; 10 times the registry is hours
            here = [c for c in commands if c.program != "gto" or models < LARGE_SCENARIO[0]]
            done.append(run_scenario(dest, models, versions, args.repeat, args.per_commit,
                                     here, args.gto_timeout))
    finally:
        if args.out is None and not args.keep:
            shutil.rmtree(base, ignore_errors=True)
        else:
            _log(f"registries kept in {base}")

    sys.stdout.write(markdown(done))
    if args.json:
        args.json.write_text(json.dumps(to_json(done, args.repeat), indent=2) + "\n")
    failed = [r for _, results in done for r in results if r.status == "failed"]
    for _, results in done:
        for r in results:
            if r.over_target:
                _log(f"OVER TARGET: {r.command} took {_seconds(r.median)} s "
                     f"(target {_seconds(r.target)} s)")
    for r in failed:
        _log(f"FAILED: {r.command}: {r.problem}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
