"""modelreg's pre-commit hooks (`.pre-commit-hooks.yaml`), run by pre-commit itself with
`pre-commit try-repo`: pre-commit installs modelreg from this project's source into a hook
environment of its own, then runs each hook in a registry on what is staged."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from conftest import PROJECT, git, make_registry

HOOKS = ("modelreg-validate", "modelreg-card-check", "modelreg-codeowners",
         "modelreg-policy-test")


@pytest.fixture(scope="module")
def hooks_repo(tmp_path_factory) -> Path:
    """This project as pre-commit fetches a hooks repository: committed files at one rev
    (the same rev each time, so pre-commit builds the hook environment once)."""
    repo = tmp_path_factory.mktemp("hooks") / "modelreg"
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others",
                             "--exclude-standard"], cwd=PROJECT, capture_output=True,
                            check=True).stdout.decode()
    for rel in filter(None, listed.split("\0")):
        if (PROJECT / rel).is_file():
            (repo / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(PROJECT / rel, repo / rel)
    git(repo.parent, "init", "-q", "-b", "main", str(repo))
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "modelreg")
    return repo


@pytest.fixture(scope="module")
def pre_commit_home(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("pre-commit-home")


def try_repo(registry: Path, hooks: Path, home: Path, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["PRE_COMMIT_HOME"] = str(home)
    return subprocess.run([sys.executable, "-m", "pre_commit", "try-repo", str(hooks), *args],
                          cwd=registry, capture_output=True, text=True, env=env)


@pytest.fixture
def registry(tmp_path, run_cli) -> Path:
    """A registry whose cards and CODEOWNERS are current, committed."""
    root = make_registry(tmp_path, with_models=True).root
    for name in ("iris-classifier", "credit-default"):
        assert run_cli(root, "card", name, "--write").code == 0
    assert run_cli(root, "codeowners", "--write").code == 0
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "Cards and code owners")
    return root


def test_the_hooks_file_offers_every_hook_on_registry_files():
    hooks = {h["id"]: h for h in yaml.safe_load((PROJECT / ".pre-commit-hooks.yaml").read_text())}
    assert tuple(hooks) == HOOKS
    for hook in hooks.values():
        assert hook["language"] == "python" and hook["entry"].startswith("modelreg ")


def test_an_honest_commit_passes_every_hook(registry, hooks_repo, pre_commit_home):
    for name in ("iris-classifier", "credit-default"):       # the owners write the prose
        card = registry / "models" / name / "card.md"
        card.write_text(card.read_text().replace("[More Information Needed]",
                                                 "The owners wrote this section for review."))
    git(registry, "add", "-A")
    proc = try_repo(registry, hooks_repo, pre_commit_home, "--all-files")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    for hook in ("modelreg validate", "modelreg card --check", "modelreg codeowners --check",
                 "modelreg policy test"):
        assert any(line.startswith(hook) and line.endswith("Passed")
                   for line in proc.stdout.splitlines()), (hook, proc.stdout)


def test_each_hook_stops_the_commit_it_should(registry, hooks_repo, pre_commit_home):
    # a record that breaks its schema, a model change whose card and CODEOWNERS were not
    # regenerated, and a policy whose unit test now fails
    model = registry / "models/credit-default/model.yaml"
    text = model.read_text()
    assert "interval_days: 365" in text
    model.write_text(text.replace("interval_days: 365", "interval_days: yearly", 1))
    owners = registry / "models/iris-classifier/model.yaml"
    data = yaml.safe_load(owners.read_text())
    assert data["owner"]["team"] != "credit-analytics"
    owners.write_text(owners.read_text().replace(f"team: {data['owner']['team']}",
                                                 "team: credit-analytics", 1))
    git(registry, "add", "-A")
    for hook, says in (("modelreg-validate", "models/credit-default/model.yaml"),
                       ("modelreg-card-check", "models/iris-classifier/card.md"),
                       ("modelreg-codeowners", ".github/CODEOWNERS")):
        proc = try_repo(registry, hooks_repo, pre_commit_home, hook)
        assert proc.returncode == 1, (hook, proc.stdout + proc.stderr)
        assert "Failed" in proc.stdout and says in proc.stdout, (hook, proc.stdout)

    # the data scientist fixes what they were told; the card and CODEOWNERS are regenerated
    # (the card's prose is still to be written: that stays the card check's to report)
    model.write_text(text)
    env = {k: v for k, v in os.environ.items()}
    for args in (("card", "iris-classifier", "--write"), ("codeowners", "--write")):
        subprocess.run([sys.executable, "-m", "modelreg", *args], cwd=registry, check=True,
                       env=env, capture_output=True)
    git(registry, "add", "-A")
    for hook in ("modelreg-validate", "modelreg-codeowners"):
        proc = try_repo(registry, hooks_repo, pre_commit_home, hook)
        assert proc.returncode == 0, proc.stdout + proc.stderr
    proc = try_repo(registry, hooks_repo, pre_commit_home, "modelreg-card-check")
    assert proc.returncode == 1 and "CARD-04" not in proc.stdout, proc.stdout


def test_a_policy_whose_unit_test_fails_is_stopped(registry, hooks_repo, pre_commit_home):
    rule = next((registry / "policies").glob("*_test.rego"))
    rule.write_text(rule.read_text() + "\ntest_always_fails if {\n\tfalse\n}\n")
    git(registry, "add", "-A")
    proc = try_repo(registry, hooks_repo, pre_commit_home, "modelreg-policy-test")
    assert proc.returncode == 1 and "test_always_fails" in proc.stdout, proc.stdout
