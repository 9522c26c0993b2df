"""Registries made by GTO itself read the same here.

Each case builds a registry with GTO 1.10's own Python API (``gto.api.register``, ``assign``,
``unassign``, ``deregister``, ``deprecate``) in a temporary git repository, with GTO's clock
set per step so that several events can share one second, and asks GTO what it says
(``gto show --json -d`` and ``gto show NAME --json``). The same tags are then replayed by
modelreg's tag layer (``build_states`` over one ``for-each-ref``), and both must agree on
every model's latest version, stage holders, registered versions and deprecation.

The registries are plain GTO registries (unsigned tags, no evidence): the comparison is
about the tag grammar and the replay, so it reads the states from the replay itself, not
through the trust rules that decide which tags a gate may rely on.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import IDENTITY, git
from modelreg.core import tags as tagmod
from modelreg.store.git import Git
from modelreg.store.registry import Registry, build_states
from test_signoff import World, world  # noqa: F401  (the fixture)

# Runs in one child process over every case's repository: GTO's steps, then what GTO shows.
# GTO creates tags through dulwich, whose tagger time is ``time.time()``; a fixed clock per
# step is how two events land in the same second. GIT_COMMITTER_DATE keeps scmrepo off
# pygit2, which refuses a date override (dulwich reads only the zone, in git's raw form).
DRIVER = r"""
import json, os, sys, time
os.environ["GIT_COMMITTER_DATE"] = os.environ["GIT_AUTHOR_DATE"] = "2026-01-01T00:00:00+0000"
from gto import api
shown = {}
for case, (root, refs, steps) in json.loads(sys.stdin.read()).items():
    os.chdir(root)
    for when, fn, kwargs in steps:
        time.time = (lambda w: (lambda: float(w)))(when)
        if "ref" in kwargs:
            kwargs["ref"] = refs[kwargs["ref"]]
        getattr(api, fn)(".", **kwargs)
    overview = api.show(".", deprecated=True)
    shown[case] = {"overview": overview,
                   "versions": {n: api.show(".", name=n) for n in overview}}
print(json.dumps(shown, default=str))
"""

T0 = 1_780_000_000          # GTO's clock at step 0 (2026-05-28)


@pytest.fixture(scope="module")
def gto_made(tmp_path_factory) -> dict[str, tuple[Path, dict]]:
    """Every case's registry: four commits c1..c4, then GTO's steps ``(seconds after T0,
    api function, keyword arguments)``, where ``ref`` names one of the commits. One GTO
    process builds them all (GTO takes about a second to start)."""
    base = tmp_path_factory.mktemp("gto")
    env = {**os.environ, **IDENTITY, "HOME": str(base), "GIT_CONFIG_NOSYSTEM": "1",
           "GIT_CONFIG_GLOBAL": str(base / ".gitconfig")}
    jobs = {}
    for case, steps in CASES.items():
        root = base / case
        root.mkdir()
        git(root, "init", "-q", "-b", "main", env=env)
        refs = {}
        for i in range(1, 5):
            (root / f"model-{i}.txt").write_text(f"weights {i}\n")
            git(root, "add", ".", env=env)
            git(root, "commit", "-q", "-m", f"train model {i}", env=env)
            refs[f"c{i}"] = git(root, "rev-parse", "HEAD", env=env).strip()
        jobs[case] = (str(root), refs, [[T0 + t, fn, kw] for t, fn, kw in steps])
    proc = subprocess.run([sys.executable, "-c", DRIVER], input=json.dumps(jobs), cwd=base,
                          capture_output=True, text=True, env=env)
    assert proc.returncode == 0, proc.stderr
    shown = json.loads(proc.stdout.strip().splitlines()[-1])
    return {case: (Path(jobs[case][0]), shown[case]) for case in CASES}


def _gto_view(shown: dict) -> dict:
    """What GTO says, in one comparable shape (versions without GTO's ``v``)."""
    out = {}
    for name, row in shown["overview"].items():
        out[name] = {
            "latest": row["version"][1:] if row["version"] else None,
            "stages": {s: v[1:] for s, v in sorted(row["stage"].items()) if v},
            "deprecated": not row["active"],
        }
        if row["active"]:
            out[name]["versions"] = {
                v["version"][1:]: sorted(s["stage"] for s in v["stages"])
                for v in shown["versions"][name]}
    return out


def _modelreg_view(root: Path) -> dict:
    states = build_states(Git(root).refs(tagmod.patterns()))
    out = {}
    for name, state in states.items():
        out[name] = {
            "latest": state.registered[-1] if state.registered else None,
            "stages": dict(sorted(state.stages.items())),
            "deprecated": state.deprecated,
        }
        if not state.deprecated:
            out[name]["versions"] = {
                v: sorted(s for s, held in state.stages.items() if held == v)
                for v in state.registered}
    return out


def reg(t, version, ref, name="churn", **kw):
    return (t, "register", {"name": name, "version": f"v{version}", "ref": ref, **kw})


def assign(t, version, stage, name="churn", **kw):
    return (t, "assign", {"name": name, "version": f"v{version}", "stage": stage, **kw})


def unassign(t, version, stage, name="churn", **kw):
    return (t, "unassign", {"name": name, "version": f"v{version}", "stage": stage, **kw})


def dereg(t, version, name="churn", **kw):
    return (t, "deregister", {"name": name, "version": f"v{version}", **kw})


def deprecate(t, name="churn", **kw):
    return (t, "deprecate", {"name": name, **kw})


CASES = {
    # --- one tag form at a time (GTO's defaults, then the other notation) -----------------
    "register-simple": [reg(0, "1.0.0", "c1"), reg(1, "1.1.0", "c2")],
    "register-counted": [reg(0, "1.0.0", "c1", simple=False), reg(1, "1.1.0", "c2", simple=False)],
    "deregister-simple": [reg(0, "1.0.0", "c1"), reg(1, "1.1.0", "c2"), dereg(2, "1.1.0")],
    "deregister-counted": [reg(0, "1.0.0", "c1"), reg(1, "1.1.0", "c2"),
                           dereg(2, "1.1.0", simple=False)],
    "deregister-only-version": [reg(0, "1.0.0", "c1"), assign(1, "1.0.0", "prod"),
                                dereg(2, "1.0.0")],
    "deregister-the-stage-holder": [reg(0, "1.0.0", "c1"), reg(1, "1.1.0", "c2"),
                                    assign(2, "1.0.0", "prod"), assign(3, "1.1.0", "prod"),
                                    dereg(4, "1.1.0")],
    "assign-counted": [reg(0, "1.0.0", "c1"), reg(1, "1.1.0", "c2"), assign(2, "1.0.0", "prod"),
                       assign(3, "1.1.0", "staging"), assign(4, "1.1.0", "prod")],
    "assign-simple": [reg(0, "1.0.0", "c1"), reg(1, "1.1.0", "c2"),
                      assign(2, "1.0.0", "prod", simple=True),
                      assign(3, "1.1.0", "staging", simple=True)],
    "assign-registers-the-commit": [
        (0, "assign", {"name": "churn", "ref": "c1", "stage": "dev", "name_version": "v0.3.0"})],
    "unassign-counted": [reg(0, "1.0.0", "c1"), reg(1, "1.1.0", "c2"), assign(2, "1.0.0", "prod"),
                         assign(3, "1.1.0", "prod"), unassign(4, "1.1.0", "prod")],
    "unassign-simple": [reg(0, "1.0.0", "c1"), assign(1, "1.0.0", "prod", simple=True),
                        unassign(2, "1.0.0", "prod", simple=True)],
    "reassign-after-unassign": [reg(0, "1.0.0", "c1"), assign(1, "1.0.0", "prod"),
                                unassign(2, "1.0.0", "prod"), assign(3, "1.0.0", "prod", force=True)],
    "deprecate-simple": [reg(0, "1.0.0", "c1"), assign(1, "1.0.0", "prod"), deprecate(2)],
    "deprecate-counted": [reg(0, "1.0.0", "c1"), assign(1, "1.0.0", "prod"), deprecate(2, force=True)],
    "deprecate-then-register": [reg(0, "1.0.0", "c1"), deprecate(1), reg(2, "1.1.0", "c2")],
    "deprecate-then-unassign": [reg(0, "1.0.0", "c1"), assign(1, "1.0.0", "prod"), deprecate(2),
                                unassign(3, "1.0.0", "prod")],
    "prerelease-and-build": [reg(0, "2.0.0-rc.1", "c1"), reg(1, "1.9.0+build.7", "c2"),
                             assign(2, "2.0.0-rc.1", "staging")],
    "gto-stage-names": [reg(0, "1.0.0", "c1"), assign(1, "1.0.0", "Prod_EU"),
                        assign(2, "1.0.0", "canary/eu")],
    "several-models-and-stages": [
        reg(0, "1.0.0", "c1"), reg(1, "1.1.0", "c2"), reg(2, "0.1.0", "c3", name="fraud"),
        assign(3, "1.0.0", "staging"), assign(4, "1.0.0", "prod"), assign(5, "1.1.0", "staging"),
        assign(6, "0.1.0", "staging", name="fraud"), assign(7, "1.1.0", "prod"),
        unassign(8, "1.1.0", "prod"), reg(9, "0.2.0", "c4", name="fraud", simple=False),
        dereg(10, "0.1.0", name="fraud"), deprecate(11, name="fraud")],
    # --- several events in one second: GTO's tie rules ------------------------------------
    "tie-stage-older-registration-wins": [
        reg(0, "1.0.0", "c1"), reg(1, "1.1.0", "c2"),
        assign(5, "1.0.0", "prod"), assign(5, "1.1.0", "prod")],
    "tie-stage-counter-does-not-decide": [
        reg(0, "1.0.0", "c1"), reg(1, "1.1.0", "c2"),
        assign(5, "1.1.0", "prod"), assign(5, "1.0.0", "prod")],
    "tie-stage-registered-later-first": [
        reg(1, "1.0.0", "c1"), reg(0, "1.1.0", "c2"),
        assign(5, "1.0.0", "prod"), assign(5, "1.1.0", "prod")],
    "tie-stage-registered-same-second": [
        reg(0, "9.0.0", "c1"), reg(0, "10.0.0", "c2"),
        assign(5, "9.0.0", "prod"), assign(5, "10.0.0", "prod")],
    "tie-unassign-beats-assign": [
        reg(0, "1.0.0", "c1"), assign(5, "1.0.0", "prod"), unassign(5, "1.0.0", "prod"),
        assign(5, "1.0.0", "prod", force=True)],
    "tie-deregister-beats-register": [
        reg(0, "1.0.0", "c1"), reg(3, "1.1.0", "c2"), dereg(3, "1.1.0")],
    "tie-deprecation-loses": [reg(0, "1.0.0", "c1"), assign(5, "1.0.0", "prod"), deprecate(5)],
    "tie-counted-deprecation-loses": [
        reg(0, "1.0.0", "c1"), assign(5, "1.0.0", "prod"), deprecate(5, force=True)],
    "tie-everything-in-one-second": [
        reg(0, "1.0.0", "c1", simple=False), reg(0, "1.1.0", "c2"), reg(0, "1.2.0", "c3"),
        assign(0, "1.2.0", "prod"), assign(0, "1.1.0", "prod"), assign(0, "1.0.0", "staging"),
        unassign(0, "1.0.0", "staging"), dereg(0, "1.2.0", simple=False)],
}


@pytest.mark.parametrize("case", list(CASES))
def test_gto_made_registry_reads_the_same(gto_made, case):
    root, shown = gto_made[case]
    for ref in Git(root).refs(tagmod.patterns()):
        assert tagmod.parse(ref.name) is not None, f"{ref.name}: a GTO tag not read"
    assert _modelreg_view(root) == _gto_view(shown)


def test_the_cases_cover_every_tag_form_gto_writes():
    """The cases above between them hold every form GTO 1.10 writes."""
    steps = [s for case in CASES.values() for s in case]
    seen = set()
    for _t, fn, kw in steps:
        counted = kw.get("simple") is False or kw.get("force") is True
        simple = kw.get("simple") is True
        default_counted = fn in ("assign", "unassign")
        seen.add((fn, counted or (default_counted and not simple)))
    assert seen >= {(fn, c) for fn in ("register", "deregister", "assign", "unassign",
                                       "deprecate") for c in (False, True)}


# --- what reconcile writes next to GTO's tags ------------------------------------------------

def test_reconcile_counts_past_every_counted_form(tmp_path):
    """Reconcile keeps writing its own forms (plain registration, counted stage tags), and
    its next counter is one more than the largest on any of the model's tags: a counted
    registration or GTO's ``@created#N`` included, as ``gto`` itself counts."""
    from modelreg.app.reconcile import plan

    root = tmp_path / "registry"
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    # GTO's tags are unsigned: a registry GTO writes to says so
    for rel, text in (("policies/data/tag-signing.yaml", "signed_tags: false\n"),
                      ("models/churn/model.yaml", "name: churn\n"),
                      ("models/churn/versions/1.0.0.yaml", "version: 1.0.0\n")):
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "churn 1.0.0")
    git(root, "tag", "-a", "churn@v1.0.0#7", "-m", "Registering artifact churn version v1.0.0")
    git(root, "tag", "-a", "churn@created#9", "-m", "not an event")
    git(root, "tag", "-a", "other@v1.0.0#40", "-m", "another model's counter")
    (root / "models/churn/versions/1.1.0.yaml").write_text("version: 1.1.0\n")
    (root / "models/churn/stages.yaml").write_text("stages:\n  staging: 1.0.0\n")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "churn 1.1.0, staging")
    head = git(root, "rev-parse", "HEAD").strip()
    names = sorted(p.name for p in plan(Registry(root), head))
    assert names == ["churn#staging#10", "churn@v1.1.0"]


# --- a deregistered version, through the commands --------------------------------------------

def test_a_deregistered_version_is_never_latest(world: World):  # noqa: F811
    """GTO: a deregistered version is not active, so never the latest; here too, in ``ls``,
    ``show`` and the library's ``resolve``, though its record stays in the tree."""
    w = world
    for version in ("1.0.0", "1.1.0"):
        branch, head = w.register(version, f"weights-{version}".encode() * 20)
        w.merge(branch)
        w.reconcile(w.reviews(("grace-ds", head)))
    branch, head = w.promote("deprecate", "iris-classifier@1.1.0", "--reason", "leaks labels")
    w.merge(branch)
    created = w.reconcile(w.reviews(("carol-risk", head)))["created"]
    assert [c["tag"] for c in created] == ["iris-classifier@v1.1.0!"]
    rows = {r["name"]: r for r in json.loads(w.cli(w.ci, "ls", "--json").out)["models"]}
    assert rows["iris-classifier"]["latest"] == "1.0.0"
    assert rows["iris-classifier"]["registered"] == 1
    shown = json.loads(w.cli(w.ci, "show", "iris-classifier", "--json").out)
    entry = next(v for v in shown["versions"] if v["version"] == "1.1.0")
    assert entry["registered"] is False and entry["deregistered"] is True
    assert entry["record"] is not None
    with Registry(w.ci) as reg:
        assert reg.resolve("iris-classifier").version == "1.0.0"


# --- forms GTO reads and the registry does not: reported, never dropped ----------------------

def test_verify_reports_gto_tags_it_does_not_read(world: World):  # noqa: F811
    """Names GTO accepts and the registry refuses, ``@created`` and stages the configuration
    does not list are ``verify`` warnings with the reason."""
    w = world
    branch, head = w.register("1.0.0", b"weights" * 20)
    w.merge(branch)
    w.reconcile(w.reviews(("grace-ds", head)))
    commit = git(w.ci, "rev-list", "-n1", "iris-classifier@v1.0.0").strip()
    for name in ("Iris@v1.0.0", "team/iris#prod#3", "models/cv=resnet@v1.0.0",
                 "iris-classifier@created", "iris-classifier#Prod_EU#9"):
        git(w.ci, "tag", "-a", name, commit, "-m", f"made with gto: {name}")
    res = w.cli(w.ci, "verify", "--json", "--no-weights")
    found = [f for f in json.loads(res.out)["findings"] if f["severity"] == "warning"]
    text = "\n".join(f"{f['file']}: {f['message']}" for f in found)
    assert "refs/tags/Iris@v1.0.0: tag Iris@v1.0.0 is not read: GTO artifact 'Iris'" in text
    assert "refs/tags/team/iris#prod#3: tag team/iris#prod#3 is not read" in text
    assert "GTO artifact 'models/cv:resnet' is not a registry name" in text
    assert "iris-classifier@created is not read: GTO parses @created" in text
    assert "names stage 'Prod_EU', which policies/data/environments.yaml does not list" in text
    listed = json.loads(w.cli(w.ci, "ls", "--json").out)["unread_tags"]
    assert [u["tag"] for u in listed] == ["Iris@v1.0.0", "iris-classifier@created",
                                          "models/cv=resnet@v1.0.0", "team/iris#prod#3"]
    assert "note: tag team/iris#prod#3 is not read" in w.cli(w.ci, "ls").err
    # the replay reads the counterless and unknown-stage forms as GTO does
    git(w.ci, "tag", "-a", "iris-classifier#staging", commit, "-m", "gto assign --simple true",
        env={"GIT_COMMITTER_DATE": "2026-12-01T10:00:00Z"})
    state = build_states(Git(w.ci).refs(tagmod.patterns()))["iris-classifier"]
    assert state.stages == {"Prod_EU": "1.0.0", "staging": "1.0.0"}
