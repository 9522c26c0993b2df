package modelreg.main_test

import data.modelreg.fixtures_test as fx
import data.modelreg.main

test_good_document_has_no_findings if {
	d := main.decision with input as fx.batch(fx.good) with data.registry as fx.registry
	count(d.deny) == 0
	count(d.warn) == 0
	count(d.waived) == 0
}

# OPS-03 fails (log retention too short for a high-risk model): the rule the waivers below
# try to waive. `approvals` is who approved the pull request that introduced the record.
short_logs(exceptions, approvals) := object.union(json.remove(fx.with_({
	"model": {"logging": {"retention_days": 30}},
	"version": {"exceptions": exceptions},
}), ["record_approvals/by"]), {"record_approvals": {"by": approvals}})

waiver(rule, expires, by) := {"rule": rule, "justification": "logs move to the new archive", "approved_by": by, "expires": expires}

decide(doc) := d if {
	d := main.decision with input as fx.batch(doc) with data.registry as fx.registry
}

test_waiver_moves_denial_to_waived if {
	d := decide(short_logs([waiver("OPS-03", "2027-01-01", "appr1")], fx.approved_by))
	count(d.deny) == 0
	some w in d.waived
	w.id == "OPS-03"
	w.waiver.approved_by == "appr1"
	w.waiver.expires == "2027-01-01"
}

test_expired_waiver_no_longer_applies if {
	d := decide(short_logs([waiver("OPS-03", "2026-11-26", "appr1")], fx.approved_by))
	"OPS-03" in fx.ids(d.deny)
	"GOV-07" in fx.ids(d.warn)
	count(d.waived) == 0
}

test_waiver_by_someone_without_the_role_does_not_apply if {
	d := decide(short_logs([waiver("OPS-03", "2027-01-01", "val")], fx.approved_by))
	"OPS-03" in fx.ids(d.deny)
	"GOV-07" in fx.ids(d.deny)
	count(d.waived) == 0
}

# The record names a real model-risk officer who never approved the pull request.
test_waiver_whose_approver_did_not_approve_does_not_apply if {
	d := decide(short_logs([waiver("OPS-03", "2027-01-01", "appr1")], {"appr2": fx.approved_at}))
	"OPS-03" in fx.ids(d.deny)
	"GOV-10" in fx.ids(d.deny)
	count(d.waived) == 0
}

test_waiver_without_any_recorded_approval_does_not_apply if {
	doc := json.remove(short_logs([waiver("OPS-03", "2027-01-01", "appr1")], {}), ["record_approvals"])
	d := decide(doc)
	"OPS-03" in fx.ids(d.deny)
	"GOV-10" in fx.ids(d.deny)
	count(d.waived) == 0
}

# `expires: 9999-12-31` is not honoured: the waiver lasts max_days after its approval.
test_waiver_expiry_is_capped if {
	d := decide(short_logs([waiver("OPS-03", "9999-12-31", "appr1")], fx.approved_by))
	count(d.deny) == 0
	some w in d.waived
	w.waiver.expires == "2027-11-20"
	some f in d.warn
	f.id == "GOV-07"
	contains(f.msg, "applies until 2027-11-20")
}

test_waiver_past_its_cap_no_longer_applies if {
	d := decide(short_logs([waiver("OPS-03", "9999-12-31", "appr1")], {"appr1": "2025-11-01T09:00:00Z"}))
	"OPS-03" in fx.ids(d.deny)
	count(d.waived) == 0
	some f in d.warn
	f.id == "GOV-07"
	contains(f.msg, "lapsed on 2026-11-01")
}

test_cap_comes_from_policy_data if {
	d := main.decision with input as fx.batch(short_logs([waiver("OPS-03", "9999-12-31", "appr1")], fx.approved_by))
		with data.registry as object.union(fx.registry, {"tiers": {"waivers": {"max_days": 3}}})
	"OPS-03" in fx.ids(d.deny)
	count(d.waived) == 0
}

test_prohibited_cannot_be_waived if {
	doc := fx.with_({"model": {"risk": {"eu_ai_act": {"class": "prohibited"}}}, "version": {"exceptions": [
		{"rule": "RISK-01", "justification": "we really want this", "approved_by": "appr1", "expires": "2030-01-01"},
	]}})
	d := decide(doc)
	"RISK-01" in fx.ids(d.deny)
	"GOV-07" in fx.ids(d.deny)
	count(d.waived) == 0
}

# Rules no exception can waive, however well approved: the waiver is ignored and reported.
non_waivable := {"RISK-01", "OPS-02", "GOV-01", "GOV-02", "GOV-04", "SIGN-01", "SIGN-02", "ART-02"}

test_catalogue_marks_the_non_waivable_rules if {
	every id in non_waivable {
		fx.registry.rules.rules[id].waivable == false
	}
}

test_approved_waiver_of_a_non_waivable_rule_is_ignored if {
	doc := fx.with_({"stages": {"held": {"staging": "1.0.0"}, "history": []},
		"signature": {"present": false, "verified": false, "key": null},
		"version": {"exceptions": [waiver(id, "2027-01-01", "appr1") | some id in ["OPS-02", "SIGN-01"]]},
	})
	d := decide(doc)
	"OPS-02" in fx.ids(d.deny)
	"SIGN-01" in fx.ids(d.deny)
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
