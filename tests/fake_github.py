"""A GitHub REST API on 127.0.0.1 for tests: the documented shapes of the three endpoints
modelreg reads (a commit's pull requests, a pull request, its reviews) and of the issues
``modelreg due --sync-issues`` keeps (list with state and labels, create, update), pages of
``per_page`` items linked by ``Link: <…>; rel="next"``, and errors on demand; and the three
endpoints ``modelreg doctor``'s settings are sent to, ``POST /repos/{owner}/{repo}/rulesets``,
``PUT /repos/{owner}/{repo}/environments/{name}`` and ``POST
.../environments/{name}/deployment-branch-policies``, which check each body against the
request schema GitHub's REST API documents (required fields, types, enums, each rule type's
parameters, patterns a ruleset's target accepts) and answer 422 "Validation Failed" with
the reasons, as GitHub does. Started in a thread by a fixture and stopped by it."""
from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

REPO = "example-org/registry"


def review(login: str, state: str, commit: str, n: int, day: int = 1) -> dict[str, Any]:
    """One review as GitHub lists it."""
    return {"id": n, "node_id": f"PRR_{n}", "user": {"login": login, "id": 1000 + n,
                                                       "type": "User"},
            "body": "", "state": state, "commit_id": commit, "author_association": "MEMBER",
            "html_url": f"https://github.com/{REPO}/pull/1#pullrequestreview-{n}",
            "submitted_at": f"2026-06-{day:02d}T{n // 60 % 24:02d}:{n % 60:02d}:00Z"}


@dataclass
class FakeGitHub:
    url: str = ""
    repo: str = REPO                 # the one repository it holds, OWNER/NAME
    pulls: dict[int, dict[str, Any]] = field(default_factory=dict)
    reviews: dict[int, list[dict[str, Any]]] = field(default_factory=dict)
    errors: dict[str, tuple[int, dict[str, str], str]] = field(default_factory=dict)
    requests: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    rulesets: list[dict[str, Any]] = field(default_factory=list)
    environments: dict[str, dict[str, Any]] = field(default_factory=dict)
    branch_policies: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    issues: dict[int, dict[str, Any]] = field(default_factory=dict)
    writes: list[tuple[str, str, Any]] = field(default_factory=list)   # (method, path, body)

    def add_issue(self, title: str, body: str, labels: list[str], state: str = "open",
                  pull_request: bool = False) -> dict[str, Any]:
        """An issue (or a pull request, which GitHub's issue list shows too)."""
        number = max([0, *self.issues, *self.pulls]) + 1
        issue = {"url": f"{self.url}/repos/{self.repo}/issues/{number}", "id": 9000 + number,
                 "node_id": f"I_{number}", "number": number, "title": title, "body": body,
                 "state": state, "state_reason": None,
                 "labels": [{"id": 100 + i, "name": n, "color": "ededed"}
                            for i, n in enumerate(labels)],
                 "user": {"login": "someone", "type": "User"}, "comments": 0,
                 "created_at": "2026-11-01T00:00:00Z", "updated_at": "2026-11-01T00:00:00Z",
                 "closed_at": None if state == "open" else "2026-11-02T00:00:00Z"}
        if pull_request:
            issue["pull_request"] = {"url": f"{self.url}/repos/{self.repo}/pulls/{number}"}
        self.issues[number] = issue
        return issue

    def add_pull(self, number: int, author: str, head: str, merge_commit: str | None,
                 reviews: list[dict[str, Any]]) -> None:
        """A pull request, merged by ``merge_commit`` (None: still open)."""
        self.pulls[number] = {
            "url": f"{self.url}/repos/{self.repo}/pulls/{number}", "id": 5000 + number,
            "number": number, "state": "closed" if merge_commit else "open",
            "title": f"Pull request {number}", "user": {"login": author, "type": "User"},
            "head": {"ref": f"branch-{number}", "sha": head},
            "base": {"ref": "main", "sha": "0" * 40},
            "merge_commit_sha": merge_commit,
            "merged_at": "2026-06-01T10:00:00Z" if merge_commit else None}
        self.reviews[number] = reviews

    def fail(self, path_part: str, status: int, headers: dict[str, str] | None = None,
             message: str = "error") -> None:
        """Answer every request whose path contains ``path_part`` with ``status``."""
        self.errors[path_part] = (status, headers or {}, message)

    def answer(self, path: str, query: dict[str, list[str]]) -> tuple[int, dict[str, str], Any]:
        for part, (status, headers, message) in self.errors.items():
            if part in path:
                return status, headers, {"message": message,
                                         "documentation_url": "https://docs.github.com/rest"}
        prefix = f"/repos/{self.repo}/"
        if not path.startswith(prefix):
            return 404, {}, {"message": "Not Found"}
        rest = path[len(prefix):]
        if m := re.fullmatch(r"commits/([0-9a-f]{40})/pulls", rest):
            items = [p for p in self.pulls.values() if p["merge_commit_sha"] == m.group(1)]
            return self._page(path, query, items)
        if m := re.fullmatch(r"pulls/(\d+)/reviews", rest):
            number = int(m.group(1))
            if number not in self.pulls:
                return 404, {}, {"message": "Not Found"}
            return self._page(path, query, self.reviews[number])
        if rest == "issues":
            # GET /repos/{owner}/{repo}/issues: state open (default), closed or all; labels a
            # comma-separated list the issue must all carry; newest first
            state = (query.get("state") or ["open"])[0]
            if state not in ("open", "closed", "all"):
                return 422, {}, {"message": "Validation Failed"}
            wanted = [x for x in (query.get("labels") or [""])[0].split(",") if x]
            items = [i for i in sorted(self.issues.values(), key=lambda i: -i["number"])
                     if (state == "all" or i["state"] == state)
                     and set(wanted) <= {lb["name"] for lb in i["labels"]}]
            return self._page(path, query, items)
        if m := re.fullmatch(r"pulls/(\d+)", rest):
            number = int(m.group(1))
            if number not in self.pulls:
                return 404, {}, {"message": "Not Found"}
            return 200, {}, self.pulls[number]
        return 404, {}, {"message": "Not Found"}

    def _page(self, path: str, query: dict[str, list[str]], items: list) -> tuple:
        per_page = min(int((query.get("per_page") or ["30"])[0]), 100)
        page = int((query.get("page") or ["1"])[0])
        chunk = items[(page - 1) * per_page: page * per_page]
        headers = {}
        last = max(1, -(-len(items) // per_page))
        links = []
        # as GitHub: the links keep the list's other parameters (state, labels …)
        rest = "".join(f"&{k}={quote(v[0], safe=',')}" for k, v in sorted(query.items())
                       if k not in ("per_page", "page"))
        if page < last:
            links.append(f'<{self.url}{path}?per_page={per_page}&page={page + 1}{rest}>; '
                         'rel="next"')
            links.append(f'<{self.url}{path}?per_page={per_page}&page={last}{rest}>; rel="last"')
        if page > 1:
            links.append(f'<{self.url}{path}?per_page={per_page}&page=1{rest}>; rel="first"')
        if links:
            headers["Link"] = ", ".join(links)
        return 200, headers, chunk


    def write(self, method: str, path: str, raw: bytes) -> tuple[int, dict[str, str], Any]:
        """A POST or PUT: the ruleset or environment, or 422 with what the body gets wrong."""
        prefix = f"/repos/{self.repo}/"
        if not path.startswith(prefix):
            return 404, {}, {"message": "Not Found"}
        rest = path[len(prefix):]
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            return 400, {}, {"message": "Problems parsing JSON"}
        if method == "POST" and rest == "issues":
            self.writes.append((method, rest, body))
            if not isinstance(body.get("title"), str) or not body["title"]:
                return 422, {}, {"message": "Validation Failed",
                                 "errors": [{"field": "title", "code": "missing_field"}]}
            if set(body) - {"title", "body", "labels", "assignees", "milestone", "type"}:
                return 422, {}, {"message": "Validation Failed"}
            made = self.add_issue(body["title"], body.get("body") or "",
                                  list(body.get("labels") or []))
            return 201, {}, made
        if method == "PATCH" and (m := re.fullmatch(r"issues/(\d+)", rest)):
            self.writes.append((method, rest, body))
            issue = self.issues.get(int(m.group(1)))
            if issue is None:
                return 404, {}, {"message": "Not Found"}
            if set(body) - {"title", "body", "state", "state_reason", "labels", "assignees",
                            "milestone", "type"}:
                return 422, {}, {"message": "Validation Failed"}
            if body.get("state", "open") not in ("open", "closed") or body.get(
                    "state_reason") not in (None, "completed", "not_planned", "reopened"):
                return 422, {}, {"message": "Validation Failed"}
            for k in ("title", "body", "state", "state_reason"):
                if k in body:
                    issue[k] = body[k]
            if "labels" in body:
                issue["labels"] = [{"id": 100 + i, "name": n, "color": "ededed"}
                                   for i, n in enumerate(body["labels"])]
            issue["closed_at"] = None if issue["state"] == "open" else "2026-11-30T00:00:00Z"
            return 200, {}, issue
        if method == "POST" and rest == "rulesets":
            errors = ruleset_errors(body)
            if errors:
                return 422, {}, {"message": "Validation Failed", "errors": errors}
            made = {"id": len(self.rulesets) + 1, "source_type": "Repository", "source": self.repo,
                    **body}
            self.rulesets.append(made)
            return 201, {}, made
        if method == "PUT" and (m := re.fullmatch(r"environments/([^/]+)", rest)):
            errors = environment_errors(body)
            if errors:
                return 422, {}, {"message": "Validation Failed", "errors": errors}
            self.environments[m.group(1)] = body
            self.branch_policies.setdefault(m.group(1), [])
            return 200, {}, {"id": len(self.environments), "name": m.group(1),
                             "deployment_branch_policy": body.get("deployment_branch_policy")}
        if method == "POST" and (m := re.fullmatch(
                r"environments/([^/]+)/deployment-branch-policies", rest)):
            name = m.group(1)
            policy = self.environments.get(name, {}).get("deployment_branch_policy") or {}
            if not policy.get("custom_branch_policies"):
                return 404, {}, {"message": "Not Found"}     # as GitHub: no custom policies
            errors = branch_policy_errors(body)
            if errors:
                return 422, {}, {"message": "Validation Failed", "errors": errors}
            self.branch_policies[name].append(body)
            return 200, {}, {"id": len(self.branch_policies[name]), **body}
        return 404, {}, {"message": "Not Found"}


# --- the request schemas of the two settings endpoints, as GitHub documents them ----------
ENFORCEMENT = {"disabled", "active", "evaluate"}
TARGETS = {"branch", "tag", "push"}
ACTOR_TYPES = {"Integration", "OrganizationAdmin", "RepositoryRole", "Team", "DeployKey"}
BYPASS_MODES = {"always", "pull_request", "exempt"}
PULL_REQUEST_PARAMETERS = {"dismiss_stale_reviews_on_push": bool,
                           "require_code_owner_review": bool,
                           "require_last_push_approval": bool,
                           "required_approving_review_count": int,
                           "required_review_thread_resolution": bool}
# rule type -> the parameters it requires (None: it takes none)
RULES: dict[str, dict[str, type] | None] = {
    "creation": None, "update": {}, "deletion": None, "required_linear_history": None,
    "required_signatures": None, "non_fast_forward": None,
    "pull_request": PULL_REQUEST_PARAMETERS,
    "required_status_checks": {"required_status_checks": list,
                               "strict_required_status_checks_policy": bool},
}
OPTIONAL_PARAMETERS = {"pull_request": {"allowed_merge_methods", "required_reviewers",
                                       "automatic_copilot_code_review_enabled"},
                       "required_status_checks": {"do_not_enforce_on_create"},
                       "update": {"update_allows_fetch_and_merge"}}
MERGE_METHODS = {"merge", "squash", "rebase"}
BRANCH_ONLY = {"pull_request", "required_status_checks", "required_linear_history"}


def _typed(value: Any, kind: type) -> bool:
    return isinstance(value, kind) and not (kind is int and isinstance(value, bool))


def ruleset_errors(body: Any) -> list[str]:
    """What GitHub would refuse in a ruleset's POST body (empty: it takes it)."""
    if not isinstance(body, dict):
        return ["the body is not an object"]
    errors = [f"unknown field {k!r}" for k in body
              if k not in {"name", "target", "enforcement", "bypass_actors", "conditions",
                           "rules"}]
    if not isinstance(body.get("name"), str) or not body.get("name"):
        errors.append("name is required")
    if body.get("enforcement") not in ENFORCEMENT:
        errors.append(f"enforcement must be one of {sorted(ENFORCEMENT)}")
    target = body.get("target", "branch")
    if target not in TARGETS:
        errors.append(f"target must be one of {sorted(TARGETS)}")
    for actor in body.get("bypass_actors") or []:
        if not isinstance(actor, dict) or actor.get("actor_type") not in ACTOR_TYPES:
            errors.append(f"bypass actor {actor!r}: actor_type must be one of "
                          f"{sorted(ACTOR_TYPES)}")
            continue
        if actor["actor_type"] != "DeployKey" and not (
                _typed(actor.get("actor_id"), int) and actor["actor_id"] > 0):
            errors.append(f"bypass actor {actor!r}: actor_id must be the actor's id")
        if actor.get("bypass_mode", "always") not in BYPASS_MODES:
            errors.append(f"bypass actor {actor!r}: bypass_mode must be one of "
                          f"{sorted(BYPASS_MODES)}")
    ref_name = (body.get("conditions") or {}).get("ref_name")
    if not isinstance(ref_name, dict) or not all(
            isinstance(ref_name.get(k), list) and all(isinstance(p, str) for p in ref_name[k])
            for k in ("include", "exclude")):
        errors.append("conditions.ref_name needs include and exclude, lists of patterns")
    else:
        prefix = "refs/tags/" if target == "tag" else "refs/heads/"
        specials = {"~ALL"} | ({"~DEFAULT_BRANCH"} if target == "branch" else set())
        for pattern in ref_name["include"] + ref_name["exclude"]:
            if pattern not in specials and not pattern.startswith(prefix):
                errors.append(f"{pattern!r} is no {target} pattern (refs: {prefix}…)")
    rules = body.get("rules")
    if not isinstance(rules, list) or not rules:
        errors.append("rules must be a non-empty list")
        rules = []
    for rule in rules:
        kind = rule.get("type") if isinstance(rule, dict) else None
        if kind not in RULES:
            errors.append(f"unknown rule {rule!r}")
            continue
        if target == "tag" and kind in BRANCH_ONLY:
            errors.append(f"rule {kind} does not apply to tags")
        extra = set(rule) - {"type", "parameters"}
        if extra:
            errors.append(f"rule {kind}: unknown fields {sorted(extra)}")
        wanted = RULES[kind]
        params = rule.get("parameters")
        if wanted is None:
            if params is not None:
                errors.append(f"rule {kind} takes no parameters")
            continue
        if params is None and not wanted:
            continue
        if not isinstance(params, dict):
            errors.append(f"rule {kind} needs parameters")
            continue
        for key, kind_of in wanted.items():
            if not _typed(params.get(key), kind_of):
                errors.append(f"rule {kind}: parameter {key} must be a {kind_of.__name__}")
        if kind == "pull_request" and "allowed_merge_methods" in params:
            methods = params["allowed_merge_methods"]
            if not isinstance(methods, list) or not methods or not set(methods) <= MERGE_METHODS:
                errors.append(f"allowed_merge_methods must list some of {sorted(MERGE_METHODS)}")
        extra = set(params) - set(wanted) - OPTIONAL_PARAMETERS.get(kind, set())
        if extra:
            errors.append(f"rule {kind}: unknown parameters {sorted(extra)}")
        if kind == "required_status_checks":
            for check in params.get("required_status_checks") or []:
                if not isinstance(check, dict) or not isinstance(check.get("context"), str) \
                        or ("integration_id" in check
                            and not _typed(check["integration_id"], int)):
                    errors.append(f"status check {check!r}: context (and integration_id)")
    return errors


def environment_errors(body: Any) -> list[str]:
    """What GitHub would refuse in an environment's PUT body."""
    if not isinstance(body, dict):
        return ["the body is not an object"]
    errors = [f"unknown field {k!r}" for k in body
              if k not in {"wait_timer", "prevent_self_review", "reviewers",
                           "deployment_branch_policy"}]
    if "wait_timer" in body and not (_typed(body["wait_timer"], int)
                                     and 0 <= body["wait_timer"] <= 43200):
        errors.append("wait_timer must be 0 to 43200 minutes")
    policy = body.get("deployment_branch_policy")
    if policy is not None:
        if not isinstance(policy, dict) or not all(
                _typed(policy.get(k), bool)
                for k in ("protected_branches", "custom_branch_policies")):
            errors.append("deployment_branch_policy needs protected_branches and "
                          "custom_branch_policies, booleans")
        elif policy["protected_branches"] == policy["custom_branch_policies"]:
            errors.append("exactly one of protected_branches and custom_branch_policies "
                          "must be true")
    return errors


def branch_policy_errors(body: Any) -> list[str]:
    """What GitHub would refuse in a deployment branch policy's POST body."""
    if not isinstance(body, dict):
        return ["the body is not an object"]
    errors = [f"unknown field {k!r}" for k in body if k not in {"name", "type"}]
    if not isinstance(body.get("name"), str) or not body.get("name"):
        errors.append("name is required")
    if body.get("type", "branch") not in {"branch", "tag"}:
        errors.append("type must be branch or tag")
    return errors


def serve(fake: FakeGitHub) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (http.server's name)
            self._write()

        def do_PUT(self) -> None:  # noqa: N802 (http.server's name)
            self._write()

        def do_PATCH(self) -> None:  # noqa: N802 (http.server's name)
            self._write()

        def _write(self) -> None:
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            fake.requests.append((self.path, dict(self.headers)))
            self._send(*fake.write(self.command, urlsplit(self.path).path, raw))

        def do_GET(self) -> None:  # noqa: N802 (http.server's name)
            url = urlsplit(self.path)
            fake.requests.append((self.path, dict(self.headers)))
            self._send(*fake.answer(url.path, parse_qs(url.query)))

        def _send(self, status: int, headers: dict[str, str], body: Any) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            for key, value in headers.items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    fake.url = f"http://127.0.0.1:{server.server_address[1]}"
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server
