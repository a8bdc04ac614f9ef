"""Writing and reading connector log rows (writer thread for writes; any reader for reads).

Only the writer connection may insert: ids then commit in id order (storage/sqlite.py,
LOGS_MIGRATION), which the live stream's resume relies on.
"""

from __future__ import annotations

import dataclasses
import json
import sqlite3
import time
from collections.abc import Sequence
from typing import Any

from console.sandbox.logs.model import MAX_ENTRY_ERRORS, LogBodies, LogEntry
from console.sandbox.logs.redact import redact_text

# `timestamp` is kept at most this far below `written_at` (see LOGS_MIGRATION).
TIMESTAMP_LAG_SECONDS = 120.0
# Body text indexed for `q` (the start of the request body).
SEARCH_BODY_CHARS = 4096

_INSERT = (
    "INSERT INTO logs (account_id, timestamp, written_at, request_id, correlation_id, feed,"
    " pipeline_id, key_id, key_shown, method, path, intent, http_status, items_received,"
    " processing_status, errors, error_count, duration_ms, client_ip, auth_via,"
    " idempotency_key, source, source_seq)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)


def _dumps(value: object) -> str:
    """Strict, compact JSON (no NaN)."""
    return json.dumps(value, separators=(",", ":"), allow_nan=False)


def _last_written_at(conn: sqlite3.Connection) -> float:
    row = conn.execute("SELECT written_at FROM logs ORDER BY id DESC LIMIT 1").fetchone()
    return float(row[0]) if row is not None else 0.0


def _masked_errors(errors: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The first errors with key-like runs masked: a message or field can echo what a
    request sent (a body's field name, a system id), and a log never keeps a secret."""
    masked = []
    for error in errors[:MAX_ENTRY_ERRORS]:
        error = dict(error)
        for name in ("field", "message"):
            if isinstance(error.get(name), str):
                error[name] = redact_text(error[name])
        masked.append(error)
    return masked


def _masked(entry: LogEntry) -> LogEntry:
    """`entry` with its errors and its client-sent Idempotency-Key masked (as the capture
    middleware and the kept headers mask them)."""
    idempotency_key = entry.idempotency_key
    if idempotency_key is not None:
        idempotency_key = redact_text(idempotency_key)
    return dataclasses.replace(
        entry, errors=_masked_errors(entry.errors), idempotency_key=idempotency_key
    )


def search_text(entry: LogEntry, bodies: LogBodies | None) -> str:
    """The text `q` searches: the entry's fields, errors and the start of its request body."""
    parts: list[str] = [f"acct{entry.account_id}"]
    for value in (
        entry.request_id,
        entry.correlation_id,
        entry.feed,
        entry.pipeline_id,
        entry.key_shown,
        entry.method,
        entry.path,
        entry.intent,
        entry.processing_status,
        entry.client_ip,
        entry.idempotency_key,
    ):
        if value:
            parts.append(str(value))
    if entry.http_status is not None:
        parts.append(str(entry.http_status))
    for error in entry.errors[:MAX_ENTRY_ERRORS]:
        parts.append(str(error.get("message", "")))
        if error.get("field"):
            parts.append(str(error["field"]))
    if bodies is not None and bodies.request:
        parts.append(bodies.request[:SEARCH_BODY_CHARS])
    return " ".join(parts)


def insert_entries(
    conn: sqlite3.Connection,
    items: Sequence[tuple[LogEntry, LogBodies | None]],
    at: float | None = None,
) -> list[int]:
    """Insert entries (with their bodies and search text) in the caller's transaction.

    Returns their ids, in order. `at` is the writer's clock (default: now).
    """
    written_at = max(time.time() if at is None else at, _last_written_at(conn))
    floor = written_at - TIMESTAMP_LAG_SECONDS
    ids: list[int] = []
    for unmasked, bodies in items:
        error_count = len(unmasked.errors) if unmasked.error_count is None else unmasked.error_count
        entry = _masked(unmasked)
        errors = entry.errors
        cursor = conn.execute(
            _INSERT,
            (
                entry.account_id,
                round(max(entry.timestamp, floor), 3),
                written_at,
                entry.request_id,
                entry.correlation_id,
                entry.feed,
                entry.pipeline_id,
                entry.key_id,
                entry.key_shown,
                entry.method,
                entry.path,
                entry.intent,
                entry.http_status,
                entry.items_received,
                entry.processing_status,
                _dumps(errors),
                error_count,
                None if entry.duration_ms is None else round(entry.duration_ms, 3),
                entry.client_ip,
                entry.auth_via,
                entry.idempotency_key,
                entry.source,
                entry.source_seq,
            ),
        )
        log_id = int(cursor.lastrowid or 0)
        ids.append(log_id)
        if bodies is not None:
            conn.execute(
                "INSERT INTO log_bodies (log_id, request_body, request_bytes,"
                " request_truncated, response_body, headers) VALUES (?, ?, ?, ?, ?, ?)",
                (
                    log_id,
                    bodies.request,
                    bodies.request_bytes,
                    int(bodies.request_truncated),
                    bodies.response,
                    _dumps(bodies.headers),
                ),
            )
        conn.execute(
            "INSERT INTO logs_fts (rowid, body) VALUES (?, ?)",
            (log_id, search_text(entry, bodies)),
        )
    return ids


def insert_entry(
    conn: sqlite3.Connection, entry: LogEntry, bodies: LogBodies | None, at: float | None = None
) -> int:
    """Insert one entry in the caller's transaction; its id."""
    return insert_entries(conn, [(entry, bodies)], at)[0]


def set_status(
    conn: sqlite3.Connection,
    log_ids: Sequence[int],
    status: str,
    *,
    errors: list[dict[str, Any]] | None = None,
    error_count: int | None = None,
) -> None:
    """Move entries to `status` (and set their errors if given), in the caller's transaction."""
    if not log_ids:
        return
    if errors is None:
        conn.executemany(
            "UPDATE logs SET processing_status = ? WHERE id = ?",
            [(status, log_id) for log_id in log_ids],
        )
        return
    count = len(errors) if error_count is None else error_count
    stored = _dumps(_masked_errors(errors))
    conn.executemany(
        "UPDATE logs SET processing_status = ?, errors = ?, error_count = ? WHERE id = ?",
        [(status, stored, count, log_id) for log_id in log_ids],
    )


# The columns of `logs` an entry's JSON is built from (select them to use entry_json).
ENTRY_COLUMNS = (
    "id, timestamp, request_id, correlation_id, feed, pipeline_id, key_id, key_shown, method,"
    " path, intent, http_status, items_received, processing_status, errors, error_count,"
    " duration_ms, client_ip, auth_via, idempotency_key"
)


def entry_json(row: sqlite3.Row) -> dict[str, Any]:
    """The contract's entry for a row selected with ENTRY_COLUMNS."""
    key = None
    if row["key_id"] is not None:
        key = {"id": row["key_id"], "shown": row["key_shown"]}
    return {
        "id": row["id"],
        "timestamp": row["timestamp"],
        "request_id": row["request_id"],
        "correlation_id": row["correlation_id"],
        "feed": row["feed"],
        "pipeline_id": row["pipeline_id"],
        "key": key,
        "method": row["method"],
        "path": row["path"],
        "intent": row["intent"],
        "http_status": row["http_status"],
        "items_received": row["items_received"],
        "processing_status": row["processing_status"],
        "errors": json.loads(row["errors"]),
        "error_count": row["error_count"],
        "duration_ms": row["duration_ms"],
        "client_ip": row["client_ip"],
        "auth_via": row["auth_via"],
        "idempotency_key": row["idempotency_key"],
    }
