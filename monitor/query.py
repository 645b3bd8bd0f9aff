"""The brand query language: parse once, then match live mentions and stored ones the same way.

Grammar (operators are case-sensitive UPPERCASE keywords, so ``or``/``and``/``not``/``near``
in lower case are ordinary words a brand may well contain)::

    query  := or
    or     := and ("OR" and)*
    and    := unary (["AND"] unary)*          adjacent terms are ANDed
    unary  := ("NOT" | "-") unary | near      "-" only directly before a term
    near   := atom (("NEAR" | "NEAR/n") atom)*
    atom   := "(" or ")" | word | word* | "phrase" | "phrase"* | #tag | @handle
            | site:host | author:name | author:"Jane Doe" | lang:de | source:rss

Precedence is NEAR > NOT > AND > OR. A word is split like the text it is matched against, so
``acme-klo`` is the phrase "acme klo". ``a NEAR/n b`` means FTS5's ``NEAR(a b, n)``: both occur
in one column (title or body) with at most n tokens between them (n defaults to 10). A chain
``a NEAR/n b NEAR/n c`` is one FTS5 NEAR group: no more than n tokens lie between the start of
the last of them and the end of any other; mixing distances in one chain is an error.

Live matching and stored search agree because we normalise and tokenise in Python before text
reaches SQLite: the FTS5 columns only ever hold space-joined tokens made here, and every MATCH
string holds only quoted tokens made here, so FTS5's own tokeniser sees nothing it could split
differently or read as syntax.
"""

from __future__ import annotations

import re
import threading
import unicodedata
from bisect import bisect_left
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Generic, Literal, TypeAlias, TypeVar, overload

from .errors import QuerySyntaxError
from .models import Mention
from .urls import site_of

__all__ = [
    "FIELDS", "And", "Doc", "Field", "Near", "Node", "Not", "Or", "Phrase", "Query", "compile_query",
    "fts_row", "key", "normalize", "parse", "tokenize",
]

# --------------------------------------------------------------------------------------------
# Normalisation and tokenisation

# Letters Python (Unicode 14) files under L* but SQLite's unicode61 tables still treat as
# separators (old Mc vowel signs); found by feeding every code point through real FTS5.
_SQLITE_SEPARATORS = "\u19b0-\u19c0\u19c8\u19c9\u1cf2\u1cf3"
_PRIVATE_USE = "\ue000-\uf8ff\U000f0000-\U000ffffd\U00100000-\U0010fffd"  # category Co
_TOKEN_CHAR = rf"(?:[^\W_{_SQLITE_SEPARATORS}]|[{_PRIVATE_USE}])"          # L*, N*, Co
_TAG_CHAR = rf"(?:[^\W{_SQLITE_SEPARATORS}]|[{_PRIVATE_USE}])"             # ... and "_"
_TOKEN_RE = re.compile(rf"{_TOKEN_CHAR}+")
_PLAIN_TOKEN_RE = re.compile(rf"[^\W_{_SQLITE_SEPARATORS}]+")   # same, for text without Co (3x faster)
_PRIVATE_USE_RE = re.compile(f"[{_PRIVATE_USE}]")
_ASCII_TOKEN_RE = re.compile(r"[A-Za-z0-9]+")
_HASHTAG_RE = re.compile(rf"(?<![\w{_PRIVATE_USE}])#({_TAG_CHAR}+)")
_HANDLE_BODY = rf"{_TAG_CHAR}+(?:[.\-]{_TAG_CHAR}+)*(?:@{_TAG_CHAR}+(?:[.\-]{_TAG_CHAR}+)*)?"
_HANDLE_RE = re.compile(rf"(?<![\w@{_PRIVATE_USE}])@({_HANDLE_BODY})")
_HANDLE_FULL = re.compile(_HANDLE_BODY)
_TAG_FULL = re.compile(rf"{_TAG_CHAR}+")

# Typographic apostrophes and quotes become ASCII; U+02BC matters most: it is a letter (Lm)
# and would otherwise glue "Acmeʼs" into one token.
_PUNCT = str.maketrans({
    "\u2018": "'", "\u2019": "'", "\u201b": "'", "\u2032": "'", "\u02bc": "'", "\u00b4": "'",
    "\u201c": '"', "\u201d": '"', "\u201e": '"', "\u201f": '"', "\u2033": '"',
})
_PUNCT_RE = re.compile("[" + "".join(chr(c) for c in _PUNCT) + "]")
# str.translate looks up every character of a non-ASCII string in the dict (~50 ns each);
# replacing only the few quote characters present is 10-20x cheaper on typical text.
_PUNCT_PAIRS = tuple((chr(c), str(r)) for c, r in _PUNCT.items())


def _drops(ch: str) -> bool:
    """Combining marks (Mn) and invisible format characters (Cf: soft hyphen, zero-width space):
    dropping them turns "Kündigung" into "kundigung" and defeats "Ac\\u200bme" evasions."""
    return unicodedata.category(ch) in ("Mn", "Cf")


# A character class is fast only within the BMP; the few astral marks are checked one by one.
_BMP_MARKS_RE = re.compile("[" + "".join(re.escape(chr(c)) for c in range(0x10000) if _drops(chr(c))) + "]")
_ASTRAL_RE = re.compile("[\U00010000-\U0010ffff]")


def _astral_mark(m: re.Match[str]) -> str:
    return "" if _drops(m.group()) else m.group()


MAX_FIELD_CHARS = 200_000  # text beyond this is neither indexed nor matched (hostile input)


def normalize(text: str) -> str:
    """Case- and accent-free form: casefold, NFKD, combining marks and format chars dropped."""
    if text.isascii():
        return text.lower()
    s = unicodedata.normalize("NFKD", unicodedata.normalize("NFKD", text).casefold())
    if _PUNCT_RE.search(s):  # after NFKD, which makes U+02BC out of U+0149
        for quote, ascii_quote in _PUNCT_PAIRS:
            if quote in s:
                s = s.replace(quote, ascii_quote)
    s = _BMP_MARKS_RE.sub("", s)
    return _ASTRAL_RE.sub(_astral_mark, s) if _ASTRAL_RE.search(s) else s


def _tokens(normalized: str) -> list[str]:
    if normalized.isascii():  # also most German text once the umlauts lost their dots
        return _ASCII_TOKEN_RE.findall(normalized)
    if _PRIVATE_USE_RE.search(normalized):
        return _TOKEN_RE.findall(normalized)
    return _PLAIN_TOKEN_RE.findall(normalized)


def tokenize(text: str) -> list[str]:
    """Normalised tokens: maximal runs of L*/N*/Co characters, as SQLite's unicode61 sees them."""
    if text.isascii():
        return _ASCII_TOKEN_RE.findall(text.lower())
    return _tokens(normalize(text))


def key(value: str) -> str:
    """Exact-value form for author handles/names, source names and the like ("@Jäne " -> "jane")."""
    return " ".join(normalize(value).split()).lstrip("@").strip()


def _hashtag_tokens(normalized: str) -> list[str]:
    if "#" not in normalized:
        return []
    return [t for tag in _HASHTAG_RE.findall(normalized) for t in _tokens(tag)]


def _handle_tokens(normalized: str) -> list[str]:
    if "@" not in normalized:
        return []
    return [t for h in _HANDLE_RE.findall(normalized) for t in _tokens(h)]


def _cap(text: str | None) -> str:
    return (text or "")[:MAX_FIELD_CHARS]


class _Analysed:
    """Normalised form and tokens of recent titles and bodies, bounded by size rather than count.

    Ingest analyses each field twice: for live matching (:class:`Doc`) and for the index
    (:func:`fts_row`, on the store's thread). The second time is a lookup. Oldest entries go
    first, which suits that pattern (a batch is matched, then stored, in order).
    """

    def __init__(self, budget: int = 4_000_000) -> None:
        # Characters held, a token counted as 16: a 500-item batch fits, and hostile input can
        # pin a few tens of MB at most (a field over budget/64 is never kept).
        self.budget = budget
        self._held = 0
        self._entries: dict[str, tuple[str, tuple[str, ...], int]] = {}
        self._lock = threading.Lock()

    def __call__(self, text: str) -> tuple[str, tuple[str, ...]]:
        hit = self._entries.get(text)
        if hit is not None:
            return hit[0], hit[1]
        normalized = normalize(text)
        tokens = tuple(_tokens(normalized))
        cost = len(text) + len(normalized) + 16 * len(tokens)
        if cost <= self.budget // 64:
            with self._lock:
                entries = self._entries
                if text not in entries:
                    entries[text] = (normalized, tokens, cost)
                    self._held += cost
                    while self._held > self.budget:
                        self._held -= entries.pop(next(iter(entries)))[2]
        return normalized, tokens


_analysed = _Analysed()


def fts_row(title: str, text: str) -> dict[str, str]:
    """The mentions_fts row for a mention: only tokens made by :func:`tokenize`, space-joined."""
    (nt, title_tokens), (nb, body_tokens) = _analysed(_cap(title)), _analysed(_cap(text))
    return {
        "title": " ".join(title_tokens),
        "body": " ".join(body_tokens),
        "hashtags": " ".join(_hashtag_tokens(nt) + _hashtag_tokens(nb)),
        "handles": " ".join(_handle_tokens(nt) + _handle_tokens(nb)),
    }


# --------------------------------------------------------------------------------------------
# The document a live query looks at


class _Column:
    """One FTS column's tokens; positions are looked up per token, on demand, and kept."""

    __slots__ = ("tokens", "_set", "_pos")

    def __init__(self, tokens: Sequence[str]) -> None:
        self.tokens = tokens
        self._set: frozenset[str] | None = None
        self._pos: dict[str, list[int]] = {}

    @property
    def set(self) -> frozenset[str]:
        if self._set is None:
            self._set = frozenset(self.tokens)
        return self._set

    def positions(self, token: str) -> list[int]:
        found = self._pos.get(token)
        if found is None:
            found = []
            if token in self.set:
                index, i = self.tokens.index, -1
                try:
                    while True:  # list.index scans in C: far cheaper than a Python loop
                        i = index(token, i + 1)
                        found.append(i)
                except ValueError:
                    pass
            self._pos[token] = found
        return found

    def prefix_positions(self, prefix: str) -> list[int]:
        words = [w for w in self.set if w.startswith(prefix)]
        if len(words) == 1:
            return self.positions(words[0])
        return sorted(i for w in words for i in self.positions(w))

    def starts(self, toks: tuple[str, ...], prefix: bool) -> list[int]:
        """Start positions of the phrase (last token a prefix if ``prefix``), ascending."""
        if len(toks) == 1:
            return self.prefix_positions(toks[0]) if prefix else self.positions(toks[0])
        tokens = self.tokens
        n, size, last = len(toks), len(tokens), len(toks) - 1
        out: list[int] = []
        for s in self.positions(toks[0]):
            if s + n > size:
                break
            for j in range(1, n):
                t = tokens[s + j]
                if not (t.startswith(toks[j]) if prefix and j == last else t == toks[j]):
                    break
            else:
                out.append(s)
        return out


_T = TypeVar("_T")


class _lazy(Generic[_T]):  # noqa: N801 - used like functools.cached_property
    """cached_property without Python 3.11's per-instance lock: Doc analysis is the ingest hot path."""

    def __init__(self, fn: Callable[[Any], _T]) -> None:
        self.fn = fn
        self.name = fn.__name__

    @overload
    def __get__(self, obj: None, owner: type) -> _lazy[_T]: ...
    @overload
    def __get__(self, obj: object, owner: type) -> _T: ...

    def __get__(self, obj: object | None, owner: type) -> _lazy[_T] | _T:
        if obj is None:
            return self
        value = obj.__dict__[self.name] = self.fn(obj)
        return value


@dataclass(frozen=True)
class Doc:
    """What a query sees of a mention; analysed lazily, once, however many queries run."""

    title: str = ""
    text: str = ""
    author_handle: str = ""
    author_name: str = ""
    site: str = ""
    lang: str | None = None
    source: str = ""
    source_name: str = ""

    @classmethod
    def from_mention(cls, m: Mention) -> Doc:
        return cls(title=m.title, text=m.text, author_handle=m.author.handle, author_name=m.author.name,
                   site=m.site, lang=m.lang, source=m.source, source_name=m.source_name)

    @_lazy
    def _title(self) -> tuple[str, tuple[str, ...]]:
        return _analysed(_cap(self.title))

    @_lazy
    def _text(self) -> tuple[str, tuple[str, ...]]:
        return _analysed(_cap(self.text))

    @_lazy
    def _norm_title(self) -> str:
        return self._title[0]

    @_lazy
    def _norm_text(self) -> str:
        return self._text[0]

    @_lazy
    def title_col(self) -> _Column:
        return _Column(self._title[1])

    @_lazy
    def body_col(self) -> _Column:
        return _Column(self._text[1])

    @_lazy
    def hashtags_col(self) -> _Column:
        return _Column(_hashtag_tokens(self._norm_title) + _hashtag_tokens(self._norm_text))

    @_lazy
    def handles_col(self) -> _Column:
        return _Column(_handle_tokens(self._norm_title) + _handle_tokens(self._norm_text))

    @_lazy
    def words(self) -> frozenset[str]:
        """Every title and body token: a single word matches if it occurs in either."""
        return self.title_col.set | self.body_col.set

    @_lazy
    def author_keys(self) -> tuple[str, str]:
        return key(self.author_handle), key(self.author_name)

    @_lazy
    def source_keys(self) -> tuple[str, str]:
        return key(self.source), key(self.source_name)


# --------------------------------------------------------------------------------------------
# The syntax tree

Scope = Literal["text", "hashtags", "handles"]
FieldName = Literal["site", "author", "lang", "source"]
FIELDS: tuple[FieldName, ...] = ("site", "author", "lang", "source")


@dataclass(frozen=True, slots=True)
class Phrase:
    """A word (one token), a phrase, a #hashtag or an @handle; ``prefix`` marks ``word*``."""

    tokens: tuple[str, ...]
    prefix: bool = False
    scope: Scope = "text"


@dataclass(frozen=True, slots=True)
class Near:
    phrases: tuple[Phrase, ...]
    distance: int = 10


@dataclass(frozen=True, slots=True)
class Field:
    """A field filter; ``value`` is already normalised the way the store keys the column."""

    name: FieldName
    value: str


@dataclass(frozen=True, slots=True)
class Not:
    child: Node


@dataclass(frozen=True, slots=True)
class And:
    children: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Or:
    children: tuple[Node, ...]


Node: TypeAlias = Phrase | Near | Field | Not | And | Or

# --------------------------------------------------------------------------------------------
# Lexer and parser

MAX_QUERY_CHARS = 10_000
MAX_NESTING = 32
MAX_NEAR = 1_000
DEFAULT_NEAR = 10


@dataclass(frozen=True, slots=True)
class _Tok:
    kind: str          # ( ) OR AND NOT - NEAR TERM EOF
    pos: int
    text: str = ""     # raw term text (TERM) / keyword
    node: Node | None = None
    distance: int = 0


_TERM_KINDS = frozenset({"TERM", "(", "NOT", "-"})
_FIELD_RE = re.compile(r"([A-Za-z]+):")


class _Lexer:
    def __init__(self, query: str) -> None:
        self.q = query

    def error(self, problem: str, pos: int) -> QuerySyntaxError:
        return QuerySyntaxError(problem, query=self.q, position=pos)

    def tokens(self) -> list[_Tok]:
        q, n, i = self.q, len(self.q), 0
        out: list[_Tok] = []
        while i < n:
            c = q[i]
            if c.isspace():
                i += 1
            elif c in "()":
                out.append(_Tok(c, i))
                i += 1
            elif c == '"':
                i = self._phrase(i, out)
            elif c == "-":
                if i + 1 >= n or q[i + 1].isspace() or q[i + 1] == ")":
                    raise self.error("'-' must be directly followed by a term", i)
                out.append(_Tok("-", i))
                i += 1
            else:
                j = i
                while j < n and not q[j].isspace() and q[j] not in '()"':
                    j += 1
                i = self._bare(i, j, out)
        out.append(_Tok("EOF", n))
        return out

    def _quoted(self, i: int) -> tuple[str, int]:
        end = self.q.find('"', i + 1)
        if end < 0:
            raise self.error("unclosed quote", i)
        return self.q[i + 1:end], end + 1

    def _phrase(self, i: int, out: list[_Tok]) -> int:
        content, j = self._quoted(i)
        prefix = j < len(self.q) and self.q[j] == "*"
        toks = tokenize(content)
        if not toks:
            raise self.error("empty phrase" if not content.strip() else
                             f"phrase {self.q[i:j]} has no letters or digits to search for", i)
        out.append(_Tok("TERM", i, self.q[i:j], Phrase(tuple(toks), prefix)))
        return j + prefix

    def _bare(self, i: int, j: int, out: list[_Tok]) -> int:
        raw = self.q[i:j]
        if raw in ("OR", "AND", "NOT"):
            out.append(_Tok(raw, i, raw))
            return j
        if raw == "NEAR" or raw.startswith("NEAR/"):
            out.append(_Tok("NEAR", i, raw, distance=self._distance(raw, i)))
            return j
        m = _FIELD_RE.match(raw)
        if m and m.group(1).lower() in FIELDS:
            name: FieldName = m.group(1).lower()  # type: ignore[assignment]
            value, end = raw[m.end():], j
            if not value and j < len(self.q) and self.q[j] == '"':
                value, end = self._quoted(j)
            out.append(_Tok("TERM", i, self.q[i:end], Field(name, self._field_value(name, value, i))))
            return end
        out.append(_Tok("TERM", i, raw, self._word(raw, i)))
        return j

    def _distance(self, raw: str, pos: int) -> int:
        if raw == "NEAR":
            return DEFAULT_NEAR
        digits = raw[5:]
        if not (digits.isascii() and digits.isdigit()):
            raise self.error(f"NEAR distance must be a number, as in NEAR/5 (got {raw!r})", pos)
        if int(digits) > MAX_NEAR:
            raise self.error(f"NEAR distance must be at most {MAX_NEAR}", pos)
        return int(digits)

    def _word(self, raw: str, pos: int) -> Phrase:
        prefix = raw.endswith("*")
        body = raw[:-1] if prefix else raw
        scope: Scope = "text"
        if body[:1] in ("#", "@"):
            scope = "hashtags" if body[0] == "#" else "handles"
            body = body[1:]
            if not body:
                raise self.error(f"{raw[0]!r} must be directly followed by a "
                                 f"{'hashtag' if scope == 'hashtags' else 'handle'}", pos)
            full = _TAG_FULL if scope == "hashtags" else _HANDLE_FULL
            if not full.fullmatch(normalize(body)):
                what = ("a hashtag may contain only letters, digits and _" if scope == "hashtags"
                        else "a handle may contain only letters, digits, _ . - and one @")
                raise self.error(f"{what} (got {raw!r})", pos)
        toks = tokenize(body)
        if not toks:
            raise self.error(f"{raw!r} has no letters or digits to search for", pos)
        return Phrase(tuple(toks), prefix, scope)

    def _field_value(self, name: FieldName, raw: str, pos: int) -> str:
        if name == "site":
            raw = raw.strip().lstrip("*.")
            value = site_of(raw if "://" in raw else "//" + raw) if raw else ""
        elif name == "lang":
            value = raw.strip().lower()
        else:
            value = key(raw)
        if not value:
            raise self.error(f"{name}: needs a value", pos)
        return value


class _Parser:
    def __init__(self, query: str) -> None:
        self.lex = _Lexer(query)
        self.toks = self.lex.tokens()
        self.i = 0
        self.depth = 0

    def peek(self) -> _Tok:
        return self.toks[self.i]

    def take(self) -> _Tok:
        tok = self.toks[self.i]
        self.i += 1
        return tok

    def parse(self) -> Node:
        if self.peek().kind == "EOF":
            raise self.lex.error("empty query", 0)
        node = self.or_()
        tok = self.peek()
        if tok.kind == ")":
            raise self.lex.error("unmatched closing parenthesis", tok.pos)
        if tok.kind != "EOF":  # pragma: no cover - every other token continues an expression
            raise self.lex.error(f"unexpected {tok.text or tok.kind!r}", tok.pos)
        return node

    def _enter(self, tok: _Tok) -> None:
        self.depth += 1
        if self.depth > MAX_NESTING:
            raise self.lex.error(f"parentheses and NOTs nested deeper than {MAX_NESTING}", tok.pos)

    def _operand(self, op: _Tok) -> None:
        if self.peek().kind not in _TERM_KINDS:
            raise self.lex.error(f"{op.text} needs a term on both sides", op.pos)

    def or_(self) -> Node:
        children = [self.and_()]
        while self.peek().kind == "OR":
            self._operand(self.take())
            children.append(self.and_())
        return _flat(Or, children)

    def and_(self) -> Node:
        tok = self.peek()
        if tok.kind in ("OR", "AND"):
            raise self.lex.error(f"{tok.text} needs a term on both sides", tok.pos)
        children = [self.unary()]
        while True:
            tok = self.peek()
            if tok.kind == "AND":
                self._operand(self.take())
            elif tok.kind not in _TERM_KINDS:
                return _flat(And, children)
            children.append(self.unary())

    def unary(self) -> Node:
        tok = self.peek()
        if tok.kind in ("NOT", "-"):
            self.take()
            if self.peek().kind not in _TERM_KINDS:
                raise self.lex.error(f"{tok.text or tok.kind} needs a term after it", tok.pos)
            self._enter(tok)
            node = Not(self.unary())
            self.depth -= 1
            return node
        return self.near()

    def near(self) -> Node:
        first = self.atom()
        if self.peek().kind != "NEAR":
            return first
        phrases = [first]
        distance: int | None = None
        while self.peek().kind == "NEAR":
            op = self.take()
            if distance is not None and op.distance != distance:
                raise self.lex.error(f"a NEAR chain needs one distance (NEAR/{distance} and "
                                     f"NEAR/{op.distance} mixed)", op.pos)
            distance = op.distance
            if self.peek().kind not in ("TERM", "("):
                raise self.lex.error("NEAR needs a word or phrase on both sides", op.pos)
            phrases.append(self.atom())
            if not all(isinstance(p, Phrase) and p.scope == "text" for p in phrases):
                raise self.lex.error("NEAR needs a word or phrase on both sides", op.pos)
        assert distance is not None
        return Near(tuple(p for p in phrases if isinstance(p, Phrase)), distance)

    def atom(self) -> Node:
        tok = self.take()
        if tok.kind == "TERM":
            assert tok.node is not None
            return tok.node
        if tok.kind == "(":
            if self.peek().kind == ")":
                raise self.lex.error("empty parentheses", tok.pos)
            if self.peek().kind == "EOF":
                raise self.lex.error("unclosed parenthesis", tok.pos)
            self._enter(tok)
            node = self.or_()
            self.depth -= 1
            if self.take().kind != ")":
                raise self.lex.error("unclosed parenthesis", tok.pos)
            return node
        if tok.kind == "NEAR":
            raise self.lex.error("NEAR needs a word or phrase on both sides", tok.pos)
        if tok.kind == ")":
            raise self.lex.error("unmatched closing parenthesis", tok.pos)
        if tok.kind == "EOF":  # pragma: no cover - operators check for a following term first
            raise self.lex.error("query ends where a term is expected", tok.pos)
        raise self.lex.error(f"{tok.text} needs a term on both sides", tok.pos)


def _flat(kind: type[And] | type[Or], children: list[Node]) -> Node:
    if len(children) == 1:
        return children[0]
    flat: list[Node] = []
    for c in children:
        flat.extend(c.children if isinstance(c, kind) else (c,))
    return kind(tuple(flat))


def parse(text: str) -> Node:
    """The syntax tree of a brand query; raises QuerySyntaxError saying what and where."""
    if len(text) > MAX_QUERY_CHARS:
        raise QuerySyntaxError(f"query is longer than {MAX_QUERY_CHARS} characters", query=text[:80] + "...",
                               position=MAX_QUERY_CHARS)
    return _Parser(text).parse()


# --------------------------------------------------------------------------------------------
# Live matcher: the tree becomes nested closures over a Doc

Matcher = Callable[[Doc], bool]


def _near_in(col: _Column, phrases: tuple[Phrase, ...], distance: int) -> bool:
    """FTS5's NEAR: some start M of one phrase with every other phrase starting within
    [M - its length - distance, M]; i.e. at most ``distance`` tokens before the last one."""
    starts = [col.starts(p.tokens, p.prefix) for p in phrases]
    if not all(starts):
        return False
    lens = [len(p.tokens) for p in phrases]
    for i, own in enumerate(starts):
        for m in own:
            for j, other in enumerate(starts):
                if j != i:
                    k = bisect_left(other, m - lens[j] - distance)
                    if k == len(other) or other[k] > m:
                        break
            else:
                return True
    return False


def _phrase_matcher(p: Phrase) -> Matcher:
    toks, prefix = p.tokens, p.prefix
    exact = frozenset(toks[:-1] if prefix else toks)
    if p.scope == "text":
        if len(toks) == 1:
            t = toks[0]
            if prefix:
                return lambda d: any(w.startswith(t) for w in d.words)
            return lambda d: t in d.words
        return lambda d: exact <= d.words and bool(d.title_col.starts(toks, prefix)
                                                   or d.body_col.starts(toks, prefix))
    getcol: Callable[[Doc], _Column] = ((lambda d: d.hashtags_col) if p.scope == "hashtags"
                                        else (lambda d: d.handles_col))
    if len(toks) == 1 and not prefix:
        t = toks[0]
        return lambda d: t in getcol(d).set
    return lambda d: exact <= getcol(d).set and bool(getcol(d).starts(toks, prefix))


def _field_matcher(f: Field) -> Matcher:
    v = f.value
    if f.name == "site":
        suffix = "." + v
        return lambda d: d.site == v or d.site.endswith(suffix)
    if f.name == "lang":
        return lambda d: d.lang == v
    if f.name == "author":
        return lambda d: v in d.author_keys
    return lambda d: v in d.source_keys


def _matcher(node: Node) -> Matcher:
    if isinstance(node, Phrase):
        return _phrase_matcher(node)
    if isinstance(node, Near):
        phrases, dist = node.phrases, node.distance
        exact = frozenset(t for p in phrases for t in (p.tokens[:-1] if p.prefix else p.tokens))
        return lambda d: exact <= d.words and (_near_in(d.title_col, phrases, dist)
                                               or _near_in(d.body_col, phrases, dist))
    if isinstance(node, Field):
        return _field_matcher(node)
    if isinstance(node, Not):
        inner = _matcher(node.child)
        return lambda d: not inner(d)
    parts = tuple(_matcher(c) for c in _cheap_first(node.children))
    if len(parts) == 2:  # the common case, without a generator per call
        a, b = parts
        return (lambda d: a(d) and b(d)) if isinstance(node, And) else (lambda d: a(d) or b(d))
    if isinstance(node, And):
        return lambda d: all(m(d) for m in parts)
    return lambda d: any(m(d) for m in parts)


def _cheap_first(children: Iterable[Node]) -> list[Node]:
    """Evaluate field filters and single words before phrases and NEAR (same result, sooner)."""
    def cost(n: Node) -> int:
        if isinstance(n, Field):
            return 0
        if isinstance(n, Phrase):
            return 1 if len(n.tokens) == 1 and not n.prefix else 2
        return 3
    return sorted(children, key=cost)


# --------------------------------------------------------------------------------------------
# SQLite compiler

_COLUMNS: dict[str, str] = {"text": "{title body}", "hashtags": "{hashtags}", "handles": "{handles}"}
_MATCH = "m.rid IN (SELECT rowid FROM mentions_fts WHERE mentions_fts MATCH ?)"
# FTS5's query parser has a fixed stack (about 30 nested "x OR (" levels); deeper subtrees are
# split into several MATCHes combined in SQL instead.
MAX_FTS_DEPTH = 12


@dataclass(frozen=True, slots=True)
class _Fts:
    expr: str
    depth: int      # parenthesis nesting inside expr


def _fts_string(p: Phrase) -> str:
    return '"' + " ".join(p.tokens).replace('"', '""') + '"' + ("*" if p.prefix else "")


def _join(op: str, parts: Sequence[_Fts]) -> _Fts | None:
    if len(parts) == 1:
        return parts[0]
    depth = 1 + max(p.depth for p in parts)
    if depth > MAX_FTS_DEPTH:
        return None
    return _Fts(f" {op} ".join(f"({p.expr})" for p in parts), depth)


def _and_not(pos: Sequence[_Fts], neg: Sequence[_Fts]) -> _Fts | None:
    left, right = _join("AND", pos), _join("OR", neg)
    if left is None or right is None or 1 + max(left.depth, right.depth) > MAX_FTS_DEPTH:
        return None
    return _Fts(f"({left.expr}) NOT ({right.expr})", 1 + max(left.depth, right.depth))


def _fts(node: Node) -> _Fts | None:
    """The whole subtree as one FTS5 expression, or None if FTS5 cannot say it faithfully."""
    if isinstance(node, Phrase):
        return _Fts(f"{_COLUMNS[node.scope]} : {_fts_string(node)}", 0)
    if isinstance(node, Near):
        inner = " ".join(_fts_string(p) for p in node.phrases)
        return _Fts(f"{_COLUMNS['text']} : NEAR({inner}, {node.distance})", 0)
    if isinstance(node, Or):
        parts = [_fts(c) for c in node.children]
        return _join("OR", [p for p in parts if p]) if all(parts) else None
    if isinstance(node, And):
        pos, neg, rest = _split_and(node.children)
        if rest or not pos:
            return None
        return _and_not(pos, neg) if neg else _join("AND", pos)
    return None  # Field, bare Not: FTS5 has no unary NOT


def _split_and(children: Sequence[Node]) -> tuple[list[_Fts], list[_Fts], list[Node]]:
    pos: list[_Fts] = []
    neg: list[_Fts] = []
    rest: list[Node] = []
    for c in children:
        if isinstance(c, Not) and (inner := _fts(c.child)) is not None:
            neg.append(inner)
        elif not isinstance(c, Not) and (f := _fts(c)) is not None:
            pos.append(f)
        else:
            rest.append(c)
    return pos, neg, rest


def _like_escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _field_sql(f: Field) -> tuple[str, list[object]]:
    # IS (not =) so a NULL column compares false, never NULL: NOT must invert it exactly.
    if f.name == "site":
        return ("(m.site IS ? OR (m.site IS NOT NULL AND m.site LIKE ? ESCAPE '\\'))",
                [f.value, "%." + _like_escape(f.value)])
    if f.name == "lang":
        return "m.lang IS ?", [f.value]
    kind = "author" if f.name == "author" else "source"
    return f"(m.{kind}_key IS ? OR m.{kind}_name_key IS ?)", [f.value, f.value]


def _sql(node: Node) -> tuple[str, list[object]]:
    whole = _fts(node)
    if whole is not None:
        return _MATCH, [whole.expr]
    if isinstance(node, Field):
        return _field_sql(node)
    if isinstance(node, Not):
        s, p = _sql(node.child)
        return f"NOT ({s})", p
    if isinstance(node, And | Or):
        return _sql_bool(node)
    raise AssertionError(f"unexpected node {node!r}")  # pragma: no cover


def _sql_bool(node: And | Or) -> tuple[str, list[object]]:
    parts: list[tuple[str, list[object]]] = []
    rest: list[Node]
    if isinstance(node, And):
        pos, neg, rest = _split_and(node.children)
        merged = _and_not(pos, neg) if pos and neg else (_join("AND", pos) if pos else None)
        if merged is not None:
            parts.append((_MATCH, [merged.expr]))
        else:
            parts += [(_MATCH, [f.expr]) for f in pos]
            if neg:
                any_neg = _join("OR", neg)
                if any_neg is not None:
                    parts.append((f"NOT ({_MATCH})", [any_neg.expr]))
                else:
                    parts += [(f"NOT ({_MATCH})", [f.expr]) for f in neg]
        op = " AND "
    else:
        fts = [(c, _fts(c)) for c in node.children]
        pos = [f for _, f in fts if f is not None]
        rest = [c for c, f in fts if f is None]
        merged = _join("OR", pos) if pos else None
        if merged is not None:
            parts.append((_MATCH, [merged.expr]))
        else:
            parts += [(_MATCH, [f.expr]) for f in pos]
        op = " OR "
    parts += [_sql(c) for c in rest]
    params: list[object] = []
    for _, p in parts:
        params += p
    return op.join(f"({s})" for s, _ in parts), params


def _positive_fts(node: Node, negated: bool = False) -> list[str]:
    if isinstance(node, Phrase | Near):
        f = _fts(node)
        return [f.expr] if f is not None and not negated else []
    if isinstance(node, Not):
        return _positive_fts(node.child, not negated)
    if isinstance(node, And | Or):
        return [e for c in node.children for e in _positive_fts(c, negated)]
    return []


def _fields(node: Node) -> frozenset[str]:
    if isinstance(node, Field):
        return frozenset((node.name,))
    if isinstance(node, Not):
        return _fields(node.child)
    if isinstance(node, And | Or):
        return frozenset().union(*(_fields(c) for c in node.children))
    return frozenset()


# --------------------------------------------------------------------------------------------
# The compiled query


@dataclass(frozen=True, slots=True, eq=False)
class Query:
    """A parsed brand query with its live matcher and its SQLite WHERE fragment."""

    text: str
    ast: Node
    fields_used: frozenset[str]
    _match: Matcher = field(repr=False)
    _sql: tuple[str, tuple[object, ...]] = field(repr=False)
    rank_match: str | None = field(repr=False, default=None)
    """OR of the query's non-negated text terms as one FTS5 expression: for bm25 ranking only."""

    def matches(self, doc: Doc) -> bool:
        return self._match(doc)

    def to_sql(self) -> tuple[str, list[object]]:
        """WHERE fragment over ``mentions m`` (``?`` parameters) selecting exactly the matches."""
        return self._sql[0], list(self._sql[1])


@lru_cache(maxsize=1024)
def compile_query(text: str) -> Query:
    ast = parse(text)
    sql, params = _sql(ast)
    positive = _positive_fts(ast)
    rank = " OR ".join(f"({e})" for e in positive[:64]) or None
    return Query(text=text, ast=ast, fields_used=_fields(ast), _match=_matcher(ast),
                 _sql=(sql, tuple(params)), rank_match=rank)

