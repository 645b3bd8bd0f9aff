"""Alert rules: one YAML file each, ElastAlert 2 key names, validated up front with file:line errors.

A rule that loads is a rule the engine can run: every type-specific key, duration, query,
template and notify target is checked here, so a typo shows up in ``monitor rules check``
instead of as a silent alert that never fires.
"""

from __future__ import annotations

import hashlib
import logging
import string
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from pathlib import Path

import apprise

from ..errors import QuerySyntaxError, RuleError
from ..models import LABELS, Mention
from ..query import Doc, compile_query, key
from ..store.base import Filters
from ..timeparse import parse_duration
from ..yamlload import LineDict, LineList, expand_env, load_yaml_file
from .detectors import SPIKE_TYPES

log = logging.getLogger(__name__)

RULE_TYPES: tuple[str, ...] = ("any", "frequency", "spike")
QUERY_KEYS: tuple[str, ...] = ("brand", "source", "source_name", "site", "lang", "author", "sentiment")
FILTER_KEYS: tuple[str, ...] = ("brand", "source", "sentiment", "lang", "author", "query")
SENTIMENTS: tuple[str, ...] = (*LABELS, "unscored")
DEFAULT_REALERT = timedelta(minutes=1)    # ElastAlert's default
# query_keys the store filters only approximately; their exact counts come from store.top(field).
EXACT_TOP: dict[str, str] = {"source": "source", "source_name": "source_name", "site": "site"}

COMMON_KEYS = ("name", "type", "description", "is_enabled", "filter", "query_key", "realert", "alert",
               "alert_subject", "alert_subject_args", "alert_text", "alert_text_args")
TYPE_KEYS: dict[str, tuple[str, ...]] = {
    "any": (),
    "frequency": ("timeframe", "num_events"),
    "spike": ("timeframe", "spike_height", "spike_type", "threshold_cur", "threshold_ref"),
}
REQUIRED: dict[str, tuple[str, ...]] = {
    "any": (),
    "frequency": ("timeframe", "num_events"),
    "spike": ("timeframe", "spike_height", "spike_type"),   # as ElastAlert's SpikeRule
}
ALL_KEYS = frozenset(COMMON_KEYS).union(*TYPE_KEYS.values())

# Names usable in alert_subject_args / alert_text_args: fields of the first matching mention and of
# the alert itself (ElastAlert fills ``{0}`` from the match; spike_count/reference_count as there).
TEMPLATE_FIELDS: tuple[str, ...] = (
    "rule", "name", "description", "type", "query_key", "count", "expected", "spike_count",
    "reference_count", "direction", "num_events", "spike_height", "timeframe", "window_start",
    "window_end", "search_url",
    "id", "title", "text", "url", "site", "source", "source_name", "lang", "sentiment",
    "sentiment_label", "brands", "published_at", "author", "author.handle", "author.name",
    "author.url", "author.followers", "author.platform",
)


@dataclass(frozen=True, slots=True)
class RuleFilter:
    """Which mentions a rule looks at; the same selection live (:meth:`matches`) and stored."""

    brands: tuple[str, ...] = ()
    sources: tuple[str, ...] = ()
    sentiments: tuple[str, ...] = ()
    langs: tuple[str, ...] = ()
    authors: tuple[str, ...] = ()
    query: str | None = None

    def matches(self, m: Mention, doc: Doc | None = None) -> bool:
        """Pure check with the store's semantics (see ``monitor.store.sqlite._where``)."""
        if self.brands and not set(self.brands).intersection(m.brands):
            return False
        if self.sources:
            keys = {key(s) for s in self.sources}
            if key(m.source) not in keys and key(m.source_name) not in keys:
                return False
        if self.sentiments and (m.sentiment_label or "unscored") not in self.sentiments:
            return False
        if self.langs and m.lang not in self.langs:
            return False
        if self.authors and key(m.author.handle) not in {key(a) for a in self.authors}:
            return False
        if self.query:
            return compile_query(self.query).matches(doc or Doc.from_mention(m))
        return True

    def to_filters(self, since: datetime | None = None, until: datetime | None = None) -> Filters:
        return Filters(query=self.query, brands=self.brands, sources=self.sources,
                       sentiments=self.sentiments, langs=self.langs, authors=self.authors,
                       since=since, until=until)


@dataclass(frozen=True, slots=True)
class Rule:
    name: str
    type: str
    file: str = ""
    line: int | None = None
    description: str = ""
    is_enabled: bool = True
    filter: RuleFilter = field(default_factory=RuleFilter)
    query_key: str | None = None
    timeframe: timedelta | None = None
    num_events: int | None = None
    spike_height: float | None = None
    spike_type: str = "up"
    threshold_cur: int | None = None
    threshold_ref: int | None = None
    realert: timedelta = DEFAULT_REALERT
    # Group names, or inline apprise URLs (may carry secrets from ${VARS}: kept out of repr).
    alert: tuple[str, ...] = field(default=(), repr=False)
    alert_subject: str | None = None
    alert_subject_args: tuple[str, ...] = ()
    alert_text: str | None = None
    alert_text_args: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()

    def key_values(self, m: Mention) -> list[str]:
        """The query_key groups a mention falls into; [] when it has no value for the key."""
        qk = self.query_key
        if qk is None:
            return [""]
        if qk == "brand":
            brands = [b for b in m.brands if not self.filter.brands or b in self.filter.brands]
            return list(dict.fromkeys(brands))
        value = {
            "source": m.source, "source_name": m.source_name, "site": m.site, "lang": m.lang or "",
            "author": key(m.author.handle), "sentiment": m.sentiment_label or "unscored",
        }[qk]
        return [value] if value else []

    def filters_for(self, key_value: str, since: datetime | None = None,
                    until: datetime | None = None) -> Filters:
        """Store filters for one query_key group: the rule's filter AND key == value.

        Exact for brand, lang, author and sentiment. For source, source_name and site the store
        can only narrow (``source`` matches kind or name, ``site:`` includes subdomains); the exact
        count is then the group's row in ``store.top(EXACT_TOP[query_key], filters)``.
        """
        f = self.filter.to_filters(since, until)
        qk = self.query_key
        if qk is None or key_value == "":
            return f
        if qk == "brand":
            return replace(f, brands=(key_value,))
        if qk == "lang":
            return replace(f, langs=(key_value,))
        if qk == "author":
            return replace(f, authors=(key_value,))
        if qk == "sentiment":
            return replace(f, sentiments=(key_value,))
        if qk in ("source", "source_name") and not f.sources:
            return replace(f, sources=(key_value,))
        term = f"{'site' if qk == 'site' else 'source'}:{_quote(key_value)}"
        return replace(f, query=f"({f.query}) {term}" if f.query else term)

    @property
    def target_refs(self) -> tuple[str, ...]:
        """Targets safe to store: group names as they are, inline URLs as ``url:<sha1>``."""
        return tuple(url_ref(t) if "://" in t else t for t in self.alert)

    @property
    def inline_urls(self) -> tuple[str, ...]:
        return tuple(t for t in self.alert if "://" in t)


def url_ref(url: str) -> str:
    return "url:" + hashlib.sha1(url.encode("utf-8"), usedforsecurity=False).hexdigest()


def _quote(value: str) -> str:
    return '"' + value.replace('"', " ") + '"'


# -- loading -------------------------------------------------------------------------------------

def load_rule(path: str | Path, *, groups: Collection[str] | None = None) -> Rule:
    """Load and validate one rule file; raise RuleError (``file:line: key: problem``)."""
    file = str(path)
    doc = load_yaml_file(path, error=RuleError)
    if doc is None:
        raise RuleError("the rule file is empty", file=file, line=1)
    if not isinstance(doc, LineDict):
        raise RuleError("a rule must be a mapping of keys", file=file, line=getattr(doc, "line", 1))
    return _Parser(file, doc, groups).rule()


def load_rules(paths: Sequence[str | Path], *,
               groups: Collection[str] | None = None) -> tuple[list[Rule], list[RuleError]]:
    """Load every rule file (folders expanded, sorted); bad files are reported, the rest still load."""
    rules: list[Rule] = []
    errors: list[RuleError] = []
    seen: dict[str, Rule] = {}
    for file in _expand(paths):
        try:
            if isinstance(file, RuleError):
                raise file
            rule = load_rule(file, groups=groups)
        except RuleError as exc:
            errors.append(exc)
            continue
        first = seen.get(rule.name)
        if first is not None:
            errors.append(RuleError(f"duplicate rule name {rule.name!r} (first in {first.file})",
                                    file=rule.file, line=rule.line, key="name"))
            continue
        seen[rule.name] = rule
        rules.append(rule)
    return rules, errors


def _expand(paths: Iterable[str | Path]) -> list[Path | RuleError]:
    out: list[Path | RuleError] = []
    for raw in paths:
        p = Path(raw)
        if p.is_dir():
            out.extend(sorted(f for f in p.iterdir() if f.suffix in (".yaml", ".yml") and f.is_file()))
        elif p.is_file():
            out.append(p)
        else:
            out.append(RuleError("no such rule file or folder", file=str(p)))
    return out


class _Parser:
    def __init__(self, file: str, doc: LineDict, groups: Collection[str] | None) -> None:
        self.file = file
        self.doc = doc
        self.groups = None if groups is None else set(groups)
        self.warnings: list[str] = []

    def err(self, key: str, problem: str, node: LineDict | LineList | None = None,
            sub: str | int | None = None) -> RuleError:
        """An error at ``key`` of the rule (or at ``sub``, a key or index inside ``node``)."""
        line: int | None
        if node is None:
            line = self.doc.line_of(key)
        elif isinstance(node, LineDict):
            line = node.line_of(str(sub))
        else:
            line = node.line_of(int(sub or 0))
        return RuleError(problem, file=self.file, line=line, key=key)

    def warn(self, key: str, problem: str) -> None:
        where = RuleError(problem, file=self.file, line=self.doc.line_of(key), key=key)
        self.warnings.append(where.one_line())

    def rule(self) -> Rule:
        d = self.doc
        name = d.get("name")
        if name is None:
            raise RuleError("required: every rule needs a unique name", file=self.file, line=d.line,
                            key="name")
        if not isinstance(name, str) or not name.strip():
            raise self.err("name", "must be a non-empty string")
        rtype = d.get("type")
        known = ", ".join(RULE_TYPES)
        if rtype is None:
            raise RuleError(f"required (known types: {known})", file=self.file, line=d.line, key="type")
        if rtype not in RULE_TYPES:
            raise self.err("type", f"unknown rule type {rtype!r} (known: {known})")
        for k in REQUIRED[rtype]:
            if d.get(k) is None:
                raise RuleError(f"required by rule type {rtype}", file=self.file, line=d.line_of("type"),
                                key=k)
        for k in d:
            if k not in ALL_KEYS:
                self.warn(k, "unknown key, ignored")
            elif k not in COMMON_KEYS and k not in TYPE_KEYS[rtype]:
                self.warn(k, f"not used by rule type {rtype}, ignored")
        keys = TYPE_KEYS[rtype]
        alert_subject, subject_args = self.template("alert_subject")
        alert_text, text_args = self.template("alert_text")
        realert = self.duration("realert", positive=False)
        rule = Rule(
            name=name.strip(), type=rtype, file=self.file, line=d.line_of("name"),
            description=self.string("description") or "",
            is_enabled=self.boolean("is_enabled", True),
            filter=self.filter(),
            query_key=self.query_key(),
            timeframe=self.duration("timeframe", positive=True) if "timeframe" in keys else None,
            num_events=self.integer("num_events", minimum=1) if "num_events" in keys else None,
            spike_height=self.number("spike_height") if "spike_height" in keys else None,
            spike_type=self.choice("spike_type", SPIKE_TYPES, "up") if "spike_type" in keys else "up",
            threshold_cur=self.integer("threshold_cur", minimum=0) if "threshold_cur" in keys else None,
            threshold_ref=self.integer("threshold_ref", minimum=0) if "threshold_ref" in keys else None,
            realert=DEFAULT_REALERT if realert is None else realert,
            alert=self.targets(),
            alert_subject=alert_subject, alert_subject_args=subject_args,
            alert_text=alert_text, alert_text_args=text_args,
            warnings=tuple(self.warnings),
        )
        for message in self.warnings:      # only for rules that load; a broken one reports its error
            log.warning("%s", message)
        return rule

    # -- typed getters --

    def string(self, k: str) -> str | None:
        v = self.doc.get(k)
        if v is None:
            return None
        if not isinstance(v, str):
            raise self.err(k, "must be a string")
        return v

    def boolean(self, k: str, default: bool) -> bool:
        v = self.doc.get(k)
        if v is None:
            return default
        if not isinstance(v, bool):
            raise self.err(k, "must be true or false")
        return v

    def integer(self, k: str, *, minimum: int) -> int | None:
        v = self.doc.get(k)
        if v is None:
            return None
        if isinstance(v, bool) or not isinstance(v, int) or v < minimum:
            raise self.err(k, f"must be a whole number >= {minimum}, got {v!r}")
        return v

    def number(self, k: str) -> float | None:
        v = self.doc.get(k)
        if v is None:
            return None
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not v > 0 or v == float("inf"):
            raise self.err(k, f"must be a number > 0, got {v!r}")
        return float(v)

    def choice(self, k: str, options: Sequence[str], default: str) -> str:
        v = self.doc.get(k)
        if v is None:
            return default
        if v not in options:
            raise self.err(k, f"must be one of {', '.join(options)}, got {v!r}")
        return str(v)

    def duration(self, k: str, *, positive: bool) -> timedelta | None:
        v = self.doc.get(k)
        if v is None:
            return None
        try:
            td = parse_duration(v)
        except ValueError as exc:
            raise self.err(k, str(exc)) from None
        if positive and td <= timedelta(0):
            raise self.err(k, "must be longer than zero")
        return td

    def query_key(self) -> str | None:
        v = self.doc.get("query_key")
        if v is None:
            return None
        if isinstance(v, list):
            raise self.err("query_key", "a list (compound query_key) is not supported; use one field")
        if v not in QUERY_KEYS:
            raise self.err("query_key", f"unknown field {v!r} (known: {', '.join(QUERY_KEYS)})")
        return str(v)

    def filter(self) -> RuleFilter:
        node = self.doc.get("filter")
        if node is None:
            return RuleFilter()
        if isinstance(node, list):
            raise self.err("filter", "Elasticsearch DSL filter lists are not supported yet; use a mapping "
                                     f"of {', '.join(FILTER_KEYS)}")
        if not isinstance(node, LineDict):
            raise self.err("filter", f"must be a mapping of {', '.join(FILTER_KEYS)}")
        for k in node:
            if k not in FILTER_KEYS:
                raise self.err(f"filter.{k}", f"unknown filter field (known: {', '.join(FILTER_KEYS)})",
                               node, k)
        values = {k: self.str_tuple(node, k) for k in ("brand", "source", "sentiment", "lang", "author")}
        for s in values["sentiment"]:
            if s not in SENTIMENTS:
                known = ", ".join(SENTIMENTS)
                raise self.err("filter.sentiment", f"unknown sentiment {s!r} (known: {known})",
                               node, "sentiment")
        query = node.get("query")
        if query is not None:
            if not isinstance(query, str) or not query.strip():
                raise self.err("filter.query", "must be a non-empty query string", node, "query")
            try:
                compile_query(query)
            except QuerySyntaxError as exc:
                raise self.err("filter.query", exc.problem, node, "query") from None
        return RuleFilter(brands=values["brand"], sources=values["source"], sentiments=values["sentiment"],
                          langs=tuple(v.lower() for v in values["lang"]), authors=values["author"],
                          query=query.strip() if query else None)

    def str_tuple(self, node: LineDict, k: str) -> tuple[str, ...]:
        v = node.get(k)
        if v is None:
            return ()
        items = [v] if isinstance(v, str) else v
        if not (isinstance(items, list) and items and all(isinstance(i, str) and i.strip() for i in items)):
            raise self.err(f"filter.{k}", "must be a non-empty string or a list of them", node, k)
        return tuple(i.strip() for i in items)

    def targets(self) -> tuple[str, ...]:
        v = self.doc.get("alert")
        if v is None:
            return ()
        if isinstance(v, str):
            v = LineList([v])
            v.line = self.doc.line_of("alert")
            v.lines = [v.line or 0]
        if not (isinstance(v, LineList) and all(isinstance(i, str) and i.strip() for i in v)):
            raise self.err("alert", "must be a notify group name, an apprise URL, or a list of them")
        out: list[str] = []
        for i, raw in enumerate(v):
            k = f"alert[{i}]"
            target = raw.strip()
            if "://" in target:
                target = expand_env(target, file=self.file, line=v.line_of(i), key=k, error=RuleError)
                if not apprise.Apprise().add(target):
                    raise self.err(k, "not a valid apprise URL", v, i)
            elif self.groups is not None and target not in self.groups:
                known = ", ".join(sorted(self.groups)) or "none configured"
                raise self.err(k, f"unknown notify group {target!r} (known: {known})", v, i)
            out.append(target)
        return tuple(out)

    def template(self, k: str) -> tuple[str | None, tuple[str, ...]]:
        text = self.string(k)
        args_key = f"{k}_args"
        raw = self.doc.get(args_key)
        args: tuple[str, ...] = ()
        if raw is not None:
            if not isinstance(raw, list) or not all(isinstance(a, str) for a in raw):
                raise self.err(args_key, "must be a list of field names")
            for a in raw:
                if a not in TEMPLATE_FIELDS:
                    raise self.err(args_key, f"unknown field {a!r} (known: {', '.join(TEMPLATE_FIELDS)})")
            args = tuple(raw)
        if text is not None:
            problem = template_problem(text, len(args))
            if problem:
                raise self.err(k, problem)
        return text, args


def template_problem(text: str, nargs: int) -> str | None:
    """Why an ElastAlert-style ``{0}`` template cannot be filled from ``nargs`` args, or None."""
    try:
        fields = [f for _, f, _, _ in string.Formatter().parse(text) if f is not None]
    except ValueError as exc:
        return f"bad template: {exc}"
    for f in fields:
        if not f.isdigit():
            return (f"placeholder {{{f}}} is not supported: use {{0}}, {{1}}, ... filled from the "
                    f"_args list")
        if int(f) >= nargs:
            return f"placeholder {{{f}}} needs at least {int(f) + 1} args, got {nargs}"
    return None
