"""The background indexer of records: full text (`q`), field filters and data keys.

Record writes only note the record's seq in `records_dirty` (one tiny insert); this task
brings the indexes up to date in batches, so a write never pays for them (synchronous
FTS5 triggers cut upserts by 7-15x, STACK_NOTES 10). Two passes: the full-text pass
(`records_fts`, `record_keys`) then hands each record to the field pass (`record_fields`),
whose rows cost about three times as much; a round does up to `batch` records of the first
and `batch / 2` of the second, so behind a bulk write `q` catches up first while field
filters still progress. Each pass reads the records and computes their rows on a reader
thread (JSON parsing off the writer), then writes them in one transaction on the writer
thread, leaving a record waiting when it changed in between (its updated_at or data
differ).

Freshness: a record is found once the round after its write commits: the task looks for
work every `poll_seconds` (50 ms) and runs rounds back to back while any is waiting.

While an import runs (`busy()` true), the field pass yields the writer to it: it does at
most `DEFERRED_FIELD_BATCH` records once every `DEFERRED_FIELD_SECONDS` (about 1% of the
writer's time instead of half of it), and catches up at full speed once the import is
done. `q` stays fresh meanwhile: imports write new records' full text with each batch and
the full-text pass keeps running at full speed.

While queued intents wait (`paused()` true: the intent worker is applying a backlog), the
indexer yields the writer to the worker altogether: it runs one round (both passes) at
most every `PAUSED_ROUND_SECONDS` instead of back to back, and catches up at full speed
once the queue is empty. So under a bulk load `q` and field filters lag behind the
records (docs/api.md, Intents: freshness) while items are applied at the worker's pace.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from console.sandbox.storage.database import Database

logger = logging.getLogger("console.sandbox")

DEFAULT_BATCH = 2000
POLL_SECONDS = 0.05
# The documented bound (docs/api.md, Records) on how long after its write commits a record
# is found by `q` and field filters, while the indexer keeps up (no import backlog).
FRESHNESS_SECONDS = 2.0
# The field pass's duty cycle while an import runs (docs/api.md, Records: freshness).
DEFERRED_FIELD_BATCH = 200
DEFERRED_FIELD_SECONDS = 1.0
# While intents are queued, at most one round per this many seconds (docs/api.md).
PAUSED_ROUND_SECONDS = 2.0
# Top-level fields of one record that get field-filter rows and data keys (the first ones).
MAX_INDEXED_FIELDS = 100
# Field names and values longer than these are not indexed (query.py caps filters alike).
MAX_INDEXED_NAME = 100
MAX_INDEXED_VALUE = 200
# Data keys listed per feed (GET .../records/keys).
MAX_KEYS = 200


_CONSTANTS = {None: "null", True: "true", False: "false"}


def field_value(value: Any) -> str | None:
    """The text a top-level scalar is filtered by (strings as they are, numbers and
    true/false/null as JSON), or None when it is not indexed (objects, lists, long text)."""
    if isinstance(value, str):
        text = value
    elif value is None or isinstance(value, bool):
        return _CONSTANTS[value]
    elif isinstance(value, int):
        text = str(value) if -(10**MAX_INDEXED_VALUE) < value < 10**MAX_INDEXED_VALUE else ""
    elif isinstance(value, float):
        text = repr(value)  # as JSON writes a finite float
    else:
        return None
    return text if 0 < len(text) <= MAX_INDEXED_VALUE or value == "" else None


def _words(value: Any) -> Iterator[str]:
    """Every scalar inside `value` as text (iteratively: no recursion on user data)."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            stack.extend(reversed(list(item.values())))
        elif isinstance(item, list):
            stack.extend(reversed(item))
        elif isinstance(item, str):
            yield item
        elif item is not None and not isinstance(item, bool):
            yield str(item)


def search_text(data: Any) -> str:
    """The text `q` searches: the data's values (not its keys), in order."""
    return " ".join(_words(data))


@dataclass(frozen=True)
class IndexRows:
    """What one record contributes to the indexes (as computed for one pass)."""

    seq: int
    updated_at: float
    data: str
    text: str
    fields: list[tuple[int, str, str, float, int]]
    keys: list[tuple[int, str]]

    def field_set(self) -> str:
        """record_field_sets.fields: the (name, value) pairs of this record's field rows."""
        return _ENCODER.encode([[field[1], field[2]] for field in self.fields])


_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))


def index_rows(
    seq: int,
    feed_seq: int,
    updated_at: float,
    data_text: str,
    data: Any = None,
    *,
    text: bool = True,
    fields: bool = True,
) -> IndexRows:
    """The FTS text and data keys (`text`) and the field rows (`fields`) of one record
    (`data`: its data parsed, when the caller has it)."""
    if data is None:
        data = json.loads(data_text)
    rows: list[tuple[int, str, str, float, int]] = []
    keys: list[tuple[int, str]] = []
    if isinstance(data, dict):
        for count, (name, value) in enumerate(data.items()):
            if count >= MAX_INDEXED_FIELDS:
                break
            if len(name) > MAX_INDEXED_NAME:
                continue
            keys.append((feed_seq, name))
            if fields:
                value_text = field_value(value)
                if value_text is not None:
                    rows.append((feed_seq, name, value_text, updated_at, seq))
    return IndexRows(seq, updated_at, data_text, search_text(data) if text else "", rows, keys)


def _in(count: int) -> str:
    return f"({','.join('?' * count)})"


def _dirty(conn: sqlite3.Connection, table: str, batch: int, *, text: bool) -> list[IndexRows]:
    rows = conn.execute(
        f"SELECT r.seq, r.feed_seq, r.updated_at, r.data FROM {table} d"
        " JOIN records r ON r.seq = d.seq ORDER BY d.seq LIMIT ?",
        (batch,),
    ).fetchall()
    return [index_rows(row[0], row[1], row[2], row[3], text=text, fields=not text) for row in rows]


def dirty_rows(conn: sqlite3.Connection, batch: int) -> list[IndexRows]:
    """Read up to `batch` records waiting for the full-text pass and compute their text and
    keys (on a reader)."""
    return _dirty(conn, "records_dirty", batch, text=True)


def dirty_field_rows(conn: sqlite3.Connection, batch: int) -> list[IndexRows]:
    """Read up to `batch` records waiting for the field pass and compute their field rows
    (on a reader)."""
    return _dirty(conn, "records_fields_dirty", batch, text=False)


def _fresh(conn: sqlite3.Connection, computed: list[IndexRows]) -> list[IndexRows]:
    """The computed records still as they were read (same updated_at and data)."""
    current = {
        row[0]: (row[1], row[2])
        for row in conn.execute(
            f"SELECT seq, updated_at, data FROM records WHERE seq IN {_in(len(computed))}",
            [item.seq for item in computed],
        )
    }
    return [item for item in computed if current.get(item.seq) == (item.updated_at, item.data)]


def write_index(conn: sqlite3.Connection, computed: list[IndexRows]) -> int:
    """The full-text pass (writer): write the FTS rows and data keys of records still as
    they were read, and pass them on to the field pass; return how many."""
    fresh = _fresh(conn, computed) if computed else []
    if not fresh:
        return 0
    seqs = [(item.seq,) for item in fresh]
    conn.executemany("DELETE FROM records_fts WHERE rowid = ?", seqs)
    conn.executemany(
        "INSERT INTO records_fts (rowid, body) VALUES (?, ?)",
        [(item.seq, item.text) for item in fresh],
    )
    conn.executemany(
        "INSERT OR IGNORE INTO record_keys (feed_seq, name) VALUES (?, ?)",
        sorted({key for item in fresh for key in item.keys}),
    )
    conn.executemany("DELETE FROM records_dirty WHERE seq = ?", seqs)
    conn.executemany("INSERT OR IGNORE INTO records_fields_dirty (seq) VALUES (?)", seqs)
    return len(fresh)


def write_new_index(
    conn: sqlite3.Connection, texts: list[tuple[int, str]], keys: set[tuple[int, str]]
) -> None:
    """`write_index` for records created in this very transaction (the bulk import): the
    same rows (FTS `(seq, text)`, data keys, the field pass's queue), without what cannot
    apply to a record that new (its freshness check, old FTS rows, a `records_dirty` mark)."""
    conn.executemany("INSERT INTO records_fts (rowid, body) VALUES (?, ?)", texts)
    conn.executemany(
        "INSERT OR IGNORE INTO record_keys (feed_seq, name) VALUES (?, ?)", sorted(keys)
    )
    conn.executemany(
        "INSERT OR IGNORE INTO records_fields_dirty (seq) VALUES (?)", [(t[0],) for t in texts]
    )


def write_fields(conn: sqlite3.Connection, computed: list[IndexRows]) -> int:
    """The field pass (writer): replace the field rows of records still as they were
    read; return how many."""
    fresh = _fresh(conn, computed) if computed else []
    if not fresh:
        return 0
    seqs = [(item.seq,) for item in fresh]
    feeds = {row[0]: row[1] for row in conn.execute(
        f"SELECT seq, feed_seq FROM records WHERE seq IN {_in(len(seqs))}",
        [item.seq for item in fresh],
    )}  # fmt: skip
    stale: list[tuple[int, str, str, float, int]] = []
    for seq, updated_at, pairs in conn.execute(
        f"SELECT seq, updated_at, fields FROM record_field_sets WHERE seq IN {_in(len(seqs))}",
        [item.seq for item in fresh],
    ):
        stale += [(feeds[seq], name, value, updated_at, seq) for name, value in json.loads(pairs)]
    conn.executemany(
        "DELETE FROM record_fields WHERE feed_seq = ? AND name = ? AND value = ?"
        " AND updated_at = ? AND seq = ?",
        stale,
    )
    conn.executemany(
        "INSERT OR IGNORE INTO record_fields (feed_seq, name, value, updated_at, seq)"
        " VALUES (?, ?, ?, ?, ?)",
        sorted(field for item in fresh for field in item.fields),
    )
    conn.executemany(
        "INSERT OR REPLACE INTO record_field_sets (seq, updated_at, fields) VALUES (?, ?, ?)",
        [(item.seq, item.updated_at, item.field_set()) for item in fresh],
    )
    conn.executemany("DELETE FROM records_fields_dirty WHERE seq = ?", seqs)
    return len(fresh)


def has_dirty(conn: sqlite3.Connection) -> bool:
    """Whether any record waits for the indexer."""
    row = conn.execute(
        "SELECT EXISTS (SELECT 1 FROM records_dirty) OR EXISTS (SELECT 1 FROM records_fields_dirty)"
    ).fetchone()
    return bool(row[0])


def index_all(conn: sqlite3.Connection, batch: int = DEFAULT_BATCH) -> None:
    """Run both passes until nothing waits, on one connection (tests, benchmarks; each
    round in its own transaction)."""
    for read, write in ((dirty_rows, write_index), (dirty_field_rows, write_fields)):
        while True:
            conn.execute("BEGIN IMMEDIATE")
            try:
                computed = read(conn, batch)
                if computed:
                    write(conn, computed)
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
            if not computed:
                break


class RecordIndexer:
    """Runs the index rounds as a task of the server's event loop."""

    def __init__(
        self,
        database: Database,
        *,
        batch: int = DEFAULT_BATCH,
        poll_seconds: float = POLL_SECONDS,
        busy: Callable[[], bool] | None = None,
        paused: Callable[[], bool] | None = None,
    ) -> None:
        self.database = database
        self.batch = batch
        self.field_batch = max(1, batch // 2)
        self.poll_seconds = poll_seconds
        # True while a bulk writer (an import) should have the writer: the field pass
        # then runs at DEFERRED_FIELD_BATCH records per DEFERRED_FIELD_SECONDS.
        self.busy = busy or (lambda: False)
        # True while queued intents wait: whole rounds then run once per PAUSED_ROUND_SECONDS.
        self.paused = paused or (lambda: False)
        self._deferred_at = -float("inf")  # loop time of the last deferred field round
        self._paused_at = -float("inf")  # loop time of the last round while paused
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()

    def start(self) -> None:
        """Start the task (on the running loop)."""
        self._task = asyncio.get_running_loop().create_task(self._run(), name="record-indexer")

    def wake(self) -> None:
        """Look for work now rather than at the next poll."""
        self._wake.set()

    async def stop(self) -> None:
        """Stop the task (a round in progress finishes or rolls back as a whole)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def run_once(self) -> int:
        """One round: the full-text pass over up to `batch` records, then the field pass over
        up to `field_batch` (so `q` catches up first behind a bulk write, while field
        filters still progress); return how many records either pass indexed.

        While `busy()`, the field pass does at most DEFERRED_FIELD_BATCH records, and only
        when DEFERRED_FIELD_SECONDS have passed since its last such round. While
        `paused()`, a round runs only when PAUSED_ROUND_SECONDS have passed since the
        last such round (else 0: nothing done)."""
        if self.paused():
            clock = asyncio.get_running_loop().time()
            if clock - self._paused_at < PAUSED_ROUND_SECONDS:
                return 0
            self._paused_at = clock
        if not await self.database.read(has_dirty):
            return 0
        batch, field_batch = self.batch, self.field_batch
        done = 0
        computed = await self.database.read(lambda conn: dirty_rows(conn, batch))
        if computed:
            done += await self.database.run(lambda conn: write_index(conn, computed))
        if self.busy():
            clock = asyncio.get_running_loop().time()
            if clock - self._deferred_at < DEFERRED_FIELD_SECONDS:
                return done
            self._deferred_at = clock
            field_batch = min(field_batch, DEFERRED_FIELD_BATCH)
        fields = await self.database.read(lambda conn: dirty_field_rows(conn, field_batch))
        if fields:
            done += await self.database.run(lambda conn: write_fields(conn, fields))
        return done

    async def _run(self) -> None:
        while True:
            try:
                done = await self.run_once()
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("the record indexer failed a round; retrying")
                done = 0
            if done == 0:
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self.poll_seconds)
