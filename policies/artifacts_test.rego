package modelreg.artifacts_test

import data.modelreg.artifacts
import data.modelreg.fixtures_test as fx

deny(doc) := fs if {
	fs := artifacts.deny with input as fx.batch(doc) with data.registry as fx.registry
}

artifact(patch) := fx.with_({"version": {"artifacts": [object.union(fx.good.version.artifacts[0], patch)]}})

clean := {"tool": "picklescan", "tool_version": "0.0.26", "status": "clean"}

test_good_passes if count(deny(fx.good)) == 0

test_missing_sha256 if "ART-01" in fx.ids(deny(artifact({"sha256": ""})))

test_missing_dvc_file if "ART-01" in fx.ids(deny(artifact({"dvc_file": ""})))

test_pickle_needs_clean_scan if {
	doc := object.union(artifact({"path": "models/credit/versions/2.0.0/model.pkl", "format": "pickle"}), {"stage": "registered"})
	"ART-02" in fx.ids(deny(doc))
}

test_scanned_pickle_registers if {
	doc := object.union(artifact({"path": "models/credit/versions/2.0.0/model.pkl", "format": "pickle", "scan": clean}), {"stage": "staging"})
	not "ART-02" in fx.ids(deny(doc))
}

test_scanned_pickle_denied_in_production if {
	doc := artifact({"path": "models/credit/versions/2.0.0/model.pkl", "format": "pickle", "scan": clean})
	"ART-02" in fx.ids(deny(doc))
}

test_unsafe_extension_counts_even_with_another_format_name if {
	doc := object.union(artifact({"path": "models/credit/versions/2.0.0/model.joblib", "format": "sklearn"}), {"stage": "registered"})
	"ART-02" in fx.ids(deny(doc))
}

test_weights_committed_to_git if {
	"ART-03" in fx.ids(deny(fx.with_({"change": {"files": ["models/credit/weights.onnx"]}})))
}

test_other_models_weights_are_not_ours if {
	not "ART-03" in fx.ids(deny(fx.with_({"change": {"files": ["models/other/weights.onnx"]}})))
}

test_dirty_code if "ART-04" in fx.ids(deny(fx.with_({"version": {"code": {"dirty": true}}})))

test_short_commit if "ART-04" in fx.ids(deny(fx.with_({"version": {"code": {"commit": "abc123"}}})))

test_joblib_is_blocked_even_with_a_clean_scan if {
	doc := object.union(artifact({"path": "models/credit/versions/2.0.0/model.joblib", "format": "joblib", "scan": clean}), {"stage": "registered"})
	some f in deny(doc)
	f.id == "ART-02"
	contains(f.msg, "joblib file")
}

test_clean_pickle_is_not_blocked_as_joblib if {
	doc := object.union(artifact({"path": "models/credit/versions/2.0.0/model.pkl", "format": "pickle", "scan": clean}), {"stage": "registered"})
	every f in deny(doc) { not contains(f.msg, "joblib file") }
}

test_a_safetensors_file_whose_scan_is_an_error_is_denied if {
	doc := object.union(artifact({"format": "safetensors", "scan": {"tool": "safetensors-header", "tool_version": "1", "status": "error"}}), {"stage": "registered"})
	some f in deny(doc)
	f.id == "ART-02"
	contains(f.msg, "scan status error")
}

test_a_safetensors_file_with_a_clean_scan_passes if {
	doc := object.union(artifact({"format": "safetensors", "scan": {"tool": "safetensors-header", "tool_version": "1", "status": "clean"}}), {"stage": "registered"})
	not "ART-02" in fx.ids(deny(doc))
}
