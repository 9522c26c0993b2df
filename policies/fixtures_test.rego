# Test fixtures shared by every *_test.rego: a complete, passing document (tier-1, EU
# high-risk, checked at production with a four-eyes review) and the reference data the tests
# pin, so that editing people or datasets in policies/data does not change test results.
package modelreg.fixtures_test

now := "2026-11-27T12:00:00Z"

sha(c) := concat("", [c | some _ in numbers.range(1, 64)])

head := concat("", [x | some _ in numbers.range(1, 40); x := "a"])

reference := {
	"people": {"people": {
		"dev": {"teams": ["credit"], "roles": ["developer"]},
		"appr1": {"teams": ["risk"], "roles": ["approver", "model-risk-officer"]},
		"appr2": {"teams": ["risk"], "roles": ["approver", "model-risk-officer"]},
		"val": {"teams": ["validation"], "roles": ["validator"]},
	}},
	"teams": {"teams": {"credit": {}, "risk": {}, "validation": {}, "empty": {}}},
	"licenses": {
		"allowed": ["Apache-2.0", "proprietary-internal"],
		"derivation": ["Apache-2.0", "proprietary-internal"],
		"external_models": {
			"org/open-base": {"license": "Apache-2.0"},
			"org/pinned-base": {"license": "Apache-2.0", "revisions": ["r7"]},
			"org/no-derivatives": {"license": "CC-BY-NC-ND-4.0"},
		},
	},
	"datasets": {"datasets": {
		"train-set": {"license": "proprietary-internal", "revisions": {"r1": {"sha256": sha("1")}}},
		"test-set": {"license": "proprietary-internal", "revisions": {"r1": {"sha256": sha("2")}}},
	}},
}

# data.registry with the pinned reference data over the shipped policy parameters.
registry := object.union(data.registry, reference)

section := "Enough text to count as a filled-in section of the model card."

good := {
	"name": "credit",
	"stage": "production",
	"signature": {"present": true, "verified": true, "key": "release"},
	"files": {
		"model": "models/credit/model.yaml", "version": "models/credit/versions/2.0.0.yaml",
		"stages": "models/credit/stages.yaml", "card": "models/credit/card.md",
	},
	"model": {
		"name": "credit", "title": "Credit model", "task": "tabular-classification",
		"library_name": "sklearn", "license": "proprietary-internal",
		"owner": {"team": "credit", "business_owner": "dev"}, "developers": ["dev"],
		"intended_use": {"purpose": "Decision support for credit officers."},
		"risk": {"tier": 1, "eu_ai_act": {"class": "high", "annex_iii_area": "5(b)"}, "impact_assessment": {"ref": "docs/fria.md"}},
		"evaluation": {
			"thresholds": [{"metric": "auc", "threshold": 0.7, "direction": "higher"}],
			"sensitive_attributes": ["sex"], "max_slice_gap": 0.05,
		},
		"monitoring_plan": {"metrics": ["auc"], "thresholds": {"auc": 0.7}, "frequency": "monthly", "owner": "credit"},
		"logging": {"events": ["score"], "retention_days": 365},
		"review": {"interval_days": 365},
	},
	"version": {
		"model": "credit", "version": "2.0.0", "created_at": "2026-11-01T00:00:00Z",
		"code": {"commit": head, "dirty": false},
		"artifacts": [{
			"path": "models/credit/versions/2.0.0/model.safetensors", "format": "safetensors",
			"size": 10, "md5": concat("", [x | some _ in numbers.range(1, 32); x := "b"]), "sha256": sha("3"),
			"dvc_file": "models/credit/versions/2.0.0/model.safetensors.dvc",
		}],
		"datasets": [
			{"id": "train-set", "revision": "r1", "role": "train", "sha256": sha("1")},
			{"id": "test-set", "revision": "r1", "role": "test", "sha256": sha("2")},
		],
		"metrics": [
			{"name": "auc", "value": 0.8, "dataset": "test-set", "split": "test", "slice": "overall", "threshold": 0.7, "direction": "higher", "artifact_sha256": sha("3")},
			{"name": "auc", "value": 0.78, "dataset": "test-set", "split": "test", "slice": "sex=f", "threshold": 0.7, "direction": "higher", "artifact_sha256": sha("3")},
			{"name": "auc", "value": 0.79, "dataset": "test-set", "split": "test", "slice": "sex=m", "threshold": 0.7, "direction": "higher", "artifact_sha256": sha("3")},
		],
		"validation": {"validator": "val", "validated_at": "2026-10-01", "outcome": "approved"},
		"robustness": [{"test": "Gaussian noise on income", "category": "perturbation", "result": "pass", "date": "2026-10-15"}],
	},
	# built by modelreg: the version holding production and the metrics both report
	"champion": {"version": "1.0.0", "stage": "production", "record": true, "comparison": [{
		"index": 0, "metric": "auc", "dataset": "test-set", "split": "test", "slice": "overall",
		"champion": 0.79, "challenger": 0.8, "direction": "higher", "worse_by": -0.01,
	}]},
	"findings": [],
	"lineage": {"base": null, "parent": null, "cycle": null},
	"stages": {"held": {"staging": "2.0.0", "production": "1.0.0"}, "requested": {"staging": "2.0.0", "production": "2.0.0"}, "rollback": [], "history": ["staging"]},
	"registered_versions": ["1.0.0", "2.0.0"],
	"card": {
		"front_matter": {"license": "proprietary-internal", "library_name": "sklearn", "datasets": ["train-set", "test-set"]},
		"sections": {s: section | some s in [
			"Model Details", "Intended Use", "How to Get Started", "Model Card Contact",
			"Out-of-Scope Use", "Training Data", "Evaluation Data", "Metrics", "Quantitative Analyses",
			"Bias, Risks and Limitations", "Ethical Considerations", "Monitoring and Maintenance",
			"Changelog", "Human Oversight", "Risk Management", "Logging",
		]},
	},
	"change": {"base": "main", "files": ["models/credit/stages.yaml"]},
	"review": {
		"pr_author": "dev", "head": head, "committers": ["dev"],
		"reviews": [
			{"user": {"login": "appr1"}, "state": "APPROVED", "commit_id": head},
			{"user": {"login": "appr2"}, "state": "APPROVED", "commit_id": head},
			{"user": {"login": "val"}, "state": "APPROVED", "commit_id": head},
		],
	},
	# who approved the pull request that introduced the version record, and when (built by
	# modelreg from the reviews, never read from the record)
	"record_approvals": {"source": "pull request #7 under review", "by": approved_by},
}

approved_at := "2026-11-20T09:00:00Z"

approved_by := {"appr1": approved_at, "appr2": approved_at, "val": approved_at}

# `good` with `patch` merged in (object.union is recursive).
with_(patch) := object.union(good, patch)

# As check sends it: the model and the card once per model, in `shared`.
batch(doc) := {
	"now": now,
	"models": [object.remove(doc, ["model", "card"])],
	"shared": {object.get(doc, "name", ""): object.filter(doc, ["model", "card"])},
}

ids(findings) := {f.id | some f in findings}
