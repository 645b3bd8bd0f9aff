"""Sentiment scoring. English: VADER. Other languages stay unscored until they have a model of their own:
English VADER on German text is harmful (it scores "die" and "war" as strongly negative)."""

from __future__ import annotations

from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

from ..models import SentimentLabel

# VADER's own recommended thresholds for the compound score.
POSITIVE_AT = 0.05
NEGATIVE_AT = -0.05
MAX_CHARS = 2000


def label_for(compound: float) -> SentimentLabel:
    if compound >= POSITIVE_AT:
        return "positive"
    if compound <= NEGATIVE_AT:
        return "negative"
    return "neutral"


class SentimentScorer:
    """Routes by language; returns ``(None, None)`` for languages without a model."""

    def __init__(self) -> None:
        self._vader = SentimentIntensityAnalyzer()

    @property
    def languages(self) -> tuple[str, ...]:
        return ("en",)

    def score(self, text: str, lang: str | None) -> tuple[float | None, SentimentLabel | None]:
        if lang != "en" or not text.strip():
            return None, None
        compound = float(self._vader.polarity_scores(text[:MAX_CHARS])["compound"])
        return compound, label_for(compound)
