"""The shipped registry: its example models validate, their weights come back from the
repository's own DVC remote on a fresh clone, and the training script reproduces them."""
from __future__ import annotations

import ast
import hashlib
import importlib.util
import os
import subprocess
import sys

import numpy as np
import pytest
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


def _another_cpu() -> dict[str, str]:
    """This machine made to compute like another: one thread, and NumPy's SIMD loops (AVX2,
    AVX-512, NEON extensions…) switched off, so NumPy's own exp/log and reductions take other
    code paths. The training must not notice. (OpenBLAS's core type is left as the machine
    sets it: some processors need it to compute correctly at all; the training uses no BLAS,
    which test_training_code_uses_no_blas_and_no_libm checks.)"""
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1",
           "MKL_NUM_THREADS": "1"}
    from numpy._core._multiarray_umath import __cpu_dispatch__, __cpu_features__
    found = [f for f in __cpu_dispatch__ if __cpu_features__.get(f)]
    if found:
        env["NPY_DISABLE_CPU_FEATURES"] = " ".join(found)
    return env


def _load_training():
    spec = importlib.util.spec_from_file_location("train_examples",
                                                  PROJECT / "tools/train_examples.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("cpu", ["this", "another"])
def test_training_reproduces_the_registered_models_byte_for_byte(tmp_path, cpu):
    env = _another_cpu() if cpu == "another" else None
    proc = subprocess.run([sys.executable, str(PROJECT / "tools/train_examples.py"),
                           str(tmp_path)], capture_output=True, text=True, env=env)
    assert proc.returncode == 0, proc.stderr
    registry = load(PROJECT / "policies/data/datasets.yaml").data["datasets"]
    for name in EXAMPLES:
        record = load(PROJECT / f"models/{name}/versions/1.0.0.yaml").data
        # same data: every dataset file hashes to what the record and the registry say
        for ds in record["datasets"]:
            assert ds["sha256"] == registry[ds["id"]]["revisions"][ds["revision"]]["sha256"]
        produced = {p.name: hashlib.sha256(p.read_bytes()).hexdigest()
                    for p in (tmp_path / name).glob("*.csv")}
        assert {d["sha256"] for d in record["datasets"]} <= set(produced.values())
        # same model: the weights are the registered bytes, not merely close to them
        weights = (tmp_path / name / "model.safetensors").read_bytes()
        art = record["artifacts"][0]
        assert hashlib.sha256(weights).hexdigest() == art["sha256"], name
        assert hashlib.md5(weights).hexdigest() == art["md5"]
        config = (tmp_path / name / "train-config.yaml").read_bytes()
        assert hashlib.sha256(config).hexdigest() == record["training"]["config"]["sha256"]
        # same metrics
        metrics = load(tmp_path / name / "metrics.json").data["metrics"]
        recorded = {(m["name"], m["slice"]): m["value"] for m in record["metrics"]}
        assert {(m["name"], m["slice"]): m["value"] for m in metrics} == recorded


def _rows(path):
    header, *rows = path.read_text().splitlines()
    return header.split(","), [r.split(",") for r in rows]


@pytest.mark.parametrize("name", EXAMPLES)
def test_training_does_not_depend_on_the_order_of_the_rows(tmp_path, name):
    """Every sum in the solver is exactly rounded, so any order of the same rows gives the
    same bits (a BLAS product or a threaded reduction would not)."""
    train = _load_training()
    assert subprocess.run([sys.executable, str(PROJECT / "tools/train_examples.py"),
                           str(tmp_path)], capture_output=True).returncode == 0
    shipped = load_file(str(tmp_path / name / "model.safetensors"))
    csv = tmp_path / name / ("iris-train.csv" if name == "iris-classifier" else "credit-train.csv")
    header, rows = _rows(csv)
    order = np.random.default_rng(1).permutation(len(rows))
    csv.write_text("\n".join([",".join(header)] + [",".join(rows[i]) for i in order]) + "\n")
    model = train.fit_example(name, csv)
    assert model.keys() == shipped.keys()
    for key in shipped:
        assert model[key].tobytes() == shipped[key].tobytes(), key


def test_the_solver_finds_scikit_learns_logistic_regression(tmp_path):
    """The same classifier as scikit-learn's: its L2 logistic regression objective, solved
    to convergence (its own Newton solver with a tight tolerance as the reference)."""
    from sklearn.linear_model import LogisticRegression

    train = _load_training()
    assert subprocess.run([sys.executable, str(PROJECT / "tools/train_examples.py"),
                           str(tmp_path)], capture_output=True).returncode == 0
    for name, csv, kwargs in (
            ("iris-classifier", "iris-train.csv", {"C": 1.0}),
            ("credit-default", "credit-train.csv", {"C": 0.5, "class_weight": "balanced"})):
        x, y = train.features(name, tmp_path / name / csv)
        ours = load_file(str(tmp_path / name / "model.safetensors"))
        if "feature_mean" in ours:
            x = (x - ours["feature_mean"]) / ours["feature_scale"]
        ref = LogisticRegression(solver="newton-cholesky", tol=1e-12, max_iter=100,
                                 **kwargs).fit(x, y)
        np.testing.assert_allclose(ours["coef"], ref.coef_, rtol=0, atol=1e-9)
        np.testing.assert_allclose(ours["intercept"], ref.intercept_, rtol=0, atol=1e-9)


def test_training_code_uses_no_blas_and_no_libm():
    """The paths whose last bit differs between CPUs: BLAS products and reductions, NumPy's
    SIMD exp/log, the C library's transcendental functions, order-dependent float sums."""
    tree = ast.parse((PROJECT / "tools/train_examples.py").read_text())
    banned = {"dot", "matmul", "einsum", "inner", "tensordot", "vdot", "exp", "exp2", "expm1",
              "log", "log1p", "log2", "log10", "power", "pow", "sum", "nansum", "mean", "std",
              "var", "average", "cumsum", "trapezoid", "linalg", "LogisticRegression",
              "roc_auc_score", "f1_score", "accuracy_score", "scipy"}
    used = {node.attr for node in ast.walk(tree) if isinstance(node, ast.Attribute)}
    used |= {node.id for node in ast.walk(tree) if isinstance(node, ast.Name)}
    used |= {a.name.split(".")[-1] for node in ast.walk(tree)
             if isinstance(node, ast.Import | ast.ImportFrom) for a in node.names}
    assert used & banned == set()
    assert not [n for n in ast.walk(tree) if isinstance(n, ast.MatMult | ast.Pow)]


def test_demo_runs_end_to_end(tmp_path):
    env = {**os.environ, "TMPDIR": str(tmp_path)}
    proc = subprocess.run([sys.executable, str(PROJECT / "tools/demo.py")], capture_output=True,
                          text=True, env=env, cwd=PROJECT)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    out = proc.stdout
    assert "Registered iris-classifier 1.0.0 on branch register/iris-classifier-1.0.0" in out
    assert "Registered credit-default 1.0.0 on branch register/credit-default-1.0.0" in out
    assert out.count("matches the record") == 2
    for name in EXAMPLES:   # the demo trained the very bytes this repository ships
        sha = load(PROJECT / f"models/{name}/versions/1.0.0.yaml").data["artifacts"][0]["sha256"]
        assert f"{name}: sha256 {sha[:16]}… matches the record" in out
    # the challenger took production only once a model-risk officer accepted its regression
    assert "[EVAL-05] iris-classifier 1.1.0 is worse than 1.0.0" in out
    assert "accepted by carol-risk" in out
    assert "PASS iris-classifier 1.1.0 may run in production" in out
    assert "tag signed by reconcile-demo" in out        # the demo's own key signed the tags
    assert "FAIL iris-classifier in production" in out and "not a registered artifact" in out
    assert "iris-classifier 1.0.0 promoted to production" in out and "approved by dave-risk" in out
    assert "[GOV-06] the pull request changes validation finding" in out   # the team can't close it
    assert "[MON-01] warning" in out and "breach: accuracy 0.87 < 0.9" in out
    assert "# Model inventory at" in out and "| iris-classifier | Iris species classifier |" in out
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
