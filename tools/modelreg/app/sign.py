"""``modelreg sign``: sign a version's weights with OpenSSF ``model-signing`` and a local
key, offline. The bundle is kept in git as ``models/NAME/versions/X.Y.Z.sig``; what it covers
and how it is verified is store/signatures.py."""
from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from modelreg.core.errors import InputError, RefusedError, UsageError
from modelreg.core.files import hash_file, write_atomic
from modelreg.store.registry import Registry, check_name, check_version
from modelreg.store.signatures import import_model_signing, signature_path, verify, weights_of


@dataclass(frozen=True)
class SignResult:
    model: str
    version: str
    signature: str                     # root-relative path of the bundle
    files: tuple[str, ...]             # what was signed, relative to the version folder
    key: str | None                    # id of the trusted key that verifies it, if any


def sign(registry: Registry, name: str, version: str, key: str) -> SignResult:
    """Sign the weights of ``name`` ``version`` with the EC private key at ``key`` (PEM)."""
    name, version = check_name(name), check_version(version)
    rec = registry.version(name, version)
    vdir = registry.model_dir(name) / "versions" / version
    key_path = Path(key)
    if not key_path.is_file() or key_path.is_symlink():
        raise UsageError(f"key {key} is not a regular file", hint="pass a PEM EC private key")
    files = weights_of(rec.data)
    if not files:
        raise RefusedError(f"{name} {version} records no artifacts to sign", file=rec.path)
    for fname, sha in files:
        path = vdir / fname
        if path.is_symlink() or not path.is_file():
            raise RefusedError(f"the weights {registry.rel(path)} are not here",
                               hint="run `dvc pull` first: the signature covers the bytes")
        if hash_file(path).sha256 != sha:
            raise RefusedError(f"{registry.rel(path)} does not hash to the recorded sha256",
                               hint="restore the registered weights (`dvc checkout`) and sign "
                                    "again; never sign bytes that were not registered")
    model_signing, _, _ = import_model_signing()
    signed = {f for f, _ in files}
    ignore = sorted(e.name for e in os.scandir(vdir) if e.name not in signed)
    out = registry.root / signature_path(name, version)
    with tempfile.TemporaryDirectory(prefix="modelreg-sign-") as tmp:
        bundle = Path(tmp) / out.name        # model-signing writes it; we publish it atomically
        try:
            hashing = model_signing.hashing.Config().use_file_serialization(
                hashing_algorithm="sha256").set_ignored_paths(paths=ignore, ignore_git_paths=True)
            (model_signing.signing.Config().use_elliptic_key_signer(private_key=key_path)
             .set_hashing_config(hashing).sign(vdir, bundle))
            signed_bytes = bundle.read_bytes()
        except (ValueError, TypeError, OSError) as exc:
            raise InputError(f"signing failed: {exc}", file=key,
                             hint="use an EC private key in PEM (openssl ecparam -name "
                                  "prime256v1 -genkey -noout -out key.pem)") from exc
    write_atomic(out, signed_bytes)
    fact = verify(registry, name, version, rec.data, signed_bytes)
    return SignResult(name, version, registry.rel(out), tuple(sorted(signed)), fact.key)


__all__ = ["sign", "SignResult"]
