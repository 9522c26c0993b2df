"""Integrity of weights and records: scanning at register, secrets, signing, tamper
detection (`modelreg verify`) and fault injection at every external step of register.

Malicious pickles are written by the tests and never loaded: no PWNED file may appear."""
from __future__ import annotations

import io
import json
import os
import pickle
import subprocess
import zipfile
from pathlib import Path

import pytest

import modelreg
from conftest import dvc, git, write_weights
from modelreg.core.errors import CannotRunError
from modelreg.core.yamlio import load
from modelreg.steps.registration import DatasetSpec, RegisterRequest
from modelreg.store import scanning
from test_signoff import World, world  # noqa: F401  (the fixture)


@pytest.fixture
def pwned(tmp_path) -> Path:
    marker = tmp_path / "PWNED"
    yield marker
    assert not marker.exists(), "a malicious pickle was executed"


def _payload(marker: Path, kind: str = "os"):
    cmd = f"echo PWNED > {marker}"

    class Evil:
        def __reduce__(self):
            if kind == "subprocess":
                return (subprocess.run, (["sh", "-c", cmd],))
            if kind == "eval":
                return (eval, (f"__import__('os').system({cmd!r})",))
            return (os.system, (cmd,))

    return Evil()


def malicious_files(folder: Path, marker: Path) -> dict[str, Path]:
    """Every hostile weights file, written (pickled), never loaded."""
    import joblib
    import numpy as np

    folder.mkdir(parents=True, exist_ok=True)
    out = {}

    def put(name: str, data: bytes) -> None:
        out[name] = folder / name
        out[name].write_bytes(data)

    put("proto4.pkl", pickle.dumps(_payload(marker), protocol=4))
    put("proto0.pkl", pickle.dumps(_payload(marker), protocol=0))
    put("subprocess.pkl", pickle.dumps(_payload(marker, "subprocess"), protocol=4))
    put("eval.pickle", pickle.dumps(_payload(marker, "eval"), protocol=2))
    put("mixed.pkl", pickle.dumps({"coef": [0.1, 0.2], "x": _payload(marker)}, protocol=4))
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("archive/data.pkl", pickle.dumps({"w": _payload(marker)}, protocol=2))
        zf.writestr("archive/version", "3\n")
    put("torch.pt", buf.getvalue())
    put("renamed.safetensors", pickle.dumps(_payload(marker), protocol=4))
    joblib.dump({"x": _payload(marker), "w": np.arange(2000.0)}, folder / "before.joblib")
    out["before.joblib"] = folder / "before.joblib"
    return out


# --- scanning -------------------------------------------------------------------------------
def test_scanner_names_the_dangerous_global_of_every_malicious_file(tmp_path, pwned):
    files = malicious_files(tmp_path / "evil", pwned)
    expected = {"proto4.pkl": "posix.system", "proto0.pkl": "posix.system",
                "subprocess.pkl": "subprocess.run", "eval.pickle": "__builtin__.eval",
                "mixed.pkl": "posix.system", "torch.pt": "posix.system",
                "renamed.safetensors": "posix.system", "before.joblib": "posix.system"}
    for name, path in files.items():
        record = scanning.scan(path)
        assert record is not None and record.status == "findings", name
        assert expected[name] in record.dangerous, (name, record)


def test_benign_pickles_are_clean_and_safetensors_headers_checked(tmp_path):
    import numpy as np
    from safetensors.numpy import save_file

    plain = tmp_path / "model.pkl"
    plain.write_bytes(pickle.dumps({"coef": [[0.1, -0.2], [0.3, 0.4]], "intercept": [0.5]}, 4))
    listing = tmp_path / "weights.pickle"
    listing.write_bytes(pickle.dumps([1.0, 2.0, 3.5], protocol=0))
    for path in (plain, listing):
        record = scanning.scan(path)
        assert (record.tool, record.status) == (scanning.TOOL, "clean"), record
        assert record.tool_version == scanning.tool_version()
    st = tmp_path / "model.safetensors"
    save_file({"w": np.arange(12, dtype=np.float32)}, str(st))
    assert scanning.scan(st).status == "clean"
    fake = tmp_path / "fake.safetensors"
    fake.write_bytes(b"\xff" * 8 + b"{}")
    assert scanning.scan(fake).status == "error"         # not a safetensors file: refused
    garbage = tmp_path / "garbage.pkl"
    garbage.write_bytes(b"this is not a pickle at all")
    assert scanning.scan(garbage).status == "error"      # never "clean" on a parse error


def test_joblib_payload_after_numpy_is_found_and_joblib_still_blocked_by_policy(
        repo, tmp_path, run_cli, pwned):
    import joblib
    import numpy as np

    path = tmp_path / "after" / "model.joblib"
    path.parent.mkdir()
    joblib.dump({"w": np.arange(2000.0), "x": _payload(pwned)}, path)
    record = scanning.scan(path)
    assert record.status == "findings" and "posix.system" in record.dangerous
    res = run_cli(repo.root, "register", "iris-classifier", "--version", "1.0.0", "--weights",
                  str(path), "--dataset", "test:iris-test@2026.11", "--no-branch")
    assert res.code == 1 and "posix.system" in res.err
    honest = tmp_path / "honest" / "model.joblib"
    honest.parent.mkdir()
    joblib.dump({"w": np.arange(2000.0), "b": 0.5}, honest)
    res = run_cli(repo.root, "register", "iris-classifier", "--version", "1.0.0", "--weights",
                  str(honest), "--dataset", "test:iris-test@2026.11", "--no-branch",
                  "--allow-findings")
    assert res.code == 0, res.err
    art = load(repo.root / "models/iris-classifier/versions/1.0.0.yaml").data["artifacts"][0]
    assert art["scan"]["status"] == "clean" and art["format"] == "joblib"
    res = run_cli(repo.root, "check", "--engine", "regorus")
    assert res.code == 1 and "[ART-02]" in res.out and "joblib file" in res.out


@pytest.mark.parametrize("name", ["proto4.pkl", "proto0.pkl", "subprocess.pkl", "torch.pt",
                                  "renamed.safetensors", "before.joblib"])
def test_register_refuses_malicious_weights_and_writes_nothing(repo, tmp_path, run_cli, pwned,
                                                              name):
    path = malicious_files(tmp_path / "evil", pwned)[name]
    before = repo.snapshot()
    res = run_cli(repo.root, "register", "iris-classifier", "--version", "1.0.0", "--weights",
                  str(path), "--dataset", "test:iris-test@2026.11")
    assert res.code == 1, res.err
    assert "can run code when loaded" in res.err
    assert ("subprocess.run" if "subprocess" in name else "posix.system") in res.err
    assert repo.snapshot() == before


def test_benign_pickle_registers_with_its_scan_record_and_check_requires_it(
        repo, tmp_path, run_cli):
    w = tmp_path / "out" / "model.pkl"
    w.parent.mkdir()
    w.write_bytes(pickle.dumps({"coef": [0.1, 0.2, 0.3]}, protocol=4))
    res = run_cli(repo.root, "register", "iris-classifier", "--version", "1.0.0", "--weights",
                  str(w), "--dataset", "test:iris-test@2026.11", "--no-branch",
                  "--allow-findings")
    assert res.code == 0, res.err
    vfile = repo.root / "models/iris-classifier/versions/1.0.0.yaml"
    scan = load(vfile).data["artifacts"][0]["scan"]
    assert scan["tool"] == scanning.TOOL and scan["status"] == "clean" and scan["at"]
    res = run_cli(repo.root, "check", "--engine", "regorus", "--json")
    assert "ART-02" not in {f["rule"] for f in json.loads(res.out)["findings"]}
    # a record without its scan (edited by hand) fails check: the policy requires it
    from modelreg.core.yamlio import dump_yaml

    data = load(vfile).data
    del data["artifacts"][0]["scan"]
    vfile.write_text(dump_yaml(data))
    res = run_cli(repo.root, "check", "--engine", "regorus")
    assert res.code == 1 and "[ART-02]" in res.out and "without a clean scan" in res.out


# --- secrets --------------------------------------------------------------------------------
SECRETS = [
    "aws_key: AKIAIOSFODNN7EXAMPLE",
    "note: ghp_" + "a1B2" * 9,
    "key: '-----BEGIN RSA PRIVATE KEY-----'",
    "password: Hunter2-Summer!",
    "token: 9f8e7d6c5b4a3f2e1d0c",
]


@pytest.mark.parametrize("line", SECRETS)
def test_register_refuses_secrets_naming_file_and_line(repo, tmp_path, run_cli, line):
    w = write_weights(tmp_path / "out")
    cfg = tmp_path / "out" / "train.yaml"
    cfg.write_text(f"seed: 1\nhyperparameters:\n  C: 1.0\n{line}\n")
    before = repo.snapshot()
    res = run_cli(repo.root, "register", "iris-classifier", "--version", "1.0.0", "--weights",
                  str(w), "--config", str(cfg), "--dataset", "test:iris-test@2026.11")
    assert res.code == 1, res.err
    assert f"{cfg}:4:" in res.err and "is in the metadata" in res.err
    assert repo.snapshot() == before


def test_secret_in_a_message_is_refused(repo, tmp_path, run_cli):
    w = write_weights(tmp_path / "out")
    res = run_cli(repo.root, "register", "iris-classifier", "--version", "1.0.0", "--weights",
                  str(w), "--dataset", "test:iris-test@2026.11", "-m",
                  "trained with AKIAIOSFODNN7EXAMPLE")
    assert res.code == 1 and "AWS access key" in res.err


def test_check_flags_secrets_in_metadata(repo, run_cli):
    model = repo.root / "models/iris-classifier/model.yaml"
    model.write_text(model.read_text() + "# deploy key: AKIAIOSFODNN7EXAMPLE\n")
    res = run_cli(repo.root, "check", "--engine", "regorus")
    line = len(model.read_text().splitlines())
    assert res.code == 1
    assert f"models/iris-classifier/model.yaml:{line}: [SEC-01]" in res.out
    assert "AKIAIOSFODNN7EXAMPLE" not in res.out          # the report does not leak it again


# --- fault injection ------------------------------------------------------------------------
HOOKS = ["scan", "branch", "write", "dvc_add", "card", "dvc_push", "git_add", "git_commit"]


@pytest.mark.parametrize("step", HOOKS)
def test_register_killed_at_every_external_step_leaves_the_repository_as_it_was(
        repo, tmp_path, step):
    w = tmp_path / "out" / "model.pkl"
    w.parent.mkdir()
    w.write_bytes(pickle.dumps({"coef": [1.0]}, protocol=4))
    before = repo.snapshot()
    remote_before = sorted(p.relative_to(repo.remote).as_posix()
                           for p in repo.remote.rglob("*")) if repo.remote.exists() else []

    def fail():
        raise CannotRunError(f"injected failure at {step}")

    reg = modelreg.open_registry(repo.root)
    with pytest.raises(CannotRunError, match=f"injected failure at {step}"):
        modelreg.register(reg, RegisterRequest(
            name="iris-classifier", version="1.0.0", weights=[str(w)],
            datasets=[DatasetSpec.parse("test:iris-test@2026.11")]), hooks={step: fail})
    assert repo.snapshot() == before
    if step != "git_add" and step != "git_commit":
        now = sorted(p.relative_to(repo.remote).as_posix()
                     for p in repo.remote.rglob("*")) if repo.remote.exists() else []
        assert now == remote_before       # nothing reached the remote before the push step


# --- signing --------------------------------------------------------------------------------
def _keys(folder: Path) -> tuple[Path, str]:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP256R1())
    path = folder / "release.pem"
    folder.mkdir(parents=True, exist_ok=True)
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                       serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))
    pub = key.public_key().public_bytes(serialization.Encoding.PEM,
                                        serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    return path, pub


def _trust(root: Path, key_id: str, pub: str) -> None:
    data = root / "policies/data/signing.yaml"
    block = "".join(f"      {line}\n" for line in pub.strip().splitlines())
    text = data.read_text().replace("keys: {}\n", f"keys:\n  {key_id}:\n    public_key: |\n{block}")
    data.write_text(text)


def test_sign_verify_and_production_requirement(repo, tmp_path, run_cli):
    key, pub = _keys(tmp_path / "keys")
    _trust(repo.root, "release-2026", pub)
    repo.git("commit", "-qam", "trust the release key")
    w = write_weights(tmp_path / "out", payload=b"credit weights" * 10)
    res = run_cli(repo.root, "register", "credit-default", "--version", "1.0.0", "--weights",
                  str(w), "--dataset", "test:iris-test@2026.11", "--no-branch",
                  "--allow-findings")
    assert res.code == 0, res.err
    res = run_cli(repo.root, "check", "--engine", "regorus", "--stage", "production")
    assert "[SIGN-01]" in res.out                  # tier 1: production needs a signature
    res = run_cli(repo.root, "sign", "credit-default@1.0.0", "--key", str(key), "--json")
    assert res.code == 0, res.err
    out = json.loads(res.out)
    assert out["signature"] == "models/credit-default/versions/1.0.0.sig"
    assert out["files"] == ["model.safetensors"] and out["key"] == "release-2026"
    bundle = json.loads((repo.root / out["signature"]).read_text())
    assert bundle["verificationMaterial"]["tlogEntries"] == []       # offline: no Rekor
    res = run_cli(repo.root, "check", "--engine", "regorus", "--stage", "production")
    assert "[SIGN-01]" not in res.out and "[SIGN-02]" not in res.out
    # tampering: another key's signature, then a damaged bundle
    other, _ = _keys(tmp_path / "other")
    weights = repo.root / "models/credit-default/versions/1.0.0/model.safetensors"
    from modelreg.store.signatures import fact_for

    reg = modelreg.open_registry(repo.root)
    record = reg.version("credit-default", "1.0.0").data
    assert fact_for(reg, "credit-default", "1.0.0", record, weights=True).weights_checked
    weights.write_bytes(weights.read_bytes() + b"\0")
    fact = fact_for(reg, "credit-default", "1.0.0", record, weights=True)
    assert not fact.verified and "do not match" in fact.reasons[0]
    assert run_cli(repo.root, "sign", "credit-default@1.0.0", "--key", str(other)).code == 1
    sig = repo.root / out["signature"]
    sig.write_text(sig.read_text().replace('"sig":"', '"sig":"AAAA'))
    res = run_cli(repo.root, "check", "--engine", "regorus")
    assert res.code == 1 and "[SIGN-02]" in res.out


# --- tamper detection -------------------------------------------------------------------------
def _verify(w: World, cwd: Path) -> set[str]:
    res = w.cli(cwd, "verify", "--json")
    assert res.code in (0, 1), res.err
    report = json.loads(res.out)
    return {f"{f['rule']} {f['message']}" for f in report["findings"]}


def test_verify_detects_tampering_of_records_tags_weights_and_stages(world: World, tmp_path):  # noqa: F811
    w = world
    branch, head = w.register("1.0.0", b"weights-1.0.0" * 20)
    w.merge(branch)
    w.reconcile(w.reviews(("grace-ds", head)))
    branch, head = w.promote("promote", "iris-classifier@1.0.0", "--stage", "staging")
    w.merge(branch)
    w.reconcile(w.reviews(("carol-risk", head)))
    ci = w.ci
    git(ci, "pull", "-q", "--ff-only", "origin", "main")
    assert w.cli(ci, "verify").code == 0
    res = w.cli(ci, "gate", "iris-classifier", "--stage", "staging")
    assert res.code == 0, res.out

    # (c) a corrupted object in the DVC remote: dvc pull (verify = true) refuses, verify reports
    record = load(ci / "models/iris-classifier/versions/1.0.0.yaml").data
    md5 = record["artifacts"][0]["md5"]
    obj = w.base / "dvc-remote" / "files" / "md5" / md5[:2] / md5[2:]
    obj.chmod(0o444)
    good = obj.read_bytes()
    os.chmod(obj, 0o644)
    obj.write_bytes(good[:-1] + b"X")
    obj.chmod(0o444)                          # as DVC writes it: trusted by its name
    found = _verify(w, ci)
    assert any(f.startswith("VER-03") and "DVC remote" in f for f in found), found
    fresh = w.clone("fresh")
    assert dvc(fresh, "pull", "-q").returncode != 0
    assert not (fresh / "models/iris-classifier/versions/1.0.0/model.safetensors").exists()
    os.chmod(obj, 0o644)
    obj.write_bytes(good)

    # (d) stages.yaml naming a version never registered
    stages = ci / "models/iris-classifier/stages.yaml"
    saved = stages.read_text()
    stages.write_text("stages:\n  staging: 1.0.0\n  production: 9.9.9\n")
    found = _verify(w, ci)
    assert any(f.startswith("VER-04") and "9.9.9" in f for f in found), found
    stages.write_text(saved)

    # (a) a registered record edited after its tag
    vfile = ci / "models/iris-classifier/versions/1.0.0.yaml"
    vfile.write_text(vfile.read_text().replace("0.96", "0.99"))
    found = _verify(w, ci)
    assert any(f.startswith("VER-01") and "changed after" in f for f in found), found
    git(ci, "checkout", "-q", "--", str(vfile))

    # (b) tags: moved, made lightweight, deleted
    reg_tag = "iris-classifier@v1.0.0"
    target = git(ci, "rev-parse", f"{reg_tag}^{{commit}}").strip()
    git(ci, "tag", "-f", "-a", reg_tag, "HEAD", "-m", "moved by hand")
    found = _verify(w, ci)
    assert any(f.startswith("VER-02") and "was moved" in f for f in found), found
    git(ci, "tag", "-f", reg_tag, target)                      # lightweight, right commit
    found = _verify(w, ci)
    assert any(f.startswith("VER-02") and "lightweight" in f for f in found), found
    res = w.cli(ci, "gate", "iris-classifier", "--stage", "staging")
    assert res.code == 1 and f"tag {reg_tag} does not count" in res.out
    git(ci, "tag", "-d", reg_tag)
    found = _verify(w, ci)
    assert any(f.startswith("VER-02") and "does not exist" in f for f in found), found
    res = w.cli(ci, "verify")
    assert res.code == 1
