"""The GitHub workflows validate against the workflow JSON Schema that check-jsonschema
ships (offline), and say what the README promises: tags fetched as they are, the check run
with reviews, reconcile with the approvals, the gate before any deploy."""
from __future__ import annotations

import subprocess
import sys

import pytest

from conftest import PROJECT

WORKFLOWS = sorted((PROJECT / ".github" / "workflows").glob("*.yml"))


def test_there_are_workflows():
    names = {p.name for p in WORKFLOWS}
    assert {"check.yml", "reconcile.yml", "deploy.yml"} <= names


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_workflow_validates_against_the_github_schema(path):
    proc = subprocess.run([sys.executable, "-m", "check_jsonschema", "--builtin-schema",
                           "vendor.github-workflows", str(path)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_the_schema_check_catches_a_broken_workflow(tmp_path):
    broken = tmp_path / "broken.yml"
    broken.write_text("on:\n  pull_requests:\njobs:\n  check:\n    runs-on: ubuntu-latest\n"
                      "    timeout-minutes: ten\n    steps: []\n")
    proc = subprocess.run([sys.executable, "-m", "check_jsonschema", "--builtin-schema",
                           "vendor.github-workflows", str(broken)], capture_output=True, text=True)
    assert proc.returncode == 1


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_annotated_tags_are_fetched_explicitly(path):
    text = path.read_text()
    if "modelreg" in text and "actions/checkout" in text:
        assert '"+refs/tags/*:refs/tags/*"' in text, "actions/checkout makes tags lightweight"


def test_workflows_run_the_sign_off_steps():
    check = (PROJECT / ".github/workflows/check.yml").read_text()
    assert "modelreg check --changed-since" in check and "--reviews" in check
    assert "pull_request_review" in check and "modelreg codeowners --check" in check
    reconcile = (PROJECT / ".github/workflows/reconcile.yml").read_text()
    assert "modelreg reconcile --push" in reconcile and "--approvals" in reconcile
    deploy = (PROJECT / ".github/workflows/deploy.yml").read_text()
    assert deploy.index("modelreg gate") < deploy.index("name: Deploy")
