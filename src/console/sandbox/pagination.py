"""Cursor pagination (`?limit=&cursor=`) over rows ordered by their sequence number."""

from __future__ import annotations

import base64
import binascii
import sqlite3
from collections.abc import Mapping
from dataclasses import dataclass

from console.sandbox.errors import invalid, validation_failed

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000
_CURSOR_TAG = "v1:"


@dataclass(frozen=True)
class PageRequest:
    """How many rows to return, and the sequence number to continue below (newest first)."""

    limit: int
    before: int | None


def encode_cursor(seq: int) -> str:
    """An opaque cursor continuing after the row with sequence number `seq`."""
    return base64.urlsafe_b64encode(f"{_CURSOR_TAG}{seq}".encode()).decode().rstrip("=")


def _decode_cursor(cursor: str) -> int | None:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        text = base64.urlsafe_b64decode(padded.encode("ascii")).decode("ascii")
    except (binascii.Error, UnicodeError, ValueError):
        return None
    if not text.startswith(_CURSOR_TAG) or not text[len(_CURSOR_TAG) :].isdigit():
        return None
    return int(text[len(_CURSOR_TAG) :])


def parse_page(query: Mapping[str, str]) -> PageRequest:
    """Read `limit` and `cursor`; a limit above the maximum is capped, not refused."""
    problems = []
    limit = DEFAULT_LIMIT
    raw_limit = query.get("limit")
    if raw_limit is not None:
        if raw_limit.strip().isdigit() and int(raw_limit) >= 1:
            limit = min(int(raw_limit), MAX_LIMIT)
        else:
            problems.append(invalid("limit", "limit must be an integer from 1 to 1000."))
    before = None
    raw_cursor = query.get("cursor")
    if raw_cursor:
        before = _decode_cursor(raw_cursor)
        if before is None:
            problems.append(invalid("cursor", "cursor is not one this server issued."))
    if problems:
        raise validation_failed(problems)
    return PageRequest(limit, before)


def page_rows(
    conn: sqlite3.Connection, sql: str, params: tuple[object, ...], page: PageRequest
) -> tuple[list[sqlite3.Row], str | None]:
    """Run `sql` (which must select `seq` and end in a WHERE clause) newest first, one page.

    Returns the page's rows and the cursor of the next page (None on the last page).
    """
    if page.before is not None:
        sql += " AND seq < ?"
        params = (*params, page.before)
    sql += " ORDER BY seq DESC LIMIT ?"
    rows = conn.execute(sql, (*params, page.limit + 1)).fetchall()
    if len(rows) <= page.limit:
        return rows, None
    rows = rows[: page.limit]
    return rows, encode_cursor(int(rows[-1]["seq"]))
