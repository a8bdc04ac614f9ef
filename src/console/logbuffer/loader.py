"""Loading a time range of log entries into a LogBuffer, page by page, with progress.

Pages come newest first from `LogsApi.query` (1,000 entries, the contract's maximum) and
go into `LogBuffer.add_older` until the server's cursor ends (the range is covered) or the
buffer is full. The ETA comes from how much of the asked time range the loaded entries
cover, which tracks the work left better than a count nobody knows in advance.

Each page is parsed (`LogsApi.query(parse_in_thread=True)`) and added in a worker thread:
~45 ms of CPU a 1,000-entry page on this machine (JSON ~11, entries ~19, columns ~16),
far over a frame, is kept off the event loop the UI paints from.

Cancel by cancelling the task: the buffer changes by whole pages only; a page being added
when the task is cancelled is finished before the cancellation goes on, so nothing of the
load touches the buffer after its task ended.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from console.api.logs import LogEntry, LogsApi
from console.api.pagination import Page
from console.logbuffer.buffer import LogBuffer

PAGE_SIZE = 1000
# Pages in a row that add nothing (all held already, or empty with a cursor on): a server
# repeating itself. The load stops there instead of paging forever.
MAX_IDLE_PAGES = 10


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
    loaded = pages = 0
    top = until
    seen: set[str] = set()  # every cursor followed: one coming back is a cycle
    idle = 0

    def fetch(after: str | None) -> asyncio.Future[Page[LogEntry]]:
        return asyncio.ensure_future(
            logs.query(
                limit=page_size,
                cursor=after,
                parse_in_thread=True,
                since=since,
                until=until,
                **server_filters,
            )
        )

    # The next page is asked for as soon as this one's cursor is known, so the server
    # builds it while this one is added (they share two cores: ~1.5x the entries/s).
    pending: asyncio.Future[Page[LogEntry]] | None = fetch(None)
    try:
        while True:
            assert pending is not None
            page = await pending
            pages += 1
            more = bool(page.next_cursor) and page.next_cursor not in seen
            pending = fetch(page.next_cursor) if more else None
            if top is None and page.items:
                top = max(entry.timestamp for entry in page.items)
            added = await _add_older_in_thread(buffer, page.items)
            loaded += added
            idle = 0 if added else idle + 1
            finished = len(buffer) >= buffer.capacity or not more or idle >= MAX_IDLE_PAGES
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
            seen.add(page.next_cursor or "")
    finally:
        if pending is not None:  # a page asked for but not needed (full, cancelled, failed)
            pending.cancel()
            await asyncio.gather(pending, return_exceptions=True)


async def _add_older_in_thread(buffer: LogBuffer, entries: Sequence[LogEntry]) -> int:
    """`buffer.add_older(entries)` in a worker thread; when the task is cancelled meanwhile,
    the add is waited for before the cancellation goes on."""
    adding = asyncio.ensure_future(asyncio.to_thread(buffer.add_older, entries))
    try:
        return await asyncio.shield(adding)
    except asyncio.CancelledError:
        await asyncio.wait([adding])
        raise
