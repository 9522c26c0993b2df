"""The audit report and the lineage graph, on a registry whose history is built commit by
commit and tag by tag with fixed dates: golden files, point-in-time reconstruction,
formats, escaping, a model with no versions and a deprecated model."""
from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest
import yaml

import modelreg
from conftest import PROJECT, git
from modelreg.app import audit as au
from modelreg.app import lineage as lin
from modelreg.app.check import CheckResult, Waiver
from modelreg.core.records import Finding, Report
from modelreg.core.tags import format_message
from modelreg.render import audit as audit_render
from modelreg.render import lineage as lineage_render

GOLDEN = Path(__file__).parent / "data" / "audit"
HOSTILE = '<script>alert("x")</script> & <b>bold</b> | # heading'
CODE = "1" * 40
RULES = """rules:
  EVAL-01:
    title: 'Every threshold is met'
    stage: registered
    regulation: {eu_ai_act: 'Art. 15(1)', nist_ai_rmf: 'MEASURE 2.3', sr_11_7: 'outcomes analysis'}
  GOV-02:
    title: 'Four-eyes approval for production'
    stage: production
    regulation: {eu_ai_act: 'Art. 14', nist_ai_rmf: 'MANAGE 1.1', sr_11_7: 'effective challenge'}
  OPS-01:
    title: 'Monitoring plan before production'
    stage: production
    regulation: {eu_ai_act: 'Art. 72', nist_ai_rmf: 'MANAGE 4.1', sr_11_7: 'ongoing monitoring'}
"""


class History:
    """Writes files, commits and tags the way reconcile would, each at a given time."""

    def __init__(self, root: Path):
        self.root = root
        self.counter: dict[str, int] = {}
        self.heads: dict[str, str] = {}          # merge -> the pull request's head
        self.last = ""

    def env(self, when: str) -> dict[str, str]:
        return {"GIT_AUTHOR_DATE": when, "GIT_COMMITTER_DATE": when,
                "GIT_COMMITTER_NAME": "modelreg-reconcile",
                "GIT_COMMITTER_EMAIL": "reconcile@example.com"}

    def commit(self, when: str, message: str, files: dict[str, object]) -> str:
        """A pull request holding ``files``, merged on main (``--no-ff``): the merge."""
        branch = f"pr-{len(self.heads) + 1}"
        git(self.root, "checkout", "-q", "-b", branch)
        for rel, content in files.items():
            path = self.root / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(content if isinstance(content, str) else
                            yaml.safe_dump(content, sort_keys=False, allow_unicode=True))
        git(self.root, "add", "-A")
        git(self.root, "commit", "-q", "-m", message, env=self.env(when))
        head = git(self.root, "rev-parse", "HEAD").strip()
        git(self.root, "checkout", "-q", "main")
        git(self.root, "merge", "-q", "--no-ff", "-m", f"Merge pull request #{len(self.heads) + 1}"
            f"\n\n{message}", branch, env=self.env(when))
        git(self.root, "branch", "-q", "-D", branch)
        git(self.root, "push", "-q", "origin", "main")
        merge = git(self.root, "rev-parse", "HEAD").strip()
        self.heads[merge] = head
        self.last = merge
        return merge

    def tag(self, when: str, name: str, target: str, evidence: dict, title: str,
            merge: str | None = None) -> None:
        merge = merge or self.last
        head = self.heads[merge]
        for review in evidence.get("reviews") or []:
            review["commit_id"] = head
        evidence = {"merge_commit": merge, "policy_digest": "sha256:" + "ab" * 32,
                    "decision": "pass", "tool": "modelreg 0.1.0", **evidence, "head": head}
        git(self.root, "tag", "-s", name, target, "-m", format_message(title, evidence),
            env=self.env(when))

    def next(self, model: str) -> int:
        self.counter[model] = self.counter.get(model, 0) + 1
        return self.counter[model]

    def register(self, when: str, model: str, version: str, commit: str, pr: int,
                 approver: str) -> None:
        self.tag(when, f"{model}@v{version}", commit, merge=commit, evidence=
                 {"event": "register", "model": model, "version": version, "pr": pr,
                  "pr_author": "alice-ds", "approvers": [approver],
                  "reviews": [{"id": 1, "user": {"login": approver}, "state": "APPROVED",
                               "commit_id": commit, "submitted_at": when}]},
                 title=f"Register {model} {version}")
        self.next(model)

    def assign(self, when: str, model: str, version: str, stage: str, commit: str, pr: int,
               approver: str) -> None:
        n = self.next(model)
        self.tag(when, f"{model}#{stage}#{n}", commit,
                 {"event": "assign", "model": model, "version": version, "stage": stage,
                  "pr": pr, "pr_author": "alice-ds", "approvers": [approver],
                  "reviews": [{"id": 1, "user": {"login": approver}, "state": "APPROVED",
                               "commit_id": commit, "submitted_at": when}]},
                 f"Promote {model} {version} to {stage}")

    def deprecate(self, when: str, model: str, commit: str, pr: int) -> None:
        n = self.next(model)
        self.tag(when, f"{model}@deprecated#{n}", commit,
                 {"event": "deprecate", "model": model, "pr": pr, "approvers": ["carol-risk"]},
                 f"Deprecate {model}")


def record(model: str, version: str, accuracy: float, parent: str | None = None,
           message: str = "Logistic regression on the iris data.") -> dict:
    data = yaml.safe_load((PROJECT / "models/iris-classifier/versions/1.0.0.yaml").read_text())
    data.update(model=model, version=version, created_at="2026-06-01T09:00:00Z",
                message=message)
    data["code"]["commit"] = CODE
    data["artifacts"][0]["path"] = f"models/{model}/versions/{version}/model.safetensors"
    data["artifacts"][0]["dvc_file"] = data["artifacts"][0]["path"] + ".dvc"
    data["metrics"][0]["value"] = accuracy
    data["metrics"][1]["value"] = 0.8 if version == "1.0.0" else 0.93
    if parent:
        pm, pv = parent.split("@")
        data["parent"] = {"model": pm, "version": pv}
    return data


def build_history(root: Path, hostile: bool = False) -> History:
    """iris-classifier: 1.0.0 to staging and production; 1.1.0 (child of 1.0.0) replaces
    it; the model's title changes on 2026-06-10. credit-default: 1.0.0, then deprecated.
    iris-distilled derives from iris-classifier 1.1.0. empty-model has no versions."""
    h = History(root)
    iris = "models/iris-classifier"
    model = yaml.safe_load((root / iris / "model.yaml").read_text())
    if hostile:
        model["title"] = HOSTILE
        model["summary"] = HOSTILE
    (root / "policies/data/rules.yaml").write_text(RULES)
    empty = dict(model, name="empty-model", title="A model with no versions")
    c1 = h.commit("2026-06-02T10:00:00Z", "Register iris-classifier 1.0.0", {
        f"{iris}/model.yaml": model,
        "models/empty-model/model.yaml": empty,
        f"{iris}/versions/1.0.0.yaml": record("iris-classifier", "1.0.0", 0.91,
                                              message=HOSTILE if hostile else "First."),
        "policies/data/rules.yaml": RULES})
    h.register("2026-06-02T12:00:00Z", "iris-classifier", "1.0.0", c1, 1, "grace-ds")
    c2 = h.commit("2026-06-03T10:00:00Z", "Register credit-default 1.0.0", {
        "models/credit-default/versions/1.0.0.yaml": record("credit-default", "1.0.0", 0.95)})
    h.register("2026-06-03T12:00:00Z", "credit-default", "1.0.0", c2, 2, "carol-risk")
    h.commit("2026-06-04T10:00:00Z", "Promote to staging",
             {f"{iris}/stages.yaml": "stages:\n  staging: 1.0.0\n"})
    h.assign("2026-06-04T12:00:00Z", "iris-classifier", "1.0.0", "staging", c1, 3, "carol-risk")
    h.commit("2026-06-06T10:00:00Z", "Promote to production",
             {f"{iris}/stages.yaml": "stages:\n  staging: 1.0.0\n  production: 1.0.0\n"})
    h.assign("2026-06-06T12:00:00Z", "iris-classifier", "1.0.0", "production", c1, 4,
             "dave-risk")
    renamed = dict(model, title="Iris species classifier, second edition") \
        if not hostile else model
    c5 = h.commit("2026-06-10T10:00:00Z", "Register iris-classifier 1.1.0", {
        f"{iris}/model.yaml": renamed,
        f"{iris}/versions/1.1.0.yaml": record("iris-classifier", "1.1.0", 0.97,
                                              parent="iris-classifier@1.0.0")})
    h.register("2026-06-10T12:00:00Z", "iris-classifier", "1.1.0", c5, 5, "grace-ds")
    h.commit("2026-06-12T10:00:00Z", "Promote 1.1.0 to staging", {
        f"{iris}/stages.yaml": "stages:\n  staging: 1.1.0\n  production: 1.0.0\n"})
    h.assign("2026-06-12T12:00:00Z", "iris-classifier", "1.1.0", "staging", c5, 6, "carol-risk")
    h.commit("2026-06-15T10:00:00Z", "Promote 1.1.0 to production", {
        f"{iris}/stages.yaml": "stages:\n  staging: 1.1.0\n  production: 1.1.0\n"})
    h.assign("2026-06-15T12:00:00Z", "iris-classifier", "1.1.0", "production", c5, 7,
             "dave-risk")
    distilled = dict(model, name="iris-distilled", title="Distilled iris classifier")
    c8 = h.commit("2026-06-18T10:00:00Z", "Register iris-distilled 0.1.0", {
        "models/iris-distilled/model.yaml": distilled,
        "models/iris-distilled/versions/0.1.0.yaml": record(
            "iris-distilled", "0.1.0", 0.92, parent="iris-classifier@1.1.0")})
    h.register("2026-06-18T12:00:00Z", "iris-distilled", "0.1.0", c8, 8, "grace-ds")
    c9 = h.commit("2026-06-20T10:00:00Z", "Deprecate credit-default",
                  {"models/credit-default/stages.yaml": "stages: {}\ndeprecated: true\n"})
    h.deprecate("2026-06-20T12:00:00Z", "credit-default", c9, 9)
    return h


@pytest.fixture
def history(repo):
    build_history(repo.root)
    return repo


def fixed_check(name: str) -> CheckResult:
    """A policy result chosen by the test, so the golden file does not follow policy edits."""
    finding = Finding(f"models/{name}/versions/1.0.0.yaml", "EVAL-01",
                      "f1_macro 0.8 is below its threshold 0.88", line=52, model=name,
                      version="1.0.0")
    waived = Finding(f"models/{name}/model.yaml", "OPS-01", "no monitoring plan", model=name,
                     version="1.1.0")
    return CheckResult(Report("check", 4, (finding,)),
                       (Waiver(waived, "monitoring moves to the new platform", "carol-risk",
                               "2026-12-31"),), "regorus", None, (name,), 2)


def normalise(text: str, root: Path) -> str:
    """Commit ids depend on the template's files (policies, schemas): name them by order."""
    commits = git(root, "rev-list", "--reverse", "main").split()
    for i, sha in enumerate(commits):
        text = text.replace(sha, f"<commit-{i}>").replace(sha[:12], f"<commit-{i}:12>")
    return text


def check_golden(name: str, text: str) -> None:
    path = GOLDEN / name
    if os.environ.get("MODELREG_UPDATE_GOLDEN") or not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    assert text == path.read_text(encoding="utf-8"), f"{name} differs; rerun with " \
        "MODELREG_UPDATE_GOLDEN=1 if the change is intended"


@pytest.mark.parametrize("fmt", ["md", "json"])
def test_golden_report(history, fmt):
    reg = modelreg.open_registry(history.root)
    report = au.audit(reg, "iris-classifier", check_result=fixed_check("iris-classifier"),
                      now="2026-07-01T00:00:00Z")
    check_golden(f"iris-classifier.{fmt}", normalise(audit_render.render(report, fmt), history.root))


def test_report_content(history):
    reg = modelreg.open_registry(history.root)
    r = au.audit(reg, "iris-classifier", check_result=fixed_check("iris-classifier"),
                 now="2026-07-01T00:00:00Z")
    assert r["stages"] == {"production": "1.1.0", "staging": "1.1.0"}
    v1 = next(v for v in r["versions"] if v["version"] == "1.0.0")
    assert [(i["stage"], i["entered"], i["left"]) for i in v1["stage_history"]] == [
        ("staging", "2026-06-04T12:00:00Z", "2026-06-12T12:00:00Z"),
        ("production", "2026-06-06T12:00:00Z", "2026-06-15T12:00:00Z")]
    assert v1["stage_history"][1]["sign_off"]["approvers"] == ["dave-risk"]
    assert v1["registration"]["approvers"] == ["grace-ds"]
    assert v1["registration"]["policy_digest"] == "sha256:" + "ab" * 32
    assert v1["datasets"][0]["sha256"] and v1["code"]["commit"] == CODE
    # the thresholded metrics judged; the example's per-species recall rows have none
    assert [m["met"] for m in v1["metrics"]] == [True, False, None, None, None]
    v11 = r["versions"][0]
    assert v11["parent"] == {"model": "iris-classifier", "version": "1.0.0"}
    assert r["policy"]["waived"][0]["expires"] == "2026-12-31"
    status = {g["rule"]: g["status"] for g in r["regulations"]}
    assert status == {"EVAL-01": "fail", "GOV-02": "pass", "OPS-01": "waived"}
    assert next(g for g in r["regulations"] if g["rule"] == "GOV-02")["eu_ai_act"] == "Art. 14"


def test_at_reconstructs_an_earlier_state(history, run_cli):
    res = run_cli(history.root, "audit", "iris-classifier", "--at", "2026-06-08",
                  "--format", "json")
    assert res.code == 0, res.err
    r = json.loads(res.out)
    assert r["as_of"] == "2026-06-08T23:59:59Z" and r["source"]["kind"] == "git history"
    # 1.1.0 was registered and promoted after that date: not there, not in production
    assert r["stages"] == {"staging": "1.0.0", "production": "1.0.0"}
    assert [v["version"] for v in r["versions"]] == ["1.0.0"]
    # the title changed on 2026-06-10: the report shows the old one
    assert r["identity"]["title"] == "Iris species classifier"
    assert r["policy"]["kind"] == "recorded"
    assert [d["decision"] for d in r["policy"]["recorded_decisions"]] == ["pass"] * 3
    v1 = r["versions"][0]
    assert all(i["left"] is None for i in v1["stage_history"])
    now = json.loads(run_cli(history.root, "audit", "iris-classifier", "--format",
                             "json").out)
    assert now["identity"]["title"] == "Iris species classifier, second edition"
    # the commit read is the protected branch's last one before the date
    expected = git(history.root, "rev-list", "-1", "--first-parent",
                   "--before=2026-06-08T23:59:59Z", "main").strip()
    assert r["source"]["commit"] == expected
    res = run_cli(history.root, "audit", "iris-classifier", "--at", "2026-04-01")
    assert res.code == 2 and "did not exist" in res.err


def test_json_report_matches_its_schema(history, run_cli):
    import jsonschema

    schema = json.loads((PROJECT / "schemas/audit.schema.json").read_text())
    for args in ([], ["--at", "2026-06-05"]):
        for name in ("iris-classifier", "credit-default", "empty-model"):
            res = run_cli(history.root, "audit", name, "--format", "json", *args)
            if name == "empty-model" and args:
                assert res.code == 0     # the model file existed: no versions, no tags
            assert res.code == 0, res.err
            jsonschema.validate(json.loads(res.out), schema)


def test_model_with_no_versions(history, run_cli):
    res = run_cli(history.root, "audit", "empty-model")
    assert res.code == 0, res.err
    assert "No version has been registered." in res.out and "No registry tags." in res.out
    res = run_cli(history.root, "audit", "empty-model", "--format", "html")
    assert res.code == 0 and "No version has been registered." in res.out


def test_deprecated_model_in_history(history, run_cli):
    r = json.loads(run_cli(history.root, "audit", "credit-default", "--format", "json").out)
    assert r["deprecated"] is True and r["stages"] == {}
    assert r["timeline"][-1]["event"] == "deprecate"
    before = json.loads(run_cli(history.root, "audit", "credit-default", "--at", "2026-06-19",
                                "--format", "json").out)
    assert before["deprecated"] is False


def test_all_writes_one_file_per_model(history, run_cli, tmp_path):
    out = tmp_path / "reports"
    res = run_cli(history.root, "audit", "--all", "--format", "html", "--out", str(out))
    assert res.code == 0, res.err
    assert sorted(p.name for p in out.iterdir()) == [
        "credit-default.html", "empty-model.html", "iris-classifier.html",
        "iris-distilled.html"]
    assert run_cli(history.root, "audit", "--all").code == 2
    assert run_cli(history.root, "audit").code == 2
    assert run_cli(history.root, "audit", "no-such-model").code == 2


def test_html_and_script_are_escaped_in_the_report(repo, run_cli):
    build_history(repo.root, hostile=True)
    res = run_cli(repo.root, "audit", "iris-classifier", "--format", "html")
    assert res.code == 0, res.err
    assert "<script>" not in res.out and "<b>bold</b>" not in res.out
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in res.out
    md = run_cli(repo.root, "audit", "iris-classifier", "--format", "md").out
    assert "<script>" not in md and "&lt;script&gt;" in md
    # in a table cell, a pipe cannot open a new cell and '#' cannot start a heading
    title_row = next(line for line in md.splitlines() if line.startswith("| title |"))
    assert len(re.findall(r"(?<!\\)\|", title_row)) == 3 and "\\|" in title_row
    assert not any(line.startswith("# heading") for line in md.splitlines())


# --- lineage ------------------------------------------------------------------------------
def test_lineage_formats(history, run_cli):
    res = run_cli(history.root, "lineage", "iris-classifier@1.1.0", "--format", "json")
    assert res.code == 0, res.err
    g = json.loads(res.out)
    keys = {n["key"]: n for n in g["nodes"]}
    assert set(keys) == {"dataset:iris-test@2026.11", "dataset:iris-train@2026.11",
                         f"code:{CODE}", "iris-classifier@1.0.0", "iris-classifier@1.1.0",
                         "iris-distilled@0.1.0"}
    assert keys["dataset:iris-train@2026.11"]["sha256"].startswith("56976b3c")
    ids = {n["id"]: n["key"] for n in g["nodes"]}
    edges = {(ids[e["from"]], ids[e["to"]], e["relation"]) for e in g["edges"]}
    assert ("iris-classifier@1.0.0", "iris-classifier@1.1.0", "parent") in edges
    assert ("iris-classifier@1.1.0", "iris-distilled@0.1.0", "parent") in edges
    assert ("dataset:iris-train@2026.11", "iris-classifier@1.1.0", "train") in edges
    assert all(re.fullmatch(r"n\d+", n["id"]) for n in g["nodes"])
    mermaid = run_cli(history.root, "lineage", "iris-classifier@1.1.0").out
    assert mermaid.startswith("flowchart LR\n") and "-->|parent|" in mermaid
    dot = run_cli(history.root, "lineage", "iris-classifier@1.1.0", "--format", "dot").out
    assert dot.startswith("digraph lineage {") and dot.rstrip().endswith("}")
    # deterministic
    assert run_cli(history.root, "lineage", "iris-classifier@1.1.0").out == mermaid
    assert run_cli(history.root, "lineage", "iris-classifier@9.0.0").code == 2
    assert run_cli(history.root, "lineage", "iris-classifier").code == 2


def test_lineage_labels_cannot_inject(history):
    reg = modelreg.open_registry(history.root)
    path = history.root / "models/iris-classifier/versions/1.1.0.yaml"
    data = yaml.safe_load(path.read_text())
    data["datasets"][0]["id"] = 'x"] --> evil["<script>'
    data["datasets"][0]["revision"] = 'r";\n}\ndigraph evil {'
    path.write_text(yaml.safe_dump(data))
    graph = lin.lineage(reg, "iris-classifier", "1.1.0")
    mermaid = lineage_render.to_mermaid(graph)
    node_line = re.compile(r'  n\d+(\[\("[^"\n]*"\)\]|\{\{"[^"\n]*"\}\}|\["[^"\n]*"\])')
    edge_line = re.compile(r"  n\d+ -->\|[a-z]+\| n\d+|  class(Def)? .*")
    for line in mermaid.splitlines()[1:]:
        assert node_line.fullmatch(line) or edge_line.fullmatch(line), line
    assert "<script>" not in mermaid and "#quot;" in mermaid
    dot = lineage_render.to_dot(graph)
    label = r'"(?:[^"\\\n]|\\.)*"'
    dot_line = re.compile(rf"  n\d+ \[label={label}, shape=\w+.*\];|  n\d+ -> n\d+ "
                          rf"\[label={label}\];|  rankdir=LR;|  node .*")
    lines = dot.splitlines()
    assert lines[0] == "digraph lineage {" and lines[-1] == "}"
    for line in lines[1:-1]:
        assert dot_line.fullmatch(line), line
