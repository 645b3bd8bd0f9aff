"""Scheduler: health in the store, logged on change only; one failing source never stops the others;
`monitor run` shuts down cleanly on SIGTERM/SIGINT and keeps running past a broken rule."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
import time
from pathlib import Path

import pytest

from monitor.config import BrandConfig
from monitor.http import HttpClient
from monitor.pipeline import Pipeline
from monitor.scheduler import Scheduler
from monitor.sources.base import SourceConfig
from monitor.sources.rss import RssSource
from monitor.store.base import Filters
from monitor.store.sqlite import SqliteStore
from tests.fakeserver import FakeServer, Reply
from tests.fixtures_path import FIXTURES

HEISE = FIXTURES / "feeds" / "realworld" / "rss-parser" / "heise.atom"


async def test_health_changes_are_stored_and_logged_once(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="monitor.scheduler")
    store = SqliteStore(tmp_path / "m.db")
    await store.open()
    async with FakeServer() as server, HttpClient(retries=0) as http:
        server.add("/good.atom", HEISE)
        server.add("/flaky.atom", Reply(status=503), Reply(status=503), Reply(status=503),
                   Reply(body=HEISE.read_bytes()))
        good = RssSource(SourceConfig(type="rss", name="good", options={"urls": [server.url("/good.atom")]}), http)
        flaky = RssSource(SourceConfig(type="rss", name="flaky", options={"urls": [server.url("/flaky.atom")]}),
                          http)
        pipe = Pipeline([BrandConfig("Microsoft", "microsoft", ("de", "en"))], store)
        sched = Scheduler([good, flaky], pipe, store)
        for _ in range(3):
            results = {r.source: r for r in await sched.run_once()}
            assert results["good"].ok and not results["flaky"].ok
        health = await store.get_state("health", "flaky")
        assert health["status"] == "failing" and health["failures_in_row"] == 3
        assert "503" in health["last_error"]
        assert (await store.get_state("health", "good"))["status"] == "ok"
        results = {r.source: r for r in await sched.run_once()}
        assert results["flaky"].ok and results["flaky"].new == 0  # same entries, already stored via "good"
        health = await store.get_state("health", "flaky")
        assert health["status"] == "ok" and health["failures_in_row"] == 0
    stored = await store.count(Filters(query="microsoft"))
    await store.close()
    assert stored > 0
    failing_logs = [r for r in caplog.records if "is failing" in r.getMessage()]
    recovered_logs = [r for r in caplog.records if "recovered" in r.getMessage()]
    assert len(failing_logs) == 1 and len(recovered_logs) == 1


def _config(tmp_path: Path, feed_url: str, rules: Path) -> Path:
    cfg = tmp_path / "monitor.yaml"
    cfg.write_text(f"""\
brands: [{{name: Microsoft, query: microsoft}}]
sources:
  - {{type: rss, name: heise, urls: ["{feed_url}"], interval: 1s}}
store: {{path: {tmp_path / 'm.db'}}}
rules: {rules}
notify: {{managers: ["json://127.0.0.1:9/none"]}}
""")
    return cfg


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
async def test_run_stops_cleanly_on_signal_and_survives_a_broken_rule(tmp_path: Path, sig: signal.Signals) -> None:
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "broken.yaml").write_text("name: Broken\ntype: frequency\n")
    (rules / "ok.yaml").write_text("name: Every\ntype: any\nrealert: 0\nalert: [managers]\n")
    async with FakeServer() as server:
        server.add("/heise.atom", HEISE)
        cfg = _config(tmp_path, server.url("/heise.atom"), rules)
        env = {k: v for k, v in os.environ.items() if not k.startswith("MONITOR_")}
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "monitor.cli", "-c", str(cfg), "run", stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env)
        deadline = time.monotonic() + 60
        while server.hits["/heise.atom"] < 2 and time.monotonic() < deadline and proc.returncode is None:
            await asyncio.sleep(0.1)
        assert server.hits["/heise.atom"] >= 2, "the source loop polls repeatedly"
        proc.send_signal(sig)
        _, err = await asyncio.wait_for(proc.communicate(), timeout=60)
    log = err.decode()
    assert proc.returncode == 0, log
    assert "monitor stopped" in log
    assert "rule skipped" in log and "broken.yaml" in log and "Traceback" not in log
