"""The policy layer: Rego unit tests on every engine, engine parity, the opa-server backend
over loopback, error handling (exit 3, never a silent pass) and ``modelreg check``."""
from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator

from modelreg.app.check import check
from modelreg.core.errors import CannotRunError, UsageError
from modelreg.policy.engines import (
    DECISION_QUERY,
    PolicySet,
    create_engine,
    load_policy_set,
    resolve_engine_name,
)
from modelreg.policy.explain import explain, rule_ids_in
from modelreg.store.registry import open_registry

from .conftest import INSTALLED, PROJECT, fixture_names, git, load_fixture, write_version

NOW = "2026-11-27T12:00:00Z"


def run_cli(root: Path, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    import os

    return subprocess.run([sys.executable, "-m", "modelreg", "-C", str(root), *args],
                          capture_output=True, text=True, env={**os.environ, **(env or {})})


def normalise(decision: dict) -> dict:
    return {k: sorted(json.dumps(f, sort_keys=True) for f in decision[k])
            for k in ("deny", "warn", "waived")}


# --- Rego unit tests and parity -------------------------------------------------------------
@pytest.fixture(scope="module")
def test_policy_set() -> PolicySet:
    return load_policy_set(PROJECT, tests=True)


@pytest.mark.parametrize("engine", INSTALLED)
def test_every_policy_test_passes(engine, test_policy_set):
    eng = create_engine(engine)
    eng.load(test_policy_set)
    results = eng.run_tests()
    assert len(results) >= 80
    bad = [(r.name, r.status, r.message) for r in results if r.status not in ("pass", "skip")]
    assert bad == []
    assert {r.status for r in results} <= {"pass", "skip"}


def test_parity_across_installed_engines(test_policy_set):
    import os

    # make test installs regorus and opa-lib: in CI both must be there, never skipped
    assert not os.environ.get("CI") or {"regorus", "opa-lib"} <= set(INSTALLED), INSTALLED
    if len(INSTALLED) < 2:
        pytest.skip("parity needs two installed engines (make test installs both)")
    outcomes = {}
    for engine in INSTALLED:
        eng = create_engine(engine)
        eng.load(test_policy_set)
        tests = {(r.package, r.name): r.status for r in eng.run_tests()}
        decisions = {}
        for name in fixture_names():
            fx = load_fixture(name)
            fixed = PolicySet(test_policy_set.policies, {**test_policy_set.data, **fx["reference"]})
            e2 = create_engine(engine)
            e2.load(fixed)
            decisions[name] = normalise(e2.evaluate(DECISION_QUERY, fx["input"]))
        outcomes[engine] = (tests, decisions)
    first = INSTALLED[0]
    for engine in INSTALLED[1:]:
        assert outcomes[engine][0] == outcomes[first][0], f"test results differ: {engine}"
        for name, decision in outcomes[first][1].items():
            assert outcomes[engine][1][name] == decision, f"{name} differs on {engine}"


def test_fixtures_decide_as_documented():
    expected = {"passing": set(), "model-without-versions": set(), "prohibited": {"RISK-01"},
                "failing": {"ART-02", "ART-04", "CARD-03", "EVAL-01", "GOV-02", "GOV-07"}}
    ps = load_policy_set(PROJECT)
    for name, ids in expected.items():
        fx = load_fixture(name)
        eng = create_engine("regorus")
        eng.load(PolicySet(ps.policies, {**ps.data, **fx["reference"]}))
        decision = eng.evaluate(DECISION_QUERY, fx["input"])
        assert {f["id"] for f in decision["deny"]} == ids, name
    fx = load_fixture("failing")
    eng = create_engine("regorus")
    eng.load(PolicySet(ps.policies, {**ps.data, **fx["reference"]}))
    decision = eng.evaluate(DECISION_QUERY, fx["input"])
    # OPS-03's waiver was approved on the pull request by its approver; ART-02 cannot be
    # waived (GOV-07 denies the attempt) and ART-04's waiver has expired (GOV-07 warns)
    assert [f["id"] for f in decision["waived"]] == ["OPS-03"]
    assert {f["id"] for f in decision["warn"]} == {"GOV-07"}


def test_catalogue_and_policies_name_the_same_rules():
    ps = load_policy_set(PROJECT, tests=True)
    catalogue = ps.data["rules"]["rules"]
    used_everywhere = set().union(*(rule_ids_in(pf.text) for pf in ps.files))
    used_by_policies = set().union(*(rule_ids_in(pf.text) for pf in ps.policies))
    assert used_everywhere <= set(catalogue), used_everywhere - set(catalogue)
    rego_rules = {k for k, v in catalogue.items() if v["check"] == "rego"}
    assert rego_rules == used_by_policies
    for rule in catalogue.values():
        assert rule["stage"] in ("registered", "staging", "production")
        assert rule["severity"] in ("deny", "warn")
        assert set(rule["regulation"]) == {"eu_ai_act", "nist_ai_rmf", "sr_11_7"}
    assert catalogue["RISK-01"]["waivable"] is False


def test_policies_stay_in_the_portable_subset():
    for path in (PROJECT / "policies").glob("*.rego"):
        text = re.sub(r'"(?:[^"\\]|\\.)*"', '""', re.sub(r"#[^\n]*", "", path.read_text()))
        assert not re.search(r"(?<![\w./])data(?![\w./])", text), path
        assert "**" not in text and "rego.metadata" not in text and '$"' not in text, path


def test_explain_names_gate_data_and_code():
    info = explain(load_policy_set(PROJECT), "eval-04")
    assert info["id"] == "EVAL-04"
    assert info["applies_to"] == ["staging", "production"]
    assert "policies/data/tiers.yaml" in info["data"]
    assert info["implemented_in"] == ["policies/evaluation.rego"]
    with pytest.raises(UsageError, match="unknown rule"):
        explain(load_policy_set(PROJECT), "NOPE-99")


# --- the opa-server backend over loopback ---------------------------------------------------
def test_opa_server_gives_the_same_decisions(opa_server, test_policy_set):
    eng = create_engine("opa-server", opa_url=opa_server.url)
    eng.load(test_policy_set)
    results = eng.run_tests()
    assert {r.status for r in results} <= {"pass", "skip"}
    assert "policies_lib.rego" in opa_server.policies          # pushed with the Policy API
    assert "rules" in opa_server.data["registry"]                 # data with the Data API
    fx = load_fixture("batch")
    local = create_engine("regorus")
    fixed = PolicySet(test_policy_set.policies, {**test_policy_set.data, **fx["reference"]})
    local.load(fixed)
    remote = create_engine("opa-server", opa_url=opa_server.url)
    remote.load(fixed)
    assert normalise(remote.evaluate(DECISION_QUERY, fx["input"])) == \
        normalise(local.evaluate(DECISION_QUERY, fx["input"]))


def test_check_through_opa_server(registry_repo, opa_server):
    write_version(registry_repo, accuracy="0.5")
    result = check(open_registry(registry_repo), engine="opa-server", opa_url=opa_server.url,
                   now=NOW)
    assert result.engine == "opa-server"
    assert [f.rule for f in result.report.findings] == ["EVAL-01"]


def test_opa_server_down_exits_3(registry_repo, opa_server):
    url = opa_server.url
    opa_server.shutdown()
    opa_server.server_close()
    proc = run_cli(registry_repo, "check", "--engine", "opa-server", "--opa-url", url)
    assert proc.returncode == 3, proc.stderr
    assert "not reachable" in proc.stderr or "not healthy" in proc.stderr


def test_opa_server_garbage_exits_3(registry_repo, opa_server):
    write_version(registry_repo)
    opa_server.garbage = True
    proc = run_cli(registry_repo, "check", "--engine", "opa-server", "--opa-url", opa_server.url)
    assert proc.returncode == 3, proc.stdout + proc.stderr
    assert "OPA server" in proc.stderr


def test_opa_server_rejects_syntax_error_with_location(registry_repo, opa_server):
    (registry_repo / "policies/broken.rego").write_text("package broken\n\nx if {\n  sprintf(\"a\", [1]\n}\n")
    with pytest.raises(CannotRunError) as info:
        create_engine("opa-server", opa_url=opa_server.url).load(
            load_policy_set(registry_repo))
    assert info.value.file == "policies/broken.rego"


# --- errors: exit 3, never a silent pass ----------------------------------------------------
@pytest.mark.parametrize("engine", INSTALLED)
def test_syntax_error_names_file_and_line(registry_repo, engine):
    write_version(registry_repo)
    (registry_repo / "policies/broken.rego").write_text(
        "package broken\n\nx if {\n  sprintf(\"a\", [1]\n}\n")
    proc = run_cli(registry_repo, "check", "--engine", engine)
    assert proc.returncode == 3, proc.stdout + proc.stderr
    assert re.search(r"policies/broken\.rego:[45]", proc.stderr), proc.stderr
    assert "Stack backtrace" not in proc.stderr


@pytest.mark.parametrize("engine", INSTALLED)
def test_runtime_builtin_error_exits_3(registry_repo, engine):
    write_version(registry_repo)
    (registry_repo / "policies/zz_runtime.rego").write_text(
        "package modelreg.identity\n\ndeny contains f if {\n  some doc in input.models\n"
        "  f := to_number(doc.name)\n}\n")
    proc = run_cli(registry_repo, "check", "--engine", engine)
    assert proc.returncode == 3, proc.stdout + proc.stderr
    assert "policies/zz_runtime.rego" in proc.stderr


def test_unknown_engine_lists_known_names(registry_repo):
    proc = run_cli(registry_repo, "check", "--engine", "wasm")
    assert proc.returncode == 2
    for name in ("auto", "regorus", "opa-lib", "opa", "opa-server"):
        assert name in proc.stderr
    with pytest.raises(UsageError):
        resolve_engine_name("wasm")


def test_missing_opa_binary_exits_3(registry_repo, tmp_path):
    import os

    proc = run_cli(registry_repo, "check", "--engine", "opa",
                   env={"PATH": str(tmp_path / "empty") + os.pathsep + "/usr/bin:/bin"})
    if Path("/usr/bin/opa").exists():
        pytest.skip("an opa binary is installed system-wide")
    assert proc.returncode == 3
    assert "opa binary is not on PATH" in proc.stderr


def test_broken_data_file_exits_3(registry_repo):
    (registry_repo / "policies/data/tiers.yaml").write_text("tiers: [unclosed\n")
    proc = run_cli(registry_repo, "check", "--engine", "regorus")
    assert proc.returncode == 3
    assert "policies/data/tiers.yaml" in proc.stderr


def test_missing_decision_is_not_a_pass(registry_repo):
    (registry_repo / "policies/main.rego").write_text("package modelreg.main\n\nx := 1\n")
    write_version(registry_repo)
    with pytest.raises(CannotRunError, match="no decision"):
        check(open_registry(registry_repo), engine="regorus", now=NOW)


# --- modelreg check ---------------------------------------------------------------------
def test_template_registry_is_green(registry_repo):
    proc = run_cli(registry_repo, "check")
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_good_version_passes_and_broken_threshold_fails(registry_repo):
    path = write_version(registry_repo)
    assert run_cli(registry_repo, "check", "--engine", "regorus").returncode == 0
    write_version(registry_repo, accuracy="0.85")
    proc = run_cli(registry_repo, "check", "--engine", "regorus")
    assert proc.returncode == 1
    line = next(i for i, t in enumerate(path.read_text().splitlines(), 1) if "0.85" in t)
    assert f"models/iris-classifier/versions/1.0.0.yaml:{line}: [EVAL-01] accuracy" in proc.stdout


def test_stage_flag_applies_later_gates(registry_repo):
    write_version(registry_repo)
    proc = run_cli(registry_repo, "check", "--engine", "regorus", "--stage", "staging")
    assert proc.returncode == 1
    assert "[CARD-01]" in proc.stdout and "Training Data" in proc.stdout
    assert "[OPS-01]" not in proc.stdout          # a production gate


def test_json_report_is_valid_and_versioned(registry_repo):
    write_version(registry_repo, accuracy="0.85")
    proc = run_cli(registry_repo, "check", "--engine", "regorus", "--json")
    assert proc.returncode == 1
    report = json.loads(proc.stdout)
    schema = json.loads((PROJECT / "schemas/report.schema.json").read_text())
    Draft202012Validator(schema).validate(report)
    assert report["command"] == "check" and report["ok"] is False
    assert report["check"]["engine"] == "regorus"
    assert any(f["rule"] == "EVAL-01" and f["path"] == "$.metrics[0].value"
               for f in report["findings"])


def test_github_format_writes_annotations_and_summary(registry_repo, tmp_path):
    write_version(registry_repo, accuracy="0.85")
    summary = tmp_path / "summary.md"
    proc = run_cli(registry_repo, "check", "--engine", "regorus", "--format", "github",
                   env={"GITHUB_STEP_SUMMARY": str(summary)})
    assert proc.returncode == 1
    assert re.search(r"^::error file=models/iris-classifier/versions/1\.0\.0\.yaml,line=\d+,"
                     r"title=EVAL-01::accuracy", proc.stdout, re.M), proc.stdout
    text = summary.read_text()
    assert "modelreg check" in text and "| EVAL-01 |" in text


def test_broken_model_does_not_hide_other_findings(registry_repo):
    write_version(registry_repo, accuracy="0.85")
    (registry_repo / "models/credit-default/model.yaml").write_text("name: [broken\n")
    result = check(open_registry(registry_repo), engine="regorus", now=NOW)
    rules = {(f.file, f.rule) for f in result.report.findings}
    assert ("models/credit-default/model.yaml", "ID-00") in rules
    assert ("models/iris-classifier/versions/1.0.0.yaml", "EVAL-01") in rules


def test_changed_since_checks_only_touched_models(registry_repo):
    write_version(registry_repo)
    git(registry_repo, "add", "-A")
    git(registry_repo, "commit", "-q", "-m", "iris 1.0.0")
    base = git(registry_repo, "rev-parse", "HEAD").strip()
    model = registry_repo / "models/credit-default/model.yaml"
    model.write_text(model.read_text().replace("team: credit-analytics", "team: nobody"))
    result = check(open_registry(registry_repo), changed_since=base, engine="regorus", now=NOW)
    assert result.models == ("credit-default",)
    assert [f.rule for f in result.report.findings] == ["ID-05"]
    line = next(i for i, t in enumerate(model.read_text().splitlines(), 1) if "team: nobody" in t)
    assert result.report.findings[0].line == line


def test_registered_version_edit_is_denied(registry_repo):
    write_version(registry_repo)
    git(registry_repo, "add", "-A")
    git(registry_repo, "commit", "-q", "-m", "iris 1.0.0")
    git(registry_repo, "tag", "-s", "iris-classifier@v1.0.0", "-m", "registered")
    path = registry_repo / "models/iris-classifier/versions/1.0.0.yaml"
    path.write_text(path.read_text().replace("0.95", "0.97"))
    result = check(open_registry(registry_repo), engine="regorus", now=NOW)
    assert "ID-03" in {f.rule for f in result.report.findings}


def test_waiver_is_reported(registry_repo):
    path = write_version(registry_repo, accuracy="0.85")
    path.write_text(path.read_text() + "exceptions:\n  - {rule: EVAL-01, justification: "
                    "accepted for the demo, approved_by: carol-risk, expires: '2030-01-01'}\n")
    # the waiver counts because carol-risk approved the pull request that adds it, and lasts
    # until its expiry or tiers.yaml waivers.max_days after that approval, whichever is first
    import datetime as dt

    git(registry_repo, "add", "-A")
    git(registry_repo, "commit", "-q", "-m", "iris 1.0.0")
    head = git(registry_repo, "rev-parse", "HEAD").strip()
    approved = dt.datetime.now(dt.UTC).replace(microsecond=0) - dt.timedelta(days=1)
    reviews = registry_repo.parent / "reviews.json"
    reviews.write_text(json.dumps([{"user": {"login": "carol-risk"}, "state": "APPROVED",
                                    "commit_id": head,
                                    "submitted_at": approved.strftime("%Y-%m-%dT%H:%M:%SZ")}]))
    proc = run_cli(registry_repo, "check", "--engine", "regorus", "--reviews", str(reviews),
                   "--pr-author", "alice-ds", "--head", head)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    until = min("2030-01-01", (approved + dt.timedelta(days=365)).strftime("%Y-%m-%d"))
    assert f"[EVAL-01] waived until {until} (approved by carol-risk)" in proc.stdout
    # nobody approved: carol-risk's name in the record waives nothing
    proc = run_cli(registry_repo, "check", "--engine", "regorus")
    assert proc.returncode == 1 and "[GOV-10]" in proc.stdout and "waived until" not in proc.stdout


def test_policy_test_and_explain_commands(registry_repo):
    # a test not written yet (todo_ prefix) is reported as skipped, not passed
    (registry_repo / "policies/pending_test.rego").write_text(
        "package pending_test\n\ntodo_later if false\n")
    proc = run_cli(registry_repo, "policy", "test", "--engine", "regorus")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "PASS" in proc.stdout and "SKIPPED" in proc.stdout
    (registry_repo / "policies/extra_test.rego").write_text(
        "package extra_test\n\ntest_fails if false\n")
    proc = run_cli(registry_repo, "policy", "test", "--engine", "regorus")
    assert proc.returncode == 1 and "test_fails: FAIL" in proc.stdout
    proc = run_cli(registry_repo, "policy", "explain", "RISK-01")
    assert proc.returncode == 0
    assert "gate:      registered" in proc.stdout and "cannot be waived" in proc.stdout


def _captured_input(root: Path, **kw) -> dict:
    """The policy input a check of ``root`` sends to the engine."""
    captured = {}

    class Recorder:
        name = "recorder"

        def evaluate(self, query, input):
            captured["input"] = input
            return {"deny": [], "warn": [], "waived": []}

    check(open_registry(root), engine=Recorder(), now=NOW, **kw)
    return captured["input"]


def test_input_documents_match_their_schema(registry_repo):
    from modelreg.policy import inputs

    schema = json.loads((PROJECT / "schemas/input.schema.json").read_text())
    validator = Draft202012Validator(schema)
    for name in fixture_names():
        validator.validate(load_fixture(name)["input"])
    write_version(registry_repo)
    sent = _captured_input(registry_repo)
    validator.validate(sent)
    docs = {d["name"]: d for d in sent["models"]}
    shared = sent["shared"]
    # the model and its card go once per model, not in each version's document
    assert "card" not in docs["iris-classifier"] and "model" not in docs["iris-classifier"]
    assert shared["iris-classifier"]["card"]["sections"]["Model Details"].endswith(
        "Multinomial logistic regression on the four iris measurements.")
    assert shared["iris-classifier"]["model"]["name"] == "iris-classifier"
    assert docs["iris-classifier"]["stage"] == inputs.REGISTERED
    assert docs["credit-default"]["version"] is None


# --- what a model's documents share goes once per model -------------------------------------
CUSTOM_RULE = """
# a registry's own rule, written the way rules were before lib.documents: over input.models
deny contains f if {
	some doc in input.models
	doc.model.owner.team == "ml-platform"
	f := lib.finding(doc, "CUSTOM-01", "model", ["owner", "team"], "no ml-platform models here")
}
"""


def test_a_registry_rule_reading_input_models_still_sees_the_model(registry_repo):
    """A registry's own rule written over ``input.models`` (or an older lib.rego) must be
    given documents that carry their model and card: with them sent once per model it
    would see no ``doc.model`` and pass silently."""
    write_version(registry_repo)
    assert "shared" in _captured_input(registry_repo)
    governance = registry_repo / "policies/governance.rego"
    governance.write_text(governance.read_text() + CUSTOM_RULE)
    sent = _captured_input(registry_repo)
    assert "shared" not in sent and all("model" in d for d in sent["models"])
    proc = run_cli(registry_repo, "check", "--engine", "regorus")
    assert proc.returncode == 1 and "[CUSTOM-01]" in proc.stdout, proc.stdout + proc.stderr


def test_reads_documents_looks_at_code_not_comments():
    from modelreg.policy.engines import PolicyFile
    from modelreg.policy.evaluate import reads_documents

    lib = PolicyFile("policies/lib.rego", (PROJECT / "policies/lib.rego").read_text())
    old_lib = PolicyFile("policies/lib.rego", "package modelreg.lib\n\nx := 1\n")
    commented = PolicyFile("policies/a.rego",
                           "package modelreg.a\n\n# not over input.models: lib.documents\n")
    direct = PolicyFile("policies/b.rego", "package modelreg.b\n" + CUSTOM_RULE)
    assert reads_documents(PolicySet((lib, commented), {}))
    assert not reads_documents(PolicySet((lib, direct), {}))
    assert not reads_documents(PolicySet((old_lib, commented), {}))


def test_the_same_answer_in_batches_of_one_model(registry_repo, monkeypatch):
    """The registry is judged a batch of models per engine call, the engine loaded once:
    batches of one model give exactly the answer of one batch of all."""
    from modelreg.policy import engines as engines_mod
    from modelreg.policy import evaluate as evaluate_mod

    write_version(registry_repo, accuracy="0.85")
    (registry_repo / "models/credit-default/card.md").write_text("# no sections\n")

    def findings():
        result = check(open_registry(registry_repo), engine="regorus", now=NOW, parallel=False)
        return sorted(f.sort_key() for f in result.report.findings)

    import shutil
    whole = findings()
    assert {"EVAL-01", "CARD-01"} <= {f.rule for f in check(open_registry(registry_repo), engine="regorus", now=NOW, parallel=False).report.findings}
    created = []
    real = engines_mod.create_engine
    monkeypatch.setattr(evaluate_mod, "create_engine",
                        lambda *a, **k: created.append(a) or real(*a, **k))
    monkeypatch.setattr(evaluate_mod, "BATCH", 1)
    shutil.rmtree(registry_repo / ".git/modelreg/cache", ignore_errors=True)
    assert findings() == whole
    assert len(created) == 1                       # one engine for every batch
