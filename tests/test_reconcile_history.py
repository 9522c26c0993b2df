"""``reconcile`` records what each merge changed with that merge's own evidence.

It walks the first-parent history of main since the last reconciled commit: a promotion that
reached main without its own reconcile run is recorded with the promotion's pull request and
reviews, never with those of whatever pull request was merged after it. A change with no pull
request (pushed straight to main, or merged by hand) is recorded as a direct push, which the
gate refuses until a reviewed pull request records it again. Reviews come from GitHub's REST
API, every page (a loopback server speaks its shapes here), or from recorded files."""
from __future__ import annotations

import json
import socket

import pytest

from conftest import git
from fake_github import REPO, FakeGitHub, review, serve
from modelreg.core.tags import parse_message
from modelreg.store.github import GitHub, next_link
from test_signoff import World, world  # noqa: F401  (the fixture)

MODEL = "iris-classifier"


@pytest.fixture
def github(monkeypatch):
    fake = FakeGitHub()
    server = serve(fake)
    monkeypatch.setenv("GITHUB_API_URL", fake.url)
    monkeypatch.setenv("GITHUB_REPOSITORY", REPO)
    monkeypatch.setenv("GITHUB_TOKEN", "test-token")
    monkeypatch.delenv("GH_TOKEN", raising=False)
    yield fake
    server.shutdown()
    server.server_close()


def merged(w: World, github: FakeGitHub, branch: str, head: str,
           *approvals: tuple[str, str]) -> str:
    """The pull request of ``branch`` is merged on GitHub with these approvals; its merge
    commit."""
    w.merge(branch)
    merge = w.head(w.admin)
    github.add_pull(w.pr, "alice-ds", head, merge,
                    [review(login, "APPROVED", sha, i + 1, w.day)
                     for i, (login, sha) in enumerate(approvals)])
    return merge


def reconcile(w: World, *args: str):
    w.as_user("ci")
    w.tick()
    git(w.ci, "pull", "-q", "--ff-only", "origin", "main")
    return w.cli(w.ci, "reconcile", "--push", "--json", *args)


def evidence(w: World, tag: str) -> dict:
    return parse_message(git(w.ci, "tag", "-l", "--format=%(contents)", tag))


def stage_tags(w: World, stage: str) -> list[str]:
    return sorted(git(w.ci, "tag", "-l", f"{MODEL}#{stage}#*").split(),
                  key=lambda t: int(t.rsplit("#", 1)[1]))


def second_parent(w: World, commit: str) -> str:
    return git(w.admin, "rev-parse", f"{commit}^2").strip()


# --- hostile: another pull request's approvals never vouch for a change ----------------

def test_an_unreconciled_promotion_never_borrows_the_next_pull_requests_approvals(
        world: World):  # noqa: F811
    """The promotion reached main without its own reconcile run; then an unrelated pull
    request was merged and reconcile ran once with that pull request's reviews (what the
    workflow used to hand it). The promotion is not recorded with those approvals."""
    w = world
    branch, head = w.register("1.0.0", b"w" * 50)
    w.merge(branch)
    w.reconcile(w.reviews(("grace-ds", head)))
    branch, promo_head = w.promote("promote", f"{MODEL}@1.0.0", "--stage", "staging")
    w.merge(branch)                                   # nobody ran reconcile for it
    promotion = w.head(w.admin)
    branch, head = w.register("1.1.0", b"v" * 50)
    w.merge(branch)
    unrelated = w.pr
    out = w.reconcile(w.reviews(("grace-ds", head), ("dave-risk", head)))
    [tag] = stage_tags(w, "staging")
    ev = evidence(w, tag)
    assert ev["pr"] != unrelated and "dave-risk" not in (ev.get("approvers") or []), ev
    assert ev["merge_commit"] == promotion and ev["via"] == "direct-push", ev
    assert {c["tag"] for c in out["created"]} == {tag, f"{MODEL}@v1.1.0"}
    assert evidence(w, f"{MODEL}@v1.1.0")["pr"] == unrelated
    res = w.cli(w.ci, "gate", MODEL, "--stage", "staging")
    assert res.code == 1 and "reached main without a reviewed pull request" in res.out, res.out
    del promo_head


def test_with_github_the_promotion_carries_its_own_merge_and_reviews(world: World,  # noqa: F811
                                                                     github: FakeGitHub):
    w = world
    branch, head = w.register("1.0.0", b"w" * 50)
    merged(w, github, branch, head, ("grace-ds", head))
    assert reconcile(w, "--github").code == 0
    branch, promo_head = w.promote("promote", f"{MODEL}@1.0.0", "--stage", "staging")
    promotion = merged(w, github, branch, promo_head, ("carol-risk", promo_head))
    promotion_pr = w.pr
    branch, head = w.register("1.1.0", b"v" * 50)
    registration = merged(w, github, branch, head, ("grace-ds", head))
    res = reconcile(w, "--github")
    assert res.code == 0, res.out + res.err
    [tag] = stage_tags(w, "staging")
    ev = evidence(w, tag)
    assert (ev["pr"], ev["merge_commit"], ev["head"], ev["approvers"], ev["via"]) == \
        (promotion_pr, promotion, promo_head, ["carol-risk"], "pull-request"), ev
    assert ev["head"] == second_parent(w, promotion)
    reg = evidence(w, f"{MODEL}@v1.1.0")
    assert (reg["pr"], reg["merge_commit"], reg["approvers"]) == \
        (w.pr, registration, ["grace-ds"]), reg
    assert w.cli(w.ci, "gate", MODEL, "--stage", "staging").code == 0
    # every request carried the token and asked for full pages
    assert all(h.get("Authorization") == "Bearer test-token" for _, h in github.requests)
    assert all("per_page=100" in p for p, _ in github.requests if "/reviews" in p)


def test_a_stages_change_pushed_straight_to_main_is_recorded_as_such_and_refused(
        world: World, github: FakeGitHub):  # noqa: F811
    w = world
    branch, head = w.register("1.0.0", b"w" * 50)
    merged(w, github, branch, head, ("grace-ds", head))
    assert reconcile(w, "--github").code == 0
    w.promote("promote", f"{MODEL}@1.0.0", "--stage", "staging", "--no-branch")
    git(w.ds, "push", "-q", "origin", "HEAD:main")      # an admin push, nobody reviewed
    pushed = w.head(w.ds)
    res = reconcile(w, "--github")
    assert res.code == 0, res.out + res.err
    [tag] = stage_tags(w, "staging")
    ev = evidence(w, tag)
    assert (ev["via"], ev["pr"], ev["merge_commit"]) == ("direct-push", None, pushed), ev
    assert "approvers" not in ev and "head" not in ev
    res = w.cli(w.ci, "gate", MODEL, "--stage", "staging")
    assert res.code == 1 and "reached main without a reviewed pull request" in res.out, res.out
    assert reconcile(w, "--github").code == 0 and stage_tags(w, "staging") == [tag]

    # the honest path: a pull request that changes the entry, reviewed by the stage owners
    w.start_branch()
    res = w.cli(w.ds, "promote", f"{MODEL}@1.0.0", "--stage", "staging")
    assert res.code != 0 and "-m" in res.err, res.err     # the entry must change
    branch, head = w.promote("promote", f"{MODEL}@1.0.0", "--stage", "staging",
                             "-m", "Reviewed after the push to main")
    merge = merged(w, github, branch, head, ("carol-risk", head))
    res = reconcile(w, "--github")
    assert res.code == 0, res.out + res.err
    [again] = [c["tag"] for c in json.loads(res.out)["created"]]
    ev = evidence(w, again)
    assert (ev["via"], ev["pr"], ev["merge_commit"], ev["approvers"]) == \
        ("pull-request", w.pr, merge, ["carol-risk"]), ev
    assert w.cli(w.ci, "gate", MODEL, "--stage", "staging").code == 0


def test_a_merge_github_knows_no_pull_request_for_is_a_direct_push(world: World,  # noqa: F811
                                                                   github: FakeGitHub):
    w = world
    branch, head = w.register("1.0.0", b"w" * 50)
    merged(w, github, branch, head, ("grace-ds", head))
    assert reconcile(w, "--github").code == 0
    branch, _ = w.promote("promote", f"{MODEL}@1.0.0", "--stage", "staging")
    w.merge(branch)                          # merged by hand and pushed: no pull request
    assert reconcile(w, "--github").code == 0
    [tag] = stage_tags(w, "staging")
    assert evidence(w, tag)["via"] == "direct-push"
    res = w.cli(w.ci, "gate", MODEL, "--stage", "staging")
    assert res.code == 1 and "without a reviewed pull request" in res.out


def test_reviews_on_page_two_count(world: World, github: FakeGitHub):  # noqa: F811
    """101 reviews: the approval on page 1, the same reviewer's "changes requested" on
    page 2. Only the first page would read as approved."""
    w = world
    branch, head = w.register("1.0.0", b"w" * 50)
    merged(w, github, branch, head, ("grace-ds", head))
    assert reconcile(w, "--github").code == 0
    branch, head = w.promote("promote", f"{MODEL}@1.0.0", "--stage", "staging")
    chatter = [review("bob-ds", "COMMENTED", head, n, w.day) for n in range(2, 101)]
    reviews = [review("carol-risk", "APPROVED", head, 1, w.day), *chatter,
               review("carol-risk", "CHANGES_REQUESTED", head, 101, w.day)]
    number = w.pr + 1
    github.add_pull(number, "alice-ds", head, None, reviews)
    git(w.ds, "fetch", "-q", "origin")
    res = w.cli(w.ds, "check", "--changed-since", "origin/main", "--github", "--pr", str(number))
    assert res.code == 1 and "GOV-09" in res.out + res.err, res.out + res.err
    assert any("page=2" in p for p, _ in github.requests)
    github.reviews[number] = reviews[:-1]                 # without page 2: approved
    res = w.cli(w.ds, "check", "--changed-since", "origin/main", "--github", "--pr", str(number))
    assert res.code == 0, res.out + res.err

    # merged anyway (protection bypassed): reconcile reads page 2 too and records nothing
    github.reviews[number] = reviews
    w.merge(branch)
    github.add_pull(number, "alice-ds", head, w.head(w.admin), reviews)
    before = git(w.ci, "tag", "-l")
    res = reconcile(w, "--github")
    assert res.code == 1 and "GOV-09" in res.err and "no tag was created" in res.err, res.err
    assert git(w.ci, "tag", "-l") == before


@pytest.mark.parametrize("status,headers,hint", [
    (401, {}, "GITHUB_TOKEN"),
    (404, {}, "GITHUB_REPOSITORY"),
    (403, {"x-ratelimit-remaining": "0", "x-ratelimit-reset": "1780000000"}, "resets at"),
    (429, {"retry-after": "60"}, "retry after 60"),
    (403, {}, "pull-requests: read"),
])
def test_github_errors_stop_reconcile_and_check(world: World, github: FakeGitHub,  # noqa: F811
                                                status, headers, hint):
    w = world
    branch, head = w.register("1.0.0", b"w" * 50)
    merged(w, github, branch, head, ("grace-ds", head))
    github.fail("/reviews", status, headers, "it went wrong")
    res = reconcile(w, "--github")
    assert res.code == 3, res.out + res.err
    assert hint in res.err and "it went wrong" in res.err, res.err
    assert git(w.ci, "tag", "-l") == "" and git(w.admin, "ls-remote", "--tags", "origin") == ""
    res = w.cli(w.ds, "check", "--changed-since", "origin/main", "--github", "--pr", str(w.pr))
    assert res.code == 3, res.out + res.err


def test_an_unreachable_github_stops_reconcile(world: World, monkeypatch):  # noqa: F811
    w = world
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]                          # closed once the block ends
    monkeypatch.setenv("GITHUB_API_URL", f"http://127.0.0.1:{port}")
    monkeypatch.setenv("GITHUB_REPOSITORY", REPO)
    branch, head = w.register("1.0.0", b"w" * 50)
    w.merge(branch)
    res = reconcile(w, "--github")
    assert res.code == 3 and "could not reach GitHub" in res.err, res.err
    assert git(w.ci, "tag", "-l") == ""
    monkeypatch.delenv("GITHUB_REPOSITORY")
    res = reconcile(w, "--github")
    assert res.code == 3 and "GITHUB_REPOSITORY" in res.err, res.err


# --- honest: several merges between two runs, each with its own evidence -------------------

def test_several_reviewed_merges_between_runs_each_get_their_own_evidence(
        world: World, github: FakeGitHub):  # noqa: F811
    w = world
    merges = {}
    branch, head = w.register("1.0.0", b"w" * 50)
    merges[f"{MODEL}@v1.0.0"] = (merged(w, github, branch, head, ("grace-ds", head)), w.pr,
                                 "grace-ds")
    # the promotion names 1.0.0, registered by the merge before it but not yet tagged:
    # `promote` asks the tags, so this one is written by hand
    w.start_branch()
    git(w.ds, "checkout", "-q", "-b", "promote-by-hand")
    (w.ds / f"models/{MODEL}/stages.yaml").write_text("stages:\n  staging: 1.0.0\n")
    git(w.ds, "add", f"models/{MODEL}/stages.yaml")
    git(w.ds, "commit", "-qm", "Promote 1.0.0 to staging")
    git(w.ds, "push", "-q", "origin", "promote-by-hand")
    head = w.head(w.ds)
    merges["staging"] = (merged(w, github, "promote-by-hand", head, ("carol-risk", head)),
                         w.pr, "carol-risk")
    branch, head = w.register("1.1.0", b"v" * 50)
    merges[f"{MODEL}@v1.1.0"] = (merged(w, github, branch, head, ("grace-ds", head)), w.pr,
                                 "grace-ds")
    res = reconcile(w, "--github")
    assert res.code == 0, res.out + res.err
    assert len(json.loads(res.out)["created"]) == 3
    [staging] = stage_tags(w, "staging")
    for tag, (merge, pr, approver) in merges.items():
        ev = evidence(w, staging if tag == "staging" else tag)
        assert (ev["merge_commit"], ev["pr"], ev["approvers"], ev["head"]) == \
            (merge, pr, [approver], second_parent(w, merge)), (tag, ev)
    assert w.cli(w.ci, "gate", MODEL, "--stage", "staging").code == 0

    # the next run records only what came after, with its own pull request
    branch, head = w.promote("promote", f"{MODEL}@1.1.0", "--stage", "staging")
    merge = merged(w, github, branch, head, ("dave-risk", head))
    res = reconcile(w, "--github")
    assert [c["tag"] for c in json.loads(res.out)["created"]] == [f"{MODEL}#staging#2"]
    ev = evidence(w, f"{MODEL}#staging#2")
    assert (ev["merge_commit"], ev["pr"], ev["approvers"]) == (merge, w.pr, ["dave-risk"])
    assert w.cli(w.ci, "gate", MODEL, "--stage", "staging").code == 0
    assert json.loads(reconcile(w, "--github").out)["created"] == []


def test_recorded_reviews_per_merge_commit(world: World, tmp_path):  # noqa: F811
    """Without GitHub: ``--reviews-dir`` holds one file per merge commit."""
    w = world
    folder = tmp_path / "merges"
    folder.mkdir()
    branch, head = w.register("1.0.0", b"w" * 50)
    w.merge(branch)
    first = w.head(w.admin)
    (folder / f"{first}.json").write_text(json.dumps(
        {"pr": w.pr, "pr_author": "alice-ds",
         "reviews": [review("grace-ds", "APPROVED", head, 1, w.day)]}))
    git(w.ds, "checkout", "-q", "main")
    git(w.ds, "pull", "-q", "--ff-only", "origin", "main")
    (w.ds / f"models/{MODEL}/stages.yaml").write_text("stages:\n  staging: 1.0.0\n")
    git(w.ds, "add", f"models/{MODEL}/stages.yaml")
    git(w.ds, "commit", "-qm", "Promote 1.0.0 to staging")
    git(w.ds, "push", "-q", "origin", "HEAD:main")
    res = reconcile(w, "--reviews-dir", str(folder))
    assert res.code == 0, res.out + res.err
    assert evidence(w, f"{MODEL}@v1.0.0")["approvers"] == ["grace-ds"]
    assert evidence(w, stage_tags(w, "staging")[0])["via"] == "direct-push"


# --- the client --------------------------------------------------------------------------

def test_the_client_follows_every_page_and_only_to_the_api(github: FakeGitHub):
    head = "a" * 40
    github.add_pull(7, "alice-ds", head, None,
                    [review("bob-ds", "COMMENTED", head, n) for n in range(1, 251)])
    client = GitHub(REPO, token="t", api_url=github.url)
    got = client.reviews(7)
    assert [r["id"] for r in got] == list(range(1, 251))
    assert sum("/reviews" in p for p, _ in github.requests) == 3
    assert client.pull(7)["head"]["sha"] == head
    assert client.pulls_for_commit("b" * 40) == []
    assert next_link('<https://x/a?page=2>; rel="next", <https://x/a?page=3>; rel="last"') \
        == "https://x/a?page=2"
    assert next_link('<https://x/a?page=1>; rel="first"') is None

    class Elsewhere(FakeGitHub):
        def _page(self, path, query, items):
            status, headers, chunk = super()._page(path, query, items)
            if "Link" in headers:
                headers["Link"] = '<http://203.0.113.9/steal?page=2>; rel="next"'
            return status, headers, chunk

    other = Elsewhere()
    server = serve(other)
    try:
        other.add_pull(8, "alice-ds", head, None,
                       [review("bob-ds", "COMMENTED", head, n) for n in range(1, 150)])
        from modelreg.core.errors import CannotRunError
        with pytest.raises(CannotRunError, match="another host"):
            GitHub(REPO, token="t", api_url=other.url).reviews(8)
    finally:
        server.shutdown()
        server.server_close()


def test_the_workflows_read_reviews_through_modelreg():
    """The workflows let modelreg read GitHub (every page), not a one-page `gh api` call."""
    from conftest import PROJECT

    folder = PROJECT / ".github" / "workflows"
    reconcile_yml = (folder / "reconcile.yml").read_text()
    check_yml = (folder / "check.yml").read_text()
    assert "gh api" not in reconcile_yml and "gh api" not in check_yml
    assert "modelreg reconcile --push --github" in reconcile_yml
    assert "--github --pr" in check_yml
    assert "cancel-in-progress: false" in reconcile_yml
