package modelreg.card_test

import data.modelreg.card
import data.modelreg.fixtures_test as fx

deny(doc) := fs if {
	fs := card.deny with input as fx.batch(doc) with data.registry as fx.registry
}

without(section) := json.remove(fx.good, [concat("/", ["card", "sections", section])])

test_good_passes if count(deny(fx.good)) == 0

test_missing_card if "CARD-01" in fx.ids(deny(fx.with_({"card": null})))

test_model_without_versions_needs_no_card_yet if {
	not "CARD-01" in fx.ids(deny(fx.with_({"card": null, "version": null})))
}

test_registered_section_missing if {
	fs := deny(object.union(without("Intended Use"), {"stage": "registered"}))
	some f in fs
	f.id == "CARD-01"
	f.path == ["sections", "Intended Use"]
}

test_placeholder_only_section_counts_as_empty if {
	"CARD-01" in fx.ids(deny(fx.with_({"card": {"sections": {"Model Details": "   "}}})))
}

test_production_section_not_needed_at_staging if {
	not "CARD-01" in fx.ids(deny(object.union(without("Changelog"), {"stage": "staging"})))
}

test_front_matter_licence_disagrees if "CARD-02" in fx.ids(deny(fx.with_({"card": {"front_matter": {"license": "MIT"}}})))

test_front_matter_licence_in_hub_spelling if {
	count([f | some f in deny(fx.with_({"card": {"front_matter": {"license": "PROPRIETARY-internal"}}})); f.id == "CARD-02"]) == 0
}

test_front_matter_other_licence_named if {
	count([f | some f in deny(fx.with_({"card": {"front_matter": {"license": "other", "license_name": "proprietary-internal", "license_link": "https://example.com/licence"}}})); f.id == "CARD-02"]) == 0
}

test_front_matter_other_licence_without_link if {
	"CARD-02" in fx.ids(deny(fx.with_({"card": {"front_matter": {"license": "other", "license_name": "proprietary-internal"}}})))
}

test_front_matter_other_licence_without_name if {
	"CARD-02" in fx.ids(deny(fx.with_({"card": {"front_matter": {"license": "other", "license_link": "https://example.com/licence"}}})))
}

test_front_matter_other_licence_misnamed if {
	"CARD-02" in fx.ids(deny(fx.with_({"card": {"front_matter": {"license": "other", "license_name": "MIT"}}})))
}

test_front_matter_misses_dataset if "CARD-02" in fx.ids(deny(fx.with_({"card": {"front_matter": {"datasets": ["train-set"]}}})))

test_high_risk_needs_human_oversight if "CARD-03" in fx.ids(deny(without("Human Oversight")))

test_minimal_risk_needs_no_human_oversight_section if {
	doc := object.union(without("Human Oversight"), {"model": {"risk": {"eu_ai_act": {"class": "minimal"}}}})
	not "CARD-03" in fx.ids(deny(doc))
}
