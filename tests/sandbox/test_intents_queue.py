"""The intent queue in process: chunked application resumes where it stopped, and a chunk
applied once is never applied again (the SIGKILL test shows the same end to end)."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from console.sandbox.intents import queue
from console.sandbox.intents.apply import Chunk, apply_chunks, chunks_of, prepare
from console.sandbox.storage.sqlite import connect, ensure_account, insert_feed, transaction

AT = 1_800_000_000.0


@pytest.fixture
def conn(tmp_path: Path) -> Iterator[sqlite3.Connection]:
    """A migrated database with an account and an ingest feed `ledger`."""
    conn = connect(tmp_path)
    with transaction(conn):
        account = ensure_account(conn, "queue")
        insert_feed(conn, account, slug="ledger", name="Ledger", method="ingest")
    yield conn
    conn.close()


def enqueue(conn: sqlite3.Connection, correlation_id: str, intent: str, body: object) -> None:
    raw = json.dumps(body).encode()
    items = len(body) if isinstance(body, list) else 1
    with transaction(conn):
        queue.enqueue(
            conn,
            correlation_id=correlation_id,
            account_id=1,
            feed="ledger",
            intent=intent,
            key_id="key_x",
            key_shown="fdk_…abcd",
            body=raw,
            items=items,
            at=AT,
        )


def hops(conn: sqlite3.Connection, size: int) -> list[list[Chunk]]:
    batch = [prepare(queued) for queued in queue.pending(conn, limit=64, max_items=5_000)]
    return list(chunks_of(batch, size))


def apply(conn: sqlite3.Connection, chunks: list[Chunk]) -> int:
    with transaction(conn):
        return apply_chunks(conn, chunks, AT)


def test_small_intents_share_a_transaction_and_large_ones_are_cut(
    conn: sqlite3.Connection,
) -> None:
    enqueue(conn, "corr_a", "upsert", [{"id": "a"}])
    enqueue(conn, "corr_b", "upsert", [{"id": f"b{n}"} for n in range(250)])
    enqueue(conn, "corr_c", "upsert", [{"id": "c"}])
    planned = hops(conn, 100)
    shapes = [
        [(chunk.prepared.queued.correlation_id, chunk.start, chunk.stop) for chunk in hop]
        for hop in planned
    ]
    assert shapes == [
        [("corr_a", 0, 1), ("corr_b", 0, 99)],
        [("corr_b", 99, 199)],
        [("corr_b", 199, 250), ("corr_c", 0, 1)],
    ]


def test_a_stopped_intent_resumes_after_its_last_chunk_and_applies_each_item_once(
    conn: sqlite3.Connection,
) -> None:
    enqueue(conn, "corr_big", "upsert", [{"id": f"r{n}", "n": n} for n in range(1_200)])
    first, *rest = hops(conn, 500)
    assert apply(conn, first) == 1
    # Killed here: the next start reads the intent again, 500 items done.
    (pending,) = queue.pending(conn, limit=64, max_items=5_000)
    assert pending.items_done == 500
    assert conn.execute("SELECT status FROM intents").fetchone()[0] == "queued"
    # A replay of the committed chunk changes nothing.
    assert apply(conn, first) == 0
    resumed = hops(conn, 500)
    assert [[(c.start, c.stop) for c in hop] for hop in resumed] == [[(500, 1000)], [(1000, 1200)]]
    for hop in resumed:
        assert apply(conn, hop) == 1
    for hop in [first, *rest, *resumed]:
        assert apply(conn, hop) == 0
    assert tuple(conn.execute("SELECT status, items_done FROM intents").fetchone()) == (
        "succeeded",
        1_200,
    )
    per_record = conn.execute("SELECT COUNT(*) FROM record_history GROUP BY record_seq").fetchall()
    assert len(per_record) == 1_200
    assert {row[0] for row in per_record} == {1}
    items = [row[0] for row in conn.execute("SELECT item FROM intent_records ORDER BY item")]
    assert items == list(range(1_200))


def test_failed_items_decide_the_status(conn: sqlite3.Connection) -> None:
    enqueue(conn, "corr_seed", "upsert", [{"id": "known"}])
    enqueue(conn, "corr_some", "patch", [{"id": "known", "x": 1}, {"id": "ghost", "x": 1}])
    enqueue(conn, "corr_none", "patch", [{"id": "ghost"}])
    for hop in hops(conn, 500):
        apply(conn, hop)
    statuses = dict(conn.execute("SELECT correlation_id, status FROM intents").fetchall())
    assert statuses == {
        "corr_seed": "succeeded",
        "corr_some": "partially_failed",
        "corr_none": "failed",
    }
    outcome = queue.outcome(conn, 1, "corr_some")
    assert outcome is not None
    assert outcome["errors"] == [
        {"item": 1, "field": "id", "message": "no record with system_id ghost"}
    ]
