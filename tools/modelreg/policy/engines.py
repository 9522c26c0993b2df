"""Rego engines behind one protocol, chosen by name (docs/policies.md#policy-engines).

Every backend loads the policies and the reference data once, evaluates one query over a
batch input, and runs the ``test_*``/``todo_*`` rules of ``*_test.rego`` the way ``opa test -v``
does. Anything that keeps an engine from answering (a syntax error, a builtin error at run
time, a missing or crashing engine, a server that is down or answers garbage) raises
:class:`~modelreg.core.errors.CannotRunError`: a policy gate must never pass silently.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlparse

from modelreg.core.errors import CannotRunError, UsageError
from modelreg.store.registry import Registry

DECISION_QUERY = "data.modelreg.main.decision"
DATA_ROOT = "registry"          # reference data is `data.registry`
_BACKTRACE = "\nStack backtrace:"
_TEST_RULE_RE = re.compile(r"^((?:test|todo)_[A-Za-z0-9_]*)\b", re.M)
_PACKAGE_RE = re.compile(r"^package\s+([A-Za-z0-9_.]+)", re.M)
_LOCATION_RES = (
    re.compile(r"-->\s*(?P<file>[^\s:]+\.rego):(?P<line>\d+)"),       # regorus
    re.compile(r"(?P<file>[^\s:\"]+\.rego):(?P<line>\d+)"),           # OPA
)


@dataclass(frozen=True)
class PolicyFile:
    """One Rego module: its root-relative path (used in messages) and its text."""

    path: str
    text: str

    @property
    def is_test(self) -> bool:
        return self.path.endswith("_test.rego")

    @property
    def package(self) -> str | None:
        m = _PACKAGE_RE.search(self.text)
        return m.group(1) if m else None

    def test_rules(self) -> list[str]:
        seen: list[str] = []
        for name in _TEST_RULE_RE.findall(self.text):
            if name not in seen:
                seen.append(name)
        return seen


@dataclass(frozen=True)
class PolicySet:
    """Everything an engine loads: policy modules and ``data.registry``."""

    files: tuple[PolicyFile, ...]
    data: dict[str, Any]
    root: str = ""
    stage_order: tuple[str, ...] = ()      # registered, then the configured stages

    @property
    def policies(self) -> tuple[PolicyFile, ...]:
        return tuple(f for f in self.files if not f.is_test)

    @property
    def tests(self) -> tuple[PolicyFile, ...]:
        return tuple(f for f in self.files if f.is_test)


@dataclass(frozen=True)
class TestResult:
    """One ``test_*`` (or skipped ``todo_*``) rule's outcome, like a line of ``opa test -v``."""

    __test__ = False   # not a pytest class

    package: str
    name: str
    file: str
    status: str                 # "pass", "fail", "skip" or "error"
    duration_ms: float = 0.0
    message: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"package": self.package, "name": self.name, "file": self.file,
                "status": self.status, "duration_ms": round(self.duration_ms, 3),
                "message": self.message}


POLICY_DIR = "policies"


def load_policy_set(registry: Registry | str | os.PathLike, *,
                    tests: bool = False) -> PolicySet:
    """Read ``policies/*.rego`` of ``registry`` (the work tree or any revision);
    ``data.registry`` is that revision's configuration
    (``RegistryConfig.data``, :mod:`modelreg.store.config`).

    A data file that does not load is a :class:`CannotRunError`: policies evaluated without
    their reference data would answer wrongly.
    """
    if not isinstance(registry, Registry):
        registry = Registry(Path(registry))
    if registry.tree.kind(POLICY_DIR) != "dir":
        raise CannotRunError(f"no {POLICY_DIR}/ folder in {registry.root}"
                             + (f" at {registry.rev[:12]}" if registry.rev else ""),
                             hint="run modelreg inside the registry's clone")
    files = []
    for name, kind in registry.tree.listdir(POLICY_DIR):
        if kind != "file" or not name.endswith(".rego"):
            continue
        pf = PolicyFile(f"{POLICY_DIR}/{name}", registry.read_text(f"{POLICY_DIR}/{name}"))
        if tests or not pf.is_test:
            files.append(pf)
    config = registry.config
    return PolicySet(tuple(files), dict(config.data), str(registry.root), config.stage_order)


def clean_error(text: str) -> str:
    """Engine error text without regorus's Rust backtrace."""
    cut = text.find(_BACKTRACE)
    if cut >= 0:
        text = text[:cut]
    return text.strip()


def policy_error(engine: str, action: str, text: str) -> CannotRunError:
    """A :class:`CannotRunError` naming the policy file and line the engine complained about."""
    text = clean_error(text)
    file = line = None
    for rx in _LOCATION_RES:
        m = rx.search(text)
        if m:
            file, line = m.group("file"), int(m.group("line"))
            break
    return CannotRunError(f"policy engine {engine} could not {action}: {text}", file=file,
                          line=line, hint="fix the policy at that line; nothing was checked")


class Engine(Protocol):
    """What every backend provides."""

    name: str

    def load(self, policy_set: PolicySet) -> None:
        """Load and compile the policies and data once."""

    def evaluate(self, query: str, input: Any) -> Any:
        """Value of ``query`` (a ``data.`` reference) for ``input``; None when undefined."""

    def run_tests(self) -> list[TestResult]:
        """Run every ``test_*``/``todo_*`` rule of the loaded test files."""


def _test_targets(policy_set: PolicySet) -> list[tuple[PolicyFile, str, str]]:
    out = []
    for pf in policy_set.tests:
        pkg = pf.package
        if pkg is None:
            continue
        for name in pf.test_rules():
            out.append((pf, pkg, name))
    return out


def _run_tests_with(policy_set: PolicySet,
                    evaluate: Callable[[str], Any]) -> list[TestResult]:
    """``opa test`` semantics: a test passes when its value is ``true``."""
    results = []
    for pf, pkg, name in _test_targets(policy_set):
        if name.startswith("todo_"):
            results.append(TestResult(pkg, name, pf.path, "skip"))
            continue
        start = time.perf_counter()
        try:
            value = evaluate(f"data.{pkg}.{name}")
            status, message = ("pass", "") if value is True else ("fail", "")
        except CannotRunError as exc:
            status, message = "error", exc.message
        results.append(TestResult(pkg, name, pf.path, status,
                                  (time.perf_counter() - start) * 1000, message))
    return results


# --- regorus (embedded, default) -----------------------------------------------------------
class RegorusEngine:
    """PyPI ``gordon-to-regorus``: an embedded Rego interpreter (Rust)."""

    name = "regorus"

    def __init__(self) -> None:
        try:
            import regorus  # noqa: PLC0415 - an engine is imported when it is chosen (a missing one is a clear error)
        except ImportError:
            raise CannotRunError("the regorus engine is not installed",
                                 hint="pip install gordon-to-regorus") from None
        self._regorus = regorus
        self._engine: Any = None
        self._set: PolicySet | None = None

    @staticmethod
    def available() -> bool:
        try:
            import regorus  # noqa: PLC0415, F401
        except ImportError:
            return False
        return True

    def load(self, policy_set: PolicySet) -> None:
        engine = self._regorus.Engine()
        try:
            for pf in policy_set.files:
                engine.add_policy(pf.path, pf.text)
            engine.add_data_json(json.dumps({DATA_ROOT: policy_set.data}))
        except RuntimeError as exc:
            raise policy_error(self.name, "load the policies", str(exc)) from None
        self._engine = engine
        self._set = policy_set

    def evaluate(self, query: str, input: Any) -> Any:
        try:
            self._engine.set_input_json(json.dumps(input))
            raw = self._engine.eval_query_as_json(query)
        except RuntimeError as exc:
            raise policy_error(self.name, "evaluate the policies", str(exc)) from None
        # eval_rule returns None for both undefined and null; the query API tells them apart
        result = json.loads(raw).get("result") or []
        if not result or not result[0].get("expressions"):
            return None
        return result[0]["expressions"][0]["value"]

    def run_tests(self) -> list[TestResult]:
        assert self._set is not None
        return _run_tests_with(self._set, lambda q: self.evaluate(q, {}))


# --- opa-lib (real OPA in-process) ---------------------------------------------------------
class OpaLibEngine:
    """PyPI ``opa-golib-python-bindings``: the OPA Go library in-process (strict builtins)."""

    name = "opa-lib"

    def __init__(self) -> None:
        try:
            import opa_bindings  # noqa: PLC0415 - an engine is imported when it is chosen (a missing one is a clear error)
        except ImportError:
            raise CannotRunError(
                "the opa-lib engine is not installed",
                hint="pip install --no-deps --ignore-requires-python "
                     "opa-golib-python-bindings==0.4.4") from None
        self._mod = opa_bindings
        self._engine: Any = None
        self._set: PolicySet | None = None
        self._compiled = False
        self.prints: list[tuple[str, str]] = []

    @staticmethod
    def available() -> bool:
        try:
            import opa_bindings  # noqa: PLC0415, F401
        except (ImportError, OSError):
            return False
        return True

    def load(self, policy_set: PolicySet) -> None:
        try:
            engine = self._mod.OpaEngine()
        except Exception as exc:  # noqa: BLE001 - the native library failed to start
            raise CannotRunError(f"the opa-lib engine failed to start: {exc}",
                                 hint="reinstall opa-golib-python-bindings") from None
        # the binding prints Rego print() output to stderr by default; keep it as data
        engine.print_handler = lambda message, location: self.prints.append((location, message))
        try:
            for pf in policy_set.files:
                engine.add_policy(pf.path, pf.text)
            engine.add_data({DATA_ROOT: policy_set.data})
        except self._mod.OpaError as exc:
            raise policy_error(self.name, "load the policies", str(exc)) from None
        self._engine = engine
        self._set = policy_set
        self._compiled = False

    def evaluate(self, query: str, input: Any) -> Any:
        # every query compiles the policies: the first one is their compile check too (a
        # failure is told apart by compiling them alone, so a syntax error still reads as
        # "could not load the policies"), which saves a compile on every run
        try:
            rows = self._engine.eval_query(f"__result := {query}", input)
        except self._mod.OpaError as exc:
            if not self._compiled:
                try:
                    self._engine.eval_query("x := 1")
                except self._mod.OpaError as compile_error:
                    raise policy_error(self.name, "load the policies",
                                       str(compile_error)) from None
            raise policy_error(self.name, "evaluate the policies", str(exc)) from None
        self._compiled = True
        if not rows:
            return None
        return rows[0].get("__result")

    def run_tests(self) -> list[TestResult]:
        assert self._set is not None
        return _run_tests_with(self._set, lambda q: self.evaluate(q, {}))


# --- opa (the binary on PATH) --------------------------------------------------------------
class OpaCliEngine:
    """The ``opa`` binary on PATH, through ``opa eval``/``opa test --format json``."""

    name = "opa"

    def __init__(self, binary: str | None = None) -> None:
        found = binary or shutil.which("opa")
        if not found:
            raise CannotRunError("the opa binary is not on PATH",
                                 hint="install OPA (open-policy-agent/setup-opa in CI) or pick "
                                      "another engine with --engine")
        self.binary = found
        self._dir: tempfile.TemporaryDirectory[str] | None = None
        self._set: PolicySet | None = None

    @staticmethod
    def available() -> bool:
        return shutil.which("opa") is not None

    def _run(self, args: list[str], action: str) -> subprocess.CompletedProcess[str]:
        try:
            return subprocess.run([self.binary, *args], capture_output=True, text=True,
                                  cwd=self._dir.name if self._dir else None, timeout=600)
        except OSError as exc:
            raise CannotRunError(f"could not run {self.binary}: {exc}",
                                 hint="check the opa installation") from None
        except subprocess.TimeoutExpired:
            raise CannotRunError(f"opa did not {action} within 600 s") from None

    def load(self, policy_set: PolicySet) -> None:
        # the files keep their root-relative paths so OPA's messages name them
        self._dir = tempfile.TemporaryDirectory(prefix="modelreg-opa-")
        base = Path(self._dir.name)
        for pf in policy_set.files:
            target = base / pf.path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(pf.text, encoding="utf-8")
        (base / "data.json").write_text(json.dumps({DATA_ROOT: policy_set.data}),
                                        encoding="utf-8")
        self._set = policy_set
        proc = self._run(["check", "--v1-compatible", *self._policy_args()], "check")
        if proc.returncode != 0:
            raise policy_error(self.name, "load the policies", proc.stderr or proc.stdout)

    def _policy_args(self, tests: bool = False) -> list[str]:
        assert self._set is not None
        files = self._set.files if tests else self._set.policies
        return [pf.path for pf in files]

    def evaluate(self, query: str, input: Any) -> Any:
        assert self._dir is not None
        input_path = Path(self._dir.name) / "input.json"
        input_path.write_text(json.dumps(input), encoding="utf-8")
        args = ["eval", "--format", "json", "--strict-builtin-errors", "--input", "input.json",
                "--data", "data.json"]
        for path in self._policy_args():
            args += ["--data", path]
        proc = self._run([*args, query], "evaluate")
        if proc.returncode != 0:
            raise policy_error(self.name, "evaluate the policies", proc.stderr or proc.stdout)
        try:
            out = json.loads(proc.stdout)
        except json.JSONDecodeError:
            raise CannotRunError(f"opa eval printed something that is not JSON: "
                                 f"{proc.stdout[:200]!r}") from None
        if out.get("errors"):
            raise policy_error(self.name, "evaluate the policies", json.dumps(out["errors"]))
        result = out.get("result") or []
        if not result or not result[0].get("expressions"):
            return None
        return result[0]["expressions"][0]["value"]

    def run_tests(self) -> list[TestResult]:
        assert self._set is not None
        proc = self._run(["test", "--format", "json", "-v", "data.json",
                          *self._policy_args(tests=True)], "run the tests")
        try:
            rows = json.loads(proc.stdout or "[]")
        except json.JSONDecodeError:
            raise policy_error(self.name, "run the tests", proc.stderr or proc.stdout) from None
        if not isinstance(rows, list):
            raise policy_error(self.name, "run the tests", proc.stderr or proc.stdout)
        results = []
        for row in rows:
            pkg = str(row.get("package", "")).removeprefix("data.")
            status = ("skip" if row.get("skip") else "error" if row.get("error")
                      else "fail" if row.get("fail") else "pass")
            results.append(TestResult(
                pkg, row.get("name", ""), (row.get("location") or {}).get("file", ""), status,
                (row.get("duration") or 0) / 1e6,
                json.dumps(row["error"]) if row.get("error") else ""))
        return results


# --- opa-server (a running OPA through its REST API) ---------------------------------------
class OpaServerEngine:
    """A running OPA server through ``opa-python-client``.

    Policies go in with the Policy API (``PUT /v1/policies/{id}``), reference data with the
    Data API (``PUT /v1/data/registry``), and decisions come from ``POST /v1/data/{path}``.
    """

    name = "opa-server"

    def __init__(self, url: str | None = None, *, timeout: float = 120.0) -> None:
        try:
            from opa_client import OpaClient  # noqa: PLC0415 - optional engine, ~170 ms: imported when chosen
            from opa_client import errors as opa_errors  # noqa: PLC0415 - optional engine, ~170 ms: imported when chosen
        except ImportError:
            raise CannotRunError("the opa-server engine needs opa-python-client",
                                 hint="pip install opa-python-client") from None
        url = url or os.environ.get("MODELREG_OPA_URL") or "http://localhost:8181"
        parsed = urlparse(url)
        if parsed.scheme not in ("http", "https") or not parsed.hostname:
            raise UsageError(f"invalid OPA URL {url!r}", hint="use http://HOST:PORT")
        self.url = url
        self._errors = opa_errors
        self._client = OpaClient(host=parsed.hostname,
                                 port=parsed.port or (443 if parsed.scheme == "https" else 8181),
                                 ssl=parsed.scheme == "https", timeout=timeout)
        self._set: PolicySet | None = None
        self._ids: list[str] = []

    @staticmethod
    def available() -> bool:
        return False    # never picked by `auto`: a server is chosen explicitly with its URL

    def _down(self, exc: BaseException) -> CannotRunError:
        return CannotRunError(f"OPA server at {self.url} is not reachable: {exc}",
                              hint="start OPA (opa run --server) or pass the right --opa-url")

    def load(self, policy_set: PolicySet) -> None:
        import requests  # noqa: PLC0415 - only the opa-server engine speaks HTTP

        errors = self._errors
        try:
            if not self._client.check_health():
                raise CannotRunError(f"OPA server at {self.url} is not healthy (GET /health)",
                                     hint="check the server's logs")
            for pf in dependency_order(policy_set.files):
                policy_id = pf.path.replace("/", "_")
                try:
                    self._client.update_policy_from_string(pf.text, policy_id, rego_compat=False)
                except errors.RegoParseError as exc:
                    raise policy_error(self.name, "load the policies",
                                       f"{pf.path}:{_error_row(exc)}: {exc}") from None
                self._ids.append(policy_id)
            self._client.update_or_create_data(policy_set.data, DATA_ROOT)
        except requests.RequestException as exc:
            raise self._down(exc) from None
        except errors.ConnectionsError as exc:
            raise self._down(exc) from None
        except (ValueError, errors.QueryExecuteError, errors.TypeException) as exc:
            raise CannotRunError(f"OPA server at {self.url} answered unexpectedly: {exc}",
                                 hint="is the URL an OPA server?") from None
        self._set = policy_set

    def evaluate(self, query: str, input: Any) -> Any:
        import requests  # noqa: PLC0415 - only the opa-server engine speaks HTTP

        if not query.startswith("data."):
            raise UsageError(f"the opa-server engine evaluates data references only: {query}")
        path = query[len("data."):]
        try:
            body = self._client.query_rule(input, path.replace(".", "/"),
                                           query_params={"strict-builtin-errors": True})
        except requests.HTTPError as exc:
            text = exc.response.text if exc.response is not None else str(exc)
            raise policy_error(self.name, "evaluate the policies", text) from None
        except requests.RequestException as exc:
            raise self._down(exc) from None
        except ValueError as exc:
            raise CannotRunError(f"OPA server at {self.url} answered something that is not "
                                 f"JSON: {exc}", hint="is the URL an OPA server?") from None
        if not isinstance(body, dict):
            raise CannotRunError(f"OPA server at {self.url} answered {type(body).__name__}, "
                                 "not a JSON object", hint="is the URL an OPA server?")
        if body.get("errors") or body.get("code"):
            raise policy_error(self.name, "evaluate the policies", json.dumps(body))
        return body.get("result")

    def run_tests(self) -> list[TestResult]:
        assert self._set is not None
        return _run_tests_with(self._set, lambda q: self.evaluate(q, {}))


_IMPORT_RE = re.compile(r"^import\s+data\.([A-Za-z0-9_.]+)", re.M)


def dependency_order(files: tuple[PolicyFile, ...]) -> list[PolicyFile]:
    """Modules ordered so that each comes after the packages it imports: an OPA server
    compiles every uploaded module against those already there."""
    by_package: dict[str, list[PolicyFile]] = {}
    for pf in files:
        by_package.setdefault(pf.package or "", []).append(pf)
    done: list[PolicyFile] = []
    seen: set[str] = set()

    def visit(pf: PolicyFile, trail: tuple[str, ...]) -> None:
        if pf.path in seen or pf.path in trail:
            return
        for imported in _IMPORT_RE.findall(pf.text):
            for dep in by_package.get(imported, []):
                visit(dep, (*trail, pf.path))
        seen.add(pf.path)
        done.append(pf)

    for pf in files:
        visit(pf, ())
    return done


def _error_row(exc: BaseException) -> str:
    for arg in getattr(exc, "args", ()):
        m = re.search(r"'row':\s*(\d+)|\"row\":\s*(\d+)", str(arg))
        if m:
            return m.group(1) or m.group(2)
    return "1"


# --- the name table ------------------------------------------------------------------------
ENGINES: dict[str, type] = {
    "regorus": RegorusEngine,
    "opa-lib": OpaLibEngine,
    "opa": OpaCliEngine,
    "opa-server": OpaServerEngine,
}
AUTO_ORDER = ("opa", "opa-lib", "regorus")


def available_engines() -> list[str]:
    """Installed engines that run without configuration (``opa-server`` needs a URL)."""
    return [name for name, cls in ENGINES.items() if cls.available()]


def resolve_engine_name(name: str) -> str:
    if name == "auto":
        for candidate in AUTO_ORDER:
            if ENGINES[candidate].available():
                return candidate
        raise CannotRunError("no policy engine is installed",
                             hint="pip install gordon-to-regorus")
    if name not in ENGINES:
        known = ", ".join(["auto", *ENGINES])
        raise UsageError(f"unknown policy engine {name!r}; known engines: {known}",
                         hint="pass one of them to --engine")
    return name


# The distribution that carries each in-process engine: its release names the engine's
# behaviour in cache keys. The CLI and the server are whatever binary or service answers, so
# their results are not cached.
_RELEASES = {"regorus": "gordon-to-regorus", "opa-lib": "opa-golib-python-bindings"}


def engine_release(name: str) -> str | None:
    """``name/version`` of an in-process engine (None: an engine whose results depend on a
    binary or service outside this process, never cached)."""
    dist = _RELEASES.get(name)
    if dist is None:
        return None
    from importlib import metadata  # noqa: PLC0415 - asked only by the policy cache

    try:
        return f"{name}/{metadata.version(dist)}"
    except metadata.PackageNotFoundError:
        return None


def create_engine(name: str = "auto", *, opa_url: str | None = None) -> Engine:
    """An engine by name (``auto`` picks the first available of opa, opa-lib, regorus)."""
    name = resolve_engine_name(name)
    if name == "opa-server":
        return OpaServerEngine(opa_url)
    return ENGINES[name]()
