"""Sentiment routing, English VADER with confidence and brand targeting, and `monitor analyze`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

from monitor.config import SentimentSettings
from monitor.enrich.sentiment import UNSCORED, SentimentScorer, sentences_naming
from tests.fixtures_path import FIXTURES

GROUND = FIXTURES / "sentiment" / "vader_groundtruth"


def gold(mean: float) -> str:
    return "positive" if mean / 4 > 0.05 else "negative" if mean / 4 < -0.05 else "neutral"


@pytest.mark.parametrize("name", ["tweets_GroundTruth.txt", "amazonReviewSnippets_GroundTruth.txt",
                                  "nytEditorialSnippets_GroundTruth.txt", "movieReviewSnippets_GroundTruth.txt"])
def test_english_never_worse_than_plain_vader_on_its_ground_truth(name: str) -> None:
    rows = []
    for line in (GROUND / name).read_text(encoding="utf-8", errors="replace").splitlines()[:800]:
        parts = line.split("\t", 2)
        if len(parts) == 3:
            rows.append((float(parts[1]), parts[2]))
    vader = SentimentIntensityAnalyzer()
    scorer = SentimentScorer()
    plain = ours = 0
    for mean, text in rows:
        c = vader.polarity_scores(text)["compound"]
        plain_label = "positive" if c >= 0.05 else "negative" if c <= -0.05 else "neutral"
        plain += plain_label == gold(mean)
        ours += scorer.analyze(text, "en").label == gold(mean)
    assert len(rows) >= 700
    assert ours >= plain


def test_routing_by_language() -> None:
    scorer = SentimentScorer({"en": SentimentSettings("vader"), "de": SentimentSettings("lexicon"),
                              "fr": SentimentSettings("none")})
    assert scorer.analyze("This is awful", "en").backend == "vader"
    de = scorer.analyze("Die Hotline ist eine Katastrophe, nie wieder!", "de")
    assert de.backend == "lexicon" and de.label == "negative"
    assert scorer.analyze("Le service est nul", "fr") == UNSCORED
    assert scorer.analyze("Hola", "es") == UNSCORED
    assert scorer.analyze("whatever", None) == UNSCORED
    assert scorer.analyze("   ", "en") == UNSCORED
    assert scorer.languages == ("en", "de")


def test_german_function_words_are_not_negative_as_english_vader_would_say() -> None:
    text = "Die Filiale war am Montag bis 18 Uhr geöffnet."
    assert SentimentIntensityAnalyzer().polarity_scores(text)["compound"] < -0.05  # the harm we avoid
    assert SentimentScorer().analyze(text, "de").label == "neutral"


def test_confidence_is_bounded_and_irony_lowers_it() -> None:
    scorer = SentimentScorer()
    plain = scorer.analyze("The support was great and helpful.", "en")
    ironic = scorer.analyze('The support was "great" and helpful /s', "en")
    assert plain.confidence is not None and ironic.confidence is not None
    assert 0 <= ironic.confidence < plain.confidence <= 1
    neutral = scorer.analyze("The store opens at nine on Monday.", "en")
    assert neutral.label == "neutral" and neutral.confidence is not None and neutral.confidence > 0.5


def test_brand_targeted_score_uses_the_sentences_naming_the_brand() -> None:
    scorer = SentimentScorer()
    text = "Acme fixed my problem in minutes, brilliant. Globex is awful, slow and rude. Never again Globex!"
    r = scorer.analyze(text, "en", brand_terms=["acme"])
    assert r.score is not None and r.target_score is not None
    assert r.label == "negative" and r.target_score > 0.05, "negative overall, positive for Acme"
    assert scorer.analyze(text, "en", brand_terms=["initech"]).target_score is None
    assert sentences_naming("Wir lieben ACME-Produkte! Sonst nichts.", [("acme",)]) == ["Wir lieben ACME-Produkte!"]
    assert sentences_naming("Acmeville is nice.", [("acme*",)]) == ["Acmeville is nice."]
    assert sentences_naming("Acmeville is nice.", [("acme",)]) == []


def analyze(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MONITOR_")}
    return subprocess.run([sys.executable, "-m", "monitor.cli", "analyze", *args], input=stdin, text=True,
                          capture_output=True, env=env, timeout=300, cwd=Path(__file__).parent)


def test_analyze_cli_arguments_and_json() -> None:
    proc = analyze("--json", "Der Service ist super, sehr empfehlenswert!", "This update is terrible.")
    assert proc.returncode == 0, proc.stderr
    rows = [json.loads(line) for line in proc.stdout.splitlines()]
    assert [(r["lang"], r["label"]) for r in rows] == [("de", "positive"), ("en", "negative")]
    for r in rows:
        assert set(r) == {"text", "lang", "sentiment", "label", "confidence"}
        assert -1 <= r["sentiment"] <= 1 and 0 <= r["confidence"] <= 1
    proc = analyze("--lang", "de", "Gut gemacht")
    assert proc.returncode == 0 and proc.stdout.startswith("de positive")
    proc = analyze("--lang", "german", "x")
    assert proc.returncode == 2 and "--lang" in proc.stderr


def test_analyze_cli_reads_10000_lines_from_stdin_in_one_process() -> None:
    lines = ["Die Lieferung kam zu spät, total ärgerlich.", "Great app, love the new design!",
             "Wann habt ihr am Sonntag geöffnet?", "The invoice arrived today."] * 2500
    proc = analyze("--json", stdin="\n".join(lines) + "\n")
    assert proc.returncode == 0, proc.stderr
    rows = [json.loads(line) for line in proc.stdout.splitlines()]
    assert len(rows) == 10_000
    assert [r["label"] for r in rows[:4]] == ["negative", "positive", "neutral", "neutral"]
    assert {r["lang"] for r in rows} == {"de", "en"}
