"""TEMPORARY stand-in for records-core's store (branch records-core replaces this file).

Implements the interface of notes/issue11_plan.md over a scratch table so the intents
worker can be exercised before the real store is merged.
"""

from __future__ import annotations

import json
import sqlite3
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class FeedRef:
    """One feed row."""

    seq: int
    account_id: int
    slug: str
    method: str
    id_field: str


@dataclass(frozen=True)
class Actor:
    """Who or what makes a change."""

    key_id: str
    key_shown: str
    correlation_id: str
    intent: str


@dataclass(frozen=True)
class ItemOutcome:
    """One input item's result."""

    index: int
    action: str
    guid: str | None
    system_id: str | None
    field: str | None = None
    message: str | None = None


def find_feed(conn: sqlite3.Connection, account_id: int, slug: str) -> FeedRef | None:
    """The account's feed `slug`, or None."""
    row = conn.execute(
        "SELECT seq, account_id, slug, method, id_field FROM feeds"
        " WHERE account_id = ? AND slug = ?",
        (account_id, slug),
    ).fetchone()
    if row is None:
        return None
    return FeedRef(int(row[0]), int(row[1]), str(row[2]), str(row[3]), str(row[4]))


def system_id_of(value: object) -> str | None:
    """A valid system id (str as is, int as str), else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str) and value:
        return value
    return None


def _table(conn: sqlite3.Connection) -> None:
    conn.execute(
        "CREATE TABLE IF NOT EXISTS stub_records (feed_seq INTEGER, system_id TEXT, guid TEXT,"
        " data TEXT, deleted INTEGER, deleted_by TEXT, PRIMARY KEY (feed_seq, system_id))"
    )


def upsert_items(
    conn: sqlite3.Connection,
    feed: FeedRef,
    items: Sequence[dict[str, Any]],
    actor: Actor,
    at: float,
) -> list[ItemOutcome]:
    """Create or replace each item's record by system id."""
    _table(conn)
    outcomes = []
    for index, item in enumerate(items):
        system_id = system_id_of(item.get(feed.id_field))
        row = conn.execute(
            "SELECT guid FROM stub_records WHERE feed_seq = ? AND system_id = ?",
            (feed.seq, system_id),
        ).fetchone()
        if row is None:
            guid = str(uuid.uuid4())
            conn.execute(
                "INSERT INTO stub_records VALUES (?, ?, ?, ?, 0, NULL)",
                (feed.seq, system_id, guid, json.dumps(item)),
            )
            outcomes.append(ItemOutcome(index, "created", guid, system_id))
        else:
            changed = conn.execute(
                "UPDATE stub_records SET data = ? WHERE feed_seq = ? AND system_id = ?"
                " AND data != ?",
                (json.dumps(item), feed.seq, system_id, json.dumps(item)),
            ).rowcount
            action = "updated" if changed else "unchanged"
            outcomes.append(ItemOutcome(index, action, str(row[0]), system_id))
    return outcomes


def patch_items(
    conn: sqlite3.Connection,
    feed: FeedRef,
    patches: Sequence[dict[str, Any]],
    actor: Actor,
    at: float,
) -> list[ItemOutcome]:
    """Merge-patch each item's record; unknown ones fail."""
    _table(conn)
    outcomes = []
    for index, patch in enumerate(patches):
        system_id = system_id_of(patch.get(feed.id_field))
        row = conn.execute(
            "SELECT guid, data FROM stub_records WHERE feed_seq = ? AND system_id = ?",
            (feed.seq, system_id),
        ).fetchone()
        if row is None:
            outcomes.append(
                ItemOutcome(
                    index,
                    "failed",
                    None,
                    system_id,
                    feed.id_field,
                    f"no record with system_id {system_id}",
                )
            )
            continue
        data = json.loads(row[1])
        for key, value in patch.items():
            if value is None:
                data.pop(key, None)
            else:
                data[key] = value
        conn.execute(
            "UPDATE stub_records SET data = ? WHERE feed_seq = ? AND system_id = ?",
            (json.dumps(data), feed.seq, system_id),
        )
        outcomes.append(ItemOutcome(index, "updated", str(row[0]), system_id))
    return outcomes


def set_deleted(
    conn: sqlite3.Connection,
    feed: FeedRef,
    system_ids: Sequence[str],
    deleted: bool,
    actor: Actor,
    at: float,
) -> list[ItemOutcome]:
    """Archive or restore each record; unknown ones fail."""
    _table(conn)
    outcomes = []
    for index, system_id in enumerate(system_ids):
        row = conn.execute(
            "SELECT guid FROM stub_records WHERE feed_seq = ? AND system_id = ?",
            (feed.seq, system_id),
        ).fetchone()
        if row is None:
            outcomes.append(
                ItemOutcome(
                    index, "failed", None, system_id, "id", f"no record with system_id {system_id}"
                )
            )
            continue
        conn.execute(
            "UPDATE stub_records SET deleted = ?, deleted_by = ? WHERE feed_seq = ?"
            " AND system_id = ?",
            (int(deleted), actor.key_shown, feed.seq, system_id),
        )
        outcomes.append(
            ItemOutcome(index, "archived" if deleted else "restored", str(row[0]), system_id)
        )
    return outcomes
