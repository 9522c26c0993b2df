"""The workflows in .github/workflows hold: they validate against the GitHub workflow schema,
and actionlint (with ShellCheck on every `run:` script) and zizmor (offline, pedantic, no
configuration, no ignore comments) find nothing in them. A temporary copy with one bad line
shows that each checker really runs and flags it.

Beyond the checkers: every action is pinned by commit, every job holds only the permissions it
names, no checkout keeps credentials, and deploy.yml's steps are run here, in order, as a
runner would run them, against a real registry: a failed gate stops the job before anything is
pulled, and every file of the gated version is pulled and gated again.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from conftest import PROJECT, git, safetensors_bytes
from test_signoff import World, world  # noqa: F401  (the fixture)

WORKFLOWS = sorted((PROJECT / ".github" / "workflows").glob("*.yml"))
BIN = Path(sys.executable).parent
FLOWS = PROJECT / ".github" / "workflows"


def _load(path: Path) -> dict:
    # PyYAML reads the key `on:` as True; nothing here needs it
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def _tool(name: str) -> str:
    found = shutil.which(name, path=str(BIN)) or shutil.which(name)
    assert found, f"{name} is not installed (pip install -e '.[test]')"
    return found


def _offline_env() -> dict:
    """No GitHub token reaches a checker: everything runs offline."""
    drop = {"GH_TOKEN", "GITHUB_TOKEN", "ZIZMOR_GITHUB_TOKEN", "ZIZMOR_CONFIG"}
    return {k: v for k, v in os.environ.items() if k not in drop} | {"ZIZMOR_OFFLINE": "true"}


def zizmor(*paths: Path) -> list[dict]:
    """zizmor's findings, offline, with every audit (pedantic) and no way to silence one:
    no configuration file and no ignore comment is honoured."""
    proc = subprocess.run([_tool("zizmor"), "--offline", "--no-config", "--no-ignores",
                           "--persona", "pedantic", "--format", "json", "--no-progress",
                           *map(str, paths)], capture_output=True, text=True,
                          env=_offline_env())
    assert proc.stdout.strip().startswith("["), proc.stdout + proc.stderr
    findings = json.loads(proc.stdout)
    assert (proc.returncode == 0) == (not findings), proc.stderr
    return findings


def actionlint(*paths: Path) -> list[dict]:
    """actionlint's findings, ShellCheck included (the pinned one, whatever else is on PATH)."""
    proc = subprocess.run([_tool("actionlint"), "-format", "{{json .}}",
                           "-shellcheck", _tool("shellcheck"), "-pyflakes=",
                           *map(str, paths)], capture_output=True, text=True,
                          env=_offline_env())
    assert proc.returncode in (0, 1), proc.stdout + proc.stderr
    errors = json.loads(proc.stdout or "[]")
    assert (proc.returncode == 0) == (not errors)
    return errors


def _summary(findings: list[dict]) -> str:
    """One line per finding: what it is and where (zizmor's and actionlint's shapes)."""
    lines = []
    for f in findings:
        if "ident" in f:
            where = f["locations"][0]["symbolic"] if f.get("locations") else {}
            path = where.get("key", {}).get("Local", {}).get("verbatim_path", "")
            route = [next(iter(r.values())) for r in where.get("route", {}).get("route", [])]
            lines.append(f"{path} {route}: {f['ident']}: {f['desc']} "
                         f"({where.get('annotation', '')})")
        else:
            lines.append(f"{f['filepath']}:{f['line']}: {f['message']} [{f['kind']}]")
    return "\n".join(lines)


# --- the checkers find nothing -------------------------------------------------------------
def test_the_pages_workflow_is_there():
    assert {"check.yml", "deploy.yml", "nightly.yml", "pages.yml", "reconcile.yml"} <= \
        {p.name for p in WORKFLOWS}


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_workflow_validates_against_the_github_schema(path: Path):
    # check-jsonschema's own loader: it reads `on:` as a key (PyYAML would make it True)
    proc = subprocess.run([sys.executable, "-m", "check_jsonschema", "--builtin-schema",
                           "vendor.github-workflows", str(path)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_zizmor_finds_nothing():
    findings = zizmor(*WORKFLOWS)
    assert findings == [], _summary(findings)


def test_actionlint_and_shellcheck_find_nothing():
    errors = actionlint(*WORKFLOWS)
    assert errors == [], _summary(errors)


def test_nothing_silences_a_checker():
    """No configuration file could turn an audit off or ignore an error; no line asks to."""
    for name in ("zizmor.yml", "zizmor.yaml", "actionlint.yml", "actionlint.yaml"):
        assert not (PROJECT / ".github" / name).exists(), name
        assert not (PROJECT / name).exists(), name
    for path in WORKFLOWS:
        assert "zizmor: ignore" not in path.read_text(encoding="utf-8"), path.name


# --- the workflows `modelreg init` writes for a new registry hold the same way ---------------
@pytest.fixture(scope="module")
def new_registry_workflows(tmp_path_factory) -> list[Path]:
    from modelreg.app.init import plan

    out = tmp_path_factory.mktemp("new-registry") / ".github" / "workflows"
    out.mkdir(parents=True)
    for rel, data in plan("Northwind", "s3").items():
        if rel.startswith(".github/workflows/"):
            (out / rel.rsplit("/", 1)[1]).write_bytes(data)
    paths = sorted(out.glob("*.yml"))
    assert [p.name for p in paths] == [p.name for p in WORKFLOWS]
    return paths


def test_a_new_registrys_workflows_hold(new_registry_workflows):
    findings = zizmor(*new_registry_workflows)
    assert findings == [], _summary(findings)
    errors = actionlint(*new_registry_workflows)
    assert errors == [], _summary(errors)
    for path in new_registry_workflows:
        assert _unpinned(path) == [], path.name
        assert _expressions_in_scripts(path) == [], path.name
        flow = _load(path)
        assert flow["permissions"] == {}, path.name
        assert all(isinstance(job.get("permissions"), dict) for job in flow["jobs"].values())


def test_a_new_registrys_deploy_and_pages_run_these_steps(new_registry_workflows):
    """What the tests below prove of deploy.yml holds for a new registry's: the same steps,
    only modelreg comes from the release instead of the work tree."""
    made = {p.name: p for p in new_registry_workflows}
    for name in ("deploy.yml", "pages.yml", "reconcile.yml"):
        ours, theirs = ([(j, s) for j, s in _steps(path) if "pip install" not in str(s.get("run"))]
                        for path in (FLOWS / name, made[name]))
        if name == "reconcile.yml":      # a new registry's reviews come with every page
            ours, theirs = ([(j, s) for j, s in x if s.get("id") != "pr"] for x in (ours, theirs))
        assert ours == theirs, name
        assert _load(made[name])["jobs"].keys() == _load(FLOWS / name)["jobs"].keys()


# --- each checker flags one bad line --------------------------------------------------------
def _bad_copy(tmp_path: Path, name: str, old: str, new: str, count: int = 1) -> Path:
    text = (FLOWS / name).read_text(encoding="utf-8")
    assert old in text, f"{name} no longer holds {old!r}"
    out = tmp_path / name
    out.write_text(text.replace(old, new, count), encoding="utf-8")
    return out


def _idents(findings: list[dict]) -> set[str]:
    return {f.get("ident") or f.get("kind") for f in findings}


def test_the_schema_check_can_fail(tmp_path: Path):
    bad = tmp_path / "bad.yml"
    bad.write_text("name: x\non: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n"
                   "    steps:\n      - uses: actions/checkout@v4\n        wiht: {}\n")
    proc = subprocess.run([sys.executable, "-m", "check_jsonschema", "--builtin-schema",
                           "vendor.github-workflows", str(bad)], capture_output=True, text=True)
    assert proc.returncode == 1


def test_an_action_used_by_its_tag_is_flagged(tmp_path: Path):
    bad = _bad_copy(tmp_path, "pages.yml",
                    "actions/checkout@3d3c42e5aac5ba805825da76410c181273ba90b1 # v7.0.1",
                    "actions/checkout@v7")
    assert "unpinned-uses" in _idents(zizmor(bad))
    assert _unpinned(bad) == ["actions/checkout@v7"]


def test_an_expression_inside_a_script_is_flagged(tmp_path: Path):
    bad = _bad_copy(tmp_path, "check.yml", "          set -euo pipefail\n          pointers=()",
                    '          set -euo pipefail\n'
                    '          echo "${{ github.event.pull_request.title }}"\n'
                    '          pointers=()')
    assert "template-injection" in _idents(zizmor(bad))
    assert any("potentially untrusted" in e["message"] for e in actionlint(bad))
    assert _expressions_in_scripts(bad)


def test_a_workflow_without_permissions_is_flagged(tmp_path: Path):
    bad = _bad_copy(tmp_path, "pages.yml", "permissions: {}\n", "")
    text = bad.read_text().replace(
        "    permissions:\n      contents: read  # the records, their history and the "
        "registry's tags\n", "")
    bad.write_text(text)
    assert "permissions" not in _load(bad)["jobs"]["build"]
    assert "excessive-permissions" in _idents(zizmor(bad))


def test_a_checkout_that_keeps_its_credentials_is_flagged(tmp_path: Path):
    bad = _bad_copy(tmp_path, "deploy.yml", "          persist-credentials: false\n", "")
    assert "artipacked" in _idents(zizmor(bad))


def test_a_cache_in_a_publishing_workflow_is_flagged(tmp_path: Path):
    """zizmor's cache-poisoning audit reads the nightly's cache step: it finds nothing only
    because no release or tag push starts that workflow."""
    bad = _bad_copy(tmp_path, "nightly.yml", "  workflow_dispatch:\n",
                    "  workflow_dispatch:\n  release:\n    types: [published]\n")
    assert "cache-poisoning" in _idents(zizmor(bad))


def test_shellcheck_runs_on_the_scripts(tmp_path: Path):
    bad = _bad_copy(tmp_path, "deploy.yml", 'dvc pull -- "${paths[@]}"', "dvc pull -- ${paths[@]}")
    assert any(e["kind"] == "shellcheck" for e in actionlint(bad))


# --- pins, permissions, credentials, scripts (read from the files) --------------------------
USES = re.compile(r"^\s*(?:-\s+)?uses:\s*(\S+)(.*)$")
PINNED = re.compile(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_./-]+@[0-9a-f]{40}$")
VERSION_COMMENT = re.compile(r"^\s+# v\d+\.\d+\.\d+$")


def _unpinned(path: Path) -> list[str]:
    bad = []
    for line in path.read_text(encoding="utf-8").splitlines():
        m = USES.match(line)
        if m and not (PINNED.match(m.group(1)) and VERSION_COMMENT.match(m.group(2))):
            bad.append(m.group(1))
    return bad


def _steps(path: Path):
    for job_id, job in _load(path)["jobs"].items():
        for step in job.get("steps", []):
            yield job_id, step


def _expressions_in_scripts(path: Path) -> list[str]:
    return [str(step.get("name") or step["run"][:40]) for _, step in _steps(path)
            if "run" in step and "${{" in step["run"]]


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_every_action_is_pinned_by_commit_with_its_version(path: Path):
    assert _unpinned(path) == []


def test_one_action_one_pin_across_the_workflows():
    pins: dict[str, set[str]] = {}
    for path in WORKFLOWS:
        for line in path.read_text(encoding="utf-8").splitlines():
            if m := USES.match(line):
                action, sha = m.group(1).split("@")
                pins.setdefault(action, set()).add(f"{sha}{m.group(2)}")
    assert pins and all(len(v) == 1 for v in pins.values()), pins


def test_opa_is_a_fixed_release():
    steps = [s for _, s in _steps(FLOWS / "check.yml")
             if str(s.get("uses", "")).startswith("open-policy-agent/setup-opa@")]
    assert len(steps) == 1
    assert re.fullmatch(r"\d+\.\d+\.\d+", str(steps[0]["with"]["version"]))


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_each_job_holds_only_the_permissions_it_names(path: Path):
    flow = _load(path)
    assert flow["permissions"] == {}, "the workflow grants nothing; each job names its own"
    for job_id, job in flow["jobs"].items():
        assert isinstance(job.get("permissions"), dict), f"{job_id} has no permissions block"
        assert job["permissions"].get("contents") in (None, "read"), job_id


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_no_checkout_keeps_credentials_and_no_script_holds_an_expression(path: Path):
    for job_id, step in _steps(path):
        if str(step.get("uses", "")).startswith("actions/checkout@"):
            assert step["with"]["persist-credentials"] is False, job_id
    assert _expressions_in_scripts(path) == []


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_workflow_fetches_tags_after_checkout(path: Path):
    text = path.read_text(encoding="utf-8")
    if "actions/checkout" in text and "modelreg" in text:
        assert '"+refs/tags/*:refs/tags/*"' in text, "annotated tags must be fetched explicitly"


def test_pages_publishes_from_a_job_that_runs_no_repository_code():
    jobs = _load(FLOWS / "pages.yml")["jobs"]
    assert jobs["build"]["permissions"] == {"contents": "read"}
    assert "environment" not in jobs["build"]
    deploy = jobs["deploy"]
    assert deploy["permissions"] == {"pages": "write", "id-token": "write"}
    assert deploy["environment"]["name"] == "github-pages"
    assert all("run" not in s and "actions/checkout" not in str(s.get("uses"))
               for s in deploy["steps"])


def test_reconcile_pushes_as_the_app_with_the_signing_key_in_its_environment():
    flow = _load(FLOWS / "reconcile.yml")
    assert flow["concurrency"]["cancel-in-progress"] is False
    assert flow["concurrency"]["queue"] == "max"          # every merge waits its turn
    job = flow["jobs"]["reconcile"]
    assert job["environment"] == "registry-tags"
    assert "write" not in job["permissions"].values()     # the job's own token only reads
    steps = job["steps"]
    app = [s for s in steps if str(s.get("uses", "")).startswith("actions/create-github-app-token@")]
    assert len(app) == 1 and app[0]["with"]["permission-contents"] == "write"
    push = next(s for s in steps if "modelreg reconcile --push" in str(s.get("run")))
    assert push["env"]["APP_TOKEN"] == f"${{{{ steps.{app[0]['id']}.outputs.token }}}}"
    assert "unset APP_TOKEN" in push["run"]
    assert push["env"]["TAG_SIGNING_KEY"].startswith("${{ secrets.")
    script = push["run"]
    assert script.startswith("set -euo pipefail\numask 077\n")
    assert 'keyfile="$(mktemp "${RUNNER_TEMP}/' in script and 'chmod 600 "${keyfile}"' in script
    assert "trap 'rm -f -- \"${keyfile}\"' EXIT" in script
    calls = re.findall(r"modelreg reconcile [^\n]*", script)
    assert calls and all('--signing-key "${keyfile}"' in c for c in calls)
    assert steps.index(app[0]) == steps.index(push) - 1   # minted just before its one use


def test_deploy_judges_main_whatever_ref_it_is_dispatched_on():
    flow = _load(FLOWS / "deploy.yml")
    job = flow["jobs"]["deploy"]
    checkout = next(s for s in job["steps"] if str(s.get("uses", "")).startswith("actions/checkout@"))
    assert checkout["with"]["ref"] == "main"
    assert job["environment"] == "${{ inputs.environment }}"
    assert job["permissions"] == {"contents": "read", "id-token": "write"}
    for step in job["steps"]:
        assert "if" not in step and "continue-on-error" not in step, step.get("name")
        if "run" in step and "\n" in step["run"].strip():
            assert step["run"].startswith("set -euo pipefail\n"), step.get("name")
    creds = next(s for s in job["steps"] if "configure-aws-credentials" in str(s.get("uses")))
    assert creds["with"]["role-to-assume"].startswith("${{ vars.")
    assert not any(k in creds["with"] for k in ("aws-access-key-id", "aws-secret-access-key"))
    # the cloud credentials come only after the gate passed, and before the pull needs them
    order = [s.get("name", "") for s in job["steps"]]
    gate = next(i for i, n in enumerate(order) if n.startswith("Gate ("))
    pull = next(i for i, n in enumerate(order) if n.startswith("Pull every file"))
    assert gate < order.index(FILES_STEP) < job["steps"].index(creds) < pull


# --- deploy.yml, run step by step against a real registry -----------------------------------
EXPR = re.compile(r"\$\{\{\s*([A-Za-z_][\w.-]*)\s*\}\}")


def _expand(value: str, context: dict) -> str:
    def one(m: re.Match) -> str:
        node = context
        for part in m.group(1).split("."):
            node = node[part]
        return str(node)

    out = EXPR.sub(one, str(value))
    assert "${{" not in out, f"an expression this runner does not evaluate: {value}"
    return out


def run_job(path: Path, job_id: str, cwd: Path, inputs: dict, temp: Path,
            skip: tuple[str, ...] = (), contexts: dict | None = None
            ) -> list[tuple[str, int, str]]:
    """Run a job's `run:` steps in order the way a runner does (bash -e, the job's and the
    step's env, GITHUB_OUTPUT between steps, GITHUB_STEP_SUMMARY in ``temp``); `uses:` steps
    and the named ones are skipped. ``contexts`` adds expression contexts (``matrix``,
    ``strategy``). Stops at the first failing step, like a runner. Returns (name, exit code,
    output)."""
    job = _load(path)["jobs"][job_id]
    context: dict = {"inputs": inputs, "steps": {}, "github": {"token": "not-a-token"},
                     "vars": {}, "secrets": {}, **(contexts or {})}
    base = {**os.environ, "PATH": str(BIN) + os.pathsep + os.environ["PATH"],
            "RUNNER_TEMP": str(temp), "GITHUB_SERVER_URL": "https://github.invalid",
            "GITHUB_STEP_SUMMARY": str(temp / "summary.md")}
    base |= {k: _expand(v, context) for k, v in (job.get("env") or {}).items()}
    ran = []
    for i, step in enumerate(job["steps"]):
        name = step.get("name") or step.get("uses") or f"step {i}"
        if "run" not in step or name in skip:
            continue
        out = temp / f"output-{i}"
        out.write_text("")
        env = base | {k: _expand(v, context) for k, v in (step.get("env") or {}).items()}
        env["GITHUB_OUTPUT"] = str(out)
        proc = subprocess.run(["bash", "--noprofile", "--norc", "-e", "-c", step["run"]],
                              cwd=cwd / step.get("working-directory", "."), env=env,
                              capture_output=True, text=True)
        ran.append((name, proc.returncode, proc.stdout + proc.stderr))
        if "id" in step:
            outputs = dict(line.split("=", 1) for line in out.read_text().splitlines() if line)
            context["steps"][step["id"]] = {"outputs": outputs}
        if proc.returncode != 0:
            break
    return ran


INSTALL = "Install modelreg and the DVC remote's support"     # modelreg is installed here


def _staged_with_two_files(w: World) -> None:
    """iris-classifier 1.0.0 made of two weights files, registered, approved, merged,
    reconciled and promoted to staging the way the guide describes."""
    w.start_branch()
    folder = w.base / "train-1.0.0"
    folder.mkdir()
    files = []
    for name, payload in (("model.safetensors", b"\x01" * 64), ("head.safetensors", b"\x02" * 64)):
        (folder / name).write_bytes(safetensors_bytes(name, payload))
        files += ["--weights", str(folder / name)]
    metrics = folder / "metrics.json"
    metrics.write_text(json.dumps({"artifact": "model.safetensors", "metrics": [
        {"name": "accuracy", "value": 0.96, "dataset": "iris-test", "split": "test"},
        {"name": "f1_macro", "value": 0.95, "dataset": "iris-test", "split": "test"}]}))
    res = w.cli(w.ds, "register", "iris-classifier", "--version", "1.0.0", *files,
                "--metrics", str(metrics), "--dataset", "train:iris-train@2026.11",
                "--dataset", "test:iris-test@2026.11")
    assert res.code == 0, res.out + res.err
    branch = "register/iris-classifier-1.0.0"
    git(w.ds, "push", "-q", "origin", branch)
    ok = w.reviews(("grace-ds", w.head(w.ds)))
    w.merge(branch)
    w.reconcile(ok)
    branch, head = w.promote("promote", "iris-classifier@1.0.0", "--stage", "staging")
    w.merge(branch)
    w.reconcile(w.reviews(("carol-risk", head)))


def _runner(w: World) -> Path:
    """A fresh checkout of main, as actions/checkout leaves it: no weights, no DVC cache."""
    runner = w.clone("runner")
    assert not list((runner / "models/iris-classifier/versions/1.0.0").glob("*.safetensors"))
    return runner


def test_deploy_pulls_and_gates_every_file_of_the_gated_version(world: World, tmp_path):  # noqa: F811
    w = world
    _staged_with_two_files(w)
    runner = _runner(w)
    temp = tmp_path / "runner-temp"
    temp.mkdir()
    ran = run_job(FLOWS / "deploy.yml", "deploy", runner,
                  {"model": "iris-classifier", "environment": "staging"}, temp, skip=(INSTALL,))
    assert [code for _, code, _ in ran] == [0] * len(ran), ran
    names = [name for name, _, _ in ran]
    assert names[-1] == "Deploy" and any(n.startswith("Gate each file") for n in names)
    vdir = runner / "models/iris-classifier/versions/1.0.0"
    assert sorted(p.name for p in vdir.glob("*.safetensors")) == ["head.safetensors",
                                                                  "model.safetensors"]
    regate = next(out for name, _, out in ran if name.startswith("Gate each file"))
    assert regate.count('"ok": true') == 2, regate    # each file handed to the gate
    assert "head.safetensors" in ran[-1][2] and "model.safetensors" in ran[-1][2]


def test_a_failed_gate_stops_the_deploy_before_anything_is_pulled(world: World, tmp_path):  # noqa: F811
    w = world
    _staged_with_two_files(w)
    runner = _runner(w)
    temp = tmp_path / "runner-temp"
    temp.mkdir()
    # nothing holds production: the gate refuses, and no later step may run
    ran = run_job(FLOWS / "deploy.yml", "deploy", runner,
                  {"model": "iris-classifier", "environment": "production"}, temp,
                  skip=(INSTALL,))
    name, code, out = ran[-1]
    assert name.startswith("Gate (") and code == 1, ran
    assert "no version of iris-classifier holds production" in out
    assert not [p for p in (runner / "models").rglob("*.safetensors")], "weights were pulled"
    assert not (temp / "artifacts").exists()


FILES_STEP = "The files to pull (every artifact of the gated version)"


def _files_step(temp: Path, gate: dict) -> tuple[int, str]:
    """The step that turns the gate's answer into the list of files to pull, alone."""
    step = next(s for _, s in _steps(FLOWS / "deploy.yml") if s.get("name") == FILES_STEP)
    (temp / "gate.json").write_text(json.dumps(gate))
    out = temp / "output"
    out.write_text("")
    env = {**os.environ, "RUNNER_TEMP": str(temp), "GITHUB_OUTPUT": str(out),
           "MODEL": "iris-classifier", "STAGE": "production"}
    proc = subprocess.run(["bash", "--noprofile", "--norc", "-e", "-c", step["run"]], cwd=temp,
                          env=env, capture_output=True, text=True)
    return proc.returncode, proc.stdout + proc.stderr


@pytest.mark.parametrize("gate,why", [
    ({"ok": True, "version": "1.0.0", "artifacts": []}, "without any artifact"),
    ({"ok": False, "version": "1.0.0", "artifacts": [
        {"path": "models/iris-classifier/versions/1.0.0/model.safetensors"}]}, "did not pass"),
    ({"ok": True, "version": "1.0.0", "artifacts": [{"path": ""}]}, "not a file of that version"),
    ({"ok": True, "version": "1.0.0", "artifacts": [{}]}, "not a file of that version"),
    ({"ok": True, "version": "1.0.0", "artifacts": [
        {"path": "models/credit-default/versions/2.0.0/model.safetensors"}]},
     "not a file of that version"),
    ({"ok": True, "version": "1.0.0", "artifacts": [
        {"path": "models/iris-classifier/versions/1.0.0/../../../../.dvc/config"}]},
     "unusable path"),
    ({"ok": True, "version": "", "artifacts": [{"path": "models/iris-classifier/x"}]},
     "no usable version"),
], ids=["no-artifact", "gate-failed", "empty-path", "no-path", "other-model", "dotdot",
        "no-version"])
def test_the_deploy_refuses_a_gate_answer_it_cannot_pull_exactly(tmp_path, gate, why):
    code, out = _files_step(tmp_path, gate)
    assert code == 1 and why in out, out


def test_the_deploy_lists_every_artifact_in_order(tmp_path):
    paths = [f"models/iris-classifier/versions/1.0.0/{n}" for n in ("a b.onnx", "model.safetensors")]
    code, out = _files_step(tmp_path, {"ok": True, "version": "1.0.0",
                                       "artifacts": [{"path": p} for p in paths]})
    assert code == 0, out
    assert (tmp_path / "artifacts").read_bytes() == b"".join(p.encode() + b"\0" for p in paths)
    assert (tmp_path / "output").read_text() == "version=1.0.0\n"


# --- nightly.yml: the full check as a matrix of shards, merged ------------------------------
def test_the_nightly_check_is_a_matrix_of_shards_merged_at_the_end():
    flow = _load(FLOWS / "nightly.yml")
    assert set(flow[True]) == {"schedule", "workflow_dispatch"}      # PyYAML reads `on` as True
    shard, merge = flow["jobs"]["shard"], flow["jobs"]["merge"]
    shards = shard["strategy"]["matrix"]["shard"]
    assert shards == list(range(1, len(shards) + 1)) and shard["strategy"]["fail-fast"] is False
    # N is written once: the check reads it from the matrix's size
    (run,) = [s for s in shard["steps"] if "modelreg check" in str(s.get("run"))]
    assert run["env"] == {"SHARD": "${{ matrix.shard }}", "SHARDS": "${{ strategy.job-total }}"}
    assert merge["needs"] == "shard" and merge["if"] == "${{ !cancelled() }}"
    uploads = [s for s in shard["steps"] if str(s.get("uses", "")).startswith(
        "actions/upload-artifact@")]
    downloads = [s for s in merge["steps"] if str(s.get("uses", "")).startswith(
        "actions/download-artifact@")]
    assert len(uploads) == 1 and len(downloads) == 1
    assert downloads[0]["with"]["pattern"] == "shard-*"
    assert uploads[0]["with"]["name"] == "shard-${{ matrix.shard }}"
    assert "modelreg report merge --format github" in merge["steps"][-1]["run"]


CHECK_CACHE = ".git/modelreg/cache"


def _uses(step: dict, action: str) -> bool:
    """Whether ``step`` runs ``action`` (``actions/cache`` also matches its restore and save
    halves)."""
    return str(step.get("uses", "")).split("@")[0].startswith(action)


def _check_cache_problem(steps: list[dict]) -> str | None:
    """Why a nightly shard's steps do not restore the check's cache before the check (and
    save it: the whole action, not its restore half), keyed by shard and commit; None when
    they do."""
    caches = [i for i, s in enumerate(steps) if _uses(s, "actions/cache")]
    checks = [i for i, s in enumerate(steps) if "modelreg check" in str(s.get("run"))]
    checkout = next(i for i, s in enumerate(steps) if _uses(s, "actions/checkout"))
    if len(caches) != 1 or len(checks) != 1:
        return f"{len(caches)} cache steps, {len(checks)} check steps"
    step = steps[caches[0]]
    if str(step["uses"]).split("@")[0] != "actions/cache":
        return f"{step['uses']} does not restore and save"
    if not checkout < caches[0] < checks[0]:
        return "the cache is not restored between the checkout and the check"
    given = step.get("with") or {}
    if given.get("path") != CHECK_CACHE or given.get("lookup-only"):
        return f"restores {given.get('path')!r}, lookup-only {given.get('lookup-only')!r}"
    key = str(given.get("key", ""))
    for part in ("${{ matrix.shard }}", "${{ strategy.job-total }}", "${{ github.sha }}"):
        if part not in key:
            return f"the key {key!r} lacks {part}"
    fallbacks = [f.strip() for f in str(given.get("restore-keys", "")).splitlines() if f.strip()]
    if not fallbacks or not all(key.startswith(f) for f in fallbacks):
        return f"restore keys {fallbacks!r} are not prefixes of the key"
    if "${{ matrix.shard }}" not in fallbacks[0]:
        return "the first fallback is not the same shard's last cache"
    return None


def test_the_nightly_shards_restore_the_checks_cache_before_the_check(tmp_path: Path):
    from modelreg.store.cache import Store

    steps = _load(FLOWS / "nightly.yml")["jobs"]["shard"]["steps"]
    assert _check_cache_problem(steps) is None, _check_cache_problem(steps)
    # the path is where a full check keeps its entries
    git(tmp_path, "init", "-q")
    assert Store(tmp_path, "records").folder.parent == tmp_path / CHECK_CACHE
    # removed, moved after the check, restored but never saved, keyed without the commit
    cache = next(i for i, s in enumerate(steps) if _uses(s, "actions/cache"))
    check = next(i for i, s in enumerate(steps) if "modelreg check" in str(s.get("run")))
    moved = [s for i, s in enumerate(steps) if i != cache]
    moved.insert(check, steps[cache])
    restore_only = {**steps[cache], "uses": steps[cache]["uses"].replace(
        "actions/cache@", "actions/cache/restore@")}
    no_commit = {**steps[cache], "with": {**steps[cache]["with"], "key": steps[cache][
        "with"]["key"].replace("-${{ github.sha }}", "")}}
    for bad in ([s for i, s in enumerate(steps) if i != cache], moved,
                steps[:cache] + [restore_only] + steps[cache + 1:],
                steps[:cache] + [no_commit] + steps[cache + 1:]):
        assert _check_cache_problem(bad) is not None


def test_the_pull_request_check_restores_and_saves_no_cache():
    """The pull request's check costs what it touched; a restored cache would make its
    verdict depend on what another run wrote."""
    for _, step in _steps(FLOWS / "check.yml"):
        assert not _uses(step, "actions/cache"), step
        assert not (step.get("with") or {}).get("cache"), step        # setup-python's cache
        assert ".git/modelreg" not in str(step.get("run", "")), step.get("name")


def test_no_workflow_runs_unreviewed_code_in_mains_cache_scope():
    """GitHub lets a pull_request_target or workflow_run run save into the default branch's
    cache scope, the one the nightly restores: no workflow here starts on either."""
    for path in WORKFLOWS:
        on = _load(path)[True]
        events = {on} if isinstance(on, str) else set(on)
        assert not events & {"pull_request_target", "workflow_run"}, path.name


def test_a_restored_cache_answers_the_next_nights_shard(repo, tmp_path):
    """What actions/cache restores (the folder, in another clone) answers the next night's
    check of the same commit without computing anything again; after a one-record change
    only that record's entries are new."""
    temp = tmp_path / "runner-temp"
    temp.mkdir()
    shard = ("Install modelreg", "Fetch the registry's tags (annotated, as they are)")
    contexts = {"matrix": {"shard": 1}, "strategy": {"job-total": 1}}

    def night(root: Path) -> dict[Path, int]:
        ran = run_job(FLOWS / "nightly.yml", "shard", root, {}, temp, skip=shard,
                      contexts=contexts)
        assert [code for _, code, _ in ran] == [0], ran
        return {p.relative_to(root / CHECK_CACHE): len(p.read_bytes().splitlines()) - 1
                for p in (root / CHECK_CACHE).rglob("*.seg")}

    first = night(repo.root)
    assert first, "the full check saved nothing where the workflow restores from"
    clone = tmp_path / "next-night"
    git(tmp_path, "clone", "-q", str(repo.root), str(clone))
    shutil.copytree(repo.root / CHECK_CACHE, clone / CHECK_CACHE)       # the restore
    assert night(clone) == first                    # nothing computed, nothing written
    record = clone / "models" / "credit-default" / "model.yaml"
    record.write_text(record.read_text().replace("description:", "description: Edited.", 1))
    git(clone, "commit", "-qam", "one record edited")
    after = night(clone)
    new = {p: n for p, n in after.items() if p not in first}
    assert after.items() >= first.items() and new
    models = len([p for p in (clone / "models").iterdir() if p.is_dir()])
    assert models > 1 and sum(new.values()) * models <= sum(first.values()), (new, first)


def _nightly(repo_root: Path, temp: Path, shards: int) -> list[tuple[str, int, str]]:
    """The shard jobs, one after another, then the merge job over what they uploaded."""
    reports = repo_root / "shard-reports"
    for k in range(1, shards + 1):
        ran = run_job(FLOWS / "nightly.yml", "shard", repo_root, {}, temp,
                      skip=("Install modelreg", "Fetch the registry's tags (annotated, as they are)"),
                      contexts={"matrix": {"shard": k}, "strategy": {"job-total": shards}})
        assert [code for _, code, _ in ran] == [0], ran        # findings are the merge's
        reports.mkdir(exist_ok=True)                           # upload + download-artifact
        shutil.copy(repo_root / "shard-report" / f"shard-{k}.json", reports)
    return run_job(FLOWS / "nightly.yml", "merge", repo_root, {}, temp,
                   skip=("Install modelreg",))


def test_the_nightly_merge_fails_as_the_whole_check_does(repo, tmp_path):
    root = repo.root
    card = root / "models" / "credit-default" / "model.yaml"
    card.write_text(card.read_text() + "not_a_field: 1\n")
    git(root, "commit", "-qam", "a record the schema refuses")
    whole = subprocess.run([str(BIN / "modelreg"), "check", "--format", "github"], cwd=root,
                           capture_output=True, text=True)
    temp = tmp_path / "runner-temp"
    temp.mkdir()
    ((name, code, out),) = _nightly(root, temp, 3)
    assert name == "modelreg report merge" and code == whole.returncode == 1
    assert whole.stdout in out and "not_a_field" in out
    summary = (temp / "summary.md").read_text()
    assert "modelreg check" in summary and "not_a_field" in summary


def test_the_nightly_merge_passes_a_clean_registry_and_refuses_a_missing_shard(repo, tmp_path):
    temp = tmp_path / "runner-temp"
    temp.mkdir()
    ((_, code, out),) = _nightly(repo.root, temp, 3)
    assert code == 0, out
    (repo.root / "shard-reports" / "shard-2.json").unlink()     # a shard that never uploaded
    ((_, code, out),) = run_job(FLOWS / "nightly.yml", "merge", repo.root, {}, temp,
                                skip=("Install modelreg",))
    assert code == 3 and "shard 2 of 3 missing" in out
