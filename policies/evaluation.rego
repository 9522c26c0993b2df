# Evaluation (EVAL-*): thresholds met, metrics tied to lineage, per-slice results for the
# sensitive attributes the model declares (Mitchell et al. quantitative analyses).
package modelreg.evaluation

import data.modelreg.lib

high_risk_params := data.registry.tiers.eu_ai_act.high

metrics(doc) := doc.version.metrics if is_array(doc.version.metrics)

else := []

fails(value, threshold, "higher") if value < threshold

fails(value, threshold, "lower") if value > threshold

word := {"higher": "at least", "lower": "at most"}

threshold_msg(m, threshold, direction) := sprintf(
	"%s on %s (%s, slice %s) is %s but must be %s %s: improve the model, or fix the threshold in model.yaml through review",
	[m.name, m.dataset, m.split, m.slice, lib.num(m.value), word[direction], lib.num(threshold)],
)

# Thresholds recorded on the metric rows.
deny contains f if {
	some doc in lib.documents
	lib.active(doc, "EVAL-01")
	some i, m in metrics(doc)
	is_number(m.threshold)
	fails(m.value, m.threshold, m.direction)
	f := lib.finding(doc, "EVAL-01", "version", ["metrics", i, "value"], threshold_msg(m, m.threshold, m.direction))
}

declared(doc) := doc.model.evaluation.thresholds if is_array(doc.model.evaluation.thresholds)

else := []

matches(t, m) if {
	m.name == t.metric
	object.get(t, "dataset", m.dataset) == m.dataset
	object.get(t, "slice", m.slice) == m.slice
}

# Thresholds declared in model.yaml: every one needs a metric row, and every row meets it.
deny contains f if {
	some doc in lib.documents
	is_object(doc.version)
	lib.active(doc, "EVAL-01")
	some t in declared(doc)
	some i, m in metrics(doc)
	m.name == t.metric
	matches(t, m)
	fails(m.value, t.threshold, t.direction)
	f := lib.finding(doc, "EVAL-01", "version", ["metrics", i, "value"], threshold_msg(m, t.threshold, t.direction))
}

deny contains f if {
	some doc in lib.documents
	is_object(doc.version)
	lib.active(doc, "EVAL-01")
	some j, t in declared(doc)
	count([m | some m in metrics(doc); m.name == t.metric; matches(t, m)]) == 0
	f := lib.finding(doc, "EVAL-01", "version", ["metrics"], sprintf(
		"model.yaml declares a threshold for %s (dataset %s, slice %s) but the version has no such metric: evaluate it and record the result",
		[t.metric, object.get(t, "dataset", "any"), object.get(t, "slice", "any")],
	))
}

deny contains f if {
	some doc in lib.documents
	lib.active(doc, "EVAL-02")
	some i, m in metrics(doc)
	count([d | some d in doc.version.datasets; d.id == m.dataset]) == 0
	f := lib.finding(doc, "EVAL-02", "version", ["metrics", i, "dataset"], sprintf(
		"metric %s names dataset %s, which is not in the version's datasets: add it to datasets or fix the name",
		[m.name, m.dataset],
	))
}

deny contains f if {
	some doc in lib.documents
	lib.active(doc, "EVAL-02")
	some i, m in metrics(doc)
	count([d | some d in doc.version.datasets; d.id == m.dataset]) > 0
	count([d | some d in doc.version.datasets; d.id == m.dataset; d.role == m.split]) == 0
	f := lib.finding(doc, "EVAL-02", "version", ["metrics", i, "split"], sprintf(
		"metric %s is reported on the %s split of %s, but that dataset has no %s role in the lineage: fix the split or the dataset role",
		[m.name, m.split, m.dataset, m.split],
	))
}

# EVAL-04: per-slice results and the worst-slice gap.
attributes(doc) := doc.model.evaluation.sensitive_attributes if is_array(doc.model.evaluation.sensitive_attributes)

else := []

tolerance(doc) := doc.model.evaluation.max_slice_gap if is_number(doc.model.evaluation.max_slice_gap)

else := lib.tier(doc).max_slice_gap

slice_rows(doc, o, attr) := [[i, m] |
	some i, m in metrics(doc)
	m.name == o.name
	m.dataset == o.dataset
	m.split == o.split
	startswith(m.slice, concat("", [attr, "="]))
	not contains(m.slice, ",")
]

gap(o, values) := o.value - min(values) if o.direction != "lower"

else := max(values) - o.value

slice_findings(doc) := missing | too_wide if {
	missing := {f |
		some attr in attributes(doc)
		some o in metrics(doc)
		o.slice == "overall"
		count(slice_rows(doc, o, attr)) == 0
		f := lib.finding(doc, "EVAL-04", "version", ["metrics"], sprintf(
			"no per-slice results for sensitive attribute %s on %s (%s, %s): evaluate each %s group and record slice %s=<value> rows",
			[attr, o.name, o.dataset, o.split, attr, attr],
		))
	}
	too_wide := {f |
		some attr in attributes(doc)
		some o in metrics(doc)
		o.slice == "overall"
		rows := slice_rows(doc, o, attr)
		count(rows) > 0
		g := gap(o, [r[1].value | some r in rows])
		g > tolerance(doc)
		f := lib.finding(doc, "EVAL-04", "version", ["metrics"], sprintf(
			"worst %s slice of %s on %s is %s from overall, over the tolerance %s: mitigate the gap or record an approved exception",
			[attr, o.name, o.dataset, lib.num(g), lib.num(tolerance(doc))],
		))
	}
}

# Denies from production for tier-1 or EU high-risk models; warns otherwise.
gap_denies(doc) if {
	lib.at_least(doc, "production")
	lib.tier(doc).slice_gap_denies == true
}

gap_denies(doc) if {
	lib.at_least(doc, "production")
	lib.high_risk(doc)
	high_risk_params.slice_gap_denies == true
}

deny contains f if {
	some doc in lib.documents
	lib.active(doc, "EVAL-04")
	gap_denies(doc)
	some f in slice_findings(doc)
}

warn contains f if {
	some doc in lib.documents
	lib.active(doc, "EVAL-04")
	not gap_denies(doc)
	some f in slice_findings(doc)
}

# EVAL-03: metrics belong to the artifact. From staging on, every metric row names (by sha256)
# an artifact of the version, so a result measured on other weights cannot pass for this one.
artifact_hashes(doc) := {a.sha256 | some a in doc.version.artifacts; is_string(a.sha256)}

deny contains f if {
	some doc in lib.documents
	lib.active(doc, "EVAL-03")
	some i, m in metrics(doc)
	not is_string(object.get(m, "artifact_sha256", null))
	f := lib.finding(doc, "EVAL-03", "version", ["metrics", i], sprintf(
		"metric %s on %s (%s, slice %s) does not say which artifact it was computed on: record artifact_sha256 (register fills it when the metrics file names the artifact)",
		[m.name, m.dataset, m.split, m.slice],
	))
}

deny contains f if {
	some doc in lib.documents
	lib.active(doc, "EVAL-03")
	some i, m in metrics(doc)
	is_string(m.artifact_sha256)
	not m.artifact_sha256 in artifact_hashes(doc)
	f := lib.finding(doc, "EVAL-03", "version", ["metrics", i, "artifact_sha256"], sprintf(
		"metric %s was computed on artifact %s, which is not an artifact of %s: evaluate the registered weights and record that result",
		[m.name, substring(m.artifact_sha256, 0, 12), lib.label(doc)],
	))
}

# EVAL-05: champion / challenger. A version checked at production is compared with the version
# it takes production from (modelreg builds the comparison: metrics both report, row by row,
# `worse_by` in each metric's direction). Worse by more than the tier's tolerance denies,
# unless a model-risk officer approved this pull request (or the promotion tag recorded it).
regression_tolerance(doc, metric) := lib.tier(doc).regression.metrics[metric] if is_number(lib.tier(doc).regression.metrics[metric])

else := lib.tier(doc).regression["default"] if is_number(lib.tier(doc).regression["default"])

else := 0

regressions(doc) := [c |
	some c in doc.champion.comparison
	is_number(c.worse_by)
	c.worse_by > regression_tolerance(doc, c.metric)
]

# Who accepts the regression: stages.yaml names them (`accept_regression.approved_by` on the
# stage), they hold an approve_regression role, and they approved this pull request (or the
# promotion tag recorded their approval). The name alone vouches for nobody.
acceptance(doc) := doc.stages.accepted[doc.stage] if is_object(doc.stages.accepted[doc.stage])

regression_approvers(doc) := {login |
	login := acceptance(doc).approved_by
	lib.has_role(login, data.registry.tiers.roles.approve_regression)
	r := doc.review
	is_object(r)
	login in lib.independent_approvers(r)
}

regression_msg(doc, c) := sprintf(
	"%s is worse than %s (holding production) on %s, %s %s slice %s: %s against %s, by %s over the tolerance %s",
	[lib.label(doc), doc.champion.version, c.metric, c.dataset, c.split, c.slice, lib.num(c.challenger), lib.num(c.champion), lib.num(c.worse_by), lib.num(regression_tolerance(doc, c.metric))],
)

deny contains f if {
	some doc in lib.documents
	lib.active(doc, "EVAL-05")
	lib.at_least(doc, "production")
	is_object(doc.review)
	count(regression_approvers(doc)) == 0
	some c in regressions(doc)
	f := lib.finding(doc, "EVAL-05", "version", ["metrics", c.index, "value"], sprintf(
		"%s: improve the model, or have someone with role %s accept the regression (modelreg promote --accept-regression) and approve the pull request%s",
		[regression_msg(doc, c), concat(", ", data.registry.tiers.roles.approve_regression), unvouched(doc)],
	))
}

# No review to judge yet (a promotion being prepared): say what its pull request will need.
warn contains f if {
	some doc in lib.documents
	lib.active(doc, "EVAL-05")
	lib.at_least(doc, "production")
	not is_object(object.get(doc, "review", null))
	some c in regressions(doc)
	f := lib.finding(doc, "EVAL-05", "version", ["metrics", c.index, "value"], sprintf(
		"%s: its pull request needs someone with role %s to accept the regression (modelreg promote --accept-regression REASON --accepted-by LOGIN) and approve it",
		[regression_msg(doc, c), concat(", ", data.registry.tiers.roles.approve_regression)],
	))
}

unvouched(doc) := sprintf(" (stages.yaml names %s, who has no such role or did not approve this pull request)", [acceptance(doc).approved_by]) if is_string(acceptance(doc).approved_by)

else := ""

warn contains f if {
	some doc in lib.documents
	lib.active(doc, "EVAL-05")
	lib.at_least(doc, "production")
	approvers := regression_approvers(doc)
	count(approvers) > 0
	some c in regressions(doc)
	f := lib.finding(doc, "EVAL-05", "version", ["metrics", c.index, "value"], sprintf(
		"%s; accepted by %s: %s",
		[regression_msg(doc, c), concat(", ", sort(approvers)), acceptance(doc).reason],
	))
}

warn contains f if {
	some doc in lib.documents
	lib.active(doc, "EVAL-05")
	lib.at_least(doc, "production")
	doc.champion.record == false
	f := lib.finding(doc, "EVAL-05", "version", ["metrics"], sprintf(
		"%s takes production from %s, whose record cannot be read: the two cannot be compared (restore models/%s/versions/%s.yaml from git history)",
		[lib.label(doc), doc.champion.version, doc.name, doc.champion.version],
	))
}

# EVAL-06: robustness and security tests for EU high-risk models (Art. 15): recorded before
# production, and none failed.
robustness(doc) := doc.version.robustness if is_array(doc.version.robustness)

else := []

deny contains f if {
	some doc in lib.documents
	is_object(doc.version)
	lib.active(doc, "EVAL-06")
	lib.high_risk(doc)
	count(robustness(doc)) == 0
	f := lib.finding(doc, "EVAL-06", "version", [], sprintf(
		"%s is EU high-risk and records no robustness or security tests: run them (perturbation, distribution shift, adversarial, security) and record each under robustness with its result and date",
		[lib.label(doc)],
	))
}

deny contains f if {
	some doc in lib.documents
	lib.active(doc, "EVAL-06")
	lib.high_risk(doc)
	some i, t in robustness(doc)
	t.result == "fail"
	f := lib.finding(doc, "EVAL-06", "version", ["robustness", i, "result"], sprintf(
		"robustness test '%s' of %s failed on %s: make the model robust to it and record the passing run, or record an approved exception",
		[t.test, lib.label(doc), t.date],
	))
}
