"""The fat base every source plugin stands on.

A source declares metadata (``name``, ``default_interval``, ``docs``, ``required``), turns a
payload into :class:`RawItem` with a pure ``parse`` (what golden tests exercise), and does I/O
only through the shared :class:`monitor.http.HttpClient` in ``fetch``. Retries, throttling,
health and logging live in http.py and the scheduler, not here.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from ..errors import ConfigError
from ..models import RawItem

if TYPE_CHECKING:
    from ..http import HttpClient

Cursor = dict[str, Any]


@dataclass
class SourceConfig:
    """One entry of ``sources:`` in monitor.yaml, already type-checked by config.py."""

    type: str
    name: str
    interval: float | None = None          # seconds; None means the source's default
    match: str = "query"                   # "query": brand query must match; "all": brand's own channel
    brands: tuple[str, ...] = ()           # with match: all, which brands the items belong to
    options: dict[str, Any] = field(default_factory=dict)
    file: str | None = None
    lines: dict[str, int] = field(default_factory=dict)   # key -> line in the file
    line: int | None = None

    def error(self, key: str, problem: str) -> ConfigError:
        return ConfigError(problem, file=self.file, line=self.lines.get(key, self.line),
                           key=f"sources.{self.name}.{key}")


class Source(ABC):
    name: ClassVar[str]
    default_interval: ClassVar[float] = 600.0
    docs: ClassVar[str] = ""
    required: ClassVar[tuple[str, ...]] = ()
    optional: ClassVar[tuple[str, ...]] = ()

    def __init__(self, config: SourceConfig, http: HttpClient) -> None:
        self.config = config
        self.http = http
        for key in self.required:
            if config.options.get(key) in (None, "", []):
                raise config.error(key, f"required by source type {self.name!r}")
        known = set(self.required) | set(self.optional)
        unknown = sorted(set(config.options) - known)
        if unknown:
            raise config.error(unknown[0], f"unknown key for source type {self.name!r} "
                                           f"(known: {', '.join(sorted(known)) or 'none'})")

    @property
    def interval(self) -> float:
        return self.config.interval or self.default_interval

    @abstractmethod
    async def fetch(self, cursor: Cursor | None) -> tuple[list[RawItem], Cursor | None]:
        """Fetch new items since ``cursor``; return them and the cursor to save after storing."""

    @staticmethod
    @abstractmethod
    def parse(payload: Any, **context: Any) -> list[RawItem]:
        """Pure: payload (bytes, JSON, ...) to raw items. No I/O."""
