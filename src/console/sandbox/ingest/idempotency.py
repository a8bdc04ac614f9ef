"""Idempotency-Key of POST /api/ingest: the original 202 of a key, for 24 hours.

Scoped by API key id (`api_keys.id`, D5): a rotated key is another key. The row keeps the
original response's bytes, so a replay answers byte for byte what the first request got.
SQL only, run on the database threads.
"""

from __future__ import annotations

import re
import sqlite3
from dataclasses import dataclass

# How long an Idempotency-Key names its first request (PLATFORM_API: "within 24 h").
WINDOW_SECONDS = 86_400.0
# D6: 1 to 255 characters of printable ASCII (0x20-0x7E).
MAX_IDEMPOTENCY_KEY = 255
IDEMPOTENCY_KEY = re.compile(rf"[\x20-\x7e]{{1,{MAX_IDEMPOTENCY_KEY}}}")


@dataclass(frozen=True)
class Replay:
    """The stored first request of an Idempotency-Key."""

    request_id: str
    body_sha256: str
    response: bytes
    created_at: float


def find_replay(conn: sqlite3.Connection, key_id: str, idem_key: str, at: float) -> Replay | None:
    """The first request of `idem_key` sent with API key `key_id`, if it is younger than
    24 hours at `at` (a primary-key lookup); else None."""
    row = conn.execute(
        "SELECT request_id, body_sha256, response, created_at FROM ingest_idempotency"
        " WHERE key_id = ? AND idempotency_key = ? AND created_at >= ?",
        (key_id, idem_key, at - WINDOW_SECONDS),
    ).fetchone()
    if row is None:
        return None
    return Replay(
        request_id=str(row[0]),
        body_sha256=str(row[1]),
        response=str(row[2]).encode("utf-8"),
        created_at=float(row[3]),
    )


def remember(
    conn: sqlite3.Connection,
    *,
    key_id: str,
    idem_key: str,
    account_id: int,
    request_id: str,
    body_sha256: str,
    response: bytes,
    at: float,
) -> None:
    """Keep the first request of `idem_key` (in the caller's transaction); an expired row of
    the same key is replaced."""
    conn.execute(
        "INSERT OR REPLACE INTO ingest_idempotency (key_id, idempotency_key, account_id,"
        " request_id, body_sha256, response, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
        (key_id, idem_key, account_id, request_id, body_sha256, response.decode("utf-8"), at),
    )
