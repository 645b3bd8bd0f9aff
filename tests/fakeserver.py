"""A real HTTP server on 127.0.0.1 that replays recorded payloads, for source tests.

Sources must be tested through the real :class:`monitor.http.HttpClient`, so instead of mocking
we serve bytes over a socket on a random port::

    async with FakeServer() as server:
        server.add("/feed.xml", FEEDS / "heise.atom", headers={"Content-Type": "application/atom+xml"},
                   etag='"v1"')                      # a file path or bytes; answers 304 to If-None-Match "v1"
        server.add("/flaky", Reply(status=500), Reply(b"<rss .../>"))   # replies in order, the last repeats
        urls = server.load_requests(FIXTURES / "api" / "reddit")        # every recorded body, by file name
        ... await http.get(server.url("/feed.xml")) ...
        assert server.hits["/feed.xml"] == 1
        assert server.requests[-1].headers["If-None-Match"] == '"v1"'
        assert server.statuses[-1] == ("/feed.xml", 304)

Routing: a route registered with a query string matches only that query (parameter order does not
matter); one registered without a query matches the path with any query. Routes are per HTTP method
(``method="GET"`` by default). An unknown path answers 404 and is still counted.

Conditional GET: a reply with ``etag`` sends an ``ETag`` header and answers 304 when the request's
``If-None-Match`` lists it; a reply with ``last_modified`` (an HTTP-date string) sends
``Last-Modified`` and answers 304 when ``If-Modified-Since`` is that date or later.

``load_requests(folder)`` reads the folder's ``_requests.json`` (``{file: {method, url, status,
response_headers}}``, see ../shared/fixtures/README.md) and serves each file's bytes at its recorded
path and query with the recorded status and headers; entries without a URL are skipped, the
Content-Type falls back to one guessed from the file name. Bodies recorded for the same method and
URL are served in file-name order.

The ``fake_server`` pytest fixture yields a started server and stops it afterwards.
"""

from __future__ import annotations

import json
import mimetypes
from collections import Counter
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from pathlib import Path
from types import TracebackType
from urllib.parse import parse_qsl, urlsplit

import pytest
from aiohttp import web

# Headers that describe the recorded transfer, not the body we replay (already decoded).
_TRANSFER_HEADERS = frozenset({"content-length", "transfer-encoding", "content-encoding", "connection"})


@dataclass
class Reply:
    """One canned response."""

    body: bytes = b""
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    etag: str | None = None
    last_modified: str | None = None


@dataclass(frozen=True)
class SeenRequest:
    method: str
    path: str
    query: str
    headers: Mapping[str, str]


@dataclass
class _Route:
    replies: list[Reply]
    served: int = 0

    def next_reply(self) -> Reply:
        reply = self.replies[min(self.served, len(self.replies) - 1)]
        self.served += 1
        return reply


class FakeServer:
    def __init__(self, host: str = "127.0.0.1") -> None:
        self.host = host
        self.port = 0
        self.hits: Counter[str] = Counter()          # path -> number of requests
        self.requests: list[SeenRequest] = []
        self.statuses: list[tuple[str, int]] = []    # (path, status) of every answer, in order
        self._routes: dict[tuple[str, str, tuple[tuple[str, str], ...] | None], _Route] = {}
        self._runner: web.AppRunner | None = None

    # --- lifecycle -------------------------------------------------------------------------------

    async def start(self) -> FakeServer:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, 0)
        await site.start()
        self.port = int(self._runner.addresses[0][1])
        return self

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeServer:
        return await self.start()

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.close()

    def url(self, path_qs: str = "/") -> str:
        if not path_qs.startswith("/"):
            path_qs = "/" + path_qs
        return f"http://{self.host}:{self.port}{path_qs}"

    # --- routes ----------------------------------------------------------------------------------

    def add(self, path_qs: str, body: bytes | str | Path | Reply = b"", *more: Reply, status: int = 200,
            headers: Mapping[str, str] | None = None, etag: str | None = None,
            last_modified: str | None = None, method: str = "GET") -> str:
        """Register replies for a path (optionally with a query); returns the full URL."""
        if isinstance(body, Reply):
            first = body
        else:
            data = body.read_bytes() if isinstance(body, Path) else (
                body.encode("utf-8") if isinstance(body, str) else body)
            first = Reply(data, status, dict(headers or {}), etag, last_modified)
        self._routes[_route_key(method, path_qs)] = _Route([first, *more])
        return self.url(path_qs)

    def load_requests(self, folder: Path) -> dict[str, str]:
        """Serve every recorded body of an api fixture folder; file name -> local URL."""
        recorded = json.loads((folder / "_requests.json").read_text(encoding="utf-8"))
        urls: dict[str, str] = {}
        for name in sorted(recorded):
            meta = recorded[name]
            if not meta.get("url"):
                continue
            parts = urlsplit(meta["url"])
            path_qs = parts.path + (f"?{parts.query}" if parts.query else "")
            headers = {k: v for k, v in (meta.get("response_headers") or {}).items()
                       if k.lower() not in _TRANSFER_HEADERS}
            if not any(k.lower() == "content-type" for k in headers):
                headers["Content-Type"] = mimetypes.guess_type(name)[0] or "application/octet-stream"
            reply = Reply((folder / name).read_bytes(), int(meta.get("status") or 200), headers)
            key = _route_key(meta.get("method") or "GET", path_qs)
            if key in self._routes:
                self._routes[key].replies.append(reply)
            else:
                self._routes[key] = _Route([reply])
            urls[name] = self.url(path_qs)
        return urls

    # --- serving ---------------------------------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        response = self._respond(request)
        self.statuses.append((request.path, response.status))
        return response

    def _respond(self, request: web.Request) -> web.Response:
        self.hits[request.path] += 1
        self.requests.append(SeenRequest(request.method, request.path, request.query_string,
                                         dict(request.headers)))
        method = request.method.upper()
        params = tuple(sorted(request.rel_url.query.items())) if request.rel_url.query else None
        route = (self._routes.get((method, request.path, params))
                 or self._routes.get((method, request.path, None)))
        if route is None:
            return web.Response(status=404, text=f"no route for {request.method} {request.path_qs}")
        reply = route.next_reply()
        headers = dict(reply.headers)
        if reply.etag:
            headers["ETag"] = reply.etag
        if reply.last_modified:
            headers["Last-Modified"] = reply.last_modified
        if reply.status == 200 and _not_modified(request, reply):
            return web.Response(status=304, headers=headers)
        return web.Response(status=reply.status, body=reply.body, headers=headers)


def _route_key(method: str, path_qs: str) -> tuple[str, str, tuple[tuple[str, str], ...] | None]:
    path, _, query = path_qs.partition("?")
    params = tuple(sorted(parse_qsl(query, keep_blank_values=True))) if query else None
    return method.upper(), path or "/", params


def _not_modified(request: web.Request, reply: Reply) -> bool:
    if reply.etag:
        tags = [t.strip() for t in request.headers.get("If-None-Match", "").split(",")]
        if reply.etag in tags or "*" in tags:
            return True
    since = request.headers.get("If-Modified-Since")
    if reply.last_modified and since:
        try:
            return parsedate_to_datetime(since) >= parsedate_to_datetime(reply.last_modified)
        except (TypeError, ValueError):
            return False
    return False


@pytest.fixture
async def fake_server() -> AsyncIterator[FakeServer]:
    async with FakeServer() as server:
        yield server
