"""The import's bulk create leaves exactly the rows the store's one-by-one upsert leaves."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from console.sandbox.imports.bulk import apply_prepared, prepare
from console.sandbox.imports.rows import Batch
from console.sandbox.records.store import (
    MAX_DATA_BYTES,
    Actor,
    FeedRef,
    find_feed,
    set_deleted,
    upsert_items,
)
from console.sandbox.storage.sqlite import connect, ensure_account, insert_feed, transaction

ACTOR = Actor("key_abc", "fdk_…ab12", "corr_import", "import")
EARLIER = Actor("key_abc", "fdk_…ab12", "corr_earlier", "record-post")
AT = 1_800_000_000.125


def _database(path: Path) -> tuple[sqlite3.Connection, FeedRef]:
    conn = connect(path)
    with transaction(conn):
        account = ensure_account(conn, "bulk")
        insert_feed(conn, account, slug="f", name="f", method="ingest", id_field="sku")
        feed = find_feed(conn, account, "f")
        assert feed is not None
        # Already there: one active record, one archived.
        upsert_items(conn, feed, [{"sku": "old", "v": 1}, {"sku": "gone", "v": 1}], EARLIER, AT)
        set_deleted(conn, feed, ["gone"], True, EARLIER, AT)
    return conn, feed


def _rows(conn: sqlite3.Connection, sql: str) -> list[Sequence[Any]]:
    return [tuple(row) for row in conn.execute(sql)]


def _state(conn: sqlite3.Connection) -> dict[str, Any]:
    """Every row a write leaves (history per record in order; its global interleaving with
    other records' history is not part of the contract)."""
    return {
        "records": _rows(
            conn,
            "SELECT seq, feed_seq, system_id, deleted, created_at, updated_at, data,"
            " last_correlation_id, archived, restored FROM records ORDER BY seq",
        ),
        "history": _rows(
            conn,
            "SELECT record_seq, timestamp, intent, correlation_id, key_id, key_shown, changed"
            " FROM record_history ORDER BY record_seq, id",
        ),
        "dirty": _rows(conn, "SELECT seq FROM records_dirty ORDER BY seq"),
        "count": _rows(conn, "SELECT record_count FROM feeds"),
    }


def test_bulk_and_one_by_one_leave_the_same_rows(tmp_path: Path) -> None:
    items: list[dict[str, Any]] = [
        {"sku": "a", "tags": ["x"], "n": "1"},
        {"sku": "old", "v": 2},  # an existing record: updated
        {"sku": 7, "v": 1},  # an integer id
        {"sku": "a", "tags": ["y"]},  # repeated in the batch: the first creates it
        {"sku": "gone", "v": 1},  # archived: unchanged data, stays archived
        {"sku": "big", "blob": "x" * MAX_DATA_BYTES},  # over the store's size limit
        {"sku": "b"},
        {"sku": "b"},  # repeated, same data: unchanged
    ]
    batch = Batch(rows=list(range(1, len(items) + 1)), items=items, last_row=len(items))

    one_by_one, feed = _database(tmp_path / "one")
    with transaction(one_by_one):
        outcomes = upsert_items(one_by_one, feed, items, ACTOR, AT)
    bulk, feed = _database(tmp_path / "bulk")
    prepared, errors = prepare(batch, "sku")
    with transaction(bulk):
        applied = apply_prepared(bulk, feed, prepared, ACTOR, AT)

    assert _state(bulk) == _state(one_by_one)
    assert len(_state(bulk)["history"]) == 3 + 3 + 2  # earlier writes, creates, updates
    actions = [outcome.action for outcome in outcomes]
    assert applied.created == actions.count("created") == 3
    assert applied.updated == actions.count("updated")
    assert applied.unchanged == actions.count("unchanged")
    failed = [outcome for outcome in outcomes if outcome.action == "failed"]
    assert [(e.row, e.field, e.message) for e in errors + (applied.errors or [])] == [
        (outcome.index + 1, outcome.field, outcome.message) for outcome in failed
    ]
