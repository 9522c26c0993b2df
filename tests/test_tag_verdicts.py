"""Signed registry tags, the verdicts: which allowed signer (policies/data/tag-signing.yaml,
read through RegistryConfig) signed a tag object, cached by object id and signers; and the
configuration's schema and defaults. Real git and a real SSH key made offline per session."""
from __future__ import annotations

import json

import pytest

import modelreg
from conftest import git, session_key, tag_signing_yaml
from modelreg.store.config import RegistryConfig, TagSigning
from modelreg.store.registry import Registry
from modelreg.store.tagsign import signature_verdicts, split_signature


# --- the verdicts themselves ------------------------------------------------------------------
def test_verdicts_are_cached_by_tag_object_and_signers(repo, tmp_path, monkeypatch):
    from modelreg.store import cache as cache_mod

    monkeypatch.setattr(cache_mod, "FEW_TAGS", 0)      # three tags count as many here
    git(repo.root, "tag", "-s", "-m", "signed", "a")
    git(repo.root, "tag", "-a", "--no-sign", "-m", "annotated", "b")
    git(repo.root, "tag", "c")
    registry = Registry(repo.root)
    refs = registry.git.refs(["refs/tags/a", "refs/tags/b", "refs/tags/c"])
    by_name = {r.name: r.object for r in refs}
    first = signature_verdicts(registry, refs)
    assert first[by_name["a"]].valid and first[by_name["a"]].signer == "ci-reconcile"
    assert first[by_name["b"]].reason == "it is not signed"
    assert "lightweight" in first[by_name["c"]].reason
    cache = repo.root / ".git/modelreg/tag-signatures.json"
    cached = json.loads(cache.read_text())
    assert cached["valid"] == {"ci-reconcile": [by_name["a"]]}
    assert set(cached["invalid"]) == {by_name["b"], by_name["c"]}
    assert signature_verdicts(registry, refs) == first
    # another list of signers judges afresh: the same tag is now from an unknown key
    nobody = TagSigning(True, (), True)
    assert not signature_verdicts(registry, refs, signing=nobody)[by_name["a"]].valid


def test_a_registry_without_tag_signing_yaml_requires_signed_tags(repo):
    (repo.root / "policies/data/tag-signing.yaml").unlink()
    config = Registry(repo.root).config.tag_signing
    assert config.required and config.signers == () and not config.declared


def test_the_schema_and_config_reject_a_broken_signer_list(repo):
    path = repo.root / "policies/data/tag-signing.yaml"
    key = session_key().signer_entry()
    for text, words in [
        ("allowed_signers: []\n", "signed_tags"),
        (tag_signing_yaml({**key, "format": "x509"}), "format"),
        (tag_signing_yaml({**key, "key": "ssh-ed25519 not-base64!"}), "key"),
        (tag_signing_yaml({**key, "key": "ssh-rsa " + key["key"].split()[1]}), "not a ssh-rsa"),
        (tag_signing_yaml(key, key), "listed twice"),
    ]:
        path.write_text(text)
        with pytest.raises(modelreg.ModelregError) as err:
            RegistryConfig.load(Registry(repo.root))
        assert words in str(err.value), (text, str(err.value))


def test_signatures_are_split_as_git_splits_them():
    body = b"object 1\ntype commit\ntag t\n\nmsg\n-----BEGIN PGP SIGNATURE-----\nzz\n" \
           b"-----END PGP SIGNATURE-----\n"
    payload, sig, fmt = split_signature(body)
    assert payload.endswith(b"msg\n") and sig.startswith(b"-----BEGIN PGP") and fmt == "openpgp"
    assert split_signature(b"object 1\n\nplain\n") == (b"object 1\n\nplain\n", b"", None)
    # a marker inside a line is not a signature
    assert split_signature(b"x -----BEGIN SSH SIGNATURE-----\n")[2] is None


def test_one_models_few_tags_are_verified_without_the_cache(repo):
    git(repo.root, "tag", "-s", "-m", "signed", "a")
    registry = Registry(repo.root)
    refs = registry.git.refs(["refs/tags/a"])
    assert signature_verdicts(registry, refs)[refs[0].object].valid
    assert not (repo.root / ".git/modelreg/tag-signatures.json").exists()
