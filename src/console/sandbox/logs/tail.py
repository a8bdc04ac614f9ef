"""The live tail of connector logs: one reader task per server, fanning new entries out.

One task, not one per client: woken by the app's LogSignal (code that inserted entries
notifies it after its commit), else every POLL_SECONDS, it reads the entries past `head`
on a reader connection and puts each into every matching subscription. A subscription is
a bounded queue: when it is full the tail marks it `lagging` and stops feeding it, so a
slow client never slows the tail or another client; its stream then catches up from the
database (`catch_up`) and resumes from its queue.

Resume without loss or repeat relies on the store's invariant (logs/store.py): ids commit
in id order, so a reader that sees id N sees every id below it.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
import sqlite3
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from console.sandbox.logs import query
from console.sandbox.logs.model import LogSignal
from console.sandbox.logs.query import LogFilter
from console.sandbox.logs.store import entry_json
from console.sandbox.storage.database import Database

logger = logging.getLogger("console.sandbox")

# Without a notify, the tail looks for new entries this often.
POLL_SECONDS = 0.25
# Entries read per query, by the tail and by a stream's catch-up.
BATCH = 500
# A reconnecting client is told to wait this long (milliseconds).
RETRY_MS = 2000

_TAIL_COLUMNS = query.ENTRY_SELECT + ", logs.account_id"


@dataclass(eq=False)
class Subscription:
    """One stream's feed from the tail: matching entries, in id order, at most `maxsize`."""

    account_id: int
    filter: LogFilter
    maxsize: int
    items: deque[dict[str, Any]] = field(default_factory=deque)
    # Set when the queue overflowed: entries were dropped, the stream must catch up.
    lagging: bool = False
    ready: asyncio.Event = field(default_factory=asyncio.Event)

    def overflow(self) -> None:
        """Drop what is queued and make the stream catch up from the database."""
        self.lagging = True
        self.items.clear()
        self.ready.set()

    def offer(self, entry: dict[str, Any]) -> None:
        """Queue `entry`, or mark the subscription lagging when it is full."""
        if self.lagging:
            return
        if len(self.items) >= self.maxsize:
            self.lagging = True
            self.items.clear()
        else:
            self.items.append(entry)
        self.ready.set()


def _read_after(conn: sqlite3.Connection, head: int) -> list[sqlite3.Row]:
    return conn.execute(
        f"SELECT {_TAIL_COLUMNS} FROM logs WHERE logs.id > ? ORDER BY logs.id LIMIT ?",
        (head, BATCH),
    ).fetchall()


def _read_batch(
    conn: sqlite3.Connection, head: int, searches: frozenset[tuple[int, LogFilter]]
) -> tuple[list[sqlite3.Row], dict[tuple[int, LogFilter], set[int]]]:
    """The entries past `head` (at most BATCH) and, for each (account, filter with `q`) a
    stream has, the ids among them the full-text index matches: `q` means what it means
    for the list and the catch-up, which FTS5's tokenizer decides (query.words_of only
    approximates it)."""
    rows = _read_after(conn, head)
    hits: dict[tuple[int, LogFilter], set[int]] = {}
    if rows and searches:
        low, high = int(rows[0]["id"]), int(rows[-1]["id"])
        for account_id, log_filter in searches:
            hits[(account_id, log_filter)] = {
                int(found[0])
                for found in conn.execute(
                    "SELECT rowid FROM logs_fts WHERE logs_fts MATCH ? AND rowid BETWEEN ? AND ?",
                    (query.fts_query(account_id, log_filter), low, high),
                )
            }
    return rows, hits


def _last_id(conn: sqlite3.Connection) -> int:
    row = conn.execute("SELECT max(id) FROM logs").fetchone()
    return int(row[0] or 0)


class LogTail:
    """The server's one reader of new log entries, and its subscriptions."""

    def __init__(self, database: Database, signal: LogSignal) -> None:
        self.database = database
        self.signal = signal
        self.head = 0  # the last id fanned out
        self.closing = asyncio.Event()
        self._subscriptions: set[Subscription] = set()
        self._task: asyncio.Task[None] | None = None
        self._open_streams: dict[str, int] = {}

    async def start(self) -> None:
        """Start at the newest entry (new entries only) and run the reader task."""
        self.closing = asyncio.Event()
        self.head = await self.database.read(_last_id)
        self._task = asyncio.create_task(self._run(), name="log-tail")

    def close(self) -> None:
        """End every open stream (the server is stopping; R7)."""
        self.closing.set()
        for subscription in self._subscriptions:
            subscription.ready.set()

    async def stop(self) -> None:
        """Close the streams and stop the reader task."""
        self.close()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    def notify(self) -> None:
        """New entries were committed (the same as the app's LogSignal)."""
        self.signal.notify()

    def subscribe(self, account_id: int, log_filter: LogFilter, maxsize: int) -> Subscription:
        """A new subscription: every matching entry the tail reads from now on."""
        subscription = Subscription(account_id, log_filter, maxsize)
        self._subscriptions.add(subscription)
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        """Stop feeding `subscription`."""
        self._subscriptions.discard(subscription)

    def open_stream(self, key_id: str, limit: int) -> bool:
        """Count a stream of `key_id` as open, unless it already has `limit` open."""
        count = self._open_streams.get(key_id, 0)
        if count >= limit:
            return False
        self._open_streams[key_id] = count + 1
        return True

    def close_stream(self, key_id: str) -> None:
        """A stream of `key_id` ended."""
        count = self._open_streams.get(key_id, 0) - 1
        if count > 0:
            self._open_streams[key_id] = count
        else:
            self._open_streams.pop(key_id, None)

    async def _run(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(POLL_SECONDS):
                    await self.signal.wait()
            try:
                await self.poll()
            except asyncio.CancelledError:
                raise
            except Exception:  # a failed read must not end the tail: try again
                logger.exception("the log tail could not read new entries")

    async def poll(self) -> None:
        """Read every entry past `head` and hand each to the matching subscriptions."""
        while True:
            if not self._subscriptions:
                last = await self.database.read(_last_id)
                # Only if nobody subscribed meanwhile: a stream that did may be waiting
                # for entries up to `last`, which must then still be fanned out.
                if not self._subscriptions:
                    self.head = max(self.head, last)
                return
            searches = frozenset(
                (subscription.account_id, subscription.filter)
                for subscription in self._subscriptions
                if subscription.filter.q is not None
            )
            rows, hits = await self.database.read(
                partial(_read_batch, head=self.head, searches=searches)
            )
            for row in rows:
                self._fan_out(row, hits)
                self.head = int(row["id"])
            if len(rows) < BATCH:
                return

    def _fan_out(self, row: sqlite3.Row, hits: dict[tuple[int, LogFilter], set[int]]) -> None:
        entry = entry_json(row)
        account_id = int(row["account_id"])
        for subscription in list(self._subscriptions):
            if subscription.account_id != account_id:
                continue
            log_filter = subscription.filter
            if log_filter.q is not None:
                found = hits.get((account_id, log_filter))
                if found is None:
                    # Subscribed while the batch was read: its stream reads it (and
                    # whatever follows) from the database, with the index's `q`.
                    subscription.overflow()
                    continue
                if entry["id"] not in found:
                    continue
                log_filter = dataclasses.replace(log_filter, q=None)
            if log_filter.matches(entry):
                subscription.offer(entry)


def format_event(entry: dict[str, Any]) -> str:
    """One SSE event of an entry: `id:` its log id. JSON with ASCII escapes, so no line
    separator (U+2028, U+2029, NEL...) ever appears raw in the data line."""
    data = json.dumps(entry, ensure_ascii=True, allow_nan=False, separators=(",", ":"))
    return f"id: {entry['id']}\nevent: log\ndata: {data}\n\n"


def _catch_up_page(
    conn: sqlite3.Connection, account_id: int, log_filter: LogFilter, after: int
) -> tuple[list[dict[str, Any]], int | None]:
    """Matching entries past `after`, oldest first (at most BATCH), and where the scan
    budget stopped (None: it did not)."""
    id_range = query.id_bounds(conn, log_filter)
    if id_range is None:
        return [], None
    low, high = id_range
    low = after + 1 if low is None else max(low, after + 1)
    if high is not None and high < low:
        return [], None
    rows, floor = query.fetch(
        conn, account_id, log_filter, low=low, high=high, limit=BATCH, ascending=True
    )
    return [entry_json(row) for row in rows], floor if len(rows) < BATCH else None


async def catch_up(
    database: Database, account_id: int, log_filter: LogFilter, after: int
) -> AsyncIterator[dict[str, Any]]:
    """Every matching entry committed past id `after`, oldest first, from the database."""
    while True:
        entries, floor = await database.read(
            partial(_catch_up_page, account_id=account_id, log_filter=log_filter, after=after)
        )
        for entry in entries:
            yield entry
            after = int(entry["id"])
        if floor is not None:
            after = max(after, floor)  # the budget stopped here: go on past it
            continue
        if len(entries) < BATCH:
            return


@dataclass
class StreamStart:
    """Where a stream starts: after `last_id` (None: at the newest entry, D13).

    `subscription` and `newest` are set by `start_stream`, before the answer's headers go
    out: a client that sees them open may count on every entry committed from then on.
    """

    last_id: int | None
    subscription: Subscription | None = None
    newest: int | None = None


async def start_stream(
    tail: LogTail, account_id: int, log_filter: LogFilter, last_id: int | None, queue_size: int
) -> StreamStart:
    """Subscribe, and fix a new stream's start at the newest entry, before answering."""
    subscription = tail.subscribe(account_id, log_filter, queue_size)
    try:
        newest = await tail.database.read(_last_id) if last_id is None else None
    except BaseException:
        tail.unsubscribe(subscription)
        raise
    return StreamStart(last_id, subscription, newest)


async def events(
    tail: LogTail,
    account_id: int,
    log_filter: LogFilter,
    start: StreamStart,
    *,
    queue_size: int,
    heartbeat_seconds: float,
) -> AsyncIterator[str]:
    """The SSE text of one stream: `retry:`, then each new matching entry once, in id
    order, with comment heartbeats after `heartbeat_seconds` of silence."""
    subscription = start.subscription or tail.subscribe(account_id, log_filter, queue_size)
    try:
        # Subscribed first: whatever commits from now on reaches the queue, everything
        # before is in the database; ids seen twice are dropped below. The start is fixed
        # before anything is sent, so an entry committed once the client sees `retry:`
        # is always one of the "new" entries.
        oldest = None
        if start.last_id is None:
            last_sent = (
                start.newest if start.newest is not None else await tail.database.read(_last_id)
            )
        else:
            last_sent = start.last_id
            oldest = await tail.database.read(_oldest_id)
        # `id:` names the start: a client cut before its first event resumes from there
        # (SSE sets the last event id from a block without data too), rather than from
        # the newest entry at its reconnect, which would skip what came in between.
        yield f"id: {last_sent}\nretry: {RETRY_MS}\n\n"
        if oldest is not None and last_sent + 1 < oldest:
            # Entries past the resume point were pruned (D13): say so, then go on.
            yield f"event: gap\ndata: {json.dumps({'pruned_before': oldest})}\n\n"
        catching_up = start.last_id is not None
        while not tail.closing.is_set():
            if subscription.lagging or catching_up:
                subscription.lagging = False
                subscription.items.clear()
                catching_up = False
                async for entry in catch_up(tail.database, account_id, log_filter, last_sent):
                    if entry["id"] > last_sent:
                        yield format_event(entry)
                        last_sent = entry["id"]
                    if tail.closing.is_set():
                        return
                continue
            if subscription.items:
                entry = subscription.items.popleft()
                if entry["id"] > last_sent:
                    yield format_event(entry)
                    last_sent = entry["id"]
                continue
            subscription.ready.clear()
            try:
                async with asyncio.timeout(heartbeat_seconds):
                    await subscription.ready.wait()
            except TimeoutError:
                yield ": keep-alive\n\n"
    finally:
        tail.unsubscribe(subscription)


def _oldest_id(conn: sqlite3.Connection) -> int | None:
    row = conn.execute("SELECT min(id) FROM logs").fetchone()
    return None if row[0] is None else int(row[0])
