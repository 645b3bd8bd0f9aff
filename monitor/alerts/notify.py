"""The outbox: alerts are written to the store before they are sent, then delivered per target.

Each (alert, target) pair is its own delivery with its own status, attempts and backoff, so one
broken channel never blocks or re-sends the others. Targets are stored as references
(``group:index`` or ``url:<sha1>``), never as URLs: apprise URLs carry passwords and tokens
from the environment, and the store is not the place for them. The reference is resolved
against the current configuration at send time.
"""

from __future__ import annotations

import asyncio
import copy
import logging
import random
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal
from urllib.parse import urlsplit

import apprise

from ..models import Alert, ensure_utc, utcnow
from ..store.base import Store
from .rules import url_ref

log = logging.getLogger(__name__)

NAMESPACE = "outbox"
DeliveryStatus = Literal["pending", "sent", "failed", "dead"]
HTML_SCHEMES = frozenset({"mailto", "mailtos"})
MAX_ERROR = 300


@dataclass(frozen=True, slots=True)
class DeliveryReport:
    """Outcome of one deliver_pending() call.

    ``sent``/``failed``/``dead`` count the sends made by this call (failed ones will be retried,
    dead ones will not); ``pending`` counts every delivery still waiting afterwards.
    """

    sent: int = 0
    failed: int = 0
    pending: int = 0
    dead: int = 0


class Outbox:
    def __init__(self, store: Store, groups: Mapping[str, Sequence[str]], *, retry_base: float = 30,
                 retry_max: float = 3600, max_attempts: int = 20, timeout: float = 30,
                 concurrency: int = 8, rng: random.Random | None = None) -> None:
        self.store = store
        self.groups = {name: list(urls) for name, urls in groups.items()}
        self.retry_base = retry_base
        self.retry_max = retry_max
        self.max_attempts = max_attempts
        self.timeout = timeout
        self._concurrency = concurrency
        self._rng = rng or random.Random()  # noqa: S311 - jitter, not security
        self._urls: dict[str, str] = {}
        self._failing: set[str] = set()
        self._lock = asyncio.Lock()

    # -- targets -------------------------------------------------------------------------------

    def register_urls(self, urls: Iterable[str]) -> None:
        """Inline apprise URLs from rules, so their ``url:<sha1>`` references can be resolved."""
        for url in urls:
            self._urls[url_ref(url)] = url

    def refs_for(self, target: str) -> list[str]:
        """Delivery references for one alert target (a group name or a ``url:`` reference)."""
        if target.startswith("url:"):
            return [target]
        if "://" in target:
            self.register_urls([target])
            return [url_ref(target)]
        return [f"{target}:{i}" for i in range(len(self.groups.get(target, ())))]

    def resolve(self, ref: str) -> str | None:
        if ref.startswith("url:"):
            return self._urls.get(ref)
        group, _, index = ref.rpartition(":")
        urls = self.groups.get(group, [])
        return urls[int(index)] if index.isdigit() and int(index) < len(urls) else None

    # -- enqueue -------------------------------------------------------------------------------

    def entries_for(self, alert: Alert) -> list[tuple[str, str, Any]]:
        """State items that put this alert in the outbox (the engine writes them atomically)."""
        created = alert.created_at.isoformat()
        deliveries: dict[str, dict[str, Any]] = {}
        for target in alert.targets:
            refs = self.refs_for(target)
            if not refs:
                problem = (f"notify group {target!r} has no URLs" if target in self.groups
                           else f"unknown notify group {target!r}")
                log.error("alert %s (rule %s): %s", alert.id, alert.rule, problem)
                deliveries[target] = _delivery("dead", created, error=problem)
            for ref in refs:
                deliveries[ref] = _delivery("pending", created)
        value = {"alert": alert.to_dict(), "created_at": created, "deliveries": deliveries}
        return [(NAMESPACE, alert.id, value)]

    # -- deliver -------------------------------------------------------------------------------

    async def deliver_pending(self, now: datetime | None = None) -> DeliveryReport:
        """Send every delivery that is due; record each outcome as soon as it is known."""
        async with self._lock:
            now = ensure_utc(now) if now else utcnow()
            entries = await self.store.list_state(NAMESPACE)
            due: list[tuple[str, dict[str, Any], str]] = []
            for alert_id, entry in entries:
                for ref, d in entry.get("deliveries", {}).items():
                    if d["status"] in ("pending", "failed") and _due(d.get("next_attempt_at"), now):
                        due.append((alert_id, entry, ref))
            limit = asyncio.Semaphore(self._concurrency)
            locks = {alert_id: asyncio.Lock() for alert_id, _, _ in due}

            async def one(alert_id: str, entry: dict[str, Any], ref: str) -> DeliveryStatus:
                async with limit:
                    ok, error = await self._send(entry, ref)
                async with locks[alert_id]:
                    status = self._record(entry, ref, ok, error, now)
                    await self.store.put_state(NAMESPACE, alert_id, copy.deepcopy(entry))
                return status

            outcomes = await asyncio.gather(*(one(*item) for item in due))
            waiting = sum(1 for _, entry in entries for d in entry.get("deliveries", {}).values()
                          if d["status"] in ("pending", "failed"))
            return DeliveryReport(sent=outcomes.count("sent"), failed=outcomes.count("failed"),
                                  dead=outcomes.count("dead"), pending=waiting)

    async def _send(self, entry: dict[str, Any], ref: str) -> tuple[bool, str]:
        url = self.resolve(ref)
        if url is None:
            return False, "target is no longer configured"
        alert = entry["alert"]
        html = urlsplit(url).scheme.lower() in HTML_SCHEMES
        ap = apprise.Apprise()
        if not ap.add(url):
            return False, "not a valid apprise URL"
        try:
            result = await asyncio.wait_for(
                ap.async_notify(body=alert["html"] if html else alert["text"], title=alert["subject"],
                                body_format=apprise.NotifyFormat.HTML if html else apprise.NotifyFormat.TEXT,
                                timeout=self.timeout),
                timeout=self.timeout * 1.5 + 1)
        except TimeoutError:
            return False, f"timed out after {self.timeout:g}s"
        except Exception as exc:  # noqa: BLE001 - a plugin bug must not stop the other deliveries
            return False, _scrub(f"{type(exc).__name__}: {exc}", url, ref)
        if result and result.success_count > 0:
            return True, ""
        problems = [e.message for e in result.logs() if e.level in ("WARNING", "ERROR", "CRITICAL")]
        detail = f"{result.status.name.lower()}: {problems[-1]}" if problems else result.status.name.lower()
        return False, _scrub(detail, url, ref)

    def _record(self, entry: dict[str, Any], ref: str, ok: bool, error: str,
                now: datetime) -> DeliveryStatus:
        d = entry["deliveries"][ref]
        d["attempts"] = int(d.get("attempts", 0)) + 1
        if ok:
            d.update(status="sent", sent_at=now.isoformat(), next_attempt_at=None, last_error=None)
            if ref in self._failing:
                self._failing.discard(ref)
                log.info("notify target %s recovered", ref)
            return "sent"
        d["last_error"] = error
        if ref not in self._failing:
            self._failing.add(ref)
            log.warning("notify target %s is failing: %s", ref, error)
        if d["attempts"] >= self.max_attempts:
            d.update(status="dead", next_attempt_at=None)
            log.error("alert %s to %s given up after %d attempts: %s", entry["alert"].get("id"), ref,
                      d["attempts"], error)
            return "dead"
        d.update(status="failed", next_attempt_at=(now + self.backoff(d["attempts"])).isoformat())
        return "failed"

    def backoff(self, attempts: int) -> timedelta:
        """Exponential backoff with jitter: between half and all of base * 2^(attempts-1), capped."""
        delay = min(self.retry_max, self.retry_base * 2 ** min(attempts - 1, 60))
        return timedelta(seconds=delay * self._rng.uniform(0.5, 1.0))


def _delivery(status: DeliveryStatus, created: str, *, error: str | None = None) -> dict[str, Any]:
    return {"status": status, "attempts": 0, "next_attempt_at": None if status == "dead" else created,
            "last_error": error, "sent_at": None}


def _due(value: str | None, now: datetime) -> bool:
    return value is None or ensure_utc(datetime.fromisoformat(value)) <= now


def _scrub(text: str, url: str, ref: str) -> str:
    """Error text without the target URL (it may hold credentials), one line, bounded."""
    text = text.replace(url, ref)
    parts = urlsplit(url)
    if parts.password:
        text = text.replace(parts.password, "***")
    return " ".join(text.split())[:MAX_ERROR]
