"""Sign-off evidence: pull-request reviews in GitHub's REST shape, and who committed.

The approval policy itself is Rego (``policies/governance.rego``); this module only turns
what GitHub and git say into the ``review`` object the policies read:
``{"pr": N, "pr_author": login, "head": sha, "reviews": [...], "committers": [logins]}``.
"""
from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from modelreg.core.errors import CannotRunError, InputError, UsageError
from modelreg.core.timefmt import parse_time, rfc3339
from modelreg.core.yamlio import load
from modelreg.store.codeowners import PATH, owners_of
from modelreg.store.config import Person, RegistryConfig, Team
from modelreg.store.git import Git

if TYPE_CHECKING:
    from modelreg.store.github import GitHub

_SHA = re.compile(r"^[0-9a-f]{40}$")
STATES = {"APPROVED", "CHANGES_REQUESTED", "COMMENTED", "DISMISSED", "PENDING"}


def load_reviews(path: str) -> list[dict[str, Any]]:
    """The JSON of ``GET /repos/{owner}/{repo}/pulls/{n}/reviews`` in a file, checked and
    reduced to the fields the policies read (see :func:`parse_reviews`)."""
    return parse_reviews(load(path).data, path)


def parse_reviews(data: Any, source: str) -> list[dict[str, Any]]:
    """GitHub's list of a pull request's reviews (every page), checked and reduced to the
    fields the policies read (user.login, state, commit_id, submitted_at); ``source`` names
    where it came from in errors."""
    if not isinstance(data, list):
        raise InputError("expected the JSON list GitHub returns for a pull request's reviews",
                         file=source, hint="fetch /repos/OWNER/REPO/pulls/N/reviews")
    out = []
    for i, review in enumerate(data):
        user = review.get("user") if isinstance(review, dict) else None
        login = user.get("login") if isinstance(user, dict) else None
        state = review.get("state") if isinstance(review, dict) else None
        commit = review.get("commit_id") if isinstance(review, dict) else None
        if not isinstance(login, str) or state not in STATES or \
                not (isinstance(commit, str) and _SHA.match(commit)):
            raise InputError(f"review [{i}] lacks user.login, a known state or a 40-hex "
                             "commit_id", file=source, hint="pass the API's JSON unchanged")
        out.append({"user": {"login": login}, "state": state, "commit_id": commit,
                    "submitted_at": str(review.get("submitted_at") or "")})
    # GitHub lists reviews oldest first; keep that order explicit for "latest review wins".
    out.sort(key=lambda r: r["submitted_at"])
    return out


def logins_by_email(people: Mapping[str, Person]) -> dict[str, str]:
    out = {}
    for login, person in people.items():
        for email in (person.email, *person.emails):
            if isinstance(email, str):
                out[email.lower()] = login
    return out


def committers(git: Git, base: str | None, head: str, people: Mapping[str, Person]
               ) -> list[str]:
    """Logins (or e-mails, when unknown) of everyone who authored or committed ``base..head``."""
    rng = f"{base}..{head}" if base else head
    out = git.run("log", "--format=%ae%x00%ce", rng, "--", check=False)
    known = logins_by_email(people)
    found = set()
    for line in out.splitlines():
        for email in line.split("\0"):
            email = email.strip().lower()
            if email:
                found.add(known.get(email, email))
    return sorted(found)


def approvers(review: dict[str, Any]) -> list[str]:
    """Logins whose latest decisive review approves the head commit (summary for humans;
    the policies decide what counts)."""
    latest: dict[str, dict] = {}
    for r in review.get("reviews") or []:
        if r["state"] in ("APPROVED", "CHANGES_REQUESTED", "DISMISSED"):
            latest[r["user"]["login"]] = r
    return sorted(login for login, r in latest.items()
                  if r["state"] == "APPROVED" and r["commit_id"] == review.get("head"))


def approvals(review: dict[str, Any]) -> dict[str, str | None]:
    """Login -> ``submitted_at`` (RFC 3339, None when missing or invalid) of each approval
    on the head commit that no later review of the same person revoked, leaving out the pull
    request's author and committers.

    This is who vouched for what the pull request changes: a record field that names an
    approver (a waiver's ``approved_by``, a validation's ``validator``) counts only when that
    person is here."""
    head = review.get("head")
    outsiders = {review.get("pr_author"), *(review.get("committers") or [])}
    out: dict[str, str | None] = {}
    for r in review.get("reviews") or []:
        login = (r.get("user") or {}).get("login") if isinstance(r, dict) else None
        if not isinstance(login, str):
            continue
        if r.get("state") in ("CHANGES_REQUESTED", "DISMISSED"):
            out.pop(login, None)
        elif r.get("state") == "APPROVED" and r.get("commit_id") == head \
                and login not in outsiders:
            try:
                out[login] = rfc3339(parse_time(str(r.get("submitted_at") or "")))
            except UsageError:
                out[login] = None
    return out


def owners(git: Git, base: str | None, head: str, people: Mapping[str, Person],
           teams: Mapping[str, Team], rules: str | None = None) -> dict[str, list[str]]:
    """For each file the change touches, the logins that may approve it as code owners.

    GitHub reads CODEOWNERS from the pull request's base branch, so a change cannot appoint
    its own reviewers; the file at ``rules`` (the revision whose rules judge, by default
    ``base``; the head's when there is neither) is used. ``people`` and ``teams`` should come
    from the same revision."""
    rng = f"{base}...{head}" if base else head
    # every path, deleted ones too; without rename detection a policy moved into a model's
    # folder is also a policy deleted, which its owners must approve
    changed = [p for p in git.run("diff", "--name-only", "--no-renames", "-z", rng, "--",
                                  check=False).split("\0") if p] if base else []
    text = git.run("show", f"{rules or base or head}:{PATH}", check=False)
    if not text:
        return {p: [] for p in changed}
    members: dict[str, set[str]] = {}
    handle_of = {t.github: name for name, t in teams.items()}
    for login, person in people.items():
        for team in person.teams:
            members.setdefault(team, set()).add(login)
    out = {}
    for path in changed:
        allowed: set[str] = set()
        for owner in owners_of(text, path):
            if owner in handle_of:
                allowed |= members.get(handle_of[owner], set())
            elif owner.startswith("@") and "/" not in owner:
                allowed.add(owner[1:])
        out[path] = sorted(allowed)
    return out


def review_input(git: Git, *, pr_author: str, head: str, base: str | None,
                 config: RegistryConfig, reviews_file: str | None = None,
                 reviews: list[dict[str, Any]] | None = None,
                 pr: int | None = None, rules: str | None = None) -> dict[str, Any]:
    """The policies' ``review`` object for a pull request: its reviews (from
    ``reviews_file``, or ``reviews`` already checked by :func:`parse_reviews`), who
    committed to it and who may approve each file it changes since ``base`` (people and
    teams from ``config``, CODEOWNERS at ``rules``: both of the revision whose rules
    judge)."""
    if not _SHA.match(head):
        resolved = git.run("rev-parse", "--verify", "-q", f"{head}^{{commit}}", check=False).strip()
        if not resolved:
            raise UsageError(f"--head {head}: no such commit")
        head = resolved
    return {"pr": pr, "pr_author": pr_author, "head": head,
            "reviews": load_reviews(reviews_file) if reviews_file is not None
            else list(reviews or []),
            "committers": committers(git, base, head, config.people),
            "owners": owners(git, base, head, config.people, config.teams, rules)}


def review_from_evidence(evidence: dict[str, Any]) -> dict[str, Any]:
    """The policies' ``review`` object rebuilt from a tag's evidence block: on the protected
    branch there is no pull request to ask, the approvals reconcile recorded are the evidence."""
    return {"pr": evidence.get("pr"), "pr_author": evidence.get("pr_author"),
            "head": evidence.get("head"), "reviews": list(evidence.get("reviews") or []),
            "committers": list(evidence.get("committers") or []),
            "owners": dict(evidence.get("owners") or {})}


def _recorded_reviews(evidence: dict[str, Any]) -> list[dict[str, Any]]:
    """The reviews a tag recorded, in GitHub's shape, leaving out malformed entries."""
    out = []
    for r in evidence.get("reviews") or [] if isinstance(evidence.get("reviews"), list) else []:
        user = r.get("user") if isinstance(r, dict) else None
        login = user.get("login") if isinstance(user, dict) else None
        if isinstance(login, str) and r.get("state") in STATES and \
                isinstance(r.get("commit_id"), str):
            out.append({"user": {"login": login}, "state": r["state"],
                        "commit_id": r["commit_id"],
                        "submitted_at": str(r.get("submitted_at") or "")})
    out.sort(key=lambda r: r["submitted_at"])
    return out


def review_at_merge(git: Git, evidence: dict[str, Any], merge: str,
                    config: RegistryConfig) -> dict[str, Any]:
    """The policies' ``review`` object for an event bound to ``merge`` (a commit on the
    protected branch): the reviews the tag recorded, with who committed to the pull request
    and who owns each file it changed computed from git and from ``config`` and CODEOWNERS
    at the merge commit. The evidence's own ``approvers``, ``owners`` and ``committers``
    are free text anyone could have written: they are never read. A merge that is not the
    recorded pull request's (its second parent is not the recorded head) has no review."""
    parents = git.run("rev-list", "--parents", "-n1", merge, check=False).split()[1:]
    head = evidence.get("head")
    if evidence.get("pr") is None or len(parents) < 2 or parents[1] != head:
        return {"pr": None, "pr_author": None, "head": None, "reviews": [], "committers": [],
                "owners": {}}
    base = parents[0]
    return {"pr": evidence.get("pr"), "pr_author": evidence.get("pr_author"), "head": head,
            "reviews": _recorded_reviews(evidence),
            "committers": committers(git, base, head, config.people),
            "owners": owners(git, base, head, config.people, config.teams, rules=merge)}


def vouched(review: dict[str, Any]) -> list[str]:
    """Who approved the head commit and owns at least one file the change touches: the
    approvers a reader is shown."""
    owning = {login for logins in (review.get("owners") or {}).values() for login in logins}
    return sorted(login for login in approvals(review) if login in owning)


# How a change reached the protected branch, as reconcile records it in a tag's evidence
# (``via``): through a pull request whose reviews are recorded, or without one.
VIA_PULL_REQUEST = "pull-request"
VIA_DIRECT_PUSH = "direct-push"


def reached_without_review(evidence: dict[str, Any]) -> bool:
    """True when a tag's evidence says its change reached the protected branch without a
    pull request: ``via: direct-push``, or (tags recorded before ``via`` existed) no pull
    request at all."""
    return evidence.get("via") == VIA_DIRECT_PUSH or evidence.get("pr") is None


@dataclass(frozen=True)
class PullRequest:
    """The pull request that merged a commit: its number, author and reviews (checked by
    :func:`parse_reviews`; None when only its number is known)."""

    number: int | None
    author: str | None = None
    reviews: list[dict[str, Any]] | None = None


def merged_by(github: GitHub, commit: str) -> PullRequest | None:
    """The pull request whose merge commit is ``commit``, with every page of its reviews, as
    GitHub says; None when GitHub knows of none (the commit was pushed, or merged by hand)."""
    for pull in github.pulls_for_commit(commit):
        if isinstance(pull, dict) and pull.get("merge_commit_sha") == commit \
                and pull.get("merged_at") and isinstance(pull.get("number"), int):
            number = pull["number"]
            author = (pull.get("user") or {}).get("login")
            return PullRequest(number, author if isinstance(author, str) else None,
                               parse_reviews(github.reviews(number),
                                             f"GitHub pull request #{number}'s reviews"))
    return None


def open_pull_request(github: GitHub, number: int) -> tuple[str, str, list[dict[str, Any]]]:
    """A pull request's author, head commit and every page of its reviews, from GitHub."""
    pull = github.pull(number)
    author = (pull.get("user") or {}).get("login")
    head = (pull.get("head") or {}).get("sha")
    if not isinstance(author, str) or not (isinstance(head, str) and _SHA.match(head)):
        raise CannotRunError(f"GitHub's pull request #{number} has no author or head commit",
                             hint="check GITHUB_API_URL and GITHUB_REPOSITORY")
    return author, head, parse_reviews(github.reviews(number),
                                       f"GitHub pull request #{number}'s reviews")


def recorded_pull_request(directory: str, commit: str) -> PullRequest | None:
    """The pull request recorded for merge ``commit`` in ``directory/<commit>.json``
    (``{"pr": N, "pr_author": LOGIN, "reviews": [GitHub's reviews]}``), or None without
    such a file."""
    path = Path(directory) / f"{commit}.json"
    if not path.is_file():
        return None
    data = load(str(path)).data
    number = data.get("pr") if isinstance(data, dict) else None
    author = data.get("pr_author") if isinstance(data, dict) else None
    if not isinstance(number, int) or isinstance(number, bool) or not isinstance(author, str):
        raise InputError("expected {\"pr\": N, \"pr_author\": LOGIN, \"reviews\": [...]}",
                         file=str(path), hint="one file per merge commit, named by its id")
    return PullRequest(number, author, parse_reviews(data.get("reviews"), str(path)))
