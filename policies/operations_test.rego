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
