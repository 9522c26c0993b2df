"""The model-risk side, end to end on real repositories: a challenger compared with the
version holding production (EVAL-05), metrics bound to their artifact (EVAL-03), validation
findings opened and closed through reviewed pull requests (GOV-06), and base models and the
lineage graph resolved over the whole registry (ID-07, DATA-06)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

import modelreg
from conftest import PROJECT, dvc, git, make_registry, write_weights
from test_signoff import World

MODEL = "iris-classifier"


@pytest.fixture
def world(tmp_path, run_cli, monkeypatch) -> World:
    return World(tmp_path, run_cli, monkeypatch)


def _out(res) -> str:
    return res.out + res.err


def _release(w: World, version: str, accuracy: float = 0.96) -> None:
    """Register ``version`` (approved by the owning team), merge and reconcile it."""
    branch, head = w.register(version, f"weights-{version}".encode() * 20, accuracy)
    ok = w.reviews(("grace-ds", head))
    assert w.check_pr(head, ok).code == 0
    w.merge(branch)
    w.reconcile(ok)


def _stage(w: World, version: str, stage: str, approver: str = "carol-risk", *extra: str
           ) -> None:
    branch, head = w.promote("promote", f"{MODEL}@{version}", "--stage", stage, *extra)
    ok = w.reviews((approver, head))
    res = w.check_pr(head, ok)
    assert res.code == 0, _out(res)
    w.merge(branch)
    w.reconcile(ok)


def _challenger_in_staging(w: World, accuracy: float) -> None:
    """1.0.0 (accuracy 0.96) holds production; 1.1.0 with ``accuracy`` holds staging."""
    _release(w, "1.0.0")
    _stage(w, "1.0.0", "staging")
    _stage(w, "1.0.0", "production", "dave-risk")
    _release(w, "1.1.0", accuracy=accuracy)
    _stage(w, "1.1.0", "staging")


def _drop_branch(w: World, branch: str) -> None:
    git(w.ds, "checkout", "-q", "main")
    git(w.ds, "branch", "-q", "-D", branch)
    git(w.ds, "push", "-q", "origin", "--delete", branch)


# --- EVAL-05: champion / challenger ---------------------------------------------------------

def test_a_challenger_worse_than_production_needs_an_officer_who_accepts_it(world: World,
                                                                            tmp_path: Path):
    w = world
    # 1.1.0 meets every threshold (accuracy >= 0.9) but is 0.04 worse than 1.0.0: tier 3
    # tolerates 0.02
    _challenger_in_staging(w, 0.92)

    # preparing the promotion says what its pull request will need, without refusing it
    branch, head = w.promote("promote", f"{MODEL}@1.1.0", "--stage", "production")
    show = w.cli(w.ds, "check", "--stage", "production")
    assert "[EVAL-05]" in _out(show) and "needs someone with role model-risk-officer" \
        in _out(show)
    # a model-risk officer's ordinary approval of the promotion is not acceptance
    res = w.check_pr(head, w.reviews(("dave-risk", head)))
    assert res.code == 1 and "[EVAL-05]" in _out(res), _out(res)
    assert "worse than 1.0.0 (holding production) on accuracy" in _out(res)
    _drop_branch(w, branch)

    # stages.yaml names an officer who did not approve: still refused
    accept = ("--accept-regression", "Traded 4 points of accuracy for calibrated scores",
              "--accepted-by", "carol-risk")
    branch, head = w.promote("promote", f"{MODEL}@1.1.0", "--stage", "production", *accept)
    res = w.check_pr(head, w.reviews(("dave-risk", head)))
    assert res.code == 1 and "stages.yaml names carol-risk, who has no such role or did " \
        "not approve" in _out(res), _out(res)
    entry = yaml.safe_load((w.ds / f"models/{MODEL}/stages.yaml").read_text())
    assert entry["stages"]["production"]["accept_regression"]["approved_by"] == "carol-risk"
    # carol approves: the regression is accepted, and said so
    ok = w.reviews(("carol-risk", head))
    res = w.check_pr(head, ok)
    assert res.code == 0, _out(res)
    assert "[EVAL-05]" in _out(res) and "accepted by carol-risk" in _out(res)
    w.merge(branch)
    w.reconcile(ok)

    # the gate trusts the approval the production tag recorded
    deploy = w.clone("deploy")
    git(deploy, "fetch", "-q", "--force", "origin", "+refs/tags/*:refs/tags/*")
    assert dvc(deploy, "pull", "-q").returncode == 0
    weights = deploy / f"models/{MODEL}/versions/1.1.0/model.safetensors"
    res = w.cli(deploy, "gate", MODEL, "--stage", "production", "--artifact", str(weights),
                "--json")
    assert res.code == 0, res.out
    assert json.loads(res.out)["version"] == "1.1.0"
    # and show puts the two side by side
    res = w.cli(deploy, "show", f"{MODEL}@1.1.0", "--json")
    assert res.code == 0, _out(res)
    comparison = json.loads(res.out)["champion"]
    assert comparison["version"] == "1.0.0"
    row = next(r for r in comparison["comparison"] if r["metric"] == "accuracy")
    assert (row["champion"], row["challenger"], row["worse_by"]) == (0.96, 0.92, 0.04)
    # the audit report and the site too
    res = w.cli(deploy, "audit", MODEL, "--format", "json")
    assert res.code == 0, _out(res)
    versions = {v["version"]: v for v in json.loads(res.out)["versions"]}
    assert versions["1.1.0"]["champion"]["version"] == "1.0.0"
    assert versions["1.0.0"]["champion"] is None          # it took production from nobody
    res = w.cli(deploy, "audit", MODEL, "--format", "md")
    assert "**Against 1.0.0, which held production before it (EVAL-05)**" in res.out
    assert "| accuracy | iris-test | test | overall | 0.96 | 0.92 | 0.04 |" in res.out, res.out
    site = tmp_path / "site"
    assert w.cli(deploy, "site", str(site)).code == 0
    page = (site / f"{MODEL}.html").read_text() if (site / f"{MODEL}.html").exists() else \
        next(site.rglob(f"{MODEL}*.html")).read_text()
    assert "Against 1.0.0, which held production before it (EVAL-05)" in page


def test_a_challenger_as_good_as_production_passes(world: World):
    w = world
    _challenger_in_staging(w, 0.95)               # 0.01 worse: within tier 3's 0.02
    branch, head = w.promote("promote", f"{MODEL}@1.1.0", "--stage", "production")
    res = w.check_pr(head, w.reviews(("dave-risk", head)))
    assert res.code == 0 and "[EVAL-05]" not in _out(res), _out(res)


def test_taking_production_down_first_does_not_skip_the_comparison(world: World):
    w = world
    _challenger_in_staging(w, 0.92)
    # production emptied in its own pull request, then 1.1.0 asked for
    w.start_branch()
    git(w.ds, "checkout", "-q", "-b", "empty-production")
    stages = w.ds / f"models/{MODEL}/stages.yaml"
    data = yaml.safe_load(stages.read_text())
    data["stages"]["production"] = None
    stages.write_text(yaml.safe_dump(data))
    git(w.ds, "commit", "-q", "-am", "Take production down")
    git(w.ds, "push", "-q", "origin", "empty-production")
    ok = w.reviews(("dave-risk", w.head(w.ds)))
    assert w.check_pr(w.head(w.ds), ok).code == 0
    w.merge("empty-production")
    w.reconcile(ok)
    state = modelreg.open_registry(w.ci).state(MODEL)
    assert "production" not in state.stages
    assert state.champion("1.1.0", "production") == "1.0.0"
    branch, head = w.promote("promote", f"{MODEL}@1.1.0", "--stage", "production")
    res = w.check_pr(head, w.reviews(("dave-risk", head)))
    assert res.code == 1 and "[EVAL-05]" in _out(res)
    # nor does calling the promotion a rollback: 1.1.0 never held production
    stages = w.ds / f"models/{MODEL}/stages.yaml"
    data = yaml.safe_load(stages.read_text())
    data["stages"]["production"] = {"version": "1.1.0", "rollback": True,
                                    "reason": "back to the better model"}
    stages.write_text(yaml.safe_dump(data))
    git(w.ds, "commit", "-q", "-am", "Call it a rollback")
    head = w.head(w.ds)
    git(w.ds, "push", "-q", "origin", branch)
    res = w.check_pr(head, w.reviews(("dave-risk", head)))
    assert res.code == 1 and "[EVAL-05]" in _out(res), _out(res)


# --- EVAL-03: metrics bound to the artifact --------------------------------------------------

def test_register_binds_metrics_to_the_weights(world: World):
    w = world
    branch, _ = w.register("1.0.0", b"weights" * 20)
    record = yaml.safe_load((w.ds / f"models/{MODEL}/versions/1.0.0.yaml").read_text())
    sha = record["artifacts"][0]["sha256"]
    assert {m["artifact_sha256"] for m in record["metrics"]} == {sha}


def test_metrics_from_other_weights_are_refused_from_staging(world: World):
    w = world
    w.register("1.0.0", b"weights" * 20)
    path = w.ds / f"models/{MODEL}/versions/1.0.0.yaml"
    record = path.read_text()
    sha = yaml.safe_load(record)["artifacts"][0]["sha256"]
    path.write_text(record.replace(f"artifact_sha256: {sha}", f"artifact_sha256: {'e' * 64}"))
    res = w.cli(w.ds, "check", "--stage", "staging")
    assert res.code == 1 and "[EVAL-03]" in res.out, res.out
    assert f"is not an artifact of {MODEL} 1.0.0" in res.out
    res = w.cli(w.ds, "check", "--stage", "registered")
    assert "[EVAL-03]" not in res.out


# --- GOV-06: validation findings -------------------------------------------------------------

FINDING = """\
id: VF-1
model: iris-classifier
version: 1.0.0
title: Accuracy not benchmarked against a simpler model
severity: high
owner: alice-ds
raised_by: erin-val
opened_at: 2026-06-05
due: 2099-01-01
status: open
"""


def _finding_pr(w: World, text: str | None, name: str = "VF-1") -> tuple[str, str]:
    """A branch that writes (or, with None, deletes) a finding; pushed."""
    w.start_branch()
    branch = f"finding-{len(list(w.base.glob('reviews-*')))}"
    git(w.ds, "checkout", "-q", "-b", branch)
    path = w.ds / f"models/{MODEL}/validation/{name}.yaml"
    if text is None:
        git(w.ds, "rm", "-q", str(path))
    else:
        path.parent.mkdir(exist_ok=True)
        path.write_text(text)
        git(w.ds, "add", str(path))
    git(w.ds, "commit", "-q", "-m", f"Validation finding {name}")
    git(w.ds, "push", "-q", "origin", branch)
    return branch, w.head(w.ds)


def test_validation_findings_are_the_validation_teams_and_block_production(world: World):
    w = world
    _release(w, "1.0.0")
    _stage(w, "1.0.0", "staging")

    # opening a finding: the model's own team cannot, the validation team can
    branch, head = _finding_pr(w, FINDING)
    res = w.check_pr(head, w.reviews(("grace-ds", head)))
    assert res.code == 1 and "[GOV-06]" in _out(res) and "validation team" in _out(res)
    ok = w.reviews(("erin-val", head))
    assert w.check_pr(head, ok).code == 0, _out(w.check_pr(head, ok))
    w.merge(branch)
    opened = f"2026-06-{w.day:02d}"

    # production is refused while it is open and high: promote says so and changes nothing
    w.start_branch()
    res = w.cli(w.ds, "promote", f"{MODEL}@1.0.0", "--stage", "production")
    assert res.code == 1 and "[GOV-06]" in _out(res) and "VF-1" in _out(res), _out(res)
    assert git(w.ds, "status", "--porcelain").strip() == ""

    # the data scientist closes it herself, with her team's approval: refused
    closed = FINDING.replace("status: open", "status: closed\nclosed_at: 2026-06-20\n"
                             "resolution: benchmarked against a decision tree, report VAL-7")
    branch, head = _finding_pr(w, closed)
    res = w.check_pr(head, w.reviews(("grace-ds", head)))
    assert res.code == 1 and "[GOV-06]" in _out(res)
    _drop_branch(w, branch)
    # or deletes it: refused whoever approves
    branch, head = _finding_pr(w, None)
    res = w.check_pr(head, w.reviews(("grace-ds", head), ("erin-val", head)))
    assert res.code == 1 and "deletes validation finding" in _out(res), _out(res)
    _drop_branch(w, branch)

    # the validation team closes it: production passes
    branch, head = _finding_pr(w, closed)
    ok = w.reviews(("erin-val", head))
    assert w.check_pr(head, ok).code == 0
    w.merge(branch)
    branch, head = w.promote("promote", f"{MODEL}@1.0.0", "--stage", "production")
    res = w.check_pr(head, w.reviews(("dave-risk", head)))
    assert res.code == 0, _out(res)
    # show says what was open then, and what is open now
    git(w.ci, "pull", "-q", "--ff-only", "origin", "main")
    then = json.loads(w.cli(w.ci, "show", MODEL, "--at", opened, "--json").out)
    assert [f["id"] for f in then["validation_findings"]] == ["VF-1"]
    assert json.loads(w.cli(w.ci, "show", MODEL, "--json").out)["validation_findings"] == []


def test_an_open_finding_past_due_warns_from_staging(tmp_path: Path, run_cli):
    repo = make_registry(tmp_path, with_models=True)
    folder = repo.root / f"models/{MODEL}/validation"
    folder.mkdir()
    (folder / "VF-2.yaml").write_text(FINDING.replace("VF-1", "VF-2").replace(
        "version: 1.0.0\n", "").replace(
        "severity: high", "severity: low").replace("2099-01-01", "2026-01-31"))
    res = run_cli(repo.root, "check", "--stage", "staging", "--format", "json")
    found = [f for f in json.loads(res.out)["findings"] if f["rule"] == "GOV-06"]
    assert [(f["severity"], f["file"]) for f in found] == [
        ("warning", f"models/{MODEL}/validation/VF-2.yaml")]
    assert "was due on 2026-01-31" in found[0]["message"]
    res = run_cli(repo.root, "check", "--stage", "registered")
    assert "[GOV-06]" not in res.out
    # everywhere a model's status is shown: ls too
    rows = {r["name"]: r for r in json.loads(run_cli(repo.root, "ls", "--json").out)["models"]}
    assert rows[MODEL]["findings"] == {"open": 1, "high": 0, "past_due": 1}
    assert rows["credit-default"]["findings"] == {"open": 0, "high": 0, "past_due": 0}
    assert f"{MODEL}: 1 open validation finding(s), 1 past due" in run_cli(repo.root, "ls").out


def test_a_finding_that_does_not_match_its_file_is_refused(tmp_path: Path, run_cli):
    repo = make_registry(tmp_path, with_models=True)
    folder = repo.root / f"models/{MODEL}/validation"
    folder.mkdir()
    (folder / "VF-3.yaml").write_text(FINDING.replace("version: 1.0.0", "version: 7.0.0"))
    res = run_cli(repo.root, "validate")
    assert res.code == 1
    assert "id 'VF-1' does not match the file name 'VF-3'" in res.out
    assert "concerns version 7.0.0, which has no record" in res.out


# --- ID-07 and DATA-06: base models and the lineage graph -----------------------------------

def _set_base(root: Path, model: str, base: dict | None) -> None:
    path = root / f"models/{model}/model.yaml"
    data = yaml.safe_load(path.read_text())
    if base is None:
        data.pop("base_model", None)
    else:
        data["base_model"] = base
    path.write_text(yaml.safe_dump(data, sort_keys=False))


@pytest.mark.parametrize("base,expected", [
    ({"id": "google-bert/bert-base-uncased", "relation": "finetune"}, None),
    ({"id": "someone/unvetted-model"}, "neither a model of this registry nor an allow-listed"),
    ({"id": "credit-default", "version": "1.0.0"}, "is not a registered version of"),
])
def test_base_models_resolve_over_the_registry(tmp_path: Path, run_cli, base, expected):
    repo = make_registry(tmp_path, with_models=True)
    licences = repo.root / "policies/data/licenses.yaml"     # governance allow-lists one
    licences.write_text(licences.read_text().replace(
        "external_models: {}", "external_models:\n  google-bert/bert-base-uncased:\n"
        "    license: Apache-2.0\n"))
    _set_base(repo.root, MODEL, base)
    res = run_cli(repo.root, "check")
    if expected is None:
        assert "[ID-07]" not in res.out, res.out
    else:
        assert res.code == 1 and "[ID-07]" in res.out and expected in res.out, res.out


def test_a_registered_base_model_must_permit_derivation(world: World):
    w = world
    _release(w, "1.0.0")                          # iris-classifier@v1.0.0, Apache-2.0
    w.start_branch()                              # on main: its own rules judge the edits
    model = w.ds / "models/credit-default/model.yaml"
    text = model.read_text()
    model.write_text(text + "base_model: {id: iris-classifier, version: 1.0.0}\n")
    res = w.cli(w.ds, "check")
    assert "[ID-07]" not in _out(res), _out(res)
    licences = w.ds / "policies/data/licenses.yaml"
    licences.write_text(licences.read_text().replace("derivation:\n  - Apache-2.0\n",
                                                     "derivation:\n"))
    res = w.cli(w.ds, "check")
    assert res.code == 1 and "licensed Apache-2.0, which does not permit derived models" \
        in _out(res), _out(res)


def test_a_lineage_cycle_is_refused(tmp_path: Path, run_cli):
    repo = make_registry(tmp_path, with_models=True)
    _set_base(repo.root, MODEL, {"id": "credit-default"})
    _set_base(repo.root, "credit-default", {"id": MODEL})
    res = run_cli(repo.root, "check")
    assert res.code == 1 and "[DATA-06]" in res.out, res.out
    assert "iris-classifier -> credit-default -> iris-classifier" in res.out or \
        "credit-default -> iris-classifier -> credit-default" in res.out


def test_a_parent_without_a_record_is_refused(world: World):
    w = world
    w.register("1.0.0", b"weights" * 20)
    path = w.ds / f"models/{MODEL}/versions/1.0.0.yaml"
    path.write_text(path.read_text() + "parent: {model: iris-classifier, version: 0.9.0}\n")
    res = w.cli(w.ds, "check")
    assert res.code == 1 and "[DATA-06]" in res.out and "names parent iris-classifier 0.9.0" \
        in res.out, res.out


# --- EVAL-06: robustness for EU high-risk models ---------------------------------------------

def test_high_risk_production_needs_passing_robustness_tests(repo, tmp_path: Path, run_cli):
    """credit-default is EU high-risk: its versions are registered with and without robustness
    tests (register --robustness), then judged at production."""
    shipped = yaml.safe_load((PROJECT / "models/credit-default/versions/1.0.0.yaml").read_text())
    rows = [{k: v for k, v in m.items() if k != "artifact_sha256"} for m in shipped["metrics"]]
    tests = {"1.0.0": None,
             "1.1.0": [{"test": "Gaussian noise on income", "category": "perturbation",
                        "result": "pass", "date": "2026-11-20"}],
             "1.2.0": [{"test": "Label-flip poisoning of 1% of rows", "category": "security",
                        "result": "fail", "date": "2026-11-21"}]}
    for n, (version, robustness) in enumerate(tests.items(), start=1):
        metrics = tmp_path / f"metrics-{version}.json"
        metrics.write_text(json.dumps(rows))
        args = ["register", "credit-default", "--version", version, "--no-branch",
                "--weights", str(write_weights(tmp_path / version, payload=bytes([n]) * 64)),
                "--metrics", str(metrics), "--dataset", "train:credit-applications-train@2026.11",
                "--dataset", "test:credit-applications-test@2026.11", "--allow-findings"]
        if robustness is not None:
            path = tmp_path / f"robustness-{version}.yaml"
            path.write_text(yaml.safe_dump({"robustness": robustness}))
            args += ["--robustness", str(path)]
        res = run_cli(repo.root, *args)
        assert res.code == 0, res.out + res.err
    record = yaml.safe_load((repo.root / "models/credit-default/versions/1.1.0.yaml").read_text())
    assert record["robustness"][0]["result"] == "pass"
    res = run_cli(repo.root, "check", "--stage", "production", "--format", "json")
    found = {(f["version"], f.get("path")) for f in json.loads(res.out)["findings"]
             if f["rule"] == "EVAL-06" and f["severity"] == "error"}
    assert found == {("1.0.0", None), ("1.2.0", "$.robustness[0].result")}, found
    # what register takes is checked before anything is written
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps([{"test": "noise", "result": "maybe", "date": "2026-11-20"}]))
    res = run_cli(repo.root, "register", "credit-default", "--version", "1.3.0", "--no-branch",
                  "--weights", str(write_weights(tmp_path / "1.3.0", payload=b"\x09" * 64)),
                  "--robustness", str(bad), "--dataset", "train:credit-applications-train@2026.11")
    assert res.code != 0 and "bad.json" in res.err and "'maybe' is not one of" in res.err, res.err
    assert not (repo.root / "models/credit-default/versions/1.3.0.yaml").exists()
