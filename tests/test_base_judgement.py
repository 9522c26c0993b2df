"""A pull request is judged by the rules of its base revision, never by its own.

Each hostile pull request below changes the rules in its own favour in the same change that
needs them (policy data, a Rego file, the stage order, a schema) and must still fail; the
honest one changes a rule, passes, and the rule applies to the next pull request once merged.
Real git: a bare origin, a data scientist's clone and a CI clone (tests/test_signoff.py).
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

from conftest import git
from test_signoff import World


@pytest.fixture
def world(tmp_path, run_cli, monkeypatch):
    return World(tmp_path, run_cli, monkeypatch)


def _registered(w: World) -> None:
    """iris-classifier 1.0.0 registered, merged and tagged; the clone back on main."""
    branch, head = w.register("1.0.0", b"w" * 50)
    w.merge(branch)
    w.reconcile(w.reviews(("grace-ds", head)))


def _commit(w: World, message: str, *paths: str) -> str:
    git(w.ds, "add", *paths)
    git(w.ds, "commit", "-q", "-m", message)
    branch = git(w.ds, "symbolic-ref", "--short", "HEAD").strip()
    git(w.ds, "push", "-q", "origin", branch)
    return w.head(w.ds)


def _check(w: World, head: str, reviews: str, *extra: str):
    """The check as the workflow runs it: the pull request's base commit (the tip of main)
    passed as --base."""
    git(w.ds, "fetch", "-q", "origin")
    base = git(w.ds, "rev-parse", "origin/main").strip()
    return w.cli(w.ds, "check", "--base", base, "--reviews", reviews, "--pr-author",
                 "alice-ds", "--head", head, "--json", *extra)


def _rules(res) -> set[str]:
    assert res.code in (0, 1), res.out + res.err
    return {f["rule"] for f in json.loads(res.out)["findings"] if f["severity"] == "error"}


def _edit_yaml(path: Path, change) -> None:
    data = yaml.safe_load(path.read_text())
    change(data)
    path.write_text(yaml.safe_dump(data, sort_keys=False))


def test_a_teammate_made_risk_officer_by_the_same_pull_request_does_not_count(world: World):
    w = world
    _registered(w)
    branch, _ = w.promote("promote", "iris-classifier@1.0.0", "--stage", "staging")

    def appoint(data):
        grace = data["people"]["grace-ds"]
        grace["teams"] = ["ml-platform", "model-risk"]
        grace["roles"] = ["developer", "approver", "model-risk-officer"]
    _edit_yaml(w.ds / "policies/data/people.yaml", appoint)
    head = _commit(w, "Grace joins model risk", "policies/data/people.yaml")
    res = _check(w, head, w.reviews(("grace-ds", head)))
    assert res.code == 1
    assert {"GOV-01", "GOV-09"} <= _rules(res), res.out
    # the default base on a branch is where it forked from main: the same verdict
    res = w.check_pr(head, w.reviews(("grace-ds", head)))
    assert res.code == 1 and "[GOV-01]" in res.out + res.err
    # judged by its own rules (as before), the pull request would have passed
    own = w.cli(w.ds, "check", "--base", "HEAD", "--changed-since", "origin/main",
                "--reviews", w.reviews(("grace-ds", head)), "--pr-author", "alice-ds",
                "--head", head, "--json")
    assert "GOV-01" not in _rules(own), own.out


def test_turning_off_the_governance_rules_in_the_pull_request_changes_nothing(world: World):
    w = world
    _registered(w)
    branch, _ = w.promote("promote", "iris-classifier@1.0.0", "--stage", "staging")
    rego = w.ds / "policies/governance.rego"
    text = rego.read_text()
    assert "deny contains f if" in text
    rego.write_text(text.replace("deny contains f if", "ignored contains f if"))
    head = _commit(w, "Quieter governance", "policies/governance.rego")
    res = _check(w, head, w.reviews(("grace-ds", head)))   # a developer, not model-risk
    assert res.code == 1
    assert {"GOV-01", "GOV-09"} <= _rules(res), res.out


def test_dropping_the_stage_order_in_the_pull_request_changes_nothing(world: World):
    w = world
    _registered(w)
    w.start_branch()
    git(w.ds, "checkout", "-q", "-b", "promote/straight-to-production")
    (w.ds / "models/iris-classifier/stages.yaml").write_text("stages:\n  production: 1.0.0\n")
    envs = w.ds / "policies/data/environments.yaml"
    envs.write_text(re.sub(r"\n\s*requires: staging", "", envs.read_text()))
    assert "requires: staging" not in envs.read_text()
    head = _commit(w, "Production now", "models/iris-classifier/stages.yaml",
                   "policies/data/environments.yaml")
    approved = w.reviews(("carol-risk", head), ("dave-risk", head), ("frank-gov", head))
    res = _check(w, head, approved)
    assert res.code == 1
    found = json.loads(res.out)["findings"]
    assert any(f["rule"] == "OPS-02" and "staging" in f["message"] for f in found), res.out


def test_widening_the_schema_in_the_pull_request_changes_nothing(world: World):
    w = world
    branch, _ = w.register("1.0.0", b"w" * 50)
    record = w.ds / "models/iris-classifier/versions/1.0.0.yaml"
    record.write_text(record.read_text() + "shortcut: approved by the team\n")
    schema_path = w.ds / "schemas/version.schema.json"
    schema = json.loads(schema_path.read_text())
    schema["properties"]["shortcut"] = {"type": "string"}
    schema_path.write_text(json.dumps(schema, indent=2))
    head = _commit(w, "A field of our own", "models/iris-classifier/versions/1.0.0.yaml",
                   "schemas/version.schema.json")
    res = _check(w, head, w.reviews(("grace-ds", head), ("frank-gov", head)))
    assert res.code == 1
    found = json.loads(res.out)["findings"]
    assert any(f["rule"] == "ID-01" and "shortcut" in f["message"] for f in found), res.out


def test_a_changed_card_template_does_not_judge_its_own_pull_request(world: World):
    """CARD-04 renders with the base's template: a pull request that replaces the template
    (and re-renders the card with it) has a stale card until the template is merged."""
    w = world
    branch, _ = w.register("1.0.0", b"w" * 50)
    template = w.ds / "templates/card.md.j2"
    template.parent.mkdir()
    from modelreg.store.defaults import TEMPLATES_DIR
    template.write_text((TEMPLATES_DIR / "card.md.j2").read_text().replace(
        "<!-- modelreg:generated:start -->\n", "<!-- modelreg:generated:start -->\n"
        "All checks passed.\n", 1))
    assert "All checks passed." in template.read_text()
    assert w.cli(w.ds, "card", "iris-classifier", "--write").code == 0
    card = w.ds / "models/iris-classifier/card.md"
    assert "All checks passed." in card.read_text()
    head = _commit(w, "House template", "templates/card.md.j2", str(card))
    res = _check(w, head, w.reviews(("grace-ds", head), ("frank-gov", head)))
    assert res.code == 1 and "CARD-04" in _rules(res), res.out


def test_a_rule_change_passes_its_own_check_and_judges_the_next_pull_request(world: World):
    w = world
    _registered(w)
    # the governance owner's change: tier 3 needs two approvals for staging from now on
    w.start_branch()
    git(w.ds, "checkout", "-q", "-b", "policy/two-approvals")
    tiers = w.ds / "policies/data/tiers.yaml"
    text = tiers.read_text()
    tier3 = text.index('"3":')
    tiers.write_text(text[:tier3] + text[tier3:].replace("approvals_staging: 1",
                                                          "approvals_staging: 2", 1))
    head = _commit(w, "Two approvals for staging", "policies/data/tiers.yaml")
    governance = w.reviews(("frank-gov", head))
    res = _check(w, head, governance)
    assert res.code == 0, res.out + res.err
    # before it is merged, a promotion still needs the one approval of the old rule
    w.start_branch()
    assert w.cli(w.ds, "promote", "iris-classifier@1.0.0", "--stage", "staging").code == 0
    promo = w.head(w.ds)
    assert _check(w, promo, w.reviews(("carol-risk", promo))).code == 0
    draft = git(w.ds, "symbolic-ref", "--short", "HEAD").strip()
    git(w.ds, "checkout", "-q", "main")
    git(w.ds, "branch", "-q", "-D", draft)
    w.merge("policy/two-approvals")
    w.reconcile(governance)
    # after: the next promotion pull request is judged by the new rule
    branch, promo = w.promote("promote", "iris-classifier@1.0.0", "--stage", "staging")
    res = _check(w, promo, w.reviews(("carol-risk", promo)))
    assert res.code == 1
    found = json.loads(res.out)["findings"]
    assert any(f["rule"] == "GOV-01" and "needs 2 approval" in f["message"] for f in found)
    res = _check(w, promo, w.reviews(("carol-risk", promo), ("dave-risk", promo)))
    assert res.code == 0, res.out + res.err


def test_the_report_names_the_revision_that_judged(world: World):
    w = world
    branch, head = w.register("1.0.0", b"w" * 50)
    res = _check(w, head, w.reviews(("grace-ds", head)))
    assert res.code == 0, res.out + res.err
    base = git(w.ds, "rev-parse", "origin/main").strip()
    check = json.loads(res.out)["check"]
    assert check["base"] == base and check["changed_since"] == base
    assert check["models"] == ["iris-classifier"]
    from modelreg.app.check import check
    from modelreg.render.report import markdown_summary
    from modelreg.store.registry import open_registry
    result = check(open_registry(w.ds), base="origin/main", changed_since="origin/main")
    assert f"judged by the rules of `{base[:12]}`" in markdown_summary(result)
    git(w.ds, "checkout", "-q", "main")
    res = w.cli(w.ds, "check", "--json")                  # on main: the work tree's rules
    assert json.loads(res.out)["check"]["base"] is None


def test_code_owners_appointed_by_the_pull_request_do_not_count(world: World):
    w = world
    branch, _ = w.register("1.0.0", b"w" * 50)
    owners = w.ds / ".github/CODEOWNERS"
    owners.write_text(owners.read_text() + "/models/iris-classifier/ @bob-ds\n")
    head = _commit(w, "Bob reviews this one", ".github/CODEOWNERS")
    res = _check(w, head, w.reviews(("bob-ds", head)))
    assert res.code == 1 and "GOV-09" in _rules(res), res.out
    assert _check(w, head, w.reviews(("grace-ds", head), ("frank-gov", head))).code == 0


def test_off_the_protected_branch_the_default_judge_is_where_it_forked(world: World):
    """Without --base, a branch or a detached HEAD is judged as its pull request will be."""
    from modelreg.app.check import default_base
    from modelreg.store.registry import open_registry

    w = world
    _registered(w)
    branch, _ = w.promote("promote", "iris-classifier@1.0.0", "--stage", "staging")
    fork = git(w.ds, "rev-parse", "origin/main").strip()
    envs = w.ds / "policies/data/environments.yaml"
    envs.write_text(re.sub(r"\n\s*requires: staging", "", envs.read_text()))
    (w.ds / "models/iris-classifier/stages.yaml").write_text("stages:\n  production: 1.0.0\n")
    head = _commit(w, "Production now", "policies/data/environments.yaml",
                   "models/iris-classifier/stages.yaml")
    assert default_base(open_registry(w.ds)) == fork
    res = w.cli(w.ds, "check", "--json")
    assert res.code == 1 and "OPS-02" in _rules(res), res.out
    git(w.ds, "checkout", "-q", "--detach", head)
    assert default_base(open_registry(w.ds)) == fork
    res = w.cli(w.ds, "check", "--json")
    assert res.code == 1 and "OPS-02" in _rules(res), res.out
    git(w.ds, "checkout", "-q", "main")
    assert default_base(open_registry(w.ds)) is None


def test_policy_data_the_pull_request_breaks_fails_that_pull_request(world: World):
    """The change's own policy data judges nothing in it, but is still checked as a record:
    a broken file fails the pull request that brings it, not every one after its merge."""
    w = world
    w.start_branch()
    git(w.ds, "checkout", "-q", "-b", "policy/typo")
    tiers = w.ds / "policies/data/tiers.yaml"
    tiers.write_text(tiers.read_text().replace("approvals_staging: 1", "approvals_staging: one", 1))
    head = _commit(w, "Typo", "policies/data/tiers.yaml")
    res = _check(w, head, w.reviews(("frank-gov", head)))
    assert res.code == 1, res.out + res.err
    found = json.loads(res.out)["findings"]
    assert any(f["rule"] == "ID-01" and f["file"] == "policies/data/tiers.yaml"
               for f in found), res.out
    tiers.write_text(tiers.read_text().replace("approvals_staging: one", "approvals_staging: [", 1))
    head = _commit(w, "Worse", "policies/data/tiers.yaml")
    res = _check(w, head, w.reviews(("frank-gov", head)))
    assert res.code == 1 and "policies/data/tiers.yaml" in res.out, res.out + res.err
