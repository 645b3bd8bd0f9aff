"""Versioned SQLite schema: an ordered list of steps, tracked in ``PRAGMA user_version``.

Never edit a released step: append a new one, so every existing database can walk forward.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

from ..errors import StoreError

# Each step is a tuple of statements; step N brings the database to user_version N.
MIGRATIONS: Sequence[tuple[str, ...]] = (
    (
        """CREATE TABLE mentions (
            rid INTEGER PRIMARY KEY,
            id TEXT UNIQUE NOT NULL,
            source TEXT NOT NULL,
            source_name TEXT NOT NULL,
            native_id TEXT NOT NULL DEFAULT '',
            url TEXT NOT NULL DEFAULT '',
            site TEXT NOT NULL DEFAULT '',
            title TEXT NOT NULL DEFAULT '',
            text TEXT NOT NULL DEFAULT '',
            author_platform TEXT NOT NULL DEFAULT '',
            author_handle TEXT NOT NULL DEFAULT '',
            author_name TEXT NOT NULL DEFAULT '',
            author_url TEXT NOT NULL DEFAULT '',
            author_followers INTEGER,
            author_key TEXT NOT NULL DEFAULT '',
            author_name_key TEXT NOT NULL DEFAULT '',
            source_key TEXT NOT NULL DEFAULT '',
            source_name_key TEXT NOT NULL DEFAULT '',
            published_at REAL NOT NULL,
            fetched_at REAL NOT NULL,
            lang TEXT,
            sentiment REAL,
            sentiment_label TEXT,
            brands TEXT NOT NULL DEFAULT '[]',
            engagement TEXT NOT NULL DEFAULT '{}',
            reach INTEGER,
            parent_url TEXT NOT NULL DEFAULT '',
            tags TEXT NOT NULL DEFAULT '[]',
            status TEXT NOT NULL DEFAULT 'new',
            extra TEXT NOT NULL DEFAULT '{}'
        )""",
        "CREATE INDEX mentions_published ON mentions (published_at, id)",
        "CREATE INDEX mentions_source_key ON mentions (source_key)",
        "CREATE INDEX mentions_source_name_key ON mentions (source_name_key)",
        "CREATE INDEX mentions_lang ON mentions (lang)",
        "CREATE INDEX mentions_sentiment_label ON mentions (sentiment_label)",
        "CREATE INDEX mentions_author_key ON mentions (author_key)",
        "CREATE INDEX mentions_status ON mentions (status)",
        "CREATE INDEX mentions_site ON mentions (site)",
        """CREATE TABLE mention_brands (
            rid INTEGER NOT NULL REFERENCES mentions (rid) ON DELETE CASCADE,
            brand TEXT NOT NULL,
            PRIMARY KEY (brand, rid)
        ) WITHOUT ROWID""",
        """CREATE VIRTUAL TABLE mentions_fts USING fts5(
            title, body, hashtags, handles, tokenize="unicode61 remove_diacritics 2"
        )""",
        """CREATE TABLE state (
            namespace TEXT NOT NULL,
            key TEXT NOT NULL,
            value TEXT NOT NULL,
            updated_at REAL NOT NULL,
            PRIMARY KEY (namespace, key)
        ) WITHOUT ROWID""",
    ),
    (   # 2: sentiment confidence and the brand-targeted score
        "ALTER TABLE mentions ADD COLUMN sentiment_confidence REAL",
        "ALTER TABLE mentions ADD COLUMN sentiment_target REAL",
    ),
)

SCHEMA_VERSION = len(MIGRATIONS)


def migrate(conn: sqlite3.Connection, where: str) -> int:
    """Bring the database to SCHEMA_VERSION in one transaction; return the version found.

    ``conn`` must be in autocommit mode (isolation_level=None) so the transaction is ours.
    A database written by a newer program is refused rather than guessed at.
    """
    conn.execute("BEGIN IMMEDIATE")
    try:
        found = int(conn.execute("PRAGMA user_version").fetchone()[0])
        if found > SCHEMA_VERSION:
            raise StoreError(f"{where}: database schema version {found} is newer than this program "
                             f"supports ({SCHEMA_VERSION}); upgrade brand-monitor to open it")
        for version in range(found + 1, SCHEMA_VERSION + 1):
            for statement in MIGRATIONS[version - 1]:
                conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {version:d}")
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    return found
