# Operations (OPS-*): monitoring, known stages in order, logging for high-risk systems.
package modelreg.operations

import data.modelreg.lib

environments := data.registry.environments.stages

high_risk_params := data.registry.tiers.eu_ai_act.high

deny contains f if {
	some doc in lib.documents
	lib.active(doc, "OPS-01")
	missing := [k |
		some k in ["metrics", "thresholds", "frequency", "owner"]
		not doc.model.monitoring_plan[k]
	]
	count(missing) > 0
	f := lib.finding(doc, "OPS-01", "model", ["monitoring_plan"], sprintf(
		"%s needs a monitoring plan before %s; missing: %s",
		[doc.name, doc.stage, concat(", ", missing)],
	))
}

deny contains f if {
	some doc in lib.documents
	lib.active(doc, "OPS-02")
	some stage, wanted in doc.stages.requested
	wanted == lib.version_id(doc)
	not lib.rank[stage]
	f := lib.finding(doc, "OPS-02", "stages", ["stages", stage], sprintf(
		"stage %s is not in policies/data/environments.yaml: use one of %s",
		[stage, concat(", ", lib.stages)],
	))
}

# Stage order (environments.yaml `requires`): production only after staging, by default.
deny contains f if {
	some doc in lib.documents
	lib.active(doc, "OPS-02")
	some env in environments
	env.name == doc.stage
	before := env.requires
	v := lib.version_id(doc)
	object.get(doc.stages.held, doc.stage, null) != v
	not before in doc.stages.history
	object.get(doc.stages.held, before, null) != v
	f := lib.finding(doc, "OPS-02", "stages", ["stages", doc.stage], sprintf(
		"%s %s has never been in %s, which %s requires: promote it to %s first",
		[doc.name, v, before, doc.stage, before],
	))
}

deny contains f if {
	some doc in lib.documents
	lib.active(doc, "OPS-03")
	lib.high_risk(doc)
	minimum := high_risk_params.min_log_retention_days
	object.get(doc.model, ["logging", "retention_days"], 0) < minimum
	f := lib.finding(doc, "OPS-03", "model", ["logging"], sprintf(
		"high-risk models must keep logs for at least %d days (EU AI Act Art. 19, 26(6)): set logging.retention_days",
		[minimum],
	))
}

# Retirement (SR 11-7 model inventory, NIST AI RMF GOVERN 1.7): a retired model is taken out
# of every stage first, says when and why, and is never promoted again.
retirement(doc) := doc.model.retirement if is_object(doc.model.retirement)

deny contains f if {
	some doc in lib.documents
	lib.active(doc, "OPS-04")
	r := retirement(doc)
	missing := [k |
		some k in ["date", "reason"]
		not filled_text(object.get(r, k, null))
	]
	count(missing) > 0
	f := lib.finding(doc, "OPS-04", "model", ["retirement"], sprintf(
		"%s is retired without a %s: record when and why in model.yaml retirement",
		[doc.name, concat(" and ", missing)],
	))
}

deny contains f if {
	some doc in lib.documents
	lib.active(doc, "OPS-04")
	retirement(doc)
	v := lib.version_id(doc)
	some stage, held in doc.stages.held
	held == v
	f := lib.finding(doc, "OPS-04", "model", ["retirement"], sprintf(
		"%s is retired but %s still holds %s: take it out of every stage first (modelreg deprecate %s), then retire it",
		[doc.name, v, stage, doc.name],
	))
}

deny contains f if {
	some doc in lib.documents
	lib.active(doc, "OPS-04")
	retirement(doc)
	v := lib.version_id(doc)
	some stage, wanted in doc.stages.requested
	wanted == v
	object.get(doc.stages.held, stage, null) != v
	f := lib.finding(doc, "OPS-04", "stages", ["stages", stage], sprintf(
		"%s is retired: %s cannot be promoted to %s",
		[doc.name, v, stage],
	))
}

filled_text(x) if {
	is_string(x)
	trim_space(x) != ""
}
