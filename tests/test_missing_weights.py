"""Registered weights that are gone: `modelreg verify` reports weights that no copy holds
any more (VER-05) and weights the DVC remote lost while a good copy is here (VER-06), on a
local remote and, with `--remote`, on an S3-compatible one (moto's server on 127.0.0.1).

The scenario is DVC's own: `dvc pull` with `verify = true` refuses a corrupted object and
deletes it from a writable local remote, after which the object is simply missing."""
from __future__ import annotations

import json
import os
from pathlib import Path

import jsonschema
import pytest

from conftest import PROJECT, S3, dvc, git, s3  # noqa: F401  (the fixture)
from modelreg.core.yamlio import load
from test_signoff import World, world  # noqa: F401  (the fixture)

REPORT_SCHEMA = json.loads((PROJECT / "schemas/report.schema.json").read_text())
WEIGHTS = "models/iris-classifier/versions/1.0.0/model.safetensors"
POINTER = WEIGHTS + ".dvc"


def _staged(w: World) -> str:
    """iris-classifier 1.0.0 registered and in staging; the CI clone up to date. Its md5."""
    branch, head = w.register("1.0.0", b"weights-1.0.0" * 20)
    w.merge(branch)
    w.reconcile(w.reviews(("grace-ds", head)))
    branch, head = w.promote("promote", "iris-classifier@1.0.0", "--stage", "staging")
    w.merge(branch)
    w.reconcile(w.reviews(("carol-risk", head)))
    git(w.ci, "pull", "-q", "--ff-only", "origin", "main")
    return load(w.ci / "models/iris-classifier/versions/1.0.0.yaml").data["artifacts"][0]["md5"]


def _findings(w: World, cwd: Path, *args: str) -> tuple[int, list[dict], dict]:
    res = w.cli(cwd, "verify", "--json", *args)
    assert res.code in (0, 1), res.out + res.err
    report = json.loads(res.out)
    jsonschema.validate(report, REPORT_SCHEMA)
    return res.code, report["findings"], report


def _up_to_date(w: World, clone: Path) -> None:
    git(clone, "checkout", "-q", "main")
    git(clone, "pull", "-q", "--ff-only", "origin", "main")
    git(clone, "fetch", "-q", "--force", "origin", "+refs/tags/*:refs/tags/*")


# --- a local remote ---------------------------------------------------------------------------
def test_weights_a_refused_pull_deleted_from_the_local_remote_are_reported_and_gated(
        world: World):  # noqa: F811
    w = world
    md5 = _staged(w)
    assert w.cli(w.ci, "verify").code == 0                 # honest: everything is stored
    assert w.cli(w.ci, "gate", "iris-classifier", "--stage", "staging").code == 0

    # the remote's object is corrupted (bit rot, a bad copy, a hand on the share) and left
    # writable; the next `dvc pull` (verify = true) refuses it and deletes it
    obj = w.base / "dvc-remote" / "files" / "md5" / md5[:2] / md5[2:]
    os.chmod(obj, 0o644)
    obj.write_bytes(obj.read_bytes()[:-1] + b"X")
    fresh = w.clone("fresh")
    assert dvc(fresh, "pull", "-q").returncode != 0
    assert not obj.exists(), "DVC no longer deletes a refused object: revisit this test"
    assert not (fresh / WEIGHTS).exists()

    # the CI clone has no copy: nowhere is there a good one
    code, found, _ = _findings(w, w.ci)
    assert code == 1
    lost = [f for f in found if f["rule"] == "VER-05"]
    assert len(lost) == 1, found
    assert lost[0]["file"] == "models/iris-classifier/versions/1.0.0.yaml"
    assert (lost[0]["model"], lost[0]["version"]) == ("iris-classifier", "1.0.0")
    assert WEIGHTS in lost[0]["message"] and md5 in lost[0]["message"]
    assert f"dvc push {POINTER}" in lost[0]["message"]
    assert "register the weights again" in lost[0]["message"]
    res = w.cli(w.ci, "verify")
    assert res.code == 1 and "[VER-05]" in res.out
    # ... and the gate refuses it: the deploy job's `dvc pull` could only fail
    res = w.cli(w.ci, "gate", "iris-classifier", "--stage", "staging")
    assert res.code == 1 and "[VER-05]" in res.out, res.out

    # the data scientist's clone still has a good copy (cache and work tree): the remote
    # lost it, `dvc push` restores it; the weights here are good, so the gate lets them go
    _up_to_date(w, w.ds)
    code, found, _ = _findings(w, w.ds)
    assert code == 1 and [f["rule"] for f in found] == ["VER-06"], found
    assert f"run `dvc push {POINTER}`" in found[0]["message"]
    assert "nobody else can pull it" in found[0]["message"]
    assert w.cli(w.ds, "gate", "iris-classifier", "--stage", "staging").code == 0

    # the honest repair: push again from the clone that has it; everyone is clean again
    proc = dvc(w.ds, "push", "-q")
    assert proc.returncode == 0, proc.stderr
    assert _findings(w, w.ds)[:2] == (0, [])
    assert _findings(w, w.ci)[:2] == (0, [])
    assert dvc(w.clone("after"), "pull", "-q").returncode == 0


def test_a_corrupted_remote_copy_with_a_good_one_here_says_to_remove_it_before_pushing(
        world: World):  # noqa: F811
    w = world
    md5 = _staged(w)
    obj = w.base / "dvc-remote" / "files" / "md5" / md5[:2] / md5[2:]
    os.chmod(obj, 0o644)
    obj.write_bytes(obj.read_bytes()[:-1] + b"X")
    obj.chmod(0o444)                         # read-only, as DVC writes it: a pull leaves it
    code, found, _ = _findings(w, w.ci)
    assert code == 1 and {f["rule"] for f in found} == {"VER-03", "VER-05"}, found
    _up_to_date(w, w.ds)
    code, found, _ = _findings(w, w.ds)
    assert {f["rule"] for f in found} == {"VER-03", "VER-06"}, found
    hint = next(f["message"] for f in found if f["rule"] == "VER-06")
    assert "remove the corrupted object from the remote" in hint  # `dvc push` skips it else


def test_a_local_remote_that_is_not_there_cannot_be_checked(world: World):  # noqa: F811
    w = world
    _staged(w)
    (w.base / "dvc-remote").rename(w.base / "elsewhere")
    res = w.cli(w.ci, "verify")
    assert res.code == 3, res.out + res.err
    assert "does not exist" in res.err and "hint:" in res.err
    res = w.cli(w.ci, "gate", "iris-classifier", "--stage", "staging")
    assert res.code == 1 and "could not run" in res.out
    assert w.cli(w.ci, "verify", "--no-weights").code == 0     # records and tags still


def test_versions_not_yet_registered_are_not_asked_of_the_remote(world: World):  # noqa: F811
    """A pull request's version has no registration tag yet: its check pulls the weights.
    Registered ones are: a version registered then its weights lost is a finding."""
    w = world
    branch, _ = w.register("1.0.0", b"weights-1.0.0" * 20)
    git(w.ci, "fetch", "-q", "origin", f"{branch}:{branch}")
    git(w.ci, "checkout", "-q", branch)
    md5 = load(w.ci / "models/iris-classifier/versions/1.0.0.yaml").data["artifacts"][0]["md5"]
    (w.base / "dvc-remote" / "files" / "md5" / md5[:2] / md5[2:]).unlink()
    assert _findings(w, w.ci)[:2] == (0, [])


# --- an S3-compatible remote, asked with --remote -----------------------------------------------
def _use_s3(clone: Path, endpoint: str) -> None:
    # config.local: this clone's own setting, as a team moving its remote to S3 would commit
    (clone / ".dvc" / "config.local").write_text(
        "[core]\n    remote = store\n['remote \"store\"']\n    url = s3://weights/dvc\n"
        f"    endpointurl = {endpoint}\n    verify = true\n")


def test_verify_remote_asks_an_s3_remote_and_reports_a_deleted_object(world: World, s3: S3):  # noqa: F811
    w = world
    endpoint, client, server = s3.endpoint, s3.client, s3.server
    for clone in (w.ds, w.ci):
        _use_s3(clone, endpoint)
    md5 = _staged(w)
    key = f"dvc/files/md5/{md5[:2]}/{md5[2:]}"
    assert client.head_object(Bucket="weights", Key=key)["ContentLength"] > 0
    assert not (w.base / "dvc-remote").exists()        # nothing went to the local one

    # honest: offline by default, and it says that the remote was not contacted
    code, found, report = _findings(w, w.ci)
    assert (code, found) == (0, [])
    assert any("was not contacted" in n and "--remote" in n for n in report["notes"])
    res = w.cli(w.ci, "verify")
    assert res.code == 0 and "note: the DVC remote 'store' (s3://weights/dvc) was not " \
        "contacted" in res.err
    code, found, report = _findings(w, w.ci, "--remote")
    assert (code, found) == (0, []), found
    assert any("was asked whether it holds the 1 registered" in n for n in report["notes"])

    client.delete_object(Bucket="weights", Key=key)
    assert _findings(w, w.ci)[:2] == (0, [])           # offline: it cannot know (and says so)
    code, found, _ = _findings(w, w.ci, "--remote")
    assert code == 1 and [f["rule"] for f in found] == ["VER-05"], found
    assert WEIGHTS in found[0]["message"] and "'store'" in found[0]["message"]
    _up_to_date(w, w.ds)
    code, found, _ = _findings(w, w.ds, "--remote")
    assert code == 1 and [f["rule"] for f in found] == ["VER-06"], found
    fresh = w.clone("fresh")
    _use_s3(fresh, endpoint)
    assert dvc(fresh, "pull", "-q").returncode != 0    # what a deploy job would meet

    # the repair, then a remote that cannot be reached: exit 3, never a pass
    assert dvc(w.ds, "push", "-q").returncode == 0
    assert _findings(w, w.ci, "--remote")[:2] == (0, [])
    server.stop()
    res = w.cli(w.ci, "verify", "--remote")
    assert res.code == 3, res.out + res.err
    assert "could not ask the DVC remote 'store'" in res.err and "hint:" in res.err
    assert w.cli(w.ci, "verify").code == 0             # offline verify does not need it


def test_remote_and_no_weights_together_are_a_usage_error(repo, run_cli):
    res = run_cli(repo.root, "verify", "--remote", "--no-weights")
    assert res.code == 2 and "--no-weights" in res.err


def test_verify_remote_without_a_remote_cannot_run_and_plain_verify_says_what_it_saw(
        repo, run_cli):
    (repo.root / ".dvc" / "config").write_text("[core]\n    autostage = false\n")
    res = run_cli(repo.root, "verify", "--remote")
    assert res.code == 3 and "no default remote" in res.err and "dvc remote add" in res.err
    res = run_cli(repo.root, "verify")
    assert res.code == 0 and "note: no default DVC remote is configured" in res.err


# --- where the objects are, read from .dvc/config without DVC -------------------------------
@pytest.mark.parametrize("config,local,expect", [
    ("[core]\n    remote = a\n['remote \"a\"']\n    url = ../../store\n", "",
     ("a", "../../store", ".dvc/../../store")),
    ("[core]\n    remote = a\n['remote \"a\"']\n    url = file:///srv/dvc\n", "",
     ("a", "file:///srv/dvc", "/srv/dvc")),
    ("[core]\n    remote = a\n['remote \"a\"']\n    url = s3://bucket/path\n", "",
     ("a", "s3://bucket/path", None)),
    # config.local wins, as in DVC: a clone pointed at its own remote
    ("[core]\n    remote = a\n['remote \"a\"']\n    url = /srv/dvc\n",
     "[core]\n    remote = b\n['remote \"b\"']\n    url = gs://bucket\n", ("b", "gs://bucket", None)),
    ("[core]\n    autostage = true\n", "", (None, None, None)),
])
def test_storage_reads_the_default_remote_as_dvc_does(tmp_path, config, local, expect):
    from modelreg.store.dvc import storage

    (tmp_path / ".dvc").mkdir()
    (tmp_path / ".dvc" / "config").write_text(config)
    if local:
        (tmp_path / ".dvc" / "config.local").write_text(local)
    got = storage(tmp_path)
    name, url, folder = expect
    assert (got.remote, got.url) == (name, url)
    if folder is None:
        assert got.folder is None
    else:
        assert got.folder == (Path(folder) if folder.startswith("/") else tmp_path / folder)
    assert got.cache == tmp_path / ".dvc" / "cache"
    (tmp_path / ".dvc" / "config").write_text(config + "[cache]\n    dir = ../../shared-cache\n")
    assert storage(tmp_path).cache == tmp_path / ".dvc" / "../../shared-cache"
