"""The rss source end to end: real HttpClient, real SQLite state, a real server on 127.0.0.1.

Also the pure parts it stands on: parse on hand-written feeds, html_to_text, the registry and
the fake server other source tests reuse.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.errors import ConfigError, SourceError
from monitor.http import HttpClient
from monitor.sources import SOURCES, get_source_class
from monitor.sources.base import SourceConfig
from monitor.sources.rss import MAX_SEEN, RssSource, parse_feed
from monitor.store.sqlite import SqliteStore
from monitor.text import html_to_text

from .fakeserver import FakeServer, Reply
from .fixtures_path import FIXTURES

REALWORLD = FIXTURES / "feeds" / "realworld"
HEISE = REALWORLD / "rss-parser" / "heise.atom"
GUARDIAN = REALWORLD / "rss-parser" / "guardian.rss"
ATOM = {"Content-Type": "application/atom+xml"}
RSS = {"Content-Type": "application/rss+xml; charset=utf-8"}
NOW = datetime(2024, 3, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
async def server() -> AsyncIterator[FakeServer]:
    async with FakeServer() as fake:
        yield fake


@pytest.fixture
def state(db: SqliteStore) -> SqliteStore:
    return db


@pytest.fixture
async def http(state: SqliteStore) -> AsyncIterator[HttpClient]:
    async with HttpClient(retries=1, backoff_base=0.001, backoff_max=0.01, max_bytes=1_000_000,
                          state=state) as client:
        yield client


def cfg(**options: Any) -> SourceConfig:
    return SourceConfig(type="rss", name="news", options=options, file="monitor.yaml",
                        lines={"urls": 7}, line=5)


def rss(*items: str, extra: str = "") -> bytes:
    return (f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>T</title>{extra}'
            + "".join(items) + "</channel></rss>").encode()


def item(n: int | str, **fields: str) -> str:
    body = {"title": f"Post {n}", "link": f"https://blog.example/p/{n}", **fields}
    return "<item>" + "".join(f"<{k}>{v}</{k}>" for k, v in body.items() if v is not None) + "</item>"


# --- fetch -----------------------------------------------------------------------------------------

async def test_broken_urls_do_not_lose_the_others(server: FakeServer, http: HttpClient) -> None:
    heise = server.add("/heise.atom", HEISE, headers=ATOM)
    guardian = server.add("/guardian.rss", GUARDIAN, headers=RSS)
    broken = server.add("/broken", Reply(b"oops", status=500))
    html = server.add("/moved", REALWORLD / "rss-parser" / "unrecognized.rss",
                      headers={"Content-Type": "text/html"})
    noise = server.add("/noise", bytes(range(256)) * 8)
    huge = server.add("/huge", b"<rss><channel>" + b"x" * 1_500_000)
    source = RssSource(cfg(urls=[heise, broken, html, guardian, noise, huge]), http)

    items, cursor = await source.fetch(None)

    assert len(items) == 15 + 55
    titles = {i.title for i in items}
    assert "Java-Anwendungsserver: Red Hat gibt WildFly 10 frei" in titles
    assert "Trump State of the Union address promised unity but emphasized discord" in titles
    assert cursor is not None
    errors = cursor["errors"]
    assert set(errors) == {broken, html, noise, huge}
    assert "500" in errors[broken]
    assert errors[html].startswith("not a feed")
    assert errors[noise].startswith("not a feed")
    assert "cap" in errors[huge]
    assert set(cursor["seen"]) == {heise, guardian}
    assert len(cursor["seen"][heise]) == 15 and len(cursor["seen"][guardian]) == 55
    assert json.loads(json.dumps(cursor)) == cursor          # stored as JSON state


async def test_every_url_failing_is_a_source_error(server: FakeServer, http: HttpClient) -> None:
    gone = server.add("/gone", Reply(b"nope", status=404))
    html = server.add("/moved", REALWORLD / "rss-parser" / "unrecognized.rss")
    source = RssSource(cfg(urls=[gone, html]), http)
    with pytest.raises(SourceError) as caught:
        await source.fetch({"seen": {}})
    message = str(caught.value)
    assert message.startswith(f"every feed failed: {gone}: ")
    assert "404" in message and message.endswith("(and 1 more)")


async def test_second_poll_is_a_conditional_get(server: FakeServer, http: HttpClient) -> None:
    url = server.add("/heise.atom", HEISE, headers=ATOM, etag='"v1"',
                     last_modified="Mon, 01 Feb 2016 16:54:50 GMT")
    source = RssSource(cfg(urls=url), http)

    first, cursor = await source.fetch(None)
    second, cursor2 = await source.fetch(cursor)

    assert len(first) == 15
    assert second == []
    assert server.requests[-1].headers.get("If-None-Match") == '"v1"'
    assert server.statuses == [("/heise.atom", 200), ("/heise.atom", 304)]
    assert cursor2 == cursor                                 # a 304 keeps what was seen


async def test_cursor_dedupes_entries_without_dates(server: FakeServer, http: HttpClient) -> None:
    url = server.add("/feed.xml", rss(item(1), item(2), item(3)), headers=RSS)   # no ids, no dates
    source = RssSource(cfg(urls=[url]), http)

    first, cursor = await source.fetch(None)
    again, cursor = await source.fetch(cursor)
    server.add("/feed.xml", rss(item(4), item(1), item(2), item(3)), headers=RSS)
    newer, cursor = await source.fetch(cursor)
    fresh_start, _ = await source.fetch(None)

    assert [i.title for i in first] == ["Post 1", "Post 2", "Post 3"]
    assert all(i.published_at is None for i in first)
    assert again == []
    assert [i.title for i in newer] == ["Post 4"]
    assert len(fresh_start) == 4
    assert server.hits["/feed.xml"] == 4


async def test_seen_list_is_bounded(server: FakeServer, http: HttpClient) -> None:
    old = rss(*(item(f"a{n}") for n in range(300)))
    new = rss(*(item(f"b{n}") for n in range(300)))
    url = server.add("/feed.xml", old, Reply(new, headers=RSS), Reply(old, headers=RSS), headers=RSS)
    source = RssSource(cfg(urls=url, max_items=300), http)

    first, cursor = await source.fetch(None)
    second, cursor = await source.fetch(cursor)
    assert cursor is not None
    seen = cursor["seen"][url]
    third, _ = await source.fetch(cursor)

    assert (len(first), len(second)) == (300, 300)
    assert len(seen) == MAX_SEEN == 500
    # The newest poll's ids come first; the oldest 100 of the first poll fell off the end...
    # ...so they come back once (the store dedupes them by id), the other 200 do not.
    assert [i.title for i in third] == [f"Post a{n}" for n in range(200, 300)]


async def test_same_entry_in_two_feeds_is_returned_once(server: FakeServer, http: HttpClient) -> None:
    a = server.add("/a.atom", HEISE, headers=ATOM)
    b = server.add("/b.atom", HEISE, headers=ATOM)
    items, cursor = await RssSource(cfg(urls=[a, b]), http).fetch(None)
    assert len(items) == 15
    assert cursor is not None and cursor["seen"][a] == cursor["seen"][b]
    assert "errors" not in cursor


async def test_links_resolve_against_the_final_url(server: FakeServer, http: HttpClient) -> None:
    server.add("/blog/feed.xml", rss(item(1, link="../posts/1?utm_source=rss#top")), headers=RSS)
    old = server.add("/old-feed", Reply(status=301, headers={"Location": "/blog/feed.xml"}))
    items, cursor = await RssSource(cfg(urls=old), http).fetch({"seen": "garbage from an old version"})
    assert [i.url for i in items] == [server.url("/posts/1")]
    assert items[0].extra["feed_url"] == server.url("/blog/feed.xml")
    assert cursor is not None and list(cursor["seen"]) == [old]       # keyed by the configured URL


async def test_user_agent_and_secret_headers_are_sent(server: FakeServer, http: HttpClient,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PARTNER_FEED_AUTH", "Bearer s3cret")
    url = server.add("/private.atom", HEISE, headers=ATOM)
    source = RssSource(cfg(urls=url, user_agent="AcmeMonitor/1.0 (+https://acme.example)",
                           headers_env={"Authorization": "PARTNER_FEED_AUTH"}), http)
    items, _ = await source.fetch(None)
    assert len(items) == 15
    sent = server.requests[0].headers
    assert sent["User-Agent"] == "AcmeMonitor/1.0 (+https://acme.example)"
    assert sent["Authorization"] == "Bearer s3cret"


# --- configuration ---------------------------------------------------------------------------------

@pytest.mark.parametrize(("options", "key", "problem"), [
    ({}, "urls", "required"),
    ({"urls": []}, "urls", "required"),
    ({"urls": "ftp://example.com/feed.xml"}, "urls", "'ftp://example.com/feed.xml' is not an http(s) URL"),
    ({"urls": ["https://ok.example/feed", "javascript:alert(1)"]}, "urls", "is not an http(s) URL"),
    ({"urls": "example.com/feed"}, "urls", "is not an http(s) URL"),
    ({"urls": ["https://ok.example/feed", 5]}, "urls", "5 is not an http(s) URL"),
    ({"urls": 42}, "urls", "must be a URL or a list of URLs"),
    ({"urls": "https://ok.example/f", "max_items": 0}, "max_items", "from 1 to 500"),
    ({"urls": "https://ok.example/f", "max_items": "10"}, "max_items", "from 1 to 500"),
    ({"urls": "https://ok.example/f", "max_items": True}, "max_items", "from 1 to 500"),
    ({"urls": "https://ok.example/f", "user_agent": ""}, "user_agent", "non-empty"),
    ({"urls": "https://ok.example/f", "headers_env": "TOKEN"}, "headers_env", "must map"),
    ({"urls": "https://ok.example/f", "headers_env": {"Bad Header": "X"}}, "headers_env",
     "not a valid header"),
    ({"urls": "https://ok.example/f", "headers_env": {"Authorization": "MONITOR_TEST_UNSET_VAR"}},
     "headers_env", "environment variable MONITOR_TEST_UNSET_VAR is not set"),
    ({"urls": "https://ok.example/f", "url": "https://typo.example"}, "url", "unknown key"),
])
async def test_config_errors_name_the_key(options: dict[str, Any], key: str, problem: str) -> None:
    async with HttpClient() as client:
        with pytest.raises(ConfigError) as caught:
            RssSource(cfg(**options), client)
    err = caught.value
    assert err.key == f"sources.news.{key}"
    assert problem in err.problem
    line = 7 if key == "urls" else 5
    assert str(err).startswith(f"monitor.yaml:{line}: sources.news.{key}: ")
    assert "\n" not in str(err)


async def test_valid_config() -> None:
    async with HttpClient() as client:
        source = RssSource(cfg(urls=" https://news.example/rss ", max_items=50), client)
    assert source.urls == ["https://news.example/rss"]
    assert source.max_items == 50
    assert source.interval == 600


def test_registry() -> None:
    assert SOURCES["rss"] is RssSource
    assert get_source_class("rss") is RssSource
    with pytest.raises(KeyError, match=r"unknown source type 'rss2' \(known: .*rss"):
        get_source_class("rss2")
    assert RssSource.name == "rss" and RssSource.default_interval == 600
    for word in ("```yaml", "urls", "max_items", "user_agent", "headers_env", "seen", "errors"):
        assert word in RssSource.docs
    assert set(RssSource.optional) == {"max_items", "user_agent", "headers_env"}


# --- parse on hand-written feeds --------------------------------------------------------------------

GOOGLE_NEWS = b"""<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0"><channel><title>"acme" - Google News</title><language>de</language>
<item>
  <title>Acme baut 500 Stellen ab - DER SPIEGEL</title>
  <link>https://news.google.com/rss/articles/CBMiV2h0?oc=5&amp;utm_source=rss</link>
  <guid isPermaLink="false">CBMiV2h0dHBz</guid>
  <pubDate>Fri, 01 Mar 2024 09:30:00 GMT</pubDate>
  <description>&lt;a href="https://news.google.com/rss/articles/CBMiV2h0?oc=5"&gt;Acme baut 500
    Stellen ab&lt;/a&gt;&amp;nbsp;&amp;nbsp;&lt;font color="#6f6f6f"&gt;DER SPIEGEL&lt;/font&gt;</description>
  <source url="https://www.spiegel.de">DER SPIEGEL</source>
</item></channel></rss>"""


def test_google_news_item() -> None:
    [news] = RssSource.parse(GOOGLE_NEWS, url="https://news.google.com/rss/search?q=acme&hl=de", now=NOW)
    assert news.title == "Acme baut 500 Stellen ab - DER SPIEGEL"
    assert news.extra["outlet"] == "DER SPIEGEL"
    assert news.url == "https://news.google.com/rss/articles/CBMiV2h0?oc=5"
    assert news.native_id == "news.google.com#CBMiV2h0dHBz"      # a bare guid is qualified by its site
    assert news.text == "Acme baut 500 Stellen ab DER SPIEGEL"
    assert news.lang_hint == "de"
    assert news.published_at == datetime(2024, 3, 1, 9, 30, tzinfo=UTC)


def test_ids() -> None:
    doc = rss(item(1, guid="tag:blog.example,2024:1"),
              '<item><title>Post 2</title><guid isPermaLink="false">42</guid></item>', item(3),
              "<item><title>No link</title><description>Body</description></item>",
              "<item><title>No link</title><description>Other body</description></item>")
    items = RssSource.parse(doc, url="https://blog.example/feed", now=NOW)
    assert [i.native_id for i in items[:3]] == [
        "tag:blog.example,2024:1", "blog.example#42", "https://blog.example/p/3"]
    assert items[1].url == ""
    assert items[3].native_id.startswith("sha:") and items[4].native_id.startswith("sha:")
    assert items[3].native_id != items[4].native_id
    assert items[3].native_id == RssSource.parse(doc, url="https://blog.example/feed", now=NOW)[3].native_id


def test_dates() -> None:
    soon = (NOW + timedelta(hours=20)).strftime("%a, %d %b %Y %H:%M:%S GMT")
    doc = (b'<feed xmlns="http://www.w3.org/2005/Atom"><title>T</title><updated>2024-02-01T00:00:00Z</updated>'
           b'<entry><id>urn:1</id><title>future</title><published>2099-01-01T00:00:00Z</published></entry>'
           b'<entry><id>urn:2</id><title>future but updated</title>'
           b'<published>2099-01-01T00:00:00Z</published>'
           b'<updated>2024-02-29T10:00:00+02:00</updated></entry>'
           b'<entry><id>urn:3</id><title>feed date</title></entry>'
           b'</feed>')
    future, updated, feed_level = RssSource.parse(doc, now=NOW)
    assert future.published_at == datetime(2024, 2, 1, tzinfo=UTC)         # 2099 ignored -> feed <updated>
    assert updated.published_at == datetime(2024, 2, 29, 8, 0, tzinfo=UTC)
    assert feed_level.published_at == datetime(2024, 2, 1, tzinfo=UTC)
    [tomorrow] = RssSource.parse(rss(item(1, pubDate=soon)), now=NOW)        # within a day: clock skew
    assert tomorrow.published_at == NOW + timedelta(hours=20)
    [nothing] = RssSource.parse(rss(item(1, pubDate="Thu, 01 Jan 2099 00:00:00 GMT")), now=NOW)
    assert nothing.published_at is None


def test_links_authors_languages_tags() -> None:
    doc = (b'<feed xmlns="http://www.w3.org/2005/Atom" xml:lang="en-GB" xml:base="https://forum.example/b/">'
           b'<title>Forum</title>'
           b'<entry><id>urn:1</id><title type="html">&lt;b&gt;Acme&lt;/b&gt; &amp;amp; us</title>'
           b'<link rel="alternate" href="t/1?fbclid=abc&amp;page=2#c5"/>'
           b'<author><name>Jane &lt;Doe&gt;</name><uri>https://forum.example/u/jane</uri></author>'
           b'<category term="support"/><category term="support"/><category label="x" term="Help &amp; FAQ"/>'
           b'<content type="html" xml:lang="de-AT">&lt;p&gt;Hallo&lt;/p&gt;&lt;p&gt;Welt&lt;br/&gt;zwei'
           b'&lt;/p&gt;</content></entry>'
           b'<entry><id>urn:2</id><title>Bad link</title><link href="javascript:alert(1)"/>'
           b'<author><name></name><email>anon@example.com</email></author></entry>'
           b'</feed>')
    first, second = RssSource.parse(doc, url="https://forum.example/feed.atom", now=NOW)
    assert first.title == "Acme & us"
    assert first.url == "https://forum.example/b/t/1?page=2"
    assert first.author.name == first.author.handle == "Jane"
    assert first.author.url == "https://forum.example/u/jane"
    assert first.author.platform == "forum.example"
    assert first.tags == ("support", "Help & FAQ")
    assert first.text == "Hallo\n\nWelt\nzwei"
    assert first.lang_hint == "de"
    assert second.url == "" and second.author.platform == "rss"
    assert second.author.name == "anon@example.com"
    assert second.lang_hint == "en"


def test_script_in_title_and_double_escaped_markup() -> None:
    doc = rss(item(1, title="&lt;script&gt;alert(1)&lt;/script&gt;Acme "
                            "&amp;lt;b&amp;gt;rocks&amp;lt;/b&amp;gt;",
                   description="&lt;img src=x onerror=alert(1)&gt;&lt;iframe src=//evil&gt;"
                               "&lt;/iframe&gt;ok"))
    [it] = RssSource.parse(doc, now=NOW)
    assert it.title == "Acme rocks"
    assert it.text == "ok"


def test_http_charset_and_headers_case() -> None:
    body = '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><item><title>Grüße</title>' \
           '<link>https://x.example/1</link></item></channel></rss>'
    [latin] = RssSource.parse(body.replace('encoding="utf-8"', 'encoding="iso-8859-1"').encode("latin-1"),
                              headers={"Content-Type": "text/xml; charset=ISO-8859-1"}, now=NOW)
    assert latin.title == "Grüße"
    [text] = RssSource.parse(body, now=NOW)                       # str payloads are accepted too
    assert text.title == "Grüße"


def test_json_feed_by_sniffing() -> None:
    doc = json.dumps({"version": "https://jsonfeed.org/version/1.1", "title": "J", "language": "en-US",
                      "items": [{"id": "1", "url": "/a?utm_medium=x",
                                 "content_html": "<p>Hi <b>there</b></p>",
                                 "date_published": "2024-02-01T10:00:00+01:00", "tags": ["x", 3],
                                 "authors": [{"name": "Al", "url": "javascript:alert(1)"}]}]}).encode()
    [it] = RssSource.parse(doc, url="https://j.example/feed.json", now=NOW)
    assert (it.native_id, it.url, it.text) == ("j.example#1", "https://j.example/a", "Hi there")
    assert it.published_at == datetime(2024, 2, 1, 9, 0, tzinfo=UTC)
    assert (it.author.name, it.author.url, it.tags, it.lang_hint) == ("Al", "", ("x",), "en")
    assert parse_feed(b'{"items": []}').problem == "not a feed: JSON without a jsonfeed.org version"


@pytest.mark.parametrize("payload", [b"", b"   ", b"/etc/passwd", b"\x00\xff\xfe", b"<rss", b"<html></html>",
                                     b"{", b"[1, 2]", None, 42])
def test_parse_is_total(payload: Any) -> None:
    assert RssSource.parse(payload, now=NOW) == []
    assert parse_feed(payload).problem is not None


def test_empty_feed_is_not_a_problem() -> None:
    parsed = parse_feed(rss())
    assert parsed.items == [] and parsed.problem is None


@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=2000) | st.text(max_size=500).map(lambda t: rss(item(1, title=t)))
       | st.text(max_size=500).map(lambda t: rss(item(1, description=t))))
def test_parse_never_raises(payload: bytes) -> None:
    for it in RssSource.parse(payload, url="https://fuzz.example/feed", now=NOW):
        assert it.native_id
        assert "<script" not in it.title.lower() and "<script" not in it.text.lower()


# --- html_to_text ----------------------------------------------------------------------------------

@pytest.mark.parametrize(("html", "text"), [
    ("<p>Hallo &amp; <b>Welt</b></p><p>Zwei<br>Zeilen</p>", "Hallo & Welt\n\nZwei\nZeilen"),
    ("<script>alert(1)</script><style>p{}</style><noscript>n</noscript><iframe>i</iframe>ok", "ok"),
    ("  lots   of\t\tspace \n\n\n\n here ", "lots of space\n\nhere"),
    ("a < b and c > d", "a < b and c > d"),
    ("don&rsquo;t &hellip; &#x2019; &nbsp;x", "don\u2019t \u2026 \u2019 x"),
    ("<ul><li>one</li><li>two</li></ul>", "one\n\ntwo"),
    ("ctrl\x00\x07chars\x1b", "ctrlchars"),
    ("&lt;script&gt;alert(1)&lt;/script&gt;safe", "safe"),
    ("Family: 👨\u200d👩\u200d👧", "Family: 👨\u200d👩\u200d👧"),
    ("", ""),
    (None, ""),
])
def test_html_to_text(html: str | None, text: str) -> None:
    assert html_to_text(html) == text


def test_html_to_text_single_line_and_cap() -> None:
    assert html_to_text("<h1>Big</h1><p>news\ntoday</p>", single_line=True) == "Big news today"
    assert html_to_text("<p>" + "word " * 1000 + "</p>", max_chars=20) == "word word word word"


# --- the fake server itself ---------------------------------------------------------------------------

async def test_fake_server_replays_recorded_api_folders(server: FakeServer) -> None:
    urls = server.load_requests(FIXTURES / "api" / "reddit")
    async with HttpClient(retries=0) as client:
        listing = await client.get(urls["subreddit_new_askreddit.json"])
        # parameter order does not matter; the recorded query does
        reordered = await client.get(server.url("/r/askreddit/new?raw_json=1&limit=100"))
        forbidden = await client.get(urls["error_403.json"], raise_for_status=False)
        missing = await client.get(server.url("/r/askreddit/new?limit=5"), raise_for_status=False)
        token = await client.request("POST", urls["oauth_access_token.json"], raise_for_status=False)
        token_again = await client.request("POST", urls["oauth_access_token.json"], raise_for_status=False)
    reddit = FIXTURES / "api" / "reddit"
    assert listing.body == (reddit / "subreddit_new_askreddit.json").read_bytes()
    assert listing.headers["content-type"].startswith("application/json")
    assert reordered.body == listing.body
    assert forbidden.status == 403 and forbidden.headers["x-ratelimit-remaining"] == "599.0"
    assert missing.status == 404
    # two bodies were recorded for POST /api/v1/access_token: served in file-name order, the last repeats
    assert (token.status, token_again.status) == (429, 200)
    assert server.hits["/r/askreddit/new"] == 3


async def test_fake_server_last_modified_and_sequences(server: FakeServer) -> None:
    url = server.add("/f", Reply(status=503), Reply(b"ok", last_modified="Mon, 03 Apr 2023 01:02:03 GMT"))
    async with HttpClient(retries=0) as client:
        first = await client.get(url, raise_for_status=False)
        second = await client.get(url)
        third = await client.get(url, headers={"If-Modified-Since": "Tue, 04 Apr 2023 00:00:00 GMT"})
    assert (first.status, second.status, second.body, third.status) == (503, 200, b"ok", 304)
    assert server.statuses == [("/f", 503), ("/f", 200), ("/f", 304)]
