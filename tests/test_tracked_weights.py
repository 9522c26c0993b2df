"""ART-03 (no weights committed to git) judges what git tracks: the weights `register`
copied stay behind as untracked files when its branch is left, and must not block the
next command on `main`; weights added to git are still refused."""
from __future__ import annotations

import json

import pytest

import modelreg
from conftest import write_weights


@pytest.fixture
def left_behind(repo, tmp_path):
    """`register` on its branch, then back to main: the copied weights stay, untracked."""
    reg = modelreg.open_registry(repo.root)
    w = write_weights(tmp_path / "w", payload=b"weights" * 20)
    modelreg.register(reg, modelreg.RegisterRequest(
        name="iris-classifier", version="1.0.0", weights=[str(w)],
        datasets=[modelreg.DatasetSpec.parse("test:iris-test@2026.11")]))
    repo.git("checkout", "-q", "main")
    untracked = repo.git("ls-files", "--others", "--exclude-standard").split()
    assert "models/iris-classifier/versions/1.0.0/model.safetensors" in untracked
    return repo


def _rules(run_cli, root, *args) -> dict[str, list[str]]:
    res = run_cli(root, "check", "--json", *args)
    assert res.code in (0, 1), res.err
    out: dict[str, list[str]] = {}
    for f in json.loads(res.out)["findings"]:
        out.setdefault(f["rule"], []).append(f["file"])
    return out


def test_untracked_weights_are_not_committed_weights(left_behind, run_cli):
    assert "ART-03" not in _rules(run_cli, left_behind.root)
    assert "ART-03" not in _rules(run_cli, left_behind.root, "--changed-since", "HEAD")


def test_weights_added_to_git_are_refused(left_behind, run_cli):
    weights = "models/iris-classifier/versions/1.0.0/model.safetensors"
    left_behind.git("add", "-f", weights)
    assert _rules(run_cli, left_behind.root)["ART-03"] == [weights]
    left_behind.git("commit", "-q", "-m", "weights in git")
    found = _rules(run_cli, left_behind.root, "--changed-since", "HEAD~1")
    assert found["ART-03"] == [weights]
