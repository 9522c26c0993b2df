# Risk classification (RISK-*): EU AI Act class and internal materiality tier.
package modelreg.risk

import data.modelreg.lib

high_risk_params := data.registry.tiers.eu_ai_act.high

# Helpers rather than `not is_number(x)`: engines disagree on a builtin negated over an
# undefined reference (OPA leaves the expression undefined; regorus treats it as false).
tier_declared(doc) if is_number(doc.model.risk.tier)

class_declared(doc) if is_string(doc.model.risk.eu_ai_act["class"])

deny contains f if {
	some doc in input.models
	lib.active(doc, "RISK-01")
	not tier_declared(doc)
	f := lib.finding(doc, "RISK-01", "model", ["risk"], "risk.tier is not declared: set it to 1 (highest) .. 3 (lowest)")
}

deny contains f if {
	some doc in input.models
	lib.active(doc, "RISK-01")
	not class_declared(doc)
	f := lib.finding(doc, "RISK-01", "model", ["risk"], "risk.eu_ai_act.class is not declared: set prohibited, high, limited, minimal or gpai")
}

# Art. 5 prohibited practices: denied at every stage, whatever the stage name, never waivable.
deny contains f if {
	some doc in input.models
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
	some doc in input.models
	lib.active(doc, "RISK-02")
	needs_assessment(doc)
	not doc.model.risk.impact_assessment.ref
	f := lib.finding(doc, "RISK-02", "model", ["risk"], sprintf(
		"%s needs an impact assessment before %s (EU AI Act Art. 27 / tier %d): add risk.impact_assessment.ref",
		[doc.name, doc.stage, doc.model.risk.tier],
	))
}
