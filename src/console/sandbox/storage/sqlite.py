"""SQLite storage of the sandbox: schema and migrations, accounts, feed and key rows, `mint_key`.

Stdlib only: the GUI imports this module to mint its own key without loading the web
stack. WAL with synchronous=NORMAL keeps every committed row across a killed process
(STACK_NOTES 7) and lets `mint_key` write while a server runs on the same data dir.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import sqlite3
import string
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from console.common.private_files import private_database
from console.sandbox.storage.standard_catalogue import STANDARD_CONNECTIONS, STANDARD_HOOKS

DATABASE_NAME = "sandbox.sqlite3"
BUSY_TIMEOUT_MS = 10_000

ALPHANUMERIC = string.ascii_letters + string.digits
# The largest multiple of 62 a byte can hold: bytes below it map uniformly onto ALPHANUMERIC.
_UNIFORM_BYTES = 256 - 256 % len(ALPHANUMERIC)
# Byte b below _UNIFORM_BYTES stands for ALPHANUMERIC[b % 62]; the others are dropped.
_TO_ALPHANUMERIC = bytes(ord(ALPHANUMERIC[b % len(ALPHANUMERIC)]) for b in range(256))
_NOT_UNIFORM = bytes(range(_UNIFORM_BYTES, 256))
ADMIN_PREFIX = "fdk_"
INGEST_PREFIX = "ik_live_"
# 40 and 32 characters of a 62-letter alphabet: ~238 and ~190 random bits.
SECRET_LENGTH = {"admin": 40, "ingest": 32}
KEY_PREFIX = {"admin": ADMIN_PREFIX, "ingest": INGEST_PREFIX}
KEY_KINDS = ("admin", "ingest")
FEED_METHODS = ("ingest", "trigger", "polling")
FEED_SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")

# The durable intent queue (console/sandbox/intents): one row per accepted intent, committed
# before its 202; `body` is the raw request body, parsed again by the worker. An intent's
# status and times live on its row, with `items_done`: the items applied so far (a large
# intent is applied in chunks, each committed with its progress). The records it touched
# are in `intent_records` (no unique key, so an item applied twice would show), its
# problems in `intent_errors`. `feed_polls` schedules the simulated connector's polls.
INTENTS_MIGRATION: tuple[str, ...] = (
    """CREATE TABLE intents (
        seq INTEGER PRIMARY KEY,
        correlation_id TEXT NOT NULL UNIQUE,
        account_id INTEGER NOT NULL REFERENCES accounts(id),
        feed TEXT NOT NULL,
        intent TEXT NOT NULL CHECK (intent IN ('upsert', 'patch', 'delete', 'fetch',
            'fetch-list', 'poll')),
        key_id TEXT,
        key_shown TEXT,
        body BLOB NOT NULL,
        body_sha256 TEXT NOT NULL,
        items_received INTEGER NOT NULL,
        status TEXT NOT NULL CHECK (status IN ('queued', 'processing', 'succeeded',
            'partially_failed', 'failed')),
        received_at REAL NOT NULL,
        started_at REAL,
        finished_at REAL,
        items_done INTEGER NOT NULL DEFAULT 0
    )""",
    "CREATE INDEX intents_pending ON intents(seq) WHERE status IN ('queued', 'processing')",
    """CREATE TABLE intent_records (
        correlation_id TEXT NOT NULL,
        item INTEGER NOT NULL,
        guid TEXT,
        system_id TEXT,
        action TEXT NOT NULL
    )""",
    "CREATE INDEX intent_records_by_intent ON intent_records(correlation_id, item)",
    # item NULL: a problem of the whole intent.
    """CREATE TABLE intent_errors (
        correlation_id TEXT NOT NULL,
        item INTEGER,
        field TEXT,
        message TEXT NOT NULL
    )""",
    "CREATE INDEX intent_errors_by_intent ON intent_errors(correlation_id, item)",
    """CREATE TABLE feed_polls (
        feed_seq INTEGER PRIMARY KEY REFERENCES feeds(seq),
        polls INTEGER NOT NULL,
        next_at REAL NOT NULL
    )""",
)

# Connector logs (console/sandbox/logs): one row per logged request or pipeline event.
# `id` is AUTOINCREMENT, so an id is never reused after pruning and a stream's
# Last-Event-ID can never come to name another entry. Only the writer connection inserts
# rows, one transaction at a time, so ids commit in id order: a reader that sees id N sees
# every id below it (the live stream's resume relies on this). `written_at` is the writer's
# clock, monotone with `id`; `timestamp` (when the request arrived) is kept within 120 s
# below it, so a time range maps onto an id range. Every index leads with the account:
# correlation ids are unique per account only. Bodies live in their own table, so the
# index-driven page reads stay small.
LOGS_MIGRATION: tuple[str, ...] = (
    """CREATE TABLE logs (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        account_id INTEGER NOT NULL,
        timestamp REAL NOT NULL,
        written_at REAL NOT NULL,
        request_id TEXT NOT NULL,
        correlation_id TEXT NOT NULL,
        feed TEXT,
        pipeline_id TEXT,
        key_id TEXT,
        key_shown TEXT,
        method TEXT,
        path TEXT,
        intent TEXT,
        http_status INTEGER,
        items_received INTEGER NOT NULL DEFAULT 0,
        processing_status TEXT NOT NULL CHECK (processing_status IN ('queued', 'processing',
            'succeeded', 'partially_failed', 'failed', 'duplicate', 'rejected')),
        errors TEXT NOT NULL DEFAULT '[]',
        error_count INTEGER NOT NULL DEFAULT 0,
        duration_ms REAL,
        client_ip TEXT,
        auth_via TEXT CHECK (auth_via IN ('header', 'query') OR auth_via IS NULL),
        idempotency_key TEXT,
        source TEXT CHECK (source IN ('intent', 'import', 'pipeline') OR source IS NULL),
        source_seq INTEGER
    )""",
    "CREATE UNIQUE INDEX logs_by_request ON logs(request_id)",
    "CREATE INDEX logs_by_account ON logs(account_id, id)",
    "CREATE INDEX logs_by_feed ON logs(account_id, feed, id)",
    "CREATE INDEX logs_by_pipeline ON logs(account_id, pipeline_id, id)"
    " WHERE pipeline_id IS NOT NULL",
    "CREATE INDEX logs_by_status ON logs(account_id, processing_status, id)",
    "CREATE INDEX logs_by_intent ON logs(account_id, intent, id)",
    "CREATE INDEX logs_by_http ON logs(account_id, http_status, id)",
    "CREATE INDEX logs_by_correlation ON logs(account_id, correlation_id, id)",
    "CREATE INDEX logs_by_idempotency ON logs(account_id, idempotency_key, id)"
    " WHERE idempotency_key IS NOT NULL",
    "CREATE INDEX logs_by_written ON logs(written_at)",
    "CREATE INDEX logs_by_source ON logs(source, source_seq) WHERE source IS NOT NULL",
    # request_body/response_body: the first 64 KiB as text, secrets masked; headers: JSON
    # of the few headers a log keeps (never Authorization or Cookie).
    """CREATE TABLE log_bodies (
        log_id INTEGER PRIMARY KEY,
        request_body TEXT,
        request_bytes INTEGER NOT NULL,
        request_truncated INTEGER NOT NULL,
        response_body TEXT,
        headers TEXT NOT NULL
    )""",
    # Free text (`q`) over an entry's fields and the start of its body, rowid = logs.id. An
    # `acct<N>` token scopes a match to its account inside FTS.
    "CREATE VIRTUAL TABLE logs_fts USING fts5(body, detail = 'none',"
    " tokenize = 'unicode61 remove_diacritics 2')",
    # Idempotency-Key of /api/ingest, per API key, for 24 h: the original 202 body.
    """CREATE TABLE ingest_idempotency (
        key_id TEXT NOT NULL,
        idempotency_key TEXT NOT NULL,
        account_id INTEGER NOT NULL,
        request_id TEXT NOT NULL,
        body_sha256 TEXT NOT NULL,
        response TEXT NOT NULL,
        created_at REAL NOT NULL,
        PRIMARY KEY (key_id, idempotency_key)
    ) WITHOUT ROWID""",
    "CREATE INDEX ingest_idempotency_by_age ON ingest_idempotency(created_at)",
    # /api/ingest items are keyed by X-Item-Key (NULL: the feed's id field); the worker
    # updates the entry `log_id` as the intent moves on.
    "ALTER TABLE intents ADD COLUMN item_key TEXT",
    "ALTER TABLE intents ADD COLUMN log_id INTEGER",
    "ALTER TABLE intents ADD COLUMN request_id TEXT",
    "CREATE INDEX intents_finished ON intents(finished_at) WHERE finished_at IS NOT NULL",
    "ALTER TABLE imports ADD COLUMN log_id INTEGER",
    # Trace: which records a correlation id touched.
    "CREATE INDEX record_history_by_correlation ON record_history(correlation_id, id)",
)

# A key's audit trail (docs/api.md, "Key events"): created, rotated, revoked and first used,
# each with when, which key made the change (id and prefix…last4; none for a key minted
# from the command line) and from where. `logs_by_key` serves the `key` filter of /logs.
KEY_EVENTS_MIGRATION: tuple[str, ...] = (
    """CREATE TABLE key_events (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        account_id INTEGER NOT NULL,
        key_id TEXT NOT NULL,
        event TEXT NOT NULL CHECK (event IN ('created', 'rotated', 'revoked', 'first_used')),
        at REAL NOT NULL,
        actor_key_id TEXT,
        actor_shown TEXT,
        client_ip TEXT,
        auth_via TEXT CHECK (auth_via IN ('header', 'query') OR auth_via IS NULL),
        route TEXT,
        feed TEXT,
        related_key_id TEXT,
        expires_at REAL
    )""",
    "CREATE INDEX key_events_by_key ON key_events(key_id, id)",
    "CREATE INDEX logs_by_key ON logs(account_id, key_id, id) WHERE key_id IS NOT NULL",
)

# Each entry migrates the schema from version N to N+1; append, never edit.
MIGRATIONS: tuple[tuple[str, ...], ...] = (
    (
        "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
        """CREATE TABLE accounts (
            id INTEGER PRIMARY KEY,
            name TEXT NOT NULL UNIQUE,
            created_at REAL NOT NULL
        )""",
        """CREATE TABLE feeds (
            seq INTEGER PRIMARY KEY,
            account_id INTEGER NOT NULL REFERENCES accounts(id),
            slug TEXT NOT NULL,
            name TEXT NOT NULL,
            method TEXT NOT NULL CHECK (method IN ('ingest', 'trigger', 'polling')),
            id_field TEXT NOT NULL DEFAULT 'id',
            created_at REAL NOT NULL,
            UNIQUE (account_id, slug)
        )""",
        """CREATE TABLE api_keys (
            seq INTEGER PRIMARY KEY,
            id TEXT NOT NULL UNIQUE,
            account_id INTEGER NOT NULL REFERENCES accounts(id),
            name TEXT NOT NULL,
            kind TEXT NOT NULL CHECK (kind IN ('admin', 'ingest')),
            feed TEXT,
            prefix TEXT NOT NULL,
            last4 TEXT NOT NULL,
            key_hash TEXT NOT NULL UNIQUE,
            created_at REAL NOT NULL,
            expires_at REAL,
            last_used_at REAL,
            revoked_at REAL,
            rotated_from TEXT,
            CHECK ((kind = 'ingest') = (feed IS NOT NULL)),
            FOREIGN KEY (account_id, feed) REFERENCES feeds(account_id, slug)
        )""",
        "CREATE INDEX api_keys_by_account ON api_keys(account_id, seq)",
        """CREATE TABLE connections (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            account_id INTEGER NOT NULL REFERENCES accounts(id),
            name TEXT NOT NULL,
            role TEXT NOT NULL CHECK (role IN ('source', 'destination')),
            type TEXT NOT NULL
        )""",
        "CREATE INDEX connections_by_account ON connections(account_id, id)",
        """CREATE TABLE hooks (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            account_id INTEGER NOT NULL REFERENCES accounts(id),
            name TEXT NOT NULL,
            type TEXT NOT NULL
        )""",
        "CREATE INDEX hooks_by_account ON hooks(account_id, id)",
    ),
    (
        # due_at: when the simulation's next step for the pipeline happens (deploy done,
        # sync start, sync end, teardown done); NULL when nothing is scheduled.
        """CREATE TABLE pipelines (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            account_id INTEGER NOT NULL REFERENCES accounts(id),
            name TEXT NOT NULL,
            status TEXT NOT NULL CHECK (status IN ('draft', 'deploying', 'running',
                'stopping', 'stopped', 'failed', 'archived')),
            revision INTEGER NOT NULL CHECK (revision >= 1),
            definition_json TEXT NOT NULL,
            definition_text TEXT NOT NULL,
            definition_format TEXT NOT NULL CHECK (definition_format IN ('yaml', 'json')),
            created_at REAL NOT NULL,
            updated_at REAL NOT NULL,
            last_sync_started_at REAL,
            last_sync_finished_at REAL,
            last_error TEXT,
            sync_in_progress INTEGER NOT NULL DEFAULT 0 CHECK (sync_in_progress IN (0, 1)),
            due_at REAL
        )""",
        "CREATE INDEX pipelines_by_account ON pipelines(account_id, status, id)",
        "CREATE INDEX pipelines_due ON pipelines(due_at) WHERE due_at IS NOT NULL",
        """CREATE TABLE pipeline_events (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            pipeline_id INTEGER NOT NULL REFERENCES pipelines(id),
            timestamp REAL NOT NULL,
            event TEXT NOT NULL CHECK (event IN ('pipeline_started', 'pipeline_stopped',
                'pipeline_failed', 'sync_started', 'sync_succeeded', 'sync_failed',
                'archived')),
            detail TEXT
        )""",
        "CREATE INDEX pipeline_events_by_pipeline ON pipeline_events(pipeline_id, id)",
    ),
    (
        # The definition rendered once at write time in the format it was not sent in
        # (JSON for a YAML definition, YAML for a JSON one), so a GET never converts.
        # NULL for rows written before this column existed: those convert on read.
        "ALTER TABLE pipelines ADD COLUMN definition_converted TEXT",
    ),
    (
        # Records of feeds (console/sandbox/records). `record_count` counts the feed's
        # active (deleted = 0) records, kept by the record writes, never a COUNT(*).
        "ALTER TABLE feeds ADD COLUMN record_count INTEGER NOT NULL DEFAULT 0",
        # seq: the rowid, in insertion order. guid: UUIDv7-style, so its index grows at
        # the end like the rowid. archived/restored: JSON {at, key_id, key,
        # correlation_id} of the last archive and restore, or NULL.
        """CREATE TABLE records (
            seq INTEGER PRIMARY KEY,
            feed_seq INTEGER NOT NULL REFERENCES feeds(seq),
            guid TEXT NOT NULL,
            system_id TEXT,
            deleted INTEGER NOT NULL DEFAULT 0 CHECK (deleted IN (0, 1)),
            created_at REAL NOT NULL,
            updated_at REAL NOT NULL,
            data TEXT NOT NULL,
            last_correlation_id TEXT,
            archived TEXT,
            restored TEXT
        )""",
        "CREATE UNIQUE INDEX records_by_guid ON records(guid)",
        "CREATE UNIQUE INDEX records_by_system_id ON records(feed_seq, system_id)"
        " WHERE system_id IS NOT NULL",
        # Keyset order (updated_at, seq) per feed: with `deleted` for deleted=0 and 1, and
        # without it for deleted=all. `version` is a range on updated_at in both.
        "CREATE INDEX records_by_update ON records(feed_seq, deleted, updated_at, seq)",
        "CREATE INDEX records_by_update_all ON records(feed_seq, updated_at, seq)",
        # One row per change of a record. changed: JSON array of top-level field names
        # (plus "deleted" for an archive or restore).
        """CREATE TABLE record_history (
            id INTEGER PRIMARY KEY,
            record_seq INTEGER NOT NULL REFERENCES records(seq),
            timestamp REAL NOT NULL,
            intent TEXT NOT NULL,
            correlation_id TEXT NOT NULL,
            key_id TEXT NOT NULL,
            key_shown TEXT NOT NULL,
            changed TEXT NOT NULL
        )""",
        "CREATE INDEX record_history_by_record ON record_history(record_seq, id)",
        # Records written since the background indexer last ran (records/indexer.py): it
        # brings records_fts and record_keys up to date in batches, off the write path, and
        # passes each record on to records_fields_dirty, which it drains in smaller batches
        # into record_fields (the field rows cost ~3x the full text, so `q` goes first).
        "CREATE TABLE records_dirty (seq INTEGER PRIMARY KEY)",
        "CREATE TABLE records_fields_dirty (seq INTEGER PRIMARY KEY)",
        # Full text of each record's data values, keyed by the record's seq (rowid). `q` is
        # words ANDed (no phrases), so no positions are kept (detail = none): a smaller
        # index, written faster.
        "CREATE VIRTUAL TABLE records_fts USING fts5(body, detail = 'none',"
        " tokenize = 'unicode61 remove_diacritics 2')",
        # Each record's rows in record_fields as last indexed, JSON [[name, value], ...] with
        # their updated_at, so the indexer deletes them by primary key without a second
        # index on record_fields.
        """CREATE TABLE record_field_sets (
            seq INTEGER PRIMARY KEY,
            updated_at REAL NOT NULL,
            fields TEXT NOT NULL
        )""",
        # Field filters (`data.NAME=VALUE`): one row per top-level scalar of a record's
        # data, in keyset order per (feed, name, value). updated_at is the record's when
        # indexed: a read keeps a row only while it still equals the record's.
        """CREATE TABLE record_fields (
            feed_seq INTEGER NOT NULL,
            name TEXT NOT NULL,
            value TEXT NOT NULL,
            updated_at REAL NOT NULL,
            seq INTEGER NOT NULL,
            PRIMARY KEY (feed_seq, name, value, updated_at, seq)
        ) WITHOUT ROWID""",
        # The key that signs record list cursors (records/query.py): a cursor is opaque.
        "INSERT INTO meta (key, value) VALUES ('records_cursor_key', lower(hex(randomblob(16))))",
        """CREATE TABLE record_keys (
            feed_seq INTEGER NOT NULL,
            name TEXT NOT NULL,
            PRIMARY KEY (feed_seq, name)
        ) WITHOUT ROWID""",
    ),
    INTENTS_MIGRATION,
    (
        # File imports (console/sandbox/imports): one row per upload, its progress kept in
        # the same transaction as each batch it applies, so last_row survives a kill.
        """CREATE TABLE imports (
            seq INTEGER PRIMARY KEY,
            id TEXT NOT NULL UNIQUE,
            account_id INTEGER NOT NULL REFERENCES accounts(id),
            feed_seq INTEGER NOT NULL REFERENCES feeds(seq),
            correlation_id TEXT NOT NULL,
            key_id TEXT NOT NULL,
            key_shown TEXT NOT NULL,
            format TEXT NOT NULL CHECK (format IN ('csv', 'ndjson')),
            id_field TEXT NOT NULL,
            start_row INTEGER NOT NULL CHECK (start_row >= 1),
            status TEXT NOT NULL CHECK (status IN ('queued', 'running', 'succeeded',
                'partially_failed', 'failed', 'cancelled', 'interrupted')),
            total INTEGER,
            processed INTEGER NOT NULL DEFAULT 0,
            failed INTEGER NOT NULL DEFAULT 0,
            created INTEGER NOT NULL DEFAULT 0,
            updated INTEGER NOT NULL DEFAULT 0,
            unchanged INTEGER NOT NULL DEFAULT 0,
            last_row INTEGER NOT NULL,
            errors_stored INTEGER NOT NULL DEFAULT 0,
            file_bytes INTEGER NOT NULL,
            created_at REAL NOT NULL,
            started_at REAL,
            finished_at REAL
        )""",
        "CREATE INDEX imports_active ON imports(status) WHERE status IN ('queued', 'running')",
        """CREATE TABLE import_errors (
            import_seq INTEGER NOT NULL REFERENCES imports(seq),
            row INTEGER,
            field TEXT,
            message TEXT NOT NULL
        )""",
        "CREATE INDEX import_errors_by_import ON import_errors(import_seq)",
    ),
    LOGS_MIGRATION,
    # The raw bodies of intents queued from now on live here, not on their `intents` row
    # (which then holds x''): the worker updates that row several times per intent (status,
    # `items_done` after each chunk), and SQLite rewrites a whole row on any update, so a
    # 1 MiB body on it cost ~1 MiB of WAL and ~10 ms of the writer per chunk. Rows queued
    # before this migration keep their body on the row (`queue.pending` reads either).
    ("CREATE TABLE intent_bodies (seq INTEGER PRIMARY KEY, body BLOB NOT NULL)",),
    KEY_EVENTS_MIGRATION,
)
SCHEMA_VERSION = len(MIGRATIONS)


def now() -> float:
    """The current Unix time in seconds, rounded to the contract's millisecond precision."""
    return round(time.time(), 3)


def database_path(data_dir: Path) -> Path:
    """Where the sandbox database of `data_dir` lives."""
    return Path(data_dir) / DATABASE_NAME


def connect(data_dir: Path) -> sqlite3.Connection:
    """Open (creating and migrating if needed) the database of `data_dir`."""
    private_database(database_path(data_dir))  # data dir 0700; database, WAL and SHM 0600
    # Autocommit mode: `transaction()` issues BEGIN IMMEDIATE itself, so a writer takes the
    # write lock up front and waits on busy_timeout instead of failing on lock upgrade.
    conn = sqlite3.connect(
        database_path(data_dir), timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None
    )
    conn.row_factory = sqlite3.Row
    conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = NORMAL")
    conn.execute("PRAGMA foreign_keys = ON")
    migrate(conn)
    return conn


def connect_opened(data_dir: Path) -> sqlite3.Connection:
    """Another write connection to a database this process already opened with `connect`.

    It neither migrates nor touches the files' modes: `private_database` opens and closes
    the database file, and closing any descriptor of a file drops every POSIX lock this
    process holds on it, the SQLite connections' own included (another process could then
    think itself the last user and remove the WAL under them).
    """
    conn = sqlite3.connect(
        database_path(data_dir), timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None
    )
    conn.row_factory = sqlite3.Row
    conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    conn.execute("PRAGMA synchronous = NORMAL")
    conn.execute("PRAGMA foreign_keys = ON")
    return conn


def connect_reader(data_dir: Path, *, busy_timeout_ms: int = BUSY_TIMEOUT_MS) -> sqlite3.Connection:
    """A read-only connection to the (already opened and migrated) database of `data_dir`.

    `query_only` makes any write through it fail loudly, so a read route can never take
    the write lock by accident. Usable from any one thread at a time. With
    `busy_timeout_ms` 0 a lock it cannot take at once is an immediate SQLITE_BUSY.
    """
    conn = sqlite3.connect(
        database_path(data_dir),
        timeout=busy_timeout_ms / 1000,
        isolation_level=None,
        check_same_thread=False,
    )
    conn.row_factory = sqlite3.Row
    conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
    conn.execute("PRAGMA query_only = ON")
    return conn


@contextmanager
def read_transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """One read transaction: every statement inside sees the same WAL snapshot."""
    conn.execute("BEGIN DEFERRED")
    try:
        yield conn
    finally:
        if conn.in_transaction:  # SQLite may already have ended it on an error
            conn.execute("COMMIT")


@contextmanager
def transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """One write transaction: committed on success, rolled back on any exception."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def has_fts5(conn: sqlite3.Connection) -> bool:
    """Whether this SQLite has the FTS5 module (STACK_NOTES 7: checked at start-up)."""
    try:
        conn.execute("CREATE VIRTUAL TABLE temp.fts5_probe USING fts5(x)")
    except sqlite3.OperationalError:
        return False
    conn.execute("DROP TABLE temp.fts5_probe")
    return True


def migrate(conn: sqlite3.Connection) -> None:
    """Bring the schema to SCHEMA_VERSION (PRAGMA user_version counts applied migrations)."""
    with transaction(conn):
        version = int(conn.execute("PRAGMA user_version").fetchone()[0])
        if version > SCHEMA_VERSION:
            raise RuntimeError(
                f"the sandbox database has schema version {version}, newer than this "
                f"console understands ({SCHEMA_VERSION})"
            )
        if version < len(MIGRATIONS) and not has_fts5(conn):
            raise RuntimeError(
                "this Python's SQLite has no FTS5 full-text search, which the sandbox's "
                "records need; use a Python whose sqlite3 module is built with FTS5"
            )
        for statements in MIGRATIONS[version:]:
            for statement in statements:
                conn.execute(statement)
        # PRAGMA takes no parameters; SCHEMA_VERSION is a trusted int.
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")


def ensure_account(conn: sqlite3.Connection, name: str) -> int:
    """Return the id of account `name`, creating it with the standard catalogue if new."""
    row = conn.execute("SELECT id FROM accounts WHERE name = ?", (name,)).fetchone()
    if row is not None:
        return int(row["id"])
    cursor = conn.execute("INSERT INTO accounts (name, created_at) VALUES (?, ?)", (name, now()))
    account_id = int(cursor.lastrowid or 0)
    conn.executemany(
        "INSERT INTO connections (account_id, name, role, type) VALUES (?, ?, ?, ?)",
        [(account_id, *connection) for connection in STANDARD_CONNECTIONS],
    )
    conn.executemany(
        "INSERT INTO hooks (account_id, name, type) VALUES (?, ?, ?)",
        [(account_id, *hook) for hook in STANDARD_HOOKS],
    )
    return account_id


def feed_exists(conn: sqlite3.Connection, account_id: int, slug: str) -> bool:
    """Whether the account has a feed with this id."""
    row = conn.execute(
        "SELECT 1 FROM feeds WHERE account_id = ? AND slug = ?", (account_id, slug)
    ).fetchone()
    return row is not None


def insert_feed(
    conn: sqlite3.Connection,
    account_id: int,
    *,
    slug: str,
    name: str,
    method: str,
    id_field: str = "id",
    created_at: float | None = None,
) -> None:
    """Create a feed of the account (the caller checked that the slug is free)."""
    conn.execute(
        "INSERT INTO feeds (account_id, slug, name, method, id_field, created_at)"
        " VALUES (?, ?, ?, ?, ?, ?)",
        (account_id, slug, name, method, id_field, now() if created_at is None else created_at),
    )


def random_alphanumeric(length: int) -> str:
    """`length` characters of [A-Za-z0-9] from the OS's CSPRNG.

    One read of the CSPRNG per call, not one per character (`secrets.choice` costs a
    syscall each: ~200 µs of every request went to its correlation id), mapped in C by
    `bytes.translate`. Bytes from 248 (4 × 62) up are dropped, so each character stays
    exactly equally likely.
    """
    chosen = b""
    while len(chosen) < length:
        chosen += secrets.token_bytes(length + 8).translate(_TO_ALPHANUMERIC, _NOT_UNIFORM)
    return chosen[:length].decode("ascii")


class AlphanumericPool:
    """Characters of [A-Za-z0-9] from the OS's CSPRNG, read `read_bytes` at a time, each
    handed out once.

    For the ids every request gets (correlation and request ids, which are not secrets:
    they go out in headers and logs): one read of the CSPRNG per ~70 requests instead of
    one per request. Key secrets never come from here (`new_secret` reads the CSPRNG for
    each), so no future secret waits in memory. One thread only (the event loop's).
    """

    def __init__(self, read_bytes: int = 4096) -> None:
        self.read_bytes = read_bytes
        self._letters = ""
        self._at = 0

    def take(self, length: int) -> str:
        """The next `length` characters (a fresh read when too few are left)."""
        start = self._at
        end = start + length
        if end > len(self._letters):
            self._letters = random_alphanumeric(max(length, self.read_bytes * 3 // 4))
            start, end = 0, length
        self._at = end
        return self._letters[start:end]


def new_secret(kind: str) -> str:
    """A fresh key secret of `kind` (admin: fdk_ + 40, ingest: ik_live_ + 32 characters)."""
    return KEY_PREFIX[kind] + random_alphanumeric(SECRET_LENGTH[kind])


def hash_secret(secret: str) -> str:
    """The stored form of a key: sha256 hex of the full secret (it is random, not a password)."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def new_key_id() -> str:
    """A fresh public key id: key_ + 24 characters."""
    return "key_" + random_alphanumeric(24)


def insert_key(
    conn: sqlite3.Connection,
    account_id: int,
    *,
    name: str,
    kind: str,
    feed: str | None,
    created_at: float,
    expires_at: float | None = None,
    rotated_from: str | None = None,
    revoked_at: float | None = None,
    last_used_at: float | None = None,
) -> tuple[str, str]:
    """Store a new key (hash, prefix and last four only); return (key id, secret)."""
    secret = new_secret(kind)
    key_id = new_key_id()
    conn.execute(
        "INSERT INTO api_keys (id, account_id, name, kind, feed, prefix, last4, key_hash,"
        " created_at, expires_at, last_used_at, revoked_at, rotated_from)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            key_id,
            account_id,
            name,
            kind,
            feed,
            KEY_PREFIX[kind],
            secret[-4:],
            hash_secret(secret),
            created_at,
            expires_at,
            last_used_at,
            revoked_at,
            rotated_from,
        ),
    )
    return key_id, secret


def insert_key_event(
    conn: sqlite3.Connection,
    account_id: int,
    key_id: str,
    event: str,
    at: float,
    *,
    actor_key_id: str | None = None,
    actor_shown: str | None = None,
    client_ip: str | None = None,
    auth_via: str | None = None,
    route: str | None = None,
    feed: str | None = None,
    related_key_id: str | None = None,
    expires_at: float | None = None,
) -> None:
    """Append one event to a key's audit trail (never a secret: ids and prefix…last4 only)."""
    conn.execute(
        "INSERT INTO key_events (account_id, key_id, event, at, actor_key_id, actor_shown,"
        " client_ip, auth_via, route, feed, related_key_id, expires_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            account_id,
            key_id,
            event,
            at,
            actor_key_id,
            actor_shown,
            client_ip,
            auth_via,
            route,
            feed,
            related_key_id,
            expires_at,
        ),
    )


def mint_key(
    data_dir: Path,
    *,
    account: str,
    kind: str = "admin",
    feed: str | None = None,
    name: str | None = None,
) -> str:
    """Create a key on `data_dir` (and its account, and for ingest its feed); return the secret."""
    if kind not in KEY_KINDS:
        raise ValueError(f"kind must be one of {', '.join(KEY_KINDS)}, not {kind!r}")
    if kind == "ingest" and feed is None:
        raise ValueError("an ingest key needs a feed")
    if kind == "admin" and feed is not None:
        raise ValueError("an admin key belongs to no feed")
    if feed is not None and not FEED_SLUG.match(feed):
        raise ValueError(f"feed id {feed!r} is not a slug matching {FEED_SLUG.pattern}")
    if not account.strip():
        raise ValueError("the account name must not be empty")
    key_name = (name or "").strip() or (
        "Minted admin key" if feed is None else f"Minted ingest key ({feed})"
    )
    conn = connect(data_dir)
    try:
        with transaction(conn):
            account_id = ensure_account(conn, account)
            if feed is not None and not feed_exists(conn, account_id, feed):
                insert_feed(conn, account_id, slug=feed, name=feed, method="ingest")
            at = now()
            key_id, secret = insert_key(
                conn, account_id, name=key_name[:100], kind=kind, feed=feed, created_at=at
            )
            insert_key_event(conn, account_id, key_id, "created", at, route="sandbox mint-key")
    finally:
        conn.close()
    return secret
