"""The alert engine: new mentions in, alerts into the outbox, all state in the store.

Restart safety comes from one atomic ``put_states`` per batch holding the new outbox entries,
the realert state and the advanced watermark. A crash before it re-evaluates the same batch;
a crash after it never enqueues the batch again. Nothing lives only in memory: windows are
counted by store queries, and realert times are read back from the store on every run.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from ..models import Alert, Mention, ensure_utc, utcnow
from ..query import Doc
from ..store.base import Filters, Store
from .detectors import frequency_fires, spike_direction
from .notify import NAMESPACE as OUTBOX_NS
from .notify import Outbox
from .render import AlertContext, render, search_url
from .rules import EXACT_TOP, Rule

log = logging.getLogger(__name__)

ENGINE_NS = "engine"
WATERMARK = "watermark"
RULE_NS = "rule"
_TICK = timedelta(microseconds=1)     # store filters are [since, until); windows are (start, end]
MAX_MENTION_IDS = 100
_TOP_LIMIT = 1000                     # distinct values sharing one narrowed group (kinds/names, subdomains)


async def group_count(store: Store, rule: Rule, value: str, since: datetime | None = None,
                      until: datetime | None = None) -> int:
    """Mentions of one query_key group in ``[since, until)``, exactly."""
    filters = rule.filters_for(value, since, until)
    exact = EXACT_TOP.get(rule.query_key or "") if value else None
    if exact is None:
        return await store.count(filters)
    return dict(await store.top(exact, filters, limit=_TOP_LIMIT)).get(value, 0)


@dataclass
class _RuleRun:
    """Realert state of one rule during one batch: key -> last alert time."""

    last: dict[str, datetime]
    changed: bool = False
    alerts: list[Alert] = field(default_factory=list)


class AlertEngine:
    def __init__(self, store: Store, rules: Sequence[Rule], outbox: Outbox, *, base_url: str | None = None,
                 chunk_size: int = 1000, max_batch: int = 10_000, examples: int = 3) -> None:
        self.store = store
        self.rules = [r for r in rules if r.is_enabled]
        self.outbox = outbox
        self.base_url = base_url
        self.chunk_size = chunk_size
        self.max_batch = max_batch
        self.examples = examples
        self._lock = asyncio.Lock()
        outbox.register_urls(url for r in self.rules for url in r.inline_urls)

    async def run_once(self, now: datetime | None = None) -> list[Alert]:
        """Evaluate every mention stored since the last run; return the alerts enqueued."""
        now = ensure_utc(now) if now else utcnow()
        alerts: list[Alert] = []
        async with self._lock:
            while True:
                token = await self.store.get_state(ENGINE_NS, WATERMARK)
                new, next_token = await self._fetch(token)
                if not new:
                    return alerts
                alerts += await self._process(new, next_token, now)
                if len(new) < self.max_batch:
                    return alerts

    async def _fetch(self, token: str | None) -> tuple[list[Mention], str | None]:
        new: list[Mention] = []
        while len(new) < self.max_batch:
            batch, token = await self.store.added_since(token, limit=min(self.chunk_size,
                                                                          self.max_batch - len(new)))
            if not batch:
                break
            new.extend(batch)
        return new, token

    async def _process(self, new: list[Mention], token: str | None, now: datetime) -> list[Alert]:
        docs: dict[str, Doc] = {}
        items: list[tuple[str, str, Any]] = []
        alerts: list[Alert] = []
        for rule in self.rules:
            groups: dict[str, list[Mention]] = {}
            for m in new:
                doc = None
                if rule.filter.query:
                    doc = docs.get(m.id) or docs.setdefault(m.id, Doc.from_mention(m))
                if rule.filter.matches(m, doc):
                    for value in rule.key_values(m):
                        groups.setdefault(value, []).append(m)
            if not groups:
                continue
            run = _RuleRun(last=await self._realert_state(rule))
            for value, mentions in groups.items():
                await self._evaluate(rule, value, mentions, now, run)
            for alert in run.alerts:
                if await self.store.get_state(OUTBOX_NS, alert.id) is None:
                    items += self.outbox.entries_for(alert)
                    alerts.append(alert)
            if run.changed:
                keep = {k: t.isoformat() for k, t in run.last.items() if now - t < rule.realert}
                items.append((RULE_NS, rule.name, {"last_alert": keep}))
        items.append((ENGINE_NS, WATERMARK, token))
        await self.store.put_states(items)
        for alert in alerts:
            log.info("alert %s: %s", alert.rule, alert.subject)
        return alerts

    async def _realert_state(self, rule: Rule) -> dict[str, datetime]:
        state = await self.store.get_state(RULE_NS, rule.name) or {}
        out: dict[str, datetime] = {}
        for k, v in (state.get("last_alert") or {}).items():
            try:
                out[str(k)] = ensure_utc(datetime.fromisoformat(v))
            except (TypeError, ValueError):
                continue
        return out

    def _suppressed(self, rule: Rule, value: str, now: datetime, run: _RuleRun) -> bool:
        last = run.last.get(value)
        return rule.realert > timedelta(0) and last is not None and now - last < rule.realert

    def _fired(self, rule: Rule, value: str, now: datetime, run: _RuleRun) -> None:
        if rule.realert > timedelta(0):
            run.last[value] = now
            run.changed = True

    async def _evaluate(self, rule: Rule, value: str, mentions: list[Mention], now: datetime,
                        run: _RuleRun) -> None:
        if rule.type == "any":
            for m in mentions:
                if self._suppressed(rule, value, now, run):
                    return
                self._fired(rule, value, now, run)
                ctx = AlertContext(rule=rule, now=now, query_key=value or None, count=1, examples=[m],
                                   search_url=self._search(rule.filters_for(value)))
                run.alerts.append(self._alert(ctx, [m.id], window_end=None))
            return
        if self._suppressed(rule, value, now, run):
            return
        assert rule.timeframe is not None
        tf = rule.timeframe
        cur = await group_count(self.store, rule, value, now - tf + _TICK, now + _TICK)
        reference: int | None = None
        direction: str | None = None
        if rule.type == "frequency":
            assert rule.num_events is not None
            if not frequency_fires(cur, rule.num_events):
                return
        else:
            assert rule.spike_height is not None
            reference = await group_count(self.store, rule, value, now - 2 * tf + _TICK, now - tf + _TICK)
            args: dict[str, Any] = dict(spike_height=rule.spike_height, spike_type=rule.spike_type,
                                        threshold_cur=rule.threshold_cur, threshold_ref=rule.threshold_ref)
            if spike_direction(cur, reference, **args) is None:
                return
            # ElastAlert waits until history covers both windows before a spike may fire.
            history = await group_count(self.store, rule, value, until=now - 2 * tf + _TICK)
            direction = spike_direction(cur, reference, ref_filled=history > 0, **args)
            if direction is None:
                return
        self._fired(rule, value, now, run)
        window = rule.filters_for(value, since=now - tf + _TICK, until=now + _TICK)
        found = (await self.store.search(window, sort="newest", limit=self.examples * 5)).items
        examples = [m for m in found if value in rule.key_values(m)][: self.examples]
        ctx = AlertContext(
            rule=rule, now=now, query_key=value or None, count=cur, reference=reference, direction=direction,
            window_start=now - tf, window_end=now, examples=examples,
            top_sources=await self.store.top("source_name", window, limit=5),
            sentiment=await self.store.top("sentiment", window, limit=4),
            search_url=self._search(rule.filters_for(value, since=now - tf, until=now)))
        run.alerts.append(self._alert(ctx, [m.id for m in mentions], window_end=now))

    def _search(self, filters: Filters) -> str | None:
        return search_url(self.base_url, filters) if self.base_url else None

    def _alert(self, ctx: AlertContext, trigger_ids: list[str], *, window_end: datetime | None) -> Alert:
        rule = ctx.rule
        ids = sorted(set(trigger_ids))
        basis = json.dumps([rule.name, ctx.query_key or "", window_end.isoformat() if window_end else None,
                            ids], separators=(",", ":"))
        alert_id = hashlib.sha256(basis.encode("utf-8")).hexdigest()[:32]
        subject, text, html = render(ctx)
        extra: dict[str, Any] = {"query_key_field": rule.query_key, "description": rule.description}
        if rule.type == "spike":
            extra.update(direction=ctx.direction, reference=ctx.reference, spike_height=rule.spike_height)
        if rule.type == "frequency":
            extra["num_events"] = rule.num_events
        if ctx.search_url:
            extra["search_url"] = ctx.search_url
        return Alert(
            id=alert_id, rule=rule.name, rule_type=rule.type, created_at=ctx.now, subject=subject, text=text,
            html=html, query_key=ctx.query_key, count=ctx.count,
            expected=float(ctx.reference) if ctx.reference is not None else None,
            window_start=ctx.window_start, window_end=ctx.window_end,
            mention_ids=tuple(trigger_ids[:MAX_MENTION_IDS]), targets=rule.target_refs, extra=extra)

