"""Fixtures for the policy layer: a temp registry built from this repository's policies,
schemas and example models, and a loopback server that speaks OPA's REST API."""
from __future__ import annotations

import json
import shutil
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from conftest import session_key, tag_signing_yaml
from modelreg import open_registry
from modelreg.policy.engines import ENGINES, PolicyFile, PolicySet, create_engine
from modelreg.store import cards

PROJECT = Path(__file__).resolve().parents[2]
FIXTURES = Path(__file__).parent / "fixtures"
INSTALLED = [name for name in ("regorus", "opa-lib", "opa") if ENGINES[name].available()]

IRIS_VERSION = """\
model: iris-classifier
version: 1.0.0
created_at: "2026-11-01T10:00:00Z"
code: {commit: "%(commit)s", dirty: false}
artifacts:
  - path: models/iris-classifier/versions/1.0.0/model.safetensors
    format: safetensors
    size: 1024
    md5: %(md5)s
    sha256: %(sha)s
    dvc_file: models/iris-classifier/versions/1.0.0/model.safetensors.dvc
datasets:
  - {id: iris-train, revision: "2026.11", role: train, sha256: 56976b3ca9c3efe4cd83471d8ab00bcfd9a0e2aa8e11000f6a6d3c77740cdf16}
  - {id: iris-test, revision: "2026.11", role: test, sha256: e182d3014213c4153a31b5bbfe4011fcc96da54b0e9712b480b1db325b76490a}
metrics:
  - {name: accuracy, value: %(accuracy)s, dataset: iris-test, split: test, slice: overall, threshold: 0.9, direction: higher}
  - {name: f1_macro, value: 0.95, dataset: iris-test, split: test, slice: overall, threshold: 0.88, direction: higher}
"""

CARD = """\
---
license: Apache-2.0
library_name: sklearn
datasets: [iris-train, iris-test]
---
# iris-classifier

## Model Details
Multinomial logistic regression on the four iris measurements.

## Intended Use
Teaching and demonstration of the registry; no decisions about people.

## How to Get Started
Load the safetensors weights and call the predict function of the example.

## Model Card Contact
The ml-platform team, ml-platform@example.com.
"""


def git(root: Path, *args: str) -> str:
    proc = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def write_version(root: Path, accuracy: str = "0.96") -> Path:
    path = root / "models/iris-classifier/versions/1.0.0.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(IRIS_VERSION % {"commit": "c" * 40, "md5": "d" * 32, "sha": "e" * 64,
                                    "accuracy": accuracy})
    dvc = root / "models/iris-classifier/versions/1.0.0/model.safetensors.dvc"
    dvc.parent.mkdir(parents=True, exist_ok=True)
    dvc.write_text("outs:\n- md5: " + "d" * 32 + "\n  size: 1024\n  hash: md5\n"
                   "  path: model.safetensors\n")
    (root / "models/iris-classifier/card.md").write_text(CARD)
    cards.write(open_registry(root), "iris-classifier")   # its generated parts (CARD-04)
    return path


@pytest.fixture
def registry_repo(tmp_path: Path) -> Path:
    """A git registry with the shipped policies, schemas and example model records, committed."""
    root = tmp_path / "registry"
    root.mkdir()
    for folder in ("policies", "schemas"):
        shutil.copytree(PROJECT / folder, root / folder)
    # the template's model records only: versions are what each test registers
    for model in sorted((PROJECT / "models").glob("*/model.yaml")):
        target = root / model.relative_to(PROJECT)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(model, target)
    # the session's key signs registry tags, as reconcile's would
    (root / "policies" / "data" / "tag-signing.yaml").write_text(
        tag_signing_yaml(session_key().signer_entry()))
    git(root, "init", "-q", "-b", "main")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "template")
    return root


def fixture_names() -> list[str]:
    return sorted(p.stem for p in FIXTURES.glob("*.json"))


def load_fixture(name: str) -> dict:
    return json.loads((FIXTURES / f"{name}.json").read_text())


class _OpaApi(BaseHTTPRequestHandler):
    """The subset of OPA's REST API the opa-server engine uses, backed by a local engine."""

    server: FakeOpaServer

    def log_message(self, *args) -> None:   # keep test output clean
        pass

    def _send(self, code: int, body: object | None = None, raw: bytes | None = None) -> None:
        data = raw if raw is not None else (b"" if body is None else json.dumps(body).encode())
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _body(self) -> bytes:
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def do_GET(self) -> None:
        if self.server.garbage:
            return self._send(200, raw=b"<html>not opa</html>")
        if self.path.startswith("/health"):
            return self._send(200, {})
        if self.path.startswith("/v1/policies"):
            return self._send(200, {"result": [{"id": k} for k in self.server.policies]})
        return self._send(404, {"code": "resource_not_found"})

    def do_PUT(self) -> None:
        body = self._body()
        if self.path.startswith("/v1/policies/"):
            pid = self.path[len("/v1/policies/"):]
            text = body.decode()
            try:
                # compiled together with the modules already there, as OPA does
                modules = {**self.server.policies, pid: text}
                probe = create_engine(self.server.backend)
                probe.load(PolicySet(tuple(PolicyFile(f"policies/{k}.rego", v)
                                           for k, v in modules.items()), {}))
            except Exception as exc:   # a parse error, reported the way OPA does
                row = int(getattr(exc, "line", None) or 1)
                return self._send(400, {"code": "invalid_parameter",
                                        "message": "error(s) occurred while compiling module(s)",
                                        "errors": [{"code": "rego_parse_error",
                                                    "message": str(exc),
                                                    "location": {"file": pid, "row": row}}]})
            self.server.policies[pid] = text
            self.server.engine = None
            return self._send(200, {})
        if self.path.startswith("/v1/data/"):
            key = self.path[len("/v1/data/"):]
            self.server.data[key] = json.loads(body)
            self.server.engine = None
            return self._send(204)
        return self._send(404, {"code": "resource_not_found"})

    def do_POST(self) -> None:
        if self.server.garbage:
            return self._send(200, raw=b"<html>not opa</html>")
        path, _, _ = self.path.partition("?")
        if not path.startswith("/v1/data/"):
            return self._send(404, {"code": "resource_not_found"})
        query = "data." + path[len("/v1/data/"):].replace("/", ".")
        payload = json.loads(self._body() or b"{}")
        try:
            value = self.server.evaluate(query, payload.get("input"))
        except Exception as exc:
            return self._send(500, {"code": "internal_error", "message": str(exc)})
        return self._send(200, {} if value is None else {"result": value})


class FakeOpaServer(ThreadingHTTPServer):
    def __init__(self, backend: str) -> None:
        super().__init__(("127.0.0.1", 0), _OpaApi)
        self.backend = backend
        self.policies: dict[str, str] = {}
        self.data: dict[str, object] = {}
        self.engine = None
        self.garbage = False
        self.lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def evaluate(self, query: str, input: object) -> object:
        with self.lock:
            if self.engine is None:
                files = tuple(PolicyFile(f"policies/{k}.rego", v) for k, v in self.policies.items())
                engine = create_engine(self.backend)
                engine.load(PolicySet(files, self.data.get("registry", {})))
                self.engine = engine
            return self.engine.evaluate(query, input)


@pytest.fixture
def opa_server():
    backend = "opa-lib" if ENGINES["opa-lib"].available() else "regorus"
    server = FakeOpaServer(backend)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
