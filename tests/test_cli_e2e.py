"""`monitor run --once` against real recorded feeds on 127.0.0.1, then `monitor search` on what it stored.

Everything is real: the subprocess, the HTTP server, the SQLite file. The feeds are heise (German Atom)
and the Guardian (English RSS) as recorded in ../shared/fixtures, plus one broken source.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.fakeserver import FakeServer, Reply
from tests.fixtures_path import FIXTURES

FEEDS = FIXTURES / "feeds" / "realworld" / "rss-parser"


def monitor(*args: str, cfg: Path, check: bool = True) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MONITOR_")}
    proc = subprocess.run([sys.executable, "-m", "monitor.cli", "-c", str(cfg), "--log-level", "WARNING", *args],
                          capture_output=True, text=True, env=env, timeout=120, stdin=subprocess.DEVNULL)
    if check and proc.returncode != 0:
        raise AssertionError(f"monitor {' '.join(args)} exited {proc.returncode}:\n{proc.stderr}")
    return proc


def search(cfg: Path, *args: str) -> list[dict[str, Any]]:
    out = monitor("search", *args, "--json", "--limit", "1000", cfg=cfg).stdout
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def titles(rows: list[dict[str, Any]]) -> set[str]:
    return {r["title"] for r in rows}


@pytest.fixture(scope="module")
def stored(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Run one poll of three sources into a fresh store; return the config path."""
    import asyncio

    tmp = tmp_path_factory.mktemp("e2e")

    async def go() -> Path:
        async with FakeServer() as server:
            server.add("/heise.atom", FEEDS / "heise.atom", headers={"Content-Type": "application/atom+xml"})
            server.add("/guardian.rss", FEEDS / "guardian.rss", headers={"Content-Type": "application/rss+xml"})
            server.add("/broken.xml", Reply(status=500, body=b"oops"))
            server.add("/html.xml", Reply(body=b"<html><body><script>alert(1)</script>no feed</body></html>",
                                          headers={"Content-Type": "text/html"}))
            cfg = tmp / "monitor.yaml"
            cfg.write_text(f"""\
brands:
  - {{name: Facebook, query: facebook}}
  - {{name: Microsoft, query: 'microsoft OR "visual studio"'}}
  - {{name: Trump, query: 'trump NOT "stormy daniels"', languages: [en]}}
sources:
  - {{type: rss, name: heise, urls: ["{server.url('/heise.atom')}"]}}
  - {{type: rss, name: guardian, urls: ["{server.url('/guardian.rss')}"]}}
  - {{type: rss, name: broken, urls: ["{server.url('/broken.xml')}", "{server.url('/html.xml')}"]}}
store: {{path: {tmp / 'monitor.db'}}}
rules: {tmp / 'rules'}
http: {{retries: 0}}
""", encoding="utf-8")
            (tmp / "rules").mkdir()
            proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "monitor.cli", "-c", str(cfg), "--log-level", "WARNING", "run", "--once",
                "--json", stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
                stdin=asyncio.subprocess.DEVNULL)
            out, err = await proc.communicate()
            assert proc.returncode == 0, err.decode()
            report = json.loads(out)
            polls = {p["source"]: p for p in report["polls"]}
            assert polls["heise"]["ok"] and polls["guardian"]["ok"]
            assert not polls["broken"]["ok"]
            assert "every feed failed" in polls["broken"]["error"]
            assert polls["heise"]["new"] > 0 and polls["guardian"]["new"] > 0
            return cfg

    return asyncio.run(go())


def test_run_once_stores_only_matching_mentions(stored: Path) -> None:
    rows = search(stored)
    assert rows, "nothing stored"
    for r in rows:
        text = f"{r['title']} {r['text']}".lower()
        assert any(w in text for w in ("facebook", "microsoft", "visual studio", "trump")), r["title"]
        assert "stormy daniels" not in text or set(r["brands"]) != {"Trump"}
    assert "Facebook schließt Parse-Plattform" in titles(rows)
    assert "Facebook bans cryptocurrency adverts because so many are scams" in titles(rows)


def test_search_by_phrase(stored: Path) -> None:
    rows = search(stored, '"state of the union"')
    assert rows
    assert all("state of the union" in f"{r['title']} {r['text']}".lower() for r in rows)
    assert "Trump State of the Union address promised unity but emphasized discord" in titles(rows)


def test_search_by_near(stored: Path) -> None:
    near3 = titles(search(stored, "trump NEAR/3 union"))
    assert "Trump State of the Union address promised unity but emphasized discord" in near3
    near1 = titles(search(stored, "trump NEAR/1 union"))
    assert "Trump State of the Union address promised unity but emphasized discord" not in near1
    assert near1 <= near3


def test_search_accent_insensitive_german(stored: Path) -> None:
    assert titles(search(stored, "schliesst")) == titles(search(stored, "SCHLIESST"))
    assert "Facebook schließt Parse-Plattform" in titles(search(stored, "facebook parse*"))


def test_each_filter(stored: Path) -> None:
    every = search(stored)
    by_brand = search(stored, "--brand", "Facebook")
    assert {r["title"] for r in by_brand} == {r["title"] for r in every if "Facebook" in r["brands"]}
    assert len(by_brand) >= 2

    heise = search(stored, "--source", "heise")
    assert heise and all(r["source_name"] == "heise" for r in heise)
    assert {r["source_name"] for r in search(stored, "--source", "rss")} == {"heise", "guardian"}

    german = search(stored, "--lang", "de")
    assert german and all(r["lang"] == "de" for r in german)
    assert {r["source_name"] for r in german} == {"heise"}

    assert search(stored, "--sentiment", "unscored") == [], "German and English both have a model"
    for label in ("negative", "positive", "neutral"):
        rows = search(stored, "--sentiment", label)
        assert all(r["sentiment_label"] == label for r in rows)
    assert sum(len(search(stored, "--sentiment", s)) for s in ("negative", "positive", "neutral", "unscored")) \
        == len(every)

    author = next(r["author"]["handle"] for r in every if r["author"]["handle"])
    by_author = search(stored, "--author", author)
    assert by_author and all(r["author"]["handle"].lower() == author.lower() for r in by_author)

    newer = search(stored, "--since", "2017-01-01")
    older = search(stored, "--until", "2017-01-01")
    assert {r["source_name"] for r in newer} == {"guardian"}
    assert {r["source_name"] for r in older} == {"heise"}
    assert len(newer) + len(older) == len(every)


def test_search_order_and_limit(stored: Path) -> None:
    rows = search(stored, "--sort", "oldest")
    dates = [r["published_at"] for r in rows]
    assert dates == sorted(dates)
    limited = monitor("search", "--json", "--limit", "3", cfg=stored).stdout.splitlines()
    assert len(limited) == 3


def test_search_syntax_error_is_one_line_exit_2(stored: Path) -> None:
    proc = monitor("search", '(trump OR "union', cfg=stored, check=False)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "column" in lines[0], proc.stderr


def test_broken_source_is_in_health_and_others_ran(stored: Path) -> None:
    import asyncio

    from monitor.store.sqlite import SqliteStore

    async def health() -> dict[str, Any]:
        store = SqliteStore(stored.parent / "monitor.db")
        await store.open()
        try:
            return dict(await store.list_state("health"))
        finally:
            await store.close()

    h = asyncio.run(health())
    assert h["heise"]["status"] == "ok" and h["guardian"]["status"] == "ok"
    assert h["broken"]["status"] == "failing" and h["broken"]["failures_in_row"] == 1
    assert "HTTP 500" in h["broken"]["last_error"]


def test_status_shows_health_and_sources_lists_types(stored: Path) -> None:
    out = monitor("status", cfg=stored).stdout
    assert "heise" in out and "broken" in out and "failing" in out and "HTTP 500" in out
    assert "rss" in monitor("sources", cfg=stored).stdout
    assert "```yaml" in monitor("sources", "rss", cfg=stored).stdout


def test_config_and_rule_errors_exit_2_with_located_line(tmp_path: Path) -> None:
    cfg = tmp_path / "monitor.yaml"
    cfg.write_text("brands:\n  - name: Acme\n    query: 'acme AND'\n", encoding="utf-8")
    proc = monitor("config", "check", cfg=cfg, check=False)
    assert proc.returncode == 2
    assert proc.stderr.strip().startswith(f"monitor: {cfg}:3: brands[0].query: "), proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1

    cfg.write_text(f"brands: [{{name: Acme}}]\nrules: {tmp_path / 'rules'}\n"
                   "notify: {managers: ['json://127.0.0.1:9/x']}\n")
    (tmp_path / "rules").mkdir()
    (tmp_path / "rules" / "bad.yaml").write_text("name: Bad\ntype: frequency\nnum_events: 3\nalert: [managers]\n")
    proc = monitor("rules", "check", cfg=cfg, check=False)
    assert proc.returncode == 2
    line = proc.stderr.strip()
    assert line.startswith(f"monitor: {tmp_path / 'rules' / 'bad.yaml'}:"), line
    assert "timeframe" in line and len(line.splitlines()) == 1
    proc = monitor("config", "check", cfg=cfg, check=False)
    assert proc.returncode == 2 and "timeframe" in proc.stderr

    (tmp_path / "rules" / "bad.yaml").unlink()
    proc = monitor("config", "check", cfg=cfg)
    assert "ok" in proc.stdout
    examples = str(Path(__file__).resolve().parents[1] / "rules")
    proc = monitor("rules", "check", examples, cfg=cfg, check=False)
    assert proc.returncode == 2 and "unknown notify group 'oncall'" in proc.stderr
    cfg.write_text(cfg.read_text().replace("notify: {", "notify: {oncall: ['json://127.0.0.1:9/y'], "))
    proc = monitor("rules", "check", examples, cfg=cfg)
    assert "rules valid" in proc.stdout


def test_missing_config_is_exit_2(tmp_path: Path) -> None:
    proc = monitor("run", "--once", cfg=tmp_path / "nope.yaml", check=False)
    assert proc.returncode == 2 and "config file not found" in proc.stderr
