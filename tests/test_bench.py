"""The benchmark's registry generator (tools/bench.py) builds a valid registry.

Only the generator is tested here; timings never decide a test.
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from jsonschema import Draft202012Validator

from conftest import load_bench
from modelreg import open_registry
from modelreg.core import tags as tagmod
from modelreg.core.yamlio import parse_yaml
from modelreg.store import cards
from modelreg.store.registry import Registry
from modelreg.store.tagsign import signature_verdicts

ROOT = Path(__file__).resolve().parent.parent


bench = load_bench()

MODELS, VERSIONS = 3, 2


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    return bench.generate(tmp_path_factory.mktemp("bench") / "registry", MODELS, VERSIONS,
                          per_commit=2)


def _git(root: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=root, capture_output=True, text=True,
                          check=True, env=bench._git_env()).stdout


def _validators(root: Path) -> dict[str, Draft202012Validator]:
    return {kind: Draft202012Validator(json.loads(
        (root / "schemas" / f"{kind}.schema.json").read_text()))
        for kind in ("model", "version", "stages")}


def test_files_are_valid_against_the_copied_schemas(built):
    root = built.root
    for folder in bench.COPIED:
        for source in (ROOT / folder).rglob("*"):
            if source.is_file() and "__pycache__" not in source.parts:
                copy = root / source.relative_to(ROOT)
                if copy.relative_to(root).as_posix() == "policies/data/signing.yaml":
                    # synthetic weights have no signing keys: production asks for none
                    assert parse_yaml(copy.read_text(), "signing.yaml") == {
                        "keys": {}, "production_requires_signature": []}
                    continue
                if copy.relative_to(root).as_posix() == "policies/data/tag-signing.yaml":
                    # the generator's key signs every tag: the one allowed signer
                    data = parse_yaml(copy.read_text(), "tag-signing.yaml")
                    assert data["signed_tags"] is True
                    assert [s["key"] for s in data["allowed_signers"]] == \
                        [bench.TagKey().public]
                    continue
                assert copy.read_bytes() == source.read_bytes(), copy
    validators = _validators(root)
    records = sorted((root / "models").glob("*/model.yaml"))
    versions = sorted((root / "models").glob("*/versions/*.yaml"))
    stages = sorted((root / "models").glob("*/stages.yaml"))
    assert (len(records), len(versions), len(stages)) == (MODELS, MODELS * VERSIONS, MODELS)
    for kind, paths in (("model", records), ("version", versions), ("stages", stages)):
        for path in paths:
            data = parse_yaml(path.read_text(), str(path))
            errors = [e.message for e in validators[kind].iter_errors(data)]
            assert errors == [], (path, errors)


def test_version_files_match_their_dvc_pointers(built):
    for path in sorted((built.root / "models").glob("*/versions/*.yaml")):
        record = parse_yaml(path.read_text(), str(path))
        assert record["model"] == path.parent.parent.name
        assert record["version"] == path.stem
        assert 1500 < len(path.read_bytes()) < 4000   # "about 2 KB"
        assert len(record["metrics"]) == 8
        (artifact,) = record["artifacts"]
        pointer = yaml.safe_load((built.root / artifact["dvc_file"]).read_text())
        assert pointer == {"outs": [{"md5": artifact["md5"], "size": artifact["size"],
                                     "hash": "md5", "path": "model.safetensors"}]}


def test_cards_have_every_section_the_policies_ask_for(built):
    sections = bench.card_sections(ROOT)
    assert "Model Details" in sections
    for name in ("model-0000", "model-0001"):
        text = (built.root / "models" / name / "card.md").read_text()
        front = yaml.safe_load(text.split("---\n")[1])
        model = parse_yaml((built.root / "models" / name / "model.yaml").read_text(), "m")
        assert front == cards.front_matter(name, model, [
            parse_yaml(p.read_text(), str(p)) for p in sorted(
                (built.root / "models" / name / "versions").glob("*.yaml"),
                key=lambda p: [int(x) for x in p.stem.split(".")])])
        assert all(f"\n## {section}\n" in text for section in sections)
        assert cards.PLACEHOLDER not in text
        # the card is what `modelreg card NAME --write` gives: check finds it fresh (CARD-04)
        assert not cards.render(open_registry(built.root), name).stale


def test_stages_file_names_the_tagged_versions(built):
    data = parse_yaml((built.root / "models/model-0001/stages.yaml").read_text(), "stages")
    assert data == {"stages": {"production": "1.0.0", "staging": "1.1.0"}}


def test_tags_are_annotated_packed_and_named_by_the_grammar(built):
    root = built.root
    out = _git(root, "for-each-ref", "--format=%(refname:strip=2) %(objecttype)", "refs/tags")
    found = dict(line.split(" ") for line in out.splitlines())
    expected = {"model-0000@v1.0.0", "model-0000@v1.1.0", "model-0000#production#1",
                "model-0000#staging#2", "model-0001@v1.0.0", "model-0001@v1.1.0",
                "model-0001#production#1", "model-0001#staging#2", "model-0002@v1.0.0",
                "model-0002@v1.1.0", "model-0002#production#1", "model-0002#staging#2"}
    assert set(found) == expected == bench.expected_tags(MODELS, VERSIONS)
    assert set(found.values()) == {"tag"}
    assert all(tagmod.parse(name) is not None for name in found)
    assert not [p for p in (root / ".git/refs/tags").rglob("*") if p.is_file()]
    packed = (root / ".git/packed-refs").read_text()
    assert sum(f" refs/tags/{name}\n" in packed for name in expected) == len(expected)
    assert built.tags == len(expected)


def test_tags_point_at_registration_commits_with_evidence(built):
    root = built.root
    commit = _git(root, "rev-parse", "model-0002@v1.1.0^{commit}").strip()
    # a pull request's merge: what it added to main, against its first parent
    added = _git(root, "diff-tree", "--no-commit-id", "--name-only", "-r", f"{commit}^1",
                 commit).split()
    assert "models/model-0002/versions/1.1.0.yaml" in added
    message = _git(root, "for-each-ref", "--format=%(contents)", "refs/tags/model-0002#staging#2")
    evidence = tagmod.parse_message(message)
    assert evidence["version"] == "1.1.0" and evidence["stage"] == "staging"
    assert evidence["tool"].startswith("modelreg ")         # gate trusts reconcile's tags only
    assert evidence["checked_at"] == "2026-01-01T00:06:00Z"   # the 6th commit
    assert {r["commit_id"] for r in evidence["reviews"]} == {evidence["head"]}
    assert message.startswith("Assign stage staging to model-0002 version 1.1.0\n")
    # a stage tag sits on its version's registration commit, as reconcile puts it (GTO reads
    # the version from the commit)
    stage_commit = _git(root, "rev-parse", "model-0002#staging#2^{commit}").strip()
    assert stage_commit == commit


def test_every_tag_is_signed_by_the_allowed_key(built):
    registry = Registry(built.root)
    refs = registry.refs()
    verdicts = signature_verdicts(registry, refs)
    assert len(refs) == built.tags
    assert {(v.valid, v.signer) for v in verdicts.values()} == {(True, "reconcile")}


def test_history_has_fixed_increasing_dates_and_a_clean_tree(built):
    root = built.root
    dates = [int(d) for d in _git(root, "log", "--format=%ct", "--reverse").split()]
    assert dates == sorted(dates) and len(set(dates)) == len(dates) == built.commits
    assert dates[0] == bench.EPOCH
    tag_dates = _git(root, "for-each-ref", "--sort=taggerdate",
                     "--format=%(taggerdate:unix)", "refs/tags").split()
    assert len(set(tag_dates)) == len(tag_dates)          # one event per second at most
    assert _git(root, "status", "--porcelain") == ""
    _git(root, "fsck", "--no-progress", "--strict")


def test_same_size_gives_the_same_repository(built, tmp_path):
    again = bench.generate(tmp_path / "again", MODELS, VERSIONS, per_commit=2)
    assert _git(again.root, "rev-parse", "main") == _git(built.root, "rev-parse", "main")


def test_self_check_passes_and_notices_a_broken_registry(built, tmp_path):
    assert bench.verify(built.root, MODELS, VERSIONS) == []
    broken = bench.generate(tmp_path / "broken", MODELS, VERSIONS)
    path = broken.root / "models/model-0000/versions/1.0.0.yaml"
    path.write_text(path.read_text().replace("dirty: false", "dirty: maybe"))
    _git(broken.root, "tag", "model-0000#staging#9")
    problems = bench.verify(broken.root, MODELS, VERSIONS)
    assert any("tags differ" in p for p in problems)
    assert any("not annotated" in p for p in problems)
    assert any("loose refs" in p for p in problems)
    assert any("1.0.0.yaml" in p and "boolean" in p for p in problems)


@pytest.mark.parametrize("value", ["plain text", "2026.11", "1.0.0", "yes", "a: b", "#x",
                                   "2026-01-01", "0x1f", "x@y.z", "", " lead", "0123"])
def test_yaml_writer_round_trips(value):
    data = {"s": value, "n": 0.875, "i": 3, "b": False, "e": {}, "l": [],
            "f": 1e-05, "rows": [{"a": value, "b": [value, 1]}], "nested": {"list": [value]}}
    text = bench.to_yaml(data)
    assert yaml.safe_load(text) == data
    assert parse_yaml(text, "t") == data


def test_the_table_gives_ratios_to_git_and_to_gto_and_peak_memory():
    built = bench.Built(ROOT, 1000, 10, 1.0, 10_000, 12_000, 1)
    floor = bench.Result("git for-each-ref", "ok", None, runs=[0.2, 0.2, 0.2], program="git",
                         key="for-each-ref")
    ls = bench.Result("modelreg ls --json", "ok", 0.5, runs=[0.4, 0.5, 0.6], key="ls",
                      peak_mib=80.4)
    gate = bench.Result("modelreg gate m --stage production", "ok", 0.35, runs=[0.3],
                        key="gate")
    gto = bench.Result("gto show", "ok", None, runs=[250.0], program="gto", key="gto-show",
                       compare="ls")
    slow = bench.Result("gto history m", "timeout", None, runs=[3600.0], program="gto",
                        key="gto-history", compare="gate")
    table = bench.markdown([(built, [floor, ls, gate, gto, slow])]).splitlines()
    assert table[0].split("|")[3:8] == [" median s ", " min s ", " peak MiB ",
                                        " × git listing ", " GTO × "]
    row = {line.split("`")[1]: [c.strip() for c in line.split("|")] for line in table[2:]}
    assert row["modelreg ls --json"][3:9] == ["0.500", "0.400", "80", "2.5×", "500×", "0.500"]
    assert row["modelreg gate m --stage production"][6:8] == ["1.5×", "> 12,000×"]
    assert row["gto show"][3] == "250.00" and row["gto history m"][3] == "> 3600.00"
    assert row["git for-each-ref"][6] == "–"


def test_the_generated_registry_passes_the_full_check_and_reconcile_signs(built, tmp_path):
    """The generator keeps up with the rules: a full check of its registry finds nothing,
    and reconcile, with the registry's own tag-signing key, tags a new merge."""
    import shutil

    proc = subprocess.run([sys.executable, "-m", "modelreg", "check", "--engine", "regorus",
                           "--json"], cwd=built.root, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout[:2000] + proc.stderr[-2000:]
    copy = tmp_path / "copy"
    shutil.copytree(built.root.parent, copy, symlinks=True)
    ctx = bench.Context(bench.Built(copy / built.root.name, built.models, built.versions, 0,
                                    built.commits, built.tags, built.git_bytes),
                        bench.model_name(1, MODELS))
    undo = bench.merge_one_version(ctx)
    proc = subprocess.run([sys.executable, "-m", "modelreg", "reconcile", "--engine",
                           "regorus", "--json", "--signing-key", ctx.key_file],
                          cwd=ctx.built.root, capture_output=True, text=True)
    assert bench.check_reconciled_one(proc, ctx) is None, proc.stderr[-2000:]
    undo()


def test_the_bench_compiles_the_package_the_timed_runs_import(tmp_path, monkeypatch):
    """As an install does: with PYTHONDONTWRITEBYTECODE set, no timed run compiles modelreg
    again. The package compiled is the one the environment imports, not the bench's own."""
    import importlib.util
    import shutil

    copy = tmp_path / "site" / "modelreg"
    shutil.copytree(ROOT / "tools" / "modelreg", copy,
                    ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setenv("PYTHONPATH", str(copy.parent))
    monkeypatch.setenv("PYTHONDONTWRITEBYTECODE", "1")
    bench.compile_modelreg()
    sources = sorted(copy.rglob("*.py"))
    missing = [p for p in sources if not Path(importlib.util.cache_from_source(p)).is_file()]
    assert sources and missing == []


def test_gto_timeout_is_an_option_and_must_be_positive(capsys):
    with pytest.raises(SystemExit) as stopped:
        bench.main(["--models", "1", "--gto-timeout", "0"])
    assert stopped.value.code == 2
    assert "--gto-timeout more than 0" in capsys.readouterr().err
    assert bench.Context(None, "m", 5.0).gto_timeout == 5.0


def test_the_index_share_is_measured_inside_a_real_full_check(built):
    """The row that shows what the registry-wide index adds to a full check: measured from
    a profile of a real, passing check, as a share of its time."""
    ctx = bench.Context(built, bench.model_name(1, MODELS))
    full = bench.Result("check", "ok", None, runs=[2.0])
    share = bench.index_share(ctx, full)
    assert share.status == "ok", share.problem
    assert 0 < share.median < 2.0
    assert "registry-wide index within the full check" in share.command
    assert bench.index_share(ctx, None).status == "n/a"
