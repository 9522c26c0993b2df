"""Flat in history: what ``gate``, ``show`` and ``history`` ask git does not grow with the
protected branch's history, and the first-parent answers they rely on stay right when the
branch grows, gains merges or is rewritten.

Every git process is counted through a ``git`` first on ``PATH`` that logs its arguments and
runs the real git (nothing is mocked)."""
from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from conftest import git
from modelreg.store.firstparent import FirstParents
from modelreg.store.git import Git
from test_signoff import World
from test_trust import MODEL, _deploy, _in_production

ENV = {"GIT_AUTHOR_NAME": "Ops", "GIT_AUTHOR_EMAIL": "ops@example.com",
       "GIT_COMMITTER_NAME": "Ops", "GIT_COMMITTER_EMAIL": "ops@example.com"}


@pytest.fixture
def world(tmp_path, run_cli, monkeypatch):
    return World(tmp_path, run_cli, monkeypatch)


@pytest.fixture
def git_log(tmp_path, monkeypatch):
    """The file every git process of the test is logged to (one line each)."""
    real = shutil.which("git")
    assert real
    shim = tmp_path / "shim"
    shim.mkdir()
    log = tmp_path / "git-calls.log"
    script = shim / "git"
    script.write_text(f'#!/bin/sh\nprintf "%s\\n" "$*" >> "{log}"\nexec "{real}" "$@"\n')
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("PATH", f"{shim}{os.pathsep}{os.environ['PATH']}")
    return log


def _calls(w: World, log: Path, cwd: Path, *args: str) -> list[str]:
    log.write_text("")
    res = w.cli(cwd, *args)
    assert res.code in (0, 1), res.out + res.err
    return log.read_text().splitlines()


def _grow(path: Path, commits: int) -> None:
    """``commits`` more first-parent commits on main (same tree), pushed to origin."""
    tip = git(path, "rev-parse", "HEAD").strip()
    stream = []
    for i in range(commits):
        msg = f"housekeeping {i}\n".encode()
        stream.append(b"commit refs/heads/main\nmark :%d\n"
                      b"committer Ops <ops@example.com> %d +0000\ndata %d\n%s"
                      % (i + 1, 1782000000 + i, len(msg), msg))
        stream.append(b"from %s\n\n" % tip.encode() if i == 0 else b"from :%d\n\n" % i)
    subprocess.run(["git", "fast-import", "--quiet"], cwd=path, input=b"".join(stream),
                   check=True, capture_output=True)
    git(path, "reset", "-q", "--hard", "main")
    git(path, "push", "-q", "origin", "main")


def _without_verdicts(path: Path) -> None:
    """A clone that judges its tags afresh (as after a new tag was fetched)."""
    for f in (path / ".git" / "modelreg").glob("trust-*.json"):
        f.unlink()


def test_read_commands_ask_git_the_same_after_500_more_commits(world: World, git_log: Path):
    w = world
    _in_production(w)
    deploy = _deploy(w)
    gate = ("gate", MODEL, "--stage", "production", "--engine", "regorus", "--json")
    commands = {"gate": gate, "show": ("show", MODEL, "--json"), "history": ("history", MODEL)}
    assert json.loads(w.cli(deploy, *gate).out)["ok"] is True
    before = {name: _calls(w, git_log, deploy, *argv) for name, argv in commands.items()}
    _without_verdicts(deploy)
    cold_before = _calls(w, git_log, deploy, *gate)

    _grow(w.ci, 500)
    deploy = _deploy(w)
    _without_verdicts(deploy)
    extended = _calls(w, git_log, deploy, *gate)     # the first-parent file is extended here
    walks = [c for c in extended if c.startswith("rev-list --first-parent")]
    assert len(walks) == 1 and len(extended) == len(cold_before) + 1, extended
    assert json.loads(w.cli(deploy, *gate).out)["ok"] is True
    after = {name: _calls(w, git_log, deploy, *argv) for name, argv in commands.items()}
    for name in commands:
        assert len(after[name]) == len(before[name]), (name, before[name], after[name])
        # no walk of the branch's history (a pull request's own range, base..head, is fine)
        assert not [c for c in after[name] if c.startswith("rev-list --first-parent")
                    or (c.startswith("log") and ".." not in c)], after[name]
    _without_verdicts(deploy)
    cold_after = _calls(w, git_log, deploy, *gate)
    assert len(cold_after) == len(cold_before), (cold_before, cold_after)


def test_gate_writes_a_commit_graph_once(world: World, git_log: Path):
    w = world
    _in_production(w)
    deploy = _deploy(w, "fresh")
    info = deploy / ".git" / "objects" / "info"
    shutil.rmtree(info / "commit-graphs", ignore_errors=True)
    (info / "commit-graph").unlink(missing_ok=True)
    _without_verdicts(deploy)
    gate = ("gate", MODEL, "--stage", "production", "--engine", "regorus", "--json")
    first = _calls(w, git_log, deploy, *gate)
    assert [c for c in first if c.startswith("commit-graph write")]
    assert (info / "commit-graph").is_file() or (info / "commit-graphs").is_dir()
    git(deploy, "commit-graph", "verify")
    _grow(w.ci, 3)
    deploy = _deploy(w, "fresh")
    _without_verdicts(deploy)
    again = _calls(w, git_log, deploy, *gate)
    assert not [c for c in again if c.startswith("commit-graph")]


# --- the first-parent index on its own -------------------------------------------------------
def _repo(tmp_path: Path) -> Path:
    root = tmp_path / "r"
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    return root


def _commit(root: Path, message: str) -> str:
    git(root, "commit", "-q", "--allow-empty", "-m", message, env=ENV)
    return git(root, "rev-parse", "HEAD").strip()


def _merge_side(root: Path, name: str) -> tuple[str, str]:
    """A side branch with one commit merged into main (no fast-forward): (side, merge)."""
    git(root, "checkout", "-q", "-b", name)
    side = _commit(root, f"{name} work")
    git(root, "checkout", "-q", "main")
    git(root, "merge", "-q", "--no-ff", "-m", f"merge {name}", name, env=ENV)
    return side, git(root, "rev-parse", "HEAD").strip()


def test_first_parents_grow_with_the_branch_and_never_include_merged_side_commits(tmp_path):
    root = _repo(tmp_path)
    first = _commit(root, "one")
    side, merge = _merge_side(root, "a")
    fp = FirstParents(Git(root), "refs/heads/main")
    assert first in fp and merge in fp and side not in fp
    side2, merge2 = _merge_side(root, "b")
    later = _commit(root, "later")
    fp = FirstParents(Git(root), "refs/heads/main")       # extended from the tip it knew
    for commit in (first, merge, merge2, later):
        assert commit in fp, commit
    for commit in (side, side2, "0" * 40, "not a commit"):
        assert commit not in fp, commit
    state = next((root / ".git" / "modelreg").glob("first-parent-*.bin")).read_bytes()
    assert later.encode() in state                          # remembers the tip it was built for


def test_a_rewritten_branch_is_walked_again(tmp_path):
    """The attacker (or an admin) rewrites main: a commit that was on it is no longer, and
    the remembered answer must not say it still is."""
    root = _repo(tmp_path)
    keep = _commit(root, "one")
    gone = _commit(root, "two")
    assert gone in FirstParents(Git(root), "refs/heads/main")
    git(root, "reset", "-q", "--hard", keep)
    new = _commit(root, "two, rewritten")
    fp = FirstParents(Git(root), "refs/heads/main")
    assert keep in fp and new in fp
    assert gone not in fp


def test_a_foreign_or_damaged_state_file_is_only_a_cost(tmp_path):
    root = _repo(tmp_path)
    one = _commit(root, "one")
    assert one in FirstParents(Git(root), "refs/heads/main")
    state = next((root / ".git" / "modelreg").glob("first-parent-*.bin"))
    state.write_bytes(b"garbage" * 7)
    two = _commit(root, "two")
    fp = FirstParents(Git(root), "refs/heads/main")
    assert one in fp and two in fp


# --- tag names: the common forms' shortcut reads exactly what the full grammar reads --------
_PIECES = ["a", "b", "z", "0", "9", "-", "_", "/", "=", "@", "@v", "#", "!", ".", "1", "01",
           "prod", "Prod", "deprecated", "created", "1.0.0", "1.0.0-rc.1", "+b"]


@given(st.lists(st.sampled_from(_PIECES), min_size=1, max_size=12).map("".join))
def test_tag_names_read_the_same_through_the_shortcut(name: str):
    from modelreg.core import tags

    assert tags.parse(name) == tags._parse(name)


@pytest.mark.parametrize("name", ["iris@v1.0.0", "iris@v1.0.0!", "iris#production#12",
                                  "iris#production!#13", "iris-#prod-#1", "iris@v01.0.0",
                                  "iris#p#" + "1" * 19, "iris@deprecated#4", "x" * 64 + "#p#1"])
def test_registry_tag_names_read_the_same_through_the_shortcut(name: str):
    from modelreg.core import tags

    assert tags.parse(name) == tags._parse(name)


@given(st.lists(st.sampled_from(_PIECES), min_size=1, max_size=12).map("".join))
def test_unread_tag_names_are_judged_the_same_through_the_shortcut(name: str):
    from modelreg.core import tags

    if tags._COMMON_RE.match(name):
        assert tags._parse(name) is not None
        m = tags._match(name)
        assert m and tags.NAME_RE.match(m.group("artifact")) and not m.group("created")


# --- ls: the configured stages remembered by the bytes they are read from -------------------
def test_ls_stages_follow_every_change_to_the_configuration(empty_repo):
    from modelreg import open_registry
    from modelreg.app.read import _known_stages
    from modelreg.store.cache import ContentCache

    env = empty_repo.root / "policies" / "data" / "environments.yaml"
    original = env.read_text()

    def known() -> set[str] | None:
        registry = open_registry(empty_repo.root)
        cache = ContentCache(registry.root, "ls")
        used: set[str] = set()
        out = _known_stages(registry, cache, used)
        cache.save(keep=used)
        assert out == _known_stages(open_registry(empty_repo.root))   # the uncached answer
        return out

    assert known() == {"staging", "production"}
    assert known() == {"staging", "production"}                  # from the cache
    env.write_text(original + "  - name: canary\n    description: A few users.\n"
                   "    requires: staging\n")
    assert known() == {"staging", "production", "canary"}
    env.write_text(original.replace("stages:", "stages: 3\nnot_stages:"))   # does not check
    assert known() is None
    schema = empty_repo.root / "schemas" / "data" / "environments.schema.json"
    env.write_text(original)
    assert known() == {"staging", "production"}
    schema.write_text('{"type": "string"}')                 # the schema changed, not the data
    assert known() is None
