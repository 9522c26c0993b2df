# Identity: names, versions, ownership and licence (docs/policies.md#identity, ID-*).
package modelreg.identity

import data.modelreg.lib

teams := data.registry.teams.teams

allowed_licenses := data.registry.licenses.allowed

deny contains f if {
	some doc in lib.documents
	lib.active(doc, "ID-02")
	doc.model.name != doc.name
	f := lib.finding(doc, "ID-02", "model", ["name"], sprintf(
		"model.yaml name %s differs from its folder models/%s: make them the same",
		[doc.model.name, doc.name],
	))
}

deny contains f if {
	some doc in lib.documents
	lib.active(doc, "ID-03")
	v := doc.version.version
	not semver.is_valid(v)
	f := lib.finding(doc, "ID-03", "version", ["version"], sprintf(
		"version %s is not SemVer: use MAJOR.MINOR.PATCH", [v],
	))
}

deny contains f if {
	some doc in lib.documents
	lib.active(doc, "ID-03")
	v := doc.version.version
	not endswith(doc.files.version, sprintf("/%s.yaml", [v]))
	f := lib.finding(doc, "ID-03", "version", ["version"], sprintf(
		"version %s does not match its file name %s: rename the file or fix the field",
		[v, doc.files.version],
	))
}

deny contains f if {
	some doc in lib.documents
	lib.active(doc, "ID-03")
	doc.version.model != doc.name
	f := lib.finding(doc, "ID-03", "version", ["model"], sprintf(
		"version record names model %s but lives under models/%s: fix the model field",
		[doc.version.model, doc.name],
	))
}

# A registered version is immutable: its record is evidence (SR 11-7 change control).
deny contains f if {
	some doc in lib.documents
	lib.active(doc, "ID-03")
	v := doc.version.version
	v in doc.registered_versions
	doc.files.version in doc.change.files
	f := lib.finding(doc, "ID-03", "version", [], sprintf(
		"%s@v%s is registered (its tag exists), so its record must not change: revert the edit and register a new version",
		[doc.name, v],
	))
}

deny contains f if {
	some doc in lib.documents
	lib.active(doc, "ID-04")
	v := doc.version.version
	current := doc.stages.held[doc.stage]
	semver.is_valid(v)
	semver.is_valid(current)
	semver.compare(v, current) < 0
	not doc.stage in doc.stages.rollback
	f := lib.finding(doc, "ID-04", "stages", ["stages", doc.stage], sprintf(
		"%s would downgrade %s from %s to %s: set rollback: true on the stages.yaml entry (with a reason) or promote a newer version",
		[doc.name, doc.stage, current, v],
	))
}

deny contains f if {
	some doc in lib.documents
	lib.active(doc, "ID-05")
	team := doc.model.owner.team
	not teams[team]
	f := lib.finding(doc, "ID-05", "model", ["owner", "team"], sprintf(
		"owner team %s is not in policies/data/teams.yaml: use a listed team or add it there",
		[team],
	))
}

deny contains f if {
	some doc in lib.documents
	lib.active(doc, "ID-05")
	team := doc.model.owner.team
	teams[team]
	count([p | some p in lib.people; team in p.teams]) == 0
	f := lib.finding(doc, "ID-05", "model", ["owner", "team"], sprintf(
		"owner team %s has no members in policies/data/people.yaml: add at least one person to it",
		[team],
	))
}

deny contains f if {
	some doc in lib.documents
	lib.active(doc, "ID-05")
	person := doc.model.owner.business_owner
	not lib.people[person]
	f := lib.finding(doc, "ID-05", "model", ["owner", "business_owner"], sprintf(
		"business owner %s is not in policies/data/people.yaml: add the person or name a listed one",
		[person],
	))
}

deny contains f if {
	some doc in lib.documents
	lib.active(doc, "ID-05")
	some i, person in object.get(doc.model, "developers", [])
	not lib.people[person]
	f := lib.finding(doc, "ID-05", "model", ["developers", i], sprintf(
		"developer %s is not in policies/data/people.yaml: add the person or remove the entry",
		[person],
	))
}

deny contains f if {
	some doc in lib.documents
	lib.active(doc, "ID-06")
	lic := doc.model.license
	lic != "other"
	not lic in allowed_licenses
	f := lib.finding(doc, "ID-06", "model", ["license"], sprintf(
		"licence %s is not on the allow-list (policies/data/licenses.yaml): choose an allowed licence or ask governance to add it",
		[lic],
	))
}

deny contains f if {
	some doc in lib.documents
	lib.active(doc, "ID-06")
	doc.model.license == "other"
	not doc.model.license_link
	f := lib.finding(doc, "ID-06", "model", ["license"], "licence other needs license_link (and license_name): say where the licence text is")
}

# ID-08: JSON has no NaN or Infinity, so the input builder takes such a value out of the
# document and lists where it was (doc.non_finite); each one is a finding, never an engine
# error that stops the whole batch.
deny contains f if {
	some doc in lib.documents
	lib.active(doc, "ID-08")
	some bad in object.get(doc, "non_finite", [])
	f := lib.finding(doc, "ID-08", bad.file, bad.path, sprintf(
		"%s is %s, not a finite number: record the real value (a failed evaluation is not a metric)",
		[concat(".", [sprintf("%v", [p]) | some p in bad.path]), bad.value],
	))
}

# ID-07: a derived model's base model is a registered version of a model of this registry or
# an allow-listed external model, and its licence permits derivation. modelreg resolves the
# reference over the whole registry (`lineage.base`).
derivation_licenses := object.get(data.registry.licenses, "derivation", [])

external_models := object.get(data.registry.licenses, "external_models", {})

base_of(doc) := doc.lineage.base if is_object(doc.lineage.base)

deny contains f if {
	some doc in lib.documents
	lib.active(doc, "ID-07")
	b := base_of(doc)
	b.source == "registry"
	not b.registered
	f := lib.finding(doc, "ID-07", "model", ["base_model"], sprintf(
		"base model %s%s is not a registered version of %s: register it first, or name a registered version",
		[b.id, version_suffix(b), b.id],
	))
}

deny contains f if {
	some doc in lib.documents
	lib.active(doc, "ID-07")
	b := base_of(doc)
	b.source == "registry"
	not b.license in derivation_licenses
	f := lib.finding(doc, "ID-07", "model", ["base_model"], sprintf(
		"base model %s is licensed %s, which does not permit derived models (policies/data/licenses.yaml derivation): choose another base model, or have governance review the licence",
		[b.id, object.get(b, "license", "without a licence")],
	))
}

deny contains f if {
	some doc in lib.documents
	lib.active(doc, "ID-07")
	b := base_of(doc)
	b.source == "external"
	not external_models[b.id]
	f := lib.finding(doc, "ID-07", "model", ["base_model", "id"], sprintf(
		"base model %s is neither a model of this registry nor an allow-listed external model: register it, or have governance add it to external_models in policies/data/licenses.yaml",
		[b.id],
	))
}

deny contains f if {
	some doc in lib.documents
	lib.active(doc, "ID-07")
	b := base_of(doc)
	b.source == "external"
	allowed := external_models[b.id]
	not allowed.license in derivation_licenses
	f := lib.finding(doc, "ID-07", "model", ["base_model", "id"], sprintf(
		"base model %s is licensed %s, which does not permit derived models: choose another base model",
		[b.id, allowed.license],
	))
}

deny contains f if {
	some doc in lib.documents
	lib.active(doc, "ID-07")
	b := base_of(doc)
	b.source == "external"
	revisions := external_models[b.id].revisions
	not b.version in revisions
	f := lib.finding(doc, "ID-07", "model", ["base_model", "version"], sprintf(
		"base model %s is allowed at revisions %s only, not %s: use an allowed revision or have governance review this one",
		[b.id, concat(", ", revisions), object.get(b, "version", "(none given)")],
	))
}

version_suffix(b) := sprintf(" %s", [b.version]) if is_string(b.version)

else := ""
