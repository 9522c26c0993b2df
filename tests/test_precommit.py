"""modelreg's pre-commit hooks (`.pre-commit-hooks.yaml`), run by pre-commit itself: pre-commit
installs modelreg from this project's source into a hook environment of its own, then runs
each hook in a registry on what is staged. `pre-commit try-repo` (which builds a fresh
environment each time) tries them all once; the other runs use a registry's
`.pre-commit-config.yaml` naming this source at one rev, as a registry would, so pre-commit
builds that environment once."""
from __future__ import annotations

import os
import re
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


def run_hooks(registry: Path, hooks: Path, home: Path, *hook: str) -> subprocess.CompletedProcess:
    """`pre-commit run` with a configuration naming this source at its rev."""
    rev = git(hooks, "rev-parse", "HEAD").strip()
    config = {"repos": [{"repo": str(hooks), "rev": rev, "hooks": [{"id": h} for h in HOOKS]}]}
    (registry / ".pre-commit-config.yaml").write_text(yaml.safe_dump(config))
    git(registry, "add", ".pre-commit-config.yaml")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["PRE_COMMIT_HOME"] = str(home)
    return subprocess.run([sys.executable, "-m", "pre_commit", "run", *hook], cwd=registry,
                          capture_output=True, text=True, env=env)


def _section(out: str, name: str) -> str:
    """What pre-commit printed for the hook whose name starts with ``name``."""
    start = next(i for i, line in enumerate(out.splitlines()) if line.startswith(name))
    lines = out.splitlines()[start:]
    end = next((i for i, line in enumerate(lines[1:], 1) if re.match(r"^\S.*\.{3,}", line)),
               len(lines))
    return "\n".join(lines[:end])


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
    rule = next((registry / "policies").glob("*_test.rego"))
    rego = rule.read_text()
    rule.write_text(rego + "\ntest_always_fails if {\n\tfalse\n}\n")
    git(registry, "add", "-A")
    proc = run_hooks(registry, hooks_repo, pre_commit_home)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    for name, says in (("modelreg validate", "models/credit-default/model.yaml"),
                       ("modelreg card --check", "models/iris-classifier/card.md"),
                       ("modelreg codeowners --check", ".github/CODEOWNERS"),
                       ("modelreg policy test", "test_always_fails")):
        section = _section(proc.stdout, name)
        assert "Failed" in section and says in section, (name, proc.stdout)

    # the data scientist fixes what they were told; the card and CODEOWNERS are regenerated
    # (the card's prose is still to be written: that stays the card check's to report)
    model.write_text(text)
    rule.write_text(rego)
    for args in (("card", "iris-classifier", "--write"), ("codeowners", "--write")):
        subprocess.run([sys.executable, "-m", "modelreg", *args], cwd=registry, check=True,
                       capture_output=True)
    git(registry, "add", "-A")
    proc = run_hooks(registry, hooks_repo, pre_commit_home)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    for name in ("modelreg validate", "modelreg codeowners --check"):
        assert _section(proc.stdout, name).split("\n")[0].endswith("Passed"), proc.stdout
    assert "Failed" not in _section(proc.stdout, "modelreg policy test")   # the test restored
    card = _section(proc.stdout, "modelreg card --check")
    assert "Failed" in card and "CARD-01" in card and "CARD-04" not in card, proc.stdout
