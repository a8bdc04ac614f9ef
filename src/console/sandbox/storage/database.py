"""The server's database thread: every request's DB work runs there in one hop.

One hop to a thread costs ~50 µs (STACK_NOTES 7), so a request hands over one function
doing all its statements in one transaction rather than hopping per statement. A single
worker thread owns the connection, which also serialises writers inside the process.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

from console.sandbox.storage import sqlite as store

T = TypeVar("T")


class Database:
    """A sqlite3 connection confined to one worker thread."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = Path(data_dir)
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sandbox-db")
        self._conn: sqlite3.Connection | None = None

    async def open(self) -> None:
        """Open and migrate the database (in the worker thread, which then owns it)."""
        loop = asyncio.get_running_loop()
        self._conn = await loop.run_in_executor(self._executor, store.connect, self.data_dir)

    async def run(self, work: Callable[[sqlite3.Connection], T]) -> T:
        """Run `work` in one write transaction on the database thread; return its result."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self._in_transaction, work)

    def _in_transaction(self, work: Callable[[sqlite3.Connection], T]) -> T:
        conn = self._conn
        if conn is None:
            raise RuntimeError("the database is not open")
        with store.transaction(conn):
            return work(conn)

    async def close(self) -> None:
        """Close the connection and stop the worker thread."""
        loop = asyncio.get_running_loop()
        if self._conn is not None:
            await loop.run_in_executor(self._executor, self._conn.close)
            self._conn = None
        self._executor.shutdown(wait=True)
