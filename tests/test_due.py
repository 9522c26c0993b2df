"""`modelreg due`: what falls due, from a real registry's files and tags; and the GitHub
issues it keeps, against a loopback server speaking GitHub's issues API (every page of the
list, create, update, close)."""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import yaml

import modelreg
from conftest import PROJECT, git
from fake_github import REPO, FakeGitHub, serve
from modelreg.app.due import LABEL, due, key_of, marker, sync_issues
from modelreg.render.due import issues
from modelreg.store.github import GitHub
from test_monitoring import MODEL, in_production, register
from test_signoff import World

TODAY = "2026-12-01"


@pytest.fixture
def world(tmp_path, run_cli, monkeypatch):
    return World(tmp_path, run_cli, monkeypatch)


def edit_record(root: Path, version: str, extra: str) -> None:
    path = root / f"models/{MODEL}/versions/{version}.yaml"
    path.write_text(path.read_text() + extra)


FINDING = """id: VF-001
model: iris-classifier
version: 1.0.0
title: Setosa recall drops on the new sensor
severity: high
owner: bob-ds
raised_by: erin-val
opened_at: 2026-10-01
due: 2026-11-20
status: open
"""


def due_world(w: World) -> Path:
    """1.0.0 in production, validated in June with a waiver and an overdue finding; 1.1.0
    registered only, with a waiver and a validation of its own. The files are as the
    protected branch holds them (the clone of the CI job)."""
    in_production(w)
    branch, head = register(w, "1.1.0", b"weights-1.1.0" * 20)
    w.merge(branch)
    w.reconcile(w.reviews(("grace-ds", head)))
    root = w.ci
    git(root, "pull", "-q", "--ff-only", "origin", "main")
    validation = ("validation:\n  validator: dave-risk\n  validated_at: '2025-01-10'\n"
                  "  outcome: approved\n  next_review_due: '2026-12-20'\n")
    waiver = ("exceptions:\n- rule: OPS-03\n  justification: logs move to the new store in "
              "December\n  approved_by: carol-risk\n  expires: '{}'\n")
    edit_record(root, "1.0.0", validation + waiver.format("2026-12-10"))
    edit_record(root, "1.1.0", validation + waiver.format("2027-06-30"))
    (root / f"models/{MODEL}/validation").mkdir()
    (root / f"models/{MODEL}/validation/VF-001.yaml").write_text(FINDING)
    (root / f"models/{MODEL}/validation/VF-002.yaml").write_text(
        FINDING.replace("VF-001", "VF-002").replace("status: open", "status: closed\n"
                        "closed_at: 2026-11-15\nresolution: Recalibrated."))
    return root


def test_due_lists_each_kind_with_days_left_and_owner(world: World, run_cli):
    root = due_world(world)
    result = due(modelreg.open_registry(root), within=60, today=TODAY)
    got = {i.key: (i.due, i.days_left, i.owner) for i in result.items}
    production_since = next(i for i in result.items if i.kind == "monitoring").detail
    assert got == {
        # validated 2025-01-10, tier 3's model says review every 730 days: 2027-01-10
        f"review:{MODEL}@1.0.0": ("2027-01-10", 40, "alice-ds"),     # the business owner
        f"revalidation:{MODEL}@1.0.0": ("2026-12-20", 19, "dave-risk"),
        f"waiver:{MODEL}@1.0.0:OPS-03": ("2026-12-10", 9, "alice-ds"),
        f"finding:{MODEL}@1.0.0:VF-001": ("2026-11-20", -11, "bob-ds"),
        # in production since June 10, quarterly, never recorded: due 92 days later
        f"monitoring:{MODEL}@1.0.0": ("2026-09-10", -82, "ml-platform"),   # the plan's owner
    }, got
    assert "in production since 2026-06-10" in production_since
    # 1.1.0 holds no stage: no review, no revalidation, no monitoring; its waiver is months away
    assert result.overdue == 2
    assert [i.due for i in result.items] == sorted(i.due for i in result.items)

    res = run_cli(root, "due", "--within", "60", "--today", TODAY, "--format", "json")
    assert res.code == 1, res.err                          # something is overdue
    out = json.loads(res.out)
    assert out["due_version"] == 1 and out["overdue"] == 2
    assert {i["kind"] for i in out["items"]} == {"review", "revalidation", "waiver", "finding",
                                                  "monitoring"}
    res = run_cli(root, "due", "--within", "400", "--today", TODAY)
    assert res.code == 1 and f"waiver:{MODEL}" not in res.out
    assert "2027-06-30" in res.out and "items due by 400 days" in res.out.splitlines()[-1]
    # a year earlier nothing was overdue yet, and nothing fell due within a week
    res = run_cli(root, "due", "--within", "7", "--today", "2025-02-01", "--format", "json")
    assert res.code == 0 and json.loads(res.out)["items"] == []


def test_due_names_no_stageless_review_and_no_deprecated_version(world: World, run_cli):
    root = due_world(world)
    stages = root / f"models/{MODEL}/stages.yaml"
    stages.write_text(stages.read_text() + "deprecated_versions: [1.1.0]\n")
    result = due(modelreg.open_registry(root), within=400, today=TODAY)
    assert not [i for i in result.items if i.version == "1.1.0"]
    assert not [i for i in result.items if i.kind in ("review", "monitoring")
                and i.version != "1.0.0"]


@pytest.fixture
def github(monkeypatch):
    fake = FakeGitHub()
    server = serve(fake)
    monkeypatch.setenv("GITHUB_REPOSITORY", REPO)
    monkeypatch.setenv("GITHUB_TOKEN", "test-token")
    monkeypatch.setenv("GITHUB_API_URL", fake.url)
    yield fake
    server.shutdown()
    server.server_close()


def open_due(fake: FakeGitHub) -> dict[str, dict]:
    return {key_of(i): i for i in fake.issues.values()
            if i["state"] == "open" and key_of(i) is not None}


def test_sync_issues_opens_updates_and_closes_idempotently(world: World, run_cli, github):
    root = due_world(world)
    # what the repository already holds: an issue for an item that is resolved and a closed
    # issue for an item that is due again, both on the second page of the newest-first list
    # behind 120 labelled issues and pull requests without a marker (people's own), and
    # issues without the label
    stale = github.add_issue("[review] old", marker(f"review:{MODEL}@0.9.0"), [LABEL])
    again = github.add_issue("[waiver] old", marker(f"waiver:{MODEL}@1.0.0:OPS-03"), [LABEL],
                             state="closed")
    for n in range(120):
        github.add_issue(f"A question about due dates {n}", "why?", [LABEL, "question"],
                         pull_request=n % 3 == 0)
    hand = github.add_issue("unrelated", "", ["bug"])
    res = run_cli(root, "due", "--within", "60", "--today", TODAY, "--sync-issues")
    assert res.code == 1, res.err
    assert "issues: 4 opened, 0 updated, 1 reopened, 1 closed, 0 unchanged" in res.err
    live = open_due(github)
    assert set(live) == {i.key for i in due(modelreg.open_registry(root), within=60,
                                              today=TODAY).items}
    assert github.issues[stale["number"]]["state"] == "closed"
    assert github.issues[hand["number"]]["state"] == "open"           # not ours: untouched
    assert all(i["state"] == "open" for i in github.issues.values()
               if i["title"].startswith("A question"))
    assert any("page=2" in path for path, _ in github.requests)       # every page was read
    assert live[f"waiver:{MODEL}@1.0.0:OPS-03"]["number"] == again["number"]
    finding = live[f"finding:{MODEL}@1.0.0:VF-001"]
    assert [lb["name"] for lb in finding["labels"]] == [LABEL]
    assert "**Overdue** on **2026-11-20** (11 days overdue)" in finding["body"]
    assert "| Owner | bob-ds |" in finding["body"]
    # what --format github-issues prints is what was sent
    res = run_cli(root, "due", "--within", "60", "--today", TODAY, "--format", "github-issues")
    shown = {i["key"]: i for i in json.loads(res.out)["issues"]}
    assert shown[finding_key := f"finding:{MODEL}@1.0.0:VF-001"]["body"] == \
        live[finding_key]["body"]

    # the same day again: nothing is written
    writes = len(github.writes)
    res = run_cli(root, "due", "--within", "60", "--today", TODAY, "--sync-issues")
    assert "0 opened, 0 updated, 0 reopened, 0 closed, 5 unchanged" in res.err
    assert len(github.writes) == writes

    # the next day: the days left change in the bodies; the finding is closed in the
    # registry, so its issue is closed
    path = root / f"models/{MODEL}/validation/VF-001.yaml"
    path.write_text(path.read_text().replace("status: open", "status: closed\nclosed_at: "
                                             "2026-12-01\nresolution: Sensor recalibrated."))
    res = run_cli(root, "due", "--within", "60", "--today", "2026-12-02", "--sync-issues")
    assert "0 opened, 4 updated, 0 reopened, 1 closed, 0 unchanged" in res.err, res.err
    assert github.issues[finding["number"]]["state"] == "closed"
    assert github.issues[finding["number"]]["state_reason"] == "completed"
    assert f"finding:{MODEL}@1.0.0:VF-001" not in open_due(github)


def test_sync_issues_fails_loudly_when_github_refuses(world: World, run_cli, github):
    root = due_world(world)
    github.fail("/issues", 403, message="Resource not accessible by integration")
    res = run_cli(root, "due", "--today", TODAY, "--sync-issues")
    assert res.code == 3 and "issues: write" in res.err, res.err


def test_a_forged_marker_in_an_unlabelled_issue_is_not_followed(github):
    """Only issues with the label are ours: a marker pasted into another issue is never
    updated or closed."""
    other = github.add_issue("copied text", marker("review:x@1.0.0"), ["bug"])
    result = sync_issues(GitHub.from_env(os.environ), [])
    assert result.closed == () and github.issues[other["number"]]["state"] == "open"


def test_issue_bodies_carry_one_marker_per_key():
    from modelreg.app.due import Item
    item = Item("waiver:m@1.0.0:OPS-03", "waiver", "m", "1.0.0", "2026-12-10", -1, "a|b",
                "Waiver", "x\n| y", "models/m/versions/1.0.0.yaml")
    spec = issues(type("R", (), {"items": (item,)})())[0]
    assert key_of({"body": spec.body}) == item.key
    assert "a\\|b" in spec.body and "x \\| y" in spec.body


def test_the_due_workflow_runs_daily_with_issue_rights_only():
    flow = yaml.safe_load((PROJECT / ".github/workflows/due.yml").read_text())
    triggers = flow[True]                        # PyYAML reads `on:` as True
    assert triggers["schedule"][0]["cron"].split()[2:] == ["*", "*", "*"]   # every day
    assert "workflow_dispatch" in triggers
    assert flow["permissions"] == {}
    job = flow["jobs"]["due"]
    assert job["permissions"] == {"contents": "read", "issues": "write"}
    steps = job["steps"]
    assert all("@" in s["uses"] and len(s["uses"].split("@")[1].split()[0]) == 40
               for s in steps if "uses" in s)
    run = next(s for s in steps if "modelreg due" in s.get("run", ""))
    assert "--sync-issues" in run["run"] and run["env"]["GITHUB_TOKEN"] == "${{ github.token }}"
    # an overdue item (exit 1) is the issues' to report; a failure to run fails the job
    assert '"${status}" -gt 1' in run["run"]


def test_due_refuses_bad_arguments(repo, run_cli):
    assert run_cli(repo.root, "due", "--today", "soon").code == 2
    assert run_cli(repo.root, "due", "--within", "-1").code == 2
    res = run_cli(repo.root, "due", "--format", "json")
    assert res.code == 0 and json.loads(res.out)["items"] == []





def test_a_record_that_cannot_be_read_is_a_note_not_a_stop(world: World, run_cli):
    root = due_world(world)
    (root / f"models/{MODEL}/versions/1.1.0.yaml").write_text("model: [\n")
    (root / f"models/{MODEL}/stages.yaml").write_text("stages: {\n")
    res = run_cli(root, "due", "--within", "60", "--today", TODAY, "--format", "json")
    assert res.code == 1, res.err
    assert f"note: {MODEL} 1.1.0: models/{MODEL}/versions/1.1.0.yaml could not be read" in res.err
    assert f"note: {MODEL}: stages.yaml could not be read" in res.err
    assert len(json.loads(res.out)["items"]) == 5
