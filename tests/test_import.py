"""`modelreg import`: models from a real MLflow registry (SQLite store) and a real GTO
repository (made by the `gto` command), through register's steps, onto one branch.

Honest: what a team has in MLflow or GTO arrives as registered versions and *requested*
stages, and the branch passes `modelreg check`. Hostile: a pickle that runs code is refused
by name; an alias never makes a stage count (the gate refuses until the promotion is merged
and reconciled); missing model fields, unknown names and unreadable sources change nothing;
a second run changes nothing."""
from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

from conftest import dvc, git, safetensors_bytes
from modelreg.core.yamlio import load
from test_adoption import complete_card
from test_signoff import World

COMMIT = "0123456789abcdef0123456789abcdef01234567"
GTO = Path(sys.executable).with_name("gto")

DEFAULTS = """\
model:
  task: tabular-classification
  license: Apache-2.0
  owner: {team: ml-platform}
  intended_use:
    purpose: Flags card transactions that look fraudulent, for a person to review.
  risk: {tier: 3, eu_ai_act: {class: minimal}}
datasets: [train:iris-train@2026.11, test:iris-test@2026.11]
"""


class Evil:
    """Unpickling it runs a shell command: the scanner must refuse the file."""

    def __reduce__(self):
        return (os.system, ("touch PWNED",))


def build_mlflow(folder: Path, models: dict) -> str:
    """A real MLflow registry in a SQLite file: each version a run with metrics, parameters
    and the source commit, its files logged as the run's artifacts, registered from them."""
    from mlflow import MlflowClient

    folder.mkdir(parents=True, exist_ok=True)
    uri = f"sqlite:///{folder}/mlflow.db"
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    exp = client.create_experiment("training", artifact_location=(folder / "artifacts").as_uri())
    for name, spec in models.items():
        client.create_registered_model(name, tags=spec.get("tags") or {},
                                       description=spec.get("description"))
        for i, version in enumerate(spec["versions"], 1):
            run = client.create_run(exp, tags={"mlflow.source.git.commit": COMMIT,
                                               "mlflow.source.name": "train.py"})
            rid = run.info.run_id
            for key, value in version.get("metrics", {}).items():
                client.log_metric(rid, key, value)
            for key, value in version.get("params", {}).items():
                client.log_param(rid, key, value)
            out = folder / "out" / f"{name}-{i}"
            out.mkdir(parents=True)
            for fname, data in version["files"].items():
                (out / fname).write_bytes(data)
            client.log_artifacts(rid, str(out), artifact_path="model")
            client.set_terminated(rid)
            client.create_model_version(name, source=f"{run.info.artifact_uri}/model",
                                        run_id=rid, description=version.get("description"))
        for alias, number in (spec.get("aliases") or {}).items():
            client.set_registered_model_alias(name, alias, str(number))
        for number, stage in (spec.get("stages") or {}).items():
            with warnings.catch_warnings():      # deprecated in MLflow, still in registries
                warnings.simplefilter("ignore", FutureWarning)
                client.transition_model_version_stage(name, str(number), stage)
    return uri


def _fraud(**extra) -> dict:
    return {"Fraud Scorer": {
        "description": "Scores card transactions.",
        "tags": {"modelreg.risk.tier": "2", "team-note": "kept in MLflow"},
        "versions": [
            {"metrics": {"accuracy": 0.91, "val/AUC": 0.95}, "params": {"C": "1.0",
             "solver": "lbfgs"}, "files": {"model.safetensors": safetensors_bytes("v1")},
             "description": "first fit"},
            {"metrics": {"accuracy": 0.93}, "params": {"C": "0.5"},
             "files": {"model.safetensors": safetensors_bytes("v2"),
                       "model.onnx": b"\x08\x07ONNX-like graph bytes"}},
        ],
        "aliases": {"staging": 2, "champion": 1},
        "stages": {1: "Staging"},                  # MLflow's legacy stage, before aliases
        **extra}}


@pytest.fixture(scope="module")
def mlflow_uri(tmp_path_factory) -> str:
    os.environ["MLFLOW_DISABLE_TELEMETRY"] = "true"
    return build_mlflow(tmp_path_factory.mktemp("mlflow"), _fraud())


@pytest.fixture
def world(tmp_path, run_cli, monkeypatch) -> World:
    return World(tmp_path, run_cli, monkeypatch)


@pytest.fixture
def defaults(tmp_path) -> Path:
    path = tmp_path / "import.yaml"
    path.write_text(DEFAULTS)
    return path


def _import_mlflow(run_cli, root: Path, uri: str, *extra: str):
    return run_cli(root, "import", "mlflow", "--tracking-uri", uri, *extra)


def write_cards(root: Path, *names: str) -> None:
    """What an import leaves for the owners: the cards' prose, written and committed."""
    for name in names:
        complete_card(root / "models" / name / "card.md")
    git(root, "commit", "-q", "-am", "Write the cards of the imported models")


# --- MLflow -------------------------------------------------------------------------------
def test_mlflow_versions_arrive_as_registered_versions_and_requested_stages(
        repo, run_cli, mlflow_uri, defaults):
    res = _import_mlflow(run_cli, repo.root, mlflow_uri, "--defaults", str(defaults),
                         "--branch", "import/fraud")
    assert res.code == 0, res.out + res.err
    assert "registered fraud-scorer 1.0.0 from MLflow version 1" in res.out
    assert "registered fraud-scorer 2.0.0 from MLflow version 2" in res.out
    assert "requested fraud-scorer 2.0.0 in staging (MLflow alias staging)" in res.out
    # an alias that names no stage here is reported, never guessed
    assert "alias champion (version 1.0.0) names no stage" in res.err
    assert "check will report" in res.err, res.err
    assert "alias staging asks for staging with 2.0.0, not stage Staging's 1.0.0" in res.err
    assert repo.git("symbolic-ref", "--short", "HEAD").strip() == "import/fraud"
    log = repo.git("log", "--format=%s", "main..HEAD").splitlines()
    assert log == ["Request stages for fraud-scorer from MLflow",
                   "Register fraud-scorer 2.0.0", "Register fraud-scorer 1.0.0"]
    assert repo.git("status", "--porcelain").strip() == ""
    assert repo.git("tag", "-l").strip() == ""                  # requests, never tags

    model = load(repo.root / "models/fraud-scorer/model.yaml").data
    assert model["owner"] == {"team": "ml-platform"}
    assert model["risk"]["tier"] == 2                            # the MLflow tag wins
    assert model["title"] == "Fraud Scorer"
    assert model["description"] == "Scores card transactions."
    v1 = load(repo.root / "models/fraud-scorer/versions/1.0.0.yaml").data
    assert v1["code"] == {"commit": COMMIT, "dirty": False, "entrypoint": "train.py"}
    assert v1["training"]["hyperparameters"] == {"C": 1.0, "solver": "lbfgs"}
    assert v1["message"] == "first fit"
    assert {(m["name"], m["value"], m["dataset"], m["split"]) for m in v1["metrics"]} == {
        ("accuracy", 0.91, "iris-test", "test"), ("val_auc", 0.95, "iris-test", "test")}
    v2 = load(repo.root / "models/fraud-scorer/versions/2.0.0.yaml").data
    assert sorted(a["path"].rsplit("/", 1)[1] for a in v2["artifacts"]) == [
        "model.onnx", "model.safetensors"]
    assert v2["previous_version"] == "1.0.0"
    # the weights are DVC's, pushed to the registry's remote
    for art in v2["artifacts"]:
        assert (repo.remote / "files" / "md5" / art["md5"][:2] / art["md5"][2:]).is_file()
    stages = load(repo.root / "models/fraud-scorer/stages.yaml").data
    assert stages == {"stages": {"staging": {"version": "2.0.0",
                                             "reason": "imported from MLflow (alias staging)"}}}

    res = run_cli(repo.root, "check", "--changed-since", "main")
    assert res.code == 1 and "[CARD-01]" in res.out               # the prose is the owners'
    write_cards(repo.root, "fraud-scorer")
    res = run_cli(repo.root, "check", "--changed-since", "main")
    assert res.code == 0, res.out + res.err

    # again: nothing changes, each version is reported as already there
    head = repo.git("rev-parse", "HEAD")
    res = _import_mlflow(run_cli, repo.root, mlflow_uri, "--defaults", str(defaults),
                         "--json")
    assert res.code == 0, res.err
    out = json.loads(res.out)
    assert out["branch"] is None and out["registered"] == [] and out["stages"] == []
    assert [(s["version"], s["reason"]) for s in out["skipped"]] == [
        ("1.0.0", "already registered"), ("2.0.0", "already registered")]
    assert repo.git("rev-parse", "HEAD") == head
    assert repo.git("branch", "--list", "import/*").split() == ["*", "import/fraud"]


def test_a_pickle_that_runs_code_is_refused_and_nothing_is_left(repo, run_cli, tmp_path,
                                                                 defaults, monkeypatch):
    monkeypatch.setenv("MLFLOW_DISABLE_TELEMETRY", "true")
    spec = _fraud()
    # the first version is fine and gets as far as its commit; the second is a payload
    spec["Fraud Scorer"]["versions"][1]["files"] = {"model.pkl": pickle.dumps(Evil())}
    uri = build_mlflow(tmp_path / "evil", spec)
    before = repo.snapshot()
    res = _import_mlflow(run_cli, repo.root, uri, "--defaults", str(defaults))
    assert res.code == 1, res.out + res.err
    assert "MLflow model 'Fraud Scorer' version 2" in res.err
    assert "weights file model.pkl can run code when loaded" in res.err
    assert "posix.system" in res.err or "os.system" in res.err
    assert repo.snapshot() == before                           # 1.0.0's commit is gone too
    assert not (repo.root / "PWNED").exists() and not Path("PWNED").exists()


def test_a_secret_in_a_run_parameter_is_refused(repo, run_cli, tmp_path, defaults,
                                                monkeypatch):
    """Registry metadata is readable by everyone: a key logged as a run parameter in MLflow
    does not travel into a version record."""
    monkeypatch.setenv("MLFLOW_DISABLE_TELEMETRY", "true")
    spec = _fraud()
    spec["Fraud Scorer"]["versions"][1]["params"] = {"s3_key": "AKIA" + "ABCDEFGHIJKLMNOP"}
    uri = build_mlflow(tmp_path / "leaky", spec)
    before = repo.snapshot()
    res = _import_mlflow(run_cli, repo.root, uri, "--defaults", str(defaults))
    assert res.code == 1, res.out + res.err
    assert "MLflow model 'Fraud Scorer' version 2" in res.err and "AWS" in res.err
    assert "AKIAABCDEFGHIJKLMNOP" not in res.out + res.err
    assert repo.snapshot() == before


def test_missing_model_fields_are_named_and_nothing_is_written(repo, run_cli, mlflow_uri,
                                                               tmp_path):
    partial = tmp_path / "partial.yaml"
    partial.write_text(DEFAULTS.replace("  owner: {team: ml-platform}\n", ""))
    before = repo.snapshot()
    res = _import_mlflow(run_cli, repo.root, mlflow_uri, "--defaults", str(partial))
    assert res.code == 1
    assert "MLflow model 'Fraud Scorer' (fraud-scorer)" in res.err and "'owner'" in res.err
    assert "--defaults" in res.err
    assert repo.snapshot() == before
    # without any defaults: the first missing field, still by model
    res = _import_mlflow(run_cli, repo.root, mlflow_uri)
    assert res.code == 1 and "fraud-scorer" in res.err and "required property" in res.err
    assert repo.snapshot() == before


def test_per_model_entries_and_stage_map(repo, run_cli, mlflow_uri, tmp_path):
    path = tmp_path / "import.yaml"
    path.write_text(DEFAULTS.replace("  owner: {team: ml-platform}\n", "")
                    + "stages: {champion: production}\nmodels:\n  fraud:\n"
                      "    model: {owner: {team: ml-platform}, title: Card fraud scorer}\n")
    before = repo.snapshot()
    # two aliases asking one stage for two versions: which one is meant is not guessed
    res = _import_mlflow(run_cli, repo.root, mlflow_uri, "--defaults", str(path),
                         "--model", "Fraud Scorer=fraud", "--stage-map", "champion=staging")
    assert res.code == 1
    assert "alias champion and alias staging both ask for staging" in res.err
    assert repo.snapshot() == before
    res = _import_mlflow(run_cli, repo.root, mlflow_uri, "--defaults", str(path),
                         "--model", "Fraud Scorer=fraud", "--json")
    assert res.code == 0, res.err
    out = json.loads(res.out)
    assert [(r["model"], r["version"]) for r in out["registered"]] == [
        ("fraud", "1.0.0"), ("fraud", "2.0.0")]
    assert [(s["stage"], s["version"], s["source"]) for s in out["stages"]] == [
        ("production", "1.0.0", "alias champion"), ("staging", "2.0.0", "alias staging")]
    assert load(repo.root / "models/fraud/model.yaml").data["title"] == "Card fraud scorer"


def test_unknown_model_and_unreadable_source_change_nothing(repo, run_cli, mlflow_uri,
                                                             defaults, tmp_path):
    before = repo.snapshot()
    res = _import_mlflow(run_cli, repo.root, mlflow_uri, "--defaults", str(defaults),
                         "--model", "Nope")
    assert res.code == 2 and "MLflow has no model named 'Nope'" in res.err
    assert "Fraud Scorer" in res.err
    missing = tmp_path / "nowhere" / "mlflow.db"
    res = _import_mlflow(run_cli, repo.root, f"sqlite:///{missing}", "--defaults",
                         str(defaults))
    assert res.code == 3 and "no MLflow registry at" in res.err
    assert not missing.parent.exists()                         # nor one created there
    res = run_cli(repo.root, "import", "gto", str(tmp_path / "no-such-repo"))
    assert res.code == 3 and "neither a folder nor a git URL" in res.err
    assert repo.snapshot() == before


def test_without_mlflow_installed_it_says_how_to_install_it(repo, run_cli, defaults,
                                                            monkeypatch):
    monkeypatch.setitem(sys.modules, "mlflow", None)            # `import mlflow` fails
    before = repo.snapshot()
    res = _import_mlflow(run_cli, repo.root, "sqlite:///x.db", "--defaults", str(defaults))
    assert res.code == 3, res.err
    assert 'pip install "modelreg[mlflow]"' in res.err
    assert repo.snapshot() == before


def test_an_alias_is_no_stage_until_the_promotion_is_merged_and_reconciled(
        world: World, mlflow_uri, defaults):
    w = world
    w.start_branch()
    res = w.cli(w.ds, "import", "mlflow", "--tracking-uri", mlflow_uri, "--defaults",
                str(defaults), "--branch", "import/fraud")
    assert res.code == 0, res.out + res.err
    write_cards(w.ds, "fraud-scorer")
    # the branch asks for staging; no stage holds anything, whatever MLflow's alias says
    res = w.cli(w.ds, "gate", "fraud-scorer", "--stage", "staging", "--json")
    assert res.code == 1 and json.loads(res.out)["ok"] is False
    git(w.ds, "push", "-q", "origin", "import/fraud")
    head = w.head(w.ds)
    res = w.check_pr(head, w.reviews())
    assert res.code == 1 and "[GOV-09]" in res.out + res.err      # nobody approved yet
    # merged without reconcile: still no stage
    approved = w.reviews(("grace-ds", head), ("carol-risk", head))
    res = w.check_pr(head, approved)
    assert res.code == 0, res.out + res.err
    w.merge("import/fraud")
    deploy = w.clone("deploy")
    res = w.cli(deploy, "gate", "fraud-scorer", "--stage", "staging", "--json")
    assert res.code == 1
    out = w.reconcile(approved)
    assert sorted(c["tag"] for c in out["created"]) == [
        "fraud-scorer#staging#1", "fraud-scorer@v1.0.0", "fraud-scorer@v2.0.0"]
    git(deploy, "pull", "-q", "--ff-only", "origin", "main")
    git(deploy, "fetch", "-q", "--force", "origin", "+refs/tags/*:refs/tags/*")
    res = w.cli(deploy, "gate", "fraud-scorer", "--stage", "staging", "--json")
    assert res.code == 0, res.out
    assert json.loads(res.out)["version"] == "2.0.0"
    # once merged and tagged, importing again finds nothing to do
    w.start_branch()
    res = w.cli(w.ds, "import", "mlflow", "--tracking-uri", mlflow_uri, "--defaults",
                str(defaults), "--json")
    assert res.code == 0, res.err
    out = json.loads(res.out)
    assert out["branch"] is None and out["stages"] == [] and len(out["skipped"]) == 2
    assert git(w.ds, "symbolic-ref", "--short", "HEAD").strip() == "main"


# --- GTO ------------------------------------------------------------------------------------
def _gto(root: Path, *args: str) -> None:
    # GTO's tags go through dulwich, which reads only git's raw date form
    env = {**os.environ, "GIT_AUTHOR_DATE": "1780000000 +0000",
           "GIT_COMMITTER_DATE": "1780000000 +0000"}
    proc = subprocess.run([str(GTO), *args], cwd=root, capture_output=True, text=True,
                          env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.fixture
def gto_repo(tmp_path) -> Path:
    """A GTO registry made by the `gto` command: one model kept in git, one under DVC with
    a local remote (and no cache left in the repository: its files come from the remote)."""
    root = tmp_path / "gto-src"
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    assert dvc(root, "init", "-q").returncode == 0
    remote = tmp_path / "gto-remote"
    assert dvc(root, "remote", "add", "-d", "store", str(remote)).returncode == 0
    (root / "models").mkdir()
    (root / "models" / "churn.safetensors").write_bytes(safetensors_bytes("churn-1"))
    (root / "models" / "ranker.safetensors").write_bytes(safetensors_bytes("ranker-1"))
    assert dvc(root, "add", "-q", "models/ranker.safetensors").returncode == 0
    assert dvc(root, "push", "-q").returncode == 0
    (root / "dvc.yaml").write_text(
        "artifacts:\n"
        "  churn:\n    path: models/churn.safetensors\n    type: model\n"
        "    desc: Predicts which customers leave.\n    labels: [tabular, churn]\n"
        "  churn-data:\n    path: data/churn.csv\n    type: dataset\n")
    # GTO's older declaration file, which its earlier releases wrote
    (root / "artifacts.yaml").write_text(
        "ranker:\n  type: model\n  path: models/ranker.safetensors\n"
        "  description: Ranks offers.\n")
    (root / "data").mkdir()
    (root / "data" / "churn.csv").write_text("customer,left\n1,0\n")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "Train churn and ranker")
    _gto(root, "register", "churn", "--version", "v1.0.0")
    _gto(root, "register", "ranker", "--version", "v0.1.0")
    _gto(root, "register", "churn-data", "--version", "v1.0.0")
    (root / "models" / "churn.safetensors").write_bytes(safetensors_bytes("churn-2"))
    git(root, "commit", "-q", "-am", "Retrain churn")
    _gto(root, "register", "churn", "--version", "v1.1.0")
    _gto(root, "assign", "churn", "--version", "v1.1.0", "--stage", "staging")
    _gto(root, "assign", "churn", "--version", "v1.0.0", "--stage", "prod")
    import shutil
    shutil.rmtree(root / ".dvc" / "cache")
    return root


def test_gto_repository_arrives_with_its_files_and_requested_stages(
        repo, run_cli, gto_repo, defaults):
    source_tags = git(gto_repo, "tag", "-l")
    res = run_cli(repo.root, "import", "gto", str(gto_repo), "--defaults", str(defaults),
                  "--branch", "import/gto", "--json")
    assert res.code == 0, res.out + res.err
    out = json.loads(res.out)
    assert [(r["model"], r["version"], r["source"]) for r in out["registered"]] == [
        ("churn", "1.0.0", "churn@v1.0.0"), ("churn", "1.1.0", "churn@v1.1.0"),
        ("ranker", "0.1.0", "ranker@v0.1.0")]
    assert [(s["model"], s["stage"], s["version"]) for s in out["stages"]] == [
        ("churn", "staging", "1.1.0")]
    assert any("stage prod (version 1.0.0) names no stage" in n for n in out["notes"])
    assert "GTO artifact churn-data is of type 'dataset', not a model: not imported" in \
        out["notes"]
    # each version is the bytes at its tag's commit, from git or from the source's DVC remote
    src = git(gto_repo, "rev-parse", "churn@v1.0.0^{commit}").strip()
    v100 = load(repo.root / "models/churn/versions/1.0.0.yaml").data
    assert v100["code"] == {"commit": src, "dirty": False}
    churn1 = repo.root / "models/churn/versions/1.0.0/churn.safetensors"
    assert churn1.read_bytes() == safetensors_bytes("churn-1")
    assert (repo.root / "models/churn/versions/1.1.0/churn.safetensors").read_bytes() == \
        safetensors_bytes("churn-2")
    assert (repo.root / "models/ranker/versions/0.1.0/ranker.safetensors").read_bytes() == \
        safetensors_bytes("ranker-1")
    assert load(repo.root / "models/ranker/model.yaml").data["description"] == "Ranks offers."
    model = load(repo.root / "models/churn/model.yaml").data
    assert model["description"] == "Predicts which customers leave."
    assert model["tags"] == ["tabular", "churn"]
    assert repo.git("tag", "-l").strip() == ""
    # the source is read, never written
    assert git(gto_repo, "status", "--porcelain") == "" and git(gto_repo, "tag", "-l") == \
        source_tags
    write_cards(repo.root, "churn", "ranker")
    res = run_cli(repo.root, "check", "--changed-since", "main")
    assert res.code == 0, res.out + res.err
    # mapped, the source's prod stage is asked for too; the versions are not imported again
    # (the source given as a git URL this time: cloned, with its tags)
    res = run_cli(repo.root, "import", "gto", gto_repo.as_uri(), "--defaults", str(defaults),
                  "--stage-map", "prod=production", "--branch", "import/gto-prod", "--json")
    assert res.code == 0, res.err
    out = json.loads(res.out)
    assert out["registered"] == [] and len(out["skipped"]) == 3
    assert [(s["stage"], s["version"]) for s in out["stages"]] == [("production", "1.0.0")]


def test_gto_source_whose_remote_lost_the_weights_changes_nothing(
        repo, run_cli, gto_repo, defaults, tmp_path):
    import shutil
    shutil.rmtree(tmp_path / "gto-remote")
    before = repo.snapshot()
    res = run_cli(repo.root, "import", "gto", str(gto_repo), "--defaults", str(defaults))
    assert res.code == 3, res.out + res.err
    assert "GTO artifact ranker@v0.1.0" in res.err and "through DVC" in res.err
    assert repo.snapshot() == before
