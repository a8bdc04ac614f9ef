"""Fixed-window rate limiting, keyed by client IP (or, later, by ingest key)."""

from __future__ import annotations

import math
from dataclasses import dataclass

from console.sandbox.settings import RateLimit

# Forget finished windows once this many clients are tracked, so memory stays bounded.
_PRUNE_AT = 10_000


@dataclass(frozen=True)
class Decision:
    """The outcome of one request against a limit, with what the headers must say."""

    allowed: bool
    limit: int
    remaining: int
    reset: float  # Unix seconds when the current window ends
    retry_after: int  # whole seconds, at least 1; meaningful only when not allowed

    def headers(self) -> dict[str, str]:
        """The X-RateLimit-* headers every response carries (plus Retry-After on a 429)."""
        headers = {
            "X-RateLimit-Limit": str(self.limit),
            "X-RateLimit-Remaining": str(self.remaining),
            "X-RateLimit-Reset": str(math.ceil(self.reset)),
        }
        if not self.allowed:
            headers["Retry-After"] = str(self.retry_after)
        return headers


class FixedWindowLimiter:
    """N requests per S seconds per key; a window starts at the key's first request in it.

    Rejected requests are not counted, so a client that backs off for Retry-After seconds
    always gets a fresh window. Used from the event loop only, so no lock is needed.
    """

    def __init__(self, limit: RateLimit) -> None:
        self.limit = limit
        self._windows: dict[str, tuple[float, int]] = {}

    def hit(self, key: str, at: float) -> Decision:
        """Count one request of `key` at time `at` unless it is over the limit."""
        start, count = self._windows.get(key, (at, 0))
        if at >= start + self.limit.seconds:
            start, count = at, 0
        reset = start + self.limit.seconds
        if count >= self.limit.requests:
            retry_after = max(1, math.ceil(reset - at))
            return Decision(False, self.limit.requests, 0, reset, retry_after)
        count += 1
        if key not in self._windows and len(self._windows) >= _PRUNE_AT:
            self._prune(at)
        self._windows[key] = (start, count)
        return Decision(True, self.limit.requests, self.limit.requests - count, reset, 0)

    def _prune(self, at: float) -> None:
        expired = [k for k, (s, _) in self._windows.items() if at >= s + self.limit.seconds]
        for key in expired:
            del self._windows[key]
