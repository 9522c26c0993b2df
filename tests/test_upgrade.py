"""`modelreg upgrade`: this release's defaults merged three ways into a registry an older
release wrote, as one commit on a new branch.

The older release is made honestly from the newer one: some default files are rewritten to
"old" content and committed, and `.modelreg.yaml` says release 0.0.9 wrote them (their blob
ids). The registry then edits some of them as an organisation would. Upgrade must replace what
the registry did not edit, merge what both edited, mark what overlaps, add and remove
defaults, re-pin the workflows and hooks, and leave a record the next upgrade can merge from.
"""
from __future__ import annotations

import re

import pytest

from conftest import git
from modelreg.core.release import __version__
from modelreg.store.git import blob_id
from modelreg.store.scaffold import plan
from test_doctor import finish

OLD = "0.0.9"
BRANCH = f"modelreg-upgrade-{__version__}"
UNKNOWN = blob_id(b"a blob this repository never held\n")


def record_of(root) -> tuple[str, dict[str, str]]:
    text = (root / ".modelreg.yaml").read_text()
    version = re.search(r"^modelreg: (\S+)$", text, re.MULTILINE).group(1)
    return version, dict(re.findall(r"^  (\S+): ([0-9a-f]{40})$", text, re.MULTILINE))


def write_record(root, version: str, files: dict[str, str]) -> None:
    text = (root / ".modelreg.yaml").read_text()
    head = text.split("files:\n")[0].replace(f"modelreg: {__version__}", f"modelreg: {version}")
    (root / ".modelreg.yaml").write_text(
        head + "files:\n" + "".join(f"  {k}: {v}\n" for k, v in sorted(files.items())))


def first_line(text: str, line: str) -> str:
    return line + "\n" + text.split("\n", 1)[1]


def state(root) -> dict:
    """Everything a refused upgrade must leave as it was."""
    return {"status": git(root, "status", "--porcelain", "--untracked-files=all"),
            "head": git(root, "rev-parse", "HEAD"), "branch": git(root, "branch", "--show-current"),
            "branches": git(root, "branch", "--list"),
            "files": {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*")
                      if p.is_file() and ".git" not in p.relative_to(root).parts}}


@pytest.fixture
def fresh(tmp_path, run_cli):
    res = run_cli(tmp_path, "init", "reg", "--org", "Northwind",
                  "--remote", str(tmp_path / "storage"))
    assert res.code == 0, res.err
    root = tmp_path / "reg"
    finish(root, run_cli)
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "Northwind's registry")
    return root


@pytest.fixture
def older(fresh):
    """The registry as if modelreg 0.0.9 had written it, then edited by Northwind."""
    root = fresh
    new = plan("Northwind")
    old: dict[str, str] = {}

    def as_old(rel: str, text: str) -> None:
        (root / rel).write_text(text)
        old[rel] = text

    pinned = lambda text: text.replace(f"modelreg=={__version__}", f"modelreg=={OLD}")  # noqa: E731
    as_old("policies/data/tiers.yaml",
           first_line(new["policies/data/tiers.yaml"].decode(), "# Tier parameters (0.0.9)."))
    as_old("policies/main.rego", first_line(new["policies/main.rego"].decode(),
                                            "# The decision check reads (0.0.9 wording)."))
    as_old(".github/workflows/pages.yml", pinned(first_line(
        new[".github/workflows/pages.yml"].decode(), "# The catalog site (0.0.9 wording).")))
    as_old(".github/workflows/check.yml", pinned(new[".github/workflows/check.yml"].decode()))
    as_old(".pre-commit-config.yaml", pinned(new[".pre-commit-config.yaml"].decode()))
    as_old("policies/retired.rego", "package modelreg.retired\n")
    as_old("policies/legacy.rego", "package modelreg.legacy\n")
    (root / "policies/risk_test.rego").unlink()            # new in this release
    _, files = record_of(root)
    files.update({rel: blob_id(text.encode()) for rel, text in old.items()})
    del files["policies/risk_test.rego"]
    files["schemas/stages.schema.json"] = UNKNOWN            # as written: not in this repository
    files["schemas/version.schema.json"] = UNKNOWN
    write_record(root, OLD, files)
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "The registry as modelreg 0.0.9 wrote it")

    # Northwind's own edits since
    with (root / "policies/main.rego").open("a") as f:
        f.write("# Northwind: reviewed by governance, July 2026.\n")
    path = root / ".github/workflows/pages.yml"
    path.write_text(first_line(path.read_text(), "# Northwind's catalog, published nightly."))
    with (root / ".pre-commit-config.yaml").open("a") as f:
        f.write("      - id: northwind-lint\n        name: Northwind's own check\n"
                "        entry: true\n        language: system\n")
    with (root / "policies/legacy.rego").open("a") as f:
        f.write("# still used by Northwind's dashboards\n")
    path = root / "schemas/stages.schema.json"
    path.write_text(path.read_text().replace('"description"', '"description"', 1) + "\n")
    git(root, "commit", "-q", "-am", "Northwind's edits")
    return root


EXPECTED = {
    "policies/data/tiers.yaml": "updated",
    ".github/workflows/check.yml": "updated",
    "policies/main.rego": "merged",
    ".pre-commit-config.yaml": "merged",
    ".github/workflows/pages.yml": "conflict",
    "schemas/stages.schema.json": "conflict",
    "policies/risk_test.rego": "added",
    "policies/retired.rego": "removed",
    "policies/legacy.rego": "kept",
    "policies/data/people.yaml": "kept",
    "policies/data/teams.yaml": "kept",
    "policies/data/tag-signing.yaml": "kept",
    "schemas/version.schema.json": "unchanged",
}


def actions(res_out: str) -> dict[str, str]:
    return {m.group(2): m.group(1) for m in re.finditer(r"^(\w+)\s+(\S+)", res_out, re.MULTILINE)}


def test_dry_run_says_what_would_change_and_writes_nothing(older, run_cli):
    before = state(older)
    res = run_cli(older, "upgrade", "--dry-run")
    assert res.code == 0, res.err
    said = actions(res.out)
    for rel, action in EXPECTED.items():
        if action != "unchanged":
            assert said.get(rel) == action, (rel, said.get(rel))
    assert "schemas/version.schema.json" not in said
    assert "nothing written" in res.err
    assert state(older) == before


def test_upgrade_merges_three_ways_into_one_commit_on_a_new_branch(older, run_cli):
    new = plan("Northwind")
    main = git(older, "rev-parse", "HEAD").strip()
    res = run_cli(older, "upgrade", "--json")
    assert res.code == 0, res.err
    import json
    report = json.loads(res.out)
    got = {c["path"]: c["action"] for c in report["changes"]}
    for rel, action in EXPECTED.items():
        assert got[rel] == action, (rel, got[rel])
    assert report["from"] == OLD and report["to"] == __version__ and report["branch"] == BRANCH

    # one commit, on the new branch, on top of where the registry was; nothing left over
    assert git(older, "branch", "--show-current").strip() == BRANCH
    assert git(older, "rev-list", f"{main}..{BRANCH}").split() == [report["commit"]]
    assert git(older, "rev-parse", f"{BRANCH}^").strip() == main
    assert git(older, "status", "--porcelain", "--untracked-files=all") == ""
    changed = dict(line.split("\t")[::-1] for line in git(
        older, "diff-tree", "--no-commit-id", "-r", "--name-status", BRANCH).splitlines())
    assert changed == {"policies/data/tiers.yaml": "M", ".github/workflows/check.yml": "M",
                       "policies/main.rego": "M", ".pre-commit-config.yaml": "M",
                       ".github/workflows/pages.yml": "M", "schemas/stages.schema.json": "M",
                       "policies/risk_test.rego": "A", "policies/retired.rego": "D",
                       ".modelreg.yaml": "M"}

    # the contents
    read = lambda rel: (older / rel).read_text()  # noqa: E731
    assert read("policies/data/tiers.yaml") == new["policies/data/tiers.yaml"].decode()
    assert read(".github/workflows/check.yml") == new[".github/workflows/check.yml"].decode()
    assert read("policies/main.rego") == (new["policies/main.rego"].decode()
                                          + "# Northwind: reviewed by governance, July 2026.\n")
    hooks = read(".pre-commit-config.yaml")
    assert "northwind-lint" in hooks and f"modelreg=={OLD}" not in hooks
    assert hooks.count(f"modelreg=={__version__}") == 4          # one per hook
    pages = read(".github/workflows/pages.yml")
    assert pages.startswith("<<<<<<< .github/workflows/pages.yml (this registry)\n"
                            "# Northwind's catalog, published nightly.\n")
    assert new[".github/workflows/pages.yml"].decode().splitlines()[0] in pages
    assert ">>>>>>> .github/workflows/pages.yml (modelreg" in pages
    assert f"modelreg=={OLD}" not in pages and f'"modelreg=={__version__}"' in pages
    assert "<<<<<<<" in read("schemas/stages.schema.json")
    assert read("policies/risk_test.rego") == new["policies/risk_test.rego"].decode()
    assert not (older / "policies/retired.rego").exists()
    assert read("policies/legacy.rego").endswith("Northwind's dashboards\n")
    assert "nora-ds" in read("policies/data/people.yaml")          # the organisation's own

    # the record: this release; new ids for what took the defaults; old base ids kept for
    # the conflicts, so the next upgrade still merges from them
    version, files = record_of(older)
    assert version == __version__
    for rel in ("policies/data/tiers.yaml", "policies/main.rego", ".pre-commit-config.yaml",
                ".github/workflows/check.yml", "policies/risk_test.rego"):
        assert files[rel] == blob_id(new[rel]), rel
    old_pages = git(older, "show", f"{main}~1:.github/workflows/pages.yml")
    assert files[".github/workflows/pages.yml"] == blob_id(old_pages.encode())
    assert files["schemas/stages.schema.json"] == UNKNOWN
    assert "policies/retired.rego" not in files and "policies/legacy.rego" not in files
    res = run_cli(older, "upgrade", "--dry-run")
    assert actions(res.out)[".github/workflows/pages.yml"] == "conflict"


def test_text_output_names_the_branch_and_the_conflicts(older, run_cli):
    res = run_cli(older, "upgrade")
    assert res.code == 0, res.err
    assert f"on the new branch {BRANCH}" in res.out
    assert "resolve the <<<<<<< markers in .github/workflows/pages.yml" in res.err


def test_a_registry_with_this_releases_defaults_has_nothing_to_do(fresh, run_cli):
    before = state(fresh)
    res = run_cli(fresh, "upgrade")
    assert res.code == 0, res.err
    assert "nothing to do" in res.err
    assert state(fresh) == before


# --- hostile: refused before anything is written --------------------------------------------
def test_a_dirty_work_tree_is_refused(older, run_cli):
    with (older / "policies/main.rego").open("a") as f:
        f.write("# work in progress\n")
    before = state(older)
    res = run_cli(older, "upgrade")
    assert res.code == 2 and "uncommitted changes" in res.err
    assert state(older) == before


def test_an_existing_branch_is_refused(older, run_cli):
    git(older, "branch", BRANCH)
    before = state(older)
    res = run_cli(older, "upgrade")
    assert res.code == 2 and f"the branch {BRANCH} exists already" in res.err
    assert state(older) == before


def test_a_registry_without_its_record_is_refused(older, run_cli):
    git(older, "rm", "-q", ".modelreg.yaml")
    git(older, "commit", "-q", "-m", "lose the record")
    before = state(older)
    res = run_cli(older, "upgrade")
    assert res.code == 3 and "has no .modelreg.yaml" in res.err and "git log" in res.err
    assert state(older) == before


def test_a_folder_that_is_no_registry_is_refused(tmp_path, run_cli):
    git(tmp_path, "init", "-q", "-b", "main", "project")
    (tmp_path / "project/README.md").write_text("a project\n")
    res = run_cli(tmp_path / "project", "upgrade")
    assert res.code == 3 and "modelreg init" in res.err
    assert git(tmp_path / "project", "branch", "--list") == ""
    assert sorted(p.name for p in (tmp_path / "project").iterdir()) == [".git", "README.md"]


def test_a_failed_commit_puts_the_branch_and_work_tree_back(older, run_cli, monkeypatch):
    before = state(older)
    # git refuses to commit: no identity
    for key in ("GIT_AUTHOR_NAME", "GIT_AUTHOR_EMAIL", "GIT_COMMITTER_NAME",
                "GIT_COMMITTER_EMAIL"):
        monkeypatch.delenv(key)
    git(older, "config", "user.useConfigOnly", "true")
    before = state(older)
    res = run_cli(older, "upgrade")
    assert res.code == 3, res.out + res.err
    assert state(older) == before
    assert not (older / "policies/risk_test.rego").exists()


def test_a_symbolic_link_is_never_written_through(older, run_cli, tmp_path):
    outside = tmp_path / "outside.rego"
    outside.write_text("package outside\n")
    # a file the upgrade would update, in a folder that becomes a link out of the registry
    schema = older / "schemas/data/tiers.schema.json"
    schema.write_bytes(schema.read_bytes() + b"\n")
    _, files = record_of(older)
    files["schemas/data/tiers.schema.json"] = blob_id(schema.read_bytes())
    write_record(older, OLD, files)
    git(older, "commit", "-q", "-am", "as written")
    (older / "policies/data/tiers.yaml").unlink()
    (older / "policies/data/tiers.yaml").symlink_to(outside)
    (older / "schemas/data").rename(tmp_path / "schemas-data")
    (older / "schemas/data").symlink_to(tmp_path / "schemas-data")
    git(older, "add", "-A")
    git(older, "commit", "-q", "-m", "links")
    before = {p: p.read_bytes() for p in (tmp_path / "schemas-data").rglob("*") if p.is_file()}
    res = run_cli(older, "upgrade", "--json")
    assert res.code == 0, res.err
    import json
    got = {c["path"]: (c["action"], c["detail"]) for c in json.loads(res.out)["changes"]}
    assert got["policies/data/tiers.yaml"][0] == "kept"
    assert "symbolic link" in got["policies/data/tiers.yaml"][1]
    assert all(action == "kept" for rel, (action, _) in got.items()
               if rel.startswith("schemas/data/"))
    assert outside.read_text() == "package outside\n"
    assert {p: p.read_bytes() for p in (tmp_path / "schemas-data").rglob("*")
            if p.is_file()} == before


@pytest.mark.parametrize("rel", ["../outside.txt", "/etc/hostname", ".git/config",
                                 "policies/../../outside.txt"])
def test_a_record_naming_paths_outside_the_registry_is_refused(older, run_cli, tmp_path, rel):
    outside = tmp_path / "outside.txt"
    outside.write_text("keep me\n")
    _, files = record_of(older)
    files[rel] = blob_id(outside.read_bytes())
    write_record(older, OLD, files)
    git(older, "commit", "-q", "-am", "a record that reaches out")
    before = state(older)
    for args in (["upgrade"], ["upgrade", "--dry-run"]):
        res = run_cli(older, *args)
        assert res.code == 1 and "no path inside the registry" in res.err, res.err
    assert state(older) == before and outside.read_text() == "keep me\n"
    assert git(older, "config", "--get", "core.bare").strip() == "false"
