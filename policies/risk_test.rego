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

