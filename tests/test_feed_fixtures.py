"""RssSource.parse over every recorded feed in ../shared/fixtures/feeds: total, clean and faithful.

The feedparser documents isolate one behaviour each (broken XML, encodings, XSS, dates, bases);
the realworld ones are what pollers really receive. Invariants run on all of them; a handful of
concrete expectations were read off the files by hand.
"""

from __future__ import annotations

import io
import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import feedparser
import pytest

from monitor.models import RawItem
from monitor.sources.rss import RssSource, parse_feed
from monitor.urls import canonical_url

from .fixtures_path import FIXTURES

FEEDS = FIXTURES / "feeds"
FP_INDEX: dict[str, dict[str, Any]] = json.loads((FEEDS / "feedparser" / "_index.json").read_text("utf-8"))
RW_INDEX: dict[str, dict[str, Any]] = {
    e["file"]: e for e in json.loads((FEEDS / "realworld" / "_index.json").read_text("utf-8"))}
ALL_FILES = sorted(p.relative_to(FEEDS).as_posix() for p in FEEDS.rglob("*")
                   if p.is_file() and p.name not in ("README.md", "_index.json"))
NOW = datetime(2026, 1, 1, tzinfo=UTC)

# Markup or script that must never survive into stored plain text.
UNSAFE_TEXT = re.compile(r"<\s*/?\s*(script|iframe|img|svg|object|embed|style|a|div|p|b|i|span)\b|"
                         r"<!--|<!\[CDATA\[|javascript:\S|\bon(error|load|click|mouseover)\s*=",
                         re.IGNORECASE)
UNSAFE_URL = re.compile(r"^\s*(javascript|data|vbscript):", re.IGNORECASE)


def fixture_headers(rel: str) -> dict[str, str]:
    """The HTTP headers feedparser's own test harness sends with this document."""
    meta = FP_INDEX.get(rel.removeprefix("feedparser/"), {}) if rel.startswith("feedparser/") else {}
    headers: dict[str, str] = {}
    for line in meta.get("headers", []):
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return headers


def parse_fixture(rel: str, **kw: Any) -> list[RawItem]:
    return RssSource.parse((FEEDS / rel).read_bytes(), url=f"https://feeds.example/{rel}",
                           headers=fixture_headers(rel), now=NOW, **kw)


def by_title(items: list[RawItem], title: str) -> RawItem:
    return next(i for i in items if i.title == title)


def test_fixture_corpus_is_there() -> None:
    assert len(ALL_FILES) >= 380
    assert "realworld/rss-parser/heise.atom" in ALL_FILES


@pytest.mark.parametrize("rel", ALL_FILES)
def test_every_fixture_parses_to_clean_items(rel: str) -> None:
    items = parse_fixture(rel)
    assert isinstance(items, list)
    for item in items:
        assert isinstance(item, RawItem)
        assert item.native_id and item.native_id.strip() == item.native_id
        assert item.published_at is None or (
            item.published_at.tzinfo is not None and item.published_at.utcoffset() == timedelta(0)
            and item.published_at <= NOW + timedelta(days=1))
        for text in (item.title, item.text, item.author.name, *item.tags, item.extra.get("outlet", "")):
            assert not UNSAFE_TEXT.search(text), text
        assert "\n" not in item.title
        for url in (item.url, item.author.url):
            assert not UNSAFE_URL.match(url)
            if url:
                assert url.startswith(("http://", "https://"))
                assert url == canonical_url(url)
                assert "#" not in url and "utm_" not in url
        assert item.lang_hint is None or re.fullmatch(r"[a-z]{2}", item.lang_hint)
        assert item.extra["feed_url"] == f"https://feeds.example/{rel}"


FP_WITH_ENTRIES = sorted(
    f"feedparser/{k}" for k, v in FP_INDEX.items()
    if v.get("bozo_expected") is False and "entries[" in v.get("expect", "") and not k.startswith("json/"))


# Their one entry has no id, link or title and a body that is only markup (an <img>, a bare
# <!DOCTYPE, a script in nested CDATA): nothing to address or read, so no item.
FP_MARKUP_ONLY = {
    "feedparser/encoding/euc-kr-attribute.xml",
    "feedparser/wellformed/atom10/entry_content_src.xml",
    "feedparser/wellformed/rss/item_description_not_a_doctype2.xml",
    "feedparser/wellformed/sanitize/acceptable_element_img.xml",
    "feedparser/wellformed/sanitize/blogger_dollar_sign_in_attribute.xml",
    "feedparser/wellformed/sanitize/entry_content_onclick.xml",
    "feedparser/wellformed/sanitize/entry_content_onerror.xml",
    "feedparser/wellformed/sanitize/item_content_encoded_script_nested_cdata.xml",
}


@pytest.mark.parametrize("rel", FP_WITH_ENTRIES)
def test_wellformed_feedparser_entries_are_kept(rel: str) -> None:
    """Every entry with something to identify or read becomes an item; only empty shells are dropped."""
    doc = feedparser.parse(io.BytesIO((FEEDS / rel).read_bytes()), response_headers=fixture_headers(rel))
    items = parse_fixture(rel)
    assert len(items) <= len(doc.entries)
    addressable = [e for e in doc.entries if e.get("id") or e.get("link") or e.get("title")]
    assert len(items) >= len(addressable)
    if rel in FP_MARKUP_ONLY:
        assert addressable == [] and items == []
    elif any(e.get("summary") or e.get("content") for e in doc.entries) or addressable:
        assert items, f"{rel}: feedparser sees {len(doc.entries)} entries, we kept none"


def _raw_entry_count(path: Path) -> int:
    data = path.read_bytes()
    if path.suffix == ".json":
        return sum(1 for i in json.loads(data).get("items", []) if isinstance(i, dict))
    return len(re.findall(rb"<(?:item|entry)[\s>]", data))


# Realworld documents whose entries are not all kept, and why.
RW_EXCEPTIONS = {
    "realworld/rss-parser/incomplete-fields.atom": 0,   # one entry with an empty <author/> only
    "realworld/rss-parser/unrecognized.rss": 0,         # an HTML page, not a feed
}
RW_FILES = [rel for rel in ALL_FILES if rel.startswith("realworld/")]


@pytest.mark.parametrize("rel", RW_FILES)
def test_realworld_feeds_keep_every_entry(rel: str) -> None:
    expected = RW_EXCEPTIONS.get(rel, _raw_entry_count(FEEDS / rel))
    assert len(parse_fixture(rel)) == expected
    if rel not in RW_EXCEPTIONS:
        assert expected > 0


def test_realworld_index_lists_the_files_on_disk() -> None:
    on_disk = {rel.removeprefix("realworld/") for rel in RW_FILES}
    assert on_disk <= set(RW_INDEX)


# --- concrete expectations read off the files ------------------------------------------------------

def test_heise_atom() -> None:
    items = parse_fixture("realworld/rss-parser/heise.atom")
    assert len(items) == 15
    first = items[0]
    assert first.title == "Java-Anwendungsserver: Red Hat gibt WildFly 10 frei"
    assert first.native_id == "http://heise.de/-3088438"
    # wt_mc=rss.developer.beitrag.atom is a tracking parameter
    assert first.url == ("http://www.heise.de/developer/meldung/"
                         "Java-Anwendungsserver-Red-Hat-gibt-WildFly-10-frei-3088438.html")
    assert first.published_at == datetime(2016, 2, 1, 16, 22, tzinfo=UTC)   # 17:22:00+01:00
    assert first.text.startswith("Die nun verfügbare Version 10 des Enterprise-Java-Servers")
    assert first.extra["feed_title"] == "heise developer neueste Meldungen"
    # A title that merely names the language is kept as written.
    assert any("JavaScript: Typüberprüfungen" in i.title for i in items)


def test_guardian_rss() -> None:
    items = parse_fixture("realworld/rss-parser/guardian.rss")
    assert len(items) == 55
    item = by_title(items, "Trump State of the Union address promised unity but emphasized discord")
    assert item.published_at == datetime(2018, 1, 31, 7, 26, 5, tzinfo=UTC)
    assert item.author.name == "David Smith in Washington"
    assert item.author.platform == "theguardian.com"
    assert "US news" in item.tags
    assert item.lang_hint == "en"
    assert item.url.startswith("https://www.theguardian.com/us-news/2018/jan/31/")
    assert len({i.native_id for i in items}) == len(items)


def test_google_alerts_atom_unwraps_redirect_links_and_highlighting() -> None:
    items = parse_fixture("realworld/feedjira/google_alerts_atom.xml")
    assert len(items) == 20
    first = items[0]
    assert first.title.startswith("Report offers Prediction of Automotive Slack Market")
    assert first.url.startswith("https://www.aglobalmarketresearch.com/report-offers-prediction-of-automotive")
    assert first.author.platform == "aglobalmarketresearch.com"
    assert first.native_id == "tag:google.com,2013:googlealerts/feed:8974135267215335962"
    assert first.published_at == datetime(2019, 7, 10, 11, 53, 37, tzinfo=UTC)
    assert "company's decision" in by_title(
        items, "Slack Stock Has a Compelling Story and the Numbers to Back It Up").text.lower()
    assert not any("google.com/url" in i.url for i in items)
    assert not any("<b>" in i.title or "&nbsp;" in i.text for i in items)
    assert {i.extra["feed_title"] for i in items} == {"Google Alert - Slack"}


def test_latin2_feed_is_decoded() -> None:
    [item] = parse_fixture("realworld/rss-parser/latin2.rss")
    assert item.title == "ZAŻÓŁĆ GĘSLĄ JAŹŃ"
    assert item.author.name == "Adam Gżegżółka"
    assert item.lang_hint == "pl"


def test_undeclared_latin1_with_portuguese_dates() -> None:
    items = parse_fixture("realworld/rss-parser/uolNoticias.rss")
    assert len(items) == 15
    assert items[0].title.startswith("Ibope: Bolsonaro perde de Haddad, Ciro e Alckmin em simulações")
    assert "Líder na pesquisa Ibope" in items[0].text
    # 'Seg, 24 Set 2018' is not an RFC 822 date: parsed or left to the fetch time, never wrong.
    assert all(i.published_at is None or i.published_at.date() == datetime(2018, 9, 24).date()
               for i in items)


def test_declared_iso_8859_1_and_gb2312() -> None:
    [zeuhl] = parse_fixture("realworld/huginn/iso-8859-1.rss")
    assert zeuhl.title == "Mëkanïk Zaïn"
    [qq] = parse_fixture("realworld/rss-parser/encoding-gb2312.xml")
    assert qq.title == "拟298亿元重组盛大游戏后 世纪华通发20亿回购预案"
    assert qq.lang_hint == "zh"


def test_http_charset_wins_over_the_document() -> None:
    [item] = parse_fixture("feedparser/encoding/http_text_xml_charset_overrides_encoding_2.xml")
    assert item.text == "This is a \xa3\u201ctest.\u201d"


def test_content_location_resolves_relative_links() -> None:
    [item] = parse_fixture("feedparser/wellformed/base/http_item_link_base_content_location.xml")
    assert item.url == "http://example.com/relative/uri"


def test_html_page_instead_of_a_feed_yields_nothing() -> None:
    rel = "realworld/rss-parser/unrecognized.rss"
    assert parse_fixture(rel) == []
    problem = parse_feed((FEEDS / rel).read_bytes(), url="https://x.example/feed").problem
    assert problem is not None and problem.startswith("not a feed")


def test_odd_dates_parse_or_give_none() -> None:
    herald = parse_fixture("realworld/rss-parser/heraldsun.rss")      # '03 Apr 02 1500 GMT'
    assert len(herald) == 2
    assert all(i.published_at is None or i.published_at.year == 2002 for i in herald)
    epoch = parse_fixture("realworld/feedjira/InvalidDateFormat.xml")  # dc:date '1518478934'
    assert epoch[0].published_at == datetime(2017, 10, 16, 15, 10, tzinfo=UTC)
    podcast = parse_fixture("realworld/huginn/podcast.rss")            # '+3000' offsets, 'EST'
    assert len(podcast) == 4 and all(i.published_at is None or i.published_at.year >= 2014 for i in podcast)
    narro = parse_fixture("realworld/rss-parser/narro.rss")            # 'UTC' zone name
    assert narro[0].published_at == datetime(2015, 2, 20, 9, 51, 15, tzinfo=UTC)


def test_entries_missing_fields() -> None:
    [bare] = parse_fixture("realworld/rss-parser/missing-fields.atom")
    assert bare.native_id == "tag:github.com,2008:Repository/11167738/v3.9.0"
    assert (bare.url, bare.title, bare.text, bare.published_at) == ("", "", "", None)
    assert bare.lang_hint == "en"                                       # xml:lang="en-US" on the feed
    assert parse_fixture("realworld/rss-parser/incomplete-fields.atom") == []


def test_json_feeds() -> None:
    items = parse_fixture("realworld/feedjira/json_feed.json")
    assert len(items) == 20
    assert items[0].title == "James Dempsey and the Breakpoints Benefit App Camp for Girls"
    assert items[0].author.name == "Brent Simmons"
    assert items[0].published_at == datetime(2017, 6, 3, 5, 5, 47, tzinfo=UTC)
    assert "playing keyboard" in items[0].text
    odd = parse_fixture("realworld/reader/invalid.json")               # wrong types everywhere
    assert len(odd) == 8
    assert by_title(odd, "float id").native_id.startswith("sha:")
    assert next(i for i in odd if i.native_id.endswith("second author is good")).author.name == "Jane"


def test_sanitize_fixtures_keep_only_the_safe_text() -> None:
    [title] = parse_fixture("feedparser/wellformed/sanitize/entry_title_script.xml")
    assert title.title == "safe description"
    for name in ("entry_content_script", "entry_content_iframe", "item_description_script",
                 "entry_content_style_tag", "item_content_encoded_iframe"):
        [item] = parse_fixture(f"feedparser/wellformed/sanitize/{name}.xml")
        assert item.text == "safe description", name


def test_forum_feed_keeps_author_and_category() -> None:
    items = parse_fixture("realworld/huginn/cdata_rss.atom")
    assert items[0].author.name == "supergergo"
    assert items[0].tags == ("Help: Rainmeter Skins",)
    assert items[0].url == "http://rainmeter.net/forum/viewtopic.php?t=21984&p=116390"   # fragment dropped


def test_max_items_takes_the_top_of_the_feed() -> None:
    top = parse_fixture("realworld/rss-parser/guardian.rss", max_items=5)
    assert [i.title for i in top] == [i.title for i in parse_fixture("realworld/rss-parser/guardian.rss")[:5]]
