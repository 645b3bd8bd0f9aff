"""``monitor demo``: a small simulated world on 127.0.0.1 and the real machinery running against it.

The world: a news feed (RSS) and a community forum feed (Atom) telling a scripted story about the
fictitious energy brand *Voltaro*: two days of German and English background chatter, then, in the last
hour, a burst of angry mentions about an outage. The manager's inbox is a local SMTP server and their
phone a local JSON push endpoint. Everything runs through monitor.yaml, the RSS source, the pipeline, the
SQLite store, the rules in rules/ and apprise, exactly as ``monitor run`` does.
"""

from __future__ import annotations

import asyncio
import contextlib
import email
import email.policy
import random
import shutil
import socket
import tempfile
import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

from aiohttp import web

from .models import utcnow

BRAND = "Voltaro"
BRAND_QUERY = '(voltaro OR "voltaro energie" OR #voltaro) NOT stellenangebot'

# The rule the demo must fire: the same text as rules/negative-spike.yaml (a test keeps them equal).
DEMO_RULE = Path(__file__).with_name("demo_rules") / "negative-spike.yaml"

_BACKGROUND = [
    ("en", "Switched to Voltaro last month, the app is really nice and the tariff is fair."),
    ("de", "Wir sind seit einem Jahr bei Voltaro Energie und sehr zufrieden mit dem Service."),
    ("en", "Anyone know if Voltaro offers a dynamic tariff in Hamburg?"),
    ("de", "Hat jemand Erfahrung mit dem Wärmepumpentarif von Voltaro?"),
    ("en", "Voltaro customer support answered within minutes, great experience."),
    ("de", "Die neue Voltaro App zeigt endlich den Verbrauch pro Stunde an. Praktisch!"),
    ("en", "Comparing Voltaro and two other providers for our new flat."),
    ("de", "Voltaro erhöht zum Januar die Grundgebühr, steht in der Mail."),
    ("en", "Voltaro billing was wrong this month, annoying but they fixed it."),
    ("de", "Kann man bei Voltaro den Abschlag online ändern? #voltaro"),
]
_NOISE = [
    ("en", "Local weather: sunny spells and a light breeze this afternoon."),
    ("de", "Stellenangebot: Voltaro sucht Werkstudenten im Vertrieb."),   # excluded by NOT stellenangebot
    ("de", "Der Stadtrat berät heute über neue Radwege in der Innenstadt."),
]
_CRISIS_EN = [
    "Voltaro outage again, my power has been out for hours and support is useless.",
    "Terrible: Voltaro cut our electricity by mistake. Nobody answers the hotline!",
    "Voltaro is a disaster today, no power, no information, awful service.",
    "Worst provider ever. Voltaro blackout and they still charge us. I want a refund.",
    "Angry at Voltaro: third outage this month, we lost a fridge full of food.",
    "Voltaro app crashed and the outage map is broken. Furious and fed up.",
]
_CRISIS_DE = [
    "Stromausfall bei Voltaro, seit Stunden kein Strom und die Hotline ist nicht erreichbar!",
    "Voltaro ist heute eine Katastrophe. Kein Strom, keine Info. Ich kündige.",
    "Schon wieder Stromausfall. Danke für nichts, Voltaro #voltaro",
]


@dataclass
class Story:
    news: list[dict[str, Any]] = field(default_factory=list)
    forum: list[dict[str, Any]] = field(default_factory=list)


def write_story(now: datetime, seed: int = 7) -> Story:
    """Two days of background, then a crisis in the last hour; deterministic for a given seed."""
    rnd = random.Random(seed)
    story = Story()
    t = now - timedelta(days=2)
    n = 0
    while t < now - timedelta(hours=1, minutes=5):
        lang, text = _BACKGROUND[n % len(_BACKGROUND)]
        target = story.news if n % 3 == 0 else story.forum
        target.append({"id": f"bg-{n}", "title": text.split(".")[0][:70], "text": text, "lang": lang,
                       "author": rnd.choice(["anna_k", "mike.r", "sabine", "jo_h", "kev"]), "at": t})
        if n % 4 == 0:
            nl, nt = _NOISE[n % len(_NOISE)]
            story.news.append({"id": f"noise-{n}", "title": nt[:60], "text": nt, "lang": nl,
                               "author": "newsdesk", "at": t + timedelta(minutes=3)})
        t += timedelta(minutes=rnd.randint(35, 55))
        n += 1
    for i in range(24):
        at = now - timedelta(minutes=55) + timedelta(minutes=i * 2, seconds=rnd.randint(0, 50))
        if i % 4 == 3:
            text, lang = _CRISIS_DE[i % len(_CRISIS_DE)], "de"
        else:
            text, lang = _CRISIS_EN[i % len(_CRISIS_EN)], "en"
        target = story.forum if i % 2 else story.news
        target.append({"id": f"crisis-{i}", "title": text.split(".")[0][:80], "text": text, "lang": lang,
                       "author": f"user{rnd.randint(100, 999)}", "at": at})
    # Hostile markup from the internet must arrive escaped in the e-mail and the store.
    story.forum.append({"id": "crisis-x", "title": "Voltaro outage <script>alert('pwned')</script>",
                        "text": "<b>Voltaro</b> outage, terrible service <img src=x onerror=alert(1)>",
                        "lang": "en", "author": "troll<script>", "at": now - timedelta(minutes=4)})
    return story


def rss_feed(items: list[dict[str, Any]], base: str) -> bytes:
    out = ['<?xml version="1.0" encoding="utf-8"?>', '<rss version="2.0" xmlns:dc="http://purl.org/dc/elements/1.1/">',
           "<channel><title>Energie-News (demo)</title>", f"<link>{base}/</link>",
           "<description>Simulated news for the monitor demo</description>"]
    for it in sorted(items, key=lambda x: x["at"], reverse=True):
        out.append(
            f"<item><title>{escape(it['title'])}</title>"
            f"<link>{base}/news/{it['id']}?utm_source=demo</link><guid>{base}/news/{it['id']}</guid>"
            f"<description>{escape(it['text'])}</description><dc:creator>{escape(it['author'])}</dc:creator>"
            f"<pubDate>{format_datetime(it['at'])}</pubDate></item>")
    out.append("</channel></rss>")
    return "\n".join(out).encode("utf-8")


def atom_feed(items: list[dict[str, Any]], base: str) -> bytes:
    out = ['<?xml version="1.0" encoding="utf-8"?>', '<feed xmlns="http://www.w3.org/2005/Atom">',
           "<title>Community-Forum (demo)</title>", f'<link href="{base}/forum"/>',
           f"<id>{base}/forum</id>", f"<updated>{utcnow().isoformat()}</updated>"]
    for it in sorted(items, key=lambda x: x["at"], reverse=True):
        out.append(
            f'<entry xml:lang="{it["lang"]}"><title type="html">{escape(it["title"])}</title>'
            f'<link href="{base}/forum/t/{it["id"]}#post-1"/><id>{base}/forum/t/{it["id"]}</id>'
            f"<author><name>{escape(it['author'])}</name></author>"
            f"<published>{it['at'].isoformat()}</published><updated>{it['at'].isoformat()}</updated>"
            f'<content type="html">{escape(it["text"])}</content></entry>')
    out.append("</feed>")
    return "\n".join(out).encode("utf-8")


class Inbox:
    """A real SMTP server (aiosmtpd) collecting what the manager would receive."""

    def __init__(self) -> None:
        self.messages: list[email.message.EmailMessage] = []
        self._lock = threading.Lock()
        self.controller: Any = None
        self.port = 0

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 - aiosmtpd API
        msg = email.message_from_bytes(envelope.content, policy=email.policy.default)
        with self._lock:
            self.messages.append(msg)
        return "250 Message accepted for delivery"

    def start(self) -> None:
        from aiosmtpd.controller import Controller

        self.port = free_port()
        self.controller = Controller(self, hostname="127.0.0.1", port=self.port)
        self.controller.start()

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class World:
    """The simulated internet: feeds and a push endpoint on one aiohttp server."""

    def __init__(self, story: Story) -> None:
        self.story = story
        self.pushes: list[dict[str, Any]] = []
        self.runner: web.AppRunner | None = None
        self.base = ""

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/news.xml", self._news)
        app.router.add_get("/forum.atom", self._forum)
        app.router.add_post("/push", self._push)
        self.runner = web.AppRunner(app, access_log=None)
        await self.runner.setup()
        port = free_port()
        site = web.TCPSite(self.runner, "127.0.0.1", port)
        await site.start()
        self.base = f"http://127.0.0.1:{port}"

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()

    async def _news(self, request: web.Request) -> web.Response:
        return web.Response(body=rss_feed(self.story.news, self.base), content_type="application/rss+xml")

    async def _forum(self, request: web.Request) -> web.Response:
        return web.Response(body=atom_feed(self.story.forum, self.base), content_type="application/atom+xml")

    async def _push(self, request: web.Request) -> web.Response:
        try:
            self.pushes.append(await request.json())
        except ValueError:
            self.pushes.append({"raw": (await request.text())[:1000]})
        return web.json_response({"ok": True})


def demo_config(world: World, inbox: Inbox, data: Path) -> str:
    return f"""\
# Written by `monitor demo`: the same format you would write for real sources.
brands:
  - name: {BRAND}
    query: '{BRAND_QUERY}'
    languages: [de, en]
sources:
  - {{type: rss, name: energie-news, urls: ["{world.base}/news.xml"], interval: 30s}}
  - {{type: rss, name: community-forum, urls: ["{world.base}/forum.atom"], interval: 30s}}
store: {{type: sqlite, path: {data / 'monitor.db'}}}
notify:
  managers: ["mailto://127.0.0.1:{inbox.port}?from=monitor@demo.invalid&to=cm@demo.invalid&mode=insecure"]
  oncall: ["json://127.0.0.1:{world.base.rsplit(':', 1)[1]}/push"]
rules: {data / 'rules'}
web: {{listen: 127.0.0.1:8080}}
"""


async def run_demo(*, once: bool, as_json: bool, keep: Path | None = None) -> dict[str, Any]:
    from .app import App
    from .config import load_config

    def say(text: str) -> None:
        if not as_json:
            print(text, flush=True)

    data = keep or Path(tempfile.mkdtemp(prefix="monitor-demo-"))
    data.mkdir(parents=True, exist_ok=True)
    (data / "rules").mkdir(exist_ok=True)
    shutil.copy(DEMO_RULE, data / "rules" / DEMO_RULE.name)
    story = write_story(utcnow())
    world = World(story)
    inbox = Inbox()
    await world.start()
    inbox.start()
    app: App | None = None
    try:
        cfg = data / "monitor.yaml"
        cfg.write_text(demo_config(world, inbox, data), encoding="utf-8")
        say(f"demo world on {world.base}: {len(story.news)} news items, {len(story.forum)} forum posts")
        say(f"manager's inbox: SMTP on 127.0.0.1:{inbox.port}; phone: {world.base}/push; data in {data}")
        app = App(load_config(cfg))
        await app.start()
        report = await app.run_once()
        for p in report.polls:
            say(f"  polled {p.source}: {p.fetched} items, {p.new} new mentions"
                + ("" if p.ok else f" (failed: {p.error})"))
        for _ in range(50):  # deliveries are synchronous; give the SMTP thread a moment to hand over
            if inbox.messages and world.pushes:
                break
            await asyncio.sleep(0.1)
        from .store.base import Filters

        stored = await app.store.count(Filters())
        negative = await app.store.count(Filters(sentiments=("negative",), since=utcnow() - timedelta(hours=1)))
        say(f"stored {stored} mentions of {BRAND}; {negative} negative in the last hour")
        say(f"alerts: {report.alerts} raised, {report.sent} deliveries sent, {report.failed} failed")
        for i, msg in enumerate(inbox.messages, 1):
            eml = data / f"inbox-{i}.eml"
            eml.write_bytes(msg.as_bytes())
            say(f"  e-mail to {msg['To']}: {msg['Subject']}  (saved as {eml})")
        for push in world.pushes:
            say(f"  push: {str(push.get('title') or push)[:100]}")
        outbox = await app.store.list_state("outbox")
        delivered = sum(1 for _, entry in outbox
                        if any(d.get("status") == "sent" for d in (entry.get("deliveries") or {}).values()))
        result = {
            "mentions_stored": stored, "negative_last_hour": negative, "alerts_raised": report.alerts,
            "alerts_sent": delivered, "deliveries_sent": report.sent, "emails_received": len(inbox.messages),
            "pushes_received": len(world.pushes), "data_dir": str(data),
            "rule_errors": report.rule_errors,
        }
        if not once:
            say(f"running until Ctrl-C (config: {cfg}); try: monitor -c {cfg} search outage")
            await app.run_forever()
        return result
    finally:
        if app is not None:
            await app.close()
        inbox.stop()
        await world.stop()
        if keep is None and once:
            with contextlib.suppress(OSError):
                shutil.rmtree(data)
