"""Import rows: creation, progress per batch, cancel, finish and restart recovery.

Every function runs on a database thread inside the caller's transaction. Progress is
written in the same transaction as the batch it describes, so `last_row` is exact after
a crash: the rows up to it are committed, the ones after it are not.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import Any

from console.sandbox.imports.rows import RowError
from console.sandbox.storage.sqlite import random_alphanumeric

# Row errors stored per import; later ones are only counted (`failed`, `errors_omitted`).
MAX_STORED_ERRORS = 1000
ACTIVE = ("queued", "running")
FINAL = ("succeeded", "partially_failed", "failed", "cancelled", "interrupted")


def new_import_id() -> str:
    """A fresh public import id: imp_ + 24 characters."""
    return "imp_" + random_alphanumeric(24)


def create_import(
    conn: sqlite3.Connection,
    *,
    account_id: int,
    feed_seq: int,
    correlation_id: str,
    key_id: str,
    key_shown: str,
    file_format: str,
    id_field: str,
    start_row: int,
    file_bytes: int,
    total: int,
    at: float,
) -> tuple[int, str]:
    """A queued import of a file of `total` data rows; returns its (seq, id)."""
    import_id = new_import_id()
    cursor = conn.execute(
        "INSERT INTO imports (id, account_id, feed_seq, correlation_id, key_id, key_shown,"
        " format, id_field, start_row, status, total, last_row, file_bytes, created_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'queued', ?, ?, ?, ?)",
        (
            import_id,
            account_id,
            feed_seq,
            correlation_id,
            key_id,
            key_shown,
            file_format,
            id_field,
            start_row,
            total,
            start_row - 1,
            file_bytes,
            at,
        ),
    )
    return int(cursor.lastrowid or 0), import_id


def key_shown(conn: sqlite3.Connection, key_id: str) -> str:
    """A key as records and logs show it: prefix…last4 (never the secret)."""
    row = conn.execute("SELECT prefix, last4 FROM api_keys WHERE id = ?", (key_id,)).fetchone()
    return f"{row['prefix']}…{row['last4']}" if row is not None else ""


def status_of(conn: sqlite3.Connection, seq: int) -> str | None:
    """An import's status (None when there is no such import)."""
    row = conn.execute("SELECT status FROM imports WHERE seq = ?", (seq,)).fetchone()
    return None if row is None else str(row["status"])


def begin(conn: sqlite3.Connection, seq: int, at: float) -> bool:
    """queued -> running; False when the import is no longer queued (cancelled)."""
    cursor = conn.execute(
        "UPDATE imports SET status = 'running', started_at = ? WHERE seq = ? AND status = 'queued'",
        (at, seq),
    )
    return cursor.rowcount == 1


def record_progress(
    conn: sqlite3.Connection,
    seq: int,
    *,
    processed: int,
    created: int,
    updated: int,
    unchanged: int,
    errors: Sequence[RowError],
    last_row: int,
) -> None:
    """Add one batch's counts and errors (the first MAX_STORED_ERRORS are kept)."""
    row = conn.execute("SELECT errors_stored FROM imports WHERE seq = ?", (seq,)).fetchone()
    room = max(MAX_STORED_ERRORS - int(row["errors_stored"]), 0)
    kept = sorted(errors, key=lambda error: error.row)[:room]
    if kept:
        conn.executemany(
            "INSERT INTO import_errors (import_seq, row, field, message) VALUES (?, ?, ?, ?)",
            [(seq, error.row, error.field, error.message) for error in kept],
        )
    conn.execute(
        "UPDATE imports SET processed = processed + ?, created = created + ?,"
        " updated = updated + ?, unchanged = unchanged + ?, failed = failed + ?,"
        " errors_stored = errors_stored + ?, last_row = ? WHERE seq = ?",
        (processed, created, updated, unchanged, len(errors), len(kept), last_row, seq),
    )


def finish(conn: sqlite3.Connection, seq: int, at: float, *, fatal: str | None = None) -> None:
    """Settle a running import: succeeded, partially_failed or failed (left as is when it
    was cancelled meanwhile). `fatal`: the import stopped on an unexpected error."""
    row = conn.execute(
        "SELECT status, processed, failed, last_row, errors_stored FROM imports WHERE seq = ?",
        (seq,),
    ).fetchone()
    if row is None or row["status"] not in ACTIVE:
        return
    if fatal is not None:
        if int(row["errors_stored"]) < MAX_STORED_ERRORS:
            conn.execute(
                "INSERT INTO import_errors (import_seq, row, field, message) VALUES (?, ?, ?, ?)",
                (seq, None, None, fatal),
            )
            conn.execute(
                "UPDATE imports SET errors_stored = errors_stored + 1 WHERE seq = ?", (seq,)
            )
        status = "failed"
    elif row["failed"] == 0:
        status = "succeeded"
    elif row["failed"] >= row["processed"]:
        status = "failed"
    else:
        status = "partially_failed"
    conn.execute("UPDATE imports SET status = ?, finished_at = ? WHERE seq = ?", (status, at, seq))


def cancel(conn: sqlite3.Connection, seq: int, at: float) -> None:
    """Stop a queued or running import: batches already applied stay, later ones never run
    (the runner checks the status inside each batch's transaction)."""
    conn.execute(
        "UPDATE imports SET status = 'cancelled', finished_at = ?"
        " WHERE seq = ? AND status IN ('queued', 'running')",
        (at, seq),
    )


def interrupt_active(conn: sqlite3.Connection, at: float) -> int:
    """Mark every queued or running import interrupted (at start-up, and at shutdown for
    the ones still going); returns how many. Their last_row is exact: resume after it."""
    cursor = conn.execute(
        "UPDATE imports SET status = 'interrupted', finished_at = ?"
        " WHERE status IN ('queued', 'running')",
        (at,),
    )
    return cursor.rowcount


def find_import(
    conn: sqlite3.Connection, account_id: int, feed_seq: int, import_id: str
) -> int | None:
    """The seq of an import of this account's feed, or None."""
    row = conn.execute(
        "SELECT seq FROM imports WHERE id = ? AND account_id = ? AND feed_seq = ?",
        (import_id, account_id, feed_seq),
    ).fetchone()
    return None if row is None else int(row["seq"])


def import_status(conn: sqlite3.Connection, seq: int, feed_slug: str) -> dict[str, Any]:
    """The import's status object (docs/api.md, Imports)."""
    row = conn.execute("SELECT * FROM imports WHERE seq = ?", (seq,)).fetchone()
    errors = [
        {"row": error["row"], "field": error["field"], "message": error["message"]}
        for error in conn.execute(
            "SELECT row, field, message FROM import_errors WHERE import_seq = ?"
            " ORDER BY rowid LIMIT ?",
            (seq, MAX_STORED_ERRORS),
        )
    ]
    failed = int(row["failed"])
    return {
        "import_id": row["id"],
        "correlation_id": row["correlation_id"],
        "feed": feed_slug,
        "status": row["status"],
        "format": row["format"],
        "id_field": row["id_field"],
        "start_row": row["start_row"],
        "total": row["total"],
        "processed": row["processed"],
        "failed": failed,
        "created": row["created"],
        "updated": row["updated"],
        "unchanged": row["unchanged"],
        "last_row": row["last_row"],
        "errors": errors,
        "errors_omitted": max(failed - sum(1 for e in errors if e["row"] is not None), 0),
        "created_at": row["created_at"],
        "started_at": row["started_at"],
        "finished_at": row["finished_at"],
    }
