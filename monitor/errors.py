"""One small exception hierarchy; each class has one meaning.

Errors a user can cause (config, rules, queries) render as one line:
``file:line: key: problem``.
"""

from __future__ import annotations


class MonitorError(Exception):
    """Base class for every error this package raises on purpose."""


class LocatedError(MonitorError):
    """An error in a user-written file or string, with where it is."""

    def __init__(self, problem: str, *, file: str | None = None, line: int | None = None,
                 key: str | None = None) -> None:
        self.problem = problem
        self.file = file
        self.line = line
        self.key = key
        super().__init__(self.one_line())

    def one_line(self) -> str:
        parts: list[str] = []
        if self.file:
            parts.append(f"{self.file}:{self.line}" if self.line else self.file)
        if self.key:
            parts.append(self.key)
        parts.append(self.problem)
        return ": ".join(parts)


class ConfigError(LocatedError):
    """monitor.yaml (or an environment override) is invalid."""


class RuleError(LocatedError):
    """An alert rule file is invalid."""


class QuerySyntaxError(LocatedError):
    """A brand query does not parse; ``position`` is the 0-based character offset."""

    def __init__(self, problem: str, *, query: str, position: int, key: str | None = None,
                 file: str | None = None, line: int | None = None) -> None:
        self.query = query
        self.position = position
        super().__init__(f"{problem} at column {position + 1} in {query!r}", file=file, line=line, key=key)


class SourceError(MonitorError):
    """A source could not fetch or parse; the scheduler records it in the source's health."""


class FetchError(SourceError):
    """An HTTP fetch failed after retries (network, status, policy)."""

    def __init__(self, message: str, *, url: str, status: int | None = None) -> None:
        self.url = url
        self.status = status
        super().__init__(message)


class ResponseTooLarge(FetchError):
    """The body (possibly after decompression) exceeded the configured cap."""


class BlockedAddress(FetchError):
    """A request or redirect pointed at a private/loopback address that policy forbids."""


class StoreError(MonitorError):
    """The store failed (disk, schema, cluster away)."""


class NotifyError(MonitorError):
    """A notification could not be delivered."""
