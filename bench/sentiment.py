"""Sentiment accuracy harness: how right are we in English and German, and how fast?

Figures are measured and printed, never asserted: tests check the data and the metric functions only.

English: VADER's human-rated ground truth (../shared/fixtures/sentiment/vader_groundtruth/), gold label
positive when mean/4 > 0.05, negative when < -0.05, else neutral (the realistic neutral band).
German: our own hand-written sets in tests/data/ (dev tune/check, held-out tweets and reviews).

Systems: plain VADER (on German too, to show the harm), a German lexicon-average baseline (textblob-de's
polarity lexicon, read as data, no textblob import), and "ours" (monitor.enrich). A system or data set
that is missing prints a "not available" row instead of failing.

    python bench/sentiment.py [--json] [--limit N]
"""

from __future__ import annotations

import argparse
import importlib
import importlib.metadata
import json
import re
import sys
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data"
GROUNDTRUTH = ROOT.parent / "shared" / "fixtures" / "sentiment" / "vader_groundtruth"
LABELS: tuple[str, ...] = ("negative", "neutral", "positive")
THRESHOLD = 0.05  # VADER's recommended band, used for every score -> label mapping here

ENGLISH_SETS = [
    ("vader tweets", "tweets_GroundTruth.txt"),
    ("vader movie reviews", "movieReviewSnippets_GroundTruth.txt"),
    ("vader amazon reviews", "amazonReviewSnippets_GroundTruth.txt"),
    ("vader nyt editorials", "nytEditorialSnippets_GroundTruth.txt"),
]
GERMAN_SETS = [
    ("de dev", "sentiment_de_dev.jsonl", "tune"),
    ("de dev", "sentiment_de_dev.jsonl", "check"),
    ("de heldout tweets", "sentiment_de_heldout_tweets.jsonl", None),
    ("de heldout reviews", "sentiment_de_heldout_reviews.jsonl", None),
]

Predict = Callable[[str], str]


# ---------------------------------------------------------------------------------------------- metrics

def label_for_score(score: float, threshold: float = THRESHOLD) -> str:
    """Compound-style score -> label, inclusive at the threshold as VADER's docs recommend."""
    if score >= threshold:
        return "positive"
    if score <= -threshold:
        return "negative"
    return "neutral"


def gold_from_mean(mean: float, threshold: float = THRESHOLD) -> str:
    """VADER ground truth is a mean rating on -4..4; strictly outside the band counts as polar."""
    scaled = mean / 4.0
    if scaled > threshold:
        return "positive"
    if scaled < -threshold:
        return "negative"
    return "neutral"


def confusion(gold: Sequence[str], pred: Sequence[str]) -> dict[tuple[str, str], int]:
    """Counts keyed by (gold, predicted)."""
    if len(gold) != len(pred):
        raise ValueError(f"gold has {len(gold)} labels but pred has {len(pred)}")
    table: dict[tuple[str, str], int] = {}
    for g, p in zip(gold, pred, strict=True):
        table[(g, p)] = table.get((g, p), 0) + 1
    return table


def accuracy(gold: Sequence[str], pred: Sequence[str]) -> float:
    table = confusion(gold, pred)
    total = sum(table.values())
    return sum(n for (g, p), n in table.items() if g == p) / total if total else 0.0


def f1_per_label(gold: Sequence[str], pred: Sequence[str],
                 labels: Iterable[str] = LABELS) -> dict[str, float]:
    """F1 per label; 0.0 where a label has no true positives (precision or recall undefined or 0)."""
    table = confusion(gold, pred)
    out: dict[str, float] = {}
    for label in labels:
        tp = table.get((label, label), 0)
        predicted = sum(n for (_g, p), n in table.items() if p == label)
        actual = sum(n for (g, _p), n in table.items() if g == label)
        out[label] = 2 * tp / (predicted + actual) if tp else 0.0
    return out


def macro_f1(gold: Sequence[str], pred: Sequence[str], labels: Iterable[str] | None = None) -> float:
    """Unweighted mean of per-label F1 over the labels that occur in gold or pred (like sklearn's default)."""
    chosen = sorted(set(gold) | set(pred)) if labels is None else list(labels)
    if not chosen:
        return 0.0
    scores = f1_per_label(gold, pred, chosen)
    return sum(scores.values()) / len(chosen)


# ---------------------------------------------------------------------------------------------- data

@dataclass
class Dataset:
    name: str
    lang: str
    split: str
    items: list[tuple[str, str]] = field(default_factory=list)  # (text, gold label)
    missing: str = ""


def load_groundtruth(path: Path) -> list[tuple[str, str]]:
    """`id TAB mean TAB text` lines; the files use CRLF and the last line has no newline."""
    items = []
    for line in path.read_text("utf-8", errors="replace").splitlines():
        parts = line.split("\t", 2)
        if len(parts) != 3 or not parts[2].strip():
            continue
        items.append((parts[2].strip(), gold_from_mean(float(parts[1]))))
    return items


def load_jsonl(path: Path, split: str | None = None) -> list[tuple[str, str]]:
    items = []
    for line in path.read_text("utf-8").splitlines():
        if line.strip():
            row = json.loads(line)
            if split is None or row["split"] == split:
                items.append((row["text"], row["label"]))
    return items


def datasets(limit: int | None) -> list[Dataset]:
    out: list[Dataset] = []
    for name, filename in ENGLISH_SETS:
        ds = Dataset(name, "en", "all")
        path = GROUNDTRUTH / filename
        if path.is_file():
            ds.items = load_groundtruth(path)[:limit]
        else:
            ds.missing = f"not available: {path} missing"
        out.append(ds)
    for name, filename, split in GERMAN_SETS:
        ds = Dataset(name, "de", split or "heldout")
        path = DATA / filename
        if path.is_file():
            ds.items = load_jsonl(path, split)[:limit]
        else:
            ds.missing = f"not available: {path} missing"
        out.append(ds)
    return out


# ---------------------------------------------------------------------------------------------- systems

@dataclass
class System:
    name: str
    predict: Predict | None
    note: str = ""


def _vader() -> Any:
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer
    return SentimentIntensityAnalyzer()


def plain_vader(name: str = "plain VADER") -> System:
    try:
        analyzer = _vader()
    except Exception as exc:
        return System(name, None, f"not available: {type(exc).__name__}: {exc}")
    return System(name, lambda text: label_for_score(analyzer.polarity_scores(text)["compound"]))


def german_lexicon() -> dict[str, float]:
    """textblob-de's polarity lexicon, read as data: importing textblob_de fails with current textblob."""
    path = Path(str(importlib.metadata.distribution("textblob-de").locate_file(
        "textblob_de/data/de-sentiment.xml")))
    sums: dict[str, list[float]] = {}
    for word in ET.parse(path).getroot().iter("word"):  # noqa: S314 - a file from an installed package
        form, polarity = word.get("form"), word.get("polarity")
        if form and polarity:
            sums.setdefault(form.casefold(), []).append(float(polarity))
    return {form: sum(values) / len(values) for form, values in sums.items()}


WORD = re.compile(r"\w+", re.UNICODE)


def lexicon_average(lexicon: dict[str, float], text: str) -> float:
    """Mean polarity of the words the lexicon knows; 0.0 when it knows none."""
    hits = [lexicon[w] for w in WORD.findall(text.casefold()) if w in lexicon]
    return sum(hits) / len(hits) if hits else 0.0


def lexicon_baseline() -> System:
    name = "lexicon average"
    try:
        lexicon = german_lexicon()
    except Exception as exc:
        return System(name, None, f"not available (pip install textblob-de): {type(exc).__name__}: {exc}")
    return System(name, lambda text: label_for_score(lexicon_average(lexicon, text)),
                  f"textblob-de lexicon, {len(lexicon)} forms")


def ours(lang: str) -> System:
    """SentimentScorer.analyze when it exists; else GermanSentiment (de) or VADER (en)."""
    scorer, reason = None, ""
    try:
        scorer = importlib.import_module("monitor.enrich.sentiment").SentimentScorer()
    except Exception as exc:
        reason = f"{type(exc).__name__}: {exc}"
    analyze = getattr(scorer, "analyze", None)
    if callable(analyze):
        return System("ours", lambda text: analyze(text, lang).label or "neutral",
                      "monitor.enrich.sentiment.SentimentScorer().analyze(text, lang)")
    if lang == "de":
        try:
            german = importlib.import_module("monitor.enrich.german").GermanSentiment()
        except Exception as exc:
            return System("ours", None, f"not available: monitor.enrich.german: {type(exc).__name__}: {exc}")
        own_label = getattr(german, "label_for", None)
        to_label: Callable[[float], str] = own_label if callable(own_label) else label_for_score
        how = "its label_for" if callable(own_label) else f"+-{THRESHOLD}"
        return System("ours", lambda text: str(to_label(german.polarity_scores(text)["compound"])),
                      f"monitor.enrich.german.GermanSentiment().polarity_scores (labels via {how})")
    if scorer is None:
        return System("ours", None, f"not available: monitor.enrich.sentiment: {reason}")
    fallback = plain_vader("ours")
    fallback.note = "VADER fallback (SentimentScorer has no analyze)"
    return fallback


def systems_for(lang: str, lexicon: System) -> list[System]:
    if lang == "en":
        return [plain_vader(), ours("en")]
    return [plain_vader("plain VADER on German"), lexicon, ours("de")]


# ---------------------------------------------------------------------------------------------- running

def evaluate(ds: Dataset, system: System) -> dict[str, Any]:
    row: dict[str, Any] = {"dataset": ds.name, "lang": ds.lang, "split": ds.split, "system": system.name,
                           "n": len(ds.items), "note": ds.missing or system.note}
    if ds.missing or system.predict is None or not ds.items:
        row["available"] = False
        if not ds.items and not ds.missing and system.predict is not None:
            row["note"] = "not available: no items"
        return row
    gold = [label for _text, label in ds.items]
    started = time.perf_counter()
    try:
        pred = [system.predict(text) for text, _label in ds.items]
    except Exception as exc:  # a half-finished analyser should cost one row, not the whole report
        row.update(available=False, note=f"failed: {type(exc).__name__}: {exc}")
        return row
    elapsed = time.perf_counter() - started
    row.update(available=True, accuracy=accuracy(gold, pred), macro_f1=macro_f1(gold, pred, LABELS),
               f1=f1_per_label(gold, pred), texts_per_s=len(pred) / elapsed if elapsed > 0 else None)
    return row


def _throughput(fn: Callable[[str], object], texts: Sequence[str], min_seconds: float = 0.5) -> float:
    """Repeat passes until the clock has something to measure; texts per second, one process."""
    done, started = 0, time.perf_counter()
    while True:
        for text in texts:
            fn(text)
        done += len(texts)
        elapsed = time.perf_counter() - started
        if elapsed >= min_seconds or done >= 50 * len(texts):
            return done / elapsed


def speed(limit: int | None) -> dict[str, Any]:
    """Language detection + sentiment on short texts: German held-out tweets and VADER's English tweets."""
    texts: list[str] = []
    for path, loader in ((DATA / "sentiment_de_heldout_tweets.jsonl", load_jsonl),
                         (GROUNDTRUTH / "tweets_GroundTruth.txt", load_groundtruth)):
        if path.is_file():
            texts += [text for text, _label in loader(path)[: limit or 400]]
    if not texts:
        return {"available": False, "note": "not available: no tweet data"}
    try:
        detector = importlib.import_module("monitor.enrich.language").LanguageDetector(["de", "en"])
    except Exception as exc:
        return {"available": False, "note": f"not available: language detector: {type(exc).__name__}: {exc}"}
    scorers = {"de": ours("de"), "en": ours("en")}

    def sentiment(text: str, lang: str | None) -> object:
        scorer = scorers.get(lang or "")
        return scorer.predict(text) if scorer and scorer.predict else None

    langs = {text: detector.detect(text) for text in texts}
    out: dict[str, Any] = {"available": True, "n": len(texts),
                           "langid_texts_per_s": _throughput(detector.detect, texts),
                           "sentiment_texts_per_s": _throughput(lambda t: sentiment(t, langs[t]), texts),
                           "both_texts_per_s": _throughput(lambda t: sentiment(t, detector.detect(t)), texts),
                           "ours": {lang: s.note for lang, s in scorers.items()}}
    return out


def run(limit: int | None) -> dict[str, Any]:
    lexicon = lexicon_baseline()
    systems = {"en": systems_for("en", lexicon), "de": systems_for("de", lexicon)}
    rows = [evaluate(ds, system) for ds in datasets(limit) for system in systems[ds.lang]]
    return {"ours": {lang: next(s.note for s in group if s.name == "ours") for lang, group in systems.items()},
            "results": rows, "speed": speed(limit)}


def _fmt(value: float | None, digits: int = 3) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def print_table(report: dict[str, Any], out: Any = sys.stdout) -> None:
    for lang, note in report["ours"].items():
        print(f"ours ({lang}): {note}", file=out)
    header = (f"{'dataset':<22} {'lang':<4} {'split':<8} {'system':<22} {'n':>6} {'acc':>6} {'macF1':>6} "
              f"{'F1neg':>6} {'F1neu':>6} {'F1pos':>6} {'texts/s':>9}")
    print(header, file=out)
    print("-" * len(header), file=out)
    for r in report["results"]:
        lead = f"{r['dataset']:<22} {r['lang']:<4} {r['split']:<8} {r['system']:<22} {r['n']:>6}"
        if not r["available"]:
            print(f"{lead} {r['note']}", file=out)
            continue
        f1 = r["f1"]
        print(f"{lead} {_fmt(r['accuracy']):>6} {_fmt(r['macro_f1']):>6} {_fmt(f1['negative']):>6} "
              f"{_fmt(f1['neutral']):>6} {_fmt(f1['positive']):>6} {_fmt(r['texts_per_s'], 0):>9}", file=out)
    s = report["speed"]
    if s["available"]:
        print(f"\nspeed on {s['n']} short texts (de + en tweets), one process: language detection "
              f"{s['langid_texts_per_s']:.0f}/s, sentiment {s['sentiment_texts_per_s']:.0f}/s, "
              f"both {s['both_texts_per_s']:.0f}/s", file=out)
    else:
        print(f"\nspeed: {s['note']}", file=out)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0] if __doc__ else None)
    parser.add_argument("--json", action="store_true", help="print one JSON object with all figures")
    parser.add_argument("--limit", type=int, default=None, metavar="N", help="use at most N texts per data set")
    args = parser.parse_args(argv)
    if args.limit is not None and args.limit < 1:
        parser.error("--limit must be at least 1")
    report = run(args.limit)
    if args.json:
        print(json.dumps(report, indent=2, ensure_ascii=False))
    else:
        print_table(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
