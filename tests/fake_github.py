"""A GitHub REST API on 127.0.0.1 for tests: the documented shapes of the three endpoints
modelreg reads (a commit's pull requests, a pull request, its reviews), pages of
``per_page`` items linked by ``Link: <…>; rel="next"``, and errors on demand. Started in a
thread by a fixture and stopped by it."""
from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

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
    pulls: dict[int, dict[str, Any]] = field(default_factory=dict)
    reviews: dict[int, list[dict[str, Any]]] = field(default_factory=dict)
    errors: dict[str, tuple[int, dict[str, str], str]] = field(default_factory=dict)
    requests: list[tuple[str, dict[str, str]]] = field(default_factory=list)

    def add_pull(self, number: int, author: str, head: str, merge_commit: str | None,
                 reviews: list[dict[str, Any]]) -> None:
        """A pull request, merged by ``merge_commit`` (None: still open)."""
        self.pulls[number] = {
            "url": f"{self.url}/repos/{REPO}/pulls/{number}", "id": 5000 + number,
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
        prefix = f"/repos/{REPO}/"
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
        if page < last:
            links.append(f'<{self.url}{path}?per_page={per_page}&page={page + 1}>; rel="next"')
            links.append(f'<{self.url}{path}?per_page={per_page}&page={last}>; rel="last"')
        if page > 1:
            links.append(f'<{self.url}{path}?per_page={per_page}&page=1>; rel="first"')
        if links:
            headers["Link"] = ", ".join(links)
        return 200, headers, chunk


def serve(fake: FakeGitHub) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's name)
            url = urlsplit(self.path)
            fake.requests.append((self.path, dict(self.headers)))
            status, headers, body = fake.answer(url.path, parse_qs(url.query))
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
