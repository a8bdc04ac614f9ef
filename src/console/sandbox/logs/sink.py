"""The batched sink: log entries of requests that have no writer transaction of their own.

Refusals (4xx, 5xx) and other answers no route logged itself are handed over by the capture
middleware (`http/log_capture.py`) with `submit`: a deque append, never awaited, so logging
never makes a request wait. One task flushes every `flush_seconds` (or as soon as
`max_batch` entries wait) in one writer transaction (`store.insert_entries`), then wakes the
live tail. When `capacity` entries wait (the writer is stalled), or their bodies pass
`max_bytes`, the oldest are dropped and counted. A killed server loses at most the entries
of the last flush interval; the entries of accepted requests are written in the requests'
own transactions and never wait here.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from console.common.redaction import mask_key
from console.sandbox.logs import store
from console.sandbox.logs.model import LogBodies, LogEntry
from console.sandbox.storage.database import Database

logger = logging.getLogger("console.sandbox")

DEFAULT_MAX_BATCH = 500
DEFAULT_CAPACITY = 10_000
# Body bytes the waiting entries may hold in all: 10,000 entries with 64 KiB request and
# response heads would be ~1.3 GB; past this the oldest are dropped as when full.
DEFAULT_MAX_BYTES = 64 << 20


class Notifier(Protocol):
    """What the sink wakes after a flush (the live tail's LogSignal)."""

    def notify(self) -> None:
        """New entries were committed."""


@dataclass
class PendingEntry:
    """An entry waiting for the flush.

    `key_hash` is set when the request was refused before it was authenticated (a 413 as
    the body arrived): the flush looks the key up by its hash (never by the secret) and
    drops the entry when no live key has it (docs/api.md: a 401 is not logged).
    `entry.account_id` is then a placeholder.
    """

    entry: LogEntry
    bodies: LogBodies | None = None
    key_hash: str | None = None
    # Builds `bodies` (masking up to 64 KiB: regex work), called on a worker thread by the
    # flush, so neither the event loop nor the writer does it.
    bodies_later: Callable[[], LogBodies] | None = None
    # The body bytes it holds until written (counted against the sink's `max_bytes`).
    size: int = 0


def _build_bodies(batch: list[PendingEntry]) -> None:
    """Build the bodies of entries that have them later (worker thread)."""
    for pending in batch:
        build, pending.bodies_later = pending.bodies_later, None
        if build is None:
            continue
        try:
            pending.bodies = build()
        except Exception:
            logger.exception("could not keep the bodies of a connector log entry")


def _resolve(conn: sqlite3.Connection, pending: PendingEntry, at: float) -> bool:
    """Attribute an unauthenticated entry to the live key with its hash; False if none."""
    row = conn.execute(
        "SELECT id, account_id, prefix, last4, expires_at, revoked_at FROM api_keys"
        " WHERE key_hash = ?",
        (pending.key_hash,),
    ).fetchone()
    if row is None or row["revoked_at"] is not None:
        return False
    if row["expires_at"] is not None and row["expires_at"] <= at:
        return False
    entry = pending.entry
    entry.account_id = int(row["account_id"])
    entry.key_id = str(row["id"])
    entry.key_shown = mask_key(str(row["prefix"]), str(row["last4"]))
    return True


def write_pending(conn: sqlite3.Connection, batch: list[PendingEntry]) -> int:
    """Insert a batch (writer thread, the caller's transaction); how many were written."""
    at = time.time()
    items = [
        (pending.entry, pending.bodies)
        for pending in batch
        if pending.key_hash is None or _resolve(conn, pending, at)
    ]
    if items:
        store.insert_entries(conn, items, at)
    return len(items)


class LogSink:
    """Collects pending entries and writes them in batches on the writer thread."""

    def __init__(
        self,
        database: Database,
        tail: Notifier,
        *,
        flush_seconds: float = 0.1,
        max_batch: int = DEFAULT_MAX_BATCH,
        capacity: int = DEFAULT_CAPACITY,
        max_bytes: int = DEFAULT_MAX_BYTES,
    ) -> None:
        self.database = database
        self.tail = tail
        self.flush_seconds = flush_seconds
        self.max_batch = max_batch
        self.capacity = capacity
        self.max_bytes = max_bytes
        self._bytes = 0  # the `size` of the waiting entries
        self._pending: collections.deque[PendingEntry] = collections.deque()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        # Entries dropped because `capacity` were waiting (the writer could not keep up).
        self.dropped = 0
        self._dropped_reported = 0
        self.written = 0

    def __len__(self) -> int:
        return len(self._pending)

    def submit(self, pending: PendingEntry) -> None:
        """Queue an entry for the next flush; never waits. Full: the oldest is dropped."""
        while self._pending and (
            len(self._pending) >= self.capacity or self._bytes + pending.size > self.max_bytes
        ):
            self._bytes -= self._pending.popleft().size
            self.dropped += 1
        self._pending.append(pending)
        self._bytes += pending.size
        if len(self._pending) >= self.max_batch:
            self._wake.set()

    def start(self) -> None:
        """Start flushing (on the running loop, after the database is open)."""
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="log-sink")

    async def stop(self) -> None:
        """Stop the flush task (after its flush in progress), then write what still waits."""
        task, self._task = self._task, None
        self._stopping = True
        self._wake.set()
        if task is not None:
            await task
        while self._pending:
            await self.flush()

    async def flush(self) -> int:
        """Write up to `max_batch` waiting entries in one writer transaction; how many."""
        self._report_drops()
        if not self._pending:
            return 0
        count = min(len(self._pending), self.max_batch)
        batch = [self._pending.popleft() for _ in range(count)]
        self._bytes -= sum(pending.size for pending in batch)
        if any(pending.bodies_later is not None for pending in batch):
            await asyncio.to_thread(_build_bodies, batch)
        try:
            written = await self.database.run(lambda conn: write_pending(conn, batch))
        except Exception:
            logger.exception("could not write %d connector log entries", len(batch))
            self.dropped += len(batch)
            return 0
        self.written += written
        if written:
            self.tail.notify()
        return written

    def _report_drops(self) -> None:
        if self.dropped > self._dropped_reported:
            logger.warning(
                "connector log: %d entries dropped (%d in all): the writer could not keep up",
                self.dropped - self._dropped_reported,
                self.dropped,
            )
            self._dropped_reported = self.dropped

    async def _run(self) -> None:
        while not self._stopping:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.flush_seconds):
                    await self._wake.wait()
            self._wake.clear()
            while self._pending:
                await self.flush()
                if len(self._pending) < self.max_batch:
                    break
