package modelreg.lineage_test

import data.modelreg.fixtures_test as fx
import data.modelreg.lineage

deny(doc) := fs if {
	fs := lineage.deny with input as fx.batch(doc) with data.registry as fx.registry
}

datasets(list) := fx.with_({"version": {"datasets": list}})

train := fx.good.version.datasets[0]

test := fx.good.version.datasets[1]

test_good_passes if count(deny(fx.good)) == 0

test_unregistered_dataset if {
	"DATA-01" in fx.ids(deny(datasets([train, object.union(test, {"id": "mystery"})])))
}

test_unknown_revision if "DATA-02" in fx.ids(deny(datasets([train, object.union(test, {"revision": "r9"})])))

test_hash_mismatch if "DATA-02" in fx.ids(deny(datasets([train, object.union(test, {"sha256": fx.sha("9")})])))

test_missing_test_data if "DATA-03" in fx.ids(deny(datasets([train])))

test_train_and_test_overlap if "DATA-03" in fx.ids(deny(datasets([train, object.union(train, {"role": "test"})])))

test_disjointness_not_gated_at_registration if {
	doc := object.union(datasets([train]), {"stage": "registered"})
	not "DATA-03" in fx.ids(deny(doc))
}

test_personal_data_needs_legal_basis if {
	"DATA-04" in fx.ids(deny(datasets([object.union(train, {"contains_personal_data": true}), test])))
}

test_dataset_licence_allow_list if {
	reg := object.union(fx.registry, {"datasets": {"datasets": {"test-set": {"license": "CC-BY-NC-4.0"}}}})
	fs := lineage.deny with input as fx.batch(fx.good) with data.registry as reg
	"DATA-05" in fx.ids(fs)
}

# DATA-06: the lineage graph
test_missing_parent_denied if {
	fs := deny(fx.with_({"lineage": {"parent": {"model": "credit", "version": "0.9.0", "exists": false}}}))
	some f in fs
	f.id == "DATA-06"
	f.path == ["parent"]
}

test_existing_parent_passes if not "DATA-06" in fx.ids(deny(fx.with_({"lineage": {"parent": {"model": "credit", "version": "1.0.0", "exists": true}}})))

test_cycle_denied if {
	fs := deny(fx.with_({"lineage": {"cycle": ["credit@2.0.0", "scorer@1.0.0", "credit@2.0.0"]}}))
	some f in fs
	f.id == "DATA-06"
	contains(f.msg, "credit@2.0.0 -> scorer@1.0.0 -> credit@2.0.0")
}
