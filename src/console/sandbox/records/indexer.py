"""The background indexer of records: full text (`q`), field filters and data keys.

Record writes only note the record's seq in `records_dirty` (one tiny insert); this task
brings `records_fts`, `record_fields` and `record_keys` up to date in batches, so a write
never pays for the indexes (synchronous FTS5 triggers cut upserts by 7-15x, STACK_NOTES
10). Each round reads the dirty records and computes their index rows on a reader thread
(JSON parsing off the writer), then writes them in one transaction on the writer thread,
keeping a record dirty when it changed in between (its updated_at or data differ).

Freshness: a record is searchable once the round after its write commits: the task looks
for work every `poll_seconds` (50 ms) and takes up to `batch` records a round.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from console.sandbox.storage.database import Database

logger = logging.getLogger("console.sandbox")

DEFAULT_BATCH = 1000
POLL_SECONDS = 0.05
# The documented bound (docs/api.md, Records) on how long after its write commits a record
# is found by `q` and field filters, while the indexer keeps up (no import backlog).
FRESHNESS_SECONDS = 2.0
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
    """What one record contributes to the indexes."""

    seq: int
    updated_at: float
    data: str
    text: str
    fields: list[tuple[int, str, str, float, int]]
    keys: list[tuple[int, str]]

    def remembered(self) -> str:
        """The FTS row's `fields` column: which record_fields rows this record has."""
        return _ENCODER.encode(
            {"u": self.updated_at, "f": [[field[1], field[2]] for field in self.fields]}
        )


_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))


def index_rows(
    seq: int, feed_seq: int, updated_at: float, data_text: str, data: Any = None
) -> IndexRows:
    """The FTS text, field rows and data keys of one record (`data`: its data parsed, when
    the caller has it)."""
    if data is None:
        data = json.loads(data_text)
    fields: list[tuple[int, str, str, float, int]] = []
    keys: list[tuple[int, str]] = []
    if isinstance(data, dict):
        for count, (name, value) in enumerate(data.items()):
            if count >= MAX_INDEXED_FIELDS:
                break
            if len(name) > MAX_INDEXED_NAME:
                continue
            keys.append((feed_seq, name))
            text = field_value(value)
            if text is not None:
                fields.append((feed_seq, name, text, updated_at, seq))
    return IndexRows(seq, updated_at, data_text, search_text(data), fields, keys)


def dirty_rows(conn: sqlite3.Connection, batch: int) -> list[IndexRows]:
    """Read up to `batch` dirty records and compute their index rows (on a reader)."""
    rows = conn.execute(
        "SELECT r.seq, r.feed_seq, r.updated_at, r.data FROM records_dirty d"
        " JOIN records r ON r.seq = d.seq ORDER BY d.seq LIMIT ?",
        (batch,),
    ).fetchall()
    return [index_rows(row[0], row[1], row[2], row[3]) for row in rows]


def _in(count: int) -> str:
    return f"({','.join('?' * count)})"


def write_index(conn: sqlite3.Connection, computed: list[IndexRows]) -> int:
    """Write the index rows of records still as they were read; return how many (writer)."""
    if not computed:
        return 0
    current = {
        row[0]: (row[1], row[2], row[3])
        for row in conn.execute(
            "SELECT seq, feed_seq, updated_at, data FROM records"
            f" WHERE seq IN {_in(len(computed))}",
            [item.seq for item in computed],
        )
    }
    fresh = [
        item for item in computed if current.get(item.seq, ())[1:] == (item.updated_at, item.data)
    ]
    if not fresh:
        return 0
    seqs = [(item.seq,) for item in fresh]
    stale: list[tuple[int, str, str, float, int]] = []
    for seq, remembered in conn.execute(
        f"SELECT rowid, fields FROM records_fts WHERE rowid IN {_in(len(seqs))}",
        [item.seq for item in fresh],
    ):
        old = json.loads(remembered)
        feed_seq = current[seq][0]
        stale += [(feed_seq, name, value, old["u"], seq) for name, value in old["f"]]
    conn.executemany(
        "DELETE FROM record_fields WHERE feed_seq = ? AND name = ? AND value = ?"
        " AND updated_at = ? AND seq = ?",
        stale,
    )
    conn.executemany("DELETE FROM records_fts WHERE rowid = ?", seqs)
    conn.executemany(
        "INSERT INTO records_fts (rowid, body, fields) VALUES (?, ?, ?)",
        [(item.seq, item.text, item.remembered()) for item in fresh],
    )
    conn.executemany(
        "INSERT OR IGNORE INTO record_fields (feed_seq, name, value, updated_at, seq)"
        " VALUES (?, ?, ?, ?, ?)",
        sorted(field for item in fresh for field in item.fields),
    )
    conn.executemany(
        "INSERT OR IGNORE INTO record_keys (feed_seq, name) VALUES (?, ?)",
        sorted({key for item in fresh for key in item.keys}),
    )
    conn.executemany("DELETE FROM records_dirty WHERE seq = ?", seqs)
    return len(fresh)


def has_dirty(conn: sqlite3.Connection) -> bool:
    """Whether any record waits for the indexer."""
    return conn.execute("SELECT 1 FROM records_dirty LIMIT 1").fetchone() is not None


class RecordIndexer:
    """Runs the index rounds as a task of the server's event loop."""

    def __init__(
        self, database: Database, *, batch: int = DEFAULT_BATCH, poll_seconds: float = POLL_SECONDS
    ) -> None:
        self.database = database
        self.batch = batch
        self.poll_seconds = poll_seconds
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
        """One round: index up to `batch` dirty records; return how many were indexed."""
        if not await self.database.read(has_dirty):
            return 0
        batch = self.batch
        computed = await self.database.read(lambda conn: dirty_rows(conn, batch))
        return await self.database.run(lambda conn: write_index(conn, computed))

    async def _run(self) -> None:
        while True:
            try:
                done = await self.run_once()
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("the record indexer failed a round; retrying")
                done = 0
            if done < self.batch:
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self.poll_seconds)
