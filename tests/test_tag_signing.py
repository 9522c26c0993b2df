"""Signed registry tags: reconcile signs every tag it makes, and the gate trusts a stage tag
only when an allowed signer (policies/data/tag-signing.yaml, governance's to change) signed
exactly those bytes.

Mallory can push tags but does not hold the reconcile job's key: an annotated tag with an
evidence block copied from a genuine one, a tag she signs with her own key, and a genuine
signed tag re-created with a changed message are all refused. Real git and real keys, made
offline (ssh-keygen, gpg) in the test's temp folders.
"""
from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest
import yaml

from conftest import git, make_ssh_key, session_key, tag_signing_yaml
from modelreg.core.tags import parse_message
from modelreg.store.codeowners import owners_of
from modelreg.store.tagsign import (
    UNSIGNED_NOTE,
    parse_sshsig,
    split_signature,
)
from test_signoff import World

STAGE_TAG = "iris-classifier#staging#1"


@pytest.fixture
def world(tmp_path, run_cli, monkeypatch):
    return World(tmp_path, run_cli, monkeypatch)


def _staged(w: World) -> None:
    """iris-classifier 1.0.0 registered and promoted to staging, each step reconciled."""
    branch, head = w.register("1.0.0", b"w" * 50)
    w.merge(branch)
    w.reconcile(w.reviews(("grace-ds", head)))
    branch, head = w.promote("promote", "iris-classifier@1.0.0", "--stage", "staging")
    w.merge(branch)
    assert [c["tag"] for c in w.reconcile(w.reviews(("carol-risk", head)))["created"]] == \
        [STAGE_TAG]


def _gate(w: World, cwd: Path | None = None, *extra: str) -> dict:
    res = w.cli(cwd or w.ci, "gate", "iris-classifier", "--stage", "staging", "--json", *extra)
    out = json.loads(res.out)
    assert (res.code == 0) == out["ok"], res.out + res.err
    return out


def _replace_tag(w: World, name: str, message: str, *how: str) -> None:
    """Mallory deletes a tag and makes her own under the same name, on the same commit."""
    target = git(w.ci, "rev-parse", f"{name}^{{commit}}").strip()
    git(w.ci, "tag", "-d", name)
    git(w.ci, *how, "tag", "-s", "-m", message, name, target) if how else \
        git(w.ci, "tag", "-a", "--no-sign", "-m", message, name, target)


def _message(w: World, name: str) -> str:
    raw = git(w.ci, "cat-file", "tag", name)
    return split_signature(raw.encode())[0].decode().split("\n\n", 1)[1]


def _without_key(monkeypatch, home: Path) -> None:
    """No signing key anywhere: an empty global git config, no $MODELREG_SIGNING_KEY."""
    empty = home / "empty.gitconfig"
    empty.write_text("")
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(empty))
    monkeypatch.delenv("MODELREG_SIGNING_KEY", raising=False)


def _set_signing(w: World, text: str) -> None:
    """Governance's merged change to policies/data/tag-signing.yaml, on main."""
    (w.admin / "policies/data/tag-signing.yaml").write_text(text)
    git(w.admin, "pull", "-q", "--ff-only", "origin", "main")
    git(w.admin, "add", "policies/data/tag-signing.yaml")
    git(w.admin, "commit", "-q", "-m", "Tag signing")
    git(w.admin, "push", "-q", "origin", "main")


# --- honest ----------------------------------------------------------------------------------
def test_reconcile_signs_every_tag_and_the_gate_names_the_signer(world: World):
    w = world
    _staged(w)
    for name in ("iris-classifier@v1.0.0", STAGE_TAG):
        raw = git(w.ci, "cat-file", "tag", name).encode()
        payload, signature, fmt = split_signature(raw)
        assert fmt == "ssh" and parse_sshsig(signature).namespace == b"git"
        # git itself agrees that the key in tag-signing.yaml made the signature
        allowed = w.base / "allowed_signers"
        allowed.write_text(f"reconcile@example.com {session_key().public}\n")
        out = subprocess.run(["git", "-c", f"gpg.ssh.allowedSignersFile={allowed}", "tag", "-v",
                              name], cwd=w.ci, capture_output=True, text=True)
        assert out.returncode == 0 and "Good \"git\" signature" in out.stderr, out.stderr
        assert parse_message(raw.decode())["event"] in ("register", "assign")
    verdict = _gate(w)
    assert verdict["ok"] and verdict["signer"] == "ci-reconcile", verdict
    res = w.cli(w.ci, "gate", "iris-classifier", "--stage", "staging")
    assert res.code == 0 and "tag signed by ci-reconcile" in res.out, res.out
    # the evidence block reads back whole from a signed tag
    events = json.loads(w.cli(w.ci, "history", "iris-classifier", "--json").out)["events"]
    assert [e["approvers"] for e in events] == [["grace-ds"], ["carol-risk"]]


def test_a_registry_that_says_signed_tags_false_runs_unsigned(world: World, monkeypatch):
    w = world
    _set_signing(w, tag_signing_yaml(signed=False))
    _without_key(monkeypatch, w.base)
    _staged(w)
    assert split_signature(git(w.ci, "cat-file", "tag", STAGE_TAG).encode())[2] is None
    verdict = _gate(w)
    assert verdict["ok"] and verdict["signer"] is None and verdict["notes"] == [UNSIGNED_NOTE]
    res = w.cli(w.ci, "gate", "iris-classifier", "--stage", "staging")
    assert res.code == 0 and UNSIGNED_NOTE in res.out, res.out


def test_openpgp_signing_end_to_end(world: World, monkeypatch):
    w = world
    home = tempfile.mkdtemp(prefix="gpg-")      # short: gpg-agent's socket path is limited
    try:
        monkeypatch.setenv("GNUPGHOME", home)
        subprocess.run(["gpg", "--batch", "--passphrase", "", "--quick-gen-key",
                        "Reconcile <reconcile@example.com>", "ed25519", "sign", "never"],
                       check=True, capture_output=True)
        listing = subprocess.run(["gpg", "--batch", "--with-colons", "--list-secret-keys"],
                                 check=True, capture_output=True, text=True).stdout
        fpr = next(line.split(":")[9] for line in listing.splitlines()
                   if line.startswith("fpr:"))
        public = subprocess.run(["gpg", "--batch", "--armor", "--export", fpr], check=True,
                                capture_output=True, text=True).stdout
        _set_signing(w, yaml.safe_dump({"signed_tags": True, "allowed_signers": [
            {"id": "reconcile-pgp", "format": "openpgp", "key": public}]}))
        _without_key(monkeypatch, w.base)
        branch, head = w.register("1.0.0", b"w" * 50)
        w.merge(branch)
        out = w.reconcile(w.reviews(("grace-ds", head)), "alice-ds",
                          "--signing-format", "openpgp", "--signing-key", fpr)
        assert out["signer"] == "reconcile-pgp"
        branch, head = w.promote("promote", "iris-classifier@1.0.0", "--stage", "staging")
        w.merge(branch)
        w.reconcile(w.reviews(("carol-risk", head)), "alice-ds",
                    "--signing-format", "openpgp", "--signing-key", fpr)
        raw = git(w.ci, "cat-file", "tag", STAGE_TAG).encode()
        assert split_signature(raw)[2] == "openpgp"
        verdict = _gate(w)
        assert verdict["ok"] and verdict["signer"] == "reconcile-pgp", verdict
        # a changed message under the same OpenPGP signature does not verify
        _forge_message(w, STAGE_TAG)
        verdict = _gate(w)
        assert not verdict["ok"] and "does not verify" in " ".join(verdict["reasons"])
    finally:
        subprocess.run(["gpgconf", "--homedir", home, "--kill", "all"], capture_output=True)
        shutil.rmtree(home, ignore_errors=True)


# --- hostile ---------------------------------------------------------------------------------
def test_reconcile_without_a_key_refuses_before_making_any_tag(world: World, monkeypatch):
    w = world
    branch, head = w.register("1.0.0", b"w" * 50)
    w.merge(branch)
    _without_key(monkeypatch, w.base)
    git(w.ci, "pull", "-q", "--ff-only", "origin", "main")
    res = w.cli(w.ci, "reconcile", "--push", "--reviews", w.reviews(("grace-ds", head)),
                "--pr-author", "alice-ds")
    assert res.code == 3 and "requires signed tags" in res.err and "--signing-key" in res.err
    assert git(w.ci, "tag", "-l") == "" and git(w.ci, "ls-remote", "--tags", "origin") == ""


def test_reconcile_with_a_key_that_is_not_allowed_refuses(world: World, monkeypatch):
    w = world
    branch, head = w.register("1.0.0", b"w" * 50)
    w.merge(branch)
    mallory = make_ssh_key(w.base / "mallory", comment="mallory")
    git(w.ci, "pull", "-q", "--ff-only", "origin", "main")
    for how in (["--signing-key", str(mallory.private)], []):
        if not how:
            _without_key(monkeypatch, w.base)
            monkeypatch.setenv("MODELREG_SIGNING_KEY", str(mallory.private))
        res = w.cli(w.ci, "reconcile", "--push", "--reviews", w.reviews(("grace-ds", head)),
                    "--pr-author", "alice-ds", *how)
        assert res.code == 3 and "not an allowed signer" in res.err, res.err
        assert git(w.ci, "tag", "-l") == "" and git(w.ci, "ls-remote", "--tags", "origin") == ""


def test_a_stage_tag_made_without_the_key_is_refused(world: World):
    """Mallory re-creates the staging tag with the genuine evidence block, word for word,
    annotated but unsigned: before signing, the gate could not tell."""
    w = world
    _staged(w)
    assert _gate(w)["ok"]
    _replace_tag(w, STAGE_TAG, _message(w, STAGE_TAG))
    verdict = _gate(w)
    assert not verdict["ok"]
    # the tag counts nowhere: staging is held by nobody, and the gate says why
    assert verdict["reasons"][0].startswith("no version of iris-classifier holds staging")
    assert f"tag {STAGE_TAG} does not count" in verdict["reasons"][1]
    assert verdict["reasons"][1].endswith("not signed by an allowed signer: it is not signed")


def test_a_stage_tag_signed_by_a_key_not_allowed_is_refused(world: World):
    w = world
    _staged(w)
    mallory = make_ssh_key(w.base / "mallory", comment="mallory")
    _replace_tag(w, STAGE_TAG, _message(w, STAGE_TAG), "-c", "gpg.format=ssh", "-c",
                 f"user.signingKey={mallory.private}")
    verdict = _gate(w)
    assert not verdict["ok"] and verdict["signer"] is None
    assert "not an allowed signer" in " ".join(verdict["reasons"]), verdict["reasons"]


def _forge_message(w: World, name: str) -> None:
    """The genuine tag object with one changed line and its signature kept, re-created with
    ``git mktag`` and put under the same name."""
    raw = git(w.ci, "cat-file", "tag", name)
    forged = raw.replace("carol-risk", "mallory")
    assert forged != raw
    oid = subprocess.run(["git", "mktag"], cwd=w.ci, input=forged, capture_output=True,
                         text=True, check=True).stdout.strip()
    git(w.ci, "update-ref", f"refs/tags/{name}", oid)


def test_a_signed_tag_re_created_with_a_changed_message_is_refused(world: World):
    w = world
    _staged(w)
    _forge_message(w, STAGE_TAG)
    verdict = _gate(w)
    assert not verdict["ok"]
    assert "does not verify: the tag was changed after signing" in " ".join(verdict["reasons"])


def test_adding_a_signer_is_governance_s_change_judged_by_the_base(world: World):
    """A pull request that lists Mallory's key: code owners of policies/data are governance;
    the check judges it by the base's rules; and until it is merged her tags stay refused."""
    w = world
    _staged(w)
    mallory = make_ssh_key(w.base / "mallory", comment="mallory")
    codeowners = (w.ci / ".github/CODEOWNERS").read_text()
    assert owners_of(codeowners, "policies/data/tag-signing.yaml") == \
        owners_of(codeowners, "policies/data/people.yaml") == ("@example-org/ai-governance",)
    w.start_branch()
    git(w.ds, "checkout", "-q", "-b", "trust-mallory")
    path = w.ds / "policies/data/tag-signing.yaml"
    data = yaml.safe_load(path.read_text())
    data["allowed_signers"].append({"id": "mallory", "format": "ssh", "key": mallory.public})
    path.write_text(yaml.safe_dump(data))
    git(w.ds, "add", str(path))
    git(w.ds, "commit", "-q", "-m", "Trust another key")
    git(w.ds, "push", "-q", "origin", "trust-mallory")
    head = w.head(w.ds)
    git(w.ds, "fetch", "-q", "origin")
    base = git(w.ds, "rev-parse", "origin/main").strip()

    def check(*approvals):
        res = w.cli(w.ds, "check", "--base", base, "--reviews", w.reviews(*approvals),
                    "--pr-author", "alice-ds", "--head", head, "--json")
        return res.code, {f["rule"] for f in json.loads(res.out)["findings"]
                          if f["severity"] == "error"}
    code, rules = check(("carol-risk", head), ("dave-risk", head))
    assert code == 1 and "GOV-09" in rules
    code, rules = check(("frank-gov", head))
    assert code == 0, rules
    # not merged: a tag Mallory signs is still refused on main
    _replace_tag(w, STAGE_TAG, _message(w, STAGE_TAG), "-c", "gpg.format=ssh", "-c",
                 f"user.signingKey={mallory.private}")
    assert "not an allowed signer" in " ".join(_gate(w)["reasons"])


def test_verify_reports_every_tag_without_an_allowed_signature(world: World):
    w = world
    _staged(w)
    assert w.cli(w.ci, "verify", "--json").code == 0
    _replace_tag(w, "iris-classifier@v1.0.0", _message(w, "iris-classifier@v1.0.0"))
    res = w.cli(w.ci, "verify", "--json")
    found = [f for f in json.loads(res.out)["findings"] if f["rule"] == "VER-07"]
    assert res.code == 1 and [f["file"] for f in found] == ["refs/tags/iris-classifier@v1.0.0"]
    assert "it is not signed" in found[0]["message"]
    # the unsigned registration tag counts nowhere: the gate of its version refuses too
    reasons = " ".join(_gate(w)["reasons"])
    assert "tag iris-classifier@v1.0.0 does not count" in reasons
    assert "not signed by an allowed signer: it is not signed" in reasons


def test_text_appended_after_a_valid_signature_is_refused(world: World):
    """The genuine signed object with a forged evidence block after its signature: the
    evidence read back is the signed one, and the signature no longer parses."""
    w = world
    _staged(w)
    raw = git(w.ci, "cat-file", "tag", STAGE_TAG)
    forged = raw + "\nmodelreg-evidence:\n  event: assign\n  approvers: [mallory]\n"
    oid = subprocess.run(["git", "mktag"], cwd=w.ci, input=forged, capture_output=True,
                         text=True, check=True).stdout.strip()
    git(w.ci, "update-ref", f"refs/tags/{STAGE_TAG}", oid)
    verdict = _gate(w)
    assert not verdict["ok"] and verdict["approvers"] == []
    assert "SSH signature is malformed" in " ".join(verdict["reasons"]), verdict["reasons"]
    # the evidence read back is the signed block, never the text after the signature
    assert parse_message(git(w.ci, "tag", "-l", "--format=%(contents)", STAGE_TAG)
                         ).get("approvers") != ["mallory"]
