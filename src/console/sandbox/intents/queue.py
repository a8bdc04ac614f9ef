"""The durable intent queue: SQL run on the database threads (no parsing here).

An intent row is committed before its 202 (`enqueue`), so an accepted intent survives a
killed server (WAL, synchronous=NORMAL: STACK_NOTES 7). The worker takes pending rows in
`seq` order (`pending`), marks them processing, and applies each in one transaction together
with its outcome (`apply.py`), so an intent is applied exactly once whenever the server dies.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from dataclasses import dataclass
from typing import Any

from console.sandbox.http.errors import conflict
from console.sandbox.http.middleware import new_correlation_id
from console.sandbox.intents import connector
from console.sandbox.intents.validation import POLL
from console.sandbox.logs import store as log_store
from console.sandbox.logs.model import MAX_ENTRY_ERRORS, LogEntry, new_request_id
from console.sandbox.settings import IntentTiming

TERMINAL = ("succeeded", "partially_failed", "failed")


@dataclass(frozen=True)
class QueuedIntent:
    """A pending intent as the worker reads it."""

    seq: int
    correlation_id: str
    account_id: int
    feed: str
    intent: str
    key_id: str | None
    key_shown: str | None
    body: bytes
    items_received: int
    # Items already applied by earlier chunks (a resumed intent goes on from there).
    items_done: int
    # The id field of its items: its item key, else the feed's (None when the feed is
    # gone), and the feed's method (None when the feed is gone).
    id_field: str | None
    method: str | None
    # The item key it was sent with (X-Item-Key; None: the feed's id field).
    item_key: str | None = None
    # Its connector log entry (None: none, e.g. queued before logs existed).
    log_id: int | None = None


def body_digest(body: bytes) -> str:
    """The stored digest of a body (to tell a retried request from a clashing one)."""
    return hashlib.sha256(body).hexdigest()


def enqueue(
    conn: sqlite3.Connection,
    *,
    correlation_id: str,
    account_id: int,
    feed: str,
    intent: str,
    key_id: str | None,
    key_shown: str | None,
    body: bytes,
    items: int,
    at: float,
    item_key: str | None = None,
    request_id: str | None = None,
    log_id: int | None = None,
    digest: str | None = None,
) -> tuple[bool, str]:
    """Queue an intent (committed with the caller's transaction).

    Returns whether it was queued (False for a retry) and its correlation id. A client may
    send its own X-Correlation-Id. The same id again for the same account, feed, intent
    and body is a retry of an accepted request: nothing new is queued (the intent is
    applied once). The same id on another request of the same account is 409 CONFLICT.
    An id that another account's intent already holds is neither refused nor revealed:
    this intent gets a fresh server-made id, so no account can squat on another's ids or
    learn that they exist.

    `item_key` keys the items by that field instead of the feed's id field (POST
    /api/ingest's X-Item-Key); `request_id` and `log_id` name the request and its log entry.
    `digest` is `body_digest(body)` when the caller has it (hashing 1 MiB takes ~1.5 ms:
    routes do it before their writer hop).
    """
    if digest is None:
        digest = body_digest(body)
    row = conn.execute(
        "SELECT account_id, feed, intent, body_sha256 FROM intents WHERE correlation_id = ?",
        (correlation_id,),
    ).fetchone()
    if row is not None:
        if int(row["account_id"]) != account_id:
            correlation_id = new_correlation_id()
        elif tuple(row) == (account_id, feed, intent, digest):
            return False, correlation_id
        else:
            raise conflict(
                f"Correlation id {correlation_id} already names another intent; send a new "
                "X-Correlation-Id (or none, and the server makes one)."
            )
    # The body goes to its own table (the row is updated as the intent runs: see
    # storage/sqlite.py); the row's own `body` stays empty.
    seq = conn.execute(
        "INSERT INTO intents (correlation_id, account_id, feed, intent, key_id, key_shown,"
        " body, body_sha256, items_received, status, received_at, item_key, request_id, log_id)"
        " VALUES (?, ?, ?, ?, ?, ?, x'', ?, ?, 'queued', ?, ?, ?, ?)",
        (
            correlation_id,
            account_id,
            feed,
            intent,
            key_id,
            key_shown,
            digest,
            items,
            at,
            item_key,
            request_id,
            log_id,
        ),
    ).lastrowid
    conn.execute("INSERT INTO intent_bodies (seq, body) VALUES (?, ?)", (seq, body))
    return True, correlation_id


def pending(
    conn: sqlite3.Connection, *, limit: int, max_items: int, after: int = 0
) -> list[QueuedIntent]:
    """The oldest pending (queued or processing) intents after seq `after`, in order: at
    most `limit` of them, and no more than `max_items` items in all unless the first alone
    has more."""
    # The rows without their bodies first (a body is up to 1 MiB, and most of the `limit`
    # rows are usually left for a later batch), then the bodies of the chosen ones.
    rows = conn.execute(
        "SELECT i.seq, i.correlation_id, i.account_id, i.feed, i.intent, i.key_id,"
        " i.key_shown, i.items_received, i.items_done,"
        " CASE WHEN f.seq IS NULL THEN NULL ELSE COALESCE(i.item_key, f.id_field) END"
        " AS id_field, f.method, i.item_key, i.log_id"
        " FROM intents i"
        " LEFT JOIN feeds f ON f.account_id = i.account_id AND f.slug = i.feed"
        " WHERE i.status IN ('queued', 'processing') AND i.seq > ? ORDER BY i.seq LIMIT ?",
        (after, limit),
    ).fetchall()
    chosen: list[sqlite3.Row] = []
    items = 0
    for row in rows:
        items += int(row["items_received"]) - int(row["items_done"])
        if chosen and items > max_items:
            break
        chosen.append(row)
    bodies: dict[int, bytes] = {}
    if chosen:
        bodies = {
            int(seq): bytes(body)
            for seq, body in conn.execute(
                "SELECT i.seq, coalesce(b.body, i.body) FROM intents i"
                " LEFT JOIN intent_bodies b ON b.seq = i.seq"
                " WHERE i.seq IN (SELECT value FROM json_each(?))",
                (json.dumps([int(row["seq"]) for row in chosen]),),
            )
        }
    batch: list[QueuedIntent] = []
    for row in chosen:
        batch.append(
            QueuedIntent(
                seq=int(row["seq"]),
                correlation_id=str(row["correlation_id"]),
                account_id=int(row["account_id"]),
                feed=str(row["feed"]),
                intent=str(row["intent"]),
                key_id=row["key_id"],
                key_shown=row["key_shown"],
                body=bodies[int(row["seq"])],
                items_received=int(row["items_received"]),
                items_done=int(row["items_done"]),
                id_field=row["id_field"],
                method=row["method"],
                item_key=row["item_key"],
                log_id=row["log_id"],
            )
        )
    return batch


def mark_processing(conn: sqlite3.Connection, seqs: list[int], at: float) -> None:
    """Mark queued intents as processing from `at` (a resumed one keeps its first start),
    and their log entries with them."""
    log_ids = [
        int(row[0])
        for row in conn.execute(
            "SELECT log_id FROM intents WHERE seq IN (SELECT value FROM json_each(?))"
            " AND status = 'queued' AND log_id IS NOT NULL",
            (json.dumps(seqs),),
        )
    ]
    log_store.set_status(conn, log_ids, "processing")
    conn.executemany(
        "UPDATE intents SET status = 'processing', started_at = ? WHERE seq = ?"
        " AND status = 'queued'",
        [(at, seq) for seq in seqs],
    )


def progress(conn: sqlite3.Connection, seq: int) -> int | None:
    """How many items of a pending intent are applied; None once it is finished."""
    row = conn.execute("SELECT status, items_done FROM intents WHERE seq = ?", (seq,)).fetchone()
    if row is None or row["status"] in TERMINAL:
        return None
    return int(row["items_done"])


def record_chunk(
    conn: sqlite3.Connection,
    seq: int,
    correlation_id: str,
    *,
    records: list[tuple[int, str | None, str | None, str]],
    errors: list[tuple[int | None, str | None, str]],
    items_done: int,
) -> None:
    """Store what one chunk of an intent did: the records it touched as (item, guid,
    system_id, action), its problems as (item, field, message), and the progress."""
    conn.executemany(
        "INSERT INTO intent_records (correlation_id, item, guid, system_id, action)"
        " VALUES (?, ?, ?, ?, ?)",
        [(correlation_id, *row) for row in records],
    )
    conn.executemany(
        "INSERT INTO intent_errors (correlation_id, item, field, message) VALUES (?, ?, ?, ?)",
        [(correlation_id, *error) for error in errors],
    )
    conn.execute("UPDATE intents SET items_done = ? WHERE seq = ?", (items_done, seq))


def finish(conn: sqlite3.Connection, seq: int, correlation_id: str, at: float) -> None:
    """Set a fully applied intent's final status from its problems, and its finish time:
    succeeded (none), failed (every item, or the whole intent) or partially_failed."""
    row = conn.execute(
        "SELECT COUNT(DISTINCT item), COUNT(*) - COUNT(item), COUNT(*) FROM intent_errors"
        " WHERE correlation_id = ?",
        (correlation_id,),
    ).fetchone()
    failed_items, whole, error_count = int(row[0]), int(row[1]), int(row[2])
    total, log_id = conn.execute(
        "SELECT items_received, log_id FROM intents WHERE seq = ?", (seq,)
    ).fetchone()
    if whole or failed_items >= int(total):
        status = "failed"
    else:
        status = "partially_failed" if failed_items else "succeeded"
    conn.execute(
        "UPDATE intents SET status = ?, finished_at = ?, started_at = COALESCE(started_at, ?)"
        " WHERE seq = ?",
        (status, at, at, seq),
    )
    if log_id is not None:
        # Its log entry: the final status, the first errors (as the outcome lists them).
        errors = [
            {"item": error[0], "field": error[1], "message": error[2]}
            for error in conn.execute(
                "SELECT item, field, message FROM intent_errors WHERE correlation_id = ?"
                " ORDER BY item IS NOT NULL, item LIMIT ?",
                (correlation_id, MAX_ENTRY_ERRORS),
            )
        ]
        log_store.set_status(conn, [int(log_id)], status, errors=errors, error_count=error_count)


def outcome(
    conn: sqlite3.Connection, account_id: int, correlation_id: str
) -> dict[str, Any] | None:
    """The stored outcome of the account's intent `correlation_id`, or None."""
    row = conn.execute(
        "SELECT correlation_id, feed, intent, key_id, key_shown, status, received_at,"
        " started_at, finished_at, items_received, items_done FROM intents"
        " WHERE correlation_id = ? AND account_id = ?",
        (correlation_id, account_id),
    ).fetchone()
    if row is None:
        return None
    records = conn.execute(
        "SELECT item, guid, system_id, action FROM intent_records WHERE correlation_id = ?"
        " ORDER BY item",
        (correlation_id,),
    ).fetchall()
    errors = conn.execute(
        "SELECT item, field, message FROM intent_errors WHERE correlation_id = ?"
        " ORDER BY item IS NOT NULL, item",
        (correlation_id,),
    ).fetchall()
    return {
        "correlation_id": row["correlation_id"],
        "feed": row["feed"],
        "intent": row["intent"],
        "key": (
            None if row["key_id"] is None else {"id": row["key_id"], "shown": row["key_shown"]}
        ),
        "status": row["status"],
        "received_at": row["received_at"],
        "started_at": row["started_at"],
        "finished_at": row["finished_at"],
        "items_received": row["items_received"],
        "items_done": row["items_done"],
        "errors": [
            {"item": error["item"], "field": error["field"], "message": error["message"]}
            for error in errors
        ],
        "records": [
            {
                "item": record["item"],
                "guid": record["guid"],
                "system_id": record["system_id"],
                "action": record["action"],
            }
            for record in records
        ],
    }


def polls_due(conn: sqlite3.Connection, at: float) -> bool:
    """Whether a polling feed is due a poll (a reader's question, so the writer is rarely asked)."""
    row = conn.execute(
        "SELECT 1 FROM feeds f LEFT JOIN feed_polls p ON p.feed_seq = f.seq"
        " WHERE f.method = 'polling' AND (p.next_at IS NULL OR p.next_at <= ?) LIMIT 1",
        (at,),
    ).fetchone()
    return row is not None


def enqueue_polls(conn: sqlite3.Connection, timing: IntentTiming, at: float) -> int:
    """Queue one poll of every polling feed that is due (its first comes at once), each
    with its own connector log entry (intent "poll", no key, no HTTP request); return how
    many were queued."""
    due = conn.execute(
        "SELECT f.seq, f.account_id, f.slug, COALESCE(p.polls, 0) AS polls FROM feeds f"
        " LEFT JOIN feed_polls p ON p.feed_seq = f.seq"
        " WHERE f.method = 'polling' AND (p.next_at IS NULL OR p.next_at <= ?)",
        (at,),
    ).fetchall()
    for row in due:
        ids = connector.poll_ids(row["slug"], int(row["polls"]), timing.records_per_poll)
        _, correlation_id = enqueue(
            conn,
            correlation_id=new_correlation_id(),
            account_id=int(row["account_id"]),
            feed=str(row["slug"]),
            intent=POLL,
            key_id=None,
            key_shown=None,
            body=json.dumps({"ids": ids}).encode(),
            items=len(ids),
            at=at,
        )
        _log_poll(conn, int(row["account_id"]), str(row["slug"]), correlation_id, len(ids), at)
        conn.execute(
            "INSERT INTO feed_polls (feed_seq, polls, next_at) VALUES (?, ?, ?)"
            " ON CONFLICT (feed_seq) DO UPDATE SET polls = excluded.polls,"
            " next_at = excluded.next_at",
            (row["seq"], int(row["polls"]) + 1, at + timing.poll_seconds),
        )
    return len(due)


def _log_poll(
    conn: sqlite3.Connection, account_id: int, feed: str, correlation_id: str, items: int, at: float
) -> None:
    """The connector log entry of a poll just queued, linked from its intent row."""
    seq = int(
        conn.execute(
            "SELECT seq FROM intents WHERE correlation_id = ?", (correlation_id,)
        ).fetchone()[0]
    )
    request_id = new_request_id()
    entry = LogEntry(
        account_id=account_id,
        timestamp=at,
        request_id=request_id,
        correlation_id=correlation_id,
        feed=feed,
        intent=POLL,
        items_received=items,
        processing_status="queued",
        source="intent",
        source_seq=seq,
    )
    log_id = log_store.insert_entry(conn, entry, None, at)
    conn.execute(
        "UPDATE intents SET log_id = ?, request_id = ? WHERE seq = ?", (log_id, request_id, seq)
    )
