package modelreg.risk_test

import data.modelreg.fixtures_test as fx
import data.modelreg.risk

deny(doc) := fs if {
	fs := risk.deny with input as fx.batch(doc) with data.registry as fx.registry
}

test_good_passes if count(deny(fx.good)) == 0

test_prohibited_denied_at_registration if {
	doc := fx.with_({"stage": "registered", "model": {"risk": {"eu_ai_act": {"class": "prohibited"}}}})
	"RISK-01" in fx.ids(deny(doc))
}

test_prohibited_denied_even_at_unknown_stage if {
	doc := fx.with_({"stage": "canary", "model": {"risk": {"eu_ai_act": {"class": "prohibited"}}}})
	"RISK-01" in fx.ids(deny(doc))
}

test_tier_must_be_declared if {
	doc := json.remove(fx.good, ["model/risk/tier"])
	"RISK-01" in fx.ids(deny(doc))
}

test_impact_assessment_required_for_high_risk_production if {
	doc := json.remove(fx.good, ["model/risk/impact_assessment"])
	"RISK-02" in fx.ids(deny(doc))
}

test_impact_assessment_not_required_at_staging if {
	doc := json.remove(fx.with_({"stage": "staging"}), ["model/risk/impact_assessment"])
	not "RISK-02" in fx.ids(deny(doc))
}

test_impact_assessment_not_required_for_minimal_tier3 if {
	base := json.remove(fx.good, ["model/risk/impact_assessment"])
	doc := object.union(base, {"model": {"risk": {"tier": 3, "eu_ai_act": {"class": "minimal"}}}})
	not "RISK-02" in fx.ids(deny(doc))
}

approve(login) := {"user": {"login": login}, "state": "APPROVED", "commit_id": fx.head}

# A pull request (input.change) that edits the model's model.yaml from `before` to `after`.
risk_change(before, after, reviews) := {
	"base": "main",
	"files": ["models/credit/model.yaml"],
	"review": {"pr_author": "dev", "head": fx.head, "reviews": reviews, "committers": ["dev"], "owners": {}},
	"models": {"credit": {"before": before, "after": after}},
}

risk_deny(change) := fs if {
	fs := risk.deny with input as {"now": fx.now, "models": [fx.good], "change": change} with data.registry as fx.registry
}

lowered := object.union(fx.good.model, {"risk": {"tier": 3}})

test_a_tier_change_needs_a_model_risk_officer if {
	fs := risk_deny(risk_change(fx.good.model, lowered, [approve("val")]))
	some f in fs
	f.id == "RISK-03"
	f.file == "models/credit/model.yaml"
	f.path == ["risk", "tier"]
}

test_a_tier_change_passes_with_a_model_risk_officer if {
	not "RISK-03" in fx.ids(risk_deny(risk_change(fx.good.model, lowered, [approve("appr1")])))
}

test_the_author_cannot_approve_their_own_reclassification if {
	change := json.patch(risk_change(fx.good.model, lowered, [approve("appr1")]), [{"op": "replace", "path": "/review/pr_author", "value": "appr1"}])
	"RISK-03" in fx.ids(risk_deny(change))
}

test_class_area_owner_developers_and_intended_use_are_risk_fields if {
	edits := [
		{"risk": {"eu_ai_act": {"class": "minimal"}}},
		{"risk": {"eu_ai_act": {"annex_iii_area": "5(a)"}}},
		{"owner": {"team": "risk"}},
		{"developers": ["dev", "val"]},
		{"intended_use": {"purpose": "Something else entirely, for other people."}},
	]
	every edit in edits {
		"RISK-03" in fx.ids(risk_deny(risk_change(fx.good.model, object.union(fx.good.model, edit), [])))
	}
}

test_other_fields_are_the_teams if {
	after := object.union(fx.good.model, {"tags": ["renamed"], "summary": "A new summary."})
	not "RISK-03" in fx.ids(risk_deny(risk_change(fx.good.model, after, [])))
}

test_no_pull_request_review_no_risk03 if {
	change := object.union(risk_change(fx.good.model, lowered, []), {"review": null})
	not "RISK-03" in fx.ids(risk_deny(change))
}
