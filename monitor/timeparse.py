"""Durations as people write them in YAML: ``90s``, ``10m``, ``1h``, ``7d``, ``2w`` or ``{hours: 1}``.

Rules (ElastAlert style ``{minutes: 30, seconds: 5}``) and monitor.yaml share this one parser, so
both accept the same spellings and fail with the same message. A bare number means seconds.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
_PART = re.compile(r"(\d+(?:\.\d+)?)(s|m|h|d|w)")
_KEYS = ("weeks", "days", "hours", "minutes", "seconds", "milliseconds")
_HINT = "a duration like 90s, 10m, 1h, 7d, 1h30m or {hours: 1}"


def parse_duration(value: Any) -> timedelta:
    """Parse a duration; raise ValueError naming what was wrong."""
    if isinstance(value, timedelta):
        if value < timedelta():
            raise ValueError("a duration cannot be negative")
        return value
    if isinstance(value, bool) or value is None:
        raise ValueError(f"expected {_HINT}, got {value!r}")
    if isinstance(value, (int, float)):
        return _build({"seconds": value}, value)
    if isinstance(value, str):
        text = value.strip().lower().replace(" ", "")
        if text.isdigit():
            return _build({"seconds": int(text)}, value)
        parts: dict[str, float] = {}
        pos = 0
        for m in _PART.finditer(text):
            if m.start() != pos or _UNITS[m.group(2)] in parts:
                break
            parts[_UNITS[m.group(2)]] = float(m.group(1))
            pos = m.end()
        if text and pos == len(text):
            return _build(parts, value)
        raise ValueError(f"expected {_HINT}, got {value!r}")
    if isinstance(value, Mapping):
        unknown = [k for k in value if k not in _KEYS]
        if unknown or not value:
            raise ValueError(f"duration keys must be among {', '.join(_KEYS)}, got {list(value)!r}")
        bad = {k: v for k, v in value.items() if isinstance(v, bool) or not isinstance(v, (int, float))}
        if bad:
            raise ValueError(f"duration values must be numbers, got {dict(value)!r}")
        return _build({str(k): v for k, v in value.items()}, value)
    raise ValueError(f"expected {_HINT}, got {value!r}")


def _build(parts: Mapping[str, float], original: Any) -> timedelta:
    for number in parts.values():
        if not math.isfinite(number):
            raise ValueError(f"a duration must be a finite number, got {original!r}")
        if number < 0:
            raise ValueError(f"a duration cannot be negative, got {original!r}")
    try:
        return timedelta(**parts)
    except OverflowError:
        raise ValueError(f"duration too large: {original!r}") from None


def format_duration(td: timedelta) -> str:
    """Short form for messages: ``1h``, ``90m``, ``2d``; whole seconds otherwise."""
    secs = int(td.total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if secs and secs % size == 0:
            return f"{secs // size}{unit}"
    return f"{secs}s"
