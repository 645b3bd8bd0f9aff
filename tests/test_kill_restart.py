"""SIGKILL `monitor run` at many points while it ingests and alerts, restart it, and lose or double nothing.

The world grows while the monitor runs: three feeds reveal a few items per request (ETags included,
so an unchanged feed costs a 304), many of them angry English mentions that fire three rules. Each
process instance gets a run number in its config, which its polls and deliveries carry, so every
received notification is attributed to the process that sent it. Kills land during start-up, during
polling/ingestion, and just after a delivery reached a receiver (which answers slowly on purpose).

Afterwards, on the real SQLite file: every brand item is stored exactly once, every alert the rules
must produce is in the outbox exactly once, every delivery is sent, every alert reached both channels,
and an alert reached a channel twice only when the earlier copy came from a process that was killed
(the kill fell between the send and its record). The duplicate count is printed.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import signal
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from monitor.models import Mention
from monitor.store.base import Filters
from monitor.store.sqlite import SqliteStore
from tests.e2e_helpers import (
    USER_AGENT,
    GrowingFeed,
    GrowingWorld,
    Receipt,
    SlowInbox,
    norm,
    spawn_monitor,
    tail,
    wait_until,
)

BRAND = "Brightwave"
# How many kills of each kind, shuffled; then QUIET more "ingest" kills after the world stopped growing
# (a validator saved before its items would then hide them behind 304s for good).
PLAN = {"startup": 3, "ingest": 6, "late": 3, "delivery": 4}
QUIET = 4
KILLS = sum(PLAN.values()) + QUIET
NUM_EVENTS = 3          # the realert-0 frequency rule fires on every batch once 3 negatives are stored
HOURLY_EVENTS = 5       # the realert-1h frequency rule fires exactly once in this test

OUTAGE = [
    "Brightwave outage again, no power for hours and support is useless. Terrible.",
    "Another Brightwave outage tonight. Awful service, I want a refund!",
    "Brightwave outage map is broken and the hotline hangs up. Furious.",
    "Third Brightwave outage this month, we lost a fridge full of food. Disgusting.",
]
ANGRY = [
    "Brightwave billed me twice and refuses to fix it. Worst company ever, horrible.",
    "Brightwave support is a disaster, rude and useless. I hate this.",
    "Brightwave raised prices again, what a terrible rip-off. Angry.",
]
CALM = [
    "Switched to Brightwave last month, the app is really nice and the tariff is great.",
    "Brightwave support answered within minutes, wonderful experience, thanks!",
    "Does Brightwave offer a dynamic tariff in Leeds?",
    "Comparing Brightwave with two other providers for our new flat.",
]
NOISE = [
    "Local weather: sunny spells and a light breeze this afternoon.",
    "The council discusses new cycle lanes for the city centre today.",
]
RULES = {
    "outage.yaml": """\
name: Outage mention
type: any
filter: {brand: Brightwave, query: outage}
realert: 0
alert: [team]
alert_subject: "Outage mention {0}: {1}"
alert_subject_args: [id, title]
""",
    "burst.yaml": f"""\
name: Negative burst
type: frequency
filter: {{brand: Brightwave, sentiment: negative}}
num_events: {NUM_EVENTS}
timeframe: 1d
realert: 0
alert: [team]
""",
    "hourly.yaml": f"""\
name: Negative burst hourly
type: frequency
filter: {{brand: Brightwave, sentiment: negative}}
num_events: {HOURLY_EVENTS}
timeframe: 1d
realert: 1h
alert: [team]
""",
}


def write_script(prefix: str, count: int, rng: random.Random) -> list[dict[str, Any]]:
    """Items of one feed: outage mentions, other angry ones, calm ones and unrelated noise."""
    items: list[dict[str, Any]] = []
    for i in range(count):
        kind = rng.choices(["outage", "angry", "calm", "noise"], weights=[35, 20, 25, 20])[0]
        pool = {"outage": OUTAGE, "angry": ANGRY, "calm": CALM, "noise": NOISE}[kind]
        text = f"{rng.choice(pool)} (#{prefix}{i})"
        items.append({"id": f"{prefix}-{i}", "kind": kind, "title": text.split(".")[0][:80], "text": text,
                      "lang": "en", "author": f"user{rng.randint(100, 999)}", "at": None})
    return items


def write_config(path: Path, world: GrowingWorld, inbox: SlowInbox, run: int) -> None:
    """monitor.yaml for one process instance: its run number goes into User-Agent and notify headers."""
    sources = "\n".join(
        f'  - {{type: rss, name: {name}, urls: ["{world.base}{p}"], interval: 1s, '
        f'user_agent: "{USER_AGENT}{run}"}}'
        for name, p in (("news", "/news.rss"), ("forum", "/forum.atom"), ("blog", "/blog.rss")))
    path.write_text(f"""\
brands:
  - {{name: {BRAND}, query: 'brightwave OR "bright wave"', languages: [de, en]}}
sources:
{sources}
store: {{path: {path.parent / 'monitor.db'}}}
notify:
  team:
    - "mailto://127.0.0.1:{inbox.port}?from=monitor@kill.invalid&to=cm@kill.invalid&mode=insecure&+X-Monitor-Run={run}"
    - "json://127.0.0.1:{world.port}/push?+X-Monitor-Run={run}"
rules: {path.parent / 'rules'}
""", encoding="utf-8")


@dataclass
class Kill:
    run: int
    mode: str            # startup / ingest / late / delivery
    polled: bool         # the process had polled a feed before it died
    mid_send: int        # deliveries a receiver held unanswered at the moment of the kill


async def kill_once(run: int, mode: str, rng: random.Random, cfg: Path, log: Path, world: GrowingWorld,
                    inbox: SlowInbox) -> Kill:
    proc = await spawn_monitor(cfg, "run", log=log)
    try:
        if mode == "startup":
            await asyncio.sleep(rng.uniform(0.05, 1.5))
        else:
            ready = await wait_until(lambda: world.polled_by(run), timeout=20, proc=proc)
            assert ready, f"run {run} never polled (exit {proc.returncode}):\n{tail(log)}"
            if mode == "ingest":       # while the first answers are parsed, enriched and stored
                await asyncio.sleep(rng.uniform(0.0, 0.3))
            elif mode == "late":       # later polls, rule evaluation, deliveries
                await asyncio.sleep(rng.uniform(0.3, 2.0))
            else:                      # just after a receiver got a notification from this process
                await wait_until(lambda: any(r.run == run for r in world.receipts + inbox.snapshot()),
                                 timeout=4, proc=proc)
                await asyncio.sleep(rng.uniform(0.0, 0.06))
        assert proc.returncode is None, f"run {run} exited by itself ({proc.returncode}):\n{tail(log)}"
        mid_send = world.inflight + inbox.inflight
        proc.send_signal(signal.SIGKILL)
        await proc.wait()
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    return Kill(run, mode, world.polled_by(run), mid_send)


async def run_once(run: int, cfg: Path, log: Path) -> dict[str, Any]:
    proc = await spawn_monitor(cfg, "run", "--once", "--json", log=log)
    out, _ = await asyncio.wait_for(proc.communicate(), timeout=120)
    assert proc.returncode == 0, f"run --once (run {run}) exited {proc.returncode}:\n{tail(log)}"
    report: dict[str, Any] = json.loads(out)
    return report


async def stored_state(db: Path) -> tuple[list[Mention], list[tuple[str, Any]]]:
    """Every mention in the order it was stored, and every outbox entry."""
    store = SqliteStore(db)
    await store.open()
    try:
        mentions, _ = await store.added_since(None, limit=100_000)
        assert len(mentions) == await store.count(Filters())
        return mentions, await store.list_state("outbox")
    finally:
        await store.close()


def check_frequency_alerts(alerts: list[dict[str, Any]], stored: list[Mention]) -> None:
    """realert 0: every negative mention from the NUM_EVENTS-th on is in exactly one alert; none in two.

    Each stored mention is evaluated in exactly one committed engine batch, and when its batch is
    evaluated at least as many negatives as its rank are stored, so the batch fires.
    """
    negatives = [m.id for m in stored if m.sentiment_label == "negative" and BRAND in m.brands]
    assert len(negatives) >= HOURLY_EVENTS, f"the world produced only {len(negatives)} negative mentions"
    seen = Counter(mid for a in alerts for mid in a["mention_ids"])
    doubled = {mid: n for mid, n in seen.items() if n > 1}
    assert not doubled, f"mentions counted by two 'Negative burst' alerts: {doubled}"
    assert set(seen) <= set(negatives), "an alert names a mention that is not a stored negative one"
    missing = [mid for mid in negatives[NUM_EVENTS - 1:] if mid not in seen]
    assert not missing, f"{len(missing)} negative mentions never alerted, e.g. {missing[:3]}"


def check_receipts(entries: list[tuple[str, Any]], receipts: list[Receipt], killed: set[int],
                   channel: str) -> int:
    """Each alert reached the channel; a copy beyond the first came only after a killed sender.

    Alerts are matched by content (subject and body as sent), so alerts with identical content are
    counted together. Returns how many copies were duplicates.
    """
    body = "html" if channel == "mail" else "text"     # what notify.py sends to each kind of target
    expected = Counter((norm(e["alert"]["subject"]), norm(e["alert"][body])) for _, e in entries)
    by_key: dict[tuple[str, str], list[int]] = defaultdict(list)
    for r in receipts:
        if r.channel == channel:
            by_key[r.key].append(r.run)
    unknown = set(by_key) - set(expected)
    assert not unknown, f"{channel}: {len(unknown)} notifications match no outbox alert, e.g. {next(iter(unknown))}"
    duplicates = 0
    for key, want in expected.items():
        runs = sorted(by_key.get(key, []))
        assert len(runs) >= want, f"{channel}: alert {key[0]!r} received {len(runs)} times, expected {want}"
        per_run = Counter(runs)
        assert max(per_run.values()) <= want, f"{channel}: one process sent {key[0]!r} twice: {runs}"
        extra = len(runs) - want
        # The earlier copies of a duplicate must come from processes that died before recording them.
        assert all(r in killed for r in runs[:extra]), \
            f"{channel}: {key[0]!r} sent again although run(s) {runs[:extra]} were not killed: {runs}"
        duplicates += extra
    return duplicates


async def test_sigkill_restarts_lose_and_double_nothing(tmp_path: Path) -> None:
    seed = int(os.environ.get("KILL_TEST_SEED") or random.SystemRandom().randrange(1 << 30))
    print(f"\nkill test seed {seed} (set KILL_TEST_SEED to replay the same world and kill plan)")
    rng = random.Random(seed)
    feeds = [GrowingFeed("/news.rss", "rss", write_script("news", 45, rng), random.Random(rng.random())),
             GrowingFeed("/forum.atom", "atom", write_script("forum", 45, rng), random.Random(rng.random())),
             GrowingFeed("/blog.rss", "rss", write_script("blog", 45, rng), random.Random(rng.random()))]
    world = GrowingWorld(feeds, delay=0.04)
    inbox = SlowInbox(delay=0.04)
    (tmp_path / "rules").mkdir()
    for name, text in RULES.items():
        (tmp_path / "rules" / name).write_text(text, encoding="utf-8")
    cfg, log = tmp_path / "monitor.yaml", tmp_path / "monitor.log"
    await world.start()
    inbox.start()
    try:
        kills: list[Kill] = []
        plan = [mode for mode, n in PLAN.items() for _ in range(n)]
        rng.shuffle(plan)
        revealed_while_growing = 0
        for run, mode in enumerate(plan + ["ingest"] * QUIET, 1):
            if run == len(plan) + 1:
                revealed_while_growing = sum(f.revealed for f in feeds)
                world.reveal_all()
            write_config(cfg, world, inbox, run)
            kills.append(await kill_once(run, mode, rng, cfg, log, world, inbox))
        received_from_killed = sum(1 for r in world.receipts + inbox.snapshot() if r.run <= KILLS)

        write_config(cfg, world, inbox, KILLS + 1)
        first = await run_once(KILLS + 1, cfg, log)
        write_config(cfg, world, inbox, KILLS + 2)
        second = await run_once(KILLS + 2, cfg, log)
        stored, entries = await stored_state(tmp_path / "monitor.db")
        receipts = world.receipts + inbox.snapshot()
    finally:
        inbox.stop()
        await world.stop()

    killed = {k.run for k in kills}
    modes_seen = Counter(k.mode for k in kills)
    print(f"{len(kills)} kills ({dict(modes_seen)}), {sum(k.polled for k in kills)} after the first poll, "
          f"{sum(1 for k in kills if k.mid_send)} while a receiver held an unanswered delivery; "
          f"{revealed_while_growing} of {sum(len(f.script) for f in feeds)} items revealed while growing; "
          f"{received_from_killed} notifications received from killed processes")
    errors = [line for line in tail(log, 10_000).splitlines() if " ERROR " in line or "Traceback" in line]
    assert not errors, "the monitor logged errors:\n" + "\n".join(errors[:20])
    assert received_from_killed > 0, "no alert was delivered while the kills were going on"

    # The final clean runs finish the job and then find nothing left to do.
    assert all(p["ok"] for p in first["polls"] + second["polls"]), (first, second)
    assert second["alerts"] == 0 and second["pending"] == 0 and second["failed"] == 0, second
    assert all(p["new"] == 0 for p in second["polls"]), second

    # Mentions: every brand item the world served is stored exactly once, and nothing else.
    expected = world.expected_items(lambda it: it["kind"] != "noise")
    ids = [m.id for m in stored]
    assert len(ids) == len(set(ids)), "a mention id is stored twice"
    assert len({m.native_id for m in stored}) == len(stored), "a native id is stored twice"
    lost = set(expected) - set(ids)
    assert not lost, f"{len(lost)} mentions lost, e.g. {[expected[i]['id'] for i in list(lost)[:5]]}"
    assert set(ids) == set(expected), "mentions stored that the world never served as brand items"

    # Alerts: exactly the ones the rules must produce, each once.
    alerts = [entry["alert"] for _, entry in entries]
    by_rule: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for a in alerts:
        by_rule[a["rule"]].append(a)
    outage_ids = set(world.expected_items(lambda it: it["kind"] == "outage"))
    outage_alerts = [tuple(a["mention_ids"]) for a in by_rule["Outage mention"]]
    assert all(len(t) == 1 for t in outage_alerts), "an 'any' alert must name exactly one mention"
    assert Counter(t[0] for t in outage_alerts) == Counter(outage_ids), \
        "'Outage mention' alerts are not exactly one per outage mention"
    check_frequency_alerts(by_rule["Negative burst"], stored)
    assert len(by_rule["Negative burst hourly"]) == 1, \
        f"realert 1h rule fired {len(by_rule['Negative burst hourly'])} times across restarts"
    assert set(by_rule) == {"Outage mention", "Negative burst", "Negative burst hourly"}, set(by_rule)

    # Deliveries: all sent and all received; duplicates only after a kill between send and record.
    statuses = Counter(d["status"] for _, e in entries for d in e["deliveries"].values())
    assert set(statuses) == {"sent"}, statuses
    assert all(len(e["deliveries"]) == 2 for _, e in entries), "every alert goes to mail and json"
    dup_mail = check_receipts(entries, receipts, killed, "mail")
    dup_json = check_receipts(entries, receipts, killed, "json")
    print(f"{len(stored)} mentions, {len(alerts)} alerts, {statuses['sent']} deliveries; duplicates after "
          f"kill-between-send-and-record: mail {dup_mail}, json {dup_json} (in {len(kills)} kills)")
