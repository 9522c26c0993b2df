"""Model signatures: what a version's signature proves, for check, gate and verify.

OpenSSF ``model-signing`` signs the folder ``models/NAME/versions/X.Y.Z/`` (the weights as
``dvc pull`` checks them out; the ``.dvc`` pointers and ``.gitignore`` are left out) with a
local elliptic-curve key: a Sigstore bundle with a DSSE envelope over an in-toto statement
that lists every file's sha256, and no transparency log, so no network
(docs/architecture.md#pitfalls-of-the-tools-underneath). The bundle is kept in git beside the
version record as ``models/NAME/versions/X.Y.Z.sig``. Trusted public keys and which risk
tiers need a signature in production are policy data: ``policies/data/signing.yaml``
(SIGN-01, SIGN-02).

Verification has two depths. Without the weights (a pull-request check), the envelope is
verified with each trusted key and the signed digests must be the version record's sha256
values. With the weights present, model-signing re-hashes the files as well.
"""
from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from modelreg.core.errors import CannotRunError, InputError
from modelreg.store.registry import MODELS_DIR, Registry

MAX_SIGNATURE_BYTES = 1 << 20


def signature_path(name: str, version: str) -> str:
    return f"{MODELS_DIR}/{name}/versions/{version}.sig"


@dataclass
class SignatureFact:
    """What check, gate and verify know about a version's signature (policy input)."""

    present: bool = False
    verified: bool = False
    key: str | None = None
    weights_checked: bool = False
    reasons: list[str] = field(default_factory=list)
    digests: dict[str, str] = field(default_factory=dict)    # file name -> signed sha256

    def to_input(self) -> dict[str, Any]:
        return {"present": self.present, "verified": self.verified, "key": self.key}


def trusted_keys(registry: Registry) -> dict[str, str]:
    """Key id -> PEM public key, from the configuration's signing.yaml (empty when absent)."""
    return {k.id: k.public_key for k in registry.config.signing_keys.values()}


def import_model_signing():
    try:
        import model_signing  # noqa: PLC0415, F401  (≈1.4 s: only when a signature is involved)
        from model_signing._signing import sign_ec_key, sign_sigstore_pb  # noqa: PLC0415
    except ImportError as exc:
        raise CannotRunError(f"model-signing is not usable: {exc}",
                             hint="pip install 'model-signing==1.1.1' 'pyopenssl==26.4.0' "
                                  "(model-signing needs pyopenssl but does not declare it)"
                             ) from exc
    return model_signing, sign_ec_key, sign_sigstore_pb


def weights_of(record: dict) -> list[tuple[str, str]]:
    """(file name, recorded sha256) of each artifact of the version."""
    out = []
    for art in record.get("artifacts") or []:
        if isinstance(art, dict) and isinstance(art.get("path"), str):
            out.append((art["path"].rsplit("/", 1)[-1], str(art.get("sha256", ""))))
    return out


def verify(judge: Registry, name: str, version: str, record: dict,
           signature: bytes | None, weights_dir: Path | None = None) -> SignatureFact:
    """Check ``signature`` (bundle bytes, or None when there is none) against the keys
    ``judge``'s policy data trusts and the record; with ``weights_dir`` holding the files,
    re-hash them too."""
    fact = SignatureFact()
    if signature is None:
        return fact
    fact.present = True
    keys = trusted_keys(judge)
    if not keys:
        fact.reasons.append(f"no trusted public key in {judge.config.file('signing')}")
        return fact
    model_signing, ec_key, sigstore_pb = import_model_signing()
    with tempfile.TemporaryDirectory(prefix="modelreg-sig-") as tmp:
        sig_file = Path(tmp) / "bundle.sig"
        sig_file.write_bytes(signature)
        try:
            bundle = sigstore_pb.Signature.read(sig_file)
        except Exception as exc:   # malformed JSON or bundle: not a signature we accept
            fact.reasons.append(f"the signature is not a valid bundle: {type(exc).__name__}")
            return fact
        manifest = None
        for key_id, pem in sorted(keys.items()):
            pub = Path(tmp) / f"{len(key_id)}.pub"
            pub.write_text(pem)
            try:
                manifest = ec_key.Verifier(pub).verify(bundle)
            except Exception:
                continue
            fact.key = key_id
            break
        if manifest is None:
            fact.reasons.append("no trusted key verifies the signature")
            return fact
        fact.digests = {rd.identifier: rd.digest.digest_hex
                        for rd in manifest.resource_descriptors()}
        recorded = dict(weights_of(record))
        if fact.digests != recorded:
            fact.reasons.append("the signed files or digests differ from the version record")
            return fact
        if weights_dir is not None and all((weights_dir / f).is_file() for f in recorded):
            try:
                (model_signing.verifying.Config()
                 .use_elliptic_key_verifier(public_key=Path(tmp) / f"{len(fact.key)}.pub")
                 .set_ignore_unsigned_files(True).verify(weights_dir, sig_file))
                fact.weights_checked = True
            except Exception as exc:
                fact.reasons.append(f"the weights do not match the signature: {exc}"[:400])
                return fact
    fact.verified = True
    return fact


def fact_for(records: Registry, name: str, version: str, record: dict, *,
             judge: Registry | None = None, weights: bool = False) -> SignatureFact:
    """The signature fact of a version: the bundle as ``records`` holds it (the work tree or
    a revision), judged by the trusted keys of ``judge`` (default: ``records``); with
    ``weights``, the work tree's weights files are re-hashed too."""
    rel = signature_path(name, version)
    data: bytes | None = None
    if records.is_file(rel):
        raw = records.read_bytes(rel)
        data = raw if len(raw) < MAX_SIGNATURE_BYTES else None
    vdir = records.model_dir(name) / "versions" / version
    return verify(judge or records, name, version, record, data, vdir if weights else None)


def annotate(records: Registry, docs: list[dict[str, Any]], *,
             judge: Registry | None = None) -> None:
    """Add the ``signature`` fact to each version document of a policy input."""
    for doc in docs:
        record = doc.get("version")
        if not isinstance(record, dict) or not isinstance(record.get("version"), str):
            continue
        try:
            fact = fact_for(records, doc["name"], record["version"], record, judge=judge)
        except (CannotRunError, InputError, OSError):
            fact = SignatureFact(present=True)
        doc["signature"] = fact.to_input()


__all__ = ["verify", "fact_for", "annotate", "trusted_keys", "signature_path", "weights_of",
           "SignatureFact", "import_model_signing"]
