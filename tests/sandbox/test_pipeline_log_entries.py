"""Pipeline events are connector log entries too: one per event, written with it, intent
`pipeline.<event>`, failed when the event is a failure, and carrying the correlation id of
the request that caused it (an archive, a forced stop) when there is one."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from console.sandbox.process import SandboxProcess
from console.sandbox.storage.sqlite import database_path, mint_key
from tests.sandbox.pipeline_support import PIPELINES, catalog_of, create_pipeline, definition

Waiter = Callable[..., None]


def _rows(data_dir: Path, sql: str, *parameters: Any) -> list[sqlite3.Row]:
    conn = sqlite3.connect(database_path(data_dir), timeout=10)
    conn.row_factory = sqlite3.Row
    try:
        return conn.execute(sql, parameters).fetchall()
    finally:
        conn.close()


def _entries(data_dir: Path, pipeline_id: int) -> list[sqlite3.Row]:
    return _rows(
        data_dir,
        "SELECT l.*, e.event, e.detail, e.timestamp AS event_at FROM logs l"
        " JOIN pipeline_events e ON e.id = l.source_seq"
        " WHERE l.source = 'pipeline' AND l.pipeline_id = ? ORDER BY l.id",
        str(pipeline_id),
    )


def test_every_pipeline_event_is_a_log_entry(
    make_sandbox: Callable[..., SandboxProcess], tmp_path: Path, eventually: Waiter
) -> None:
    server = make_sandbox(
        data_dir=tmp_path / "events",
        demo=False,
        extra_args=[
            *("--deploy-seconds", "0.05", "--sync-seconds", "0.1"),
            *("--pipeline-minute-seconds", "0.02"),
        ],
    )
    key = mint_key(server.data_dir, account="events")
    headers = {"Authorization": f"Bearer {key}"}
    with httpx.Client(base_url=str(server.base_url), headers=headers, timeout=10) as api:
        catalog = catalog_of(api)
        good = int(create_pipeline(api, definition(catalog, name="Steady"))["id"])
        bad = int(create_pipeline(api, definition(catalog, name="Will fail"))["id"])
        for pipeline_id in (good, bad):
            assert api.post(f"{PIPELINES}/{pipeline_id}/start").status_code == 200

        def synced() -> bool:
            events = {row["event"] for row in _entries(server.data_dir, good)}
            failed = {row["event"] for row in _entries(server.data_dir, bad)}
            return "sync_succeeded" in events and "pipeline_failed" in failed

        eventually(synced, 15)
        archived = api.delete(f"{PIPELINES}/{good}")
        assert archived.status_code == 200
        archive_correlation = archived.headers["X-Correlation-Id"]

    account_id = _rows(server.data_dir, "SELECT id FROM accounts WHERE name = 'events'")[0][0]
    for pipeline_id in (good, bad):
        entries = _entries(server.data_dir, pipeline_id)
        events = _rows(
            server.data_dir,
            "SELECT id FROM pipeline_events WHERE pipeline_id = ? ORDER BY id",
            pipeline_id,
        )
        # Exactly one entry per event, in the same order.
        assert [row["source_seq"] for row in entries] == [row["id"] for row in events]
        for row in entries:
            assert row["account_id"] == account_id
            assert row["intent"] == f"pipeline.{row['event']}"
            assert row["request_id"].startswith("req_")
            assert len(row["request_id"]) == 30
            assert row["correlation_id"].startswith("corr_")
            assert row["timestamp"] <= row["written_at"]
            failed = row["event"] in ("sync_failed", "pipeline_failed")
            assert row["processing_status"] == ("failed" if failed else "succeeded")
            assert (row["errors"] != "[]") == failed
            if failed:
                assert row["detail"] in row["errors"]
        # Fresh ids for steps that came due by themselves: never shared between events.
        timed = [
            row["correlation_id"] for row in entries if row["correlation_id"] != archive_correlation
        ]
        assert len(set(timed)) == len(timed)

    good_entries = _entries(server.data_dir, good)
    assert good_entries[-1]["event"] == "archived"
    by_archive = [row for row in good_entries if row["correlation_id"] == archive_correlation]
    # The archive request's events (teardown and archive) carry its correlation id.
    assert {row["event"] for row in by_archive} >= {"pipeline_stopped", "archived"}
    assert all(row["timestamp"] >= good_entries[0]["timestamp"] for row in by_archive)
    bad_entries = _entries(server.data_dir, bad)
    assert [row["event"] for row in bad_entries][-2:] == ["sync_failed", "pipeline_failed"]
    assert bad_entries[-1]["correlation_id"] != archive_correlation

    # Through the log API: listed by pipeline_id, a detail whose timeline is the event,
    # and the archive request's correlation id traced to its events.
    with httpx.Client(base_url=str(server.base_url), headers=headers, timeout=10) as api:
        listed = api.get("/api/public/v1/logs", params={"pipeline_id": str(bad)})
        assert listed.status_code == 200, listed.text
        assert [entry["request_id"] for entry in listed.json()["data"]] == [
            row["request_id"] for row in reversed(bad_entries)
        ]
        failed = bad_entries[-1]
        detail = api.get(f"/api/public/v1/logs/{failed['request_id']}")
        assert detail.status_code == 200, detail.text
        body = detail.json()
        body = body.get("data", body)
        assert body["intent"] == "pipeline.pipeline_failed"
        assert body["method"] is None
        assert [event["stage"] for event in body["events"]] == ["failed"]
        assert failed["detail"] in body["events"][0]["detail"]
        traced = api.get(f"/api/public/v1/trace/{archive_correlation}")
        assert traced.status_code == 200, traced.text
        intents = {entry["intent"] for entry in traced.json()["data"]["entries"]}
        assert {"pipeline.archived", "pipeline.pipeline_stopped"} <= intents
