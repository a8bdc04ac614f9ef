"""Records of a feed: identity, writes with history and archive marks, reads by id.

Every function taking a connection runs on the writer thread (or a reader, for reads)
inside the caller's transaction, and does no heavy parsing: bodies are parsed on the event
loop first. Serialising a record's data (json.dumps) and loading the stored data of a
record being updated (to diff it) are the only JSON work here.

Identity: a record has a server-made `guid` (UUIDv7-style, time-ordered, so the guid
index grows at its end) and a `system_id`, the value of the feed's id field in its data
(strings as they are, integers in decimal). The record's system id is always the one in
its data: `system_id` is unique per feed among all its records, archived ones included.

`version` is int(updated_at). `record_count` on the feed row counts its active
(deleted = 0) records and is kept by these writes. Every change writes one history row;
a write that changes nothing writes nothing (action "unchanged").
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from console.common.redaction import mask_key
from console.sandbox.http.errors import ApiError, Problem, conflict
from console.sandbox.http.pagination import PageRequest, page_rows
from console.sandbox.records.merge_patch import apply_merge_patch

T = TypeVar("T")

# Who may write records, as history rows name it.
INTENTS = (
    "upsert",
    "patch",
    "delete",
    "fetch",
    "fetch-list",
    "import",
    "record-post",
    "record-patch",
)
ACTIONS = ("created", "updated", "unchanged", "archived", "restored", "failed")
# A record's data as stored (compact JSON) is at most this many bytes.
MAX_DATA_BYTES = 1_048_576
# A system id (the id field's value as text) is 1 to this many characters.
MAX_SYSTEM_ID_LENGTH = 255
# A history row names at most this many changed fields (the first ones, in data order).
MAX_CHANGED_FIELDS = 200
DUPLICATE_SYSTEM_ID = "DUPLICATE_SYSTEM_ID"

_ENCODER = json.JSONEncoder(ensure_ascii=False, allow_nan=False, separators=(",", ":"))
# Data text up to this many characters is under MAX_DATA_BYTES as UTF-8 (4 bytes at most each).
_QUARTER_DATA_BYTES = MAX_DATA_BYTES // 4
RECORD_COLUMNS = (
    "seq, guid, system_id, deleted, created_at, updated_at, data, last_correlation_id,"
    " archived, restored"
)


@dataclass(frozen=True)
class FeedRef:
    """One feed row."""

    seq: int
    account_id: int
    slug: str
    method: str
    id_field: str


@dataclass(frozen=True)
class Actor:
    """Who or what makes a change; goes into history rows and archive marks."""

    key_id: str
    key_shown: str  # prefix…last4, never the secret
    correlation_id: str
    intent: str


@dataclass(frozen=True)
class ItemOutcome:
    """One input item's result."""

    index: int
    action: str  # created|updated|unchanged|archived|restored|failed
    guid: str | None
    system_id: str | None
    field: str | None = None
    message: str | None = None


class RecordError(Exception):
    """An item a write cannot apply (becomes a `failed` outcome, or a 400/409 on the routes)."""

    def __init__(self, message: str, field: str | None = None, code: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        self.code = code

    def as_api_error(self) -> ApiError:
        """The error as a record route answers it: 409 for a duplicate system id, else 400
        naming the body's field (`data.NAME` for a field of the record's data)."""
        if self.code == DUPLICATE_SYSTEM_ID:
            return conflict(self.message, DUPLICATE_SYSTEM_ID)
        field = self.field
        if field is not None and field != "system_id" and not field.startswith("data"):
            field = f"data.{field}"
        return ApiError(400, [Problem("VALIDATION_FAILED", self.message, field)])


# --- identity -------------------------------------------------------------------------

_guid_lock = threading.Lock()
_guid_last = [0, 0]  # the last (millisecond, counter) handed out


def new_guid(at: float | None = None) -> str:
    """A fresh UUIDv7-style GUID: 48 bits of Unix milliseconds, then a 12-bit counter that
    keeps GUIDs made within one millisecond in order, then 62 random bits."""
    ms = int((time.time() if at is None else at) * 1000)
    with _guid_lock:
        last_ms, counter = _guid_last
        if ms <= last_ms:
            ms, counter = last_ms, counter + 1
            if counter > 0xFFF:
                ms, counter = ms + 1, 0
        else:
            counter = 0
        _guid_last[0], _guid_last[1] = ms, counter
    random_bits = int.from_bytes(os.urandom(8), "big") & ((1 << 62) - 1)
    value = (ms << 80) | (0x7 << 76) | (counter << 64) | (0b10 << 62) | random_bits
    text = f"{value:032x}"
    return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"


def new_guids(count: int, at: float | None = None) -> list[str]:
    """`count` GUIDs exactly as `count` calls of `new_guid(at)` make them (same order and
    counter rules), with one lock and one read of random bytes (the bulk import)."""
    ms = int((time.time() if at is None else at) * 1000)
    stamps: list[int] = []
    with _guid_lock:
        last_ms, counter = _guid_last
        for _ in range(count):
            if ms <= last_ms:
                ms, counter = last_ms, counter + 1
                if counter > 0xFFF:
                    ms, counter = ms + 1, 0
            else:
                counter = 0
            last_ms = ms
            stamps.append((ms << 80) | (0x7 << 76) | (counter << 64) | (0b10 << 62))
        _guid_last[0], _guid_last[1] = last_ms, counter
    noise = os.urandom(8 * count)
    mask = (1 << 62) - 1
    guids = []
    for index, stamp in enumerate(stamps):
        value = stamp | (int.from_bytes(noise[8 * index : 8 * index + 8], "big") & mask)
        text = f"{value:032x}"
        guids.append(f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}")
    return guids


def system_id_of(value: object) -> str | None:
    """The system id an id-field value stands for: a non-empty string (at most 255
    characters) as it is, an integer in decimal; anything else (bool, float, null, object,
    list, "") is None: not a valid id."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        text = str(value) if abs(value) < 10**MAX_SYSTEM_ID_LENGTH else ""
    elif isinstance(value, str):
        text = value
    else:
        return None
    return text if 1 <= len(text) <= MAX_SYSTEM_ID_LENGTH else None


def system_id_rule(id_field: str) -> str:
    """What a valid id-field value is, for error messages."""
    return (
        f"{id_field} must be a non-empty string of at most {MAX_SYSTEM_ID_LENGTH} characters "
        "or an integer."
    )


def find_feed(conn: sqlite3.Connection, account_id: int, slug: str) -> FeedRef | None:
    """The account's feed with this id, or None."""
    row = conn.execute(
        "SELECT seq, account_id, slug, method, id_field FROM feeds"
        " WHERE account_id = ? AND slug = ?",
        (account_id, slug),
    ).fetchone()
    if row is None:
        return None
    return FeedRef(int(row[0]), int(row[1]), str(row[2]), str(row[3]), str(row[4]))


def feed_not_found(slug: str) -> ApiError:
    """404 FEED_NOT_FOUND: an unknown feed, or another account's (the two look the same)."""
    return ApiError.single(404, "FEED_NOT_FOUND", f"Feed {slug[:100]!r} not found.")


def require_feed(conn: sqlite3.Connection, account_id: int, slug: str) -> FeedRef:
    """The account's feed with this id; else raise 404 FEED_NOT_FOUND."""
    feed = find_feed(conn, account_id, slug)
    if feed is None:
        raise feed_not_found(slug)
    return feed


def shown_key_of(conn: sqlite3.Connection, key_id: str) -> str:
    """A key as history rows and archive marks show it: prefix…last4."""
    row = conn.execute("SELECT prefix, last4 FROM api_keys WHERE id = ?", (key_id,)).fetchone()
    return "…" if row is None else mask_key(str(row[0]), str(row[1]))


def actor_of(conn: sqlite3.Connection, key_id: str, correlation_id: str, intent: str) -> Actor:
    """The Actor of a request made with key `key_id`."""
    return Actor(key_id, shown_key_of(conn, key_id), correlation_id, intent)


# --- reads ------------------------------------------------------------------------------


def record_by_guid(conn: sqlite3.Connection, feed: FeedRef, guid: str) -> sqlite3.Row | None:
    """The feed's record with this guid, or None."""
    row: sqlite3.Row | None = conn.execute(
        f"SELECT {RECORD_COLUMNS} FROM records WHERE guid = ? AND feed_seq = ?",
        (guid, feed.seq),
    ).fetchone()
    return row


def record_by_system_id(
    conn: sqlite3.Connection, feed: FeedRef, system_id: str
) -> sqlite3.Row | None:
    """The feed's record with this system id, or None."""
    row: sqlite3.Row | None = conn.execute(
        f"SELECT {RECORD_COLUMNS} FROM records WHERE feed_seq = ? AND system_id = ?",
        (feed.seq, system_id),
    ).fetchone()
    return row


def _mark_json(text: str | None) -> Any:
    return None if text is None else json.loads(text)


def record_json(row: sqlite3.Row) -> dict[str, Any]:
    """The contract's record object, plus the `archived` and `restored` marks."""
    return {
        "guid": row["guid"],
        "system_id": row["system_id"],
        "deleted": row["deleted"],
        "version": int(row["updated_at"]),
        "created_at": row["created_at"],
        "updated_at": row["updated_at"],
        "data": json.loads(row["data"]),
        "last_correlation_id": row["last_correlation_id"],
        "archived": _mark_json(row["archived"]),
        "restored": _mark_json(row["restored"]),
    }


def history_page(conn: sqlite3.Connection, seq: int, page: PageRequest) -> dict[str, Any]:
    """One page of a record's history, newest first."""
    rows, next_cursor = page_rows(
        conn,
        "SELECT id AS seq, timestamp, intent, correlation_id, key_id, key_shown, changed"
        " FROM record_history WHERE record_seq = ?",
        (seq,),
        page,
    )
    return {
        "data": [
            {
                "timestamp": row["timestamp"],
                "intent": row["intent"],
                "correlation_id": row["correlation_id"],
                "key": {"id": row["key_id"], "shown": row["key_shown"]},
                "changed": json.loads(row["changed"]),
            }
            for row in rows
        ],
        "pagination": {"next_cursor": next_cursor},
    }


# --- writes -----------------------------------------------------------------------------


def dumps_data(data: dict[str, Any]) -> str:
    """A record's data as stored: compact JSON; RecordError when over MAX_DATA_BYTES."""
    text = _ENCODER.encode(data)
    if len(text) > MAX_DATA_BYTES // 4 and len(text.encode("utf-8")) > MAX_DATA_BYTES:
        raise RecordError(f"data is over {MAX_DATA_BYTES:,} bytes as JSON.", "data")
    return text


def same_json(a: Any, b: Any) -> bool:
    """Whether two JSON values are the same JSON: unlike ==, 1, 1.0 and true differ."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same_json(a[key], b[key]) for key in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(same_json(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)


def changed_fields(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """Top-level fields added, removed or changed from `old` to `new` (new's order first)."""
    changed = [
        name for name, value in new.items() if name not in old or not same_json(old[name], value)
    ]
    changed += [name for name in old if name not in new]
    return changed


def _data_system_id(feed: FeedRef, data: dict[str, Any]) -> str | None:
    """The system id data carries in the feed's id field (None when absent); RecordError
    when the field holds something that is not a valid id."""
    if feed.id_field not in data:
        return None
    system_id = system_id_of(data[feed.id_field])
    if system_id is None:
        raise RecordError(system_id_rule(feed.id_field), feed.id_field)
    return system_id


def _mark(actor: Actor, at: float) -> str:
    return _ENCODER.encode(
        {
            "at": at,
            "key_id": actor.key_id,
            "key": actor.key_shown,
            "correlation_id": actor.correlation_id,
        }
    )


def _history(
    conn: sqlite3.Connection, seq: int, changed: list[str], actor: Actor, at: float
) -> None:
    conn.execute(
        "INSERT INTO record_history (record_seq, timestamp, intent, correlation_id, key_id,"
        " key_shown, changed) VALUES (?, ?, ?, ?, ?, ?, ?)",
        (
            seq,
            at,
            actor.intent,
            actor.correlation_id,
            actor.key_id,
            actor.key_shown,
            _ENCODER.encode(changed[:MAX_CHANGED_FIELDS]),
        ),
    )
    conn.execute("INSERT OR IGNORE INTO records_dirty (seq) VALUES (?)", (seq,))


def _count(
    conn: sqlite3.Connection, feed: FeedRef, delta: int, counter: list[int] | None = None
) -> None:
    if counter is not None:
        counter[0] += delta
    elif delta:
        conn.execute(
            "UPDATE feeds SET record_count = record_count + ? WHERE seq = ?", (delta, feed.seq)
        )


def _check_free(
    conn: sqlite3.Connection, feed: FeedRef, system_id: str, seq: int | None = None
) -> None:
    row = conn.execute(
        "SELECT seq FROM records WHERE feed_seq = ? AND system_id = ?", (feed.seq, system_id)
    ).fetchone()
    if row is not None and row[0] != seq:
        raise RecordError(
            f"Another record of this feed has system_id {system_id!r}.",
            "system_id",
            DUPLICATE_SYSTEM_ID,
        )


def create_record(
    conn: sqlite3.Connection,
    feed: FeedRef,
    data: dict[str, Any],
    actor: Actor,
    at: float,
    *,
    deleted: bool = False,
    guid: str | None = None,
    counter: list[int] | None = None,
    free: bool = False,
) -> tuple[int, str, str | None]:
    """Insert a new record; return (seq, guid, system_id). RecordError on an invalid id or
    a taken system id. `counter`: add the change of the feed's record_count there (the
    caller writes it once) instead of updating the feed row now. `free`: the caller has
    just found no record with the data's system id."""
    system_id = _data_system_id(feed, data)
    if system_id is not None and not free:
        _check_free(conn, feed, system_id)
    text = dumps_data(data)
    guid = guid or new_guid(at)
    cursor = conn.execute(
        "INSERT INTO records (feed_seq, guid, system_id, deleted, created_at, updated_at, data,"
        " last_correlation_id, archived) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            feed.seq,
            guid,
            system_id,
            int(deleted),
            at,
            at,
            text,
            actor.correlation_id,
            _mark(actor, at) if deleted else None,
        ),
    )
    seq = int(cursor.lastrowid or 0)
    _history(conn, seq, [*data, "deleted"] if deleted else list(data), actor, at)
    _count(conn, feed, 0 if deleted else 1, counter)
    return seq, guid, system_id


def update_record(
    conn: sqlite3.Connection,
    feed: FeedRef,
    row: sqlite3.Row,
    actor: Actor,
    at: float,
    *,
    data: dict[str, Any] | None = None,
    deleted: bool | None = None,
    counter: list[int] | None = None,
) -> tuple[str, str | None]:
    """Replace a record's data (None keeps it) and/or set `deleted` (None keeps it);
    return (action, system_id). Nothing changes → "unchanged", nothing written.
    RecordError on an invalid id, a taken system id or a removed one."""
    new_text = None if data is None else dumps_data(data)
    if new_text is not None and new_text == row["data"]:
        data = None  # the very same data: the common re-import
    changed = [] if data is None else changed_fields(json.loads(row["data"]), data)
    was_deleted = bool(row["deleted"])
    now_deleted = was_deleted if deleted is None else deleted
    if now_deleted != was_deleted:
        changed.append("deleted")
    system_id = row["system_id"]
    if not changed:
        return "unchanged", system_id
    if data is not None:
        new_system_id = _data_system_id(feed, data)
        if new_system_id is None and system_id is not None:
            raise RecordError(
                f"data.{feed.id_field} holds the record's system id and cannot be removed.",
                feed.id_field,
            )
        if new_system_id != system_id and new_system_id is not None:
            _check_free(conn, feed, new_system_id, int(row["seq"]))
        system_id = new_system_id
    text = row["data"] if data is None or new_text is None else new_text
    archived, restored = row["archived"], row["restored"]
    action = "updated"
    if now_deleted and not was_deleted:
        archived, action = _mark(actor, at), "archived"
    elif was_deleted and not now_deleted:
        restored, action = _mark(actor, at), "restored"
    seq = int(row["seq"])
    conn.execute(
        "UPDATE records SET system_id = ?, deleted = ?, updated_at = ?, data = ?,"
        " last_correlation_id = ?, archived = ?, restored = ? WHERE seq = ?",
        (system_id, int(now_deleted), at, text, actor.correlation_id, archived, restored, seq),
    )
    _history(conn, seq, changed, actor, at)
    _count(conn, feed, int(was_deleted) - int(now_deleted), counter)
    return action, system_id


def _failed(index: int, system_id: str | None, error: RecordError) -> ItemOutcome:
    return ItemOutcome(index, "failed", None, system_id, error.field, error.message)


def _item_system_id(feed: FeedRef, item: object) -> str:
    if not isinstance(item, dict):
        raise RecordError("The item must be a JSON object.")
    if feed.id_field not in item:
        raise RecordError(f"The item has no {feed.id_field!r} field.", feed.id_field)
    system_id = system_id_of(item[feed.id_field])
    if system_id is None:
        raise RecordError(system_id_rule(feed.id_field), feed.id_field)
    return system_id


def _each_item(
    conn: sqlite3.Connection,
    feed: FeedRef,
    items: Sequence[T],
    system_id_of_item: Callable[[T], str],
    apply: Callable[[T, str, sqlite3.Row | None, list[int]], tuple[str, str]],
) -> list[ItemOutcome]:
    """Apply `apply(item, system_id, row, counter)` to each item's record (`row`, found by
    the item's system id; None when the feed has none), which answers (action, guid). A
    RecordError fails that item alone; the feed's active count moves once, at the end."""
    outcomes: list[ItemOutcome] = []
    counter = [0]
    for index, item in enumerate(items):
        system_id: str | None = None
        try:
            system_id = system_id_of_item(item)
            row = record_by_system_id(conn, feed, system_id)
            action, guid = apply(item, system_id, row, counter)
            outcomes.append(ItemOutcome(index, action, guid, system_id))
        except RecordError as error:
            outcomes.append(_failed(index, system_id, error))
    _count(conn, feed, counter[0])
    return outcomes


def _known(feed: FeedRef, system_id: str, row: sqlite3.Row | None) -> sqlite3.Row:
    if row is None:
        raise RecordError(f"no record with system_id {system_id}", feed.id_field)
    return row


def upsert_items(
    conn: sqlite3.Connection,
    feed: FeedRef,
    items: Sequence[dict[str, Any]],
    actor: Actor,
    at: float,
) -> list[ItemOutcome]:
    """Create or replace records identified by their id field: an item becomes the
    record's data whole. An archived record stays archived (restore is its own act)."""

    def upsert(
        item: dict[str, Any], _system_id: str, row: sqlite3.Row | None, counter: list[int]
    ) -> tuple[str, str]:
        if row is None:
            _, guid, _ = create_record(conn, feed, item, actor, at, counter=counter, free=True)
            return "created", guid
        action, _ = update_record(conn, feed, row, actor, at, data=item, counter=counter)
        return action, str(row["guid"])

    return _each_item(conn, feed, items, lambda item: _item_system_id(feed, item), upsert)


def patch_items(
    conn: sqlite3.Connection,
    feed: FeedRef,
    patches: Sequence[dict[str, Any]],
    actor: Actor,
    at: float,
) -> list[ItemOutcome]:
    """Apply a JSON merge patch (RFC 7396) to the data of each record named by the patch's
    id field; an unknown record fails ("no record with system_id X")."""

    def patch(
        item: dict[str, Any], system_id: str, row: sqlite3.Row | None, counter: list[int]
    ) -> tuple[str, str]:
        row = _known(feed, system_id, row)
        data = apply_merge_patch(json.loads(row["data"]), item)
        action, _ = update_record(conn, feed, row, actor, at, data=data, counter=counter)
        return action, str(row["guid"])

    return _each_item(conn, feed, patches, lambda item: _item_system_id(feed, item), patch)


def set_deleted(
    conn: sqlite3.Connection,
    feed: FeedRef,
    system_ids: Sequence[str],
    deleted: bool,
    actor: Actor,
    at: float,
) -> list[ItemOutcome]:
    """Archive (soft delete) or restore records by system id; unknown ones fail, and one
    already in that state is "unchanged"."""

    def archive(
        _item: str, system_id: str, row: sqlite3.Row | None, counter: list[int]
    ) -> tuple[str, str]:
        row = _known(feed, system_id, row)
        action, _ = update_record(conn, feed, row, actor, at, deleted=deleted, counter=counter)
        return action, str(row["guid"])

    return _each_item(conn, feed, system_ids, lambda system_id: system_id, archive)


# --- bulk upsert --------------------------------------------------------------------------

_INSERT_RECORD = (
    "INSERT INTO records (seq, feed_seq, guid, system_id, deleted, created_at, updated_at, data,"
    " last_correlation_id, archived) VALUES (?, ?, ?, ?, 0, ?, ?, ?, ?, NULL)"
)
_UPDATE_RECORD = (
    "UPDATE records SET updated_at = ?, data = ?, last_correlation_id = ? WHERE seq = ?"
)
_INSERT_HISTORY = (
    "INSERT INTO record_history (record_seq, timestamp, intent, correlation_id, key_id,"
    " key_shown, changed) VALUES (?, ?, ?, ?, ?, ?, ?)"
)


class _Known:
    """A record of the chunk as the items before have left it: [seq, guid, data]."""

    __slots__ = ("data", "guid", "seq")

    def __init__(self, seq: int, guid: str, data: str) -> None:
        self.seq = seq
        self.guid = guid
        self.data = data


def upsert_items_bulk(
    conn: sqlite3.Connection,
    feed: FeedRef,
    items: Sequence[dict[str, Any]],
    actor: Actor,
    at: float,
    *,
    first_index: int = 0,
) -> list[ItemOutcome]:
    """`upsert_items` in a few statements per chunk instead of several per item, with the
    very same outcomes (indexes from `first_index`) and rows (tests/sandbox/
    test_upsert_bulk.py compares both on random sequences).

    One query finds the chunk's existing records; each item then goes, in order, against
    the record as the items before it left it (a second item with one system id updates
    what the first wrote); new records get the next seqs (one writer: nothing else
    inserts meanwhile) and GUIDs from `new_guids`; then one `executemany` per table and one
    update of the feed's count. An upsert never archives or restores: an archived record's
    data is replaced and it stays archived, as in `upsert_items`.
    """
    system_ids: list[str | RecordError] = []
    id_field = feed.id_field
    for item in items:
        # The usual case inline (a JSON object whose id is a short string), as
        # `_item_system_id` answers it; any other goes through it.
        value = item.get(id_field) if type(item) is dict else None
        if type(value) is str and 0 < len(value) <= MAX_SYSTEM_ID_LENGTH:
            system_ids.append(value)
            continue
        try:
            system_ids.append(_item_system_id(feed, item))
        except RecordError as error:
            system_ids.append(error)
    wanted = list(dict.fromkeys(sid for sid in system_ids if isinstance(sid, str)))
    known: dict[str, _Known] = {}
    if wanted:
        for seq, guid, system_id, data in conn.execute(
            "SELECT seq, guid, system_id, data FROM records WHERE feed_seq = ?"
            " AND system_id IN (SELECT value FROM json_each(?))",
            (feed.seq, _ENCODER.encode(wanted)),
        ):
            known[system_id] = _Known(int(seq), str(guid), str(data))
    new_count = sum(1 for sid in wanted if sid not in known)
    guids = new_guids(new_count, at) if new_count else []
    next_seq = 0
    if new_count:
        next_seq = int(conn.execute("SELECT coalesce(max(seq), 0) FROM records").fetchone()[0])
    outcomes: list[ItemOutcome] = []
    inserts: list[tuple[Any, ...]] = []
    updates: list[tuple[Any, ...]] = []
    history: list[tuple[Any, ...]] = []
    encode = _ENCODER.encode
    all_fields: dict[tuple[str, ...], str] = {}
    correlation_id = actor.correlation_id
    for index, (item, system_id) in enumerate(zip(items, system_ids, strict=True), first_index):
        if isinstance(system_id, RecordError):
            outcomes.append(_failed(index, None, system_id))
            continue
        text = encode(item)
        if len(text) > _QUARTER_DATA_BYTES:  # maybe over MAX_DATA_BYTES: as dumps_data says
            try:
                text = dumps_data(item)
            except RecordError as error:
                outcomes.append(_failed(index, system_id, error))
                continue
        record = known.get(system_id)
        if record is None:
            next_seq += 1
            guid = guids[len(inserts)]
            record = known[system_id] = _Known(next_seq, guid, text)
            inserts.append((next_seq, feed.seq, guid, system_id, at, at, text, correlation_id))
            changed: list[str] | None = None  # every field: the item's own names
            action = "created"
        else:
            changed = [] if text == record.data else changed_fields(json.loads(record.data), item)
            if not changed:
                outcomes.append(ItemOutcome(index, "unchanged", record.guid, system_id))
                continue
            record.data = text
            updates.append((at, text, correlation_id, record.seq))
            action = "updated"
        if changed is None:  # items of one chunk mostly share their names: encode once
            names = tuple(item)
            listed = all_fields.get(names)
            if listed is None:
                listed = all_fields[names] = encode(list(names[:MAX_CHANGED_FIELDS]))
        else:
            listed = encode(changed[:MAX_CHANGED_FIELDS])
        history.append(
            (record.seq, at, actor.intent, correlation_id, actor.key_id, actor.key_shown, listed)
        )
        outcomes.append(ItemOutcome(index, action, record.guid, system_id))
    if inserts:
        conn.executemany(_INSERT_RECORD, inserts)
    if updates:
        conn.executemany(_UPDATE_RECORD, updates)
    if history:
        conn.executemany(_INSERT_HISTORY, history)
        conn.executemany(
            "INSERT OR IGNORE INTO records_dirty (seq) VALUES (?)",
            [(row[0],) for row in history],
        )
    _count(conn, feed, len(inserts))
    return outcomes
