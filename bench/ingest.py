"""Ingest benchmark: N recorded mentions through the real pipeline into SQLite, against a bare loop.

The corpus is built from real recorded feeds in ../shared/fixtures/feeds/realworld (German and English
news), each entry given a unique id and the brand word so every one is a mention. Both contenders do the
same work per item: parse the feed XML (feedparser), detect the language (py3langid, restricted to de/en),
score English with VADER, and insert into SQLite with an FTS5 index. The bare loop is that and nothing else;
the pipeline adds canonical URLs, HTML stripping, brand matching, dedupe and the store's bookkeeping.

    python bench/ingest.py [--n 20000] [--batch 200]

Prints throughput (mentions/s), p95 batch latency, peak RSS, and the ratio pipeline/bare.
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


def bare_loop(docs: list[bytes], db: Path) -> tuple[float, list[float]]:
    import py3langid.langid as langid
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    ident = langid.LanguageIdentifier.from_model_file(langid.MODEL_FILE, norm_probs=True)
    ident.set_languages(["de", "en"])
    vader = SentimentIntensityAnalyzer()
    con = sqlite3.connect(db)
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("PRAGMA synchronous=NORMAL")
    con.execute("CREATE TABLE m (rid INTEGER PRIMARY KEY, id TEXT UNIQUE, url TEXT, title TEXT, text TEXT,"
                " author TEXT, published REAL, lang TEXT, sentiment REAL)")
    con.execute("CREATE VIRTUAL TABLE f USING fts5(title, body, tokenize='unicode61 remove_diacritics 2')")
    lat = []
    t0 = time.perf_counter()
    for doc in docs:
        b0 = time.perf_counter()
        rows, fts = [], []
        for e in feedparser.parse(doc).entries:
            title, text = e.get("title", ""), e.get("summary", "")
            lang = ident.classify(f"{title}\n{text}"[:600])[0]
            s = vader.polarity_scores(f"{title}\n{text}")["compound"] if lang == "en" else None
            rows.append((e.get("id"), e.get("link"), title, text, e.get("author", ""), time.time(), lang, s))
            fts.append((title, text))
        with con:
            con.executemany("INSERT OR IGNORE INTO m (id,url,title,text,author,published,lang,sentiment)"
                            " VALUES (?,?,?,?,?,?,?,?)", rows)
            con.executemany("INSERT INTO f (title, body) VALUES (?,?)", fts)
        lat.append(time.perf_counter() - b0)
    elapsed = time.perf_counter() - t0
    con.close()
    return elapsed, lat


async def pipeline_run(docs: list[bytes], db: Path) -> tuple[float, list[float], int]:
    from monitor.config import BrandConfig
    from monitor.pipeline import Pipeline
    from monitor.sources.base import SourceConfig
    from monitor.sources.rss import RssSource
    from monitor.store.sqlite import SqliteStore

    store = SqliteStore(db)
    await store.open()
    pipe = Pipeline([BrandConfig("Acme", '(acme OR "acme corp" OR #acme) NOT "wile e coyote"', ("de", "en"))],
                    store)
    sc = SourceConfig(type="rss", name="bench", options={"urls": ["https://news.example.com/rss"]})
    lat = []
    stored = 0
    t0 = time.perf_counter()
    for doc in docs:
        b0 = time.perf_counter()
        items = RssSource.parse(doc, url="https://news.example.com/rss")
        stored += len(await pipe.ingest(sc, items))
        lat.append(time.perf_counter() - b0)
    elapsed = time.perf_counter() - t0
    await store.close()
    return elapsed, lat, stored


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=20_000)
    ap.add_argument("--batch", type=int, default=200)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    docs = build_feeds(args.n, args.batch)
    with tempfile.TemporaryDirectory() as tmp:
        gc.collect()
        bare_s, bare_lat = bare_loop(docs, Path(tmp) / "bare.db")
        gc.collect()
        pipe_s, pipe_lat, stored = asyncio.run(pipeline_run(docs, Path(tmp) / "pipe.db"))
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    result = {
        "n": args.n, "batch": args.batch, "stored": stored,
        "pipeline_mentions_per_s": round(args.n / pipe_s), "bare_mentions_per_s": round(args.n / bare_s),
        "pipeline_p95_batch_ms": round(p95(pipe_lat) * 1000, 1), "bare_p95_batch_ms": round(p95(bare_lat) * 1000, 1),
        "ratio_pipeline_over_bare": round(pipe_s / bare_s, 3), "peak_rss_mb": round(rss_mb, 1),
    }
    if args.json:
        print(json.dumps(result))
    else:
        print(f"items: {args.n} in batches of {args.batch}; stored by the pipeline: {stored}")
        r = result
        print(f"pipeline: {r['pipeline_mentions_per_s']:>8} mentions/s   p95 batch {r['pipeline_p95_batch_ms']} ms")
        print(f"bare loop:{r['bare_mentions_per_s']:>8} mentions/s   p95 batch {r['bare_p95_batch_ms']} ms")
        print(f"ratio (pipeline time / bare time): {r['ratio_pipeline_over_bare']}x   peak RSS {r['peak_rss_mb']} MB")
    return 0 if stored == args.n else 1


if __name__ == "__main__":
    sys.exit(main())
