"""The outbox against real local servers: an aiosmtpd SMTP server and an aiohttp webhook."""

from __future__ import annotations

import asyncio
import email
import email.policy
import logging
import socket
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from aiosmtpd.smtp import SMTP, Envelope, Session

from monitor.alerts.engine import AlertEngine
from monitor.alerts.notify import NAMESPACE, DeliveryReport, Outbox
from monitor.alerts.rules import Rule
from monitor.models import Alert, Author, Mention, mention_id
from monitor.store.sqlite import SqliteStore

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
HOSTILE = "<script>alert(1)</script>"


@dataclass
class Mailbox:
    messages: list[EmailMessage] = field(default_factory=list)
    envelopes: list[Envelope] = field(default_factory=list)

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:  # noqa: N802
        self.envelopes.append(envelope)
        raw = envelope.original_content or b""
        self.messages.append(email.message_from_bytes(raw, policy=email.policy.default))
        return "250 OK"


@pytest.fixture
async def smtp() -> AsyncIterator[tuple[Mailbox, int]]:
    """A real SMTP server (aiosmtpd) on 127.0.0.1, random port, no TLS, no auth."""
    box = Mailbox()
    server = await asyncio.get_running_loop().create_server(lambda: SMTP(box), "127.0.0.1", 0)
    try:
        yield box, server.sockets[0].getsockname()[1]
    finally:
        server.close()
        await server.wait_closed()


@dataclass
class Hook:
    posts: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    status: int = 200
    release: asyncio.Event = field(default_factory=asyncio.Event)


@pytest.fixture
async def hook() -> AsyncIterator[tuple[Hook, int]]:
    """A real aiohttp webhook receiver; /slow holds the request until the test releases it."""
    state = Hook()

    async def receive(request: web.Request) -> web.Response:
        if request.path == "/slow":
            await state.release.wait()
        state.posts.append((request.path, await request.json()))
        return web.json_response({}, status=state.status)

    app = web.Application()
    app.router.add_post("/{name}", receive)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        yield state, server.port or 0
    finally:
        state.release.set()
        await server.close()


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])




def make_alert(targets: tuple[str, ...], alert_id: str = "a1") -> Alert:
    return Alert(id=alert_id, rule="Negative spike", rule_type="spike", created_at=NOW,
                 subject="Negative spike: 15 mentions in 1h", text="15 mentions\nsee dashboard",
                 html="<p>15 mentions</p>", count=15, targets=targets)


async def enqueue(store: SqliteStore, outbox: Outbox, alert: Alert) -> None:
    await store.put_states(outbox.entries_for(alert))


async def deliveries(store: SqliteStore, alert_id: str = "a1") -> dict[str, dict[str, Any]]:
    entry: Any = await store.get_state(NAMESPACE, alert_id)
    return dict(entry["deliveries"])


def at(value: str | None) -> datetime:
    assert value is not None
    return datetime.fromisoformat(value)


# -- e-mail -------------------------------------------------------------------------------------------

async def test_email_gets_the_escaped_html_body(db: SqliteStore, smtp: tuple[Mailbox, int]) -> None:
    box, port = smtp
    groups = {"managers": [f"mailto://127.0.0.1:{port}?from=monitor@example.com&to=cm@example.com"]}
    outbox = Outbox(db, groups)
    m = Mention(id=mention_id("rss", "1"), source="rss", source_name="news", native_id="1",
                url="https://news.example.com/1", title=f"Acme {HOSTILE} outage", text="",
                author=Author(handle="<img src=x onerror=alert(2)>"), published_at=NOW, fetched_at=NOW,
                sentiment_label="negative", brands=("Acme",))
    await db.add([m])
    rule = Rule(name="Every mention", type="any", realert=timedelta(0), alert=("managers",))
    [alert] = await AlertEngine(db, [rule], outbox).run_once(NOW)

    report = await outbox.deliver_pending(NOW)

    assert report == DeliveryReport(sent=1, failed=0, pending=0, dead=0)
    [msg] = box.messages
    assert box.envelopes[0].rcpt_tos == ["cm@example.com"]
    assert msg["Subject"] == alert.subject
    html_part = msg.get_body(preferencelist=("html",))
    assert html_part is not None
    body = html_part.get_content()
    assert "Acme &lt;script&gt;alert(1)&lt;/script&gt; outage" in body
    assert HOSTILE not in body and "<img" not in body
    assert '<a href="https://news.example.com/1">' in body
    d = (await deliveries(db, alert.id))["managers:0"]
    assert (d["status"], d["attempts"], d["sent_at"], d["last_error"]) == ("sent", 1, NOW.isoformat(), None)


# -- webhooks, failures, backoff ------------------------------------------------------------------------

async def test_a_dead_target_is_retried_with_backoff_while_others_are_sent(
        db: SqliteStore, smtp: tuple[Mailbox, int], hook: tuple[Hook, int]) -> None:
    box, smtp_port = smtp
    receiver, hook_port = hook
    dead = f"json://127.0.0.1:{closed_port()}/dead"
    groups = {"managers": [f"mailto://127.0.0.1:{smtp_port}?from=monitor@example.com&to=cm@example.com"],
              "hooks": [f"json://127.0.0.1:{hook_port}/ok", dead]}
    outbox = Outbox(db, groups, retry_base=60, retry_max=100, max_attempts=3)
    await enqueue(db, outbox, make_alert(("managers", "hooks")))

    report = await outbox.deliver_pending(NOW)
    assert report == DeliveryReport(sent=2, failed=1, pending=1, dead=0)
    assert len(box.messages) == 1
    assert receiver.posts == [("/ok", {"version": "1.0", "title": "Negative spike: 15 mentions in 1h",
                                       "message": "15 mentions\nsee dashboard", "attachments": [],
                                       "type": "info"})]                  # the text body, not the HTML
    d = await deliveries(db)
    assert d["managers:0"]["status"] == d["hooks:0"]["status"] == "sent"
    failed = d["hooks:1"]
    assert (failed["status"], failed["attempts"], failed["sent_at"]) == ("failed", 1, None)
    assert failed["last_error"]
    first_retry = at(failed["next_attempt_at"])
    assert NOW + timedelta(seconds=30) <= first_retry <= NOW + timedelta(seconds=60)     # base, jittered

    # not due yet: nothing is sent again, the sent ones are never repeated
    assert await outbox.deliver_pending(NOW + timedelta(seconds=29)) == DeliveryReport(pending=1)
    assert len(box.messages) == 1 and len(receiver.posts) == 1

    report = await outbox.deliver_pending(first_retry)
    assert report == DeliveryReport(failed=1, pending=1)
    second = (await deliveries(db))["hooks:1"]
    assert second["attempts"] == 2
    # doubled (120 s) and capped at retry_max (100 s), then jittered to half..all of it
    assert first_retry + timedelta(seconds=50) <= at(second["next_attempt_at"]) <= first_retry + timedelta(
        seconds=100)
    assert all(outbox.backoff(n) <= timedelta(seconds=100) for n in range(1, 40))
    assert max(outbox.backoff(2) for _ in range(200)) > timedelta(seconds=60), "the cap, not the base, bounds it"

    report = await outbox.deliver_pending(at(second["next_attempt_at"]))
    assert report == DeliveryReport(dead=1, pending=0)
    final = (await deliveries(db))["hooks:1"]
    assert (final["status"], final["attempts"], final["next_attempt_at"]) == ("dead", 3, None)
    assert await outbox.deliver_pending(NOW + timedelta(days=1)) == DeliveryReport()
    assert len(box.messages) == 1 and len(receiver.posts) == 1


async def test_state_changes_are_logged_not_every_retry(db: SqliteStore, hook: tuple[Hook, int],
                                                        caplog: pytest.LogCaptureFixture) -> None:
    receiver, port = hook
    receiver.status = 500
    outbox = Outbox(db, {"hooks": [f"json://127.0.0.1:{port}/flaky"]}, retry_base=1, retry_max=1)
    await enqueue(db, outbox, make_alert(("hooks",)))
    with caplog.at_level(logging.INFO, logger="monitor.alerts.notify"):
        t = NOW
        for _ in range(3):
            assert (await outbox.deliver_pending(t)).failed == 1
            t += timedelta(seconds=2)
        receiver.status = 200
        assert (await outbox.deliver_pending(t)).sent == 1
    # apprise logs each attempt on its own logger; ours logs only the two state changes
    messages = [r.getMessage() for r in caplog.records if r.name == "monitor.alerts.notify"]
    assert len(messages) == 2
    assert messages[0].startswith("notify target hooks:0 is failing: ")
    assert messages[1] == "notify target hooks:0 recovered"
    assert len(receiver.posts) == 4
    d = (await deliveries(db))["hooks:0"]
    assert (d["status"], d["attempts"], d["last_error"]) == ("sent", 4, None)


async def test_a_hanging_target_times_out_without_holding_up_the_others(
        db: SqliteStore, hook: tuple[Hook, int]) -> None:
    receiver, port = hook
    outbox = Outbox(db, {"hooks": [f"json://127.0.0.1:{port}/slow", f"json://127.0.0.1:{port}/fast"]},
                    timeout=0.5)
    await enqueue(db, outbox, make_alert(("hooks",)))
    report = await outbox.deliver_pending(NOW)
    assert (report.sent, report.failed) == (1, 1)
    d = await deliveries(db)
    assert d["hooks:1"]["status"] == "sent" and d["hooks:0"]["status"] == "failed"
    assert [p for p, _ in receiver.posts] == ["/fast"]


async def test_errors_never_reveal_credentials(db: SqliteStore) -> None:
    url = f"json://alice:hunter2@127.0.0.1:{closed_port()}/x"
    outbox = Outbox(db, {"hooks": [url]})
    await enqueue(db, outbox, make_alert(("hooks",)))
    assert (await outbox.deliver_pending(NOW)).failed == 1
    dumped = str(await db.list_state(NAMESPACE))
    assert "hunter2" not in dumped and "alice" not in dumped


async def test_inline_rule_urls_resolve_by_reference(db: SqliteStore, hook: tuple[Hook, int]) -> None:
    receiver, port = hook
    url = f"json://127.0.0.1:{port}/inline"
    outbox = Outbox(db, {})
    [ref] = outbox.refs_for(url)
    assert ref.startswith("url:") and url not in ref
    await enqueue(db, outbox, make_alert((ref,)))
    assert await outbox.deliver_pending(NOW) == DeliveryReport(sent=1)
    assert [p for p, _ in receiver.posts] == ["/inline"]


async def test_targets_that_disappeared_from_the_config(db: SqliteStore) -> None:
    outbox = Outbox(db, {"hooks": ["json://127.0.0.1:9/x"], "empty": []}, max_attempts=2)
    await enqueue(db, outbox, make_alert(("nosuchgroup", "empty", "hooks")))
    d = await deliveries(db)
    assert d["nosuchgroup"]["status"] == "dead" and "unknown notify group" in d["nosuchgroup"]["last_error"]
    assert d["empty"]["status"] == "dead" and "has no URLs" in d["empty"]["last_error"]
    restarted = Outbox(db, {})                                   # the group was removed from monitor.yaml
    assert await restarted.deliver_pending(NOW) == DeliveryReport(failed=1, pending=1)
    assert (await deliveries(db))["hooks:0"]["last_error"] == "target is no longer configured"


async def test_concurrent_calls_send_each_delivery_once(db: SqliteStore, hook: tuple[Hook, int]) -> None:
    receiver, port = hook
    outbox = Outbox(db, {"hooks": [f"json://127.0.0.1:{port}/once"]})
    for i in range(3):
        await enqueue(db, outbox, make_alert(("hooks",), alert_id=f"a{i}"))
    calls: list[Callable[[], Any]] = [lambda: outbox.deliver_pending(NOW)] * 3
    reports = await asyncio.gather(*(c() for c in calls))
    assert sum(r.sent for r in reports) == 3
    assert len(receiver.posts) == 3


def test_backoff_is_exponential_jittered_and_capped() -> None:
    outbox = Outbox(None, {}, retry_base=30, retry_max=3600)  # type: ignore[arg-type]
    for attempts, full in [(1, 30), (2, 60), (3, 120), (8, 3600), (200, 3600)]:
        delays = {outbox.backoff(attempts).total_seconds() for _ in range(50)}
        assert all(full / 2 <= d <= full for d in delays)
        assert len(delays) > 1                                  # jittered
