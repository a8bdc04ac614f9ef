"""GET /trace/{any_id}: the log entries and records one id leads to (plan §3.7, D14).

An id may be a request id, a correlation id, an idempotency key, a record GUID or a
record's system id (in any of the account's feeds); `matched` lists every kind that hit.
One read transaction; every step is an index seek, scoped to the account (correlation ids
are unique per account only, R2), and every list is capped (`truncated` says so).
"""

from __future__ import annotations

import json
import sqlite3
from typing import Any

from console.sandbox.logs.query import ENTRY_SELECT
from console.sandbox.logs.store import entry_json

MAX_ENTRIES = 200
MAX_RECORDS = 200
# Correlation ids followed from entries to records, and from records to entries.
MAX_CORRELATIONS = 50
# Changes listed per record found by its GUID or system id (newest first).
CHANGES_PER_RECORD = 50
MAX_ID_LENGTH = 255
# What an id may be, in the order `matched` lists them.
KINDS = ("request_id", "correlation_id", "idempotency_key", "guid", "system_id")

_RECORD_SELECT = "r.seq, r.guid, r.system_id, r.deleted, f.slug AS feed"
_CHANGE_SELECT = "h.id, h.record_seq, h.timestamp, h.intent, h.correlation_id, h.changed"


def _entries_by(
    conn: sqlite3.Connection, account_id: int, index: str, column: str, value: str
) -> list[sqlite3.Row]:
    return conn.execute(
        f"SELECT {ENTRY_SELECT} FROM logs INDEXED BY {index}"
        f" WHERE logs.account_id = ? AND logs.{column} = ? ORDER BY logs.id DESC LIMIT ?",
        (account_id, value, MAX_ENTRIES + 1),
    ).fetchall()


def _changes_of_correlation(
    conn: sqlite3.Connection, account_id: int, correlation_id: str, limit: int
) -> list[sqlite3.Row]:
    """History rows written under `correlation_id` to the account's records, newest first."""
    return conn.execute(
        f"SELECT {_CHANGE_SELECT}, {_RECORD_SELECT}"
        " FROM record_history AS h INDEXED BY record_history_by_correlation"
        " JOIN records AS r ON r.seq = h.record_seq JOIN feeds AS f ON f.seq = r.feed_seq"
        " WHERE h.correlation_id = ? AND f.account_id = ? ORDER BY h.id DESC LIMIT ?",
        (correlation_id, account_id, limit),
    ).fetchall()


def _records_by_id(conn: sqlite3.Connection, account_id: int, any_id: str) -> dict[str, list[Any]]:
    """Records whose GUID, or whose system id in one of the account's feeds, is `any_id`."""
    by_guid = conn.execute(
        f"SELECT {_RECORD_SELECT} FROM records AS r INDEXED BY records_by_guid"
        " JOIN feeds AS f ON f.seq = r.feed_seq WHERE r.guid = ? AND f.account_id = ?",
        (any_id, account_id),
    ).fetchall()
    by_system_id = conn.execute(
        f"SELECT {_RECORD_SELECT} FROM feeds AS f"
        " JOIN records AS r INDEXED BY records_by_system_id"
        " ON r.feed_seq = f.seq AND r.system_id = ? WHERE f.account_id = ? ORDER BY f.seq LIMIT ?",
        (any_id, account_id, MAX_RECORDS + 1),
    ).fetchall()
    return {"guid": by_guid, "system_id": by_system_id}


def trace(conn: sqlite3.Connection, account_id: int, any_id: str) -> dict[str, Any] | None:
    """What `any_id` leads to in the account, or None when it matches nothing."""
    matched: list[str] = []
    entries: dict[int, sqlite3.Row] = {}
    entries_truncated = False
    # 1. Entries by request id, correlation id and idempotency key.
    row = conn.execute(
        f"SELECT {ENTRY_SELECT} FROM logs INDEXED BY logs_by_request"
        " WHERE logs.request_id = ? AND logs.account_id = ?",
        (any_id, account_id),
    ).fetchone()
    if row is not None:
        matched.append("request_id")
        entries[int(row["id"])] = row
    for kind, index, column in (
        ("correlation_id", "logs_by_correlation", "correlation_id"),
        ("idempotency_key", "logs_by_idempotency", "idempotency_key"),
    ):
        rows = _entries_by(conn, account_id, index, column, any_id)
        if rows:
            matched.append(kind)
            entries_truncated |= len(rows) > MAX_ENTRIES
            entries.update((int(r["id"]), r) for r in rows[:MAX_ENTRIES])

    # 2. Records by GUID and by system id.
    direct: dict[int, sqlite3.Row] = {}
    for kind, rows in _records_by_id(conn, account_id, any_id).items():
        if rows:
            matched.append(kind)
            direct.update((int(r["seq"]), r) for r in rows)

    # 3. The correlation ids of the entries (and the id itself) → the records they touched.
    correlations = list(dict.fromkeys([any_id, *(r["correlation_id"] for r in entries.values())]))
    records: dict[int, sqlite3.Row] = {}
    changes: dict[int, list[sqlite3.Row]] = {}
    records_truncated = False
    for correlation_id in correlations[:MAX_CORRELATIONS]:
        rows = _changes_of_correlation(conn, account_id, correlation_id, MAX_RECORDS + 1)
        if rows and correlation_id == any_id and "correlation_id" not in matched:
            matched.append("correlation_id")
        for change in rows:
            seq = int(change["record_seq"])
            if seq not in records and len(records) >= MAX_RECORDS:
                records_truncated = True
                continue
            records.setdefault(seq, change)
            changes.setdefault(seq, []).append(change)
        records_truncated |= len(rows) > MAX_RECORDS
    records_truncated |= len(correlations) > MAX_CORRELATIONS

    # 4. Records found directly → their newest changes → the entries of those requests.
    followed: list[str] = []
    for seq, record in direct.items():
        if seq not in records:
            if len(records) >= MAX_RECORDS:
                records_truncated = True
                continue
            records[seq] = record
        history = conn.execute(
            f"SELECT {_CHANGE_SELECT} FROM record_history AS h INDEXED BY"
            " record_history_by_record WHERE h.record_seq = ? ORDER BY h.id DESC LIMIT ?",
            (seq, CHANGES_PER_RECORD),
        ).fetchall()
        changes[seq] = history
        followed += [change["correlation_id"] for change in history]
    for correlation_id in list(dict.fromkeys(followed))[:MAX_CORRELATIONS]:
        rows = _entries_by(
            conn, account_id, "logs_by_correlation", "correlation_id", correlation_id
        )
        entries_truncated |= len(rows) > MAX_ENTRIES
        entries.update((int(r["id"]), r) for r in rows[:MAX_ENTRIES])

    if not matched:
        return None
    matched.sort(key=KINDS.index)
    ordered = sorted(entries.values(), key=lambda r: -int(r["id"]))
    entries_truncated |= len(ordered) > MAX_ENTRIES
    request_of: dict[str, str] = {}
    for entry in reversed(ordered):  # the newest entry of a correlation id names it
        request_of[entry["correlation_id"]] = entry["request_id"]
    return {
        "data": {
            "id": any_id,
            "matched": matched,
            "entries": [entry_json(r) for r in ordered[:MAX_ENTRIES]],
            "records": [
                _record_json(records[seq], changes.get(seq, []), request_of)
                for seq in sorted(records, key=lambda s: -_newest_change(changes.get(s, [])))
            ],
            "truncated": {"entries": entries_truncated, "records": records_truncated},
        }
    }


def _newest_change(changes: list[sqlite3.Row]) -> int:
    return max((int(change["id"]) for change in changes), default=0)


def _record_json(
    record: sqlite3.Row, changes: list[sqlite3.Row], request_of: dict[str, str]
) -> dict[str, Any]:
    return {
        "feed": record["feed"],
        "guid": record["guid"],
        "system_id": record["system_id"],
        "deleted": record["deleted"],
        "changes": [
            {
                "timestamp": change["timestamp"],
                "intent": change["intent"],
                "correlation_id": change["correlation_id"],
                "request_id": request_of.get(change["correlation_id"]),
                "changed": json.loads(change["changed"]),
            }
            for change in sorted(changes, key=lambda c: -int(c["id"]))
        ],
    }
