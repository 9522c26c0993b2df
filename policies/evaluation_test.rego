package modelreg.evaluation_test

import data.modelreg.evaluation
import data.modelreg.fixtures_test as fx

deny(doc) := fs if {
	fs := evaluation.deny with input as fx.batch(doc) with data.registry as fx.registry
}

warn(doc) := fs if {
	fs := evaluation.warn with input as fx.batch(doc) with data.registry as fx.registry
}

m := fx.good.version.metrics

metrics(rows) := fx.with_({"version": {"metrics": rows}})

test_good_passes if {
	count(deny(fx.good)) == 0
	count(warn(fx.good)) == 0
}

test_threshold_missed_higher if {
	fs := deny(metrics([object.union(m[0], {"value": 0.69}), m[1], m[2]]))
	some f in fs
	f.id == "EVAL-01"
	f.path == ["metrics", 0, "value"]
	contains(f.msg, "0.6900 but must be at least 0.7000")
}

test_threshold_direction_lower if {
	row := {"name": "brier", "value": 0.3, "dataset": "test-set", "split": "test", "slice": "overall", "threshold": 0.2, "direction": "lower"}
	"EVAL-01" in fx.ids(deny(metrics(array.concat(m, [row]))))
}

test_lower_is_better_passes_below if {
	row := {"name": "brier", "value": 0.1, "dataset": "test-set", "split": "test", "slice": "overall", "threshold": 0.2, "direction": "lower"}
	not "EVAL-01" in fx.ids(deny(metrics(array.concat(m, [row]))))
}

test_declared_threshold_applies_to_rows_without_one if {
	row := {"name": "auc", "value": 0.6, "dataset": "test-set", "split": "test", "slice": "overall"}
	"EVAL-01" in fx.ids(deny(metrics([row, m[1], m[2]])))
}

test_declared_threshold_needs_a_metric if {
	doc := fx.with_({"model": {"evaluation": {"thresholds": [{"metric": "f1", "threshold": 0.5, "direction": "higher"}]}}})
	"EVAL-01" in fx.ids(deny(doc))
}

test_threshold_enforced_at_registration if {
	doc := object.union(metrics([object.union(m[0], {"value": 0.5}), m[1], m[2]]), {"stage": "registered"})
	"EVAL-01" in fx.ids(deny(doc))
}

test_metric_dataset_not_in_lineage if "EVAL-02" in fx.ids(deny(metrics([object.union(m[0], {"dataset": "elsewhere"}), m[1], m[2]])))

test_metric_split_must_match_role if "EVAL-02" in fx.ids(deny(metrics([object.union(m[0], {"split": "validation"}), m[1], m[2]])))

test_missing_slices_deny_tier1_production if "EVAL-04" in fx.ids(deny(metrics([m[0]])))

test_missing_slices_only_warn_at_staging if {
	doc := object.union(metrics([m[0]]), {"stage": "staging"})
	"EVAL-04" in fx.ids(warn(doc))
	not "EVAL-04" in fx.ids(deny(doc))
}

test_slice_gap_over_tolerance if {
	fs := deny(metrics([m[0], object.union(m[1], {"value": 0.72}), m[2]]))
	some f in fs
	f.id == "EVAL-04"
	contains(f.msg, "0.0800 from overall, over the tolerance 0.0500")
}

test_slice_gap_warns_for_tier3_minimal_in_production if {
	doc := object.union(metrics([m[0], object.union(m[1], {"value": 0.72}), m[2]]), {"model": {"risk": {"tier": 3, "eu_ai_act": {"class": "minimal"}}}})
	"EVAL-04" in fx.ids(warn(doc))
	not "EVAL-04" in fx.ids(deny(doc))
}
