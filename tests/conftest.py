"""Shared fixtures: real, isolated, offline git repositories with fixed identities and dates.

Every test runs with its own HOME, no system or global git config, DVC analytics off and a
private DVC site cache, so nothing leaks between tests or from the machine.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

PROJECT = Path(__file__).resolve().parent.parent

IDENTITY = {
    "GIT_AUTHOR_NAME": "Alice Martin", "GIT_AUTHOR_EMAIL": "alice.martin@example.com",
    "GIT_COMMITTER_NAME": "Alice Martin", "GIT_COMMITTER_EMAIL": "alice.martin@example.com",
    "GIT_AUTHOR_DATE": "2026-05-01T10:00:00Z", "GIT_COMMITTER_DATE": "2026-05-01T10:00:00Z",
}


@dataclass(frozen=True)
class SigningKey:
    """An SSH key made for this test session, offline: the CI identity signs registry tags
    with it, and the template registry lists it in policies/data/tag-signing.yaml."""

    private: Path
    public: str
    id: str = "ci-reconcile"

    def signer_entry(self) -> dict:
        return {"id": self.id, "format": "ssh", "key": self.public}


def make_ssh_key(folder: Path, name: str = "signing", comment: str = "ci") -> SigningKey:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f",
                    str(path)], check=True, capture_output=True)
    return SigningKey(path, (folder / f"{name}.pub").read_text().strip())


_SIGNING: list[SigningKey] = []


def session_key() -> SigningKey:
    """The session's signing key (made on first use)."""
    if not _SIGNING:
        _SIGNING.append(make_ssh_key(Path(_tmp_factory.mktemp("signing-key"))))
    return _SIGNING[0]


def signing_config(key: SigningKey | None = None) -> str:
    """``git config`` lines (``-c`` pairs) that make ``git tag -s`` sign with ``key``."""
    key = key or session_key()
    return f"[gpg]\n\tformat = ssh\n[user]\n\tsigningKey = {key.private}\n"


def tag_signing_yaml(*signers: dict, signed: bool = True) -> str:
    import json as _json

    lines = [f"signed_tags: {'true' if signed else 'false'}", "allowed_signers:"
             if signers else "allowed_signers: []"]
    for s in signers:
        lines.append(f"  - id: {s['id']}")
        lines.append(f"    format: {s['format']}")
        lines.append(f"    key: {_json.dumps(s['key'])}")
    return "\n".join(lines) + "\n"


@pytest.fixture(autouse=True)
def isolated_env(tmp_path_factory, monkeypatch):
    home = tmp_path_factory.mktemp("home")
    # the CI identity signs: `git tag -s` (and reconcile) use the session's key
    (home / ".gitconfig").write_text(signing_config())
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(home / ".gitconfig"))
    monkeypatch.setenv("DVC_NO_ANALYTICS", "1")
    monkeypatch.setenv("DVC_SITE_CACHE_DIR", str(home / "dvc-site-cache"))
    monkeypatch.setenv("DVC_GLOBAL_CONFIG_DIR", str(home / "dvc-global"))
    monkeypatch.setenv("DVC_SYSTEM_CONFIG_DIR", str(home / "dvc-system"))
    monkeypatch.delenv("GIT_DIR", raising=False)
    monkeypatch.delenv("GIT_WORK_TREE", raising=False)
    for key, value in IDENTITY.items():
        monkeypatch.setenv(key, value)
    yield


def git(cwd: Path, *args: str, env: dict | None = None) -> str:
    proc = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True,
                          env={**os.environ, **(env or {})})
    if proc.returncode != 0:
        raise AssertionError(f"git {' '.join(args)} failed: {proc.stderr}")
    return proc.stdout


def dvc(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "dvc", *args], cwd=cwd, capture_output=True,
                          text=True)


@dataclass
class Repo:
    """A registry clone in a temp folder, with a bare origin and a local DVC remote."""

    root: Path
    origin: Path
    remote: Path

    def git(self, *args: str, **kw) -> str:
        return git(self.root, *args, **kw)

    def snapshot(self) -> dict:
        """Everything a failed command must leave unchanged."""
        status = self.git("status", "--porcelain", "--untracked-files=all")  # refreshes the index
        files = {}
        for p in sorted(self.root.rglob("*")):
            rel = p.relative_to(self.root).as_posix()
            if rel.startswith((".git/", ".dvc/tmp", ".dvc/cache")) or p.is_dir():
                continue
            files[rel] = p.read_bytes()
        return {
            "files": files,
            "head": self.git("rev-parse", "HEAD").strip(),
            "branch": self.git("symbolic-ref", "-q", "HEAD").strip(),
            "branches": self.git("for-each-ref", "refs/heads"),
            "status": status,
            "staged": self.git("ls-files", "-s"),
        }


def make_registry(base: Path, with_models: bool = False) -> Repo:
    """A new registry from this project's template: schemas, policies, DVC, one commit.

    Built once per session and flavour, then copied: ``dvc init`` costs about a second.
    """
    key = "models" if with_models else "empty"
    template = _TEMPLATES.get(key)
    if template is None:
        template = _build_registry(Path(_tmp_factory.mktemp(f"template-{key}")), with_models)
        _TEMPLATES[key] = template
    for name in ("registry", "origin.git"):
        shutil.copytree(template.root.parent / name, base / name, symlinks=True)
    repo = Repo(base / "registry", base / "origin.git", base / "dvc-remote")
    repo.git("remote", "set-url", "origin", str(repo.origin))
    return repo


_TEMPLATES: dict[str, Repo] = {}
_tmp_factory = None


@pytest.fixture(autouse=True, scope="session")
def _template_factory(tmp_path_factory):
    global _tmp_factory
    _tmp_factory = tmp_path_factory
    yield


def _build_registry(base: Path, with_models: bool) -> Repo:
    root, origin, remote = base / "registry", base / "origin.git", base / "dvc-remote"
    root.mkdir()
    for folder in ("schemas", "policies"):
        shutil.copytree(PROJECT / folder, root / folder)
    (root / "policies" / "data" / "tag-signing.yaml").write_text(
        tag_signing_yaml(session_key().signer_entry()))
    (root / "models").mkdir()
    if with_models:
        for name in ("iris-classifier", "credit-default"):
            (root / "models" / name).mkdir()
            shutil.copy(PROJECT / "models" / name / "model.yaml", root / "models" / name)
    git(base, "init", "-q", "--bare", "-b", "main", str(origin))
    git(root, "init", "-q", "-b", "main")
    proc = dvc(root, "init", "-q")
    assert proc.returncode == 0, proc.stderr
    # relative to .dvc/: the remote sits beside the clone, so every copy gets its own
    (root / ".dvc" / "config").write_text(
        "[core]\n    remote = local\n['remote \"local\"']\n"
        "    url = ../../dvc-remote\n    verify = true\n")
    (root / "README.md").write_text("test registry\n")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "Start the registry")
    git(root, "remote", "add", "origin", str(origin))
    git(root, "push", "-q", "origin", "main")
    return Repo(root, origin, remote)


@pytest.fixture
def repo(tmp_path) -> Repo:
    return make_registry(tmp_path, with_models=True)


@pytest.fixture
def empty_repo(tmp_path) -> Repo:
    return make_registry(tmp_path)


@dataclass
class Result:
    code: int
    out: str
    err: str


@pytest.fixture
def run_cli(capsys, monkeypatch):
    """Run the real CLI entry point in-process: ``run_cli(repo_root, "ls", "--json")``."""
    from modelreg.cli import main

    def run(cwd: Path, *args: str) -> Result:
        capsys.readouterr()
        monkeypatch.chdir(cwd)
        try:
            main(list(args))
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
        captured = capsys.readouterr()
        return Result(code, captured.out, captured.err)

    return run


def write_weights(folder: Path, name: str = "model.safetensors", payload: bytes = b"") -> Path:
    """A weights file. A ``.safetensors`` name gets a well-formed safetensors file holding
    ``payload`` as its one tensor (by default 64 zero bytes, with the file's name in its
    metadata, so each name gives other bytes): the scanner refuses anything else under that
    name. Other names get ``payload`` as it is."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    if name.endswith(".safetensors"):
        path.write_bytes(safetensors_bytes(name, payload or b"\x00" * 64))
    else:
        path.write_bytes(payload or (b"weights:" + name.encode() + b"\x00" * 64))
    return path


def safetensors_bytes(label: str, data: bytes = b"\x00" * 64) -> bytes:
    """A well-formed safetensors file holding ``data`` as one U8 tensor."""
    import json
    import struct

    header = json.dumps({"__metadata__": {"name": label},
                         "w": {"dtype": "U8", "shape": [len(data)],
                               "data_offsets": [0, len(data)]}}).encode()
    return struct.pack("<Q", len(header)) + header + data


def stage_on_main(root: Path, model: str, stage: str, version: str | None, counter: int,
                  date: str = "2026-05-03T10:00:00Z", target: str | None = None) -> str:
    """What a promotion merged straight on main and reconciled leaves behind: a commit of
    ``stages.yaml`` asking for ``version`` in ``stage`` (None: removing it), and the stage tag
    bound to it (its evidence names that commit; no pull request). Returns the tag's name."""
    from modelreg.core.tags import assignment, format_message, unassignment
    from modelreg.core.yamlio import dump_yaml, parse_yaml

    path = root / "models" / model / "stages.yaml"
    data = parse_yaml(path.read_text(), "stages.yaml") if path.exists() else None
    data = data if isinstance(data, dict) else {}
    stages = dict(data.get("stages") or {})
    held = stages.get(stage)
    if version is None:
        stages.pop(stage, None)
    else:
        stages[stage] = version
    path.write_text(dump_yaml({**data, "stages": stages}))
    env = {"GIT_AUTHOR_DATE": date, "GIT_COMMITTER_DATE": date}
    git(root, "add", str(path))
    git(root, "commit", "-q", "-m", f"{stage}: {version}", env=env)
    merge = git(root, "rev-parse", "HEAD").strip()
    if git(root, "remote").split():
        git(root, "push", "-q", "origin", "HEAD:main")      # the protected branch as origin has it
    shown = version or str(held)
    name = (assignment if version else unassignment)(model, stage, counter)
    target = target or git(root, "rev-list", "-n1", f"{model}@v{shown}").strip()
    evidence = {"event": "assign" if version else "unassign", "model": model,
                "version": shown, "stage": stage, "merge_commit": merge,
                "tool": "modelreg test"}
    git(root, "tag", "-s", name, target, "-m", format_message(f"{stage}: {shown}", evidence),
        env=env)
    return name


S3_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                  "AWS_DEFAULT_REGION": "us-east-1"}


@dataclass
class S3:
    """moto's S3 server on 127.0.0.1 (a free port) holding one bucket, ``weights``."""

    endpoint: str
    client: object            # a boto3 S3 client of that endpoint
    server: object            # moto's ThreadedMotoServer: ``stop()`` makes it unreachable


@pytest.fixture
def s3(monkeypatch):
    """An S3-compatible server for DVC remotes, stopped after the test."""
    import boto3
    from moto.server import ThreadedMotoServer

    for key, value in S3_CREDENTIALS.items():
        monkeypatch.setenv(key, value)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        url = f"http://{host}:{port}"
        client = boto3.client("s3", endpoint_url=url)
        client.create_bucket(Bucket="weights")
        yield S3(url, client, server)
    finally:
        server.stop()


def load_bench():
    """tools/bench.py as the module ``bench`` (loaded once: its generator builds registries
    for the benchmark's and the shard tests)."""
    import importlib.util

    if "bench" in sys.modules:
        return sys.modules["bench"]
    spec = importlib.util.spec_from_file_location("bench", PROJECT / "tools" / "bench.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench"] = module      # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module
