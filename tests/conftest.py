"""Shared fixtures. Store part: every backend in STORE_FACTORIES runs the store contract."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from monitor.store.base import Store
from monitor.store.sqlite import SqliteStore

# Backend name -> build an unopened store whose data lives under the test's tmp_path.
# Add "elasticsearch" here and the contract suite runs against it too.
STORE_FACTORIES: dict[str, Callable[[Path], Store]] = {
    "sqlite": lambda tmp_path: SqliteStore(tmp_path / "monitor.db"),
}


@pytest.fixture(params=list(STORE_FACTORIES))
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    """An opened store of each backend; closed afterwards."""
    backend = STORE_FACTORIES[request.param](tmp_path)
    await backend.open()
    try:
        yield backend
    finally:
        await backend.close()


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[SqliteStore]:
    """An opened SQLite store on a real file (for tests of parts that use a store, not of the store)."""
    sqlite = SqliteStore(tmp_path / "monitor.db")
    await sqlite.open()
    try:
        yield sqlite
    finally:
        await sqlite.close()
