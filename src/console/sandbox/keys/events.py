"""A key's audit trail: created, rotated, revoked and first used (docs/api.md, "Key events").

Each event says when, which key made the change (its id and prefix…last4: the admin key
that rotated it; for "first_used" the key itself) and from where (client IP, and for the
first use how the key came and on which route or feed). Events are written in the
transaction of the change they record ("first_used" with the key's first last-use stamp);
the listing is a read by `key_events_by_key`, oldest first, paged by `limit` and `cursor`.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from typing import Any

from console.sandbox.http.pagination import PageRequest, encode_cursor
from console.sandbox.storage.sqlite import insert_key_event

EVENT_KINDS = ("created", "rotated", "revoked", "first_used")


@dataclass(frozen=True)
class Actor:
    """The key that made a change, and where its request came from."""

    key_id: str
    shown: str
    client_ip: str | None
    via: str
    route: str


def record(
    conn: sqlite3.Connection,
    account_id: int,
    key_id: str,
    event: str,
    at: float,
    actor: Actor | None,
    *,
    related_key_id: str | None = None,
    expires_at: float | None = None,
    feed: str | None = None,
) -> None:
    """Append `event` to the trail of `key_id`, made by `actor` (None: not by a request)."""
    insert_key_event(
        conn,
        account_id,
        key_id,
        event,
        at,
        actor_key_id=None if actor is None else actor.key_id,
        actor_shown=None if actor is None else actor.shown,
        client_ip=None if actor is None else actor.client_ip,
        auth_via=None if actor is None else actor.via,
        route=None if actor is None else actor.route,
        feed=feed,
        related_key_id=related_key_id,
        expires_at=expires_at,
    )


def _event_json(row: sqlite3.Row) -> dict[str, Any]:
    by = None
    if row["actor_key_id"] is not None:
        by = {"id": row["actor_key_id"], "shown": row["actor_shown"]}
    return {
        "id": f"kev_{row['id']}",
        "event": row["event"],
        "at": row["at"],
        "by": by,
        "client_ip": row["client_ip"],
        "auth_via": row["auth_via"],
        "route": row["route"],
        "feed": row["feed"],
        "related_key_id": row["related_key_id"],
        "expires_at": row["expires_at"],
    }


def list_events(
    conn: sqlite3.Connection, account_id: int, key_id: str, page: PageRequest
) -> dict[str, Any]:
    """One page of the key's events, oldest first; the cursor continues after its last."""
    sql = (
        "SELECT id, event, at, actor_key_id, actor_shown, client_ip, auth_via, route, feed,"
        " related_key_id, expires_at FROM key_events INDEXED BY key_events_by_key"
        " WHERE key_id = ? AND account_id = ?"
    )
    params: tuple[Any, ...] = (key_id, account_id)
    if page.before is not None:
        sql += " AND id > ?"
        params = (*params, page.before)
    rows = conn.execute(sql + " ORDER BY id LIMIT ?", (*params, page.limit + 1)).fetchall()
    next_cursor = None
    if len(rows) > page.limit:
        rows = rows[: page.limit]
        next_cursor = encode_cursor(int(rows[-1]["id"]))
    return {"data": [_event_json(row) for row in rows], "pagination": {"next_cursor": next_cursor}}
