# Risk classification (RISK-*): EU AI Act class and internal materiality tier.
package modelreg.risk

import data.modelreg.lib

high_risk_params := data.registry.tiers.eu_ai_act.high

# Helpers rather than `not is_number(x)`: engines disagree on a builtin negated over an
# undefined reference (OPA leaves the expression undefined; regorus treats it as false).
tier_declared(doc) if is_number(doc.model.risk.tier)

class_declared(doc) if is_string(doc.model.risk.eu_ai_act["class"])

deny contains f if {
	some doc in lib.documents
	lib.active(doc, "RISK-01")
	not tier_declared(doc)
	f := lib.finding(doc, "RISK-01", "model", ["risk"], "risk.tier is not declared: set it to 1 (highest) .. 3 (lowest)")
}

deny contains f if {
	some doc in lib.documents
	lib.active(doc, "RISK-01")
	not class_declared(doc)
	f := lib.finding(doc, "RISK-01", "model", ["risk"], "risk.eu_ai_act.class is not declared: set prohibited, high, limited, minimal or gpai")
}

# Art. 5 prohibited practices: denied at every stage, whatever the stage name, never waivable.
deny contains f if {
	some doc in lib.documents
	doc.model.risk.eu_ai_act["class"] == "prohibited"
	f := lib.finding(doc, "RISK-01", "model", ["risk", "eu_ai_act", "class"], sprintf(
		"%s is classed as a prohibited AI practice (EU AI Act Art. 5): it cannot be registered or deployed; withdraw it",
		[doc.name],
	))
}

needs_assessment(doc) if lib.tier(doc).impact_assessment == true

needs_assessment(doc) if {
	lib.high_risk(doc)
	high_risk_params.impact_assessment == true
}

deny contains f if {
	some doc in lib.documents
	lib.active(doc, "RISK-02")
	needs_assessment(doc)
	not doc.model.risk.impact_assessment.ref
	f := lib.finding(doc, "RISK-02", "model", ["risk"], sprintf(
		"%s needs an impact assessment before %s (EU AI Act Art. 27 / tier %d): add risk.impact_assessment.ref",
		[doc.name, doc.stage, doc.model.risk.tier],
	))
}

# RISK-03: the fields that decide a model's risk treatment (tier, EU AI Act class and Annex III
# area, owner, developers, intended use) are the risk function's to change (SR 11-7 model
# inventory; EU AI Act Art. 9). The caller puts model.yaml before (the base revision) and
# after (the head) into `input.change.models` for each model.yaml the pull request edits.
risk_fields := [
	["risk", "tier"],
	["risk", "eu_ai_act", "class"],
	["risk", "eu_ai_act", "annex_iii_area"],
	["owner"],
	["developers"],
	["intended_use"],
]

obj(x) := x if is_object(x)

else := {}

field(m, p) := object.get(m, p[0], null) if count(p) == 1

field(m, p) := object.get(obj(object.get(m, p[0], {})), p[1], null) if count(p) == 2

field(m, p) := object.get(obj(object.get(obj(object.get(m, p[0], {})), p[1], {})), p[2], null) if count(p) == 3

# Who may approve it: `roles.approve_risk` in tiers.yaml (the waiver approvers when a registry's
# data predates it, so the rule never goes quiet for want of a key).
risk_approvers := object.get(data.registry.tiers.roles, "approve_risk", data.registry.tiers.roles.approve_waiver)

deny contains f if {
	lib.rules["RISK-03"]
	r := lib.pr_review
	some name, m in object.get(input.change, "models", {})
	changed := [concat(".", p) | some p in risk_fields; field(m.before, p) != field(m.after, p)]
	count(changed) > 0
	count({login | some login in lib.independent_approvers(r); lib.has_role(login, risk_approvers)}) == 0
	f := {
		"id": "RISK-03",
		"msg": sprintf(
			"[RISK-03] %s changes %s of model.yaml, which needs an approval on the head commit from a model-risk officer (roles %s) who is neither the author nor a committer: request their review",
			[name, concat(", ", changed), concat(", ", risk_approvers)],
		),
		"model": name,
		"version": null,
		"file": sprintf("models/%s/model.yaml", [name]),
		"path": split(changed[0], "."),
	}
}
