"""Record lists: the query parameters (each bounded), keyset cursors and the SQL.

Order is (updated_at, seq) descending (`-updated_at`, the default) or ascending
(`updated_at`); seq, the record's insertion number, breaks ties. A cursor names the last
record of a page by that pair, so a page never uses OFFSET and a record written while a
client pages moves to its new place instead of shifting every later page.
"""

from __future__ import annotations

import math
import re
import sqlite3
import time
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
from console.sandbox.records.store import (
    MAX_SYSTEM_ID_LENGTH,
    RECORD_COLUMNS,
    FeedRef,
    record_json,
)

ORDERS = ("-updated_at", "updated_at")
DELETED_VALUES = ("0", "1", "all")
# `version` is a Unix second from 0 to the last second of year 9999.
MAX_VERSION = 253_402_300_799
MAX_GUID_LENGTH = 64
MAX_Q_LENGTH = 200
# Field filters: at most this many, on distinct names of at most MAX_FIELD_NAME characters,
# with values of at most MAX_FIELD_VALUE characters (longer data values are not indexed).
MAX_FIELD_FILTERS = 5
MAX_FIELD_NAME = 100
MAX_FIELD_VALUE = 200
FIELD_PREFIX = "data."
_SINGLE = ("q", "guid", "system_id", "version", "deleted", "order", "limit", "cursor")
_CURSOR_TAG = b"r1"
_CURSOR_MAX_LENGTH = 200
_DIGITS = re.compile(r"^[0-9]{1,18}$")
# A word of `q`: letters and digits, as FTS5's unicode61 tokenizer keeps them; `*` after
# it asks for a prefix.
_WORD = re.compile(r"([^\W_]+)(\*?)")
MAX_Q_TERMS = 16
# Each prefix term is expanded to every indexed word it starts (a one-letter `n*` is a
# good part of the vocabulary): bounded so that one request's search stays cheap.
MIN_PREFIX = 2
MAX_PREFIXES = 3
# A `q` matching at most this many records (in all feeds) is served from its matches;
# beyond, by walking the keyset order and probing the full-text index per candidate.
SMALL_MATCHES = 20_000
# A `q` matching more is checked over the keyset order CHUNK candidates at a time, at most
# MAX_SCANNED per request; nearby candidates share one rowid-range query.
CHUNK = 2000
MAX_SCANNED = 200_000
# ... and for at most this long: each rowid-range query pays its prefix terms' expansion
# (~50 ms a short `x*` at 300k records), so a few broad prefixes over a feed they barely
# match held both reader threads for seconds and stalled every account's reads.
MAX_WALK_SECONDS = 0.25
CLUSTER_GAP = 64
# A field filter's rows are counted up to this many when choosing which filter leads.
FIELD_PROBE = 10_000
# The data keys GET .../records/keys lists at most.
MAX_KEYS = 200


@dataclass(frozen=True)
class RecordQuery:
    """A checked record list request."""

    q: str = ""
    guid: str = ""
    system_id: str = ""
    version: int | None = None
    deleted: str = "0"
    order: str = "-updated_at"
    fields: tuple[tuple[str, str], ...] = ()
    limit: int = DEFAULT_LIMIT
    # (updated_at, seq) of the last record of the previous page.
    after: tuple[float, int] | None = None

    @property
    def descending(self) -> bool:
        """Whether newest come first."""
        return self.order == "-updated_at"


def _cursor_scope(order: str, feed: FeedRef) -> str:
    """What a cursor is signed for: its order and its feed (a cursor of another feed, or of
    another account's, is refused rather than read as a position in this one)."""
    return f"{order}@{feed.seq}"


def encode_cursor(key: bytes, order: str, updated_at: float, seq: int) -> str:
    """An opaque, signed cursor continuing after (updated_at, seq) in `order`."""
    payload = b"%s|%s|%s|%d" % (_CURSOR_TAG, order.encode(), repr(updated_at).encode(), seq)
    return sign_cursor(key, payload)


def decode_cursor(key: bytes, order: str, cursor: str) -> tuple[float, int] | None:
    """The position a cursor names, or None when this server did not issue it for `order`."""
    payload = signed_payload(key, cursor, _CURSOR_MAX_LENGTH)
    if payload is None:
        return None
    parts = payload.split(b"|")
    if len(parts) != 4 or parts[0] != _CURSOR_TAG or parts[1] != order.encode():
        return None
    try:
        updated_at = float(parts[2].decode("ascii"))
    except (UnicodeError, ValueError):
        return None
    seq_text = parts[3].decode("ascii", "replace")
    if not math.isfinite(updated_at) or not _DIGITS.match(seq_text):
        return None
    return updated_at, int(seq_text)


def parse_record_query(
    query: Mapping[str, str], conn: sqlite3.Connection, feed: FeedRef
) -> RecordQuery:
    """Check every parameter of a record list; 400 VALIDATION_FAILED naming each bad one."""
    problems = repeated_differently(query, *_SINGLE)
    q = query.get("q", "")
    if len(q) > MAX_Q_LENGTH:
        problems.append(invalid("q", f"q must be at most {MAX_Q_LENGTH} characters."))
    else:
        prefixes = {word for word, star in _WORD.findall(q) if star}
        if any(len(word) < MIN_PREFIX for word in prefixes):
            problems.append(
                invalid("q", f"a prefix search (word*) needs at least {MIN_PREFIX} characters.")
            )
        elif len(prefixes) > MAX_PREFIXES:
            problems.append(
                invalid("q", f"q may hold at most {MAX_PREFIXES} prefix searches (word*).")
            )
    q = q.strip()
    guid = query.get("guid", "")
    if len(guid) > MAX_GUID_LENGTH:
        problems.append(invalid("guid", f"guid must be at most {MAX_GUID_LENGTH} characters."))
    system_id = query.get("system_id", "")
    if len(system_id) > MAX_SYSTEM_ID_LENGTH:
        problems.append(
            invalid("system_id", f"system_id must be at most {MAX_SYSTEM_ID_LENGTH} characters.")
        )
    version = None
    if "version" in query:
        version = bounded_int(query["version"], 0, MAX_VERSION)
        if version is None:
            problems.append(
                invalid("version", f"version must be an integer Unix second, 0 to {MAX_VERSION}.")
            )
    deleted = query.get("deleted", "0")
    if deleted not in DELETED_VALUES:
        problems.append(invalid("deleted", "deleted must be 0, 1 or all."))
    order = query.get("order", "-updated_at")
    if order not in ORDERS:
        problems.append(invalid("order", "order must be -updated_at or updated_at."))
    limit = parse_limit(query, problems)
    fields = _field_filters(query, problems)
    after = None
    cursor = query.get("cursor", "")
    if cursor and order in ORDERS:
        after = decode_cursor(cursor_key(conn), _cursor_scope(order, feed), cursor)
        if after is None:
            problems.append(
                invalid("cursor", "cursor is not one this server issued for this order.")
            )
    if problems:
        raise validation_failed(problems)
    return RecordQuery(q, guid, system_id, version, deleted, order, fields, limit, after)


def _field_filters(
    query: Mapping[str, str], problems: list[Problem]
) -> tuple[tuple[str, str], ...]:
    items = query.multi_items() if hasattr(query, "multi_items") else list(query.items())
    filters: dict[str, str] = {}
    for key, value in items:
        if not key.startswith(FIELD_PREFIX):
            continue
        name = key[len(FIELD_PREFIX) :]
        field = key if len(key) <= MAX_FIELD_NAME + 5 else key[: MAX_FIELD_NAME + 5] + "…"
        if not 1 <= len(name) <= MAX_FIELD_NAME:
            problems.append(
                invalid(field, f"A field filter names 1 to {MAX_FIELD_NAME} characters.")
            )
        elif len(value) > MAX_FIELD_VALUE:
            problems.append(
                invalid(field, f"A field filter's value is at most {MAX_FIELD_VALUE} characters.")
            )
        elif name in filters and filters[name] != value:
            problems.append(
                invalid(field, f"{field} is given more than once with different values.")
            )
        else:
            filters[name] = value
    if len(filters) > MAX_FIELD_FILTERS:
        problems.append(
            invalid(FIELD_PREFIX + "*", f"At most {MAX_FIELD_FILTERS} field filters are allowed.")
        )
    return tuple(filters.items())


def fts_match(q: str) -> str | None:
    """The FTS5 query of `q`: its words ANDed, each quoted (`word*` a prefix), or None when
    it has no word. Words split as the index's tokenizer splits them (letters and digits),
    so no quoted word is a phrase."""
    # A repeated word matches nothing more and costs a whole FTS5 term each time.
    terms = list(
        dict.fromkeys(f'"{word}"' + ("*" if star else "") for word, star in _WORD.findall(q))
    )
    return " AND ".join(terms[:MAX_Q_TERMS]) or None


def _fewest_field(
    conn: sqlite3.Connection, feed: FeedRef, fields: tuple[tuple[str, str], ...]
) -> tuple[str, str]:
    """The field filter with the fewest index rows (each counted up to a bound)."""
    counts = [
        (
            conn.execute(
                "SELECT count(*) FROM (SELECT 1 FROM record_fields WHERE feed_seq = ?"
                " AND name = ? AND value = ? LIMIT ?)",
                (feed.seq, name, value, FIELD_PROBE),
            ).fetchone()[0],
            index,
        )
        for index, (name, value) in enumerate(fields)
    ]
    return fields[min(counts)[1]]


def _select(
    feed: FeedRef,
    query: RecordQuery,
    *,
    match: str | None,
    lead: tuple[str, str] | None,
    columns: str,
    limit: int,
    after: tuple[float, int] | None,
) -> tuple[str, list[Any]]:
    """One statement of a page: `match` drives it through the full-text index, else
    `lead` through that field filter's index rows, else the records' own index."""
    params: list[Any] = []
    if match is not None:
        source = "records_fts CROSS JOIN records r ON r.seq = records_fts.rowid"
        where = ["records_fts MATCH ?", "r.feed_seq = ?"]
        params += [match, feed.seq]
        order = ("r.updated_at", "r.seq")
    elif lead is not None:
        source = "record_fields f CROSS JOIN records r ON r.seq = f.seq"
        where = ["f.feed_seq = ?", "f.name = ?", "f.value = ?", "r.updated_at = f.updated_at"]
        params += [feed.seq, *lead]
        order = ("f.updated_at", "f.seq")
    else:
        source = "records r"
        where = ["r.feed_seq = ?"]
        params.append(feed.seq)
        order = ("r.updated_at", "r.seq")
    if query.deleted != "all":
        where.append("r.deleted = ?")
        params.append(int(query.deleted))
    if query.guid:
        where.append("r.guid = ?")
        params.append(query.guid)
    if query.system_id:
        where.append("r.system_id = ?")
        params.append(query.system_id)
    if query.version is not None:
        where.append(f"{order[0]} >= ?")
        params.append(query.version)
    for name, value in query.fields:
        if (name, value) == lead:
            continue
        where.append(
            "EXISTS (SELECT 1 FROM record_fields g WHERE g.feed_seq = r.feed_seq AND g.name = ?"
            " AND g.value = ? AND g.updated_at = r.updated_at AND g.seq = r.seq)"
        )
        params += [name, value]
    if after is not None:
        where.append(f"({order[0]}, {order[1]}) {'<' if query.descending else '>'} (?, ?)")
        params.extend(after)
    direction = "DESC" if query.descending else "ASC"
    sql = (
        f"SELECT {columns} FROM {source} WHERE {' AND '.join(where)}"
        f" ORDER BY {order[0]} {direction}, {order[1]} {direction} LIMIT ?"
    )
    return sql, [*params, limit]


def _rows_by_seq(conn: sqlite3.Connection, seqs: list[int]) -> list[sqlite3.Row]:
    """Full rows of records, in the order of `seqs`."""
    if not seqs:
        return []
    found = {
        row["seq"]: row
        for row in conn.execute(
            f"SELECT {RECORD_COLUMNS} FROM records WHERE seq IN ({','.join('?' * len(seqs))})",
            seqs,
        )
    }
    return [found[seq] for seq in seqs]


def _clusters(seqs: list[int]) -> list[tuple[int, int]]:
    """`seqs` (sorted) as ranges whose gaps are at most CLUSTER_GAP."""
    ranges: list[tuple[int, int]] = []
    for seq in seqs:
        if ranges and seq - ranges[-1][1] <= CLUSTER_GAP:
            ranges[-1] = (ranges[-1][0], seq)
        else:
            ranges.append((seq, seq))
    return ranges


def _matching(conn: sqlite3.Connection, match: str, seqs: list[int]) -> set[int]:
    """Which of `seqs` the full-text query matches: one rowid-range query per cluster of
    nearby seqs (FTS5 seeks a range cheaply; a rowid IN list restarts the query per value)."""
    hits: set[int] = set()
    wanted = set(seqs)
    for low, high in _clusters(sorted(seqs)):
        hits.update(
            row[0]
            for row in conn.execute(
                "SELECT rowid FROM records_fts WHERE records_fts MATCH ? AND rowid BETWEEN ? AND ?",
                (match, low, high),
            )
            if row[0] in wanted
        )
    return hits


def page_rows(
    conn: sqlite3.Connection, feed: FeedRef, query: RecordQuery
) -> tuple[list[sqlite3.Row], tuple[float, int] | None]:
    """The rows of one page of the feed's records matching `query`, and the position the
    next page starts after (None on the last page). Every statement it runs is SQL on
    `conn`: the benchmark's floor runs exactly this in-process.

    What drives the page, by what is cheapest:
    - `q` matching at most SMALL_MATCHES records (in all feeds): its full-text matches,
      joined to their records and sorted by (updated_at, seq), then the page's rows read;
    - `q` matching more: the keyset order (below), CHUNK candidates at a time, each chunk
      checked against the full-text index by rowid ranges; such a `q` matches at least 1
      in 50 records of a 1M index, so a page needs a few chunks. At most MAX_SCANNED
      candidates are checked per request: a page may then hold fewer than `limit` rows,
      with a cursor to go on;
    - else a field filter: its index rows (feed, name, value, updated_at, seq), already in
      keyset order; a row counts only while its updated_at is the record's (else the
      record changed since it was indexed and waits for the indexer);
    - else the records' own (feed, deleted, updated_at, seq) index.
    Further field filters check each candidate by a primary-key probe of their index row.
    """
    match = fts_match(query.q) if query.q else None
    few = False
    if match is not None:
        found = conn.execute(
            "SELECT count(*) FROM (SELECT 1 FROM records_fts WHERE records_fts MATCH ? LIMIT ?)",
            (match, SMALL_MATCHES + 1),
        ).fetchone()[0]
        few = found <= SMALL_MATCHES
    lead = None
    if not few and query.fields:
        lead = _fewest_field(conn, feed, query.fields)
    keys = "r.seq, r.updated_at" if lead is None else "f.seq, f.updated_at"
    if match is None or few:
        sql, params = _select(
            feed,
            query,
            match=match,
            lead=lead,
            columns=keys,
            limit=query.limit + 1,
            after=query.after,
        )
        ordered = conn.execute(sql, params).fetchall()
        more = len(ordered) > query.limit
        ordered = ordered[: query.limit]
        rows = _rows_by_seq(conn, [row[0] for row in ordered])
        last = (float(ordered[-1][1]), int(ordered[-1][0])) if more else None
        return rows, last
    hits: list[tuple[int, float]] = []
    position = query.after
    scanned = 0
    deadline = time.monotonic() + MAX_WALK_SECONDS
    while len(hits) <= query.limit and scanned < MAX_SCANNED:
        if scanned and time.monotonic() >= deadline:
            break
        sql, params = _select(
            feed, query, match=None, lead=lead, columns=keys, limit=CHUNK, after=position
        )
        chunk = conn.execute(sql, params).fetchall()
        if not chunk:
            position = None
            break
        scanned += len(chunk)
        matching = _matching(conn, match, [row[0] for row in chunk])
        for row in chunk:
            if row[0] in matching:
                hits.append((int(row[0]), float(row[1])))
                if len(hits) > query.limit:
                    break
            position = (float(row[1]), int(row[0]))
        if len(chunk) < CHUNK and len(hits) <= query.limit:
            position = None
            break
    if len(hits) > query.limit:
        hits = hits[: query.limit]
        position = (hits[-1][1], hits[-1][0])
    return _rows_by_seq(conn, [seq for seq, _ in hits]), position


def list_records(conn: sqlite3.Connection, feed: FeedRef, query: RecordQuery) -> dict[str, Any]:
    """One page of the feed's records matching `query`, and the next page's cursor."""
    try:
        rows, last = page_rows(conn, feed, query)
    except sqlite3.OperationalError as error:
        if not query.q or "fts5" not in str(error):
            raise
        raise validation_failed([invalid("q", "q could not be searched; use words.")]) from None
    next_cursor = None
    if last is not None:
        next_cursor = encode_cursor(
            cursor_key(conn), _cursor_scope(query.order, feed), last[0], last[1]
        )
    return {
        "data": [record_json(row) for row in rows],
        "pagination": {"next_cursor": next_cursor},
    }


def data_keys(conn: sqlite3.Connection, feed: FeedRef) -> list[str]:
    """The top-level data keys seen in the feed's records (once indexed), sorted; at most
    MAX_KEYS."""
    rows = conn.execute(
        "SELECT name FROM record_keys WHERE feed_seq = ? ORDER BY name LIMIT ?",
        (feed.seq, MAX_KEYS),
    ).fetchall()
    return [str(row[0]) for row in rows]
