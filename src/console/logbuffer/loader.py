"""Loading a time range of log entries into a LogBuffer, page by page, with progress.

Pages come newest first from `LogsApi.query` (1,000 entries, the contract's maximum) and
go into `LogBuffer.add_older` until the server's cursor ends (the range is covered) or the
buffer is full. The ETA comes from how much of the asked time range the loaded entries
cover, which tracks the work left better than a count nobody knows in advance.

Cancel by cancelling the task: the buffer is only changed between awaits, by whole pages,
so it stays consistent with what was loaded so far.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from console.api.logs import LogsApi
from console.logbuffer.buffer import LogBuffer

PAGE_SIZE = 1000


@dataclass(frozen=True)
class LoadProgress:
    """How far a load got: entries added, pages read, entries per second, seconds since
    it started, the oldest timestamp reached and the time span asked (its end is the
    newest entry's time when no `until` was given; None without a `since`)."""

    loaded: int
    pages: int
    rate: float
    elapsed: float
    oldest_time: float | None
    span: tuple[float, float] | None
    done: bool = False

    def covered(self) -> float | None:
        """The fraction of the span loaded (0..1), None when there is no span."""
        if self.span is None:
            return None
        since, until = self.span
        if self.done:
            return 1.0
        if self.oldest_time is None or until <= since:
            return 0.0
        return min(1.0, max(0.0, (until - self.oldest_time) / (until - since)))

    def eta_seconds(self) -> float | None:
        """Seconds left at the pace so far, from the part of the span covered."""
        if self.done:
            return 0.0
        fraction = self.covered()
        if fraction is None or fraction <= 0.0 or self.elapsed <= 0.0:
            return None
        return self.elapsed * (1.0 - fraction) / fraction


async def load_range(
    logs: LogsApi,
    buffer: LogBuffer,
    *,
    since: float | None,
    until: float | None,
    page_size: int = PAGE_SIZE,
    on_progress: Callable[[LoadProgress], None] | None = None,
    **server_filters: Any,
) -> LoadProgress:
    """Page the entries of [since, until) newest first into `buffer.add_older` until the
    range is covered or the buffer is full; reports after every page."""
    started = time.monotonic()
    cursor: str | None = None
    loaded = pages = 0
    top = until
    progress = LoadProgress(0, 0, 0.0, 0.0, None, None)
    while True:
        page = await logs.query(
            limit=page_size, cursor=cursor, since=since, until=until, **server_filters
        )
        pages += 1
        if top is None and page.items:
            top = max(entry.timestamp for entry in page.items)
        loaded += buffer.add_older(page.items)
        full = len(buffer) >= buffer.capacity
        finished = full or not page.next_cursor or page.next_cursor == cursor
        elapsed = time.monotonic() - started
        span = None if since is None or top is None else (since, max(top, since))
        progress = LoadProgress(
            loaded=loaded,
            pages=pages,
            rate=loaded / elapsed if elapsed > 0 else 0.0,
            elapsed=elapsed,
            oldest_time=buffer.oldest_time,
            span=span,
            done=finished,
        )
        if on_progress is not None:
            on_progress(progress)
        if finished:
            buffer.trim()
            return progress
        cursor = page.next_cursor
