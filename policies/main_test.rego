package modelreg.main_test

import data.modelreg.fixtures_test as fx
import data.modelreg.main

test_good_document_has_no_findings if {
	d := main.decision with input as fx.batch(fx.good) with data.registry as fx.registry
	count(d.deny) == 0
	count(d.warn) == 0
	count(d.waived) == 0
}

pickle_doc(exceptions) := fx.with_({"version": {
	"artifacts": [object.union(fx.good.version.artifacts[0], {"path": "models/credit/versions/2.0.0/model.pkl", "format": "pickle", "scan": {"tool": "picklescan", "tool_version": "0.0.26", "status": "clean"}})],
	"exceptions": exceptions,
}})

waiver(expires, by) := {"rule": "ART-02", "justification": "legacy runtime needs pickle", "approved_by": by, "expires": expires}

test_waiver_moves_denial_to_waived if {
	d := main.decision with input as fx.batch(pickle_doc([waiver("2027-01-01", "appr1")])) with data.registry as fx.registry
	count(d.deny) == 0
	some w in d.waived
	w.id == "ART-02"
	w.waiver.approved_by == "appr1"
}

test_expired_waiver_no_longer_applies if {
	d := main.decision with input as fx.batch(pickle_doc([waiver("2026-11-26", "appr1")])) with data.registry as fx.registry
	"ART-02" in fx.ids(d.deny)
	"GOV-07" in fx.ids(d.warn)
	count(d.waived) == 0
}

test_waiver_by_someone_without_the_role_does_not_apply if {
	d := main.decision with input as fx.batch(pickle_doc([waiver("2027-01-01", "dev")])) with data.registry as fx.registry
	"ART-02" in fx.ids(d.deny)
	"GOV-07" in fx.ids(d.deny)
}

test_prohibited_cannot_be_waived if {
	doc := fx.with_({"model": {"risk": {"eu_ai_act": {"class": "prohibited"}}}, "version": {"exceptions": [
		{"rule": "RISK-01", "justification": "we really want this", "approved_by": "appr1", "expires": "2030-01-01"},
	]}})
	d := main.decision with input as fx.batch(doc) with data.registry as fx.registry
	"RISK-01" in fx.ids(d.deny)
	"GOV-07" in fx.ids(d.deny)
	count(d.waived) == 0
}

test_findings_are_objects_with_location if {
	doc := fx.with_({"model": {"name": "other"}})
	d := main.decision with input as fx.batch(doc) with data.registry as fx.registry
	some f in d.deny
	f.id == "ID-02"
	f.file == "model"
	f.path == ["name"]
	f.model == "credit"
	f.version == "2.0.0"
	startswith(f.msg, "[ID-02] ")
}
