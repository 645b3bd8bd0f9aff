"""Ingest benchmark: N recorded mentions through the real pipeline into SQLite, against a bare loop.

The corpus is built from real recorded feeds in ../shared/fixtures/feeds/realworld (German and English
news), each entry given a unique id and the brand word so every one is a mention. Both contenders do the
same essential work per item: parse the feed XML (feedparser), reduce the HTML summary to text (the bare
loop with one lxml call), detect the language (py3langid, restricted to de/en), score English with VADER,
and insert into SQLite with an FTS5 index. The bare loop is that and nothing else; the pipeline adds
canonical URLs, paragraph-aware and hostile-input-proof HTML stripping, brand matching, dedupe and the
store's bookkeeping (secondary indexes, brand table, normalised FTS columns).

Without the text step the bare loop would run VADER and langid over markup (about a third more
characters) and index it: more work than the pipeline does, which flatters the ratio. ``--bare-raw``
measures that variant, the issue's literal "feedparser + py3langid + VADER + sqlite".

The two run interleaved, batch by batch with alternating order, so that other load on the machine
hits both alike. Throughput is given in wall-clock time and, steadier on a busy machine, in CPU time.

    python bench/ingest.py [--n 20000] [--batch 200] [--bare-raw] [--json]

Prints throughput (mentions/s), p95 batch latency, peak RSS (whole process), and the ratio pipeline/bare.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import resource
import sqlite3
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from email.utils import format_datetime
from pathlib import Path
from xml.sax.saxutils import escape

import feedparser

ROOT = Path(__file__).resolve().parents[1]
FEEDS = ROOT.parent / "shared" / "fixtures" / "feeds" / "realworld"
CORPUS_FILES = ["rss-parser/heise.atom", "rss-parser/guardian.rss", "feedjira/TechCrunch.xml",
                "rss-parser/reddit.rss", "feedjira/AmazonWebServicesBlog.xml"]


def recorded_entries() -> list[dict[str, str]]:
    out = []
    for name in CORPUS_FILES:
        parsed = feedparser.parse((FEEDS / name).read_bytes())
        for e in parsed.entries:
            text = (e.get("summary") or "")[:1500]
            out.append({"title": e.get("title", ""), "text": text, "link": e.get("link", ""),
                        "author": e.get("author", "")})
    return out


def build_feeds(n: int, batch: int) -> list[bytes]:
    """N items as RSS documents of `batch` entries each (the shape pollers really receive)."""
    entries = recorded_entries()
    docs = []
    now = datetime.now(UTC)
    for start in range(0, n, batch):
        items = []
        for i in range(start, min(n, start + batch)):
            e = entries[i % len(entries)]
            items.append(
                f"<item><title>Acme: {escape(e['title'])}</title><link>https://news.example.com/{i}?utm_source=x</link>"
                f"<guid>urn:bench:{i}</guid><description>{escape(e['text'])}</description>"
                f"<author>{escape(e['author'] or 'desk')}</author><pubDate>{format_datetime(now)}</pubDate></item>")
        docs.append(('<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>bench</title>'
                     + "".join(items) + "</channel></rss>").encode())
    return docs


def p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=20)[-1] if len(values) >= 20 else max(values)


class Timer:
    """Wall and CPU time per batch; CPU time counts the store's worker thread too (process-wide)."""

    def __init__(self) -> None:
        self.wall: list[float] = []
        self.cpu: list[float] = []

    def __enter__(self) -> Timer:
        self._w, self._c = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall.append(time.perf_counter() - self._w)
        self.cpu.append(time.process_time() - self._c)


class Bare:
    """The libraries alone, called the obvious way."""

    def __init__(self, db: Path, strip_html: bool = True) -> None:
        import lxml.html
        import py3langid.langid as langid
        from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

        self.ident = langid.LanguageIdentifier.from_model_file(langid.MODEL_FILE, norm_probs=True)
        self.ident.set_languages(["de", "en"])
        self.vader = SentimentIntensityAnalyzer()
        self.html = lxml.html
        self.strip_html = strip_html
        self.con = sqlite3.connect(db)
        self.con.execute("PRAGMA journal_mode=WAL")
        self.con.execute("PRAGMA synchronous=NORMAL")
        self.con.execute("CREATE TABLE m (rid INTEGER PRIMARY KEY, id TEXT UNIQUE, url TEXT, title TEXT, text TEXT,"
                         " author TEXT, published REAL, lang TEXT, sentiment REAL)")
        self.con.execute("CREATE VIRTUAL TABLE f USING fts5(title, body, tokenize='unicode61 remove_diacritics 2')")

    def text(self, value: str) -> str:
        if not self.strip_html or ("<" not in value and "&" not in value):
            return value
        try:
            return str(self.html.fromstring(value).text_content())
        except (ValueError, self.html.etree.ParserError):  # e.g. nothing but a comment
            return ""

    def step(self, doc: bytes) -> int:
        rows, fts = [], []
        for e in feedparser.parse(doc).entries:
            title, text = self.text(e.get("title", "")), self.text(e.get("summary", ""))
            lang = self.ident.classify(f"{title}\n{text}"[:600])[0]
            s = self.vader.polarity_scores(f"{title}\n{text}"[:2000])["compound"] if lang == "en" else None
            rows.append((e.get("id"), e.get("link"), title, text, e.get("author", ""), time.time(), lang, s))
            fts.append((title, text))
        with self.con:
            self.con.executemany("INSERT OR IGNORE INTO m (id,url,title,text,author,published,lang,sentiment)"
                                 " VALUES (?,?,?,?,?,?,?,?)", rows)
            self.con.executemany("INSERT INTO f (title, body) VALUES (?,?)", fts)
        return len(rows)


async def run(docs: list[bytes], tmp: Path, bare_raw: bool) -> tuple[Timer, Timer, int]:
    from monitor.config import BrandConfig
    from monitor.pipeline import Pipeline
    from monitor.sources.base import SourceConfig
    from monitor.sources.rss import RssSource
    from monitor.store.sqlite import SqliteStore

    bare = Bare(tmp / "bare.db", strip_html=not bare_raw)
    store = SqliteStore(tmp / "pipe.db")
    await store.open()
    pipe = Pipeline([BrandConfig("Acme", '(acme OR "acme corp" OR #acme) NOT "wile e coyote"', ("de", "en"))],
                    store)
    sc = SourceConfig(type="rss", name="bench", options={"urls": ["https://news.example.com/rss"]})
    # prepare() is pure: one untimed round loads what the pipeline builds lazily (the German lexicon),
    # as the bare loop's models are loaded above, before the clock.
    pipe.prepare(sc, RssSource.parse(docs[0], url="https://news.example.com/rss"))
    bare_t, pipe_t = Timer(), Timer()
    stored = 0

    async def pipeline_step(doc: bytes) -> None:
        nonlocal stored
        with pipe_t:
            items = RssSource.parse(doc, url="https://news.example.com/rss")
            stored += len(await pipe.ingest(sc, items))

    for i, doc in enumerate(docs):
        if i % 2:
            await pipeline_step(doc)
        with bare_t:
            bare.step(doc)
        if not i % 2:
            await pipeline_step(doc)
    await store.close()
    bare.con.close()
    return bare_t, pipe_t, stored


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=20_000)
    ap.add_argument("--batch", type=int, default=200)
    ap.add_argument("--bare-raw", action="store_true", help="bare loop without its HTML-to-text step")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    docs = build_feeds(args.n, args.batch)
    gc.collect()
    with tempfile.TemporaryDirectory() as tmp:
        bare_t, pipe_t, stored = asyncio.run(run(docs, Path(tmp), args.bare_raw))
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    pipe_s, bare_s = sum(pipe_t.wall), sum(bare_t.wall)
    pipe_cpu, bare_cpu = sum(pipe_t.cpu), sum(bare_t.cpu)
    result = {
        "n": args.n, "batch": args.batch, "stored": stored, "bare": "raw" if args.bare_raw else "text",
        "pipeline_mentions_per_s": round(args.n / pipe_s), "bare_mentions_per_s": round(args.n / bare_s),
        "pipeline_p95_batch_ms": round(p95(pipe_t.wall) * 1000, 1),
        "bare_p95_batch_ms": round(p95(bare_t.wall) * 1000, 1),
        "ratio_pipeline_over_bare": round(pipe_s / bare_s, 3),
        "pipeline_mentions_per_cpu_s": round(args.n / pipe_cpu), "bare_mentions_per_cpu_s": round(args.n / bare_cpu),
        "cpu_ratio_pipeline_over_bare": round(pipe_cpu / bare_cpu, 3),
        "peak_rss_mb": round(rss_mb, 1),
    }
    if args.json:
        print(json.dumps(result))
    else:
        print(f"items: {args.n} in batches of {args.batch}; stored by the pipeline: {stored}")
        r = result
        print(f"pipeline: {r['pipeline_mentions_per_s']:>8} mentions/s   p95 batch {r['pipeline_p95_batch_ms']} ms")
        print(f"bare loop:{r['bare_mentions_per_s']:>8} mentions/s   p95 batch {r['bare_p95_batch_ms']} ms")
        print(f"ratio (pipeline time / bare time): {r['ratio_pipeline_over_bare']}x   peak RSS {r['peak_rss_mb']} MB")
        print(f"CPU time: pipeline {r['pipeline_mentions_per_cpu_s']} mentions/s, bare {r['bare_mentions_per_cpu_s']}"
              f" mentions/s, ratio {r['cpu_ratio_pipeline_over_bare']}x   (bare loop: {r['bare']})")
    return 0 if stored == args.n else 1


if __name__ == "__main__":
    sys.exit(main())
