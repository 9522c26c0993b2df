"""The command line's one vocabulary: `--stage` checked against the registry's stages,
`NAME@VERSION`, `--reviews`, `--format` (with `--json`), `-m/--message`, `-C` anywhere, an
example in every `--help`; old spellings kept as hidden aliases with a notice; and the CLI's
own defects (a `v`-prefixed version, `show` of an unreadable version, `ls` hiding errors)."""
from __future__ import annotations

import ast
import json
import re
import shlex

import click
import pytest
import yaml

import modelreg
from conftest import PROJECT, git, stage_on_main, write_weights
from modelreg.cli import cli
from test_signoff import World


def _commands(group: click.Group, path: tuple[str, ...] = ()):
    for name, command in sorted(group.commands.items()):
        yield (*path, name), command
        if isinstance(command, click.Group):
            yield from _commands(command, (*path, name))


COMMANDS = [path for path, _ in _commands(cli)]


@pytest.fixture
def registered(repo, tmp_path):
    """iris-classifier 1.0.0 registered on main and tagged."""
    w = write_weights(tmp_path / "w", payload=b"weights-1.0.0" * 8)
    modelreg.register(modelreg.open_registry(repo.root), modelreg.RegisterRequest(
        name="iris-classifier", version="1.0.0", weights=[str(w)], branch=False,
        datasets=[modelreg.DatasetSpec.parse("test:iris-test@2026.11")]))
    repo.git("tag", "-s", "iris-classifier@v1.0.0", "-m", "Register iris-classifier 1.0.0")
    repo.git("push", "-q", "origin", "main")
    return repo


# --- help --------------------------------------------------------------------------------
@pytest.mark.parametrize("path", [(), *COMMANDS], ids=lambda p: " ".join(p) or "modelreg")
def test_every_help_shows_one_realistic_example(path, run_cli, tmp_path):
    res = run_cli(tmp_path, *path, "--help")
    assert res.code == 0, res.err
    assert res.out.count("Example:") == 1, res.out
    example = res.out.split("Example:")[1].strip().splitlines()[0].strip()
    assert example.startswith("modelreg " + " ".join(path)), example
    if path:       # -C is accepted after the command name too
        assert "-C, --repo PATH" in res.out


@pytest.mark.parametrize("command", ["register", "promote", "rollback", "deprecate"])
def test_message_is_spelled_the_same_everywhere(command, run_cli, tmp_path):
    res = run_cli(tmp_path, command, "--help")
    assert "-m, --message TEXT" in res.out and "Why: recorded with the change" in res.out
    assert "--reason" not in res.out         # the old spelling is hidden


# --- -C ----------------------------------------------------------------------------------
def test_repo_path_before_or_after_the_command(repo, run_cli, tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    before = run_cli(elsewhere, "-C", str(repo.root), "ls", "--format", "json")
    after = run_cli(elsewhere, "ls", "--format", "json", "-C", str(repo.root))
    assert before.code == after.code == 0, before.err + after.err
    assert before.out == after.out
    assert [m["name"] for m in json.loads(after.out)["models"]] == \
        ["credit-default", "iris-classifier"]
    nested = run_cli(elsewhere, "policy", "explain", "EVAL-01", "-C", str(repo.root))
    assert nested.code == 0 and nested.out.startswith("EVAL-01"), nested.err


# --- stages ------------------------------------------------------------------------------
@pytest.mark.parametrize("args", [
    ["gate", "iris-classifier", "--stage", "prod"],
    ["promote", "iris-classifier@1.0.0", "--stage", "prod"],
    ["rollback", "iris-classifier", "--stage", "prod"],
    ["history", "--stage", "prod"],
], ids=lambda a: a[0])
def test_an_unknown_stage_is_a_usage_error_listing_the_known_ones(args, repo, run_cli):
    before = repo.snapshot()
    res = run_cli(repo.root, *args)
    assert res.code == 2, res.out + res.err
    assert "unknown stage 'prod'; known stages: staging, production" in res.err
    assert repo.snapshot() == before


@pytest.mark.parametrize("args", [["check", "--stage", "prod"],
                                  ["card", "iris-classifier", "--check", "--stage", "prod"]],
                         ids=lambda a: a[0])
def test_check_and_card_also_know_registered(args, repo, run_cli):
    res = run_cli(repo.root, *args)
    assert res.code == 2
    assert "known stages: registered, staging, production" in res.err


def test_the_stages_are_the_registrys_own(repo, run_cli):
    envs = repo.root / "policies/data/environments.yaml"
    envs.write_text("protected_branch: main\nstages:\n  - name: canary\n    description: c\n"
                    "  - name: production\n    description: p\n    requires: canary\n")
    res = run_cli(repo.root, "gate", "iris-classifier", "--stage", "canary")
    assert res.code == 1 and "canary" in res.out, res.err        # known: judged, not refused
    res = run_cli(repo.root, "gate", "iris-classifier", "--stage", "staging")
    assert res.code == 2 and "known stages: canary, production" in res.err


def test_history_keeps_the_events_of_one_stage(registered, run_cli):
    repo = registered
    stage_on_main(repo.root, "iris-classifier", "staging", "1.0.0", 2)
    every = json.loads(run_cli(repo.root, "history", "--format", "json").out)["events"]
    assert [e["event"] for e in every] == ["registered", "promoted"]
    res = run_cli(repo.root, "history", "iris-classifier", "--stage", "staging", "--json")
    assert [(e["event"], e["stage"]) for e in json.loads(res.out)["events"]] == \
        [("promoted", "staging")]
    res = run_cli(repo.root, "history", "--stage", "production")
    assert res.code == 0 and res.out.strip() == "no events yet"


# --- formats -----------------------------------------------------------------------------
@pytest.mark.parametrize("args,forms", [
    (["ls", "--format", "yaml"], "'text', 'json'"),
    (["check", "--format", "sarif"], "'text', 'json', 'github'"),
    (["lineage", "iris-classifier@1.0.0", "--format", "png"], "'mermaid', 'dot', 'json'"),
], ids=lambda a: a[0] if isinstance(a, list) else "")
def test_an_unknown_format_is_a_usage_error_listing_the_valid_ones(args, forms, repo, run_cli):
    res = run_cli(repo.root, *args)
    assert res.code == 2 and forms in res.err, res.err


def test_json_is_short_for_format_json(registered, run_cli):
    root = registered.root
    for command in (["ls"], ["show", "iris-classifier"], ["history"], ["validate"],
                    ["lineage", "iris-classifier@1.0.0"], ["policy", "explain", "EVAL-01"]):
        short, long = run_cli(root, *command, "--json"), run_cli(root, *command, "--format", "json")
        assert short.code == long.code and short.out == long.out, command
        json.loads(short.out)
        assert "deprecated" not in short.err
    res = run_cli(root, "ls", "--json", "--format", "text")
    assert res.code == 2 and "--json and --format text contradict each other" in res.err


# --- NAME@VERSION ------------------------------------------------------------------------
@pytest.mark.parametrize("args", [["sign", "iris-classifier", "--key", "k.pem"],
                                  ["promote", "iris-classifier", "--stage", "staging"],
                                  ["show", "iris-classifier@"]],
                         ids=lambda a: a[0])
def test_one_version_is_name_at_version(args, repo, run_cli):
    res = run_cli(repo.root, *args)
    assert res.code == 2 and "is not NAME@VERSION" in res.err, res.err


def test_rollback_to_names_its_model(registered, run_cli):
    res = run_cli(registered.root, "rollback", "iris-classifier", "--stage", "production",
                  "--to", "credit-default@1.0.0")
    assert res.code == 2 and "names another model" in res.err
    # the model comes from --to: refused for what it is (nothing holds production)
    res = run_cli(registered.root, "rollback", "--stage", "production",
                  "--to", "iris-classifier@1.0.0")
    assert res.code == 1 and "holds no version in production" in res.err
    assert "deprecated" not in res.err


# --- old spellings -----------------------------------------------------------------------
def _notices(err: str) -> list[str]:
    return re.findall(r"warning: (\S+(?: \S+)?) is deprecated; use (\S+)", err)


def test_old_spellings_still_work_and_say_so(registered, run_cli):
    root = registered.root
    new = run_cli(root, "gate", "iris-classifier", "--stage", "staging", "--json")
    old = run_cli(root, "gate", "iris-classifier", "--env", "staging", "--json")
    assert old.code == new.code == 1 and old.out == new.out
    assert _notices(old.err) == [("--env", "--stage")] and _notices(new.err) == []
    res = run_cli(root, "gate", "iris-classifier", "--env", "staging", "--stage", "production")
    assert res.code == 2 and "contradict" in res.err
    # rollback --env and a bare --to X.Y.Z: refused for the same reason as the new spelling
    new = run_cli(root, "rollback", "iris-classifier", "--stage", "production",
                  "--to", "iris-classifier@1.0.0")
    old = run_cli(root, "rollback", "iris-classifier", "--env", "production", "--to", "1.0.0")
    assert old.code == new.code == 1 and "holds no version in production" in old.err
    assert _notices(old.err) == [("--env", "--stage"), ("--to 1.0.0", "--to")]
    # deprecate NAME VERSION
    new = run_cli(root, "deprecate", "iris-classifier@9.9.9", "--no-branch")
    old = run_cli(root, "deprecate", "iris-classifier", "9.9.9", "--reason", "x", "--no-branch")
    assert old.code == new.code != 0
    assert old.err.splitlines()[-1] == new.err.splitlines()[-1]
    assert "is not registered" in old.err
    assert _notices(old.err) == [("--reason", "--message"), ("NAME VERSION", "NAME@VERSION")]


def test_old_spellings_through_a_promotion(tmp_path, run_cli, monkeypatch):
    """reconcile --approvals and promote NAME VERSION --to STAGE --reason: still the same
    tags and stages.yaml, each with its notice."""
    w = World(tmp_path, run_cli, monkeypatch)
    branch, head = w.register("1.0.0", b"weights-1.0.0" * 20)
    w.merge(branch)
    w.as_user("ci")
    git(w.ci, "pull", "-q", "--ff-only", "origin", "main")
    res = w.cli(w.ci, "reconcile", "--push", "--pr", str(w.pr), "--approvals",
                w.reviews(("grace-ds", head)), "--pr-author", "alice-ds", "--json")
    assert res.code == 0, res.err
    assert [c["tag"] for c in json.loads(res.out)["created"]] == ["iris-classifier@v1.0.0"]
    assert _notices(res.err) == [("--approvals", "--reviews")]
    w.start_branch()
    res = w.cli(w.ds, "promote", "iris-classifier", "1.0.0", "--to", "staging",
                "--reason", "shadow traffic first")
    assert res.code == 0, res.err
    assert sorted(_notices(res.err)) == [("--reason", "--message"), ("--to", "--stage"),
                                         ("NAME VERSION", "NAME@VERSION")]
    stages = (w.ds / "models/iris-classifier/stages.yaml").read_text()
    assert "staging:\n    version: 1.0.0\n    reason: shadow traffic first" in stages


# --- the workflows, the demo and the docs speak the current vocabulary -------------------
def _workflow_invocations() -> list[list[str]]:
    calls = []
    for path in sorted((PROJECT / ".github/workflows").glob("*.yml")):
        jobs = yaml.safe_load(path.read_text(encoding="utf-8"))["jobs"]
        for step in (s for job in jobs.values() for s in job.get("steps", [])):
            for line in step.get("run", "").replace("\\\n", " ").splitlines():
                line = re.split(r"\s(?:>|\|\||\||;|&&)\s", line.strip())[0]
                if line.startswith("modelreg "):       # shell variables: any value parses
                    calls.append(shlex.split(re.sub(r"\$\{\w+\}", "1", line))[1:])
    return calls


def _demo_invocations() -> list[list[str]]:
    tree = ast.parse((PROJECT / "tools/demo.py").read_text(encoding="utf-8"))
    calls = []
    for node in ast.walk(tree):
        if isinstance(node, ast.BinOp) and isinstance(node.left, ast.Name) \
                and node.left.id == "MODELREG" and isinstance(node.right, ast.List):
            args: list[str] = []
            for e in node.right.elts:            # a variable stands for a value that parses
                if isinstance(e, ast.Constant):
                    args.append(e.value)
                elif not isinstance(e, ast.Starred):
                    args.append("json" if args[-1:] == ["--format"] else "1")
            # `check = MODELREG + [..., "--reviews"]`: the demo appends the file later
            calls.append(args + ["1"] if args[-1] == "--reviews" else args)
    return calls


def _doc_invocations() -> list[list[str]]:
    """Whole `modelreg ...` lines of the ```sh blocks (not synopses with [optional] parts)."""
    calls = []
    for path in [PROJECT / "README.md", *sorted(PROJECT.glob("docs/**/*.md"))]:
        blocks = re.findall(r"^```sh\n(.*?)^```", path.read_text(encoding="utf-8"), re.M | re.S)
        for line in "\n".join(blocks).splitlines():
            line = re.split(r"\s(?:&&|\||#)\s", line)[0].strip()
            if line.startswith("modelreg ") and not re.search(r"[\[\\]", line):
                calls.append(shlex.split(line)[1:])
    return calls


def test_workflows_demo_and_docs_use_no_old_spelling(capsys):
    calls = _workflow_invocations() + _demo_invocations() + _doc_invocations()
    assert {c[0] for c in _doc_invocations()} >= {"promote", "rollback", "deprecate"}
    assert {c[0] for c in calls} >= {"check", "reconcile", "gate", "promote", "register"}
    for args in calls:
        group: click.Group = cli
        ctx = click.Context(cli, info_name="modelreg", obj={"repo": "."})
        while isinstance(group, click.Group):
            command = group.commands[args[0]]
            args = args[1:]
            if isinstance(command, click.Group):
                group = command
                continue
            command.make_context(command.name, list(args), parent=ctx)   # raises on misuse
            break
        assert "deprecated" not in capsys.readouterr().err, args


# --- defects -----------------------------------------------------------------------------
def test_register_refuses_a_v_prefixed_version(repo, run_cli, tmp_path):
    w = write_weights(tmp_path / "w")
    before = repo.snapshot()
    res = run_cli(repo.root, "register", "iris-classifier", "--version", "v1.3.0",
                  "--weights", str(w))
    assert res.code == 2, res.out + res.err
    assert "'v1.3.0'" in res.err and "hint: use 1.3.0" in res.err
    assert repo.snapshot() == before
    assert not (repo.root / "models/iris-classifier/versions").exists()


def test_show_of_a_version_without_a_readable_record_exits_1(registered, run_cli):
    repo = registered
    # a registration tag whose commit does not add the record counts nowhere: no such version
    repo.git("tag", "-s", "iris-classifier@v3.0.0", "-m", "a tag without a record")
    res = run_cli(repo.root, "show", "iris-classifier@3.0.0")
    assert res.code == 2 and "UNTRUSTED" not in res.out
    (repo.root / "models/iris-classifier/versions/3.0.0.yaml").mkdir(parents=True)
    (repo.root / "models/iris-classifier/versions/3.0.0.yaml/x").write_text("x")
    res = run_cli(repo.root, "show", "iris-classifier@3.0.0")
    assert res.code == 1 and "error:" in res.out, res.out + res.err
    assert run_cli(repo.root, "show", "iris-classifier@3.0.0", "--json").code == 1
    (repo.root / "models/iris-classifier/versions/1.0.0.yaml").write_text("name: [\n")
    res = run_cli(repo.root, "show", "iris-classifier@1.0.0")
    assert res.code == 1 and "versions/1.0.0.yaml" in res.out
    res = run_cli(repo.root, "show", "iris-classifier@9.0.0")       # never heard of: usage
    assert res.code == 2 and "has no version 9.0.0" in res.err


def test_ls_text_shows_the_error_of_a_broken_model(repo, run_cli):
    path = repo.root / "models/credit-default/model.yaml"
    path.write_text(path.read_text() + "title: twice\n")
    res = run_cli(repo.root, "ls")
    assert res.code == 0
    line = next(x for x in res.out.splitlines() if x.startswith("credit-default:"))
    assert re.search(r"models/credit-default/model\.yaml:\d+: .*duplicate", line), res.out
    assert "iris-classifier: " not in res.out                       # healthy: no error line
