"""``reconcile`` converges in one run: after it, the stages the tags say equal the merged
``stages.yaml``, and planning again yields nothing, however many merges (promotions,
rollbacks, removals, deprecations) came since the last run. Emptying a stage ends every assignment
still active for it, not only the holder's, or an older version takes the stage back."""
from __future__ import annotations

import json
import tempfile
from pathlib import Path

import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import git, session_key, tag_signing_yaml
from modelreg.app.reconcile import _offsets, plan
from modelreg.core import tags as tagmod
from modelreg.core.tags import Action
from modelreg.store.registry import Registry
from test_signoff import World, world  # noqa: F401  (the fixture)


def test_emptying_a_stage_takes_one_reconcile(world: World):  # noqa: F811
    w = world
    for version in ("1.0.0", "1.1.0"):
        branch, head = w.register(version, f"weights-{version}".encode() * 20)
        w.merge(branch)
        w.reconcile(w.reviews(("grace-ds", head)))
        branch, head = w.promote("promote", f"iris-classifier@{version}", "--stage", "staging")
        w.merge(branch)
        w.reconcile(w.reviews(("carol-risk", head)))
    with Registry(w.ci) as reg:
        assert reg.state("iris-classifier").stages == {"staging": "1.1.0"}
    assert w.cli(w.ci, "gate", "iris-classifier", "--stage", "staging").code == 0

    # a reviewed pull request empties staging
    w.start_branch()
    git(w.ds, "checkout", "-q", "-b", "unstage")
    (w.ds / "models/iris-classifier/stages.yaml").write_text("stages:\n  staging: null\n")
    git(w.ds, "commit", "-qam", "Take iris-classifier out of staging")
    git(w.ds, "push", "-q", "origin", "unstage")
    head = w.head(w.ds)
    w.merge("unstage")
    created = w.reconcile(w.reviews(("carol-risk", head)))["created"]
    assert sorted(c["version"] for c in created) == ["1.0.0", "1.1.0"]
    assert all("!#" in c["tag"] for c in created)

    listing = json.loads(w.cli(w.ci, "ls", "--json").out)
    text = json.dumps(listing)
    assert "staging" not in text, text
    with Registry(w.ci) as reg:
        assert reg.state("iris-classifier").stages == {}
    res = w.cli(w.ci, "gate", "iris-classifier", "--stage", "staging")
    assert res.code == 1, res.out
    assert w.reconcile(w.reviews(("carol-risk", head)))["created"] == []


# --- the fixed point, for random histories --------------------------------------------------

VERSIONS = ("1.0.0", "1.1.0", "2.0.0")
LATE = "3.0.0"                  # registered by a commit in the middle of the history
STAGES = ("staging", "production")
MODEL = "iris-classifier"
STAGES_FILE = f"models/{MODEL}/stages.yaml"

# one change to the model's stages.yaml: per stage a version (plain or as a rollback) or
# nothing; sometimes a version deprecated, or the whole model; sometimes a new version file
entries = st.sampled_from((None, *VERSIONS, LATE)).flatmap(
    lambda v: st.just(None) if v is None else st.sampled_from(((v, False), (v, True))))
changes = st.fixed_dictionaries({
    "stages": st.fixed_dictionaries({s: entries for s in STAGES}),
    "deprecate_version": st.sampled_from((None, None, None, *VERSIONS)),
    "deprecate_model": st.sampled_from((False,) * 7 + (True,)),
    "register_late": st.booleans(),
    "merge": st.booleans(),                    # through a merge commit, else pushed
})
# several merges between two reconcile runs
histories = st.lists(st.lists(changes, min_size=1, max_size=3), min_size=1, max_size=3)


def _stages_yaml(wanted: dict[str, tuple[str, bool] | None], dead: list[str],
                 deprecated: bool) -> str:
    lines = ["stages:"]
    for stage, entry in wanted.items():
        if entry is None:
            lines.append(f"  {stage}: null")
        elif entry[1]:
            lines.append(f"  {stage}: {{version: {entry[0]}, rollback: true, "
                         f"reason: back to {entry[0]}}}")
        else:
            lines.append(f"  {stage}: {entry[0]}")
    if dead:
        lines.append(f"deprecated_versions: [{', '.join(dead)}]")
    if deprecated:
        lines.append("deprecated: true")
    return "\n".join(lines) + "\n"


def _apply(root: Path, clock: list[int]) -> list:
    """What a reconcile run does to the tag log, without the policies: plan, then tag."""
    reg = Registry(root)
    head = git(root, "rev-parse", "HEAD").strip()
    planned = plan(reg, head)
    clock[0] += 60
    # dated as reconcile dates them: each change of the run a step after the one before
    offsets = _offsets(planned)
    for p in planned:
        env = {"GIT_COMMITTER_DATE": f"{clock[0] + offsets[p.name]} +0000"}
        git(root, "tag", "-s", p.name, p.target, "-m", tagmod.format_message(p.title, p.evidence),
            env=env)
    clock[0] += 2 * len(planned)
    return planned


def _commit(root: Path, rel: str, text: str, clock: list[int], merge: bool = False) -> None:
    """``rel`` changed, pushed to main or merged from a side branch with ``--no-ff``."""
    clock[0] += 60
    stamp = {"GIT_AUTHOR_DATE": f"{clock[0]} +0000", "GIT_COMMITTER_DATE": f"{clock[0]} +0000"}
    if merge:
        git(root, "checkout", "-q", "-b", "side")
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    git(root, "add", "-A")
    git(root, "commit", "-q", "--allow-empty", "-m", f"change {rel}", env=stamp)
    if merge:
        git(root, "checkout", "-q", "main")
        git(root, "merge", "-q", "--no-ff", "-m", "Merge side", "side", env=stamp)
        git(root, "branch", "-q", "-D", "side")


def _asks(root: Path, commit: str) -> tuple[dict[str, str], bool]:
    text = git(root, "show", f"{commit}:{STAGES_FILE}")
    data = yaml.safe_load(text) or {}
    dead = set(data.get("deprecated_versions") or [])
    out = {}
    for stage, entry in (data.get("stages") or {}).items():
        version = entry.get("version") if isinstance(entry, dict) else entry
        if version and str(version) not in dead:
            out[stage] = str(version)
    return out, bool(data.get("deprecated"))


@settings(max_examples=30, deadline=None)
@given(histories)
def test_reconcile_reaches_the_merged_stages_in_one_run(runs):
    """After every run the tags say what main's stages.yaml asks for, a second run creates
    nothing, and each tag records the commit whose change it is: a stage assignment's
    commit asks for that version in that stage."""
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        clock = [1_780_000_000]
        git(root, "init", "-q", "-b", "main")
        git(root, "config", "user.name", "Reconcile")
        git(root, "config", "user.email", "reconcile@example.com")
        # the session's key signs the tags, as reconcile's does
        _commit(root, "policies/data/tag-signing.yaml",
                tag_signing_yaml(session_key().signer_entry()), clock)
        _commit(root, f"models/{MODEL}/model.yaml", f"name: {MODEL}\n", clock)
        for v in VERSIONS:
            _commit(root, f"models/{MODEL}/versions/{v}.yaml", f"version: {v}\n", clock)
        assert len(_apply(root, clock)) == len(VERSIONS)
        live, dead, deprecated, late = list(VERSIONS), [], False, False
        for run in runs:
            for change in run:
                if change["register_late"] and not late:
                    late = True
                    live.append(LATE)
                    _commit(root, f"models/{MODEL}/versions/{LATE}.yaml",
                            f"version: {LATE}\n", clock, merge=change["merge"])
                gone = change["deprecate_version"]
                if gone in live and len(live) > 1:
                    live.remove(gone)
                    dead.append(gone)
                deprecated = deprecated or change["deprecate_model"]
                wanted = {s: e if e and e[0] in live and not change["deprecate_model"] else None
                          for s, e in change["stages"].items()}
                _commit(root, STAGES_FILE, _stages_yaml(wanted, dead, deprecated), clock,
                        merge=change["merge"])
            created = _apply(root, clock)
            head = git(root, "rev-parse", "HEAD").strip()
            asked, model_deprecated = _asks(root, head)
            state = Registry(root).state(MODEL)
            assert state.stages == asked, (runs, asked, state.stages)
            assert state.deprecated == model_deprecated, runs
            assert sorted(state.registered) == sorted(live), runs
            assert _apply(root, clock) == []                    # a second run creates nothing
            first_parents = git(root, "rev-list", "--first-parent", head).split()
            for p in created:
                merge = p.evidence["merge_commit"]
                assert merge in first_parents, p.name
                if p.action is Action.ASSIGN:
                    assert _asks(root, merge)[0].get(p.stage) == p.version, (runs, p.name)
                elif p.action is Action.UNASSIGN:
                    assert _asks(root, merge)[0].get(p.stage) != p.version, (runs, p.name)
