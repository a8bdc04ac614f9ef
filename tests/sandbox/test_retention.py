"""Log retention: old entries, expired idempotency rows and old intent bodies are pruned in
small batches, new ones are kept, queued intents are never touched, and requests served
while a big prune runs are not held up by it."""

from __future__ import annotations

import asyncio
import hashlib
import sqlite3
import statistics
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from console.sandbox.logs.model import LogBodies, LogEntry, new_request_id
from console.sandbox.logs.retention import DAY_SECONDS, LogPruner
from console.sandbox.logs.store import insert_entries
from console.sandbox.process import SandboxProcess
from console.sandbox.settings import LogSettings
from console.sandbox.storage.database import Database
from console.sandbox.storage.sqlite import connect, database_path, ensure_account, mint_key

Waiter = Callable[..., None]


def _entry(account_id: int, at: float, n: int) -> LogEntry:
    return LogEntry(
        account_id=account_id,
        timestamp=at,
        request_id=new_request_id(),
        correlation_id=f"corr_retention{n:012d}",
        feed="orders",
        intent="ingest",
        http_status=202,
        processing_status="succeeded",
    )


def _intent(
    conn: sqlite3.Connection, account_id: int, seq: int, status: str, at: float, finished: bool
) -> None:
    body = b'[{"id": "x"}]'
    conn.execute(
        "INSERT INTO intents (seq, correlation_id, account_id, feed, intent, body, body_sha256,"
        " items_received, status, received_at, started_at, finished_at)"
        " VALUES (?, ?, ?, 'orders', 'upsert', ?, ?, 1, ?, ?, ?, ?)",
        (
            seq,
            f"corr_intent{seq:015d}",
            account_id,
            body,
            hashlib.sha256(body).hexdigest(),
            status,
            at,
            at if finished else None,
            at if finished else None,
        ),
    )


def test_prune_once_removes_only_what_retention_covers(tmp_path: Path) -> None:
    now = time.time()
    old, recent = now - 31 * DAY_SECONDS, now - 3600
    conn = connect(tmp_path)
    try:
        conn.execute("BEGIN IMMEDIATE")
        account_id = ensure_account(conn, "retention")
        body = LogBodies('{"id": 1}', 9, False, "{}", {"content-type": "application/json"})
        old_ids = insert_entries(
            conn, [(_entry(account_id, old, n), body) for n in range(25)], at=old
        )
        new_ids = insert_entries(
            conn, [(_entry(account_id, recent, n), body) for n in range(25, 30)], at=recent
        )
        for key, created in (("old-key", now - 25 * 3600), ("new-key", now - 3600)):
            conn.execute(
                "INSERT INTO ingest_idempotency (key_id, idempotency_key, account_id,"
                " request_id, body_sha256, response, created_at)"
                " VALUES ('key_1', ?, ?, 'req_x', 'sha', '{}', ?)",
                (key, account_id, created),
            )
        _intent(conn, account_id, 1, "succeeded", old, finished=True)
        _intent(conn, account_id, 2, "failed", old, finished=True)
        _intent(conn, account_id, 3, "queued", old, finished=False)
        _intent(conn, account_id, 4, "processing", old, finished=False)
        _intent(conn, account_id, 5, "succeeded", recent, finished=True)
        conn.execute("COMMIT")
    finally:
        conn.close()

    async def prune() -> tuple[Any, Any]:
        database = Database(tmp_path)
        await database.open()
        try:
            pruner = LogPruner(database, LogSettings(retention_days=30), batch=7, pause=0)
            first = await pruner.prune_once(now)
            second = await pruner.prune_once(now)
            return first, second
        finally:
            await database.close()

    first, second = asyncio.run(prune())
    assert (first.logs, first.idempotency, first.intent_bodies) == (25, 1, 2)
    assert first.hops >= 25 // 7 + 3  # in batches, each its own hop
    assert second.total == 0

    conn = connect(tmp_path)
    try:
        assert [row[0] for row in conn.execute("SELECT id FROM logs ORDER BY id")] == new_ids
        assert [row[0] for row in conn.execute("SELECT log_id FROM log_bodies")] == new_ids
        assert [row[0] for row in conn.execute("SELECT rowid FROM logs_fts")] == new_ids
        assert min(new_ids) > max(old_ids)
        keys = [row[0] for row in conn.execute("SELECT idempotency_key FROM ingest_idempotency")]
        assert keys == ["new-key"]
        bodies = dict(conn.execute("SELECT seq, length(body) FROM intents").fetchall())
        # Finished and old: emptied (rows kept); queued, processing or recent: untouched.
        assert bodies == {1: 0, 2: 0, 3: 13, 4: 13, 5: 13}
        assert conn.execute("SELECT count(*) FROM intents").fetchone()[0] == 5
    finally:
        conn.close()


def _query(data_dir: Path, sql: str, *parameters: Any) -> list[tuple[Any, ...]]:
    conn = sqlite3.connect(database_path(data_dir), timeout=10)
    try:
        return conn.execute(sql, parameters).fetchall()
    finally:
        conn.close()


@pytest.mark.timeout(180)
def test_pruning_a_big_backlog_never_holds_up_requests(
    make_sandbox: Callable[..., SandboxProcess], tmp_path: Path, eventually: Waiter
) -> None:
    """50,000 seeded entries over 7 days, retention 1 day: ~43,000 are pruned while four
    clients keep posting intents; none of them waits for the prune."""
    data_dir = tmp_path / "retention"
    server = make_sandbox(
        data_dir=data_dir,
        demo=False,
        rate_limit="100000000/300",
        extra_args=[
            *("--demo-logs", "50000", "--log-retention-days", "1"),
            *("--log-prune-seconds", "1", "--ingest-burst", "100000/1"),
        ],
    )
    cutoff = time.time() - DAY_SECONDS
    kept_before = _query(data_dir, "SELECT count(*) FROM logs WHERE written_at >= ?", cutoff)[0][0]
    old_before = _query(data_dir, "SELECT count(*) FROM logs WHERE written_at < ?", cutoff)[0][0]
    assert old_before > 35_000
    assert kept_before > 5_000
    key = mint_key(data_dir, account="retention", kind="ingest", feed="ledger")
    headers = {"Authorization": f"Bearer {key}"}
    latencies: list[float] = []
    statuses: list[int] = []
    pruned = threading.Event()
    lock = threading.Lock()

    def client(worker: int) -> None:
        with httpx.Client(base_url=str(server.base_url), headers=headers, timeout=30) as http:
            n = 0
            while not pruned.is_set() or n < 50:
                started = time.perf_counter()
                response = http.post("/ingest/ledger/upsert", json={"id": f"w{worker}-{n}", "n": n})
                elapsed = time.perf_counter() - started
                with lock:
                    latencies.append(elapsed)
                    statuses.append(response.status_code)
                n += 1

    with ThreadPoolExecutor(4) as pool:
        futures = [pool.submit(client, worker) for worker in range(4)]
        try:
            eventually(
                lambda: (
                    _query(data_dir, "SELECT count(*) FROM logs WHERE written_at < ?", cutoff)[0][0]
                    == 0
                ),
                60,
            )
        finally:
            pruned.set()
        for future in futures:
            future.result()

    assert set(statuses) == {202}
    latencies.sort()
    p99 = latencies[int(len(latencies) * 0.99)]
    print(
        f"{len(latencies)} requests during the prune: median "
        f"{statistics.median(latencies) * 1000:.1f} ms, p99 {p99 * 1000:.1f} ms, "
        f"max {latencies[-1] * 1000:.1f} ms"
    )
    # That each batch is its own short writer hop is shown by the test above (hops). Here,
    # end to end, no gross stall: single outliers of 0.5 s (CI) to 1.3 s (a machine at load
    # 8) come from 2 busy cores running four clients, the server, its worker and pytest.
    assert p99 < 0.25, f"p99 {p99:.3f} s"
    assert latencies[-1] < 2.0, f"a request waited {latencies[-1]:.3f} s"
    # The entries inside the retention are all still there.
    kept_after = _query(data_dir, "SELECT count(*) FROM logs WHERE written_at >= ?", cutoff)[0][0]
    assert kept_after >= kept_before
    fts = _query(data_dir, "SELECT count(*) FROM logs_fts")[0][0]
    assert fts == _query(data_dir, "SELECT count(*) FROM logs")[0][0]
    # Every intent posted meanwhile is applied (the queue was never touched).
    eventually(
        lambda: (
            _query(data_dir, "SELECT count(*) FROM intents WHERE status NOT IN ('succeeded')")[0][0]
            == 0
        ),
        30,
    )
    assert _query(data_dir, "SELECT count(*) FROM intents")[0][0] == len(statuses)
