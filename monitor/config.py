"""monitor.yaml: load, expand ``${VAR}``, validate; defaults < file < MONITOR_* env < CLI.

Every problem is raised as one :class:`ConfigError` line: ``file:line: key: problem``.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import ConfigError, QuerySyntaxError
from .sources.base import SourceConfig
from .timeparse import parse_duration
from .yamlload import LineDict, LineList, expand_env, load_yaml_file

DEFAULT_LANGUAGES = ("de", "en")
TOP_KEYS = ("brands", "sources", "store", "notify", "rules", "web", "http", "languages", "sentiment")
# Sentiment backends per language: which models exist for which languages.
SENTIMENT_BACKENDS: dict[str, tuple[str, ...] | None] = {
    "vader": ("en",), "lexicon": ("de",), "transformers": None, "none": None}
SENTIMENT_KEYS = ("backend", "model", "neutral_band", "device", "max_length")
SOURCE_COMMON_KEYS = ("type", "name", "interval", "match", "brands")
STORE_KEYS = ("type", "path", "url")
WEB_KEYS = ("listen", "base_url")
HTTP_KEYS = ("user_agent", "timeout", "max_bytes", "retries", "per_host_limit", "allow_private")
STORE_TYPES = ("sqlite",)

# MONITOR_* environment variables that override single settings (documented in the README).
ENV_OVERRIDES: dict[str, str] = {
    "MONITOR_STORE_TYPE": "store.type",
    "MONITOR_STORE_PATH": "store.path",
    "MONITOR_STORE_URL": "store.url",
    "MONITOR_RULES": "rules",
    "MONITOR_WEB_LISTEN": "web.listen",
    "MONITOR_WEB_BASE_URL": "web.base_url",
    "MONITOR_HTTP_ALLOW_PRIVATE": "http.allow_private",
    "MONITOR_HTTP_USER_AGENT": "http.user_agent",
}


@dataclass(frozen=True)
class BrandConfig:
    name: str
    query: str
    languages: tuple[str, ...] = DEFAULT_LANGUAGES


@dataclass(frozen=True)
class StoreConfig:
    type: str = "sqlite"
    path: Path = Path("monitor.db")
    url: str | None = None


@dataclass(frozen=True)
class WebConfig:
    host: str = "127.0.0.1"
    port: int = 8080
    base_url: str | None = None

    @property
    def url(self) -> str:
        return self.base_url or f"http://{self.host}:{self.port}"


@dataclass(frozen=True)
class SentimentSettings:
    """How one language is scored. ``neutral_band`` None means the backend's own default."""

    backend: str
    model: str | None = None
    neutral_band: float | None = None
    device: str = "cpu"
    max_length: int = 256


DEFAULT_SENTIMENT: dict[str, SentimentSettings] = {
    "en": SentimentSettings("vader"), "de": SentimentSettings("lexicon")}


@dataclass(frozen=True)
class HttpConfig:
    user_agent: str | None = None
    timeout: float = 30.0
    max_bytes: int = 10 * 1024 * 1024
    retries: int = 3
    per_host_limit: int = 4
    allow_private: bool = False


@dataclass(frozen=True)
class Config:
    file: str
    brands: tuple[BrandConfig, ...]
    sources: tuple[SourceConfig, ...]
    store: StoreConfig = field(default_factory=StoreConfig)
    notify: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    rules: tuple[Path, ...] = ()
    web: WebConfig = field(default_factory=WebConfig)
    http: HttpConfig = field(default_factory=HttpConfig)
    languages: tuple[str, ...] = DEFAULT_LANGUAGES
    sentiment: Mapping[str, SentimentSettings] = field(default_factory=lambda: dict(DEFAULT_SENTIMENT))


def default_config_path(cli_value: str | None = None, env: Mapping[str, str] | None = None) -> Path:
    environ = os.environ if env is None else env
    return Path(cli_value or environ.get("MONITOR_CONFIG") or "monitor.yaml")


class _Ctx:
    def __init__(self, file: str) -> None:
        self.file = file

    def err(self, node: Any, key: str, problem: str, path: str) -> ConfigError:
        line = node.line_of(key) if isinstance(node, LineDict) else getattr(node, "line", None)
        return ConfigError(problem, file=self.file, line=line, key=path)

    def unknown(self, node: LineDict, known: tuple[str, ...], path: str) -> None:
        for key in node:
            if key not in known:
                hint = difflib.get_close_matches(key, known, n=1)
                extra = f" (did you mean {hint[0]!r}?)" if hint else f" (known: {', '.join(known)})"
                raise self.err(node, key, f"unknown key{extra}", f"{path}.{key}" if path else key)

    def mapping(self, node: Any, key: str, parent: Any, path: str) -> LineDict:
        if node is None:
            empty = LineDict()
            empty.line = parent.line_of(key) if isinstance(parent, LineDict) else None
            empty.lines = {}
            return empty
        if not isinstance(node, LineDict):
            raise self.err(parent, key, "must be a mapping", path)
        return node

    def str_list(self, value: Any, parent: LineDict, key: str, path: str) -> tuple[str, ...]:
        if isinstance(value, str):
            return (value,)
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            return tuple(value)
        raise self.err(parent, key, "must be a string or a list of strings", path)


def load_config(path: str | Path, *, env: Mapping[str, str] | None = None,
                overrides: Mapping[str, Any] | None = None) -> Config:
    """Load and validate a config file. ``overrides`` are dotted keys from the CLI (highest priority)."""
    environ = os.environ if env is None else env
    file = str(path)
    raw = load_yaml_file(path, error=ConfigError)
    ctx = _Ctx(file)
    if raw is None:
        raw = LineDict()
        raw.line, raw.lines = 1, {}
    if not isinstance(raw, LineDict):
        raise ConfigError("the file must be a mapping of settings", file=file, line=1)
    ctx.unknown(raw, TOP_KEYS, "")
    doc: LineDict = expand_env(raw, file=file, line=raw.line, key="", env=environ, error=ConfigError)
    base = Path(file).resolve().parent

    # Environment and CLI overrides (dotted keys into the document).
    layered: dict[str, Any] = {}
    for var, dotted in ENV_OVERRIDES.items():
        if var in environ:
            layered[dotted] = environ[var]
    layered.update(overrides or {})
    for dotted, value in layered.items():
        head, _, tail = dotted.partition(".")
        if tail:
            section = doc.get(head)
            if not isinstance(section, LineDict):
                section = LineDict()
                section.line, section.lines = None, {}
                doc[head] = section
            section[tail] = value
        else:
            doc[head] = value

    languages = _languages(ctx, doc.get("languages", list(DEFAULT_LANGUAGES)), doc, "languages")
    brands = _brands(ctx, doc, languages)
    from .sources import SOURCES  # late: the registry imports every source module

    sources = _sources(ctx, doc, tuple(SOURCES), {b.name for b in brands})
    store = _store(ctx, doc, base)
    notify = _notify(ctx, doc)
    rules = _rules(ctx, doc, base)
    web = _web(ctx, doc)
    http = _http(ctx, doc)
    sentiment = _sentiment(ctx, doc)
    all_langs = tuple(dict.fromkeys(lang for b in brands for lang in b.languages)) or languages
    return Config(file=file, brands=brands, sources=sources, store=store, notify=notify, rules=rules,
                  web=web, http=http, languages=all_langs,
                  sentiment=sentiment)


def _languages(ctx: _Ctx, value: Any, parent: LineDict, path: str) -> tuple[str, ...]:
    langs = ctx.str_list(value, parent, path.rsplit(".", 1)[-1], path)
    for lang in langs:
        if len(lang) != 2 or not lang.isalpha() or not lang.islower():
            raise ctx.err(parent, path.rsplit(".", 1)[-1], f"{lang!r} is not a two-letter ISO 639-1 code", path)
    return langs


def _brands(ctx: _Ctx, doc: LineDict, languages: tuple[str, ...]) -> tuple[BrandConfig, ...]:
    from .query import compile_query

    node = doc.get("brands")
    if node is None:
        raise ConfigError("at least one brand is required (name and query)", file=ctx.file, line=1,
                          key="brands")
    if not isinstance(node, LineList) or not node:
        raise ctx.err(doc, "brands", "must be a non-empty list of {name, query, languages}", "brands")
    out: list[BrandConfig] = []
    names: set[str] = set()
    for i, item in enumerate(node):
        path = f"brands[{i}]"
        if not isinstance(item, LineDict):
            raise ConfigError("must be a mapping with name and query", file=ctx.file, line=node.line_of(i),
                              key=path)
        ctx.unknown(item, ("name", "query", "languages"), path)
        name = item.get("name")
        if not isinstance(name, str) or not name.strip():
            raise ctx.err(item, "name", "required: a non-empty string", f"{path}.name")
        if name in names:
            raise ctx.err(item, "name", f"duplicate brand name {name!r}", f"{path}.name")
        names.add(name)
        query = item.get("query", name)
        if not isinstance(query, str) or not query.strip():
            raise ctx.err(item, "query", "must be a non-empty query string", f"{path}.query")
        try:
            compile_query(query)
        except QuerySyntaxError as exc:
            raise ctx.err(item, "query", exc.problem, f"{path}.query") from None
        langs = _languages(ctx, item["languages"], item, f"{path}.languages") if "languages" in item \
            else languages
        out.append(BrandConfig(name=name.strip(), query=query, languages=langs))
    return tuple(out)


def _sources(ctx: _Ctx, doc: LineDict, known_types: tuple[str, ...],
             brand_names: set[str]) -> tuple[SourceConfig, ...]:
    node = doc.get("sources")
    if node is None:
        return ()
    if not isinstance(node, LineList):
        raise ctx.err(doc, "sources", "must be a list of sources", "sources")
    out: list[SourceConfig] = []
    for i, item in enumerate(node):
        path = f"sources[{i}]"
        if not isinstance(item, LineDict):
            raise ConfigError("must be a mapping with at least a type", file=ctx.file,
                              line=node.line_of(i), key=path)
        stype = item.get("type")
        if not isinstance(stype, str):
            raise ctx.err(item, "type", f"required: one of {', '.join(known_types)}", f"{path}.type")
        if stype not in known_types:
            hint = difflib.get_close_matches(stype, known_types, n=1)
            more = f" (did you mean {hint[0]!r}?)" if hint else ""
            raise ctx.err(item, "type", f"unknown source type {stype!r}{more}; known: "
                          f"{', '.join(known_types)}", f"{path}.type")
        name = item.get("name")
        if name is None:
            taken = {s.name for s in out} | {n.get("name") for n in node if isinstance(n, LineDict)}
            name, k = stype, 1
            while name in taken:
                k += 1
                name = f"{stype}-{k}"
        if not isinstance(name, str) or not name.strip():
            raise ctx.err(item, "name", "must be a non-empty string", f"{path}.name")
        if any(s.name == name for s in out):
            raise ctx.err(item, "name", f"duplicate source name {name!r}", f"{path}.name")
        interval = None
        if "interval" in item:
            try:
                interval = parse_duration(item["interval"]).total_seconds()
            except ValueError as exc:
                raise ctx.err(item, "interval", str(exc), f"{path}.interval") from None
            if interval < 1:
                raise ctx.err(item, "interval", "must be at least 1s", f"{path}.interval")
        match = item.get("match", "query")
        if match not in ("query", "all"):
            raise ctx.err(item, "match", "must be 'query' (brand query must match) or 'all' "
                          "(every item belongs to the brand: your own channels)", f"{path}.match")
        brands = ctx.str_list(item.get("brands", []), item, "brands", f"{path}.brands")
        for b in brands:
            if b not in brand_names:
                raise ctx.err(item, "brands", f"unknown brand {b!r}", f"{path}.brands")
        options = {k: v for k, v in item.items() if k not in SOURCE_COMMON_KEYS}
        lines = dict(getattr(item, "lines", {}))
        out.append(SourceConfig(type=stype, name=name, interval=interval, match=match, brands=brands,
                                options=options, file=ctx.file, lines=lines, line=item.line))
    return tuple(out)


def _store(ctx: _Ctx, doc: LineDict, base: Path) -> StoreConfig:
    node = ctx.mapping(doc.get("store"), "store", doc, "store")
    ctx.unknown(node, STORE_KEYS, "store")
    stype = node.get("type", "sqlite")
    if stype not in STORE_TYPES:
        raise ctx.err(node, "type", f"unknown store type {stype!r}; available here: "
                      f"{', '.join(STORE_TYPES)}", "store.type")
    path = node.get("path", "monitor.db")
    if not isinstance(path, str) or not path:
        raise ctx.err(node, "path", "must be a file path", "store.path")
    p = Path(path).expanduser()
    return StoreConfig(type=stype, path=p if p.is_absolute() else base / p, url=node.get("url"))


def _notify(ctx: _Ctx, doc: LineDict) -> dict[str, tuple[str, ...]]:
    import apprise

    node = ctx.mapping(doc.get("notify"), "notify", doc, "notify")
    out: dict[str, tuple[str, ...]] = {}
    for group, urls in node.items():
        path = f"notify.{group}"
        values = ctx.str_list(urls, node, group, path)
        for url in values:
            if not apprise.Apprise().add(url):
                raise ctx.err(node, group, "not a notification URL apprise understands "
                              f"(scheme {url.split(':', 1)[0]!r})", path)
        out[group] = values
    return out


def _rules(ctx: _Ctx, doc: LineDict, base: Path) -> tuple[Path, ...]:
    value = doc.get("rules", "rules")
    paths = ctx.str_list(value, doc, "rules", "rules")
    return tuple((Path(p) if Path(p).is_absolute() else base / p) for p in paths)


def _web(ctx: _Ctx, doc: LineDict) -> WebConfig:
    node = ctx.mapping(doc.get("web"), "web", doc, "web")
    ctx.unknown(node, WEB_KEYS, "web")
    listen = str(node.get("listen", "127.0.0.1:8080"))
    host, sep, port_s = listen.rpartition(":")
    if not sep or not port_s.isdigit() or not 0 <= int(port_s) < 65536:
        raise ctx.err(node, "listen", f"expected host:port, got {listen!r}", "web.listen")
    return WebConfig(host=host.strip("[]") or "127.0.0.1", port=int(port_s), base_url=node.get("base_url"))


def _http(ctx: _Ctx, doc: LineDict) -> HttpConfig:
    node = ctx.mapping(doc.get("http"), "http", doc, "http")
    ctx.unknown(node, HTTP_KEYS, "http")
    kw: dict[str, Any] = {}
    if "user_agent" in node:
        kw["user_agent"] = str(node["user_agent"])
    if "timeout" in node:
        try:
            kw["timeout"] = parse_duration(node["timeout"]).total_seconds()
        except ValueError as exc:
            raise ctx.err(node, "timeout", str(exc), "http.timeout") from None
    for key in ("max_bytes", "retries", "per_host_limit"):
        if key in node:
            v = node[key]
            if isinstance(v, str) and v.isdigit():
                v = int(v)
            if not isinstance(v, int) or isinstance(v, bool) or v < 0:
                raise ctx.err(node, key, "must be a non-negative integer", f"http.{key}")
            kw[key] = v
    if "allow_private" in node:
        v = node["allow_private"]
        if isinstance(v, str):
            v = {"1": True, "true": True, "yes": True, "0": False, "false": False, "no": False}.get(v.lower(), v)
        if not isinstance(v, bool):
            raise ctx.err(node, "allow_private", "must be true or false", "http.allow_private")
        kw["allow_private"] = v
    return HttpConfig(**kw)


def _sentiment(ctx: _Ctx, doc: LineDict) -> dict[str, SentimentSettings]:
    node = ctx.mapping(doc.get("sentiment"), "sentiment", doc, "sentiment")
    out = dict(DEFAULT_SENTIMENT)
    for lang, spec in node.items():
        path = f"sentiment.{lang}"
        if len(lang) != 2 or not lang.isalpha() or not lang.islower():
            raise ctx.err(node, lang, "must be a two-letter language code", path)
        if isinstance(spec, str):
            spec = LineDict({"backend": spec})
            spec.line, spec.lines = node.line_of(lang), {"backend": node.line_of(lang) or 0}
        if not isinstance(spec, LineDict):
            raise ctx.err(node, lang, "must be a backend name or {backend: ..., model: ...}", path)
        ctx.unknown(spec, SENTIMENT_KEYS, path)
        backend = spec.get("backend")
        if backend not in SENTIMENT_BACKENDS:
            raise ctx.err(spec, "backend", f"unknown sentiment backend {backend!r}; known: "
                          f"{', '.join(SENTIMENT_BACKENDS)}", f"{path}.backend")
        langs = SENTIMENT_BACKENDS[backend]
        if langs is not None and lang not in langs:
            raise ctx.err(spec, "backend", f"backend {backend!r} scores only {', '.join(langs)}; use "
                          "transformers with a model for this language, or none", f"{path}.backend")
        model = spec.get("model")
        if backend == "transformers" and (not isinstance(model, str) or not model.strip()):
            raise ctx.err(spec, "model", "required with backend transformers: a Hugging Face model name "
                          "or a local folder", f"{path}.model")
        band = spec.get("neutral_band")
        if band is not None and (isinstance(band, bool) or not isinstance(band, (int, float))
                                 or not 0 <= band < 1):
            raise ctx.err(spec, "neutral_band", "must be a number in 0..1 (|score| below it is neutral)",
                          f"{path}.neutral_band")
        max_length = spec.get("max_length", 256)
        if isinstance(max_length, bool) or not isinstance(max_length, int) or max_length < 8:
            raise ctx.err(spec, "max_length", "must be an integer >= 8", f"{path}.max_length")
        out[lang] = SentimentSettings(backend=backend, model=model, neutral_band=band,
                                      device=str(spec.get("device", "cpu")), max_length=max_length)
    return out
