"""`modelreg register` says what `check` will say, and refuses bad input cleanly.

Each control has the hostile case that must be stopped and the honest one that must pass:
findings of the registered-stage policies (and --allow-findings), a dataset hashed from a
file, no metrics, NaN and infinite values, control characters in names, two runs at once,
a run killed before its commit, a disk that fills during the push.
"""
from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import modelreg
from conftest import PROJECT, write_weights
from modelreg.policy.engines import ENGINES

METRICS = {"metrics": [
    {"name": "accuracy", "value": 0.95, "dataset": "iris-test", "split": "test", "n": 30},
    {"name": "f1_macro", "value": 0.93, "dataset": "iris-test", "split": "test"},
]}
ENGINE_NAMES = [n for n in ("regorus", "opa-lib") if ENGINES[n].available()]
VERSION_FILE = "models/iris-classifier/versions/{}.yaml"


def _metrics(folder: Path, rows: dict | None = None, text: str | None = None,
             name: str = "metrics.json") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(text if text is not None else json.dumps(rows or METRICS))
    return path


def _register(run_cli, repo, folder: Path, version: str = "1.0.0", *extra: str,
              metrics: Path | None = None, datasets=("train:iris-train@2026.11",
                                                      "test:iris-test@2026.11")):
    w = write_weights(folder, payload=version.encode() * 20)
    args = ["register", "iris-classifier", "--version", version, "--weights", str(w)]
    if metrics is not False:
        args += ["--metrics", str(metrics or _metrics(folder))]
    for d in datasets:
        args += ["--dataset", d]
    return run_cli(repo.root, *args, *extra)


def _remote_files(repo) -> list[str]:
    if not repo.remote.exists():
        return []
    return sorted(p.relative_to(repo.remote).as_posix() for p in repo.remote.rglob("*")
                  if not p.is_dir())


def _finding_lines(text: str, file: str) -> list[str]:
    """The check-style lines naming ``file`` (register indents them on success)."""
    return sorted(line.strip() for line in text.splitlines() if line.strip().startswith(file))


def _subprocess_env() -> dict:
    tools = str(Path(modelreg.__file__).resolve().parents[1])
    return {**os.environ, "PYTHONPATH": tools + os.pathsep + os.environ.get("PYTHONPATH", "")}


# --- register says what check will say ---------------------------------------------------
def test_register_refuses_the_findings_check_would_report(repo, tmp_path, run_cli):
    low = _metrics(tmp_path / "low", {"metrics": [
        {"name": "accuracy", "value": 0.5, "dataset": "iris-test", "split": "test"},
        {"name": "f1_macro", "value": 0.93, "dataset": "iris-test", "split": "test"}]})
    before, remote_before = repo.snapshot(), _remote_files(repo)
    res = _register(run_cli, repo, tmp_path / "a", metrics=low)
    assert res.code == 1, res.err
    assert "check would report 1 error(s) for iris-classifier 1.0.0" in res.err
    assert "nothing was changed" in res.err and "--allow-findings" in res.err
    refused = _finding_lines(res.err, VERSION_FILE.format("1.0.0"))
    assert len(refused) == 1 and "[EVAL-01]" in refused[0] and "0.5000" in refused[0]
    assert repo.snapshot() == before
    assert _remote_files(repo) == remote_before          # judged before the push

    # --allow-findings registers and warns; check then says exactly what register said
    res = _register(run_cli, repo, tmp_path / "b", "1.0.0", "--allow-findings", "--no-branch",
                    metrics=low)
    assert res.code == 0, res.err
    assert "check will report" in res.err
    assert _finding_lines(res.err, VERSION_FILE.format("1.0.0")) == refused
    check = run_cli(repo.root, "check")
    assert check.code == 1
    assert _finding_lines(check.out, VERSION_FILE.format("1.0.0")) == refused
    # and the card's prose, left for people to write, is listed the same way
    assert _finding_lines(res.err, "models/iris-classifier/card.md") == \
        _finding_lines(check.out, "models/iris-classifier/card.md")


def test_honest_register_with_declared_datasets_passes(repo, tmp_path, run_cli):
    res = _register(run_cli, repo, tmp_path, "1.0.0", "--format", "json")
    assert res.code == 0, res.err
    out = json.loads(res.out)
    # only the card's prose is left to write; the record itself is clean
    assert {f["file"] for f in out["findings"] if f["severity"] == "error"} <= \
        {"models/iris-classifier/card.md"}
    assert out["dataset_entries"] == []


def test_dataset_hashed_from_a_file_prints_the_entry_to_add(repo, tmp_path, run_cli):
    data = tmp_path / "extra.csv"
    data.write_text("sepal,petal\n1.0,2.0\n")
    before = repo.snapshot()
    res = _register(run_cli, repo, tmp_path / "a", datasets=(
        f"train:iris-extra@2026.12:{data}", "test:iris-test@2026.11"))
    assert res.code == 1
    assert "[DATA-01] dataset iris-extra is not registered" in res.err
    assert "add to policies/data/datasets.yaml" in res.err
    snippet = res.err.split("under `datasets:` (in a reviewed pull request):\n", 1)[1]
    snippet = snippet.split("\nerror:", 1)[0].rstrip("\n") + "\n"
    assert hashlib.sha256(data.read_bytes()).hexdigest() in snippet
    assert repo.snapshot() == before
    # the printed entry, pasted as is under `datasets:`, is what DATA-01/02 ask for
    path = repo.root / "policies/data/datasets.yaml"
    path.write_text(path.read_text() + snippet)
    res = _register(run_cli, repo, tmp_path / "b", "1.0.0", "--no-branch", datasets=(
        f"train:iris-extra@2026.12:{data}", "test:iris-test@2026.11"))
    assert res.code == 0, res.err


def test_a_new_revision_of_a_known_dataset_prints_its_revision_line(repo, tmp_path, run_cli):
    data = tmp_path / "train.csv"
    data.write_text("x\n1\n")
    res = _register(run_cli, repo, tmp_path, datasets=(f"train:iris-train@2027.01:{data}",
                                                        "test:iris-test@2026.11"))
    assert res.code == 1 and "[DATA-02]" in res.err
    assert "  iris-train:\n    revisions:" in res.err and '"2027.01": {sha256: ' in res.err


def test_no_metrics_is_refused_when_the_model_declares_thresholds(repo, tmp_path, run_cli):
    before = repo.snapshot()
    res = _register(run_cli, repo, tmp_path, metrics=False)
    assert res.code == 1
    assert "no metrics given" in res.err and "accuracy, f1_macro" in res.err
    assert repo.snapshot() == before
    empty = _metrics(tmp_path / "empty", {"metrics": []})
    res = _register(run_cli, repo, tmp_path / "e", metrics=empty)
    assert res.code == 1 and "no metrics given" in res.err
    assert repo.snapshot() == before


def test_a_model_without_thresholds_registers_without_metrics(empty_repo, tmp_path, run_cli):
    model = (PROJECT / "models/iris-classifier/model.yaml").read_text()
    head, _, tail = model.partition("evaluation:\n")
    tail = tail.split("\n", 3)[3]                       # drop the thresholds block
    src = tmp_path / "model.yaml"
    src.write_text(head + tail)
    w = write_weights(tmp_path / "w")
    res = run_cli(empty_repo.root, "register", "iris-classifier", "--version", "1.0.0",
                  "--weights", str(w), "--from", str(src),
                  "--dataset", "test:iris-test@2026.11", "--format", "json")
    assert res.code == 0, res.err
    errors = [f for f in json.loads(res.out)["findings"] if f["severity"] == "error"]
    assert {f["file"] for f in errors} == {"models/iris-classifier/card.md"}   # prose to write


# --- NaN and infinity ---------------------------------------------------------------------
@pytest.mark.parametrize("name,text,line", [
    ("m.json", '{"metrics": [\n {"name": "accuracy", "value": 0.95, "dataset": "iris-test",'
               ' "split": "test"},\n {"name": "f1_macro", "value": NaN, "dataset": "iris-test",'
               ' "split": "test"}]}', 3),
    ("m.json", '[{"name": "accuracy", "value": 1e999, "dataset": "iris-test", "split": "test"}]',
     1),
    ("m.yaml", "metrics:\n- name: accuracy\n  value: 0.95\n  dataset: iris-test\n  split: test\n"
               "- name: f1_macro\n  value: -.inf\n  dataset: iris-test\n  split: test\n", 7),
])
def test_non_finite_metric_values_are_refused_at_their_line(repo, tmp_path, run_cli, name,
                                                             text, line):
    path = _metrics(tmp_path, text=text, name=name)
    before = repo.snapshot()
    res = _register(run_cli, repo, tmp_path / "w", metrics=path)
    assert res.code == 1, res.err
    assert f"{path}:{line}:" in res.err and "not a finite number" in res.err
    assert repo.snapshot() == before


@pytest.mark.parametrize("engine", ENGINE_NAMES)
def test_check_reports_a_nan_in_a_record_as_a_finding(repo, tmp_path, run_cli, engine):
    assert _register(run_cli, repo, tmp_path, "1.0.0", "--no-branch").code == 0
    path = repo.root / VERSION_FILE.format("1.0.0")
    text = path.read_text()
    assert "value: 0.95\n" in text
    path.write_text(text.replace("value: 0.95\n", "value: .nan\n"))
    line = path.read_text().splitlines().index("  value: .nan") + 1
    res = run_cli(repo.root, "check", "--engine", engine)
    assert res.code == 1, res.err                     # a finding, not "could not run" (3)
    assert f"{VERSION_FILE.format('1.0.0')}:{line}: [ID-08] metrics.0.value is NaN" in res.out
    # the other rules still ran over the batch
    assert "[CARD-01]" in res.out


# --- control characters in names ------------------------------------------------------------
@pytest.mark.parametrize("bad", ["model\n::warning file=x::pwned.safetensors",
                                 "model\x1b[2J.safetensors", "model\x85.safetensors"])
def test_control_characters_in_weights_names_are_refused(repo, tmp_path, run_cli, bad):
    w = write_weights(tmp_path / "w", name=bad)
    before = repo.snapshot()
    res = run_cli(repo.root, "register", "iris-classifier", "--version", "1.0.0",
                  "--weights", str(w), "--metrics", str(_metrics(tmp_path)),
                  "--dataset", "test:iris-test@2026.11")
    assert res.code == 2, res.err
    assert "control character" in res.err
    assert repo.snapshot() == before


def test_control_characters_in_dataset_paths_are_refused(repo, tmp_path, run_cli):
    data = tmp_path / "data\n::error::x.csv"
    data.write_text("a\n1\n")
    before = repo.snapshot()
    res = _register(run_cli, repo, tmp_path / "w", datasets=(f"train:extra@1:{data}",))
    assert res.code == 2 and "control character" in res.err
    assert repo.snapshot() == before


# --- two runs at once -----------------------------------------------------------------------
def test_a_second_register_in_the_same_clone_is_refused_while_one_runs(repo, tmp_path):
    # a lock file left by a killed run blocks nobody: the lock is the process's flock
    folder = repo.root / ".git" / "modelreg"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "register.lock").write_text("pid 999999, since 2026-01-01T00:00:00Z\n")
    w2 = write_weights(tmp_path / "second", payload=b"second" * 20)
    m = _metrics(tmp_path)
    second = {}

    def run_second():
        second["proc"] = subprocess.run(
            [sys.executable, "-m", "modelreg", "register", "iris-classifier", "--version",
             "2.0.0", "--weights", str(w2), "--metrics", str(m),
             "--dataset", "test:iris-test@2026.11"],
            cwd=repo.root, capture_output=True, text=True, env=_subprocess_env())

    w1 = write_weights(tmp_path / "first", payload=b"first" * 20)
    reg = modelreg.open_registry(repo.root)
    result = modelreg.register(reg, modelreg.RegisterRequest(
        name="iris-classifier", version="1.0.0", weights=[str(w1)], metrics=str(m),
        datasets=["test:iris-test@2026.11"]), hooks={"dvc_push": run_second})
    proc = second["proc"]
    assert proc.returncode == 3, proc.stdout + proc.stderr
    assert "another modelreg register is running in this clone" in proc.stderr
    # the first one's branch holds its own commit only
    assert repo.git("rev-list", "--count", f"main..{result.branch}").strip() == "1"
    assert not repo.git("branch", "--list", "register/iris-classifier-2.0.0").strip()
    assert not (repo.root / VERSION_FILE.format("2.0.0")).exists()


# --- killed between the push and the commit --------------------------------------------------
KILL_AT = """
import os, signal, sys
import modelreg
reg = modelreg.open_registry(".")
modelreg.register(reg, modelreg.RegisterRequest(
    name="iris-classifier", version="1.0.0", weights=[sys.argv[1]], metrics=sys.argv[2],
    datasets=["test:iris-test@2026.11"]),
    hooks={sys.argv[3]: lambda: os.kill(os.getpid(), signal.SIGKILL)})
"""


def _killed_register(repo, tmp_path, step: str = "git_add") -> subprocess.CompletedProcess:
    w = write_weights(tmp_path / "killed", payload=b"killed" * 20)
    proc = subprocess.run([sys.executable, "-c", KILL_AT, str(w), str(_metrics(tmp_path)), step],
                          cwd=repo.root, capture_output=True, text=True, env=_subprocess_env())
    assert proc.returncode == -9, proc.stderr
    return proc


def _run_hint(repo, err: str, label: str) -> None:
    line = next(line for line in err.splitlines() if label in line)
    commands = line.split(label, 1)[1].strip()
    commands = commands.replace("dvc push", f"{sys.executable} -m dvc push")
    proc = subprocess.run(commands, shell=True, cwd=repo.root, capture_output=True, text=True)
    assert proc.returncode == 0, (commands, proc.stderr)


def test_a_run_killed_after_the_push_is_explained_and_can_be_undone(repo, tmp_path, run_cli):
    before = repo.snapshot()
    _killed_register(repo, tmp_path)
    res = _register(run_cli, repo, tmp_path / "again")
    assert res.code == 1
    assert "already registered" not in res.err
    assert "interrupted after its weights were pushed and before its commit" in res.err
    assert "branch register/iris-classifier-1.0.0 exists without its commit" in res.err
    assert "files written but not committed" in res.err and VERSION_FILE.format("1.0.0") in \
        res.err
    # another version would branch off the leftover branch: refused too
    other = _register(run_cli, repo, tmp_path / "other", "2.0.0")
    assert other.code == 1 and "interrupted" in other.err
    _run_hint(repo, res.err, "to undo it:")
    after = repo.snapshot()
    # the weights copy stays out of git as before; the rest is as it was
    assert {k: v for k, v in after["files"].items() if not k.endswith(".safetensors")} == \
        before["files"]
    assert (after["head"], after["branch"], after["branches"]) == \
        (before["head"], before["branch"], before["branches"])
    res = _register(run_cli, repo, tmp_path / "third")
    assert res.code == 0, res.err


def test_a_run_killed_after_the_push_can_be_finished(repo, tmp_path, run_cli):
    _killed_register(repo, tmp_path)
    res = _register(run_cli, repo, tmp_path / "again")
    assert res.code == 1
    _run_hint(repo, res.err, "to finish it:")
    assert repo.git("symbolic-ref", "--short", "HEAD").strip() == "register/iris-classifier-1.0.0"
    committed = repo.git("show", "--name-only", "--format=", "HEAD").split()
    assert VERSION_FILE.format("1.0.0") in committed
    assert "models/iris-classifier/versions/1.0.0/model.safetensors.dvc" in committed
    assert repo.git("status", "--porcelain").strip() == ""
    assert run_cli(repo.root, "validate").code == 0
    # the next register no longer finds anything interrupted
    res = _register(run_cli, repo, tmp_path / "next", "1.1.0")
    assert res.code == 0, res.err


def test_a_run_killed_before_anything_was_written_is_forgotten(repo, tmp_path, run_cli):
    _killed_register(repo, tmp_path, step="branch")
    res = _register(run_cli, repo, tmp_path / "again")
    assert res.code == 0, res.err


def test_a_record_left_uncommitted_without_a_journal_is_explained(repo, tmp_path, run_cli):
    # e.g. left by a run of an older modelreg: the record is there, git does not have it
    record = repo.root / VERSION_FILE.format("1.0.0")
    record.parent.mkdir(parents=True)
    record.write_text("model: iris-classifier\nversion: 1.0.0\n")
    res = _register(run_cli, repo, tmp_path)
    assert res.code == 1
    assert "already registered" not in res.err
    assert "exists but is not committed" in res.err and "to finish" in res.err
    assert "to undo" in res.err


# --- a full disk during the push ------------------------------------------------------------
FULL_DISK = """
import resource, signal, sys
import modelreg
from modelreg.core.errors import CannotRunError
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)      # writes past the limit fail with EFBIG
# (the limit is above what DVC's own state files need, below the weights' size)

def full():
    resource.setrlimit(resource.RLIMIT_FSIZE, (1_000_000, resource.RLIM_INFINITY))

reg = modelreg.open_registry(".")
try:
    modelreg.register(reg, modelreg.RegisterRequest(
        name="iris-classifier", version="1.0.0", weights=[sys.argv[1]], metrics=sys.argv[2],
        datasets=["test:iris-test@2026.11"]), hooks={"dvc_push": full})
except CannotRunError as exc:
    print(exc)
    sys.exit(3)
"""


def test_a_full_disk_during_the_push_leaves_no_temporary_file_in_the_remote(repo, tmp_path):
    w = write_weights(tmp_path / "w", payload=os.urandom(3_000_000))
    before, remote_before = repo.snapshot(), _remote_files(repo)
    proc = subprocess.run([sys.executable, "-c", FULL_DISK, str(w), str(_metrics(tmp_path))],
                          cwd=repo.root, capture_output=True, text=True, env=_subprocess_env())
    assert proc.returncode == 3, proc.stdout + proc.stderr
    # the object is larger than the limit: the upload itself failed, half-written
    assert "dvc push to remote 'local' failed: 1 files failed to upload" in proc.stdout
    assert "removed 1 partial upload(s) from the remote" in proc.stdout
    assert "nothing was changed" in proc.stdout
    assert _remote_files(repo) == remote_before
    assert repo.snapshot() == before
