"""Weights on S3-compatible storage (moto's S3 server on 127.0.0.1), the whole way: `register`
pushes them, a fresh clone pulls them and `gate --artifact` lets them go; a corrupted object
is refused by the pull and by the gate; an endpoint that does not answer stops `register`
(exit 3) with the repository as it was."""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

from conftest import S3, dvc, git, s3, safetensors_bytes  # noqa: F401  (the fixture)
from modelreg.core.yamlio import load
from test_missing_weights import POINTER, WEIGHTS, _staged, _use_s3
from test_signoff import World, world  # noqa: F401  (the fixture)


def _deploy_clone(w: World, name: str, endpoint: str) -> Path:
    """A deploy job's checkout: a fresh clone with the registry's tags and no DVC cache."""
    clone = w.clone(name)
    _use_s3(clone, endpoint)
    git(clone, "fetch", "-q", "--force", "origin", "+refs/tags/*:refs/tags/*")
    return clone


def _state(clone: Path) -> dict:
    """Everything a failed command must leave as it was."""
    return {"head": git(clone, "rev-parse", "HEAD"),
            "branch": git(clone, "symbolic-ref", "--short", "HEAD"),
            "branches": git(clone, "for-each-ref", "refs/heads"),
            "status": git(clone, "status", "--porcelain", "--untracked-files=all"),
            "stash": git(clone, "stash", "list"),
            "cache": sorted(p.relative_to(clone).as_posix()
                            for p in (clone / ".dvc/cache").rglob("*") if p.is_file())}


def test_register_push_fresh_pull_and_gate_on_s3(world: World, s3: S3):  # noqa: F811
    w = world
    for clone in (w.ds, w.ci):
        _use_s3(clone, s3.endpoint)
    md5 = _staged(w)
    listed = s3.client.list_objects_v2(Bucket="weights", Prefix="dvc/")
    assert f"dvc/files/md5/{md5[:2]}/{md5[2:]}" in [o["Key"] for o in listed["Contents"]]
    assert not (w.base / "dvc-remote").exists()        # nothing went to the local remote

    deploy = _deploy_clone(w, "deploy", s3.endpoint)
    res = w.cli(deploy, "gate", "iris-classifier", "--stage", "staging", "--json")
    assert res.code == 0, res.out + res.err
    assert [a["path"] for a in json.loads(res.out)["artifacts"]] == [WEIGHTS]
    proc = dvc(deploy, "pull", "-q", POINTER)
    assert proc.returncode == 0, proc.stderr
    record = load(deploy / "models/iris-classifier/versions/1.0.0.yaml").data
    digest = hashlib.sha256((deploy / WEIGHTS).read_bytes()).hexdigest()
    assert digest == record["artifacts"][0]["sha256"]
    res = w.cli(deploy, "gate", "iris-classifier", "--stage", "staging", "--artifact", WEIGHTS)
    assert res.code == 0, res.out + res.err


def test_a_corrupted_object_on_s3_is_refused_by_the_pull_and_the_gate(world: World, s3: S3):  # noqa: F811
    w = world
    for clone in (w.ds, w.ci):
        _use_s3(clone, s3.endpoint)
    md5 = _staged(w)
    key = f"dvc/files/md5/{md5[:2]}/{md5[2:]}"
    good = s3.client.get_object(Bucket="weights", Key=key)["Body"].read()
    # someone with write access to the bucket swaps the object for other weights
    forged = safetensors_bytes("iris-classifier 1.0.0", b"\x07" * len(good))
    s3.client.put_object(Bucket="weights", Key=key, Body=forged)

    deploy = _deploy_clone(w, "deploy", s3.endpoint)
    proc = dvc(deploy, "pull", "-q", POINTER)           # verify = true: DVC re-hashes it
    assert proc.returncode != 0
    assert not (deploy / WEIGHTS).exists()
    # the file fetched some other way (a copy of the bucket, by hand) meets the gate
    (deploy / WEIGHTS).parent.mkdir(parents=True, exist_ok=True)
    (deploy / WEIGHTS).write_bytes(forged)
    res = w.cli(deploy, "gate", "iris-classifier", "--stage", "staging", "--artifact", WEIGHTS)
    assert res.code == 1, res.out + res.err
    assert "sha256" in res.out and WEIGHTS in res.out

    # the honest repair: the data scientist's clone still holds the good copy; the corrupted
    # object is removed and pushed again, and the next deploy pulls and passes
    s3.client.delete_object(Bucket="weights", Key=key)
    assert dvc(w.ds, "push", "-q").returncode == 0
    assert s3.client.get_object(Bucket="weights", Key=key)["Body"].read() == good
    again = _deploy_clone(w, "deploy-again", s3.endpoint)
    assert dvc(again, "pull", "-q", POINTER).returncode == 0
    res = w.cli(again, "gate", "iris-classifier", "--stage", "staging", "--artifact", WEIGHTS)
    assert res.code == 0, res.out + res.err


def test_register_with_an_unreachable_endpoint_stops_and_changes_nothing(world: World, s3: S3):  # noqa: F811
    w = world
    w.start_branch()
    _use_s3(w.ds, s3.endpoint)
    s3.server.stop()                                    # the endpoint no longer answers
    weights = w.base / "train" / "model.safetensors"
    weights.parent.mkdir()
    weights.write_bytes(safetensors_bytes("1.0.0", b"\x05" * 64))
    metrics = weights.parent / "metrics.json"
    metrics.write_text(json.dumps([
        {"name": "accuracy", "value": 0.96, "dataset": "iris-test", "split": "test"},
        {"name": "f1_macro", "value": 0.95, "dataset": "iris-test", "split": "test"}]))
    before = _state(w.ds)
    res = w.cli(w.ds, "register", "iris-classifier", "--version", "1.0.0", "--weights",
                str(weights), "--metrics", str(metrics), "--dataset", "train:iris-train@2026.11",
                "--dataset", "test:iris-test@2026.11")
    assert res.code == 3, res.out + res.err
    assert "hint:" in res.err and "storage" in res.err.lower() or "remote" in res.err.lower()
    assert _state(w.ds) == before
    assert not (w.ds / "models/iris-classifier/versions/1.0.0.yaml").exists()
    assert weights.read_bytes() == safetensors_bytes("1.0.0", b"\x05" * 64)   # theirs, intact
