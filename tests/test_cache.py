"""The content-addressed cache of ``check`` and ``validate`` (store/cache.py): every input a
result depends on is part of its key, a damaged cache is never trusted, and deleting it
changes nothing but time. Each test warms the cache first, then changes one input: a cache
that ignored that input would answer with the old result."""
from __future__ import annotations

import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import modelreg
from modelreg.app.check import check
from modelreg.app.validate import validate
from modelreg.core import release
from modelreg.policy import evaluate as evaluate_mod
from modelreg.store import credentials
from modelreg.store.cache import Store, blob_id

PROJECT = Path(__file__).resolve().parent.parent
IRIS = "models/iris-classifier"


@pytest.fixture(autouse=True)
def every_check_uses_the_cache(monkeypatch):
    """A check of a few models reads no cache (parsing them is cheaper than loading a big
    registry's): these registries are small, so every check here counts as many."""
    monkeypatch.setattr(evaluate_mod, "FEW", 0)


def _findings(root: Path, engine: str = "regorus", stage: str | None = None) -> set[tuple]:
    registry = modelreg.open_registry(root)
    result = check(registry, engine=engine, parallel=False, stage=stage)
    return {(f.file, f.line, f.rule, f.message) for f in result.findings}


def _rules(found: set[tuple], file: str | None = None) -> set[str]:
    return {rule for f, _, rule, _ in found if file is None or f == file}


def _segments(root: Path, name: str = "records") -> list[Path]:
    return sorted((root / ".git/modelreg/cache" / name).glob("*.seg"))


def _commit(repo, message: str = "edit") -> None:
    """Commit the work tree: the documents then say nothing about uncommitted changes (their
    ``change``), so only the edited input can tell the cached answer from a new one."""
    repo.git("add", "-A")
    repo.git("commit", "-q", "-m", message)


def _add_version(root: Path, name: str = "iris-classifier") -> Path:
    dest = root / "models" / name / "versions" / "1.0.0.yaml"
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(PROJECT / "models" / name / "versions" / "1.0.0.yaml", dest)
    return dest


# --- what a key is made of ----------------------------------------------------------------
def test_blob_id_is_gits_object_id(tmp_path):
    path = tmp_path / "x.yaml"
    path.write_bytes(b"name: x\n\xc3\xa9\n")
    out = subprocess.run(["git", "hash-object", str(path)], capture_output=True, text=True,
                         check=True).stdout.strip()
    assert blob_id(path.read_bytes()) == out


def test_an_edited_record_is_judged_again(repo):
    before = _findings(repo.root)
    assert _segments(repo.root)                       # the cache was written
    model = repo.root / IRIS / "model.yaml"
    model.write_text(model.read_text() + "surprise: field\n")
    after = _findings(repo.root)
    assert "ID-01" in _rules(after - before, f"{IRIS}/model.yaml")
    model.write_text(model.read_text().replace("surprise: field\n", ""))
    assert _findings(repo.root) == before             # the old blob's entry is valid again


def test_a_cached_clean_scan_is_not_reused_for_another_blob(repo, monkeypatch):
    version = _add_version(repo.root)
    before = _findings(repo.root)
    assert "SEC-01" not in _rules(before)
    calls: list[int] = []
    real = evaluate_mod.find_secrets

    def counting(text: str):
        calls.append(1)
        return real(text)

    monkeypatch.setattr(evaluate_mod, "find_secrets", counting)
    assert _findings(repo.root) == before
    assert calls == []                                # every file scanned once, ever
    version.write_text(version.read_text() + "notes: AKIAABCDEFGHIJKLMNOP\n")
    after = _findings(repo.root)
    assert "SEC-01" in _rules(after, f"{IRIS}/versions/1.0.0.yaml")
    assert len(calls) == 1                            # only the changed file


def test_a_schema_change_judges_every_record_again(repo):
    before = _findings(repo.root)
    schema = repo.root / "schemas/model.schema.json"
    schema.write_text(schema.read_text().replace('"required": [', '"required": ["mascot", ', 1))
    after = _findings(repo.root)
    assert "ID-01" in _rules(after - before, f"{IRIS}/model.yaml")
    assert any("mascot" in m for *_, m in after - before)


def test_a_policy_change_judges_every_model_again(repo):
    before = _findings(repo.root)
    rego = repo.root / "policies/identity.rego"
    original = rego.read_text()
    rego.write_text(original + textwrap.dedent("""
        deny contains f if {
        \tsome doc in input.models
        \tf := lib.finding(doc, "ID-02", "model", ["name"], "every model, by a new rule")
        }
        """))
    _commit(repo)
    after = _findings(repo.root)
    assert any("by a new rule" in m for *_, m in after - before)
    rego.write_text(original)
    _commit(repo)
    assert _findings(repo.root) == before


def test_a_policy_data_change_judges_every_model_again(repo):
    before = _findings(repo.root, stage="staging")
    assert "ID-06" not in _rules(before)
    data = repo.root / "policies/data/licenses.yaml"
    data.write_text(data.read_text().replace("  - Apache-2.0\n", ""))
    _commit(repo)
    after = _findings(repo.root, stage="staging")
    assert "ID-06" in _rules(after - before, f"{IRIS}/model.yaml")


def test_another_engine_is_not_given_the_first_ones_answers(repo):
    """Each engine's answers are its own: opa-lib judges every model afresh after regorus
    (its answers are stored beside regorus's), then both answer from the cache."""
    rego = repo.root / "policies/identity.rego"
    rego.write_text(rego.read_text() + textwrap.dedent("""
        deny contains f if {
        \tsome doc in input.models
        \tf := lib.finding(doc, "ID-02", "model", ["name"], "judged by every engine")
        }
        """))
    on_regorus = _findings(repo.root, "regorus")
    entries = len(Store(repo.root, "records"))
    assert _findings(repo.root, "regorus") == on_regorus
    assert len(Store(repo.root, "records")) == entries          # all answered from the cache
    on_opa = _findings(repo.root, "opa-lib")
    assert len(Store(repo.root, "records")) == entries + 2      # one answer per model
    assert on_opa == on_regorus
    assert any("judged by every engine" in m for *_, m in on_opa)


def test_a_new_release_does_not_reuse_the_old_ones_results(repo, monkeypatch):
    """A release whose secret detector finds more must not be answered from the cache of
    the release before it."""
    _add_version(repo.root)
    model = repo.root / IRIS / "model.yaml"
    model.write_text(model.read_text() + "# passage: open sesame\n")
    before = _findings(repo.root)
    real = credentials.find

    def stricter(text: str):
        found = real(text)
        if "open sesame" in text:
            line = text[:text.index("open sesame")].count("\n") + 1
            found.append(credentials.Leak(line, "a passphrase", "op"))
        return found

    monkeypatch.setattr(evaluate_mod, "find_secrets", stricter)
    assert _findings(repo.root) == before             # same release: the cached scan
    monkeypatch.setattr(release, "__version__", release.__version__ + "+next")
    after = _findings(repo.root)
    assert any("a passphrase" in m for *_, m in after - before)


# --- a damaged or missing cache -----------------------------------------------------------
def test_a_truncated_segment_is_ignored_and_replaced(repo):
    _add_version(repo.root)
    before = _findings(repo.root)
    segments = _segments(repo.root)
    assert segments
    for seg in segments:
        seg.write_bytes(seg.read_bytes()[: len(seg.read_bytes()) // 2])
    assert _findings(repo.root) == before
    now = _segments(repo.root)
    assert now and not set(now) & set(segments)       # rewritten, the damaged ones gone
    assert len(Store(repo.root, "records")) > 0


def test_an_altered_entry_is_never_trusted(repo):
    """A segment whose text still parses but was changed (a finding's message edited, or
    a record's value) fails its digest: nothing in it is used."""
    model = repo.root / IRIS / "model.yaml"
    model.write_text(model.read_text() + "surprise: field\n")
    before = _findings(repo.root)
    message = next(m for _, _, rule, m in before if rule == "ID-01")
    for seg in _segments(repo.root):
        raw = seg.read_bytes()
        seg.write_bytes(raw.replace(b"surprise", b"expected"))
    assert _findings(repo.root) == before
    assert any(m == message for *_, m in _findings(repo.root))


def test_deleting_the_cache_changes_nothing_but_time(repo):
    _add_version(repo.root)
    cold = _findings(repo.root)
    warm = _findings(repo.root)
    shutil.rmtree(repo.root / ".git/modelreg")
    again = _findings(repo.root)
    assert cold == warm == again
    report = validate(modelreg.open_registry(repo.root))
    shutil.rmtree(repo.root / ".git/modelreg")
    assert validate(modelreg.open_registry(repo.root)) == report


def test_validate_shares_the_records_check_parsed(repo):
    _add_version(repo.root)
    first = validate(modelreg.open_registry(repo.root))
    assert _segments(repo.root)
    version = repo.root / IRIS / "versions/1.0.0.yaml"
    version.write_text(version.read_text().replace("model: iris-classifier",
                                                   "model: iris-classifer", 1))
    second = validate(modelreg.open_registry(repo.root))
    assert {f.rule for f in second.findings} - {f.rule for f in first.findings} == {"ID-02"}


_WRITER = """
import sys
from pathlib import Path
from modelreg.store import cache
cache.MAX_SEGMENTS = 3                       # merge often: merges race with writes
root, me = Path(sys.argv[1]), sys.argv[2]
for round in range(25):
    store = cache.Store(root, "race")
    for i in range(40):
        store.put(f"{me}-{round}-{i}", {"who": me, "round": round, "i": i, "pad": "x" * 200})
    store.save()
"""


def test_two_processes_writing_at_once_leave_every_entry_readable(tmp_path):
    (tmp_path / ".git").mkdir()
    env_path = str(PROJECT / "tools")
    procs = [subprocess.Popen([sys.executable, "-c", _WRITER, str(tmp_path), who],
                              env={"PYTHONPATH": env_path, "PATH": "/usr/bin:/bin"})
             for who in ("a", "b")]
    assert [p.wait(timeout=120) for p in procs] == [0, 0]
    store = Store(tmp_path, "race")
    for who in ("a", "b"):
        for rnd in range(25):
            for i in range(40):
                assert store.get(f"{who}-{rnd}-{i}") == {"who": who, "round": rnd, "i": i,
                                                         "pad": "x" * 200}
    assert len(list((tmp_path / ".git/modelreg/cache/race").glob("*.seg"))) <= 12


@pytest.mark.parametrize("junk", [b"", b"modelreg-cache 1 0\n", b"\x00" * 64,
                                  b"modelreg-cache 1 abc\nkey\tvalue\n"])
def test_junk_in_the_cache_folder_is_ignored(tmp_path, junk):
    folder = tmp_path / ".git/modelreg/cache/junk"
    folder.mkdir(parents=True)
    (folder / "0-0-0.seg").write_bytes(junk)
    store = Store(tmp_path, "junk")
    assert store.get("key") is None
    store.put("key", [1])
    store.save()
    assert Store(tmp_path, "junk").get("key") == [1]
    assert not (folder / "0-0-0.seg").exists()        # the damaged segment was merged away


def test_an_edit_to_one_model_judges_that_model_alone_again(repo):
    """A full check after a one-file edit: that file parsed and scanned, that one model sent
    to the engine (its documents' change names only its own folder's paths)."""
    _findings(repo.root)
    entries = len(Store(repo.root, "records"))
    model = repo.root / "models/credit-default/model.yaml"
    model.write_text(model.read_text() + "# edited\n")
    _findings(repo.root)
    # the record, its secret scan and credit-default's policy answer; iris-classifier's stay
    assert len(Store(repo.root, "records")) == entries + 3


def test_linked_work_trees_share_their_clones_cache(repo, tmp_path):
    other = tmp_path / "second-tree"
    repo.git("worktree", "add", "-q", "--detach", str(other))
    store = Store(other, "records")
    assert store.folder == repo.root / ".git/modelreg/cache/records"
    assert _findings(other) == _findings(repo.root)


def test_a_check_of_a_few_models_reads_and_writes_no_cache(repo, monkeypatch):
    """A pull request's check of a model or two (a gate too) parses them rather than load
    a registry's cache; the full check, however small the registry, keeps it."""
    monkeypatch.setattr(evaluate_mod, "FEW", 20)     # as shipped: more than these two models
    registry = modelreg.open_registry(repo.root)
    check(registry, engine="regorus", parallel=False, models=["iris-classifier"])
    assert _segments(repo.root) == []
    monkeypatch.setattr(evaluate_mod, "FEW", 0)
    check(registry, engine="regorus", parallel=False, models=["iris-classifier"])
    assert _segments(repo.root)
    shutil.rmtree(repo.root / ".git/modelreg/cache")
    monkeypatch.setattr(evaluate_mod, "FEW", 20)
    check(registry, engine="regorus", parallel=False)
    assert _segments(repo.root)
