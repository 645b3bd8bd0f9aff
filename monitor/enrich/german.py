"""German rule-based sentiment in the spirit of VADER: English VADER on German text is harmful, and German
social-media and customer-service language needs its own words and rules.

Lexicons and their licences:

* Base: the German Polarity Lexicon of Klenner, Clematide, Wiegand and Peters (2010, v1.1), in the pattern
  XML form by Markus Killer that the textblob-de package (MIT) ships as ``textblob_de/data/de-sentiment.xml``
  (the file's header states the Apache License 2.0). It is read from the installed package at run time, not
  copied, and textblob itself is never imported.
* ``lexicon_de_extra.tsv`` beside this module: the project's own vocabulary (Apache-2.0, like the project):
  customer-service and community words the base lacks or gets wrong, neutral overrides for function words,
  phrases, emoticons and emoji.
* Emoji without an entry there: VADER's own emoji descriptions scored with VADER's lexicon (MIT, a
  dependency already).

No SentiWS, GerVADER or other lexicon with a non-commercial licence is used.

Scales: base polarity (only ±0.7/±1.0 steps) times 2.0, like VADER's "good" (1.9); our TSV's -1..1 times
3.0, so our strongest words reach VADER's ±3. The compound is VADER's ``sum / sqrt(sum² + 15)``.

Words are looked up by a folded key (lower case, ä/ö/ü/ß as ae/oe/ue/ss, so both spellings meet). Regular
inflections are generated once at load from each entry's part of speech (the base lexicon's tag; in our TSV a
capital marks a noun, a lower-case -en/-ern/-eln word is a verb, anything else an adjective): adjective
endings, comparative and superlative (``schlechtesten`` -> ``schlecht``), verb persons, tenses and
participles including separable ones (``abgezockt``, ``festgelegt``), noun plurals. A generated form never
replaces a listed word. A word still unknown is resolved once and memoised, in this order: elongation
(``suuuper``: runs of three or more letters shrink to two, then to one; a hit counts as emphasis), an
evaluative or intensifying prefix (``superschnell`` is ``schnell`` boosted; ``Superangebot`` takes the
prefix's own valence because ``Angebot`` is neutral; ``Mistladen``), ``un-`` before a known polar word
(flipped, dampened), and last the compound rule: the longest known head of at least five letters decides
(``Servicekatastrophe`` is ``Katastrophe``). Heads are nouns and adjectives only, an adjective head needs a
modifier of four or more letters (``gem|einsam`` is no compound); if the head is neutral, a known modifier
(linking s/es/n/en/e dropped) counts at half strength (``Horrorkosten``).
"""

from __future__ import annotations

import html
import math
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cache
from importlib import metadata, resources
from pathlib import Path

from ..models import SentimentLabel

# VADER's empirically derived constants, kept because the German rules mirror its design.
B_INCR = 0.293
B_DECR = -0.293
C_INCR = 0.733
N_SCALAR = -0.74
ALPHA = 15.0

BASE_SCALE = 2.0
EXTRA_SCALE = 3.0
# Negating a negative word ("nicht schlecht") gives a milder positive than negating a positive one.
N_SCALAR_NEG = -0.5
# Questions are usually neutral; only strongly worded ones keep most of their weight.
QUESTION_DAMP = 0.15
QUESTION_STRONG = 2.5
QUESTION_DAMP_STRONG = 0.8
NEUTRAL_BAND = 0.1
QUOTE_SPAN = 7
# Long texts: the head decides; cost stays linear and bounded.
MAX_CHARS = 10_000
MAX_WORD = 40
_CACHE_LIMIT = 100_000

_BOOSTERS: dict[str, float] = {
    "sehr": B_INCR, "total": B_INCR, "totally": B_INCR, "absolut": B_INCR, "extrem": B_INCR,
    "extremst": B_INCR, "mega": B_INCR, "voll": B_INCR, "richtig": B_INCR, "echt": B_INCR,
    "besonders": B_INCR, "super": B_INCR, "wirklich": B_INCR, "unglaublich": B_INCR,
    "unheimlich": B_INCR, "wahnsinnig": B_INCR, "irre": B_INCR, "krass": B_INCR, "aeusserst": B_INCR,
    "hoechst": B_INCR, "zutiefst": B_INCR, "komplett": B_INCR, "voellig": B_INCR, "vollkommen": B_INCR,
    "durchweg": B_INCR, "enorm": B_INCR, "tierisch": B_INCR, "verdammt": B_INCR, "sau": B_INCR,
    "uebelst": B_INCR, "so": B_INCR, "derart": B_INCR, "dermassen": B_INCR, "viel": B_INCR,
    "ueberaus": B_INCR, "ausgesprochen": B_INCR, "unfassbar": B_INCR, "ultra": B_INCR, "gar": B_INCR,
    "ueberhaupt": B_INCR, "hammer": B_INCR, "zu": B_INCR * 0.5,
    "kaum": B_DECR, "etwas": B_DECR, "ziemlich": B_DECR, "eher": B_DECR, "bisschen": B_DECR,
    "bissl": B_DECR, "wenig": B_DECR, "leicht": B_DECR, "halbwegs": B_DECR, "einigermassen": B_DECR,
    "recht": B_DECR, "relativ": B_DECR, "fast": B_DECR, "beinahe": B_DECR, "teilweise": B_DECR,
    "teils": B_DECR, "manchmal": B_DECR, "maessig": B_DECR, "etwa": B_DECR, "ganz": B_DECR * 0.5,
}
_NEGATORS = frozenset({
    "nicht", "kein", "keine", "keinen", "keinem", "keiner", "keines", "keinerlei", "nie", "niemals",
    "nichts", "nix", "nich", "ohne", "weder", "niemand", "niemandem", "niemanden", "nirgends", "nirgendwo",
    "nimmer", "null",
})
_POST_NEGATORS = frozenset({"nicht", "nie", "niemals"})
_CONTRAST = frozenset({"aber", "jedoch", "allerdings", "trotzdem", "dennoch", "sondern"})
_CONTRAST_CLAUSE_INITIAL = frozenset({"doch", "nur"})
_CONCESSIVE = frozenset({"obwohl", "obgleich", "wenngleich", "zwar"})
# Words that do not use up a negation/booster window ("nicht mit dem Service zufrieden").
_FILLERS = frozenset({
    "der", "die", "das", "den", "dem", "des", "ein", "eine", "einen", "einem", "einer", "eines", "mir",
    "mich", "dir", "dich", "uns", "euch", "ihm", "ihn", "ihr", "es", "sich", "mit", "fuer", "bei", "von",
    "vom", "zum", "zur", "im", "am", "an", "auf", "in", "ist", "sind", "war", "waren", "bin", "bist",
    "wird", "werden", "wurde", "hat", "habe", "haben", "hatte", "ja", "wohl", "mal", "auch", "dein",
    "deine", "euer", "eure", "ihre", "unser", "unsere",
})
# Praise that opens a sentence and is followed by a complaint is sarcasm ("Super, schon wieder kein Netz").
_PRAISE_OPENERS = frozenset({
    "super", "toll", "klasse", "prima", "grossartig", "spitze", "wunderbar", "perfekt", "herrlich", "genial",
    "bravo", "danke", "vielen dank", "wow", "yay", "top",
})
_IRONY_PHRASES = frozenset({
    "na toll", "na super", "na prima", "na klasse", "na danke", "ja klar", "ja genau", "danke auch",
    "vielen dank auch", "danke fuer nichts",
})
_FLIP_PHRASES = frozenset({"na toll", "na super", "na prima", "na klasse", "danke fuer nichts"})
_SEPARABLE = ("zurueck", "herunter", "runter", "heraus", "raus", "herein", "rein", "weiter", "durch", "unter",
              "ueber", "nach", "fest", "hoch", "weg", "auf", "aus", "ein", "mit", "vor", "los", "ab", "an", "um",
              "zu", "hin", "her")
_INSEPARABLE = ("hinter", "wider", "miss", "ver", "zer", "ent", "emp", "be", "ge", "er")
_ADJ_ENDINGS = ("e", "er", "en", "em", "es")
# Weight of the base lexicon by part of speech: its verbs were tagged by a heuristic and are often neutral in
# use ("bezahlen", "aktivieren", "vergleichen").
BASE_POS_WEIGHT = {"JJ": 1.0, "NN": 1.0, "VB": 0.5, "RB": 1.0}
# prefix -> (boosts a polar head, own valence when the head is neutral or unknown)
_PREFIXES: dict[str, tuple[bool, float]] = {
    "super": (True, 1.7), "mega": (True, 1.5), "ultra": (True, 0.0), "hyper": (True, 0.0),
    "extrem": (True, 0.0), "sau": (True, 0.0), "stink": (True, 0.0), "tod": (True, 0.0),
    "ober": (True, 0.0), "mords": (True, 0.0), "riesen": (True, 0.0), "bomben": (True, 1.5),
    "hammer": (True, 1.5), "affen": (True, 0.0), "top": (False, 1.5), "spitzen": (False, 1.7),
    "traum": (False, 1.5), "lieblings": (False, 1.5), "horror": (False, -1.7), "mist": (False, -1.7),
    "scheiss": (False, -2.0), "schrott": (False, -1.8), "katastrophen": (False, -2.0),
    "drecks": (False, -2.0), "kack": (False, -1.8), "pannen": (False, -1.2), "chaos": (False, -1.5),
    "skandal": (False, -1.7), "wucher": (False, -1.7), "abzock": (False, -2.0),
}
_LINKS = ("es", "en", "s", "n", "e")
# Services whose absence is the complaint: "kein Internet", "ohne Antwort", "keine Rückmeldung".
_SERVICE_NOUNS = frozenset({
    "internet", "netz", "wlan", "empfang", "strom", "verbindung", "signal", "antwort", "rueckmeldung",
    "reaktion", "hilfe", "lieferung", "paket", "zugriff", "service", "support", "ersatz", "erstattung",
    "rueckerstattung", "geld", "wasser", "warmwasser", "heizung", "telefon", "festnetz", "tv", "fernsehen",
    "dsl", "lte", "netzempfang", "mobilfunk", "ware", "bestellung", "info", "infos", "information",
    "informationen", "rueckruf", "ansprechpartner", "loesung", "techniker", "zug", "anschluss",
    "bestaetigung", "sendungsverfolgung", "kontakt", "begruendung", "vorwarnung", "ankuendigung", "erklaerung",
    "entschuldigung", "bescheid", "ruecksprache",
})
MISSING_SERVICE = -1.2

_FOLD = str.maketrans({"ä": "ae", "ö": "oe", "ü": "ue", "ß": "ss", "’": "'"})
_ELONG = re.compile(r"(.)\1{2,}")
_EMOJI_CLASS = "\U0001F000-\U0001FAFF\u2600-\u27BF\u2B00-\u2BFF\u2300-\u23FF"
_SKIN_TONES = frozenset(chr(c) for c in range(0x1F3FB, 0x1F400))
_IRONY_EMOJI = frozenset({"🙃"})
_WORDISH = re.compile(r"^[\w' -]+$")
_IS_EMOJI = re.compile(f"[{_EMOJI_CLASS}]")

# token kinds
_W, _N, _E, _Q, _S, _C = range(6)
# roles
_NONE, _NEG, _BOOST, _CONTRA, _CONCESS, _MAYBE_CONTRA = range(6)
_ROLES: dict[str, int] = {
    **dict.fromkeys(_BOOSTERS, _BOOST), **dict.fromkeys(_CONTRAST, _CONTRA),
    **dict.fromkeys(_CONTRAST_CLAUSE_INITIAL, _MAYBE_CONTRA), **dict.fromkeys(_CONCESSIVE, _CONCESS),
    **dict.fromkeys(_NEGATORS, _NEG),
}
# regex group numbers, in the order of _token_regex
(_G_URL, _G_HANDLE, _G_SARCASM, _G_EMO, _G_HASHTAG, _G_WORD, _G_NUM, _G_EMOJI, _G_QUOTE, _G_STOP,
 _G_CLAUSE) = range(1, 12)


# a token: (kind, folded key, role, valence, starts a phrase)
_Tok = tuple[int, str, int, float, bool]
# a space-free piece of text: (tokens, number of words, caps offsets, phrase-start offsets, flags)
_Chunk = tuple[tuple[_Tok, ...], int, tuple[int, ...], tuple[int, ...], int]
_NEWLINE: _Tok = (_S, "\n", _NONE, 0.0, False)


def fold(word: str) -> str:
    """One key for "Störung", "stoerung" and "STÖRUNG"."""
    return word.lower().translate(_FOLD)


def _normalize(score: float) -> float:
    return max(-1.0, min(1.0, score / math.sqrt(score * score + ALPHA)))


@dataclass(frozen=True, slots=True)
class GermanResult:
    compound: float
    label: SentimentLabel
    confidence: float


@dataclass(slots=True)
class _Lexicon:
    words: dict[str, float]
    phrases: dict[str, list[tuple[tuple[str, ...], str]]]
    emo: dict[str, float]
    token_re: re.Pattern[str]
    heads: dict[str, tuple[float, bool]]
    cache: dict[str, float | None] = field(default_factory=dict)
    tokens: dict[str, _Tok] = field(default_factory=dict)
    chunks: dict[str, _Chunk] = field(default_factory=dict)


@dataclass(slots=True)
class _Scored:
    compound: float
    pos: float
    neg: float
    neu: float
    pos_ev: float
    neg_ev: float
    n_polar: int
    n_words: int
    irony: bool
    question: bool


def _base_lexicon_text() -> str:
    """The XML from the installed textblob-de distribution, located without importing the package."""
    try:
        path = Path(str(metadata.distribution("textblob-de").locate_file("textblob_de/data/de-sentiment.xml")))
        return path.read_text(encoding="utf-8")
    except (metadata.PackageNotFoundError, OSError) as exc:  # pragma: no cover - installation problem
        raise RuntimeError("textblob-de is not installed: pip install textblob-de") from exc


_XML_WORD = re.compile(r"<word\s([^>]*?)/?>")
_XML_ATTR = re.compile(r'(\w+)="([^"]*)"')


def _parse_base(xml: str) -> dict[str, tuple[float, str]]:
    sums: dict[str, list[float]] = {}
    pos_of: dict[str, str] = {}
    for m in _XML_WORD.finditer(xml):
        attrs = dict(_XML_ATTR.findall(m.group(1)))
        form = html.unescape(attrs.get("form", "")).strip()
        if not form or "polarity" not in attrs:
            continue
        key = fold(form)
        pos = attrs.get("pos", "JJ")
        sums.setdefault(key, []).append(float(attrs["polarity"]) * BASE_POS_WEIGHT.get(pos, 1.0))
        pos_of.setdefault(key, pos)
    # "Wagen" (car, 0) and "wagen" (dare, 0.7) meet after lower-casing: their mean is the honest value.
    return {k: (BASE_SCALE * sum(v) / len(v), pos_of[k]) for k, v in sums.items()}


def _pos_of(word: str) -> str:
    """Our TSV marks nouns by their capital; lower-case -en/-ern/-eln words are verbs, the rest adjectives."""
    if word[:1].isupper():
        return "NN"
    if len(word) > 4 and word.endswith(("en", "ern", "eln")):
        return "VB"
    return "JJ"


def _adjective_forms(key: str) -> list[str]:
    stems = [key]
    if len(key) > 4 and (key.endswith("el") or (key.endswith("er") and key[-4:-2] in ("au", "eu", "ei"))):
        stems = [key[:-2] + key[-1]]  # dunkel -> dunkle, teuer -> teure
    out = []
    for st in stems:
        base = st[:-1] if st.endswith("e") else st
        out += [base + e for e in _ADJ_ENDINGS]
        out += [base + "er" + e for e in ("",) + _ADJ_ENDINGS]
    sup = key + ("est" if key.endswith(("d", "t", "s", "z", "sch", "ss", "x")) else "st")
    out += [sup + e for e in _ADJ_ENDINGS]
    return out


def _verb_forms(key: str) -> list[str]:
    if key.endswith(("ern", "eln")):
        stem = key[:-1]
    elif key.endswith("en"):
        stem = key[:-2]
    else:
        return []
    endings = ["e", "st", "t", "te", "test", "ten", "tet", "end", "ende", "enden", "ender", "endes", "endem"]
    if stem.endswith(("t", "d")) or (len(stem) > 2 and stem[-1] in "mn" and stem[-2] not in "aeioulrmnh"):
        endings += ["et", "est", "ete", "eten", "etest", "etet"]
    out = [stem + e for e in endings]
    t_form = stem + ("et" if stem.endswith(("t", "d")) else "t")
    participles = []
    if stem.endswith("ier") or key.startswith(_INSEPARABLE):
        participles.append(t_form)  # informiert, enttäuscht
    sep = next((p for p in _SEPARABLE if key.startswith(p) and len(key) - len(p) >= 4), None)
    if sep:
        participles.append(sep + "ge" + t_form[len(sep):])  # festgelegt, abgezockt
    if not participles or sep in ("durch", "unter", "ueber", "um"):
        participles.append("ge" + t_form)
    for part in participles:
        out += [part] + [part + e for e in _ADJ_ENDINGS]
    return out


def _noun_forms(key: str) -> list[str]:
    # Short nouns make false plurals ("Not" -> "Noten"), so only longer ones get forms.
    return [key + e for e in ("e", "en", "n", "s", "es")] if len(key) >= 4 else []


def _forms(key: str, pos: str) -> list[str]:
    """Regular inflections generated once at load: exact, and far cheaper than stripping endings per call."""
    if " " in key:
        return []
    if pos == "NN":
        return _noun_forms(key)
    if pos == "VB":
        # The base tags any -en word as a verb ("zufrieden"), so such words get adjective forms too.
        return _verb_forms(key) + _adjective_forms(key)
    return _adjective_forms(key)


def parse_extra(text: str) -> list[tuple[str, float, str]]:
    """Rows of lexicon_de_extra.tsv: word or phrase, polarity -1..1, note."""
    rows = []
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        parts = line.split("\t")
        if len(parts) < 2:
            raise ValueError(f"lexicon_de_extra.tsv:{n}: expected word<TAB>polarity<TAB>note")
        value = float(parts[1])
        if not -1.0 <= value <= 1.0:
            raise ValueError(f"lexicon_de_extra.tsv:{n}: polarity {value} outside -1..1")
        rows.append((parts[0], value, parts[2] if len(parts) > 2 else ""))
    return rows


def _vader_emoji(known: Iterable[str]) -> dict[str, float]:
    """Valence for emoji we did not rate, from VADER's English descriptions and lexicon (dampened)."""
    skip = set(known)
    pkg = resources.files("vaderSentiment")
    lex: dict[str, float] = {}
    for line in (pkg / "vader_lexicon.txt").read_text(encoding="utf-8").splitlines():
        parts = line.split("\t")
        if len(parts) >= 2:
            lex[parts[0]] = float(parts[1])
    out: dict[str, float] = {}
    for line in (pkg / "emoji_utf8_lexicon.txt").read_text(encoding="utf-8").splitlines():
        parts = line.split("\t")
        if len(parts) < 2:
            continue
        char = parts[0].replace("\ufe0f", "")
        if len(char) != 1 or char in skip:
            continue
        vals = [lex[w] for w in re.findall(r"[a-z]+", parts[1].lower()) if w in lex]
        if vals:
            out[char] = 0.6 * sum(vals) / len(vals)
    return out


def _match_phrase(opts: list[tuple[tuple[str, ...], str]], keys: list[str], kinds: list[int],
                  i: int) -> tuple[str, int] | None:
    """Longest phrase starting at token i: (phrase key, index after it)."""
    n = len(keys)
    for rest, pkey in opts:
        j = i + 1
        for r in rest:
            if j < n and keys[j] == r and kinds[j] in (_W, _N):
                j += 1
            else:
                break
        else:
            return pkey, j
    return None


def _token_regex(emoticons: Iterable[str]) -> re.Pattern[str]:
    alts = []
    for e in sorted(emoticons, key=len, reverse=True):
        left = r"(?<!\w)" if e[0].isalnum() else ""
        right = r"(?!\w)" if e[-1].isalnum() else ""
        alts.append(left + re.escape(e) + right)
    emo = "|".join(alts) or r"(?!x)x"
    return re.compile(
        r"(?P<url>(?:https?://|www\.)\S+)"
        r"|(?P<handle>@\w+)"
        r"|(?P<sarcasm>(?<!\w)/(?:s|sarkasmus|ironie|irony|sarcasm)(?!\w))"
        f"|(?P<emo>{emo})"
        r"|(?P<hashtag>\#\w+)"
        r"|(?P<word>[^\W\d_]+(?:['’][^\W\d_]+)?)"
        r"|(?P<num>\d+(?:[.,]\d+)*)"
        f"|(?P<emoji>[{_EMOJI_CLASS}])"
        r"|(?P<quote>[\"„“”‚‘«»‹›']|(?<!\w)’)"
        r"|(?P<stop>[.!?…]+|\n)"
        r"|(?P<clause>[,;:()\[\]–—]|(?<!\S)-(?!\S))"
    )


@cache
def _lexicon() -> _Lexicon:
    base = _parse_base(_base_lexicon_text())
    words = {k: v for k, (v, _pos) in base.items()}
    phrases: dict[str, list[tuple[tuple[str, ...], str]]] = {}
    emo: dict[str, float] = {}
    ours: list[tuple[str, str]] = []
    extra = (resources.files(__package__ or "monitor.enrich") / "lexicon_de_extra.tsv").read_text(encoding="utf-8")
    for word, value, _note in parse_extra(extra):
        valence = EXTRA_SCALE * value
        if _IS_EMOJI.search(word):
            emo[word.replace("\ufe0f", "")] = valence
        elif _WORDISH.match(word) and not word.startswith("-"):
            key = " ".join(fold(w) for w in word.split())
            words[key] = valence
            ours.append((key, _pos_of(word)))
            if " " in key:
                first, *rest = key.split(" ")
                phrases.setdefault(first, []).append((tuple(rest), key))
                words.setdefault(key.replace(" ", ""), valence)  # "#niewieder"
        else:
            emo[word] = valence
    # Generated forms never replace a listed word; ours win over the base's, adjectives over verbs over nouns.
    # Compound heads are nouns and adjectives only: verb forms inside long words are coincidences, and so are
    # short inflected adjectives ("Auffangschale" is no "schal").
    generated: dict[str, float] = {}
    heads: dict[str, tuple[float, bool]] = {}
    order = {"JJ": 0, "RB": 0, "VB": 1, "NN": 2}
    for key, pos in ours + [(k, pos) for k, (_v, pos) in sorted(base.items(), key=lambda kv: order.get(kv[1][1], 3))]:
        forms = _forms(key, pos)
        for form in forms:
            generated.setdefault(form, words[key])
        if pos != "VB" and " " not in key:
            noun = pos == "NN"
            heads.setdefault(key, (words[key], noun))
            for form in forms:
                if noun or len(form) >= 7:
                    heads.setdefault(form, (generated[form], noun))
    for form, v in generated.items():
        words.setdefault(form, v)
    for key in _IRONY_PHRASES:
        if key not in words:
            words[key] = 0.0
            first, *rest = key.split(" ")
            phrases.setdefault(first, []).append((tuple(rest), key))
    for options in phrases.values():
        options.sort(key=lambda o: len(o[0]), reverse=True)
    emoticons = [e for e in emo if not _IS_EMOJI.search(e)]
    emo.update(_vader_emoji(emo))
    return _Lexicon(words, phrases, emo, _token_regex(emoticons), heads)


class GermanSentiment:
    """VADER-style scorer for German; pure after the lexicons are loaded once per process."""

    def __init__(self, *, neutral_band: float = NEUTRAL_BAND, sarcasm_flip: bool = True) -> None:
        self.neutral_band = neutral_band
        self.sarcasm_flip = sarcasm_flip
        self._lex = _lexicon()
        self._words = self._lex.words
        # The word, token and chunk caches are shared by all instances: they hold nothing that depends on
        # instance settings, which only act in _score and analyze.
        self._cache = self._lex.cache

    # ---- word resolution -------------------------------------------------------------------------
    def valence(self, key: str) -> float | None:
        """Valence of one folded word, or None when nothing is known about it (memoised)."""
        v = self._words.get(key)
        if v is not None:
            return v
        if len(key) > MAX_WORD:
            return None  # no German word is that long; resolving it would only cost time
        try:
            return self._cache[key]
        except KeyError:
            pass
        v = self._resolve(key)
        if len(self._cache) >= _CACHE_LIMIT:
            self._cache.clear()
        self._cache[key] = v
        return v

    def _resolve(self, key: str) -> float | None:
        if _ELONG.search(key):
            for cand in (_ELONG.sub(r"\1\1", key), _ELONG.sub(r"\1", key)):
                v = self._words.get(cand)
                if v is None:
                    v = self._resolve_plain(cand)
                if v is not None:
                    return v + math.copysign(B_INCR, v) if v else v
            return None
        return self._resolve_plain(key)

    def _resolve_plain(self, key: str) -> float | None:
        words = self._words
        n = len(key)
        if n >= 7:
            for pre, (boosts, own) in _PREFIXES.items():
                if key.startswith(pre) and n - len(pre) >= 3:
                    h = words.get(key[len(pre):])
                    if h:
                        return h + math.copysign(B_INCR, h) if boosts else h
                    if own:
                        return own * 0.8  # "Superangebot", "Mistladen": the prefix is the judgement
            if key.startswith("un"):
                h = words.get(key[2:])
                if h:
                    return -0.8 * h
        if n >= 8:
            heads = self._lex.heads
            for i in range(3, n - 4):
                hit = heads.get(key[i:])
                if hit is None or (i < 4 and not hit[1]):  # "gem|einsam": adjectives need a longer modifier
                    continue
                h = hit[0]
                if h:
                    return h
                mod = key[:i]
                for cand in (mod,) + tuple(mod[: -len(s)] for s in _LINKS if mod.endswith(s)):
                    if len(cand) >= 4:
                        m = words.get(cand)
                        if m:
                            return 0.5 * m
                return 0.0
        return None

    # ---- scoring ---------------------------------------------------------------------------------
    def _merge_phrases(self, toks: list[_Tok], starts: list[int], caps: set[int], flips: list[int],
                       irony: bool) -> tuple[list[_Tok], set[int], bool]:
        """Replace each listed phrase by one token; ``flips`` collects sarcastic ones to turn around."""
        phrases = self._lex.phrases
        keys = [t[1] for t in toks]
        kinds = [t[0] for t in toks]
        hits: dict[int, tuple[int, str]] = {}
        for i in starts:
            hit = _match_phrase(phrases[keys[i]], keys, kinds, i)
            if hit and all(not (a <= i < b) for a, (b, _k) in hits.items()):
                hits[i] = (hit[1], hit[0])
        if not hits:
            return toks, caps, irony
        out: list[_Tok] = []
        out_caps: set[int] = set()
        i = 0
        n = len(toks)
        while i < n:
            if i in hits:
                end, pkey = hits[i]
                if pkey in _IRONY_PHRASES:
                    irony = True
                    if pkey in _FLIP_PHRASES:
                        flips.append(len(out))
                if any(c in caps for c in range(i, end)):
                    out_caps.add(len(out))
                out.append((_W, pkey, _NONE, self._words[pkey], False))
                i = end
                continue
            if i in caps:
                out_caps.add(len(out))
            out.append(toks[i])
            i += 1
        return out, out_caps, irony

    def polarity_scores(self, text: str) -> dict[str, float]:
        s = self._score(text)
        return {"neg": round(s.neg, 3), "neu": round(s.neu, 3), "pos": round(s.pos, 3),
                "compound": round(s.compound, 4)}

    def analyze(self, text: str) -> GermanResult:
        s = self._score(text)
        return GermanResult(round(s.compound, 4), self.label_for(s.compound), round(self._confidence(s), 3))

    def label_for(self, compound: float) -> SentimentLabel:
        if compound >= self.neutral_band:
            return "positive"
        if compound <= -self.neutral_band:
            return "negative"
        return "neutral"

    def _confidence(self, s: _Scored) -> float:
        """Evidence, not probability: amount and agreement of sentiment, distance from the neutral band."""
        total = s.pos_ev + s.neg_ev
        if not total and not s.n_words:
            return 0.0  # nothing to judge
        band = self.neutral_band
        strength = total / (total + 2.0)
        agreement = abs(s.pos_ev - s.neg_ev) / total if total else 1.0
        if abs(s.compound) >= band:
            margin = min(1.0, (abs(s.compound) - band) / max(1e-9, 1.0 - band))
            conf = 0.15 + 0.85 * (0.4 * strength + 0.35 * agreement + 0.25 * margin)
        else:
            # Neutral by absence of evidence is only moderately sure: complaints often name no opinion word.
            closeness = 1.0 - abs(s.compound) / band if band else 1.0
            wordy = min(1.0, s.n_words / 8)
            conf = 0.45 + 0.1 * wordy + 0.2 * closeness * (1.0 - strength)
            if total:
                conf *= 0.85
        if s.irony:
            conf *= 0.6
        if s.question:
            conf *= 0.85
        return max(0.0, min(1.0, conf))

    def _entry(self, raw: str) -> _Tok:
        """(kind, key, role, valence, starts a phrase) for one raw word, memoised by its spelling."""
        key = raw.lower().translate(_FOLD)
        role = _ROLES.get(key, _NONE)
        val = 0.0
        if role == _NONE and key not in _SERVICE_NOUNS:  # a service is a topic; its absence is the complaint
            v = self.valence(key)
            val = v if v else 0.0
        entry = (_W, key, role, val, key in self._lex.phrases)
        tokens = self._lex.tokens
        if len(tokens) >= _CACHE_LIMIT:
            tokens.clear()
        tokens[raw] = entry
        return entry

    def _chunk(self, raw: str) -> _Chunk:
        """Tokens of one space-free piece of text: (tokens, words, caps offsets, phrase starts, flags)."""
        lex = self._lex
        tokens = lex.tokens
        entry_for = self._entry
        toks: list[_Tok] = []
        caps: list[int] = []
        starts: list[int] = []
        n_words = 0
        flags = 0  # 1: sarcasm marker, 2: quote
        for m in lex.token_re.finditer(raw):
            g = m.lastindex
            s = m.group()
            if g in (_G_WORD, _G_HASHTAG):
                # A hashtag is one word, never split at capitals: "#FitPro" is a brand, not "fit" + "pro".
                word = s if g == _G_WORD else s[1:]
                e = tokens.get(word) or entry_for(word)
                if e[4]:
                    starts.append(len(toks))
                if g == _G_WORD and len(s) > 1 and s.isupper():
                    caps.append(len(toks))
                toks.append(e)
                n_words += 1
            elif g == _G_STOP:
                toks.append((_S, s, _NONE, 0.0, False))
            elif g == _G_CLAUSE:
                toks.append((_C, s, _NONE, 0.0, False))
            elif g in (_G_EMOJI, _G_EMO):
                if s in _SKIN_TONES:
                    continue
                if s in _IRONY_EMOJI:
                    flags |= 1
                toks.append((_E, s, _NONE, lex.emo.get(s, 0.0), False))
            elif g == _G_NUM:
                if s in lex.phrases:
                    starts.append(len(toks))
                toks.append((_N, s, _NONE, 0.0, False))
                n_words += 1
            elif g == _G_QUOTE:
                flags |= 2
                toks.append((_Q, s, _NONE, 0.0, False))
            elif g == _G_SARCASM:
                flags |= 1
        chunk = (tuple(toks), n_words, tuple(caps), tuple(starts), flags)
        if len(lex.chunks) >= _CACHE_LIMIT:
            lex.chunks.clear()
        lex.chunks[raw] = chunk
        return chunk

    def _score(self, text: str) -> _Scored:
        """One function, rules as passes over the polar words only: per-token calls would halve the speed."""
        if not isinstance(text, str):
            text = str(text)
        if len(text) > MAX_CHARS:
            text = text[:MAX_CHARS]
        if not text.isascii() and not unicodedata.is_normalized("NFKC", text):
            text = unicodedata.normalize("NFKC", text)  # combining umlauts, full-width letters
        lex = self._lex
        words = self._words

        # One tuple per token (kind, key, role, valence, starts a phrase). Text is cut at spaces and each
        # piece's tokens come from a cache: the tokenizer regex runs once per distinct piece, not per text.
        toks: list[_Tok] = []
        caps_at: list[int] = []
        starts: list[int] = []
        n_words = 0
        sarcasm = quoted = False
        chunks = lex.chunks
        chunk_for = self._chunk
        first_line = True
        for line in text.split("\n"):
            if not first_line and toks and toks[-1][0] != _S:
                toks.append(_NEWLINE)
            first_line = False
            for raw in line.split():
                ch = chunks.get(raw) or chunk_for(raw)
                if ch[2] or ch[3]:
                    at = len(toks)
                    caps_at.extend(at + o for o in ch[2])
                    starts.extend(at + o for o in ch[3])
                toks.extend(ch[0])
                n_words += ch[1]
                if ch[4]:
                    sarcasm = sarcasm or bool(ch[4] & 1)
                    quoted = quoted or bool(ch[4] & 2)
        if not toks:
            return _Scored(0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0, 0, sarcasm, False)
        cap_diff = 0 < len(caps_at) < n_words
        caps = set(caps_at) if cap_diff else set()

        irony = sarcasm
        flips: list[int] = []
        if starts:
            toks, caps, irony = self._merge_phrases(toks, starts, caps, flips, irony)
        T, K, R, V = (list(col) for col in tuple(zip(*toks, strict=True))[:4])
        n = len(T)

        # Roles that depend on position, and the indices the rules work on.
        polar: list[int] = []
        negators: list[int] = []
        stops: list[int] = []
        contra = -1
        concessive: list[int] = []
        weder = False
        for idx in range(n):
            r = R[idx]
            if r == _NONE:
                if V[idx]:
                    polar.append(idx)
                elif T[idx] == _S:
                    stops.append(idx)
                    weder = False
                elif weder and K[idx] == "noch":
                    R[idx] = _NEG
                    negators.append(idx)
            elif r == _NEG:
                negators.append(idx)
                weder = weder or K[idx] == "weder"
            elif r == _MAYBE_CONTRA:
                r = R[idx] = _CONTRA if idx == 0 or T[idx - 1] in (_S, _C) else _NONE
            elif r == _BOOST:
                own = words.get(K[idx])
                if own and not any(V[q] and T[q] in (_W, _N) for q in range(idx + 1, min(n, idx + 3))
                                   if T[q] not in (_S, _C)):
                    R[idx] = _NONE  # "Mega!": a booster with nothing to boost speaks for itself
                    V[idx] = own
                    polar.append(idx)
            if r == _CONTRA and contra < 0:
                contra = idx
            elif r == _CONCESS:
                concessive.append(idx)

        # Modifiers before each polar word: VADER's three-word window, fillers not counted.
        negated: set[int] = set()
        neg_used: set[int] = set()
        for idx in polar:
            if T[idx] == _E:
                continue  # an emoji is the writer's own tone: "nicht da 😩" is not a negated 😩
            v = V[idx]
            if idx in caps:
                v += C_INCR if v > 0 else -C_INCR
            counted = 0
            j = idx - 1
            between_so = False
            while j >= 0 and counted < 3 and idx - j <= 6:
                if T[j] in (_S, _C):
                    break
                rj = R[j]
                if rj == _BOOST:
                    s_ = _BOOSTERS[K[j]] * (1.0 if counted == 0 else (0.95 if counted == 1 else 0.9))
                    if j in caps:
                        s_ += C_INCR
                    v += s_ if v > 0 else -s_
                    between_so = between_so or K[j] == "so"
                elif rj == _NEG:
                    neg_used.add(j)
                    if between_so and K[j] in ("nie", "niemals"):
                        v *= 1.25  # "noch nie so gut/schlecht"
                    else:
                        v *= N_SCALAR if v > 0 else N_SCALAR_NEG
                        negated ^= {idx}
                elif rj in (_CONTRA, _CONCESS):
                    break
                elif K[j] == "nach" and v < 0:
                    v *= 0.5  # "nach dem Stromausfall ...": the past problem is context, not the verdict
                if K[j] not in _FILLERS:
                    counted += 1
                j -= 1
            V[idx] = v

        for j in negators:
            if j in neg_used:
                continue
            key = K[j]
            nxt = j + 1
            # "kein Internet", "ohne Antwort": the missing service is the complaint.
            while nxt < n and nxt <= j + 3 and T[nxt] == _W and R[nxt] == _NONE and not V[nxt]:
                if K[nxt] in _SERVICE_NOUNS:
                    V[nxt] = MISSING_SERVICE
                    polar.append(nxt)
                    negated.add(nxt)
                    neg_used.add(j)
                    break
                if K[nxt] not in _FILLERS:
                    break
                nxt += 1
            if j in neg_used or key not in _POST_NEGATORS:
                continue
            # German puts "nicht" after the verb: "Das gefällt mir nicht."
            fwd = j + 1
            ahead = False
            while fwd < n and T[fwd] not in (_S, _C) and R[fwd] not in (_CONTRA, _CONCESS):
                if V[fwd] and R[fwd] == _NONE and T[fwd] != _E:
                    ahead = True
                    break
                fwd += 1
            if ahead:
                continue
            back = j - 1
            counted = 0
            while back >= 0 and counted < 4 and T[back] not in (_S, _C) and R[back] not in (_CONTRA, _CONCESS):
                if V[back] and R[back] == _NONE and back not in negated and T[back] != _E:
                    V[back] *= N_SCALAR if V[back] > 0 else N_SCALAR_NEG
                    negated.add(back)
                    break
                if K[back] not in _FILLERS:
                    counted += 1
                back -= 1

        # Irony: scare quotes around praise, praise openers before a complaint, "/s", "wie immer" after praise.
        if quoted:
            # Praise in short quotes is someone else's claim, quoted to mock it: "das beste Netz".
            qs = [idx for idx in range(n) if T[idx] == _Q]
            for a, b in zip(qs[::2], qs[1::2], strict=False):
                if b - a <= QUOTE_SPAN:
                    for idx in range(a + 1, b):
                        if V[idx] > 0 and T[idx] == _W:
                            irony = True
                            if self.sarcasm_flip:
                                V[idx] *= N_SCALAR
        polar.sort()
        has_question = "?" in text
        starts = [0] + [s_ + 1 for s_ in stops]
        ends = stops + [n]
        for si in range(len(starts)):
            a = starts[si]
            b = ends[si]
            if a >= b:
                continue
            if K[a] in _PRAISE_OPENERS and V[a] > 0 and (b == a + 1 or T[a + 1] == _C):
                # "Super, schon wieder kein Netz." / "Toll! Wieder kein Netz."
                end = ends[si + 1] if b == a + 1 and si + 1 < len(ends) else b
                if sum(V[a + 1: end]) < 0:
                    irony = True
                    if self.sarcasm_flip:
                        flips.append(a)
            if has_question and b < n and "?" in K[b] and "??" not in K[b] and "!" not in K[b]:
                # A plain question asks; "??" and "?!" complain.
                for idx in range(a, b):
                    if V[idx]:
                        V[idx] *= QUESTION_DAMP_STRONG if abs(V[idx]) >= QUESTION_STRONG else QUESTION_DAMP
        if "immer" in K:
            for idx in range(1, n):
                if K[idx] == "immer" and K[idx - 1] == "wie":
                    a = max([s_ + 1 for s_ in stops if s_ < idx], default=0)
                    if any(V[q] > 0 for q in range(a, idx)):
                        irony = True  # "Super Service, wie immer."
        pos_emoji = sum(1 for idx in polar if T[idx] == _E and V[idx] > 0)
        if pos_emoji >= 3 and any(V[idx] < 0 for idx in polar):
            irony = True
        if self.sarcasm_flip:
            for idx in flips:
                if V[idx] > 0:
                    V[idx] *= N_SCALAR
            if sarcasm:
                for idx in polar:
                    if V[idx] > 0:
                        V[idx] *= N_SCALAR

        # Contrast: the clause after "aber" weighs more, before it less; a concessive clause weighs less.
        if contra >= 0:
            for idx in polar:
                V[idx] *= 0.5 if idx < contra else 1.5
        for c in concessive:
            q = c + 1
            while q < n and T[q] not in (_S, _C):
                V[q] *= 0.5
                q += 1

        pos_sum = neg_sum = pos_ev = neg_ev = total = 0.0
        n_polar = 0
        for idx in polar:
            v = V[idx]
            total += v
            if v > 0:
                pos_sum += v + 1
                pos_ev += v
                n_polar += 1
            elif v < 0:
                neg_sum += v - 1
                neg_ev -= v
                n_polar += 1
        neu = n - T.count(_S) - T.count(_C) - T.count(_Q) - n_polar
        if total:
            ep = min(text.count("!"), 4) * 0.292
            total += ep if total > 0 else -ep
            if pos_sum > -neg_sum:
                pos_sum += ep
            elif pos_sum < -neg_sum:
                neg_sum -= ep
        denom = pos_sum - neg_sum + neu
        if not denom:
            return _Scored(0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0, n_words, irony, has_question)
        return _Scored(_normalize(total), pos_sum / denom, -neg_sum / denom, neu / denom, pos_ev, neg_ev,
                       n_polar, n_words, irony, has_question)
