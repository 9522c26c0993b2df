package modelreg.governance_test

import data.modelreg.fixtures_test as fx
import data.modelreg.governance

deny(doc) := fs if {
	fs := governance.deny with input as fx.batch(doc) with data.registry as fx.registry
}

warn(doc) := fs if {
	fs := governance.warn with input as fx.batch(doc) with data.registry as fx.registry
}

review(reviews) := fx.with_({"review": {"reviews": reviews}})

approve(login, commit) := {"user": {"login": login}, "state": "APPROVED", "commit_id": commit}

old := concat("", [x | some _ in numbers.range(1, 40); x := "0"])

test_good_passes if {
	count(deny(fx.good)) == 0
	count(warn(fx.good)) == 0
}

test_no_review_object_means_no_approval_rules if {
	doc := fx.with_({"review": null})
	not "GOV-01" in fx.ids(deny(doc))
	not "GOV-02" in fx.ids(deny(doc))
}

test_staging_needs_an_approver if {
	doc := object.union(review([]), {"stage": "staging"})
	"GOV-01" in fx.ids(deny(doc))
}

test_author_cannot_approve_own_change if {
	doc := object.union(review([approve("appr1", fx.head)]), {"stage": "staging", "review": {"pr_author": "appr1"}})
	"GOV-01" in fx.ids(deny(doc))
}

test_production_needs_two_for_tier1 if "GOV-02" in fx.ids(deny(review([approve("appr1", fx.head)])))

test_committer_does_not_count if {
	doc := object.union(fx.good, {"review": {"committers": ["dev", "appr2"]}})
	"GOV-02" in fx.ids(deny(doc))
}

test_stale_approval_warns_and_does_not_count if {
	doc := review([approve("appr1", fx.head), approve("appr2", old)])
	"GOV-03" in fx.ids(warn(doc))
	"GOV-02" in fx.ids(deny(doc))
}

test_changes_requested_revokes_approval if {
	doc := review([approve("appr1", fx.head), approve("appr2", fx.head), {"user": {"login": "appr2"}, "state": "CHANGES_REQUESTED", "commit_id": fx.head}])
	"GOV-02" in fx.ids(deny(doc))
}

test_validation_required_for_tier1 if "GOV-04" in fx.ids(deny(json.remove(fx.good, ["version/validation"])))

test_validator_must_be_independent if "GOV-04" in fx.ids(deny(fx.with_({"version": {"validation": {"validator": "dev"}}})))

test_rejected_validation if "GOV-04" in fx.ids(deny(fx.with_({"version": {"validation": {"outcome": "rejected"}}})))

test_validation_too_old if "GOV-05" in fx.ids(deny(fx.with_({"version": {"validation": {"validated_at": "2025-01-01"}}})))

test_validation_age_uses_model_interval if {
	doc := fx.with_({"model": {"review": {"interval_days": 30}}})
	"GOV-05" in fx.ids(deny(doc))
}

test_exception_for_unknown_rule if {
	doc := fx.with_({"version": {"exceptions": [{"rule": "XX-999", "justification": "no reason at all", "approved_by": "appr1", "expires": "2027-01-01"}]}})
	"GOV-07" in fx.ids(deny(doc))
}

owned_paths(reviews, author, owners) := object.union(fx.with_({"stage": "registered"}), {"review": {
	"pr_author": author,
	"head": fx.head,
	"reviews": reviews,
	"committers": [author],
	"owners": owners,
}})

owned(reviews, author) := owned_paths(reviews, author, {"models/credit/versions/2.0.0.yaml": ["owner1", "owner2"]})

test_changed_path_needs_a_code_owner if "GOV-09" in fx.ids(deny(owned([], "dev")))

test_non_owner_approval_does_not_count if "GOV-09" in fx.ids(deny(owned([approve("appr1", fx.head)], "dev")))

test_author_owner_cannot_approve_own_change if "GOV-09" in fx.ids(deny(owned([approve("owner1", fx.head)], "owner1")))

test_stale_owner_approval_does_not_count if "GOV-09" in fx.ids(deny(owned([approve("owner1", old)], "dev")))

test_owner_approval_on_head_passes if not "GOV-09" in fx.ids(deny(owned([approve("owner2", fx.head)], "dev")))

test_other_models_paths_are_not_this_models_business if {
	doc := owned_paths([], "dev", {"models/other-model/model.yaml": ["owner1"]})
	not "GOV-09" in fx.ids(deny(doc))
}

# A validation record names its validator; only the validator's approval of the pull request
# that introduced the record makes it count.
without_approval_of(login) := object.union(json.remove(fx.good, ["record_approvals/by"]), {"record_approvals": {"by": object.remove(fx.approved_by, {login})}})

test_validator_who_did_not_approve_is_not_counted if {
	some f in deny(without_approval_of("val"))
	f.id == "GOV-04"
	f.path == ["validation", "validator"]
	contains(f.msg, "did not approve")
}

test_validator_who_approved_is_counted if not "GOV-04" in fx.ids(deny(fx.good))

test_validator_without_any_recorded_approval_is_not_counted if "GOV-04" in fx.ids(deny(json.remove(fx.good, ["record_approvals"])))

exception_by(login) := fx.with_({"version": {"exceptions": [{"rule": "OPS-03", "justification": "logs move to the new archive", "approved_by": login, "expires": "2027-01-01"}]}})

test_exception_approver_must_have_approved_the_pull_request if {
	some f in deny(object.union(json.remove(exception_by("appr1"), ["record_approvals/by"]), {"record_approvals": {"by": object.remove(fx.approved_by, {"appr1"})}}))
	f.id == "GOV-10"
	f.path == ["exceptions", 0, "approved_by"]
	contains(f.msg, "pull request #7 under review")
}

test_exception_approved_on_the_pull_request_passes if not "GOV-10" in fx.ids(deny(exception_by("appr1")))

# A validation dated in the future is as old as the validator's approval of it.
test_validation_age_counts_from_the_approval_at_the_latest if {
	doc := fx.with_({"model": {"review": {"interval_days": 5}}, "version": {"validation": {"validated_at": "2099-01-01"}}})
	some f in deny(doc)
	f.id == "GOV-05"
	contains(f.msg, "validation from 2026-11-20")
}

# Counted in whole days from the validator's approval (2026-11-20 in the fixtures): on the day
# the interval ends (noon, in the fixtures) the validation still holds, the whole day long.
test_validation_on_the_last_day_of_the_interval_passes if {
	doc := fx.with_({"model": {"review": {"interval_days": 7}}, "version": {"validation": {"validated_at": "2026-11-22"}}})
	not "GOV-05" in fx.ids(deny(doc))
}

test_validation_a_day_past_the_interval_fails if {
	doc := fx.with_({"model": {"review": {"interval_days": 6}}, "version": {"validation": {"validated_at": "2026-11-22"}}})
	"GOV-05" in fx.ids(deny(doc))
}

test_validation_within_the_interval_passes if not "GOV-05" in fx.ids(deny(fx.with_({"model": {"review": {"interval_days": 60}}})))

# The pull request as a whole (input.change): every changed path, models/ or not.
pr(reviews, owners) := {
	"base": "main",
	"files": object.keys(owners),
	"review": {"pr_author": "dev", "head": fx.head, "reviews": reviews, "committers": ["dev"], "owners": owners},
	"models": {},
}

pr_deny(docs, change) := fs if {
	fs := governance.deny with input as {"now": fx.now, "models": docs, "change": change} with data.registry as fx.registry
}

policy_owned := {"policies/data/tiers.yaml": ["gov1"]}

test_a_policy_change_needs_its_code_owner if {
	fs := pr_deny([], pr([approve("appr1", fx.head)], policy_owned))
	some f in fs
	f.id == "GOV-09"
	f.file == "policies/data/tiers.yaml"
	f.model == null
}

test_a_policy_change_passes_with_its_code_owner if {
	not "GOV-09" in fx.ids(pr_deny([], pr([approve("gov1", fx.head)], policy_owned)))
}

test_a_path_without_owners_can_never_pass if {
	fs := pr_deny([], pr([approve("gov1", fx.head)], {"Makefile": []}))
	"GOV-09" in fx.ids(fs)
}

test_the_authors_own_approval_does_not_count_for_a_path if {
	change := json.patch(pr([approve("gov1", fx.head)], policy_owned), [{"op": "replace", "path": "/review/pr_author", "value": "gov1"}])
	"GOV-09" in fx.ids(pr_deny([], change))
}

test_a_stale_code_owner_approval_does_not_count_for_a_path if {
	"GOV-09" in fx.ids(pr_deny([], pr([approve("gov1", old)], policy_owned)))
}

test_the_document_rule_gives_way_to_the_pull_request_rule if {
	# a stage holder the pull request leaves alone carries its tag's evidence: its paths
	# were judged when it merged, the pull request's own paths are judged once, here
	doc := owned([], "dev")
	fs := pr_deny([doc], pr([approve("gov1", fx.head)], policy_owned))
	not "GOV-09" in fx.ids(fs)
}

test_a_generated_file_is_left_to_its_inputs_owners if {
	change := object.union(pr([approve("appr1", fx.head)], {".github/CODEOWNERS": ["gov1"]}), {"generated": [".github/CODEOWNERS"]})
	not "GOV-09" in fx.ids(pr_deny([], change))
}

test_a_hand_edited_codeowners_needs_its_owner if {
	"GOV-09" in fx.ids(pr_deny([], pr([approve("appr1", fx.head)], {".github/CODEOWNERS": ["gov1"]})))
}

# GOV-06: validation findings
vf(patch) := object.union({
	"id": "VF-1", "model": "credit", "title": "Calibration drifts", "severity": "high",
	"owner": "dev", "opened_at": "2026-10-01", "due": "2026-12-31", "status": "open",
	"file": "models/credit/validation/VF-1.yaml",
}, patch)

test_open_high_finding_denies_production if {
	fs := deny(fx.with_({"findings": [vf({})]}))
	some f in fs
	f.id == "GOV-06"
	f.file == "models/credit/validation/VF-1.yaml"
	contains(f.msg, "VF-1 (high: Calibration drifts) is open for credit 2.0.0")
}

test_open_high_finding_does_not_deny_staging if not "GOV-06" in fx.ids(deny(fx.with_({"stage": "staging", "findings": [vf({})]})))

test_closed_high_finding_passes if not "GOV-06" in fx.ids(deny(fx.with_({"findings": [vf({"status": "closed"})]})))

test_open_medium_finding_does_not_deny if not "GOV-06" in fx.ids(deny(fx.with_({"findings": [vf({"severity": "medium"})]})))

test_past_due_finding_warns_from_staging if {
	some f in warn(fx.with_({"stage": "staging", "findings": [vf({"severity": "low", "due": "2026-11-01"})]}))
	f.id == "GOV-06"
	contains(f.msg, "was due on 2026-11-01")
}

test_past_due_finding_quiet_at_registration if not "GOV-06" in fx.ids(warn(fx.with_({"stage": "registered", "findings": [vf({"severity": "low", "due": "2026-11-01"})]})))

finding_change(reviews) := object.union(fx.batch(fx.good), {"change": {
	"files": ["models/credit/validation/VF-1.yaml"],
	"review": {"pr_author": "dev", "head": fx.head, "committers": ["dev"], "reviews": reviews},
}})

test_finding_change_needs_validator if {
	fs := governance.deny with input as finding_change([{"user": {"login": "appr1"}, "state": "APPROVED", "commit_id": fx.head}])
		with data.registry as fx.registry
	some f in fs
	f.id == "GOV-06"
	f.file == "models/credit/validation/VF-1.yaml"
}

test_finding_change_approved_by_validator_passes if {
	fs := governance.deny with input as finding_change([{"user": {"login": "val"}, "state": "APPROVED", "commit_id": fx.head}])
		with data.registry as fx.registry
	not "GOV-06" in fx.ids(fs)
}

test_deleting_a_finding_denied if {
	doc := object.union(fx.batch(fx.good), {"change": {"files": [], "deleted": ["models/credit/validation/VF-1.yaml"]}})
	fs := governance.deny with input as doc with data.registry as fx.registry
	some f in fs
	f.id == "GOV-06"
	contains(f.msg, "deletes validation finding models/credit/validation/VF-1.yaml")
}
