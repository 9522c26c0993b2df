"""A folder, FIFO or other non-regular file where a registry file belongs is a finding
(ID-00) or a refusal that names it: never a crash (exit 4) and never a read that blocks."""
from __future__ import annotations

import contextlib
import errno
import json
import os
import threading
from pathlib import Path

import pytest


@contextlib.contextmanager
def unblocked(fifo: Path, after: float = 15.0):
    """Run a command that must not open ``fifo`` for reading. If it does and blocks, a
    writer opens and closes the FIFO after ``after`` seconds so the test fails instead of
    hanging; ``hung[0]`` tells."""
    hung = [False]
    done = threading.Event()

    def watchdog() -> None:
        while not done.wait(after):
            try:
                fd = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
            except OSError as exc:        # ENXIO: nobody is reading
                if exc.errno != errno.ENXIO:
                    return
                continue
            hung[0] = True
            os.close(fd)

    thread = threading.Thread(target=watchdog, daemon=True)
    thread.start()
    try:
        yield hung
    finally:
        done.set()
        thread.join()


def _no_crash(res) -> None:
    assert res.code in (0, 1, 2), res.out + res.err
    assert "Traceback" not in res.err and "internal error" not in res.err


READ_COMMANDS = {
    "validate": ["validate", "--json"], "check": ["check", "--json"], "ls": ["ls", "--json"],
    "show": ["show", "{name}", "--json"], "audit": ["audit", "{name}"],
    "card": ["card", "{name}"], "site": ["site", "{tmp}/site"],
}


def _run(run_cli, root: Path, tmp: Path, command: str, name: str):
    args = [a.format(name=name, tmp=tmp) for a in READ_COMMANDS[command]]
    return run_cli(root, *args)


@pytest.mark.parametrize("command", sorted(READ_COMMANDS))
def test_a_folder_where_model_yaml_belongs(repo, run_cli, tmp_path, command):
    target = repo.root / "models/credit-default/model.yaml"
    target.unlink()
    (target / "nested").mkdir(parents=True)
    res = _run(run_cli, repo.root, tmp_path, command, "credit-default")
    _no_crash(res)
    if command in ("validate", "check"):
        findings = json.loads(res.out)["findings"]
        assert ("models/credit-default/model.yaml", "ID-00") in {
            (f["file"], f["rule"]) for f in findings}
    elif command == "ls":
        rows = {r["name"]: r for r in json.loads(res.out)["models"]}
        assert "not a regular file" in rows["credit-default"]["error"]
        assert "error" not in rows["iris-classifier"]
    elif command == "site":
        assert res.code == 0 and (tmp_path / "site" / "index.html").is_file()
    elif command == "audit":           # a report: the file is listed as unreadable
        assert "models/credit-default/model.yaml: not a regular file" in res.out
    else:
        assert res.code == 1 and "not a regular file" in res.err


@pytest.mark.parametrize("command", sorted(READ_COMMANDS))
def test_a_fifo_named_card_md(repo, run_cli, tmp_path, command):
    fifo = repo.root / "models/iris-classifier/card.md"
    os.mkfifo(fifo)
    with unblocked(fifo) as hung:
        res = _run(run_cli, repo.root, tmp_path, command, "iris-classifier")
    assert not hung[0], f"{command} blocked reading the FIFO"
    _no_crash(res)
    if command == "check":
        findings = json.loads(res.out)["findings"]
        assert ("models/iris-classifier/card.md", "ID-00") in {
            (f["file"], f["rule"]) for f in findings}
    elif command == "card":
        assert res.code == 1 and "card.md: not a regular file" in res.err


@pytest.mark.parametrize("command", ["validate", "check"])
def test_folder_version_and_fifo_stages_are_findings(repo, run_cli, tmp_path, command):
    base = repo.root / "models/iris-classifier"
    (base / "versions/1.0.0.yaml").mkdir(parents=True)
    os.mkfifo(base / "stages.yaml")
    with unblocked(base / "stages.yaml") as hung:
        res = _run(run_cli, repo.root, tmp_path, command, "iris-classifier")
    assert not hung[0]
    _no_crash(res)
    found = {(f["file"], f["rule"]) for f in json.loads(res.out)["findings"]}
    assert {("models/iris-classifier/versions/1.0.0.yaml", "ID-00"),
            ("models/iris-classifier/stages.yaml", "ID-00")} <= found
