"""`modelreg register`: the record it writes, DVC, the branch, every refusal, atomicity."""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest

import modelreg
from conftest import dvc, git, write_weights
from modelreg.core.errors import CannotRunError
from modelreg.core.yamlio import load
from modelreg.steps.registration import DatasetSpec, RegisterRequest
from modelreg.store.dvc import read_pointer

METRICS = {"metrics": [
    {"name": "accuracy", "value": 0.95, "dataset": "iris-test", "split": "test", "n": 30},
    {"name": "f1_macro", "value": 0.93, "dataset": "iris-test", "split": "test"},
]}


def _inputs(tmp_path: Path, payload: bytes = b"\x01" * 100) -> dict:
    w = write_weights(tmp_path / "out", payload=payload)
    m = tmp_path / "out" / "metrics.json"
    m.write_text(json.dumps(METRICS))
    c = tmp_path / "out" / "train.yaml"
    c.write_text("seed: 7\nhyperparameters:\n  C: 1.0\n  max_iter: 500\n")
    return {"weights": w, "metrics": m, "config": c}


def _register(run_cli, repo, tmp_path, version="1.0.0", *extra, payload=b"\x01" * 100):
    i = _inputs(tmp_path / version, payload)
    return run_cli(repo.root, "register", "iris-classifier", "--version", version,
                   "--weights", str(i["weights"]), "--metrics", str(i["metrics"]),
                   "--config", str(i["config"]), "--dataset", "train:iris-train@2026.11",
                   "--dataset", "test:iris-test@2026.11", "--param", "solver=lbfgs",
                   "-m", "first", *extra)


def test_register_writes_record_pointer_branch_and_pushes(repo, tmp_path, run_cli):
    head_before = repo.git("rev-parse", "HEAD").strip()
    res = _register(run_cli, repo, tmp_path)
    assert res.code == 0, res.err
    assert "Registered iris-classifier 1.0.0 on branch register/iris-classifier-1.0.0" in res.out
    assert repo.git("symbolic-ref", "--short", "HEAD").strip() == "register/iris-classifier-1.0.0"
    # git got the record and the pointer, never the weights
    committed = repo.git("show", "--name-only", "--format=", "HEAD").split()
    assert "models/iris-classifier/versions/1.0.0.yaml" in committed
    assert "models/iris-classifier/versions/1.0.0/model.safetensors.dvc" in committed
    assert "models/iris-classifier/versions/1.0.0/model.safetensors" not in committed
    assert repo.git("status", "--porcelain").strip() == ""
    record = load(repo.root / "models/iris-classifier/versions/1.0.0.yaml").data
    weights = repo.root / "models/iris-classifier/versions/1.0.0/model.safetensors"
    art = record["artifacts"][0]
    assert art["sha256"] == hashlib.sha256(weights.read_bytes()).hexdigest()
    assert art["md5"] == hashlib.md5(weights.read_bytes()).hexdigest()
    pointer = read_pointer(repo.root / art["dvc_file"])
    assert pointer[0].md5 == art["md5"]
    assert art["format"] == "safetensors" and art["size"] == weights.stat().st_size and art["remote"] == "local"
    # pushed: the DVC remote holds the object under its md5
    assert (repo.remote / "files" / "md5" / art["md5"][:2] / art["md5"][2:]).is_file()
    # lineage
    assert record["code"] == {"commit": head_before, "dirty": False}
    assert record["training"]["hyperparameters"] == {"C": 1.0, "max_iter": 500,
                                                     "solver": "lbfgs"}
    assert record["training"]["seed"] == 7
    cfg = tmp_path / "1.0.0" / "out" / "train.yaml"
    assert record["training"]["config"]["sha256"] == hashlib.sha256(cfg.read_bytes()).hexdigest()
    roles = {d["id"]: d["role"] for d in record["datasets"]}
    assert roles == {"iris-train": "train", "iris-test": "test"}
    registry_data = load(repo.root / "policies/data/datasets.yaml").data["datasets"]
    for d in record["datasets"]:
        assert d["sha256"] == registry_data[d["id"]]["revisions"]["2026.11"]["sha256"]
    # thresholds declared in model.yaml are copied into the metric rows, direction-aware
    acc = next(m for m in record["metrics"] if m["name"] == "accuracy")
    assert (acc["threshold"], acc["direction"], acc["slice"]) == (0.9, "higher", "overall")
    assert record["created_at"] == "2026-05-01T10:00:00Z"
    assert record["registered_by"] == {"name": "Alice Martin", "email": "alice.martin@example.com"}
    # and the registry validates
    assert run_cli(repo.root, "validate").code == 0


def test_fresh_clone_pulls_the_registered_weights(repo, tmp_path, run_cli):
    assert _register(run_cli, repo, tmp_path, "1.0.0", "--no-branch").code == 0
    repo.git("push", "-q", "origin", "main")
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(repo.origin), str(clone))
    proc = dvc(clone, "pull", "-q")
    assert proc.returncode == 0, proc.stderr
    record = load(clone / "models/iris-classifier/versions/1.0.0.yaml").data
    pulled = clone / record["artifacts"][0]["path"]
    assert hashlib.sha256(pulled.read_bytes()).hexdigest() == record["artifacts"][0]["sha256"]


def test_library_api_registers_without_printing(repo, tmp_path, capsys):
    i = _inputs(tmp_path)
    reg = modelreg.open_registry(repo.root)
    result = modelreg.register(reg, RegisterRequest(
        name="iris-classifier", version="2.1.0", weights=[str(i["weights"])],
        metrics=str(i["metrics"]), datasets=[DatasetSpec.parse("test:iris-test@2026.11")],
        branch=False))
    assert result.branch is None and result.version == "2.1.0"
    assert result.commit == repo.git("rev-parse", "HEAD").strip()
    assert capsys.readouterr() == ("", "")
    assert reg.resolve("iris-classifier").version == "2.1.0"


def test_new_model_from_file_and_starter(empty_repo, tmp_path, run_cli):
    from conftest import PROJECT
    i = _inputs(tmp_path)
    res = run_cli(empty_repo.root, "register", "iris-classifier", "--version", "0.1.0",
                  "--weights", str(i["weights"]), "--from",
                  str(PROJECT / "models/iris-classifier/model.yaml"),
                  "--dataset", "test:iris-test@2026.11", "--allow-findings")
    assert res.code == 0, res.err
    assert (empty_repo.root / "models/iris-classifier/model.yaml").read_text() == \
        (PROJECT / "models/iris-classifier/model.yaml").read_text()
    # without --from: a starter the user must complete, which validate flags
    res = run_cli(empty_repo.root, "register", "fraud-score", "--version", "1.0.0",
                  "--weights", str(i["weights"]), "--dataset", "test:iris-test@2026.11",
                  "--no-branch")
    assert res.code == 0, res.err
    assert "starter" in res.err
    check = run_cli(empty_repo.root, "validate", "models/fraud-score/model.yaml")
    assert check.code == 1
    assert "models/fraud-score/model.yaml:" in check.out and "[ID-01]" in check.out


def test_invalid_from_file_names_file_and_line(empty_repo, tmp_path, run_cli):
    i = _inputs(tmp_path)
    bad = tmp_path / "model.yaml"
    bad.write_text("name: x-model\ntitle: A model\ntask: tabular-classification\n"
                   "license: MIT\nowner: {team: ml-platform}\n"
                   "intended_use: {purpose: a purpose long enough}\n"
                   "risk:\n  tier: 7\n  eu_ai_act: {class: minimal}\n")
    before = empty_repo.snapshot()
    res = run_cli(empty_repo.root, "register", "x-model", "--version", "1.0.0",
                  "--weights", str(i["weights"]), "--from", str(bad),
                  "--dataset", "test:iris-test@2026.11")
    assert res.code == 1
    assert f"{bad}:8:" in res.err and "tier" in res.err
    assert empty_repo.snapshot() == before


@pytest.mark.parametrize("name", ["Iris", "../evil", "a/b", "has space", "x", "dot.name"])
def test_bad_model_names_are_usage_errors(repo, tmp_path, run_cli, name):
    i = _inputs(tmp_path)
    before = repo.snapshot()
    res = run_cli(repo.root, "register", name, "--version", "1.0.0", "--weights", str(i["weights"]))
    assert res.code == 2
    assert "invalid model name" in res.err
    assert repo.snapshot() == before


@pytest.mark.parametrize("version", ["1.0", "v1", "01.2.3", "1.2.3.4", "latest"])
def test_non_semver_versions_are_refused(repo, tmp_path, run_cli, version):
    i = _inputs(tmp_path)
    res = run_cli(repo.root, "register", "iris-classifier", "--version", version,
                  "--weights", str(i["weights"]))
    assert res.code == 2 and "not SemVer" in res.err


def test_existing_and_lower_versions_are_refused(repo, tmp_path, run_cli):
    assert _register(run_cli, repo, tmp_path, "1.2.0", "--no-branch").code == 0
    before = repo.snapshot()
    res = _register(run_cli, repo, tmp_path / "again", "1.2.0", "--no-branch")
    assert res.code == 1 and "already registered" in res.err
    res = _register(run_cli, repo, tmp_path / "lower", "1.1.0", "--no-branch")
    assert res.code == 1 and "lower than" in res.err and "--allow-lower" in res.err
    assert repo.snapshot() == before
    res = _register(run_cli, repo, tmp_path / "lower2", "1.1.5", "--no-branch", "--allow-lower")
    assert res.code == 0, res.err
    record = load(repo.root / "models/iris-classifier/versions/1.1.5.yaml").data
    assert "previous_version" not in record
    res = _register(run_cli, repo, tmp_path / "up", "1.3.0", "--no-branch")
    assert load(repo.root / "models/iris-classifier/versions/1.3.0.yaml").data[
        "previous_version"] == "1.2.0"


def test_version_registered_by_tag_only_is_refused(repo, tmp_path, run_cli):
    repo.git("tag", "-s", "iris-classifier@v3.0.0", "-m", "registered elsewhere")
    res = _register(run_cli, repo, tmp_path, "3.0.0")
    assert res.code == 1 and "already registered" in res.err


def test_missing_weights(repo, tmp_path, run_cli):
    before = repo.snapshot()
    res = run_cli(repo.root, "register", "iris-classifier", "--version", "1.0.0",
                  "--weights", str(tmp_path / "nope.safetensors"))
    assert res.code == 2 and "does not exist" in res.err
    assert repo.snapshot() == before


def test_weights_tracked_by_git_are_refused(repo, tmp_path, run_cli):
    w = write_weights(repo.root / "blobs")
    repo.git("add", "blobs/model.safetensors")
    repo.git("commit", "-q", "-m", "oops, weights in git")
    before = repo.snapshot()
    res = run_cli(repo.root, "register", "iris-classifier", "--version", "1.0.0",
                  "--weights", str(w))
    assert res.code == 1
    assert "tracked by git" in res.err and "git rm --cached blobs/model.safetensors" in res.err
    assert repo.snapshot() == before


def test_untracked_weights_inside_the_repo_are_accepted(repo, tmp_path, run_cli):
    w = write_weights(repo.root / "scratch")
    res = run_cli(repo.root, "register", "iris-classifier", "--version", "1.0.0",
                  "--weights", str(w), "--dataset", "test:iris-test@2026.11", "--no-branch",
                  "--allow-findings")
    assert res.code == 0, res.err


def test_stale_dvc_pointer_is_refused(repo, tmp_path, run_cli):
    vdir = repo.root / "models/iris-classifier/versions/1.0.0"
    vdir.mkdir(parents=True)
    (vdir / "model.safetensors.dvc").write_text(
        "outs:\n- md5: 0123456789abcdef0123456789abcdef\n  size: 3\n  hash: md5\n"
        "  path: model.safetensors\n")
    before = repo.snapshot()
    res = _register(run_cli, repo, tmp_path)
    assert res.code == 1
    assert "models/iris-classifier/versions/1.0.0/model.safetensors.dvc" in res.err
    assert "0123456789abcdef0123456789abcdef" in res.err
    assert repo.snapshot() == before


def test_unregistered_dataset_needs_a_file(repo, tmp_path, run_cli):
    i = _inputs(tmp_path)
    res = run_cli(repo.root, "register", "iris-classifier", "--version", "1.0.0",
                  "--weights", str(i["weights"]), "--dataset", "train:unknown-data@1")
    assert res.code == 2 and "not in policies/data/datasets.yaml" in res.err
    data = tmp_path / "d.csv"
    data.write_text("a,b\n1,2\n")
    res = run_cli(repo.root, "register", "iris-classifier", "--version", "1.0.0",
                  "--weights", str(i["weights"]), "--dataset", f"train:unknown-data@1:{data}",
                  "--no-branch", "--json", "--allow-findings")
    assert res.code == 0, res.err
    record = load(repo.root / "models/iris-classifier/versions/1.0.0.yaml").data
    assert record["datasets"][0]["sha256"] == hashlib.sha256(data.read_bytes()).hexdigest()


def test_bad_metrics_file_is_named(repo, tmp_path, run_cli):
    i = _inputs(tmp_path)
    i["metrics"].write_text(json.dumps([{"name": "accuracy", "value": "high",
                                         "dataset": "iris-test", "split": "test"}]))
    before = repo.snapshot()
    res = run_cli(repo.root, "register", "iris-classifier", "--version", "1.0.0",
                  "--weights", str(i["weights"]), "--metrics", str(i["metrics"]))
    assert res.code == 1
    assert str(i["metrics"]) in res.err and "$.metrics[0].value" in res.err
    assert repo.snapshot() == before


def test_parent_must_exist(repo, tmp_path, run_cli):
    res = _register(run_cli, repo, tmp_path, "1.0.0", "--parent", "credit-default@9.9.9")
    assert res.code == 2 and "not registered" in res.err
    assert _register(run_cli, repo, tmp_path / "a", "1.0.0", "--no-branch").code == 0
    assert _register(run_cli, repo, tmp_path / "b", "1.1.0", "--no-branch",
                     "--parent", "1.0.0").code == 0
    record = load(repo.root / "models/iris-classifier/versions/1.1.0.yaml").data
    assert record["parent"] == {"model": "iris-classifier", "version": "1.0.0"}


def test_unreachable_remote_leaves_nothing_behind(repo, tmp_path, run_cli):
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the remote folder should be")
    proc = dvc(repo.root, "remote", "modify", "local", "url", str(blocker / "remote"))
    assert proc.returncode == 0
    repo.git("commit", "-qam", "point the remote somewhere unreachable")
    before = repo.snapshot()
    res = _register(run_cli, repo, tmp_path)
    assert res.code == 3
    assert "dvc push" in res.err and "nothing was changed" in res.err
    assert repo.snapshot() == before


@pytest.mark.parametrize("step", ["write", "dvc_add", "dvc_push", "git_add", "git_commit"])
def test_failure_at_every_step_leaves_repository_as_it_was(repo, tmp_path, step):
    i = _inputs(tmp_path)
    before = repo.snapshot()

    def fail():
        raise CannotRunError(f"injected failure at {step}")

    reg = modelreg.open_registry(repo.root)
    with pytest.raises(CannotRunError, match=f"injected failure at {step}"):
        modelreg.register(reg, RegisterRequest(
            name="iris-classifier", version="1.0.0", weights=[str(i["weights"])],
            datasets=[DatasetSpec.parse("test:iris-test@2026.11")]), hooks={step: fail})
    assert repo.snapshot() == before


def test_staged_work_of_the_user_is_not_committed(repo, tmp_path, run_cli):
    (repo.root / "notes.txt").write_text("work in progress\n")
    repo.git("add", "notes.txt")
    res = _register(run_cli, repo, tmp_path, "1.0.0", "--no-branch")
    assert res.code == 0, res.err
    assert "notes.txt" not in repo.git("show", "--name-only", "--format=", "HEAD")
    assert repo.git("diff", "--cached", "--name-only").strip() == "notes.txt"


def test_existing_branch_is_refused(repo, tmp_path, run_cli):
    repo.git("branch", "register/iris-classifier-1.0.0")
    res = _register(run_cli, repo, tmp_path)
    assert res.code == 1 and "branch register/iris-classifier-1.0.0 exists" in res.err


def test_dirty_code_tree_is_recorded(repo, tmp_path, run_cli):
    (repo.root / "README.md").write_text("changed\n")
    assert _register(run_cli, repo, tmp_path, "1.0.0", "--no-branch").code == 0
    record = load(repo.root / "models/iris-classifier/versions/1.0.0.yaml").data
    assert record["code"]["dirty"] is True


# --- plan, then apply -------------------------------------------------------------------------
def _request(i: dict, version: str = "1.0.0", **kw) -> RegisterRequest:
    return RegisterRequest(name="iris-classifier", version=version, weights=[str(i["weights"])],
                           metrics=str(i["metrics"]), config=str(i["config"]),
                           datasets=[DatasetSpec.parse("test:iris-test@2026.11")], **kw)


@pytest.mark.parametrize("pointer", [False, True], ids=["fresh", "matching-pointer-present"])
def test_each_weights_file_is_hashed_once(repo, tmp_path, monkeypatch, pointer):
    from modelreg.core import files

    i = _inputs(tmp_path, payload=b"\x02" * 3000)
    dest = repo.root / "models/iris-classifier/versions/1.0.0/model.safetensors"
    if pointer:        # e.g. left by an earlier attempt: checked against our hash, not re-read
        dest.parent.mkdir(parents=True)
        md5 = hashlib.md5(i["weights"].read_bytes()).hexdigest()
        (dest.parent / "model.safetensors.dvc").write_text(
            f"outs:\n- md5: {md5}\n  size: 3000\n  hash: md5\n  path: model.safetensors\n")
    hashed: list[str] = []
    real_hash_file = files.hash_file

    def counting(path):
        hashed.append(os.path.realpath(path))
        return real_hash_file(path)

    monkeypatch.setattr(files, "hash_file", counting)
    result = modelreg.register(modelreg.open_registry(repo.root), _request(i))
    weights = {os.path.realpath(i["weights"]), os.path.realpath(dest)}
    assert [p for p in hashed if p in weights] == [os.path.realpath(i["weights"])]
    # DVC hashed the copy on its own; the record's md5 is the one DVC wrote
    assert read_pointer(dest.parent / "model.safetensors.dvc")[0].md5 == \
        result.artifacts[0]["md5"] == hashlib.md5(dest.read_bytes()).hexdigest()


def test_plan_writes_nothing_and_apply_writes_what_it_planned(repo, tmp_path):
    from modelreg.steps.registration import apply, plan

    i = _inputs(tmp_path)
    reg = modelreg.open_registry(repo.root)
    before = repo.snapshot()
    planned = plan(reg, _request(i))
    assert repo.snapshot() == before
    assert planned.branch == "register/iris-classifier-1.0.0" and not planned.new_model
    assert planned.artifacts[0]["sha256"] == hashlib.sha256(i["weights"].read_bytes()).hexdigest()
    result = apply(reg, planned)
    assert (repo.root / "models/iris-classifier/versions/1.0.0.yaml").read_text() == \
        planned.record_text
    assert (repo.root / "models/iris-classifier/card.md").read_text() == planned.card_text
    assert result.artifacts == planned.artifacts
    assert repo.git("status", "--porcelain").strip() == ""


def test_weights_changed_between_plan_and_apply_are_refused(repo, tmp_path):
    from modelreg.steps.registration import apply, plan

    i = _inputs(tmp_path)
    reg = modelreg.open_registry(repo.root)
    planned = plan(reg, _request(i))
    i["weights"].write_bytes(b"\x03" * 100)          # replaced after it was hashed
    before = repo.snapshot()
    with pytest.raises(CannotRunError, match="register failed, nothing was changed: DVC "
                                             "recorded md5 .* but the file hashes to"):
        apply(reg, planned)
    assert repo.snapshot() == before


def test_unknown_hook_names_are_an_error(repo, tmp_path):
    i = _inputs(tmp_path)
    with pytest.raises(ValueError, match="no register step named dvc_ad"):
        modelreg.register(modelreg.open_registry(repo.root), _request(i),
                          hooks={"dvc_ad": lambda: None})


def test_new_model_from_file_adds_its_owners_to_codeowners(empty_repo, tmp_path, run_cli):
    from conftest import PROJECT
    assert run_cli(empty_repo.root, "codeowners", "--write").code == 0
    empty_repo.git("add", "-A")
    empty_repo.git("commit", "-qm", "CODEOWNERS")
    i = _inputs(tmp_path)
    res = run_cli(empty_repo.root, "register", "iris-classifier", "--version", "0.1.0",
                  "--weights", str(i["weights"]), "--from",
                  str(PROJECT / "models/iris-classifier/model.yaml"),
                  "--dataset", "test:iris-test@2026.11", "--allow-findings")
    assert res.code == 0, res.err
    assert ".github/CODEOWNERS" in empty_repo.git("show", "--name-only", "--format=", "HEAD")
    assert "/models/iris-classifier/ " in (empty_repo.root / ".github/CODEOWNERS").read_text()
    assert run_cli(empty_repo.root, "codeowners", "--check").code == 0
