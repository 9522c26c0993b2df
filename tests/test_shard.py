"""A full check split across machines: ``check --shard K/N`` and ``report merge``.

The merged report of the shards is the whole check's report (same findings in the same order,
same summary, notes and exit code), registry-wide findings counted once; every model is in
exactly one shard, and stays in it when others are added; merge refuses shards that do not
make one check.
"""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from conftest import load_bench
from modelreg.app.check import check
from modelreg.core.errors import EXIT_CANNOT_RUN, EXIT_FINDINGS, EXIT_OK, EXIT_USAGE, UsageError
from modelreg.core.shards import Shard, parse, shard_of
from modelreg.store.registry import Registry

ROOT = Path(__file__).resolve().parent.parent
REPORT_SCHEMA = Draft202012Validator(
    json.loads((ROOT / "schemas" / "report.schema.json").read_text(encoding="utf-8")))
N = 3


bench = load_bench()


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    return bench.generate(tmp_path_factory.mktemp("bench") / "registry", 24, 1,
                          per_commit=12).root


@pytest.fixture
def reg(built: Path, tmp_path: Path) -> Path:
    """A copy of the 24-model registry with a model broken in every shard."""
    root = tmp_path / "registry"
    shutil.copytree(built, root, symlinks=True)
    names = sorted(p.name for p in (root / "models").iterdir())
    for k in range(1, N + 1):
        name = next(n for n in names if shard_of(n, N) == k)
        path = root / "models" / name / "model.yaml"
        path.write_text(path.read_text(encoding="utf-8") + "not_a_field: 1\n", encoding="utf-8")
    return root


def _git(root: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=root, capture_output=True, text=True,
                          check=True).stdout


def _shards(run_cli, root: Path, *args: str, n: int = N, prefix: str = "") -> list[Path]:
    out = []
    for k in range(1, n + 1):
        ran = run_cli(root, "check", "--shard", f"{k}/{n}", "--format", "json", *args)
        assert ran.code in (EXIT_OK, EXIT_FINDINGS), ran.err
        path = root.parent / f"{prefix}shard-{k}.json"
        path.write_text(ran.out, encoding="utf-8")
        out.append(path)
    return out


def _merge(run_cli, root: Path, files: list[Path], *args: str):
    return run_cli(root, "report", "merge", *map(str, files), *args)


# --- which models a shard holds ------------------------------------------------------------

def test_the_shard_of_a_name_is_fixed_on_every_machine():
    # SHA-256 of the UTF-8 name, as a big-endian integer, mod N: no hash seed, no platform
    assert [shard_of("credit-default", n) for n in (1, 2, 3, 7)] == [1, 2, 3, 7]
    assert [shard_of("fraud-scorer", n) for n in (1, 2, 3, 7)] == [1, 1, 2, 4]
    out = subprocess.run([sys.executable, "-c", "from modelreg.core.shards import shard_of; "
                          "print(shard_of('fraud-scorer', 7))"], capture_output=True,
                         text=True, check=True, env={"PYTHONHASHSEED": "123",
                                                     "PYTHONPATH": str(ROOT / "tools")})
    assert out.stdout.strip() == "4"


def test_every_model_is_in_exactly_one_shard_and_shards_are_balanced():
    names = [bench.model_name(i, 3000) for i in range(3000)]
    for n in (1, 2, 3, 5):
        held = [[m for m in names if Shard(k, n).holds(m)] for k in range(1, n + 1)]
        assert sorted(m for part in held for m in part) == sorted(names)
        assert all(len(part) > len(names) / n * 0.85 for part in held)


def test_a_model_stays_in_its_shard_when_another_is_added(reg: Path, run_cli):
    before = [json.loads(p.read_text())["shard"]["models"] for p in _shards(run_cli, reg)]
    for name in ("aa-new", "zz-new", "model-00000"):
        shutil.copytree(reg / "models" / "model-0001", reg / "models" / name)
        path = reg / "models" / name / "model.yaml"
        path.write_text(path.read_text().replace("name: model-0001", f"name: {name}"))
    after = [json.loads(p.read_text())["shard"]["models"] for p in _shards(run_cli, reg)]
    for k in range(N):
        assert set(before[k]) <= set(after[k])
    added = [m for part in after for m in part if m not in {x for b in before for x in b}]
    assert sorted(added) == ["aa-new", "model-00000", "zz-new"]


@pytest.mark.parametrize("spec", ["0/3", "4/3", "x/y", "1/0", "0/0", "3", "", "-1/3",
                                  "1/3/5", "1 /3", "²/3"])
def test_a_bad_shard_is_a_usage_error(reg: Path, run_cli, spec: str):
    ran = run_cli(reg, "check", "--shard", spec)
    assert ran.code == EXIT_USAGE
    assert "--shard" in ran.err


def test_a_shards_text_output_says_which_shard_it_is(reg: Path, run_cli):
    ran = run_cli(reg, "check", "--shard", "2/3")
    assert ran.code == EXIT_FINDINGS and "check (shard 2/3): " in ran.err


def test_a_shard_takes_no_changed_since(reg: Path, run_cli):
    ran = run_cli(reg, "check", "--shard", "1/3", "--changed-since", "HEAD")
    assert ran.code == EXIT_USAGE
    assert "--changed-since" in ran.err and "already small" in ran.err
    with pytest.raises(UsageError):
        check(Registry(reg), shard=Shard(1, 3), changed_since="HEAD")


@settings(max_examples=200, deadline=None)
@given(st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\0"),
               max_size=12))
def test_any_text_is_a_shard_or_a_usage_error(spec: str):
    try:
        shard = parse(spec)
    except UsageError:
        return
    assert 1 <= shard.index <= shard.count
    assert [int(n) for n in spec.strip().split("/")] == [shard.index, shard.count]


# --- the merged report is the whole check's ------------------------------------------------

@pytest.mark.parametrize("args", [(), ("--stage", "registered"), ("--engine", "regorus")],
                         ids=["default", "stage", "engine"])
def test_the_merged_report_is_the_whole_checks(reg: Path, run_cli, args: tuple[str, ...]):
    whole = run_cli(reg, "check", "--format", "json", *args)
    files = _shards(run_cli, reg, *args)
    parts = [json.loads(p.read_text()) for p in files]
    # a model with findings in every shard, and each shard's report says which it is
    for k, part in enumerate(parts, 1):
        REPORT_SCHEMA.validate(part)
        assert part["report_version"] == 2 and part["shard"]["index"] == k
        assert part["shard"]["commit"] == _git(reg, "rev-parse", "HEAD").strip()
        assert any(f["rule"] == "ID-01" and f["model"] in part["shard"]["models"]
                   for f in part["findings"])
    merged = _merge(run_cli, reg, files, "--format", "json")
    assert merged.code == whole.code == EXIT_FINDINGS
    assert json.loads(merged.out) == json.loads(whole.out)
    REPORT_SCHEMA.validate(json.loads(merged.out))
    assert json.loads(merged.out)["report_version"] == 1 and "shard" not in merged.out
    for fmt in ("text", "github"):
        one = run_cli(reg, "check", "--format", fmt, *args)
        many = _merge(run_cli, reg, files, "--format", fmt)
        assert (many.code, many.out, many.err) == (one.code, one.out, one.err)


def test_shards_in_any_order_and_strict(reg: Path, run_cli):
    for path in (reg / "models").glob("*/model.yaml"):        # the breakage undone
        path.write_text(path.read_text().replace("not_a_field: 1\n", ""))
    whole = run_cli(reg, "check", "--format", "json", "--strict")
    files = _shards(run_cli, reg)
    merged = _merge(run_cli, reg, files[::-1], "--format", "json", "--strict")
    assert merged.code == whole.code
    assert json.loads(merged.out) == json.loads(whole.out)


def test_broken_policy_data_is_reported_once(reg: Path, run_cli):
    """The rules' own data failing its schema: every shard says so (each fails alone), the
    merged report says it once and counts its files once."""
    teams = reg / "policies" / "data" / "teams.yaml"
    teams.write_text(teams.read_text() + "not_a_section: 1\n")
    whole = run_cli(reg, "check", "--format", "json")
    files = _shards(run_cli, reg)
    for path in files:
        part = json.loads(path.read_text())
        assert part["ok"] is False and part["shard"]["registry_wide"]["findings"]
    merged = _merge(run_cli, reg, files, "--format", "json")
    assert merged.code == whole.code == EXIT_FINDINGS
    assert json.loads(merged.out) == json.loads(whole.out)
    wide = [f for f in json.loads(merged.out)["findings"] if f["file"].startswith("policies/")]
    assert len(wide) == 1


def test_proposed_policy_data_and_model_findings_once(reg: Path, run_cli):
    """Judged by HEAD's rules, the work tree's broken policy data is a finding of its own
    (registry-wide) next to the models' findings in every shard."""
    head = _git(reg, "rev-parse", "HEAD").strip()
    teams = reg / "policies" / "data" / "teams.yaml"
    teams.write_text(teams.read_text() + "not_a_section: 1\n")
    registry = Registry(reg)
    whole = check(registry, base=head, now="2026-01-01T00:00:00Z").to_json()
    files = []
    for k in range(1, N + 1):
        ran = run_cli(reg, "check", "--shard", f"{k}/{N}", "--base", head, "--format", "json")
        files.append(reg.parent / f"shard-{k}.json")
        files[-1].write_text(ran.out)
        assert json.loads(ran.out)["shard"]["registry_wide"]["findings"]
    merged = _merge(run_cli, reg, files, "--format", "json")
    assert merged.code == EXIT_FINDINGS
    out = json.loads(merged.out)
    assert out["findings"] == whole["findings"] and out["summary"] == whole["summary"]
    assert out["check"] == whole["check"] and out["waived"] == whole["waived"]
    assert sum(f["file"].startswith("policies/") for f in out["findings"]) == 1
    assert {f["model"] for f in out["findings"] if f["rule"] == "ID-01"} >= \
        {f["model"] for p in files for f in json.loads(p.read_text())["findings"]
         if f["rule"] == "ID-01" and f["model"]}


# --- merge refuses what is not one check ---------------------------------------------------

def test_merge_refuses_a_missing_shard(reg: Path, run_cli):
    files = _shards(run_cli, reg)
    ran = _merge(run_cli, reg, files[:2])
    assert ran.code == EXIT_CANNOT_RUN and "shard 3 of 3 missing" in ran.err


def test_merge_refuses_a_shard_given_twice(reg: Path, run_cli):
    files = _shards(run_cli, reg)
    copy = reg.parent / "again.json"
    shutil.copy(files[1], copy)
    ran = _merge(run_cli, reg, [*files, copy])
    assert ran.code == EXIT_CANNOT_RUN and "given twice" in ran.err and "again.json" in ran.err
    ran = _merge(run_cli, reg, [files[0], files[1], copy])      # and the third is missing
    assert ran.code == EXIT_CANNOT_RUN


def test_merge_refuses_mixed_shard_counts(reg: Path, run_cli):
    three = _shards(run_cli, reg)
    two = _shards(run_cli, reg, n=2, prefix="two-")
    ran = _merge(run_cli, reg, [three[0], three[1], two[1]])
    assert ran.code == EXIT_CANNOT_RUN and "shard count" in ran.err


def test_merge_refuses_shards_of_different_commits(reg: Path, run_cli):
    early = _shards(run_cli, reg, prefix="early-")[:2]
    _git(reg, "commit", "-qam", "another commit", "--allow-empty")
    late = _shards(run_cli, reg)
    ran = _merge(run_cli, reg, [*early, late[2]])
    assert ran.code == EXIT_CANNOT_RUN and "another commit" in ran.err
    assert "shard-3.json" in ran.err


def test_merge_refuses_another_release(reg: Path, run_cli):
    files = _shards(run_cli, reg)
    doc = json.loads(files[2].read_text())
    doc["tool"]["version"] = "0.0.1"
    files[2].write_text(json.dumps(doc))
    ran = _merge(run_cli, reg, files)
    assert ran.code == EXIT_CANNOT_RUN and "another modelreg" in ran.err


def test_merge_refuses_a_shard_that_claims_another_shards_model(reg: Path, run_cli):
    """Hostile: a report edited to drop a model's findings by moving the model elsewhere."""
    files = _shards(run_cli, reg)
    one, two = (json.loads(p.read_text()) for p in files[:2])
    moved = one["shard"]["models"].pop()
    one["check"]["models"].remove(moved)
    one["findings"] = [f for f in one["findings"] if f["model"] != moved]
    two["shard"]["models"].append(moved)
    two["check"]["models"].append(moved)
    files[0].write_text(json.dumps(one))
    files[1].write_text(json.dumps(two))
    ran = _merge(run_cli, reg, files)
    assert ran.code == EXIT_CANNOT_RUN and moved in ran.err


def test_merge_refuses_shards_that_disagree_on_registry_wide_findings(reg: Path, run_cli):
    teams = reg / "policies" / "data" / "teams.yaml"
    original = teams.read_text()
    teams.write_text(original + "not_a_section: 1\n")
    broken = _shards(run_cli, reg, prefix="broken-")[0]
    teams.write_text(original)
    files = _shards(run_cli, reg)
    ran = _merge(run_cli, reg, [broken, *files[1:]])
    assert ran.code == EXIT_CANNOT_RUN and "registry-wide" in ran.err


@pytest.mark.parametrize("content", ["not json", "[]", '{"command": "validate"}',
                                     '{"command": "check", "shard": {}}', ""],
                         ids=["text", "list", "validate", "empty-shard", "empty"])
def test_merge_names_a_file_that_is_no_shard_report(reg: Path, run_cli, content: str):
    files = _shards(run_cli, reg)
    files[1].write_text(content)
    ran = _merge(run_cli, reg, files)
    assert ran.code == EXIT_USAGE and "shard-2.json" in ran.err


def test_merge_refuses_a_whole_checks_report(reg: Path, run_cli):
    whole = reg.parent / "whole.json"
    whole.write_text(run_cli(reg, "check", "--format", "json").out)
    ran = _merge(run_cli, reg, [whole])
    assert ran.code == EXIT_USAGE and "whole.json" in ran.err and "no shard block" in ran.err


def test_one_shard_of_one_is_the_whole_check(reg: Path, run_cli):
    """Honest: a registry that does not need splitting yet runs the same pipeline with N=1."""
    whole = run_cli(reg, "check", "--format", "json")
    merged = _merge(run_cli, reg, _shards(run_cli, reg, n=1), "--format", "json")
    assert (merged.code, json.loads(merged.out)) == (whole.code, json.loads(whole.out))
