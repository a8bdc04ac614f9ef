"""The server's database threads: one writer, and a few readers on their own connections.

One hop to a thread costs ~50 µs (STACK_NOTES 7), so a request hands over one function
doing all its statements in one transaction rather than hopping per statement. A single
writer thread owns the write connection, which also serialises writers inside the process.
Reads run on a small pool of read-only WAL connections: a reader never waits for the
writer (WAL readers see the last committed snapshot), so one account's slow write cannot
stall another account's GET. CPU work (parsing, validation) runs on neither.

A hop costs more than the tiny indexed read behind `GET /keys` (~100 µs of a ~400 µs
request under load), so such reads may run on the event loop instead (`read_inline`), on
a read-only connection that never waits: `busy_timeout` 0 turns any lock SQLite cannot
take at once into SQLITE_BUSY, and the request then takes the ordinary hop.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path
from typing import TypeVar

from console.sandbox.storage import sqlite as store

T = TypeVar("T")

# Readers mostly wait on SQLite (which releases the GIL); two serve a 2-core machine.
DEFAULT_READERS = 2
# Primary result codes meaning "the read would have had to wait for a lock".
_WOULD_WAIT = (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)


class Database:
    """A write connection confined to one thread, and a pool of read-only connections."""

    def __init__(self, data_dir: Path, *, readers: int = DEFAULT_READERS) -> None:
        self.data_dir = Path(data_dir)
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sandbox-db")
        self._readers = ThreadPoolExecutor(
            max_workers=readers, thread_name_prefix="sandbox-read", initializer=self._open_reader
        )
        self._conn: sqlite3.Connection | None = None
        self._local = threading.local()
        self._reader_conns: list[sqlite3.Connection] = []
        self._reader_lock = threading.Lock()
        # The event loop's own read-only connection (busy_timeout 0), for `read_inline`.
        self._inline: sqlite3.Connection | None = None
        self._inline_cursor: sqlite3.Cursor | None = None
        # Callbacks for the end of the writer's current transaction (writer thread only).
        self._after: list[Callable[[], None]] = []

    async def open(self) -> None:
        """Open and migrate the database (in the writer thread, which then owns it)."""
        loop = asyncio.get_running_loop()
        self._conn = await loop.run_in_executor(self._executor, store.connect, self.data_dir)
        self._inline = await loop.run_in_executor(
            self._executor, partial(store.connect_reader, self.data_dir, busy_timeout_ms=0)
        )
        self._inline_cursor = self._inline.cursor()

    async def run(self, work: Callable[[sqlite3.Connection], T]) -> T:
        """Run `work` in one write transaction on the writer thread; return its result."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self._in_transaction, work)

    async def read(self, work: Callable[[sqlite3.Connection], T]) -> T:
        """Run `work` in one read transaction on a read-only connection; return its result."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._readers, self._in_read_transaction, work)

    async def read_inline(self, work: Callable[[sqlite3.Connection], T]) -> T:
        """Run a tiny indexed read right here on the event loop, else as `read` does.

        Only for reads of a few rows by an index: `work` runs on the loop thread, in one
        read transaction on a connection that never waits for a lock; should SQLite need
        to wait (SQLITE_BUSY or SQLITE_LOCKED, e.g. while another process recovers the
        WAL), `work` runs again from the start on a reader thread, so it must have no
        effect before its first statement has run.
        """
        conn = self._inline
        cursor = self._inline_cursor
        if conn is not None and cursor is not None:
            try:
                # store.read_transaction, spelt out (with a cursor kept for it): this runs on
                # every GET /keys.
                cursor.execute("BEGIN DEFERRED")
                try:
                    return work(conn)
                finally:
                    if conn.in_transaction:
                        cursor.execute("COMMIT")
            except sqlite3.OperationalError as error:
                if error.sqlite_errorcode & 0xFF not in _WOULD_WAIT:
                    raise
        return await self.read(work)

    def after_transaction(self, callback: Callable[[], None]) -> None:
        """From inside `run`'s work: call `callback` on the writer thread as soon as this
        transaction has ended (committed or not), before the writer runs anything else.

        For a cache of rows the work changed: dropped there, no later write can act on
        what the cache held (readers may still see the old rows until then, as without it).
        """
        self._after.append(callback)

    def _in_transaction(self, work: Callable[[sqlite3.Connection], T]) -> T:
        conn = self._conn
        if conn is None:
            raise RuntimeError("the database is not open")
        self._after = []
        try:
            with store.transaction(conn):
                return work(conn)
        finally:
            callbacks, self._after = self._after, []
            for callback in callbacks:
                callback()

    def _open_reader(self) -> None:
        if self._conn is None:
            raise RuntimeError("the database is not open")
        conn = store.connect_reader(self.data_dir)
        self._local.conn = conn
        with self._reader_lock:
            self._reader_conns.append(conn)

    def _in_read_transaction(self, work: Callable[[sqlite3.Connection], T]) -> T:
        conn: sqlite3.Connection = self._local.conn
        with store.read_transaction(conn):
            return work(conn)

    async def close(self) -> None:
        """Close every connection and stop the threads."""
        loop = asyncio.get_running_loop()
        if self._inline is not None:
            self._inline_cursor = None
            self._inline.close()
            self._inline = None
        await loop.run_in_executor(None, self._readers.shutdown, True)
        with self._reader_lock:
            for conn in self._reader_conns:
                conn.close()
            self._reader_conns.clear()
        if self._conn is not None:
            await loop.run_in_executor(self._executor, self._conn.close)
            self._conn = None
        self._executor.shutdown(wait=True)
