"""The shipped registry: its example models validate, their weights come back from the
repository's own DVC remote on a fresh clone, and the training script reproduces them."""
from __future__ import annotations

import hashlib
import os
import subprocess
import sys

import numpy as np
from safetensors.numpy import load_file

import modelreg
from conftest import PROJECT, dvc, git
from modelreg.core.yamlio import load

EXAMPLES = ("iris-classifier", "credit-default")


def test_shipped_registry_validates():
    report = modelreg.validate(modelreg.open_registry(PROJECT))
    assert report.findings == () and report.files >= 4
    for name in EXAMPLES:
        assert modelreg.open_registry(PROJECT).version_names(name) == ["1.0.0"]


def test_fresh_clone_pulls_example_weights_offline(tmp_path):
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(PROJECT), str(clone))
    proc = dvc(clone, "pull", "-q")
    assert proc.returncode == 0, proc.stderr
    for name in EXAMPLES:
        record = load(clone / f"models/{name}/versions/1.0.0.yaml").data
        art = record["artifacts"][0]
        data = (clone / art["path"]).read_bytes()
        assert hashlib.sha256(data).hexdigest() == art["sha256"]
        assert hashlib.md5(data).hexdigest() == art["md5"]


def test_training_reproduces_the_registered_models(tmp_path):
    proc = subprocess.run([sys.executable, str(PROJECT / "tools/train_examples.py"),
                           str(tmp_path)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    registry = load(PROJECT / "policies/data/datasets.yaml").data["datasets"]
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(PROJECT), str(clone))
    assert dvc(clone, "pull", "-q").returncode == 0
    for name in EXAMPLES:
        record = load(PROJECT / f"models/{name}/versions/1.0.0.yaml").data
        # same data: every dataset file hashes to what the record and the registry say
        for ds in record["datasets"]:
            assert ds["sha256"] == registry[ds["id"]]["revisions"][ds["revision"]]["sha256"]
        produced = {p.name: hashlib.sha256(p.read_bytes()).hexdigest()
                    for p in (tmp_path / name).glob("*.csv")}
        assert {d["sha256"] for d in record["datasets"]} <= set(produced.values())
        # same model: the weights match the registered ones (to floating-point noise)
        new = load_file(str(tmp_path / name / "model.safetensors"))
        old = load_file(str(clone / record["artifacts"][0]["path"]))
        assert new.keys() == old.keys()
        for key in new:
            np.testing.assert_allclose(new[key], old[key], rtol=1e-9, atol=1e-12)
        # same metrics
        metrics = load(tmp_path / name / "metrics.json").data["metrics"]
        recorded = {(m["name"], m["slice"]): m["value"] for m in record["metrics"]}
        assert {(m["name"], m["slice"]): m["value"] for m in metrics} == recorded


def test_demo_runs_end_to_end(tmp_path):
    env = {**os.environ, "TMPDIR": str(tmp_path)}
    proc = subprocess.run([sys.executable, str(PROJECT / "tools/demo.py")], capture_output=True,
                          text=True, env=env, cwd=PROJECT)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    out = proc.stdout
    assert "Registered iris-classifier 1.0.0 on branch register/iris-classifier-1.0.0" in out
    assert "Registered credit-default 1.0.0 on branch register/credit-default-1.0.0" in out
    assert out.count("matches the record") == 2
    assert "PASS iris-classifier 1.0.0 may run in production" in out
    assert "FAIL iris-classifier in production" in out and "not a registered artifact" in out
    assert "iris-classifier 1.0.0 promoted to production" in out and "approved by dave-risk" in out
    assert "scratch registry: " + str(tmp_path) in out


def test_shipped_registry_passes_check_and_a_broken_threshold_fails(tmp_path, run_cli):
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(PROJECT), str(clone))
    res = run_cli(clone, "check")
    assert res.code == 0, res.out + res.err
    for name, metric in (("iris-classifier", "accuracy"), ("credit-default", "auc")):
        vfile = clone / f"models/{name}/versions/1.0.0.yaml"
        original = vfile.read_text()
        record = load(vfile).data
        row = next(m for m in record["metrics"] if m["name"] == metric and "threshold" in m)
        broken = original.replace(f"value: {row['value']}\n", f"value: {row['threshold'] - 0.01:.4f}\n", 1)
        assert broken != original
        vfile.write_text(broken)
        res = run_cli(clone, "check")
        assert res.code == 1 and "[EVAL-01]" in res.out, res.out
        vfile.write_text(original)


def test_parallel_check_finds_the_same(tmp_path, monkeypatch):
    from modelreg.app import check as check_mod

    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(PROJECT), str(clone))
    vfile = clone / "models/iris-classifier/versions/1.0.0.yaml"
    vfile.write_text(vfile.read_text().replace("value: 1.0\n", "value: 0.5\n", 1))
    registry = modelreg.open_registry(clone)
    serial = check_mod.check(registry, engine="regorus", now="2026-11-27T00:00:00Z")
    monkeypatch.setattr(check_mod, "PARALLEL_FROM", 1)
    monkeypatch.setattr(check_mod.os, "cpu_count", lambda: 2)
    parallel = check_mod.check(registry, engine="regorus", now="2026-11-27T00:00:00Z")
    assert parallel.report == serial.report and parallel.documents == serial.documents == 2
    assert "EVAL-01" in {f.rule for f in serial.report.findings}
