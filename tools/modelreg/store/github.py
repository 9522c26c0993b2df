"""A small client of GitHub's REST API: which pull request merged a commit, its reviews (every
page) and its author and head; the issues ``modelreg due --sync-issues`` keeps (list every page,
create, update, close).

Configured as GitHub Actions configures a job: the token from ``GITHUB_TOKEN`` (or
``GH_TOKEN``), the API's address from ``GITHUB_API_URL`` (default ``https://api.github.com``,
a GitHub Enterprise Server gives its own) and the repository from ``GITHUB_REPOSITORY``
(``owner/name``). Lists are read 100 to a page, following ``Link: <…>; rel="next"`` to the
end: GitHub's review list is paginated, and a "changes requested" on page 2 counts as much as
one on page 1. Any failure (refused token, unknown repository, rate limit, network) is a
:class:`CannotRunError`: the caller never mistakes a failed call for "no reviews".
"""
from __future__ import annotations

import json
import re
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from typing import Any

from modelreg.core.errors import CannotRunError

DEFAULT_API_URL = "https://api.github.com"
PER_PAGE = 100
MAX_PAGES = 100                      # 10,000 items: far beyond any pull request's reviews
_LINK = re.compile(r'<([^>]*)>\s*;\s*rel="?([^";]+)"?')
_REPO = re.compile(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$")
_ENV_HINT = ("set GITHUB_REPOSITORY (owner/name), GITHUB_TOKEN or GH_TOKEN, and GITHUB_API_URL "
             "for GitHub Enterprise Server; in a workflow, give the job `pull-requests: read`")


def next_link(header: str | None) -> str | None:
    """The ``rel="next"`` address of a ``Link`` header (RFC 8288), or None on the last page."""
    for url, rels in _LINK.findall(header or ""):
        if "next" in rels.split():
            return url
    return None


class GitHub:
    """GitHub's REST API for one repository. Nothing is cached; every call is a request."""

    def __init__(self, repository: str, *, token: str | None = None,
                 api_url: str = DEFAULT_API_URL, timeout: float = 30.0) -> None:
        if not _REPO.match(repository or ""):
            raise CannotRunError(f"GitHub repository {repository!r} is not owner/name",
                             hint=_ENV_HINT)
        parsed = urllib.parse.urlsplit(api_url)
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            raise CannotRunError(f"GitHub API address {api_url!r} is not an http(s) URL",
                             hint=_ENV_HINT)
        self.repository = repository
        self.api_url = api_url.rstrip("/")
        self.token = token
        self.timeout = timeout
        self._origin = (parsed.scheme, parsed.netloc)

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> GitHub:
        """The client a GitHub Actions job gets from its environment."""
        repository = environ.get("GITHUB_REPOSITORY", "")
        if not repository:
            raise CannotRunError("GITHUB_REPOSITORY is not set: which repository's pull requests?",
                             hint=_ENV_HINT)
        return cls(repository, token=environ.get("GITHUB_TOKEN") or environ.get("GH_TOKEN"),
                   api_url=environ.get("GITHUB_API_URL") or DEFAULT_API_URL)

    # --- the three questions reconcile and check ask ---------------------------------
    def pulls_for_commit(self, sha: str) -> list[dict[str, Any]]:
        """``GET /repos/{repo}/commits/{sha}/pulls``: the pull requests a commit belongs to
        (for a merge commit on the base branch, the one it merged), every page."""
        return self._list(f"commits/{sha}/pulls")

    def reviews(self, pr: int) -> list[dict[str, Any]]:
        """``GET /repos/{repo}/pulls/{pr}/reviews``: every review, oldest first, every page."""
        return self._list(f"pulls/{int(pr)}/reviews")

    def pull(self, pr: int) -> dict[str, Any]:
        """``GET /repos/{repo}/pulls/{pr}``: the pull request (``user.login``, ``head.sha``,
        ``merge_commit_sha``, ``merged_at`` …)."""
        data, _ = self._get(self._url(f"pulls/{int(pr)}"))
        if not isinstance(data, dict):
            raise CannotRunError(f"GitHub answered pull request #{pr} with {type(data).__name__}"
                                 ", not an object", hint="check GITHUB_API_URL")
        return data

    # --- issues (modelreg due --sync-issues) -----------------------------------------
    def issues(self, *, labels: str | None = None, state: str = "open") -> list[dict[str, Any]]:
        """``GET /repos/{repo}/issues``: every issue (and pull request: GitHub lists both;
        a pull request has ``pull_request``) with all of ``labels`` in ``state``, every page."""
        query = {"state": state, **({"labels": labels} if labels else {})}
        return self._list("issues", query)

    def create_issue(self, title: str, body: str, labels: list[str]) -> dict[str, Any]:
        """``POST /repos/{repo}/issues``: the issue as GitHub made it (``number`` …)."""
        return self._object("POST", "issues", {"title": title, "body": body,
                                               "labels": labels})

    def update_issue(self, number: int, **fields: Any) -> dict[str, Any]:
        """``PATCH /repos/{repo}/issues/{number}``: ``title``, ``body``, ``state`` (open,
        closed), ``state_reason`` (completed, not_planned, reopened), ``labels``."""
        return self._object("PATCH", f"issues/{int(number)}", fields)

    def _object(self, method: str, path: str, body: dict[str, Any]) -> dict[str, Any]:
        data, _ = self._get(self._url(path), method=method, body=body)
        if not isinstance(data, dict):
            raise CannotRunError(f"GitHub answered {method} {path} with "
                                 f"{type(data).__name__}, not an object",
                                 hint="check GITHUB_API_URL")
        return data

    # --- transport --------------------------------------------------------------------
    def _url(self, path: str) -> str:
        return f"{self.api_url}/repos/{self.repository}/{path}"

    def _list(self, path: str, query: Mapping[str, str] | None = None) -> list[dict[str, Any]]:
        params = urllib.parse.urlencode({**(query or {}), "per_page": PER_PAGE})
        url: str | None = f"{self._url(path)}?{params}"
        items: list[dict[str, Any]] = []
        for _ in range(MAX_PAGES):
            if url is None:
                return items
            data, headers = self._get(url)
            if not isinstance(data, list):
                raise CannotRunError(f"GitHub answered {path} with {type(data).__name__}, not "
                                     "a list", hint="check GITHUB_API_URL")
            items.extend(data)
            url = next_link(headers.get("Link"))
            if url is not None:
                parsed = urllib.parse.urlsplit(url)
                # the token goes only where the API is
                if (parsed.scheme, parsed.netloc) != self._origin:
                    raise CannotRunError(f"GitHub's next page of {path} is on another host "
                                         f"({parsed.netloc})", hint="check GITHUB_API_URL")
        raise CannotRunError(f"GitHub's list {path} has more than {MAX_PAGES} pages",
                             hint="report this: no pull request has that many")

    def _get(self, url: str, *, method: str = "GET", body: Any = None
             ) -> tuple[Any, Mapping[str, str]]:
        headers = {"Accept": "application/vnd.github+json",
                   "X-GitHub-Api-Version": "2022-11-28", "User-Agent": "modelreg"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        request = urllib.request.Request(url, headers=headers, data=data, method=method)
        where = url.split("?")[0]
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                body = response.read()
                got = response.headers
        except urllib.error.HTTPError as exc:
            raise _http_error(exc, where) from None
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise CannotRunError(f"could not reach GitHub at {self.api_url}: {reason}",
                                 hint="check the network and GITHUB_API_URL, then run it "
                                      "again") from None
        try:
            return json.loads(body), got
        except ValueError:
            raise CannotRunError(f"GitHub's answer to {where} is not JSON",
                                 hint="check GITHUB_API_URL") from None


def _http_error(exc: urllib.error.HTTPError, where: str) -> CannotRunError:
    headers = exc.headers or {}
    try:
        message = json.loads(exc.read() or b"{}").get("message") or ""
    except (ValueError, AttributeError, OSError):
        message = ""
    said = f" ({message})" if message else ""
    if exc.code == 401:
        return CannotRunError(f"GitHub refused the token for {where}: 401{said}",
                              hint="set GITHUB_TOKEN (or GH_TOKEN) to a valid token")
    if exc.code == 429 or (exc.code == 403 and (headers.get("x-ratelimit-remaining") == "0"
                                                 or headers.get("retry-after")
                                                 or "rate limit" in message.lower())):
        when = headers.get("retry-after")
        reset = headers.get("x-ratelimit-reset")
        wait = (f"retry after {when} s" if when else
                f"the limit resets at {reset} (Unix time)" if reset else "retry later")
        return CannotRunError(f"GitHub's rate limit stopped the call to {where}: "
                              f"{exc.code}{said}",
                              hint=f"{wait}; nothing was recorded, so run it again then")
    if exc.code == 403:
        return CannotRunError(f"GitHub forbade {where}: 403{said}",
                              hint="give the token read access to pull requests "
                                   "(`pull-requests: read`), or `issues: write` for "
                                   "`modelreg due --sync-issues`")
    if exc.code == 404:
        return CannotRunError(f"GitHub has no {where}: 404{said}",
                              hint="check GITHUB_REPOSITORY and that the token can read it")
    return CannotRunError(f"GitHub answered {where} with {exc.code}{said}",
                          hint="run it again; if it persists, check GitHub's status")
