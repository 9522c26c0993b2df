# Data lineage (DATA-*): datasets are registered, content-hashed, disjoint and lawful.
package modelreg.lineage

import data.modelreg.lib

registered := data.registry.datasets.datasets

allowed_licenses := data.registry.licenses.allowed

datasets(doc) := doc.version.datasets if is_array(doc.version.datasets)

else := []

deny contains f if {
	some doc in lib.documents
	lib.active(doc, "DATA-01")
	some i, d in datasets(doc)
	not registered[d.id]
	f := lib.finding(doc, "DATA-01", "version", ["datasets", i, "id"], sprintf(
		"dataset %s is not registered: add it with its revision and sha256 to policies/data/datasets.yaml",
		[d.id],
	))
}

deny contains f if {
	some doc in lib.documents
	lib.active(doc, "DATA-02")
	some i, d in datasets(doc)
	registered[d.id]
	not registered[d.id].revisions[d.revision]
	f := lib.finding(doc, "DATA-02", "version", ["datasets", i, "revision"], sprintf(
		"dataset %s has no registered revision %s: register the revision in policies/data/datasets.yaml",
		[d.id, d.revision],
	))
}

deny contains f if {
	some doc in lib.documents
	lib.active(doc, "DATA-02")
	some i, d in datasets(doc)
	expected := registered[d.id].revisions[d.revision].sha256
	expected != d.sha256
	f := lib.finding(doc, "DATA-02", "version", ["datasets", i, "sha256"], sprintf(
		"dataset %s revision %s has sha256 %s but the registry says %s: train on the registered data or register the new revision",
		[d.id, d.revision, d.sha256, expected],
	))
}

roles(doc, wanted) := [d | some d in datasets(doc); d.role in wanted]

deny contains f if {
	some doc in lib.documents
	lib.active(doc, "DATA-03")
	count(roles(doc, {"train"})) == 0
	f := lib.finding(doc, "DATA-03", "version", ["datasets"], "no dataset has role train: record the training data")
}

deny contains f if {
	some doc in lib.documents
	lib.active(doc, "DATA-03")
	count(roles(doc, {"test", "validation"})) == 0
	f := lib.finding(doc, "DATA-03", "version", ["datasets"], "no dataset has role test or validation: evaluate on held-out data and record it")
}

deny contains f if {
	some doc in lib.documents
	lib.active(doc, "DATA-03")
	some train in roles(doc, {"train"})
	some test in roles(doc, {"test", "validation"})
	overlap(train, test)
	f := lib.finding(doc, "DATA-03", "version", ["datasets"], sprintf(
		"test data %s is also training data %s (same id or content): evaluate on disjoint data",
		[test.id, train.id],
	))
}

overlap(a, b) if a.id == b.id

overlap(a, b) if a.sha256 == b.sha256

personal(d) if d.contains_personal_data == true

personal(d) if registered[d.id].contains_personal_data == true

deny contains f if {
	some doc in lib.documents
	lib.active(doc, "DATA-04")
	some i, d in datasets(doc)
	personal(d)
	not registered[d.id].legal_basis
	f := lib.finding(doc, "DATA-04", "version", ["datasets", i], sprintf(
		"dataset %s holds personal data but has no legal_basis in policies/data/datasets.yaml: record the legal basis or DPIA reference",
		[d.id],
	))
}

deny contains f if {
	some doc in lib.documents
	lib.active(doc, "DATA-05")
	some i, d in datasets(doc)
	lic := registered[d.id].license
	not lic in allowed_licenses
	f := lib.finding(doc, "DATA-05", "version", ["datasets", i], sprintf(
		"dataset %s has licence %s, which is not on the allow-list: use other data or have governance allow the licence",
		[d.id, lic],
	))
}

# DATA-06: the lineage graph over the whole registry (parent versions and base models) is
# acyclic and every reference resolves. modelreg follows the references from each document
# (`lineage`: its parent and whether it has a record, and any cycle reachable from it).
deny contains f if {
	some doc in lib.documents
	lib.active(doc, "DATA-06")
	p := doc.lineage.parent
	is_object(p)
	p.exists == false
	f := lib.finding(doc, "DATA-06", "version", ["parent"], sprintf(
		"%s names parent %s %s, which has no record in the registry: fix the reference (model and version of the version it was trained from)",
		[lib.label(doc), p.model, p.version],
	))
}

deny contains f if {
	some doc in lib.documents
	lib.active(doc, "DATA-06")
	is_array(doc.lineage.cycle)
	f := lib.finding(doc, "DATA-06", cycle_file(doc), [], sprintf(
		"the lineage of %s has a cycle (%s): a model cannot derive from itself; fix the parent or base_model that closes it",
		[lib.label(doc), concat(" -> ", doc.lineage.cycle)],
	))
}

cycle_file(doc) := "version" if is_object(doc.version)

else := "model"
