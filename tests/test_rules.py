"""Rule files: the examples load, every mistake is one `file:line: key: problem` line."""

from __future__ import annotations

import logging
import textwrap
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from monitor.alerts.rules import DEFAULT_REALERT, Rule, RuleFilter, load_rule, load_rules, url_ref
from monitor.errors import RuleError
from monitor.models import Author, Mention, mention_id
from monitor.timeparse import format_duration, parse_duration

RULES_DIR = Path(__file__).resolve().parents[1] / "rules"
GROUPS = {"managers", "oncall"}


def write(tmp_path: Path, text: str, name: str = "rule.yaml") -> Path:
    p = tmp_path / name
    p.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return p


def error_of(path: Path, groups: set[str] | None = GROUPS) -> str:
    with pytest.raises(RuleError) as info:
        load_rule(path, groups=groups)
    return str(info.value)


# -- example rules ---------------------------------------------------------------------------------

@pytest.mark.parametrize("path", sorted(RULES_DIR.glob("*.yaml")), ids=lambda p: p.name)
def test_each_example_rule_loads(path: Path) -> None:
    rule = load_rule(path, groups=GROUPS)
    assert rule.warnings == ()
    assert rule.alert and set(rule.alert) <= GROUPS


def test_example_rules_have_the_documented_settings() -> None:
    rules, errors = load_rules([RULES_DIR], groups=GROUPS)
    assert errors == []
    by_name = {r.name: r for r in rules}
    spike = by_name["Negative spike"]
    assert (spike.type, spike.timeframe, spike.spike_height, spike.threshold_cur, spike.realert) == (
        "spike", timedelta(hours=1), 3.0, 5, timedelta(hours=1))
    assert spike.filter.sentiments == ("negative",) and spike.alert == ("managers", "oncall")
    burst = by_name["Negative burst"]
    assert (burst.type, burst.num_events, burst.filter.query) == (
        "frequency", 10, "outage OR Stromausfall OR refund")
    every = by_name["Every mention"]
    assert every.type == "any" and every.is_enabled is False and every.realert == timedelta(0)


def test_a_full_rule_round_trips_every_key(tmp_path: Path) -> None:
    p = write(tmp_path, """
        name: Crisis words
        description: outage talk
        type: frequency
        is_enabled: true
        filter: {brand: [Acme, Globex], source: reddit, sentiment: [negative, unscored], lang: DE,
                 author: "@Troll", query: 'outage OR "kein strom"'}
        query_key: source
        timeframe: {minutes: 30, seconds: 5}
        num_events: 4
        realert: 2h
        alert: [managers, "json://127.0.0.1:9/hook"]
        alert_subject: "{0} mentions about {1}"
        alert_subject_args: [count, rule]
        alert_text: "First: {0}"
        alert_text_args: [title]
    """)
    rule = load_rule(p, groups=GROUPS)
    assert rule.filter == RuleFilter(brands=("Acme", "Globex"), sources=("reddit",),
                                     sentiments=("negative", "unscored"), langs=("de",), authors=("@Troll",),
                                     query='outage OR "kein strom"')
    assert rule.timeframe == timedelta(minutes=30, seconds=5) and rule.num_events == 4
    assert rule.query_key == "source" and rule.realert == timedelta(hours=2)
    assert rule.alert_subject_args == ("count", "rule") and rule.alert_text_args == ("title",)
    assert rule.target_refs == ("managers", url_ref("json://127.0.0.1:9/hook"))
    assert "json://" not in repr(rule)          # inline URLs may carry secrets
    assert rule.line == 1 and rule.file == str(p)


def test_defaults_follow_elastalert(tmp_path: Path) -> None:
    rule = load_rule(write(tmp_path, "name: x\ntype: any\n"))
    assert rule.realert == DEFAULT_REALERT == timedelta(minutes=1)
    assert rule.is_enabled and rule.filter == RuleFilter() and rule.alert == ()


def test_inline_url_expands_environment_variables(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOOK_TOKEN", "s3cret")
    rule = load_rule(write(tmp_path, "name: x\ntype: any\nalert: ['json://127.0.0.1:9/${HOOK_TOKEN}']\n"))
    assert rule.alert == ("json://127.0.0.1:9/s3cret",)
    monkeypatch.delenv("HOOK_TOKEN")
    msg = error_of(write(tmp_path, "name: x\ntype: any\nalert:\n  - 'json://127.0.0.1:9/${HOOK_TOKEN}'\n"))
    assert msg == f"{tmp_path / 'rule.yaml'}:4: alert[0]: environment variable HOOK_TOKEN is not set"


# -- errors: file:line: key: problem ---------------------------------------------------------------

ERROR_CASES = [
    ("missing name", "type: any\nalert: [managers]\n", 1, "name", "required: every rule needs a unique name"),
    ("name not a string", "name: [a]\ntype: any\n", 1, "name", "must be a non-empty string"),
    ("missing type", "name: x\n", 1, "type", "required (known types: any, frequency, spike)"),
    ("unknown type", "name: x\n\ntype: flatline\n", 3, "type",
     "unknown rule type 'flatline' (known: any, frequency, spike)"),
    ("frequency without timeframe", "name: x\ntype: frequency\nnum_events: 3\n", 2, "timeframe",
     "required by rule type frequency"),
    ("frequency without num_events", "name: x\ntype: frequency\ntimeframe: 1h\n", 2, "num_events",
     "required by rule type frequency"),
    ("spike without spike_height", "name: x\ntype: spike\ntimeframe: 1h\nspike_type: up\n", 2, "spike_height",
     "required by rule type spike"),
    ("spike without timeframe", "name: x\ntype: spike\nspike_height: 2\nspike_type: up\n", 2, "timeframe",
     "required by rule type spike"),
    ("spike without spike_type", "name: x\ntype: spike\nspike_height: 2\ntimeframe: 1h\n", 2, "spike_type",
     "required by rule type spike"),
    ("bad spike_type", "name: x\ntype: spike\nspike_height: 2\ntimeframe: 1h\nspike_type: sideways\n", 5,
     "spike_type", "must be one of up, down, both, got 'sideways'"),
    ("bad spike_height", "name: x\ntype: spike\nspike_height: 0\ntimeframe: 1h\nspike_type: up\n", 3,
     "spike_height", "must be a number > 0, got 0"),
    ("bad num_events", "name: x\ntype: frequency\ntimeframe: 1h\nnum_events: 0\n", 4, "num_events",
     "must be a whole number >= 1, got 0"),
    ("bad threshold", "name: x\ntype: spike\nspike_height: 2\nspike_type: up\ntimeframe: 1h\n"
     "threshold_cur: -1\n", 6, "threshold_cur", "must be a whole number >= 0, got -1"),
    ("bad duration", "name: x\ntype: frequency\nnum_events: 2\n\ntimeframe: 1 hour\n", 5, "timeframe",
     "expected a duration like 90s, 10m, 1h, 7d, 1h30m or {hours: 1}, got '1 hour'"),
    ("bad duration mapping", "name: x\ntype: frequency\nnum_events: 2\ntimeframe: {hourz: 1}\n", 4,
     "timeframe", "duration keys must be among weeks, days, hours, minutes, seconds, milliseconds, "
     "got ['hourz']"),
    ("zero timeframe", "name: x\ntype: frequency\nnum_events: 2\ntimeframe: 0\n", 4, "timeframe",
     "must be longer than zero"),
    ("negative realert", "name: x\ntype: any\nrealert: {minutes: -5}\n", 3, "realert",
     "a duration cannot be negative, got {'minutes': -5}"),
    ("bad query", "name: x\ntype: any\nfilter:\n  sentiment: negative\n  query: '(outage OR'\n", 5,
     "filter.query", None),
    ("unknown filter field", "name: x\ntype: any\nfilter:\n  brand: Acme\n  mood: angry\n", 5, "filter.mood",
     "unknown filter field (known: brand, source, sentiment, lang, author, query)"),
    ("bad sentiment", "name: x\ntype: any\nfilter: {sentiment: furious}\n", 3, "filter.sentiment",
     "unknown sentiment 'furious' (known: negative, neutral, positive, unscored)"),
    ("dsl filter list", "name: x\ntype: any\nfilter:\n- term: {status: 404}\n", 3, "filter", None),
    ("unknown group", "name: x\ntype: any\nalert:\n  - managers\n  - pager\n", 5, "alert[1]",
     "unknown notify group 'pager' (known: managers, oncall)"),
    ("bad apprise url", "name: x\ntype: any\nalert: ['nosuchscheme://x']\n", 3, "alert[0]",
     "not a valid apprise URL"),
    ("unknown query_key", "name: x\ntype: any\nquery_key: hostname\n", 3, "query_key", None),
    ("bad template", "name: x\ntype: any\nalert_subject: '{0} and {1}'\nalert_subject_args: [rule]\n", 3,
     "alert_subject", "placeholder {1} needs at least 2 args, got 1"),
    ("named placeholder", "name: x\ntype: any\nalert_text: 'hi {title}'\n", 3, "alert_text", None),
    ("unknown template arg", "name: x\ntype: any\nalert_text: '{0}'\nalert_text_args: [hostname]\n", 4,
     "alert_text_args", None),
    ("is_enabled not bool", "name: x\ntype: any\nis_enabled: 'no'\n", 3, "is_enabled",
     "must be true or false"),
    ("invalid yaml", "name: x\ntype: any\nfilter: {brand: [Acme}\n", 3, None, None),
    ("not a mapping", "- name: x\n", 1, None, "a rule must be a mapping of keys"),
]


@pytest.mark.parametrize(("case", "text", "line", "key", "problem"), ERROR_CASES,
                         ids=[c[0] for c in ERROR_CASES])
def test_error_is_one_located_line(tmp_path: Path, case: str, text: str, line: int, key: str | None,
                                   problem: str | None) -> None:
    p = write(tmp_path, text)
    msg = error_of(p)
    prefix = f"{p}:{line}: " + (f"{key}: " if key else "")
    assert msg.startswith(prefix), msg
    assert "\n" not in msg
    if problem is not None:
        assert msg == prefix + problem


def test_query_error_keeps_the_column(tmp_path: Path) -> None:
    msg = error_of(write(tmp_path, "name: x\ntype: any\nfilter: {query: 'outage OR'}\n"))
    assert "column" in msg and "'outage OR'" in msg


def test_groups_are_not_checked_when_unknown(tmp_path: Path) -> None:
    rule = load_rule(write(tmp_path, "name: x\ntype: any\nalert: [pager]\n"), groups=None)
    assert rule.alert == ("pager",)


def test_empty_and_missing_files(tmp_path: Path) -> None:
    assert error_of(write(tmp_path, "")) == f"{tmp_path / 'rule.yaml'}:1: the rule file is empty"
    assert error_of(tmp_path / "nope.yaml") == f"{tmp_path / 'nope.yaml'}: file not found"


def test_unknown_key_warns_and_names_it(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    p = write(tmp_path, "name: x\ntype: any\nindex: logstash-*\nnum_events: 3\n")
    with caplog.at_level(logging.WARNING, logger="monitor.alerts.rules"):
        rule = load_rule(p)
    assert rule.warnings == (f"{p}:3: index: unknown key, ignored",
                             f"{p}:4: num_events: not used by rule type any, ignored")
    assert [r.getMessage() for r in caplog.records] == list(rule.warnings)


# -- load_rules ------------------------------------------------------------------------------------

def test_load_rules_keeps_going_past_bad_files(tmp_path: Path) -> None:
    folder = tmp_path / "rules"
    folder.mkdir()
    write(folder, "name: A\ntype: any\n", "a.yaml")
    write(folder, "name: B\ntype: nope\n", "b.yml")
    write(folder, "name: C\ntype: any\n", "c.yaml")
    write(folder, "name: A\ntype: any\n", "d.yaml")
    write(folder, "not a rule", "notes.txt")
    extra = write(tmp_path, "name: E\ntype: any\n", "e.yaml")
    rules, errors = load_rules([folder, extra, tmp_path / "missing"])
    assert [r.name for r in rules] == ["A", "C", "E"]
    assert [e.one_line() for e in errors] == [
        f"{folder / 'b.yml'}:2: type: unknown rule type 'nope' (known: any, frequency, spike)",
        f"{folder / 'd.yaml'}:1: name: duplicate rule name 'A' (first in {folder / 'a.yaml'})",
        f"{tmp_path / 'missing'}: no such rule file or folder",
    ]


# -- RuleFilter.matches (pure) ---------------------------------------------------------------------

def mention(**kw: object) -> Mention:
    base: dict[str, object] = dict(
        source="reddit", source_name="reddit-acme", native_id="1", url="https://www.example.com/a",
        title="Acme outage again", text="", author=Author(handle="Jane"),
        published_at=datetime(2026, 1, 1, tzinfo=UTC), fetched_at=datetime(2026, 1, 1, tzinfo=UTC),
        lang="en", sentiment_label="negative", brands=("Acme",))
    base.update(kw)
    base["id"] = mention_id(str(base["source"]), str(base["native_id"]))
    return Mention(**base)  # type: ignore[arg-type]


@pytest.mark.parametrize(("flt", "expected"), [
    (RuleFilter(), True),
    (RuleFilter(brands=("Acme",)), True),
    (RuleFilter(brands=("acme",)), False),                 # brands are exact, as in the store
    (RuleFilter(sources=("REDDIT",)), True),                # source kind, case-insensitive
    (RuleFilter(sources=("reddit-acme",)), True),           # or the configured source name
    (RuleFilter(sources=("rss",)), False),
    (RuleFilter(sentiments=("negative", "positive")), True),
    (RuleFilter(sentiments=("unscored",)), False),
    (RuleFilter(langs=("de",)), False),
    (RuleFilter(authors=("jane",)), True),
    (RuleFilter(authors=("john",)), False),
    (RuleFilter(query="outage"), True),
    (RuleFilter(query="outage site:example.com"), True),
    (RuleFilter(query="refund"), False),
    (RuleFilter(brands=("Acme",), query="NOT outage"), False),
])
def test_rule_filter_matches(flt: RuleFilter, expected: bool) -> None:
    assert flt.matches(mention()) is expected


def test_unscored_mentions_match_the_unscored_sentiment() -> None:
    assert RuleFilter(sentiments=("unscored",)).matches(mention(sentiment_label=None))


def test_key_values_per_query_key() -> None:
    m = mention(brands=("Acme", "Globex"), author=Author(handle="@Jane"))
    def rule(qk: str | None, flt: RuleFilter | None = None) -> Rule:
        return Rule(name="r", type="any", query_key=qk, filter=flt or RuleFilter())
    assert rule(None).key_values(m) == [""]
    assert rule("brand").key_values(m) == ["Acme", "Globex"]
    assert rule("brand", RuleFilter(brands=("Globex",))).key_values(m) == ["Globex"]
    assert rule("site").key_values(m) == ["example.com"]
    assert rule("lang").key_values(m) == ["en"]
    assert rule("lang").key_values(mention(lang=None)) == []
    assert rule("sentiment").key_values(mention(sentiment_label=None)) == ["unscored"]
    assert rule("author").key_values(m) == rule("author").key_values(mention(author=Author(handle="jane")))


# -- durations ---------------------------------------------------------------------------------------

@pytest.mark.parametrize(("value", "expected"), [
    ("1h", timedelta(hours=1)), ("30m", timedelta(minutes=30)), ("7d", timedelta(days=7)),
    ("90s", timedelta(seconds=90)), ("2w", timedelta(weeks=2)), ("1h30m", timedelta(minutes=90)),
    (" 1H 30M ", timedelta(minutes=90)), ("1.5h", timedelta(minutes=90)), (0, timedelta(0)),
    ("0", timedelta(0)), (45, timedelta(seconds=45)),
    ({"hours": 1}, timedelta(hours=1)), ({"minutes": 30, "seconds": 5}, timedelta(minutes=30, seconds=5)),
    ({"milliseconds": 1500}, timedelta(seconds=1.5)),
])
def test_parse_duration(value: object, expected: timedelta) -> None:
    assert parse_duration(value) == expected


@pytest.mark.parametrize("value", [
    "", "1x", "h", "1h1h", "-5m", "1 hour", None, True, -3, float("nan"), float("inf"), [1],
    {}, {"hours": True}, {"hours": "1"}, {"hours": float("inf")}, {"hourz": 1}, {"hours": -1, "minutes": 90},
    "99999999999999d",
])
def test_parse_duration_rejects_with_a_message(value: object) -> None:
    with pytest.raises(ValueError, match=r"duration"):
        parse_duration(value)


def test_format_duration() -> None:
    assert [format_duration(timedelta(seconds=s)) for s in (3600, 5400, 86400, 90, 0)] == [
        "1h", "90m", "1d", "90s", "0s"]
