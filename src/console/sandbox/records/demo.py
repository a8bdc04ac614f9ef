"""Demo records: the demo feeds' records with histories, and `--demo-records N` in bulk.

Everything here is written with executemany in large transactions, the full-text and
field-filter index rows included (so `q` works at once, without waiting for the
indexer), never one request or one statement per record. Data is deterministic (a seeded
random generator); GUIDs are UUIDv7-style, made from each record's creation time.
"""

from __future__ import annotations

import json
import random
import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from console.common.redaction import mask_key
from console.sandbox.records.indexer import index_rows
from console.sandbox.records.store import new_guid
from console.sandbox.storage import sqlite as storage

DAY = 24 * 3600.0
BULK_FEED = ("demo-records", "Demo records (bulk)", "ingest", "id")
BULK_ACCOUNT = "demo"
BULK_CHUNK = 50_000
_ENCODER = json.JSONEncoder(ensure_ascii=False, allow_nan=False, separators=(",", ":"))

_FIRST = (
    "Ada", "Bruno", "Chen", "Dana", "Elif", "Farah", "Goran", "Hana", "Ines", "Jonas",
    "Kofi", "Lena", "Mateo", "Nadia", "Omar", "Priya", "Quinn", "Rosa", "Sven", "Tomoko",
    "Umar", "Vera", "Wim", "Xia", "Yusuf", "Zoë",
)  # fmt: skip
_LAST = (
    "Andersen", "Becker", "Costa", "Dubois", "Evans", "Fischer", "García", "Haddad",
    "Ivanova", "Jensen", "Kowalski", "López", "Müller", "Novak", "O'Brien", "Petrov",
    "Rossi", "Schmidt", "Tanaka", "Vargas", "Weber", "Yilmaz",
)  # fmt: skip
_CITIES = (
    "Amsterdam", "Berlin", "Copenhagen", "Dublin", "Edinburgh", "Florence", "Gdańsk",
    "Helsinki", "Istanbul", "Lisbon", "Madrid", "Oslo", "Paris", "Prague", "Vienna", "Zürich",
)  # fmt: skip
_PRODUCTS = (
    "Espresso beans", "Oat milk", "Ceramic mug", "Paper filters", "Kettle", "Grinder",
    "Travel tumbler", "Cold brew kit", "Matcha tin", "Tea strainer", "Milk frother",
)  # fmt: skip
_ORDER_STATUSES = ("new", "paid", "packed", "shipped", "delivered", "returned", "cancelled")
_SHIP_STATUSES = ("label_created", "in_transit", "out_for_delivery", "delivered", "exception")
_CARRIERS = ("DHL", "UPS", "PostNL", "GLS", "DPD")
_TIERS = ("free", "silver", "gold", "platinum")
_WAREHOUSES = ("AMS-1", "BER-2", "MAD-1")


@dataclass(frozen=True)
class _Key:
    key_id: str
    shown: str
    feed: str | None = None  # an ingest key's feed; None for admin keys


@dataclass
class _Change:
    at: float
    intent: str
    correlation_id: str
    key: _Key
    changed: list[str]


def _person(rng: random.Random) -> str:
    return f"{rng.choice(_FIRST)} {rng.choice(_LAST)}"


def _email(name: str, n: int) -> str:
    local = name.lower().replace(" ", ".").replace("'", "")
    return f"{local}.{n}@example.com"


def order_data(rng: random.Random, n: int, id_field: str = "order_id") -> dict[str, Any]:
    """A demo order."""
    customer = _person(rng)
    return {
        id_field: f"ORD-{100000 + n}",
        "status": rng.choice(_ORDER_STATUSES),
        "customer": customer,
        "email": _email(customer, n % 997),
        "city": rng.choice(_CITIES),
        "total": round(rng.uniform(4, 480), 2),
        "currency": "EUR",
        "items": rng.randint(1, 9),
        "product": rng.choice(_PRODUCTS),
    }


def customer_data(rng: random.Random, n: int) -> dict[str, Any]:
    """A demo customer (integer ids)."""
    name = _person(rng)
    return {
        "id": 5000 + n,
        "name": name,
        "email": _email(name, n),
        "city": rng.choice(_CITIES),
        "tier": rng.choice(_TIERS),
        "active": rng.random() > 0.1,
    }


def inventory_data(rng: random.Random, n: int) -> dict[str, Any]:
    """A demo stock level."""
    return {
        "sku": f"SKU-{n:05d}",
        "name": f"{rng.choice(_PRODUCTS)} {rng.choice(('S', 'M', 'L', 'XL'))}",
        "warehouse": rng.choice(_WAREHOUSES),
        "on_hand": rng.randint(0, 900),
        "reorder_level": rng.choice((10, 25, 50)),
    }


def shipment_data(rng: random.Random, n: int) -> dict[str, Any]:
    """A demo shipment."""
    return {
        "tracking_number": f"1Z{n:08d}{rng.randint(10, 99)}",
        "carrier": rng.choice(_CARRIERS),
        "status": rng.choice(_SHIP_STATUSES),
        "order_id": f"ORD-{100000 + rng.randint(0, 2999)}",
        "destination": rng.choice(_CITIES),
        "parcels": rng.randint(1, 3),
    }


# feed id -> (record count, data maker, the intent that creates its records)
DEMO_RECORDS: dict[str, tuple[int, Callable[[random.Random, int], dict[str, Any]], str]] = {
    "orders": (2500, order_data, "upsert"),
    "customers": (1000, customer_data, "import"),
    "inventory": (2000, inventory_data, "fetch-list"),
    "shipments": (2000, shipment_data, "fetch"),
}


def _keys(conn: sqlite3.Connection, account_id: int) -> list[_Key]:
    rows = conn.execute(
        "SELECT id, prefix, last4, feed FROM api_keys WHERE account_id = ? AND revoked_at IS NULL"
        " ORDER BY seq",
        (account_id,),
    ).fetchall()
    keys = [
        _Key(str(row[0]), mask_key(str(row[1]), str(row[2])), row[3] and str(row[3]))
        for row in rows
    ]
    return keys or [_Key("key_" + "0" * 24, "fdk_…0000")]


def _keys_that_could(keys: list[_Key], feed: str, intent: str) -> list[_Key]:
    """The keys that could have made a change of `intent` on `feed`: the record routes take
    admin keys only; the intents also the feed's own ingest keys."""
    admin = [key for key in keys if key.feed is None]
    if intent.startswith("record-"):
        return admin or keys
    return [key for key in keys if key.feed in (None, feed)] or keys


def _correlation_id(rng: random.Random) -> str:
    return f"corr_{rng.getrandbits(104):026x}"


class _Writer:
    """Collects rows and writes them with executemany, `chunk` records at a time."""

    def __init__(self, conn: sqlite3.Connection, feed_seq: int, next_seq: int) -> None:
        self.conn = conn
        self.feed_seq = feed_seq
        self.next_seq = next_seq
        self.records: list[tuple[Any, ...]] = []
        self.history: list[tuple[Any, ...]] = []
        self.fts: list[tuple[int, str]] = []
        self.field_sets: list[tuple[int, float, str]] = []
        self.fields: list[tuple[int, str, str, float, int]] = []
        self.keys: set[tuple[int, str]] = set()
        self.active = 0
        self._changed: dict[tuple[str, ...], str] = {}

    def add(
        self,
        data: dict[str, Any],
        system_id: str,
        created_at: float,
        changes: list[_Change],
        *,
        deleted: bool,
        archived: _Change | None,
        restored: _Change | None,
    ) -> None:
        seq = self.next_seq
        self.next_seq += 1
        last = changes[-1]
        text = _ENCODER.encode(data)

        def mark(change: _Change | None) -> str | None:
            if change is None:
                return None
            return _ENCODER.encode(
                {
                    "at": change.at,
                    "key_id": change.key.key_id,
                    "key": change.key.shown,
                    "correlation_id": change.correlation_id,
                }
            )

        self.records.append(
            (
                seq,
                self.feed_seq,
                new_guid(created_at),
                system_id,
                int(deleted),
                created_at,
                last.at,
                text,
                last.correlation_id,
                mark(archived),
                mark(restored),
            )
        )
        for change in changes:
            names = tuple(change.changed)
            changed = self._changed.get(names)
            if changed is None:
                changed = self._changed[names] = _ENCODER.encode(change.changed)
            self.history.append(
                (
                    seq,
                    change.at,
                    change.intent,
                    change.correlation_id,
                    change.key.key_id,
                    change.key.shown,
                    changed,
                )
            )
        rows = index_rows(seq, self.feed_seq, last.at, text, data)
        self.fts.append((seq, rows.text))
        self.field_sets.append((seq, last.at, rows.field_set()))
        self.fields.extend(rows.fields)
        self.keys.update(rows.keys)
        self.active += not deleted

    def flush(self) -> None:
        conn = self.conn
        conn.executemany(
            "INSERT INTO records (seq, feed_seq, guid, system_id, deleted, created_at,"
            " updated_at, data, last_correlation_id, archived, restored)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            self.records,
        )
        conn.executemany(
            "INSERT INTO record_history (record_seq, timestamp, intent, correlation_id, key_id,"
            " key_shown, changed) VALUES (?, ?, ?, ?, ?, ?, ?)",
            self.history,
        )
        conn.executemany("INSERT INTO records_fts (rowid, body) VALUES (?, ?)", self.fts)
        conn.executemany(
            "INSERT INTO record_field_sets (seq, updated_at, fields) VALUES (?, ?, ?)",
            self.field_sets,
        )
        self.fields.sort()
        conn.executemany(
            "INSERT OR IGNORE INTO record_fields (feed_seq, name, value, updated_at, seq)"
            " VALUES (?, ?, ?, ?, ?)",
            self.fields,
        )
        conn.executemany(
            "INSERT OR IGNORE INTO record_keys (feed_seq, name) VALUES (?, ?)", sorted(self.keys)
        )
        conn.execute(
            "UPDATE feeds SET record_count = record_count + ? WHERE seq = ?",
            (self.active, self.feed_seq),
        )
        self.records, self.history, self.fts, self.fields = [], [], [], []
        self.field_sets = []
        self.keys, self.active = set(), 0


def _next_seq(conn: sqlite3.Connection) -> int:
    return int(conn.execute("SELECT coalesce(max(seq), 0) + 1 FROM records").fetchone()[0])


def _feed(conn: sqlite3.Connection, account_id: int, slug: str) -> tuple[int, str] | None:
    row = conn.execute(
        "SELECT seq, id_field FROM feeds WHERE account_id = ? AND slug = ?", (account_id, slug)
    ).fetchone()
    return None if row is None else (int(row[0]), str(row[1]))


def _history_of(
    rng: random.Random,
    data: dict[str, Any],
    created_at: float,
    at: float,
    intent: str,
    keys: list[_Key],
    feed: str,
) -> tuple[list[_Change], dict[str, Any], bool, _Change | None, _Change | None]:
    """A record's changes from its creation to now: some updates, maybe an archive and a
    restore. Returns (changes, final data, deleted, archive change, restore change)."""

    def by(change_intent: str) -> _Key:
        return rng.choice(_keys_that_could(keys, feed, change_intent))

    changes = [_Change(created_at, intent, _correlation_id(rng), by(intent), list(data))]
    moment = created_at
    for _ in range(rng.choice((0, 0, 1, 1, 2, 3))):
        moment = round(moment + rng.uniform(0.01, 1) * max(at - moment, 1) / 2, 3)
        field = next((name for name in ("status", "on_hand", "tier") if name in data), None)
        if field is None:
            break
        if field == "on_hand":
            data[field] = rng.randint(0, 900)
        elif field == "tier":
            data[field] = rng.choice(_TIERS)
        else:
            data[field] = rng.choice(_ORDER_STATUSES if "customer" in data else _SHIP_STATUSES)
        change_intent = rng.choice(("patch", "upsert", "record-patch"))
        changes.append(
            _Change(moment, change_intent, _correlation_id(rng), by(change_intent), [field])
        )
    deleted, archived, restored = False, None, None
    if rng.random() < 0.08:
        moment = round(moment + rng.uniform(0.1, 0.5) * max(at - moment, 1) / 2, 3)
        archived = _Change(moment, "delete", _correlation_id(rng), by("delete"), ["deleted"])
        changes.append(archived)
        deleted = True
        if rng.random() < 0.25:
            moment = round(moment + rng.uniform(0.1, 0.5) * max(at - moment, 1) / 2, 3)
            restored = _Change(
                moment, "record-patch", _correlation_id(rng), by("record-patch"), ["deleted"]
            )
            changes.append(restored)
            deleted = False
    return changes, data, deleted, archived, restored


def seed_demo_records(conn: sqlite3.Connection, account_id: int, at: float) -> None:
    """The demo feeds' records (a few thousand each, some archived, with histories),
    inside the caller's transaction."""
    keys = _keys(conn, account_id)
    for slug, (count, make, intent) in DEMO_RECORDS.items():
        feed = _feed(conn, account_id, slug)
        if feed is None:
            continue
        feed_seq, id_field = feed
        rng = random.Random(f"demo-records-{slug}")
        writer = _Writer(conn, feed_seq, _next_seq(conn))
        start = at - 30 * DAY
        for n in range(count):
            created_at = round(start + (n + rng.random()) * (29 * DAY / count), 3)
            data = make(rng, n)
            changes, data, deleted, archived, restored = _history_of(
                rng, data, created_at, at, intent, keys, slug
            )
            writer.add(
                data,
                str(data[id_field]),
                created_at,
                changes,
                deleted=deleted,
                archived=archived,
                restored=restored,
            )
        writer.flush()


def bulk_rows(count: int, at: float, seed: str = "bulk") -> Iterator[tuple[dict[str, Any], float]]:
    """`count` order-like records and their creation times, oldest first, ending at `at`."""
    rng = random.Random(seed)
    span = min(90 * DAY, max(count, 1) * 0.01)
    for n in range(count):
        yield order_data(rng, n, "id"), round(at - span + n * span / max(count, 1), 3)


def seed_bulk_records(
    data_dir: Path, count: int, *, chunk: int = BULK_CHUNK, opened: bool = False
) -> int:
    """`sandbox serve --demo-records N`: N records in the demo account's `demo-records`
    feed (created if missing), in transactions of `chunk` records, on a connection of its
    own. Only tops the feed up to N: a second start with the same N adds nothing. Returns
    how many were added. `opened`: this process already has the database open (a server),
    so the connection must not touch its files (`storage.connect_opened`)."""
    conn = storage.connect_opened(data_dir) if opened else storage.connect(data_dir)
    try:
        with storage.transaction(conn):
            account_id = storage.ensure_account(conn, BULK_ACCOUNT)
            slug, name, method, id_field = BULK_FEED
            if not storage.feed_exists(conn, account_id, slug):
                storage.insert_feed(
                    conn, account_id, slug=slug, name=name, method=method, id_field=id_field
                )
            feed = _feed(conn, account_id, slug)
            assert feed is not None
            have = int(
                conn.execute(
                    "SELECT count(*) FROM records WHERE feed_seq = ?", (feed[0],)
                ).fetchone()[0]
            )
            keys = _keys(conn, account_id)
        missing = max(0, count - have)
        if not missing:
            return 0
        at = storage.now()
        rng = random.Random("bulk-corr")
        key = keys[0]
        writer: _Writer | None = None
        done = 0
        rows = bulk_rows(count, at)
        for _ in range(have):
            next(rows)
        for data, created_at in rows:
            if writer is None:
                conn.execute("BEGIN IMMEDIATE")
                writer = _Writer(conn, feed[0], _next_seq(conn))
            change = _Change(created_at, "import", _correlation_id(rng), key, list(data))
            writer.add(
                data,
                str(data["id"]),
                created_at,
                [change],
                deleted=False,
                archived=None,
                restored=None,
            )
            done += 1
            if len(writer.records) >= chunk:
                writer.flush()
                conn.execute("COMMIT")
                writer = None
        if writer is not None:
            writer.flush()
            conn.execute("COMMIT")
        return done
    finally:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        conn.close()
