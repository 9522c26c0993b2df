# Model card (CARD-*): required sections per stage, front matter that agrees with metadata.
# `modelreg register` renders the card with the first version, so a model without versions
# has nothing to document yet.
package modelreg.card

import data.modelreg.lib

cards := data.registry.cards

# The sections each stage requires, computed once per stage rather than once per document.
sections_at(group) := {at: {section |
	some stage, sections in group
	lib.rank[stage] <= lib.rank[at]
	some section in sections
} | some at in lib.stages}

required_at := sections_at(cards.required)

high_risk_required_at := sections_at(cards.high_risk)

required(doc) := object.get(required_at, doc.stage, set())

high_risk_required(doc) := object.get(high_risk_required_at, doc.stage, set()) if lib.high_risk(doc)

else := set()

filled(doc, section) if count(trim_space(doc.card.sections[section])) >= cards.min_chars

card_path(doc) := doc.files.card

deny contains f if {
	some doc in lib.documents
	lib.active(doc, "CARD-01")
	is_object(doc.version)
	not is_object(doc.card)
	count(required(doc)) > 0
	f := lib.finding(doc, "CARD-01", "card", [], sprintf(
		"%s has no model card: write %s with the sections %s",
		[doc.name, card_path(doc), concat(", ", sort(required(doc)))],
	))
}

deny contains f if {
	some doc in lib.documents
	lib.active(doc, "CARD-01")
	is_object(doc.card)
	some section in required(doc)
	not filled(doc, section)
	f := lib.finding(doc, "CARD-01", "card", ["sections", section], sprintf(
		"card section '## %s' is missing, still holds a placeholder or has fewer than %d characters of text; %s needs it: write it",
		[section, cards.min_chars, doc.stage],
	))
}

deny contains f if {
	some doc in lib.documents
	lib.active(doc, "CARD-02")
	is_object(doc.card)
	want := doc.model.library_name
	got := object.get(doc.card.front_matter, "library_name", "(none)")
	got != want
	f := lib.finding(doc, "CARD-02", "card", ["front_matter", "library_name"], sprintf(
		"card front matter library_name is %s but model.yaml says %s: regenerate the card (modelreg card NAME --write) or fix the front matter",
		[format(got), want],
	))
}

deny contains f if {
	some doc in lib.documents
	lib.active(doc, "CARD-02")
	is_object(doc.card)
	want := doc.model.license
	not license_agrees(doc.card.front_matter, want)
	got := object.get(doc.card.front_matter, "license", "(none)")
	f := lib.finding(doc, "CARD-02", "card", ["front_matter", "license"], sprintf(
		"card front matter license is %s but model.yaml says %s: regenerate the card (modelreg card NAME --write) or fix the front matter",
		[format(got), want],
	))
}

# The Hub's licence ids are lower-case SPDX; a licence it does not know (e.g.
# proprietary-internal) is `license: other` with `license_name` (hub-docs model-cards).
license_agrees(fm, want) if {
	is_string(fm.license)
	is_string(want)
	lower(fm.license) == lower(want)
}

license_agrees(fm, want) if {
	fm.license == "other"
	fm.license_name == lower(want)
}

# The Hub takes `license: other` only with `license_name` and `license_link` (hub-docs
# model-cards): a licence that is not one of its ids needs model.yaml's license_link.
deny contains f if {
	some doc in lib.documents
	lib.active(doc, "CARD-02")
	is_object(doc.card)
	doc.card.front_matter.license == "other"
	some key in ["license_name", "license_link"]
	not filled_string(object.get(doc.card.front_matter, key, null))
	f := lib.finding(doc, "CARD-02", "card", ["front_matter", key], sprintf(
		"card front matter says license: other without %s; the Hub needs license_name and license_link with it: set license_link (and, for `other`, license_name) in model.yaml and regenerate the card (modelreg card NAME --write)",
		[key],
	))
}

filled_string(x) if {
	is_string(x)
	trim_space(x) != ""
}

deny contains f if {
	some doc in lib.documents
	lib.active(doc, "CARD-02")
	is_object(doc.card)
	listed := {d | some d in object.get(doc.card.front_matter, "datasets", [])}
	some d in doc.version.datasets
	not d.id in listed
	f := lib.finding(doc, "CARD-02", "card", ["front_matter", "datasets"], sprintf(
		"card front matter datasets does not list %s, which %s was trained or evaluated on: add it",
		[d.id, lib.label(doc)],
	))
}

format(x) := x if is_string(x)

else := "a non-string value"

deny contains f if {
	some doc in lib.documents
	lib.active(doc, "CARD-03")
	is_object(doc.card)
	some section in high_risk_required(doc)
	not filled(doc, section)
	f := lib.finding(doc, "CARD-03", "card", ["sections", section], sprintf(
		"EU high-risk models need card section '## %s' at %s (EU AI Act Art. 9, 12-14): write it",
		[section, doc.stage],
	))
}
