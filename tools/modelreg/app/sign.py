"""Signing a version's weights and verifying the signature, offline.

OpenSSF ``model-signing`` signs the folder ``models/NAME/versions/X.Y.Z/`` (the weights as
``dvc pull`` checks them out; the ``.dvc`` pointers and ``.gitignore`` are left out) with a
local elliptic-curve key: a Sigstore bundle with a DSSE envelope over an in-toto statement
that lists every file's sha256, and no transparency log, so no network
(reference/ecosystem.md, section 5). The bundle is kept in git beside the version record as
``models/NAME/versions/X.Y.Z.sig``. Trusted public keys and which risk tiers need a
signature in production are policy data: ``policies/data/signing.yaml`` (SIGN-01, SIGN-02).

Verification has two depths. Without the weights (a pull-request check), the envelope is
verified with each trusted key and the signed digests must be the version record's sha256
values. With the weights present, model-signing re-hashes the files as well.
"""
from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from modelreg.core.errors import CannotRunError, InputError, RefusedError, UsageError
from modelreg.store.registry import MODELS_DIR, Registry, check_name, check_version


def signature_path(name: str, version: str) -> str:
    return f"{MODELS_DIR}/{name}/versions/{version}.sig"


@dataclass(frozen=True)
class SignResult:
    model: str
    version: str
    signature: str                     # root-relative path of the bundle
    files: tuple[str, ...]             # what was signed, relative to the version folder
    key: str | None                    # id of the trusted key that verifies it, if any


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


def _import():
    try:
        import model_signing  # noqa: F401  (≈1.4 s: only when a signature is involved)
        from model_signing._signing import sign_ec_key, sign_sigstore_pb
    except ImportError as exc:
        raise CannotRunError(f"model-signing is not usable: {exc}",
                             hint="pip install 'model-signing==1.1.1' 'pyopenssl==26.4.0' "
                                  "(model-signing needs pyopenssl but does not declare it)"
                             ) from exc
    return model_signing, sign_ec_key, sign_sigstore_pb


def _weights(registry: Registry, record: dict, vdir: Path) -> list[tuple[str, str]]:
    """(file name, recorded sha256) of each artifact of the version."""
    out = []
    for art in record.get("artifacts") or []:
        if isinstance(art, dict) and isinstance(art.get("path"), str):
            out.append((art["path"].rsplit("/", 1)[-1], str(art.get("sha256", ""))))
    return out


def sign(registry: Registry, name: str, version: str, key: str) -> SignResult:
    """Sign the weights of ``name`` ``version`` with the EC private key at ``key`` (PEM)."""
    name, version = check_name(name), check_version(version)
    rec = registry.version(name, version)
    vdir = registry.model_dir(name) / "versions" / version
    key_path = Path(key)
    if not key_path.is_file() or key_path.is_symlink():
        raise UsageError(f"key {key} is not a regular file", hint="pass a PEM EC private key")
    files = _weights(registry, rec.data, vdir)
    if not files:
        raise RefusedError(f"{name} {version} records no artifacts to sign", file=rec.path)
    from modelreg.store.dvc import file_hashes

    for fname, sha in files:
        path = vdir / fname
        if path.is_symlink() or not path.is_file():
            raise RefusedError(f"the weights {registry.rel(path)} are not here",
                               hint="run `dvc pull` first: the signature covers the bytes")
        if file_hashes(path)[1] != sha:
            raise RefusedError(f"{registry.rel(path)} does not hash to the recorded sha256",
                               hint="restore the registered weights (`dvc checkout`) and sign "
                                    "again; never sign bytes that were not registered")
    model_signing, _, _ = _import()
    signed = {f for f, _ in files}
    ignore = sorted(e.name for e in os.scandir(vdir) if e.name not in signed)
    out = registry.root / signature_path(name, version)
    tmp = out.with_name(f".{out.name}.tmp-{os.getpid()}")
    try:
        hashing = model_signing.hashing.Config().use_file_serialization(
            hashing_algorithm="sha256").set_ignored_paths(paths=ignore, ignore_git_paths=True)
        (model_signing.signing.Config().use_elliptic_key_signer(private_key=key_path)
         .set_hashing_config(hashing).sign(vdir, tmp))
        os.replace(tmp, out)
    except (ValueError, TypeError, OSError) as exc:
        raise InputError(f"signing failed: {exc}", file=key,
                         hint="use an EC private key in PEM (openssl ecparam -name prime256v1 "
                              "-genkey -noout -out key.pem)") from exc
    finally:
        tmp.unlink(missing_ok=True)
    fact = verify(registry, name, version, rec.data, out.read_bytes())
    return SignResult(name, version, registry.rel(out), tuple(sorted(signed)), fact.key)


def verify(registry: Registry, name: str, version: str, record: dict,
           signature: bytes | None, weights_dir: Path | None = None) -> SignatureFact:
    """Check ``signature`` (bundle bytes, or None when there is none) against the trusted
    keys and the record; with ``weights_dir`` holding the files, re-hash them too."""
    fact = SignatureFact()
    if signature is None:
        return fact
    fact.present = True
    keys = trusted_keys(registry)
    if not keys:
        fact.reasons.append(f"no trusted public key in {registry.config.file('signing')}")
        return fact
    model_signing, ec_key, sigstore_pb = _import()
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
        vdir = registry.model_dir(name) / "versions" / version
        recorded = dict(_weights(registry, record, vdir))
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


def fact_for(registry: Registry, name: str, version: str, record: dict,
             rev: str | None = None, weights: bool = False) -> SignatureFact:
    """The signature fact of a version, reading the bundle from the work tree or ``rev``."""
    rel = signature_path(name, version)
    data: bytes | None
    if rev is None:
        path = registry.root / rel
        data = path.read_bytes() if path.is_file() and not path.is_symlink() \
            and path.stat().st_size < 1 << 20 else None
    else:
        from modelreg.store.git import CatFile

        with CatFile(registry.git) as cat:
            data = cat.read(f"{rev}:{rel}")
    vdir = registry.model_dir(name) / "versions" / version
    return verify(registry, name, version, record, data, vdir if weights else None)


def annotate(registry: Registry, docs: list[dict[str, Any]], rev: str | None = None) -> None:
    """Add the ``signature`` fact to each version document of a policy input."""
    for doc in docs:
        record = doc.get("version")
        if not isinstance(record, dict) or not isinstance(record.get("version"), str):
            continue
        try:
            fact = fact_for(registry, doc["name"], record["version"], record, rev=rev)
        except (CannotRunError, InputError, OSError):
            fact = SignatureFact(present=True)
        doc["signature"] = fact.to_input()


__all__ = ["sign", "verify", "fact_for", "annotate", "trusted_keys", "signature_path",
           "SignResult", "SignatureFact"]
