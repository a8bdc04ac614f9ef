"""`sandbox serve --demo-logs N`: N connector log entries seeded in bulk, for benchmarks.

Written with executemany in transactions of `chunk` entries on a connection of its own,
before the server serves (never one statement per entry): the entries, their search rows
and (one in ten) their bodies. Timestamps spread over the last 7 days, oldest first and
after any entry already there, so `written_at` keeps growing with `id` (the stream's
resume and `since`/`until` rely on it). The mix is deterministic (a seeded generator):
8 feeds, mostly accepted ingests that succeeded, rare failures and refusals with their
errors, a third with an Idempotency-Key (some replayed as `duplicate`), some pipeline
events. Seeded entries have no intent or import behind them (`source` is NULL), so their
details have no processing timeline. Each run adds N more; `ANALYZE` runs at the end so
the query planner knows the table's shape at once.
"""

from __future__ import annotations

import json
import random
import sqlite3
from pathlib import Path
from typing import Any

from console.common.redaction import mask_key
from console.sandbox.storage import sqlite as storage

DEMO_ACCOUNT = "demo"
SPAN_SECONDS = 7 * 86_400.0
CHUNK = 20_000
# The seeding connection's page cache (KiB).
SEED_CACHE_KIB = 256 * 1024
# Seeding at least this many entries (and at least as many as the table holds) drops the
# table's indexes first and builds them again at the end: building an index by sorting
# is ~2x faster than 11 index inserts per row (measured). `meta` remembers the dropped
# ones until they are back (restore_log_indexes).
REINDEX_AT = 50_000
_DROPPED_INDEXES_MARK = "demo_logs_dropped_indexes"
# The feeds entries are spread over (created in the demo account if missing).
DEMO_LOG_FEEDS = (
    "orders",
    "customers",
    "inventory",
    "shipments",
    "products",
    "invoices",
    "returns",
    "payments",
)
# (intent, method, path pattern, weight): what a connector mostly does.
_KINDS = (
    ("ingest", "POST", "/api/ingest?stream={feed}", 50),
    ("upsert", "POST", "/ingest/{feed}/upsert", 18),
    ("patch", "POST", "/ingest/{feed}/patch", 6),
    ("delete", "POST", "/ingest/{feed}/delete", 2),
    ("fetch", "POST", "/ingest/{feed}/fetch", 2),
    ("poll", "POST", "/ingest/{feed}/poll", 8),
    ("record.create", "POST", "/api/public/v1/feeds/{feed}/records", 4),
    ("record.update", "PATCH", "/api/public/v1/feeds/{feed}/records/{n}", 4),
    ("import", "POST", "/api/public/v1/feeds/{feed}/imports", 1),
    ("pipeline", "", "", 5),
)
_PIPELINE_EVENTS = (
    ("pipeline.sync_started", "succeeded"),
    ("pipeline.sync_succeeded", "succeeded"),
    ("pipeline.sync_started", "succeeded"),
    ("pipeline.sync_succeeded", "succeeded"),
    ("pipeline.sync_failed", "failed"),
    ("pipeline.pipeline_started", "succeeded"),
    ("pipeline.pipeline_stopped", "succeeded"),
)
# (http status, weight) of the refused requests (about 3% of all).
_REFUSALS = ((400, 50), (404, 12), (413, 4), (415, 4), (429, 28), (500, 2))
_REFUSAL_MESSAGES = {
    400: ("[{i}].sku", "required field missing"),
    404: (None, "stream not found"),
    413: (None, "request body over 1,048,576 bytes"),
    415: (None, "unsupported media type"),
    429: (None, "rate limited: retry after 1 s"),
    500: (None, "internal error"),
}
_CLIENTS = ("127.0.0.1", "10.0.4.17", "10.0.4.18", "192.168.1.20", "172.16.0.9")
_AGENTS = ("integration-console/0.12", "python-httpx/0.28", "curl/8.5", "acme-relay/2.1")
_ITEM_ERRORS = (
    ("price", "expected a number"),
    ("sku", "required field missing"),
    ("email", "not an email address"),
    ("quantity", "must be >= 0"),
)
_ENCODER = json.JSONEncoder(ensure_ascii=False, allow_nan=False, separators=(",", ":"))

_INSERT_LOG = (
    "INSERT INTO logs (id, account_id, timestamp, written_at, request_id, correlation_id,"
    " feed, pipeline_id, key_id, key_shown, method, path, intent, http_status,"
    " items_received, processing_status, errors, error_count, duration_ms, client_ip,"
    " auth_via, idempotency_key, source, source_seq)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL, NULL)"
)
_INSERT_BODY = (
    "INSERT INTO log_bodies (log_id, request_body, request_bytes, request_truncated,"
    " response_body, headers) VALUES (?, ?, ?, 0, ?, ?)"
)


def _ensure_demo(conn: sqlite3.Connection) -> tuple[int, list[tuple[str, str]], list[str]]:
    """The demo account (and its 8 log feeds) created if missing; its id, keys, pipelines."""
    with storage.transaction(conn):
        account_id = storage.ensure_account(conn, DEMO_ACCOUNT)
        for slug in DEMO_LOG_FEEDS:
            if not storage.feed_exists(conn, account_id, slug):
                storage.insert_feed(
                    conn,
                    account_id,
                    slug=slug,
                    name=slug.capitalize(),
                    method="ingest",
                    id_field="id",
                )
        keys = [
            (str(row[0]), mask_key(str(row[1]), str(row[2])))
            for row in conn.execute(
                "SELECT id, prefix, last4 FROM api_keys WHERE account_id = ? ORDER BY seq",
                (account_id,),
            )
        ]
        pipelines = [
            str(row[0])
            for row in conn.execute(
                "SELECT id FROM pipelines WHERE account_id = ? ORDER BY id", (account_id,)
            )
        ]
    # No keys yet (no --demo): entries name made-up ones, as a relay's logs would.
    keys = keys or [
        ("key_demologsingest00000001", "ik_live_…a1b2"),
        ("key_demologsingest00000002", "ik_live_…c3d4"),
        ("key_demologsadmin000000001", "fdk_…e5f6"),
    ]
    return account_id, keys, pipelines or ["1", "2", "3", "4"]


def _drop_log_indexes(conn: sqlite3.Connection) -> None:
    """Drop the secondary indexes of `logs`, remembering them in `meta` (one transaction)."""
    with storage.transaction(conn):
        indexes = [
            [str(row[0]), str(row[1])]
            for row in conn.execute(
                "SELECT name, sql FROM sqlite_master WHERE type = 'index'"
                " AND tbl_name = 'logs' AND sql IS NOT NULL ORDER BY name"
            )
        ]
        conn.execute(
            "INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)",
            (_DROPPED_INDEXES_MARK, json.dumps(indexes)),
        )
        for name, _sql in indexes:
            conn.execute(f'DROP INDEX "{name}"')


def restore_log_indexes(conn: sqlite3.Connection) -> bool:
    """Create the `logs` indexes a seeding dropped (in the caller's transaction); False
    when none were missing. The server calls it at every start, so a seeding killed
    halfway never leaves the table without its indexes."""
    row = conn.execute("SELECT value FROM meta WHERE key = ?", (_DROPPED_INDEXES_MARK,)).fetchone()
    if row is None:
        return False
    for name, sql in json.loads(row[0]):
        exists = conn.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'index' AND name = ?", (name,)
        ).fetchone()
        if exists is None:
            conn.execute(sql)
    conn.execute("DELETE FROM meta WHERE key = ?", (_DROPPED_INDEXES_MARK,))
    return True


def _weighted(pairs: tuple[tuple[Any, ...], ...]) -> list[Any]:
    """A list with each item repeated by its weight (its last element)."""
    return [item for item in pairs for _ in range(item[-1])]


def seed_demo_logs(
    conn: sqlite3.Connection,
    count: int,
    *,
    now: float | None = None,
    chunk: int = CHUNK,
    seed: str = "demo-logs",
) -> int:
    """Add `count` entries to the demo account (see the module); returns how many.

    `conn` must be a write connection outside any transaction; each `chunk` entries
    commit in a transaction of their own.
    """
    if count <= 0:
        return 0
    at = storage.now() if now is None else now
    # Random request and correlation ids land all over their indexes: a big page cache
    # keeps those pages in memory rather than re-reading them (3x faster at 1M entries).
    conn.execute(f"PRAGMA cache_size = {-SEED_CACHE_KIB}")
    account_id, keys, pipelines = _ensure_demo(conn)
    row = conn.execute("SELECT max(id), max(written_at), count(*) FROM logs").fetchone()
    next_id = int(row[0] or 0) + 1
    reindex = count >= max(REINDEX_AT, int(row[2]))
    if reindex:
        _drop_log_indexes(conn)
    start = max(at - SPAN_SECONDS, float(row[1] or 0.0))
    step = max(at - start, 0.0) / count
    rng = random.Random(f"{seed}-{next_id}")  # another run, other ids
    random_ = rng.random
    getrandbits = rng.getrandbits
    kinds = _weighted(_KINDS)
    refusals = _weighted(_REFUSALS)
    acct_token = f"acct{account_id}"
    recent_keys: list[str] = []
    bodies_headers = {
        agent: _ENCODER.encode({"content-type": "application/json", "user-agent": agent})
        for agent in _AGENTS
    }
    done = 0
    while done < count:
        size = min(chunk, count - done)
        logs: list[tuple[Any, ...]] = []
        texts: list[tuple[int, str]] = []
        bodies: list[tuple[Any, ...]] = []
        for index in range(done, done + size):
            log_id = next_id + index
            written_at = round(start + (index + 1) * step, 3)
            duration: float | None = round(2 + random_() * random_() * 400, 3)
            timestamp = round(written_at - (duration or 0) / 1000, 3)
            intent, kind_method, pattern, _ = kinds[int(random_() * len(kinds))]
            method: str | None = kind_method
            path: str | None = None
            http_status: int | None = None
            replayed = False
            feed: str | None = DEMO_LOG_FEEDS[int(random_() ** 1.6 * len(DEMO_LOG_FEEDS))]
            pipeline_id = None
            key_id: str | None
            key_shown: str | None
            key_id, key_shown = keys[int(random_() * len(keys))]
            auth_via: str | None = "query" if random_() < 0.04 else "header"
            idempotency_key = None
            items = 1
            errors: list[dict[str, Any]] = []
            error_count = 0
            status_roll = random_()
            if intent == "pipeline":
                intent, status = _PIPELINE_EVENTS[int(random_() * len(_PIPELINE_EVENTS))]
                pipeline_id = pipelines[int(random_() * len(pipelines))]
                method = feed = key_id = key_shown = auth_via = duration = None
                items = 0
                if status == "failed":
                    errors = [{"item": None, "field": None, "message": "destination timed out"}]
                timestamp = written_at
            else:
                path = pattern.format(feed=feed, n=getrandbits(20))
                if intent in ("ingest", "upsert", "patch"):
                    items = 1 + int(random_() ** 3 * 1000)
                if intent == "ingest" and random_() < 0.66:
                    if recent_keys and random_() < 0.05:
                        idempotency_key = recent_keys[int(random_() * len(recent_keys))]
                        replayed = True
                    else:
                        idempotency_key = f"{feed}-{getrandbits(64):016x}-{index}"
                        if len(recent_keys) < 512:
                            recent_keys.append(idempotency_key)
                        else:
                            recent_keys[int(random_() * 512)] = idempotency_key
                if status_roll < 0.03:
                    http_status = refusals[int(random_() * len(refusals))][0]
                    status = "failed" if http_status >= 500 else "rejected"
                    field, message = _REFUSAL_MESSAGES[http_status]
                    item = int(random_() * items) if field else None
                    errors = [
                        {
                            "item": item,
                            "field": field and field.format(i=item),
                            "message": message,
                        }
                    ]
                else:
                    http_status = 202
                    if intent == "record.create":
                        http_status = 201
                    elif intent == "record.update":
                        http_status = 200
                    status = "succeeded"
                    if replayed:
                        status = "duplicate"
                    elif http_status == 202 and status_roll > 0.985:
                        status = "failed" if status_roll > 0.996 else "partially_failed"
                        failed = items if status == "failed" else 1 + int(random_() * items / 4)
                        error_count = failed
                        errors = []
                        for item in range(min(failed, 5)):
                            name, message = _ITEM_ERRORS[int(random_() * len(_ITEM_ERRORS))]
                            errors.append({"item": item, "field": name, "message": message})
                    elif written_at > at - 2 and status_roll > 0.9:
                        status = "queued"
            if not error_count:
                error_count = len(errors)
            request_id = f"req_{getrandbits(104):026x}"
            correlation_id = f"corr_{getrandbits(104):026x}"
            client_ip = None if pipeline_id else _CLIENTS[int(random_() ** 2 * len(_CLIENTS))]
            error_text = _ENCODER.encode(errors) if errors else "[]"
            logs.append(
                (
                    log_id,
                    account_id,
                    timestamp,
                    written_at,
                    request_id,
                    correlation_id,
                    feed,
                    pipeline_id,
                    key_id,
                    key_shown,
                    method,
                    path,
                    intent,
                    http_status,
                    items,
                    status,
                    error_text,
                    error_count,
                    duration,
                    client_ip,
                    auth_via,
                    idempotency_key,
                )
            )
            # What store.search_text indexes, in its order.
            parts = [acct_token, request_id, correlation_id]
            for value in (feed, pipeline_id, key_shown, method, path, intent, status, client_ip):
                if value:
                    parts.append(value)
            if idempotency_key:
                parts.append(idempotency_key)
            if http_status is not None:
                parts.append(str(http_status))
            for error in errors:
                parts.append(error["message"])
                if error.get("field"):
                    parts.append(error["field"])
            if method and index % 10 == 0:
                request_body = _ENCODER.encode(
                    [
                        {
                            "id": f"{(feed or 'x')[:3].upper()}-{getrandbits(24)}",
                            "qty": n,
                            "price": n * 3,
                        }
                        for n in range(1, 4)
                    ]
                )
                response_body = (
                    _ENCODER.encode({"correlationId": correlation_id, "itemsReceived": items})
                    if http_status in (200, 201, 202)
                    else _ENCODER.encode({"error": {"message": errors[0]["message"]}})
                )
                bodies.append(
                    (
                        log_id,
                        request_body,
                        len(request_body),
                        response_body,
                        bodies_headers[_AGENTS[index % len(_AGENTS)]],
                    )
                )
                parts.append(request_body)
            texts.append((log_id, " ".join(parts)))
        with storage.transaction(conn):
            conn.executemany(_INSERT_LOG, logs)
            conn.executemany(_INSERT_BODY, bodies)
            conn.executemany("INSERT INTO logs_fts (rowid, body) VALUES (?, ?)", texts)
        done += size
    if reindex:
        with storage.transaction(conn):
            restore_log_indexes(conn)
    conn.execute("PRAGMA analysis_limit = 2000")
    conn.execute("ANALYZE logs")
    return done


def seed_demo_logs_in(data_dir: Path, count: int, *, opened: bool = False) -> int:
    """seed_demo_logs on a connection of its own to `data_dir`'s database. `opened`: this
    process already has the database open (a server), see `storage.connect_opened`."""
    conn = storage.connect_opened(data_dir) if opened else storage.connect(data_dir)
    try:
        return seed_demo_logs(conn, count)
    finally:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        conn.close()
