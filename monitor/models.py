"""The data every part passes around: frozen dataclasses with UTC-aware datetimes."""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, Literal

from .urls import canonical_url, site_of

SentimentLabel = Literal["negative", "neutral", "positive"]
Status = Literal["new", "read", "done"]
STATUSES: tuple[str, ...] = ("new", "read", "done")
LABELS: tuple[str, ...] = ("negative", "neutral", "positive")


def utcnow() -> datetime:
    return datetime.now(UTC)


def ensure_utc(value: datetime) -> datetime:
    """Naive datetimes are taken as UTC; aware ones are converted."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def mention_id(source: str, native_id: str | None = None, url: str | None = None) -> str:
    """Stable id: the same item from the same source kind always hashes the same.

    Prefers the platform's own id; falls back to the canonical URL. The configured
    source *name* is deliberately not part of it, so renaming a source does not
    duplicate history.
    """
    if native_id:
        basis = f"{source}\x00id\x00{native_id}"
    elif url:
        basis = f"{source}\x00url\x00{canonical_url(url)}"
    else:
        raise ValueError("a mention needs a native id or a URL")
    return hashlib.blake2b(basis.encode("utf-8"), digest_size=16).hexdigest()


@dataclass(frozen=True, slots=True)
class Author:
    platform: str = ""
    handle: str = ""
    name: str = ""
    url: str = ""
    followers: int | None = None


@dataclass(frozen=True, slots=True)
class Engagement:
    likes: int = 0
    replies: int = 0
    shares: int = 0
    score: int = 0


@dataclass(frozen=True, slots=True)
class Mention:
    id: str
    source: str
    source_name: str
    native_id: str
    url: str
    title: str
    text: str
    author: Author
    published_at: datetime
    fetched_at: datetime
    lang: str | None = None
    sentiment: float | None = None
    sentiment_label: SentimentLabel | None = None
    brands: tuple[str, ...] = ()
    engagement: Engagement = field(default_factory=Engagement)
    reach: int | None = None
    parent_url: str = ""
    tags: tuple[str, ...] = ()
    status: Status = "new"
    extra: dict[str, Any] = field(default_factory=dict)
    sentiment_confidence: float | None = None   # 0..1; low means "uncertain" (irony, conflicting evidence)
    sentiment_target: float | None = None       # score of the sentences naming the brand, when not all do

    @property
    def site(self) -> str:
        return site_of(self.url)

    def with_(self, **changes: Any) -> Mention:
        return replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (ISO 8601 datetimes, lists for tuples)."""
        d = asdict(self)
        d["published_at"] = self.published_at.isoformat()
        d["fetched_at"] = self.fetched_at.isoformat()
        d["brands"] = list(self.brands)
        d["tags"] = list(self.tags)
        d["site"] = self.site
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Mention:
        return cls(
            id=d["id"], source=d["source"], source_name=d.get("source_name", d["source"]),
            native_id=d.get("native_id", ""), url=d.get("url", ""), title=d.get("title", ""),
            text=d.get("text", ""), author=Author(**(d.get("author") or {})),
            published_at=ensure_utc(_parse_dt(d["published_at"])),
            fetched_at=ensure_utc(_parse_dt(d["fetched_at"])),
            lang=d.get("lang"), sentiment=d.get("sentiment"), sentiment_label=d.get("sentiment_label"),
            brands=tuple(d.get("brands") or ()), engagement=Engagement(**(d.get("engagement") or {})),
            reach=d.get("reach"), parent_url=d.get("parent_url", ""), tags=tuple(d.get("tags") or ()),
            status=d.get("status", "new"), extra=dict(d.get("extra") or {}),
            sentiment_confidence=d.get("sentiment_confidence"), sentiment_target=d.get("sentiment_target"),
        )


def _parse_dt(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value
    if isinstance(value, (int, float)):
        return datetime.fromtimestamp(value, UTC)
    return datetime.fromisoformat(str(value))


@dataclass(frozen=True, slots=True)
class RawItem:
    """What a source's pure ``parse`` returns: a mention before the pipeline enriches it."""

    native_id: str
    url: str
    title: str
    text: str
    author: Author = field(default_factory=Author)
    published_at: datetime | None = None
    lang_hint: str | None = None
    engagement: Engagement = field(default_factory=Engagement)
    reach: int | None = None
    parent_url: str = ""
    tags: tuple[str, ...] = ()
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Alert:
    """One alert as the engine produced it; its id makes the outbox idempotent."""

    id: str
    rule: str
    rule_type: str
    created_at: datetime
    subject: str
    text: str
    html: str
    query_key: str | None = None
    count: int = 0
    expected: float | None = None
    window_start: datetime | None = None
    window_end: datetime | None = None
    mention_ids: tuple[str, ...] = ()
    targets: tuple[str, ...] = ()
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        for k in ("created_at", "window_start", "window_end"):
            v = getattr(self, k)
            d[k] = v.isoformat() if v else None
        d["mention_ids"] = list(self.mention_ids)
        d["targets"] = list(self.targets)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Alert:
        def dt(v: Any) -> datetime | None:
            return ensure_utc(_parse_dt(v)) if v else None

        created = dt(d["created_at"])
        assert created is not None
        return cls(
            id=d["id"], rule=d["rule"], rule_type=d["rule_type"], created_at=created,
            subject=d["subject"], text=d["text"], html=d["html"], query_key=d.get("query_key"),
            count=d.get("count", 0), expected=d.get("expected"), window_start=dt(d.get("window_start")),
            window_end=dt(d.get("window_end")), mention_ids=tuple(d.get("mention_ids") or ()),
            targets=tuple(d.get("targets") or ()), extra=dict(d.get("extra") or {}),
        )
