"""Feeds of an account: list and create (run on the DB thread)."""

from __future__ import annotations

import sqlite3
from typing import Any

from console.sandbox.http.errors import conflict
from console.sandbox.http.pagination import PageRequest, page_rows
from console.sandbox.storage.sqlite import feed_exists, insert_feed

_COLUMNS = "seq, slug, name, method, id_field, record_count, created_at"


def feed_metadata(row: sqlite3.Row) -> dict[str, Any]:
    """The contract's feed object."""
    return {
        "id": row["slug"],
        "name": row["name"],
        "method": row["method"],
        "id_field": row["id_field"],
        # Active (deleted = 0) records, a counter the record writes keep (records/store.py).
        "record_count": row["record_count"],
        "created_at": row["created_at"],
    }


def list_feeds(conn: sqlite3.Connection, account_id: int, page: PageRequest) -> dict[str, Any]:
    """One page of the account's feeds, newest first."""
    rows, next_cursor = page_rows(
        conn, f"SELECT {_COLUMNS} FROM feeds WHERE account_id = ?", (account_id,), page
    )
    return {
        "data": [feed_metadata(row) for row in rows],
        "pagination": {"next_cursor": next_cursor},
    }


def get_feed(conn: sqlite3.Connection, account_id: int, slug: str) -> dict[str, Any] | None:
    """The account's feed with this id, or None."""
    row = conn.execute(
        f"SELECT {_COLUMNS} FROM feeds WHERE account_id = ? AND slug = ?", (account_id, slug)
    ).fetchone()
    return None if row is None else feed_metadata(row)


def create_feed(
    conn: sqlite3.Connection,
    account_id: int,
    *,
    slug: str,
    name: str,
    method: str,
    id_field: str,
    at: float,
) -> dict[str, Any]:
    """Create a feed; 409 when the account already has one with this id."""
    if feed_exists(conn, account_id, slug):
        raise conflict(f"A feed with id {slug!r} already exists.")
    insert_feed(
        conn, account_id, slug=slug, name=name, method=method, id_field=id_field, created_at=at
    )
    row = conn.execute(
        f"SELECT {_COLUMNS} FROM feeds WHERE account_id = ? AND slug = ?", (account_id, slug)
    ).fetchone()
    return feed_metadata(row)
