"""Applying queued intents: `prepare` (CPU, off the writer) and `apply_batch` (the writer).

`prepare` parses and checks the stored body again and, for fetches and polls, pulls the
records from the simulated source. `apply_batch` then applies each intent through the
records store and stores its outcome in the same transaction: a server killed at any
moment has either applied an intent and recorded it, or done neither, so the resumed queue
applies every intent exactly once.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from console.sandbox.http.errors import ApiError
from console.sandbox.intents import connector, queue
from console.sandbox.intents.queue import QueuedIntent
from console.sandbox.intents.validation import FETCHES, POLL, IntentBody, read_intent
from console.sandbox.records.store import (
    Actor,
    ItemOutcome,
    find_feed,
    patch_items,
    set_deleted,
    upsert_items,
)

logger = logging.getLogger("console.sandbox")

# Pulls that go through the simulated source.
_PULLS = FETCHES | {POLL}


@dataclass(frozen=True)
class Prepared:
    """A queued intent made ready for the writer: its checked body, or why it cannot run."""

    queued: QueuedIntent
    body: IntentBody | None = None
    # For pulls: the source's records, and the index in the request of each.
    records: tuple[dict[str, Any], ...] = ()
    record_items: tuple[int, ...] = ()
    # Items that failed before the writer (ids missing from the source): (item, message).
    item_errors: tuple[dict[str, Any], ...] = ()
    # The whole intent fails: errors without an item.
    errors: tuple[dict[str, Any], ...] = field(default=())


def _error(item: int | None, field_name: str | None, message: str) -> dict[str, Any]:
    return {"item": item, "field": field_name, "message": message}


def prepare(queued: QueuedIntent) -> Prepared:
    """Parse and check a queued body; pull a fetch's records (CPU only, no database)."""
    if queued.id_field is None or queued.method is None:
        return Prepared(queued, errors=(_error(None, None, f"Feed {queued.feed} not found."),))
    if queued.intent in _PULLS and queued.method == "ingest":
        return Prepared(
            queued,
            errors=(
                _error(None, None, f"Feed {queued.feed} is an ingest feed; nothing to fetch."),
            ),
        )
    try:
        body = read_intent(queued.intent, queued.body, queued.id_field)
    except ApiError as error:
        return Prepared(
            queued,
            errors=tuple(
                _error(None, problem.field, problem.message) for problem in error.problems
            ),
        )
    if queued.intent not in _PULLS:
        return Prepared(queued, body)
    records: list[dict[str, Any]] = []
    record_items: list[int] = []
    item_errors: list[dict[str, Any]] = []
    for index, system_id in enumerate(body.system_ids):
        try:
            records.append(connector.source_record(queued.feed, queued.id_field, system_id))
        except connector.NotInSource as missing:
            field_name = "id" if queued.intent == "fetch" else f"ids[{index}]"
            item_errors.append(_error(index, field_name, str(missing)))
        else:
            record_items.append(index)
    return Prepared(
        queued,
        body,
        records=tuple(records),
        record_items=tuple(record_items),
        item_errors=tuple(item_errors),
    )


def _outcomes(conn: sqlite3.Connection, prepared: Prepared, at: float) -> list[ItemOutcome]:
    """Apply one prepared intent through the records store (inside the caller's savepoint)."""
    queued = prepared.queued
    body = prepared.body
    assert body is not None
    feed = find_feed(conn, queued.account_id, queued.feed)
    if feed is None:
        raise LookupError(f"Feed {queued.feed} not found.")
    actor = Actor(
        key_id=queued.key_id or "",
        key_shown=queued.key_shown or "",
        correlation_id=queued.correlation_id,
        intent=queued.intent,
    )
    if queued.intent == "upsert":
        return upsert_items(conn, feed, body.items, actor, at)
    if queued.intent == "patch":
        return patch_items(conn, feed, body.items, actor, at)
    if queued.intent == "delete":
        return set_deleted(conn, feed, body.system_ids, True, actor, at)
    if not prepared.records:
        return []
    pulled = upsert_items(conn, feed, prepared.records, actor, at)
    # Back to the indexes of the request (the source's misses were left out).
    return [
        ItemOutcome(
            prepared.record_items[outcome.index],
            outcome.action,
            outcome.guid,
            outcome.system_id,
            outcome.field,
            outcome.message,
        )
        for outcome in pulled
    ]


def _status(failed: int, total: int) -> str:
    if failed == 0:
        return "succeeded"
    return "failed" if failed >= total else "partially_failed"


def _apply_one(conn: sqlite3.Connection, prepared: Prepared, at: float) -> None:
    queued = prepared.queued
    if prepared.errors:
        queue.finish(conn, queued.seq, status="failed", errors=list(prepared.errors), at=at)
        return
    outcomes = _outcomes(conn, prepared, at)
    errors = list(prepared.item_errors)
    rows: list[tuple[int, str | None, str | None, str]] = []
    for outcome in outcomes:
        if outcome.action == "failed":
            errors.append(_error(outcome.index, outcome.field, outcome.message or "failed"))
        else:
            rows.append((outcome.index, outcome.guid, outcome.system_id, outcome.action))
    errors.sort(key=lambda error: error["item"])
    queue.record_actions(conn, queued.correlation_id, rows)
    total = prepared.body.count if prepared.body is not None else len(outcomes)
    queue.finish(conn, queued.seq, status=_status(len(errors), total), errors=errors, at=at)


def apply_batch(conn: sqlite3.Connection, batch: Sequence[Prepared], at: float) -> int:
    """Apply each intent still pending, with its outcome, in the caller's transaction;
    return how many were applied. One intent's unexpected error fails that intent alone."""
    applied = 0
    for prepared in batch:
        queued = prepared.queued
        if not queue.is_pending(conn, queued.seq):
            continue  # applied by an earlier run: never twice
        conn.execute("SAVEPOINT intent")
        try:
            _apply_one(conn, prepared, at)
        except Exception as exc:
            conn.execute("ROLLBACK TO intent")
            conn.execute("RELEASE intent")
            logger.exception("intent %s could not be applied", queued.correlation_id)
            message = str(exc) if isinstance(exc, LookupError) else "internal error"
            queue.finish(
                conn, queued.seq, status="failed", errors=[_error(None, None, message)], at=at
            )
        else:
            conn.execute("RELEASE intent")
        applied += 1
    return applied
