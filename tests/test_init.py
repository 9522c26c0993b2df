"""`modelreg init`: a new registry from the package's defaults, never over existing files."""
from __future__ import annotations

import re

import pytest
import yaml

from conftest import PROJECT, git
from modelreg.app.init import pin_workflow
from modelreg.core.errors import CannotRunError
from modelreg.core.release import __version__
from modelreg.store.defaults import PLACEHOLDER, PLACEHOLDER_COMMENT, STARTERS, default_files


@pytest.fixture
def made(tmp_path, run_cli):
    res = run_cli(tmp_path, "init", "reg", "--org", "Northwind", "--remote", str(tmp_path / "s"))
    assert res.code == 0, res.out + res.err
    return tmp_path / "reg"


def _files(root):
    """Every file under ``root`` but git's own."""
    rels = (p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())
    return sorted(rel for rel in rels if not rel.startswith(".git/"))


def test_init_writes_a_registry_every_command_accepts(made, run_cli):
    for rel in ("models/.gitkeep", "policies/main.rego", "policies/main_test.rego",
                "policies/data/people.yaml", "schemas/data/people.schema.json",
                "schemas/model.schema.json", ".github/CODEOWNERS", ".github/workflows/check.yml",
                ".github/workflows/reconcile.yml", ".github/workflows/deploy.yml",
                ".dvc/config", ".dvcignore", ".pre-commit-config.yaml", "README.md",
                ".modelreg.yaml"):
        assert (made / rel).is_file(), rel
    assert (made / ".git").is_dir()
    assert git(made, "symbolic-ref", "--short", "HEAD").strip() == "main"
    for args in (["validate"], ["codeowners", "--check"], ["policy", "test", "--engine", "regorus"],
                 ["check"], ["ls"]):
        res = run_cli(made, *args)
        assert res.code == 0, (args, res.out + res.err)


def test_the_defaults_are_this_registrys_own_policies_and_schemas(made):
    shipped = dict(default_files())
    assert "policies/main.rego" in shipped and "schemas/data/tiers.schema.json" in shipped
    assert ".github/workflows/check.yml" in shipped
    for rel, path in shipped.items():
        assert path.read_bytes() == (PROJECT / rel).read_bytes()
        if not rel.startswith(".github/workflows/"):        # those are pinned (below)
            assert (made / rel).read_bytes() == path.read_bytes()
    for rel in STARTERS:
        assert rel not in shipped
        assert (made / rel).read_bytes() != (PROJECT / rel).read_bytes()


def test_starters_name_no_real_people_and_mark_every_placeholder(made):
    people = (made / "policies/data/people.yaml").read_text()
    logins = re.findall(r"^  ([a-z0-9-]+):", people, re.MULTILINE)
    assert logins and all(login.startswith(PLACEHOLDER) for login in logins)
    for login in re.findall(r"^  ([a-z0-9-]+):", (PROJECT / "policies/data/people.yaml")
                            .read_text(), re.MULTILINE):
        assert login not in people
    teams = (made / "policies/data/teams.yaml").read_text()
    handles = [line for line in teams.splitlines() if "github:" in line]
    assert handles and all(PLACEHOLDER_COMMENT in line and "@Northwind/" in line
                           for line in handles)
    assert "example-org" not in teams
    assert "datasets: {}" in (made / "policies/data/datasets.yaml").read_text()


def test_a_new_registry_trusts_no_key_of_the_reference_registry(made):
    # whatever keys this registry lists for its own weights, another organisation's starts
    # with none: its governance adds its own
    assert "policies/data/signing.yaml" in STARTERS
    assert yaml.safe_load((made / "policies/data/signing.yaml").read_text())["keys"] == {}
    # nor its tag signers; and its tags must be signed all the same
    assert "policies/data/tag-signing.yaml" in STARTERS
    assert yaml.safe_load((made / "policies/data/tag-signing.yaml").read_text()) == {
        "signed_tags": True, "allowed_signers": []}


def test_workflows_install_this_exact_release(made):
    workflows = sorted((made / ".github/workflows").glob("*.yml"))
    assert [p.name for p in workflows] == ["check.yml", "deploy.yml", "due.yml", "nightly.yml",
                                           "pages.yml", "reconcile.yml"]
    for path in workflows:
        text = path.read_text()
        assert f'pip install "modelreg=={__version__}"' in text, path.name
        assert "pip install -e" not in text and "pip install ./" not in text, path.name
    assert f"modelreg=={__version__}" in (made / ".pre-commit-config.yaml").read_text()
    for rel in (".pre-commit-config.yaml", "README.md", "policies/data/teams.yaml"):
        assert "[[ " not in (made / rel).read_text(), rel     # every variable was filled


def test_workflows_are_the_reference_registrys_with_the_release_pinned(made):
    for path in sorted((PROJECT / ".github/workflows").glob("*.yml")):
        ours, theirs = path.read_text(), (made / ".github/workflows" / path.name).read_text()
        assert theirs == pin_workflow(path.name, ours, None)


def test_the_new_registrys_workflows_pass_zizmor_and_actionlint(made):
    from test_workflows import actionlint, zizmor
    paths = sorted((made / ".github/workflows").glob("*.yml"))
    assert zizmor(*paths) == [] and actionlint(*paths) == []


# the step that logs in to each cloud, and the DVC extra installed beside modelreg
CLOUDS = {"s3://northwind-models/registry": ("aws-actions/configure-aws-credentials@",
                                             "role-to-assume", '"dvc[s3]==3.67.1"'),
          "gs://northwind-models/registry": ("google-github-actions/auth@",
                                             "workload_identity_provider", '"dvc[gs]==3.67.1"'),
          "azure://models/registry": ("azure/login@", "client-id", '"dvc[azure]==3.67.1"')}


@pytest.mark.parametrize("remote", sorted(CLOUDS))
def test_each_cloud_gets_its_own_oidc_login_and_dvc_extra(tmp_path, run_cli, remote):
    from test_workflows import actionlint, zizmor
    res = run_cli(tmp_path, "init", "reg", "--org", "Northwind", "--remote", remote)
    assert res.code == 0, res.out + res.err
    flows = tmp_path / "reg/.github/workflows"
    action, key, extra = CLOUDS[remote]
    for name in ("check.yml", "deploy.yml"):             # the jobs that pull weights
        flow = yaml.safe_load((flows / name).read_text())
        (job,) = flow["jobs"].values()
        steps = job["steps"]
        logins = [s for s in steps if str(s.get("uses", "")).startswith(action)]
        assert len(logins) == 1, name
        assert logins[0]["with"][key].startswith("${{ vars.MODELREG_"), name   # no secret key
        assert job["permissions"]["id-token"] == "write", name
        pull = next(i for i, s in enumerate(steps) if "dvc pull" in str(s.get("run")))
        assert steps.index(logins[0]) < pull, name
        installs = [s["run"] for s in steps if "pip install" in str(s.get("run"))]
        assert installs and all(extra in run for run in installs), name
        others = set(c[0] for c in CLOUDS.values()) - {action}
        assert not any(str(s.get("uses", "")).startswith(tuple(others)) for s in steps), name
    for name in ("pages.yml", "reconcile.yml"):          # they never read weights
        text = (flows / name).read_text()
        assert "dvc[" not in text and "id-token: write" not in text.split("jobs:")[0], name
    assert f"storage: {remote.split(':')[0]}" in (tmp_path / "reg/.modelreg.yaml").read_text()
    paths = sorted(flows.glob("*.yml"))
    assert zizmor(*paths) == [] and actionlint(*paths) == []


def test_a_remote_of_no_cloud_gets_no_login_and_no_extra(made):
    for name in ("check.yml", "deploy.yml"):
        text = (made / ".github/workflows" / name).read_text()
        assert "credentials@" not in text and "auth@" not in text and "login@" not in text
        assert "dvc[" not in text and "no S3, GCS or Azure bucket" in text, name
    assert "storage: other" in (made / ".modelreg.yaml").read_text()


def test_the_check_workflow_says_the_pinned_release_judges(made):
    head = (made / ".github/workflows/check.yml").read_text().split("name:")[0]
    assert f"modelreg {__version__} (the release this\n# registry pins)" in head
    assert "second checkout" not in head


@pytest.mark.parametrize("line", ["pip install --editable .", "pip install .",
                                  "pip install git+https://example.com/modelreg",
                                  "python -m pip install modelreg"])
def test_a_workflow_init_cannot_pin_stops_it(line):
    text = f"jobs:\n  x:\n    steps:\n      - run: {line}\n"
    with pytest.raises(CannotRunError, match="cannot pin"):
        pin_workflow("x.yml", text)


def test_dvc_remote_verifies_and_record_names_the_release(made, tmp_path):
    config = (made / ".dvc/config").read_text()
    assert "remote = storage" in config and str(tmp_path / "s") in config
    assert re.search(r"verify = [Tt]rue", config)
    record = (made / ".modelreg.yaml").read_text()
    assert f"modelreg: {__version__}" in record and "org: Northwind" in record
    ids = dict(re.findall(r"^  (\S+): ([0-9a-f]{40})$", record, re.MULTILINE))
    assert "policies/main.rego" in ids and ".github/CODEOWNERS" not in ids
    for rel, blob in ids.items():
        assert git(made, "hash-object", rel).strip() == blob, rel


def test_a_relative_remote_is_read_from_dvc_folder(tmp_path, run_cli):
    res = run_cli(tmp_path, "init", "reg", "--org", "Northwind", "--remote", "storage")
    assert res.code == 0, res.err
    assert "url = ../../storage" in (tmp_path / "reg/.dvc/config").read_text()


def test_init_in_a_fresh_clone_keeps_its_repository(tmp_path, run_cli):
    git(tmp_path, "init", "-q", "--bare", "-b", "main", "origin.git")
    git(tmp_path, "clone", "-q", "origin.git", "clone")
    res = run_cli(tmp_path / "clone", "init", "--org", "Northwind", "--remote", "s3://b/p")
    assert res.code == 0, res.err
    assert "(git repository," in res.out
    assert git(tmp_path / "clone", "remote", "get-url", "origin").strip().endswith("origin.git")


# --- hostile: init never writes over anything ------------------------------------------------
@pytest.mark.parametrize("existing", ["policies/data/people.yaml", ".github/CODEOWNERS",
                                      ".dvc/config", "README.md", ".modelreg.yaml"])
def test_init_refuses_to_overwrite_and_writes_nothing(tmp_path, run_cli, existing):
    root = tmp_path / "reg"
    (root / existing).parent.mkdir(parents=True)
    (root / existing).write_text("ours\n")
    before = _files(root)
    res = run_cli(tmp_path, "init", "reg", "--org", "Northwind", "--remote", "s3://b/p")
    assert res.code == 2, res.out + res.err
    assert existing in res.err and "already exists" in res.err
    assert _files(root) == before and (root / existing).read_text() == "ours\n"
    assert not (root / ".git").exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".modelreg-init-")] == []


def test_init_twice_refuses_the_second_time(made, tmp_path, run_cli):
    before = {rel: (made / rel).read_bytes() for rel in _files(made)}
    res = run_cli(tmp_path, "init", "reg", "--org", "Other", "--remote", "s3://x/y")
    assert res.code == 2 and "already exists" in res.err
    assert {rel: (made / rel).read_bytes() for rel in _files(made)} == before


def test_a_file_where_a_folder_must_go_is_refused(tmp_path, run_cli):
    (tmp_path / "reg").mkdir()
    (tmp_path / "reg" / "policies").write_text("not a folder\n")
    res = run_cli(tmp_path, "init", "reg", "--org", "Northwind", "--remote", "s3://b/p")
    assert res.code == 2 and "policies" in res.err
    assert sorted(p.name for p in (tmp_path / "reg").iterdir()) == ["policies"]


def test_a_symlink_in_the_way_is_refused(tmp_path, run_cli):
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "reg").mkdir()
    (tmp_path / "reg" / "schemas").symlink_to(tmp_path / "elsewhere")
    res = run_cli(tmp_path, "init", "reg", "--org", "Northwind", "--remote", "s3://b/p")
    assert res.code == 2 and "schemas" in res.err
    assert list((tmp_path / "elsewhere").iterdir()) == []


def test_a_folder_inside_another_repository_is_refused(tmp_path, run_cli):
    git(tmp_path, "init", "-q", "-b", "main", "project")
    res = run_cli(tmp_path, "init", "project/registry", "--org", "Northwind",
                  "--remote", "s3://b/p")
    assert res.code == 2 and "inside the git repository" in res.err
    assert not (tmp_path / "project/registry").exists()


@pytest.mark.parametrize("org", ["", "-lead", "north_wind", "north wind", "a" * 40, "x/y"])
def test_an_org_github_cannot_have_is_refused(tmp_path, run_cli, org):
    res = run_cli(tmp_path, "init", "reg", "--org", org, "--remote", "s3://b/p")
    assert res.code == 2, res.out + res.err
    assert not (tmp_path / "reg").exists()
