"""Nothing in a record vouches for a person: a waiver's ``approved_by`` and a validation's
``validator`` count only when that person approved the pull request that introduced the
record (on its head commit), or, on the protected branch, when the registration tag's
evidence records that approval. Waivers last at most ``tiers.yaml`` ``waivers.max_days``
after that approval, and some rules cannot be waived at all.

Real git repositories: a bare origin, a data scientist's clone and the CI job's clone, with
reviews as recorded GitHub JSON (see tests/test_signoff.py)."""
from __future__ import annotations

import datetime as dt
import json
import shutil

import pytest

import modelreg
from conftest import PROJECT, git, safetensors_bytes
from test_signoff import World

FOREVER = "9999-12-31"
NOW = "2026-06-20T12:00:00Z"          # the clock of World's pull requests (June 2026)
CREDIT = "models/credit-default"


@pytest.fixture
def world(tmp_path, run_cli, monkeypatch):
    return World(tmp_path, run_cli, monkeypatch)


def _on_main(w: World, message: str) -> None:
    git(w.admin, "add", "-A")
    git(w.admin, "commit", "-q", "-m", message)
    git(w.admin, "push", "-q", "origin", "main")


def _findings(res) -> list[dict]:
    return res.report["findings"]


def _waived(res) -> list[dict]:
    return res.report["waived"]


def _credit_pull_request(w: World, record_extra: str) -> str:
    """alice-ds registers credit-default 1.0.0 (tier 1, EU high-risk) and asks for production
    in the same pull request, with ``record_extra`` appended to the version record. Returns
    the head commit."""
    shutil.copy(PROJECT / CREDIT / "card.md", w.admin / CREDIT / "card.md")
    model = w.admin / CREDIT / "model.yaml"
    text = model.read_text()
    start, end = text.index("  impact_assessment:"), text.index("  jurisdictions:")
    model.write_text(text[:start] + text[end:])          # no impact assessment: RISK-02
    _on_main(w, "credit-default's card; its impact assessment is withdrawn")
    w.start_branch()
    folder = w.base / "train-credit"
    folder.mkdir()
    (folder / "model.safetensors").write_bytes(safetensors_bytes("credit", b"credit-weights"))
    (folder / "metrics.json").write_text(json.dumps([
        {"name": "auc", "value": 0.72, "dataset": "credit-applications-test", "split": "test"},
        {"name": "accuracy", "value": 0.66, "dataset": "credit-applications-test",
         "split": "test"}]))
    res = w.cli(w.ds, "register", "credit-default", "--version", "1.0.0",
                "--weights", str(folder / "model.safetensors"),
                "--metrics", str(folder / "metrics.json"),
                "--dataset", "train:credit-applications-train@2026.11",
                "--dataset", "test:credit-applications-test@2026.11")
    assert res.code == 0, res.out + res.err
    record = w.ds / CREDIT / "versions/1.0.0.yaml"
    record.write_text(record.read_text() + record_extra)
    (w.ds / CREDIT / "stages.yaml").write_text("stages:\n  production: 1.0.0\n")
    git(w.ds, "add", "-A")
    git(w.ds, "commit", "-q", "-m", "credit-default 1.0.0 for production")
    git(w.ds, "push", "-q", "origin", "register/credit-default-1.0.0")
    return w.head(w.ds)


class Checked:
    """A pull request's check as its JSON report says it: exit code, findings, waivers."""

    def __init__(self, result) -> None:
        self.code = 0 if result.ok() else 1
        self.out = json.dumps(result.to_json(), indent=1)
        self.report = result.to_json()


def _check(w: World, head: str, reviews: str, stage: str | None = None,
           now: str = NOW) -> Checked:
    """``modelreg check --base origin/main --changed-since origin/main --reviews …
    --pr-author alice-ds --head …`` (as the pull-request workflow runs it) through the
    library, at a fixed time (the waiver cap is counted in days)."""
    from modelreg.app.check import check
    from modelreg.policy.reviews import review_input

    git(w.ds, "fetch", "-q", "origin")
    reg = modelreg.open_registry(w.ds)
    review = review_input(reg.git, reviews_file=reviews, pr_author="alice-ds", head=head,
                          base="origin/main", config=reg.config)
    return Checked(check(reg, base="origin/main", changed_since="origin/main", review=review,
                         stage=stage, now=now))


# --- hostile: the record names approvers who approved nothing ---------------------------
HOSTILE_RULES = ["GOV-04", "SIGN-01", "EVAL-04", "OPS-02", "RISK-02"]


def test_waivers_naming_a_model_risk_officer_who_approved_nothing_waive_nothing(world: World):
    """The author writes waivers "approved by" dave-risk, a real model-risk officer, valid
    until 9999, for independent validation, signatures, slice fairness, stage order and the
    impact assessment. dave-risk never reviewed the pull request: nothing is waived."""
    w = world
    extra = "exceptions:\n" + "".join(
        f"- rule: {rule}\n  justification: the platform team will follow up next quarter\n"
        f"  approved_by: dave-risk\n  expires: '{FOREVER}'\n" for rule in HOSTILE_RULES)
    head = _credit_pull_request(w, extra)
    # code owners of the model (bob-ds) and of stages.yaml (carol-risk, erin-val) approve
    reviews = w.reviews(("bob-ds", head), ("carol-risk", head), ("erin-val", head))
    res = _check(w, head, reviews)
    assert res.code == 1, res.out
    assert _waived(res) == []
    found = {f["rule"] for f in _findings(res) if f["severity"] == "error"}
    assert set(HOSTILE_RULES) <= found, found
    gov10 = [f for f in _findings(res) if f["rule"] == "GOV-10"]
    assert len(gov10) == len(HOSTILE_RULES)
    assert all("dave-risk did not approve" in f["message"] for f in gov10)
    # the audit report lists the declared exceptions as not counting, and why
    from modelreg.app.audit import audit
    from modelreg.render.audit import render

    report = audit(modelreg.open_registry(w.ds), "credit-default", now=NOW)
    assert report["policy"]["waived"] == []
    assert [x["counts"] for x in report["exceptions"]] == [False] * len(HOSTILE_RULES)
    assert all(any("[GOV-10]" in p for p in x["problems"]) for x in report["exceptions"])
    assert "dave-risk did not approve" in render(report, "html")


def test_waivers_of_non_waivable_rules_are_ignored_even_when_approved(world: World):
    """dave-risk does approve the pull request this time: the waivers of rules declared
    non-waivable (validation, signatures, stage order) are still ignored and reported; the
    waivable ones (slice fairness, impact assessment) apply."""
    w = world
    extra = "exceptions:\n" + "".join(
        f"- rule: {rule}\n  justification: the platform team will follow up next quarter\n"
        f"  approved_by: dave-risk\n  expires: '{FOREVER}'\n" for rule in HOSTILE_RULES)
    head = _credit_pull_request(w, extra)
    reviews = w.reviews(("bob-ds", head), ("carol-risk", head), ("erin-val", head),
                        ("dave-risk", head))
    res = _check(w, head, reviews)
    assert res.code == 1, res.out
    assert {x["rule"] for x in _waived(res)} == {"EVAL-04", "RISK-02"}
    errors = [f for f in _findings(res) if f["severity"] == "error"]
    assert {"GOV-04", "SIGN-01", "OPS-02"} <= {f["rule"] for f in errors}
    cannot = {f["message"].split()[1] for f in errors if f["rule"] == "GOV-07"}
    assert cannot == {"GOV-04", "SIGN-01", "OPS-02"}
    assert "GOV-10" not in {f["rule"] for f in errors}


def test_a_validator_who_did_not_approve_is_not_counted(world: World):
    """The record says erin-val validated the model; erin-val never approved the pull
    request, so independent validation is not satisfied. With her approval it is."""
    w = world
    head = _credit_pull_request(w, "validation:\n  validator: erin-val\n  validated_at: "
                                   "'2026-05-20'\n  outcome: approved\n")
    without = _check(w, head, w.reviews(("bob-ds", head), ("carol-risk", head),
                                        ("dave-risk", head)))
    gov04 = [f for f in _findings(without) if f["rule"] == "GOV-04"]
    assert without.code == 1
    assert gov04 and all("erin-val did not approve" in f["message"] for f in gov04), gov04
    approved = _check(w, head, w.reviews(("bob-ds", head), ("carol-risk", head),
                                         ("dave-risk", head), ("erin-val", head)))
    assert "GOV-04" not in {f["rule"] for f in _findings(approved)}, approved.out


# --- honest: the named model-risk officer approved the pull request ---------------------
def _tag_day(w: World, tag: str) -> dt.date:
    out = git(w.ci, "for-each-ref", "--format=%(taggerdate:short)", f"refs/tags/{tag}").strip()
    return dt.date.fromisoformat(out)


def test_an_approved_waiver_holds_until_its_capped_expiry_on_the_pr_and_on_main(world: World):
    """carol-risk approves the registration pull request that adds the OPS-01 waiver: it
    applies on that pull request, on the later promotion pull requests (from the
    registration tag's evidence) and at the gate, until 365 days after the approval, never
    until the 9999 its record asks for."""
    w = world
    model = w.admin / "models/iris-classifier/model.yaml"
    text = model.read_text()
    model.write_text(text[:text.index("monitoring_plan:")] + text[text.index("logging:"):])
    _on_main(w, "drop the monitoring plan")          # OPS-01 fails from production
    branch, _ = w.register("1.0.0", b"w" * 50)
    record = w.ds / "models/iris-classifier/versions/1.0.0.yaml"
    record.write_text(record.read_text() + "exceptions:\n- rule: OPS-01\n  justification: "
                      "monitoring moves to the new platform\n  approved_by: carol-risk\n"
                      f"  expires: '{FOREVER}'\n")
    git(w.ds, "commit", "-qam", "waiver for OPS-01")
    git(w.ds, "push", "-q", "origin", branch)
    head = w.head(w.ds)
    approved = w.reviews(("grace-ds", head), ("carol-risk", head))
    approved_on = dt.date(2026, 6, w.day)           # the reviews' submitted_at
    res = _check(w, head, approved)
    assert res.code == 0, res.out
    res = _check(w, head, approved, "production")
    waived = [x for x in _waived(res) if x["rule"] == "OPS-01"]
    cap = (approved_on + dt.timedelta(days=365)).isoformat()
    assert waived and waived[0]["expires"] == cap, res.out
    assert any(f["rule"] == "GOV-07" and f"applies until {cap}" in f["message"]
               for f in _findings(res))
    w.merge(branch)
    w.reconcile(approved)
    for stage, approver in (("staging", "carol-risk"), ("production", "dave-risk")):
        branch, head = w.promote("promote", "iris-classifier@1.0.0", "--stage", stage)
        ok = w.reviews((approver, head))
        res = _check(w, head, ok)
        assert res.code == 0, res.out
        w.merge(branch)
        w.reconcile(ok)
    # on main, from the registration tag's evidence, dated by the tag
    from modelreg.app.gate import gate

    last = _tag_day(w, "iris-classifier@v1.0.0") + dt.timedelta(days=365)
    reg = modelreg.open_registry(w.ci)
    assert gate(reg, "iris-classifier", "production", now=NOW).ok
    assert gate(reg, "iris-classifier", "production", now=f"{last}T23:00:00Z").ok
    late = gate(reg, "iris-classifier", "production",
                now=f"{last + dt.timedelta(days=1)}T00:00:00Z")
    assert not late.ok and any("OPS-01" in r for r in late.reasons), late.reasons
    # the audit report shows the waiver, when it stops applying, and that it counts
    from modelreg.app.audit import audit
    from modelreg.render.audit import render

    report = audit(reg, "iris-classifier", now=NOW)
    assert [(x["rule"], x["expires"]) for x in report["policy"]["waived"]] == [
        ("OPS-01", last.isoformat())]
    assert [(x["rule"], x["counts"]) for x in report["exceptions"]] == [("OPS-01", True)]
    assert "| OPS-01 |" in render(report, "md")


def test_an_expired_waiver_is_not_honoured_even_when_approved(world: World):
    w = world
    model = w.admin / "models/iris-classifier/model.yaml"
    text = model.read_text()
    model.write_text(text[:text.index("monitoring_plan:")] + text[text.index("logging:"):])
    _on_main(w, "drop the monitoring plan")
    branch, _ = w.register("1.0.0", b"w" * 50)
    record = w.ds / "models/iris-classifier/versions/1.0.0.yaml"
    record.write_text(record.read_text() + "exceptions:\n- rule: OPS-01\n  justification: "
                      "monitoring moves to the new platform\n  approved_by: carol-risk\n"
                      "  expires: '2026-06-01'\n")
    git(w.ds, "commit", "-qam", "waiver for OPS-01")
    git(w.ds, "push", "-q", "origin", branch)
    head = w.head(w.ds)
    res = _check(w, head, w.reviews(("grace-ds", head), ("carol-risk", head)), "production")
    assert res.code == 1 and _waived(res) == []
    assert "OPS-01" in {f["rule"] for f in _findings(res) if f["severity"] == "error"}


def test_who_vouches_is_who_approved_the_head_commit_and_is_not_the_author():
    """The approvals that make a record's names count: on the head commit, not revoked later,
    neither by the author nor by a committer; each dated by its review."""
    from modelreg.policy.reviews import approvals

    head, old = "a" * 40, "b" * 40

    def review(login, state, commit=head, at="2026-06-02T09:00:00Z"):
        return {"user": {"login": login}, "state": state, "commit_id": commit,
                "submitted_at": at}

    got = approvals({"pr_author": "carol-risk", "head": head, "committers": ["dave-risk"],
                     "reviews": [review("carol-risk", "APPROVED"),       # the author
                                 review("dave-risk", "APPROVED"),        # a committer
                                 review("erin-val", "APPROVED", old),    # a stale commit
                                 review("bob-ds", "APPROVED"),
                                 review("bob-ds", "CHANGES_REQUESTED"),  # revoked
                                 review("frank-gov", "APPROVED", at="2026-06-03T10:00:00+02:00"),
                                 review("grace-ds", "APPROVED", at="")]})
    assert got == {"frank-gov": "2026-06-03T08:00:00Z", "grace-ds": None}


def test_reconcile_refuses_to_record_a_waiver_its_approver_did_not_approve(world: World):
    """Merged anyway (branch protection off): the registration tag is not made, so no later
    pull request or gate can read the waiver as approved from main."""
    w = world
    branch, _ = w.register("1.0.0", b"w" * 50)
    record = w.ds / "models/iris-classifier/versions/1.0.0.yaml"
    record.write_text(record.read_text() + "exceptions:\n- rule: OPS-01\n  justification: "
                      "monitoring moves to the new platform\n  approved_by: carol-risk\n"
                      "  expires: '2026-12-31'\n")
    git(w.ds, "commit", "-qam", "waiver for OPS-01")
    git(w.ds, "push", "-q", "origin", branch)
    head = w.head(w.ds)
    w.merge(branch)
    w.as_user("ci")
    git(w.ci, "pull", "-q", "--ff-only", "origin", "main")
    res = w.cli(w.ci, "reconcile", "--push", "--pr", str(w.pr), "--reviews",
                w.reviews(("grace-ds", head)), "--pr-author", "alice-ds")
    assert res.code == 1 and "[GOV-10]" in res.err and "no tag was created" in res.err
    assert git(w.ci, "tag", "-l") == ""
