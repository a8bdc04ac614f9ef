"""Intents are durable: a sandbox killed with SIGKILL right after its last 202 loses nothing,
and after a restart every accepted intent has been applied exactly once."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import sys
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from console.sandbox.process import SandboxProcess
from console.sandbox.storage.sqlite import database_path, mint_key

Waiter = Callable[..., None]
SINGLES = 240  # intents of one record each
BULK = 4_000  # records of the last intent: still being applied when the kill comes
CLIENTS = 4


def query(data_dir: Path, sql: str, *parameters: Any) -> list[tuple[Any, ...]]:
    """Rows of `sql` on the sandbox database (read behind the server's back)."""
    conn = sqlite3.connect(database_path(data_dir), timeout=10)
    try:
        return conn.execute(sql, parameters).fetchall()
    finally:
        conn.close()


def send(client: httpx.Client, body: Any) -> str:
    response = client.post("/ingest/ledger/upsert", json=body)
    assert response.status_code == 202, response.text
    return str(response.json()["correlationId"])


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL")
@pytest.mark.timeout(180)
def test_a_killed_server_applies_every_accepted_intent_exactly_once_after_restart(
    make_sandbox: Callable[..., SandboxProcess], tmp_path: Path, eventually: Waiter
) -> None:
    data_dir = tmp_path / "durable"
    server = make_sandbox(data_dir=data_dir, demo=False, extra_args=["--ingest-burst", "100000/1"])
    key = mint_key(data_dir, account="durable")
    headers = {"Authorization": f"Bearer {key}"}
    base_url = str(server.base_url)
    with httpx.Client(base_url=base_url, headers=headers, timeout=30) as api:
        created = api.post(
            "/api/public/v1/feeds", json={"id": "ledger", "name": "Ledger", "method": "ingest"}
        )
        assert created.status_code == 201, created.text
    expected: dict[str, list[str]] = {}  # correlation id -> the system ids it upserts

    def sender(worker: int) -> list[tuple[str, list[str]]]:
        sent = []
        with httpx.Client(base_url=base_url, headers=headers, timeout=30) as client:
            for index in range(worker, SINGLES, CLIENTS):
                system_id = f"single-{index}"
                sent.append((send(client, {"id": system_id, "n": index}), [system_id]))
        return sent

    with ThreadPoolExecutor(CLIENTS) as pool:
        for batch in pool.map(sender, range(CLIENTS)):
            expected.update(batch)
    bulk_ids = [f"bulk-{index}" for index in range(BULK)]
    with httpx.Client(base_url=base_url, headers=headers, timeout=30) as client:
        bulk = send(client, [{"id": system_id, "n": -1} for system_id in bulk_ids])
        assert server.pid is not None
        os.kill(server.pid, signal.SIGKILL)  # right after the last 202
    expected[bulk] = bulk_ids
    eventually(lambda: not server.running, 10)
    server.stop()

    # Every accepted intent is on disk; the last one (at least) was not applied yet.
    stored = dict(query(data_dir, "SELECT correlation_id, status FROM intents"))
    assert set(stored) == set(expected)
    assert stored[bulk] in ("queued", "processing")

    restarted = make_sandbox(data_dir=data_dir, demo=False)
    with httpx.Client(base_url=str(restarted.base_url), headers=headers, timeout=30) as api:

        def all_done() -> bool:
            statuses = {
                correlation_id: status
                for correlation_id, status in query(
                    data_dir, "SELECT correlation_id, status FROM intents"
                )
            }
            return all(status == "succeeded" for status in statuses.values())

        eventually(all_done, 60)
        # Exactly once: each intent's records were written by one application of it.
        touched = query(
            data_dir,
            "SELECT correlation_id, system_id, COUNT(*) FROM intent_records"
            " GROUP BY correlation_id, system_id",
        )
        by_intent: dict[str, list[str]] = {}
        for correlation_id, system_id, count in touched:
            assert count == 1, (correlation_id, system_id, count)
            by_intent.setdefault(correlation_id, []).append(system_id)
        assert {cid: sorted(ids) for cid, ids in by_intent.items()} == {
            cid: sorted(ids) for cid, ids in expected.items()
        }
        # ... and each record was created by exactly one change, from the intent that sent it.
        changes = query(
            data_dir,
            "SELECT r.system_id, COUNT(h.id), MIN(h.correlation_id), r.data FROM records r"
            " JOIN record_history h ON h.record_seq = r.seq GROUP BY r.seq",
        )
        sender_of = {system_id: cid for cid, ids in expected.items() for system_id in ids}
        assert len(changes) == len(sender_of) == SINGLES + BULK
        for system_id, count, correlation_id, data in changes:
            assert (count, correlation_id) == (1, sender_of[system_id]), system_id
            assert json.loads(data)["id"] == system_id
        feed = api.get("/api/public/v1/feeds/ledger").json()
        assert feed["record_count"] == SINGLES + BULK
        outcome = api.get(f"/api/public/v1/intents/{bulk}").json()
        assert outcome["status"] == "succeeded"
        assert len(outcome["records"]) == BULK
        assert {record["action"] for record in outcome["records"]} == {"created"}


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL")
@pytest.mark.timeout(180)
def test_a_large_intent_killed_halfway_goes_on_from_its_last_chunk(
    make_sandbox: Callable[..., SandboxProcess], tmp_path: Path, eventually: Waiter
) -> None:
    data_dir = tmp_path / "halfway"
    server = make_sandbox(data_dir=data_dir, demo=False)
    key = mint_key(data_dir, account="halfway")
    headers = {"Authorization": f"Bearer {key}"}
    items = 10_000
    with httpx.Client(base_url=str(server.base_url), headers=headers, timeout=30) as api:
        created = api.post(
            "/api/public/v1/feeds", json={"id": "ledger", "name": "Ledger", "method": "ingest"}
        )
        assert created.status_code == 201, created.text
        correlation_id = send(api, [{"id": f"r{index}", "n": index} for index in range(items)])

    def done() -> int:
        return int(query(data_dir, "SELECT items_done FROM intents")[0][0])

    eventually(lambda: done() > 0, 30)
    assert server.pid is not None
    os.kill(server.pid, signal.SIGKILL)
    eventually(lambda: not server.running, 10)
    server.stop()
    stopped_at = done()
    assert 0 < stopped_at < items, "the kill came after the last chunk: nothing to resume"
    assert query(data_dir, "SELECT COUNT(*) FROM records")[0][0] == stopped_at

    restarted = make_sandbox(data_dir=data_dir, demo=False)
    with httpx.Client(base_url=str(restarted.base_url), headers=headers, timeout=30) as api:
        eventually(
            lambda: (
                api.get(f"/api/public/v1/intents/{correlation_id}").json()["status"] == "succeeded"
            ),
            60,
        )
        outcome = api.get(f"/api/public/v1/intents/{correlation_id}").json()
    assert outcome["items_done"] == items
    assert [record["system_id"] for record in outcome["records"]] == [
        f"r{index}" for index in range(items)
    ]
    per_record = query(
        data_dir,
        "SELECT r.system_id, COUNT(h.id) FROM records r"
        " JOIN record_history h ON h.record_seq = r.seq GROUP BY r.seq",
    )
    assert len(per_record) == items
    assert {count for _, count in per_record} == {1}
