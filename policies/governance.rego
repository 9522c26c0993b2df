# Governance (GOV-*): sign-off, independent validation, periodic review and exceptions.
#
# Approval rules read `doc.review`, the pull request's author, head commit, committers and
# reviews in GitHub's REST shape; they fire only when the caller supplies a review.
package modelreg.governance

import data.modelreg.lib

roles := data.registry.tiers.roles

# Logins whose latest decisive review approves the head commit.
approvals_on_head(r) := {login |
	some i, rv in r.reviews
	rv.state == "APPROVED"
	rv.commit_id == r.head
	login := rv.user.login
	not revoked(r, login, i)
}

revoked(r, login, i) if {
	some j, later in r.reviews
	j > i
	later.user.login == login
	later.state in {"CHANGES_REQUESTED", "DISMISSED"}
}

short(sha) := substring(sha, 0, 7)

deny contains f if {
	some doc in lib.documents
	lib.active(doc, "GOV-01")
	r := doc.review
	is_object(r)
	ok := {login |
		some login in approvals_on_head(r)
		login != r.pr_author
		lib.has_role(login, roles.approve_staging)
	}
	needed := lib.tier(doc).approvals_staging
	count(ok) < needed
	f := lib.finding(doc, "GOV-01", "stages", ["stages", doc.stage], sprintf(
		"%s needs %d approval(s) on the head commit by an approver (roles %s), not the author; it has %d: ask a code owner to review",
		[lib.label(doc), needed, concat(", ", roles.approve_staging), count(ok)],
	))
}

deny contains f if {
	some doc in lib.documents
	lib.active(doc, "GOV-02")
	r := doc.review
	is_object(r)
	committers := {c | some c in object.get(r, "committers", [])}
	ok := {login |
		some login in approvals_on_head(r)
		login != r.pr_author
		not login in committers
		lib.has_role(login, roles.approve_production)
	}
	needed := lib.tier(doc).approvals_production
	count(ok) < needed
	f := lib.finding(doc, "GOV-02", "stages", ["stages", doc.stage], sprintf(
		"%s needs %d approvals for %s from approvers who neither authored nor committed to the change (four-eyes); it has %d: request more reviews",
		[lib.label(doc), needed, doc.stage, count(ok)],
	))
}

warn contains f if {
	some doc in lib.documents
	lib.active(doc, "GOV-03")
	r := doc.review
	is_object(r)
	some rv in r.reviews
	rv.state == "APPROVED"
	rv.commit_id != r.head
	f := lib.finding(doc, "GOV-03", "stages", ["stages", doc.stage], sprintf(
		"approval by %s was given on commit %s, not the head %s, and does not count: re-request the review",
		[rv.user.login, short(rv.commit_id), short(r.head)],
	))
}

needs_validation(doc) if lib.tier(doc).independent_validation == true

deny contains f if {
	some doc in lib.documents
	lib.active(doc, "GOV-04")
	needs_validation(doc)
	is_object(doc.version)
	not doc.version.validation
	f := lib.finding(doc, "GOV-04", "version", [], sprintf(
		"tier %d models need independent validation before %s: record validation (validator, validated_at, outcome)",
		[doc.model.risk.tier, doc.stage],
	))
}

deny contains f if {
	some doc in lib.documents
	lib.active(doc, "GOV-04")
	needs_validation(doc)
	who := doc.version.validation.validator
	not lib.has_role(who, roles.validate)
	f := lib.finding(doc, "GOV-04", "version", ["validation", "validator"], sprintf(
		"validator %s does not have a validator role in policies/data/people.yaml: have an independent validator sign it",
		[who],
	))
}

# The record naming a validator proves nothing: the validator must have approved the pull
# request that introduced the record (or its registration tag must record that approval).
deny contains f if {
	some doc in lib.documents
	lib.active(doc, "GOV-04")
	needs_validation(doc)
	who := doc.version.validation.validator
	lib.has_role(who, roles.validate)
	not lib.vouched(doc, who)
	f := lib.finding(doc, "GOV-04", "version", ["validation", "validator"], sprintf(
		"validator %s did not approve the pull request that recorded this validation (%s), so it is not counted: ask %s to review and approve it",
		[who, lib.record_source(doc), who],
	))
}

deny contains f if {
	some doc in lib.documents
	lib.active(doc, "GOV-04")
	needs_validation(doc)
	who := doc.version.validation.validator
	who in object.get(doc.model, "developers", [])
	f := lib.finding(doc, "GOV-04", "version", ["validation", "validator"], sprintf(
		"validator %s is one of the model's developers, so the validation is not independent: have someone else validate",
		[who],
	))
}

deny contains f if {
	some doc in lib.documents
	lib.active(doc, "GOV-04")
	needs_validation(doc)
	doc.version.validation.outcome == "rejected"
	f := lib.finding(doc, "GOV-04", "version", ["validation", "outcome"], "validation outcome is rejected: address the findings and validate again")
}

interval(doc) := doc.model.review.interval_days if is_number(doc.model.review.interval_days)

else := lib.tier(doc).review_interval_days

day_ns := ((24 * 60) * 60) * 1000000000

# `validated_at` is the record's claim; the validator's approval of the pull request that
# recorded the validation proves it existed by then, so a later claimed date counts as that day.
validator_approved_on(doc) := substring(lib.record_approvers(doc)[doc.version.validation.validator], 0, 10)

validated_on(doc, at) := min({at, validator_approved_on(doc)}) if is_string(validator_approved_on(doc))

else := at

deny contains f if {
	some doc in lib.documents
	lib.active(doc, "GOV-05")
	claimed := doc.version.validation.validated_at
	regex.match("^[0-9]{4}-[0-9]{2}-[0-9]{2}$", claimed)
	at := validated_on(doc, claimed)
	# whole days, from today's date: the answer is the same all day long
	age := (time.parse_rfc3339_ns(concat("", [lib.today, "T00:00:00Z"])) - time.parse_rfc3339_ns(concat("", [at, "T00:00:00Z"]))) / day_ns
	age > interval(doc)
	f := lib.finding(doc, "GOV-05", "version", ["validation", "validated_at"], sprintf(
		"validation from %s is older than the review interval of %d days: revalidate the model",
		[at, interval(doc)],
	))
}

deny contains f if {
	some doc in lib.documents
	lib.active(doc, "GOV-07")
	some i, w in lib.exceptions(doc)
	not lib.rules[w.rule]
	f := lib.finding(doc, "GOV-07", "version", ["exceptions", i, "rule"], sprintf(
		"exception names unknown rule %s: use an id from policies/data/rules.yaml",
		[w.rule],
	))
}

deny contains f if {
	some doc in lib.documents
	lib.active(doc, "GOV-07")
	some i, w in lib.exceptions(doc)
	lib.rules[w.rule].waivable != true
	f := lib.finding(doc, "GOV-07", "version", ["exceptions", i, "rule"], sprintf(
		"rule %s cannot be waived: fix the problem instead of adding an exception",
		[w.rule],
	))
}

deny contains f if {
	some doc in lib.documents
	lib.active(doc, "GOV-07")
	some i, w in lib.exceptions(doc)
	not lib.has_role(w.approved_by, roles.approve_waiver)
	f := lib.finding(doc, "GOV-07", "version", ["exceptions", i, "approved_by"], sprintf(
		"exception for %s is approved by %s, who has no waiver role (%s): have a model-risk officer approve it",
		[w.rule, w.approved_by, concat(", ", roles.approve_waiver)],
	))
}

# An exception names its approver; only an approval of the pull request that introduced it
# makes that true (GOV-10).
deny contains f if {
	some doc in lib.documents
	lib.active(doc, "GOV-10")
	some i, w in lib.exceptions(doc)
	not lib.vouched(doc, w.approved_by)
	f := lib.finding(doc, "GOV-10", "version", ["exceptions", i, "approved_by"], sprintf(
		"exception for %s names %s as its approver, but %s did not approve the pull request that introduced it (%s): the exception does not apply until %s approves that pull request",
		[w.rule, w.approved_by, w.approved_by, lib.record_source(doc), w.approved_by],
	))
}

warn contains f if {
	some doc in lib.documents
	lib.active(doc, "GOV-07")
	some i, w in lib.exceptions(doc)
	lib.vouched(doc, w.approved_by)
	cap := lib.waiver_cap(lib.record_approvers(doc)[w.approved_by])
	w.expires > cap
	cap >= lib.today
	f := lib.finding(doc, "GOV-07", "version", ["exceptions", i, "expires"], sprintf(
		"exception for %s asks to last until %s, but a waiver lasts at most %d days after its approval: it applies until %s, then needs a new approval",
		[w.rule, w.expires, lib.waiver_max_days, cap],
	))
}

warn contains f if {
	some doc in lib.documents
	lib.active(doc, "GOV-07")
	some i, w in lib.exceptions(doc)
	lib.vouched(doc, w.approved_by)
	cap := lib.waiver_cap(lib.record_approvers(doc)[w.approved_by])
	w.expires >= lib.today
	cap < lib.today
	f := lib.finding(doc, "GOV-07", "version", ["exceptions", i, "expires"], sprintf(
		"exception for %s was approved more than %d days ago (it lapsed on %s) and no longer applies: renew it with a new approval or remove it",
		[w.rule, lib.waiver_max_days, cap],
	))
}

warn contains f if {
	some doc in lib.documents
	lib.active(doc, "GOV-07")
	some i, w in lib.exceptions(doc)
	w.expires < lib.today
	f := lib.finding(doc, "GOV-07", "version", ["exceptions", i, "expires"], sprintf(
		"exception for %s expired on %s and no longer applies: renew it with a new approval or remove it",
		[w.rule, w.expires],
	))
}

# Code-owner sign-off (CODEOWNERS) of the pull request as a whole (`input.change`): every path
# it changes (policies, schemas, templates, workflows, tooling, models, ...) needs an approval
# on the head commit from one of its owners under the base revision's CODEOWNERS, who is
# neither the author nor a committer. The caller resolves CODEOWNERS into
# `change.review.owners`: {path: [logins]}. A file listed in `change.generated` is exactly
# what modelreg generates from other files (CODEOWNERS from policy data and each model's
# owner.team): those files' owners sign it off.
deny contains f if {
	lib.rules["GOV-09"]
	r := lib.pr_review
	some path, allowed in object.get(r, "owners", {})
	not path in object.get(input.change, "generated", [])
	count({login | some login in lib.independent_approvers(r); login in allowed}) == 0
	f := {
		"id": "GOV-09",
		"msg": sprintf(
			"[GOV-09] the pull request changes %s, which needs an approval on the head commit from a code owner (%s) who is neither the author nor a committer: request their review",
			[path, owner_list(allowed)],
		),
		"model": null,
		"version": null,
		"file": path,
		"path": [],
	}
}

owner_list(allowed) := concat(", ", sort(allowed)) if count(allowed) > 0

else := "nobody: CODEOWNERS names no owner, so no approval can count"

# The same sign-off per document, with the evidence a stage tag recorded, when there is no
# pull request as a whole to judge (the protected branch).
deny contains f if {
	some doc in lib.documents
	lib.active(doc, "GOV-09")
	not lib.pr_review
	r := doc.review
	is_object(r)
	committers := {c | some c in object.get(r, "committers", [])}
	some path, allowed in object.get(r, "owners", {})
	startswith(path, sprintf("models/%s/", [doc.name]))
	ok := {login |
		some login in approvals_on_head(r)
		login != r.pr_author
		not login in committers
		login in allowed
	}
	count(ok) == 0
	f := lib.finding(doc, "GOV-09", path, [], sprintf(
		"%s changes %s, which needs an approval on the head commit from a code owner (%s) who is neither the author nor a committer: request their review",
		[lib.label(doc), path, concat(", ", sort(allowed))],
	))
}

# GOV-06: validation findings (models/NAME/validation/ID.yaml). An open high-severity finding
# that concerns the version denies production; an open finding past its due date warns from
# staging on. modelreg sends each document the findings that concern its version.
validation_findings(doc) := doc.findings if is_array(doc.findings)

else := []

open_finding(vf) if vf.status != "closed"

deny contains f if {
	some doc in lib.documents
	lib.active(doc, "GOV-06")
	lib.at_least(doc, "production")
	some vf in validation_findings(doc)
	open_finding(vf)
	vf.severity == "high"
	f := lib.finding(doc, "GOV-06", vf.file, ["status"], sprintf(
		"validation finding %s (high: %s) is open for %s: remediate it and have the validation team close it in a reviewed pull request (due %s, owner %s)",
		[vf.id, vf.title, lib.label(doc), vf.due, vf.owner],
	))
}

warn contains f if {
	some doc in lib.documents
	lib.active(doc, "GOV-06")
	some vf in validation_findings(doc)
	open_finding(vf)
	vf.due < lib.today
	f := lib.finding(doc, "GOV-06", vf.file, ["due"], sprintf(
		"validation finding %s (%s: %s) for %s was due on %s and is still open: remediate it, or have the validation team agree a new due date",
		[vf.id, vf.severity, vf.title, lib.label(doc), vf.due],
	))
}

# Findings are the validation team's: a pull request that adds, edits, closes or deletes one
# needs an approval on the head commit from someone with a validation role who is neither its
# author nor a committer. A finding file's `raised_by` is a claim; this is the evidence.
finding_file(path) if regex.match(`^models/[^/]+/validation/[^/]+\.yaml$`, path)

deny contains f if {
	lib.rules["GOV-06"]
	r := lib.pr_review
	some path in object.get(input.change, "files", [])
	finding_file(path)
	count({login | some login in lib.independent_approvers(r); lib.has_role(login, roles.validate)}) == 0
	f := {
		"id": "GOV-06",
		"msg": sprintf(
			"[GOV-06] the pull request changes validation finding %s, which needs an approval on the head commit from the validation team (roles: %s) who is neither the author nor a committer: request their review",
			[path, concat(", ", roles.validate)],
		),
		"model": null,
		"version": null,
		"file": path,
		"path": [],
	}
}

# A finding is closed (status: closed, with a resolution), never deleted: the change lists the
# finding files it removes (`input.change.deleted`).
deny contains f if {
	lib.rules["GOV-06"]
	some path in object.get(input.change, "deleted", [])
	finding_file(path)
	f := {
		"id": "GOV-06",
		"msg": sprintf(
			"[GOV-06] the pull request deletes validation finding %s: findings are kept as evidence; close it instead (status: closed, closed_at, resolution), approved by the validation team",
			[path],
		),
		"model": null,
		"version": null,
		"file": path,
		"path": [],
	}
}
