"""Tiny indexed reads run on the event loop, and never wait there (issue 10, A7)."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from pathlib import Path

import httpx
import pytest

from console.sandbox.storage import sqlite as store
from console.sandbox.storage.database import Database


def test_an_inline_read_runs_on_the_loop_while_every_reader_thread_is_busy(
    tmp_path: Path,
) -> None:
    async def scenario() -> None:
        database = Database(tmp_path)
        await database.open()
        release = threading.Event()
        blocked = [database.read(lambda conn: release.wait(10)) for _ in range(2)]
        tasks = [asyncio.ensure_future(work) for work in blocked]
        try:
            # Both reader threads are taken: a read that hopped would wait 10 s.
            thread, timeout, query_only = await asyncio.wait_for(
                database.read_inline(
                    lambda conn: (
                        threading.current_thread(),
                        conn.execute("PRAGMA busy_timeout").fetchone()[0],
                        conn.execute("PRAGMA query_only").fetchone()[0],
                    )
                ),
                timeout=2,
            )
        finally:
            release.set()
            await asyncio.gather(*tasks)
            await database.close()
        assert thread is threading.current_thread()
        # It never waits for a lock, and can never write.
        assert (timeout, query_only) == (0, 1)

    asyncio.run(scenario())


def test_an_inline_read_that_meets_a_lock_runs_again_on_a_reader_thread(tmp_path: Path) -> None:
    """SQLite gives a WAL reader SQLITE_BUSY only in rare windows (another process
    recovering the WAL, say); here the first try meets a genuine SQLITE_BUSY from a locked
    database, and the read must be answered from a reader thread instead."""
    tries: list[str] = []

    async def scenario() -> int:
        database = Database(tmp_path)
        await database.open()
        path = store.database_path(tmp_path)
        holder = sqlite3.connect(path, isolation_level=None)
        impatient = sqlite3.connect(path, isolation_level=None, timeout=0, check_same_thread=False)

        def work(conn: sqlite3.Connection) -> int:
            tries.append(threading.current_thread().name)
            if len(tries) == 1:
                impatient.execute("BEGIN IMMEDIATE")  # the write lock is held: SQLITE_BUSY
            return int(conn.execute("SELECT count(*) FROM accounts").fetchone()[0])

        holder.execute("BEGIN IMMEDIATE")
        try:
            return await database.read_inline(work)
        finally:
            holder.execute("ROLLBACK")
            holder.close()
            impatient.close()
            await database.close()

    assert asyncio.run(scenario()) >= 0
    assert tries[0] == threading.main_thread().name
    assert len(tries) == 2
    assert tries[1].startswith("sandbox-read")


def test_an_inline_read_that_fails_otherwise_is_not_retried(tmp_path: Path) -> None:
    tries: list[int] = []

    def work(conn: sqlite3.Connection) -> None:
        tries.append(1)
        conn.execute("SELECT * FROM no_such_table")

    async def scenario() -> None:
        database = Database(tmp_path)
        await database.open()
        try:
            await database.read_inline(work)
        finally:
            await database.close()

    with pytest.raises(sqlite3.OperationalError, match="no such table"):
        asyncio.run(scenario())
    assert tries == [1]


def test_get_keys_carries_the_contract_headers_and_no_server_header(
    sandbox_url: str, admin_key: str
) -> None:
    headers = {"Authorization": f"Bearer {admin_key}", "X-Correlation-Id": "mine-1"}
    response = httpx.get(f"{sandbox_url}/api/public/v1/keys?limit=1", headers=headers)
    assert response.status_code == 200
    assert response.headers["x-correlation-id"] == "mine-1"
    assert {"x-ratelimit-limit", "x-ratelimit-remaining", "x-ratelimit-reset"} <= set(
        response.headers
    )
    assert "server" not in response.headers
