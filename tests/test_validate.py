"""`modelreg validate`: schema findings as `file:line: [RULE] message`, a JSON report that
follows its own schema, and bad input reported without hiding the rest of the registry."""
from __future__ import annotations

import json
import os

import jsonschema
import pytest

import modelreg
from conftest import PROJECT, write_weights
from modelreg.core.yamlio import parse_yaml

REPORT_SCHEMA = json.loads((PROJECT / "schemas/report.schema.json").read_text())


@pytest.fixture
def registered(repo, tmp_path):
    reg = modelreg.open_registry(repo.root)
    w = write_weights(tmp_path / "w", payload=b"abc" * 50)
    modelreg.register(reg, modelreg.RegisterRequest(
        name="iris-classifier", version="1.0.0", weights=[str(w)], branch=False,
        datasets=[modelreg.DatasetSpec.parse("test:iris-test@2026.11")]))
    return repo


def _findings(run_cli, root, *args):
    res = run_cli(root, "validate", "--json", *args)
    report = json.loads(res.out)
    jsonschema.validate(report, REPORT_SCHEMA)
    return res.code, report


def test_clean_registry_passes(registered, run_cli):
    code, report = _findings(run_cli, registered.root)
    assert code == 0 and report["ok"] and report["findings"] == []
    assert report["summary"]["files"] == 3        # two model.yaml + one version file


def test_schema_error_names_file_line_and_rule(registered, run_cli):
    path = registered.root / "models/iris-classifier/model.yaml"
    text = path.read_text().replace("  tier: 3", "  tier: 4").replace("owner:", "ownr:")
    path.write_text(text)
    res = run_cli(registered.root, "validate")
    assert res.code == 1
    tier_line = text.splitlines().index("  tier: 4") + 1
    assert f"models/iris-classifier/model.yaml:{tier_line}: [ID-01] $.risk.tier: 4 is " \
           "greater than the maximum of 3" in res.out
    assert "'ownr' was unexpected" in res.out
    code, report = _findings(run_cli, registered.root)
    assert code == 1 and not report["ok"] and report["summary"]["errors"] >= 2
    tier = next(f for f in report["findings"] if f.get("path") == "$.risk.tier")
    assert tier["line"] == tier_line and tier["model"] == "iris-classifier"


def test_broken_yaml_in_one_model_still_reports_the_others(registered, run_cli):
    (registered.root / "models/credit-default/model.yaml").write_text(
        "name: credit-default\ntitle: [unclosed\n")
    (registered.root / "models/iris-classifier/model.yaml").write_text(
        (registered.root / "models/iris-classifier/model.yaml").read_text()
        .replace("name: iris-classifier", "name: iris-classifer"))
    code, report = _findings(run_cli, registered.root)
    rules = {(f["file"], f["rule"]) for f in report["findings"]}
    assert ("models/credit-default/model.yaml", "ID-00") in rules
    assert ("models/iris-classifier/model.yaml", "ID-02") in rules
    broken = next(f for f in report["findings"] if f["rule"] == "ID-00")
    assert broken["line"] == 2 and "invalid YAML" in broken["message"]   # where "[" opens


@pytest.mark.parametrize("content, expected, line", [
    (b"name: a\nname: b\n", "duplicate key 'name' (first defined on line 1)", 2),
    (b"title: caf\xe9\n", "not valid UTF-8", 1),
    (b"a: &x [1]\n" + b"".join(b"k%d: *x\n" % i for i in range(150)), "aliases", None),
    (b"x: " + b"[" * 100 + b"]" * 100 + b"\n", "nesting deeper", None),
])
def test_hostile_yaml_is_a_finding_with_a_line(registered, run_cli, content, expected, line):
    (registered.root / "models/credit-default/model.yaml").write_bytes(content)
    code, report = _findings(run_cli, registered.root)
    found = [f for f in report["findings"] if f["file"] == "models/credit-default/model.yaml"]
    assert code == 1 and found and expected in found[0]["message"]
    if line:
        assert found[0]["line"] == line


def test_oversized_file_is_refused(registered, run_cli):
    (registered.root / "models/credit-default/model.yaml").write_text(
        "description: " + "x" * (1024 * 1024 + 10) + "\n")
    code, report = _findings(run_cli, registered.root)
    assert code == 1 and "over the 1048576-byte limit" in report["findings"][0]["message"]


def test_symlink_pointing_outside_is_a_finding(registered, run_cli, tmp_path):
    outside = tmp_path / "secret.yaml"
    outside.write_text("name: stolen\n")
    os.symlink(outside, registered.root / "models/credit-default/stages.yaml")
    code, report = _findings(run_cli, registered.root)
    f = next(f for f in report["findings"] if f["file"] == "models/credit-default/stages.yaml")
    assert code == 1 and "symlink points outside the repository" in f["message"]
    # and the file outside was never read as a registry record
    assert not any("stolen" in x["message"] for x in report["findings"])


def test_version_record_must_match_its_pointer_and_file_name(registered, run_cli):
    vfile = registered.root / "models/iris-classifier/versions/1.0.0.yaml"
    text = vfile.read_text()
    record = parse_yaml(text, "x")
    md5 = record["artifacts"][0]["md5"]
    vfile.write_text(text.replace(md5, "f" * 32).replace("version: 1.0.0", "version: 1.0.1"))
    code, report = _findings(run_cli, registered.root)
    rules = sorted(f["rule"] for f in report["findings"])
    assert code == 1 and rules == ["ART-01", "ID-03"]
    art = next(f for f in report["findings"] if f["rule"] == "ART-01")
    assert md5 in art["message"] and art["line"] is not None


def test_missing_pointer_is_a_finding(registered, run_cli):
    (registered.root / "models/iris-classifier/versions/1.0.0/model.safetensors.dvc").unlink()
    code, report = _findings(run_cli, registered.root)
    assert code == 1 and "is missing" in report["findings"][0]["message"]


def test_stages_must_name_registered_versions(registered, run_cli):
    (registered.root / "models/iris-classifier/stages.yaml").write_text(
        "stages:\n  staging: 1.0.0\n  production: 3.0.0\n")
    code, report = _findings(run_cli, registered.root)
    assert code == 1
    assert [f["line"] for f in report["findings"]] == [3]
    assert "3.0.0" in report["findings"][0]["message"]


def test_validate_given_paths_only(registered, run_cli):
    (registered.root / "models/credit-default/model.yaml").write_text("name: [\n")
    code, report = _findings(run_cli, registered.root, "models/iris-classifier")
    assert code == 0 and report["summary"]["files"] == 2
    res = run_cli(registered.root, "validate", "models/nope")
    assert res.code == 2 and "does not exist" in res.err


def test_library_validate_returns_findings(registered):
    (registered.root / "models/credit-default/model.yaml").write_text("name: [\n")
    report = modelreg.validate(modelreg.open_registry(registered.root))
    assert not report.ok() and report.findings[0].rule == "ID-00"


def test_parallel_validation_finds_the_same(registered, run_cli, monkeypatch):
    from modelreg.app import validate as validation
    (registered.root / "models/credit-default/model.yaml").write_text("name: [\n")
    vfile = registered.root / "models/iris-classifier/versions/1.0.0.yaml"
    vfile.write_text(vfile.read_text().replace("version: 1.0.0", "version: 1.0.1"))
    serial = modelreg.validate(modelreg.open_registry(registered.root))
    monkeypatch.setattr(validation, "PARALLEL_FROM", 1)
    monkeypatch.setattr(validation.os, "cpu_count", lambda: 2)
    parallel = modelreg.validate(modelreg.open_registry(registered.root))
    assert parallel == serial and len(serial.findings) == 2
