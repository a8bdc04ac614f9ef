"""Fixed-window rate limiting, keyed by client IP (or, later, by ingest key)."""

from __future__ import annotations

import math
from collections import OrderedDict
from typing import NamedTuple

from console.sandbox.settings import RateLimit

# Finished windows swept per request. Each request opens at most one window and sweeps up
# to two, so the sweep keeps up with any request rate while no single request ever walks
# the table: the cost of a request does not depend on how many clients are tracked.
_SWEEP_PER_HIT = 2


class Decision(NamedTuple):
    """The outcome of one request against a limit, with what the headers must say.

    A named tuple rather than a frozen dataclass: one is made per request, three times
    faster.
    """

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

    def raw_headers(self) -> list[tuple[bytes, bytes]]:
        """`headers()` as ASGI's raw (lowercase name, value) byte pairs, built directly."""
        raw = [
            (b"x-ratelimit-limit", b"%d" % self.limit),
            (b"x-ratelimit-remaining", b"%d" % self.remaining),
            (b"x-ratelimit-reset", b"%d" % math.ceil(self.reset)),
        ]
        if not self.allowed:
            raw.append((b"retry-after", b"%d" % self.retry_after))
        return raw


class FixedWindowLimiter:
    """N requests per S seconds per key; a window starts at the key's first request in it.

    Rejected requests are not counted, so a client that backs off for Retry-After seconds
    always gets a fresh window. Used from the event loop only, so no lock is needed.

    Every operation is O(1): windows sit in an OrderedDict in the order they started (a
    restarted window moves to the end), so the finished ones are always at the front and
    a bounded sweep there forgets them; a client's own finished window is also replaced
    lazily on its next request.
    """

    def __init__(self, limit: RateLimit) -> None:
        self.limit = limit
        # key -> (window start, requests counted in it), oldest window first
        self._windows: OrderedDict[str, tuple[float, int]] = OrderedDict()

    def __len__(self) -> int:
        """How many clients are tracked (windows not yet swept)."""
        return len(self._windows)

    def hit(self, key: str, at: float) -> Decision:
        """Count one request of `key` at time `at` unless it is over the limit."""
        self._sweep(at)
        seconds = self.limit.seconds
        window = self._windows.get(key)
        if window is None or at >= window[0] + seconds:
            start, count, fresh = at, 0, True
        else:
            (start, count), fresh = window, False
        reset = start + seconds
        if count >= self.limit.requests:
            retry_after = max(1, math.ceil(reset - at))
            return Decision(False, self.limit.requests, 0, reset, retry_after)
        count += 1
        self._windows[key] = (start, count)
        if fresh:
            self._windows.move_to_end(key)
        return Decision(True, self.limit.requests, self.limit.requests - count, reset, 0)

    def _sweep(self, at: float) -> None:
        windows = self._windows
        for _ in range(_SWEEP_PER_HIT):
            if not windows:
                return
            key = next(iter(windows))
            if at < windows[key][0] + self.limit.seconds:
                # The oldest window is still open, so (the wall clock jumping back aside)
                # every later one is too; a stale one behind it is replaced lazily.
                return
            del windows[key]
