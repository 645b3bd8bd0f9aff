"""Alert subject, text and HTML bodies that explain themselves.

Everything that came from the internet (titles, texts, names, URLs) is hostile: it is cut to
size, stripped of control characters, HTML-escaped in the HTML body, and a link is only
rendered when it is http(s). Rule templates come from the user's own files and are trusted;
their placeholder values are not, so they are escaped like any other mention field.
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import urlencode, urlsplit

from ..models import Mention
from ..store.base import Filters
from ..timeparse import format_duration
from .rules import Rule

MAX_TITLE = 200
MAX_SNIPPET = 280
MAX_SUBJECT = 200
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]+")
_MISSING = "<MISSING VALUE>"   # what ElastAlert prints for an arg that names no value


@dataclass(frozen=True)
class AlertContext:
    """What the engine found; render() turns it into words."""

    rule: Rule
    now: datetime
    query_key: str | None = None
    count: int = 0
    reference: int | None = None
    direction: str | None = None
    window_start: datetime | None = None
    window_end: datetime | None = None
    examples: Sequence[Mention] = ()
    top_sources: Sequence[tuple[str, int]] = ()
    sentiment: Sequence[tuple[str, int]] = ()
    search_url: str | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)


def clean(value: object, limit: int) -> str:
    """One line of untrusted text: no control characters, collapsed spaces, at most ``limit`` chars."""
    text = " ".join(_CONTROL.sub(" ", "" if value is None else str(value)).split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def safe_href(url: str) -> str | None:
    """The URL if it is a plain http(s) link, else None (javascript:, data:, relative ... are dropped)."""
    url = (url or "").strip()
    if not url or _CONTROL.search(url) or len(url) > 2000:
        return None
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return None
    return url


def search_url(base_url: str, filters: Filters) -> str:
    """Link to the dashboard's saved search for exactly the mentions the alert counted."""
    params: list[tuple[str, str]] = []
    if filters.query:
        params.append(("q", filters.query))
    for name, values in (("brand", filters.brands), ("source", filters.sources),
                         ("sentiment", filters.sentiments), ("lang", filters.langs),
                         ("author", filters.authors)):
        params.extend((name, v) for v in values)
    if filters.since:
        params.append(("since", filters.since.isoformat()))
    if filters.until:
        params.append(("until", filters.until.isoformat()))
    return f"{base_url.rstrip('/')}/search?{urlencode(params)}"


def _when(dt: datetime | None) -> str:
    return dt.strftime("%Y-%m-%d %H:%M UTC") if dt else ""


def template_values(ctx: AlertContext) -> dict[str, str]:
    """Values for alert_subject_args / alert_text_args (ElastAlert's ``{0}`` placeholders)."""
    rule = ctx.rule
    values: dict[str, Any] = {
        "rule": rule.name, "name": rule.name, "description": rule.description, "type": rule.type,
        "query_key": ctx.query_key, "count": ctx.count, "spike_count": ctx.count,
        "expected": ctx.reference, "reference_count": ctx.reference, "direction": ctx.direction,
        "num_events": rule.num_events, "spike_height": rule.spike_height,
        "timeframe": format_duration(rule.timeframe) if rule.timeframe else None,
        "window_start": _when(ctx.window_start) or None, "window_end": _when(ctx.window_end) or None,
        "search_url": ctx.search_url,
    }
    if ctx.examples:
        m = ctx.examples[0]
        values.update({
            "id": m.id, "title": m.title, "text": m.text, "url": m.url, "site": m.site, "source": m.source,
            "source_name": m.source_name, "lang": m.lang, "sentiment": m.sentiment,
            "sentiment_label": m.sentiment_label, "brands": ", ".join(m.brands),
            "published_at": _when(m.published_at), "author": m.author.handle or m.author.name,
            "author.handle": m.author.handle, "author.name": m.author.name, "author.url": m.author.url,
            "author.followers": m.author.followers, "author.platform": m.author.platform,
        })
    return {k: _MISSING if v is None or v == "" else clean(v, MAX_SNIPPET) for k, v in values.items()}


def _fill(template: str, args: Sequence[str], values: Mapping[str, str]) -> str:
    try:
        return template.format(*[values.get(a, _MISSING) for a in args])
    except (IndexError, KeyError, ValueError, AttributeError):   # validated at load; never crash here
        return template


def _key_label(ctx: AlertContext) -> str:
    return f"{ctx.rule.query_key}={ctx.query_key}" if ctx.rule.query_key and ctx.query_key else ""


def subject(ctx: AlertContext, values: Mapping[str, str]) -> str:
    rule = ctx.rule
    if rule.alert_subject:
        return clean(_fill(rule.alert_subject, rule.alert_subject_args, values), MAX_SUBJECT)
    key = f" [{_key_label(ctx)}]" if _key_label(ctx) else ""
    if rule.type == "any":
        first = ctx.examples[0] if ctx.examples else None
        what = clean(first.title or first.text, 120) if first else "new mention"
        return clean(f"{rule.name}{key}: {what}", MAX_SUBJECT)
    tf = format_duration(rule.timeframe) if rule.timeframe else "?"
    line = f"{rule.name}{key}: {ctx.count} mentions in {tf}"
    if rule.type == "spike" and ctx.reference is not None:
        line += f" ({ctx.direction or 'change'} from {ctx.reference})"
    return clean(line, MAX_SUBJECT)


def _summary_lines(ctx: AlertContext) -> list[str]:
    rule = ctx.rule
    lines = [f"Rule: {rule.name} ({rule.type})"]
    if rule.description:
        lines.append(f"About: {clean(rule.description, 500)}")
    if _key_label(ctx):
        lines.append(f"Group: {_key_label(ctx)}")
    if ctx.window_start and ctx.window_end:
        tf = format_duration(rule.timeframe) if rule.timeframe else ""
        lines.append(f"Window: {_when(ctx.window_start)} to {_when(ctx.window_end)} ({tf})")
    if rule.type == "frequency":
        lines.append(f"Mentions: {ctx.count} (alerts at {rule.num_events} or more)")
    elif rule.type == "spike" and rule.timeframe and rule.spike_height:
        tf = format_duration(rule.timeframe)
        lines.append(f"Mentions: {ctx.count}, against {ctx.reference} in the {tf} "
                     f"before (spike {ctx.direction}, height {rule.spike_height:g})")
    if ctx.top_sources:
        lines.append("Top sources: " + ", ".join(f"{clean(v, 80)} {n}" for v, n in ctx.top_sources))
    if ctx.sentiment:
        lines.append("Sentiment: " + ", ".join(f"{clean(v, 20)} {n}" for v, n in ctx.sentiment))
    return lines


def _example_parts(m: Mention) -> tuple[str, str, str | None]:
    title = clean(m.title or m.text, MAX_TITLE) or "(no title)"
    who = clean(m.author.handle or m.author.name, 80)
    meta = ", ".join(p for p in (clean(m.source_name or m.source, 80), f"@{who}" if who else "",
                                 _when(m.published_at)) if p)
    return title, meta, safe_href(m.url)


def text_body(ctx: AlertContext, values: Mapping[str, str]) -> str:
    rule = ctx.rule
    out: list[str] = []
    if rule.alert_text:
        out += [_fill(rule.alert_text, rule.alert_text_args, values), ""]
    out += _summary_lines(ctx)
    if ctx.examples:
        out += ["", "Examples:"]
        for m in ctx.examples:
            title, meta, href = _example_parts(m)
            out.append(f"- {title} ({meta})")
            if href:
                out.append(f"  {href}")
    if ctx.search_url:
        out += ["", f"Search: {ctx.search_url}"]
    return "\n".join(out)


def html_body(ctx: AlertContext, values: Mapping[str, str]) -> str:
    e = html.escape
    rule = ctx.rule
    parts = [f"<h2>{e(clean(rule.name, MAX_SUBJECT))}</h2>"]
    if rule.alert_text:
        custom = _fill(rule.alert_text, rule.alert_text_args, values)
        parts.append("<p>" + "<br>".join(e(line) for line in custom.splitlines()) + "</p>")
    parts.append("<ul>" + "".join(f"<li>{e(line)}</li>" for line in _summary_lines(ctx)) + "</ul>")
    if ctx.examples:
        items = []
        for m in ctx.examples:
            title, meta, href = _example_parts(m)
            shown = f'<a href="{e(href, quote=True)}">{e(title)}</a>' if href else e(title)
            items.append(f"<li>{shown}<br><small>{e(meta)}</small></li>")
        parts.append("<h3>Examples</h3><ul>" + "".join(items) + "</ul>")
    link = safe_href(ctx.search_url or "")
    if link:
        parts.append(f'<p><a href="{e(link, quote=True)}">Open these mentions in the dashboard</a></p>')
    return "<html><body>" + "".join(parts) + "</body></html>"


def render(ctx: AlertContext) -> tuple[str, str, str]:
    """(subject, text, html) for one alert."""
    values = template_values(ctx)
    return subject(ctx, values), text_body(ctx, values), html_body(ctx, values)
