"""Sign-off and promotion, end to end, with real git: a bare origin, a data scientist's
clone, the CI job's clone and a deploy clone; reviews as recorded GitHub JSON.

register → check without approval fails → wrong person fails → the author fails → a stale
approval fails → the right approval passes → merge → reconcile tags → promote to staging,
then production → gate passes with the right weights, fails with tampered ones → rollback
→ history shows every step with its approvers."""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

import modelreg
from conftest import PROJECT, dvc, git, make_registry, safetensors_bytes
from modelreg.core.tags import parse_message

PEOPLE = {
    "alice-ds": ("Alice Martin", "alice.martin@example.com"),
    "grace-ds": ("Grace Lindqvist", "grace.lindqvist@example.com"),
    "bob-ds": ("Bob Okafor", "bob.okafor@example.com"),
    "carol-risk": ("Carol Nguyen", "carol.nguyen@example.com"),
    "dave-risk": ("Dave Schmidt", "dave.schmidt@example.com"),
    "ci": ("modelreg-reconcile", "reconcile@example.com"),
}


class World:
    """The people and clones of one registry, and a clock for fixed tag dates."""

    def __init__(self, base: Path, run_cli, monkeypatch):
        self.base, self.run_cli, self.mp = base, run_cli, monkeypatch
        repo = make_registry(base, with_models=True)
        self.admin = repo.root
        self.origin = repo.origin
        card = PROJECT / "models/iris-classifier/card.md"
        if card.exists():
            shutil.copy(card, self.admin / "models/iris-classifier/card.md")
        self.day = 1
        self.as_user("ci")
        assert self.cli(self.admin, "codeowners", "--write").code == 0
        git(self.admin, "add", "-A")
        git(self.admin, "commit", "-q", "-m", "Code owners and cards")
        git(self.admin, "push", "-q", "origin", "main")
        self.ds = self.clone("ds")
        self.ci = self.clone("ci")
        self.pr = 0

    def clone(self, name: str) -> Path:
        path = self.base / name
        git(self.base, "clone", "-q", str(self.origin), str(path))
        shutil.copy(self.admin / ".dvc/config", path / ".dvc/config")
        return path

    def tick(self) -> str:
        self.day += 1
        stamp = f"2026-06-{self.day:02d}T10:00:00Z"
        for key in ("GIT_AUTHOR_DATE", "GIT_COMMITTER_DATE"):
            self.mp.setenv(key, stamp)
        return stamp

    def as_user(self, login: str) -> None:
        name, email = PEOPLE[login]
        for role in ("AUTHOR", "COMMITTER"):
            self.mp.setenv(f"GIT_{role}_NAME", name)
            self.mp.setenv(f"GIT_{role}_EMAIL", email)

    def cli(self, cwd: Path, *args: str):
        return self.run_cli(cwd, *args)

    def head(self, cwd: Path) -> str:
        return git(cwd, "rev-parse", "HEAD").strip()

    def reviews(self, *approvals: tuple[str, str]) -> str:
        self.pr += 0
        path = self.base / f"reviews-{len(list(self.base.glob('reviews-*')))}.json"
        path.write_text(json.dumps([
            {"id": i, "user": {"login": login}, "state": "APPROVED", "commit_id": sha,
             "submitted_at": f"2026-06-{self.day:02d}T09:{i:02d}:00Z"}
            for i, (login, sha) in enumerate(approvals)]))
        return str(path)

    def check_pr(self, branch_head: str, reviews: str, author: str = "alice-ds"):
        git(self.ds, "fetch", "-q", "origin")
        return self.cli(self.ds, "check", "--changed-since", "origin/main", "--reviews",
                        reviews, "--pr-author", author, "--head", branch_head)

    def merge(self, branch: str) -> None:
        """The pull request is merged on GitHub: a merge commit on main."""
        self.pr += 1
        self.as_user("ci")
        self.tick()
        # GitHub merges into main as origin has it (a push straight to main included)
        git(self.admin, "pull", "-q", "--ff-only", "origin", "main")
        git(self.admin, "fetch", "-q", "origin", f"{branch}:{branch}")
        git(self.admin, "merge", "-q", "--no-ff", "-m", f"Merge pull request #{self.pr} "
            f"from {branch}", branch)
        git(self.admin, "push", "-q", "origin", "main")

    def reconcile(self, reviews: str, author: str = "alice-ds", *extra: str):
        self.as_user("ci")
        self.tick()
        git(self.ci, "pull", "-q", "--ff-only", "origin", "main")
        res = self.cli(self.ci, "reconcile", "--push", "--pr", str(self.pr), "--reviews",
                       reviews, "--pr-author", author, "--json", *extra)
        assert res.code == 0, res.out + res.err
        return json.loads(res.out)

    def start_branch(self) -> None:
        self.as_user("alice-ds")
        self.tick()
        git(self.ds, "checkout", "-q", "main")
        git(self.ds, "pull", "-q", "--ff-only", "origin", "main")
        git(self.ds, "fetch", "-q", "--force", "origin", "+refs/tags/*:refs/tags/*")

    def register(self, version: str, payload: bytes, accuracy: float = 0.96
                 ) -> tuple[str, str]:
        self.start_branch()
        w = self.base / f"train-{version}" / "model.safetensors"
        w.parent.mkdir()
        w.write_bytes(safetensors_bytes(version, payload))
        metrics = w.parent / "metrics.json"
        metrics.write_text(json.dumps([{"name": "accuracy", "value": accuracy,
                                        "dataset": "iris-test", "split": "test"},
                                       {"name": "f1_macro", "value": 0.95,
                                        "dataset": "iris-test", "split": "test"}]))
        res = self.cli(self.ds, "register", "iris-classifier", "--version", version,
                       "--weights", str(w), "--metrics", str(metrics),
                       "--dataset", "train:iris-train@2026.11",
                       "--dataset", "test:iris-test@2026.11")
        assert res.code == 0, res.err
        branch = f"register/iris-classifier-{version}"
        git(self.ds, "push", "-q", "origin", branch)
        return branch, self.head(self.ds)

    def promote(self, *args: str) -> tuple[str, str]:
        self.start_branch()
        res = self.cli(self.ds, *args)
        assert res.code == 0, res.out + res.err
        branch = git(self.ds, "symbolic-ref", "--short", "HEAD").strip()
        git(self.ds, "push", "-q", "origin", branch)
        return branch, self.head(self.ds)


@pytest.fixture
def world(tmp_path, run_cli, monkeypatch):
    return World(tmp_path, run_cli, monkeypatch)


def _ids(res) -> str:
    return res.out + res.err


def test_the_whole_flow(world: World, tmp_path):
    w = world
    # --- registration pull request ------------------------------------------------------
    branch, first = w.register("1.0.0", b"weights-1.0.0" * 20)
    res = w.check_pr(first, w.reviews())
    assert res.code == 1 and "[GOV-09]" in _ids(res)                 # no approval
    res = w.check_pr(first, w.reviews(("bob-ds", first)))
    assert res.code == 1 and "[GOV-09]" in _ids(res)                 # not a code owner
    res = w.check_pr(first, w.reviews(("alice-ds", first)))
    assert res.code == 1 and "[GOV-09]" in _ids(res)                 # the author herself
    # a second commit makes grace's earlier approval stale
    readme = w.ds / "models/iris-classifier/NOTES.md"
    readme.write_text("Trained on the 2026.11 split.\n")
    git(w.ds, "add", str(readme))
    git(w.ds, "commit", "-q", "-m", "Add training notes")
    git(w.ds, "push", "-q", "origin", branch)
    head = w.head(w.ds)
    res = w.check_pr(head, w.reviews(("grace-ds", first)))
    assert res.code == 1 and "[GOV-09]" in _ids(res)                 # stale approval
    approved = w.reviews(("grace-ds", first), ("grace-ds", head))
    res = w.check_pr(head, approved)
    assert res.code == 0, _ids(res)                                   # the right approval
    w.merge(branch)
    out = w.reconcile(approved)
    assert [c["tag"] for c in out["created"]] == ["iris-classifier@v1.0.0"]

    # --- promotion to staging, then production ------------------------------------------
    branch, head = w.promote("promote", "iris-classifier@1.0.0", "--stage", "staging")
    res = w.check_pr(head, w.reviews(("grace-ds", head)))
    assert res.code == 1 and "[GOV-09]" in _ids(res)   # stages.yaml belongs to model-risk
    staging_ok = w.reviews(("carol-risk", head))
    assert w.check_pr(head, staging_ok).code == 0
    w.merge(branch)
    assert [c["tag"] for c in w.reconcile(staging_ok)["created"]] == ["iris-classifier#staging#1"]

    branch, head = w.promote("promote", "iris-classifier@1.0.0", "--stage", "production")
    prod_ok = w.reviews(("dave-risk", head))
    assert w.check_pr(head, prod_ok).code == 0
    w.merge(branch)
    created = w.reconcile(prod_ok)["created"]
    assert [c["tag"] for c in created] == ["iris-classifier#production#2"]
    assert w.reconcile(prod_ok)["created"] == []                     # idempotent

    # --- the gate, from a deploy clone --------------------------------------------------
    deploy = w.clone("deploy")
    git(deploy, "fetch", "-q", "--force", "origin", "+refs/tags/*:refs/tags/*")
    assert dvc(deploy, "pull", "-q").returncode == 0
    weights = deploy / "models/iris-classifier/versions/1.0.0/model.safetensors"
    res = w.cli(deploy, "gate", "iris-classifier", "--stage", "production", "--artifact",
                str(weights), "--json")
    assert res.code == 0, res.out
    verdict = json.loads(res.out)
    assert verdict["version"] == "1.0.0" and verdict["approvers"] == ["dave-risk"]
    assert verdict["artifacts"][0]["path"] == "models/iris-classifier/versions/1.0.0/model.safetensors"
    tampered = tmp_path / "tampered.safetensors"
    tampered.write_bytes(weights.read_bytes() + b"\0")
    res = w.cli(deploy, "gate", "iris-classifier", "--stage", "production", "--artifact",
                str(tampered), "--json")
    assert res.code == 1 and "not a registered artifact" in " ".join(json.loads(res.out)["reasons"])

    # --- 1.1.0 replaces it, then a rollback ---------------------------------------------
    branch, head = w.register("1.1.0", b"weights-1.1.0" * 20)
    ok = w.reviews(("grace-ds", head))
    w.merge(branch)
    w.reconcile(ok)
    for stage in ("staging", "production"):
        branch, head = w.promote("promote", "iris-classifier@1.1.0", "--stage", stage)
        ok = w.reviews(("carol-risk", head))
        w.merge(branch)
        w.reconcile(ok)
    reg = modelreg.open_registry(w.ci)
    assert reg.state("iris-classifier").stages == {"staging": "1.1.0", "production": "1.1.0"}
    branch, head = w.promote("rollback", "iris-classifier", "--stage", "production")
    ok = w.reviews(("dave-risk", head))
    assert w.check_pr(head, ok).code == 0
    w.merge(branch)
    created = w.reconcile(ok)["created"]
    assert [c["version"] for c in created] == ["1.0.0"]
    git(deploy, "fetch", "-q", "--force", "origin", "+refs/tags/*:refs/tags/*")
    git(deploy, "pull", "-q", "--ff-only", "origin", "main")
    res = w.cli(deploy, "gate", "iris-classifier", "--stage", "production", "--artifact",
                str(weights), "--json")
    assert res.code == 0 and json.loads(res.out)["version"] == "1.0.0", res.out

    # --- history: every step, with its approvers ----------------------------------------
    res = w.cli(w.ci, "history", "iris-classifier", "--json")
    events = json.loads(res.out)["events"]
    summary = [(e["event"], e["version"], e["stage"], e["approvers"]) for e in events]
    assert summary == [
        ("registered", "1.0.0", None, ["grace-ds"]),
        ("promoted", "1.0.0", "staging", ["carol-risk"]),
        ("promoted", "1.0.0", "production", ["dave-risk"]),
        ("registered", "1.1.0", None, ["grace-ds"]),
        ("promoted", "1.1.0", "staging", ["carol-risk"]),
        ("promoted", "1.1.0", "production", ["carol-risk"]),
        ("rolled back", "1.0.0", "production", ["dave-risk"]),
    ]
    assert all(e["actor"] == "modelreg-reconcile" and e["pull_request"] for e in events)
    assert [e["pull_request"] for e in events] == [1, 2, 3, 4, 5, 6, 7]
    # and what was where, at a date
    res = w.cli(w.ci, "show", "iris-classifier", "--at", events[1]["time"], "--json")
    assert json.loads(res.out)["stages"] == {"staging": "1.0.0"}
    res = w.cli(w.ci, "show", "iris-classifier", "--at", "2026-05-01", "--json")
    assert json.loads(res.out)["stages"] == {} and json.loads(res.out)["versions"] == []


def test_stage_held_without_recorded_approvals_fails(world: World):
    w = world
    branch, head = w.register("1.0.0", b"w" * 50)
    w.merge(branch)
    w.reconcile(w.reviews(("grace-ds", head)))
    branch, head = w.promote("promote", "iris-classifier@1.0.0", "--stage", "staging",
                             "--no-branch")
    git(w.ds, "push", "-q", "origin", "HEAD:main")   # straight to main, nobody reviewed
    w.as_user("ci")
    git(w.ci, "pull", "-q", "--ff-only", "origin", "main")
    res = w.cli(w.ci, "reconcile", "--push")
    assert res.code == 0, res.err                    # the tag records that nobody approved
    res = w.cli(w.ci, "gate", "iris-classifier", "--stage", "staging")
    assert res.code == 1 and "GOV-01" in res.out
    res = w.cli(w.ci, "check")
    assert res.code == 1 and "[GOV-01]" in _ids(res)


def test_reconcile_refuses_off_the_protected_branch_and_failing_policies(world: World):
    w = world
    branch, head = w.register("1.0.0", b"w" * 50)
    res = w.cli(w.ds, "reconcile")
    assert res.code == 1 and "not on the protected branch" in res.err
    w.merge(branch)
    w.reconcile(w.reviews(("grace-ds", head)))
    # production before staging, merged without the local pre-check (edited by hand)
    w.start_branch()
    (w.ds / "models/iris-classifier/stages.yaml").write_text("stages:\n  production: 1.0.0\n")
    git(w.ds, "add", "models/iris-classifier/stages.yaml")
    git(w.ds, "commit", "-qm", "hand-edited promotion")
    git(w.ds, "push", "-q", "origin", "HEAD:main")
    w.as_user("ci")
    git(w.ci, "pull", "-q", "--ff-only", "origin", "main")
    before = git(w.ci, "tag", "-l")
    res = w.cli(w.ci, "reconcile", "--push")
    assert res.code == 1 and "OPS-" in res.err and "no tag was created" in res.err
    assert git(w.ci, "tag", "-l") == before


def test_promote_refuses_with_findings(world: World):
    w = world
    branch, head = w.register("1.0.0", b"w" * 50)
    w.merge(branch)
    w.reconcile(w.reviews(("grace-ds", head)))
    w.start_branch()
    res = w.cli(w.ds, "promote", "iris-classifier@1.0.0", "--stage", "production")
    assert res.code == 1 and "staging" in res.err and "nothing was changed" in res.err
    assert git(w.ds, "status", "--porcelain") == ""
    assert git(w.ds, "symbolic-ref", "--short", "HEAD").strip() == "main"
    res = w.cli(w.ds, "promote", "iris-classifier@9.9.9", "--stage", "staging")
    assert res.code == 1 and "not registered" in res.err
    res = w.cli(w.ds, "promote", "iris-classifier@1.0.0", "--stage", "moon")
    assert res.code == 2 and "unknown stage" in res.err


def _merged_with_two_ci_clones(w: World) -> Path:
    """A registration merged on main, and a second CI clone beside ``w.ci``, both up to date."""
    branch, _ = w.register("1.0.0", b"w" * 50)
    w.merge(branch)
    other = w.clone("ci2")
    w.as_user("ci")
    git(w.ci, "pull", "-q", "--ff-only", "origin", "main")
    return other


def test_concurrent_reconciles_make_one_set_of_tags(world: World):
    """Two CI jobs reconcile the same merge at once, as separate processes with their own
    clock: exactly one tag reaches origin; the other run stops cleanly."""
    import subprocess
    import sys

    w = world
    other = _merged_with_two_ci_clones(w)
    procs = []
    for i, path in enumerate((w.ci, other)):
        env = {**os.environ, "GIT_COMMITTER_DATE": f"2026-07-0{i + 1}T10:00:00Z"}
        procs.append(subprocess.Popen(
            [sys.executable, "-m", "modelreg", "reconcile", "--push", "--json"], cwd=path,
            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    results = []
    for p in procs:
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
        results.append(json.loads(out))
    assert git(w.origin, "tag", "-l").split() == ["iris-classifier@v1.0.0"]
    assert sorted(len(r["created"]) for r in results) == [0, 1]
    # whichever lost, its clone now has the winner's tag, and a rerun records nothing
    for path in (w.ci, other):
        assert git(path, "tag", "-l").split() == ["iris-classifier@v1.0.0"]
        res = w.cli(path, "reconcile", "--push", "--json")
        assert res.code == 0 and json.loads(res.out)["created"] == []


def test_identical_concurrent_tags_are_not_counted_twice(world: World):
    """Same clock, same evidence: both runs make the identical tag object; the second push
    changes nothing on origin, and that run reports nothing created."""
    w = world
    other = _merged_with_two_ci_clones(w)
    from modelreg.app.reconcile import reconcile
    first = reconcile(modelreg.open_registry(w.ci), push=True, now="2026-07-01T00:00:00Z")
    second = reconcile(modelreg.open_registry(other), push=True, now="2026-07-01T00:00:00Z")
    assert len(first.created) == 1
    assert second.created == () and second.already_done
    assert git(w.origin, "tag", "-l").split() == ["iris-classifier@v1.0.0"]


def test_gate_refuses_hand_made_and_off_branch_tags(world: World):
    w = world
    branch, head = w.register("1.0.0", b"w" * 50)
    w.merge(branch)
    w.reconcile(w.reviews(("grace-ds", head)))
    git(w.ci, "tag", "iris-classifier#staging#1", "iris-classifier@v1.0.0")   # borrowed
    res = w.cli(w.ci, "gate", "iris-classifier", "--stage", "staging", "--json")
    reasons = " ".join(json.loads(res.out)["reasons"])
    assert res.code == 1 and "borrows the object of tag iris-classifier@v1.0.0" in reasons
    git(w.ci, "tag", "-d", "iris-classifier#staging#1")
    commit = git(w.ci, "rev-parse", "iris-classifier@v1.0.0^{commit}").strip()
    git(w.ci, "tag", "iris-classifier#staging#1", commit)                      # lightweight
    res = w.cli(w.ci, "gate", "iris-classifier", "--stage", "staging", "--json")
    reasons = " ".join(json.loads(res.out)["reasons"])
    assert res.code == 1 and "lightweight" in reasons
    git(w.ci, "tag", "-d", "iris-classifier#staging#1")
    # an annotated tag on a commit that never reached main
    git(w.ci, "checkout", "-q", "-b", "side")
    (w.ci / "side.txt").write_text("x")
    git(w.ci, "add", "side.txt")
    git(w.ci, "commit", "-qm", "side")
    git(w.ci, "tag", "-a", "iris-classifier@v1.0.0-rc1", "-m", "by hand")
    git(w.ci, "tag", "-a", "iris-classifier#staging#3", "-m", "Promote\n\nmodelreg-evidence:\n"
        "  event: assign\n  version: 1.0.0-rc1\n  stage: staging\n  tool: modelreg 0.1.0\n")
    res = w.cli(w.ci, "gate", "iris-classifier", "--stage", "staging", "--json")
    reasons = " ".join(json.loads(res.out)["reasons"])
    assert res.code == 1 and "not on the first-parent history of main" in reasons
    res = w.cli(w.ci, "gate", "iris-classifier", "--stage", "production")
    assert res.code == 1 and "no version of iris-classifier holds production" in res.out


def test_expired_waiver_fails_the_gate(world: World):
    """A production record that passes only thanks to a waiver stops passing the day after
    the waiver expires: the gate judges the record with today's policies. The waiver counts
    because carol-risk, whom it names, approved the pull request that added it."""
    w = world
    model = w.admin / "models/iris-classifier/model.yaml"
    text = model.read_text()
    start = text.index("monitoring_plan:")
    end = text.index("logging:")
    model.write_text(text[:start] + text[end:])      # no monitoring plan: OPS-01 at production
    git(w.admin, "commit", "-qam", "drop the monitoring plan")
    git(w.admin, "push", "-q", "origin", "main")
    branch, head = w.register("1.0.0", b"w" * 50)
    vfile = w.ds / "models/iris-classifier/versions/1.0.0.yaml"
    vfile.write_text(vfile.read_text() + "exceptions:\n- rule: OPS-01\n  justification: "
                     "monitoring is being moved to the new platform\n  approved_by: carol-risk"
                     "\n  expires: '2026-12-31'\n")
    git(w.ds, "commit", "-qam", "waiver for OPS-01")
    git(w.ds, "push", "-q", "origin", branch)
    head = w.head(w.ds)
    w.merge(branch)
    w.reconcile(w.reviews(("grace-ds", head), ("carol-risk", head)))
    for stage in ("staging", "production"):
        branch, head = w.promote("promote", "iris-classifier@1.0.0", "--stage", stage)
        w.merge(branch)
        w.reconcile(w.reviews(("carol-risk", head)))
    from modelreg.app.gate import gate
    reg = modelreg.open_registry(w.ci)
    assert gate(reg, "iris-classifier", "production", now="2026-07-01T00:00:00Z").ok
    assert gate(reg, "iris-classifier", "production", now="2026-12-31T23:00:00Z").ok
    late = gate(reg, "iris-classifier", "production", now="2027-01-01T00:00:00Z")
    assert not late.ok and any("OPS-01" in r for r in late.reasons)


def test_deprecation_is_recorded_and_blocks_the_gate(world: World):
    w = world
    branch, head = w.register("1.0.0", b"w" * 50)
    w.merge(branch)
    w.reconcile(w.reviews(("grace-ds", head)))
    branch, head = w.promote("promote", "iris-classifier@1.0.0", "--stage", "staging")
    w.merge(branch)
    w.reconcile(w.reviews(("carol-risk", head)))
    branch, head = w.promote("deprecate", "iris-classifier", "-m", "replaced")
    w.merge(branch)
    created = w.reconcile(w.reviews(("carol-risk", head)))["created"]
    assert {c["event"] for c in created} == {"unassign", "deprecate"}
    res = w.cli(w.ci, "gate", "iris-classifier", "--stage", "staging")
    assert res.code == 1
    events = json.loads(w.cli(w.ci, "history", "iris-classifier", "--json").out)["events"]
    assert events[-1]["event"] == "deprecated"
    tag = git(w.ci, "tag", "-l", "--format=%(contents)", "iris-classifier@deprecated*")
    assert parse_message(tag)["approvers"] == ["carol-risk"]


def test_codeowners_check_and_write(repo, run_cli):
    res = run_cli(repo.root, "codeowners", "--check")
    assert res.code == 1 and "missing" in res.out
    assert run_cli(repo.root, "codeowners", "--write").code == 0
    assert run_cli(repo.root, "codeowners", "--check").code == 0
    text = (repo.root / ".github/CODEOWNERS").read_text()
    from modelreg.store.codeowners import owners_of
    assert owners_of(text, "models/credit-default/stages.yaml") == (
        "@example-org/model-risk", "@example-org/model-validation")
    assert owners_of(text, "models/iris-classifier/versions/9.0.0.yaml") == (
        "@example-org/ml-platform",)
    assert owners_of(text, "models/brand-new/model.yaml") == ("@example-org/model-risk",)
    assert owners_of(text, "policies/data/tiers.yaml") == ("@example-org/ai-governance",)
    # a model's owner changes: the file is out of date until it is regenerated
    model = repo.root / "models/iris-classifier/model.yaml"
    model.write_text(model.read_text().replace("team: ml-platform", "team: credit-analytics"))
    res = run_cli(repo.root, "codeowners", "--check")
    assert res.code == 1 and "out of date" in res.out
    # a line GitHub would reject disables the whole file: say so
    (repo.root / ".github/CODEOWNERS").write_text("/models/ not-an-owner\n")
    res = run_cli(repo.root, "codeowners", "--check")
    assert res.code == 1 and "ignores the whole file" in res.out


def _registered(w: World) -> None:
    branch, head = w.register("1.0.0", b"w" * 50)
    w.merge(branch)
    w.reconcile(w.reviews(("grace-ds", head)))
    w.start_branch()


@pytest.mark.parametrize("action", ["promote", "deprecate"])
def test_stage_change_refuses_uncommitted_model_files(world: World, action):
    """The stage change commits stages.yaml alone: a card edit left uncommitted would be
    judged here and missing from the pull request (which then fails CARD-01 in CI)."""
    from modelreg.app import promote as stage_changes

    w = world
    _registered(w)
    card = w.ds / "models/iris-classifier/card.md"
    card.write_text(card.read_text().split("## ", 1)[0])         # every section gone
    before = git(w.ds, "status", "--porcelain")
    reg = modelreg.open_registry(w.ds)
    with pytest.raises(modelreg.RefusedError) as caught:
        if action == "promote":
            stage_changes.promote(reg, "iris-classifier", "1.0.0", "staging")
        else:
            stage_changes.deprecate(reg, "iris-classifier", "1.0.0")
    assert "models/iris-classifier/card.md" in str(caught.value)
    assert git(w.ds, "symbolic-ref", "--short", "HEAD").strip() == "main"
    assert git(w.ds, "status", "--porcelain") == before            # the edit is still there
    assert git(w.ds, "branch", "--list", f"{action}/*") == ""


def test_weights_left_behind_by_register_do_not_block_a_rollback(world: World):
    """register leaves you on its branch; back on main its weights stay as untracked files.
    They are in no commit: a rollback on main goes ahead (no false ART-03), while an
    untracked record the check would read is refused."""
    from modelreg.app import promote as stage_changes

    w = world
    for version in ("1.0.0", "1.1.0"):
        branch, head = w.register(version, version.encode() * 20)
        w.merge(branch)
        w.reconcile(w.reviews(("grace-ds", head)))
        branch, head = w.promote("promote", "iris-classifier", version, "--to", "staging")
        w.merge(branch)
        w.reconcile(w.reviews(("carol-risk", head)))
    w.register("1.2.0", b"v" * 50)                     # its branch is pushed, not merged
    w.start_branch()                                    # back on main
    left = git(w.ds, "ls-files", "--others", "--exclude-standard")
    assert "versions/1.2.0/model.safetensors" in left
    res = w.cli(w.ds, "check", "--json")
    assert "ART-03" not in {f["rule"] for f in json.loads(res.out)["findings"]}, res.out
    reg = modelreg.open_registry(w.ds)
    extra = w.ds / "models/iris-classifier/versions/9.0.0.yaml"
    extra.write_text("model: iris-classifier\n")
    with pytest.raises(modelreg.RefusedError, match="versions/9.0.0.yaml"):
        stage_changes.rollback(reg, "iris-classifier", "staging")
    extra.unlink()
    change = stage_changes.rollback(reg, "iris-classifier", "staging")
    assert change.version == "1.0.0"
    assert git(w.ds, "show", "--name-only", "--format=", change.commit).split() == [
        "models/iris-classifier/stages.yaml"]
