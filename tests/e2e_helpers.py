"""A growing simulated world and a `monitor run` subprocess, for end-to-end tests that kill and restart.

The world is one aiohttp server on 127.0.0.1 (feeds that reveal more items on every request, with
ETags, and a json:// push endpoint) plus a real SMTP server. Every delivery is recorded with the run
number the monitor put in a header (``X-Monitor-Run``, set through the apprise URL in monitor.yaml), so
a test can tell which process instance sent what. Both receivers record a message *before* they answer
and then wait ``delay`` seconds, like a slow remote: a kill in that window is a kill between the send and
its record, the one place where a duplicate is allowed.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import hashlib
import os
import random
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from aiohttp import web

from monitor.demo import Inbox, atom_feed, rss_feed
from monitor.models import mention_id, utcnow

RUN_HEADER = "X-Monitor-Run"
USER_AGENT = "kill-test run "          # + run number: tells the world which process polled


def norm(text: str) -> str:
    """Transport-neutral form of a subject or body (mail folds lines and uses CRLF)."""
    return " ".join(text.replace("\r\n", "\n").split())


@dataclass(frozen=True)
class Receipt:
    """One notification as a receiver got it."""

    channel: str
    run: int
    subject: str
    body: str

    @property
    def key(self) -> tuple[str, str]:
        return norm(self.subject), norm(self.body)


@dataclass
class GrowingFeed:
    """A feed whose script is revealed a few items per request."""

    path: str
    format: str                                  # "rss" or "atom"
    script: list[dict[str, Any]]
    rng: random.Random
    step: tuple[int, int] = (1, 3)
    revealed: int = 0

    def grow(self) -> None:
        more = min(len(self.script) - self.revealed, self.rng.randint(*self.step))
        for item in self.script[self.revealed:self.revealed + more]:
            item["at"] = (utcnow() - timedelta(seconds=self.rng.randint(0, 90))).replace(microsecond=0)
        self.revealed += more

    def reveal_all(self) -> None:
        self.step = (len(self.script), len(self.script))
        self.grow()

    def native_id(self, base: str, item_id: str) -> str:
        """The entry id the monitor sees (demo.rss_feed / demo.atom_feed spell it so)."""
        return f"{base}/forum/t/{item_id}" if self.format == "atom" else f"{base}/news/{item_id}"

    def body(self, base: str) -> bytes:
        shown = self.script[:self.revealed]
        return atom_feed(shown, base) if self.format == "atom" else rss_feed(shown, base)


def run_of(value: str | None, prefix: str = "") -> int:
    """The run number in a header value; 0 when it is missing or odd."""
    text = (value or "").strip()
    if prefix:
        text = text[len(prefix):] if text.startswith(prefix) else ""
    return int(text) if text.isdigit() else 0


class GrowingWorld:
    """Feeds that grow as they are polled, and a json:// endpoint that records every push."""

    def __init__(self, feeds: list[GrowingFeed], *, delay: float = 0.04) -> None:
        self.feeds = {f.path: f for f in feeds}
        self.delay = delay
        self.receipts: list[Receipt] = []
        self.polls: list[tuple[int, str, int]] = []      # (run, path, status)
        self.inflight = 0
        self.base = ""
        self.port = 0
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        app = web.Application()
        for path in self.feeds:
            app.router.add_get(path, self._feed)
        app.router.add_post("/push", self._push)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        self.port = int(self._runner.addresses[0][1])
        self.base = f"http://127.0.0.1:{self.port}"

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    def reveal_all(self) -> None:
        for feed in self.feeds.values():
            feed.reveal_all()

    def polled_by(self, run: int) -> bool:
        return any(r == run for r, _, _ in self.polls)

    def expected_items(self, keep: Callable[[dict[str, Any]], bool]) -> dict[str, dict[str, Any]]:
        """Mention id -> script item, for every item ``keep`` accepts (revealed or not)."""
        out: dict[str, dict[str, Any]] = {}
        for feed in self.feeds.values():
            for item in feed.script:
                if keep(item):
                    out[mention_id("rss", feed.native_id(self.base, item["id"]))] = item
        return out

    async def _feed(self, request: web.Request) -> web.StreamResponse:
        feed = self.feeds[request.path]
        feed.grow()
        run = run_of(request.headers.get("User-Agent"), USER_AGENT)
        etag = '"' + hashlib.sha1(f"{feed.revealed}".encode()).hexdigest()[:16] + '"'
        if etag in [t.strip() for t in request.headers.get("If-None-Match", "").split(",")]:
            self.polls.append((run, request.path, 304))
            return web.Response(status=304, headers={"ETag": etag})
        self.polls.append((run, request.path, 200))
        ctype = "application/atom+xml" if feed.format == "atom" else "application/rss+xml"
        return web.Response(body=feed.body(self.base), headers={"ETag": etag, "Content-Type": ctype})

    async def _push(self, request: web.Request) -> web.StreamResponse:
        payload = await request.json()
        self.receipts.append(Receipt("json", run_of(request.headers.get(RUN_HEADER)),
                                     str(payload.get("title", "")), str(payload.get("message", ""))))
        self.inflight += 1
        try:
            await asyncio.sleep(self.delay)
        finally:
            self.inflight -= 1
        return web.json_response({"ok": True})


class SlowInbox(Inbox):
    """demo.Inbox that records each message with its run number and answers only after ``delay``."""

    def __init__(self, delay: float = 0.04) -> None:
        super().__init__()
        self.delay = delay
        self.receipts: list[Receipt] = []
        self.inflight = 0
        self._count_lock = threading.Lock()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 - aiosmtpd API
        msg = email.message_from_bytes(envelope.content, policy=email.policy.default)
        html = next((part.get_content() for part in msg.walk() if part.get_content_type() == "text/html"), "")
        with self._count_lock:
            self.receipts.append(Receipt("mail", run_of(msg.get(RUN_HEADER)), str(msg["Subject"] or ""),
                                         str(html)))
            self.inflight += 1
        try:
            await asyncio.sleep(self.delay)
        finally:
            with self._count_lock:
                self.inflight -= 1
        return "250 Message accepted for delivery"

    def snapshot(self) -> list[Receipt]:
        with self._count_lock:
            return list(self.receipts)


def monitor_env() -> dict[str, str]:
    """The test's environment without MONITOR_* overrides, so only the written config counts."""
    return {k: v for k, v in os.environ.items() if not k.startswith("MONITOR_")}


async def spawn_monitor(cfg: Path, *args: str, log: Path) -> asyncio.subprocess.Process:
    """``python -m monitor.cli -c CFG --log-level WARNING ARGS``; stderr is appended to ``log``."""
    with log.open("ab") as err:
        return await asyncio.create_subprocess_exec(
            sys.executable, "-m", "monitor.cli", "-c", str(cfg), "--log-level", "WARNING", *args,
            stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE, stderr=err, env=monitor_env())


async def wait_until(condition: Callable[[], bool], *, timeout: float, step: float = 0.01,
                     proc: asyncio.subprocess.Process | None = None) -> bool:
    """Poll ``condition``; False at the deadline or when ``proc`` has exited."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        if loop.time() >= deadline or (proc is not None and proc.returncode is not None):
            return False
        await asyncio.sleep(step)
    return True


def tail(path: Path, lines: int = 40) -> str:
    if not path.exists():
        return "(no log)"
    return "\n".join(path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])
