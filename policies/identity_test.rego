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

# ID-07: base models
based(base) := fx.with_({"lineage": {"base": base}})

test_registered_base_model_passes if {
	not "ID-07" in fx.ids(deny(based({"id": "bert", "version": "1.0.0", "source": "registry", "registered": true, "license": "Apache-2.0"})))
}

test_unregistered_base_version_denied if {
	some f in deny(based({"id": "bert", "version": "9.0.0", "source": "registry", "registered": false, "license": "Apache-2.0"}))
	f.id == "ID-07"
	contains(f.msg, "bert 9.0.0 is not a registered version of bert")
}

test_base_licence_without_derivation_denied if {
	some f in deny(based({"id": "bert", "source": "registry", "registered": true, "license": "MIT"}))
	f.id == "ID-07"
	contains(f.msg, "licensed MIT, which does not permit derived models")
}

test_allow_listed_external_base_passes if not "ID-07" in fx.ids(deny(based({"id": "org/open-base", "source": "external"})))

test_unknown_external_base_denied if {
	some f in deny(based({"id": "someone/else", "source": "external"}))
	f.id == "ID-07"
	f.path == ["base_model", "id"]
}

test_external_base_licence_without_derivation_denied if "ID-07" in fx.ids(deny(based({"id": "org/no-derivatives", "source": "external"})))

test_external_base_at_unlisted_revision_denied if {
	"ID-07" in fx.ids(deny(based({"id": "org/pinned-base", "version": "r8", "source": "external"})))
	not "ID-07" in fx.ids(deny(based({"id": "org/pinned-base", "version": "r7", "source": "external"})))
}
