# Ongoing monitoring (MON-*): what production traffic showed since a version took the last
# stage (SR 11-7 ongoing monitoring, EU AI Act Art. 72, NIST AI RMF MANAGE 4.1).
#
# `doc.monitoring` is built by modelreg from the version's monitoring records
# (models/NAME/monitoring/X.Y.Z/YYYY-MM-DD.yaml), judged again from their values against
# model.yaml's monitoring_plan.thresholds; a record's own `breaches:` list is never read.
package modelreg.monitoring

import data.modelreg.lib

day_ns := ((24 * 60) * 60) * 1000000000

monitoring(doc) := doc.monitoring if is_object(doc.monitoring)

else := {}

# Whole days from a date to today's date: the same answer all day long.
age(date) := (time.parse_rfc3339_ns(concat("", [lib.today, "T00:00:00Z"])) - time.parse_rfc3339_ns(concat("", [date, "T00:00:00Z"]))) / day_ns

date(x) if {
	is_string(x)
	regex.match("^[0-9]{4}-[0-9]{2}-[0-9]{2}$", x)
}

record_file(doc) := m.file if {
	m := monitoring(doc)
	is_string(m.file)
} else := "model"

shown(b) := sprintf("%s not reported (threshold %s)", [b.metric, lib.num(b.threshold)]) if b.missing == true

else := sprintf("%s of %s %s %s %s", [b.metric, b.feature, value(b.value), sign(b), lib.num(b.threshold)]) if is_string(b.feature)

else := sprintf("%s %s %s %s", [b.metric, value(b.value), sign(b), lib.num(b.threshold)])

value(x) := lib.num(x) if is_number(x)

else := "no number"

sign(b) := ">" if b.direction == "lower"

else := "<"

breaches(doc) := [shown(b) | some b in monitoring(doc).breaches]

warn contains f if {
	some doc in lib.documents
	lib.active(doc, "MON-01")
	m := monitoring(doc)
	count(object.get(m, "breaches", [])) > 0
	f := lib.finding(doc, "MON-01", record_file(doc), [], sprintf(
		"%s's monitoring window ending %s is past its thresholds: %s; investigate, then retrain, recalibrate or roll back",
		[lib.label(doc), m.last, concat(", ", breaches(doc))],
	))
}

# The day monitoring was last due to restart from: the latest record's window end, or the
# day the version took the last stage when that is later.
watched_from(m) := m.since if {
	date(m.since)
	not date(m.last)
}

watched_from(m) := m.last if {
	date(m.last)
	not date(m.since)
}

watched_from(m) := m.last if {
	date(m.last)
	date(m.since)
	m.last >= m.since
}

watched_from(m) := m.since if {
	date(m.last)
	date(m.since)
	m.last < m.since
}

warn contains f if {
	some doc in lib.documents
	lib.active(doc, "MON-02")
	m := monitoring(doc)
	is_number(m.cadence_days)
	from := watched_from(m)
	age(from) > m.cadence_days
	f := lib.finding(doc, "MON-02", "model", ["monitoring_plan", "frequency"], sprintf(
		"%s has no monitoring record since %s, %d days ago, past its cadence of %d days: record the latest window with `modelreg monitor record`",
		[lib.label(doc), from, age(from), m.cadence_days],
	))
}

grace(doc) := lib.tier(doc).monitoring.breach_grace_days if is_number(lib.tier(doc).monitoring.breach_grace_days)

else := 30

breach_denies(doc) if {
	lib.at_least(doc, "production")
	lib.tier(doc).monitoring.breach_denies == true
}

persisting(doc) := f if {
	lib.active(doc, "MON-03")
	m := monitoring(doc)
	date(m.breach_since)
	age(m.breach_since) > grace(doc)
	f := lib.finding(doc, "MON-03", record_file(doc), [], sprintf(
		"%s has been past its monitoring thresholds since the window ending %s, %d days, longer than the %d days its tier allows: retrain, recalibrate or roll back (%s)",
		[lib.label(doc), m.breach_since, age(m.breach_since), grace(doc), concat(", ", breaches(doc))],
	))
}

deny contains f if {
	some doc in lib.documents
	breach_denies(doc)
	f := persisting(doc)
}

warn contains f if {
	some doc in lib.documents
	not breach_denies(doc)
	f := persisting(doc)
}
