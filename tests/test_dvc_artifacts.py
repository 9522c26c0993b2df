"""DVC's own model commands read the registry: ``dvc artifacts get ORIGIN NAME --stage S``
and ``--rev vX.Y.Z`` fetch the weights of the version the registry's tags name, from a real
bare origin and a local DVC remote; a pull request that points the declaration elsewhere by
hand needs governance's approval."""
from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import git
from modelreg.core.yamlio import parse_yaml
from modelreg.store import dvcyaml
from test_signoff import World

NAME = "iris-classifier"


@pytest.fixture
def world(tmp_path, run_cli, monkeypatch):
    return World(tmp_path, run_cli, monkeypatch)


def _dvc_get(w: World, out: Path, *args: str) -> subprocess.CompletedProcess:
    remote = (w.base / "dvc-remote").resolve()
    return subprocess.run(
        [sys.executable, "-m", "dvc", "artifacts", "get", str(w.origin), NAME, *args,
         "-o", str(out), "--remote-config", f"url={remote}"],
        cwd=w.base, capture_output=True, text=True)


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _recorded(w: World, version: str) -> str:
    rel = f"models/{NAME}/versions/{version}.yaml"
    record = parse_yaml(git(w.ci, "show", f"origin/main:{rel}"), rel)
    return record["artifacts"][0]["sha256"]


def _flow(w: World) -> None:
    """1.0.0 registered and promoted to production; 1.1.0 registered after it (so the
    declaration on main names 1.1.0 while production holds 1.0.0)."""
    branch, head = w.register("1.0.0", b"weights-1.0.0" * 20)
    w.merge(branch)
    w.reconcile(w.reviews(("grace-ds", head)))
    for stage, who in (("staging", "carol-risk"), ("production", "dave-risk")):
        branch, head = w.promote("promote", f"{NAME}@1.0.0", "--stage", stage)
        w.merge(branch)
        w.reconcile(w.reviews((who, head)))
    branch, head = w.register("1.1.0", b"weights-1.1.0" * 20)
    w.merge(branch)
    w.reconcile(w.reviews(("grace-ds", head)))


def test_dvc_artifacts_get_fetches_the_stage_and_the_version(world: World, tmp_path):
    w = world
    _flow(w)
    git(w.ci, "pull", "-q", "--ff-only", "origin", "main")
    declared = dvcyaml.declared_path((w.ci / "dvc.yaml").read_text(), NAME)
    assert declared == f"models/{NAME}/versions/1.1.0/model.safetensors"

    prod = tmp_path / "prod.safetensors"
    res = _dvc_get(w, prod, "--stage", "production")
    assert res.returncode == 0, res.stdout + res.stderr
    assert _sha256(prod) == _recorded(w, "1.0.0")            # what the stage tag says

    staging = tmp_path / "staging.safetensors"
    assert _dvc_get(w, staging, "--stage", "staging").returncode == 0
    assert _sha256(staging) == _recorded(w, "1.0.0")

    for version in ("1.0.0", "1.1.0"):
        out = tmp_path / f"{version}.safetensors"
        res = _dvc_get(w, out, "--rev", f"v{version}")
        assert res.returncode == 0, res.stdout + res.stderr
        assert _sha256(out) == _recorded(w, version)
    assert _recorded(w, "1.0.0") != _recorded(w, "1.1.0")

    # no stage tag, no download: DVC says so rather than fetching main's declaration
    res = _dvc_get(w, tmp_path / "none.safetensors", "--stage", "canary")
    assert res.returncode != 0 and not (tmp_path / "none.safetensors").exists()


def test_the_registration_commit_declares_its_own_version(world: World):
    """Every registration commit (where tags point) names that version's weights, with the
    model's title and task for DVC Studio and `dvc artifacts`."""
    w = world
    branch, head = w.register("1.0.0", b"weights-1.0.0" * 20)
    text = git(w.ds, "show", f"{head}:dvc.yaml")
    entry = parse_yaml(text, "dvc.yaml")["artifacts"][NAME]
    assert entry["path"] == f"models/{NAME}/versions/1.0.0/model.safetensors"
    assert entry["type"] == "model" and entry["meta"]["version"] == "1.0.0"
    assert entry["desc"] == "Iris species classifier"
    assert "tabular-classification" in entry["labels"]
    assert "dvc.yaml" in git(w.ds, "show", "--name-only", "--format=", head).split()


def test_a_registration_pull_request_needs_no_governance_for_dvc_yaml(world: World):
    """Honest: the owners of the model approve its registration; the generated dvc.yaml does
    not ask for governance's approval too."""
    w = world
    branch, head = w.register("1.0.0", b"weights-1.0.0" * 20)
    res = w.check_pr(head, w.reviews(("grace-ds", head)))
    assert res.code == 0, res.out + res.err


def test_a_hand_edited_declaration_needs_governance(world: World):
    """Hostile: a registration pull request that also points the model's DVC artifact at
    other weights (so `dvc artifacts get --stage production` would fetch them) is no longer
    what register generates: dvc.yaml then needs governance's approval."""
    w = world
    branch, head = w.register("1.0.0", b"weights-1.0.0" * 20)
    path = w.ds / "dvc.yaml"
    path.write_text(path.read_text().replace(
        f"models/{NAME}/versions/1.0.0/model.safetensors", "models/credit-default/x.bin"))
    git(w.ds, "commit", "-q", "-am", "Point the artifact elsewhere")
    git(w.ds, "push", "-q", "origin", branch)
    head = w.head(w.ds)
    res = w.check_pr(head, w.reviews(("grace-ds", head)))
    assert res.code == 1 and "[GOV-09]" in res.out + res.err
    assert "dvc.yaml" in res.out + res.err


def test_register_rolls_back_dvc_yaml(world: World):
    """A registration that fails after writing dvc.yaml leaves no trace of it."""
    import modelreg
    from modelreg.app.register import register
    from modelreg.steps.registration import RegisterRequest

    w = world
    w.start_branch()
    weights = w.base / "train" / "model.safetensors"
    weights.parent.mkdir()
    from conftest import safetensors_bytes
    weights.write_bytes(safetensors_bytes("x"))
    metrics = w.base / "metrics.json"
    metrics.write_text(json.dumps([{"name": "accuracy", "value": 0.96, "dataset": "iris-test",
                                    "split": "test"}]))

    def fail() -> None:
        raise OSError("disk full")

    reg = modelreg.open_registry(w.ds)
    with pytest.raises(Exception, match="disk full"):
        register(reg, RegisterRequest(NAME, "1.0.0", [str(weights)], metrics=str(metrics),
                                      datasets=["test:iris-test@2026.11"]),
                 hooks={"dvc_push": fail})
    assert not (w.ds / "dvc.yaml").exists()
    assert git(w.ds, "status", "--porcelain") == ""
