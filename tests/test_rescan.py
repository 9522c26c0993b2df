"""Nothing in a record is taken on trust: the weights that are here are scanned again
(``check``, ``verify``, ``gate --artifact``: ART-05), a card template renders under a time
and size bound, and no file name can write a line of its own into a text output.

Hostile pickles are written byte by byte and never loaded (the ``pwned`` marker checks)."""
from __future__ import annotations

import hashlib
import json
import os
import pickle
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from conftest import PROJECT, git, safetensors_bytes, write_weights
from modelreg.core.yamlio import dump_yaml, load
from modelreg.store import cards
from test_signoff import World, world  # noqa: F401  (the fixture)

VDIR = "models/iris-classifier/versions"


@pytest.fixture
def pwned(tmp_path) -> Path:
    marker = tmp_path / "PWNED"
    yield marker
    assert not marker.exists(), "a malicious pickle was executed"


def evil_pickle(marker: Path) -> bytes:
    """``os.system("echo PWNED > marker")`` when loaded (protocol 0, written by hand)."""
    return f"cos\nsystem\n(S'echo PWNED > {marker}'\ntR.".encode()


def _register(run_cli, root: Path, weights: Path, version: str = "1.0.0", *extra: str):
    # without metrics for its thresholds (EVAL-01, beside the point here)
    res = run_cli(root, "register", "iris-classifier", "--version", version, "--weights",
                  str(weights), "--dataset", "test:iris-test@2026.11", "--allow-findings",
                  *extra)
    assert res.code == 0, res.err
    return res


def _swap(root: Path, version: str, data: bytes, *, scan: dict | None = None,
          name: str | None = None) -> Path:
    """What a hostile author does by hand: other bytes in the work tree, the record's hashes
    made to match them, and the record's scan left (or written) as ``scan``."""
    vfile = root / VDIR / f"{version}.yaml"
    record = load(vfile).data
    art = record["artifacts"][0]
    path = root / art["path"]
    if name is not None:
        path.unlink()
        path = path.with_name(name)
        art["path"] = f"{VDIR}/{version}/{name}"
    path.write_bytes(data)
    for metric in record.get("metrics") or []:     # the results "bound" to the new bytes
        if metric.get("artifact_sha256") == art["sha256"]:
            metric["artifact_sha256"] = hashlib.sha256(data).hexdigest()
    art["sha256"] = hashlib.sha256(data).hexdigest()
    art["md5"] = hashlib.md5(data).hexdigest()
    art["size"] = len(data)
    if scan is not None:
        art["scan"] = scan
    vfile.write_text(dump_yaml(record))
    return path


def _rules(res) -> set[str]:
    return {f["rule"] for f in json.loads(res.out)["findings"]}


CLEAN_PICKLE_SCAN = {"tool": "modelreg-pickle-allowlist", "tool_version": "1.0",
                     "status": "clean", "findings": [], "at": "2026-05-01T10:00:00Z"}


# --- check and verify re-scan what is here --------------------------------------------------
def test_a_hand_written_clean_scan_of_a_pickle_that_calls_os_system_fails_check_and_verify(
        repo, tmp_path, run_cli, pwned):
    honest = tmp_path / "out" / "model.pkl"
    honest.parent.mkdir()
    honest.write_bytes(pickle.dumps({"coef": [0.1, 0.2, 0.3]}, protocol=4))
    _register(run_cli, repo.root, honest, "1.0.0", "--no-branch")
    res = run_cli(repo.root, "check", "--engine", "regorus", "--format", "json")
    assert "ART-05" not in _rules(res), res.out              # the honest pickle re-scans clean
    weights = _swap(repo.root, "1.0.0", evil_pickle(pwned), scan=CLEAN_PICKLE_SCAN)

    res = run_cli(repo.root, "check", "--engine", "regorus")
    assert res.code == 1, res.out + res.err
    line = next(x for x in res.out.splitlines() if "[ART-05]" in x)
    assert "the record says the scan" in line and "is clean" in line and "os.system" in line
    assert line.startswith(f"{VDIR}/1.0.0.yaml:")
    res = run_cli(repo.root, "verify")
    assert res.code == 1 and "[ART-05]" in res.out and "os.system" in res.out

    # a weights file that is not here is judged by its record alone (ART-02 passes a clean
    # record at this stage: the pull-request workflow pulls added versions' weights)
    weights.unlink()
    res = run_cli(repo.root, "check", "--engine", "regorus", "--format", "json")
    assert "ART-05" not in _rules(res)


def test_weights_that_are_not_the_recorded_bytes_are_a_finding(repo, tmp_path, run_cli):
    _register(run_cli, repo.root, write_weights(tmp_path / "out"), "1.0.0", "--no-branch")
    weights = repo.root / VDIR / "1.0.0/model.safetensors"
    weights.write_bytes(safetensors_bytes("other", b"\x07" * 64))
    res = run_cli(repo.root, "check", "--engine", "regorus")
    assert res.code == 1 and "[ART-05]" in res.out
    assert "not the recorded" in res.out


@pytest.mark.parametrize("recorded", ["clean", "not-applicable", None])
def test_a_random_file_named_safetensors_recorded_as_passing_fails_check(
        repo, tmp_path, run_cli, recorded):
    _register(run_cli, repo.root, write_weights(tmp_path / "out"), "1.0.0", "--no-branch")
    scan = {"tool": "safetensors-header", "tool_version": "1", "status": recorded,
            "findings": [], "at": "2026-05-01T10:00:00Z"} if recorded else None
    data = os.urandom(256 * 1024)
    _swap(repo.root, "1.0.0", data, scan=scan)
    if recorded is None:
        vfile = repo.root / VDIR / "1.0.0.yaml"
        record = load(vfile).data
        record["artifacts"][0].pop("scan", None)
        vfile.write_text(dump_yaml(record))
    res = run_cli(repo.root, "check", "--engine", "regorus")
    assert res.code == 1, res.out + res.err
    assert "[ART-05]" in res.out and "not a safetensors file" in res.out


def test_a_recorded_scan_error_fails_check_for_any_format_even_without_the_weights(
        repo, tmp_path, run_cli):
    _register(run_cli, repo.root, write_weights(tmp_path / "out"), "1.0.0", "--no-branch")
    vfile = repo.root / VDIR / "1.0.0.yaml"
    record = load(vfile).data
    record["artifacts"][0]["scan"] = {"tool": "safetensors-header", "tool_version": "1",
                                      "status": "error", "findings": ["not a safetensors file"],
                                      "at": "2026-05-01T10:00:00Z"}
    vfile.write_text(dump_yaml(record))
    (repo.root / VDIR / "1.0.0/model.safetensors").unlink()
    res = run_cli(repo.root, "check", "--engine", "regorus")
    assert res.code == 1 and "[ART-02]" in res.out and "scan status error" in res.out


# --- the gate re-scans what it is handed; honest weights register, check and gate -----------
def test_the_gate_rescans_the_artifact_it_is_handed(world: World, tmp_path, pwned):  # noqa: F811
    w = world
    # honest: a clean safetensors file registers, checks, reaches staging and gates
    branch, head = w.register("1.0.0", b"\x01" * 256)
    ok = w.reviews(("grace-ds", head))
    res = w.check_pr(head, ok)
    assert res.code == 0, res.out + res.err
    w.merge(branch)
    w.reconcile(ok)
    branch, head = w.promote("promote", "iris-classifier@1.0.0", "--stage", "staging")
    staging_ok = w.reviews(("carol-risk", head))
    w.merge(branch)
    w.reconcile(staging_ok)
    deploy = w.clone("deploy")
    git(deploy, "fetch", "-q", "--force", "origin", "+refs/tags/*:refs/tags/*")
    assert subprocess.run([sys.executable, "-m", "dvc", "pull", "-q"], cwd=deploy).returncode == 0
    weights = deploy / VDIR / "1.0.0/model.safetensors"
    res = w.cli(deploy, "gate", "iris-classifier", "--stage", "staging", "--artifact",
                str(weights))
    assert res.code == 0, res.out + res.err
    # saved under another name, it is still scanned as the safetensors file it was registered as
    copy = tmp_path / "weights"
    copy.write_bytes(weights.read_bytes())
    res = w.cli(deploy, "gate", "iris-classifier", "--stage", "staging", "--artifact", str(copy))
    assert res.code == 0, res.out + res.err

    # hostile: 1.1.0 is registered as an honest pickle, then its weights are swapped for one
    # that calls os.system, the record's hashes fixed by hand, its clean scan left in place
    w.start_branch()
    honest = w.base / "train-1.1.0" / "model.pkl"
    honest.parent.mkdir()
    honest.write_bytes(pickle.dumps({"coef": [0.1, 0.2]}, protocol=4))
    metrics = honest.parent / "metrics.json"
    metrics.write_text(json.dumps([
        {"name": "accuracy", "value": 0.96, "dataset": "iris-test", "split": "test"},
        {"name": "f1_macro", "value": 0.95, "dataset": "iris-test", "split": "test"}]))
    _register(w.run_cli, w.ds, honest, "1.1.0", "--metrics", str(metrics),
              "--dataset", "train:iris-train@2026.11")
    evil = _swap(w.ds, "1.1.0", evil_pickle(pwned))
    assert subprocess.run([sys.executable, "-m", "dvc", "add", "-q", str(evil)],
                          cwd=w.ds).returncode == 0
    assert subprocess.run([sys.executable, "-m", "dvc", "push", "-q"], cwd=w.ds).returncode == 0
    git(w.ds, "add", "-A")
    git(w.ds, "commit", "-q", "-m", "Register iris-classifier 1.1.0")
    branch = "register/iris-classifier-1.1.0"
    git(w.ds, "push", "-q", "origin", branch)
    head = w.head(w.ds)
    ok = w.reviews(("grace-ds", head))
    res = w.check_pr(head, ok)                                  # the weights are here: re-scanned
    assert res.code == 1 and "[ART-05]" in res.out and "os.system" in res.out
    # merged anyway (say the check ran without the weights): the gate still refuses the file
    w.merge(branch)
    w.reconcile(ok)
    branch, head = w.promote("promote", "iris-classifier@1.1.0", "--stage", "staging")
    staging_ok = w.reviews(("carol-risk", head))
    w.merge(branch)
    w.reconcile(staging_ok)
    git(deploy, "pull", "-q", "--ff-only", "origin", "main")
    git(deploy, "fetch", "-q", "--force", "origin", "+refs/tags/*:refs/tags/*")
    assert subprocess.run([sys.executable, "-m", "dvc", "pull", "-q"], cwd=deploy).returncode == 0
    evil_here = deploy / VDIR / "1.1.0/model.pkl"
    res = w.cli(deploy, "gate", "iris-classifier", "--stage", "staging", "--artifact",
                str(evil_here), "--json")
    assert res.code == 1, res.out
    reasons = " ".join(json.loads(res.out)["reasons"])
    assert "scanning it gives findings" in reasons and "os.system" in reasons
    res = w.cli(deploy, "verify")
    assert res.code == 1 and "[ART-05]" in res.out


# --- the pull-request workflow pulls the weights of added versions, only those -------------
def _pull_step() -> str:
    import yaml

    flow = yaml.safe_load((PROJECT / ".github/workflows/check.yml").read_text())
    steps = flow["jobs"]["check"]["steps"]
    names = [s.get("name", "") for s in steps]
    pull = names.index("Pull the weights of the versions this pull request adds")
    check = next(i for i, s in enumerate(steps) if "modelreg check" in str(s.get("run", "")))
    assert pull < check, "the weights must be here before check re-scans them"
    return steps[pull]["run"]


def test_the_workflow_pulls_the_weights_of_added_versions_only(repo, tmp_path, run_cli):
    script = _pull_step()
    _register(run_cli, repo.root, write_weights(tmp_path / "a"), "1.0.0")
    git(repo.root, "checkout", "-q", "main")
    git(repo.root, "merge", "-q", "--no-ff", "-m", "Merge 1.0.0", "register/iris-classifier-1.0.0")
    git(repo.root, "push", "-q", "origin", "main")
    _register(run_cli, repo.root, write_weights(tmp_path / "b", payload=b"\x02" * 64), "1.1.0")
    git(repo.root, "fetch", "-q", "origin")
    # a fresh CI checkout of the pull request: no weights, no DVC cache
    ci = tmp_path / "ci"
    git(tmp_path, "clone", "-q", str(repo.origin), str(ci))
    git(repo.root, "push", "-q", "origin", "register/iris-classifier-1.1.0")
    git(ci, "fetch", "-q", "origin")
    git(ci, "checkout", "-q", "origin/register/iris-classifier-1.1.0")
    (ci / ".dvc/config").write_text((repo.root / ".dvc/config").read_text())
    bindir = str(Path(sys.executable).parent)
    env = {**os.environ, "BASE": "main",
           "BASE_SHA": git(ci, "rev-parse", "origin/main").strip(),
           "HEAD_SHA": git(ci, "rev-parse", "HEAD").strip(),
           "PATH": bindir + os.pathsep + os.environ["PATH"]}
    proc = subprocess.run(["bash", "-c", script], cwd=ci, env=env, capture_output=True,
                          text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert (ci / VDIR / "1.1.0/model.safetensors").is_file()
    assert not (ci / VDIR / "1.0.0/model.safetensors").exists()


# --- card templates render under a bound ---------------------------------------------------
HOSTILE_TEMPLATES = {
    "nested-loops": "{% for i in range(10**5) %}{% for j in range(10**5) %}{% endfor %}"
                    "{% endfor %}",
    "nested-million": "{% for i in range(10**6) %}{% for j in range(10**6) %}{% endfor %}"
                      "{% endfor %}",
    "100MB": "{% for i in range(100000) %}{{ 'x' * 1000 }}{% endfor %}",
    "one-huge-value": "{{ 'x' * 10**10 }}",
}


def _with_card(repo, run_cli, tmp_path) -> None:
    _register(run_cli, repo.root, write_weights(tmp_path / "out"), "1.0.0", "--no-branch")
    assert (repo.root / "models/iris-classifier/card.md").is_file()


@pytest.mark.parametrize("case", HOSTILE_TEMPLATES)
def test_a_card_template_past_the_bounds_is_a_finding_never_a_hang(
        repo, tmp_path, run_cli, monkeypatch, case):
    _with_card(repo, run_cli, tmp_path)
    monkeypatch.setattr(cards, "RENDER_SECONDS", 1.0)
    (repo.root / "templates").mkdir()
    (repo.root / "templates/card.md.j2").write_text(HOSTILE_TEMPLATES[case])
    started = time.monotonic()
    res = run_cli(repo.root, "check", "--engine", "regorus")
    assert time.monotonic() - started < 30
    assert res.code == 1, res.out + res.err
    assert "[CARD-04]" in res.out and "cannot be rendered" in res.out
    res = run_cli(repo.root, "card", "iris-classifier", "--write")
    assert res.code == 1 and "cannot be rendered" in res.err


def test_the_time_bound_holds_outside_the_main_thread(repo, tmp_path, run_cli, monkeypatch):
    from modelreg.core.errors import InputError
    from modelreg.store.registry import Registry

    _with_card(repo, run_cli, tmp_path)
    monkeypatch.setattr(cards, "RENDER_SECONDS", 1.0)
    (repo.root / "templates").mkdir()
    (repo.root / "templates/card.md.j2").write_text(HOSTILE_TEMPLATES["nested-loops"])
    caught: list[BaseException] = []

    def render() -> None:
        try:
            cards.render(Registry(repo.root), "iris-classifier")
        except BaseException as exc:        # noqa: BLE001 - handed to the test thread
            caught.append(exc)

    thread = threading.Thread(target=render, daemon=True)
    thread.start()
    thread.join(30)
    assert not thread.is_alive(), "the render did not stop"
    assert caught and isinstance(caught[0], InputError) and "longer than" in str(caught[0])


def test_the_shipped_template_renders_within_the_bounds(repo, tmp_path, run_cli):
    _with_card(repo, run_cli, tmp_path)
    res = run_cli(repo.root, "card", "iris-classifier", "--check")
    assert "[CARD-04]" not in res.out, res.out


# --- control characters never reach a text output as they are -------------------------------
INJECTED = "x\n::warning file=README.md::injected"


def test_a_file_name_cannot_inject_a_workflow_command(repo, tmp_path, run_cli):
    _register(run_cli, repo.root, write_weights(tmp_path / "out"), "1.0.0", "--no-branch")
    vdir = repo.root / VDIR / "1.0.0"
    pointer = vdir / f"{INJECTED}.dvc"
    pointer.write_text("outs: [\n")                         # unreadable: a finding names it
    vfile = repo.root / VDIR / "1.0.0.yaml"
    record = load(vfile).data
    record["artifacts"][0]["dvc_file"] = f"{VDIR}/1.0.0/{INJECTED}.dvc"
    vfile.write_text(dump_yaml(record))
    # weights under that name, recorded clean, that re-scan as an error: verify names them
    _swap(repo.root, "1.0.0", os.urandom(4096), name=f"{INJECTED}.safetensors")
    outputs = {
        "verify": run_cli(repo.root, "verify"),
        "check": run_cli(repo.root, "check", "--engine", "regorus"),
        "github": run_cli(repo.root, "check", "--engine", "regorus", "--format", "github"),
        "show": run_cli(repo.root, "show", "iris-classifier@1.0.0"),
    }
    for what, res in outputs.items():
        lines = (res.out + res.err).splitlines()
        assert not any(x.lstrip().startswith("::warning file=README.md") for x in lines), \
            (what, res.out + res.err)
        if what == "github":
            assert lines and all(re.match(r"::(error|warning|notice) file=models/", x)
                                 for x in res.out.splitlines()), res.out
            assert "x\\n%3A%3Awarning" in res.out
        else:
            assert "x\\n::warning file=README.md::injected" in res.out, (what, res.out)
    assert "[ART-05]" in outputs["verify"].out


def test_printable_escapes_every_control_character():
    from modelreg.core.errors import printable

    assert printable("a\nb\rc\td") == "a\\nb\\rc\\td"
    assert printable("\x1b[31m") == "\\x1b[31m"
    assert printable("\x85 \x9b \x7f") == "\\x85 \\x9b \\x7f"
    assert printable("\u202eevil\u2028") == "\\u202eevil\\u2028"
    assert printable("models/ünïcode-ok/€.yaml") == "models/ünïcode-ok/€.yaml"
