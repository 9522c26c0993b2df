"""The model inventory, and retirement and validation findings where a model's status is
shown (ls, show, the audit report, the site), on a registry whose history is built commit by commit and tag by tag
with fixed dates (tests/test_audit.py's history): rows from trusted tags and the records,
validation findings, review dates and retirement; ``--at`` before a promotion; the formats
parsed back; a hostile title escaped in Markdown and defused in CSV."""
from __future__ import annotations

import csv
import datetime as dt
import io
import json

import pytest
import yaml

import modelreg
from conftest import git
from modelreg.app.inventory import inventory
from test_audit import build_history

FINDING = {"id": "VF-001", "model": "iris-classifier", "version": "1.1.0",
           "title": "Calibration drifts | in one band", "severity": "high", "owner": "bob-ds",
           "raised_by": "erin-val", "opened_at": "2026-06-20", "due": "2026-06-25",
           "status": "open"}
CLOSED = {**FINDING, "id": "VF-002", "severity": "medium", "status": "closed",
          "closed_at": "2026-06-22", "resolution": "Recalibrated."}
LOW = {**FINDING, "id": "VF-003", "severity": "low", "due": "2099-12-31"}


def monitoring_record(end: str, accuracy: float) -> dict:
    return {"model": "iris-classifier", "version": "1.1.0",
            "window": {"start": end[:8] + "01", "end": end}, "source": "nightly job",
            "metrics": [{"name": "accuracy", "value": accuracy, "n": 500}], "breaches": []}


HOSTILE = "=cmd|' /C calc'!A0 | # heading\nsecond line"


@pytest.fixture
def registry(repo):
    """The audit history, then: iris-classifier 1.1.0 validated, two open findings and a
    closed one; credit-default (deprecated, holding no stage) retired on 2026-06-24."""
    h = build_history(repo.root)
    iris = "models/iris-classifier"
    record = yaml.safe_load((repo.root / iris / "versions/1.1.0.yaml").read_text())
    assert "validation" not in record
    h.commit("2026-06-22T10:00:00Z", "Validation findings", {
        f"{iris}/validation/VF-001.yaml": FINDING, f"{iris}/validation/VF-002.yaml": CLOSED,
        f"{iris}/validation/VF-003.yaml": LOW})
    h.commit("2026-06-23T10:00:00Z", "Monitoring of iris-classifier 1.1.0 in June", {
        f"{iris}/monitoring/1.1.0/2026-06-22.yaml": monitoring_record("2026-06-22", 0.95)})
    credit = yaml.safe_load((repo.root / "models/credit-default/model.yaml").read_text())
    credit["retirement"] = {"date": "2026-06-24", "reason": "Replaced by iris | distilled",
                            "replaced_by": "iris-distilled"}
    h.commit("2026-06-24T10:00:00Z", "Retire credit-default",
             {"models/credit-default/model.yaml": credit})
    return repo


def _rows(inv: dict) -> dict[str, dict]:
    return {r["name"]: r for r in inv["models"]}


def test_rows_from_tags_records_and_findings(registry):
    reg = modelreg.open_registry(registry.root)
    inv = inventory(reg, now="2026-07-01T00:00:00Z")
    assert inv["inventory_version"] == 1 and inv["at"] == "2026-07-01T00:00:00Z"
    rows = _rows(inv)
    assert sorted(rows) == ["credit-default", "empty-model", "iris-classifier",
                            "iris-distilled"]
    iris = rows["iris-classifier"]
    assert iris["stages"] == {"staging": "1.1.0", "production": "1.1.0"}
    assert iris["latest_version"] == "1.1.0" and iris["versions"] == 2
    assert iris["owner_team"] == "ml-platform" and iris["tier"] == 3
    assert iris["eu_ai_act_class"] == "minimal" and iris["intended_use"].startswith("Teaching")
    # two open findings (the closed one not counted), one high and past due on 2026-07-01
    assert iris["findings"] == {"open": 2, "high": 1, "past_due": 1,
                                "ids": ["VF-001", "VF-003"]}
    assert iris["retired"] is None and iris["monitoring"]["state"] == "ok"
    credit = rows["credit-default"]
    assert credit["deprecated"] is True and credit["stages"] == {"staging": None,
                                                                 "production": None}
    assert credit["retired"] == {"date": "2026-06-24", "reason": "Replaced by iris | distilled",
                                 "replaced_by": "iris-distilled"}
    assert credit["eu_ai_act_class"] == "high" and credit["annex_iii_area"] == "5(b)"
    empty = rows["empty-model"]
    assert empty["latest_version"] is None and empty["last_validation"] is None


def test_a_forged_stage_tag_does_not_enter_the_inventory(registry):
    """A lightweight tag pushed by hand asks for nothing: stages come from trusted tags."""
    root = registry.root
    target = git(root, "rev-list", "-n1", "iris-distilled@v0.1.0").strip()
    git(root, "tag", "iris-distilled#production#7", target)
    row = _rows(inventory(modelreg.open_registry(root)))["iris-distilled"]
    assert row["stages"] == {"staging": None, "production": None}


def test_last_validation_and_next_review_come_from_the_highest_stage(registry):
    """The version serving production speaks for the model; its review is due GOV-05's
    interval after its validation (the model's review.interval_days, else its tier's)."""
    root = registry.root
    iris = "models/iris-classifier"
    for version, when in (("1.0.0", "2026-06-01"), ("1.1.0", "2026-06-14")):
        path = root / iris / f"versions/{version}.yaml"
        data = yaml.safe_load(path.read_text())
        data["validation"] = {"validator": "erin-val", "validated_at": when,
                              "outcome": "approved"}
        path.write_text(yaml.safe_dump(data, sort_keys=False))
    model = yaml.safe_load((root / iris / "model.yaml").read_text())
    model["review"] = {"interval_days": 100}
    (root / iris / "model.yaml").write_text(yaml.safe_dump(model, sort_keys=False))
    inv = _rows(inventory(modelreg.open_registry(root), now="2026-07-01T00:00:00Z"))
    assert inv["iris-classifier"]["last_validation"] == {
        "version": "1.1.0", "date": "2026-06-14", "outcome": "approved",
        "validator": "erin-val"}
    assert inv["iris-classifier"]["next_review"] == "2026-09-22"
    # without the model's own interval, its tier's (policies/data/tiers.yaml)
    del model["review"]
    (root / iris / "model.yaml").write_text(yaml.safe_dump(model, sort_keys=False))
    tiers = yaml.safe_load((root / "policies/data/tiers.yaml").read_text())
    tier_days = tiers["tiers"][str(model["risk"]["tier"])]["review_interval_days"]
    expected = (dt.date(2026, 6, 14) + dt.timedelta(days=tier_days)).isoformat()
    inv = _rows(inventory(modelreg.open_registry(root), now="2026-07-01T00:00:00Z"))
    assert inv["iris-classifier"]["next_review"] == expected


def test_at_before_a_promotion_shows_the_old_state(registry, run_cli):
    res = run_cli(registry.root, "inventory", "--at", "2026-06-13", "--json")
    assert res.code == 0, res.err
    inv = json.loads(res.out)
    assert inv["at"] == "2026-06-13T23:59:59Z" and inv["source"]["kind"] == "git history"
    expected = git(registry.root, "rev-list", "-1", "--first-parent",
                   "--before=2026-06-13T23:59:59Z", "main").strip()
    assert inv["source"]["commit"] == expected
    rows = _rows(inv)
    # 1.1.0 reached staging on the 12th and production on the 15th
    assert rows["iris-classifier"]["stages"] == {"staging": "1.1.0", "production": "1.0.0"}
    # the title as it was then; no findings yet; credit-default not retired, not deprecated
    assert rows["iris-classifier"]["title"] == "Iris species classifier, second edition"
    assert rows["iris-classifier"]["findings"]["open"] == 0
    assert rows["credit-default"]["retired"] is None
    assert rows["credit-default"]["deprecated"] is False
    assert "iris-distilled" not in rows                     # registered on the 18th
    before = _rows(json.loads(run_cli(registry.root, "inventory", "--at", "2026-06-05",
                                      "--json").out))
    assert before["iris-classifier"]["stages"] == {"staging": "1.0.0", "production": None}
    assert before["iris-classifier"]["title"] == "Iris species classifier"
    res = run_cli(registry.root, "inventory", "--at", "2020-01-01")
    assert res.code == 2 and "no commit on or before 2020-01-01" in res.err
    assert run_cli(registry.root, "inventory", "--at", "yesterday").code == 2


def test_formats_parse_back(registry, run_cli, tmp_path):
    res = run_cli(registry.root, "inventory", "--format", "csv")
    assert res.code == 0, res.err
    rows = {r["name"]: r for r in csv.DictReader(io.StringIO(res.out))}
    assert rows["iris-classifier"]["stage:production"] == "1.1.0"
    assert rows["iris-classifier"]["open_high_findings"] == "1"
    assert rows["credit-default"]["retired"] == "yes"
    assert rows["credit-default"]["retired_reason"] == "Replaced by iris | distilled"
    assert rows["empty-model"]["latest_version"] == ""
    import jsonschema

    from conftest import PROJECT

    schema = json.loads((PROJECT / "schemas/inventory.schema.json").read_text())
    for args in ([], ["--at", "2026-06-13"]):
        res = run_cli(registry.root, "inventory", "--format", "json", *args)
        inv = json.loads(res.out)
        assert set(inv) >= {"inventory_version", "at", "models"}
        jsonschema.validate(inv, schema)
    out = tmp_path / "inventory.md"
    res = run_cli(registry.root, "inventory", "--out", str(out))
    assert res.code == 0 and f"wrote {out}" in res.err
    text = out.read_text()
    assert "| credit-default |" in text and "Replaced by iris \\| distilled" in text


def test_hostile_title_is_escaped_in_markdown_and_defused_in_csv(registry, run_cli):
    root = registry.root
    path = root / "models/iris-distilled/model.yaml"
    model = yaml.safe_load(path.read_text())
    model["title"] = HOSTILE
    path.write_text(yaml.safe_dump(model, sort_keys=False))
    md = run_cli(root, "inventory", "--format", "md").out
    lines = md.splitlines()
    header = next(line for line in lines if line.startswith("| name |"))
    row = next(line for line in lines if line.startswith("| iris-distilled |"))
    # as many cell separators as the header: the title's pipe is escaped, its newline joined
    unescaped = row.replace("\\|", "")
    assert unescaped.count("|") == header.count("|")
    assert "second line" in row and not any(line.startswith("second line") for line in lines)
    assert not any(line.startswith("#") for line in lines[1:])
    rows = {r["name"]: r for r in csv.DictReader(io.StringIO(
        run_cli(root, "inventory", "--format", "csv").out))}
    # a spreadsheet shows it as text, never runs it as a formula
    assert rows["iris-distilled"]["title"] == "'" + HOSTILE
    assert json.loads(run_cli(root, "inventory", "--json").out)["models"][3]["title"] == HOSTILE


# --- where a model's status is shown ---------------------------------------------------
def test_show_gives_open_findings_and_retirement(registry, run_cli):
    res = run_cli(registry.root, "show", "iris-classifier")
    assert res.code == 0, res.err
    assert "open validation findings: 2 (1 high, 1 past due)" in res.out
    late = next(line for line in res.out.splitlines() if "VF-001" in line)
    assert "PAST DUE" in late and "high" in late
    assert "PAST DUE" not in next(line for line in res.out.splitlines() if "VF-003" in line)
    data = json.loads(run_cli(registry.root, "show", "iris-classifier", "--json").out)
    assert [(f["id"], f["past_due"]) for f in data["validation_findings"]] == [
        ("VF-001", True), ("VF-003", False)]
    assert data["retirement"] is None
    res = run_cli(registry.root, "show", "credit-default")
    assert "RETIRED 2026-06-24: Replaced by iris | distilled  (replaced by iris-distilled)" \
        in res.out
    data = json.loads(run_cli(registry.root, "show", "credit-default", "--json").out)
    assert data["retirement"]["replaced_by"] == "iris-distilled"


def test_ls_marks_retired_models(registry, run_cli):
    rows = {r["name"]: r for r in json.loads(run_cli(registry.root, "ls", "--json").out)[
        "models"]}
    assert rows["credit-default"]["retired"] == "2026-06-24"
    assert rows["iris-classifier"]["retired"] is None
    text = run_cli(registry.root, "ls").out
    assert "credit-default (retired)" in text


def test_audit_report_shows_retirement_and_findings(registry, run_cli):
    import jsonschema

    from conftest import PROJECT

    schema = json.loads((PROJECT / "schemas/audit.schema.json").read_text())
    r = json.loads(run_cli(registry.root, "audit", "credit-default", "--format", "json").out)
    jsonschema.validate(r, schema)
    assert r["retirement"] == {"date": "2026-06-24", "reason": "Replaced by iris | distilled",
                               "replaced_by": "iris-distilled"}
    assert r["risk"]["annex_iii"] == "5(b)"           # the Annex III area, as model.yaml says
    md = run_cli(registry.root, "audit", "credit-default").out
    assert "| EU AI Act Annex III area | 5(b) |" in md
    assert "| retired | 2026-06-24: Replaced by iris \\| distilled (replaced by " \
           "iris-distilled) |" in md
    r = json.loads(run_cli(registry.root, "audit", "iris-classifier", "--format", "json").out)
    jsonschema.validate(r, schema)
    assert [(f["id"], f["status"]) for f in r["validation_findings"]] == [
        ("VF-001", "open"), ("VF-003", "open"), ("VF-002", "closed")]
    assert r["validation_findings"][0]["past_due"] is True
    md = run_cli(registry.root, "audit", "iris-classifier").out
    assert "2 open (1 high, 1 past due), 1 closed." in md
    assert "| Calibration drifts \\| in one band |" in md
    html = run_cli(registry.root, "audit", "iris-classifier", "--format", "html").out
    assert 'id="validation-findings"' in html and "open, past due" in html
    # as of a date before the findings were raised and the model retired
    r = json.loads(run_cli(registry.root, "audit", "iris-classifier", "--at", "2026-06-21",
                           "--format", "json").out)
    assert r["validation_findings"] == []
    jsonschema.validate(r, schema)
    r = json.loads(run_cli(registry.root, "audit", "credit-default", "--at", "2026-06-21",
                           "--format", "json").out)
    assert r["retirement"] is None


def test_site_shows_retirement_and_findings(registry, run_cli, tmp_path):
    out = tmp_path / "site"
    res = run_cli(registry.root, "site", str(out))
    assert res.code == 0, res.err
    index = (out / "index.html").read_text()
    row = index[index.index('data-name="credit-default"'):]
    assert '<span class="badge deprecated">retired</span>' in row[:row.index("</tr>")]
    row = index[index.index('data-name="iris-classifier"'):]
    assert "2 open, 1 high" in row[:row.index("</tr>")]
    page = (out / "models/credit-default.html").read_text()
    assert "Retired 2026-06-24" in page and "replaced by iris-distilled" in page
    page = (out / "models/iris-classifier.html").read_text()
    assert "2 open validation findings" in page and "(1 past due)" in page
    assert "Calibration drifts | in one band" in page


def test_audit_regulation_mapping_includes_ops_04(repo, run_cli):
    """The rule catalogue drives the mapping: OPS-04 serves SR 11-7's model inventory, NIST
    AI RMF GOVERN 1.7 and EU AI Act Art. 72."""
    r = json.loads(run_cli(repo.root, "audit", "credit-default", "--format", "json").out)
    ops = next(g for g in r["regulations"] if g["rule"] == "OPS-04")
    assert (ops["sr_11_7"], ops["nist_ai_rmf"], ops["eu_ai_act"]) == (
        "model inventory", "GOVERN 1.7", "Art. 72")
    assert ops["status"] == "pass"
    md = run_cli(repo.root, "audit", "credit-default").out
    assert "OPS-04" in md and "GOVERN 1.7" in md


def test_monitoring_state_in_the_inventory_the_audit_report_and_the_site(registry, run_cli,
                                                                          tmp_path):
    """The version in production is judged from its records' values against model.yaml's
    thresholds (accuracy >= 0.9, quarterly): ok, then missing once a quarter passes without
    a record, then a breach."""
    from modelreg.app.audit import audit

    root = registry.root
    reg = modelreg.open_registry(root)
    mon = _rows(inventory(reg, now="2026-07-01T00:00:00Z"))["iris-classifier"]["monitoring"]
    assert (mon["state"], mon["last"], mon["since"]) == ("ok", "2026-06-22", "2026-06-15")
    assert _rows(inventory(reg, now="2026-07-01T00:00:00Z"))["credit-default"][
        "monitoring"]["state"] == "none"
    late = _rows(inventory(reg, now="2026-12-01T00:00:00Z"))["iris-classifier"]
    assert late["monitoring"]["state"] == "missing"
    report = audit(reg, "iris-classifier", now="2026-12-01T00:00:00Z")
    assert report["monitoring"]["state"] == "missing"
    # the next record breaks the threshold
    path = root / "models/iris-classifier/monitoring/1.1.0/2026-07-31.yaml"
    path.write_text(yaml.safe_dump(monitoring_record("2026-07-31", 0.85), sort_keys=False))
    reg = modelreg.open_registry(root)
    mon = _rows(inventory(reg, now="2026-08-01T00:00:00Z"))["iris-classifier"]["monitoring"]
    assert mon["state"] == "breach" and mon["breach_since"] == "2026-07-31"
    assert [(b["metric"], b["value"]) for b in mon["breaches"]] == [("accuracy", 0.85)]
    import jsonschema

    from conftest import PROJECT

    schema = json.loads((PROJECT / "schemas/inventory.schema.json").read_text())
    jsonschema.validate(json.loads(run_cli(root, "inventory", "--json").out), schema)
    csv_rows = {r["name"]: r for r in csv.DictReader(io.StringIO(
        run_cli(root, "inventory", "--format", "csv").out))}
    assert csv_rows["iris-classifier"]["monitoring"] == "breach"
    assert csv_rows["iris-classifier"]["monitoring_last"] == "2026-07-31"
    r = json.loads(run_cli(root, "audit", "iris-classifier", "--format", "json").out)
    assert r["monitoring"]["version"] == "1.1.0" and r["monitoring"]["stage"] == "production"
    assert r["monitoring"]["breaches"][0]["text"].startswith("accuracy 0.85 <")
    md = run_cli(root, "audit", "iris-classifier").out
    assert "1.1.0 (production): **BREACH** in the window ending 2026-07-31" in md
    out = tmp_path / "site"
    assert run_cli(root, "site", str(out)).code == 0
    index = (out / "index.html").read_text()
    row = index[index.index('data-name="iris-classifier"'):]
    assert '<td class="fail">breach</td>' in row[:row.index("</tr>")]
    page = (out / "models/iris-classifier.html").read_text()
    assert 'id="monitoring"' in page and "breach</span> in the window ending 2026-07-31" in page


def test_an_unreadable_model_file_is_a_row_that_says_so(registry, run_cli):
    (registry.root / "models/iris-distilled/model.yaml").write_text("title: [unclosed\n")
    res = run_cli(registry.root, "inventory", "--json")
    assert res.code == 0, res.err
    row = _rows(json.loads(res.out))["iris-distilled"]
    assert row["unreadable"] == ["models/iris-distilled/model.yaml"] and row["title"] is None
    assert row["latest_version"] == "0.1.0"
    rows = {r["name"]: r for r in csv.DictReader(io.StringIO(
        run_cli(registry.root, "inventory", "--format", "csv").out))}
    assert rows["iris-distilled"]["unreadable"] == "models/iris-distilled/model.yaml"


def test_the_inventory_schema_describes_every_property():
    from conftest import PROJECT
    from test_schemas import undocumented

    schema = json.loads((PROJECT / "schemas/inventory.schema.json").read_text())
    assert list(undocumented(schema)) == []
