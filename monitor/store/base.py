"""The Store protocol: what every backend (SQLite, Elasticsearch) must do, identically.

Contract (checked by ``tests/store_contract.py`` against every backend):

* ``add(mentions)`` is idempotent by ``Mention.id`` and atomic per call; it returns the
  mentions that were new, in the order given. Re-adding a known id changes nothing
  (engagement updates are a later concern) and is not returned.
* ``search`` filters with :class:`Filters`; ``sort`` is ``newest`` (published_at desc, id
  desc), ``oldest`` or ``relevance`` (query rank, then newest). ``cursor`` is the opaque
  ``Page.next_cursor`` of the previous page; pages never repeat or skip a mention.
* ``count`` equals the number of mentions ``search`` would page through.
* ``histogram`` buckets ``published_at`` by ``interval`` aligned to the Unix epoch (UTC);
  with ``since`` and ``until`` set, empty buckets are present with zero counts.
  ``split_by`` (``sentiment``, ``source``, ``lang``, ``brand``) fills ``Bucket.counts``;
  unscored mentions count under ``"unscored"`` when split by sentiment.
* ``top(field, filters)`` returns (value, count) sorted by count desc then value asc.
* ``added_since(token)`` walks mentions in the order they were *stored*, so the alert
  engine can resume exactly where it stopped after a crash.
* State is a small JSON key-value space in namespaces (``cursor``, ``http``, ``rule``,
  ``outbox``, ``health``, ...). ``put_states`` is atomic.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal, Protocol, runtime_checkable

from ..models import Mention

Sort = Literal["newest", "oldest", "relevance"]
TOP_FIELDS = ("source", "source_name", "site", "author", "lang", "brand", "sentiment")
SPLIT_FIELDS = ("sentiment", "source", "lang", "brand")


@dataclass(frozen=True, slots=True)
class Filters:
    query: str | None = None
    brands: tuple[str, ...] = ()
    sources: tuple[str, ...] = ()      # matches the source kind or the configured source name
    sentiments: tuple[str, ...] = ()   # negative / neutral / positive / unscored
    langs: tuple[str, ...] = ()
    authors: tuple[str, ...] = ()      # author handle, case-insensitive
    statuses: tuple[str, ...] = ()
    since: datetime | None = None      # published_at >= since
    until: datetime | None = None      # published_at < until
    ids: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Page:
    items: list[Mention]
    next_cursor: str | None
    total: int | None = None


@dataclass(frozen=True, slots=True)
class Bucket:
    start: datetime
    total: int
    counts: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class AuthorStats:
    platform: str
    handle: str
    name: str
    mentions: int
    positive: int
    neutral: int
    negative: int
    first_seen: datetime
    last_seen: datetime
    followers: int | None = None


@runtime_checkable
class Store(Protocol):
    async def open(self) -> None: ...
    async def close(self) -> None: ...

    async def add(self, mentions: Sequence[Mention]) -> list[Mention]: ...
    async def get(self, mention_id: str) -> Mention | None: ...
    async def set_status(self, ids: Sequence[str], status: str) -> int: ...

    async def search(self, filters: Filters, sort: Sort = "newest", cursor: str | None = None,
                     limit: int = 50) -> Page: ...
    async def count(self, filters: Filters) -> int: ...
    async def histogram(self, filters: Filters, interval: timedelta,
                        split_by: str | None = None) -> list[Bucket]: ...
    async def top(self, field: str, filters: Filters, limit: int = 10) -> list[tuple[str, int]]: ...
    async def authors(self, filters: Filters, limit: int = 50) -> list[AuthorStats]: ...
    async def added_since(self, token: str | None, limit: int = 1000) -> tuple[list[Mention], str | None]: ...

    async def get_state(self, namespace: str, key: str) -> Any | None: ...
    async def put_state(self, namespace: str, key: str, value: Any) -> None: ...
    async def put_states(self, items: Sequence[tuple[str, str, Any]]) -> None: ...
    async def delete_state(self, namespace: str, key: str) -> None: ...
    async def list_state(self, namespace: str, prefix: str = "") -> list[tuple[str, Any]]: ...
