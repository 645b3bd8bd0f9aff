"""The Store contract: every backend must pass these unchanged.

Only the ``Store`` protocol is used, through the ``store`` fixture (an opened store; see
``STORE_FACTORIES`` in conftest.py). A backend's test module subclasses :class:`StoreContract`.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from monitor.errors import QuerySyntaxError, StoreError
from monitor.models import Author, Engagement, Mention, mention_id
from monitor.store.base import Filters, Store

BASE = datetime(2024, 3, 1, 10, 0, tzinfo=UTC)


def make(native: str | int, text: str = "", *, source: str = "rss", minutes: float = 0,
         **fields: Any) -> Mention:
    """A mention with plain defaults; ``minutes`` after BASE is its publication time."""
    native = str(native)
    values: dict[str, Any] = {
        "source_name": "news", "url": f"https://www.example.com/post/{native}", "title": "",
        "text": text or f"post number {native}", "author": Author(platform=source, handle=f"user{native}"),
        "published_at": BASE + timedelta(minutes=minutes), "fetched_at": BASE + timedelta(days=1),
    }
    values.update(fields)
    return Mention(id=mention_id(source, native), source=source, native_id=native, **values)


async def all_pages(store: Store, filters: Filters, sort: Any = "newest", limit: int = 3) -> list[Mention]:
    """Walk every page, checking each page's total and that no mention comes twice."""
    seen: list[Mention] = []
    cursor: str | None = None
    expected_total = await store.count(filters)
    for _ in range(1000):
        page = await store.search(filters, sort=sort, cursor=cursor, limit=limit)
        assert len(page.items) <= limit
        assert page.total == expected_total
        seen.extend(page.items)
        cursor = page.next_cursor
        if cursor is None:
            break
        assert len(page.items) == limit
    ids = [m.id for m in seen]
    assert len(ids) == len(set(ids)), "a mention was repeated across pages"
    return seen


async def natives(store: Store, **filters: Any) -> set[str]:
    return {m.native_id for m in await all_pages(store, Filters(**filters), limit=100)}


def utc(minutes: float) -> datetime:
    return BASE + timedelta(minutes=minutes)


class StoreContract:
    # -- add / get ---------------------------------------------------------------------------

    async def test_add_returns_only_new_mentions_in_given_order(self, store: Store) -> None:
        a, b, c = make("a"), make("b"), make("c")
        assert await store.add([b, a]) == [b, a]
        assert await store.add([c, a, b]) == [c]
        assert await store.add([a]) == []
        assert await store.add([]) == []
        assert await store.count(Filters()) == 3

    async def test_same_id_twice_in_one_call_is_stored_once(self, store: Store) -> None:
        first, second = make("x", "first text"), make("x", "second text")
        assert first.id == second.id
        assert await store.add([first, second]) == [first]
        assert await store.get(first.id) == first
        assert await store.count(Filters()) == 1

    async def test_re_adding_a_known_id_changes_nothing(self, store: Store) -> None:
        await store.add([make("x", "alpha words", brands=("Acme",))])
        assert await store.add([make("x", "beta words", brands=("Other",), lang="de")]) == []
        stored = await store.get(make("x").id)
        assert stored is not None and stored.text == "alpha words"
        assert await natives(store, query="beta") == set()
        assert await natives(store, brands=("Other",)) == set()
        assert await natives(store, query="alpha", brands=("Acme",)) == {"x"}

    async def test_add_is_idempotent_across_reopen(self, store: Store) -> None:
        m = make("persist")
        assert await store.add([m]) == [m]
        await store.close()
        await store.open()
        assert await store.add([m]) == []
        assert await store.get(m.id) == m
        assert await store.count(Filters()) == 1

    async def test_add_is_atomic_per_call(self, store: Store) -> None:
        good, bad = make("good"), make("bad", extra={"not json": object()})
        with pytest.raises(StoreError):
            await store.add([good, bad])
        assert await store.count(Filters()) == 0
        assert await store.get(good.id) is None
        assert await store.add([good]) == [good]

    async def test_round_trip_keeps_every_field(self, store: Store) -> None:
        berlin = timezone(timedelta(hours=2))
        full = Mention(
            id=mention_id("mastodon", "109"), source="mastodon", source_name="Mastodon Social",
            native_id="109", url="https://www.social.example/@jane/109?x=1", title="Grüße aus Köln",
            text="Die Kündigung kam per Post 🙄 #Acme @support", author=Author(
                platform="mastodon", handle="Jane", name="Jane Müller", url="https://social.example/@jane",
                followers=12345),
            published_at=datetime(2024, 2, 29, 23, 59, 58, 123456, tzinfo=berlin),
            fetched_at=datetime(2024, 3, 1, 0, 0, 1, 999999, tzinfo=UTC), lang="de", sentiment=-0.6249,
            sentiment_label="negative", sentiment_confidence=0.42, sentiment_target=-0.25,
            brands=("Acme", "Acme Bank"),
            engagement=Engagement(likes=3, replies=2, shares=1, score=-4), reach=40000,
            parent_url="https://social.example/@acme/100", tags=("kündigung", "support"), status="read",
            extra={"visibility": "public", "nested": {"list": [1, 2.5, None, True], "ü": "ß"}},
        )
        minimal = make("min", lang=None)
        await store.add([full, minimal])
        for original in (full, minimal):
            got = await store.get(original.id)
            assert got == original
            assert got is not None
            for value in (got.published_at, got.fetched_at):
                assert value.utcoffset() == timedelta(0)
            assert isinstance(got.brands, tuple) and isinstance(got.tags, tuple)
        page = await store.search(Filters(ids=(full.id,)))
        assert page.items == [full]
        batch, _ = await store.added_since(None)
        assert batch == [full, minimal]

    async def test_get_unknown_is_none(self, store: Store) -> None:
        assert await store.get("0" * 32) is None

    # -- query ------------------------------------------------------------------------------

    @pytest.fixture
    async def corpus(self, store: Store) -> Store:
        await store.add([
            make("blackout", "Stromausfall bei Acme in Berlin", minutes=1),
            make("corp", "Acme Corp announces a refund", minutes=2),
            make("loose", "The corp behind acme is quiet", minutes=3),
            make("tag", "Loving the new phone #acme", minutes=4),
            make("town", "Acmeville opens a new park", minutes=5),
            make("far", "acme one two three four five six refund", minutes=6),
            make("near", "acme quick refund", minutes=7),
            make("quit", "Meine KÜNDIGUNG ist raus", minutes=8),
        ])
        return store

    @pytest.mark.parametrize(("query", "expected"), [
        ('"acme corp"', {"corp"}),
        ("acme NEAR/3 refund", {"corp", "near"}),
        ("refund NOT corp", {"far", "near"}),
        ("refund -corp", {"far", "near"}),
        ("#acme", {"tag"}),
        ("stromausfall OR park", {"blackout", "town"}),
        ("(stromausfall OR refund) NOT quick", {"blackout", "corp", "far"}),
    ])
    async def test_search_by_query(self, corpus: Store, query: str, expected: set[str]) -> None:
        assert await natives(corpus, query=query) == expected

    async def test_prefix_matches_longer_words_plain_word_does_not(self, corpus: Store) -> None:
        plain = await natives(corpus, query="acme")
        prefixed = await natives(corpus, query="acme*")
        assert "town" not in plain
        assert prefixed == plain | {"town"}
        assert {"blackout", "corp", "loose", "far", "near"} <= plain

    async def test_accents_and_umlauts_are_ignored(self, corpus: Store) -> None:
        for query in ("kundigung", "Kündigung", "KUNDIGUNG", '"ist raus"'):
            assert await natives(corpus, query=query) == {"quit"}, query

    async def test_blank_query_means_no_query(self, corpus: Store) -> None:
        assert await corpus.count(Filters(query="  ")) == 8

    async def test_bad_query_raises_query_syntax_error(self, corpus: Store) -> None:
        with pytest.raises(QuerySyntaxError):
            await corpus.search(Filters(query="(acme OR"))

    # -- filters ----------------------------------------------------------------------------

    @pytest.fixture
    async def varied(self, store: Store) -> Store:
        await store.add([
            make("1", brands=("Acme",), sentiment=-0.7, sentiment_label="negative", lang="de", minutes=0,
                 author=Author("rss", "Jane")),
            make("2", brands=("Acme", "Globex"), sentiment=0.0, sentiment_label="neutral", lang="en",
                 minutes=60, source_name="Google-News", author=Author("rss", "jane")),
            make("3", source="reddit", source_name="r-acme", brands=("Globex",), sentiment=0.8,
                 sentiment_label="positive", lang="en", minutes=120, author=Author("reddit", "bob")),
            make("4", source="reddit", source_name="r-acme", lang=None, minutes=180, status="done",
                 author=Author("reddit", "Bob")),
        ])
        return store

    async def test_filters(self, varied: Store) -> None:
        s = varied
        assert await natives(s) == {"1", "2", "3", "4"}
        assert await natives(s, brands=("Acme",)) == {"1", "2"}
        assert await natives(s, brands=("Acme", "Globex")) == {"1", "2", "3"}
        assert await natives(s, sources=("reddit",)) == {"3", "4"}
        assert await natives(s, sources=("google-news",)) == {"2"}
        assert await natives(s, sources=("R-ACME", "google-news")) == {"2", "3", "4"}
        assert await natives(s, sentiments=("negative",)) == {"1"}
        assert await natives(s, sentiments=("unscored",)) == {"4"}
        assert await natives(s, sentiments=("positive", "unscored")) == {"3", "4"}
        assert await natives(s, langs=("en",)) == {"2", "3"}
        assert await natives(s, langs=("de", "en")) == {"1", "2", "3"}
        assert await natives(s, authors=("JANE",)) == {"1", "2"}
        assert await natives(s, authors=("bob", "nobody")) == {"3", "4"}
        assert await natives(s, statuses=("done",)) == {"4"}
        assert await natives(s, statuses=("new", "read")) == {"1", "2", "3"}
        assert await natives(s, since=utc(60)) == {"2", "3", "4"}
        assert await natives(s, until=utc(60)) == {"1"}
        assert await natives(s, since=utc(30), until=utc(120)) == {"2"}
        assert await natives(s, ids=(make("2").id, make("3", source="reddit").id)) == {"2", "3"}
        assert await natives(s, brands=("Globex",), langs=("en",), sources=("rss",)) == {"2"}

    async def test_query_field_filters(self, varied: Store) -> None:
        assert await natives(varied, query="source:reddit") == {"3", "4"}
        assert await natives(varied, query="source:Google-News") == {"2"}
        assert await natives(varied, query="author:JANE") == {"1", "2"}
        assert await natives(varied, query="lang:de") == {"1"}
        assert await natives(varied, query="NOT lang:de") == {"2", "3", "4"}
        assert await natives(varied, query="site:example.com") == {"1", "2", "3", "4"}
        assert await natives(varied, query="site:ample.com") == set()

    async def test_unknown_sentiment_is_rejected(self, varied: Store) -> None:
        with pytest.raises(ValueError):
            await varied.count(Filters(sentiments=("angry",)))

    async def test_set_status(self, varied: Store) -> None:
        ids = [make("1").id, make("2").id]
        assert await varied.set_status(ids, "read") == 2
        assert await varied.set_status(ids, "read") == 0
        assert await natives(varied, statuses=("read",)) == {"1", "2"}
        got = await varied.get(ids[0])
        assert got is not None and got.status == "read"
        with pytest.raises(ValueError):
            await varied.set_status(ids, "archived")

    # -- sorting and paging -----------------------------------------------------------------

    async def test_newest_and_oldest_order(self, store: Store) -> None:
        await store.add([make(n, minutes=m) for n, m in (("b", 5), ("a", 1), ("c", 9), ("d", 5))])
        newest = [m.native_id for m in (await store.search(Filters(), sort="newest")).items]
        oldest = [m.native_id for m in (await store.search(Filters(), sort="oldest")).items]
        tie = sorted(["b", "d"], key=lambda n: make(n).id, reverse=True)
        assert newest == ["c", *tie, "a"]
        assert oldest == list(reversed(newest))

    async def test_relevance_ranks_better_matches_first(self, store: Store) -> None:
        await store.add([
            make("weak", "a long text that mentions widget only once among many other words here", minutes=9),
            make("strong", "widget widget widget", title="Widget review", minutes=1),
            make("none", "nothing relevant", minutes=5),
        ])
        page = await store.search(Filters(query="widget"), sort="relevance")
        assert [m.native_id for m in page.items] == ["strong", "weak"]
        fallback = await store.search(Filters(), sort="relevance")
        assert [m.native_id for m in fallback.items] == ["weak", "none", "strong"]

    @pytest.mark.parametrize("sort", ["newest", "oldest", "relevance"])
    async def test_cursor_pages_never_repeat_or_skip(self, store: Store, sort: Any) -> None:
        same_time = [make(f"tie{i}", f"acme tie {i}", minutes=30) for i in range(10)]
        others = [make(f"o{i}", "acme other", minutes=i * 10) for i in range(3)]
        await store.add(same_time + others)
        for filters in (Filters(), Filters(query="acme"), Filters(query="tie")):
            seen = await all_pages(store, filters, sort=sort, limit=3)
            assert len(seen) == await store.count(filters)
        got = await all_pages(store, Filters(query="tie"), sort=sort, limit=3)
        assert {m.id for m in got} == {m.id for m in same_time}
        if sort != "relevance":
            times = [m.published_at for m in await all_pages(store, Filters(), sort=sort, limit=3)]
            assert times == sorted(times, reverse=sort == "newest")

    async def test_newest_paging_is_stable_when_newer_mentions_arrive(self, store: Store) -> None:
        await store.add([make(i, minutes=i) for i in range(6)])
        first = await store.search(Filters(), limit=3)
        await store.add([make("late", minutes=100)])
        second = await store.search(Filters(), cursor=first.next_cursor, limit=3)
        assert [m.native_id for m in first.items + second.items] == ["5", "4", "3", "2", "1", "0"]
        assert second.total == 7

    async def test_invalid_cursor_is_rejected(self, store: Store) -> None:
        await store.add([make(i) for i in range(3)])
        with pytest.raises(ValueError):
            await store.search(Filters(), cursor="not-a-cursor!")

    async def test_count_matches_search(self, varied: Store) -> None:
        for filters in (Filters(), Filters(brands=("Acme",)), Filters(sentiments=("unscored",)),
                        Filters(langs=("xx",))):
            assert await varied.count(filters) == len(await all_pages(varied, filters, limit=1))

    # -- aggregations -----------------------------------------------------------------------

    @pytest.fixture
    async def timeline(self, store: Store) -> Store:
        await store.add([
            make("a", minutes=5, sentiment=-0.5, sentiment_label="negative", lang="de", brands=("Acme",)),
            make("b", minutes=50, lang="en", brands=("Acme", "Globex")),
            make("c", source="reddit", minutes=130, sentiment=0.5, sentiment_label="positive", lang="en"),
        ])
        return store

    async def test_histogram_buckets_without_zero_fill(self, timeline: Store) -> None:
        buckets = await timeline.histogram(Filters(), timedelta(hours=1))
        assert [(b.start, b.total, b.counts) for b in buckets] == [(utc(0), 2, {}), (utc(120), 1, {})]
        assert all(b.start.utcoffset() == timedelta(0) for b in buckets)

    async def test_histogram_zero_fills_between_since_and_until(self, timeline: Store) -> None:
        filters = Filters(since=utc(-90), until=utc(210))
        buckets = await timeline.histogram(filters, timedelta(hours=1))
        assert [(b.start, b.total) for b in buckets] == [
            (utc(-120), 0), (utc(-60), 0), (utc(0), 2), (utc(60), 0), (utc(120), 1), (utc(180), 0)]
        aligned = await timeline.histogram(Filters(since=utc(0), until=utc(120)), timedelta(hours=1))
        assert [(b.start, b.total) for b in aligned] == [(utc(0), 2), (utc(60), 0)]

    async def test_histogram_buckets_are_aligned_to_the_epoch(self, timeline: Store) -> None:
        buckets = await timeline.histogram(Filters(), timedelta(minutes=45))
        step = 45 * 60
        for b in buckets:
            assert int(b.start.timestamp()) % step == 0
        assert sum(b.total for b in buckets) == 3

    @pytest.mark.parametrize(("split_by", "expected"), [
        ("sentiment", [{"negative": 1, "unscored": 1}, {"positive": 1}]),
        ("source", [{"rss": 2}, {"reddit": 1}]),
        ("lang", [{"de": 1, "en": 1}, {"en": 1}]),
        ("brand", [{"Acme": 2, "Globex": 1}, {}]),
    ])
    async def test_histogram_split_by(self, timeline: Store, split_by: str,
                                      expected: list[dict[str, int]]) -> None:
        buckets = await timeline.histogram(Filters(), timedelta(hours=1), split_by=split_by)
        assert [b.counts for b in buckets] == expected
        assert [b.total for b in buckets] == [2, 1]

    async def test_histogram_rejects_bad_arguments(self, timeline: Store) -> None:
        with pytest.raises(ValueError):
            await timeline.histogram(Filters(), timedelta(hours=1), split_by="author")
        with pytest.raises(ValueError):
            await timeline.histogram(Filters(), timedelta(0))

    @pytest.mark.parametrize(("field", "expected"), [
        ("source", [("rss", 3), ("reddit", 1)]),
        ("source_name", [("news", 2), ("Google-News", 1), ("r-acme", 1)]),
        ("site", [("example.com", 3), ("acme.example", 1)]),
        ("author", [("jane", 2), ("bob", 1), ("zed", 1)]),
        ("lang", [("en", 2), ("de", 1)]),
        ("brand", [("Acme", 3), ("Globex", 1)]),
        ("sentiment", [("negative", 2), ("positive", 1), ("unscored", 1)]),
    ])
    async def test_top(self, store: Store, field: str, expected: list[tuple[str, int]]) -> None:
        await store.add([
            make("1", brands=("Acme",), lang="en", sentiment=-0.4, sentiment_label="negative",
                 author=Author("rss", "jane")),
            make("2", brands=("Acme", "Globex"), lang="en", sentiment=-0.9, sentiment_label="negative",
                 source_name="Google-News", author=Author("rss", "jane")),
            make("3", brands=("Acme",), lang="de", sentiment=0.9, sentiment_label="positive",
                 url="https://acme.example/x", author=Author("rss", "zed")),
            make("4", source="reddit", source_name="r-acme", author=Author("reddit", "bob"), lang=None),
        ])
        assert await store.top(field, Filters()) == expected
        assert await store.top(field, Filters(), limit=1) == expected[:1]
        filtered = await store.top(field, Filters(ids=(make("3").id,)))
        assert sum(n for _, n in filtered) == 1

    async def test_top_rejects_unknown_field(self, store: Store) -> None:
        with pytest.raises(ValueError):
            await store.top("colour", Filters())

    async def test_authors(self, store: Store) -> None:
        await store.add([
            make("1", minutes=10, sentiment=-0.5, sentiment_label="negative",
                 author=Author("rss", "Jane", "Jane Old", followers=10)),
            make("2", minutes=30, sentiment=0.5, sentiment_label="positive",
                 author=Author("rss", "jane", "Jane New", followers=500)),
            make("3", minutes=20, author=Author("rss", "JANE", "Jane Mid")),
            make("4", minutes=5, sentiment=0.0, sentiment_label="neutral",
                 author=Author("mastodon", "jane", "Other Jane")),
            make("5", minutes=40, sentiment=0.9, sentiment_label="positive",
                 author=Author("rss", "bob", "Bob")),
            make("6", minutes=50, author=Author("rss", "", "Anonymous")),
        ])
        stats = await store.authors(Filters())
        assert [(a.platform, a.handle.lower(), a.mentions) for a in stats] == [
            ("rss", "jane", 3), ("rss", "bob", 1), ("mastodon", "jane", 1)]
        jane = stats[0]
        assert (jane.handle, jane.name) == ("jane", "Jane New")
        assert (jane.positive, jane.neutral, jane.negative) == (1, 0, 1)
        assert (jane.first_seen, jane.last_seen, jane.followers) == (utc(10), utc(30), 500)
        assert stats[2].followers is None and stats[2].neutral == 1
        assert len(await store.authors(Filters(), limit=2)) == 2
        negative = await store.authors(Filters(sentiments=("negative",)))
        assert [(a.handle.lower(), a.mentions, a.negative) for a in negative] == [("jane", 1, 1)]

    # -- added_since ------------------------------------------------------------------------

    async def test_added_since_walks_in_stored_order_and_resumes(self, store: Store) -> None:
        first = [make("late", minutes=100), make("early", minutes=1), make("mid", minutes=50)]
        await store.add(first)
        batch, token = await store.added_since(None, limit=2)
        assert [m.native_id for m in batch] == ["late", "early"]
        assert token is not None
        batch, token = await store.added_since(token, limit=2)
        assert [m.native_id for m in batch] == ["mid"]
        empty, same = await store.added_since(token)
        assert (empty, same) == ([], token)
        await store.add([make("mid"), make("new1", minutes=-5), make("new2")])
        await store.close()
        await store.open()
        batch, token2 = await store.added_since(token)
        assert [m.native_id for m in batch] == ["new1", "new2"]
        assert token2 != token
        assert (await store.added_since(None, limit=10))[0][0].native_id == "late"

    # -- state ------------------------------------------------------------------------------

    async def test_state_get_put_list_delete(self, store: Store) -> None:
        assert await store.get_state("cursor", "rss:news") is None
        await store.put_state("cursor", "rss:news", {"etag": "W/\"1\"", "seen": [1, 2], "ü": None})
        assert await store.get_state("cursor", "rss:news") == {"etag": "W/\"1\"", "seen": [1, 2], "ü": None}
        await store.put_state("cursor", "rss:news", 42)
        assert await store.get_state("cursor", "rss:news") == 42
        await store.put_state("cursor", "rss:blog", "x")
        await store.put_state("cursor", "reddit:main", [1])
        await store.put_state("rule", "rss:other-namespace", True)
        await store.put_state("cursor", "rss%_:literal", 1.5)
        assert await store.list_state("cursor", "rss:") == [("rss:blog", "x"), ("rss:news", 42)]
        assert await store.list_state("cursor", "rss%_") == [("rss%_:literal", 1.5)]
        assert [k for k, _ in await store.list_state("cursor")] == [
            "reddit:main", "rss%_:literal", "rss:blog", "rss:news"]
        await store.delete_state("cursor", "rss:news")
        await store.delete_state("cursor", "never-there")
        assert await store.get_state("cursor", "rss:news") is None
        assert await store.get_state("rule", "rss:other-namespace") is True

    async def test_put_states_is_atomic(self, store: Store) -> None:
        await store.put_state("outbox", "a", {"n": 1})
        await store.put_states([("outbox", "a", {"n": 2}), ("outbox", "b", [2])])
        assert await store.list_state("outbox") == [("a", {"n": 2}), ("b", [2])]
        with pytest.raises(StoreError):
            await store.put_states([("outbox", "a", {"n": 3}), ("outbox", "c", 3), ("outbox", "d", object())])
        assert await store.list_state("outbox") == [("a", {"n": 2}), ("b", [2])]

    async def test_state_survives_reopen(self, store: Store) -> None:
        await store.put_state("rule", "spike", {"last": "2024-03-01T10:00:00+00:00"})
        await store.close()
        await store.open()
        assert await store.get_state("rule", "spike") == {"last": "2024-03-01T10:00:00+00:00"}
