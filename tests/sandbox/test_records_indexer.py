"""The record indexer's field pass yields the writer while an import runs."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

from console.sandbox.records import indexer as indexing
from console.sandbox.records import store
from console.sandbox.storage import sqlite as storage
from console.sandbox.storage.database import Database

ACTOR = store.Actor("key_" + "a" * 24, "fdk_…ab12", "corr_test", "upsert")
RECORDS = 700


def _seed(conn: sqlite3.Connection) -> None:
    with storage.transaction(conn):
        account = storage.ensure_account(conn, "acct")
        storage.insert_feed(
            conn, account, slug="orders", name="Orders", method="ingest", id_field="sku"
        )
        feed = store.find_feed(conn, account, "orders")
        assert feed is not None
        items = [{"sku": f"S{n}", "status": "paid"} for n in range(RECORDS)]
        store.upsert_items(conn, feed, items, ACTOR, 1000.0)


def _waiting(conn: sqlite3.Connection) -> tuple[int, int]:
    """(records waiting for the full-text pass, for the field pass)."""
    text = conn.execute("SELECT count(*) FROM records_dirty").fetchone()[0]
    fields = conn.execute("SELECT count(*) FROM records_fields_dirty").fetchone()[0]
    return int(text), int(fields)


def test_the_field_pass_runs_at_a_low_duty_cycle_while_an_import_runs(tmp_path: Path) -> None:
    conn = storage.connect(tmp_path)
    _seed(conn)
    conn.close()
    importing = True

    async def scenario() -> list[tuple[int, int]]:
        database = Database(tmp_path)
        await database.open()
        try:
            indexer = indexing.RecordIndexer(database, batch=2000, busy=lambda: importing)
            seen = []
            # Full text at full speed; the field pass only DEFERRED_FIELD_BATCH records.
            await indexer.run_once()
            seen.append(await database.read(_waiting))
            # Within DEFERRED_FIELD_SECONDS, no field round at all.
            await indexer.run_once()
            seen.append(await database.read(_waiting))
            # Once the import is done, it catches up at full speed.
            nonlocal importing
            importing = False
            await indexer.run_once()
            seen.append(await database.read(_waiting))
            return seen
        finally:
            await database.close()

    first, second, after = asyncio.run(scenario())
    deferred = RECORDS - indexing.DEFERRED_FIELD_BATCH
    assert first == (0, deferred)  # `q` is fresh, field filters wait
    assert second == (0, deferred)
    assert after == (0, 0)
