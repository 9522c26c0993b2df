package modelreg.identity_test

import data.modelreg.fixtures_test as fx
import data.modelreg.identity

deny(doc) := fs if {
	fs := identity.deny with input as fx.batch(doc) with data.registry as fx.registry
}

test_good_passes if count(deny(fx.good)) == 0

test_name_must_match_folder if "ID-02" in fx.ids(deny(fx.with_({"model": {"name": "credit2"}})))

test_version_must_match_file if "ID-03" in fx.ids(deny(fx.with_({"version": {"version": "2.0.1"}})))

test_registered_version_is_immutable if {
	doc := fx.with_({"change": {"files": ["models/credit/versions/2.0.0.yaml"]}})
	"ID-03" in fx.ids(deny(doc))
}

test_production_downgrade_denied if {
	doc := fx.with_({"stages": {"held": {"production": "3.0.0"}}})
	"ID-04" in fx.ids(deny(doc))
}

test_production_downgrade_allowed_with_rollback if {
	doc := fx.with_({"stages": {"held": {"production": "3.0.0"}, "rollback": ["production"]}})
	not "ID-04" in fx.ids(deny(doc))
}

test_downgrade_rule_not_gated_at_staging if {
	doc := fx.with_({"stage": "staging", "stages": {"held": {"staging": "3.0.0"}}})
	not "ID-04" in fx.ids(deny(doc))
}

test_unknown_team if "ID-05" in fx.ids(deny(fx.with_({"model": {"owner": {"team": "nobody"}}})))

test_team_without_members if "ID-05" in fx.ids(deny(fx.with_({"model": {"owner": {"team": "empty"}}})))

test_unknown_developer if "ID-05" in fx.ids(deny(fx.with_({"model": {"developers": ["ghost"]}})))

test_licence_not_allowed if "ID-06" in fx.ids(deny(fx.with_({"model": {"license": "GPL-3.0"}})))

test_licence_rule_gates_staging_not_registered if {
	doc := fx.with_({"stage": "registered", "model": {"license": "GPL-3.0"}})
	not "ID-06" in fx.ids(deny(doc))
}

test_non_finite_number_is_a_finding if {
	doc := object.union(fx.good, {"non_finite": [{"file": "version", "path": ["metrics", 0, "value"], "value": "NaN"}]})
	fs := deny(doc)
	some f in fs
	f.id == "ID-08"
	f.path == ["metrics", 0, "value"]
	f.msg == "[ID-08] metrics.0.value is NaN, not a finite number: record the real value (a failed evaluation is not a metric)"
}

test_finite_numbers_are_no_finding if not "ID-08" in fx.ids(deny(fx.good))

todo_id07_base_model_is_registered if false
