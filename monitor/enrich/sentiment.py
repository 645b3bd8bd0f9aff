"""Sentiment: one router, one backend per language, a confidence with every score.

* English: VADER (MIT). German: the rule-based analyser in ``german.py``. Any language: an optional
  Hugging Face model (extra ``[transformers]``). A language without a backend stays *unscored*: English
  VADER on German text is harmful (it scores "die" and "war" as strongly negative).
* Every result has ``score`` (-1..1), ``label`` (with a neutral band) and ``confidence`` (0..1), so the
  dashboard can say "uncertain" instead of showing a wrong colour.
* Brand-targeted: with brand terms, the sentences that name the brand are scored too (``target_score``);
  "Acme is great, unlike their competitor's awful app" is positive for Acme.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

from ..errors import ConfigError
from ..models import SentimentLabel

MAX_CHARS = 2000
VADER_BAND = 0.05          # VADER's own recommended neutral band for the compound score

# Irony markers in English posts: they do not flip VADER's score, they make it less certain.
_EN_IRONY = re.compile(
    r"(?:^|\s)/s\b|\byeah,? right\b|\bas if\b|\bsure,? (?:great|thanks)\b|\bthanks for nothing\b|"
    r"[\"“‘'](?:great|amazing|excellent|awesome|perfect|wonderful|fantastic|brilliant|helpful)[\"”’']|🙃|🙄",
    re.IGNORECASE)
_SENTENCE = re.compile(r"(?<=[.!?…])\s+|\n+")
_WORD = re.compile(r"\w+", re.UNICODE)


@dataclass(frozen=True, slots=True)
class SentimentResult:
    score: float | None
    label: SentimentLabel | None
    confidence: float | None
    target_score: float | None = None
    backend: str | None = None


UNSCORED = SentimentResult(None, None, None)


class Backend(Protocol):
    name: str

    def analyze(self, text: str) -> tuple[float, SentimentLabel, float]: ...


def label_for(score: float, band: float = VADER_BAND) -> SentimentLabel:
    if score >= band:
        return "positive"
    if score <= -band:
        return "negative"
    return "neutral"


class VaderBackend:
    """VADER's compound, its standard ±0.05 band, and a confidence from how much sentiment it saw."""

    name = "vader"

    def __init__(self, neutral_band: float | None = None) -> None:
        self._vader = SentimentIntensityAnalyzer()
        self.band = VADER_BAND if neutral_band is None else neutral_band

    def analyze(self, text: str) -> tuple[float, SentimentLabel, float]:
        s = self._vader.polarity_scores(text[:MAX_CHARS])
        compound = float(s["compound"])
        label = label_for(compound, self.band)
        pos, neg = float(s["pos"]), float(s["neg"])
        if label == "neutral":
            # Neutral is certain when little sentiment was seen and less so near the band's edge.
            confidence = 0.55 + 0.4 * (1 - min(1.0, (pos + neg) * 2)) * (1 - abs(compound) / max(self.band, 1e-9))
        else:
            margin = min(1.0, (abs(compound) - self.band) / 0.5)
            agree = (pos if compound > 0 else neg) / max(pos + neg, 1e-9)   # 1 when the evidence does not conflict
            confidence = 0.35 + 0.35 * margin + 0.3 * (agree - 0.5) * 2
        if _EN_IRONY.search(text):
            confidence *= 0.5
        return compound, label, round(max(0.0, min(1.0, confidence)), 3)


class LexiconBackend:
    """German rule-based analyser (see german.py)."""

    name = "lexicon"

    def __init__(self, neutral_band: float | None = None) -> None:
        from .german import NEUTRAL_BAND, GermanSentiment

        self._de = GermanSentiment(neutral_band=NEUTRAL_BAND if neutral_band is None else neutral_band)

    def analyze(self, text: str) -> tuple[float, SentimentLabel, float]:
        r = self._de.analyze(text)
        return r.compound, r.label, r.confidence


class TransformersBackend:
    """A Hugging Face sequence-classification model, by hub name or local folder (extra ``[transformers]``).

    The score is P(positive) - P(negative); the label is the most probable class, neutral when the model has
    one and wins, else by ``neutral_band`` on the score; confidence is the winning probability.
    """

    name = "transformers"

    def __init__(self, model: str, *, neutral_band: float | None = None, device: str = "cpu",
                 max_length: int = 256, key: str = "sentiment") -> None:
        try:
            import torch
            from transformers import AutoModelForSequenceClassification, AutoTokenizer
        except ImportError as exc:
            raise ConfigError(f"the transformers backend needs the extra: pip install 'brand-monitor[transformers]' "
                              f"({exc.name} is missing)", key=key) from None
        try:
            from transformers.utils import logging as hf_logging

            hf_logging.disable_progress_bar()
        except ImportError:
            pass
        folder = Path(model).expanduser()
        if (folder.is_absolute() or model.startswith((".", "~"))) and not folder.is_dir():
            raise ConfigError(f"sentiment model folder {model!r} does not exist", key=key)
        source = str(folder) if folder.is_dir() else model
        try:
            self._tokenizer = AutoTokenizer.from_pretrained(source)
            self._model = AutoModelForSequenceClassification.from_pretrained(source)
        except (OSError, ValueError) as exc:
            raise ConfigError(f"cannot load sentiment model {model!r}: {str(exc).splitlines()[0]}",
                              key=key) from None
        self._model.eval()
        self._model.to(device)
        self._torch = torch
        self.device = device
        # Never more tokens than the model has positions: a longer input would crash in its embeddings.
        limits = [v for v in (getattr(self._tokenizer, "model_max_length", None),
                              getattr(self._model.config, "max_position_embeddings", None))
                  if isinstance(v, int) and 0 < v < 1_000_000]
        self.max_length = min([max_length, *limits[:1]])
        self.band = 0.2 if neutral_band is None else neutral_band
        self._roles = self._label_roles(self._model.config.id2label)

    @staticmethod
    def _label_roles(id2label: Mapping[int, str]) -> dict[int, str]:
        roles: dict[int, str] = {}
        for idx, raw in id2label.items():
            name = str(raw).lower()
            if name.startswith("neg") or name in ("1 star", "2 stars"):
                roles[int(idx)] = "negative"
            elif name.startswith("pos") or name in ("4 stars", "5 stars"):
                roles[int(idx)] = "positive"
            elif name.startswith("neu") or name in ("3 stars",):
                roles[int(idx)] = "neutral"
        if len(roles) < 2:  # LABEL_0..2 convention: negative, neutral, positive (or negative, positive)
            n = len(id2label)
            order = ["negative", "neutral", "positive"] if n == 3 else ["negative", "positive"]
            roles = {i: order[i] for i in range(min(n, len(order)))}
        return roles

    def analyze(self, text: str) -> tuple[float, SentimentLabel, float]:
        torch = self._torch
        enc = self._tokenizer(text[:MAX_CHARS * 2], truncation=True, max_length=self.max_length,
                              return_tensors="pt").to(self.device)
        with torch.no_grad():
            probs = torch.softmax(self._model(**enc).logits[0], dim=-1).tolist()
        p = {"negative": 0.0, "neutral": 0.0, "positive": 0.0}
        for idx, prob in enumerate(probs):
            role = self._roles.get(idx)
            if role:
                p[role] += float(prob)
        score = max(-1.0, min(1.0, p["positive"] - p["negative"]))
        best = max(p, key=lambda k: p[k])
        has_neutral = any(r == "neutral" for r in self._roles.values())
        label: SentimentLabel = best if has_neutral else label_for(score, self.band)  # type: ignore[assignment]
        return round(score, 4), label, round(p[best], 3)


def build_backend(lang: str, settings: Any) -> Backend | None:
    backend = getattr(settings, "backend", settings)
    band = getattr(settings, "neutral_band", None)
    if backend == "none":
        return None
    if backend == "vader":
        return VaderBackend(band)
    if backend == "lexicon":
        return LexiconBackend(band)
    if backend == "transformers":
        return TransformersBackend(settings.model, neutral_band=band, device=getattr(settings, "device", "cpu"),
                                   max_length=getattr(settings, "max_length", 256),
                                   key=f"sentiment.{lang}.model")
    raise ConfigError(f"unknown sentiment backend {backend!r}", key=f"sentiment.{lang}.backend")


def sentences_naming(text: str, terms: Sequence[Sequence[str]]) -> list[str]:
    """The sentences that contain one of ``terms`` (normalised token sequences; a trailing '*' is a prefix)."""
    from ..query import tokenize

    out = []
    for sentence in _SENTENCE.split(text):
        tokens = tokenize(sentence)
        if any(_contains(tokens, term) for term in terms):
            out.append(sentence.strip())
    return out


def _contains(tokens: list[str], term: Sequence[str]) -> bool:
    n = len(term)
    if not n:
        return False
    last = term[-1]
    prefix = last.endswith("*")
    head = last[:-1] if prefix else last
    if n == 1:
        return any(t.startswith(head) for t in tokens) if prefix else head in tokens
    first, size, i = term[0], len(tokens), -1
    # Only where the first word occurs: list.index scans in C, a Python loop over every token does not.
    while True:
        try:
            i = tokens.index(first, i + 1)
        except ValueError:
            return False
        if i + n > size:
            return False
        if all(tokens[i + k] == term[k] for k in range(1, n - 1)):
            tok = tokens[i + n - 1]
            if tok == head or (prefix and tok.startswith(head)):
                return True


class SentimentScorer:
    """Routes by language. Backends load once, lazily, so an unused model costs nothing."""

    def __init__(self, settings: Mapping[str, Any] | None = None) -> None:
        from ..config import DEFAULT_SENTIMENT

        self.settings = dict(DEFAULT_SENTIMENT if settings is None else settings)
        self._backends: dict[str, Backend | None] = {}

    @property
    def languages(self) -> tuple[str, ...]:
        return tuple(lang for lang, s in self.settings.items() if getattr(s, "backend", s) != "none")

    def backend(self, lang: str | None) -> Backend | None:
        if not lang or lang not in self.settings:
            return None
        if lang not in self._backends:
            self._backends[lang] = build_backend(lang, self.settings[lang])
        return self._backends[lang]

    def analyze(self, text: str, lang: str | None, *,
                brand_terms: Sequence[Sequence[str]] | Sequence[str] = ()) -> SentimentResult:
        backend = self.backend(lang)
        if backend is None or not text.strip():
            return UNSCORED
        score, label, confidence = backend.analyze(text)
        target: float | None = None
        if brand_terms:
            terms = [tuple(_terms(t)) for t in brand_terms]
            named = sentences_naming(text, terms)
            if named:
                target = score if len(named) == len(_SENTENCE.split(text.strip())) \
                    else backend.analyze(" ".join(named))[0]
        return SentimentResult(score, label, confidence, target, backend.name)

    def score(self, text: str, lang: str | None) -> tuple[float | None, SentimentLabel | None]:
        r = self.analyze(text, lang)
        return r.score, r.label


def _terms(term: Sequence[str] | str) -> list[str]:
    if isinstance(term, str):
        from ..query import tokenize

        toks = tokenize(term)
        return toks[:-1] + [toks[-1] + "*"] if term.endswith("*") and toks else toks
    return list(term)

