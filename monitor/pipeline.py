"""normalise -> match brands -> dedupe -> language -> sentiment -> store -> wake the alert engine.

``prepare`` is pure (no I/O) so it can be tested and benchmarked alone; ``ingest`` adds the store.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from datetime import datetime, timedelta

from .config import BrandConfig, SentimentSettings
from .enrich.language import LanguageDetector
from .enrich.sentiment import SentimentScorer
from .models import Mention, RawItem, ensure_utc, mention_id, utcnow
from .query import Doc, Near, Not, Phrase, Query, compile_query
from .sources.base import SourceConfig
from .store.base import Store
from .urls import canonical_url

MAX_TITLE = 1_000
MAX_TEXT = 20_000
# Clocks differ; a date far in the future is a parsing accident, not news from tomorrow.
FUTURE_SLACK = timedelta(hours=1)
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\u200b\u200e\u200f\ufeff]")
_SPACES = re.compile(r"[ \t\u00a0]+")
_BLANKS = re.compile(r"\n{3,}")


def normalise_text(text: str, limit: int) -> str:
    text = unicodedata.normalize("NFC", text or "")
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = _CONTROL.sub("", text)
    # Each regex pass costs more than the substring tests that show it has nothing to do.
    if "  " in text or "\t" in text or "\xa0" in text:
        text = _SPACES.sub(" ", text)
    if "\n\n\n" in text:
        text = _BLANKS.sub("\n\n", text)
    return text.strip()[:limit]


class Pipeline:
    def __init__(self, brands: Sequence[BrandConfig], store: Store | None = None, *,
                 languages: Sequence[str] | None = None,
                 on_new: Callable[[list[Mention]], Awaitable[None]] | None = None,
                 sentiment: Mapping[str, SentimentSettings] | None = None) -> None:
        self.brands = tuple(brands)
        self.store = store
        self.on_new = on_new
        langs = tuple(languages or dict.fromkeys(lang for b in self.brands for lang in b.languages)) or ("en",)
        self.detector = LanguageDetector(langs)
        self.scorer = SentimentScorer(sentiment)
        self._queries: list[tuple[BrandConfig, Query]] = [(b, compile_query(b.query)) for b in self.brands]
        self._terms = {b.name: brand_terms(q) for b, q in self._queries}
        self._lang_first = any("lang" in q.fields_used for _, q in self._queries)

    def prepare(self, source: SourceConfig, items: Sequence[RawItem],
                fetched_at: datetime | None = None) -> list[Mention]:
        """Pure: raw items of one source to enriched mentions of our brands (unmatched items dropped)."""
        now = ensure_utc(fetched_at or utcnow())
        out: dict[str, Mention] = {}
        for item in items:
            url = canonical_url(item.url) if item.url else ""
            try:
                mid = mention_id(source.type, item.native_id or None, url or None)
            except ValueError:
                continue
            if mid in out:
                continue
            title = normalise_text(item.title, MAX_TITLE)
            text = normalise_text(item.text, MAX_TEXT)
            if not title and not text:
                continue
            published = ensure_utc(item.published_at) if item.published_at else now
            if published > now + FUTURE_SLACK:
                published = now
            lang: str | None = None
            if self._lang_first:
                lang = self.detector.detect(f"{title}\n{text}", item.lang_hint)
            doc = Doc(title=title, text=text, author_handle=item.author.handle, author_name=item.author.name,
                      site=_site(url), lang=lang or "", source=source.type, source_name=source.name)
            brands = self._match(source, doc, lang)
            if not brands:
                continue
            if lang is None:
                lang = self.detector.detect(f"{title}\n{text}", item.lang_hint)
            if lang is not None:
                brands = tuple(b for b in brands if self._brand_accepts(b, lang)) or ()
                if not brands:
                    continue
            body = f"{title}\n{text}" if title not in text else text
            terms = [t for b in brands for t in self._terms.get(b, ())]
            senti = self.scorer.analyze(body, lang, brand_terms=terms)
            out[mid] = Mention(
                id=mid, source=source.type, source_name=source.name, native_id=item.native_id or url,
                url=url, title=title, text=text, author=item.author, published_at=published, fetched_at=now,
                lang=lang, sentiment=senti.score, sentiment_label=senti.label, brands=brands,
                sentiment_confidence=senti.confidence, sentiment_target=senti.target_score,
                engagement=item.engagement, reach=item.reach, parent_url=item.parent_url, tags=item.tags,
                extra=dict(item.extra),
            )
        return list(out.values())

    def _match(self, source: SourceConfig, doc: Doc, lang: str | None) -> tuple[str, ...]:
        if source.match == "all":
            return source.brands or tuple(b.name for b in self.brands)
        return tuple(b.name for b, q in self._queries if q.matches(doc))

    def _brand_accepts(self, name: str, lang: str) -> bool:
        for b in self.brands:
            if b.name == name:
                return not b.languages or lang in b.languages
        return False

    async def ingest(self, source: SourceConfig, items: Sequence[RawItem],
                     fetched_at: datetime | None = None) -> list[Mention]:
        """Prepare, store (idempotent), and hand what was new to the alert engine."""
        if self.store is None:
            raise RuntimeError("Pipeline.ingest needs a store")
        mentions = self.prepare(source, items, fetched_at)
        new = await self.store.add(mentions) if mentions else []
        if new and self.on_new is not None:
            await self.on_new(new)
        return new


def brand_terms(query: Query) -> tuple[tuple[str, ...], ...]:
    """The words and phrases a brand query looks for (not those under NOT), for brand-targeted sentiment."""
    def walk(node: object) -> Iterator[tuple[str, ...]]:
        if isinstance(node, Not):
            return
        if isinstance(node, Phrase):
            if node.tokens:
                yield node.tokens[:-1] + (node.tokens[-1] + "*",) if node.prefix else node.tokens
        elif isinstance(node, Near):
            for p in node.phrases:
                yield from walk(p)
        else:
            for child in getattr(node, "children", ()):
                yield from walk(child)

    return tuple(dict.fromkeys(walk(query.ast)))


def _site(url: str) -> str:
    from .urls import site_of

    return site_of(url)
