# The decision `modelreg check` reads: every family's denials and warnings, minus the ones an
# applicable exception waives (reported separately, so a waiver is never silent, with the day
# it stops applying: its own expiry or the cap counted from its approval, whichever is first).
package modelreg.main

import data.modelreg.artifacts
import data.modelreg.card
import data.modelreg.evaluation
import data.modelreg.governance
import data.modelreg.identity
import data.modelreg.lib
import data.modelreg.lineage
import data.modelreg.monitoring
import data.modelreg.operations
import data.modelreg.risk

raw_deny := (((((((({f | some f in identity.deny} | {f | some f in risk.deny}) | {f | some f in lineage.deny}) | {f | some f in artifacts.deny}) | {f | some f in evaluation.deny}) | {f | some f in governance.deny}) | {f | some f in operations.deny}) | {f | some f in card.deny}) | {f | some f in monitoring.deny})

raw_warn := (((((((({f | some f in identity.warn} | {f | some f in risk.warn}) | {f | some f in lineage.warn}) | {f | some f in artifacts.warn}) | {f | some f in evaluation.warn}) | {f | some f in governance.warn}) | {f | some f in operations.warn}) | {f | some f in card.warn}) | {f | some f in monitoring.warn})

# Applicable waivers indexed by "model@version", built once: the lookup per finding does not
# scan the batch. One registry has one record per model version, so keys do not collide.
waiver_index[key] := ws if {
	some doc in lib.documents
	key := doc_key(doc.name, lib.version_id(doc))
	ws := [object.union(w, {"expires": lib.waiver_until(doc, w)}) |
		some w in lib.exceptions(doc)
		lib.waiver_applies(doc, w)
	]
}

doc_key(name, version) := concat("@", [name, version]) if is_string(version)

else := name

waivers(f) := {w |
	some w in waiver_index[doc_key(f.model, f.version)]
	w.rule == f.id
}

deny contains f if {
	some f in raw_deny
	count(waivers(f)) == 0
}

warn contains f if {
	some f in raw_warn
	count(waivers(f)) == 0
}

waived contains object.union(f, {"waiver": w}) if {
	some f in raw_deny | raw_warn
	some w in waivers(f)
}

decision := {"deny": deny, "warn": warn, "waived": waived}
