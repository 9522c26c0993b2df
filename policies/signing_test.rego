package modelreg.signing_test

import data.modelreg.fixtures_test as fx
import data.modelreg.artifacts

registry := object.union(fx.registry, {"signing": {"keys": {}, "production_requires_signature": [1, 2]}})

deny(doc) := fs if {
	fs := artifacts.deny with input as fx.batch(doc) with data.registry as registry
}

signed := {"signature": {"present": true, "verified": true, "key": "release"}}

test_signed_tier1_production_passes if count(deny(fx.with_(signed))) == 0

test_unsigned_tier1_production_denied if {
	doc := object.remove(fx.good, ["signature"])
	"SIGN-01" in fx.ids(deny(doc))
}

test_unverified_tier1_production_denied if {
	"SIGN-01" in fx.ids(deny(fx.with_({"signature": {"present": true, "verified": false, "key": null}})))
}

test_tier3_production_needs_no_signature if {
	doc := object.union(object.remove(fx.good, ["signature"]), {"model": {"risk": {"tier": 3}}})
	not "SIGN-01" in fx.ids(deny(doc))
}

test_staging_needs_no_signature if {
	doc := object.union(object.remove(fx.good, ["signature"]), {"stage": "staging"})
	not "SIGN-01" in fx.ids(deny(doc))
}

test_broken_signature_denied_at_every_stage if {
	doc := object.union(fx.good, {"stage": "registered", "signature": {"present": true, "verified": false, "key": null}})
	"SIGN-02" in fx.ids(deny(doc))
}
