"""The pipeline: normalise, match brands, dedupe, language, sentiment, store, hand over."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from monitor.config import BrandConfig
from monitor.models import Author, Mention, RawItem, mention_id
from monitor.pipeline import Pipeline
from monitor.sources.base import SourceConfig
from monitor.store.base import Filters
from monitor.store.sqlite import SqliteStore

ACME = BrandConfig("Acme", '(acme OR "acme corp" OR #acme) NOT (acme-klo OR "wile e coyote")', ("de", "en"))
GLOBEX = BrandConfig("Globex", "globex", ("en",))
NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
SRC = SourceConfig(type="rss", name="news")


def item(n: int, title: str, text: str = "", **kw: object) -> RawItem:
    return RawItem(native_id=f"n{n}", url=f"https://www.example.com/{n}?utm_source=x#top", title=title, text=text,
                   **kw)  # type: ignore[arg-type]


def test_matching_drops_other_items_and_names_brands() -> None:
    p = Pipeline([ACME, GLOBEX])
    out = p.prepare(SRC, [
        item(1, "Acme outage again", "terrible service, I want a refund"),
        item(2, "Weather report", "sunny"),
        item(3, "Acme-Klo im Test", "acme-klo ist ein Campingklo"),
        item(4, "Globex and ACME CORP merge", "big news"),
        item(5, "Wile E Coyote buys acme rockets"),
    ], fetched_at=NOW)
    assert [m.native_id for m in out] == ["n1", "n4"]
    assert out[1].brands == ("Acme", "Globex")


def test_each_language_scored_by_its_own_model_others_unscored() -> None:
    acme = BrandConfig("Acme", "acme", ("de", "en", "fr"))
    p = Pipeline([acme])
    en, de, fr = p.prepare(SRC, [
        item(1, "Acme is terrible", "The worst support I have ever had. Awful."),
        item(2, "Acme ist schrecklich", "Die Hotline war nie erreichbar und der Service ist eine Katastrophe."),
        item(3, "Acme est nul", "Le service client ne répond jamais.", lang_hint="fr"),
    ], fetched_at=NOW)
    assert en.lang == "en" and en.sentiment is not None and en.sentiment < 0 and en.sentiment_label == "negative"
    assert de.lang == "de" and de.sentiment is not None and de.sentiment_label == "negative"
    assert fr.lang == "fr" and fr.sentiment is None and fr.sentiment_label is None, "no French model: unscored"


def test_language_hint_wins_when_configured() -> None:
    p = Pipeline([ACME])
    (m,) = p.prepare(SRC, [item(1, "Acme", "ok", lang_hint="de-AT")], fetched_at=NOW)
    assert m.lang == "de"


def test_brand_languages_restrict() -> None:
    p = Pipeline([ACME, GLOBEX])
    out = p.prepare(SRC, [item(1, "Globex Kundenservice ist sehr gut", "Wir sind zufrieden mit Globex.")],
                    fetched_at=NOW)
    assert out == []  # Globex is watched in English only


def test_match_all_for_own_channels() -> None:
    own = SourceConfig(type="rss", name="acme-forum", match="all", brands=("Acme",))
    p = Pipeline([ACME, GLOBEX])
    (m,) = p.prepare(own, [item(1, "Weather report", "sunny")], fetched_at=NOW)
    assert m.brands == ("Acme",) and m.source_name == "acme-forum"


def test_normalise_dedupe_canonical_and_dates() -> None:
    p = Pipeline([ACME])
    future = NOW + timedelta(days=3)
    out = p.prepare(SRC, [
        item(1, "  Acme\u200b  news \x00", "line1\r\n\r\n\r\n\r\nline2"),
        item(1, "Acme duplicate in the same batch"),
        item(2, "Acme from the future", published_at=future),
        item(3, "Acme dated", published_at=datetime(2026, 11, 1, 8, 0)),  # naive = UTC
        RawItem(native_id="", url="", title="Acme without id or url", text=""),
        item(4, "", ""),
    ], fetched_at=NOW)
    assert [m.native_id for m in out] == ["n1", "n2", "n3"]
    first = out[0]
    assert first.title == "Acme news" and first.text == "line1\n\nline2"
    assert first.url == "https://www.example.com/1"
    assert first.id == mention_id("rss", "n1")
    assert first.published_at == NOW and first.fetched_at == NOW
    assert out[1].published_at == NOW
    assert out[2].published_at == datetime(2026, 11, 1, 8, 0, tzinfo=UTC)


async def test_ingest_stores_once_and_hands_new_ones_over(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "m.db")
    await store.open()
    handed: list[list[Mention]] = []

    async def on_new(new: list[Mention]) -> None:
        handed.append(new)

    try:
        p = Pipeline([ACME], store, on_new=on_new)
        items = [item(1, "Acme outage", "bad", author=Author(platform="example", handle="anna")),
                 item(2, "Acme praise", "great")]
        assert len(await p.ingest(SRC, items, fetched_at=NOW)) == 2
        assert await p.ingest(SRC, items, fetched_at=NOW) == []
        assert [len(h) for h in handed] == [2]
        assert await store.count(Filters(brands=("Acme",))) == 2
        assert await store.count(Filters(authors=("ANNA",))) == 1
    finally:
        await store.close()


def test_confidence_and_brand_targeted_score_are_kept() -> None:
    from monitor.config import SentimentSettings
    from monitor.pipeline import brand_terms
    from monitor.query import compile_query

    assert brand_terms(compile_query(ACME.query)) == (("acme",), ("acme", "corp"))
    assert brand_terms(compile_query("(voltaro* OR #volt) (strom NEAR/3 netz) -billig")) == (
        ("voltaro*",), ("volt",), ("strom",), ("netz",))
    p = Pipeline([ACME])
    (m,) = p.prepare(SRC, [item(1, "Review", "Acme fixed my problem in minutes, brilliant. "
                                "Their rival is awful, slow and rude. Never again with them!")], fetched_at=NOW)
    assert m.sentiment is not None and m.sentiment_confidence is not None and 0 <= m.sentiment_confidence <= 1
    assert m.sentiment_target is not None and m.sentiment_target > m.sentiment
    # The per-language sentiment settings reach the pipeline: German switched off -> unscored.
    off = Pipeline([ACME], sentiment={"en": SentimentSettings("vader"), "de": SentimentSettings("none")})
    (de,) = off.prepare(SRC, [item(2, "Acme ist schrecklich", "Nie wieder.")], fetched_at=NOW)
    assert de.lang == "de" and de.sentiment is None and de.sentiment_confidence is None
