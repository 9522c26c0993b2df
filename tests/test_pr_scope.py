"""Each pull request is judged for exactly what it changes, end to end with real git.

Its approvals count for the files, versions and stages it changes: every changed path needs
its code owners under the base revision's CODEOWNERS (GOV-09, not only models/); a change to
a model's risk fields needs the risk function (RISK-03); and a version it leaves alone keeps
the approvals its stage tags recorded, so the team's next ordinary pull request passes with
the team's approval alone. The hostile pull request and the honest one, side by side.
"""
from __future__ import annotations

import json

import pytest

from conftest import PROJECT, git, safetensors_bytes
from test_signoff import World


@pytest.fixture
def world(tmp_path, run_cli, monkeypatch):
    return World(tmp_path, run_cli, monkeypatch)


def _rules(res) -> set[str]:
    return {f["rule"] for f in json.loads(res.out)["findings"] if f["severity"] == "error"}


def _check(w: World, head: str, reviews: str, author: str = "alice-ds"):
    git(w.ds, "fetch", "-q", "origin")
    return w.cli(w.ds, "check", "--changed-since", "origin/main", "--reviews", reviews,
                 "--pr-author", author, "--head", head, "--format", "json")


def _pull_request(w: World, branch: str, files: dict[str, str], author: str = "alice-ds"
                  ) -> str:
    """A branch off main that writes ``files``, pushed: its head commit."""
    w.as_user(author)
    w.tick()
    git(w.ds, "checkout", "-q", "main")
    git(w.ds, "pull", "-q", "--ff-only", "origin", "main")
    git(w.ds, "checkout", "-q", "-b", branch)
    for rel, text in files.items():
        path = w.ds / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        git(w.ds, "add", rel)
    git(w.ds, "commit", "-q", "-m", f"Change {', '.join(files)}")
    git(w.ds, "push", "-q", "origin", branch)
    return w.head(w.ds)


def _in_production(w: World) -> None:
    """1.0.0 registered, then promoted to staging and production with model-risk approvals
    that reconcile recorded on the tags."""
    branch, head = w.register("1.0.0", b"weights-1.0.0" * 20)
    w.merge(branch)
    w.reconcile(w.reviews(("grace-ds", head)))
    for stage in ("staging", "production"):
        branch, head = w.promote("promote", "iris-classifier@1.0.0", "--stage", stage)
        w.merge(branch)
        w.reconcile(w.reviews(("carol-risk", head)))


def _fresh_cards(w: World) -> None:
    """main's cards as the shipped template renders them (a change to the template or the
    policies judges every model again)."""
    w.as_user("ci")
    assert w.cli(w.admin, "card", "iris-classifier", "--write").code == 0
    git(w.admin, "commit", "-qam", "Cards rendered")
    git(w.admin, "push", "-q", "origin", "main")


# --- GOV-09 over every changed path ------------------------------------------------------
def test_a_template_only_pull_request_needs_governance(world: World):
    """Touching only templates/card.md.j2 is not "0 models, pass": the template is the
    governance team's (catch-all and templates/ lines of CODEOWNERS), and every model is
    judged again."""
    w = world
    _fresh_cards(w)
    template = (PROJECT / "tools/modelreg/templates/card.md.j2").read_text()
    head = _pull_request(w, "template", {"templates/card.md.j2": template})
    res = _check(w, head, w.reviews(("grace-ds", head)))
    assert res.code == 1, res.out + res.err
    found = json.loads(res.out)["findings"]
    assert any(f["rule"] == "GOV-09" and f["file"] == "templates/card.md.j2" for f in found)
    assert json.loads(res.out)["check"]["models"]          # every model judged again
    res = _check(w, head, w.reviews(("frank-gov", head)))
    assert res.code == 0, res.out + res.err


def test_lowering_production_approvals_needs_the_governance_owner(world: World):
    w = world
    _fresh_cards(w)
    tiers = (w.ds / "policies/data/tiers.yaml").read_text()
    lowered = tiers.replace("approvals_production: 2", "approvals_production: 1")
    assert lowered != tiers
    head = _pull_request(w, "fewer-approvals", {"policies/data/tiers.yaml": lowered})
    res = _check(w, head, w.reviews(("carol-risk", head), ("dave-risk", head)))
    assert res.code == 1 and "GOV-09" in _rules(res), res.out
    assert "policies/data/tiers.yaml" in res.out
    res = _check(w, head, w.reviews(("frank-gov", head)))
    assert res.code == 0, res.out + res.err


def test_a_new_top_level_file_is_owned_by_governance(world: World):
    w = world
    head = _pull_request(w, "build", {"Makefile": "all:\n\ttrue\n"})
    res = _check(w, head, w.reviews(("grace-ds", head)))
    assert res.code == 1 and "GOV-09" in _rules(res), res.out
    assert _check(w, head, w.reviews(("frank-gov", head))).code == 0


def test_the_pull_request_cannot_appoint_its_own_code_owners(world: World):
    """CODEOWNERS is read at the base: a pull request that hands policies/ to its author's
    team and changes a policy in the same breath is judged by the old owners."""
    w = world
    owners = (w.ds / ".github/CODEOWNERS").read_text()
    mine = owners.replace("/policies/ @example-org/ai-governance",
                          "/policies/ @example-org/ml-platform")
    assert mine != owners
    tiers = (w.ds / "policies/data/tiers.yaml").read_text()
    head = _pull_request(w, "take-over", {
        ".github/CODEOWNERS": mine,
        "policies/data/tiers.yaml": tiers.replace("approvals_production: 2",
                                                  "approvals_production: 0")})
    res = _check(w, head, w.reviews(("grace-ds", head)))
    assert res.code == 1 and "GOV-09" in _rules(res), res.out
    found = {(f["rule"], f["file"]) for f in json.loads(res.out)["findings"]}
    assert ("GOV-09", ".github/CODEOWNERS") in found      # a hand edit, not generated
    assert ("GOV-09", "policies/data/tiers.yaml") in found


def test_a_new_models_first_registration_needs_model_risk_alone(world: World):
    """register writes the new model's CODEOWNERS lines: exactly what generating the file
    gives, so the model-risk team (owners of a model not yet listed) signs it off, not
    governance."""
    w = world
    w.start_branch()
    spec = w.base / "penguin.model.yaml"
    text = (w.ds / "models/iris-classifier/model.yaml").read_text()
    spec.write_text(text.replace("name: iris-classifier", "name: penguin-classifier")
                    .replace("6f1d2c3a-8b4e-4c5d-9e7f-0a1b2c3d4e5f",
                             "7a2e3d4b-9c5f-4d6e-8f80-1b2c3d4e5f60"))
    weights = w.base / "penguin" / "model.safetensors"
    weights.parent.mkdir()
    weights.write_bytes(safetensors_bytes("penguin", b"penguin" * 30))
    metrics = weights.parent / "metrics.json"
    metrics.write_text(json.dumps([
        {"name": "accuracy", "value": 0.96, "dataset": "iris-test", "split": "test"},
        {"name": "f1_macro", "value": 0.95, "dataset": "iris-test", "split": "test"}]))
    res = w.cli(w.ds, "register", "penguin-classifier", "--version", "1.0.0", "--from",
                str(spec), "--weights", str(weights), "--metrics", str(metrics),
                "--dataset", "train:iris-train@2026.11", "--dataset", "test:iris-test@2026.11")
    assert res.code == 0, res.out + res.err
    changed = git(w.ds, "show", "--name-only", "--format=", "HEAD").split()
    assert ".github/CODEOWNERS" in changed
    # the team writes the card's prose (iris's will do), then the card is rendered again
    card = w.ds / "models/penguin-classifier/card.md"
    card.write_text((w.ds / "models/iris-classifier/card.md").read_text())
    assert w.cli(w.ds, "card", "penguin-classifier", "--write").code == 0
    git(w.ds, "commit", "-qam", "Card prose")
    git(w.ds, "push", "-q", "origin", "register/penguin-classifier-1.0.0")
    head = w.head(w.ds)
    res = _check(w, head, w.reviews(("grace-ds", head)))
    assert res.code == 1 and "GOV-09" in _rules(res), res.out      # models/ is model-risk's
    res = _check(w, head, w.reviews(("carol-risk", head)))
    assert res.code == 0, res.out + res.err


# --- RISK-03 ------------------------------------------------------------------------------
def _credit_team(w: World) -> None:
    """A second member of credit-analytics (the owners of models/credit-default/)."""
    people = w.admin / "policies/data/people.yaml"
    people.write_text(people.read_text() + "  henry-ca:\n    name: Henry Adeyemi\n"
                      "    email: henry.adeyemi@example.com\n    teams: [credit-analytics]\n"
                      "    roles: [developer]\n")
    w.as_user("ci")
    git(w.admin, "commit", "-qam", "Henry joins credit analytics")
    git(w.admin, "push", "-q", "origin", "main")


def test_the_owning_team_cannot_reclassify_risk_alone(world: World):
    w = world
    _credit_team(w)
    model = (w.ds / "models/credit-default/model.yaml")
    git(w.ds, "pull", "-q", "--ff-only", "origin", "main")
    text = model.read_text()
    lowered = text.replace("tier: 1", "tier: 3").replace("class: high", "class: minimal")
    assert lowered != text
    head = _pull_request(w, "reclassify", {"models/credit-default/model.yaml": lowered},
                         author="bob-ds")
    res = _check(w, head, w.reviews(("henry-ca", head)), author="bob-ds")
    assert res.code == 1, res.out
    risk = [f for f in json.loads(res.out)["findings"] if f["rule"] == "RISK-03"]
    assert risk and risk[0]["file"] == "models/credit-default/model.yaml", res.out
    assert "risk.tier" in risk[0]["message"] and "risk.eu_ai_act.class" in risk[0]["message"]
    assert "GOV-09" not in _rules(res)                  # the team did approve its own path
    # the model-risk officer's approval is what RISK-03 asks for; the author's is not
    res = _check(w, head, w.reviews(("henry-ca", head), ("bob-ds", head)), author="bob-ds")
    assert "RISK-03" in _rules(res)
    res = _check(w, head, w.reviews(("henry-ca", head), ("carol-risk", head)),
                 author="bob-ds")
    assert "RISK-03" not in _rules(res), res.out


@pytest.mark.parametrize("edit", [
    ("developers: [alice-ds]", "developers: [alice-ds, grace-ds]"),
    ("team: ml-platform", "team: credit-analytics"),
    ("Teaching and demonstration model", "Scoring model"),
])
def test_ownership_and_intended_use_are_risk_fields(world: World, edit):
    w = world
    model = w.ds / "models/iris-classifier/model.yaml"
    text = model.read_text()
    assert edit[0] in text
    head = _pull_request(w, "edit", {"models/iris-classifier/model.yaml":
                                     text.replace(edit[0], edit[1])})
    res = _check(w, head, w.reviews(("grace-ds", head)))
    assert "RISK-03" in _rules(res), res.out


def test_other_model_fields_need_only_the_team(world: World):
    w = world
    model = w.ds / "models/iris-classifier/model.yaml"
    text = model.read_text()
    head = _pull_request(w, "edit", {"models/iris-classifier/model.yaml":
                                     text.replace("tags: [example, tabular]",
                                                  "tags: [example, tabular, iris]")})
    res = _check(w, head, w.reviews(("grace-ds", head)))
    assert "RISK-03" not in _rules(res), res.out


# --- stage holders keep their recorded evidence -----------------------------------------
def test_a_new_version_while_another_holds_production_needs_the_team_alone(world: World):
    """The honest follow-up: registering 1.1.0 while 1.0.0 holds production (with the
    model-risk approvals its tags recorded) passes with the owning team's approval; promoting
    1.1.0 still needs model-risk."""
    w = world
    _in_production(w)
    branch, head = w.register("1.1.0", b"weights-1.1.0" * 20)
    res = _check(w, head, w.reviews(("grace-ds", head)))
    assert res.code == 0, res.out + res.err
    res = _check(w, head, w.reviews())
    assert res.code == 1 and "GOV-09" in _rules(res)      # still needs someone
    w.merge(branch)
    w.reconcile(w.reviews(("grace-ds", head)))
    branch, head = w.promote("promote", "iris-classifier@1.1.0", "--stage", "staging")
    res = _check(w, head, w.reviews(("grace-ds", head)))
    assert res.code == 1 and {"GOV-01", "GOV-09"} <= _rules(res), res.out
    res = _check(w, head, w.reviews(("carol-risk", head)))
    assert res.code == 0, res.out + res.err


def test_a_stage_holder_the_pull_request_moves_is_judged_with_its_review(world: World):
    """Rolling production back moves both versions' stage entries: the pull request's own
    approvals must carry both, the recorded ones of the version leaving do not."""
    w = world
    _in_production(w)
    branch, head = w.register("1.1.0", b"weights-1.1.0" * 20)
    w.merge(branch)
    w.reconcile(w.reviews(("grace-ds", head)))
    for stage in ("staging", "production"):
        branch, head = w.promote("promote", "iris-classifier@1.1.0", "--stage", stage)
        w.merge(branch)
        w.reconcile(w.reviews(("dave-risk", head)))
    branch, head = w.promote("rollback", "iris-classifier", "--stage", "production")
    res = _check(w, head, w.reviews(("grace-ds", head)))
    assert res.code == 1 and {"GOV-02", "GOV-09"} <= _rules(res), res.out
    assert _check(w, head, w.reviews(("carol-risk", head))).code == 0


def test_a_stage_held_without_recorded_approvals_still_fails_in_a_later_pull_request(
        world: World):
    """Leaving a stage holder alone does not launder it: pushed to main without review, its
    tag records no approvals, and the next pull request touching the model says so."""
    w = world
    branch, head = w.register("1.0.0", b"w" * 50)
    w.merge(branch)
    w.reconcile(w.reviews(("grace-ds", head)))
    w.promote("promote", "iris-classifier@1.0.0", "--stage", "staging", "--no-branch")
    git(w.ds, "push", "-q", "origin", "HEAD:main")       # nobody reviewed
    w.as_user("ci")
    git(w.ci, "pull", "-q", "--ff-only", "origin", "main")
    assert w.cli(w.ci, "reconcile", "--push").code == 0
    branch, head = w.register("1.1.0", b"v" * 50)
    res = _check(w, head, w.reviews(("grace-ds", head)))
    assert res.code == 1 and "GOV-01" in _rules(res), res.out
    found = [f for f in json.loads(res.out)["findings"] if f["rule"] == "GOV-01"]
    assert {f["version"] for f in found} == {"1.0.0"}


def test_generated_codeowners_has_a_catch_all_first(repo, run_cli):
    assert run_cli(repo.root, "codeowners", "--write").code == 0
    text = (repo.root / ".github/CODEOWNERS").read_text()
    rules = [line for line in text.splitlines() if line and not line.startswith("#")]
    assert rules[0] == "* @example-org/ai-governance"
    from modelreg.store.codeowners import owners_of
    for path in ("templates/card.md.j2", "Makefile", "pyproject.toml", ".dvc/config",
                 ".github/workflows/check.yml", "tools/modelreg/cli.py", "new-file.txt"):
        assert owners_of(text, path) == ("@example-org/ai-governance",), path
    assert owners_of(text, "models/iris-classifier/model.yaml") == ("@example-org/ml-platform",)


def test_moving_a_policy_into_a_models_folder_is_deleting_it(world: World):
    """git would call it a rename; GOV-09 sees the policy file gone, which governance owns."""
    w = world
    w.as_user("alice-ds")
    w.tick()
    git(w.ds, "checkout", "-q", "-b", "move")
    git(w.ds, "mv", "policies/signing_test.rego", "models/iris-classifier/notes.rego")
    git(w.ds, "commit", "-q", "-m", "Notes")
    git(w.ds, "push", "-q", "origin", "move")
    head = w.head(w.ds)
    res = _check(w, head, w.reviews(("grace-ds", head)))
    found = {(f["rule"], f["file"]) for f in json.loads(res.out)["findings"]}
    assert ("GOV-09", "policies/signing_test.rego") in found, res.out

