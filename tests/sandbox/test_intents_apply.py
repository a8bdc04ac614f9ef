"""The worker side of issue 12: item keys, log entry status, poll entries, the indexer's yield.

An intent's item key (intents.item_key, set by `/api/ingest`'s X-Item-Key) keys its items
instead of the feed's id field. Its connector log entry (intents.log_id) moves to
`processing` with `mark_processing` and to its final status, errors and error count with
`finish`, in the same transactions. Polls queued by the worker get their own entries.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from console.sandbox.intents import queue
from console.sandbox.intents.apply import apply_chunks, chunks_of, prepare
from console.sandbox.intents.worker import IntentWorker
from console.sandbox.logs import store as log_store
from console.sandbox.logs.model import LogEntry, new_request_id
from console.sandbox.records import indexer
from console.sandbox.records.indexer import RecordIndexer
from console.sandbox.settings import IntentTiming
from console.sandbox.storage.database import Database
from console.sandbox.storage.sqlite import connect, ensure_account, insert_feed, transaction

AT = 1_800_000_000.0


@pytest.fixture
def conn(tmp_path: Path) -> Iterator[sqlite3.Connection]:
    """A migrated database with an account and an ingest feed `ledger` (id field `id`)."""
    conn = connect(tmp_path)
    with transaction(conn):
        account = ensure_account(conn, "apply")
        insert_feed(conn, account, slug="ledger", name="Ledger", method="ingest")
    yield conn
    conn.close()


def enqueue(
    conn: sqlite3.Connection,
    correlation_id: str,
    intent: str,
    body: list[dict[str, Any]],
    *,
    item_key: str | None = None,
    logged: bool = False,
) -> int | None:
    """Queue an intent (with a log entry when `logged`); its log id."""
    with transaction(conn):
        queue.enqueue(
            conn,
            correlation_id=correlation_id,
            account_id=1,
            feed="ledger",
            intent=intent,
            key_id="key_x",
            key_shown="fdk_…abcd",
            body=json.dumps(body).encode(),
            items=len(body),
            at=AT,
        )
        # As /api/ingest stores them (enqueue takes neither on this branch).
        log_id = None
        if logged:
            entry = LogEntry(1, AT, new_request_id(), correlation_id, feed="ledger", intent=intent)
            log_id = log_store.insert_entry(conn, entry, None, AT)
        conn.execute(
            "UPDATE intents SET item_key = ?, log_id = ? WHERE correlation_id = ?",
            (item_key, log_id, correlation_id),
        )
    return log_id


def drain(conn: sqlite3.Connection, size: int = 2_000) -> None:
    """What the worker does: mark pending intents processing, then apply them in chunks."""
    while batch := queue.pending(conn, limit=64, max_items=5_000):
        with transaction(conn):
            queue.mark_processing(conn, [queued.seq for queued in batch], AT)
        for chunks in chunks_of([prepare(queued) for queued in batch], size):
            with transaction(conn):
                apply_chunks(conn, chunks, AT)


def log_row(conn: sqlite3.Connection, log_id: int | None) -> dict[str, Any]:
    row = conn.execute(
        "SELECT processing_status, errors, error_count FROM logs WHERE id = ?", (log_id,)
    ).fetchone()
    return {"status": row[0], "errors": json.loads(row[1]), "error_count": row[2]}


def test_an_intents_item_key_keys_its_items(conn: sqlite3.Connection) -> None:
    items = [{"id": f"row{n}", "sku": f"SKU-{n}", "n": n} for n in range(3)]
    enqueue(conn, "corr_keyed", "upsert", items, item_key="sku")
    enqueue(conn, "corr_plain", "upsert", [{"id": "row0", "sku": "other"}])
    (queued, _) = queue.pending(conn, limit=64, max_items=5_000)
    assert (queued.id_field, queued.item_key) == ("sku", "sku")
    drain(conn)
    records = conn.execute("SELECT system_id FROM records ORDER BY seq").fetchall()
    assert [row[0] for row in records] == ["SKU-0", "SKU-1", "SKU-2", "row0"]
    outcome = queue.outcome(conn, 1, "corr_keyed")
    assert outcome is not None
    assert outcome["status"] == "succeeded"
    assert [r["system_id"] for r in outcome["records"]] == ["SKU-0", "SKU-1", "SKU-2"]
    # The same item key again updates those records.
    enqueue(conn, "corr_again", "upsert", [{"id": "new", "sku": "SKU-1", "n": 9}], item_key="sku")
    drain(conn)
    again = queue.outcome(conn, 1, "corr_again")
    assert again is not None
    assert [(r["system_id"], r["action"]) for r in again["records"]] == [("SKU-1", "updated")]


def test_an_intents_log_entry_follows_it_to_its_final_status(conn: sqlite3.Connection) -> None:
    seed = enqueue(conn, "corr_seed", "upsert", [{"id": "known"}], logged=True)
    some = enqueue(
        conn,
        "corr_some",
        "patch",
        [{"id": "known", "x": 1}] + [{"id": f"ghost{n}"} for n in range(150)],
        logged=True,
    )
    unlogged = enqueue(conn, "corr_unlogged", "patch", [{"id": "ghost"}])
    assert unlogged is None
    assert log_row(conn, seed)["status"] == "queued"
    batch = queue.pending(conn, limit=64, max_items=5_000)
    with transaction(conn):
        queue.mark_processing(conn, [queued.seq for queued in batch], AT)
    assert log_row(conn, seed)["status"] == log_row(conn, some)["status"] == "processing"
    drain(conn, size=100)  # corr_some in two chunks: its status only when it is complete
    assert log_row(conn, seed) == {"status": "succeeded", "errors": [], "error_count": 0}
    entry = log_row(conn, some)
    assert (entry["status"], entry["error_count"], len(entry["errors"])) == (
        "partially_failed",
        150,
        100,
    )
    assert entry["errors"][0] == {
        "item": 1,
        "field": "id",
        "message": "no record with system_id ghost0",
    }
    assert [error["item"] for error in entry["errors"]] == list(range(1, 101))


def test_a_whole_intent_failure_is_the_entrys_first_error(conn: sqlite3.Connection) -> None:
    log_id = enqueue(conn, "corr_gone", "upsert", [{"id": "a"}], logged=True)
    with transaction(conn):
        conn.execute("DELETE FROM feeds")
    drain(conn)
    assert log_row(conn, log_id) == {
        "status": "failed",
        "errors": [{"item": None, "field": None, "message": "Feed ledger not found."}],
        "error_count": 1,
    }


def test_each_poll_gets_its_own_log_entry(conn: sqlite3.Connection) -> None:
    with transaction(conn):
        insert_feed(conn, 1, slug="shop", name="Shop", method="polling")
        insert_feed(conn, 1, slug="crm", name="CRM", method="polling")
        assert queue.enqueue_polls(conn, IntentTiming(records_per_poll=3), AT) == 2
    rows = conn.execute(
        "SELECT i.seq, i.correlation_id, i.request_id, l.request_id, l.correlation_id, l.feed,"
        " l.intent, l.method, l.path, l.key_id, l.items_received, l.processing_status,"
        " l.source, l.source_seq, l.timestamp"
        " FROM intents i JOIN logs l ON l.id = i.log_id ORDER BY i.seq"
    ).fetchall()
    assert len(rows) == 2
    for row in rows:
        seq, correlation_id, request_id = row[0], row[1], row[2]
        assert request_id.startswith("req_")
        assert tuple(row[3:]) == (
            request_id,
            correlation_id,
            row[5],
            "poll",
            None,
            None,
            None,
            3,
            "queued",
            "intent",
            seq,
            AT,
        )
    assert {row[5] for row in rows} == {"shop", "crm"}
    drain(conn)
    statuses = conn.execute("SELECT processing_status FROM logs").fetchall()
    assert [row[0] for row in statuses] == ["succeeded", "succeeded"]


def test_the_worker_tells_the_tail_about_poll_entries(tmp_path: Path) -> None:
    conn = connect(tmp_path)
    with transaction(conn):
        insert_feed(conn, ensure_account(conn, "polls"), slug="shop", name="S", method="polling")
    conn.close()
    calls: list[int] = []

    async def main() -> None:
        database = Database(tmp_path)
        await database.open()
        worker = IntentWorker(database, IntentTiming(), on_logged=lambda: calls.append(1))
        try:
            await worker.poll_if_due()  # due: the first poll comes at once
            await worker.poll_if_due()  # not due again yet
            assert not worker.busy()
            assert await worker.drain_once() == 1
            assert worker.busy()  # it found intents waiting
            assert await worker.drain_once() == 0
            assert not worker.busy()
        finally:
            await worker.stop()
            await database.close()

    asyncio.run(main())
    assert calls == [1]


def test_the_indexer_yields_whole_rounds_while_intents_wait(
    conn: sqlite3.Connection, tmp_path: Path
) -> None:
    waiting = [True]

    def write(correlation_id: str) -> None:
        enqueue(conn, correlation_id, "upsert", [{"id": f"{correlation_id}{n}"} for n in range(5)])
        drain(conn)

    async def main() -> list[int]:
        database = Database(tmp_path)
        await database.open()
        try:
            rounds = RecordIndexer(database, paused=lambda: waiting[0])
            write("corr_a")
            done = [await rounds.run_once()]  # one round while paused: both passes
            write("corr_b")
            done.append(await rounds.run_once())  # then none for PAUSED_ROUND_SECONDS
            assert await database.read(indexer.has_dirty)
            waiting[0] = False
            done.append(await rounds.run_once())  # the queue is empty: back to back again
            assert not await database.read(indexer.has_dirty)
            return done
        finally:
            await database.close()

    assert asyncio.run(main()) == [10, 0, 10]


@pytest.mark.slow
def test_the_apply_benchmark_runs_and_reports_both_rates(tmp_path: Path) -> None:
    out = tmp_path / "apply.json"
    bench = Path(__file__).resolve().parents[2] / "bench" / "apply_bench.py"
    result = subprocess.run(
        [sys.executable, str(bench), "--quick", "--json", str(out)],
        capture_output=True,
        text=True,
        timeout=100,
        check=False,
    )
    assert result.returncode in (0, 1), result.stderr[-3000:]  # 1: target missed (noisy)
    figures = json.loads(out.read_text())
    assert figures["items"] == 4_000
    assert figures["worker_items_per_s"] > 0
    assert figures["floor_items_per_s"] > 0
