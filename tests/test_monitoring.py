"""Ongoing monitoring end to end, with real git: `modelreg monitor record` turns a job's output
into a reviewed record on a branch; merged, the records are judged again from their values
(MON-01 breach, MON-02 missing past the cadence, MON-03 a breach past the grace denies the
production gate); an edited `breaches:` list hides nothing."""
from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

import modelreg
from conftest import git, safetensors_bytes
from modelreg.core import monitoring
from test_signoff import World

MODEL = "iris-classifier"


def ago(days: int) -> str:
    return (dt.date.today() - dt.timedelta(days=days)).isoformat()


def results(tmp: Path, end: str, accuracy: float | None, *, start: str | None = None,
            psi: float = 0.05, name: str | None = None) -> str:
    path = tmp / (name or f"results-{end}.json")
    path.write_text(json.dumps({
        "window": {"start": start or (dt.date.fromisoformat(end) - dt.timedelta(days=29)
                                     ).isoformat(), "end": end},
        "source": "nightly-monitoring run 42",
        "metrics": [{"name": "accuracy", "value": accuracy, "n": 5000}] if accuracy is not None
        else [],
        "drift": [{"feature": "petal_length", "statistic": "psi", "value": psi}],
    }))
    return str(path)


def register(w: World, version: str, payload: bytes) -> tuple[str, str]:
    """World.register, with metrics bound to the weights they were computed on (EVAL-03)."""
    w.start_branch()
    weights = w.base / f"train-{version}" / "model.safetensors"
    weights.parent.mkdir()
    weights.write_bytes(safetensors_bytes(version, payload))
    sha = hashlib.sha256(weights.read_bytes()).hexdigest()
    metrics = weights.parent / "metrics.json"
    metrics.write_text(json.dumps([
        {"name": name, "value": value, "dataset": "iris-test", "split": "test",
         "artifact_sha256": sha} for name, value in (("accuracy", 0.96), ("f1_macro", 0.95))]))
    res = w.cli(w.ds, "register", MODEL, "--version", version, "--weights", str(weights),
                "--metrics", str(metrics), "--dataset", "train:iris-train@2026.11",
                "--dataset", "test:iris-test@2026.11")
    assert res.code == 0, res.err
    branch = f"register/{MODEL}-{version}"
    git(w.ds, "push", "-q", "origin", branch)
    return branch, w.head(w.ds)


def in_production(w: World) -> None:
    """1.0.0 registered, then staging and production, as reviewed pull requests."""
    branch, head = register(w, "1.0.0", b"weights-1.0.0" * 20)
    w.merge(branch)
    w.reconcile(w.reviews(("grace-ds", head)))
    for stage in ("staging", "production"):
        branch, head = w.promote("promote", f"{MODEL}@1.0.0", "--stage", stage)
        w.merge(branch)
        w.reconcile(w.reviews(("carol-risk", head)))


def record(w: World, tmp: Path, end: str, accuracy: float | None, *, edit=None, **kw) -> dict:
    """`monitor record` in the data scientist's clone, pushed and merged."""
    w.start_branch()
    res = w.cli(w.ds, "monitor", "record", f"{MODEL}@1.0.0", "--results",
                results(tmp, end, accuracy, **kw), "--json")
    assert res.code == 0, res.out + res.err
    out = json.loads(res.out)
    if edit is not None:
        path = w.ds / out["path"]
        path.write_text(edit(path.read_text()))
        git(w.ds, "commit", "-qam", "Edit the monitoring record")
    git(w.ds, "push", "-q", "origin", out["branch"])
    w.merge(out["branch"])
    git(w.ci, "pull", "-q", "--ff-only", "origin", "main")
    return out


def check_ids(w: World) -> list[str]:
    res = w.cli(w.ci, "check", "--format", "json")
    assert res.code in (0, 1), res.err
    return [f"{f['rule']} {f['severity']}" for f in json.loads(res.out)["findings"]
            if f["rule"].startswith("MON-")]


def gate(w: World):
    git(w.ci, "fetch", "-q", "origin")
    res = w.cli(w.ci, "gate", MODEL, "--env", "production", "--json")
    return res.code, json.loads(res.out)["reasons"]


@pytest.fixture
def world(tmp_path, run_cli, monkeypatch):
    w = World(tmp_path, run_cli, monkeypatch)
    # the example model is tier 3: here a breach standing 30 days denies production
    tiers = w.admin / "policies/data/tiers.yaml"
    text = tiers.read_text()
    tiers.write_text(text.replace("breach_grace_days: 90\n      breach_denies: false",
                                  "breach_grace_days: 30\n      breach_denies: true"))
    git(w.admin, "commit", "-qam", "Tier 3 breaches deny after 30 days")
    git(w.admin, "push", "-q", "origin", "main")
    git(w.ds, "pull", "-q", "origin", "main")
    git(w.ci, "pull", "-q", "origin", "main")
    return w


def test_monitoring_from_missing_to_breach_to_gate_refusal(world: World, tmp_path):
    w = world
    in_production(w)
    git(w.ci, "pull", "-q", "--ff-only", "origin", "main")
    # in production since June, quarterly monitoring, nothing recorded: MON-02 warns
    assert check_ids(w) == ["MON-02 warning"]
    assert gate(w)[0] == 0

    # an honest team's in-threshold record: nothing to say, the gate passes
    out = record(w, tmp_path, ago(60), 0.95)
    assert out["breaches"] == [] and out["path"] == \
        f"models/{MODEL}/monitoring/1.0.0/{ago(60)}.yaml"
    assert check_ids(w) == []
    assert gate(w) == (0, [])

    # a breach, within the grace: MON-01 warns, the gate still passes
    out = record(w, tmp_path, ago(10), 0.85)
    assert out["breaches"] == [{"metric": "accuracy", "value": 0.85, "threshold": 0.9,
                                "direction": "higher"}]
    assert check_ids(w) == ["MON-01 warning"]
    assert gate(w)[0] == 0

    # an earlier window, breaching too, backfilled: the run started 45 days ago, past the
    # 30-day grace: the production gate refuses
    record(w, tmp_path, ago(45), 0.80)
    assert sorted(check_ids(w)) == ["MON-01 warning", "MON-03 error"]
    code, reasons = gate(w)
    assert code == 1 and any("[MON-03]" in r or "MON-03" in r for r in reasons), reasons

    # retrained traffic is back within thresholds: the run is broken, the gate passes
    record(w, tmp_path, ago(2), 0.97, start=ago(9))
    assert check_ids(w) == []
    assert gate(w) == (0, [])


def test_an_emptied_breaches_list_hides_nothing(world: World, tmp_path):
    """Hostile: the record's `breaches:` list is edited to [] before review; the policies
    judge the values, so the breach is still reported and, past the grace, denies."""
    w = world
    in_production(w)
    record(w, tmp_path, ago(50), 0.70, edit=lambda t: t[:t.index("breaches:")] + "breaches: []\n")
    text = (w.ci / f"models/{MODEL}/monitoring/1.0.0/{ago(50)}.yaml").read_text()
    assert "breaches: []" in text
    assert sorted(check_ids(w)) == ["MON-01 warning", "MON-03 error"]
    code, reasons = gate(w)
    assert code == 1 and any("MON-03" in r for r in reasons), reasons


def test_a_record_that_leaves_out_the_bad_metric_breaches(world: World, tmp_path):
    """Hostile: the job's output reports the drift but not the accuracy that went wrong; a
    metric the model sets a threshold for and the record does not report is a breach."""
    w = world
    in_production(w)
    out = record(w, tmp_path, ago(5), None)
    assert out["breaches"] == [{"metric": "accuracy", "value": None, "threshold": 0.9,
                                "direction": "higher", "missing": True}]
    assert check_ids(w) == ["MON-01 warning"]
    res = w.cli(w.ci, "check", "--format", "json")
    assert any("accuracy not reported" in f["message"]
               for f in json.loads(res.out)["findings"]), res.out


def test_a_monitoring_record_needs_the_stage_approvers(world: World, tmp_path):
    """Hostile: a record can lift the production gate's MON-03, so the model's own team
    cannot approve one alone: the code owners of monitoring/ are the tier's stage
    approvers. Honest: their approval passes the pull request's check."""
    w = world
    in_production(w)
    w.start_branch()
    res = w.cli(w.ds, "monitor", "record", f"{MODEL}@1.0.0", "--results",
                results(tmp_path, ago(3), 0.97), "--json")
    assert res.code == 0, res.err
    branch = json.loads(res.out)["branch"]
    git(w.ds, "push", "-q", "origin", branch)
    head = w.head(w.ds)
    res = w.check_pr(head, w.reviews(("grace-ds", head)))         # ml-platform: the model's team
    assert res.code == 1 and "[GOV-09]" in res.out + res.err, res.out + res.err
    res = w.check_pr(head, w.reviews(("carol-risk", head)))       # model-risk
    assert res.code == 0, res.out + res.err


def test_a_breaching_record_made_invalid_still_stops_the_gate(world: World, tmp_path):
    """Hostile: a record the schema refuses is left out of the judging; the gate reports it
    instead of passing without the breach it holds."""
    w = world
    in_production(w)
    rel = record(w, tmp_path, ago(50), 0.70)["path"]
    assert gate(w)[0] == 1
    git(w.admin, "pull", "-q", "--ff-only", "origin", "main")
    path = w.admin / rel
    path.write_text(path.read_text() + "status: fine\n")
    git(w.admin, "commit", "-qam", "Mark the window as fine")
    git(w.admin, "push", "-q", "origin", "main")
    git(w.ci, "pull", "-q", "--ff-only", "origin", "main")
    code, reasons = gate(w)
    assert code == 1 and any("ID-01" in r and rel in r for r in reasons), reasons


def test_a_record_only_on_a_branch_does_not_count_for_the_gate(world: World, tmp_path):
    """Hostile: an in-threshold record committed to the deploy clone's work tree (never
    merged) does not lift a breach; the gate reads the protected branch's records."""
    w = world
    in_production(w)
    record(w, tmp_path, ago(50), 0.70)
    assert gate(w)[0] == 1
    rel = f"models/{MODEL}/monitoring/1.0.0/{ago(1)}.yaml"
    (w.ci / rel).write_text((w.ci / f"models/{MODEL}/monitoring/1.0.0/{ago(50)}.yaml")
                            .read_text().replace(ago(50), ago(1)).replace("0.7\n", "0.99\n"))
    git(w.ci, "add", rel)
    git(w.ci, "commit", "-qm", "local record")
    assert gate(w)[0] == 1


def test_a_window_still_to_come_does_not_lift_a_breach(world: World, tmp_path):
    """Hostile: an in-threshold record dated next year, written by hand and merged, would be
    the latest and break the run of breaches; a window that has not ended is left out."""
    w = world
    in_production(w)
    record(w, tmp_path, ago(50), 0.70)
    assert gate(w)[0] == 1
    w.start_branch()
    future = (dt.date.today() + dt.timedelta(days=365)).isoformat()
    old = w.ds / f"models/{MODEL}/monitoring/1.0.0/{ago(50)}.yaml"
    new = old.with_name(f"{future}.yaml")
    new.write_text(old.read_text().replace(f"end: '{ago(50)}'", f"end: '{future}'")
                   .replace("value: 0.7\n", "value: 0.99\n"))
    git(w.ds, "checkout", "-q", "-b", "monitor/forged")
    git(w.ds, "add", str(new))
    git(w.ds, "commit", "-qm", "A good month")
    git(w.ds, "push", "-q", "origin", "monitor/forged")
    w.merge("monitor/forged")
    git(w.ci, "pull", "-q", "--ff-only", "origin", "main")
    assert "0.99" in (w.ci / new.relative_to(w.ds)).read_text()
    assert sorted(check_ids(w)) == ["MON-01 warning", "MON-03 error"]
    assert gate(w)[0] == 1
    res = w.cli(w.ds, "monitor", "record", f"{MODEL}@1.0.0", "--results",
                results(tmp_path, future, 0.99))
    assert res.code == 1 and "still to come" in res.err


def test_monitor_record_refuses_bad_input_and_leaves_nothing(world: World, tmp_path):
    w = world
    branch, head = register(w, "1.0.0", b"weights-1.0.0" * 20)
    w.merge(branch)
    w.reconcile(w.reviews(("grace-ds", head)))
    # 1.1.0's record exists on its registration branch, but no tag registers it
    register(w, "1.1.0", b"weights-1.1.0" * 20)
    git(w.ds, "checkout", "-q", "register/iris-classifier-1.1.0")
    branches = git(w.ds, "branch", "--list").split()

    def refused(*args: str, code: int, says: str) -> str:
        res = w.cli(w.ds, "monitor", "record", *args)
        assert res.code == code, res.out + res.err
        assert says in res.err, res.err
        assert git(w.ds, "status", "--porcelain") == ""
        assert git(w.ds, "branch", "--list").split() == branches
        return res.err

    good = results(tmp_path, ago(3), 0.95)
    refused(f"{MODEL}@9.9.9", "--results", good, code=2, says="has no version 9.9.9")
    refused("no-such-model@1.0.0", "--results", good, code=2, says="no model named")
    refused(f"{MODEL}@1.1.0", "--results", good, code=1, says="1.1.0 is not registered")
    refused(f"{MODEL}@1.0.0", "--results", str(tmp_path / "nope.json"), code=2,
            says="does not exist")
    backwards = tmp_path / "backwards.yaml"
    backwards.write_text(f"window:\n  start: '{ago(1)}'\n  end: '{ago(5)}'\n"
                         "metrics:\n  - {name: accuracy, value: 0.95}\n")
    err = refused(f"{MODEL}@1.0.0", "--results", str(backwards), code=1,
                  says="before it starts")
    assert f"{backwards}:3:" in err         # the line of `end`
    # a threshold whose direction is given nowhere
    model = w.ds / f"models/{MODEL}/model.yaml"
    model.write_text(model.read_text().replace("thresholds: {accuracy: 0.9}",
                                               "thresholds: {accuracy: 0.9, jitter: 3}"))
    git(w.ds, "commit", "-qam", "Watch jitter")
    err = refused(f"{MODEL}@1.0.0", "--results", good, code=1, says="jitter")
    assert f"models/{MODEL}/model.yaml:" in err and "metrics.yaml" in err
    git(w.ds, "reset", "-q", "--hard", "HEAD~1")
    # a window recorded already
    res = w.cli(w.ds, "monitor", "record", f"{MODEL}@1.0.0", "--results", good,
                "--branch", "monitor/first")
    assert res.code == 0, res.err
    branches = git(w.ds, "branch", "--list").split()
    refused(f"{MODEL}@1.0.0", "--results", good, code=1, says="exists already")


def test_a_bare_threshold_takes_its_direction_from_evaluation_then_metrics_yaml():
    model = {"evaluation": {"thresholds": [{"metric": "rmse", "threshold": 3,
                                            "direction": "lower"}]},
             "monitoring_plan": {"thresholds": {"rmse": 4, "psi": 0.2, "auc": 0.7,
                                                "gap": {"threshold": 0.1,
                                                        "direction": "lower"},
                                                "odd": 1}}}
    limits = {t.metric: (t.direction, t.source)
              for t in monitoring.thresholds(model, {"psi": "lower", "auc": "higher"})}
    assert limits == {"rmse": ("lower", "evaluation.thresholds"),
                      "psi": ("lower", "metrics.yaml"), "auc": ("higher", "metrics.yaml"),
                      "gap": ("lower", "model.yaml"), "odd": (None, "")}
    rec = {"window": {"start": "2026-11-01", "end": "2026-11-30"},
           "metrics": [{"name": "rmse", "value": 5}, {"name": "auc", "value": float("nan")}],
           "drift": [{"feature": "a", "statistic": "psi", "value": 0.1},
                     {"feature": "b", "statistic": "psi", "value": 0.3}]}
    found = monitoring.judge(rec, monitoring.thresholds(model, {"psi": "lower",
                                                                 "auc": "higher"}))
    assert [(b["metric"], b.get("feature"), b["value"], b.get("missing")) for b in found] == \
        [("rmse", None, 5, None), ("auc", None, None, None), ("psi", "b", 0.3, None),
         ("gap", None, None, True), ("odd", None, None, True)]       # not reported: breaches
    ok = {"window": {"start": "2026-10-01", "end": "2026-10-31"},
          "metrics": [{"name": n, "value": v} for n, v in
                      (("rmse", 1), ("auc", 0.9), ("gap", 0.0), ("odd", 2))],
          "drift": [{"feature": "a", "statistic": "psi", "value": 0.1}]}
    assert monitoring.judge(ok, monitoring.thresholds(model, {"psi": "lower"})) == []
    summary = monitoring.summarize([rec, ok, {**rec, "window": {"end": "2026-12-31"}}],
                                   monitoring.thresholds(model, {"psi": "lower"}),
                                   cadence=31, since="2026-09-01")
    assert summary["last"] == "2026-12-31" and summary["breach_since"] == "2026-11-30"


def test_validate_reports_a_misnamed_record(repo, run_cli):
    root = repo.root
    folder = root / "models/iris-classifier/monitoring/1.0.0"
    folder.mkdir(parents=True)
    (folder / "2026-11-30.yaml").write_text(
        "model: iris-classifier\nversion: 1.0.0\nwindow: {start: '2026-11-01', end: "
        "'2026-11-29'}\nmetrics: []\nextra: 1\n")
    res = run_cli(root, "validate", "--format", "json")
    found = {(f["rule"], f["line"]) for f in json.loads(res.out)["findings"]
             if "monitoring" in f["file"]}
    assert ("ID-01", 1) in found                   # the extra key: the schema
    assert ("ID-03", 3) in found                   # named after another day
    assert ("ID-03", 1) in found                   # no version record 1.0.0
    assert res.code == 1
    reg = modelreg.open_registry(root)
    from modelreg.store.monitoring import read_records
    assert read_records(reg, "iris-classifier") == {}


def test_a_jobs_output_may_give_metrics_and_drift_as_mappings(tmp_path):
    from modelreg.app.monitor import build_record
    from modelreg.core.yamlio import load
    path = tmp_path / "out.yaml"
    path.write_text("start: 2026-11-01\nend: 2026-11-30\nrun_id: 4711\n"
                    "metrics: {auc: 0.71, brier: 0.12}\n"
                    "drift: {income: {psi: 0.12, ks: 0.05}}\n")
    rec = build_record(load(path), "credit-default", "1.0.0")
    assert rec == {"model": "credit-default", "version": "1.0.0",
                   "window": {"start": "2026-11-01", "end": "2026-11-30"}, "source": "4711",
                   "metrics": [{"name": "auc", "value": 0.71}, {"name": "brier", "value": 0.12}],
                   "drift": [{"feature": "income", "statistic": "psi", "value": 0.12},
                             {"feature": "income", "statistic": "ks", "value": 0.05}]}


def test_a_value_that_is_no_number_is_refused_at_its_line(repo, run_cli, tmp_path):
    """Before anything else is asked (the version exists, is registered), the output's own
    mistakes are named where they are."""
    from modelreg.app.monitor import _schema_errors, build_record
    from modelreg.core.errors import InputError
    from modelreg.core.yamlio import load
    path = tmp_path / "out.yaml"
    path.write_text("window: {start: '2026-11-01', end: '2026-11-30'}\nmetrics:\n"
                    "  - name: auc\n    value: high\n")
    doc = load(path)
    with pytest.raises(InputError) as err:
        _schema_errors(modelreg.open_registry(repo.root), build_record(doc, "m-1", "1.0.0"),
                       doc, {"metrics": ["metrics"], "window": ["window"]})
    assert err.value.line == 4 and "is not of type 'number'" in err.value.message


_values = st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(-5, 5),
                    st.none(), st.text(max_size=3), st.booleans())


@given(st.lists(st.fixed_dictionaries({"name": st.sampled_from(["auc", "psi", "other"]),
                                       "value": _values}), max_size=6),
       st.lists(st.fixed_dictionaries({"feature": st.text(max_size=5),
                                       "statistic": st.sampled_from(["psi", "ks"]),
                                       "value": _values}), max_size=6))
def test_judging_never_lets_an_odd_value_through(metrics, drift):
    """Whatever a record holds, judging it does not fail, every breach can be sent to the
    engines (finite or null values), and a value that is no finite number breaks its
    threshold: a NaN, a string or null never reads as within it."""
    limits = monitoring.thresholds({"monitoring_plan": {"thresholds": {"auc": 0.7, "psi": 0.2}}},
                                   {"auc": "higher", "psi": "lower"})
    found = monitoring.judge({"metrics": metrics, "drift": drift}, limits)
    json.dumps(found, allow_nan=False)
    judged = [r for r in metrics if r["name"] in ("auc", "psi")] + \
        [r for r in drift if r["statistic"] == "psi"]

    def fine(row):
        v = row["value"]
        ok_number = isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
        if row.get("name") == "auc":
            return ok_number and v >= 0.7
        return ok_number and v <= 0.2
    reported = {r["name"] for r in metrics} | {r["statistic"] for r in drift}
    missing = {"auc", "psi"} - reported
    assert len(found) == sum(1 for r in judged if not fine(r)) + len(missing)
    assert {b["metric"] for b in found if b.get("missing")} == missing


@given(st.lists(st.tuples(st.dates(dt.date(2026, 1, 1), dt.date(2026, 12, 31)),
                          st.booleans()), max_size=8, unique_by=lambda p: p[0]))
def test_a_breach_runs_from_the_first_of_the_latest_unbroken_run(windows):
    limits = monitoring.thresholds({"monitoring_plan": {"thresholds": {"auc": 0.7}}},
                                   {"auc": "higher"})
    records = [{"window": {"start": "2026-01-01", "end": d.isoformat()},
                "metrics": [{"name": "auc", "value": 0.5 if bad else 0.9}]}
               for d, bad in windows]
    summary = monitoring.summarize(records, limits, cadence=31, since=None)
    ordered = sorted(windows)
    run = []
    for d, bad in reversed(ordered):
        if not bad:
            break
        run.append(d)
    assert summary["breach_since"] == (run[-1].isoformat() if run else None)
    assert summary["last"] == (ordered[-1][0].isoformat() if ordered else None)
    assert bool(summary["breaches"]) == bool(ordered and ordered[-1][1])
