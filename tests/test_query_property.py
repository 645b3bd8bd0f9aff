"""Live matching and stored search must agree: random queries over random documents in real SQLite."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from monitor.query import Doc, compile_query, fts_row, key, normalize, tokenize

SCHEMA = """
CREATE TABLE mentions (
    rid INTEGER PRIMARY KEY, id TEXT UNIQUE, source TEXT, source_name TEXT, site TEXT, lang TEXT,
    author_key TEXT, author_name_key TEXT, source_key TEXT, source_name_key TEXT
);
CREATE VIRTUAL TABLE mentions_fts USING fts5(
    title, body, hashtags, handles, tokenize="unicode61 remove_diacritics 2"
);
CREATE VIRTUAL TABLE vocab USING fts5vocab(mentions_fts, instance);
"""


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> Iterator[sqlite3.Connection]:
    conn = sqlite3.connect(Path(tmp_path_factory.mktemp("query")) / "scratch.db")
    conn.executescript(SCHEMA)
    yield conn
    conn.close()


def load(conn: sqlite3.Connection, docs: list[Doc]) -> None:
    conn.execute("DELETE FROM mentions")
    conn.execute("DELETE FROM mentions_fts")
    for rid, d in enumerate(docs, start=1):
        conn.execute(
            "INSERT INTO mentions VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (rid, f"m{rid}", d.source, d.source_name, d.site, d.lang, key(d.author_handle),
             key(d.author_name), key(d.source), key(d.source_name)),
        )
        row = fts_row(d.title, d.text)
        conn.execute("INSERT INTO mentions_fts (rowid, title, body, hashtags, handles) "
                     "VALUES (?, ?, ?, ?, ?)",
                     (rid, row["title"], row["body"], row["hashtags"], row["handles"]))


def selected(conn: sqlite3.Connection, query: str) -> set[int]:
    where, params = compile_query(query).to_sql()
    return {r[0] for r in conn.execute(f"SELECT m.rid FROM mentions m WHERE {where}", params)}


# --- the grammar as a strategy ---------------------------------------------------------------

WORDS = ["acme", "Acme", "ACME", "acmeville", "Kündigung", "KÜNDIGUNG", "kundigung", "café", "cafe",
         "Straße", "strasse", "Stromausfall", "outage", "refund", "corp", "klo", "jetzt", "e", "de"]
HYPHENATED = ["acme-klo", "acme-corp", "Kündigung-jetzt"]
PREFIXES = ["acm*", "Kün*", "caf*", "str*", "acme-k*", "ou*"]
HASHTAGS = ["#acme", "#Kündigung", "#acme_corp", "#ACME", "#acm*", "#corp"]
HANDLES = ["@acme", "@Acme", "@acme.bsky.social", "@user@mastodon.social", "@user", "@acm*"]
FIELDS = ["site:acme.com", "site:shop.acme.com", "site:www.acme.com", "site:acme_x.com", "lang:de", "lang:en",
          "author:acme", "author:@Acme", 'author:"Jane Doe"', "author:jäne", "source:rss",
          "source:reddit", "source:google-news", 'source:"Reddit DE"']

word = st.sampled_from(WORDS)
phrase = st.lists(word, min_size=1, max_size=3).map(lambda ws: '"' + " ".join(ws) + '"')
prefix_phrase = phrase.map(lambda p: p + "*")
near_operand = st.one_of(word, st.sampled_from(HYPHENATED + PREFIXES), phrase, prefix_phrase)
near = st.builds(
    lambda ops, n: f" {n} ".join(ops),
    st.lists(near_operand, min_size=2, max_size=3),
    st.sampled_from(["NEAR", "NEAR/0", "NEAR/1", "NEAR/2", "NEAR/3", "NEAR/5"]),
)
leaf = st.one_of(word, st.sampled_from(HYPHENATED + PREFIXES + HASHTAGS + HANDLES + FIELDS), phrase,
                 prefix_phrase, near)


def combine(children: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    pair = st.tuples(children, children)
    return st.one_of(
        pair.map(lambda p: f"({p[0]}) OR ({p[1]})"),
        pair.map(lambda p: f"({p[0]}) AND ({p[1]})"),
        pair.map(lambda p: f"({p[0]}) ({p[1]})"),
        pair.map(lambda p: f"{p[0]} OR {p[1]}"),
        pair.map(lambda p: f"{p[0]} {p[1]}"),
        children.map(lambda c: f"NOT ({c})"),
        children.map(lambda c: f"-({c})"),
        children.map(lambda c: f"NOT {c}"),
    )


query = st.recursive(leaf, combine, max_leaves=8)

NOISE = ["x", "y", "the", "und", "!", ",", "—", "’s", "'s", "#acme", "#acme_corp", "#Kündigung", "#corp",
         "@acme", "@Acme", "@acme.bsky.social", "@user@mastodon.social", "info@acme.com", "acme.com",
         "ACME-Klo", "Acme's", "Acmeʼs", "x#acme", "(acme)", "\u00adacme", "Ku\u0308ndigung", "ＡＣＭＥ"]
SEPARATORS = [" ", " ", " ", "  ", "\n", "-", "/", ". "]
text = st.lists(st.tuples(st.sampled_from(WORDS + HYPHENATED + NOISE), st.sampled_from(SEPARATORS)),
                max_size=14).map(lambda parts: "".join(w + s for w, s in parts))
doc = st.builds(
    Doc,
    title=text,
    text=text,
    author_handle=st.sampled_from(["acme", "@acme", "Acme", "jane", ""]),
    author_name=st.sampled_from(["Jane Doe", "Jäne  Doe", "ACME Support", ""]),
    site=st.sampled_from(["acme.com", "shop.acme.com", "notacme.com", "acme.com.evil.org", "", "acme_x.com",
                          "shop.acmeyx.com", "x.shop.acme.com"]),
    lang=st.sampled_from(["de", "en", None]),
    source=st.sampled_from(["rss", "reddit"]),
    source_name=st.sampled_from(["google-news", "Reddit DE", "rss", "reddit-de"]),
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(docs=st.lists(doc, min_size=1, max_size=8), queries=st.lists(query, min_size=1, max_size=3))
def test_live_matcher_and_sql_select_the_same_mentions(db: sqlite3.Connection, docs: list[Doc],
                                                        queries: list[str]) -> None:
    load(db, docs)
    for q in queries:
        live = {rid for rid, d in enumerate(docs, start=1) if compile_query(q).matches(d)}
        assert live == selected(db, q), q


@settings(max_examples=200, deadline=None)
@given(title=st.text(max_size=40), body=st.text(max_size=80))
def test_fts5_indexes_exactly_our_tokens(db: sqlite3.Connection, title: str, body: str) -> None:
    """What FTS5 stores for a row is our token list, unchanged, whatever the input text."""
    load(db, [Doc(title=title, text=body)])
    stored: dict[str, list[str]] = {"title": [], "body": [], "hashtags": [], "handles": []}
    for column, term in db.execute("SELECT col, term FROM vocab ORDER BY col, offset"):
        stored[column].append(term)
    row = fts_row(title, body)
    assert stored == {c: row[c].split() for c in stored}
    assert stored["title"] == tokenize(title)
    assert stored["body"] == tokenize(body)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=60))
def test_normalisation_is_stable(value: str) -> None:
    once = normalize(value)
    assert normalize(once) == once
    assert tokenize(once) == tokenize(value)
    assert key(key(value)) == key(value)


def test_every_token_character_survives_fts5_unchanged(db: sqlite3.Connection) -> None:
    """Exhaustive: each single character we call a token is one identical token for FTS5 too.

    Guards the agreement against a different Python (Unicode) or SQLite version.
    """
    tokens = [t for cp in range(0x110000) for t in tokenize(chr(cp))]
    expected: list[str] = []
    docs: list[Doc] = []
    for start in range(0, len(tokens), 2000):
        chunk = tokens[start:start + 2000]
        docs.append(Doc(text=" ".join(chunk)))
        expected += chunk
    load(db, docs)
    stored = [term for (term,) in db.execute("SELECT term FROM vocab ORDER BY doc, offset")]
    assert len(tokens) > 270_000
    assert stored == expected
