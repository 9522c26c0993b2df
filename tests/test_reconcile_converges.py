"""``reconcile`` converges in one run: after it, the stages the tags say equal the merged
``stages.yaml``, and planning again yields nothing. Emptying a stage ends every assignment
still active for it, not only the holder's, or an older version takes the stage back."""
from __future__ import annotations

import json
import tempfile
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import git
from modelreg.app.reconcile import plan
from modelreg.core import tags as tagmod
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


# --- the fixed point, for random sequences of merged stage maps ----------------------------

VERSIONS = ("1.0.0", "1.1.0", "2.0.0")
STAGES = ("staging", "production")
MODEL = "iris-classifier"
stage_maps = st.fixed_dictionaries({s: st.sampled_from((None, *VERSIONS)) for s in STAGES})


def _stages_yaml(wanted: dict[str, str | None]) -> str:
    return "stages:\n" + "".join(f"  {s}: {v if v else 'null'}\n" for s, v in wanted.items())


def _apply(root: Path, clock: list[int]) -> int:
    """What a reconcile run does to the tag log, without the policies: plan, then tag."""
    reg = Registry(root)
    head = git(root, "rev-parse", "HEAD").strip()
    planned = plan(reg, head)
    clock[0] += 60
    env = {"GIT_COMMITTER_DATE": f"{clock[0]} +0000"}
    for p in planned:
        git(root, "tag", "-a", p.name, p.target, "-m", tagmod.format_message(p.title, {**p.event(),
                                                                        "merge_commit": head}),
            env=env)
    return len(planned)


def _commit(root: Path, rel: str, text: str, clock: list[int]) -> None:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    clock[0] += 60
    stamp = f"{clock[0]} +0000"
    git(root, "add", "-A")
    git(root, "commit", "-q", "--allow-empty", "-m", f"change {rel}",
        env={"GIT_AUTHOR_DATE": stamp, "GIT_COMMITTER_DATE": stamp})


@settings(max_examples=50, deadline=None)
@given(st.lists(stage_maps, min_size=1, max_size=6))
def test_reconcile_reaches_the_merged_stages_in_one_run(steps):
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        clock = [1_780_000_000]
        git(root, "init", "-q", "-b", "main")
        git(root, "config", "user.name", "Reconcile")
        git(root, "config", "user.email", "reconcile@example.com")
        _commit(root, f"models/{MODEL}/model.yaml", f"name: {MODEL}\n", clock)
        for v in VERSIONS:
            _commit(root, f"models/{MODEL}/versions/{v}.yaml", f"version: {v}\n", clock)
        assert _apply(root, clock) == len(VERSIONS)
        for wanted in steps:
            _commit(root, f"models/{MODEL}/stages.yaml", _stages_yaml(wanted), clock)
            _apply(root, clock)
            state = Registry(root).state(MODEL)
            assert state.stages == {s: v for s, v in wanted.items() if v}, (steps, wanted)
            assert _apply(root, clock) == 0                     # a second run creates nothing
