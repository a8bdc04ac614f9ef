"""Log retention: prune old entries, expired idempotency rows and old intent bodies.

`LogPruner` runs every `LogSettings.prune_seconds` and never holds the writer for long:
each batch of at most `BATCH_ROWS` rows is its own short writer hop (a few ms), followed
by a short sleep, so request hops queued meanwhile run between two batches (the writer's
executor is FIFO). Per round:

- log entries whose `written_at` is older than `retention_days`: the first id to keep is
  found by an index seek on `logs_by_written` (`written_at` grows with `id`), then ids
  below it are deleted in id ranges from `logs`, `log_bodies` and `logs_fts`;
- `ingest_idempotency` rows older than 24 h (an Idempotency-Key's window, D5);
- the bodies of finished intents older than the retention are emptied (the rows are kept,
  so their outcomes, `intent_records` and traces survive). Queued and processing intents
  are never touched.

There is no VACUUM: freed pages are reused, the file does not shrink (docs/api.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial

from console.sandbox.settings import LogSettings
from console.sandbox.storage.database import Database

logger = logging.getLogger("console.sandbox")

DAY_SECONDS = 86_400.0
# An Idempotency-Key is remembered this long (contract: 24 h).
IDEMPOTENCY_SECONDS = DAY_SECONDS
# Rows per writer hop (at most), and the pause between two hops.
BATCH_ROWS = 1000
PAUSE_SECONDS = 0.02
# A log batch that held the writer longer than this halves the next one (down to
# MIN_BATCH_ROWS); one under a quarter of it doubles the next (up to the batch size).
# Deleting an entry touches 11 indexes and the FTS index: 1,000 took 5-10 ms on an idle
# machine and 60-75 ms on a busy one (measured), too long for requests queued behind it.
TARGET_HOP_SECONDS = 0.015
MIN_BATCH_ROWS = 50
ERROR_BACKOFF_SECONDS = 1.0


@dataclass
class PruneCounts:
    """What one round removed."""

    logs: int = 0
    idempotency: int = 0
    intent_bodies: int = 0
    hops: int = field(default=0, repr=False)

    @property
    def total(self) -> int:
        return self.logs + self.idempotency + self.intent_bodies


def first_kept_log_id(conn: sqlite3.Connection, cutoff: float) -> int:
    """The smallest id of an entry written at or after `cutoff` (one past the last id if none)."""
    row = conn.execute(
        "SELECT id FROM logs INDEXED BY logs_by_written WHERE written_at >= ?"
        " ORDER BY written_at, id LIMIT 1",
        (cutoff,),
    ).fetchone()
    if row is not None:
        return int(row[0])
    last = conn.execute("SELECT max(id) FROM logs").fetchone()[0]
    return 0 if last is None else int(last) + 1


def delete_log_range(conn: sqlite3.Connection, start: int, stop: int) -> int:
    """Delete the entries with `start <= id < stop` with their bodies and search rows."""
    conn.execute("DELETE FROM logs_fts WHERE rowid >= ? AND rowid < ?", (start, stop))
    conn.execute("DELETE FROM log_bodies WHERE log_id >= ? AND log_id < ?", (start, stop))
    return conn.execute("DELETE FROM logs WHERE id >= ? AND id < ?", (start, stop)).rowcount


def _prune_logs_batch(
    conn: sqlite3.Connection, cutoff: float, batch: int
) -> tuple[int, bool, float]:
    """One batch of old entries: (deleted, more left, seconds it took)."""
    started = time.perf_counter()
    first = conn.execute("SELECT min(id) FROM logs").fetchone()[0]
    if first is None:
        return 0, False, 0.0
    keep_from = first_kept_log_id(conn, cutoff)
    if int(first) >= keep_from:
        return 0, False, 0.0
    stop = min(int(first) + batch, keep_from)
    deleted = delete_log_range(conn, int(first), stop)
    return deleted, stop < keep_from, time.perf_counter() - started


def _prune_idempotency_batch(conn: sqlite3.Connection, cutoff: float, batch: int) -> int:
    return conn.execute(
        "DELETE FROM ingest_idempotency WHERE (key_id, idempotency_key) IN"
        " (SELECT key_id, idempotency_key FROM ingest_idempotency"
        " INDEXED BY ingest_idempotency_by_age WHERE created_at < ? ORDER BY created_at LIMIT ?)",
        (cutoff, batch),
    ).rowcount


def _empty_intent_bodies_batch(
    conn: sqlite3.Connection, after: tuple[float, int], cutoff: float, batch: int
) -> tuple[int, tuple[float, int], bool]:
    """Empty the bodies of finished intents after `after` (finished_at, seq) and finished
    before `cutoff`, oldest first. Returns (emptied, the last one looked at, more left)."""
    rows = conn.execute(
        "SELECT seq, finished_at FROM intents INDEXED BY intents_finished"
        " WHERE finished_at IS NOT NULL AND (finished_at, seq) > (?, ?) AND finished_at < ?"
        " ORDER BY finished_at, seq LIMIT ?",
        (*after, cutoff, batch),
    ).fetchall()
    if not rows:
        return 0, after, False
    emptied = conn.executemany(
        "UPDATE intents SET body = x'' WHERE seq = ? AND length(body) > 0"
        " AND status NOT IN ('queued', 'processing')",
        [(row[0],) for row in rows],
    ).rowcount
    # Bodies of intents queued since the intent_bodies migration live in their own table.
    emptied += conn.executemany(
        "DELETE FROM intent_bodies WHERE seq = ? AND seq IN (SELECT seq FROM intents"
        " WHERE seq = ? AND status NOT IN ('queued', 'processing'))",
        [(row[0], row[0]) for row in rows],
    ).rowcount
    return emptied, (float(rows[-1][1]), int(rows[-1][0])), len(rows) == batch


class LogPruner:
    """Prunes logs, idempotency rows and old intent bodies every `prune_seconds`."""

    def __init__(
        self,
        database: Database,
        settings: LogSettings,
        *,
        batch: int = BATCH_ROWS,
        pause: float = PAUSE_SECONDS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.database = database
        self.settings = settings
        self.batch = batch
        self.pause = pause
        self.clock = clock
        self._task: asyncio.Task[None] | None = None
        self._log_batch = batch
        # Intents up to this (finished_at, seq) have had their bodies emptied (this process
        # only remembers it: after a restart the first round looks at them once more).
        self._intents_after: tuple[float, int] = (0.0, 0)

    def start(self) -> None:
        """Start the task on the running loop (its first round comes after `prune_seconds`)."""
        self._task = asyncio.get_running_loop().create_task(self._run(), name="log-pruner")

    async def stop(self) -> None:
        """Cancel the task and wait for it (it only ever waits on a sleep or one hop)."""
        task, self._task = self._task, None
        if task is None:
            return
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    async def prune_once(self, now: float | None = None) -> PruneCounts:
        """One round at `now` (default: the clock), batch by batch; what it removed."""
        at = self.clock() if now is None else now
        retention_cutoff = at - self.settings.retention_days * DAY_SECONDS
        counts = PruneCounts()
        more = True
        while more:
            deleted, more, took = await self.database.run(
                partial(_prune_logs_batch, cutoff=retention_cutoff, batch=self._log_batch)
            )
            counts.logs += deleted
            counts.hops += 1
            if took > TARGET_HOP_SECONDS:
                self._log_batch = max(MIN_BATCH_ROWS, min(self.batch, self._log_batch // 2))
            elif took < TARGET_HOP_SECONDS / 4:
                self._log_batch = min(self.batch, self._log_batch * 2)
            if more:
                await asyncio.sleep(self.pause)
        while True:
            deleted = await self.database.run(
                partial(_prune_idempotency_batch, cutoff=at - IDEMPOTENCY_SECONDS, batch=self.batch)
            )
            counts.idempotency += deleted
            counts.hops += 1
            if deleted < self.batch:
                break
            await asyncio.sleep(self.pause)
        more = True
        while more:
            emptied, self._intents_after, more = await self.database.run(
                partial(
                    _empty_intent_bodies_batch,
                    after=self._intents_after,
                    cutoff=retention_cutoff,
                    batch=self.batch,
                )
            )
            counts.intent_bodies += emptied
            counts.hops += 1
            if more:
                await asyncio.sleep(self.pause)
        return counts

    async def _run(self) -> None:
        # The first round one interval after start: a server starting up (or a seeding
        # that just finished) gets its first requests served first.
        delay = self.settings.prune_seconds
        while True:
            await asyncio.sleep(delay)
            try:
                counts = await self.prune_once()
                if counts.total:
                    logger.info("log retention pruned %s", counts)
                delay = self.settings.prune_seconds
            except Exception:
                logger.exception("log pruning failed; retrying")
                delay = max(ERROR_BACKOFF_SECONDS, self.settings.prune_seconds)
