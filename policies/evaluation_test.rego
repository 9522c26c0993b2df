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

# EVAL-03: metrics bound to the version's artifact
test_metric_without_artifact_denied_from_staging if {
	rows := [object.remove(m[0], ["artifact_sha256"]), m[1], m[2]]
	fs := deny(fx.with_({"stage": "staging", "version": {"metrics": rows}}))
	some f in fs
	f.id == "EVAL-03"
	f.path == ["metrics", 0]
}

test_metric_without_artifact_passes_at_registration if {
	rows := [object.remove(m[0], ["artifact_sha256"]), m[1], m[2]]
	not "EVAL-03" in fx.ids(deny(fx.with_({"stage": "registered", "version": {"metrics": rows}})))
}

test_metric_on_other_weights_denied if {
	rows := [object.union(m[0], {"artifact_sha256": fx.sha("9")}), m[1], m[2]]
	fs := deny(metrics(rows))
	some f in fs
	f.id == "EVAL-03"
	f.path == ["metrics", 0, "artifact_sha256"]
	contains(f.msg, "is not an artifact of credit 2.0.0")
}

# EVAL-05: champion / challenger
regressed(worse_by) := fx.with_({"champion": {"comparison": [{
	"index": 1, "metric": "auc", "dataset": "test-set", "split": "test", "slice": "sex=f",
	"champion": 0.8, "challenger": 0.8 - worse_by, "direction": "higher", "worse_by": worse_by,
}]}})

# the regression accepted in stages.yaml by `who`
accepted_by(doc, who) := object.union(doc, {"stages": {"accepted": {"production": {"approved_by": who, "reason": "traded for calibration overall"}}}})

without_officer(doc) := doc

test_regression_beyond_tolerance_denied_without_officer if {
	fs := deny(without_officer(regressed(0.02)))
	some f in fs
	f.id == "EVAL-05"
	f.path == ["metrics", 1, "value"]
	contains(f.msg, "worse than 1.0.0 (holding production) on auc, test-set test slice sex=f")
}

test_regression_approved_by_officer_warns if {
	doc := accepted_by(regressed(0.02), "appr1")
	not "EVAL-05" in fx.ids(deny(doc))
	some f in warn(doc)
	f.id == "EVAL-05"
	contains(f.msg, "accepted by appr1: traded for calibration overall")
}

test_officer_approval_alone_does_not_accept_regression if {
	# appr1 and appr2 (model-risk officers) approved the promotion, but nobody accepted the
	# regression in stages.yaml
	some f in deny(regressed(0.02))
	f.id == "EVAL-05"
	contains(f.msg, "accept the regression")
}

test_acceptance_by_someone_without_the_role_denied if {
	some f in deny(accepted_by(regressed(0.02), "val"))
	f.id == "EVAL-05"
	contains(f.msg, "stages.yaml names val, who has no such role or did not approve")
}

test_acceptance_by_officer_who_did_not_approve_denied if {
	doc := object.union(accepted_by(regressed(0.02), "appr1"), {"review": {"reviews": [
		{"user": {"login": "appr2"}, "state": "APPROVED", "commit_id": fx.head},
	]}})
	"EVAL-05" in fx.ids(deny(doc))
}

test_regression_within_tolerance_passes if {
	doc := without_officer(regressed(0.004))
	not "EVAL-05" in fx.ids(deny(doc))
	not "EVAL-05" in fx.ids(warn(doc))
}

test_officer_who_authored_does_not_approve_regression if {
	doc := object.union(accepted_by(regressed(0.02), "appr1"), {"review": {"pr_author": "appr1", "reviews": [
		{"user": {"login": "appr1"}, "state": "APPROVED", "commit_id": fx.head},
		{"user": {"login": "val"}, "state": "APPROVED", "commit_id": fx.head},
	]}})
	"EVAL-05" in fx.ids(deny(doc))
}

test_per_metric_tolerance_from_tier if {
	reg := object.union(fx.registry, {"tiers": {"tiers": {"1": {"regression": {"metrics": {"auc": 0.05}}}}}})
	fs := evaluation.deny with input as fx.batch(without_officer(regressed(0.02))) with data.registry as reg
	not "EVAL-05" in fx.ids(fs)
}

test_regression_not_judged_below_production if {
	doc := object.union(without_officer(regressed(0.02)), {"stage": "staging"})
	not "EVAL-05" in fx.ids(deny(doc))
}

test_unknown_direction_is_not_judged if {
	doc := fx.with_({"champion": {"comparison": [{"index": 0, "metric": "odd", "worse_by": null}]}})
	not "EVAL-05" in fx.ids(deny(without_officer(doc)))
}

test_unreadable_champion_warns if {
	some f in warn(fx.with_({"champion": {"record": false, "comparison": []}}))
	f.id == "EVAL-05"
	contains(f.msg, "cannot be compared")
}

# EVAL-06: robustness for EU high-risk models
test_high_risk_without_robustness_denied if {
	doc := object.union(object.remove(fx.good, ["version"]), {"version": object.remove(fx.good.version, ["robustness"])})
	"EVAL-06" in fx.ids(deny(doc))
}

test_failed_robustness_test_denied if {
	fs := deny(fx.with_({"version": {"robustness": [{"test": "label flip", "result": "fail", "date": "2026-10-15"}]}}))
	some f in fs
	f.id == "EVAL-06"
	f.path == ["robustness", 0, "result"]
}

test_not_high_risk_needs_no_robustness if {
	doc := object.union(object.remove(fx.good, ["version"]), {
		"model": object.union(fx.good.model, {"risk": {"eu_ai_act": {"class": "minimal"}}}),
		"version": object.remove(fx.good.version, ["robustness"]),
	})
	not "EVAL-06" in fx.ids(deny(doc))
}

test_robustness_not_required_before_production if {
	doc := object.union(object.remove(fx.good, ["version"]), {"stage": "staging", "version": object.remove(fx.good.version, ["robustness"])})
	not "EVAL-06" in fx.ids(deny(doc))
}

test_regression_without_a_review_yet_warns if {
	doc := object.remove(regressed(0.02), ["review"])
	not "EVAL-05" in fx.ids(deny(doc))
	some f in warn(doc)
	f.id == "EVAL-05"
	contains(f.msg, "its pull request needs someone with role model-risk-officer")
}

test_whole_numbers_print_with_four_decimals if {
	doc := without_officer(fx.with_({"champion": {"comparison": [{
		"index": 1, "metric": "auc", "dataset": "test-set", "split": "test", "slice": "sex=f",
		"champion": 1, "challenger": 0.9, "direction": "higher", "worse_by": 0.1,
	}]}}))
	some f in deny(doc)
	contains(f.msg, "0.9000 against 1.0000, by 0.1000")
}
