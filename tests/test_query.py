"""The brand query language: every construct, checked live and against a real SQLite FTS5 table."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from monitor.errors import QuerySyntaxError
from monitor.models import Author, Mention
from monitor.query import (
    MAX_NESTING,
    MAX_QUERY_CHARS,
    And,
    Doc,
    Field,
    Near,
    Not,
    Or,
    Phrase,
    compile_query,
    fts_row,
    key,
    normalize,
    parse,
    tokenize,
)

SCHEMA = """
CREATE TABLE mentions (
    rid INTEGER PRIMARY KEY, id TEXT UNIQUE, source TEXT, source_name TEXT, site TEXT, lang TEXT,
    author_key TEXT, author_name_key TEXT, source_key TEXT, source_name_key TEXT
);
CREATE VIRTUAL TABLE mentions_fts USING fts5(
    title, body, hashtags, handles, tokenize="unicode61 remove_diacritics 2"
);
"""

Check = Callable[..., bool]


@pytest.fixture
def db(tmp_path: Path) -> Iterator[sqlite3.Connection]:
    conn = sqlite3.connect(tmp_path / "query.db")
    conn.executescript(SCHEMA)
    yield conn
    conn.close()


def insert(conn: sqlite3.Connection, d: Doc) -> int:
    rid = conn.execute("SELECT COALESCE(MAX(rid), 0) + 1 FROM mentions").fetchone()[0]
    conn.execute("INSERT INTO mentions VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                 (rid, f"m{rid}", d.source, d.source_name, d.site, d.lang, key(d.author_handle),
                  key(d.author_name), key(d.source), key(d.source_name)))
    row = fts_row(d.title, d.text)
    conn.execute("INSERT INTO mentions_fts (rowid, title, body, hashtags, handles) "
                     "VALUES (?, ?, ?, ?, ?)",
                 (rid, row["title"], row["body"], row["hashtags"], row["handles"]))
    return int(rid)


def stored_match(conn: sqlite3.Connection, query: str, rid: int) -> bool:
    where, params = compile_query(query).to_sql()
    sql = f"SELECT count(*) FROM mentions m WHERE m.rid = ? AND ({where})"
    return bool(conn.execute(sql, [rid, *params]).fetchone()[0])


@pytest.fixture
def check(db: sqlite3.Connection) -> Check:
    """Match one document live and in SQLite; the two must agree, the shared answer is returned."""
    def run(query: str, text: str = "", title: str = "", **fields: str | None) -> bool:
        d = Doc(title=title, text=text, **fields)  # type: ignore[arg-type]
        rid = insert(db, d)
        live = compile_query(query).matches(d)
        assert live == stored_match(db, query, rid), f"live and stored disagree on {query!r}"
        return live
    return run


# --- normalisation ----------------------------------------------------------------------------

def test_normalize_folds_case_and_accents() -> None:
    assert normalize("KÜNDIGUNG Straße Café ÀÉÎÕÜ") == "kundigung strasse cafe aeiou"
    assert normalize("Ｆｕｌｌｗｉｄｔｈ ﬁle") == "fullwidth file"


def test_normalize_maps_typographic_apostrophes_and_drops_invisible_characters() -> None:
    assert normalize("Acme’s ‘x’ Acmeʼs") == "acme's 'x' acme's"
    assert normalize("Kün\u00addigung Ac\u200bme") == "kundigung acme"
    assert normalize("\u0149") == "'n"                       # NFKD makes U+02BC: mapped after it


def test_tokenize_splits_on_everything_but_letters_digits_and_private_use() -> None:
    assert tokenize("Acme-Klo, #acme_corp! 3,5 €/Monat") == ["acme", "klo", "acme", "corp", "3", "5", "monat"]
    assert tokenize("Ku\u0308ndigung") == ["kundigung"]          # decomposed umlaut
    assert tokenize("Acmeʼs") == ["acme", "s"]                    # U+02BC is a letter, mapped first
    assert tokenize("東京 Acme") == ["東京", "acme"]
    assert tokenize("a\ue000b") == ["a\ue000b"]                   # Co is a token character in FTS5 too
    assert tokenize("!!! …") == []


def test_key_is_the_exact_value_form() -> None:
    assert key("  @Jäne   Doe ") == "jane doe"
    assert key("Google-News") == "google-news"
    assert key("") == ""


def test_fts_row_holds_only_our_tokens() -> None:
    row = fts_row("Acme’s #Kündigung_Jetzt", "Hi @user@mastodon.social and @acme.bsky.social. "
                  "mail info@acme.com x#notatag #1")
    assert row == {
        "title": "acme s kundigung jetzt",
        "body": "hi user mastodon social and acme bsky social mail info acme com x notatag 1",
        "hashtags": "kundigung jetzt 1",
        "handles": "user mastodon social acme bsky social",
    }


def test_doc_from_mention() -> None:
    now = datetime(2024, 5, 1, tzinfo=UTC)
    m = Mention(id="1", source="reddit", source_name="Reddit DE", native_id="t3_x",
                url="https://www.Shop.Acme.com/p", title="T", text="B",
                author=Author(handle="jane", name="Jane"), published_at=now, fetched_at=now, lang="de")
    assert Doc.from_mention(m) == Doc(title="T", text="B", author_handle="jane", author_name="Jane",
                                      site="shop.acme.com", lang="de", source="reddit",
                                      source_name="Reddit DE")
    assert compile_query("site:acme.com source:reddit author:jane lang:de").matches(Doc.from_mention(m))


# --- words, phrases, prefixes -----------------------------------------------------------------

def test_words_are_case_and_accent_insensitive(check: Check) -> None:
    assert check("Stromausfall", "STROMAUSFALL in Berlin")
    assert check("Kündigung", "meine kundigung")
    assert check("kundigung", "KÜNDIGUNG!")
    assert check("KÜNDIGUNG", "Kündigung")
    assert check("strasse", "Hauptstraße") is False
    assert check("strasse", "Straße")


def test_words_match_on_word_boundaries(check: Check) -> None:
    assert check("acme", "Welcome to Acmeville") is False
    assert check("acme", "(Acme), the best")
    assert check("acme*", "Welcome to Acmeville")
    assert check("acme*", "ACME")
    assert check("acmev*", "acme ville") is False


def test_a_word_matches_in_title_or_body(check: Check) -> None:
    assert check("acme", title="Acme news")
    assert check("acme outage", title="Acme", text="an outage")


def test_phrases_are_consecutive_tokens_within_one_field(check: Check) -> None:
    assert check('"acme corp"', "ACME-Corp. announced")
    assert check('"acme corp"', "acme's corp") is False
    assert check('"acme corp"', "corp acme") is False
    assert check('"acme corp"', title="news from acme", text="corp announced") is False
    assert check('"Kündigung jetzt"', "kundigung, jetzt!")


def test_a_hyphenated_word_is_a_phrase(check: Check) -> None:
    assert parse("acme-klo") == Phrase(("acme", "klo"))
    assert check("acme-klo", "Das Acme Klo ist kaputt")
    assert check("acme-klo", "acme und klo") is False
    assert check("acme-corp", "the ACME corp")
    assert check('"acme corp"', "acme-corp")


def test_prefix_phrases(check: Check) -> None:
    assert check('"acme k"*', "acme klo")
    assert check("acme-k*", "acme kundendienst")
    assert check("acme-k*", "acme service kundendienst") is False
    assert check("Kün*", "Kündigungen")


def test_lowercase_operators_are_plain_words(check: Check) -> None:
    assert parse("rock or roll") == And((Phrase(("rock",)), Phrase(("or",)), Phrase(("roll",))))
    assert check("rock or roll", "rock or roll")
    assert check("rock or roll", "rock") is False
    assert check("not bad", "not bad at all")


# --- boolean structure ------------------------------------------------------------------------

def test_implicit_and_and_or(check: Check) -> None:
    assert check("acme outage", "acme outage")
    assert check("acme outage", "acme") is False
    assert check("acme AND outage", "outage at acme")
    assert check("outage OR Stromausfall", "Stromausfall bei Acme")
    assert check("outage OR Stromausfall", "nothing") is False


def test_not_binds_tighter_than_and_which_binds_tighter_than_or() -> None:
    a, b, c = Phrase(("a",)), Phrase(("b",)), Phrase(("c",))
    assert parse("a OR b c") == Or((a, And((b, c))))
    assert parse("a b OR c") == Or((And((a, b)), c))
    assert parse("NOT a b") == And((Not(a), b))
    assert parse("-a OR b") == Or((Not(a), b))
    assert parse("NOT a NEAR b") == Not(Near((a, b), 10))
    assert parse("(a OR b) c") == And((Or((a, b)), c))
    assert parse("a AND (b AND c)") == And((a, b, c))


def test_not_and_minus(check: Check) -> None:
    assert check("acme -outage", "acme is fine")
    assert check("acme -outage", "acme outage") is False
    assert check("acme NOT outage", "acme outage") is False
    assert check("-outage", "all good")
    assert check("acme OR -outage", "all good")
    assert check("acme OR -outage", "outage") is False
    assert check("acme -(outage OR refund)", "acme refund") is False
    assert check("acme -(outage OR refund)", "acme") is True
    assert check("NOT NOT acme", "acme")


def test_parentheses_change_grouping(check: Check) -> None:
    assert check("acme OR outage refund", "acme") is True
    assert check("(acme OR outage) refund", "acme") is False
    assert check("(acme OR outage) refund", "acme refund") is True


def test_brand_query_from_the_design(check: Check) -> None:
    q = '(acme OR "acme corp" OR #acme) NOT (acme-klo OR "wile e coyote")'
    assert check(q, "Acme raises prices")
    assert check(q, "#ACME rocks")
    assert check(q, "Das Acme-Klo ist sauber") is False
    assert check(q, "acme and Wile E. Coyote") is False
    assert check(q, "a coyote") is False


# --- NEAR -------------------------------------------------------------------------------------

def test_near_counts_tokens_between_in_either_order(check: Check) -> None:
    assert check("acme NEAR/2 outage", "acme had an outage")
    assert check("acme NEAR/1 outage", "acme had an outage") is False
    assert check("acme NEAR/2 outage", "outage hit big acme")
    assert check("acme NEAR/0 outage", "acme outage")
    assert check("acme NEAR/0 outage", "acme, big outage") is False


def test_near_defaults_to_ten(check: Check) -> None:
    filler = " ".join(["x"] * 10)
    assert parse("a NEAR b") == Near((Phrase(("a",)), Phrase(("b",))), 10)
    assert check("acme NEAR outage", f"acme {filler} outage")
    assert check("acme NEAR outage", f"acme {filler} x outage") is False


def test_near_with_phrases_and_prefixes(check: Check) -> None:
    assert check('"acme corp" NEAR/1 refund', "acme corp gave refund")
    assert check('"acme corp" NEAR/1 refund', "refund from acme corp")
    assert check('"acme corp" NEAR/0 refund', "refund from acme corp") is False
    assert check("acme NEAR/1 kün*", "acme, die Kündigung")
    assert check("acme-klo NEAR/0 kaputt", "acme klo kaputt")


def test_near_stays_within_one_field(check: Check) -> None:
    assert check("acme NEAR/3 outage", title="acme", text="outage") is False
    assert check("acme NEAR/3 outage", title="acme outage", text="")


def test_near_chain_is_one_fts5_near_group(check: Check) -> None:
    assert parse("a NEAR/3 b NEAR/3 c") == Near((Phrase(("a",)), Phrase(("b",)), Phrase(("c",))), 3)
    # c .. a .. b: from the end of c to the start of b there are 5 tokens
    assert check("acme NEAR/5 outage NEAR/5 refund", "refund y y acme y y outage")
    assert check("acme NEAR/4 outage NEAR/4 refund", "refund y y acme y y outage") is False


def test_near_operands_must_be_words_or_phrases() -> None:
    for bad in ("#acme NEAR x", "x NEAR site:acme.com", "(a OR b) NEAR c", "a NEAR -b", "NEAR a", "a NEAR"):
        with pytest.raises(QuerySyntaxError, match="NEAR needs a word or phrase on both sides"):
            parse(bad)
    assert parse("(a) NEAR b") == Near((Phrase(("a",)), Phrase(("b",))), 10)


def test_near_chain_with_mixed_distances_is_rejected() -> None:
    with pytest.raises(QuerySyntaxError, match="one distance") as err:
        parse("a NEAR/3 b NEAR/5 c")
    assert err.value.position == 11


# --- hashtags and handles ---------------------------------------------------------------------

def test_hashtag_matches_only_hashtags(check: Check) -> None:
    assert check("#acme", "love #Acme")
    assert check("#acme", "love acme") is False
    assert check("acme", "love #acme")             # the word is in the text either way
    assert check("#acme", "x#acme") is False         # not a hashtag: preceded by a letter
    assert check("#Kündigung", "#KUNDIGUNG")
    assert check("#acme_corp", "#ACME_Corp")
    assert check("#acm*", "#acmeville")


def test_handle_matches_only_handles(check: Check) -> None:
    assert check("@acme", "thanks @Acme!")
    assert check("@acme", "thanks acme") is False
    assert check("@acme", "write to info@acme.com") is False
    assert check("acme", "thanks @acme")
    assert check("@user@mastodon.social", "cc @user@mastodon.social")
    assert check("@acme.bsky.social", "cc @acme.bsky.social.")
    assert check("@acme.bsky.social", "cc @acme") is False


def test_bad_hashtags_and_handles() -> None:
    for bad, problem in (("#", "'#' must be directly followed by a hashtag"),
                         ("#acme-corp", "a hashtag may contain only letters, digits and _"),
                         ("@", "'@' must be directly followed by a handle"),
                         ("@acme!", "a handle may contain only")):
        with pytest.raises(QuerySyntaxError, match=problem):
            parse(bad)


# --- field filters ----------------------------------------------------------------------------

def test_site_matches_the_host_and_its_subdomains(check: Check) -> None:
    assert check("site:acme.com", site="acme.com")
    assert check("site:acme.com", site="shop.acme.com")
    assert check("site:acme.com", site="notacme.com") is False
    assert check("site:acme.com", site="acme.com.evil.org") is False
    assert check("site:www.Acme.com", site="acme.com")
    assert check("site:https://www.acme.com/path?q=1", site="shop.acme.com")
    assert check("site:shop.acme.com", site="acme.com") is False
    assert check("site:acme_x.com", site="shop.acmeyx.com") is False   # "_" is no LIKE wildcard here
    assert check("SITE:acme.com", site="acme.com")


def test_author_matches_handle_or_name(check: Check) -> None:
    assert check("author:acme", author_handle="@ACME")
    assert check("author:@acme", author_handle="acme")
    assert check('author:"Jane Doe"', author_name="Jäne  Doe")
    assert check("author:jane", author_name="Jane Doe") is False
    assert check("author:jane", author_handle="jane", author_name="Jane Doe")


def test_source_matches_kind_or_configured_name(check: Check) -> None:
    assert check("source:rss", source="rss", source_name="google-news")
    assert check("source:Google-News", source="rss", source_name="google-news")
    assert check('source:"Reddit DE"', source="reddit", source_name="reddit de")
    assert check("source:reddit", source="rss", source_name="google-news") is False


def test_lang_and_negated_fields_with_missing_values(check: Check) -> None:
    assert check("lang:de", lang="de")
    assert check("lang:DE", lang="de")
    assert check("lang:de", lang="en") is False
    assert check("-lang:de", lang=None)             # a NULL column must not make NOT unknown
    assert check("NOT site:acme.com", site="")
    assert check("acme -author:acme lang:en", "acme", lang="en", author_handle="")


def test_fields_used() -> None:
    assert compile_query("acme site:x.com -lang:de").fields_used == frozenset({"site", "lang"})
    assert compile_query("acme").fields_used == frozenset()
    assert parse('author:"Jane Doe"') == Field("author", "jane doe")


def test_unknown_field_names_are_plain_text(check: Check) -> None:
    assert parse("foo:bar") == Phrase(("foo", "bar"))
    assert check("http://acme.com", "see http://acme.com now")


# --- compiled SQL -----------------------------------------------------------------------------

def test_pure_text_subtrees_become_one_match() -> None:
    sql, params = compile_query('(acme OR "acme corp" OR #acme) -acme-klo').to_sql()
    assert sql.count("MATCH ?") == 1
    assert params == ['(({title body} : "acme") OR ({title body} : "acme corp") OR ({hashtags} : "acme")) '
                      'NOT ({title body} : "acme klo")']
    sql, params = compile_query("acme site:acme.com").to_sql()
    assert sql.count("MATCH ?") == 1 and params[1:] == ["acme.com", "%.acme.com"]


def test_to_sql_returns_a_fresh_parameter_list() -> None:
    q = compile_query("acme")
    q.to_sql()[1].append("junk")
    assert q.to_sql()[1] == ['{title body} : "acme"']


def test_compile_query_is_cached_and_rank_match_skips_negations() -> None:
    assert compile_query("acme -outage") is compile_query("acme -outage")
    assert compile_query("acme -outage").rank_match == '({title body} : "acme")'
    assert compile_query("-outage site:x.com").rank_match is None


@pytest.mark.parametrize("query", [
    'acme"', '"NEAR(acme', "acme NEAR(", "NEAR(acme corp, 2)", "acme*corp", "a:b", "^acme", "acme^2",
    "*", "**acme", "acme**", "{title}: acme", "title:acme", "col:(x)", '"x""y"', "acme' OR 1=1 --",
    "'; DROP TABLE mentions; --", "acme + corp", "acme - corp", "- acme", "acme -", '""', '"  "', "#acme*",
    "site:%", "site:_", "author:'", "author:\"", "source:\"x", "\\", "a\x00b", "acme\u202eemca",
    "OR", "AND acme", "acme OR", "acme AND", "NOT", "()", ")(", "((a)", "a))", "NEAR/x a", "a NEAR/1.5 b",
])
def test_hostile_queries_never_reach_sqlite_as_syntax(db: sqlite3.Connection, query: str) -> None:
    try:
        compiled = compile_query(query)
    except QuerySyntaxError as exc:
        assert 0 <= exc.position <= len(query)
        return
    insert(db, Doc(title="acme corp", text="#acme @acme NEAR acme x y"))
    where, params = compiled.to_sql()
    db.execute(f"SELECT count(*) FROM mentions m WHERE {where}", params).fetchone()


def _nested(shape: str, levels: int) -> str:
    q = "acme"
    for i in range(levels):
        q = shape.format(q=q, i=i, j=i + 1)
    return q


@pytest.mark.parametrize(("shape", "levels"), [
    ("(w{i} OR (w{j} AND {q}))", MAX_NESTING // 2),            # pure text: FTS5 nesting
    ("(w{i} AND ({q}) -w{j})", MAX_NESTING // 2),                   # FTS5 "x NOT y" at every level
    ("(w{i} OR -({q} refund))", MAX_NESTING // 3),              # unary NOT: split into SQL
    ("(w{i} site:acme.com OR ({q} lang:de))", MAX_NESTING // 2),
])
def test_deepest_queries_run_and_agree(check: Check, shape: str, levels: int) -> None:
    q = _nested(shape, levels)
    compile_query(q)
    texts = ["acme", "acme refund w0 w2 w4", " ".join(f"w{i}" for i in range(0, 40, 2)),
             " ".join(f"w{i}" for i in range(40)), "outage refund"]
    for text in texts:
        check(q, text, site="acme.com", lang="de")
        check(q, text)


def test_deep_text_nesting_is_split_across_matches() -> None:
    sql, _ = compile_query(_nested("(w{i} OR (w{j} AND {q}))", MAX_NESTING // 2)).to_sql()
    assert sql.count("MATCH ?") > 1


def test_nesting_limit() -> None:
    parse("(" * MAX_NESTING + "a" + ")" * MAX_NESTING)
    with pytest.raises(QuerySyntaxError, match="nested deeper") as err:
        parse("(" * (MAX_NESTING + 1) + "a" + ")" * (MAX_NESTING + 1))
    assert err.value.position == MAX_NESTING
    with pytest.raises(QuerySyntaxError, match="nested deeper"):
        parse("-" * (MAX_NESTING + 1) + "a")


# --- syntax errors ----------------------------------------------------------------------------

@pytest.mark.parametrize(("query", "problem", "column"), [
    ("", "empty query", 1),
    ("   ", "empty query", 1),
    ("(acme OR outage", "unclosed parenthesis", 1),
    ("acme (outage", "unclosed parenthesis", 6),
    ("acme)", "unmatched closing parenthesis", 5),
    ("acme ()", "empty parentheses", 6),
    ('acme "acme corp', "unclosed quote", 6),
    ('acme ""', "empty phrase", 6),
    ("acme OR", "OR needs a term on both sides", 6),
    ("OR acme", "OR needs a term on both sides", 1),
    ("acme AND OR x", "AND needs a term on both sides", 6),
    ("acme NOT", "NOT needs a term after it", 6),
    ("acme - x", "'-' must be directly followed by a term", 6),
    ("acme NEAR", "NEAR needs a word or phrase on both sides", 6),
    ("acme NEAR/x y", "NEAR distance must be a number", 6),
    ("acme NEAR/5000 y", "NEAR distance must be at most", 6),
    ("acme !!!", "'!!!' has no letters or digits", 6),
    ("acme site:", "site: needs a value", 6),
    ('author:"" acme', "author: needs a value", 1),
])
def test_syntax_errors_say_what_and_where(query: str, problem: str, column: int) -> None:
    with pytest.raises(QuerySyntaxError) as err:
        parse(query)
    assert problem in err.value.problem
    assert err.value.position == column - 1
    assert f"at column {column}" in str(err.value)


def test_overlong_query_is_rejected() -> None:
    with pytest.raises(QuerySyntaxError, match="longer than") as err:
        parse("a " * MAX_QUERY_CHARS)
    assert err.value.position == MAX_QUERY_CHARS
