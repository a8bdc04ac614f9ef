"""Demo data for `sandbox serve --demo`: an account whose tabs are not empty.

The demo keys' secrets are generated like any other and then dropped: only their hashes
are stored, so nobody (not even the console) can use them. The console mints its own key.
"""

from __future__ import annotations

import sqlite3

from console.sandbox.pipelines.demo import seed_demo_pipelines
from console.sandbox.records.demo import seed_demo_records
from console.sandbox.storage.sqlite import (
    ensure_account,
    feed_exists,
    insert_feed,
    insert_key,
    insert_key_event,
    now,
)

DEMO_ACCOUNT = "demo"
_SEEDED_MARK = "demo_seeded"
# A separate mark, so data dirs seeded before pipelines existed get them too.
_PIPELINES_SEEDED_MARK = "demo_pipelines_seeded"
# And records, for data dirs seeded before records existed.
_RECORDS_SEEDED_MARK = "demo_records_seeded"
DAY = 24 * 3600.0

# (id, name, method, id_field)
DEMO_FEEDS = (
    ("orders", "Orders", "ingest", "order_id"),
    ("customers", "Customers", "ingest", "id"),
    ("inventory", "Inventory levels", "polling", "sku"),
    ("shipments", "Shipments", "trigger", "tracking_number"),
)


def _marked(conn: sqlite3.Connection, mark: str) -> bool:
    return conn.execute("SELECT 1 FROM meta WHERE key = ?", (mark,)).fetchone() is not None


def seed_demo(conn: sqlite3.Connection) -> bool:
    """Seed the demo account once (inside the caller's transaction); False if already done."""
    seeded = False
    if not _marked(conn, _SEEDED_MARK):
        _seed_feeds_and_keys(conn)
        seeded = True
    if not _marked(conn, _PIPELINES_SEEDED_MARK):
        at = now()
        seed_demo_pipelines(conn, ensure_account(conn, DEMO_ACCOUNT), at)
        conn.execute(
            "INSERT INTO meta (key, value) VALUES (?, ?)", (_PIPELINES_SEEDED_MARK, str(at))
        )
        seeded = True
    if not _marked(conn, _RECORDS_SEEDED_MARK):
        at = now()
        seed_demo_records(conn, ensure_account(conn, DEMO_ACCOUNT), at)
        conn.execute("INSERT INTO meta (key, value) VALUES (?, ?)", (_RECORDS_SEEDED_MARK, str(at)))
        seeded = True
    return seeded


def _seed_feeds_and_keys(conn: sqlite3.Connection) -> None:
    """The demo account's feeds and keys."""
    at = now()
    account_id = ensure_account(conn, DEMO_ACCOUNT)
    for index, (slug, name, method, id_field) in enumerate(DEMO_FEEDS):
        if not feed_exists(conn, account_id, slug):
            insert_feed(
                conn,
                account_id,
                slug=slug,
                name=name,
                method=method,
                id_field=id_field,
                created_at=round(at - (60 - index) * DAY, 3),
            )

    def key(
        name: str,
        kind: str,
        feed: str | None,
        age_days: float,
        *,
        expires_in_days: float | None = None,
        used_days_ago: float | None = None,
        revoked_days_ago: float | None = None,
        rotated_from: str | None = None,
    ) -> str:
        def days_from_now(days: float | None) -> float | None:
            return None if days is None else round(at + days * DAY, 3)

        key_id, _secret = insert_key(
            conn,
            account_id,
            name=name,
            kind=kind,
            feed=feed,
            created_at=round(at - age_days * DAY, 3),
            expires_at=days_from_now(expires_in_days),
            last_used_at=days_from_now(None if used_days_ago is None else -used_days_ago),
            revoked_at=days_from_now(None if revoked_days_ago is None else -revoked_days_ago),
            rotated_from=rotated_from,
        )
        created_at = round(at - age_days * DAY, 3)
        insert_key_event(conn, account_id, key_id, "created", created_at, route="sandbox demo")
        return key_id

    # Inserted oldest first, because lists are ordered newest first by insertion.
    key("CI deploy bot", "admin", None, 87, expires_in_days=3, used_days_ago=1.5)
    key("Old laptop", "admin", None, 45, used_days_ago=21, revoked_days_ago=20)
    # A 60-day key rotated 10.5 days ago with half a day of grace, and its successor.
    original = key(
        "Orders webhook relay", "ingest", "orders", 40, expires_in_days=-10, used_days_ago=10.2
    )
    key("Console admin", "admin", None, 30, used_days_ago=0.1)
    key("Customers nightly sync", "ingest", "customers", 25, used_days_ago=0.6)
    key(
        "Orders webhook relay",
        "ingest",
        "orders",
        10.5,
        expires_in_days=49.5,
        used_days_ago=0.004,
        rotated_from=original,
    )
    conn.execute("INSERT INTO meta (key, value) VALUES (?, ?)", (_SEEDED_MARK, str(at)))
