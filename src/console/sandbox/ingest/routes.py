"""POST /api/ingest: Inspire-style stream ingestion (PLATFORM_API "Stream ingestion").

The order of checks (docs/api.md, Stream ingestion, D3): 413 as the body arrives (the body
limit middleware) → 401 → 404 STREAM_NOT_FOUND → 429 burst → 415 → 400 on a bad
`X-Item-Key` or `Idempotency-Key` header → an idempotent replay (202 with the original body,
before the body is parsed) → 400 INVALID_PAYLOAD → 202.

Key, stream and a stored Idempotency-Key are read in one small read on the event loop. An
accepted request is durable before its 202: the intent row (the queue the worker drains),
its log entry and its idempotency row commit in one writer transaction, which looks for the
Idempotency-Key again first, so two concurrent requests with one key never both queue.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import re
import sqlite3
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from console.sandbox.http.auth import Principal
from console.sandbox.http.errors import ApiError, Problem, invalid
from console.sandbox.http.middleware import new_correlation_id
from console.sandbox.http.routing import as_key_inline, database_of, resource
from console.sandbox.ingest.idempotency import (
    IDEMPOTENCY_KEY,
    MAX_IDEMPOTENCY_KEY,
    Replay,
    find_replay,
    remember,
)
from console.sandbox.intents import queue
from console.sandbox.intents.routes import _check_burst, _check_media_type
from console.sandbox.intents.validation import (
    THREAD_PARSE_BYTES,
    IntentBody,
    RefusedBody,
    read_intent,
)
from console.sandbox.intents.worker import IntentWorker
from console.sandbox.logs.model import MAX_ENTRY_ERRORS, LogBodies, LogEntry, LogSignal
from console.sandbox.logs.redact import capture
from console.sandbox.logs.request_entry import bodies_from_request, entry_from_request, log_context
from console.sandbox.logs.store import insert_entry
from console.sandbox.records.store import FeedRef, find_feed, shown_key_of
from console.sandbox.storage.sqlite import now

INGEST_PATH = "/api/ingest"
# The log entry's intent (D9).
INTENT = "ingest"
# The queue's intent of an /api/ingest request: its items are upserted.
QUEUED_INTENT = "upsert"
# X-Item-Key follows a feed's id_field rule (feeds/routes.py): 1 to 100 characters, not all
# whitespace.
MAX_ITEM_KEY = 100
JSON_MEDIA_TYPE = "application/json; charset=utf-8"
# D7: the response header of a replay (Stripe's name).
REPLAYED_HEADER = "Idempotent-Replayed"
_ITEM_INDEX = re.compile(r"^\[(\d+)\]")


@dataclass(frozen=True)
class _Caller:
    """What the first read found: the key, how it is shown, the stream (None: refused with
    `error`) and the stored first request of the Idempotency-Key, if any."""

    principal: Principal
    key_shown: str
    feed: FeedRef | None
    error: ApiError | None = None
    replay: Replay | None = None


def stream_not_found(name: str | None) -> ApiError:
    """404 STREAM_NOT_FOUND: no stream named, an unknown one, or not the key's own."""
    if name is None:
        message = "Name the stream: ?stream=<feed id> (an admin key has no stream of its own)."
    else:
        message = f"Stream {name[:100]!r} not found."
    return ApiError.single(404, "STREAM_NOT_FOUND", message, "stream")


def _header_values(request: Request, name: bytes) -> list[bytes]:
    return [value for key, value in request.scope["headers"] if key == name]


def _idempotency_key(request: Request) -> tuple[str | None, Problem | None]:
    """The request's Idempotency-Key (None when absent) or the problem with it (D6)."""
    values = set(_header_values(request, b"idempotency-key"))
    if not values:
        return None, None
    if len(values) > 1:
        return None, invalid("Idempotency-Key", "Send one Idempotency-Key header, not several.")
    value = values.pop().decode("latin-1")
    if not IDEMPOTENCY_KEY.fullmatch(value):
        return None, invalid(
            "Idempotency-Key",
            f"Idempotency-Key must be 1 to {MAX_IDEMPOTENCY_KEY} characters of printable "
            "ASCII (0x20-0x7E).",
        )
    return value, None


def _item_key(request: Request) -> tuple[str | None, Problem | None]:
    """The request's X-Item-Key (None when absent) or the problem with it (D6: a feed's
    id_field rule)."""
    values = set(_header_values(request, b"x-item-key"))
    if not values:
        return None, None
    if len(values) > 1:
        return None, invalid("X-Item-Key", "Send one X-Item-Key header, not several.")
    try:
        value = values.pop().decode("utf-8")
    except UnicodeDecodeError:
        return None, invalid("X-Item-Key", "X-Item-Key must be UTF-8 text.")
    if not value.strip() or len(value) > MAX_ITEM_KEY:
        return None, invalid(
            "X-Item-Key",
            f"X-Item-Key must be 1 to {MAX_ITEM_KEY} characters, not all whitespace "
            "(a feed's id_field rule).",
        )
    return value, None


def _stream_named(request: Request) -> tuple[str | None, bool]:
    """The `?stream=` value (None when absent) and whether it is usable (several different
    values name no one stream)."""
    names = request.query_params.getlist("stream")
    if not names:
        return None, True
    return names[0], len(set(names)) == 1


async def _authenticate(request: Request, idem_key: str | None) -> _Caller:
    """Key, stream and the Idempotency-Key's first request, in one read on the event loop;
    401 raised, a stream refusal returned (so the log context can name the key first)."""
    named, usable = _stream_named(request)

    def work(conn: sqlite3.Connection, principal: Principal, at: float) -> _Caller | ApiError:
        shown = shown_key_of(conn, principal.key_id)
        # D2: an admin key has no stream of its own: ?stream= must name one of its account.
        slug = named if principal.kind == "admin" else principal.feed
        if not usable or slug is None or (named is not None and named != slug):
            return _Caller(principal, shown, None, stream_not_found(named))
        feed = find_feed(conn, principal.account_id, slug)
        if feed is None:
            return _Caller(principal, shown, None, stream_not_found(named or slug))
        replay = None if idem_key is None else find_replay(conn, principal.key_id, idem_key, at)
        return _Caller(principal, shown, feed, replay=replay)

    return await as_key_inline(request, work)


def _encode(content: Any) -> bytes:
    return json.dumps(content, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def _prepare(request: Request, raw: bytes, id_field: str) -> tuple[IntentBody, LogBodies, str]:
    """Parse and check the body, capture what its log entry keeps (the response is added
    once known) and digest it: CPU work only, on a worker thread for a large body."""
    body = read_intent(QUEUED_INTENT, raw, id_field)
    return body, bodies_from_request(request, raw, None), queue.body_digest(raw)


async def _off_loop_if_large(raw: bytes, function: Any, *args: Any) -> Any:
    """Run `function(*args)` on a worker thread when the body is large (never on the writer
    thread), else here."""
    if len(raw) >= THREAD_PARSE_BYTES:
        return await asyncio.to_thread(function, *args)
    return function(*args)


def _replayed_items(replay: Replay) -> int:
    try:
        return int(json.loads(replay.response)["data"]["items_received"])
    except (ValueError, KeyError, TypeError):
        return 0


def _duplicate_entry(
    request: Request, caller: _Caller, feed: FeedRef, idem_key: str, replay: Replay
) -> LogEntry:
    """The log entry of a replay: 202, `duplicate`, the first request's item count."""
    return entry_from_request(
        request,
        feed.account_id,
        feed=feed.slug,
        key_id=caller.principal.key_id,
        key_shown=caller.key_shown,
        intent=INTENT,
        http_status=202,
        items_received=_replayed_items(replay),
        processing_status="duplicate",
        auth_via=caller.principal.via,
        idempotency_key=idem_key,
    )


def _replay_response(request: Request, replay: Replay) -> Response:
    """D7: the first request's 202, byte for byte, marked as a replay (its `duplicate` log
    entry committed: the log context and the live tail are told)."""
    context = log_context(request)
    context.items_received = _replayed_items(replay)
    context.processing_status = "duplicate"
    _logged(request)
    return Response(
        content=replay.response,
        status_code=202,
        media_type=JSON_MEDIA_TYPE,
        headers={REPLAYED_HEADER: "true"},
    )


def _logged(request: Request) -> None:
    """After a commit that inserted this request's entry: wake the live tail, and tell the
    capture middleware there is nothing left to log."""
    signal: LogSignal = request.app.state.log_signal
    signal.notify()
    log_context(request).written = True


def _client_correlation_id(request: Request, correlation_id: str) -> bool:
    """Whether the request's correlation id is the one the client sent."""
    return request.headers.get("x-correlation-id") == correlation_id


def _correlation_id_used(conn: sqlite3.Connection, account_id: int, correlation_id: str) -> bool:
    """Whether an intent (of any account: the queue's ids are unique) or a log entry of
    this account already carries `correlation_id`."""
    if conn.execute("SELECT 1 FROM intents WHERE correlation_id = ?", (correlation_id,)).fetchone():
        return True
    row = conn.execute(
        "SELECT 1 FROM logs WHERE account_id = ? AND correlation_id = ? LIMIT 1",
        (account_id, correlation_id),
    ).fetchone()
    return row is not None


async def _answer_replay(
    request: Request, caller: _Caller, feed: FeedRef, raw: bytes, idem_key: str, replay: Replay
) -> Response:
    """Log a replay found before the body was read (`duplicate`) and answer it."""
    bodies = await _off_loop_if_large(raw, bodies_from_request, request, raw, replay.response)

    def commit(conn: sqlite3.Connection) -> None:
        entry = _duplicate_entry(request, caller, feed, idem_key, replay)
        insert_entry(conn, entry, bodies)

    await database_of(request).run(commit)
    return _replay_response(request, replay)


def _naming_item_key(error: ApiError) -> ApiError:
    """A 400 of `read_intent` worded for an X-Item-Key rather than the feed's id field."""
    problems = [
        dataclasses.replace(
            problem,
            message=problem.message.replace("the feed's id field", "the item key (X-Item-Key)"),
        )
        for problem in error.problems
    ]
    return ApiError(error.status, problems, headers=error.headers)


def _errors_of(error: ApiError) -> list[dict[str, Any]]:
    """A 400's problems as log errors `{item, field, message}` (item: the index in `field`)."""
    errors: list[dict[str, Any]] = []
    for problem in error.problems[:MAX_ENTRY_ERRORS]:
        match = _ITEM_INDEX.match(problem.field or "")
        errors.append(
            {
                "item": int(match.group(1)) if match else None,
                "field": problem.field,
                "message": problem.message,
            }
        )
    return errors


async def ingest(request: Request) -> Response:
    """POST /api/ingest: check, commit durably (intent, log entry, idempotency row), 202."""
    raw = await request.body()
    context = log_context(request)
    context.intent = INTENT
    idem_key, idem_problem = _idempotency_key(request)
    caller = await _authenticate(request, idem_key)
    principal = caller.principal
    context.account_id = principal.account_id
    context.key_id = principal.key_id
    context.key_shown = caller.key_shown
    context.auth_via = principal.via
    context.idempotency_key = idem_key
    feed = caller.feed
    if feed is None:
        context.feed = principal.feed
        assert caller.error is not None
        raise caller.error
    context.feed = feed.slug
    _check_burst(request, principal.key_id)
    _check_media_type(request)
    item_key, item_problem = _item_key(request)
    problems = [problem for problem in (item_problem, idem_problem) if problem is not None]
    if problems:
        raise ApiError(400, problems)
    if idem_key is not None and caller.replay is not None:
        return await _answer_replay(request, caller, feed, raw, idem_key, caller.replay)

    state = request.scope["state"]
    request_id = str(state["request_id"])
    correlation_id = str(state["correlation_id"])
    try:
        prepared: tuple[IntentBody, LogBodies, str] = await _off_loop_if_large(
            raw, _prepare, request, raw, item_key or feed.id_field
        )
    except ApiError as error:
        if isinstance(error, RefusedBody):
            context.items_received = error.items_received
        if item_key is not None:
            error = _naming_item_key(error)
        context.errors = _errors_of(error)
        raise error from None
    body, bodies, digest = prepared
    response = _encode(
        {
            "success": True,
            "data": {"stream": feed.slug, "items_received": body.count, "request_id": request_id},
        }
    )
    bodies = dataclasses.replace(bodies, response=capture(response)[0])
    context.items_received = body.count
    fresh_if_used = _client_correlation_id(request, correlation_id)

    def commit(conn: sqlite3.Connection) -> Replay | str:
        at = now()
        if idem_key is not None:
            # Again, inside the one writer: a concurrent request with this key may have
            # committed since the first read. Then this one is its replay, not queued.
            replay = find_replay(conn, principal.key_id, idem_key, at)
            if replay is not None:
                entry = _duplicate_entry(request, caller, feed, idem_key, replay)
                duplicate = dataclasses.replace(bodies, response=capture(replay.response)[0])
                insert_entry(conn, entry, duplicate, at)
                return replay
        # D8: a client correlation id this account (or any intent) already used gets a
        # fresh one here, never a 409: duplicates are the Idempotency-Key's job.
        corr = correlation_id
        if fresh_if_used and _correlation_id_used(conn, feed.account_id, corr):
            corr = new_correlation_id()
        entry = entry_from_request(
            request,
            feed.account_id,
            feed=feed.slug,
            key_id=principal.key_id,
            key_shown=caller.key_shown,
            intent=INTENT,
            http_status=202,
            items_received=body.count,
            processing_status="queued",
            auth_via=principal.via,
            idempotency_key=idem_key,
            source="intent",
        )
        entry.correlation_id = corr
        log_id = insert_entry(conn, entry, bodies, at)
        _, corr = queue.enqueue(
            conn,
            correlation_id=corr,
            account_id=feed.account_id,
            feed=feed.slug,
            intent=QUEUED_INTENT,
            key_id=principal.key_id,
            key_shown=caller.key_shown,
            body=raw,
            items=body.count,
            at=at,
            item_key=item_key,
            request_id=request_id,
            log_id=log_id,
            digest=digest,
        )
        seq = conn.execute("SELECT seq FROM intents WHERE correlation_id = ?", (corr,)).fetchone()
        conn.execute("UPDATE logs SET source_seq = ? WHERE id = ?", (seq[0], log_id))
        if idem_key is not None:
            remember(
                conn,
                key_id=principal.key_id,
                idem_key=idem_key,
                account_id=feed.account_id,
                request_id=request_id,
                body_sha256=digest,
                response=response,
                at=at,
            )
        return corr

    outcome = await database_of(request).run(commit)
    if isinstance(outcome, Replay):
        return _replay_response(request, outcome)
    worker: IntentWorker = request.app.state.intent_worker
    worker.wake()
    # The X-Correlation-Id header follows a fresh id (the contract middleware reads it).
    state["correlation_id"] = outcome
    context.processing_status = "queued"
    _logged(request)
    return Response(content=response, status_code=202, media_type=JSON_MEDIA_TYPE)


routes = [resource(INGEST_PATH, {"POST": ingest})]
