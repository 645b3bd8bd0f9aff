"""The embedded default store: one SQLite file (WAL, FTS5), one writer thread.

Every statement runs on a single worker thread owned by the store, so writes are serialised
without locks and the event loop never blocks on disk. Text is normalised in Python
(``monitor.query.fts_row``/``key``) before it reaches SQLite, so stored search and live
matching agree.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import math
import sqlite3
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from functools import lru_cache, partial
from pathlib import Path
from typing import Any, TypeVar

from ..errors import StoreError
from ..models import LABELS, STATUSES, Author, Engagement, Mention, ensure_utc
from ..query import compile_query, fts_row, key
from ..urls import site_of
from .base import SPLIT_FIELDS, TOP_FIELDS, AuthorStats, Bucket, Filters, Page, Sort
from .migrations import migrate

T = TypeVar("T")

# Column order shared by INSERT and by _to_row.
_INSERT_COLUMNS = (
    "rid", "id", "source", "source_name", "native_id", "url", "site", "title", "text",
    "author_platform", "author_handle", "author_name", "author_url", "author_followers",
    "author_key", "author_name_key", "source_key", "source_name_key", "published_at", "fetched_at",
    "lang", "sentiment", "sentiment_label", "brands", "engagement", "reach", "parent_url", "tags",
    "status", "extra", "sentiment_confidence", "sentiment_target",
)
_INSERT_SQL = (f"INSERT OR IGNORE INTO mentions ({', '.join(_INSERT_COLUMNS)}) "
               f"VALUES ({', '.join('?' * len(_INSERT_COLUMNS))})")
# Column order read by _to_mention.
_SELECT = ", ".join(f"m.{c}" for c in (
    "id", "source", "source_name", "native_id", "url", "title", "text", "author_platform",
    "author_handle", "author_name", "author_url", "author_followers", "published_at", "fetched_at",
    "lang", "sentiment", "sentiment_label", "brands", "engagement", "reach", "parent_url", "tags",
    "status", "extra", "sentiment_confidence", "sentiment_target",
))
_SENTIMENT = "COALESCE(m.sentiment_label, 'unscored')"
_TOP_EXPR = {
    "source": "m.source", "source_name": "m.source_name", "site": "m.site",
    "author": "m.author_handle", "lang": "m.lang", "sentiment": _SENTIMENT,
}
_SPLIT_EXPR = {"sentiment": _SENTIMENT, "source": "m.source", "lang": "m.lang"}
# Title hits weigh more than body, hashtag and handle hits when ranking by relevance.
_BM25 = "bm25(mentions_fts, 2.0, 1.0, 1.0, 1.0)"
_MAX_BUCKETS = 100_000


def _ts(value: datetime) -> float:
    return ensure_utc(value).timestamp()


def _dt(value: float) -> datetime:
    return datetime.fromtimestamp(value, UTC)


# One encoder: json.dumps with options would build a new one per call (hot in add()).
_json = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode
# Handles, names and source names repeat across mentions; normalising them is not free.
_key = lru_cache(maxsize=16_384)(key)


def _in(expr: str) -> str:
    """One JSON parameter instead of N placeholders: no variable limit, one cached statement."""
    return f"{expr} IN (SELECT value FROM json_each(?))"


def _to_row(rid: int, m: Mention) -> tuple[Any, ...]:
    a = m.author
    e = m.engagement
    return (
        rid, m.id, m.source, m.source_name, m.native_id, m.url, site_of(m.url), m.title, m.text,
        a.platform, a.handle, a.name, a.url, a.followers, _key(a.handle), _key(a.name), _key(m.source),
        _key(m.source_name), _ts(m.published_at), _ts(m.fetched_at), m.lang, m.sentiment,
        m.sentiment_label, _json(list(m.brands)),
        _json({"likes": e.likes, "replies": e.replies, "shares": e.shares, "score": e.score}),
        m.reach, m.parent_url, _json(list(m.tags)), m.status, _json(m.extra), m.sentiment_confidence,
        m.sentiment_target,
    )


def _to_mention(r: Sequence[Any]) -> Mention:
    return Mention(
        id=r[0], source=r[1], source_name=r[2], native_id=r[3], url=r[4], title=r[5], text=r[6],
        author=Author(platform=r[7], handle=r[8], name=r[9], url=r[10], followers=r[11]),
        published_at=_dt(r[12]), fetched_at=_dt(r[13]), lang=r[14], sentiment=r[15],
        sentiment_label=r[16], brands=tuple(json.loads(r[17])), engagement=Engagement(**json.loads(r[18])),
        reach=r[19], parent_url=r[20], tags=tuple(json.loads(r[21])), status=r[22], extra=json.loads(r[23]),
        sentiment_confidence=r[24], sentiment_target=r[25],
    )


def _where(filters: Filters) -> tuple[str, list[Any], str | None]:
    """Filters -> (WHERE body over alias m, params, FTS expression to rank by or None)."""
    clauses: list[str] = []
    params: list[Any] = []
    rank: str | None = None
    text = (filters.query or "").strip()
    if text:
        query = compile_query(text)
        fragment, query_params = query.to_sql()
        clauses.append(f"({fragment})")
        params.extend(query_params)
        rank = query.rank_match
    if filters.brands:
        clauses.append("EXISTS (SELECT 1 FROM mention_brands b WHERE b.rid = m.rid AND "
                       + _in("b.brand") + ")")
        params.append(_json(list(filters.brands)))
    if filters.sources:
        keys = _json([key(s) for s in filters.sources])
        clauses.append(f"({_in('m.source_key')} OR {_in('m.source_name_key')})")
        params += [keys, keys]
    if filters.sentiments:
        unknown = sorted(set(filters.sentiments) - {*LABELS, "unscored"})
        if unknown:
            raise ValueError(f"unknown sentiment {unknown[0]!r} (known: {', '.join(LABELS)}, unscored)")
        labels = [s for s in filters.sentiments if s != "unscored"]
        either = [_in("m.sentiment_label")] if labels else []
        params += [_json(labels)] if labels else []
        if "unscored" in filters.sentiments:
            either.append("m.sentiment_label IS NULL")
        clauses.append(f"({' OR '.join(either)})")
    for expr, values in (("m.lang", filters.langs), ("m.author_key", tuple(key(a) for a in filters.authors)),
                         ("m.status", filters.statuses), ("m.id", filters.ids)):
        if values:
            clauses.append(_in(expr))
            params.append(_json(list(values)))
    if filters.since is not None:
        clauses.append("m.published_at >= ?")
        params.append(_ts(filters.since))
    if filters.until is not None:
        clauses.append("m.published_at < ?")
        params.append(_ts(filters.until))
    return " AND ".join(clauses) or "1", params, rank


def _encode_cursor(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(_json(data).encode()).decode().rstrip("=")


def _decode_cursor(cursor: str, sort: str) -> dict[str, Any]:
    try:
        data = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        if not isinstance(data, dict) or data.get("s") != sort:
            raise ValueError
        if sort == "relevance":
            if not isinstance(data["o"], int) or data["o"] < 0:
                raise ValueError
        elif not (isinstance(data["t"], int | float) and isinstance(data["i"], str)):
            raise ValueError
        return data
    except (ValueError, KeyError, TypeError, binascii.Error):
        raise ValueError(f"invalid cursor for sort {sort!r}") from None


class SqliteStore:
    """Store protocol over one SQLite file; see ``monitor.store.base`` for the contract."""

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        self._executor: ThreadPoolExecutor | None = None
        self._conn: sqlite3.Connection | None = None

    # -- plumbing -------------------------------------------------------------------------

    async def _run(self, fn: Callable[..., T], *args: Any) -> T:
        if self._executor is None:
            raise StoreError(f"{self.path}: store is not open")
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, partial(self._call, fn, *args))

    def _call(self, fn: Callable[..., T], *args: Any) -> T:
        try:
            return fn(*args)
        except sqlite3.Error as exc:
            raise StoreError(f"{self.path}: {exc}") from exc

    @property
    def _db(self) -> sqlite3.Connection:
        if self._conn is None:
            raise StoreError(f"{self.path}: store is not open")
        return self._conn

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        conn = self._db
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise

    async def open(self) -> None:
        if self._executor is not None:
            return
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite-store")
        try:
            await self._run(self._open)
        except BaseException:
            self._executor.shutdown(wait=False)
            self._executor = None
            raise

    def _open(self) -> None:
        conn = sqlite3.connect(self.path, isolation_level=None)
        try:
            conn.execute("PRAGMA busy_timeout = 5000")
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = NORMAL")
            conn.execute("PRAGMA foreign_keys = ON")
            migrate(conn, self.path)
        except BaseException:
            conn.close()
            raise
        self._conn = conn

    async def close(self) -> None:
        if self._executor is None:
            return
        try:
            await self._run(self._close)
        finally:
            self._executor.shutdown(wait=False)
            self._executor = None

    def _close(self) -> None:
        if self._conn is not None:
            conn, self._conn = self._conn, None
            conn.execute("PRAGMA optimize")
            conn.close()

    # -- mentions -------------------------------------------------------------------------

    async def add(self, mentions: Sequence[Mention]) -> list[Mention]:
        if not mentions:
            return []
        return await self._run(self._add, list(mentions))

    def _add(self, mentions: list[Mention]) -> list[Mention]:
        with self._transaction() as conn:
            unique = list({m.id: m for m in reversed(mentions)}.values())[::-1]
            known = {r[0] for r in conn.execute("SELECT id FROM mentions WHERE " + _in("id"),
                                                (_json([m.id for m in unique]),))}
            fresh = [m for m in unique if m.id not in known]
            if not fresh:
                return []
            first = int(conn.execute("SELECT COALESCE(MAX(rid), 0) + 1 FROM mentions").fetchone()[0])
            try:
                rows = [_to_row(first + i, m) for i, m in enumerate(fresh)]
            except (TypeError, ValueError) as exc:
                raise StoreError(f"{self.path}: a mention cannot be stored as JSON: {exc}") from exc
            conn.executemany(_INSERT_SQL, rows)
            texts = (fts_row(m.title, m.text) for m in fresh)
            conn.executemany(
                "INSERT INTO mentions_fts (rowid, title, body, hashtags, handles) VALUES (?, ?, ?, ?, ?)",
                ((first + i, t["title"], t["body"], t["hashtags"], t["handles"])
                 for i, t in enumerate(texts)))
            conn.executemany("INSERT OR IGNORE INTO mention_brands (rid, brand) VALUES (?, ?)",
                             ((first + i, b) for i, m in enumerate(fresh) for b in m.brands))
        return fresh

    async def get(self, mention_id: str) -> Mention | None:
        return await self._run(self._get, mention_id)

    def _get(self, mention_id: str) -> Mention | None:
        row = self._db.execute(f"SELECT {_SELECT} FROM mentions m WHERE m.id = ?", (mention_id,)).fetchone()
        return _to_mention(row) if row else None

    async def set_status(self, ids: Sequence[str], status: str) -> int:
        """Returns how many mentions changed status (already having it does not count)."""
        if status not in STATUSES:
            raise ValueError(f"unknown status {status!r} (known: {', '.join(STATUSES)})")
        return await self._run(self._set_status, _json(list(ids)), status)

    def _set_status(self, ids: str, status: str) -> int:
        with self._transaction() as conn:
            cur = conn.execute("UPDATE mentions SET status = ? WHERE status != ? AND " + _in("id"),
                               (status, status, ids))
            return cur.rowcount

    # -- search ---------------------------------------------------------------------------

    async def search(self, filters: Filters, sort: Sort = "newest", cursor: str | None = None,
                     limit: int = 50) -> Page:
        if sort not in ("newest", "oldest", "relevance"):
            raise ValueError(f"unknown sort {sort!r} (known: newest, oldest, relevance)")
        if limit < 1:
            raise ValueError("limit must be at least 1")
        where, params, rank = _where(filters)
        effective = sort if sort != "relevance" or rank else "newest"
        position = _decode_cursor(cursor, effective) if cursor else None
        return await self._run(self._search, where, params, rank, effective, position, limit)

    def _search(self, where: str, params: list[Any], rank: str | None, sort: str,
                position: dict[str, Any] | None, limit: int) -> Page:
        conn = self._db
        total = int(conn.execute(f"SELECT COUNT(*) FROM mentions m WHERE {where}", params).fetchone()[0])
        if sort == "relevance":
            offset = position["o"] if position else 0
            rows = conn.execute(
                f"SELECT {_SELECT} FROM mentions m LEFT JOIN (SELECT rowid AS rid, {_BM25} AS score "
                f"FROM mentions_fts WHERE mentions_fts MATCH ?) r ON r.rid = m.rid WHERE {where} "
                "ORDER BY r.score IS NULL, r.score, m.published_at DESC, m.id DESC LIMIT ? OFFSET ?",
                [rank, *params, limit + 1, offset]).fetchall()
            more = len(rows) > limit
            items = [_to_mention(r) for r in rows[:limit]]
            nxt = _encode_cursor({"s": sort, "o": offset + limit}) if more else None
            return Page(items=items, next_cursor=nxt, total=total)
        direction, op = ("DESC", "<") if sort == "newest" else ("ASC", ">")
        seek = ""
        seek_params: list[Any] = []
        if position:
            seek = f" AND (m.published_at, m.id) {op} (?, ?)"
            seek_params = [position["t"], position["i"]]
        rows = conn.execute(
            f"SELECT {_SELECT} FROM mentions m WHERE {where}{seek} "
            f"ORDER BY m.published_at {direction}, m.id {direction} LIMIT ?",
            [*params, *seek_params, limit + 1]).fetchall()
        more = len(rows) > limit
        items = [_to_mention(r) for r in rows[:limit]]
        nxt = None
        if more:
            last = rows[limit - 1]
            nxt = _encode_cursor({"s": sort, "t": last[12], "i": last[0]})
        return Page(items=items, next_cursor=nxt, total=total)

    async def count(self, filters: Filters) -> int:
        where, params, _ = _where(filters)
        return await self._run(self._scalar, f"SELECT COUNT(*) FROM mentions m WHERE {where}", params)

    def _scalar(self, sql: str, params: list[Any]) -> int:
        return int(self._db.execute(sql, params).fetchone()[0])

    async def histogram(self, filters: Filters, interval: timedelta,
                        split_by: str | None = None) -> list[Bucket]:
        """Counts only hold keys that occur; a missing lang is not counted under any key."""
        seconds = interval.total_seconds()
        if seconds <= 0:
            raise ValueError("histogram interval must be positive")
        if split_by is not None and split_by not in SPLIT_FIELDS:
            raise ValueError(f"cannot split by {split_by!r} (known: {', '.join(SPLIT_FIELDS)})")
        first = last = None
        if filters.since is not None and filters.until is not None:
            first = math.floor(_ts(filters.since) / seconds)
            last = math.ceil(_ts(filters.until) / seconds) - 1  # the bucket holding until's last instant
            if last - first + 1 > _MAX_BUCKETS:
                raise ValueError(f"histogram would have more than {_MAX_BUCKETS} buckets; "
                                 "use a larger interval")
        where, params, _ = _where(filters)
        totals, counts = await self._run(self._histogram, where, params, seconds, split_by)
        indexes = set(totals)
        if first is not None and last is not None:
            indexes.update(range(first, last + 1))
        return [Bucket(start=_dt(i * seconds), total=totals.get(i, 0), counts=counts.get(i, {}))
                for i in sorted(indexes)]

    def _histogram(self, where: str, params: list[Any], seconds: float,
                   split_by: str | None) -> tuple[dict[int, int], dict[int, dict[str, int]]]:
        conn = self._db
        x = "(m.published_at / ?)"
        bucket = f"(CAST({x} AS INTEGER) - (CAST({x} AS INTEGER) > {x}))"
        totals = {int(i): int(n) for i, n in conn.execute(
            f"SELECT {bucket} AS k, COUNT(*) FROM mentions m WHERE {where} GROUP BY k",
            [seconds] * 3 + params)}
        counts: dict[int, dict[str, int]] = {}
        if split_by is not None:
            if split_by == "brand":
                sql = (f"SELECT {bucket} AS k, b.brand, COUNT(*) FROM mentions m "
                       f"JOIN mention_brands b ON b.rid = m.rid WHERE {where} GROUP BY k, b.brand")
            else:
                expr = _SPLIT_EXPR[split_by]
                sql = (f"SELECT {bucket} AS k, {expr} AS v, COUNT(*) FROM mentions m "
                       f"WHERE ({where}) AND v IS NOT NULL AND v != '' GROUP BY k, v")
            for i, value, n in conn.execute(sql, [seconds] * 3 + params):
                counts.setdefault(int(i), {})[value] = int(n)
        return totals, counts

    async def top(self, field: str, filters: Filters, limit: int = 10) -> list[tuple[str, int]]:
        """Mentions without a value for ``field`` are left out (except sentiment: "unscored")."""
        if field not in TOP_FIELDS:
            raise ValueError(f"unknown field {field!r} (known: {', '.join(TOP_FIELDS)})")
        where, params, _ = _where(filters)
        if field == "brand":
            sql = (f"SELECT b.brand AS v, COUNT(*) AS n FROM mentions m JOIN mention_brands b "
                   f"ON b.rid = m.rid WHERE {where} GROUP BY v ORDER BY n DESC, v LIMIT ?")
        else:
            sql = (f"SELECT {_TOP_EXPR[field]} AS v, COUNT(*) AS n FROM mentions m "
                   f"WHERE ({where}) AND v IS NOT NULL AND v != '' GROUP BY v ORDER BY n DESC, v LIMIT ?")
        return await self._run(self._rows, sql, [*params, limit])

    def _rows(self, sql: str, params: list[Any]) -> list[tuple[str, int]]:
        return [(str(v), int(n)) for v, n in self._db.execute(sql, params)]

    async def authors(self, filters: Filters, limit: int = 50) -> list[AuthorStats]:
        """Authors (platform + case-insensitive handle) by mentions; names are the latest seen."""
        where, params, _ = _where(filters)
        return await self._run(self._authors, where, params, limit)

    def _authors(self, where: str, params: list[Any], limit: int) -> list[AuthorStats]:
        sql = f"""
            SELECT g.platform, l.author_handle, l.author_name, g.n, g.pos, g.neu, g.neg,
                   g.first, g.last, g.followers
            FROM (
                SELECT m.author_platform AS platform, m.author_key AS akey, COUNT(*) AS n,
                       COUNT(*) FILTER (WHERE m.sentiment_label = 'positive') AS pos,
                       COUNT(*) FILTER (WHERE m.sentiment_label = 'neutral') AS neu,
                       COUNT(*) FILTER (WHERE m.sentiment_label = 'negative') AS neg,
                       MIN(m.published_at) AS first, MAX(m.published_at) AS last,
                       MAX(m.author_followers) AS followers
                FROM mentions m WHERE ({where}) AND m.author_key != ''
                GROUP BY platform, akey ORDER BY n DESC, akey, platform LIMIT ?
            ) g
            JOIN mentions l ON l.rid = (
                SELECT x.rid FROM mentions x WHERE x.author_key = g.akey AND x.author_platform = g.platform
                ORDER BY x.published_at DESC, x.id DESC LIMIT 1)
            ORDER BY g.n DESC, g.akey, g.platform"""
        return [
            AuthorStats(platform=r[0], handle=r[1], name=r[2], mentions=r[3], positive=r[4], neutral=r[5],
                        negative=r[6], first_seen=_dt(r[7]), last_seen=_dt(r[8]), followers=r[9])
            for r in self._db.execute(sql, [*params, limit])
        ]

    async def added_since(self, token: str | None, limit: int = 1000) -> tuple[list[Mention], str | None]:
        """The token is the last stored row id seen; an empty batch hands the same token back."""
        try:
            after = int(token or 0)
        except ValueError:
            raise ValueError(f"invalid added_since token {token!r}") from None
        rows = await self._run(self._added_since, after, limit)
        if not rows:
            return [], token
        return [_to_mention(r[1:]) for r in rows], str(rows[-1][0])

    def _added_since(self, after: int, limit: int) -> list[Any]:
        return self._db.execute(f"SELECT m.rid, {_SELECT} FROM mentions m WHERE m.rid > ? "
                                "ORDER BY m.rid LIMIT ?", (after, limit)).fetchall()

    # -- state ----------------------------------------------------------------------------

    async def get_state(self, namespace: str, key: str) -> Any | None:
        row = await self._run(self._get_state, namespace, key)
        return None if row is None else json.loads(row)

    def _get_state(self, namespace: str, key: str) -> str | None:
        row = self._db.execute("SELECT value FROM state WHERE namespace = ? AND key = ?",
                               (namespace, key)).fetchone()
        return None if row is None else str(row[0])

    async def put_state(self, namespace: str, key: str, value: Any) -> None:
        await self.put_states([(namespace, key, value)])

    async def put_states(self, items: Sequence[tuple[str, str, Any]]) -> None:
        """Serialise everything first: one bad value means nothing is written."""
        try:
            rows = [(ns, k, _json(v)) for ns, k, v in items]
        except (TypeError, ValueError) as exc:
            raise StoreError(f"{self.path}: state value is not JSON-serialisable: {exc}") from exc
        if rows:
            await self._run(self._put_states, rows)

    def _put_states(self, rows: list[tuple[str, str, str]]) -> None:
        now = time.time()
        with self._transaction() as conn:
            conn.executemany(
                "INSERT INTO state (namespace, key, value, updated_at) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (namespace, key) DO UPDATE SET value = excluded.value, "
                "updated_at = excluded.updated_at",
                [(ns, k, v, now) for ns, k, v in rows])

    async def delete_state(self, namespace: str, key: str) -> None:
        await self._run(self._delete_state, namespace, key)

    def _delete_state(self, namespace: str, key: str) -> None:
        with self._transaction() as conn:
            conn.execute("DELETE FROM state WHERE namespace = ? AND key = ?", (namespace, key))

    async def list_state(self, namespace: str, prefix: str = "") -> list[tuple[str, Any]]:
        rows = await self._run(self._list_state, namespace, prefix)
        return [(k, json.loads(v)) for k, v in rows]

    def _list_state(self, namespace: str, prefix: str) -> list[tuple[str, str]]:
        return self._db.execute(
            "SELECT key, value FROM state WHERE namespace = ? AND key >= ? AND substr(key, 1, ?) = ? "
            "ORDER BY key", (namespace, prefix, len(prefix), prefix)).fetchall()
