"""A new registry's clone has no `models/` folder (git keeps no empty folders): every read
command treats it as an empty registry, which is valid and lists nothing."""
from __future__ import annotations

import json

import pytest

from conftest import git


@pytest.fixture
def fresh_clone(empty_repo, tmp_path):
    path = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(empty_repo.origin), str(path))
    assert not (path / "models").exists()
    return path


@pytest.mark.parametrize("args", [
    ["validate"], ["validate", "--json"], ["ls"], ["ls", "--json"], ["history"], ["check"],
    ["check", "--json"], ["verify"],
], ids=" ".join)
def test_read_commands_on_a_registry_without_models(fresh_clone, run_cli, args):
    res = run_cli(fresh_clone, *args)
    assert res.code == 0, res.out + res.err
    assert "Traceback" not in res.err and "internal error" not in res.err
    if "--json" in args:
        data = json.loads(res.out)
        assert data.get("findings", data.get("models")) == []


def test_validate_counts_nothing(fresh_clone, run_cli):
    res = run_cli(fresh_clone, "validate", "--json")
    assert json.loads(res.out)["summary"] == {"files": 0, "errors": 0, "warnings": 0}


def test_audit_and_site_on_a_registry_without_models(fresh_clone, run_cli, tmp_path):
    res = run_cli(fresh_clone, "audit", "--all", "--out", str(tmp_path / "audit"))
    assert res.code == 0, res.out + res.err
    res = run_cli(fresh_clone, "site", str(tmp_path / "site"))
    assert res.code == 0, res.out + res.err
    assert (tmp_path / "site" / "index.html").is_file()


def test_show_names_the_missing_model(fresh_clone, run_cli):
    res = run_cli(fresh_clone, "show", "iris-classifier")
    assert res.code == 2 and "no model named" in res.err and "internal error" not in res.err
