"""The German sentiment data sets keep their promised shape, and the harness's metrics are right.

Accuracy figures are measured by bench/sentiment.py and reported, never asserted here.
"""

from __future__ import annotations

import importlib.util
import io
import json
import re
import sys
from collections import Counter
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data"
DEV = "sentiment_de_dev.jsonl"
TWEETS = "sentiment_de_heldout_tweets.jsonl"
REVIEWS = "sentiment_de_heldout_reviews.jsonl"
FILES = {DEV: "dev", TWEETS: "tweets", REVIEWS: "reviews"}
LABELS = {"negative", "neutral", "positive"}
KINDS = {"complaint", "praise", "question", "info", "sarcasm", "negation", "mixed", "comparison", "slang", "emoji"}
DOMAINS = {"energy", "telecom", "retail", "food", "transport", "banking", "software", "travel", "other"}
STARS = {"negative": {1, 2}, "neutral": {3}, "positive": {4, 5}}
# Brands of the dev set: the held-out sets must use other ones, so that they measure generalisation.
DEV_BRANDS = ["Voltaro", "Kaffeekranz", "Nordbahn", "Telemaxx", "Lieferheld24", "FitPro", "Stadtbank Elbtal",
              "Funkwelle", "Modehaus Brandt", "Bücherwurm", "Sonnenklar", "Cloudbox", "Kontora"]


def load(name: str) -> list[dict[str, Any]]:
    rows = []
    for n, line in enumerate((DATA / name).read_text("utf-8").splitlines(), 1):
        assert line.strip(), f"{name}:{n}: blank line"
        rows.append(json.loads(line))
    return rows


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_sentiment", ROOT / "bench" / "sentiment.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


def share(rows: list[dict[str, Any]], label: str) -> float:
    return sum(r["label"] == label for r in rows) / len(rows)


# ---------------------------------------------------------------------------------------------- data

@pytest.mark.parametrize("name", list(FILES))
def test_every_line_has_exactly_the_promised_fields(name: str) -> None:
    required = {"id", "text", "label", "kind", "domain", "split"}
    for row in load(name):
        keys = set(row)
        allowed = required | ({"stars"} if name == REVIEWS else set())
        assert required <= keys <= allowed, row
        assert re.fullmatch(rf"{FILES[name]}-\d{{4}}", row["id"]), row["id"]
        assert isinstance(row["text"], str) and row["text"] == row["text"].strip() and row["text"], row
        assert len(row["text"]) <= 600, row["id"]
        assert row["label"] in LABELS, row
        assert row["kind"] in KINDS, row
        assert row["domain"] in DOMAINS, row


def test_ids_are_unique_across_files() -> None:
    ids = [row["id"] for name in FILES for row in load(name)]
    assert [i for i, n in Counter(ids).items() if n > 1] == []


def test_texts_are_unique_across_files() -> None:
    def norm(text: str) -> str:
        return re.sub(r"\s+", " ", text.casefold()).strip()

    texts = [norm(row["text"]) for name in FILES for row in load(name)]
    assert [t for t, n in Counter(texts).items() if n > 1] == []


def test_dev_set_size_balance_and_coverage() -> None:
    rows = load(DEV)
    assert len(rows) >= 660
    for label in LABELS:
        assert 0.30 <= share(rows, label) <= 0.36, label
    assert set(Counter(r["kind"] for r in rows)) == KINDS
    assert set(Counter(r["domain"] for r in rows)) == DOMAINS
    assert min(Counter(r["kind"] for r in rows).values()) >= 20


def test_dev_check_split_is_a_stratified_quarter() -> None:
    rows = load(DEV)
    assert {r["split"] for r in rows} == {"tune", "check"}
    for label in LABELS:
        of_label = [r for r in rows if r["label"] == label]
        checked = sum(r["split"] == "check" for r in of_label)
        assert 0.22 <= checked / len(of_label) <= 0.28, label


def test_heldout_tweets_are_neutral_heavy() -> None:
    rows = load(TWEETS)
    assert len(rows) >= 300
    assert {r["split"] for r in rows} == {"heldout"}
    assert 0.45 <= share(rows, "neutral") <= 0.55
    assert 0.20 <= share(rows, "negative") <= 0.30
    assert 0.20 <= share(rows, "positive") <= 0.30
    assert len({r["domain"] for r in rows}) >= 6
    assert max(len(r["text"]) for r in rows) <= 280  # tweet-sized


def test_heldout_reviews_balance_and_stars() -> None:
    rows = load(REVIEWS)
    assert len(rows) >= 300
    assert {r["split"] for r in rows} == {"heldout"}
    assert 0.35 <= share(rows, "negative") <= 0.45
    assert 0.15 <= share(rows, "neutral") <= 0.25
    assert 0.35 <= share(rows, "positive") <= 0.45
    assert len({r["domain"] for r in rows}) >= 6
    for row in rows:
        if "stars" in row:
            assert row["stars"] in STARS[row["label"]], row


@pytest.mark.parametrize("name", [TWEETS, REVIEWS])
def test_heldout_sets_use_other_brands_than_dev(name: str) -> None:
    pattern = re.compile(r"\b(" + "|".join(map(re.escape, DEV_BRANDS)) + r")\b", re.IGNORECASE)
    assert [r["id"] for r in load(name) if pattern.search(r["text"])] == []
    assert any(pattern.search(r["text"]) for r in load(DEV))  # the pattern itself does match


def test_readme_counts_match_the_files() -> None:
    readme = (DATA / "README.md").read_text("utf-8")
    table = {m[0].strip(): tuple(int(x) for x in m[1:]) for m in
             re.findall(r"^\| (sentiment_de_[^|]+)\| (\d+) \| (\d+) \| (\d+) \| (\d+) \|$", readme, re.M)}
    expected: dict[str, tuple[int, ...]] = {}
    for name in FILES:
        rows = load(name)
        groups = [(f"{name} ({s})", [r for r in rows if r["split"] == s]) for s in ("tune", "check")]
        for key, group in ([*groups, (name, rows)] if name == DEV else [(name, rows)]):
            c = Counter(r["label"] for r in group)
            expected[key] = (c["negative"], c["neutral"], c["positive"], len(group))
    assert table == expected


# ---------------------------------------------------------------------------------------------- metrics

GOLD = ["negative"] * 3 + ["neutral"] * 2 + ["positive"] * 5
PRED = ["negative", "negative", "neutral",   # 2 right, 1 called neutral
        "neutral", "positive",               # 1 right, 1 called positive
        "positive", "positive", "positive", "negative", "neutral"]  # 3 right, 1 negative, 1 neutral


def test_confusion_accuracy_and_f1_on_a_hand_computed_table(bench: ModuleType) -> None:
    assert bench.confusion(GOLD, PRED) == {
        ("negative", "negative"): 2, ("negative", "neutral"): 1, ("neutral", "neutral"): 1,
        ("neutral", "positive"): 1, ("positive", "positive"): 3, ("positive", "negative"): 1,
        ("positive", "neutral"): 1}
    assert bench.accuracy(GOLD, PRED) == pytest.approx(0.6)
    # negative: P 2/3, R 2/3; neutral: P 1/3, R 1/2 -> 0.4; positive: P 3/4, R 3/5 -> 2/3
    assert bench.f1_per_label(GOLD, PRED) == pytest.approx({"negative": 2 / 3, "neutral": 0.4, "positive": 2 / 3})
    assert bench.macro_f1(GOLD, PRED) == pytest.approx(26 / 45)


def test_macro_f1_counts_a_never_predicted_label_as_zero(bench: ModuleType) -> None:
    gold = ["positive", "positive", "negative", "neutral"]
    pred = ["positive", "positive", "positive", "positive"]
    # positive: P 2/4, R 2/2 -> 2/3; the other two labels have no true positives
    assert bench.f1_per_label(gold, pred) == pytest.approx({"negative": 0.0, "neutral": 0.0, "positive": 2 / 3})
    assert bench.macro_f1(gold, pred) == pytest.approx(2 / 9)
    # labels absent from both gold and pred are left out unless asked for, as sklearn does
    assert bench.macro_f1(["positive", "negative"], ["positive", "negative"]) == pytest.approx(1.0)
    assert bench.macro_f1(["positive", "negative"], ["positive", "negative"], bench.LABELS) == pytest.approx(2 / 3)
    assert bench.macro_f1([], []) == 0.0
    with pytest.raises(ValueError):
        bench.confusion(["positive"], [])


def test_thresholds_match_vader_and_the_realistic_neutral_band(bench: ModuleType) -> None:
    assert [bench.label_for_score(x) for x in (0.05, 0.0499, -0.0499, -0.05, 0.9, -0.9)] == [
        "positive", "neutral", "neutral", "negative", "positive", "negative"]
    # gold: mean rating on -4..4, scaled by 1/4, strictly outside +-0.05 is polar
    assert [bench.gold_from_mean(x) for x in (0.2, 0.21, -0.2, -0.21, 0.0, 3.5, -2.0)] == [
        "neutral", "positive", "neutral", "negative", "neutral", "positive", "negative"]


def test_groundtruth_loader_reads_crlf_tab_lines(bench: ModuleType, tmp_path: Path) -> None:
    path = tmp_path / "gt.txt"
    path.write_bytes(b"1\t2.5\tGreat day!\r\n2\t-1.0\tnot\tgood\r\n\r\n3\t0.1\tmeh")
    assert bench.load_groundtruth(path) == [("Great day!", "positive"), ("not\tgood", "negative"),
                                            ("meh", "neutral")]


def test_lexicon_average_uses_only_known_words(bench: ModuleType) -> None:
    lexicon = {"gut": 1.0, "schlecht": -1.0, "okay": 0.2}
    assert bench.lexicon_average(lexicon, "Gut, gut und okay!") == pytest.approx(2.2 / 3)
    assert bench.lexicon_average(lexicon, "Schlecht, aber gut") == 0.0
    assert bench.lexicon_average(lexicon, "nichts davon") == 0.0


def test_missing_or_failing_systems_become_rows_not_crashes(bench: ModuleType) -> None:
    ds = bench.Dataset("tiny", "de", "tune", [("gut", "positive"), ("schlecht", "negative")])

    def broken(text: str) -> str:
        raise RuntimeError("half finished")

    missing = bench.evaluate(ds, bench.System("ours", None, "not available: no module"))
    failed = bench.evaluate(ds, bench.System("ours", broken))
    ok = bench.evaluate(ds, bench.System("always positive", lambda text: "positive"))  # macro-F1 over 3 labels
    assert (missing["available"], missing["note"]) == (False, "not available: no module")
    assert failed["available"] is False and failed["note"] == "failed: RuntimeError: half finished"
    assert ok["available"] is True and ok["accuracy"] == 0.5 and ok["macro_f1"] == pytest.approx(2 / 9)
    out = io.StringIO()
    report = {"ours": {"de": "test"}, "results": [missing, failed, ok], "speed": {"available": False,
                                                                                  "note": "not available: x"}}
    bench.print_table(report, out)
    text = out.getvalue()
    assert "not available: no module" in text and "failed: RuntimeError" in text and "0.500" in text


def test_harness_runs_end_to_end_as_json(bench: ModuleType, capsys: pytest.CaptureFixture[str]) -> None:
    assert bench.main(["--json", "--limit", "4"]) == 0
    report = json.loads(capsys.readouterr().out)
    rows = report["results"]
    datasets = {(r["dataset"], r["split"]) for r in rows}
    assert ("de dev", "tune") in datasets and ("de dev", "check") in datasets
    assert ("de heldout tweets", "heldout") in datasets and ("de heldout reviews", "heldout") in datasets
    assert ("vader tweets", "all") in datasets
    assert {r["system"] for r in rows if r["lang"] == "de"} == {"plain VADER on German", "lexicon average", "ours"}
    assert {r["system"] for r in rows if r["lang"] == "en"} == {"plain VADER", "ours"}
    for r in rows:
        assert r["available"] or r["note"], r
        if r["available"]:
            assert r["n"] == 4 and 0.0 <= r["accuracy"] <= 1.0 and set(r["f1"]) == LABELS
    assert set(report["ours"]) == {"de", "en"}
