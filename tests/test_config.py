"""The registry's configuration (policies/data): loaded once, checked against schemas/data,
and the single source of stage order."""
from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator

from conftest import PROJECT, Repo
from modelreg.core.yamlio import load
from modelreg.store.config import DATA_DIR, ConfigError, RegistryConfig
from modelreg.store.registry import Registry

PACKAGE = PROJECT / "tools" / "modelreg"
SCHEMAS = PROJECT / "schemas" / "data"
DATA_FILES = sorted((PROJECT / "policies" / "data").glob("*.yaml"))


def test_loads_the_shipped_configuration():
    config = Registry(PROJECT).config
    assert config.stage_order == ("registered", "staging", "production")
    assert config.stage("production").requires == "staging"
    assert config.protected_branch == "main"
    assert "approver" in config.people["carol-risk"].roles
    assert config.teams["governance"].github == "@example-org/ai-governance"
    assert config.codeowners.governance == ("governance",)
    assert "iris-train" in config.datasets
    assert "MIT" in config.licenses
    assert config.tiers["1"]["approvals_production"] == 2
    assert "EVAL-01" in config.rules
    assert "TODO" in config.cards.placeholders
    assert set(config.data) == {p.stem for p in DATA_FILES}
    with pytest.raises(AttributeError):
        config.protected_branch = "dev"          # type: ignore[misc]


@pytest.mark.parametrize("path", DATA_FILES, ids=lambda p: p.name)
def test_every_data_file_has_a_schema_and_validates(path: Path):
    schema = json.loads((SCHEMAS / f"{path.stem}.schema.json").read_text(encoding="utf-8"))
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    Draft202012Validator.check_schema(schema)
    assert list(Draft202012Validator(schema).iter_errors(load(path).data)) == []
    assert list(_undescribed(schema)) == []


def _undescribed(schema, where="$"):
    if not isinstance(schema, dict):
        return
    for name, sub in schema.get("properties", {}).items():
        if not (isinstance(sub, dict) and str(sub.get("description", "")).strip()):
            yield f"{where}.properties.{name}"
    for key in ("properties", "$defs", "patternProperties"):
        for name, sub in schema.get(key, {}).items():
            yield from _undescribed(sub, f"{where}.{key}.{name}")
    for key in ("items", "additionalProperties"):
        yield from _undescribed(schema.get(key), f"{where}.{key}")


def _line_of(path: Path, text: str) -> int:
    return next(i for i, line in enumerate(path.read_text().splitlines(), 1) if text in line)


def _typo_in_people(root: Path) -> int:
    people = root / DATA_DIR / "people.yaml"
    people.write_text(people.read_text().replace(
        "    roles: [approver, model-risk-officer]", "    role: [approver, model-risk-officer]",
        1))
    return _line_of(people, "role: [approver")


def test_a_typo_in_people_is_an_id01_finding_with_file_and_line(repo: Repo, run_cli):
    line = _typo_in_people(repo.root)
    res = run_cli(repo.root, "check", "--engine", "regorus", "--json")
    assert res.code == 1, res.err
    findings = json.loads(res.out)["findings"]
    assert {(f["rule"], f["file"]) for f in findings} == {("ID-01", "policies/data/people.yaml")}
    typo = [f for f in findings if "'role' was unexpected" in f["message"]]
    assert [f["line"] for f in typo] == [line], findings
    assert "GOV-01" not in res.out
    res = run_cli(repo.root, "validate", "--json")
    assert res.code == 1
    found = [(f["rule"], f["file"], f["line"]) for f in json.loads(res.out)["findings"]]
    assert ("ID-01", "policies/data/people.yaml", line) in found
    with pytest.raises(ConfigError) as info:
        RegistryConfig.load(Registry(repo.root))
    assert str(info.value).startswith("policies/data/people.yaml:")
    assert line in [f.line for f in info.value.findings]


def test_the_honest_configuration_checks_clean(repo: Repo, run_cli):
    res = run_cli(repo.root, "validate", "--json")
    assert res.code == 0, res.out
    res = run_cli(repo.root, "check", "--engine", "regorus", "--json")
    assert not [f for f in json.loads(res.out)["findings"] if f["file"].startswith(DATA_DIR)]


def test_a_requires_naming_no_earlier_stage_is_reported(repo: Repo):
    env = repo.root / DATA_DIR / "environments.yaml"
    env.write_text(env.read_text().replace("requires: staging", "requires: stagign"))
    with pytest.raises(ConfigError) as info:
        RegistryConfig.load(Registry(repo.root))
    assert info.value.file == "policies/data/environments.yaml"
    assert info.value.line == _line_of(env, "requires: stagign")


def _add_canary(root: Path) -> None:
    env = root / DATA_DIR / "environments.yaml"
    env.write_text(env.read_text().replace(
        "  - name: production\n",
        "  - name: canary\n    description: A slice of live traffic.\n    requires: staging\n"
        "  - name: production\n"))


def test_a_stage_added_to_the_configuration_is_in_stage_order_everywhere(repo: Repo, run_cli):
    from modelreg.app.audit import _reached
    from modelreg.policy.engines import load_policy_set
    from modelreg.policy.explain import explain

    _add_canary(repo.root)
    registry = Registry(repo.root)
    config = registry.config
    assert config.stage_order == ("registered", "staging", "canary", "production")
    assert config.stage_rank["canary"] == 2
    policy_set = load_policy_set(registry)
    assert policy_set.stage_order == config.stage_order
    assert explain(policy_set, "ID-06")["applies_to"] == ["staging", "canary", "production"]
    assert policy_set.data["environments"]["stages"][1]["name"] == "canary"   # data.registry
    # promotion and check know the new stage; an unknown one is a usage error naming it
    res = run_cli(repo.root, "check", "--engine", "regorus", "--stage", "canary", "--json")
    assert res.code in (0, 1), res.err
    assert json.loads(res.out)["check"]["stage"] == "canary"
    res = run_cli(repo.root, "check", "--engine", "regorus", "--stage", "nope")
    assert res.code == 2 and "registered, staging, canary, production" in res.err
    state = registry.state("iris-classifier")
    assert _reached(registry, "iris-classifier", state, None) == ["registered"]
    from modelreg.render.site import _stage_order

    report = {"versions": [{"stage_history": [{"stage": "production"}, {"stage": "canary"}]}]}
    assert _stage_order(config, report) == ["canary", "production"]


def test_without_environments_yaml_the_defaults_apply(repo: Repo):
    (repo.root / DATA_DIR / "environments.yaml").unlink()
    config = Registry(repo.root).config
    assert config.stage_names == ("staging", "production")
    assert config.protected_branch == "main"
    assert config.data["environments"]["stages"][0]["name"] == "staging"


# --- one home -------------------------------------------------------------------------------
def _strings(path: Path):
    """(line, text) of every string literal in a module, docstrings left out."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    docstrings = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                docstrings.add(id(body[0].value))
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) \
                and id(node) not in docstrings:
            yield node.lineno, node.value


def _modules():
    return sorted(PACKAGE.rglob("*.py"))


def test_no_literal_stage_name_outside_the_configuration_defaults():
    import re

    word = re.compile(r"\b(staging|production)\b")
    found = [f"{p.relative_to(PROJECT)}:{line}: {text!r}" for p in _modules()
             if p.name != "config.py" for line, text in _strings(p) if word.search(text)]
    for template in sorted((PACKAGE / "templates").glob("*.j2")):
        found += [f"{template.relative_to(PROJECT)}:{n}" for n, line in
                  enumerate(template.read_text(encoding="utf-8").splitlines(), 1)
                  if word.search(line)]
    assert found == []


def test_the_final_stage_badge_follows_the_configuration():
    from modelreg.render.audit import environment

    badge = ('{% for s in stages %}<span class="badge stage{% if s == final_stage %} final'
             '{% endif %}">{{ s }}</span>{% endfor %}')
    html = environment("html", final_stage="live").from_string(badge).render(
        stages=["staging", "live"])
    assert html == ('<span class="badge stage">staging</span>'
                    '<span class="badge stage final">live</span>')


def test_the_stage_grep_can_fail(tmp_path):
    # proves the test above looks at code strings and not at docstrings
    module = tmp_path / "m.py"
    module.write_text('"""Docs may say production."""\nX = ["registered", "staging"]\n')
    assert [text for _, text in _strings(module)] == ["registered", "staging"]


def test_only_the_configuration_reads_policies_data():
    found = []
    for p in _modules():
        if p.relative_to(PACKAGE).as_posix() == "store/config.py":
            continue
        for line, text in _strings(p):
            if text.startswith("policies/data"):
                found.append(f"{p.relative_to(PROJECT)}:{line}: {text!r}")
        if '/ "data"' in p.read_text(encoding="utf-8"):
            found.append(f"{p.relative_to(PROJECT)}: a path joined with \"data\"")
    assert found == []


def test_each_revision_has_its_own_configuration(repo: Repo):
    _add_canary(repo.root)
    repo.git("commit", "-qam", "Add a canary stage")
    _typo_in_people(repo.root)
    repo.git("commit", "-qam", "A typo")
    registry = Registry(repo.root)
    assert registry.at("HEAD~2").config.stage_names == ("staging", "production")
    assert registry.at("HEAD~1").config.stage_names == ("staging", "canary", "production")
    with pytest.raises(ConfigError) as info:
        _ = registry.at("HEAD").config
    assert info.value.file == "policies/data/people.yaml"
