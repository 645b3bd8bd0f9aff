"""The shared HTTP client against real aiohttp servers on loopback (no mocks of our own code)."""

from __future__ import annotations

import asyncio
import email.utils
import ipaddress
import json
import logging
import socket
import time
import tracemalloc
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from monitor import __version__
from monitor.errors import BlockedAddress, FetchError, ResponseTooLarge
from monitor.http import (
    DEFAULT_USER_AGENT,
    HttpClient,
    HttpResponse,
    default_is_private_ip,
    parse_retry_after,
    redact_url,
)

Server = Callable[..., Awaitable[TestServer]]
MB = 1024 * 1024


class DictState:
    """A plain in-memory state store (not our store): enough for conditional GET."""

    def __init__(self) -> None:
        self.data: dict[tuple[str, str], Any] = {}

    async def get_state(self, namespace: str, key: str) -> Any | None:
        return self.data.get((namespace, key))

    async def put_state(self, namespace: str, key: str, value: Any) -> None:
        self.data[(namespace, key)] = value


@pytest.fixture
async def make_client() -> AsyncIterator[Callable[..., HttpClient]]:
    clients: list[HttpClient] = []

    def make(**kwargs: Any) -> HttpClient:
        kwargs.setdefault("backoff_base", 0.01)
        kwargs.setdefault("backoff_max", 0.05)
        client = HttpClient(**kwargs)
        clients.append(client)
        return client

    yield make
    for client in clients:
        await client.close()


def app_with(routes: dict[str, Callable[[web.Request], Awaitable[web.StreamResponse]]]) -> web.Application:
    app = web.Application()
    for path, handler in routes.items():
        app.router.add_route("*", path, handler)
    return app


def url_of(server: TestServer, path: str) -> str:
    return str(server.make_url(path))


# --- basics -------------------------------------------------------------------------------------

async def test_user_agent_and_accept_encoding_sent(aiohttp_server: Server, make_client: Any) -> None:
    seen: dict[str, str] = {}

    async def handler(request: web.Request) -> web.Response:
        seen.update(request.headers)
        return web.Response(text="ok")

    server = await aiohttp_server(app_with({"/": handler}))
    resp = await make_client().get(url_of(server, "/"))
    assert resp.status == 200 and resp.ok and resp.text() == "ok"
    assert seen["User-Agent"] == DEFAULT_USER_AGENT
    assert f"brand-monitor/{__version__}" in DEFAULT_USER_AGENT
    assert "gzip" in seen["Accept-Encoding"] and "deflate" in seen["Accept-Encoding"]


async def test_caller_headers_override_user_agent(aiohttp_server: Server, make_client: Any) -> None:
    seen: dict[str, str] = {}

    async def handler(request: web.Request) -> web.Response:
        seen.update(request.headers)
        return web.Response(text="ok")

    server = await aiohttp_server(app_with({"/": handler}))
    await make_client().get(url_of(server, "/"), headers={"User-Agent": "acme-bot/1", "X-Test": "1"})
    assert seen["User-Agent"] == "acme-bot/1" and seen["X-Test"] == "1"


async def test_params_headers_and_final_url(aiohttp_server: Server, make_client: Any) -> None:
    async def handler(request: web.Request) -> web.Response:
        resp = web.json_response({"q": request.query.getall("q"), "n": request.query["n"]})
        resp.headers.add("Link", "<a>; rel=next")
        resp.headers.add("Link", "<b>; rel=prev")
        return resp

    server = await aiohttp_server(app_with({"/s": handler}))
    resp = await make_client().get(url_of(server, "/s?q=a"), params={"q": "b", "n": "2"})
    assert resp.json() == {"q": ["a", "b"], "n": "2"}
    assert resp.url == url_of(server, "/s?q=a&q=b&n=2")
    assert resp.headers["content-type"].startswith("application/json")
    assert resp.headers["link"] == "<a>; rel=next, <b>; rel=prev"


async def test_text_decodes_declared_charset(aiohttp_server: Server, make_client: Any) -> None:
    async def handler(request: web.Request) -> web.Response:
        return web.Response(body="Grüße aus Köln".encode("iso-8859-1"),
                            headers={"Content-Type": 'text/plain; charset="ISO-8859-1"'})

    server = await aiohttp_server(app_with({"/": handler}))
    resp = await make_client().get(url_of(server, "/"))
    assert resp.text() == "Grüße aus Köln"


def test_text_falls_back_to_default_and_replaces() -> None:
    body = "Grüße".encode()
    assert HttpResponse("u", 200, {}, body).text() == "Grüße"
    assert HttpResponse("u", 200, {}, body).text("iso-8859-1") == body.decode("iso-8859-1")
    # A bogus or non-text codec from the server is ignored, not executed or raised.
    for charset in ("no-such-codec", "zlib", "rot13"):
        resp = HttpResponse("u", 200, {"content-type": f"text/html; charset={charset}"}, body)
        assert resp.text() == "Grüße"
    assert HttpResponse("u", 200, {}, b"ok \xff").text() == "ok \ufffd"


def test_json_invalid_raises_fetch_error() -> None:
    assert HttpResponse("http://x/a", 200, {}, b'{"a": [1]}').json() == {"a": [1]}
    with pytest.raises(FetchError, match="invalid JSON from http://x/a") as info:
        HttpResponse("http://x/a", 200, {}, b"<html>nope</html>").json()
    assert info.value.status == 200 and info.value.url == "http://x/a"
    with pytest.raises(FetchError):
        HttpResponse("http://x/a", 200, {}, b"\xff\xfe\x00").json()


# --- timeouts, connection errors, retries --------------------------------------------------------

async def test_read_timeout_retries_then_fetch_error(aiohttp_server: Server, make_client: Any) -> None:
    hits = 0
    release = asyncio.Event()

    async def slow(request: web.Request) -> web.Response:
        nonlocal hits
        hits += 1
        try:
            await asyncio.wait_for(release.wait(), 5)
        except TimeoutError:
            pass
        return web.Response(text="late")

    server = await aiohttp_server(app_with({"/": slow}))
    client = make_client(read_timeout=0.2, retries=1)
    try:
        with pytest.raises(FetchError, match="timed out") as info:
            await client.get(url_of(server, "/"))
    finally:
        release.set()
    assert info.value.status is None
    assert hits == 2


async def test_connection_refused_is_fetch_error_after_retries(make_client: Any) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(FetchError, match="after 3 attempts") as info:
        await make_client(retries=2).get(f"http://127.0.0.1:{port}/")
    assert info.value.status is None


async def test_retries_503_then_success(aiohttp_server: Server, make_client: Any) -> None:
    hits = 0

    async def flaky(request: web.Request) -> web.Response:
        nonlocal hits
        hits += 1
        if hits < 3:
            return web.Response(status=503, text="busy")
        return web.Response(text="finally")

    server = await aiohttp_server(app_with({"/": flaky}))
    resp = await make_client(retries=3).get(url_of(server, "/"))
    assert resp.text() == "finally"
    assert hits == 3


async def test_5xx_exhausted_raises_or_returns(aiohttp_server: Server, make_client: Any) -> None:
    hits = 0

    async def broken(request: web.Request) -> web.Response:
        nonlocal hits
        hits += 1
        return web.Response(status=502, text="bad gateway page")

    server = await aiohttp_server(app_with({"/": broken}))
    client = make_client(retries=2)
    with pytest.raises(FetchError, match="HTTP 502") as info:
        await client.get(url_of(server, "/"))
    assert info.value.status == 502 and hits == 3

    hits = 0
    resp = await client.get(url_of(server, "/"), raise_for_status=False)
    assert (resp.status, resp.text(), hits) == (502, "bad gateway page", 3)


async def test_429_retry_after_seconds_is_honoured(aiohttp_server: Server, make_client: Any) -> None:
    stamps: list[float] = []

    async def limited(request: web.Request) -> web.Response:
        stamps.append(time.monotonic())
        if len(stamps) == 1:
            return web.Response(status=429, headers={"Retry-After": "1"})
        return web.Response(text="ok")

    server = await aiohttp_server(app_with({"/": limited}))
    resp = await make_client(retries=2, backoff_max=60).get(url_of(server, "/"))
    assert resp.status == 200 and len(stamps) == 2
    assert stamps[1] - stamps[0] >= 1.0


async def test_429_retry_after_http_date_is_honoured(aiohttp_server: Server, make_client: Any) -> None:
    stamps: list[float] = []

    async def limited(request: web.Request) -> web.Response:
        stamps.append(time.monotonic())
        if len(stamps) == 1:
            when = email.utils.formatdate(time.time() + 2, usegmt=True)
            return web.Response(status=429, headers={"Retry-After": when})
        return web.Response(text="ok")

    server = await aiohttp_server(app_with({"/": limited}))
    resp = await make_client(retries=1, backoff_max=60).get(url_of(server, "/"))
    assert resp.status == 200 and len(stamps) == 2
    # The date has whole seconds, so "now + 2 s" is at least 1 s after the first request.
    assert stamps[1] - stamps[0] >= 1.0


async def test_retry_after_is_capped_by_backoff_max(aiohttp_server: Server, make_client: Any) -> None:
    hits = 0

    async def limited(request: web.Request) -> web.Response:
        nonlocal hits
        hits += 1
        if hits == 1:
            return web.Response(status=503, headers={"Retry-After": "3600"})
        return web.Response(text="ok")

    server = await aiohttp_server(app_with({"/": limited}))
    # Uncapped this would sleep an hour; the guard turns that into a failure instead of a hang.
    resp = await asyncio.wait_for(make_client(retries=1, backoff_max=0.05).get(url_of(server, "/")), 30)
    assert resp.text() == "ok" and hits == 2


def test_parse_retry_after() -> None:
    now = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)
    assert parse_retry_after("120") == 120.0
    assert parse_retry_after(" 0 ") == 0.0
    later = email.utils.format_datetime(now + timedelta(seconds=90), usegmt=True)
    assert parse_retry_after(later, now=now) == 90.0
    earlier = email.utils.format_datetime(now - timedelta(seconds=90), usegmt=True)
    assert parse_retry_after(earlier, now=now) == 0.0
    for junk in (None, "", "soon", "-5", "1.5e9"):
        assert parse_retry_after(junk, now=now) is None


async def test_no_retry_on_404(aiohttp_server: Server, make_client: Any) -> None:
    hits = 0

    async def missing(request: web.Request) -> web.Response:
        nonlocal hits
        hits += 1
        return web.Response(status=404, text="no such page")

    server = await aiohttp_server(app_with({"/": missing}))
    client = make_client(retries=3)
    with pytest.raises(FetchError, match="HTTP 404 Not Found") as info:
        await client.get(url_of(server, "/"))
    assert info.value.status == 404 and hits == 1

    resp = await client.get(url_of(server, "/"), raise_for_status=False)
    assert (resp.status, resp.text(), resp.ok, hits) == (404, "no such page", False, 2)


async def test_retry_log_never_shows_secrets(aiohttp_server: Server, make_client: Any,
                                             caplog: pytest.LogCaptureFixture) -> None:
    hits = 0
    auth: list[str] = []

    async def flaky(request: web.Request) -> web.Response:
        nonlocal hits
        hits += 1
        auth.append(request.headers.get("Authorization", ""))
        return web.Response(status=500 if hits == 1 else 200, text="x")

    server = await aiohttp_server(app_with({"/": flaky}))
    caplog.set_level(logging.DEBUG, logger="monitor.http")
    await make_client(retries=1).get(url_of(server, "/"), params={"api_key": "s3cret-key", "q": "acme"},
                                     headers={"Authorization": "Bearer s3cret-token"})
    assert auth == ["Bearer s3cret-token"] * 2
    retries = [r for r in caplog.records if r.name == "monitor.http" and "retrying" in r.getMessage()]
    assert len(retries) == 1
    assert "q=acme" in caplog.text
    assert "s3cret" not in caplog.text


def test_redact_url() -> None:
    assert redact_url("https://user:pw@api.example.com/x?token=abc&q=acme&client_secret=z") == \
        "https://api.example.com/x?token=***&q=acme&client_secret=***"
    assert redact_url("http://example.com/feed") == "http://example.com/feed"


# --- size caps -----------------------------------------------------------------------------------

async def test_streamed_body_over_cap(aiohttp_server: Server, make_client: Any) -> None:
    async def chunked(request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse()
        resp.enable_chunked_encoding()
        await resp.prepare(request)
        for _ in range(int(request.query["n"])):
            await resp.write(b"x" * (256 * 1024))
        await resp.write_eof()
        return resp

    server = await aiohttp_server(app_with({"/": chunked}))
    client = make_client(max_bytes=MB)
    ok = await client.get(url_of(server, "/?n=4"))
    assert len(ok.body) == MB  # exactly at the cap is fine
    with pytest.raises(ResponseTooLarge, match="cap"):
        await client.get(url_of(server, "/?n=8"))


async def test_content_length_over_cap_refused_before_reading(aiohttp_server: Server,
                                                              make_client: Any) -> None:
    release = asyncio.Event()

    async def huge(request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"Content-Type": "application/octet-stream"})
        resp.content_length = 10 * 1024**3
        await resp.prepare(request)
        await resp.write(b"x" * 1024)
        try:  # never sends the rest: a client that tried to read would hit its read timeout
            await asyncio.wait_for(release.wait(), 5)
        except TimeoutError:
            pass
        return resp

    server = await aiohttp_server(app_with({"/": huge}))
    try:
        with pytest.raises(ResponseTooLarge, match="declared 10737418240 bytes"):
            await make_client(max_bytes=MB, read_timeout=2, retries=0).get(url_of(server, "/"))
    finally:
        release.set()


def compressed_zeros(size: int, wbits: int) -> bytes:
    comp = zlib.compressobj(9, zlib.DEFLATED, wbits)
    block = bytes(MB)
    parts = [comp.compress(block) for _ in range(size // MB)]
    parts.append(comp.flush())
    return b"".join(parts)


@pytest.mark.parametrize(("encoding", "wbits"), [("gzip", 31), ("deflate", 15)])
async def test_decompression_bomb_is_cut_off(aiohttp_server: Server, make_client: Any,
                                             encoding: str, wbits: int) -> None:
    bomb = compressed_zeros(50 * MB, wbits)
    assert len(bomb) < MB  # ~50 KB on the wire, 50 MB once inflated

    async def handler(request: web.Request) -> web.Response:
        return web.Response(body=bomb, headers={"Content-Encoding": encoding,
                                                "Content-Type": "application/xml"})

    server = await aiohttp_server(app_with({"/": handler}))
    client = make_client(max_bytes=MB)
    tracemalloc.start()
    try:
        with pytest.raises(ResponseTooLarge, match="decompressed"):
            await client.get(url_of(server, "/"))
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 10 * MB, f"peak {peak / MB:.1f} MB while reading a capped 1 MB body"


async def test_small_gzip_body_is_decompressed(aiohttp_server: Server, make_client: Any) -> None:
    payload = json.dumps({"items": ["acme"] * 100}).encode()

    async def handler(request: web.Request) -> web.Response:
        return web.Response(body=_gzip(payload),
                            headers={"Content-Encoding": "gzip", "Content-Type": "application/json"})

    server = await aiohttp_server(app_with({"/": handler}))
    resp = await make_client(max_bytes=MB).get(url_of(server, "/"))
    assert resp.json() == {"items": ["acme"] * 100}


def _gzip(data: bytes) -> bytes:
    comp = zlib.compressobj(6, zlib.DEFLATED, 31)
    return comp.compress(data) + comp.flush()


# --- conditional GET -----------------------------------------------------------------------------

async def test_conditional_get_with_etag(aiohttp_server: Server, make_client: Any) -> None:
    seen: list[str | None] = []

    async def feed(request: web.Request) -> web.Response:
        seen.append(request.headers.get("If-None-Match"))
        if request.headers.get("If-None-Match") == '"v1"':
            return web.Response(status=304, headers={"ETag": '"v1"'})
        return web.Response(text="<rss/>", headers={"ETag": '"v1"'})

    server = await aiohttp_server(app_with({"/feed": feed}))
    state = DictState()
    client = make_client(state=state)
    url = url_of(server, "/feed")

    first = await client.get(url, params={"q": "acme"}, conditional=True)
    assert (first.status, first.body, first.not_modified) == (200, b"<rss/>", False)
    assert state.data == {("http", url + "?q=acme"): {"etag": '"v1"'}}

    second = await client.get(url, params={"q": "acme"}, conditional=True)
    assert (second.status, second.body, second.not_modified) == (304, b"", True)

    third = await client.get(url, params={"q": "acme"})  # not conditional: no validators sent
    assert third.status == 200
    assert seen == [None, '"v1"', None]


async def test_conditional_get_with_last_modified(aiohttp_server: Server, make_client: Any) -> None:
    stamp = "Wed, 01 May 2024 12:00:00 GMT"
    seen: list[str | None] = []

    async def feed(request: web.Request) -> web.Response:
        seen.append(request.headers.get("If-Modified-Since"))
        if request.headers.get("If-Modified-Since") == stamp:
            return web.Response(status=304)
        return web.Response(text="<feed/>", headers={"Last-Modified": stamp})

    server = await aiohttp_server(app_with({"/atom": feed}))
    state = DictState()
    client = make_client(state=state)
    url = url_of(server, "/atom")
    assert (await client.get(url, conditional=True)).text() == "<feed/>"
    assert state.data[("http", url)] == {"last_modified": stamp}
    resp = await client.get(url, conditional=True)
    assert resp.not_modified and resp.status == 304 and resp.body == b""
    assert seen == [None, stamp]


async def test_validators_only_stored_for_200(aiohttp_server: Server, make_client: Any) -> None:
    async def gone(request: web.Request) -> web.Response:
        return web.Response(status=410, text="gone", headers={"ETag": '"err"'})

    server = await aiohttp_server(app_with({"/": gone}))
    state = DictState()
    resp = await make_client(state=state).get(url_of(server, "/"), conditional=True, raise_for_status=False)
    assert resp.status == 410
    assert state.data == {}


# --- per-host concurrency ------------------------------------------------------------------------

async def test_per_host_limit(aiohttp_server: Server, make_client: Any) -> None:
    in_flight = 0
    max_seen = 0
    two_seen = asyncio.Event()

    async def handler(request: web.Request) -> web.Response:
        nonlocal in_flight, max_seen
        in_flight += 1
        max_seen = max(max_seen, in_flight)
        if in_flight >= 2:
            two_seen.set()
        try:
            # Hold the first request until a second one overlaps it, then linger a little so
            # that any request beyond the limit would be seen in flight as well.
            await asyncio.wait_for(two_seen.wait(), 5)
            await asyncio.sleep(0.05)
        finally:
            in_flight -= 1
        return web.Response(text="ok")

    server = await aiohttp_server(app_with({"/": handler}))
    client = make_client(per_host_limit=2)
    results = await asyncio.gather(*(client.get(url_of(server, f"/?i={i}")) for i in range(8)))
    assert all(r.status == 200 for r in results)
    assert max_seen == 2


# --- redirects and the address policy ------------------------------------------------------------

async def test_relative_redirect_is_followed(aiohttp_server: Server, make_client: Any) -> None:
    async def start(request: web.Request) -> web.Response:
        raise web.HTTPFound("next?x=1")

    async def nxt(request: web.Request) -> web.Response:
        return web.Response(text="arrived " + request.query["x"])

    server = await aiohttp_server(app_with({"/a/start": start, "/a/next": nxt}))
    resp = await make_client().get(url_of(server, "/a/start"))
    assert resp.text() == "arrived 1"
    assert resp.url == url_of(server, "/a/next?x=1")


async def test_too_many_redirects(aiohttp_server: Server, make_client: Any) -> None:
    hits = 0

    async def loop(request: web.Request) -> web.Response:
        nonlocal hits
        hits += 1
        raise web.HTTPFound("/loop")

    server = await aiohttp_server(app_with({"/loop": loop}))
    with pytest.raises(FetchError, match="more than 3 redirects") as info:
        await make_client(max_redirects=3, retries=2).get(url_of(server, "/loop"))
    assert info.value.status == 302
    assert hits == 4  # the request plus three redirects, and no retries of a policy error


def public_except_127_0_0_1(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """Pretend 127.0.0.2 is the public internet and 127.0.0.1 (and ::1) the intranet."""
    return str(ip) in ("127.0.0.1", "::1")


async def test_public_to_private_redirect_is_blocked(aiohttp_server: Server, make_client: Any) -> None:
    private_hits = 0

    async def secret(request: web.Request) -> web.Response:
        nonlocal private_hits
        private_hits += 1
        return web.Response(text="metadata credentials")

    private = await aiohttp_server(app_with({"/secret": secret}), host="127.0.0.1")

    async def bounce(request: web.Request) -> web.Response:
        raise web.HTTPFound(request.query["to"])

    public = await aiohttp_server(app_with({"/bounce": bounce}), host="127.0.0.2")
    to_ip = url_of(private, "/secret")
    to_name = f"http://localhost:{private.port}/secret"

    client = make_client(is_private_ip=public_except_127_0_0_1, retries=2)
    for target in (to_ip, to_name):
        with pytest.raises(BlockedAddress, match="private address 127.0.0.1"):
            await client.get(url_of(public, "/bounce"), params={"to": target})
    assert private_hits == 0

    permissive = make_client(is_private_ip=public_except_127_0_0_1, allow_private=True)
    resp = await permissive.get(url_of(public, "/bounce"), params={"to": to_ip})
    assert resp.text() == "metadata credentials" and private_hits == 1


async def test_private_configured_url_may_redirect_privately(aiohttp_server: Server,
                                                             make_client: Any) -> None:
    async def start(request: web.Request) -> web.Response:
        raise web.HTTPMovedPermanently(f"http://localhost:{request.url.port}/intranet")

    async def intranet(request: web.Request) -> web.Response:
        return web.Response(text="internal wiki")

    server = await aiohttp_server(app_with({"/": start, "/intranet": intranet}))
    resp = await make_client().get(url_of(server, "/"))  # default policy: loopback is private
    assert resp.text() == "internal wiki"
    assert resp.url == f"http://localhost:{server.port}/intranet"


async def test_checked_addresses_are_reused_for_the_connection(aiohttp_server: Server, make_client: Any,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    async def handler(request: web.Request) -> web.Response:
        return web.Response(text="ok")

    server = await aiohttp_server(app_with({"/": handler}))
    loop = asyncio.get_running_loop()
    lookups: list[str] = []
    real = loop.getaddrinfo

    async def counting(host: Any, *args: Any, **kwargs: Any) -> Any:
        lookups.append(host)
        return await real(host, *args, **kwargs)

    monkeypatch.setattr(loop, "getaddrinfo", counting)
    resp = await make_client().get(f"http://localhost:{server.port}/")
    assert resp.text() == "ok"
    assert lookups == ["localhost"]  # the policy's lookup; the connector did not resolve again


@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://example.com/x", "javascript:alert(1)",
                                 "/relative/path", "http:///nohost"])
async def test_non_http_urls_are_refused(make_client: Any, url: str) -> None:
    with pytest.raises(FetchError, match="only absolute http and https"):
        await make_client().get(url)


async def test_redirect_to_non_http_scheme_is_refused(aiohttp_server: Server, make_client: Any) -> None:
    hits = 0

    async def bounce(request: web.Request) -> web.Response:
        nonlocal hits
        hits += 1
        raise web.HTTPFound("file:///etc/passwd")

    server = await aiohttp_server(app_with({"/": bounce}))
    with pytest.raises(FetchError, match="only absolute http and https") as info:
        await make_client(retries=2).get(url_of(server, "/"))
    assert not isinstance(info.value, BlockedAddress)
    assert hits == 1


async def test_credentials_dropped_on_cross_origin_redirect(aiohttp_server: Server,
                                                            make_client: Any) -> None:
    seen: list[tuple[str, str | None]] = []

    async def record(request: web.Request) -> web.Response:
        seen.append((request.path, request.headers.get("Authorization")))
        if "to" in request.query:
            raise web.HTTPFound(request.query["to"])
        return web.Response(text="done")

    other = await aiohttp_server(app_with({"/{tail:.*}": record}))
    origin = await aiohttp_server(app_with({"/{tail:.*}": record}))
    client = make_client()
    auth = {"Authorization": "Bearer s3cret"}
    await client.get(url_of(origin, "/a"), params={"to": "/same"}, headers=auth)
    await client.get(url_of(origin, "/b"), params={"to": url_of(other, "/cross")}, headers=auth)
    assert seen == [("/a", "Bearer s3cret"), ("/same", "Bearer s3cret"),
                    ("/b", "Bearer s3cret"), ("/cross", None)]


async def test_post_then_303_becomes_get(aiohttp_server: Server, make_client: Any) -> None:
    seen: list[tuple[str, str, bytes]] = []

    async def record(request: web.Request) -> web.Response:
        seen.append((request.method, request.path, await request.read()))
        if request.path == "/submit":
            raise web.HTTPSeeOther("/result")
        return web.Response(text="result")

    server = await aiohttp_server(app_with({"/submit": record, "/result": record}))
    resp = await make_client().request("POST", url_of(server, "/submit"), json={"q": "acme"})
    assert resp.text() == "result"
    assert seen == [("POST", "/submit", b'{"q": "acme"}'), ("GET", "/result", b"")]


def test_default_private_ip_classification() -> None:
    private = ["127.0.0.1", "10.1.2.3", "192.168.0.1", "172.16.0.1", "169.254.169.254", "0.0.0.0",
               "224.0.0.1", "::1", "fe80::1", "fc00::1", "::ffff:127.0.0.1", "::ffff:10.0.0.1", "::"]
    public = ["8.8.8.8", "93.184.216.34", "2606:4700:4700::1111", "::ffff:8.8.8.8"]
    for ip in private:
        assert default_is_private_ip(ipaddress.ip_address(ip)), ip
    for ip in public:
        assert not default_is_private_ip(ipaddress.ip_address(ip)), ip
