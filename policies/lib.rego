# Shared helpers for every policy family: stage order, rule gates, waivers and lookups.
#
# Portable subset (docs/policies.md#writing-portable-policies): no bare `data`, no `**`
# globs, no rego.metadata, no template strings; messages are built with sprintf on strings
# and numbers only.
package modelreg.lib

# Stage order is data: `registered`, then the stages of environments.yaml in promotion order.
stages := array.concat(["registered"], [s.name | some s in data.registry.environments.stages])

# The documents the rules judge: each of `input.models` joined with what every document of its
# model shares, sent once per model (`input.shared`: model.yaml and the card); a document's own
# keys win. Every rule reads documents through this, never `input.models` itself.
documents := [object.union(object.get(shared, doc.name, {}), doc) | some doc in input.models]

shared := object.get(input, "shared", {})

# Complete rules, computed once per evaluation: a lookup into a rule costs a fraction of a
# lookup into `data.registry` or a call that redoes it for every document of the batch.
rank := {name: i | some i, name in stages}

rules := data.registry.rules.rules

# The rule ids each stage gates: a rule gates the stage rules.yaml gives it and every later
# stage.
enabled := {stage: {id | some id, rule in rules; rank[stage] >= rank[rule.stage]} | some stage in stages}

active(doc, id) if id in enabled[doc.stage]

at_least(doc, stage) if rank[doc.stage] >= rank[stage]

today := substring(input.now, 0, 10)

version_id(doc) := doc.version.version if is_string(doc.version.version)

else := null

tier_key(doc) := sprintf("%d", [doc.model.risk.tier])

tiers := data.registry.tiers.tiers

tier(doc) := tiers[tier_key(doc)]

high_risk(doc) if doc.model.risk.eu_ai_act["class"] == "high"

people := data.registry.people.people

waiver_approvers := data.registry.tiers.roles.approve_waiver

has_role(login, roles) if {
	some role in people[login].roles
	role in roles
}

exceptions(doc) := doc.version.exceptions if is_array(doc.version.exceptions)

else := []

# Who approved the pull request that introduced or last changed the version record, and when
# (RFC 3339): built by modelreg from that pull request's reviews on its head commit, or from
# the reviews its registration tag recorded. A record field naming an approver is a claim;
# this is the evidence (docs/policies.md#waivers).
record_approvers(doc) := doc.record_approvals.by if is_object(doc.record_approvals.by)

else := {}

record_source(doc) := doc.record_approvals.source if is_string(doc.record_approvals.source)

else := "no pull request review"

# The person approved the pull request that introduced the record.
vouched(doc, login) if is_string(record_approvers(doc)[login])

day_ns := ((24 * 60) * 60) * 1000000000

# The longest a waiver lasts after its approval, whatever its `expires` says.
waiver_max_days := data.registry.tiers.waivers.max_days if is_number(data.registry.tiers.waivers.max_days)

else := 365

# The last day a waiver approved at `at` (RFC 3339) may apply.
waiver_cap(at) := sprintf("%d-%02d-%02d", time.date(time.parse_rfc3339_ns(at) + (waiver_max_days * day_ns)))

# The day a waiver stops applying: its own `expires`, or the cap when that comes first.
waiver_until(doc, w) := until if {
	cap := waiver_cap(record_approvers(doc)[w.approved_by])
	until := min({w.expires, cap})
}

# A waiver applies when its rule is waivable, its approver has a waiver role and approved
# the pull request that introduced it, and neither its expiry nor the cap counted from that
# approval has passed (conftest exceptions; SR 11-7 exceptions must be approved and
# time-limited).
waiver_applies(doc, w) if {
	rules[w.rule].waivable == true
	has_role(w.approved_by, waiver_approvers)
	is_string(w.expires)
	waiver_until(doc, w) >= today
}

# The finding record every rule returns; `file` names a key of doc.files (or a path) and
# `path` the offending value inside it, so the caller can point at file:line.
finding(doc, id, file, path, msg) := {
	"id": id,
	"msg": sprintf("[%s] %s", [id, msg]),
	"model": doc.name,
	"version": version_id(doc),
	"file": file,
	"path": path,
}

# Numbers in messages: fixed precision so every engine prints the same text (a whole number,
# which JSON may carry as 1 or 1.0, is printed with the same four decimals).
num(x) := sprintf("%d.0000", [x]) if x == floor(x)

else := sprintf("%.4f", [x])

# "credit-default 1.2.0" or just "credit-default" for a model-level document.
label(doc) := sprintf("%s %s", [doc.name, doc.version.version]) if is_string(doc.version.version)

else := doc.name

# The pull request's review as a whole (`input.change.review`), when the caller judges one:
# rules about what the pull request changes (GOV-09, RISK-03) read it, not a document's review
# (which, for a version the pull request leaves alone, is the evidence its tag recorded).
pr_review := input.change.review if is_object(input.change.review)

# Logins that approved the pull request's head commit and are neither its author nor one of
# its committers (a later CHANGES_REQUESTED or DISMISSED review withdraws an approval).
independent_approvers(r) := {login |
	some i, rv in r.reviews
	rv.state == "APPROVED"
	rv.commit_id == r.head
	login := rv.user.login
	not withdrawn(r, login, i)
	login != r.pr_author
	not login in {c | some c in object.get(r, "committers", [])}
}

withdrawn(r, login, i) if {
	some j, later in r.reviews
	j > i
	later.user.login == login
	later.state in {"CHANGES_REQUESTED", "DISMISSED"}
}
