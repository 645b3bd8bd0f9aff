"""The one HTTP client every source fetches through.

Timeouts, size caps, retries, per-host limits, conditional GET and the redirect and
private-address policy live here once, so a source only says what to fetch. Everything a
server sends is hostile: bodies are capped while they stream (also after decompression),
redirects are followed by hand so each hop is checked, and secrets never reach the logs.
"""

from __future__ import annotations

import asyncio
import contextvars
import email.utils
import importlib.util
import ipaddress
import json as jsonlib
import logging
import random
import re
import socket
from collections.abc import Awaitable, Callable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import Message
from http import HTTPStatus
from types import TracebackType
from typing import Any, Protocol

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from multidict import CIMultiDict, CIMultiDictProxy
from yarl import URL

from . import __version__
from .errors import BlockedAddress, FetchError, ResponseTooLarge

log = logging.getLogger("monitor.http")

PROJECT_URL = "https://github.com/brand-monitor/brand-monitor"
DEFAULT_USER_AGENT = f"brand-monitor/{__version__} (+{PROJECT_URL}; self-hosted)"

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

_HAS_BROTLI = any(importlib.util.find_spec(m) is not None for m in ("brotli", "brotlicffi"))
ACCEPT_ENCODING = "gzip, deflate, br" if _HAS_BROTLI else "gzip, deflate"
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
_CHUNK = 64 * 1024
_CREDENTIAL_HEADERS = ("authorization", "proxy-authorization", "cookie")
_SECRET_PARAM = re.compile(r"key|token|secret|passw|auth|sig|session", re.IGNORECASE)
_NUMERIC_FLAGS = socket.AI_NUMERICHOST | socket.AI_NUMERICSERV


def default_is_private_ip(ip: IPAddress) -> bool:
    """Addresses a public page has no business making us reach (intranet, loopback, metadata)."""
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return (ip.is_private or ip.is_loopback or ip.is_link_local or ip.is_reserved
            or ip.is_multicast or ip.is_unspecified)


def redact_url(url: str | URL) -> str:
    """The URL as it may appear in logs and errors: no user info, no secret-looking parameters."""
    try:
        u = URL(str(url))
    except (ValueError, TypeError):
        return "<invalid url>"
    if u.raw_user or u.raw_password:
        u = u.with_user(None)
    if u.query:
        u = u.with_query([(k, "***" if _SECRET_PARAM.search(k) else v) for k, v in u.query.items()])
    return str(u)


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or HTTP-date); None if unusable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def _charset(content_type: str) -> str | None:
    msg = Message()
    msg["content-type"] = content_type
    return msg.get_content_charset()


# Inside ``deferred_validators()`` new ETag/Last-Modified values are collected instead of written, so
# the caller can save them in the same transaction as what it stored from the body: a crash between
# fetch and store must not turn the next poll into a 304 that hides unstored items.
_deferred: ContextVar[dict[str, dict[str, str]] | None] = ContextVar("monitor_http_deferred", default=None)


@contextmanager
def deferred_validators() -> Iterator[dict[str, dict[str, str]]]:
    """Collect validators (state key -> value, namespace ``http``) for the caller to persist."""
    staged: dict[str, dict[str, str]] = {}
    token = _deferred.set(staged)
    try:
        yield staged
    finally:
        _deferred.reset(token)


@dataclass(frozen=True)
class HttpResponse:
    url: str                 # final URL after redirects
    status: int
    headers: dict[str, str]  # lower-cased names; repeated headers joined with ", "
    body: bytes              # b"" when not_modified
    not_modified: bool = False

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    def text(self, default_encoding: str = "utf-8") -> str:
        """Decode by the declared charset; a bogus or non-text codec name falls back, never raises."""
        for encoding in (_charset(self.headers.get("content-type", "")), default_encoding, "utf-8"):
            if encoding:
                try:
                    return self.body.decode(encoding, errors="replace")
                except LookupError:
                    continue
        raise AssertionError("utf-8 always decodes")  # pragma: no cover

    def json(self) -> Any:
        try:
            return jsonlib.loads(self.body)
        except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError
            raise FetchError(f"invalid JSON from {redact_url(self.url)} (HTTP {self.status}): {exc}",
                             url=redact_url(self.url), status=self.status) from exc


class StateStore(Protocol):
    """The slice of :class:`monitor.store.base.Store` conditional GET needs."""

    async def get_state(self, namespace: str, key: str) -> Any | None: ...
    async def put_state(self, namespace: str, key: str, value: Any) -> None: ...


@dataclass(frozen=True)
class _Pin:
    """The addresses one hop was checked against, handed to the connector for that hop."""

    host: str
    port: int
    results: list[ResolveResult]
    strict: bool


_PIN: contextvars.ContextVar[_Pin | None] = contextvars.ContextVar("monitor_http_pin", default=None)


class _PinnedResolver(AbstractResolver):
    """Connect to exactly the addresses the policy approved, so DNS cannot change between check and use.

    aiohttp calls the resolver in the requesting task (``use_dns_cache=False``), so the
    context variable carries the hop's pin. Any other lookup is resolved and checked afresh.
    Residual DNS-rebinding risk: a kept-alive connection is reused without a new lookup, so a
    pooled connection opened for a private-allowed chain could serve a later strict chain to
    the same host name if that name has since started resolving to a public address.
    """

    def __init__(self, lookup: Callable[[str, int, bool], Awaitable[list[ResolveResult]]]) -> None:
        self._lookup = lookup

    async def resolve(self, host: str, port: int = 0,
                      family: socket.AddressFamily = socket.AF_INET) -> list[ResolveResult]:
        pin = _PIN.get()
        if pin is not None and pin.host.rstrip(".") == host.rstrip(".") and pin.port == port:
            results = pin.results
        else:
            results = await self._lookup(host, port, True if pin is None else pin.strict)
        if family:
            results = [r for r in results if r["family"] == family]
        if not results:
            raise OSError(f"no usable address for {host}")
        return results

    async def close(self) -> None:
        return None


class HttpClient:
    """One aiohttp session with the house policy; share one instance across all sources."""

    def __init__(self, *, user_agent: str = DEFAULT_USER_AGENT, connect_timeout: float = 10,
                 read_timeout: float = 30, total_timeout: float = 60, max_bytes: int = 10 * 1024 * 1024,
                 retries: int = 3, backoff_base: float = 0.5, backoff_max: float = 60.0,
                 per_host_limit: int = 4, max_redirects: int = 5, state: StateStore | None = None,
                 allow_private: bool = False,
                 is_private_ip: Callable[[IPAddress], bool] | None = None) -> None:
        self.user_agent = user_agent
        # total_timeout bounds one HTTP exchange (one hop), not queueing for the per-host slot.
        self._timeout = aiohttp.ClientTimeout(total=total_timeout, sock_connect=connect_timeout,
                                              sock_read=read_timeout)
        self.max_bytes = max_bytes
        self.retries = max(0, retries)
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        self.per_host_limit = max(1, per_host_limit)
        self.max_redirects = max(0, max_redirects)
        self.state = state
        self.allow_private = allow_private
        self._is_private_ip = is_private_ip or default_is_private_ip
        self._session: aiohttp.ClientSession | None = None
        self._host_slots: dict[str, asyncio.Semaphore] = {}

    async def __aenter__(self) -> HttpClient:
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.close()

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def get(self, url: str, *, params: Mapping[str, str] | None = None,
                  headers: Mapping[str, str] | None = None, conditional: bool = False,
                  raise_for_status: bool = True) -> HttpResponse:
        return await self.request("GET", url, params=params, headers=headers, conditional=conditional,
                                  raise_for_status=raise_for_status)

    async def request(self, method: str, url: str, *, params: Mapping[str, str] | None = None,
                      headers: Mapping[str, str] | None = None, json: Any = None, data: Any = None,
                      conditional: bool = False, raise_for_status: bool = True) -> HttpResponse:
        """Fetch with retries; 5xx and 429 are retried even when the final status is returned."""
        method = method.upper()
        target = _target(url, params)
        hdrs = self._request_headers(headers)
        state_key = str(target)
        cache = conditional and self.state is not None and method == "GET"
        stored: dict[str, str] = {}
        if cache:
            assert self.state is not None
            stored = _validators(await self.state.get_state("http", state_key))
            if "etag" in stored:
                hdrs.setdefault("If-None-Match", stored["etag"])
            if "last_modified" in stored:
                hdrs.setdefault("If-Modified-Since", stored["last_modified"])
        resp = await self._with_retries(method, target, hdrs, json, data)
        if raise_for_status and resp.status >= 400:
            reason = _reason(resp.status)
            raise FetchError(f"{method} {redact_url(resp.url)}: HTTP {resp.status}{reason}",
                             url=redact_url(resp.url), status=resp.status)
        if cache and resp.status == 200:
            assert self.state is not None
            fresh = {k: v for k, v in (("etag", resp.headers.get("etag")),
                                       ("last_modified", resp.headers.get("last-modified"))) if v}
            if fresh != stored:
                staged = _deferred.get()
                if staged is not None:
                    staged[state_key] = fresh
                else:
                    await self.state.put_state("http", state_key, fresh)
        return resp

    async def _with_retries(self, method: str, target: URL, hdrs: CIMultiDict[str], json: Any,
                            data: Any) -> HttpResponse:
        attempts = self.retries + 1
        safe = redact_url(target)
        attempt = 0
        while True:
            final = attempt == attempts - 1
            try:
                resp = await self._follow(method, target, hdrs, json, data, final)
            except aiohttp.InvalidURL as exc:
                raise FetchError(f"{method} {safe}: invalid URL ({exc})", url=safe) from exc
            except (aiohttp.ClientError, TimeoutError, OSError) as exc:
                if final or isinstance(exc, aiohttp.ClientConnectorCertificateError):
                    raise FetchError(f"{method} {safe}: {_describe(exc)} (after {attempt + 1} "
                                     f"attempt{'s' if attempt else ''})", url=safe) from exc
                delay = self._delay(attempt, None)
                why = _describe(exc)
            else:
                if final or not _retryable(resp.status):
                    return resp
                delay = self._delay(attempt, resp.headers.get("retry-after"))
                why = f"HTTP {resp.status}"
            log.debug("retrying %s %s in %.2fs (attempt %d of %d): %s",
                      method, safe, delay, attempt + 2, attempts, why)
            await asyncio.sleep(delay)
            attempt += 1

    def _delay(self, attempt: int, retry_after: str | None) -> float:
        """Server's Retry-After if given, else exponential backoff with full jitter; both capped."""
        wanted = parse_retry_after(retry_after)
        if wanted is not None:
            return min(wanted, self.backoff_max)
        return random.uniform(0, min(self.backoff_max, self.backoff_base * 2 ** attempt))

    async def _follow(self, method: str, url: URL, hdrs: CIMultiDict[str], json: Any, data: Any,
                      final: bool) -> HttpResponse:
        """One attempt: the request and its redirects, each hop checked against the address policy."""
        strict: bool | None = False if self.allow_private else None
        hdrs = hdrs.copy()
        status = 0
        for _hop in range(self.max_redirects + 1):
            host, port = url.raw_host or "", url.port or 0
            results = await self._resolve(host, port)
            if strict is None:
                # The configured URL decides: pointing at the intranet makes the whole chain private-ok.
                strict = not self._private_among(results)
            elif strict and (bad := self._private_among(results)):
                raise BlockedAddress(f"{method} {redact_url(url)}: redirect to private address {bad} "
                                     f"refused (allow_private is off)", url=redact_url(url))
            token = _PIN.set(_Pin(host, port, results, strict))
            try:
                async with self._slot(host), self._client().request(
                        method, url, headers=hdrs, allow_redirects=False,
                        **({"json": json} if json is not None else {}),
                        **({"data": data} if data is not None else {})) as resp:
                    status = resp.status
                    location = resp.headers.get("Location") if status in REDIRECT_STATUSES else None
                    if not location:
                        return await self._response(resp, url, final)
            finally:
                _PIN.reset(token)
            nxt = _redirect_target(url, location, method)
            if (status == 303 and method != "HEAD") or (status in (301, 302) and method == "POST"):
                method, json, data = "GET", None, None
                for name in ("content-type", "content-length"):
                    hdrs.popall(name, None)
            if _origin(nxt) != _origin(url):
                for name in _CREDENTIAL_HEADERS:
                    hdrs.popall(name, None)
            url = nxt
        raise FetchError(f"{method} {redact_url(url)}: more than {self.max_redirects} redirects",
                         url=redact_url(url), status=status)

    async def _response(self, resp: aiohttp.ClientResponse, url: URL, final: bool) -> HttpResponse:
        headers = _header_dict(resp.headers)
        if resp.status == 304:
            return HttpResponse(str(url), 304, headers, b"", not_modified=True)
        body = b""
        if final or not _retryable(resp.status):
            body = await self._read_capped(resp, url)
        return HttpResponse(str(url), resp.status, headers, body)

    async def _read_capped(self, resp: aiohttp.ClientResponse, url: URL) -> bytes:
        """Stream the body and stop at the cap, counting both wire and decompressed bytes."""
        cap = self.max_bytes
        safe = redact_url(url)
        if resp.content_length is not None and resp.content_length > cap:
            raise ResponseTooLarge(f"GET {safe}: declared {resp.content_length} bytes, over the "
                                   f"{cap}-byte cap", url=safe, status=resp.status)
        buf = bytearray()
        async for chunk in resp.content.iter_chunked(_CHUNK):
            buf += chunk
            raw = getattr(resp.content, "total_raw_bytes", 0)
            if len(buf) > cap or raw > cap:
                raise ResponseTooLarge(f"GET {safe}: body over the {cap}-byte cap "
                                       f"({'decompressed' if len(buf) > raw else 'received'})",
                                       url=safe, status=resp.status)
        return bytes(buf)

    async def _resolve(self, host: str, port: int) -> list[ResolveResult]:
        infos = await asyncio.get_running_loop().getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_ADDRCONFIG)
        return [ResolveResult(hostname=host, host=str(addr[0]), port=int(addr[1]), family=family,
                              proto=proto, flags=_NUMERIC_FLAGS)
                for family, _type, proto, _name, addr in infos]

    async def _lookup_checked(self, host: str, port: int, strict: bool) -> list[ResolveResult]:
        results = await self._resolve(host, port)
        if strict and not self.allow_private and (bad := self._private_among(results)):
            raise BlockedAddress(f"{host} resolves to private address {bad}; refused", url=host)
        return results

    def _private_among(self, results: list[ResolveResult]) -> IPAddress | None:
        for r in results:
            ip = ipaddress.ip_address(r["host"])
            if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
                ip = ip.ipv4_mapped
            if self._is_private_ip(ip):
                return ip
        return None

    def _slot(self, host: str) -> asyncio.Semaphore:
        slot = self._host_slots.get(host)
        if slot is None:
            slot = self._host_slots[host] = asyncio.Semaphore(self.per_host_limit)
        return slot

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(resolver=_PinnedResolver(self._lookup_checked),
                                             use_dns_cache=False)
            self._session = aiohttp.ClientSession(connector=connector, timeout=self._timeout,
                                                  auto_decompress=True, trust_env=False)
        return self._session

    def _request_headers(self, extra: Mapping[str, str] | None) -> CIMultiDict[str]:
        hdrs: CIMultiDict[str] = CIMultiDict({"User-Agent": self.user_agent,
                                              "Accept-Encoding": ACCEPT_ENCODING})
        for name, value in (extra or {}).items():
            hdrs[name] = value
        return hdrs


def _target(url: str, params: Mapping[str, str] | None) -> URL:
    try:
        target = URL(url).with_fragment(None)
        if params:
            target = target.extend_query(params)
    except (ValueError, TypeError) as exc:
        raise FetchError(f"invalid URL {redact_url(url)}: {exc}", url=redact_url(url)) from exc
    _check_scheme(target)
    return target


def _check_scheme(url: URL) -> None:
    if url.scheme not in ("http", "https") or not url.raw_host:
        safe = redact_url(url)
        raise FetchError(f"refusing {safe}: only absolute http and https URLs are fetched", url=safe)


def _redirect_target(current: URL, location: str, method: str) -> URL:
    try:
        nxt = current.join(URL(location)).with_fragment(None)
    except (ValueError, TypeError) as exc:
        raise FetchError(f"{method} {redact_url(current)}: invalid redirect Location ({exc})",
                         url=redact_url(current)) from exc
    _check_scheme(nxt)
    return nxt


def _origin(url: URL) -> tuple[str, str, int | None]:
    return url.scheme, (url.raw_host or "").lower(), url.port


def _retryable(status: int) -> bool:
    return status == 429 or status >= 500


def _header_dict(raw: CIMultiDictProxy[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for name, value in raw.items():
        key = name.lower()
        out[key] = f"{out[key]}, {value}" if key in out else value
    return out


def _validators(value: Any) -> dict[str, str]:
    if not isinstance(value, dict):
        return {}
    return {k: v for k, v in value.items() if k in ("etag", "last_modified") and isinstance(v, str)}


def _reason(status: int) -> str:
    try:
        return f" {HTTPStatus(status).phrase}"
    except ValueError:
        return ""


def _describe(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError):
        return "timed out"
    text = str(exc) or type(exc).__name__
    return text.splitlines()[0][:200]

