package modelreg.monitoring_test

import data.modelreg.fixtures_test as fx
import data.modelreg.monitoring

deny(doc) := fs if {
	fs := monitoring.deny with input as fx.batch(doc) with data.registry as fx.registry
}

warn(doc) := fs if {
	fs := monitoring.warn with input as fx.batch(doc) with data.registry as fx.registry
}

breach := {"metric": "auc", "value": 0.61, "threshold": 0.7, "direction": "higher"}

drift := {"metric": "psi", "feature": "income", "value": 0.31, "threshold": 0.2, "direction": "lower"}

watched(m) := fx.with_({"monitoring": object.union({
	"last": "2026-11-20", "file": "models/credit/monitoring/2.0.0/2026-11-20.yaml",
	"breaches": [], "breach_since": null, "cadence_days": 31, "since": "2026-10-01",
}, m)})

test_no_monitoring_key_no_finding if {
	count(warn(fx.good)) == 0
	count(deny(fx.good)) == 0
}

test_within_thresholds_passes if {
	count(warn(watched({}))) == 0
	count(deny(watched({}))) == 0
}

test_breach_warns if {
	fs := warn(watched({"breaches": [breach, drift], "breach_since": "2026-11-20"}))
	some f in fs
	f.id == "MON-01"
	f.file == "models/credit/monitoring/2.0.0/2026-11-20.yaml"
	contains(f.msg, "auc 0.6100 < 0.7000")
	contains(f.msg, "psi of income 0.3100 > 0.2000")
	count(deny(watched({"breaches": [breach], "breach_since": "2026-11-20"}))) == 0
}

test_breach_before_production_is_not_judged if {
	doc := object.union(watched({"breaches": [breach], "breach_since": "2026-01-01"}), {"stage": "staging"})
	count(warn(doc)) == 0
	count(deny(doc)) == 0
}

test_persistent_breach_denies_tier_1 if {
	fs := deny(watched({"breaches": [breach], "breach_since": "2026-10-20"}))
	some f in fs
	f.id == "MON-03"
	contains(f.msg, "38 days, longer than the 30 days")
}

test_breach_within_grace_does_not_deny if {
	count(deny(watched({"breaches": [breach], "breach_since": "2026-11-01"}))) == 0
}

test_persistent_breach_warns_when_the_tier_does_not_deny if {
	doc := object.union(watched({"breaches": [breach], "breach_since": "2026-06-01"}), {"model": {"risk": {"tier": 3}}})
	count(deny(doc)) == 0
	"MON-03" in fx.ids(warn(doc))
}

test_missing_monitoring_past_cadence_warns if {
	fs := warn(watched({"last": "2026-10-01", "since": "2026-06-01"}))
	some f in fs
	f.id == "MON-02"
	contains(f.msg, "since 2026-10-01, 57 days ago")
}

test_never_monitored_counts_from_production if {
	"MON-02" in fx.ids(warn(watched({"last": null, "file": null, "since": "2026-09-01"})))
	not "MON-02" in fx.ids(warn(watched({"last": null, "file": null, "since": "2026-11-20"})))
}

test_recent_production_restarts_the_clock if {
	not "MON-02" in fx.ids(warn(watched({"last": "2026-01-31", "since": "2026-11-10"})))
}

test_no_frequency_no_cadence if {
	not "MON-02" in fx.ids(warn(watched({"last": "2026-01-31", "cadence_days": null})))
}

test_non_number_value_shown if {
	fs := warn(watched({"breaches": [object.union(breach, {"value": null})], "breach_since": "2026-11-20"}))
	some f in fs
	contains(f.msg, "auc no number < 0.7000")
}

test_a_metric_not_reported_is_named if {
	fs := warn(watched({"breaches": [{"metric": "auc", "value": null, "threshold": 0.7, "direction": "higher", "missing": true}], "breach_since": "2026-11-20"}))
	some f in fs
	contains(f.msg, "auc not reported (threshold 0.7000)")
}
