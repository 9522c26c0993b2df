"""Reading the registry: `ls`, `show`, stages from tags (GTO grammar), and the library API."""
from __future__ import annotations

import json

import pytest

import modelreg
from conftest import stage_on_main, write_weights
from modelreg.core.tags import format_message
from modelreg.store.registry import build_states


def _tag(repo, name, target="HEAD", date="2026-05-02T10:00:00Z", message=None, light=False):
    env = {"GIT_COMMITTER_DATE": date}
    if light:
        repo.git("tag", name, target, env=env)
    else:
        repo.git("tag", "-s", name, target, "-m", message or f"event {name}", env=env)


@pytest.fixture
def registered(repo, tmp_path):
    """iris-classifier 1.0.0, 1.1.0 and 2.0.0 registered on main, each tagged."""
    reg = modelreg.open_registry(repo.root)
    for i, version in enumerate(["1.0.0", "1.1.0", "2.0.0"]):
        w = write_weights(tmp_path / version, payload=version.encode() * 10)
        modelreg.register(reg, modelreg.RegisterRequest(
            name="iris-classifier", version=version, weights=[str(w)], branch=False,
            datasets=[modelreg.DatasetSpec.parse("test:iris-test@2026.11")]))
        _tag(repo, f"iris-classifier@v{version}", date=f"2026-05-0{i + 2}T10:00:00Z")
    repo.git("push", "-q", "origin", "main")
    return repo


def _replay(repo, at=None):
    """The replay of every tag, whether it counts or not (GTO's semantics; which tags
    count is store/trust.py's question, tested in test_trust.py)."""
    return build_states(modelreg.open_registry(repo.root).refs(), at)["iris-classifier"]


def test_stages_follow_gto_semantics(registered):
    repo = registered
    commit_of = {v: repo.git("rev-list", "-n1", f"iris-classifier@v{v}").strip()
                 for v in ("1.0.0", "1.1.0", "2.0.0")}
    _tag(repo, "iris-classifier#staging#4", commit_of["1.0.0"], "2026-05-10T10:00:00Z")
    _tag(repo, "iris-classifier#production#5", commit_of["1.0.0"], "2026-05-11T10:00:00Z")
    _tag(repo, "iris-classifier#staging#6", commit_of["1.1.0"], "2026-05-12T10:00:00Z")
    state = _replay(repo)
    assert state.registered == ("1.0.0", "1.1.0", "2.0.0")
    assert state.stages == {"production": "1.0.0", "staging": "1.1.0"}
    # unassigning 1.1.0 from staging falls back to the still-active older assignment (GTO)
    _tag(repo, "iris-classifier#staging!#7", commit_of["1.1.0"], "2026-05-13T10:00:00Z")
    assert _replay(repo).stages == {"production": "1.0.0", "staging": "1.0.0"}
    # point in time: before the production tag existed
    import calendar
    import time
    at = calendar.timegm(time.strptime("2026-05-10T12:00:00", "%Y-%m-%dT%H:%M:%S"))
    assert _replay(repo, at).stages == {"staging": "1.0.0"}


def test_stage_tag_version_comes_from_evidence_block(registered):
    repo = registered
    msg = format_message("Promote iris-classifier 2.0.0 to production",
                         {"model": "iris-classifier", "version": "2.0.0", "pr": 12})
    # tag points at another commit: the evidence block says which version it is
    _tag(repo, "iris-classifier#production#4", "HEAD~2", message=msg)
    state = _replay(repo)
    assert state.stages == {"production": "2.0.0"}
    event = [e for e in state.events if e.stage == "production"][0]
    assert event.evidence["pr"] == 12 and event.actor == "Alice Martin"


def test_deprecation_and_deregistration(registered):
    repo = registered
    _tag(repo, "iris-classifier@v2.0.0!", "iris-classifier@v2.0.0", "2026-05-20T10:00:00Z")
    _tag(repo, "iris-classifier@deprecated", date="2026-05-21T10:00:00Z")
    state = _replay(repo)
    assert state.registered == ("1.0.0", "1.1.0") and state.deprecated


def test_ls_cli_text_and_json(registered, run_cli):
    repo = registered
    stage_on_main(repo.root, "iris-classifier", "production", "1.1.0", 4, "2026-05-10T10:00:00Z")
    _tag(repo, "release-2026", light=True)           # foreign tags are ignored
    res = run_cli(repo.root, "ls", "--json")
    assert res.code == 0, res.err
    rows = {r["name"]: r for r in json.loads(res.out)["models"]}
    assert set(rows) == {"iris-classifier", "credit-default"}
    iris = rows["iris-classifier"]
    assert (iris["owner"], iris["risk_tier"], iris["eu_ai_act_class"]) == \
        ("ml-platform", 3, "minimal")
    assert iris["latest"] == "2.0.0" and iris["versions"] == 3 and iris["registered"] == 3
    assert iris["stages"] == {"production": "1.1.0"}
    assert rows["credit-default"]["latest"] is None
    text = run_cli(repo.root, "ls")
    assert text.code == 0
    line = next(x for x in text.out.splitlines() if x.startswith("iris-classifier"))
    assert "ml-platform" in line and "2.0.0" in line and "production=1.1.0" in line


def test_ls_reports_a_broken_model_and_lists_the_others(registered, run_cli):
    (registered.root / "models/credit-default/model.yaml").write_text("name: [unclosed\n")
    res = run_cli(registered.root, "ls", "--json")
    assert res.code == 0
    rows = {r["name"]: r for r in json.loads(res.out)["models"]}
    assert "invalid YAML" in rows["credit-default"]["error"]
    assert rows["iris-classifier"]["owner"] == "ml-platform"


def test_show_cli_and_api(registered, run_cli):
    res = run_cli(registered.root, "show", "iris-classifier", "--json")
    assert res.code == 0, res.err
    data = json.loads(res.out)
    assert [v["version"] for v in data["versions"]] == ["1.0.0", "1.1.0", "2.0.0"]
    v = data["versions"][1]
    assert v["registered"] and v["registration"]["tag"] == "iris-classifier@v1.1.0"
    art = v["record"]["artifacts"][0]
    assert len(art["sha256"]) == 64 and len(art["md5"]) == 32
    one = run_cli(registered.root, "show", "iris-classifier@1.1.0", "--json")
    assert [v["version"] for v in json.loads(one.out)["versions"]] == ["1.1.0"]
    text = run_cli(registered.root, "show", "iris-classifier")
    assert "sha256 " + art["sha256"] in text.out and "iris-test@2026.11" in text.out
    api = modelreg.show(modelreg.open_registry(registered.root), "iris-classifier", "2.0.0")
    assert api["versions"][0]["record"]["version"] == "2.0.0"


def test_show_unknown_model_or_version_is_a_usage_error(registered, run_cli):
    res = run_cli(registered.root, "show", "nope-model")
    assert res.code == 2 and "no model named 'nope-model'" in res.err and "hint:" in res.err
    res = run_cli(registered.root, "show", "iris-classifier@9.0.0")
    assert res.code == 2 and "has no version 9.0.0" in res.err


def test_resolve_api(registered):
    reg = modelreg.open_registry(registered.root / "models")     # any folder inside works
    assert reg.resolve("iris-classifier", stage="production") is None
    latest = reg.resolve("iris-classifier")
    assert latest.version == "2.0.0" and latest.tag == "iris-classifier@v2.0.0"
    assert str(latest) == "iris-classifier@2.0.0"
    with pytest.raises(modelreg.UsageError):
        reg.resolve("credit-default", version="1.0.0")


def test_open_registry_outside_git(tmp_path):
    with pytest.raises(modelreg.CannotRunError, match="not inside a git repository"):
        modelreg.open_registry(tmp_path)


def test_ls_cache_follows_file_contents(registered, run_cli):
    first = json.loads(run_cli(registered.root, "ls", "--json").out)["models"]
    assert (registered.root / ".git/modelreg/ls.json").is_file()
    model = registered.root / "models/iris-classifier/model.yaml"
    model.write_text(model.read_text().replace("team: ml-platform", "team: credit-analytics"))
    again = {r["name"]: r for r in json.loads(run_cli(registered.root, "ls", "--json").out)["models"]}
    assert again["iris-classifier"]["owner"] == "credit-analytics"
    assert {r["name"]: r["owner"] for r in first}["iris-classifier"] == "ml-platform"
    # a corrupt cache only costs time
    (registered.root / ".git/modelreg/ls.json").write_text("{not json")
    assert json.loads(run_cli(registered.root, "ls", "--json").out)["models"][1]["owner"] == \
        "credit-analytics"


# --- the listing remembers tag objects by id (store/git.py RefMemo) --------------------------
def _memo_refs(root, patterns=("refs/tags/*@*",), contents=False):
    from modelreg.store.cache import ContentCache
    from modelreg.store.git import Git, RefMemo

    memo = RefMemo(ContentCache(root, "tags"))
    out = Git(root).refs(list(patterns), contents=contents, memo=memo)
    memo.save()
    return out


def _fresh_refs(root, patterns=("refs/tags/*@*",), contents=False):
    from modelreg.store.git import Git

    return Git(root).refs(list(patterns), contents=contents)


def test_a_remembered_listing_reads_only_the_tags_made_since(registered, monkeypatch):
    from modelreg.store.git import Git

    root = registered.root
    assert _memo_refs(root) == _fresh_refs(root)
    assert (root / ".git/modelreg/tags.json").is_file()
    asked: list[list[str]] = []
    real = Git._refs
    monkeypatch.setattr(Git, "_refs", lambda self, p, c: asked.append(p) or real(self, p, c))
    assert _memo_refs(root) == _fresh_refs(root)
    assert asked[0] == ["refs/tags/*@*"]            # the uncached read, for comparison
    asked.clear()
    _tag(registered, "iris-classifier@v2.0.0!", "iris-classifier@v2.0.0",
         "2026-05-20T10:00:00Z")
    assert _memo_refs(root) == _fresh_refs(root)
    assert asked[0] == ["refs/tags/iris-classifier@v2.0.0!"]   # the new tag alone
    asked.clear()
    _memo_refs(root)
    assert asked == []                               # nothing new: no tag object read


def test_a_moved_tag_is_read_again_not_taken_from_the_memo(registered):
    root = registered.root
    _memo_refs(root, contents=True)
    registered.git("tag", "-d", "iris-classifier@v1.1.0")
    _tag(registered, "iris-classifier@v1.1.0", "HEAD~1", message="made again, elsewhere")
    after = {r.name: r for r in _memo_refs(root, contents=True)}
    assert after["iris-classifier@v1.1.0"].message.startswith("made again, elsewhere")
    assert list(after.values()) == _fresh_refs(root, contents=True)


def test_a_name_borrowing_a_remembered_tag_object_is_not_annotated(registered):
    """``git tag NEW OLD`` points a second name at OLD's tag object: the memo knows that
    object, but the annotation names OLD, so NEW must not carry it."""
    root = registered.root
    _memo_refs(root, contents=True)
    registered.git("tag", "iris-classifier@v9.0.0", "iris-classifier@v1.0.0")
    refs = {r.name: r for r in _memo_refs(root, contents=True)}
    borrowed, own = refs["iris-classifier@v9.0.0"], refs["iris-classifier@v1.0.0"]
    assert borrowed.object == own.object and own.annotated and own.message
    assert not borrowed.annotated and borrowed.message == ""
    assert list(refs.values()) == _fresh_refs(root, contents=True)


def test_a_damaged_or_foreign_tag_memo_only_costs_time(registered):
    root = registered.root
    _memo_refs(root)
    memo = root / ".git/modelreg/tags.json"
    for junk in ("{not json", '{"salt": "0.0.1", "entries": {}}', '{"salt": 1}'):
        memo.write_text(junk)
        assert _memo_refs(root) == _fresh_refs(root)
        assert memo.read_text() != junk               # replaced by a whole memo


def test_a_tag_moved_during_the_listing_is_read_afresh(registered, monkeypatch):
    """The names and ids are listed first, the new objects read after: a tag replaced in
    between leaves the memo without the listed id, and the whole listing is read again."""
    from modelreg.store.git import Git

    root = registered.root
    real = Git._refs
    calls = []

    def racing(self, patterns, contents):
        calls.append(patterns)
        return [] if len(calls) == 1 else real(self, patterns, contents)
    monkeypatch.setattr(Git, "_refs", racing)
    assert _memo_refs(root) == real(Git(root), ["refs/tags/*@*"], False)
    assert calls[-1] == ["refs/tags/*@*"]


def test_ls_answers_the_same_from_a_warm_tag_memo(registered, run_cli):
    stage_on_main(registered.root, "iris-classifier", "staging", "1.1.0", 4)
    cold = json.loads(run_cli(registered.root, "ls", "--json").out)
    assert (registered.root / ".git/modelreg/tags.json").is_file()
    warm = json.loads(run_cli(registered.root, "ls", "--json").out)
    assert warm == cold
    assert {r["name"]: r["stages"] for r in warm["models"]}["iris-classifier"] == \
        {"staging": "1.1.0"}


# --- ls remembers what the tags say, under everything they depend on ----------------------
def _ls(run_cli, root):
    res = run_cli(root, "ls", "--json")
    assert res.code == 0, res.err
    return {r["name"]: r for r in json.loads(res.out)["models"]}["iris-classifier"]


def _remembered_states(root) -> list[str]:
    entries = json.loads((root / ".git/modelreg/ls.json").read_text())["entries"]
    return [k for k in entries if k.startswith("states:")]


def test_ls_remembers_the_tag_states_and_sees_a_new_tag(registered, run_cli):
    first = _ls(run_cli, registered.root)
    assert len(_remembered_states(registered.root)) == 1
    assert _ls(run_cli, registered.root) == first
    stage_on_main(registered.root, "iris-classifier", "staging", "1.1.0", 4)
    assert _ls(run_cli, registered.root)["stages"] == {"staging": "1.1.0"}


def test_ls_judges_again_when_the_protected_branch_is_rewritten(registered, run_cli):
    """The stage tag counts while its merge commit is on main's first-parent history; a
    forced push that drops that commit makes it count nowhere, though no tag changed."""
    root = registered.root
    stage_on_main(root, "iris-classifier", "staging", "1.1.0", 4)
    assert _ls(run_cli, root)["stages"] == {"staging": "1.1.0"}
    registered.git("reset", "-q", "--hard", "HEAD~1")
    registered.git("push", "-q", "--force", "origin", "HEAD:main")
    after = _ls(run_cli, root)
    assert after["stages"] == {}
    assert [t["tag"] for t in after["untrusted_tags"]] == ["iris-classifier#staging#4"]


def test_ls_judges_again_when_the_ledger_changes(registered, run_cli):
    """The ledger remembers which object each tag had when it was verified: a different
    object recorded there means the tag was moved since, and ls must say so at once."""
    root = registered.root
    stage_on_main(root, "iris-classifier", "staging", "1.1.0", 4)
    assert registered.git("tag", "-l", "iris-classifier#staging#4").strip()
    assert run_cli(root, "verify", "iris-classifier").code == 0     # writes the ledger
    assert _ls(run_cli, root)["untrusted_tags"] == []
    ledger = root / ".git/modelreg/ledger.json"
    data = json.loads(ledger.read_text())
    data["tags"]["iris-classifier#staging#4"] = "0" * 40
    ledger.write_text(json.dumps(data))
    flagged = _ls(run_cli, root)["untrusted_tags"]
    assert [t["tag"] for t in flagged] == ["iris-classifier#staging#4"]
    assert any("moved" in r for r in flagged[0]["reasons"])


def test_ls_does_not_remember_a_tag_dated_in_the_future(registered, run_cli):
    """A tag dated ahead of the clock counts nowhere until the clock passes it: an answer
    computed while it is in the future would go stale by itself, so none is kept."""
    root = registered.root
    _tag(registered, "iris-classifier@v3.0.0", date="2099-01-01T00:00:00Z")
    flagged = _ls(run_cli, root)["untrusted_tags"]
    assert any("future" in r for t in flagged for r in t["reasons"])
    assert _remembered_states(root) == []
    registered.git("tag", "-d", "iris-classifier@v3.0.0")
    _ls(run_cli, root)
    assert len(_remembered_states(root)) == 1


def test_a_remembered_verdict_is_bound_to_the_branch_as_it_is_now(registered, monkeypatch):
    """Verdicts are kept by tag object, but whether the commit a tag is bound to is still on
    the protected branch's first-parent history is asked again on every read: a clone
    that fetched a rewritten main must not go on trusting the cached verdict."""
    from modelreg.store import cache as cache_mod

    monkeypatch.setattr(cache_mod, "FEW_TAGS", 0)          # these few tags go through the cache
    root = registered.root
    stage_on_main(root, "iris-classifier", "staging", "1.1.0", 4)
    assert modelreg.open_registry(root).states()["iris-classifier"].stages == \
        {"staging": "1.1.0"}
    assert list((root / ".git/modelreg").glob("trust-*.json"))
    registered.git("reset", "-q", "--hard", "HEAD~1")
    registered.git("push", "-q", "--force", "origin", "HEAD:main")
    registry = modelreg.open_registry(root)
    assert registry.states()["iris-classifier"].stages == {}
    [verdict] = registry.untrusted("iris-classifier")
    assert "is not on the first-parent history of main" in " ".join(verdict.reasons)
