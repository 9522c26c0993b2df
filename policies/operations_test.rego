package modelreg.operations_test

import data.modelreg.fixtures_test as fx
import data.modelreg.operations

deny(doc) := fs if {
	fs := operations.deny with input as fx.batch(doc) with data.registry as fx.registry
}

test_good_passes if count(deny(fx.good)) == 0

test_monitoring_plan_needed_for_production if {
	fs := deny(json.remove(fx.good, ["model/monitoring_plan/owner"]))
	some f in fs
	f.id == "OPS-01"
	contains(f.msg, "missing: owner")
}

test_unknown_stage_in_stages_file if {
	"OPS-02" in fx.ids(deny(fx.with_({"stages": {"requested": {"canary": "2.0.0"}}})))
}

test_production_requires_staging_first if {
	"OPS-02" in fx.ids(deny(fx.with_({"stages": {"history": [], "held": {"staging": "1.0.0"}}})))
}

test_currently_in_staging_is_enough if {
	not "OPS-02" in fx.ids(deny(fx.with_({"stages": {"history": [], "held": {"staging": "2.0.0"}}})))
}

test_high_risk_log_retention if "OPS-03" in fx.ids(deny(fx.with_({"model": {"logging": {"retention_days": 30}}})))

test_log_retention_not_needed_for_minimal if {
	doc := fx.with_({"model": {"logging": {"retention_days": 30}, "risk": {"eu_ai_act": {"class": "minimal"}}}})
	not "OPS-03" in fx.ids(deny(doc))
}

retired := {"date": "2026-11-01", "reason": "Replaced by the 2027 scorecard."}

# `good` retired and taken out of every stage: nothing held, nothing asked for.
good_retired := json.patch(fx.good, [
	{"op": "add", "path": "/model/retirement", "value": retired},
	{"op": "replace", "path": "/stages", "value": {"held": {}, "requested": {}, "rollback": [], "history": ["staging", "production"]}},
	{"op": "replace", "path": "/stage", "value": "registered"},
])

test_retired_model_out_of_every_stage_passes if not "OPS-04" in fx.ids(deny(good_retired))

test_retired_model_still_in_production if {
	doc := json.patch(good_retired, [{"op": "replace", "path": "/stages/held", "value": {"production": "2.0.0"}}])
	some f in deny(doc)
	f.id == "OPS-04"
	contains(f.msg, "still holds production")
}

test_retired_model_holding_another_version_judged_on_that_version if {
	doc := json.patch(good_retired, [{"op": "replace", "path": "/stages/held", "value": {"production": "1.0.0"}}])
	not "OPS-04" in fx.ids(deny(doc))
}

test_retired_model_cannot_be_promoted if {
	doc := json.patch(good_retired, [
		{"op": "replace", "path": "/stages/requested", "value": {"staging": "2.0.0"}},
		{"op": "replace", "path": "/stage", "value": "staging"},
	])
	some f in deny(doc)
	f.id == "OPS-04"
	contains(f.msg, "cannot be promoted to staging")
}

test_retirement_needs_reason_and_date if {
	doc := json.patch(good_retired, [{"op": "replace", "path": "/model/retirement", "value": {"reason": "  "}}])
	some f in deny(doc)
	f.id == "OPS-04"
	contains(f.msg, "without a date and reason")
}

test_retirement_with_reason_needs_date if {
	doc := json.patch(good_retired, [{"op": "remove", "path": "/model/retirement/date"}])
	some f in deny(doc)
	contains(f.msg, "without a date:")
}

test_model_not_retired_may_hold_stages if not "OPS-04" in fx.ids(deny(fx.good))
