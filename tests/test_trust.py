"""Tags that count: an attacker who may push tags (but not to main) tries to change what the
registry says and what the gate lets through, against a bare origin with separate CI,
attacker and deploy clones. Each attack must leave the stage as main asks for it, be shown
flagged by the read commands and reported by verify, and fail the gate; the ordinary flow
still passes.

The forged tags here are signed with the reconcile job's own key, as if it had leaked (or as
in a registry that runs unsigned): what is tested is that the binding to main holds on its
own. An unsigned forgery fails earlier still (tests/test_tag_signing.py)."""
from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

import modelreg
from conftest import git
from modelreg.core.tags import format_message, parse_message
from test_signoff import World

MODEL = "iris-classifier"


@pytest.fixture
def world(tmp_path, run_cli, monkeypatch):
    return World(tmp_path, run_cli, monkeypatch)


def _in_staging(w: World) -> None:
    """1.0.0 registered and in staging through reviewed pull requests; 1.1.0 registered."""
    branch, head = w.register("1.0.0", b"weights-1.0.0" * 20)
    w.merge(branch)
    w.reconcile(w.reviews(("grace-ds", head)))
    branch, head = w.promote("promote", f"{MODEL}@1.0.0", "--stage", "staging")
    w.merge(branch)
    w.reconcile(w.reviews(("carol-risk", head)))
    branch, head = w.register("1.1.0", b"weights-1.1.0" * 20)
    w.merge(branch)
    w.reconcile(w.reviews(("grace-ds", head)))


def _in_production(w: World) -> None:
    """1.0.0 in staging and production; 1.1.0 in staging only."""
    _in_staging(w)
    branch, head = w.promote("promote", f"{MODEL}@1.0.0", "--stage", "production")
    w.merge(branch)
    w.reconcile(w.reviews(("dave-risk", head)))
    branch, head = w.promote("promote", f"{MODEL}@1.1.0", "--stage", "staging")
    w.merge(branch)
    w.reconcile(w.reviews(("carol-risk", head)))


def _attacker(w: World) -> Path:
    path = w.clone("mallory")
    git(path, "fetch", "-q", "--force", "origin", "+refs/tags/*:refs/tags/*")
    return path


MALLORY = {"GIT_COMMITTER_NAME": "Mallory", "GIT_COMMITTER_EMAIL": "mallory@example.com"}


def _forge(path: Path, name: str, target: str, evidence: dict, *, force: bool = False,
           date: str = "2026-06-28T10:00:00Z", push: bool = True) -> None:
    git(path, "tag", *(["-f"] if force else []), "-s", name, target, "-m",
        format_message(f"Promote {evidence.get('version')}", evidence),
        env={**MALLORY, "GIT_COMMITTER_DATE": date})
    if push:
        git(path, "push", "-q", *(["--force"] if force else []), "origin", f"refs/tags/{name}")


def _evidence(path: Path, tag: str) -> dict:
    return parse_message(git(path, "tag", "-l", "--format=%(contents)", tag))


def _deploy(w: World, name: str = "deploy") -> Path:
    path = w.base / name
    if not path.exists():
        path = w.clone(name)
    git(path, "fetch", "-q", "--force", "--prune", "--prune-tags", "origin",
        "+refs/tags/*:refs/tags/*")
    git(path, "pull", "-q", "--ff-only", "origin", "main")
    return path


def _gate(w: World, path: Path, stage: str = "production") -> tuple[int, dict]:
    res = w.cli(path, "gate", MODEL, "--stage", stage, "--json", "--engine", "regorus")
    return res.code, json.loads(res.out)


def _flagged(w: World, path: Path) -> dict[str, list[str]]:
    rows = json.loads(w.cli(path, "ls", "--json").out)["models"]
    row = next(r for r in rows if r["name"] == MODEL)
    return {t["tag"]: t["reasons"] for t in row["untrusted_tags"]}


def _verify_says(w: World, path: Path, tag: str) -> bool:
    res = w.cli(path, "verify", MODEL, "--json")
    return res.code == 1 and any(f["rule"] == "VER-02" and tag in f["message"]
                                 for f in json.loads(res.out)["findings"])


# --- attacks ------------------------------------------------------------------------------
def test_invented_evidence_cannot_skip_staging(world: World):
    """Mallory tags 1.1.0 (never in staging... nor asked for in production) into production
    with a made-up pull request, head and reviews."""
    w = world
    _in_staging(w)
    bad = _attacker(w)
    real = _evidence(bad, f"{MODEL}#staging#1")
    head = "f" * 40
    forged = {**real, "event": "assign", "version": "1.1.0", "stage": "production", "pr": 99,
              "head": head, "approvers": ["dave-risk", "carol-risk"],
              "reviews": [{"user": {"login": login}, "state": "APPROVED", "commit_id": head,
                           "submitted_at": "2026-06-28T09:00:00Z"}
                          for login in ("dave-risk", "carol-risk")],
              "owners": {f"models/{MODEL}/stages.yaml": ["dave-risk", "carol-risk"]}}
    reg_commit = git(bad, "rev-parse", f"{MODEL}@v1.1.0^{{commit}}").strip()
    _forge(bad, f"{MODEL}#production#9", reg_commit, forged)
    deploy = _deploy(w)
    code, out = _gate(w, deploy)
    assert code == 1 and out["version"] is None, out
    assert f"{MODEL}#production#9" in " ".join(out["reasons"])
    assert modelreg.open_registry(deploy).state(MODEL).stages == {"staging": "1.0.0"}
    reasons = _flagged(w, deploy)[f"{MODEL}#production#9"]
    assert any("asks for no version in production" in r for r in reasons), reasons
    assert _verify_says(w, deploy, f"{MODEL}#production#9")
    res = w.cli(deploy, "show", MODEL)
    assert f"UNTRUSTED tag {MODEL}#production#9" in res.out


def test_merge_on_main_asking_for_another_version_does_not_count(world: World):
    """A real merge commit on main, but its stages.yaml asks for 1.0.0 in staging."""
    w = world
    _in_staging(w)
    bad = _attacker(w)
    real = _evidence(bad, f"{MODEL}#staging#1")
    reg_commit = git(bad, "rev-parse", f"{MODEL}@v1.1.0^{{commit}}").strip()
    _forge(bad, f"{MODEL}#staging#9", reg_commit, {**real, "version": "1.1.0"})
    deploy = _deploy(w)
    assert modelreg.open_registry(deploy).state(MODEL).stages == {"staging": "1.0.0"}
    reasons = _flagged(w, deploy)[f"{MODEL}#staging#9"]
    assert any("asks for 1.0.0 in staging, not 1.1.0" in r for r in reasons), reasons
    assert _gate(w, deploy, "staging")[0] == 1


def test_head_that_is_not_the_merged_pull_request_does_not_count(world: World):
    w = world
    _in_staging(w)
    bad = _attacker(w)
    real = _evidence(bad, f"{MODEL}#staging#1")
    target = git(bad, "rev-parse", f"{MODEL}@v1.0.0^{{commit}}").strip()
    _forge(bad, f"{MODEL}#staging#9", target, {**real, "head": "e" * 40})
    deploy = _deploy(w)
    reasons = _flagged(w, deploy)[f"{MODEL}#staging#9"]
    assert any("it is not that pull request's merge" in r for r in reasons), reasons
    assert _gate(w, deploy, "staging")[0] == 1


def test_registration_tag_off_main_does_not_count(world: World):
    w = world
    _in_staging(w)
    bad = _attacker(w)
    git(bad, "checkout", "-q", "-b", "side")
    (bad / "side.txt").write_text("x")
    git(bad, "add", "side.txt")
    git(bad, "commit", "-qm", "side")
    git(bad, "push", "-q", "origin", "side")
    real = _evidence(bad, f"{MODEL}@v1.0.0")
    git(bad, "tag", "-a", f"{MODEL}@v2.0.0", "HEAD", "-m",
        format_message("Register", {**real, "version": "2.0.0"}), env=MALLORY)
    git(bad, "push", "-q", "origin", f"refs/tags/{MODEL}@v2.0.0")
    deploy = _deploy(w)
    git(deploy, "fetch", "-q", "origin", "side")
    assert "2.0.0" not in modelreg.open_registry(deploy).state(MODEL).registered
    reasons = _flagged(w, deploy)[f"{MODEL}@v2.0.0"]
    assert any("not on the first-parent history of main" in r for r in reasons), reasons


def test_forged_owners_and_approvers_are_not_believed(world: World):
    """A promotion merged on main (nobody who may approve it did), tagged by hand with the
    real merge and head, a review by a non-owner, an owners map naming that reviewer and
    an approvers field naming a model-risk officer."""
    w = world
    _in_staging(w)
    branch, head = w.promote("promote", f"{MODEL}@1.0.0", "--stage", "production")
    w.merge(branch)
    bad = _attacker(w)
    git(bad, "pull", "-q", "--ff-only", "origin", "main")
    merge = git(bad, "rev-parse", "HEAD").strip()
    real = _evidence(bad, f"{MODEL}#staging#1")
    forged = {**real, "stage": "production", "version": "1.0.0", "merge_commit": merge,
              "pr": w.pr, "head": head, "approvers": ["dave-risk"],
              "reviews": [{"user": {"login": "bob-ds"}, "state": "APPROVED", "commit_id": head,
                           "submitted_at": "2026-06-28T09:00:00Z"}],
              "committers": [], "owners": {f"models/{MODEL}/stages.yaml": ["bob-ds"]}}
    target = git(bad, "rev-parse", f"{MODEL}@v1.0.0^{{commit}}").strip()
    _forge(bad, f"{MODEL}#production#9", target, forged)
    deploy = _deploy(w)
    assert modelreg.open_registry(deploy).state(MODEL).stages["production"] == "1.0.0"
    code, out = _gate(w, deploy)
    assert code == 1 and out["approvers"] == [], out
    assert any("GOV-" in r for r in out["reasons"]), out["reasons"]
    res = w.cli(deploy, "gate", MODEL, "--stage", "production")
    assert "approved by dave-risk" not in res.out and "PASS" not in res.out


def test_live_production_tag_force_moved(world: World):
    """The deploy clone has verified the registry; Mallory then force-moves the live
    production tag to 1.1.0 (evidence rewritten to match)."""
    w = world
    _in_production(w)
    deploy = _deploy(w)
    assert w.cli(deploy, "verify", MODEL).code == 0
    assert _gate(w, deploy)[0] == 0
    bad = _attacker(w)
    tag = f"{MODEL}#production#2"
    real = _evidence(bad, tag)
    target = git(bad, "rev-parse", f"{MODEL}@v1.1.0^{{commit}}").strip()
    _forge(bad, tag, target, {**real, "version": "1.1.0"}, force=True)
    deploy = _deploy(w)
    # the moved tag counts nowhere: production holds nothing (it never held 1.1.0)
    assert "production" not in modelreg.open_registry(deploy).state(MODEL).stages
    reasons = _flagged(w, deploy)[tag]
    assert any("was moved or made again" in r for r in reasons), reasons
    code, out = _gate(w, deploy)
    assert code == 1 and any("was moved" in r for r in out["reasons"]), out


def test_deleted_and_recreated_tag(world: World):
    """Deleted, then made again with the very same evidence and target by Mallory: the
    deploy clone's ledger knows the object it verified."""
    w = world
    _in_production(w)
    deploy = _deploy(w)
    assert w.cli(deploy, "verify", MODEL).code == 0
    bad = _attacker(w)
    tag = f"{MODEL}#production#2"
    real = _evidence(bad, tag)
    target = git(bad, "rev-parse", f"{tag}^{{commit}}").strip()
    git(bad, "push", "-q", "origin", f":refs/tags/{tag}")
    git(bad, "tag", "-d", tag)
    _forge(bad, tag, target, real)
    deploy = _deploy(w)
    assert any("was moved or made again" in r for r in _flagged(w, deploy)[tag])
    assert _gate(w, deploy)[0] == 1


def test_deleted_live_tag_is_out_of_sync(world: World):
    """Deleting the production tag makes production fall back; main still asks for the
    deleted holder: the gate says the stage is out of sync."""
    w = world
    _in_production(w)
    branch, head = w.promote("promote", f"{MODEL}@1.1.0", "--stage", "production")
    w.merge(branch)
    w.reconcile(w.reviews(("dave-risk", head)))
    deploy = _deploy(w)
    assert _gate(w, deploy)[1]["version"] == "1.1.0"
    bad = _attacker(w)
    live = git(bad, "tag", "-l", f"{MODEL}#production#*", "--sort=-creatordate").split()[0]
    git(bad, "push", "-q", "origin", f":refs/tags/{live}")
    deploy = _deploy(w)
    code, out = _gate(w, deploy)
    assert out["version"] == "1.0.0" and code == 1
    assert any("stage is out of sync: main asks for 1.1.0" in r for r in out["reasons"]), out


def test_future_dated_tag_does_not_count_and_reconcile_still_repairs(world: World):
    """A stage tag dated 2099 would win every ordering; it counts nowhere, and the next
    honest reconcile records the merged stage as usual."""
    w = world
    _in_staging(w)
    bad = _attacker(w)
    real = _evidence(bad, f"{MODEL}#staging#1")
    target = git(bad, "rev-parse", f"{MODEL}@v1.0.0^{{commit}}").strip()
    _forge(bad, f"{MODEL}#staging!#9", target, {**real, "event": "unassign"},
           date="2099-01-01T00:00:00Z")
    git(w.ci, "fetch", "-q", "--force", "origin", "+refs/tags/*:refs/tags/*")
    assert modelreg.open_registry(w.ci).state(MODEL).stages == {"staging": "1.0.0"}
    reasons = _flagged(w, w.ci)[f"{MODEL}#staging!#9"]
    assert any("in the future" in r for r in reasons), reasons
    branch, head = w.promote("promote", f"{MODEL}@1.1.0", "--stage", "staging")
    w.merge(branch)
    created = w.reconcile(w.reviews(("carol-risk", head)))["created"]
    assert [c["version"] for c in created] == ["1.1.0"]
    assert modelreg.open_registry(w.ci).state(MODEL).stages == {"staging": "1.1.0"}


def test_borrowed_cancel_tag_does_not_count(world: World):
    """``NAME#production!#N`` as a ref to another tag's object would end 1.0.0's hold; it
    counts nowhere and the gate, checking every tag of the model, refuses."""
    w = world
    _in_production(w)
    bad = _attacker(w)
    git(bad, "tag", f"{MODEL}#production!#9", f"{MODEL}#production#2")
    git(bad, "push", "-q", "origin", f"refs/tags/{MODEL}#production!#9")
    deploy = _deploy(w)
    assert modelreg.open_registry(deploy).state(MODEL).stages["production"] == "1.0.0"
    code, out = _gate(w, deploy)
    assert code == 1 and any(f"{MODEL}#production!#9" in r and "borrows" in r
                             for r in out["reasons"]), out
    assert _verify_says(w, deploy, f"{MODEL}#production!#9")


# --- the ordinary team ----------------------------------------------------------------------
def test_merged_promotion_is_out_of_sync_only_until_reconcile(world: World):
    w = world
    _in_production(w)
    branch, head = w.promote("promote", f"{MODEL}@1.1.0", "--stage", "production")
    w.merge(branch)
    deploy = _deploy(w)
    code, out = _gate(w, deploy)
    assert code == 1 and any("stage is out of sync: main asks for 1.1.0" in r
                             for r in out["reasons"])
    w.reconcile(w.reviews(("dave-risk", head)))
    deploy = _deploy(w)
    code, out = _gate(w, deploy)
    assert code == 0 and out["version"] == "1.1.0" and out["approvers"] == ["dave-risk"], out
    assert _flagged(w, deploy) == {}


def test_stage_pushed_straight_to_main_counts_but_the_gate_refuses_it(world: World):
    w = world
    branch, head = w.register("1.0.0", b"w" * 50)
    w.merge(branch)
    w.reconcile(w.reviews(("grace-ds", head)))
    w.promote("promote", f"{MODEL}@1.0.0", "--stage", "staging", "--no-branch")
    git(w.ds, "push", "-q", "origin", "HEAD:main")
    w.as_user("ci")
    git(w.ci, "pull", "-q", "--ff-only", "origin", "main")
    assert w.cli(w.ci, "reconcile", "--push").code == 0
    assert modelreg.open_registry(w.ci).state(MODEL).stages == {"staging": "1.0.0"}
    code, out = _gate(w, w.ci, "staging")
    assert code == 1 and any("reached main without a reviewed pull request" in r
                             for r in out["reasons"]), out


def test_a_few_tags_are_judged_without_the_cache_of_verdicts(tmp_path, monkeypatch):
    """One model's tags are judged afresh (faster than loading a registry's verdicts); a
    registry's many tags go through the cache."""
    from modelreg.store import cache as cache_mod
    from modelreg.store import trust as trust_mod
    from modelreg.store.git import Git

    root = tmp_path / "r"
    root.mkdir()
    for args in (("init", "-q", "-b", "main"), ("commit", "-q", "--allow-empty", "-m", "x"),
                 ("tag", "-a", "-m", "r", "m@v1.0.0")):
        subprocess.run(["git", *args], cwd=root, check=True, capture_output=True)
    git = Git(root)
    used: list[bool] = []
    real = trust_mod.ContentCache
    monkeypatch.setattr(trust_mod, "ContentCache",
                        lambda *a, use=True: used.append(use) or real(*a, use=use))
    trust_mod.classify(git, "main", git.refs(["refs/tags/*"]))
    monkeypatch.setattr(cache_mod, "FEW_TAGS", 0)
    trust_mod.classify(git, "main", git.refs(["refs/tags/*"]))
    assert used == [False, True]
