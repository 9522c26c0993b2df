"""``modelreg export hf NAME@VERSION OUT_DIR``: a folder the Hugging Face Hub takes as it is,
read back with huggingface_hub's own parsers (offline): the card's front matter, model-index
and licence; the weights are the registered bytes, from the work tree or pulled with DVC; a
folder is never written half, nor with bytes that were not registered."""
from __future__ import annotations

import json
import shutil

import pytest
import yaml

import modelreg
from conftest import PROJECT, write_weights
from modelreg.app.register import register
from modelreg.core.files import hash_file
from modelreg.steps.registration import RegisterRequest

NAME = "credit-default"


@pytest.fixture
def registered(repo, tmp_path, monkeypatch):
    """credit-default 1.0.0 and 1.1.0 registered (committed, weights pushed to the remote)."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    record = yaml.safe_load((PROJECT / f"models/{NAME}/versions/1.0.0.yaml").read_text())
    for version, payload in (("1.0.0", b"\x01" * 64), ("1.1.0", b"\x02" * 64)):
        metrics = tmp_path / f"metrics-{version}.json"
        # the shipped record's rows, measured afresh on these weights (bound at register)
        rows = [{k: v for k, v in m.items() if k != "artifact_sha256"} for m in record["metrics"]]
        if version == "1.1.0":
            rows[0]["value"] = 0.75
        metrics.write_text(json.dumps(rows))
        weights = write_weights(tmp_path / f"train-{version}", payload=payload)
        register(modelreg.open_registry(repo.root), RegisterRequest(
            NAME, version, [str(weights)], metrics=str(metrics), branch=False,
            datasets=["train:credit-applications-train@2026.11",
                      "test:credit-applications-test@2026.11"]))
    return repo


def _sha(repo, version: str) -> str:
    rec = yaml.safe_load((repo.root / f"models/{NAME}/versions/{version}.yaml").read_text())
    return rec["artifacts"][0]["sha256"]


def test_export_is_a_folder_the_hub_reads(registered, run_cli, tmp_path):
    import huggingface_hub as hub

    repo = registered
    out = tmp_path / "export"
    res = run_cli(repo.root, "export", "hf", f"{NAME}@1.0.0", str(out), "--json")
    assert res.code == 0, res.err
    assert sorted(json.loads(res.out)["files"]) == ["README.md", "config.json",
                                                    "model.safetensors"]
    assert sorted(p.name for p in out.iterdir()) == ["README.md", "config.json",
                                                     "model.safetensors"]
    assert hash_file(out / "model.safetensors").sha256 == _sha(repo, "1.0.0")

    card = hub.ModelCard.load(out / "README.md")
    data = card.data
    assert data.license == "other" and data.license_name == "proprietary-internal"
    assert data.license_link == "https://example.com/legal/proprietary-internal"
    assert data.library_name == "sklearn" and data.pipeline_tag == "tabular-classification"
    assert data.datasets == ["credit-applications-train", "credit-applications-test"]
    meta = hub.metadata_load(out / "README.md")
    assert hub.ModelCardData(**meta).to_dict() == data.to_dict()
    name, results = hub.repocard_data.model_index_to_eval_results(meta["model-index"])
    assert name == NAME
    overall = [r for r in results if r.dataset_config is None and r.metric_type == "roc_auc"]
    assert [r.metric_value for r in overall] == [0.7241]          # 1.0.0's, not 1.1.0's
    sliced = {r.dataset_config for r in results if r.dataset_config}
    assert sliced == {"age_band=18-30", "age_band=31-50", "age_band=51+", "sex=F", "sex=M"}
    assert all(r.dataset_split == "test" and r.dataset_revision == "2026.11" for r in results)
    assert "1.0.0" in card.text and "## Quantitative Analyses" in card.text

    config = json.loads((out / "config.json").read_text())
    assert config["name"] == NAME and config["version"] == "1.0.0"
    assert config["library_name"] == "sklearn"
    assert config["files"] == [{"file": "model.safetensors", "format": "safetensors",
                                "size": (out / "model.safetensors").stat().st_size,
                                "sha256": _sha(repo, "1.0.0")}]


def test_absent_weights_are_pulled_with_dvc(registered, tmp_path):
    repo = registered
    weights = repo.root / f"models/{NAME}/versions/1.1.0/model.safetensors"
    weights.unlink()
    shutil.rmtree(repo.root / ".dvc" / "cache")
    from modelreg.app.export import export_hf

    result = export_hf(modelreg.open_registry(repo.root), NAME, "1.1.0", tmp_path / "out")
    assert result.pulled == (f"models/{NAME}/versions/1.1.0/model.safetensors",)
    assert hash_file(tmp_path / "out" / "model.safetensors").sha256 == _sha(repo, "1.1.0")


def test_absent_weights_without_pulling_are_refused_with_a_hint(registered, run_cli, tmp_path):
    repo = registered
    (repo.root / f"models/{NAME}/versions/1.0.0/model.safetensors").unlink()
    out = tmp_path / "out"
    res = run_cli(repo.root, "export", "hf", f"{NAME}@1.0.0", str(out), "--no-pull")
    assert res.code == 1 and "not in the work tree" in res.err
    assert f"dvc pull models/{NAME}/versions/1.0.0/model.safetensors.dvc" in res.err
    assert not out.exists()


def test_weights_missing_everywhere_stop_the_export(registered, run_cli, tmp_path):
    repo = registered
    (repo.root / f"models/{NAME}/versions/1.0.0/model.safetensors").unlink()
    shutil.rmtree(repo.root / ".dvc" / "cache")
    shutil.rmtree(repo.remote)
    out = tmp_path / "out"
    res = run_cli(repo.root, "export", "hf", f"{NAME}@1.0.0", str(out))
    assert res.code == 3 and "could not be pulled" in res.err and "dvc pull" in res.err
    assert not out.exists() and list(tmp_path.glob(".out.*")) == []


def test_tampered_weights_are_never_exported(registered, run_cli, tmp_path):
    """Hostile: bytes swapped in the work tree after registration are not published under
    the registered version's name."""
    repo = registered
    weights = repo.root / f"models/{NAME}/versions/1.0.0/model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-1] + b"\xff")
    out = tmp_path / "out"
    res = run_cli(repo.root, "export", "hf", f"{NAME}@1.0.0", str(out))
    assert res.code == 1 and "does not hash to the sha256" in res.err
    assert not out.exists() and list(tmp_path.glob(".out.*")) == []


def test_other_licence_without_link_is_refused(registered, run_cli, tmp_path):
    repo = registered
    path = repo.root / f"models/{NAME}/model.yaml"
    path.write_text("".join(line for line in path.read_text().splitlines(keepends=True)
                            if not line.startswith("license_link:")))
    out = tmp_path / "out"
    res = run_cli(repo.root, "export", "hf", f"{NAME}@1.0.0", str(out))
    assert res.code == 1 and "license_link" in res.err and not out.exists()


def test_a_folder_with_files_is_not_overwritten(registered, run_cli, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("mine\n")
    res = run_cli(registered.root, "export", "hf", f"{NAME}@1.0.0", str(out))
    assert res.code == 2 and "not an empty folder" in res.err
    assert [p.name for p in out.iterdir()] == ["keep.txt"]
    res = run_cli(registered.root, "export", "hf", f"{NAME}@9.9.9", str(tmp_path / "x"))
    assert res.code == 2
