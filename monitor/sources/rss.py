"""RSS, Atom and JSON Feed: news searches, alerts, blogs, forums and anything else that syndicates.

feedparser does the hard part (encodings, broken XML, dates, relative links, sanitising); this
module turns its entries into RawItems that are safe to store and stable to deduplicate.
"""

from __future__ import annotations

import asyncio
import calendar
import hashlib
import io
import json
import logging
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import parse_qsl, urljoin, urlsplit

import feedparser

from ..errors import SourceError
from ..models import Author, RawItem, ensure_utc, utcnow
from ..text import html_to_text
from ..urls import canonical_url, site_of
from .base import Cursor, Source, SourceConfig

if TYPE_CHECKING:
    from ..http import HttpClient

log = logging.getLogger("monitor.sources.rss")

MAX_SEEN = 500            # remembered entry ids per feed URL
MAX_ITEMS = 500           # entries taken from one document, whatever max_items says
DEFAULT_MAX_ITEMS = 200
MAX_ID = 500
MAX_TITLE = 1_000
MAX_TEXT = 20_000
MAX_TAGS = 30
FUTURE_SLACK = timedelta(days=1)

_HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
_LANG = re.compile(r"^\s*([A-Za-z]{2})(?:[-_]|\s*$)")


@dataclass
class ParsedFeed:
    """Items plus, when the document was not a feed at all, why (fetch reports it as an error)."""

    items: list[RawItem] = field(default_factory=list)
    problem: str | None = None


class RssSource(Source):
    name: ClassVar[str] = "rss"
    default_interval: ClassVar[float] = 600.0
    required: ClassVar[tuple[str, ...]] = ("urls",)
    optional: ClassVar[tuple[str, ...]] = ("max_items", "user_agent", "headers_env")
    docs: ClassVar[str] = """\
# rss: RSS, Atom and JSON Feed

Polls one or more feed URLs: Google News and Google Alerts searches, news sites, blogs, forum and
review feeds, YouTube channel feeds, Reddit `.rss` searches. Every URL is fetched concurrently with
a conditional GET (ETag / Last-Modified), so an unchanged feed costs one 304.

| key | required | meaning |
|---|---|---|
| `urls` | yes | one http(s) URL or a list of them |
| `max_items` | no | entries taken from the top of each feed per poll (default 200, at most 500) |
| `user_agent` | no | User-Agent sent to these feeds (some sites block generic clients) |
| `headers_env` | no | request headers whose values are read from environment variables (private feeds) |

```yaml
sources:
  - type: rss
    name: google-news
    urls:
      - "https://news.google.com/rss/search?q=acme&hl=de&gl=DE&ceid=DE:de"
      - "https://www.google.com/alerts/feeds/0123456789/987654321"
    interval: 10m
    max_items: 100
  - type: rss
    name: partner-portal
    urls: "https://partner.example.com/feed.atom"
    headers_env: {Authorization: PARTNER_FEED_AUTH}   # the header value is in $PARTNER_FEED_AUTH
```

Each entry becomes a mention: the entry id (guid) is its identity, else its canonical link, else a
hash of its text. Links are canonicalised (tracking parameters and fragments removed, Google
redirect links unwrapped), titles and bodies are reduced to plain text, dates are UTC (a date more
than a day in the future is ignored and the fetch time is used). Google News' `<source>` element
is kept as `extra.outlet`.

Cursor: `{"seen": {url: [hashes of recent entry ids]}, "errors": {url: message}}`. Entries seen
before are not returned again even when a feed has no dates; the list is capped at 500 per URL.
If some URLs fail, the others still deliver and the failures are listed under `errors` (shown in
the source's health); if every URL fails, the poll fails.
"""

    def __init__(self, config: SourceConfig, http: HttpClient) -> None:
        super().__init__(config, http)
        opts = config.options
        self.urls = _config_urls(config)
        self.max_items = _config_max_items(config)
        self.headers: dict[str, str] = {}
        user_agent = opts.get("user_agent")
        if user_agent is not None:
            if not isinstance(user_agent, str) or not user_agent.strip() or not user_agent.isprintable():
                raise config.error("user_agent", "must be a non-empty one-line string")
            self.headers["User-Agent"] = user_agent.strip()
        self.headers.update(_config_headers_env(config))

    async def fetch(self, cursor: Cursor | None) -> tuple[list[RawItem], Cursor | None]:
        seen_before = _cursor_seen(cursor)
        outcomes = await asyncio.gather(*(self._fetch_one(url) for url in self.urls))
        items: list[RawItem] = []
        taken: set[str] = set()
        seen: dict[str, list[str]] = {}
        errors: dict[str, str] = {}
        for url, outcome in zip(self.urls, outcomes, strict=True):
            old = seen_before.get(url, [])
            if isinstance(outcome, str):
                errors[url] = outcome
                if old:
                    seen[url] = old
                continue
            old_set = set(old)
            current: list[str] = []
            for item in outcome:
                key = _seen_key(item.native_id)
                current.append(key)
                if key not in old_set and item.native_id not in taken:
                    taken.add(item.native_id)
                    items.append(item)
            seen[url] = list(dict.fromkeys(current + old))[:MAX_SEEN]
        if errors and len(errors) == len(self.urls):
            url, message = next(iter(errors.items()))
            more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
            raise SourceError(f"every feed failed: {url}: {message}{more}")
        new_cursor: Cursor = {"seen": seen}
        if errors:
            new_cursor["errors"] = errors
        return items, new_cursor

    async def _fetch_one(self, url: str) -> list[RawItem] | str:
        """The feed's items, or a one-line error; one broken feed must not sink the others."""
        try:
            response = await self.http.get(url, headers=self.headers or None, conditional=True)
        except SourceError as exc:
            return _one_line(str(exc) or type(exc).__name__)
        if response.not_modified or response.status == 304:
            return []
        parsed = parse_feed(response.body, url=response.url or url, headers=response.headers,
                            max_items=self.max_items)
        if parsed.problem:
            return parsed.problem
        return parsed.items

    @staticmethod
    def parse(payload: Any, *, url: str = "", headers: Mapping[str, str] | None = None,
              now: datetime | None = None, max_items: int = MAX_ITEMS, **context: Any) -> list[RawItem]:
        """Pure and total: any bytes give a list (empty for a page that is not a feed)."""
        return parse_feed(payload, url=url, headers=headers, now=now, max_items=max_items).items


# --- configuration ------------------------------------------------------------------------------

def _config_urls(config: SourceConfig) -> list[str]:
    raw = config.options.get("urls")
    values = [raw] if isinstance(raw, str) else raw
    if not isinstance(values, list) or not values:
        raise config.error("urls", "must be a URL or a list of URLs")
    urls: list[str] = []
    for value in values:
        if not isinstance(value, str) or not _is_http_url(value.strip()):
            raise config.error("urls", f"{value!r} is not an http(s) URL")
        urls.append(value.strip())
    return list(dict.fromkeys(urls))


def _config_max_items(config: SourceConfig) -> int:
    value = config.options.get("max_items", DEFAULT_MAX_ITEMS)
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_ITEMS:
        raise config.error("max_items", f"must be a whole number from 1 to {MAX_ITEMS}")
    return value


def _config_headers_env(config: SourceConfig) -> dict[str, str]:
    """Header values come from the environment so that secrets never sit in monitor.yaml."""
    raw = config.options.get("headers_env")
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise config.error("headers_env", "must map header names to environment variable names")
    headers: dict[str, str] = {}
    for name, var in raw.items():
        if not isinstance(name, str) or not _HEADER_NAME.match(name):
            raise config.error("headers_env", f"{name!r} is not a valid header name")
        if not isinstance(var, str) or not var:
            raise config.error("headers_env", f"{name}: must name an environment variable")
        value = os.environ.get(var)
        if value is None:
            raise config.error("headers_env", f"{name}: environment variable {var} is not set")
        if "\n" in value or "\r" in value:
            raise config.error("headers_env", f"{name}: environment variable {var} contains a line break")
        headers[name] = value
    return headers


def _cursor_seen(cursor: Cursor | None) -> dict[str, list[str]]:
    seen = (cursor or {}).get("seen")
    if not isinstance(seen, dict):
        return {}
    return {url: [k for k in keys if isinstance(k, str)]
            for url, keys in seen.items() if isinstance(url, str) and isinstance(keys, list)}


def _seen_key(native_id: str) -> str:
    """A short digest keeps the cursor small whatever the length of the feed's ids."""
    return hashlib.blake2b(native_id.encode("utf-8", "replace"), digest_size=8).hexdigest()


def _one_line(message: str, limit: int = 300) -> str:
    return " ".join(message.split())[:limit]


# --- parsing ------------------------------------------------------------------------------------

def parse_feed(payload: Any, *, url: str = "", headers: Mapping[str, str] | None = None,
               now: datetime | None = None, max_items: int = MAX_ITEMS) -> ParsedFeed:
    """Parse one fetched document; never raises, whatever the bytes."""
    if isinstance(payload, str):
        payload = payload.encode("utf-8")
    if not isinstance(payload, (bytes, bytearray, memoryview)):
        return ParsedFeed(problem=f"not a feed: got {type(payload).__name__}")
    data = bytes(payload)
    if not data.strip():
        return ParsedFeed(problem="not a feed: empty response")
    hdrs = {str(k).lower(): str(v) for k, v in (headers or {}).items()}
    now = ensure_utc(now) if now else utcnow()
    limit = max(0, min(max_items, MAX_ITEMS))
    if "json" in hdrs.get("content-type", "") or data.lstrip(b"\xef\xbb\xbf \t\r\n")[:1] == b"{":
        return _parse_json_feed(data, url=url, now=now, limit=limit)
    base = _base_url(url, hdrs.get("content-location", ""))
    hdrs.pop("content-location", None)
    if base:
        hdrs["content-location"] = base
    try:
        # A stream, never the bytes themselves: feedparser would open bytes that look like a path.
        # Links are resolved either way; resolving the ones inside HTML bodies re-parses every body
        # in pure Python (a third of the parse time) for attributes that html_to_text throws away.
        doc = feedparser.parse(io.BytesIO(data), response_headers=hdrs, resolve_relative_uris=False)
    except Exception as exc:  # hostile input must not take the poller down
        log.debug("feedparser failed on %s: %r", url, exc)
        return ParsedFeed(problem=_one_line(f"not a feed: {exc!r}"))
    entries = doc.get("entries") or []
    if not doc.get("version") and not entries:
        reason = doc.get("bozo_exception")
        return ParsedFeed(problem=_one_line(f"not a feed: {reason}" if reason else "not a feed"))
    feed = doc.get("feed") or {}
    ctx = _FeedContext(
        url=url or base,
        title=html_to_text(feed.get("title"), single_line=True, max_chars=300),
        lang=_lang(feed.get("language")) or _lang(hdrs.get("content-language")),
        updated=_struct_to_dt(_plain_get(feed, "updated_parsed"), now) or _struct_to_dt(
            _plain_get(feed, "published_parsed"), now),
        now=now,
    )
    items: list[RawItem] = []
    for entry in entries[:limit]:
        try:
            item = _entry_item(entry, ctx)
        except Exception:  # one odd entry must not cost the others
            log.debug("skipping an unreadable entry in %s", url, exc_info=True)
            continue
        if item is not None:
            items.append(item)
    return ParsedFeed(items=items)


@dataclass(frozen=True)
class _FeedContext:
    url: str
    title: str
    lang: str | None
    updated: datetime | None
    now: datetime


def _entry_item(entry: Mapping[str, Any], ctx: _FeedContext) -> RawItem | None:
    link = _item_url(entry.get("link"), ctx.url)
    title = html_to_text(entry.get("title"), single_line=True, max_chars=MAX_TITLE)
    text = _entry_text(entry)
    native_id = _native_id(entry.get("id"), link, title, text, ctx.url)
    if not native_id:
        return None
    detail = entry.get("author_detail") or {}
    author_name = html_to_text(detail.get("name") or entry.get("author") or detail.get("email"),
                               single_line=True, max_chars=200)
    author_url = detail.get("href") or ""
    dates = [_plain_get(entry, k) for k in ("published_parsed", "updated_parsed", "created_parsed")]
    extra: dict[str, Any] = {"feed_title": ctx.title, "feed_url": ctx.url}
    source = entry.get("source") or {}
    outlet = html_to_text(source.get("title"), single_line=True, max_chars=200)
    if outlet:
        extra["outlet"] = outlet
    return RawItem(
        native_id=native_id,
        url=link,
        title=title,
        text=text,
        author=Author(platform=site_of(link) or "rss", handle=author_name, name=author_name,
                      url=canonical_url(author_url) if _is_http_url(author_url) else ""),
        published_at=_first_date(dates, ctx),
        lang_hint=_entry_lang(entry) or ctx.lang,
        tags=_tags(tag.get("term") or tag.get("label") for tag in entry.get("tags") or []
                   if isinstance(tag, Mapping)),
        extra=extra,
    )


def _entry_text(entry: Mapping[str, Any]) -> str:
    for content in entry.get("content") or []:
        text = html_to_text(content.get("value"), max_chars=MAX_TEXT)
        if text:
            return text
    return html_to_text(entry.get("summary") or entry.get("description"), max_chars=MAX_TEXT)


def _native_id(raw_id: Any, link: str, title: str, text: str, feed_url: str) -> str:
    entry_id = " ".join(str(raw_id or "").split())[:MAX_ID]
    if entry_id:
        if ":" not in entry_id and feed_url:
            # A bare "123" is only unique within its site; a URI or tag: id is unique everywhere.
            return f"{site_of(feed_url) or feed_url}#{entry_id}"
        return entry_id
    if link:
        return link
    if not (title or text):
        return ""
    basis = "\x00".join((feed_url, title, text))
    return "sha:" + hashlib.blake2b(basis.encode("utf-8", "replace"), digest_size=16).hexdigest()


def _item_url(value: Any, base: str) -> str:
    if not isinstance(value, str) or not value.strip():
        return ""
    link = value.strip().replace(" ", "%20")     # sloppy feeds leave spaces in paths
    absolute = urljoin(base, link) if base else link
    if not _is_http_url(absolute):
        return ""
    return canonical_url(_unwrap_redirect(absolute))


def _unwrap_redirect(url: str) -> str:
    """Google Alerts link through google.com/url?url=TARGET; the mention is the target."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    if parts.path == "/url" and (host.startswith(("google.", "www.google."))):
        params = dict(parse_qsl(parts.query))
        target = params.get("url") or params.get("q") or ""
        if _is_http_url(target):
            return target
    return url


def _base_url(url: str, content_location: str) -> str:
    """Content-Location (resolved against the request URL) wins over the URL; only http(s)."""
    if content_location:
        joined = urljoin(url, content_location.strip()) if url else content_location.strip()
        if _is_http_url(joined):
            return joined
    return url if _is_http_url(url) else ""


def _is_http_url(value: str) -> bool:
    try:
        parts = urlsplit(value)
    except ValueError:
        return False
    return parts.scheme.lower() in ("http", "https") and bool(parts.netloc) and " " not in value


def _plain_get(mapping: Mapping[str, Any], key: str) -> Any:
    """Read a key without feedparser's deprecated updated->published aliasing (and its warning)."""
    return dict.get(mapping, key) if isinstance(mapping, dict) else mapping.get(key)


def _first_date(candidates: list[Any], ctx: _FeedContext) -> datetime | None:
    for candidate in candidates:
        when = _struct_to_dt(candidate, ctx.now)
        if when is not None:
            return when
    return ctx.updated


def _struct_to_dt(value: Any, now: datetime) -> datetime | None:
    """feedparser's UTC struct_time to an aware datetime; implausible future dates are dropped."""
    if value is None:
        return None
    try:
        when = datetime.fromtimestamp(calendar.timegm(value), UTC)
    except (TypeError, ValueError, OverflowError, OSError):
        return None
    return _sane(when, now)


def _sane(when: datetime, now: datetime) -> datetime | None:
    return None if when > now + FUTURE_SLACK else when


def _lang(value: Any) -> str | None:
    if not isinstance(value, str):
        return None
    match = _LANG.match(value)
    return match.group(1).lower() if match else None


def _entry_lang(entry: Mapping[str, Any]) -> str | None:
    details = [{"language": entry.get("language")}, *(entry.get("content") or []),
               entry.get("summary_detail") or {},
               entry.get("title_detail") or {}]
    for detail in details:
        lang = _lang(detail.get("language"))
        if lang:
            return lang
    return None


def _tags(terms: Any) -> tuple[str, ...]:
    out: dict[str, None] = {}
    for term in terms:
        if isinstance(term, str):
            text = html_to_text(term, single_line=True, max_chars=100)
            if text:
                out[text] = None
        if len(out) >= MAX_TAGS:
            break
    return tuple(out)


# --- JSON Feed (feedparser 6 does not read it) ----------------------------------------------------

def _parse_json_feed(data: bytes, *, url: str, now: datetime, limit: int) -> ParsedFeed:
    try:
        doc = json.loads(data)
    except (ValueError, RecursionError) as exc:
        return ParsedFeed(problem=_one_line(f"not a feed: invalid JSON ({exc})"))
    if not isinstance(doc, dict) or "jsonfeed.org" not in str(doc.get("version", "")):
        return ParsedFeed(problem="not a feed: JSON without a jsonfeed.org version")
    raw_items = doc.get("items")
    if not isinstance(raw_items, list):
        return ParsedFeed(problem="not a feed: JSON Feed without an items list")
    ctx = _FeedContext(url=url, title=html_to_text(_str(doc.get("title")), single_line=True, max_chars=300),
                       lang=_lang(doc.get("language")), updated=None, now=now)
    feed_authors = _json_authors(doc)
    items: list[RawItem] = []
    for raw in raw_items[:limit]:
        if isinstance(raw, dict):
            item = _json_item(raw, ctx, feed_authors)
            if item is not None:
                items.append(item)
    return ParsedFeed(items=items)


def _json_item(raw: dict[str, Any], ctx: _FeedContext, feed_authors: list[dict[str, Any]]) -> RawItem | None:
    link = _item_url(_str(raw.get("url")) or _str(raw.get("external_url")), ctx.url)
    title = html_to_text(_str(raw.get("title")), single_line=True, max_chars=MAX_TITLE)
    text = (html_to_text(_str(raw.get("content_html")), max_chars=MAX_TEXT)
            or html_to_text(_str(raw.get("content_text")), max_chars=MAX_TEXT)
            or html_to_text(_str(raw.get("summary")), max_chars=MAX_TEXT))
    raw_id = raw.get("id")
    native_id = _native_id(raw_id if isinstance(raw_id, (str, int)) and not isinstance(raw_id, bool) else "",
                           link, title, text, ctx.url)
    if not native_id:
        return None
    authors = _json_authors(raw) or feed_authors
    first = authors[0] if authors else {}
    name = html_to_text(_str(first.get("name")), single_line=True, max_chars=200)
    author_url = _str(first.get("url"))
    tags = raw.get("tags")
    return RawItem(
        native_id=native_id, url=link, title=title, text=text,
        author=Author(platform=site_of(link) or "rss", handle=name, name=name,
                      url=canonical_url(author_url) if _is_http_url(author_url) else ""),
        published_at=_iso_date(raw.get("date_published"), now=ctx.now)
        or _iso_date(raw.get("date_modified"), now=ctx.now),
        lang_hint=_lang(raw.get("language")) or ctx.lang,
        tags=_tags(tags if isinstance(tags, list) else ()),
        extra={"feed_title": ctx.title, "feed_url": ctx.url},
    )


def _json_authors(obj: dict[str, Any]) -> list[dict[str, Any]]:
    authors = obj.get("authors")
    if isinstance(authors, list):
        return [a for a in authors if isinstance(a, dict)]
    author = obj.get("author")
    return [author] if isinstance(author, dict) else []


def _iso_date(value: Any, *, now: datetime) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        when = ensure_utc(datetime.fromisoformat(value.strip()))
    except (ValueError, OverflowError):
        return None
    return _sane(when, now)


def _str(value: Any) -> str:
    return value if isinstance(value, str) else ""
