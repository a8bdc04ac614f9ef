"""Stream ingestion is durable: a sandbox killed with SIGKILL right after the last 202 of
`POST /api/ingest` loses nothing, and after a restart every accepted item is a record,
applied exactly once."""

from __future__ import annotations

import os
import signal
import sqlite3
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from console.sandbox.process import SandboxProcess
from console.sandbox.storage.sqlite import database_path, mint_key

Waiter = Callable[..., None]
BATCHES = 20
ITEMS = 1_000
CLIENTS = 4
FEED = "ledger"


def query(data_dir: Path, sql: str, *parameters: Any) -> list[tuple[Any, ...]]:
    """Rows of `sql` on the sandbox database (read behind the server's back)."""
    conn = sqlite3.connect(database_path(data_dir), timeout=10)
    try:
        return conn.execute(sql, parameters).fetchall()
    finally:
        conn.close()


def batch_items(batch: int) -> list[dict[str, Any]]:
    return [
        {"id": f"b{batch:02d}-{n:04d}", "batch": batch, "n": n, "note": "durable"}
        for n in range(ITEMS)
    ]


def post_batch(client: httpx.Client, batch: int) -> str:
    response = client.post(
        "/api/ingest",
        params={"stream": FEED},
        json=batch_items(batch),
        headers={"Idempotency-Key": f"durability-{batch}"},
    )
    assert response.status_code == 202, response.text
    data = response.json()["data"]
    assert (data["stream"], data["items_received"]) == (FEED, ITEMS)
    return str(data["request_id"])


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL")
@pytest.mark.timeout(240)
def test_a_killed_server_applies_every_accepted_ingest_item_exactly_once_after_restart(
    make_sandbox: Callable[..., SandboxProcess], tmp_path: Path, eventually: Waiter
) -> None:
    data_dir = tmp_path / "durable-ingest"
    server = make_sandbox(data_dir=data_dir, demo=False, extra_args=["--ingest-burst", "100000/1"])
    key = mint_key(data_dir, account="durable-ingest", kind="ingest", feed=FEED)
    headers = {"Authorization": f"Bearer {key}"}
    base_url = str(server.base_url)

    def sender(worker: int) -> list[str]:
        with httpx.Client(base_url=base_url, headers=headers, timeout=60) as client:
            return [post_batch(client, batch) for batch in range(worker, BATCHES - 1, CLIENTS)]

    with ThreadPoolExecutor(CLIENTS) as pool:
        request_ids = [rid for sent in pool.map(sender, range(CLIENTS)) for rid in sent]
    with httpx.Client(base_url=base_url, headers=headers, timeout=60) as client:
        request_ids.append(post_batch(client, BATCHES - 1))
        assert server.pid is not None
        os.kill(server.pid, signal.SIGKILL)  # right after the last 202
    killed_at = time.monotonic()
    eventually(lambda: not server.running, 10)
    server.stop()
    assert len(set(request_ids)) == BATCHES

    # Every accepted request is on disk; the last one (at least) was not applied yet.
    stored = query(data_dir, "SELECT status, items_received FROM intents")
    assert len(stored) == BATCHES
    assert sum(items for _status, items in stored) == BATCHES * ITEMS
    applied_before = query(data_dir, "SELECT count(*) FROM records")[0][0]
    print(f"{applied_before:,} of {BATCHES * ITEMS:,} items applied when killed")

    make_sandbox(data_dir=data_dir, demo=False)

    def drained() -> bool:
        pending = query(
            data_dir, "SELECT count(*) FROM intents WHERE status IN ('queued', 'processing')"
        )[0][0]
        return pending == 0

    eventually(drained, 30)
    print(f"drained {time.monotonic() - killed_at:.1f} s after the kill")
    assert {status for status, _items in query(data_dir, "SELECT status, 0 FROM intents")} == {
        "succeeded"
    }
    (record_count,) = query(data_dir, "SELECT record_count FROM feeds WHERE slug = ?", FEED)[0]
    assert record_count == BATCHES * ITEMS
    # Every system id once ...
    system_ids = query(data_dir, "SELECT system_id, count(*) FROM records GROUP BY system_id")
    expected = {item["id"] for batch in range(BATCHES) for item in batch_items(batch)}
    assert {system_id for system_id, _count in system_ids} == expected
    assert all(count == 1 for _system_id, count in system_ids)
    # ... written by exactly one change (no item applied twice), and one outcome per item.
    histories = query(
        data_dir,
        "SELECT count(h.id) FROM records r JOIN record_history h ON h.record_seq = r.seq"
        " GROUP BY r.seq",
    )
    assert len(histories) == BATCHES * ITEMS
    assert {count for (count,) in histories} == {1}
    assert query(data_dir, "SELECT count(*) FROM intent_records")[0][0] == BATCHES * ITEMS
