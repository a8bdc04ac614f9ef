"""API keys of an account: metadata, create, rotate and revoke (run on the DB thread)."""

from __future__ import annotations

import sqlite3
from typing import Any

from console.sandbox.http.errors import conflict, not_found
from console.sandbox.http.pagination import PageRequest, page_rows
from console.sandbox.keys.events import Actor, record
from console.sandbox.storage.sqlite import insert_key

# A key within this many seconds of its expiry reports status "expiring".
EXPIRING_WINDOW = 7 * 24 * 3600
MAX_GRACE_SECONDS = 7 * 24 * 3600
# 10000-01-01T00:00:00Z: every expiry is a time ISO 8601 and every client can write.
EXPIRES_BEFORE = 253_402_300_800

_COLUMNS = (
    "seq, id, name, kind, feed, prefix, last4, created_at, expires_at, last_used_at,"
    " revoked_at, rotated_from"
)


def key_status(row: sqlite3.Row, at: float) -> str:
    """active, expiring (within 7 days of expiry), expired or revoked."""
    if row["revoked_at"] is not None:
        return "revoked"
    expires_at = row["expires_at"]
    if expires_at is not None:
        if expires_at <= at:
            return "expired"
        if expires_at - at <= EXPIRING_WINDOW:
            return "expiring"
    return "active"


def key_metadata(row: sqlite3.Row, at: float) -> dict[str, Any]:
    """The contract's key metadata (never the secret, which is not stored)."""
    return {
        "id": row["id"],
        "name": row["name"],
        "kind": row["kind"],
        "prefix": row["prefix"],
        "last4": row["last4"],
        "feed": row["feed"],
        "created_at": row["created_at"],
        "expires_at": row["expires_at"],
        "last_used_at": row["last_used_at"],
        "revoked_at": row["revoked_at"],
        "rotated_from": row["rotated_from"],
        "status": key_status(row, at),
    }


def list_keys(
    conn: sqlite3.Connection, account_id: int, page: PageRequest, at: float
) -> dict[str, Any]:
    """One page of the account's keys, newest first, revoked ones included."""
    rows, next_cursor = page_rows(
        conn, f"SELECT {_COLUMNS} FROM api_keys WHERE account_id = ?", (account_id,), page
    )
    return {
        "data": [key_metadata(row, at) for row in rows],
        "pagination": {"next_cursor": next_cursor},
    }


def find_key(conn: sqlite3.Connection, account_id: int, key_id: str) -> sqlite3.Row:
    """The account's key `key_id`; 404 for unknown ids and other accounts' ids alike."""
    row = conn.execute(
        f"SELECT {_COLUMNS} FROM api_keys WHERE id = ? AND account_id = ?",
        (key_id, account_id),
    ).fetchone()
    if row is None:
        raise not_found("API key")
    return row  # type: ignore[no-any-return]


def create_key(
    conn: sqlite3.Connection,
    account_id: int,
    *,
    name: str,
    kind: str,
    feed: str | None,
    expires_at: float | None,
    at: float,
    actor: Actor | None = None,
    rotated_from: str | None = None,
) -> dict[str, Any]:
    """Store a new key and return its metadata plus the secret (its only appearance)."""
    key_id, secret = insert_key(
        conn,
        account_id,
        name=name,
        kind=kind,
        feed=feed,
        created_at=at,
        expires_at=expires_at,
        rotated_from=rotated_from,
    )
    record(
        conn,
        account_id,
        key_id,
        "created",
        at,
        actor,
        related_key_id=rotated_from,
        expires_at=expires_at,
        feed=feed,
    )
    return {**key_metadata(find_key(conn, account_id, key_id), at), "secret": secret}


def rotate_key(
    conn: sqlite3.Connection,
    account_id: int,
    key_id: str,
    *,
    grace_seconds: int,
    at: float,
    actor: Actor | None = None,
) -> dict[str, Any]:
    """Replace a live key: the new one keeps name, kind, feed and lifetime; the old one
    expires after the grace period (or its own earlier expiry)."""
    old = find_key(conn, account_id, key_id)
    status = key_status(old, at)
    if status in ("revoked", "expired"):
        raise conflict(f"A {status} key cannot be rotated; create a new key instead.")
    old_expiry = old["expires_at"]
    new_expiry = None
    if old_expiry is not None:
        # Keep the key's lifetime policy: a 90-day key is replaced by a 90-day key.
        new_expiry = round(at + (old_expiry - old["created_at"]), 3)
        # A key expiring late in 9999 still gets a successor within the range.
        new_expiry = min(new_expiry, EXPIRES_BEFORE - 0.001)
    grace_end = round(at + grace_seconds, 3)
    old_ends = grace_end if old_expiry is None else min(old_expiry, grace_end)
    conn.execute("UPDATE api_keys SET expires_at = ? WHERE id = ?", (old_ends, key_id))
    created = create_key(
        conn,
        account_id,
        name=old["name"],
        kind=old["kind"],
        feed=old["feed"],
        expires_at=new_expiry,
        at=at,
        actor=actor,
        rotated_from=key_id,
    )
    # The old key's event names its successor and when the old key stops working.
    record(
        conn,
        account_id,
        key_id,
        "rotated",
        at,
        actor,
        related_key_id=created["id"],
        expires_at=old_ends,
    )
    return created


def revoke_key(
    conn: sqlite3.Connection,
    account_id: int,
    key_id: str,
    at: float,
    actor: Actor | None = None,
) -> dict[str, Any]:
    """Revoke a key at once; revoking a revoked key changes nothing (and records nothing)."""
    find_key(conn, account_id, key_id)
    changed = conn.execute(
        "UPDATE api_keys SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL", (at, key_id)
    ).rowcount
    if changed:
        record(conn, account_id, key_id, "revoked", at, actor)
    return key_metadata(find_key(conn, account_id, key_id), at)
