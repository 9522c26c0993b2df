# Artifacts (ART-*): weights are hashed, scanned, kept out of git and built from clean code.
package modelreg.artifacts

import data.modelreg.lib

params := data.registry.artifacts

artifacts(doc) := doc.version.artifacts if is_array(doc.version.artifacts)

else := []

deny contains f if {
	some doc in lib.documents
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
	some doc in lib.documents
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
	some doc in lib.documents
	lib.active(doc, "ART-02")
	some i, a in artifacts(doc)
	unsafe(a)
	not scanned_clean(a)
	f := lib.finding(doc, "ART-02", "version", ["artifacts", i], sprintf(
		"artifact %s is a pickle-family file without a clean scan (tool, tool_version, status clean): scan it or convert it to safetensors/ONNX/skops",
		[a.path],
	))
}

# A scan that found something or could not finish fails whatever the format: a file
# recorded under a safe format's name (safetensors, ONNX) whose scan is an error is not
# what its name promises.
deny contains f if {
	some doc in lib.documents
	lib.active(doc, "ART-02")
	some i, a in artifacts(doc)
	not unsafe(a)
	a.scan.status in {"findings", "error"}
	f := lib.finding(doc, "ART-02", "version", ["artifacts", i, "scan"], sprintf(
		"artifact %s has scan status %s: the file is not what its format promises or carries code; register a well-formed file",
		[a.path, a.scan.status],
	))
}

# joblib: picklescan stops at the raw numpy buffers, so a payload placed after them is never
# seen (docs/architecture.md#pitfalls-of-the-tools-underneath). A clean-looking scan proves
# nothing: blocked at every stage (ART-02 cannot be waived).
blind_spot(a) if a.format in params.blocked_formats

blind_spot(a) if {
	some ext in params.blocked_extensions
	endswith(lower(a.path), ext)
}

deny contains f if {
	some doc in lib.documents
	lib.active(doc, "ART-02")
	some i, a in artifacts(doc)
	blind_spot(a)
	f := lib.finding(doc, "ART-02", "version", ["artifacts", i, "format"], sprintf(
		"artifact %s is a joblib file: scanners cannot see a payload placed after its numpy buffers, so it is blocked: convert it to skops/ONNX/safetensors",
		[a.path],
	))
}

# Production takes safe formats only; no exception can waive it (rules.yaml: waivable false).
deny contains f if {
	some doc in lib.documents
	lib.active(doc, "ART-02")
	lib.at_least(doc, "production")
	some i, a in artifacts(doc)
	unsafe(a)
	f := lib.finding(doc, "ART-02", "version", ["artifacts", i, "format"], sprintf(
		"artifact %s (%s) can run code when loaded and cannot go to %s: convert it to safetensors/ONNX/skops",
		[a.path, a.format, doc.stage],
	))
}

deny contains f if {
	some doc in lib.documents
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
	some doc in lib.documents
	lib.active(doc, "ART-04")
	is_object(doc.version)
	commit := object.get(doc.version, ["code", "commit"], "")
	not regex.match("^[0-9a-f]{40}$", commit)
	f := lib.finding(doc, "ART-04", "version", ["code", "commit"], "code.commit is not a full 40-hex commit: record the commit the model was trained from")
}

deny contains f if {
	some doc in lib.documents
	lib.active(doc, "ART-04")
	doc.version.code.dirty == true
	f := lib.finding(doc, "ART-04", "version", ["code", "dirty"], "the training code had uncommitted changes (code.dirty: true): commit the code and train again")
}

# Signing (SIGN-*): the weights that reach production are the weights that were signed.
# The `signature` fact ({present, verified, key}) is computed by modelreg (signing.py) from
# models/NAME/versions/X.Y.Z.sig and the trusted keys of policies/data/signing.yaml.

signing := data.registry.signing

signature_required(doc) if doc.model.risk.tier in signing.production_requires_signature

signature_verified(doc) if doc.signature.verified == true

signature_present(doc) if doc.signature.present == true

deny contains f if {
	some doc in lib.documents
	lib.active(doc, "SIGN-01")
	is_object(doc.version)
	signature_required(doc)
	not signature_verified(doc)
	f := lib.finding(doc, "SIGN-01", "version", [], sprintf(
		"%s needs a verified weights signature to hold %s (risk tier %d): run modelreg sign with a key listed in policies/data/signing.yaml and commit the .sig file",
		[lib.label(doc), doc.stage, doc.model.risk.tier],
	))
}

deny contains f if {
	some doc in lib.documents
	lib.active(doc, "SIGN-02")
	signature_present(doc)
	not signature_verified(doc)
	f := lib.finding(doc, "SIGN-02", "version", [], sprintf(
		"%s has a signature that does not verify with any trusted key or does not match the recorded sha256: the weights or the signature were changed after signing",
		[lib.label(doc)],
	))
}
