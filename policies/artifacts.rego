# Artifacts (ART-*): weights are hashed, scanned, kept out of git and built from clean code.
package modelreg.artifacts

import data.modelreg.lib

params := data.registry.artifacts

artifacts(doc) := doc.version.artifacts if is_array(doc.version.artifacts)

else := []

deny contains f if {
	some doc in input.models
	lib.active(doc, "ART-01")
	some i, a in artifacts(doc)
	some key, pattern in {"md5": "^[0-9a-f]{32}$", "sha256": "^[0-9a-f]{64}$"}
	not regex.match(pattern, object.get(a, key, ""))
	f := lib.finding(doc, "ART-01", "version", ["artifacts", i], sprintf(
		"artifact %s has no valid %s: register it again so modelreg records the hash",
		[a.path, key],
	))
}

deny contains f if {
	some doc in input.models
	lib.active(doc, "ART-01")
	some i, a in artifacts(doc)
	object.get(a, "dvc_file", "") == ""
	f := lib.finding(doc, "ART-01", "version", ["artifacts", i], sprintf(
		"artifact %s has no dvc_file: track the weights with DVC (modelreg register does)",
		[a.path],
	))
}

unsafe(a) if a.format in params.unsafe_formats

unsafe(a) if {
	some ext in params.unsafe_extensions
	endswith(lower(a.path), ext)
}

scanned_clean(a) if {
	a.scan.status == "clean"
	a.scan.tool != ""
	a.scan.tool_version != ""
}

deny contains f if {
	some doc in input.models
	lib.active(doc, "ART-02")
	some i, a in artifacts(doc)
	unsafe(a)
	not scanned_clean(a)
	f := lib.finding(doc, "ART-02", "version", ["artifacts", i], sprintf(
		"artifact %s is a pickle-family file without a clean scan (tool, tool_version, status clean): scan it or convert it to safetensors/ONNX/skops",
		[a.path],
	))
}

# Production takes safe formats only, unless an approved exception for ART-02 applies.
deny contains f if {
	some doc in input.models
	lib.active(doc, "ART-02")
	lib.at_least(doc, "production")
	some i, a in artifacts(doc)
	unsafe(a)
	f := lib.finding(doc, "ART-02", "version", ["artifacts", i, "format"], sprintf(
		"artifact %s (%s) can run code when loaded and cannot go to %s: convert it to safetensors/ONNX/skops or add an approved exception for ART-02",
		[a.path, a.format, doc.stage],
	))
}

deny contains f if {
	some doc in input.models
	lib.active(doc, "ART-03")
	some path in doc.change.files
	startswith(path, sprintf("models/%s/", [doc.name]))
	some ext in params.weight_extensions
	endswith(lower(path), ext)
	f := lib.finding(doc, "ART-03", path, [], sprintf(
		"%s looks like weights committed to git: remove it from git and track it with DVC (modelreg register)",
		[path],
	))
}

deny contains f if {
	some doc in input.models
	lib.active(doc, "ART-04")
	is_object(doc.version)
	commit := object.get(doc.version, ["code", "commit"], "")
	not regex.match("^[0-9a-f]{40}$", commit)
	f := lib.finding(doc, "ART-04", "version", ["code", "commit"], "code.commit is not a full 40-hex commit: record the commit the model was trained from")
}

deny contains f if {
	some doc in input.models
	lib.active(doc, "ART-04")
	doc.version.code.dirty == true
	f := lib.finding(doc, "ART-04", "version", ["code", "dirty"], "the training code had uncommitted changes (code.dirty: true): commit the code and train again")
}
