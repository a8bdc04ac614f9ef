"""Pagination: cursors (`?limit=&cursor=`) and page numbers (`?page=&page_size=`)."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import sqlite3
from collections.abc import Mapping
from dataclasses import dataclass
from typing import NamedTuple

from starlette.datastructures import ImmutableMultiDict
from starlette.requests import Request

from console.sandbox.http.errors import Problem, invalid, validation_failed

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000
# The largest `limit`, `page` and `page_size` a request may name (docs/api.md,
# Pagination). A limit or page size between the cap and this is served at the cap, as
# the contract says; beyond it the number is refused like any out-of-range number.
MAX_PAGE_NUMBER = 1_000_000
_CURSOR_TAG = "v1:"


class PageRequest(NamedTuple):
    """How many rows to return, and the sequence number to continue below (newest first).

    A named tuple: one is made per list request, three times faster than a frozen dataclass.
    """

    limit: int
    before: int | None


def query_of(request: Request) -> ImmutableMultiDict[str, str]:
    """The request's query parameters, the same as `request.query_params`.

    A query with nothing escaped (no `%`, no `+`: `?limit=1`) is split here, as `parse_qsl`
    would split it, without its unquoting of each part and Starlette's copies: every list
    request runs this.
    """
    raw: bytes = request.scope["query_string"]
    if b"%" in raw or b"+" in raw:
        return request.query_params
    return ImmutableMultiDict(
        [
            (name, value)
            for part in raw.decode("latin-1").split("&")
            if part
            for name, _, value in (part.partition("="),)
        ]
    )


def encode_cursor(seq: int) -> str:
    """An opaque cursor continuing after the row with sequence number `seq`."""
    return base64.urlsafe_b64encode(f"{_CURSOR_TAG}{seq}".encode()).decode().rstrip("=")


def _decode_cursor(cursor: str) -> int | None:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        text = base64.urlsafe_b64decode(padded.encode("ascii")).decode("ascii")
    except (binascii.Error, UnicodeError, ValueError):
        return None
    digits = text[len(_CURSOR_TAG) :]
    # At most 18 digits, as issued: int() refuses over 4,300 (a 500) and SQLite's integers
    # end at 19.
    if not text.startswith(_CURSOR_TAG) or not digits.isdigit() or len(digits) > 18:
        return None
    return int(digits)


# Signed cursors (record and log lists): a MAC of this many bytes, then the payload.
_MAC_BYTES = 12


def cursor_key(conn: sqlite3.Connection) -> bytes:
    """The server's secret for signing list cursors (made by the migrations)."""
    row = conn.execute("SELECT value FROM meta WHERE key = 'records_cursor_key'").fetchone()
    return bytes.fromhex(str(row[0])) if row is not None else b"records"


def sign_cursor(key: bytes, payload: bytes) -> str:
    """An opaque cursor carrying `payload`, signed with `key`."""
    mac = hmac.new(key, payload, hashlib.sha256).digest()[:_MAC_BYTES]
    return base64.urlsafe_b64encode(mac + payload).decode().rstrip("=")


def signed_payload(key: bytes, cursor: str, max_length: int) -> bytes | None:
    """The payload of a cursor `sign_cursor` made with `key` (at most `max_length`
    characters), or None when this server did not issue it."""
    if len(cursor) > max_length:
        return None
    try:
        raw = base64.urlsafe_b64decode((cursor + "=" * (-len(cursor) % 4)).encode("ascii"))
    except (binascii.Error, UnicodeError, ValueError):
        return None
    mac, payload = raw[:_MAC_BYTES], raw[_MAC_BYTES:]
    expected = hmac.new(key, payload, hashlib.sha256).digest()[:_MAC_BYTES]
    if not hmac.compare_digest(mac, expected):
        return None
    return payload


def repeated_differently(query: Mapping[str, str], *names: str) -> list[Problem]:
    """A 400 problem for each of `names` given more than once with different values: a
    request names one page, never "whichever value the server reads last"."""
    getlist = getattr(query, "getlist", None)
    if getlist is None:
        return []
    multi_items = getattr(query, "multi_items", None)
    if multi_items is not None and len(multi_items()) == len(query):
        return []  # no name given twice (every list request runs this)
    return [
        invalid(name, f"{name} is given more than once with different values; send it once.")
        for name in names
        if len(set(getlist(name))) > 1
    ]


def bounded_int(text: str, low: int, high: int) -> int | None:
    """The integer `text` names if it is from `low` to `high` (blanks around it aside),
    else None."""
    text = text.strip()
    # ASCII digits only (int() refuses some Unicode digits that isdigit() accepts), and
    # few of them: int() refuses over 4,300 (a 500) and SQLite's integers end at 19.
    if not (text.isascii() and text.isdigit() and len(text) <= 18):
        return None
    value = int(text)
    return value if low <= value <= high else None


def parse_limit(query: Mapping[str, str], problems: list[Problem]) -> int:
    """Read `limit` (default DEFAULT_LIMIT; above MAX_LIMIT capped, not refused, up to
    MAX_PAGE_NUMBER); a bad one adds a problem naming it and reads as the default."""
    raw_limit = query.get("limit")
    if raw_limit is None:
        return DEFAULT_LIMIT
    parsed = bounded_int(raw_limit, 1, MAX_PAGE_NUMBER)
    if parsed is None:
        problems.append(
            invalid(
                "limit",
                f"limit must be an integer from 1 to {MAX_PAGE_NUMBER:,} "
                f"(above {MAX_LIMIT}, {MAX_LIMIT} are returned).",
            )
        )
        return DEFAULT_LIMIT
    return min(parsed, MAX_LIMIT)


def parse_page(query: Mapping[str, str]) -> PageRequest:
    """Read `limit` and `cursor`; a limit above the maximum is capped, not refused."""
    problems = repeated_differently(query, "limit", "cursor")
    if problems:
        raise validation_failed(problems)
    limit = parse_limit(query, problems)
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


DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 100


@dataclass(frozen=True)
class NumberedPage:
    """Page-number pagination (`?page=&page_size=`), as the pipelines list uses."""

    page: int
    page_size: int

    @property
    def offset(self) -> int:
        """How many rows come before this page (capped to fit SQLite's integers)."""
        return min((self.page - 1) * self.page_size, 2**62)

    def as_json(self) -> dict[str, int]:
        """The contract's `pagination` block: the page and the page size actually used."""
        return {"page": self.page, "page_size": self.page_size}


def _positive_int(text: str) -> int | None:
    """An integer from 1 to MAX_PAGE_NUMBER, else None."""
    return bounded_int(text, 1, MAX_PAGE_NUMBER)


def parse_numbered_page(query: Mapping[str, str]) -> NumberedPage:
    """Read `page` (default 1) and `page_size` (default 50, above 100 capped, not refused);
    each at most MAX_PAGE_NUMBER."""
    problems = repeated_differently(query, "page", "page_size")
    if problems:
        raise validation_failed(problems)
    page = _positive_int(query.get("page", "1"))
    if page is None:
        problems.append(invalid("page", f"page must be an integer from 1 to {MAX_PAGE_NUMBER:,}."))
    page_size = _positive_int(query.get("page_size", str(DEFAULT_PAGE_SIZE)))
    if page_size is None:
        problems.append(
            invalid(
                "page_size",
                f"page_size must be an integer from 1 to {MAX_PAGE_NUMBER:,} "
                f"(above {MAX_PAGE_SIZE}, {MAX_PAGE_SIZE} are returned).",
            )
        )
    if page is None or page_size is None:
        raise validation_failed(problems)
    return NumberedPage(page, min(page_size, MAX_PAGE_SIZE))
