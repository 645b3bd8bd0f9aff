"""`monitor demo --once --json`: the newcomer's first command must end with a delivered alert."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

from monitor.demo import DEMO_RULE, rss_feed, write_story
from monitor.models import utcnow

ROOT = Path(__file__).resolve().parents[1]


def test_demo_once_json_delivers_alert_by_mail_and_push(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MONITOR_")}
    proc = subprocess.run([sys.executable, "-m", "monitor.cli", "--log-level", "WARNING", "demo", "--once", "--json",
                           "--keep", str(tmp_path / "demo")], capture_output=True, text=True, timeout=300, env=env,
                          stdin=subprocess.DEVNULL, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["alerts_sent"] >= 1
    assert result["emails_received"] >= 1
    assert result["pushes_received"] >= 1
    assert result["mentions_stored"] > 50
    assert result["rule_errors"] == []
    # The e-mail the manager got explains itself and carries no live markup from the internet.
    eml = (tmp_path / "demo" / "inbox-1.eml").read_bytes().decode("utf-8", "replace")
    assert "Negative spike" in eml
    assert "<script" not in eml.lower()
    assert "onerror" not in eml.lower()


def test_demo_rule_is_the_shipped_example_rule() -> None:
    assert DEMO_RULE.read_text() == (ROOT / "rules" / "negative-spike.yaml").read_text()


def test_story_has_background_and_a_crisis() -> None:
    now = utcnow()
    story = write_story(now)
    items = story.news + story.forum
    langs = {i["lang"] for i in items}
    assert langs == {"de", "en"}
    recent = [i for i in items if (now - i["at"]).total_seconds() <= 3600]
    older = [i for i in items if (now - i["at"]).total_seconds() > 3600]
    assert len(recent) >= 15 and len(older) >= 40
    assert min(i["at"] for i in items) <= now - timedelta(days=1, hours=23)
    forum = rss_feed(story.forum, "http://127.0.0.1:1")
    assert b"&lt;script&gt;" in forum and b"<script" not in forum, "hostile text is escaped inside the feed XML"
