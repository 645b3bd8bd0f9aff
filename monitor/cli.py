"""The ``monitor`` command. Usage and config errors print one line and exit 2."""

from __future__ import annotations

import asyncio
import json
import logging
import sys
from collections.abc import Callable, Coroutine
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import click

from . import __version__
from .errors import LocatedError, MonitorError
from .models import ensure_utc, utcnow
from .timeparse import parse_duration

T = TypeVar("T")


def fail(message: str, code: int = 2) -> None:
    click.echo(f"monitor: {message}", err=True)
    sys.exit(code)


def run_async(factory: Callable[[], Coroutine[Any, Any, T]]) -> T:
    try:
        return asyncio.run(factory())
    except LocatedError as exc:
        fail(exc.one_line())
    except MonitorError as exc:
        fail(str(exc), code=1)
    raise AssertionError("unreachable")


def parse_when(value: str | None, option: str) -> datetime | None:
    """``7d`` (ago) or an ISO date/datetime (UTC when no zone is given)."""
    if not value:
        return None
    try:
        return utcnow() - parse_duration(value)
    except ValueError:
        pass
    try:
        return ensure_utc(datetime.fromisoformat(value))
    except ValueError:
        fail(f"{option}: expected a duration like 7d or a date like 2026-11-01, got {value!r}")
    return None


def load(ctx: click.Context) -> Any:
    from .config import default_config_path, load_config

    path = default_config_path(ctx.obj.get("config"))
    if not path.exists():
        fail(f"{path}: config file not found (use -c FILE, MONITOR_CONFIG, or create ./monitor.yaml)")
    try:
        return load_config(path, overrides=ctx.obj.get("overrides") or {})
    except LocatedError as exc:
        fail(exc.one_line())


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-c", "--config", "config", metavar="FILE",
              help="Config file (default: $MONITOR_CONFIG or ./monitor.yaml).")
@click.option("--store", "store_path", metavar="PATH", help="Override store.path.")
@click.option("--log-level", default="INFO", show_default=True,
              type=click.Choice(["DEBUG", "INFO", "WARNING", "ERROR"], case_sensitive=False))
@click.version_option(__version__, prog_name="monitor")
@click.pass_context
def main(ctx: click.Context, config: str | None, store_path: str | None, log_level: str) -> None:
    """Brand-mention and reputation monitoring: collect, search, alert."""
    logging.basicConfig(level=getattr(logging, log_level.upper()), stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # apprise logs every failed attempt; the outbox records it and logs state changes itself.
    logging.getLogger("apprise").setLevel(logging.ERROR)
    logging.getLogger("mail.log").setLevel(logging.WARNING)   # aiosmtpd, used by the demo inbox
    overrides: dict[str, Any] = {}
    if store_path:
        overrides["store.path"] = store_path
    ctx.obj = {"config": config, "overrides": overrides}


@main.command()
@click.option("--once", is_flag=True, help="Poll every source once, evaluate rules, deliver alerts, exit.")
@click.option("--json", "as_json", is_flag=True, help="With --once: print a JSON summary.")
@click.pass_context
def run(ctx: click.Context, once: bool, as_json: bool) -> None:
    """Collect, store, alert (and, later, serve the dashboard)."""
    config = load(ctx)
    from .app import App

    async def go() -> dict[str, Any] | None:
        app = App(config)
        await app.start()
        try:
            if once:
                return (await app.run_once()).to_dict()
            await app.run_forever()
            return None
        finally:
            await app.close()

    result = run_async(go)
    if result is not None:
        if as_json:
            click.echo(json.dumps(result, default=str))
        else:
            for p in result["polls"]:
                state = "ok" if p["ok"] else f"FAILED: {p['error']}"
                click.echo(f"{p['source']}: {p['fetched']} fetched, {p['new']} new - {state}")
            click.echo(f"alerts: {result['alerts']} new, {result['sent']} deliveries sent, "
                       f"{result['failed']} failed, {result['pending']} pending")
            for line in result["rule_errors"]:
                click.echo(f"rule skipped: {line}", err=True)


@main.command()
@click.argument("query", required=False, default="")
@click.option("--brand", multiple=True)
@click.option("--source", multiple=True, help="Source type or configured source name.")
@click.option("--sentiment", multiple=True, type=click.Choice(["negative", "neutral", "positive", "unscored"]))
@click.option("--lang", multiple=True)
@click.option("--author", multiple=True)
@click.option("--since", help="7d, 12h, or a date.")
@click.option("--until", help="A duration ago or a date.")
@click.option("--sort", type=click.Choice(["newest", "oldest", "relevance"]), default="newest", show_default=True)
@click.option("--limit", type=click.IntRange(1, 100_000), default=20, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
@click.pass_context
def search(ctx: click.Context, query: str, brand: tuple[str, ...], source: tuple[str, ...],
           sentiment: tuple[str, ...], lang: tuple[str, ...], author: tuple[str, ...], since: str | None,
           until: str | None, sort: str, limit: int, as_json: bool) -> None:
    """Search stored mentions with the brand query language."""
    config = load(ctx)
    from .app import open_store
    from .query import compile_query
    from .store.base import Filters

    if query:
        try:
            compile_query(query)
        except LocatedError as exc:
            fail(f"query: {exc.problem}")
    filters = Filters(query=query or None, brands=brand, sources=source, sentiments=sentiment, langs=lang,
                      authors=author, since=parse_when(since, "--since"), until=parse_when(until, "--until"))

    async def go() -> tuple[list[Any], int]:
        store = open_store(config)
        await store.open()
        try:
            items: list[Any] = []
            cursor = None
            total = 0
            while len(items) < limit:
                page = await store.search(filters, sort=sort, cursor=cursor,  # type: ignore[arg-type]
                                          limit=min(500, limit - len(items)))
                items.extend(page.items)
                total = page.total if page.total is not None else len(items)
                cursor = page.next_cursor
                if not cursor:
                    break
            return items, total
        finally:
            await store.close()

    items, total = run_async(go)
    for m in items:
        if as_json:
            click.echo(json.dumps(m.to_dict(), ensure_ascii=False, default=str))
        else:
            label = m.sentiment_label or "unscored"
            head = m.title or m.text[:100].replace("\n", " ")
            click.echo(f"{m.published_at:%Y-%m-%d %H:%M} {m.source_name:<14} {label:<9} {head}")
            click.echo(f"{'':17}{m.url}")
    if not as_json:
        click.echo(f"-- {len(items)} of {total} mentions", err=True)


@main.group()
def rules() -> None:
    """Alert rules."""


@rules.command("check")
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@click.pass_context
def rules_check(ctx: click.Context, paths: tuple[Path, ...]) -> None:
    """Validate rule files or folders (default: the configured folder); exit 2 on the first invalid rule."""
    from .alerts.rules import load_rules

    groups: set[str] | None = None
    if not paths:
        config = load(ctx)
        paths = tuple(config.rules)
        groups = set(config.notify)
    else:
        from .config import default_config_path

        cfg_path = default_config_path(ctx.obj.get("config"))
        if cfg_path.exists():
            groups = set(load(ctx).notify)
    for p in paths:
        if not p.exists():
            fail(f"{p}: no such file or folder")
    loaded, errors = load_rules(list(paths), groups=groups)
    if errors:
        fail(errors[0].one_line())
    for r in loaded:
        click.echo(f"ok  {r.name} ({r.type})")
    click.echo(f"{len(loaded)} rules valid")


@main.group("config")
def config_group() -> None:
    """Configuration."""


@config_group.command("check")
@click.pass_context
def config_check(ctx: click.Context) -> None:
    """Validate monitor.yaml, its sources and its rules; exit 2 on the first problem."""
    config = load(ctx)
    from .alerts.rules import load_rules
    from .http import HttpClient
    from .sources import SOURCES

    async def build() -> None:
        http = HttpClient()
        try:
            for sc in config.sources:
                SOURCES[sc.type](sc, http)
        finally:
            await http.close()

    run_async(build)
    _, errors = load_rules(list(config.rules), groups=set(config.notify))
    if errors:
        fail(errors[0].one_line())
    click.echo(f"{config.file}: ok - {len(config.brands)} brands, {len(config.sources)} sources, "
               f"{len(config.notify)} notify groups, store {config.store.type} at {config.store.path}")


@main.command()
@click.argument("texts", nargs=-1)
@click.option("--lang", "lang_opt", default="auto", show_default=True,
              help="auto (detect among the configured languages, default de and en) or a language code.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per text.")
@click.option("--brand", "brand_terms", multiple=True, help="Also score the sentences naming this term.")
@click.pass_context
def analyze(ctx: click.Context, texts: tuple[str, ...], lang_opt: str, as_json: bool,
            brand_terms: tuple[str, ...]) -> None:
    """Language and sentiment of TEXTS, or of each line on standard input."""
    from .config import DEFAULT_LANGUAGES, DEFAULT_SENTIMENT, default_config_path
    from .enrich.language import LanguageDetector
    from .enrich.sentiment import SentimentScorer

    settings: Any = dict(DEFAULT_SENTIMENT)
    languages: tuple[str, ...] = DEFAULT_LANGUAGES
    if ctx.obj.get("config") or default_config_path().exists():
        config = load(ctx)
        settings, languages = config.sentiment, config.languages
    if lang_opt != "auto" and (len(lang_opt) != 2 or not lang_opt.isalpha()):
        fail(f"--lang: expected auto or a two-letter code, got {lang_opt!r}")
    try:
        scorer = SentimentScorer(settings)
    except MonitorError as exc:
        fail(str(exc))
    detector = LanguageDetector(languages) if lang_opt == "auto" else None
    lines = iter(texts) if texts else (line.rstrip("\r\n") for line in sys.stdin)
    out = sys.stdout
    for text in lines:
        if not text.strip():
            continue
        lang = detector.detect(text) if detector is not None else lang_opt.lower()
        try:
            r = scorer.analyze(text, lang, brand_terms=brand_terms)
        except MonitorError as exc:
            fail(str(exc))
        if as_json:
            row = {"text": text, "lang": lang, "sentiment": r.score, "label": r.label, "confidence": r.confidence}
            if brand_terms:
                row["target_sentiment"] = r.target_score
            out.write(json.dumps(row, ensure_ascii=False) + "\n")
        else:
            score = "   n/a" if r.score is None else f"{r.score:+.3f}"
            conf = "" if r.confidence is None else f" conf {r.confidence:.2f}"
            out.write(f"{lang or '??'} {r.label or 'unscored':<9}{score}{conf}  {text[:100]}\n")
    out.flush()


@main.command()
@click.argument("source_type", required=False)
def sources(source_type: str | None) -> None:
    """List source types, or show the documentation of one."""
    from .sources import SOURCES

    if source_type:
        if source_type not in SOURCES:
            fail(f"unknown source type {source_type!r}; known: {', '.join(sorted(SOURCES))}")
        click.echo(SOURCES[source_type].docs)
        return
    for name, cls in sorted(SOURCES.items()):
        first = next((ln.lstrip("# ") for ln in cls.docs.splitlines() if ln.strip()), "")
        click.echo(f"{name:<14} every {cls.default_interval / 60:g} min   {first}")


@main.command()
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def status(ctx: click.Context, as_json: bool) -> None:
    """Source health and the alert outbox, as stored."""
    config = load(ctx)
    from .app import open_store
    from .store.base import Filters

    async def go() -> dict[str, Any]:
        store = open_store(config)
        await store.open()
        try:
            health = dict(await store.list_state("health"))
            outbox = await store.list_state("outbox")
            deliveries: dict[str, int] = {}
            for _, entry in outbox:
                for d in (entry.get("deliveries") or {}).values():
                    deliveries[d.get("status", "?")] = deliveries.get(d.get("status", "?"), 0) + 1
            return {"mentions": await store.count(Filters()), "sources": health, "alerts": len(outbox),
                    "deliveries": deliveries}
        finally:
            await store.close()

    result = run_async(go)
    if as_json:
        click.echo(json.dumps(result, default=str))
        return
    click.echo(f"{result['mentions']} mentions stored; {result['alerts']} alerts, deliveries: "
               + (", ".join(f"{k} {v}" for k, v in sorted(result["deliveries"].items())) or "none"))
    for sc in config.sources:
        h = result["sources"].get(sc.name)
        if not h:
            click.echo(f"{sc.name:<20} never polled")
            continue
        line = f"{sc.name:<20} {h.get('status', '?'):<9} last success {h.get('last_success') or 'never'}"
        if h.get("status") != "ok":
            problem = h.get("last_error") or h.get("partial_errors")
            line += f"; {h.get('failures_in_row', 0)} failures in a row; {problem}"
        click.echo(line)


@main.command()
@click.option("--once", is_flag=True, help="Play the story to the end, deliver the alert, exit.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object with the outcome.")
@click.option("--keep", type=click.Path(path_type=Path), help="Keep the demo data in this folder.")
def demo(once: bool, as_json: bool, keep: Path | None) -> None:
    """An offline demo: a simulated world on 127.0.0.1, the real machinery, a crisis, an alert."""
    from .demo import run_demo

    result = run_async(lambda: run_demo(once=once, as_json=as_json, keep=keep))
    if as_json:
        click.echo(json.dumps(result))
    if result.get("alerts_sent", 0) < 1 and once:
        sys.exit(1)


if __name__ == "__main__":  # pragma: no cover
    main()
