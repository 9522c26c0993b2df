"""`modelreg doctor`: a new registry's set-up, what is left to do, and GitHub's settings.

A registry fresh from `init` reports each thing its owners still have to do; once they are
done, doctor has nothing to say (exit 0). On that finished registry each check is then
broken on purpose, one at a time, and must report it. The GitHub settings are sent, by the
very `gh api` command lines doctor prints, to a loopback server that checks each body
against the request schema GitHub documents for rulesets and environments.
"""
from __future__ import annotations

import json
import os
import re
import socket
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import git, session_key, tag_signing_yaml
from fake_github import (
    REPO,
    FakeGitHub,
    branch_policy_errors,
    environment_errors,
    ruleset_errors,
    serve,
)
from modelreg.core.release import __version__
from test_adoption import fill_in_people_and_teams

APP_ID = 424242


def doctor(run_cli, root: Path, *args: str) -> tuple[int, dict]:
    res = run_cli(root, "doctor", "--json", *args)
    assert res.code in (0, 1), res.out + res.err
    return res.code, json.loads(res.out)


def checks(report: dict) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {}
    for p in report["problems"]:
        out.setdefault(p["check"], []).append(p)
    return out


@pytest.fixture
def fresh(tmp_path, run_cli):
    res = run_cli(tmp_path, "init", "reg", "--org", "Northwind",
                  "--remote", str(tmp_path / "storage"))
    assert res.code == 0, res.err
    root = tmp_path / "reg"
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "Start the registry")
    return root


def finish(root: Path, run_cli) -> None:
    """What a registry's owners do after `init`: real people and teams, the reconcile job's
    key as the allowed tag signer, the storage folder, CODEOWNERS regenerated."""
    fill_in_people_and_teams(root)
    key = session_key()
    (root / "policies/data/tag-signing.yaml").write_text(tag_signing_yaml(key.signer_entry()))
    (root.parent / "storage").mkdir(exist_ok=True)
    assert run_cli(root, "codeowners", "--write").code == 0


@pytest.fixture
def finished(fresh, run_cli):
    finish(fresh, run_cli)
    return fresh


# --- honest: a new registry says what is left; a finished one has nothing to do -------------
def test_a_fresh_registry_reports_what_its_owners_must_do(fresh, run_cli):
    code, report = doctor(run_cli, fresh)
    assert code == 1 and report["ok"] is False
    found = checks(report)
    assert set(found) == {"placeholders", "dvc-remote", "tag-signing"}, found
    people = [p for p in found["placeholders"] if p["file"] == "policies/data/people.yaml"]
    assert {re.match(r"(\S+)", p["message"]).group(1) for p in people} == {
        "placeholder-developer", "placeholder-risk-officer", "placeholder-second-risk-officer",
        "placeholder-validator", "placeholder-governance"}
    lines = (fresh / "policies/data/people.yaml").read_text().splitlines()
    for p in people:
        assert p["line"] and "placeholder-" in lines[p["line"] - 1] and p["hint"]
    assert {p["file"] for p in found["placeholders"]} == {"policies/data/people.yaml",
                                                          "policies/data/teams.yaml"}
    (signing,) = found["tag-signing"]
    assert signing["file"] == "policies/data/tag-signing.yaml"
    assert "allowed_signers" in (fresh / signing["file"]).read_text().splitlines()[
        signing["line"] - 1]
    (remote,) = found["dvc-remote"]
    assert "does not exist" in remote["message"] and remote["file"] == ".dvc/config"


def test_text_output_is_one_line_per_problem_with_where_and_what_to_do(fresh, run_cli):
    res = run_cli(fresh, "doctor")
    assert res.code == 1
    lines = res.out.splitlines()
    code, report = doctor(run_cli, fresh)
    assert len(lines) == len(report["problems"])
    assert any(line.startswith("policies/data/people.yaml:10: placeholder-developer") and
               " — replace it" in line for line in lines), lines
    assert "to do — FAILED" in res.err


def test_a_finished_registry_has_nothing_to_do(finished, run_cli):
    res = run_cli(finished, "doctor")
    assert res.code == 0, res.out + res.err
    assert res.out == "" and "nothing to do — ok" in res.err
    code, report = doctor(run_cli, finished)
    assert code == 0 and report["ok"] and report["problems"] == []
    # committing it changes nothing
    git(finished, "add", "-A")
    git(finished, "commit", "-q", "-m", "Northwind's people, teams and tag signer")
    assert run_cli(finished, "doctor").code == 0


# --- each check, when its condition is introduced --------------------------------------------
def _edit(root: Path, rel: str, old: str, new: str) -> None:
    path = root / rel
    text = path.read_text()
    assert old in text, (rel, old)
    path.write_text(text.replace(old, new, 1))


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _no_verify(root: Path) -> None:
    _edit(root, ".dvc/config", "verify = True", "verify = False")


def _no_remote(root: Path) -> None:
    (root / ".dvc/config").write_text("[core]\n    autostage = true\n")


def _unreachable_s3(root: Path) -> None:
    (root / ".dvc/config").write_text(
        "[core]\n    remote = storage\n['remote \"storage\"']\n    url = s3://northwind/dvc\n"
        f"    endpointurl = http://127.0.0.1:{_closed_port()}\n    verify = true\n")


BREAKS = {
    "placeholders": lambda root: _edit(
        root, "policies/data/people.yaml", "people:\n",
        "people:\n  placeholder-auditor:\n    name: A\n    email: a@example.invalid\n"
        "    teams: [governance]\n    roles: [governance]\n"),
    "policy-data": lambda root: _edit(root, "policies/data/people.yaml",
                                      "roles: [developer]", "roles: developer"),
    "dvc-remote": _no_verify,
    "pins": lambda root: _edit(root, ".github/workflows/check.yml",
                               f'"modelreg=={__version__}"', '"modelreg==0.0.9"'),
    "codeowners": lambda root: _edit(root, "policies/data/teams.yaml",
                                     "@Northwind/model-risk", "@Northwind/risk-officers"),
    "tag-signing": lambda root: (root / "policies/data/tag-signing.yaml").write_text(
        "signed_tags: true\nallowed_signers: []\n"),
    "record": lambda root: (root / ".modelreg.yaml").unlink(),
}


@pytest.mark.parametrize("check", sorted(BREAKS))
def test_each_check_reports_its_condition(finished, run_cli, check):
    BREAKS[check](finished)
    code, report = doctor(run_cli, finished)
    assert code == 1
    found = checks(report)
    assert check in found, report
    for p in found[check]:
        assert p["message"] and p["hint"] and p["file"]
    assert set(found) <= {check, "codeowners"}      # people.yaml edits may stale CODEOWNERS


@pytest.mark.parametrize("breaker", [_no_verify, _no_remote, _unreachable_s3])
def test_the_dvc_remote_checks(finished, run_cli, breaker):
    breaker(finished)
    _, report = doctor(run_cli, finished)
    (problem,) = checks(report)["dvc-remote"]
    assert problem["file"] == ".dvc/config"
    if breaker is _unreachable_s3:
        assert "does not answer at 127.0.0.1:" in problem["message"]
    elif breaker is _no_verify:
        assert "verify = true" in problem["message"] and "verify true" in problem["hint"]
    else:
        assert "no default DVC remote" in problem["message"]


def test_an_s3_remote_that_answers_passes(finished, run_cli):
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(4)
        port = listener.getsockname()[1]
        (finished / ".dvc/config").write_text(
            "[core]\n    remote = storage\n['remote \"storage\"']\n    url = s3://northwind/dvc\n"
            f"    endpointurl = http://127.0.0.1:{port}\n    verify = true\n")
        code, report = doctor(run_cli, finished)
    assert code == 0, report["problems"]


@pytest.mark.parametrize("rel,old,new,says", [
    (".github/workflows/reconcile.yml", f'pip install "modelreg=={__version__}"',
     "pip install -e .", "from a checkout"),
    (".github/workflows/pages.yml", f'pip install "modelreg=={__version__}"',
     "pip install modelreg", "without pinning"),
    (".pre-commit-config.yaml", f"modelreg=={__version__}", "modelreg==0.0.9", "installs modelreg 0.0.9"),
])
def test_workflow_and_hook_pins(finished, run_cli, rel, old, new, says):
    path = finished / rel
    path.write_text(path.read_text().replace(old, new))
    _, report = doctor(run_cli, finished)
    found = checks(report)["pins"]
    assert {p["file"] for p in found} == {rel}
    assert all(says in p["message"] for p in found), found
    line = path.read_text().splitlines()[found[0]["line"] - 1]
    assert new in line


def test_a_placeholder_signer_is_no_signer(finished, run_cli):
    key = session_key()
    (finished / "policies/data/tag-signing.yaml").write_text(tag_signing_yaml(
        {**key.signer_entry(), "id": "placeholder-reconcile"}))
    _, report = doctor(run_cli, finished)
    (problem,) = checks(report)["tag-signing"]
    assert "placeholder" in problem["message"]


def test_unsigned_tags_said_so_need_no_signer(finished, run_cli):
    (finished / "policies/data/tag-signing.yaml").write_text(tag_signing_yaml(signed=False))
    assert doctor(run_cli, finished)[0] == 0


def test_a_record_from_another_release_asks_for_upgrade(finished, run_cli):
    _edit(finished, ".modelreg.yaml", f"modelreg: {__version__}", "modelreg: 0.0.9")
    _, report = doctor(run_cli, finished)
    (problem,) = checks(report)["record"]
    assert "written by modelreg 0.0.9" in problem["message"]
    assert "modelreg upgrade" in problem["hint"] and problem["line"] == 4


# --- hostile: it cannot run where there is no registry ------------------------------------
def test_doctor_cannot_run_outside_a_registry(tmp_path, run_cli):
    (tmp_path / "plain").mkdir()
    res = run_cli(tmp_path / "plain", "doctor")
    assert res.code == 3 and "not inside a git repository" in res.err
    git(tmp_path, "init", "-q", "-b", "main", "project")
    res = run_cli(tmp_path / "project", "doctor")
    assert res.code == 3 and "not a modelreg registry" in res.err
    assert "modelreg init" in res.err


# --- GitHub's settings: exactly what GitHub's REST API takes --------------------------------
@pytest.fixture
def github():
    fake = FakeGitHub()
    server = serve(fake)
    yield fake
    server.shutdown()
    server.server_close()


def gh_shim(folder: Path) -> Path:
    """A `gh` that sends `gh api -X METHOD PATH --input FILE` to the loopback server, and
    fails on an error answer as gh does."""
    folder.mkdir(parents=True, exist_ok=True)
    shim = folder / "gh"
    shim.write_text(f"""#!{sys.executable}
import json, os, sys, urllib.error, urllib.request
args = sys.argv[1:]
assert args[0] == "api", args
method = args[args.index("-X") + 1]
body = open(args[args.index("--input") + 1], "rb").read()
path = [a for a in args[1:] if a.startswith("repos/")][0]
request = urllib.request.Request(os.environ["FAKE_GITHUB"] + "/" + path, data=body,
                                 method=method, headers={{"Content-Type": "application/json"}})
try:
    with urllib.request.urlopen(request) as answer:
        print(answer.read().decode())
except urllib.error.HTTPError as exc:
    print(exc.read().decode(), file=sys.stderr)
    sys.exit(1)
""")
    shim.chmod(shim.stat().st_mode | stat.S_IXUSR)
    return shim


def test_the_printed_commands_set_up_github_as_documented(finished, run_cli, github, tmp_path):
    res = run_cli(finished, "doctor", "--github-settings", "--app-id", str(APP_ID),
                  "--github-repo", REPO)
    assert res.code == 0, res.err
    script = tmp_path / "settings" / "apply.sh"
    script.parent.mkdir()
    gh_shim(tmp_path / "bin")
    script.write_text(res.out)
    proc = subprocess.run(["sh", "-e", str(script)], cwd=script.parent, capture_output=True,
                          text=True, env={**os.environ, "FAKE_GITHUB": github.url,
                                          "PATH": f"{tmp_path / 'bin'}{os.pathsep}"
                                                  f"{os.environ['PATH']}"})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    environments = ("registry-tags", "staging", "production")
    assert [(path, h.get("Content-Type")) for path, h in github.requests] == [
        (f"/repos/{REPO}/rulesets", "application/json")] * 3 + [
        (f"/repos/{REPO}/environments/{name}{tail}", "application/json")
        for name in environments for tail in ("", "/deployment-branch-policies")]
    branch, creation, immutable = github.rulesets
    assert branch["target"] == "branch" and branch["bypass_actors"] == []
    assert branch["conditions"]["ref_name"]["include"] == ["~DEFAULT_BRANCH"]
    rules = {r["type"]: r.get("parameters") for r in branch["rules"]}
    assert set(rules) == {"pull_request", "required_status_checks", "non_fast_forward",
                          "deletion"}
    assert rules["pull_request"]["require_code_owner_review"] is True
    assert rules["pull_request"]["dismiss_stale_reviews_on_push"] is True
    assert rules["pull_request"]["required_approving_review_count"] >= 1
    assert rules["required_status_checks"]["required_status_checks"] == [
        {"context": "check", "integration_id": 15368}]
    patterns = ["refs/tags/*@v*", "refs/tags/*@deprecated*", "refs/tags/*#*"]
    for tags in (creation, immutable):
        assert tags["target"] == "tag"
        assert tags["conditions"]["ref_name"] == {"include": patterns, "exclude": []}
    assert [r["type"] for r in creation["rules"]] == ["creation"]
    assert creation["bypass_actors"] == [{"actor_id": APP_ID, "actor_type": "Integration",
                                          "bypass_mode": "always"}]
    assert {r["type"] for r in immutable["rules"]} == {"update", "deletion", "non_fast_forward"}
    assert immutable["bypass_actors"] == []
    assert rules["pull_request"]["allowed_merge_methods"] == ["merge"]
    # each environment: only the protected branch may use it (not "protected branches", which
    # lets every branch in when no classic protection rule exists)
    assert set(github.environments) == set(environments)
    for body in github.environments.values():
        assert body["deployment_branch_policy"] == {"protected_branches": False,
                                                    "custom_branch_policies": True}
    assert github.branch_policies == {name: [{"name": "main", "type": "branch"}]
                                      for name in environments}


def test_json_gives_the_settings_with_their_commands(finished, run_cli, github):
    git(finished, "remote", "add", "origin", "git@github.com:Northwind/model-registry.git")
    _, report = doctor(run_cli, finished)
    settings = report["github"]["settings"]
    assert report["github"]["repository"] == "Northwind/model-registry"
    assert [s["command"] for s in settings][:3] == [
        f"gh api -X POST repos/Northwind/model-registry/rulesets --input {name}"
        for name in ("branch-ruleset.json", "tag-creation-ruleset.json",
                     "tag-immutable-ruleset.json")]
    assert settings[3]["command"] == ("gh api -X PUT repos/Northwind/model-registry/"
                                      "environments/registry-tags --input "
                                      "environment-registry-tags.json")
    # without the App's id, the creation ruleset says what it lacks, and GitHub would refuse it
    creation = settings[1]
    assert creation["missing"] and creation["body"]["bypass_actors"][0]["actor_id"] is None
    assert ruleset_errors(creation["body"])
    assert [s["name"] for s in settings if s["missing"]] == ["tag ruleset: creation"]
    for s in settings:
        if not s["missing"]:
            check = (environment_errors if s["method"] == "PUT" else
                     branch_policy_errors if s["path"].endswith("policies") else ruleset_errors)
            errors = check(s["body"])
            assert errors == [], (s["name"], errors)


def test_the_script_leaves_out_what_lacks_the_app_id(finished, run_cli):
    res = run_cli(finished, "doctor", "--github-settings", "--github-repo", REPO)
    assert res.code == 0
    assert f"# gh api -X POST repos/{REPO}/rulesets --input tag-creation-ruleset.json" in res.out
    assert "--app-id" in res.err


# --- hostile: the loopback server refuses what GitHub refuses ---------------------------------
@pytest.mark.parametrize("spoil", [
    lambda b: b["rules"][2]["parameters"].pop("require_code_owner_review"),
    lambda b: b.update(enforcement="on"),
    lambda b: b["conditions"]["ref_name"].update(include=["main"]),
    lambda b: b["rules"].append({"type": "creation", "parameters": {}}),
    lambda b: b.update(target="tag"),
])
def test_the_fake_refuses_a_ruleset_github_refuses(github, spoil):
    import urllib.error
    import urllib.request

    from modelreg.app.doctor import github_settings

    body = github_settings(REPO, app_id=APP_ID)[0].body
    spoil(body)
    request = urllib.request.Request(f"{github.url}/repos/{REPO}/rulesets", method="POST",
                                     data=json.dumps(body).encode())
    with pytest.raises(urllib.error.HTTPError) as exc:
        urllib.request.urlopen(request)
    assert exc.value.code == 422
    assert json.loads(exc.value.read())["message"] == "Validation Failed"
    assert github.rulesets == []


def test_the_fake_refuses_an_environment_open_to_every_branch(github):
    assert environment_errors({"deployment_branch_policy": {
        "protected_branches": False, "custom_branch_policies": False}})
    assert environment_errors({"deployment_branch_policy": {"protected_branches": True}})
    assert environment_errors({"wait_timer": -1})


def test_the_fake_refuses_a_branch_policy_without_custom_policies(github):
    import urllib.error
    import urllib.request

    def send(method: str, path: str, body: dict) -> int:
        request = urllib.request.Request(f"{github.url}/repos/{REPO}/{path}", method=method,
                                         data=json.dumps(body).encode())
        try:
            with urllib.request.urlopen(request) as answer:
                return answer.status
        except urllib.error.HTTPError as exc:
            return exc.code

    assert send("PUT", "environments/staging", {"deployment_branch_policy": {
        "protected_branches": True, "custom_branch_policies": False}}) == 200
    assert send("POST", "environments/staging/deployment-branch-policies",
                {"name": "main"}) == 404
    assert send("PUT", "environments/staging", {"deployment_branch_policy": {
        "protected_branches": False, "custom_branch_policies": True}}) == 200
    assert send("POST", "environments/staging/deployment-branch-policies",
                {"name": "main", "type": "commit"}) == 422
    assert github.branch_policies == {"staging": []}
