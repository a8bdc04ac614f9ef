"""The live tail's Qt-free part: the bounded hold of streamed entries the view has not taken
yet (with an honest count of what it had to drop), the stream reader that fills it, and the
status refresh of held entries the stream will not send again.

The stream sends each entry once, when it is written; its later status changes (queued →
processing → succeeded) are not re-sent. `StatusRefresher` asks `GET /logs?since=` for the
non-final entries of the last few minutes instead, a bounded number of pages a round.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable, Sequence

from console.api.logs import LogEntry, LogFilters, LogsApi
from console.logbuffer.buffer import FINAL_STATUSES, STATUSES, BufferFilter, Column, LogBuffer

MAX_PENDING = 50_000
PENDING_STATUSES = frozenset(STATUSES) - FINAL_STATUSES
# Status refresh: entries younger than this, at most REFRESH_PAGES pages of REFRESH_PAGE_SIZE
# a round (3,000 entries every 2 s: more than a 1,000-a-second tail brings). Pages are
# parsed in a worker thread (~25 ms each) and applied APPLY_CHUNK entries at a time,
# giving the event loop back in between (a lookup and update cost ~20 µs an entry).
REFRESH_MAX_AGE = 600.0
REFRESH_PAGES = 3
REFRESH_PAGE_SIZE = 1000
APPLY_CHUNK = 200
# The held pending entries of a round are mapped by id from one select when there are at
# most MAP_COST_RATIO times as many as the round's pages can bring (else each fetched entry
# is looked up by id), MAP_CHUNK at a time.
MAP_COST_RATIO = 8
MAP_CHUNK = 1000
# The stream reader gives the event loop a turn after this many entries (~3 ms of parsing).
YIELD_EVERY = 100
# Filters that cannot change after an entry is written: the refresh keeps only these (with
# `status` it would never see an entry leave the status it was filtered on).
_STABLE_FILTERS = ("feed", "pipeline_id", "intent")


class PendingEntries:
    """Streamed entries waiting for the view, oldest first, at most `capacity`.

    Beyond the capacity the OLDEST waiting entry is dropped and counted: a live tail shows
    the newest, and what it dropped is said (`dropped`), never silent.
    """

    def __init__(self, capacity: int = MAX_PENDING) -> None:
        if capacity < 1:
            raise ValueError("capacity must be at least 1")
        self.capacity = capacity
        self.dropped = 0
        self.received = 0
        self._entries: deque[LogEntry] = deque()

    def __len__(self) -> int:
        return len(self._entries)

    def push(self, entry: LogEntry) -> None:
        """Hold `entry`; drop (and count) the oldest one when full."""
        self.received += 1
        self._entries.append(entry)
        if len(self._entries) > self.capacity:
            self._entries.popleft()
            self.dropped += 1

    def take(self, limit: int | None = None) -> list[LogEntry]:
        """The oldest `limit` waiting entries (all by default), in arrival order."""
        count = len(self._entries) if limit is None else min(limit, len(self._entries))
        return [self._entries.popleft() for _ in range(count)]

    def clear(self) -> None:
        """Forget the waiting entries (the counts stay)."""
        self._entries.clear()


async def follow_stream(
    logs: LogsApi,
    pending: PendingEntries,
    filters: LogFilters,
    after_id: int | None,
    on_connection: Callable[[bool], None] | None = None,
) -> None:
    """Read the live stream into `pending` until cancelled (reconnects are the stream's;
    cancelling the task closes the connection at once, STACK_NOTES 4)."""
    async for entry in logs.stream(last_event_id=after_id, on_connection=on_connection, **filters):
        pending.push(entry)
        if pending.received % YIELD_EVERY == 0:
            # A network read can hold hundreds of events, parsed in one go otherwise.
            await asyncio.sleep(0)


def refresh_filters(filters: LogFilters) -> LogFilters:
    """The part of the tail's filters a status refresh may use (fields fixed at writing)."""
    kept: LogFilters = {}
    for name in _STABLE_FILTERS:
        value = filters.get(name)
        if value is not None:
            kept[name] = value  # type: ignore[literal-required]
    return kept


class StatusRefresher:
    """Brings the statuses of held, non-final, recent entries up to date, a round at a time.

    A round asks for entries since the oldest pending one, newest first, at most `pages`
    pages. When the round stops before reaching that time, the next round goes on from
    where it stopped (the server's cursor), so a long backlog is covered over rounds
    instead of only its newest part.
    """

    def __init__(
        self,
        logs: LogsApi,
        buffer: LogBuffer,
        filters: LogFilters,
        *,
        max_age: float = REFRESH_MAX_AGE,
        pages: int = REFRESH_PAGES,
        page_size: int = REFRESH_PAGE_SIZE,
    ) -> None:
        self.logs = logs
        self.buffer = buffer
        self.filters = refresh_filters(filters)
        self.max_age = max_age
        self.pages = pages
        self.page_size = page_size
        self.requests = 0  # pages asked, over every round
        self._cursor: str | None = None
        self._since: float | None = None

    async def refresh(
        self,
        now: float | None = None,
        on_updated: Callable[[list[int]], None] | None = None,
    ) -> list[int]:
        """One round; returns the buffer slots of the entries it refreshed. `on_updated`
        hears each page's slots once the page is applied (repaint those rows)."""
        since = self.buffer.pending_since(self.max_age, time.time() if now is None else now)
        if since is None:
            self._cursor = self._since = None
            return []
        if self._cursor is None or self._since is None or since > self._since:
            # A fresh walk from the newest entry (also when the oldest pending entry became
            # final meanwhile: the walk need not go as far back).
            self._cursor, self._since = None, since
        slots: list[int] = []
        held = await self._pending_slots(self._since)
        for _ in range(self.pages):
            filters: LogFilters = {**self.filters, "since": self._since}
            page = await self.logs.query(
                limit=self.page_size, cursor=self._cursor, parse_in_thread=True, **filters
            )
            self.requests += 1
            changed: list[int] = []
            for start in range(0, len(page.items), APPLY_CHUNK):
                if start:
                    await asyncio.sleep(0)  # paint and stream between chunks
                changed += self._apply(page.items[start : start + APPLY_CHUNK], held)
            if changed and on_updated is not None:
                on_updated(changed)  # once a page: each repaint of the view costs ~10 ms
            slots += changed
            oldest = min((e.timestamp for e in page.items), default=None)
            done = not page.next_cursor or (oldest is not None and oldest < self._since)
            self._cursor = None if done else page.next_cursor
            if done:
                break
        return slots

    async def _pending_slots(self, since: float) -> dict[int, int] | None:
        """{id: slot} of the held non-final entries since `since`, from one vectorised
        select (~2 µs an entry, where a lookup by id costs ~17 µs); None when there are so
        many that looking up the entries of the round's pages is cheaper."""
        buffer = self.buffer
        pending = buffer.select(BufferFilter(statuses=PENDING_STATUSES, since=since))
        if len(pending) > MAP_COST_RATIO * self.pages * self.page_size:
            return None
        held: dict[int, int] = {}
        slots = pending.slots.tolist()
        for start in range(0, len(slots), MAP_CHUNK):
            if start:
                await asyncio.sleep(0)
            for slot in slots[start : start + MAP_CHUNK]:
                if buffer.holds(slot):  # not evicted since the select
                    held[buffer.entry_id(slot)] = slot
        return held

    def _apply(self, entries: Sequence[LogEntry], held: dict[int, int] | None) -> list[int]:
        """Update the held, non-final entries among `entries`; their slots."""
        buffer = self.buffer
        fresh: list[LogEntry] = []
        slots: list[int] = []
        for entry in entries:
            if held is not None:
                slot = held.get(entry.id)
                if slot is None or not buffer.holds(slot):
                    continue
            else:
                slot = buffer.slot_of(entry.id)
                if slot is None:
                    continue
            if buffer.value(slot, Column.STATUS) in FINAL_STATUSES:
                continue  # already refreshed by an earlier page
            fresh.append(entry)
            slots.append(slot)
        if not fresh or buffer.update(fresh) == 0:
            return []
        return slots
