"""Every workflow in .github/workflows validates against the GitHub workflow JSON Schema
that check-jsonschema ships (no network), and reads the registry's tags as they are."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from conftest import PROJECT

WORKFLOWS = sorted((PROJECT / ".github" / "workflows").glob("*.yml"))


def test_the_pages_workflow_is_there():
    assert "pages.yml" in {p.name for p in WORKFLOWS}


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_workflow_validates_against_the_github_schema(path: Path):
    # check-jsonschema's own loader: it reads `on:` as a key (PyYAML would make it True)
    proc = subprocess.run([sys.executable, "-m", "check_jsonschema", "--builtin-schema",
                           "vendor.github-workflows", str(path)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_the_schema_check_can_fail(tmp_path: Path):
    bad = tmp_path / "bad.yml"
    bad.write_text("name: x\non: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n"
                   "    steps:\n      - uses: actions/checkout@v4\n        wiht: {}\n")
    proc = subprocess.run([sys.executable, "-m", "check_jsonschema", "--builtin-schema",
                           "vendor.github-workflows", str(bad)], capture_output=True, text=True)
    assert proc.returncode == 1


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_workflow_fetches_tags_after_checkout(path: Path):
    text = path.read_text(encoding="utf-8")
    if "actions/checkout" in text and "modelreg" in text:
        assert '"+refs/tags/*:refs/tags/*"' in text, "annotated tags must be fetched explicitly"
