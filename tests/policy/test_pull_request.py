"""The pull request as a whole (``input.change``): GOV-09 over every path it changes and
RISK-03 over the risk fields it edits, judged once per run on every installed engine."""
from __future__ import annotations

import pytest

from modelreg.policy.engines import DECISION_QUERY, PolicySet, create_engine, load_policy_set

from .conftest import INSTALLED, PROJECT, load_fixture


@pytest.mark.parametrize("engine", INSTALLED)
def test_the_pull_request_is_judged_once_for_every_path(engine):
    fx = load_fixture("pull-request")
    ps = load_policy_set(PROJECT)
    eng = create_engine(engine)
    eng.load(PolicySet(ps.policies, {**ps.data, **fx["reference"]}))
    decision = eng.evaluate(DECISION_QUERY, fx["input"])
    denied = {(f["id"], f["file"]) for f in decision["deny"]}
    # gov1 owns the policy data and the template and approved; the Makefile has no owner at
    # all and the model's owners are the author and someone who did not approve
    assert ("GOV-09", "Makefile") in denied
    assert ("GOV-09", "models/credit/model.yaml") in denied
    assert ("GOV-09", "policies/data/tiers.yaml") not in denied
    assert ("GOV-09", "templates/card.md.j2") not in denied
    # the tier and class changed; the one model-risk officer withdrew the approval
    risk = [f for f in decision["deny"] if f["id"] == "RISK-03"]
    assert len(risk) == 1 and risk[0]["model"] == "credit" and risk[0]["version"] is None
    assert "risk.tier, risk.eu_ai_act.class" in risk[0]["msg"]
    # the version document's own GOV-09 gives way to the pull request's (said once)
    assert [f["file"] for f in decision["deny"] if f["id"] == "GOV-09"].count(
        "models/credit/model.yaml") == 1
