"""DVC, in process: add weights, push them, read ``.dvc`` pointers, and where this clone's
DVC objects are (the cache, the default remote) and whether a remote holds some.

``dvc.repo`` costs about 0.25 s to import, so only commands that write weights or ask a
remote import it; :func:`storage` reads ``.dvc/config`` without DVC.
DVC resolves relative targets against the current directory, not the repository: we pass
absolute paths (docs/architecture.md#pitfalls-of-the-tools-underneath).
"""
from __future__ import annotations

import contextlib
import io
import logging
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from modelreg.core.errors import CannotRunError, InputError
from modelreg.core.yamlio import parse_yaml, read_text


@dataclass(frozen=True)
class Pointer:
    """One output of a ``.dvc`` file."""

    path: str
    md5: str
    size: int | None


# What `dvc add` writes for one file; anything else goes through the full YAML parser.
_CANONICAL = re.compile(r"outs:\n- md5: ([0-9a-f]{32})\n  size: ([0-9]{1,18})\n  hash: md5\n"
                        r"  path: ([A-Za-z0-9._+-][A-Za-z0-9._+ -]{0,254})\n\Z")


MAX_POINTER_BYTES = 64 * 1024


def read_pointer(path: str | os.PathLike, display: str | None = None) -> list[Pointer]:
    """Parse a ``.dvc`` file into its outputs (refusing anything that is not a DVC 3 pointer)."""
    name = display or str(path)
    return parse_pointer(read_text(path, display=name, max_bytes=MAX_POINTER_BYTES), name)


def parse_pointer(text: str, name: str) -> list[Pointer]:
    """The outputs of a ``.dvc`` file's text (``name`` is shown in errors)."""
    m = _CANONICAL.match(text)
    if m and m.group(3) not in (".", ".."):
        return [Pointer(m.group(3), m.group(1), int(m.group(2)))]
    data = parse_yaml(text, name)
    outs = data.get("outs") if isinstance(data, dict) else None
    if not isinstance(outs, list) or not outs:
        raise InputError("not a DVC pointer: no 'outs' list", file=name,
                         hint="recreate it with `dvc add`")
    pointers = []
    for out in outs:
        if not isinstance(out, dict):
            raise InputError("not a DVC pointer: 'outs' entry is not a mapping", file=name)
        md5 = str(out.get("md5", ""))
        rel = out.get("path")
        size = out.get("size")
        if len(md5) != 32 or any(c not in "0123456789abcdef" for c in md5):
            raise InputError(f"DVC pointer has no valid md5 ({md5!r})", file=name)
        if not isinstance(rel, str) or not rel or "/" in rel or rel in (".", ".."):
            raise InputError(f"DVC pointer has an unsafe path {rel!r}", file=name,
                             hint="a pointer names a file beside it")
        if size is not None and (not isinstance(size, int) or isinstance(size, bool) or size < 0):
            raise InputError(f"DVC pointer has an invalid size {size!r}", file=name)
        pointers.append(Pointer(rel, md5, size))
    return pointers


def _config(root: Path) -> dict[str, dict[str, str]]:
    """``.dvc/config`` (+ ``config.local``) as section -> key -> value, without DVC."""
    sections: dict[str, dict[str, str]] = {}
    for name in ("config", "config.local"):
        path = root / ".dvc" / name
        if not path.is_file():
            continue
        current = None
        for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
            head = re.match(r"^\s*\[\s*'?(.*?)'?\s*\]\s*$", line)
            if head:
                current = sections.setdefault(head.group(1), {})
                continue
            kv = re.match(r"^\s*([A-Za-z_][\w-]*)\s*=\s*(.*?)\s*$", line)
            if kv and current is not None:
                current[kv.group(1)] = kv.group(2)
    return sections


@dataclass(frozen=True)
class Storage:
    """Where this clone's DVC objects are: its cache, and the default remote that
    ``dvc pull`` reads (``folder`` when that remote is a local path, a folder or a mounted
    share that can be read here without DVC)."""

    cache: Path
    remote: str | None = None
    url: str | None = None
    folder: Path | None = None


def object_path(store: Path, md5: str) -> Path:
    """Where a DVC 3 cache or local remote keeps the object named ``md5``."""
    return store / "files" / "md5" / md5[:2] / md5[2:]


def storage(root: Path) -> Storage:
    """The cache (``cache.dir``, else ``.dvc/cache``) and the default remote of the DVC
    project at ``root``, from ``.dvc/config`` and ``config.local``; relative paths there
    are relative to ``.dvc/``, as DVC reads them."""
    config = _config(root)

    def value(section: str, key: str) -> str:
        return config.get(section, {}).get(key, "").strip("'\"")

    def local(url: str) -> Path | None:
        if url.startswith("file://"):
            url = url[len("file://"):]
        elif "://" in url:
            return None                   # s3://, gs://, ssh://…: only DVC can read it
        return Path(url) if os.path.isabs(url) else root / ".dvc" / url

    cache = local(value("cache", "dir")) if value("cache", "dir") else None
    name = value("core", "remote") or None
    url = value(f'remote "{name}"', "url") or None if name else None
    return Storage(cache or root / ".dvc" / "cache", name, url, local(url) if url else None)


def remote_options(root: Path, name: str) -> dict[str, str]:
    """The settings of the DVC remote ``name`` (``url``, ``verify``, ``endpointurl``…), from
    ``.dvc/config`` and ``config.local``, without DVC; quotes taken off."""
    section = _config(root).get(f'remote "{name}"', {})
    return {key: value.strip("'\"") for key, value in section.items()}


# Where a remote of each scheme answers, when the URL does not say: (host, port).
_DEFAULT_ENDPOINTS = {"s3": ("s3.amazonaws.com", 443), "gs": ("storage.googleapis.com", 443)}
_DEFAULT_PORTS = {"http": 80, "https": 443, "webdav": 80, "webdavs": 443, "ssh": 22,
                  "sftp": 22}


def endpoint_of(url: str, options: dict[str, str]) -> tuple[str, int] | None:
    """The host and port that a non-local remote's storage answers on (S3's ``endpointurl``
    or ``$AWS_ENDPOINT_URL`` when set), or None when it cannot be told without DVC's plugin (Azure, HDFS…)."""
    from urllib.parse import urlsplit  # noqa: PLC0415 - only doctor asks

    scheme = urlsplit(url).scheme.lower()
    # S3's endpoint: the remote's `endpointurl`, else the one AWS's SDKs take from the
    # environment (an S3-compatible store such as MinIO), else AWS's own
    endpoint = options.get("endpointurl") or os.environ.get("AWS_ENDPOINT_URL_S3") \
        or os.environ.get("AWS_ENDPOINT_URL") if scheme == "s3" else None
    if endpoint:
        url = endpoint
        scheme = urlsplit(url).scheme.lower()
    elif scheme in _DEFAULT_ENDPOINTS:
        return _DEFAULT_ENDPOINTS[scheme]
    parts = urlsplit(url)
    if scheme not in _DEFAULT_PORTS or not parts.hostname:
        return None
    try:
        port = parts.port or _DEFAULT_PORTS[scheme]
    except ValueError:
        return None
    return parts.hostname, port


def probe(host: str, port: int, timeout: float) -> str | None:
    """Why ``host:port`` does not accept a TCP connection within ``timeout`` seconds (name
    lookup included), or None when it does. Nothing is sent and no credential is used; a
    machine without a network gets an answer as fast as its resolver fails."""
    import socket  # noqa: PLC0415
    import threading  # noqa: PLC0415

    outcome: list[str | None] = []

    def connect() -> None:
        try:
            with socket.create_connection((host, port), timeout=timeout):
                outcome.append(None)
        except OSError as exc:
            outcome.append(exc.strerror or str(exc) or type(exc).__name__)

    worker = threading.Thread(target=connect, daemon=True)
    worker.start()
    worker.join(timeout)
    if not outcome:
        return f"no answer within {timeout:g} s"
    return outcome[0]


def remote_holds(root: Path, md5s: Iterable[str]) -> set[str]:
    """Which of ``md5s`` the default remote of the DVC project at ``root`` holds
    (:meth:`Dvc.holds`)."""
    dvc = Dvc(root)
    try:
        return dvc.holds(md5s)
    finally:
        dvc.close()


def _quiet_env() -> None:
    os.environ.setdefault("DVC_NO_ANALYTICS", "1")


@contextlib.contextmanager
def _quiet():
    """DVC prints hints ("To track the changes with git…") on stdout, which belongs to our
    machine-readable output: capture them, and keep DVC's logger to errors only."""
    logger = logging.getLogger("dvc")
    level = logger.level
    logger.setLevel(logging.CRITICAL)
    try:
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            yield
    finally:
        logger.setLevel(level)


class Dvc:
    """The DVC project at the registry root."""

    def __init__(self, root: Path) -> None:
        self.root = root
        if not (root / ".dvc").is_dir():
            raise CannotRunError("the registry has no DVC project (.dvc/ is missing)",
                                 hint="run `dvc init` and `dvc remote add -d NAME URL` first")
        _quiet_env()
        from dvc.repo import Repo  # heavy import, only for commands that need it  # noqa: PLC0415

        try:
            with _quiet():
                self._repo = Repo(str(root))
        except Exception as exc:  # a broken .dvc/config, an unreadable project
            raise CannotRunError(f"DVC cannot open the project: {exc}",
                                 hint="run `dvc doctor` and fix .dvc/config") from exc

    def default_remote(self) -> str:
        name = self._repo.config.get("core", {}).get("remote")
        if not name:
            raise CannotRunError("no default DVC remote is configured",
                                 hint="run `dvc remote add -d NAME URL`")
        return name

    def holds(self, md5s: Iterable[str]) -> set[str]:
        """Which of ``md5s`` the default remote holds, asked in one batch (DVC lists or
        probes the remote as it judges cheaper). Any failure to ask (no remote, a missing
        plugin such as ``dvc[s3]``, credentials, network) raises: an unanswered question is
        never an empty remote."""
        wanted = sorted(set(md5s))
        remote = self.default_remote()
        try:
            with _quiet():
                odb = self._repo.cloud.get_remote_odb(remote)
                return set(odb.oids_exist(wanted)) if wanted else set()
        except Exception as exc:  # DVC, fsspec and the cloud SDKs raise many types
            raise CannotRunError(
                f"could not ask the DVC remote {remote!r} which weights it holds: "
                f"{type(exc).__name__}: {exc}",
                hint="check the remote's URL, credentials and network (`dvc remote list`, "
                     "`dvc doctor`; a cloud remote needs its DVC plugin, e.g. "
                     "`pip install 'dvc[s3]'`), then run again") from exc

    def add(self, paths: list[Path]) -> None:
        try:
            with _quiet():
                self._repo.add([str(p.resolve()) for p in paths])
        except Exception as exc:  # DVC raises many types; all mean "could not add"
            raise CannotRunError(f"dvc add failed: {exc}",
                                 hint="check the weights files and `dvc doctor`") from exc

    def push(self, pointers: list[Path]) -> int:
        """Push the outputs of the given ``.dvc`` files; returns how many objects were sent.

        DVC uploads each object to a temporary file beside its final name and renames it
        when complete; a failed upload (a full disk, a quota) leaves the temporary file
        behind. On a local remote (a folder, a mounted share) a failed push removes the
        temporary files it started, so the remote holds whole objects only."""
        remote = self.default_remote()
        started = self._partial_uploads(remote, pointers)
        done = False
        try:
            with _quiet():
                sent = int(self._repo.push(targets=[str(p.resolve()) for p in pointers],
                                           remote=remote))
            done = True
            return sent
        except Exception as exc:
            removed = _remove_new(started)
            note = f" (removed {removed} partial upload(s) from the remote)" if removed else ""
            raise CannotRunError(
                f"dvc push to remote {remote!r} failed: {exc}{note}",
                hint="check that the remote is reachable and has room (`dvc push` by hand "
                     "shows details), then run register again") from exc
        finally:
            if not done:
                _remove_new(started)

    def pull(self, pointers: list[Path]) -> None:
        """Fetch the outputs of the given ``.dvc`` files from the default remote and check
        them out in the work tree (with ``verify = true`` a corrupted object is refused)."""
        remote = self.default_remote()
        try:
            with _quiet():
                self._repo.pull(targets=[str(p.resolve()) for p in pointers], remote=remote)
        except Exception as exc:  # DVC raises many types; all mean "could not pull"
            raise CannotRunError(f"dvc pull from remote {remote!r} failed: {exc}",
                                 hint="check that the remote is reachable and holds the "
                                      "version's objects (`dvc pull` by hand shows details)"
                                 ) from exc

    def _partial_uploads(self, remote: str, pointers: list[Path]) -> dict[Path, set[str]]:
        """For a local remote: each object folder the push writes to, with the temporary
        files already in it (another upload's, not ours to remove)."""
        try:
            odb = self._repo.cloud.get_remote_odb(remote)
            if odb.fs.protocol != "local":
                return {}
            md5s = {ptr.md5 for p in pointers for ptr in read_pointer(p)}
            folders = {Path(odb.oid_to_path(md5)).parent for md5 in md5s}
        except Exception:  # noqa: BLE001 - a hint for cleaning up, never a reason to fail
            return {}
        return {f: {t.name for t in f.glob(_TMP)} if f.is_dir() else set() for f in folders}

    def close(self) -> None:
        self._repo.close()


_TMP = ".*.tmp"     # dvc-objects' temporary name for an upload in progress


def _remove_new(started: dict[Path, set[str]]) -> int:
    removed = 0
    for folder, before in started.items():
        if not folder.is_dir():
            continue
        for tmp in folder.glob(_TMP):
            if tmp.name not in before:
                with contextlib.suppress(OSError):
                    tmp.unlink()
                    removed += 1
        if not before:
            with contextlib.suppress(OSError):
                folder.rmdir()            # only when empty: it was made for our object
    return removed



REMOTE_NAME = "storage"


def init_project(root: Path, remote_url: str) -> None:
    """``dvc init`` in the git work tree ``root``, with ``remote_url`` as the default remote
    and ``verify = true`` (DVC re-hashes what it pulls, so a corrupted object is never checked
    out). A local path is written as given; a relative one is read from ``.dvc/``."""
    _quiet_env()
    from dvc.repo import Repo  # heavy import, only for commands that need it  # noqa: PLC0415

    try:
        with _quiet():
            repo = Repo.init(str(root))
            try:
                with repo.config.edit("repo") as conf:
                    conf["remote"][REMOTE_NAME] = {"url": remote_url, "verify": True}
                    conf["core"]["remote"] = REMOTE_NAME
            finally:
                repo.close()
    except Exception as exc:  # DVC raises many types; all mean "could not initialise"
        raise CannotRunError(f"dvc init failed: {exc}",
                             hint="check the --remote URL and `dvc doctor`") from exc
