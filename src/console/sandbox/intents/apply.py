"""Applying queued intents: `prepare` (CPU, off the writer) and `apply_chunks` (the writer).

`prepare` parses and checks the stored body again and, for fetches and polls, pulls the
records from the simulated source. The writer then applies an intent in chunks of items
(`chunks_of`): each chunk goes through the records store and is stored with its outcome and
the intent's progress (`items_done`) in one transaction, so a server killed at any moment
has either applied a chunk and recorded it, or done neither. The resumed queue goes on from
`items_done`: every item is applied exactly once. Chunks keep each writer transaction
short, so requests of every account get the writer between them.
"""

from __future__ import annotations

import dataclasses
import logging
import sqlite3
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from console.sandbox.http.errors import ApiError
from console.sandbox.intents import connector, queue
from console.sandbox.intents.queue import QueuedIntent
from console.sandbox.intents.validation import FETCHES, POLL, IntentBody, read_intent
from console.sandbox.records.store import (
    Actor,
    FeedRef,
    ItemOutcome,
    find_feed,
    patch_items,
    set_deleted,
    upsert_items_bulk,
)

logger = logging.getLogger("console.sandbox")

# How a scheduled poll (sent by no key) is shown as the key in record history.
POLL_ACTOR = "connector poll"
# Pulls that go through the simulated source.
_PULLS = FETCHES | {POLL}

ErrorRow = tuple[int | None, str | None, str]


@dataclass(frozen=True)
class Prepared:
    """A queued intent made ready for the writer: its checked body, or why it cannot run."""

    queued: QueuedIntent
    body: IntentBody | None = None
    # For pulls, per item of the request: the source's record, or why there is none.
    pulled: tuple[dict[str, Any] | str, ...] = ()
    # Problems of the whole intent (it fails without touching a record).
    errors: tuple[ErrorRow, ...] = ()

    @property
    def total(self) -> int:
        """How many items the intent has (0 when it fails whole)."""
        return 0 if self.body is None or self.errors else self.body.count


@dataclass(frozen=True)
class Chunk:
    """Items `start` to `stop` (exclusive) of a prepared intent."""

    prepared: Prepared
    start: int
    stop: int

    @property
    def last(self) -> bool:
        """Whether the intent is complete after this chunk."""
        return self.stop >= self.prepared.total


def prepare(queued: QueuedIntent) -> Prepared:
    """Parse and check a queued body; pull a fetch's records (CPU only, no database)."""
    if queued.id_field is None or queued.method is None:
        return Prepared(queued, errors=((None, None, f"Feed {queued.feed} not found."),))
    if queued.intent in _PULLS and queued.method == "ingest":
        message = f"Feed {queued.feed} is an ingest feed; nothing to fetch."
        return Prepared(queued, errors=((None, None, message),))
    try:
        body = read_intent(queued.intent, queued.body, queued.id_field)
    except ApiError as error:
        return Prepared(
            queued,
            errors=tuple((None, problem.field, problem.message) for problem in error.problems),
        )
    if queued.intent not in _PULLS:
        return Prepared(queued, body)
    pulled: list[dict[str, Any] | str] = []
    for system_id in body.system_ids:
        try:
            pulled.append(connector.source_record(queued.feed, queued.id_field, system_id))
        except connector.NotInSource as missing:
            pulled.append(str(missing))
    return Prepared(queued, body, pulled=tuple(pulled))


def chunks_of(batch: Sequence[Prepared], size: int) -> Iterator[list[Chunk]]:
    """The writer transactions for a batch: runs of chunks of at most `size` items in all
    (whole small intents share one; a large one is cut into several), in queue order,
    each intent starting where earlier runs left it (`items_done`)."""
    hop: list[Chunk] = []
    room = size
    for prepared in batch:
        start = prepared.queued.items_done
        while True:
            stop = min(prepared.total, start + room)
            hop.append(Chunk(prepared, start, stop))
            room -= max(stop - start, 1)
            start = stop
            if room <= 0:
                yield hop
                hop, room = [], size
            if start >= prepared.total:
                break
    if hop:
        yield hop


def _pulled_outcomes(
    conn: sqlite3.Connection, chunk: Chunk, feed: FeedRef, actor: Actor, at: float
) -> list[ItemOutcome]:
    prepared = chunk.prepared
    records: list[dict[str, Any]] = []
    items: list[int] = []
    outcomes: list[ItemOutcome] = []
    field_of = "id" if prepared.queued.intent == "fetch" else "ids[{}]"
    for index in range(chunk.start, chunk.stop):
        pulled = prepared.pulled[index]
        if isinstance(pulled, str):
            system_id = prepared.body.system_ids[index] if prepared.body else None
            outcomes.append(
                ItemOutcome(index, "failed", None, system_id, field_of.format(index), pulled)
            )
        else:
            records.append(pulled)
            items.append(index)
    for outcome in upsert_items_bulk(conn, feed, records, actor, at):
        outcomes.append(
            ItemOutcome(
                items[outcome.index],
                outcome.action,
                outcome.guid,
                outcome.system_id,
                outcome.field,
                outcome.message,
            )
        )
    return sorted(outcomes, key=lambda outcome: outcome.index)


def _outcomes(conn: sqlite3.Connection, chunk: Chunk, at: float) -> list[ItemOutcome]:
    """Apply one chunk through the records store (inside the caller's savepoint)."""
    prepared = chunk.prepared
    queued = prepared.queued
    body = prepared.body
    assert body is not None
    feed = find_feed(conn, queued.account_id, queued.feed)
    if feed is None:
        raise LookupError(f"Feed {queued.feed} not found.")
    if queued.item_key is not None:
        # The intent's item key (X-Item-Key) names its items' system ids, not the feed's.
        feed = dataclasses.replace(feed, id_field=queued.item_key)
    actor = Actor(
        key_id=queued.key_id or "",
        key_shown=queued.key_shown or POLL_ACTOR,
        correlation_id=queued.correlation_id,
        intent=queued.intent,
    )
    start, stop = chunk.start, chunk.stop
    if queued.intent in _PULLS:
        return _pulled_outcomes(conn, chunk, feed, actor, at)
    if queued.intent == "upsert":
        return upsert_items_bulk(conn, feed, body.items[start:stop], actor, at, first_index=start)
    if queued.intent == "patch":
        applied = patch_items(conn, feed, body.items[start:stop], actor, at)
    else:
        applied = set_deleted(conn, feed, body.system_ids[start:stop], True, actor, at)
    return [
        ItemOutcome(
            start + outcome.index,
            outcome.action,
            outcome.guid,
            outcome.system_id,
            outcome.field,
            outcome.message,
        )
        for outcome in applied
    ]


def _apply_chunk(conn: sqlite3.Connection, chunk: Chunk, at: float) -> None:
    queued = chunk.prepared.queued
    records: list[tuple[int, str | None, str | None, str]] = []
    errors: list[ErrorRow] = list(chunk.prepared.errors)
    if not errors:
        for outcome in _outcomes(conn, chunk, at):
            if outcome.action == "failed":
                errors.append((outcome.index, outcome.field, outcome.message or "failed"))
            else:
                records.append((outcome.index, outcome.guid, outcome.system_id, outcome.action))
    queue.record_chunk(
        conn,
        queued.seq,
        queued.correlation_id,
        records=records,
        errors=errors,
        items_done=chunk.stop,
    )
    if chunk.last:
        queue.finish(conn, queued.seq, queued.correlation_id, at)


def apply_chunks(conn: sqlite3.Connection, chunks: Sequence[Chunk], at: float) -> int:
    """Apply each chunk not applied yet, with its outcome, in the caller's transaction;
    return how many were applied. An unexpected error fails that intent alone (the items
    of its earlier chunks stay applied)."""
    applied = 0
    for chunk in chunks:
        queued = chunk.prepared.queued
        if queue.progress(conn, queued.seq) != chunk.start:
            continue  # applied by an earlier run, or the intent already failed: never twice
        conn.execute("SAVEPOINT intent_chunk")
        try:
            _apply_chunk(conn, chunk, at)
        except Exception as exc:
            conn.execute("ROLLBACK TO intent_chunk")
            conn.execute("RELEASE intent_chunk")
            logger.exception("intent %s could not be applied", queued.correlation_id)
            reason = str(exc) if isinstance(exc, LookupError) else "internal error"
            message = f"{reason}; items from {chunk.start} on were not applied."
            queue.record_chunk(
                conn,
                queued.seq,
                queued.correlation_id,
                records=[],
                errors=[(None, None, message)],
                items_done=chunk.start,
            )
            queue.finish(conn, queued.seq, queued.correlation_id, at)
        else:
            conn.execute("RELEASE intent_chunk")
        applied += 1
    return applied
