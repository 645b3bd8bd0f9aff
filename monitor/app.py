"""Wiring: build the store, HTTP client, sources, pipeline, rules, engine and outbox from a Config,
and run them once (``--once``) or until a signal arrives."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from dataclasses import dataclass, field
from typing import Any

from .alerts.engine import AlertEngine
from .alerts.notify import Outbox
from .alerts.rules import Rule, load_rules
from .config import Config
from .errors import MonitorError
from .http import DEFAULT_USER_AGENT, HttpClient
from .models import Mention
from .pipeline import Pipeline
from .scheduler import PollResult, Scheduler
from .sources import SOURCES
from .sources.base import Source
from .store.base import Store
from .store.sqlite import SqliteStore

log = logging.getLogger("monitor")

ENGINE_EVERY = 30.0     # seconds between alert evaluations when nothing new arrives
OUTBOX_EVERY = 10.0


def open_store(config: Config) -> Store:
    if config.store.type == "sqlite":
        config.store.path.parent.mkdir(parents=True, exist_ok=True)
        return SqliteStore(config.store.path)
    raise MonitorError(f"store type {config.store.type!r} is not available")


def build_sources(config: Config, http: HttpClient) -> list[Source]:
    return [SOURCES[sc.type](sc, http) for sc in config.sources]


@dataclass
class RunReport:
    polls: list[PollResult] = field(default_factory=list)
    alerts: int = 0
    sent: int = 0
    failed: int = 0
    pending: int = 0
    rule_errors: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "polls": [p.__dict__ for p in self.polls], "alerts": self.alerts, "sent": self.sent,
            "failed": self.failed, "pending": self.pending, "rule_errors": self.rule_errors,
        }


class App:
    def __init__(self, config: Config) -> None:
        self.config = config
        self.store = open_store(config)
        self.http = HttpClient(
            user_agent=config.http.user_agent or DEFAULT_USER_AGENT,
            total_timeout=config.http.timeout, read_timeout=config.http.timeout,
            max_bytes=config.http.max_bytes, retries=config.http.retries,
            per_host_limit=config.http.per_host_limit, allow_private=config.http.allow_private,
            state=self.store,
        )
        self.rules: list[Rule] = []
        self.rule_errors: list[str] = []
        self._wake = asyncio.Event()
        self.pipeline = Pipeline(config.brands, self.store, languages=config.languages, on_new=self._on_new,
                                 sentiment=config.sentiment)
        self.sources = build_sources(config, self.http)
        self.scheduler = Scheduler(self.sources, self.pipeline, self.store)
        self.outbox = Outbox(self.store, {k: list(v) for k, v in config.notify.items()})
        self.engine: AlertEngine | None = None
        self._stop = asyncio.Event()

    async def _on_new(self, new: list[Mention]) -> None:
        self._wake.set()

    async def start(self) -> None:
        await self.store.open()
        rules, errors = load_rules(list(self.config.rules), groups=set(self.config.notify))
        self.rules = rules
        self.rule_errors = [e.one_line() for e in errors]
        for line in self.rule_errors:
            log.error("rule skipped: %s", line)
        self.engine = AlertEngine(self.store, rules, self.outbox, base_url=self.config.web.base_url)

    async def close(self) -> None:
        await self.http.close()
        await self.store.close()

    async def run_once(self) -> RunReport:
        """Poll every source once, evaluate rules, deliver alerts."""
        assert self.engine is not None
        report = RunReport(rule_errors=list(self.rule_errors))
        report.polls = await self.scheduler.run_once()
        alerts = await self.engine.run_once()
        report.alerts = len(alerts)
        delivery = await self.outbox.deliver_pending()
        report.sent, report.failed, report.pending = delivery.sent, delivery.failed, delivery.pending
        return report

    def stop(self) -> None:
        self._stop.set()
        self.scheduler.stop()
        self._wake.set()

    async def _engine_loop(self) -> None:
        assert self.engine is not None
        while not self._stop.is_set():
            try:
                await self.engine.run_once()
                await self.outbox.deliver_pending()
            except Exception:  # noqa: BLE001 - the daemon keeps running; the error is logged once per loop
                log.exception("alert engine cycle failed")
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=ENGINE_EVERY)

    async def _outbox_loop(self) -> None:
        while not self._stop.is_set():
            try:
                await self.outbox.deliver_pending()
            except Exception:  # noqa: BLE001
                log.exception("outbox delivery failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), timeout=OUTBOX_EVERY)

    async def run_forever(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, self.stop)
        tasks = [
            asyncio.create_task(self.scheduler.run_forever(), name="scheduler"),
            asyncio.create_task(self._engine_loop(), name="engine"),
            asyncio.create_task(self._outbox_loop(), name="outbox"),
        ]
        log.info("monitor running: %d sources, %d rules, store %s", len(self.sources), len(self.rules),
                 self.config.store.path)
        try:
            await self._stop.wait()
        finally:
            self.scheduler.stop()
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            for sig in (signal.SIGINT, signal.SIGTERM):
                with contextlib.suppress(NotImplementedError, RuntimeError):
                    loop.remove_signal_handler(sig)
            log.info("monitor stopped")
