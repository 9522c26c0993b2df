"""Signed registry tags: who signed a tag, and the key reconcile signs with.

Every tag ``modelreg reconcile`` makes is signed (git's ``tag -s``, with ``gpg.format=ssh``
or OpenPGP). Whose signatures count is reviewed policy data, ``policies/data/tag-signing.yaml``
(read through :class:`~modelreg.store.config.RegistryConfig`, ``config.tag_signing``); a
registry without that file requires signed tags and trusts no key, so running unsigned is
only ever by saying ``signed_tags: false``.

Verification (:func:`signature_verdicts`) answers for many tags at once, as a registry of
100,000 tags needs:

* a verdict depends only on the tag object's bytes and on the allowed signers, so it is
  cached under ``.git/modelreg/`` keyed by the tag object id plus a digest of the allowed
  signers: a warm read costs no git call and no signature check;
* the tag objects not in the cache are read through one ``git cat-file --batch`` process;
* SSH signatures (git's SSHSIG format, namespace ``git``) are verified in this process with
  ``cryptography``; OpenPGP signatures with ``gpg --verify`` against a temporary keyring that
  holds only the allowed OpenPGP keys.

A tag object holds its signature at the end of the message; what is signed is everything
before it (git's own split: the last line that opens a signature block). Changing any byte
of the tag — its name, target, tagger or message, the evidence block included — makes the
signature fail; a signature by a key that is not listed is "not an allowed signer".
"""
from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
import struct
import subprocess
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from modelreg.core.errors import CannotRunError, CommandError
from modelreg.core.files import write_atomic
from modelreg.core.release import __version__
from modelreg.store import cache as cache_mod
from modelreg.store.config import AllowedSigner, RegistryConfig, TagSigning
from modelreg.store.git import Git

SSH = "ssh"
OPENPGP = "openpgp"
FORMATS = (SSH, OPENPGP)
ENV_KEY = "MODELREG_SIGNING_KEY"
SSH_NAMESPACE = b"git"
UNSIGNED_REASON = "not signed by an allowed signer"
UNSIGNED_NOTE = "tags are unsigned (tag-signing.yaml: signed_tags: false)"

# The lines git recognises as the start of a signature appended to a tag message.
_SIGNATURE_STARTS = {
    b"-----BEGIN SSH SIGNATURE-----": SSH,
    b"-----BEGIN PGP SIGNATURE-----": OPENPGP,
    b"-----BEGIN PGP MESSAGE-----": OPENPGP,
    b"-----BEGIN SIGNED MESSAGE-----": "x509",
}
_CACHE_FILE = "tag-signatures.json"


@dataclass(frozen=True)
class SignatureVerdict:
    """What a tag object's signature proves.

    ``valid``: an allowed signer's key made a signature over exactly these bytes;
    ``signer``: that signer's id in ``tag-signing.yaml`` (None unless valid);
    ``reason``: why it is not valid, as a phrase ("it is not signed", "signed by a key that
    is not an allowed signer (ssh-ed25519 SHA256:…)", "the signature does not verify: …")."""

    valid: bool
    signer: str | None = None
    reason: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"valid": self.valid, "signer": self.signer, "reason": self.reason}


class _HasObject(Protocol):
    @property
    def object(self) -> str: ...


class _Registry(Protocol):
    root: Path
    git: Git

    @property
    def config(self) -> RegistryConfig: ...


def signers_digest(signing: TagSigning) -> str:
    """sha256 over the allowed signers (id, format, key): part of every cache key, so a
    change to the list re-judges every tag."""
    text = json.dumps([[s.id, s.format, " ".join(s.key.split()[:2]) if s.format == SSH
                        else s.key] for s in signing.signers])
    return hashlib.sha256(text.encode()).hexdigest()


def signature_verdicts(registry: _Registry, refs: Iterable[_HasObject | str], *,
                       signing: TagSigning | None = None) -> dict[str, SignatureVerdict]:
    """The verdict on each tag's signature, keyed by tag object id.

    ``refs`` are :class:`~modelreg.store.git.Ref` or :class:`~modelreg.core.records.Event`
    values (their ``object``) or object ids. A lightweight tag's object is a commit: its
    verdict says it is not signed. ``signing`` defaults to ``registry.config.tag_signing``
    (pass the configuration that judges, e.g. the protected branch's).

    The verdict is a fact about the signature only; whether an unsigned tag is trusted is
    the caller's decision: ``signing.required`` is False when the registry runs unsigned
    (:data:`UNSIGNED_NOTE`). Raises :class:`CannotRunError` when git cannot be read."""
    signing = signing if signing is not None else registry.config.tag_signing
    ids = {r if isinstance(r, str) else r.object for r in refs}
    ids.discard("")
    if not ids:
        return {}
    cache = _VerdictCache(registry.root, signers_digest(signing),
                          use=len(ids) > cache_mod.FEW_TAGS)
    known = cache.known
    out = {oid: known[oid] for oid in ids if oid in known}
    missing = sorted(ids - out.keys())
    if missing:
        checker = _Checker(signing)
        try:
            for oid, kind, raw in _read_objects(registry.git, missing):
                verdict, final = checker.verdict(kind, raw)
                out[oid] = verdict
                if final:
                    cache.put(oid, verdict)
        finally:
            checker.close()
        cache.save()
    return out


def untrusted_signatures(registry: _Registry, refs: Iterable[Any], *,
                         signing: TagSigning | None = None) -> dict[str, str]:
    """Ref name -> why its signature does not make it trusted ("not signed by an allowed
    signer: it is not signed"), for the annotated ``refs`` (Ref values); empty when the
    registry runs unsigned (``signed_tags: false``). Lightweight and borrowed refs are left
    to the caller (they are untrusted for that reason already)."""
    signing = signing if signing is not None else registry.config.tag_signing
    if not signing.required:
        return {}
    annotated = [r for r in refs if r.annotated]
    verdicts = signature_verdicts(registry, annotated, signing=signing)
    out = {}
    for ref in annotated:
        verdict = verdicts.get(ref.object)
        if verdict is None or not verdict.valid:
            out[ref.name] = (f"{UNSIGNED_REASON}: "
                             + (verdict.reason if verdict else "its tag object is missing"))
    return out


def split_signature(raw: bytes) -> tuple[bytes, bytes, str | None]:
    """(signed payload, signature, format) of a tag object, as git splits it: the
    signature starts at the last line that starts with a signature marker; what a tag's
    message says (its evidence block) is read from before that line, inside the payload. An unsigned object gives
    ``(raw, b"", None)``."""
    pos = len(raw)
    while (i := raw.rfind(b"-----BEGIN ", 0, pos)) >= 0:
        if i == 0 or raw[i - 1] == 0x0A:                    # at the start of a line
            # a line that starts with a marker, as git decides (what follows on the line
            # does not matter; such a signature then fails to parse)
            fmt = next((f for m, f in _SIGNATURE_STARTS.items() if raw.startswith(m, i)), None)
            if fmt is not None:
                return raw[:i], raw[i:], fmt
        pos = i
    return raw, b"", None


# --- reading -------------------------------------------------------------------------------
def _read_objects(git: Git, oids: list[str]) -> Iterable[tuple[str, str, bytes]]:
    """(id, type, bytes) of each object, through one ``cat-file --batch`` process fed from a
    thread-free write of all ids at once (git answers in order)."""
    proc = subprocess.run(["git", "cat-file", "--batch"], cwd=git.root,
                          input=("\n".join(oids) + "\n").encode(), capture_output=True,
                          env={**os.environ, "LC_ALL": "C", "GIT_TERMINAL_PROMPT": "0"})
    if proc.returncode != 0:
        raise CommandError(["git", "cat-file", "--batch"], proc.returncode, "",
                           proc.stderr.decode(errors="replace"))
    data, pos = proc.stdout, 0
    for oid in oids:
        end = data.index(b"\n", pos)
        header = data[pos:end].decode().split()
        pos = end + 1
        if len(header) < 3 or header[-1] == "missing":
            yield oid, "missing", b""
            continue
        size = int(header[2])
        yield oid, header[1], data[pos:pos + size]
        pos += size + 1


class _VerdictCache:
    """Verdicts by tag object id for one set of allowed signers, in ``.git/modelreg/``:
    the valid ones as lists of ids per signer (one shared verdict each, so 100,000 entries
    load in one pass), the others with their reason."""

    def __init__(self, root: Path, digest: str, *, use: bool = True) -> None:
        git_dir = root / ".git"
        self.path = git_dir / "modelreg" / _CACHE_FILE if use and git_dir.is_dir() else None
        self.digest = digest
        self.valid: dict[str, list[str]] = {}
        self.invalid: dict[str, str] = {}
        self.known: dict[str, SignatureVerdict] = {}
        self.dirty = False
        if self.path is None or not self.path.is_file():
            return
        try:
            loaded = json.loads(self.path.read_text(encoding="utf-8"))
            if loaded.get("tool") != __version__ or loaded.get("signers") != digest:
                return
            valid, invalid = loaded.get("valid"), loaded.get("invalid")
            if not isinstance(valid, dict) or not isinstance(invalid, dict):
                return
            for signer, oids in valid.items():
                shared = SignatureVerdict(True, str(signer))
                self.known.update(dict.fromkeys(oids, shared))
            for oid, reason in invalid.items():
                self.known[oid] = SignatureVerdict(False, reason=str(reason))
            self.valid, self.invalid = valid, invalid
        except (OSError, ValueError, TypeError):
            self.valid, self.invalid, self.known = {}, {}, {}

    def get(self, oid: str) -> SignatureVerdict | None:
        return self.known.get(oid)

    def put(self, oid: str, verdict: SignatureVerdict) -> None:
        self.known[oid] = verdict
        if verdict.valid and verdict.signer:
            self.valid.setdefault(verdict.signer, []).append(oid)
        else:
            self.invalid[oid] = verdict.reason or ""
        self.dirty = True

    def save(self) -> None:
        if self.path is None or not self.dirty:
            return
        try:
            write_atomic(self.path, json.dumps({"tool": __version__, "signers": self.digest,
                                                "valid": self.valid,
                                                "invalid": self.invalid}))
        except OSError:
            pass                    # a read-only clone still answers, only slower


# --- verifying ------------------------------------------------------------------------------
class _Checker:
    """Verifies signatures against one set of allowed signers."""

    def __init__(self, signing: TagSigning) -> None:
        self.signing = signing
        self.ssh = {_ssh_blob(s.key): s for s in signing.signers if s.format == SSH}
        self._gpg: _GpgKeyring | None = None

    def close(self) -> None:
        if self._gpg is not None:
            self._gpg.close()

    def verdict(self, kind: str, raw: bytes) -> tuple[SignatureVerdict, bool]:
        """The verdict, and whether it may be cached (a missing gpg is not a fact about
        the tag)."""
        if kind == "missing":
            return SignatureVerdict(False, reason="its tag object is missing"), False
        if kind != "tag":
            return SignatureVerdict(False, reason="it is not signed (a lightweight tag)"), True
        payload, signature, fmt = split_signature(raw)
        if fmt is None:
            return SignatureVerdict(False, reason="it is not signed"), True
        if fmt == SSH:
            return self._ssh(payload, signature), True
        if fmt == OPENPGP:
            try:
                return self._openpgp(payload, signature), True
            except CannotRunError as exc:
                return SignatureVerdict(False, reason=f"its OpenPGP signature could not be "
                                                      f"checked: {exc.message}"), False
        return SignatureVerdict(False, reason=f"it is signed with {fmt}, which modelreg does "
                                              "not verify (use ssh or openpgp)"), True

    def _ssh(self, payload: bytes, signature: bytes) -> SignatureVerdict:
        try:
            sig = parse_sshsig(signature)
        except ValueError as exc:
            return SignatureVerdict(False, reason=f"its SSH signature is malformed: {exc}")
        signer = self.ssh.get(sig.public_key)
        if signer is None:
            return SignatureVerdict(False, reason="signed by a key that is not an allowed "
                                                  f"signer ({ssh_fingerprint(sig.public_key)})")
        if sig.namespace != SSH_NAMESPACE:
            return SignatureVerdict(False, reason=f"its SSH signature is for namespace "
                                                  f"{sig.namespace.decode(errors='replace')!r}"
                                                  ", not 'git'")
        if not verify_sshsig(sig, payload):
            return SignatureVerdict(False, reason=f"its signature by {signer.id} does not "
                                                  "verify: the tag was changed after signing")
        return SignatureVerdict(True, signer.id)

    def _openpgp(self, payload: bytes, signature: bytes) -> SignatureVerdict:
        if self._gpg is None:
            self._gpg = _GpgKeyring([s for s in self.signing.signers if s.format == OPENPGP])
        return self._gpg.verify(payload, signature)


# --- SSH signatures (PROTOCOL.sshsig) --------------------------------------------------------
@dataclass(frozen=True)
class SshSig:
    public_key: bytes        # the signer's public key blob
    namespace: bytes
    reserved: bytes
    hash_algorithm: bytes
    sig_type: bytes
    sig: bytes


def _string(buf: bytes, pos: int) -> tuple[bytes, int]:
    if pos + 4 > len(buf):
        raise ValueError("truncated")
    (size,) = struct.unpack(">I", buf[pos:pos + 4])
    if pos + 4 + size > len(buf):
        raise ValueError("truncated")
    return buf[pos + 4:pos + 4 + size], pos + 4 + size


def _pack(value: bytes) -> bytes:
    return struct.pack(">I", len(value)) + value


def parse_sshsig(armored: bytes) -> SshSig:
    """An armored SSH signature (``-----BEGIN SSH SIGNATURE-----``) as its fields; raises
    ValueError when it is not one."""
    lines = armored.strip().splitlines()
    if len(lines) < 3 or lines[0].strip() != b"-----BEGIN SSH SIGNATURE-----" \
            or lines[-1].strip() != b"-----END SSH SIGNATURE-----":
        raise ValueError("no SSH signature block")
    try:
        blob = base64.b64decode(b"".join(line.strip() for line in lines[1:-1]), validate=True)
    except ValueError as exc:
        raise ValueError("not base64") from exc
    if blob[:6] != b"SSHSIG" or len(blob) < 10:
        raise ValueError("no SSHSIG magic")
    (version,) = struct.unpack(">I", blob[6:10])
    if version != 1:
        raise ValueError(f"version {version}")
    pos = 10
    fields = []
    for _ in range(5):
        value, pos = _string(blob, pos)
        fields.append(value)
    public_key, namespace, reserved, hash_algorithm, signature = fields
    sig_type, p = _string(signature, 0)
    sig, _ = _string(signature, p)
    return SshSig(public_key, namespace, reserved, hash_algorithm, sig_type, sig)


def verify_sshsig(sig: SshSig, payload: bytes) -> bool:
    """Whether ``sig`` is a valid signature over ``payload`` by its own public key."""
    from cryptography.exceptions import InvalidSignature  # noqa: PLC0415 (only on a miss)
    from cryptography.hazmat.primitives import hashes  # noqa: PLC0415
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa  # noqa: PLC0415
    from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature  # noqa: PLC0415

    digests = {b"sha256": hashlib.sha256, b"sha512": hashlib.sha512}
    if sig.hash_algorithm not in digests:
        return False
    signed = (b"SSHSIG" + _pack(sig.namespace) + _pack(sig.reserved)
              + _pack(sig.hash_algorithm) + _pack(digests[sig.hash_algorithm](payload).digest()))
    try:
        kind, pos = _string(sig.public_key, 0)
        if kind == b"ssh-ed25519" and sig.sig_type == b"ssh-ed25519":
            raw, _ = _string(sig.public_key, pos)
            ed25519.Ed25519PublicKey.from_public_bytes(raw).verify(sig.sig, signed)
            return True
        if kind.startswith(b"ecdsa-sha2-") and sig.sig_type == kind:
            curves = {b"nistp256": (ec.SECP256R1(), hashes.SHA256()),
                      b"nistp384": (ec.SECP384R1(), hashes.SHA384()),
                      b"nistp521": (ec.SECP521R1(), hashes.SHA512())}
            curve_name, pos = _string(sig.public_key, pos)
            point, _ = _string(sig.public_key, pos)
            curve, digest = curves[curve_name]
            r, p = _string(sig.sig, 0)
            s, _ = _string(sig.sig, p)
            key = ec.EllipticCurvePublicKey.from_encoded_point(curve, point)
            key.verify(encode_dss_signature(int.from_bytes(r, "big"), int.from_bytes(s, "big")),
                       signed, ec.ECDSA(digest))
            return True
        if kind == b"ssh-rsa" and sig.sig_type in (b"rsa-sha2-256", b"rsa-sha2-512"):
            e, pos = _string(sig.public_key, pos)
            n, _ = _string(sig.public_key, pos)
            key = rsa.RSAPublicNumbers(int.from_bytes(e, "big"),
                                       int.from_bytes(n, "big")).public_key()
            algo = hashes.SHA512() if sig.sig_type == b"rsa-sha2-512" else hashes.SHA256()
            key.verify(sig.sig, signed, padding.PKCS1v15(), algo)
            return True
    except (InvalidSignature, ValueError, KeyError):
        return False
    return False


def _ssh_blob(line: str) -> bytes:
    parts = line.split()
    try:
        return base64.b64decode(parts[1], validate=True) if len(parts) > 1 else b""
    except ValueError:
        return b""


def ssh_fingerprint(blob: bytes) -> str:
    """``ssh-ed25519 SHA256:…``, as ``ssh-keygen -l`` names a key."""
    try:
        kind = _string(blob, 0)[0].decode("ascii", "replace")
    except ValueError:
        kind = "key"
    digest = base64.b64encode(hashlib.sha256(blob).digest()).decode().rstrip("=")
    return f"{kind} SHA256:{digest}"


# --- OpenPGP signatures ---------------------------------------------------------------------
def _gpg(home: str, *args: str, input: bytes | None = None) -> subprocess.CompletedProcess:
    try:
        return subprocess.run(["gpg", "--homedir", home, "--batch", "--no-tty", *args],
                              input=input, capture_output=True,
                              env={**os.environ, "LC_ALL": "C"})
    except FileNotFoundError:
        raise CannotRunError("gpg is not installed",
                             hint="install GnuPG to check OpenPGP-signed tags") from None


class _GpgKeyring:
    """A temporary GnuPG home holding only the allowed OpenPGP keys."""

    def __init__(self, signers: list[AllowedSigner]) -> None:
        self.home = tempfile.mkdtemp(prefix="modelreg-gpg-")
        os.chmod(self.home, 0o700)
        self.by_fpr: dict[str, str] = {}       # primary key fingerprint -> signer id
        for signer in signers:
            shown = _gpg(self.home, "--with-colons", "--import-options", "show-only",
                         "--import", input=signer.key.encode())
            fprs = [line.split(":")[9] for line in shown.stdout.decode().splitlines()
                    if line.startswith("fpr:")]
            if fprs:
                self.by_fpr[fprs[0]] = signer.id
                _gpg(self.home, "--import", input=signer.key.encode())

    def verify(self, payload: bytes, signature: bytes) -> SignatureVerdict:
        with tempfile.TemporaryDirectory(prefix="modelreg-sig-") as tmp:
            sig_file, data_file = Path(tmp, "sig.asc"), Path(tmp, "payload")
            sig_file.write_bytes(signature)
            data_file.write_bytes(payload)
            proc = _gpg(self.home, "--status-fd", "1", "--verify", str(sig_file),
                        str(data_file))
        status = [line.split() for line in proc.stdout.decode(errors="replace").splitlines()
                  if line.startswith("[GNUPG:] ")]
        words = {s[1] for s in status if len(s) > 1}
        if "BADSIG" in words:
            return SignatureVerdict(False, reason="its OpenPGP signature does not verify: "
                                                  "the tag was changed after signing")
        if words & {"EXPKEYSIG", "REVKEYSIG", "EXPSIG"}:
            return SignatureVerdict(False, reason="its OpenPGP signature is by an expired "
                                                  "or revoked key")
        valid = next((s for s in status if len(s) > 11 and s[1] == "VALIDSIG"), None)
        if "GOODSIG" not in words or valid is None:
            missing = next((s[2] for s in status if len(s) > 2 and s[1] in ("ERRSIG",
                                                                             "NO_PUBKEY")), "")
            return SignatureVerdict(False, reason="signed by an OpenPGP key that is not an "
                                                  f"allowed signer ({missing or 'unknown'})")
        signer = self.by_fpr.get(valid[11]) or self.by_fpr.get(valid[2])
        if signer is None:
            return SignatureVerdict(False, reason="signed by an OpenPGP key that is not an "
                                                  f"allowed signer ({valid[2]})")
        return SignatureVerdict(True, signer)

    def close(self) -> None:
        subprocess.run(["gpgconf", "--homedir", self.home, "--kill", "all"],
                       capture_output=True, check=False)
        shutil.rmtree(self.home, ignore_errors=True)


def openpgp_fingerprints(key: str) -> list[str]:
    """The primary key fingerprints in an armored OpenPGP public key block."""
    home = tempfile.mkdtemp(prefix="modelreg-gpg-")
    try:
        shown = _gpg(home, "--with-colons", "--import-options", "show-only", "--import",
                     input=key.encode())
        out, after_pub = [], False
        for line in shown.stdout.decode().splitlines():
            if line.startswith("pub:"):
                after_pub = True
            elif line.startswith("fpr:") and after_pub:
                out.append(line.split(":")[9])
                after_pub = False
        return out
    finally:
        subprocess.run(["gpgconf", "--homedir", home, "--kill", "all"], capture_output=True,
                       check=False)
        shutil.rmtree(home, ignore_errors=True)


# --- the key reconcile signs with --------------------------------------------------------
@dataclass(frozen=True)
class TagSigner:
    """The key ``reconcile`` signs tags with.

    ``key`` is what git's ``user.signingKey`` takes: for ssh a private key file (or a public
    key whose private half is in ssh-agent), for openpgp a key id. ``public`` is the public
    key line (ssh) or primary key fingerprint (openpgp); ``source`` says where it came from."""

    format: str
    key: str
    public: str
    source: str

    def git_args(self) -> list[str]:
        """``git -c …`` options that make ``git tag -s`` sign with this key."""
        return ["-c", f"gpg.format={self.format}", "-c", f"user.signingKey={self.key}"]

    def allowed_as(self, signing: TagSigning) -> str | None:
        """The id of the allowed signer this key is, or None."""
        for s in signing.signers:
            if s.format != self.format:
                continue
            if self.format == SSH and _ssh_blob(s.key) == _ssh_blob(self.public):
                return s.id
            if self.format == OPENPGP and self.public in openpgp_fingerprints(s.key):
                return s.id
        return None


def find_signer(git: Git, key: str | None = None, fmt: str | None = None) -> TagSigner | None:
    """The key to sign tags with: ``key`` (``--signing-key``), else git's own configuration
    (``user.signingKey`` with ``gpg.format``), else the file ``$MODELREG_SIGNING_KEY``.
    None when there is none; :class:`CannotRunError` when the one named is not usable."""
    if key:
        source = "--signing-key"
        fmt = fmt or SSH
    elif configured := git.run("config", "--get", "user.signingKey", check=False).strip():
        key, source = configured, "git config user.signingKey"
        fmt = fmt or git.run("config", "--get", "gpg.format", check=False).strip() or OPENPGP
    elif os.environ.get(ENV_KEY):
        key, source = os.environ[ENV_KEY], f"${ENV_KEY}"
        fmt = fmt or SSH
    else:
        return None
    if fmt not in FORMATS:
        raise CannotRunError(f"signing format {fmt!r} ({source}) is not supported",
                             hint="use ssh or openpgp")
    if fmt == SSH:
        return _ssh_signer(git, key, source)
    return _openpgp_signer(key, source)


def _ssh_signer(git: Git, key: str, source: str) -> TagSigner:
    if key.startswith("key::"):                       # git's literal public key form
        return TagSigner(SSH, key, key[len("key::"):].strip(), source)
    path = Path(key).expanduser()
    if not path.is_absolute():
        path = Path.cwd() / path
    if not path.is_file():
        raise CannotRunError(f"the signing key {key} ({source}) does not exist",
                             hint="give the SSH private key file: --signing-key PATH")
    text = path.read_text(encoding="utf-8", errors="replace").strip()
    if text.startswith(("ssh-", "ecdsa-")):           # a public key: the agent holds the rest
        return TagSigner(SSH, str(path), text, source)
    try:
        proc = subprocess.run(["ssh-keygen", "-y", "-P", "", "-f", str(path)],
                              capture_output=True, text=True, stdin=subprocess.DEVNULL)
    except FileNotFoundError:
        raise CannotRunError("ssh-keygen is not installed; git signs SSH tags with it",
                             hint="install OpenSSH's client tools") from None
    if proc.returncode != 0:
        detail = (proc.stderr.strip().splitlines() or ["unreadable"])[-1]
        hint = ("restrict it: chmod 600 " + str(path)) if "UNPROTECTED" in proc.stderr \
            or "too open" in proc.stderr else \
            "give an unencrypted SSH private key file (the reconcile job has no one to type " \
            "a passphrase)"
        raise CannotRunError(f"the signing key {key} ({source}) is not usable: {detail}",
                             hint=hint)
    return TagSigner(SSH, str(path), proc.stdout.strip(), source)


def _openpgp_signer(key: str, source: str) -> TagSigner:
    try:
        proc = subprocess.run(["gpg", "--batch", "--with-colons", "--list-secret-keys", key],
                              capture_output=True, text=True, stdin=subprocess.DEVNULL)
    except FileNotFoundError:
        raise CannotRunError("gpg is not installed; git signs OpenPGP tags with it",
                             hint="install GnuPG") from None
    fprs = [line.split(":")[9] for line in proc.stdout.splitlines() if line.startswith("fpr:")]
    if proc.returncode != 0 or not fprs:
        raise CannotRunError(f"no OpenPGP secret key {key!r} ({source}) in the keyring",
                             hint="import the key (gpg --import) or give its id: "
                                  "--signing-format openpgp --signing-key KEYID")
    return TagSigner(OPENPGP, key, fprs[0], source)


__all__ = ["SignatureVerdict", "TagSigner", "signature_verdicts", "untrusted_signatures", "find_signer",
           "split_signature", "signers_digest", "UNSIGNED_NOTE", "ENV_KEY"]
