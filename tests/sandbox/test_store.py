"""The stdlib store: schema version, WAL, hashed keys, demo seeding."""

from __future__ import annotations

import hashlib
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from console.sandbox.demo import seed_demo
from console.sandbox.keys.rules import key_status
from console.sandbox.storage import sqlite as store


def test_schema_is_versioned_and_in_wal_mode(tmp_path: Path) -> None:
    conn = store.connect(tmp_path)
    try:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == store.SCHEMA_VERSION
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master")}
        assert {"accounts", "api_keys", "feeds", "connections", "hooks"} <= tables
    finally:
        conn.close()
    store.connect(tmp_path).close()  # re-opening migrates nothing and fails nothing


def test_mint_key_stores_only_hash_prefix_and_last4(tmp_path: Path) -> None:
    secret = store.mint_key(tmp_path, account="acme", kind="ingest", feed="orders")
    conn = sqlite3.connect(store.database_path(tmp_path))
    try:
        row = conn.execute("SELECT prefix, last4, key_hash, feed FROM api_keys").fetchone()
        feed = conn.execute("SELECT method FROM feeds WHERE slug = 'orders'").fetchone()
    finally:
        conn.close()
    assert row == ("ik_live_", secret[-4:], hashlib.sha256(secret.encode()).hexdigest(), "orders")
    assert feed == ("ingest",)


def test_mint_key_refuses_bad_arguments(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="feed"):
        store.mint_key(tmp_path, account="a", kind="ingest")
    with pytest.raises(ValueError, match="kind"):
        store.mint_key(tmp_path, account="a", kind="root")


def test_store_does_not_import_the_web_stack() -> None:
    code = (
        "import sys, console.sandbox.storage.sqlite; "
        "print(sorted(m for m in ('starlette', 'uvicorn') if m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=30
    )
    assert result.stdout.strip() == "[]"


def test_demo_seed_is_idempotent_and_varied(tmp_path: Path) -> None:
    conn = store.connect(tmp_path)
    try:
        with store.transaction(conn):
            assert seed_demo(conn) is True
        with store.transaction(conn):
            assert seed_demo(conn) is False
        at = store.now()
        rows = conn.execute("SELECT * FROM api_keys").fetchall()
        statuses = {key_status(row, at) for row in rows}
        feeds = {row[0] for row in conn.execute("SELECT method FROM feeds")}
        rotated = [row for row in rows if row["rotated_from"] is not None]
    finally:
        conn.close()
    assert statuses == {"active", "expiring", "expired", "revoked"}
    assert {"admin", "ingest"} == {row["kind"] for row in rows}
    assert feeds == {"ingest", "polling", "trigger"}
    assert rotated
