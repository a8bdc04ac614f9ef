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


def test_bodies_live_off_the_intents_row_and_old_rows_still_apply(
    conn: sqlite3.Connection,
) -> None:
    """A body is stored in intent_bodies, never on the intents row the worker updates after
    each chunk (SQLite rewrites a whole row per update: 1 MiB a chunk); a row queued before
    that table existed (its body on the row) is still read and applied."""
    enqueue(conn, "corr_new", "upsert", [{"id": "a", "n": 1}])
    with transaction(conn):
        conn.execute(
            "INSERT INTO intents (correlation_id, account_id, feed, intent, key_id, key_shown,"
            " body, body_sha256, items_received, status, received_at)"
            " VALUES ('corr_old', 1, 'ledger', 'upsert', 'key_x', 'fdk_…abcd', ?, '', 1,"
            " 'queued', ?)",
            (b'[{"id": "b", "n": 2}]', AT),
        )
    rows = conn.execute(
        "SELECT i.correlation_id, length(i.body), b.body FROM intents i"
        " LEFT JOIN intent_bodies b ON b.seq = i.seq ORDER BY i.seq"
    ).fetchall()
    assert [tuple(row) for row in rows] == [
        ("corr_new", 0, json.dumps([{"id": "a", "n": 1}]).encode()),
        ("corr_old", 21, None),
    ]
    pending = queue.pending(conn, limit=64, max_items=5_000)
    assert [json.loads(item.body) for item in pending] == [
        [{"id": "a", "n": 1}],
        [{"id": "b", "n": 2}],
    ]
    for chunks in hops(conn, 100):
        apply(conn, chunks)
    records = conn.execute("SELECT system_id FROM records ORDER BY system_id").fetchall()
    assert [row[0] for row in records] == ["a", "b"]


def test_pending_reads_only_the_chosen_bodies(conn: sqlite3.Connection) -> None:
    """`max_items` cuts the batch: the bodies of the intents left out are not read (under a
    bulk upload those are 1 MiB each, up to `limit` of them)."""
    for n in range(5):
        enqueue(conn, f"corr_{n}", "upsert", [{"id": f"{n}-{i}"} for i in range(10)])
    reads: list[str] = []
    conn.set_trace_callback(reads.append)
    try:
        batch = queue.pending(conn, limit=64, max_items=15)
    finally:
        conn.set_trace_callback(None)
    assert [item.correlation_id for item in batch] == ["corr_0"]
    body_reads = [sql for sql in reads if "body" in sql.split("FROM")[0]]
    assert len(body_reads) == 1
    assert "json_each('[1]')" in body_reads[0].replace(" ", "")
