"""The German analyser on hand-written cases: each rule, the lexicon files, and hostile input."""

from __future__ import annotations

import math
from importlib import resources

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import monitor.enrich.german as german
from monitor.enrich.german import GermanResult, GermanSentiment, fold, parse_extra
from monitor.models import LABELS


@pytest.fixture(scope="module")
def de() -> GermanSentiment:
    return GermanSentiment()


def c(de: GermanSentiment, text: str) -> float:
    return de.polarity_scores(text)["compound"]


# ---- lexicon files ---------------------------------------------------------------------------------------

def test_licence_note_in_module_docstring() -> None:
    doc = german.__doc__ or ""
    for needle in ("Klenner", "Clematide", "textblob-de", "Apache", "MIT", "lexicon_de_extra.tsv", "SentiWS",
                   "GerVADER"):
        assert needle in doc, needle


def test_extra_lexicon_parses_every_line() -> None:
    text = (resources.files("monitor.enrich") / "lexicon_de_extra.tsv").read_text(encoding="utf-8")
    lines = text.splitlines()
    assert len(lines) >= 250
    seen: set[str] = set()
    for n, line in enumerate(lines, 1):
        parts = line.split("\t")
        assert len(parts) == 3, f"line {n}: {line!r}"
        word, value, note = parts
        assert word.strip() == word and word, f"line {n}"
        assert -1.0 <= float(value) <= 1.0, f"line {n}"
        assert note, f"line {n}: every entry says why it is there"
        key = word.lower() if word[0].isalpha() else word  # emoticons are case-sensitive (":P", ":p")
        assert key not in seen, f"line {n}: duplicate {word!r}"
        seen.add(key)
    assert len(parse_extra(text)) == len(lines)


def test_extra_lexicon_has_the_customer_service_core() -> None:
    text = (resources.files("monitor.enrich") / "lexicon_de_extra.tsv").read_text(encoding="utf-8")
    entries = {row[0].lower(): row[1] for row in parse_extra(text)}
    for word in ("kündigung", "abzocke", "abgezockt", "lieferverzug", "warteschleife", "störung", "stromausfall",
                 "funkloch", "betrug", "frechheit", "katastrophe", "unverschämt", "sauerei", "nie wieder"):
        assert entries[word] < 0, word
    for word in ("top", "empfehlenswert", "zuverlässig", "kulant", "daumen hoch", "spitze", "klasse"):
        assert entries[word] > 0, word
    assert entries["kundenservice"] == 0


def test_parse_extra_rejects_out_of_range_values() -> None:
    with pytest.raises(ValueError, match="outside -1..1"):
        parse_extra("toll\t1.5\tnote")
    with pytest.raises(ValueError, match="expected word"):
        parse_extra("toll")


def test_base_lexicon_is_loaded_from_textblob_de(de: GermanSentiment) -> None:
    # ~8,000 base entries plus generated inflections; words only the base lexicon knows are scored.
    assert len(de._words) > 50_000
    assert de.valence("hervorragend") == pytest.approx(german.BASE_SCALE)
    assert (de.valence("miserabel") or 0) < 0


# ---- tokens, spellings, words -----------------------------------------------------------------------------

def test_function_words_are_not_negative(de: GermanSentiment) -> None:
    # English VADER scores "die" and "war" as strongly negative; here they are plain words.
    for text in ("die", "war", "Ende", "Die Lieferung war am Ende da.", "Das war die Rechnung vom Ende des Monats."):
        assert c(de, text) == 0.0, text


def test_umlaut_spellings_meet(de: GermanSentiment) -> None:
    for a, b in (("Störung im Netz", "Stoerung im Netz"), ("Ich bin enttäuscht", "Ich bin enttaeuscht"),
                 ("Ärger mit der Rechnung", "Aerger mit der Rechnung"), ("großartig", "grossartig"),
                 ("ÄRGER", "AERGER")):
        assert c(de, a) == c(de, b) != 0, (a, b)
    assert fold("STÖRUNG") == fold("Störung") == fold("stoerung") == "stoerung"


def test_combining_umlaut_is_normalised(de: GermanSentiment) -> None:
    assert c(de, "Ich bin entta\u0308uscht") == c(de, "Ich bin enttäuscht") < 0


def test_inflections_reach_the_lemma(de: GermanSentiment) -> None:
    for word in ("schlechte", "schlechter", "schlechtesten", "enttäuschte", "abgezockt", "Katastrophen"):
        assert (de.valence(fold(word)) or 0) < 0, word
    for word in ("gute", "besten", "freundlichen", "zuverlässiger", "empfohlen"):
        assert (de.valence(fold(word)) or 0) > 0, word


def test_compounds_take_head_or_prefix(de: GermanSentiment) -> None:
    assert c(de, "Servicekatastrophe") < 0  # known head decides
    assert c(de, "Superangebot") > 0  # neutral head, evaluative prefix
    assert c(de, "superschnell") > c(de, "schnell") > 0  # intensifying prefix boosts the head
    assert c(de, "Mistladen") < 0
    assert c(de, "Kundenservice") == 0.0
    assert c(de, "gemeinsam") == 0.0  # not "gem" + "einsam"


def test_elongations(de: GermanSentiment) -> None:
    assert c(de, "suuuuuper") > c(de, "super") > 0
    assert c(de, "Das ist sooo schleeecht") < 0
    assert de.polarity_scores("neeein")["compound"] <= 0
    assert c(de, "Schifffahrt") == 0.0


def test_emoji_and_emoticons(de: GermanSentiment) -> None:
    assert c(de, "Lieferung angekommen 👍") > 0
    assert c(de, "Lieferung angekommen 😡") < 0
    assert c(de, "Lieferung angekommen ❤️") > 0  # with variation selector
    assert c(de, "Paket da 👍🏽") > 0  # skin tone modifier ignored
    for happy in (":)", ":-)", ";)", "xD", "<3", ":D"):
        assert c(de, f"Paket da {happy}") > 0, happy
    for sad in (":(", ":-(", ":'(", "-.-"):
        assert c(de, f"Paket da {sad}") < 0, sad
    assert c(de, "Siehe https://example.org/a:(b") == 0.0  # URLs are not read for emoticons


def test_emoji_are_not_negated(de: GermanSentiment) -> None:
    assert c(de, "Paket immer noch nicht da 😩") < 0


def test_hashtags_become_words(de: GermanSentiment) -> None:
    assert c(de, "Schon wieder #fail") < 0
    assert c(de, "Lieferung #top") > 0
    assert c(de, "#NieWieder Acme") < 0
    assert c(de, "#FitPro") == 0.0  # a brand tag is not split into "fit" + "pro"


def test_social_media_spellings(de: GermanSentiment) -> None:
    assert c(de, "Mega!") > 0
    assert c(de, "Der neue Tarif ist geil") > 0
    assert c(de, "voll gut") > c(de, "gut") > 0
    assert c(de, "echt nervig") < c(de, "nervig") < 0
    assert c(de, "wtf") < 0
    assert c(de, "epic fail") < 0
    assert c(de, "omg") == 0.0
    assert c(de, "lol") > 0


# ---- rules ------------------------------------------------------------------------------------------------

def test_negation_flips(de: GermanSentiment) -> None:
    assert c(de, "Der Service ist gut.") > 0
    assert c(de, "Der Service ist nicht gut.") < 0
    assert c(de, "Das war kein guter Kauf.") < 0
    assert c(de, "Ich bin mit dem Service nicht zufrieden.") < 0  # fillers do not use up the window
    assert c(de, "Ohne Probleme geliefert.") > 0


def test_nicht_schlecht_is_mildly_positive(de: GermanSentiment) -> None:
    mild = c(de, "Der Service ist nicht schlecht.")
    assert 0 <= mild < c(de, "Der Service ist gut.")


def test_negation_after_the_verb(de: GermanSentiment) -> None:
    assert c(de, "Das gefällt mir nicht.") < 0
    assert c(de, "Das gefällt mir.") > 0


def test_negation_scope_ends_at_punctuation(de: GermanSentiment) -> None:
    assert c(de, "Nicht heute, aber der Service ist gut.") > 0


def test_missing_service_is_a_complaint(de: GermanSentiment) -> None:
    assert c(de, "Seit drei Tagen kein Internet") < 0
    assert c(de, "Ohne Vorwarnung abgeschaltet") < 0
    assert c(de, "Internet seit drei Tagen") == 0.0


def test_weder_noch_and_nie_so(de: GermanSentiment) -> None:
    assert c(de, "Weder schnell noch freundlich.") < 0
    assert c(de, "Noch nie so gut gegessen") > 0
    assert c(de, "Ich war noch nie so enttäuscht") < 0
    assert c(de, "Nicht nur gut, sondern super") > 0


def test_intensifiers_and_dampeners(de: GermanSentiment) -> None:
    assert c(de, "sehr gut") > c(de, "gut") > c(de, "ziemlich gut") > 0
    assert c(de, "extrem schlecht") < c(de, "schlecht") < c(de, "etwas schlecht") < 0
    assert c(de, "total enttäuscht") < c(de, "enttäuscht")


def test_contrast_weighs_the_second_clause(de: GermanSentiment) -> None:
    assert c(de, "Das Essen war gut, aber teuer.") < 0 < c(de, "Das Essen war teuer, aber gut.")
    assert c(de, "Teuer, trotzdem gut.") > 0
    assert c(de, "Obwohl es teuer war, bin ich zufrieden.") > 0


def test_caps_and_exclamation_amplify(de: GermanSentiment) -> None:
    assert c(de, "Der Service ist GUT") > c(de, "Der Service ist gut")
    assert c(de, "Der Service ist MIES") < c(de, "Der Service ist mies")
    assert c(de, "DER SERVICE IST GUT") == c(de, "der service ist gut")  # all caps is no emphasis
    assert c(de, "Super!!!") > c(de, "Super!") > c(de, "Super")
    assert c(de, "Mies!!!") < c(de, "Mies")


def test_neutral_questions_stay_neutral(de: GermanSentiment) -> None:
    for text in ("Ist der Kundenservice von Acme gut?", "Hat jemand Erfahrung mit dem neuen Tarif?",
                 "Lohnt sich der Wechsel?", "Gibt es ein Problem mit der App?"):
        assert de.analyze(text).label == "neutral", text
    # A strongly worded or emphatic question keeps its sign.
    assert de.analyze("Warum ist euer Service so eine Katastrophe?").label == "negative"
    assert de.analyze("Wo bleibt mein Geld??").label == "negative"


def test_phrases(de: GermanSentiment) -> None:
    assert c(de, "Nie wieder Acme") < 0
    assert c(de, "Daumen hoch für das Team") > 0
    assert c(de, "Danke im Voraus") == 0.0
    assert c(de, "Guten Morgen zusammen") == 0.0


# ---- irony and confidence ---------------------------------------------------------------------------------

def test_sarcasm_markers_flip_or_lower_confidence(de: GermanSentiment) -> None:
    plain = de.analyze("Super Service, danke!")
    marked = de.analyze("Super Service, danke! /s")
    assert plain.label == "positive"
    assert marked.compound < plain.compound
    assert marked.confidence < plain.confidence
    assert de.analyze("Na toll, wieder kein Internet.").label == "negative"
    assert de.analyze("Danke für nichts.").label == "negative"
    assert de.analyze("Super, schon wieder kein Netz.").label == "negative"
    assert de.analyze("Der „tolle“ Kundenservice hat aufgelegt.").compound < 0


def test_irony_lowers_confidence(de: GermanSentiment) -> None:
    straight = de.analyze("Toller Service, sehr freundlich.")
    for ironic in ("Toller Service, wie immer.", "Ja klar, toller Service.", "Toller Service 🙃",
                   "Toller Service 👍👍👍 schon wieder ein Ausfall"):
        assert de.analyze(ironic).confidence < straight.confidence, ironic


def test_without_flip_irony_keeps_the_words(de: GermanSentiment) -> None:
    literal = GermanSentiment(sarcasm_flip=False)
    assert literal.analyze("Super Service /s").compound > 0
    assert literal.analyze("Super Service /s").confidence < literal.analyze("Super Service").confidence


def test_confidence_reflects_evidence(de: GermanSentiment) -> None:
    one = de.analyze("gut")
    many = de.analyze("Sehr gut, schnell, freundlich und zuverlässig!")
    conflict = de.analyze("Schnell, aber unfreundlich und teuer, dafür kulant.")
    assert many.confidence > one.confidence
    assert conflict.confidence < many.confidence
    assert de.analyze("").confidence == 0.0


def test_neutral_band_is_configurable(de: GermanSentiment) -> None:
    assert de.analyze("gut").label == "positive"
    assert GermanSentiment(neutral_band=0.9).analyze("gut").label == "neutral"
    assert GermanSentiment(neutral_band=0.9).analyze("gut").compound == de.analyze("gut").compound


# ---- output shape and hostile input -----------------------------------------------------------------------

def test_polarity_scores_shape(de: GermanSentiment) -> None:
    s = de.polarity_scores("Der Service war gut, die Lieferung aber langsam.")
    assert set(s) == {"neg", "neu", "pos", "compound"}
    assert s["pos"] > 0 and s["neg"] > 0 and s["neu"] > 0
    assert math.isclose(s["pos"] + s["neg"] + s["neu"], 1.0, abs_tol=0.01)
    assert de.polarity_scores("") == {"neg": 0.0, "neu": 0.0, "pos": 0.0, "compound": 0.0}
    r = de.analyze("")
    assert r == GermanResult(0.0, "neutral", 0.0)


def test_very_long_text(de: GermanSentiment) -> None:
    text = "Der Service war gut und schnell. " * 20_000 + "Katastrophe!"
    r = de.analyze(text)
    assert r.label == "positive"  # the head decides; the cost stays bounded
    assert -1.0 <= r.compound <= 1.0


@pytest.mark.parametrize("text", [
    "\x00\x01\x02\x1b[31m gut \x7f",
    "\ud800 schlecht \udfff",
    "x" * 1_000_000,
    "Ü" * 1_000_000,
    "🙂" * 200_000,
    "\u0301" * 10_000,
    "„“‚‘\"'" * 1000,
    "!?" * 50_000,
    "nicht " * 10_000,
    "sehr " * 10_000 + "gut",
    "<script>alert('böse')</script> schlecht",
    "ｇｕｔ",  # full-width letters
])
def test_hostile_input_does_not_crash(de: GermanSentiment, text: str) -> None:
    r = de.analyze(text)
    assert -1.0 <= r.compound <= 1.0
    assert r.label in LABELS
    assert 0.0 <= r.confidence <= 1.0


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=300))
def test_any_text_gives_valid_scores(text: str) -> None:
    de = GermanSentiment()
    s = de.polarity_scores(text)
    assert -1.0 <= s["compound"] <= 1.0
    assert all(0.0 <= s[k] <= 1.0 for k in ("neg", "neu", "pos"))
    r = de.analyze(text)
    assert r.label == de.label_for(r.compound)
    assert 0.0 <= r.confidence <= 1.0


def test_scoring_is_pure(de: GermanSentiment) -> None:
    texts = ["Super schnell geliefert!", "Nie wieder, totale Abzocke", "Hat jemand Infos zum Tarif?"]
    first = [de.analyze(t) for t in texts]
    GermanSentiment(sarcasm_flip=False).analyze("Super /s")  # other instances share only the word caches
    assert [de.analyze(t) for t in reversed(texts)][::-1] == first
