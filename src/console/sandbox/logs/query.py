"""Connector log lists: the filters (each bounded), signed keyset cursors and the SQL.

Newest first, keyset on `id` (`id < cursor`). The driving index is chosen here, not by
the planner (`INDEXED BY`, so nothing depends on ANALYZE): `id` → three unique or
account-first lookups; `q` → the full-text index (its `acct<N>` token scopes it); then
`key` (an extension), `pipeline_id`, `feed`, `intent`, `status`, `http_status`; else
`logs_by_account`. Other filters are residual predicates on the rows the index yields.
`since`/`until` become an id range through `logs_by_written` (D11: `timestamp <=
written_at <= timestamp + 120`), plus the exact test on `timestamp`.

A page with residual predicates reads at most SCAN_BUDGET index rows (D15): a short, even
empty, page then still has a `next_cursor` where its scan stopped.
"""

from __future__ import annotations

import json
import math
import re
import sqlite3
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from console.sandbox.http.errors import Problem, invalid, validation_failed
from console.sandbox.http.pagination import (
    DEFAULT_LIMIT,
    bounded_int,
    cursor_key,
    parse_limit,
    repeated_differently,
    sign_cursor,
    signed_payload,
)
from console.sandbox.logs.model import PROCESSING_STATUSES
from console.sandbox.logs.store import (
    ENTRY_COLUMNS,
    TIMESTAMP_LAG_SECONDS,
    entry_json,
    words_of,
)

MAX_Q_LENGTH = 200
MAX_Q_TERMS = 16
# feed, pipeline_id and intent name at most this many characters.
MAX_NAME_LENGTH = 100
# `id` is a request, correlation or idempotency id (Idempotency-Key: up to 255 characters).
MAX_ID_LENGTH = 255
# Unix seconds from 0 to the last second of year 9999.
MAX_TIME = 253_402_300_799
MIN_HTTP_STATUS, MAX_HTTP_STATUS = 100, 599
# Index rows one page may read past its driving index's prefix when residual predicates
# filter them (D15).
SCAN_BUDGET = 20_000
_SINGLE = (
    "feed",
    "pipeline_id",
    "status",
    "intent",
    "http_status",
    "since",
    "until",
    "q",
    "id",
    "key",
    "limit",
    "cursor",
)
# The `key` filter (a sandbox extension, docs/api.md): a key id as GET /keys lists it.
KEY_ID_PATTERN = re.compile(r"^key_[A-Za-z0-9]{1,60}$")
_CURSOR_TAG = b"l1"
_CURSOR_MAX_LENGTH = 120
_DIGITS = re.compile(r"^[0-9]{1,18}$")
# A time parameter is a decimal number of at most this many characters.
_MAX_NUMBER_LENGTH = 32


@dataclass(frozen=True)
class LogFilter:
    """The filters of a log list or stream (None: not filtered)."""

    feed: str | None = None
    pipeline_id: str | None = None
    status: str | None = None
    intent: str | None = None
    http_status: int | None = None
    since: float | None = None
    until: float | None = None
    q: str | None = None
    id: str | None = None
    key: str | None = None

    @property
    def words(self) -> tuple[str, ...]:
        """The words of `q`, folded as the full-text index folds them (ANDed)."""
        return tuple(dict.fromkeys(words_of(self.q or "")))[:MAX_Q_TERMS]

    def matches(self, entry: dict[str, Any], text: str | None = None) -> bool:
        """Whether `entry` (entry_json) passes, with the list's semantics. `text` is its
        search text (store.search_text), needed only when `q` is set."""
        if self.feed is not None and entry["feed"] != self.feed:
            return False
        if self.pipeline_id is not None and entry["pipeline_id"] != self.pipeline_id:
            return False
        if self.status is not None and entry["processing_status"] != self.status:
            return False
        if self.intent is not None and entry["intent"] != self.intent:
            return False
        if self.http_status is not None and entry["http_status"] != self.http_status:
            return False
        if self.since is not None and entry["timestamp"] < self.since:
            return False
        if self.until is not None and entry["timestamp"] > self.until:
            return False
        if self.key is not None and (entry["key"] or {}).get("id") != self.key:
            return False
        if self.id is not None and self.id not in (
            entry["request_id"],
            entry["correlation_id"],
            entry["idempotency_key"],
        ):
            return False
        if self.q is not None:
            present = set(words_of(text or ""))
            return all(word in present for word in self.words)
        return True


@dataclass(frozen=True)
class LogQuery:
    """A checked log list request."""

    filter: LogFilter
    limit: int = DEFAULT_LIMIT
    before: int | None = None  # the list continues below this id


def encode_cursor(key: bytes, account_id: int, before: int) -> str:
    """An opaque cursor, signed for the account, continuing below id `before`."""
    payload = b"%s|%d|%d" % (_CURSOR_TAG, account_id, before)
    return sign_cursor(key, payload)


def decode_cursor(key: bytes, account_id: int, cursor: str) -> int | None:
    """The id a cursor continues below, or None when this server did not issue it for the
    account."""
    payload = signed_payload(key, cursor, _CURSOR_MAX_LENGTH)
    if payload is None:
        return None
    parts = payload.split(b"|")
    if len(parts) != 3 or parts[0] != _CURSOR_TAG or parts[1] != b"%d" % account_id:
        return None
    text = parts[2].decode("ascii", "replace")
    return int(text) if _DIGITS.match(text) else None


def _time(text: str) -> float | None:
    text = text.strip()
    if len(text) > _MAX_NUMBER_LENGTH or not text.isascii():
        return None
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) and 0 <= value <= MAX_TIME else None


def _text(query: Mapping[str, str], name: str, limit: int, problems: list[Problem]) -> str | None:
    value = query.get(name)
    if value is None or value == "":
        return None
    if len(value) > limit:
        problems.append(invalid(name, f"{name} must be at most {limit} characters."))
        return None
    return value


def parse_filter(query: Mapping[str, str], problems: list[Problem]) -> LogFilter:
    """The filters of a log list or stream; each bad one adds a problem naming it."""
    problems += repeated_differently(query, *_SINGLE)
    status = query.get("status") or None
    if status is not None and status not in PROCESSING_STATUSES:
        problems.append(
            invalid("status", "status must be one of " + ", ".join(PROCESSING_STATUSES))
        )
        status = None
    http_status = None
    if query.get("http_status"):
        http_status = bounded_int(query["http_status"], MIN_HTTP_STATUS, MAX_HTTP_STATUS)
        if http_status is None:
            problems.append(
                invalid(
                    "http_status",
                    f"http_status must be an integer from {MIN_HTTP_STATUS} to {MAX_HTTP_STATUS}.",
                )
            )
    times: dict[str, float | None] = {"since": None, "until": None}
    for name in times:
        if query.get(name):
            times[name] = _time(query[name])
            if times[name] is None:
                problems.append(
                    invalid(
                        name,
                        f"{name} must be a number of Unix seconds from 0 to {MAX_TIME}.",
                    )
                )
    since, until = times["since"], times["until"]
    q = _text(query, "q", MAX_Q_LENGTH, problems)
    if q is not None and not words_of(q):
        q = None  # no word: nothing to search for
    identifier = _text(query, "id", MAX_ID_LENGTH, problems)
    key = _text(query, "key", MAX_NAME_LENGTH, problems)
    if key is not None and not KEY_ID_PATTERN.match(key):
        problems.append(invalid("key", "key must be a key id as GET /keys lists it (key_…)."))
        key = None
    return LogFilter(
        feed=_text(query, "feed", MAX_NAME_LENGTH, problems),
        pipeline_id=_text(query, "pipeline_id", MAX_NAME_LENGTH, problems),
        status=status,
        intent=_text(query, "intent", MAX_NAME_LENGTH, problems),
        http_status=http_status,
        since=since,
        until=until,
        q=q,
        id=identifier,
        key=key,
    )


def parse_log_query(
    query: Mapping[str, str], conn: sqlite3.Connection, account_id: int
) -> LogQuery:
    """Check every parameter of a log list; 400 VALIDATION_FAILED naming each bad one."""
    problems: list[Problem] = []
    log_filter = parse_filter(query, problems)
    limit = parse_limit(query, problems)
    before = None
    cursor = query.get("cursor", "")
    if cursor:
        before = decode_cursor(cursor_key(conn), account_id, cursor)
        if before is None:
            problems.append(invalid("cursor", "cursor is not one this server issued."))
    if problems:
        raise validation_failed(problems)
    return LogQuery(log_filter, limit, before)


# The driving index of each equality filter, by preference.
_DRIVERS = (
    ("key", "logs_by_key", "key_id"),
    ("pipeline_id", "logs_by_pipeline", "pipeline_id"),
    ("feed", "logs_by_feed", "feed"),
    ("intent", "logs_by_intent", "intent"),
    ("status", "logs_by_status", "processing_status"),
    ("http_status", "logs_by_http", "http_status"),
)
ENTRY_SELECT = ", ".join(f"logs.{column.strip()}" for column in ENTRY_COLUMNS.split(","))


@dataclass(frozen=True)
class Plan:
    """The SQL of one page: how rows are found, and what else they must pass."""

    # FROM ... WHERE <prefix>: the driving index and its equality terms.
    source: str
    prefix: str
    prefix_params: tuple[Any, ...]
    # The id column of the driver ("logs.id" or "logs_fts.rowid").
    id_column: str
    residual: str
    residual_params: tuple[Any, ...]
    # How the budget's floor is found (None: no residual predicates, no budget).
    floor_source: str | None


def _id_range(
    conn: sqlite3.Connection, log_filter: LogFilter
) -> tuple[int | None, int | None] | None:
    """(lowest, highest) id an entry within since/until can have; None when none can."""
    low = high = None
    if log_filter.since is not None:
        row = conn.execute(
            "SELECT id FROM logs INDEXED BY logs_by_written WHERE written_at >= ?"
            " ORDER BY written_at LIMIT 1",
            (log_filter.since,),
        ).fetchone()
        if row is None:
            return None
        low = int(row[0])
    if log_filter.until is not None:
        row = conn.execute(
            "SELECT id FROM logs INDEXED BY logs_by_written WHERE written_at <= ?"
            " ORDER BY written_at DESC LIMIT 1",
            (log_filter.until + TIMESTAMP_LAG_SECONDS,),
        ).fetchone()
        if row is None:
            return None
        high = int(row[0])
    return low, high


def fts_query(account_id: int, log_filter: LogFilter) -> str:
    """The FTS5 query of `q`, scoped to the account: its words quoted and ANDed."""
    return " AND ".join([f'"acct{account_id}"', *(f'"{word}"' for word in log_filter.words)])


def plan(account_id: int, log_filter: LogFilter) -> Plan:
    """Which index drives the page, and which predicates remain."""
    f = log_filter
    residual: list[str] = []
    params: list[Any] = []
    used: set[str] = set()
    prefix_params: tuple[Any, ...]
    if f.id is not None:
        source = (
            "logs NOT INDEXED WHERE logs.id IN ("
            "SELECT id FROM logs INDEXED BY logs_by_request WHERE request_id = ?"
            " UNION SELECT id FROM logs INDEXED BY logs_by_correlation"
            " WHERE account_id = ? AND correlation_id = ?"
            " UNION SELECT id FROM logs INDEXED BY logs_by_idempotency"
            " WHERE account_id = ? AND idempotency_key = ?)"
        )
        prefix = "logs.account_id = ?"
        prefix_params = (f.id, account_id, f.id, account_id, f.id, account_id)
        id_column, floor_source = "logs.id", None
        used.add("id")
    elif f.q is not None:
        source = "logs_fts CROSS JOIN logs ON logs.id = logs_fts.rowid WHERE logs_fts MATCH ?"
        prefix = "logs.account_id = ?"
        prefix_params = (fts_query(account_id, f), account_id)
        id_column = "logs_fts.rowid"
        floor_source = "logs_fts WHERE logs_fts MATCH ?"
        used.add("q")
    else:
        driver = next((d for d in _DRIVERS if getattr(f, d[0]) is not None), None)
        if driver is None:
            source = "logs INDEXED BY logs_by_account WHERE"
            prefix, prefix_params = "logs.account_id = ?", (account_id,)
        else:
            name, index, column = driver
            source = f"logs INDEXED BY {index} WHERE"
            prefix = f"logs.account_id = ? AND logs.{column} = ?"
            prefix_params = (account_id, getattr(f, name))
            used.add(name)
        id_column = "logs.id"
        floor_source = source
    for name, _, column in _DRIVERS:
        value = getattr(f, name)
        if value is not None and name not in used:
            residual.append(f"logs.{column} = ?")
            params.append(value)
    if f.since is not None:
        residual.append("logs.timestamp >= ?")
        params.append(f.since)
    if f.until is not None:
        residual.append("logs.timestamp <= ?")
        params.append(f.until)
    if f.q is not None and "q" not in used:
        residual.append(
            "logs.id IN (SELECT rowid FROM logs_fts WHERE logs_fts MATCH ? AND rowid = logs.id)"
        )
        params.append(fts_query(account_id, f))
    return Plan(
        source=source,
        prefix=prefix,
        prefix_params=prefix_params,
        id_column=id_column,
        residual=" AND ".join(residual),
        residual_params=tuple(params),
        floor_source=floor_source if residual else None,
    )


def _joined(source: str, *terms: str) -> str:
    kept = [term for term in terms if term]
    if not kept:
        return source.removesuffix(" WHERE")
    glue = " " if source.endswith(" WHERE") else " AND "
    return source + glue + " AND ".join(kept)


def _bounds(column: str, low: int | None, high: int | None) -> tuple[list[str], list[Any]]:
    terms: list[str] = []
    params: list[Any] = []
    if low is not None:
        terms.append(f"{column} >= ?")
        params.append(low)
    if high is not None:
        terms.append(f"{column} <= ?")
        params.append(high)
    return terms, params


def floor_statement(
    p: Plan, *, low: int | None, high: int | None, ascending: bool
) -> tuple[str, tuple[Any, ...]] | None:
    """Where the scan budget ends: the SCAN_BUDGET-th id the driving index yields past
    the page's start (None: no residual predicates, no budget)."""
    if p.floor_source is None:
        return None
    order = "ASC" if ascending else "DESC"
    if p.id_column == "logs.id":
        terms, params = _bounds("logs.id", low, high)
        sql = _joined(p.floor_source, p.prefix, *terms)
        return (
            f"SELECT logs.id FROM {sql} ORDER BY logs.id {order} LIMIT 1 OFFSET {SCAN_BUDGET}",
            (*p.prefix_params, *params),
        )
    terms, params = _bounds("rowid", low, high)
    sql = _joined(p.floor_source, *terms)
    return (
        f"SELECT rowid FROM {sql} ORDER BY rowid {order} LIMIT 1 OFFSET {SCAN_BUDGET}",
        (p.prefix_params[0], *params),
    )


def page_statement(
    p: Plan, *, low: int | None, high: int | None, limit: int, ascending: bool
) -> tuple[str, tuple[Any, ...]]:
    """The entries of one page (ids within [low, high]), in the page's order."""
    terms, params = _bounds(p.id_column, low, high)
    order = "ASC" if ascending else "DESC"
    sql = _joined(p.source, p.prefix, *terms, p.residual)
    return (
        f"SELECT {ENTRY_SELECT} FROM {sql} ORDER BY {p.id_column} {order} LIMIT ?",
        (*p.prefix_params, *params, *p.residual_params, limit),
    )


def statements(
    account_id: int,
    log_filter: LogFilter,
    *,
    low: int | None = None,
    high: int | None = None,
    limit: int = DEFAULT_LIMIT,
    ascending: bool = False,
) -> list[tuple[str, tuple[Any, ...]]]:
    """Every statement a page may run (for EXPLAIN QUERY PLAN checks)."""
    p = plan(account_id, log_filter)
    floor = floor_statement(p, low=low, high=high, ascending=ascending)
    page = page_statement(p, low=low, high=high, limit=limit, ascending=ascending)
    return [page] if floor is None else [floor, page]


def fetch(
    conn: sqlite3.Connection,
    account_id: int,
    log_filter: LogFilter,
    *,
    low: int | None,
    high: int | None,
    limit: int,
    ascending: bool = False,
) -> tuple[list[sqlite3.Row], int | None]:
    """Up to `limit` entries with ids in [low, high] (None: unbounded), newest first (or
    oldest first), and the id where the scan budget stopped (None: it did not)."""
    p = plan(account_id, log_filter)
    floor = None
    statement = floor_statement(p, low=low, high=high, ascending=ascending)
    if statement is not None:
        row = conn.execute(*statement).fetchone()
        if row is not None:
            floor = int(row[0])
            if ascending:
                high = floor
            else:
                low = floor
    rows = conn.execute(
        *page_statement(p, low=low, high=high, limit=limit, ascending=ascending)
    ).fetchall()
    return rows, floor


def list_page(conn: sqlite3.Connection, account_id: int, query: LogQuery) -> dict[str, Any]:
    """One page of the account's entries matching the query, and the next page's cursor."""
    id_range = _id_range(conn, query.filter)
    empty = {"data": [], "pagination": {"next_cursor": None}}
    if id_range is None:
        return empty
    low, high = id_range
    f = query.filter
    if f.since is not None and f.until is not None and f.until < f.since:
        return empty
    if query.before is not None:
        high = query.before - 1 if high is None else min(high, query.before - 1)
    if low is not None and high is not None and high < low:
        return empty
    rows, floor = fetch(conn, account_id, query.filter, low=low, high=high, limit=query.limit + 1)
    next_before = None
    if len(rows) > query.limit:
        rows = rows[: query.limit]
        next_before = int(rows[-1]["id"])
    elif floor is not None:
        # The budget ended the scan at `floor` (itself read): go on below it.
        next_before = floor
    next_cursor = None
    if next_before is not None and (low is None or next_before > low):
        next_cursor = encode_cursor(cursor_key(conn), account_id, next_before)
    return {"data": [entry_json(row) for row in rows], "pagination": {"next_cursor": next_cursor}}


def id_bounds(
    conn: sqlite3.Connection, log_filter: LogFilter
) -> tuple[int | None, int | None] | None:
    """The id range of since/until (see `_id_range`), for the stream's catch-up."""
    return _id_range(conn, log_filter)


_FINAL = {"succeeded", "partially_failed", "failed"}


def _event(timestamp: float | None, stage: str, detail: str) -> dict[str, Any]:
    return {"timestamp": timestamp, "stage": stage, "detail": detail}


def received_detail(entry: dict[str, Any]) -> str:
    """What the "received" step says: the request line, or for work the server started
    itself (a scheduled poll has no request) which work it was."""
    if entry["method"] and entry["path"]:
        return f"{entry['method']} {entry['path']}"
    return f"{entry['intent'] or 'work'} started by the server (no HTTP request)"


def _events(conn: sqlite3.Connection, row: sqlite3.Row, entry: dict[str, Any]) -> list[Any]:
    """The entry's timeline (derived, never stored): received, then queued, processing and
    the outcome from its intent or import, or duplicate/rejected from the entry itself."""
    status = entry["processing_status"]
    source, seq = row["source"], row["source_seq"]
    if source == "pipeline":
        # A pipeline event is no request: one step, the event and its outcome.
        event = str(entry["intent"] or "").removeprefix("pipeline.")
        message = entry["errors"][0]["message"] if entry["errors"] else None
        detail = f"pipeline {entry['pipeline_id']}: {event}" + (f": {message}" if message else "")
        return [_event(entry["timestamp"], status, detail)]
    events = [_event(entry["timestamp"], "received", received_detail(entry))]
    timeline = None
    if source == "intent" and seq is not None:
        timeline = conn.execute(
            "SELECT received_at AS queued, started_at, finished_at, status, items_done"
            " FROM intents WHERE seq = ? AND account_id = ?",
            (seq, entry_account(row)),
        ).fetchone()
    elif source == "import" and seq is not None:
        timeline = conn.execute(
            "SELECT created_at AS queued, started_at, finished_at, status, processed AS items_done"
            " FROM imports WHERE seq = ? AND account_id = ?",
            (seq, entry_account(row)),
        ).fetchone()
    if timeline is not None:
        events.append(_event(timeline["queued"], "queued", f"{source} accepted"))
        if timeline["started_at"] is not None:
            events.append(_event(timeline["started_at"], "processing", f"{source} started"))
        if timeline["finished_at"] is not None:
            final = str(timeline["status"])
            detail = f"{timeline['items_done']} items done"
            if final in ("cancelled", "interrupted"):
                detail = f"the import was {final}"
                final = "failed"
            events.append(_event(timeline["finished_at"], final, detail))
        return events
    if status == "duplicate":
        original = None
        if entry["idempotency_key"] is not None and entry["key"] is not None:
            original = conn.execute(
                "SELECT request_id FROM ingest_idempotency WHERE key_id = ? AND"
                " idempotency_key = ?",
                (entry["key"]["id"], entry["idempotency_key"]),
            ).fetchone()
        detail = "an Idempotency-Key seen before: not processed again"
        if original is not None and original[0] != entry["request_id"]:
            detail = f"replay of {original[0]}: not processed again"
        events.append(_event(entry["timestamp"], "duplicate", detail))
    elif status == "rejected":
        message = entry["errors"][0]["message"] if entry["errors"] else None
        detail = f"HTTP {entry['http_status']}" + (f": {message}" if message else "")
        events.append(_event(_finished(entry), "rejected", detail))
    elif status in _FINAL:
        events.append(_event(_finished(entry), status, f"HTTP {entry['http_status']}"))
    return events


def entry_account(row: sqlite3.Row) -> int:
    """The account of a row selected with DETAIL_COLUMNS."""
    return int(row["account_id"])


def _finished(entry: dict[str, Any]) -> float:
    duration = entry["duration_ms"] or 0.0
    return round(float(entry["timestamp"]) + float(duration) / 1000, 3)


def detail(conn: sqlite3.Connection, account_id: int, request_id: str) -> dict[str, Any] | None:
    """An entry of the account with its bodies, kept headers and timeline; None if none."""
    row = conn.execute(
        f"SELECT {ENTRY_SELECT}, logs.account_id, logs.source, logs.source_seq,"
        " b.request_body, b.request_bytes, b.request_truncated, b.response_body, b.headers"
        " FROM logs INDEXED BY logs_by_request LEFT JOIN log_bodies AS b ON b.log_id = logs.id"
        " WHERE logs.request_id = ? AND logs.account_id = ?",
        (request_id, account_id),
    ).fetchone()
    if row is None:
        return None
    entry = entry_json(row)
    entry["request_body"] = row["request_body"]
    entry["request_truncated"] = bool(row["request_truncated"])
    entry["request_bytes"] = row["request_bytes"] or 0
    entry["response_body"] = row["response_body"]
    entry["headers"] = json.loads(row["headers"]) if row["headers"] is not None else {}
    entry["events"] = _events(conn, row, entry)
    return entry
