"""One polling loop per source: interval + jitter, exponential backoff on failure, health in the store.

Health is logged only when it changes (ok -> failing, failing -> ok), never on every failure.
A failing source never stops the others: every loop catches its own errors.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from .errors import MonitorError
from .http import deferred_validators
from .models import utcnow
from .pipeline import Pipeline
from .sources.base import Source
from .store.base import Store

log = logging.getLogger("monitor.scheduler")

JITTER = 0.1            # +-10 % of the interval, so sources sharing a host do not fire together
BACKOFF_MAX = 3600.0    # a broken source is retried at least hourly


@dataclass
class PollResult:
    source: str
    ok: bool
    fetched: int = 0
    new: int = 0
    error: str | None = None


def short_error(exc: BaseException) -> str:
    text = str(exc) or exc.__class__.__name__
    text = " ".join(text.split())
    return text[:500] if isinstance(exc, MonitorError) else f"{exc.__class__.__name__}: {text[:480]}"


class Scheduler:
    def __init__(self, sources: Sequence[Source], pipeline: Pipeline, store: Store) -> None:
        self.sources = list(sources)
        self.pipeline = pipeline
        self.store = store
        self._stop = asyncio.Event()

    async def poll(self, source: Source) -> PollResult:
        """Fetch once, store, then save the cursor: a crash in between only refetches (ids dedupe)."""
        name = source.config.name
        started = utcnow()
        cursor = await self.store.get_state("cursor", name)
        try:
            with deferred_validators() as validators:
                items, new_cursor = await source.fetch(cursor)
            new = await self.pipeline.ingest(source.config, items, fetched_at=started)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - any failure of one source is recorded, never fatal
            result = PollResult(name, ok=False, error=short_error(exc))
            await self._record(source, result, partial_errors=None)
            return result
        # Cursor and HTTP validators are saved together, only after the items are stored.
        saved: list[tuple[str, str, Any]] = [("http", key, value) for key, value in validators.items()]
        if new_cursor is not None:
            saved.append(("cursor", name, new_cursor))
        if saved:
            await self.store.put_states(saved)
        partial = (new_cursor or {}).get("errors") if isinstance(new_cursor, dict) else None
        result = PollResult(name, ok=True, fetched=len(items), new=len(new))
        await self._record(source, result, partial_errors=partial or None)
        return result

    async def _record(self, source: Source, result: PollResult, partial_errors: Any) -> None:
        name = source.config.name
        old = await self.store.get_state("health", name) or {}
        now = utcnow().isoformat()
        health = dict(old)
        health["type"] = source.name
        health["last_poll"] = now
        if result.ok:
            health.update(last_success=now, failures_in_row=0, last_fetched=result.fetched,
                          last_new=result.new, total_new=int(old.get("total_new", 0)) + result.new)
            health["status"] = "degraded" if partial_errors else "ok"
            health["partial_errors"] = partial_errors
        else:
            health.update(last_error=result.error, last_error_at=now,
                          failures_in_row=int(old.get("failures_in_row", 0)) + 1, status="failing")
        await self.store.put_state("health", name, health)
        before, after = old.get("status"), health["status"]
        if before != after:
            if after == "failing":
                log.warning("source %s is failing: %s", name, result.error)
            elif after == "degraded":
                log.warning("source %s is degraded: %s", name, partial_errors)
            elif before is not None:
                log.info("source %s recovered", name)

    async def run_once(self) -> list[PollResult]:
        return list(await asyncio.gather(*(self.poll(s) for s in self.sources)))

    def stop(self) -> None:
        self._stop.set()

    async def _sleep(self, seconds: float) -> bool:
        """Sleep unless stopped; True when stopped."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stop.wait(), timeout=max(0.0, seconds))
        return self._stop.is_set()

    async def _loop(self, source: Source) -> None:
        while not self._stop.is_set():
            result = await self.poll(source)
            delay = source.interval
            if not result.ok:
                health = await self.store.get_state("health", source.config.name) or {}
                failures = int(health.get("failures_in_row", 1))
                delay = min(BACKOFF_MAX, max(source.interval, 30.0) * (2 ** min(failures - 1, 10)))
                delay = min(delay, max(source.interval, BACKOFF_MAX))
            delay *= 1 + random.uniform(-JITTER, JITTER)
            if await self._sleep(delay):
                return

    async def run_forever(self) -> None:
        tasks = [asyncio.create_task(self._loop(s), name=f"source:{s.config.name}") for s in self.sources]
        try:
            await self._stop.wait()
        finally:
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
