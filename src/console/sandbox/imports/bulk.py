"""Applying one import batch: new records in bulk, everything else through the store.

`upsert_items` spends six statements (two lookups, the record, its history row, its
dirty mark, the feed's counter) per item. An import batch is mostly new records, so:

- off the writer (the parse thread), each item's stored JSON, history field list and GUID
  are made once (`prepare`), with the store's own `dumps_data` (its size rule), encoder
  and `new_guids` (so a GUID's time is when its batch was parsed, at most a batch earlier than
  its record's created_at);
- on the writer, one query finds which system ids the feed already has; the first item of
  each new system id is created with `executemany` of exactly the rows `create_record`
  writes (record, history row) and one counter update, plus what the background
  indexer's full-text pass would write for it (FTS text and data keys: `index_rows` on the
  parse thread with the item already in hand, then the indexer's `write_new_index`: the
  rows of its `write_index` for a record created in the same transaction, which also queue
  the record for the indexer's field pass): the indexer would otherwise read
  each new record back and parse its JSON again. So imported new records are found by `q`
  as soon as their batch commits, and never wait in `records_dirty`;
- every other item (an existing record, or a repeat of a system id within the batch) then
  goes through `upsert_items_bulk`, in file order, whose outcome is the one-by-one outcome
  of `upsert_items` (tests/sandbox/test_upsert_bulk.py).

tests/sandbox/test_imports_bulk.py checks that both ways leave identical rows.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from console.sandbox.imports.rows import Batch, RowError
from console.sandbox.records.indexer import index_rows, write_new_index
from console.sandbox.records.store import (
    MAX_CHANGED_FIELDS,
    Actor,
    FeedRef,
    RecordError,
    dumps_data,
    new_guids,
    system_id_of,
    upsert_items_bulk,
)

# Bound variables per IN (...) lookup.
_LOOKUP_CHUNK = 500
_ENCODER = json.JSONEncoder(ensure_ascii=False, allow_nan=False, separators=(",", ":"))


class Prepared(NamedTuple):
    """One item ready for the writer: its row, system id, stored JSON and changed fields
    (a NamedTuple: one is made per row, and cheaply)."""

    row: int
    item: dict[str, Any]
    system_id: str
    data: str
    changed: str
    guid: str  # made here, off the writer; used if the item creates a record
    text: str  # the indexer's FTS text for it
    keys: list[tuple[int, str]]  # and its data keys (one list shared by items alike)


@dataclass
class Applied:
    """What one batch did."""

    created: int = 0
    updated: int = 0
    unchanged: int = 0
    errors: list[RowError] | None = None


def prepare(batch: Batch, feed: FeedRef) -> tuple[list[Prepared], list[RowError]]:
    """The batch's items made ready off the writer; items the store would refuse for their
    size become row errors here, with the store's message.

    Rows of one file mostly share their keys (a CSV's always do), so the history's field
    list and the data keys are made once per set of keys. The FTS text of an item whose
    values are all strings is those strings joined, which is what `search_text` makes of
    it (checked in tests/sandbox/test_imports_bulk.py); other items go through
    `index_rows` itself.
    """
    prepared: list[Prepared] = []
    errors = list(batch.errors)
    per_keys: dict[tuple[str, ...], tuple[str, list[tuple[int, str]]]] = {}
    guids = new_guids(len(batch.items))
    for row, item, guid in zip(batch.rows, batch.items, guids, strict=True):
        system_id = system_id_of(item[feed.id_field])
        assert system_id is not None  # the row reader checked it
        try:
            data = dumps_data(item)
        except RecordError as error:
            errors.append(RowError(row, error.field, error.message))
            continue
        names = tuple(item)
        known = per_keys.get(names)
        if known is None:
            keys = index_rows(0, feed.seq, 0.0, "", data=dict.fromkeys(names), fields=False).keys
            known = per_keys[names] = (_ENCODER.encode(list(names)[:MAX_CHANGED_FIELDS]), keys)
        changed, keys = known
        values = item.values()
        if all(type(value) is str for value in values):
            text = " ".join(values)
        else:
            text = index_rows(0, feed.seq, 0.0, data, data=item, fields=False).text
        prepared.append(Prepared(row, item, system_id, data, changed, guid, text, keys))
    return prepared, errors


def _existing(conn: sqlite3.Connection, feed: FeedRef, system_ids: Sequence[str]) -> set[str]:
    found: set[str] = set()
    unique = list(dict.fromkeys(system_ids))
    for start in range(0, len(unique), _LOOKUP_CHUNK):
        chunk = unique[start : start + _LOOKUP_CHUNK]
        found.update(
            row[0]
            for row in conn.execute(
                "SELECT system_id FROM records WHERE feed_seq = ? AND system_id IN"
                f" ({','.join('?' * len(chunk))})",
                (feed.seq, *chunk),
            )
        )
    return found


def _create_all(
    conn: sqlite3.Connection, feed: FeedRef, new: list[Prepared], actor: Actor, at: float
) -> None:
    """Insert what `create_record` and then the indexer insert for each item, in bulk
    (writer thread); no dirty mark, since the index rows are written here."""
    last = conn.execute("SELECT coalesce(max(seq), 0) FROM records").fetchone()[0]
    seqs = range(last + 1, last + 1 + len(new))
    conn.executemany(
        "INSERT INTO records (seq, feed_seq, guid, system_id, deleted, created_at, updated_at,"
        " data, last_correlation_id, archived) VALUES (?, ?, ?, ?, 0, ?, ?, ?, ?, NULL)",
        [
            (seq, feed.seq, item.guid, item.system_id, at, at, item.data, actor.correlation_id)
            for seq, item in zip(seqs, new, strict=True)
        ],
    )
    conn.executemany(
        "INSERT INTO record_history (record_seq, timestamp, intent, correlation_id, key_id,"
        " key_shown, changed) VALUES (?, ?, ?, ?, ?, ?, ?)",
        [
            (
                seq,
                at,
                actor.intent,
                actor.correlation_id,
                actor.key_id,
                actor.key_shown,
                item.changed,
            )
            for seq, item in zip(seqs, new, strict=True)
        ],
    )
    conn.execute(
        "UPDATE feeds SET record_count = record_count + ? WHERE seq = ?", (len(new), feed.seq)
    )
    # The indexer's full-text rows (its write for records this new), so `q` finds them now.
    keys: set[tuple[int, str]] = set()
    seen: set[int] = set()
    for item in new:  # items with the same names share one keys list
        if id(item.keys) not in seen:
            seen.add(id(item.keys))
            keys.update(item.keys)
    write_new_index(conn, [(seq, item.text) for seq, item in zip(seqs, new, strict=True)], keys)


def apply_prepared(
    conn: sqlite3.Connection, feed: FeedRef, prepared: list[Prepared], actor: Actor, at: float
) -> Applied:
    """Apply prepared items in file order (writer thread, inside the caller's transaction)."""
    applied = Applied(errors=[])
    assert applied.errors is not None
    existing = _existing(conn, feed, [item.system_id for item in prepared])
    new: list[Prepared] = []
    rest: list[Prepared] = []
    for item in prepared:
        if item.system_id in existing:
            rest.append(item)
        else:
            existing.add(item.system_id)
            new.append(item)
    if new:
        _create_all(conn, feed, new, actor, at)
        applied.created += len(new)
    outcomes = (
        upsert_items_bulk(conn, feed, [item.item for item in rest], actor, at) if rest else []
    )
    for outcome in outcomes:
        if outcome.action == "created":
            applied.created += 1
        elif outcome.action == "unchanged":
            applied.unchanged += 1
        elif outcome.action == "failed":
            applied.errors.append(
                RowError(rest[outcome.index].row, outcome.field, outcome.message or "failed")
            )
        else:  # updated (an upsert never archives or restores)
            applied.updated += 1
    return applied
