"""SQLite store: the shared contract plus what only a file-backed SQLite store promises."""

from __future__ import annotations

import asyncio
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from monitor.errors import StoreError
from monitor.store import migrations
from monitor.store.base import Filters, Store
from monitor.store.sqlite import SqliteStore
from tests.store_contract import StoreContract, make


class TestStoreContract(StoreContract):
    """The backend-neutral contract, run for every entry of conftest.STORE_FACTORIES."""


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "monitor.db"


async def opened(path: Path) -> SqliteStore:
    store = SqliteStore(path)
    await store.open()
    return store


def raw(path: Path) -> sqlite3.Connection:
    return sqlite3.connect(path, isolation_level=None)


async def test_is_a_store(db_path: Path) -> None:
    assert isinstance(SqliteStore(db_path), Store)


async def test_wal_and_schema_version(db_path: Path) -> None:
    store = await opened(db_path)
    try:
        conn = raw(db_path)
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("PRAGMA user_version").fetchone()[0] == migrations.SCHEMA_VERSION >= 1
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        assert {"mentions", "mention_brands", "mentions_fts", "state"} <= tables
        columns = {r[1] for r in conn.execute("PRAGMA table_info(mentions)")}
        assert {"rid", "id", "site", "author_key", "author_name_key", "source_key", "source_name_key",
                "published_at", "sentiment_label", "status", "lang"} <= columns
        conn.close()
    finally:
        await store.close()


async def test_refuses_a_newer_schema(db_path: Path) -> None:
    conn = raw(db_path)
    conn.execute(f"PRAGMA user_version = {migrations.SCHEMA_VERSION + 1}")
    conn.close()
    store = SqliteStore(db_path)
    with pytest.raises(StoreError, match="newer"):
        await store.open()
    with pytest.raises(StoreError, match="not open"):
        await store.count(Filters())
    conn = raw(db_path)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == migrations.SCHEMA_VERSION + 1
    assert conn.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()[0] == 0
    conn.close()


async def test_later_migration_steps_apply_in_order(db_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = await opened(db_path)
    await store.add([make("kept")])
    await store.close()
    steps = (*migrations.MIGRATIONS, ("CREATE TABLE notes (x TEXT)", "INSERT INTO notes VALUES ('v2')"))
    monkeypatch.setattr(migrations, "MIGRATIONS", steps)
    monkeypatch.setattr(migrations, "SCHEMA_VERSION", len(steps))
    store = await opened(db_path)
    assert await store.get(make("kept").id) == make("kept")
    await store.close()
    conn = raw(db_path)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == len(steps)
    assert conn.execute("SELECT x FROM notes").fetchall() == [("v2",)]
    conn.close()


async def test_a_failing_migration_changes_nothing(db_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    await (await opened(db_path)).close()
    steps = (*migrations.MIGRATIONS, ("CREATE TABLE notes (x TEXT)", "THIS IS NOT SQL"))
    monkeypatch.setattr(migrations, "MIGRATIONS", steps)
    monkeypatch.setattr(migrations, "SCHEMA_VERSION", len(steps))
    with pytest.raises(StoreError, match="syntax error"):
        await SqliteStore(db_path).open()
    conn = raw(db_path)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == len(steps) - 1
    assert conn.execute("SELECT COUNT(*) FROM sqlite_master WHERE name = 'notes'").fetchone()[0] == 0
    conn.close()


async def test_unopenable_path_is_a_store_error(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="missing-dir"):
        await SqliteStore(tmp_path / "missing-dir" / "monitor.db").open()


async def test_concurrent_adds_land_exactly_once(db_path: Path) -> None:
    store = await opened(db_path)
    try:
        batches = [[make(n, f"text {n}", brands=("Acme",)) for n in range(i * 5, i * 5 + 25)]
                   for i in range(40)]
        results = await asyncio.gather(*(store.add(b) for b in batches))
        returned = [m.native_id for batch in results for m in batch]
        assert sorted(returned) == sorted({m.native_id for b in batches for m in b})
        assert len(returned) == 220
        assert await store.count(Filters()) == 220
        assert await store.count(Filters(brands=("Acme",), query="text")) == 220
        walked, _ = await store.added_since(None, limit=1000)
        assert len(walked) == 220
    finally:
        await store.close()


async def test_data_survives_a_new_store_on_the_same_file(db_path: Path) -> None:
    store = await opened(db_path)
    m = make("durable", "Kündigung wegen Stromausfall", brands=("Acme",), lang="de")
    await store.add([m])
    await store.put_state("cursor", "rss:news", {"etag": "x"})
    _, token = await store.added_since(None)
    await store.close()
    again = await opened(db_path)
    try:
        assert await again.get(m.id) == m
        assert await again.get_state("cursor", "rss:news") == {"etag": "x"}
        assert (await again.search(Filters(query="kundigung", brands=("Acme",)))).items == [m]
        assert await again.added_since(token) == ([], token)
    finally:
        await again.close()


async def test_close_is_idempotent_and_reopen_works(db_path: Path) -> None:
    store = await opened(db_path)
    await store.close()
    await store.close()
    with pytest.raises(StoreError, match="not open"):
        await store.get("x")
    await store.open()
    await store.open()
    assert await store.count(Filters()) == 0
    await store.close()


async def test_histogram_floors_before_the_epoch(db_path: Path) -> None:
    store = await opened(db_path)
    try:
        when = datetime(1969, 12, 31, 23, 30, tzinfo=UTC)
        await store.add([make("old", published_at=when)])
        buckets = await store.histogram(Filters(), timedelta(hours=1))
        assert [(b.start, b.total) for b in buckets] == [(datetime(1969, 12, 31, 23, 0, tzinfo=UTC), 1)]
    finally:
        await store.close()


async def test_a_failure_mid_transaction_rolls_back_the_whole_add(db_path: Path) -> None:
    """Fail on the last statement of add() (brand rows), after mentions and FTS rows went in."""
    await (await opened(db_path)).close()
    conn = raw(db_path)
    conn.execute("CREATE TRIGGER boom BEFORE INSERT ON mention_brands WHEN NEW.brand = 'boom' "
                 "BEGIN SELECT RAISE(ABORT, 'boom brand refused'); END")
    conn.close()
    store = await opened(db_path)
    try:
        good, bad = make("good", "fine words", brands=("Acme",)), make("bad", brands=("boom",))
        with pytest.raises(StoreError, match="boom brand refused"):
            await store.add([good, bad])
        assert await store.count(Filters()) == 0
        assert await store.count(Filters(query="fine")) == 0
        assert await store.added_since(None) == ([], None)
        assert await store.add([good]) == [good]
        assert await store.count(Filters(query="fine", brands=("Acme",))) == 1
    finally:
        await store.close()
