"""Retirement (OPS-04), end to end on a real registry: a data scientist's clone, the CI
job's clone, reviews as recorded GitHub JSON.

A model in production cannot be retired, neither by ``modelreg retire`` nor by a hand edit
of model.yaml that the check would let through; once its stages are emptied the retirement's
pull request passes the check; a retired model can no longer be promoted, neither by
``modelreg promote`` nor by a hand edit of stages.yaml."""
from __future__ import annotations

import json

import pytest

import modelreg
from conftest import git, safetensors_bytes
from test_signoff import World

MODEL = "iris-classifier"


def _in_production(w: World) -> None:
    branch, head = w.register("1.0.0", b"weights-1.0.0" * 20)
    ok = w.reviews(("grace-ds", head))
    w.merge(branch)
    w.reconcile(ok)
    for stage, approver in (("staging", "carol-risk"), ("production", "dave-risk")):
        branch, head = w.promote("promote", f"{MODEL}@1.0.0", "--stage", stage)
        ok = w.reviews((approver, head))
        w.merge(branch)
        w.reconcile(ok)
    assert modelreg.open_registry(w.ci).state(MODEL).stages == {
        "staging": "1.0.0", "production": "1.0.0"}


def _hand_edit(w: World, branch: str, rel: str, edit) -> str:
    """A pull request that changes ``rel`` by hand (``edit``: old text to new): its head."""
    w.start_branch()
    git(w.ds, "checkout", "-q", "-b", branch)
    path = w.ds / rel
    path.write_text(edit(path.read_text()))
    git(w.ds, "commit", "-q", "-am", f"Edit {rel}")
    git(w.ds, "push", "-q", "origin", branch)
    return w.head(w.ds)


def _everyone(w: World, head: str) -> str:
    """Approvals from every owner the pull request could need (none is its author)."""
    return w.reviews(("grace-ds", head), ("carol-risk", head), ("dave-risk", head))


RETIREMENT = "retirement:\n  date: '2026-06-20'\n  reason: Replaced by a newer model.\n"


@pytest.fixture
def world(tmp_path, run_cli, monkeypatch):
    w = World(tmp_path, run_cli, monkeypatch)
    _in_production(w)
    return w


def test_a_model_in_production_cannot_be_retired(world: World):
    w = world
    w.start_branch()
    before = w.cli(w.ds, "show", MODEL, "--json").out
    res = w.cli(w.ds, "retire", MODEL, "--reason", "Replaced by a newer model.")
    assert res.code == 1, res.out + res.err
    assert "still holds production (1.0.0), staging (1.0.0)" in res.err
    assert "modelreg deprecate iris-classifier" in res.err
    assert git(w.ds, "status", "--porcelain") == ""
    assert git(w.ds, "symbolic-ref", "--short", "HEAD").strip() == "main"
    assert w.cli(w.ds, "show", MODEL, "--json").out == before

    # the same retirement written by hand: the pull request's check denies it, whoever
    # approves it
    head = _hand_edit(w, "retire-by-hand", f"models/{MODEL}/model.yaml",
                      lambda text: text + RETIREMENT)
    res = w.check_pr(head, _everyone(w, head))
    assert res.code == 1
    assert "[OPS-04] iris-classifier is retired but 1.0.0 still holds production" in res.out

    # pushed straight to main, past the check: the deploy gate refuses the retired model
    deploy = w.clone("deploy")
    git(deploy, "fetch", "-q", "--force", "origin", "+refs/tags/*:refs/tags/*")
    res = w.cli(deploy, "gate", MODEL, "--stage", "production", "--json")
    assert res.code == 0, res.out                       # the honest deployment before it
    git(w.ds, "push", "-q", "origin", "HEAD:main")
    git(deploy, "pull", "-q", "--ff-only", "origin", "main")
    res = w.cli(deploy, "gate", MODEL, "--stage", "production", "--json")
    assert res.code == 1
    assert "iris-classifier is retired since 2026-06-20 (main's model.yaml, OPS-04)" in \
        " ".join(json.loads(res.out)["reasons"])


def test_retire_once_out_of_every_stage_then_no_promotion(world: World):
    w = world
    # take it out of every stage first, as the refusal says
    branch, head = w.promote("deprecate", MODEL, "-m", "Replaced")
    ok = _everyone(w, head)
    w.merge(branch)
    w.reconcile(ok)
    assert modelreg.open_registry(w.ci).state(MODEL).stages == {}

    w.start_branch()
    assert w.cli(w.ds, "retire", MODEL, "--reason", "  ").code == 2
    res = w.cli(w.ds, "retire", MODEL, "--reason", "x", "--replaced-by", "no-such-model")
    assert res.code == 2 and "no model named 'no-such-model'" in res.err
    res = w.cli(w.ds, "retire", MODEL, "--reason", "x", "--date", "2026-02-30")
    assert res.code == 2
    assert git(w.ds, "status", "--porcelain") == ""

    model_yaml = w.ds / f"models/{MODEL}/model.yaml"
    original = model_yaml.read_text()
    # an uncommitted edit would not be judged with the pull request: refused
    model_yaml.write_text(original + "# a note\n")
    res = w.cli(w.ds, "retire", MODEL, "--reason", "x")
    assert res.code == 1 and "uncommitted changes (models/iris-classifier/model.yaml)" in res.err
    model_yaml.write_text(original)
    res = w.cli(w.ds, "retire", MODEL, "--reason", "Superseded by the credit model: "
                "one scorer for both", "--date", "2026-06-20", "--replaced-by",
                "credit-default", "--json")
    assert res.code == 0, res.out + res.err
    out = json.loads(res.out)
    assert out["action"] == "retire" and out["branch"] == "retire/iris-classifier"
    assert out["file"] == "models/iris-classifier/model.yaml"
    # appended: every comment and key of the file kept, in its order
    text = model_yaml.read_text()
    assert text.startswith(original)
    reg = modelreg.open_registry(w.ds)
    assert reg.model(MODEL).data["retirement"] == {
        "date": "2026-06-20", "reason": "Superseded by the credit model: one scorer for both",
        "replaced_by": "credit-default"}
    assert git(w.ds, "status", "--porcelain") == ""
    git(w.ds, "push", "-q", "origin", out["branch"])
    head = w.head(w.ds)
    res = w.check_pr(head, _everyone(w, head))
    assert res.code == 0, res.out + res.err                   # the honest retirement passes
    w.merge(out["branch"])

    w.start_branch()
    res = w.cli(w.ds, "retire", MODEL, "--reason", "again")
    assert res.code == 1 and "retired already since 2026-06-20" in res.err
    res = w.cli(w.ds, "promote", f"{MODEL}@1.0.0", "--stage", "staging")
    assert res.code == 1 and "is retired since 2026-06-20 and cannot be promoted" in res.err
    assert git(w.ds, "symbolic-ref", "--short", "HEAD").strip() == "main"
    # nor does it take new versions
    weights = w.base / "retired-weights.safetensors"
    weights.write_bytes(safetensors_bytes("2.0.0", b"w" * 64))
    res = w.cli(w.ds, "register", MODEL, "--version", "2.0.0", "--weights", str(weights))
    assert res.code == 1 and "is retired (2026-06-20" in res.err, res.err
    assert git(w.ds, "status", "--porcelain") == "" and \
        git(w.ds, "symbolic-ref", "--short", "HEAD").strip() == "main"

    # a promotion written by hand: denied by the check, whoever approves it
    head = _hand_edit(w, "promote-by-hand", f"models/{MODEL}/stages.yaml",
                      lambda text: "stages:\n  staging: 1.0.0\n")
    res = w.check_pr(head, _everyone(w, head))
    assert res.code == 1
    assert "[OPS-04] iris-classifier is retired: 1.0.0 cannot be promoted to staging" in res.out
