"""The connector log store: ids in commit order, clamped timestamps, status, masking."""

from __future__ import annotations

import json
from pathlib import Path

from console.sandbox.logs.model import LogBodies, LogEntry, new_request_id
from console.sandbox.logs.redact import capture, kept_headers, redact_path, redact_text
from console.sandbox.logs.store import ENTRY_COLUMNS, entry_json, insert_entries, set_status
from console.sandbox.storage.sqlite import connect, transaction

ADMIN = "fdk_" + "A" * 36 + "wxyz"
INGEST = "ik_live_" + "B" * 28 + "1234"


def _entry(**changes: object) -> LogEntry:
    entry = LogEntry(
        account_id=1, timestamp=1000.0, request_id=new_request_id(), correlation_id="corr_x"
    )
    for name, value in changes.items():
        setattr(entry, name, value)
    return entry


def test_ids_grow_and_timestamps_stay_near_the_writer_clock(tmp_path: Path) -> None:
    conn = connect(tmp_path)
    with transaction(conn):
        first = insert_entries(conn, [(_entry(), None), (_entry(timestamp=5000.0), None)], 5000.0)
    with transaction(conn):
        # A writer clock that went back still writes a written_at no lower than the last.
        (third,) = insert_entries(conn, [(_entry(timestamp=4999.0), None)], 10.0)
    assert first[0] < first[1] < third
    rows = conn.execute("SELECT timestamp, written_at FROM logs ORDER BY id").fetchall()
    assert [row["written_at"] for row in rows] == [5000.0, 5000.0, 5000.0]
    # 1000 is more than 120 s below the writer's clock: clamped.
    assert [row["timestamp"] for row in rows] == [4880.0, 5000.0, 4999.0]


def test_status_errors_and_entry_json(tmp_path: Path) -> None:
    conn = connect(tmp_path)
    errors = [{"item": i, "field": f"[{i}].id", "message": "no id"} for i in range(150)]
    with transaction(conn):
        (log_id,) = insert_entries(
            conn,
            [
                (
                    _entry(key_id="key_1", key_shown="fdk_…wxyz", feed="orders", http_status=202),
                    LogBodies("{}", 2, False, '{"ok":1}', {"content-type": "application/json"}),
                )
            ],
        )
        set_status(conn, [log_id], "partially_failed", errors=errors)
    row = conn.execute(f"SELECT {ENTRY_COLUMNS} FROM logs WHERE id = ?", (log_id,)).fetchone()
    entry = entry_json(row)
    assert entry["processing_status"] == "partially_failed"
    assert len(entry["errors"]) == 100
    assert entry["error_count"] == 150
    assert entry["key"] == {"id": "key_1", "shown": "fdk_…wxyz"}
    assert json.loads(json.dumps(entry, allow_nan=False)) == entry
    fts = conn.execute("SELECT rowid FROM logs_fts WHERE logs_fts MATCH 'acct1 AND orders'")
    assert [r[0] for r in fts] == [log_id]


def test_secrets_are_masked_wherever_they_hide() -> None:
    assert redact_text(f"key {ADMIN} and {INGEST}") == "key fdk_…wxyz and ik_live_…1234"
    # Glued to other letters, spelled with JSON escapes, or cut short: still no secret.
    assert "A" * 20 not in redact_text(f"x{ADMIN}yy")
    assert "A" * 20 not in redact_text(ADMIN.replace("_", "\\u005f").replace("A", "\\u0041"))
    body = (b" " * (65536 - 20)) + ADMIN.encode()
    text, truncated = capture(body)
    assert truncated
    assert "A" * 10 not in text
    assert text.endswith("fdk_…")
    assert ADMIN not in redact_path("/ingest/x", f"apiKey={ADMIN}&a=1")
    assert redact_path("/ingest/x", f"access_token={INGEST}") == (
        "/ingest/x?access_token=ik_live_…1234"
    )
    headers = kept_headers(
        [(b"authorization", f"Bearer {ADMIN}".encode()), (b"Idempotency-Key", ADMIN.encode())]
    )
    assert headers == {"idempotency-key": "fdk_…wxyz"}


def test_errors_and_idempotency_key_never_keep_a_secret(tmp_path: Path) -> None:
    # A 400's problem names the body's own field (`[0].fdk_…`), a worker error can echo a
    # system id, and a client can send anything as its Idempotency-Key: none reaches the
    # row, the search text or a later status update unmasked.
    conn = connect(tmp_path)
    errors = [{"item": 0, "field": f"[0].{ADMIN}", "message": f"[0].{ADMIN} is too large."}]
    with transaction(conn):
        (log_id,) = insert_entries(
            conn, [(_entry(errors=errors, idempotency_key=INGEST, http_status=400), None)]
        )
        (other,) = insert_entries(conn, [(_entry(), None)])
        set_status(conn, [other], "failed", errors=[{"item": 1, "field": None, "message": INGEST}])
    dumped = json.dumps(
        [list(row) for row in conn.execute("SELECT * FROM logs")]
        + [list(row) for row in conn.execute("SELECT rowid, body FROM logs_fts")],
        ensure_ascii=False,
    )
    assert ADMIN not in dumped
    assert INGEST not in dumped
    row = conn.execute(f"SELECT {ENTRY_COLUMNS} FROM logs WHERE id = ?", (log_id,)).fetchone()
    entry = entry_json(row)
    assert entry["errors"][0]["field"] == "[0]." + redact_text(ADMIN)
    assert entry["idempotency_key"] == redact_text(INGEST)
