"""The explicit registry of source types: the `type:` of a `sources:` entry names one of these.

A new source module adds itself here; meta-tests walk this dict to demand fixtures, tests and a
README row for every entry.
"""

from __future__ import annotations

from .base import Source
from .rss import RssSource

SOURCES: dict[str, type[Source]] = {
    RssSource.name: RssSource,
}


def get_source_class(type_name: str) -> type[Source]:
    """The class for a configured ``type``; KeyError lists the known types."""
    try:
        return SOURCES[type_name]
    except KeyError:
        known = ", ".join(sorted(SOURCES))
        raise KeyError(f"unknown source type {type_name!r} (known: {known})") from None
