"""The ingest routes (`/ingest/{feed_id}/...`) and the intent outcome route.

An ingest request: authenticate (admin key of the account, or an ingest key of this very
feed) and find the feed in one small read on the event loop; count it against the key's
burst limit; parse and check the body (on the event loop, or a worker thread when large);
then commit the intent to the durable queue in one writer hop, and only then answer 202.
"""

from __future__ import annotations

import asyncio
import dataclasses
import sqlite3
import time
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from console.sandbox.http.auth import Principal, note_principal
from console.sandbox.http.errors import ApiError, not_found
from console.sandbox.http.log_capture import entry_written
from console.sandbox.http.middleware import NARROWER_RATE_LIMIT
from console.sandbox.http.payload import is_json_media_type, unsupported_media_type
from console.sandbox.http.ratelimit import FixedWindowLimiter
from console.sandbox.http.responses import correlation_id_of, json_response
from console.sandbox.http.routing import as_admin, as_key_inline, database_of, resource
from console.sandbox.intents import queue
from console.sandbox.intents.validation import (
    FETCHES,
    INTENTS,
    THREAD_PARSE_BYTES,
    IntentBody,
    RefusedBody,
    read_intent,
)
from console.sandbox.intents.worker import IntentWorker
from console.sandbox.logs.model import LogBodies
from console.sandbox.logs.redact import capture
from console.sandbox.logs.request_entry import bodies_from_request, entry_from_request, log_context
from console.sandbox.logs.store import insert_entry
from console.sandbox.records.store import FeedRef, feed_not_found, find_feed
from console.sandbox.storage.sqlite import now

INGEST = "/ingest/{feed_id}"
OUTCOME = "/api/public/v1/intents/{correlation_id}"


@dataclass(frozen=True)
class IngestCaller:
    """An authenticated ingest request: the key, how it is shown, and the feed."""

    principal: Principal
    key_shown: str
    feed: FeedRef


async def as_ingest(request: Request, slug: str) -> IngestCaller:
    """Authenticate a key for feed `slug`: an admin key of the feed's account, or an ingest
    key scoped to it (any other feed is 404 FEED_NOT_FOUND, as an unknown one is).

    A few indexed reads on the event loop (`Database.read_inline`); the key's last use is
    stamped as on every authenticated route.
    """

    def work(conn: sqlite3.Connection, principal: Principal, at: float) -> IngestCaller | ApiError:
        note_principal(request, principal)
        log_context(request).feed = slug
        if principal.kind != "admin" and principal.feed != slug:
            return feed_not_found(slug)
        feed = find_feed(conn, principal.account_id, slug)
        if feed is None:
            return feed_not_found(slug)
        return IngestCaller(principal, principal.shown, feed)

    return await as_key_inline(request, work)


def _check_burst(request: Request, key_id: str) -> None:
    """Count the request against its key's burst limit; 429 RATE_LIMITED when over it."""
    limiter: FixedWindowLimiter = request.app.state.ingest_limiter
    decision = limiter.hit(key_id, time.time())
    request.scope.setdefault("state", {})[NARROWER_RATE_LIMIT] = decision
    if not decision.allowed:
        raise ApiError.single(
            429,
            "RATE_LIMITED",
            f"Too many ingest requests with this key: the limit is {decision.limit} per "
            f"{limiter.limit.seconds} s; retry after {decision.retry_after} s.",
            headers={"Retry-After": str(decision.retry_after)},
        )


def _check_media_type(request: Request) -> None:
    content_type = request.headers.get("content-type")
    if content_type is None or not is_json_media_type(content_type):
        raise unsupported_media_type(content_type)


async def _read(intent: str, raw: bytes, id_field: str) -> IntentBody:
    """Parse and check a body: large ones on a worker thread, so the loop keeps serving."""
    if len(raw) >= THREAD_PARSE_BYTES:
        return await asyncio.to_thread(read_intent, intent, raw, id_field)
    return read_intent(intent, raw, id_field)


def _bodies_and_digest(request: Request, raw: bytes) -> tuple[LogBodies, str]:
    return bodies_from_request(request, raw, None), queue.body_digest(raw)


async def _request_bodies(request: Request, raw: bytes) -> tuple[LogBodies, str]:
    """What the log keeps of the request (cut, masked: up to 64 KiB of regex work) and the
    body's digest (~1.5 ms a MiB), built before the writer hop and, for a large body, on a
    worker thread: never on the writer."""
    if len(raw) >= THREAD_PARSE_BYTES:
        return await asyncio.to_thread(_bodies_and_digest, request, raw)
    return _bodies_and_digest(request, raw)


async def accept_intent(request: Request, intent: str) -> Response:
    """Check an intent request and commit it to the queue; 202 with its correlation id.

    Its connector log entry (status queued, or duplicate for a retry) is written in the
    same transaction as the intent, with the 202's body: nothing more to commit after it.
    """
    raw = await request.body()
    slug = request.path_params["feed_id"]
    caller = await as_ingest(request, slug)
    _check_burst(request, caller.principal.key_id)
    feed = caller.feed
    if intent in FETCHES and feed.method == "ingest":
        raise ApiError.single(
            409,
            "FEED_METHOD_MISMATCH",
            f"Feed {slug} is an ingest feed: {intent} works only on trigger and polling feeds.",
        )
    _check_media_type(request)
    try:
        body = await _read(intent, raw, feed.id_field)
    except RefusedBody as refused:
        log_context(request).items_received = refused.items_received
        raise
    log_context(request).items_received = body.count
    correlation_id = correlation_id_of(request)
    request_bodies, digest = await _request_bodies(request, raw)

    def commit(conn: sqlite3.Connection) -> tuple[bool, Response]:
        queued, given_id = queue.enqueue(
            conn,
            correlation_id=correlation_id,
            account_id=feed.account_id,
            feed=feed.slug,
            intent=intent,
            key_id=caller.principal.key_id,
            key_shown=caller.key_shown,
            body=raw,
            items=body.count,
            at=now(),
            digest=digest,
        )
        # The X-Correlation-Id header names the intent too (the contract middleware reads it).
        request.scope["state"]["correlation_id"] = given_id
        response = json_response({"correlationId": given_id}, status=202)
        seq: int | None = None
        if queued:
            seq = int(
                conn.execute(
                    "SELECT seq FROM intents WHERE correlation_id = ?", (given_id,)
                ).fetchone()[0]
            )
        entry = entry_from_request(
            request,
            feed.account_id,
            feed=feed.slug,
            key_id=caller.principal.key_id,
            key_shown=caller.key_shown,
            intent=intent,
            http_status=202,
            items_received=body.count,
            # A retry (same id, same body) is answered 202 and applied once: a duplicate.
            processing_status="queued" if queued else "duplicate",
            auth_via=caller.principal.via,
            source="intent" if queued else None,
            source_seq=seq,
        )
        bodies = dataclasses.replace(request_bodies, response=capture(bytes(response.body))[0])
        log_id = insert_entry(conn, entry, bodies)
        if seq is not None:
            conn.execute(
                "UPDATE intents SET log_id = ?, request_id = ? WHERE seq = ?",
                (log_id, entry.request_id, seq),
            )
        return queued, response

    queued, response = await database_of(request).run(commit)
    entry_written(request)
    if queued:
        worker: IntentWorker = request.app.state.intent_worker
        worker.wake()
    return response


def _verb(intent: str) -> Any:
    async def endpoint(request: Request) -> Response:
        return await accept_intent(request, intent)

    endpoint.__name__ = "ingest_" + intent.replace("-", "_")
    return endpoint


async def ingest_intent(request: Request) -> Response:
    """POST /ingest/{feed_id}/intent/{intent}: exactly the verb route of `intent`.

    An intent that is not one of the five is 404 NOT_FOUND (field `intent`), before the key
    is looked at, as `/ingest/{feed_id}/{unknown}` is (no such route).
    """
    intent = request.path_params["intent"]
    if intent not in INTENTS:
        raise ApiError.single(
            404,
            "NOT_FOUND",
            f"No intent {intent[:100]!r}; the intents are {', '.join(INTENTS)}.",
            "intent",
        )
    return await accept_intent(request, intent)


async def intent_outcome(request: Request) -> Response:
    """GET /intents/{correlation_id}: the stored outcome of one of the account's intents."""
    correlation_id = request.path_params["correlation_id"]

    def work(conn: sqlite3.Connection, principal: Principal) -> dict[str, Any]:
        found = queue.outcome(conn, principal.account_id, correlation_id)
        if found is None:
            raise not_found("Intent")
        return found

    return json_response(await as_admin(request, work))


routes = [
    *(resource(f"{INGEST}/{intent}", {"POST": _verb(intent)}) for intent in INTENTS),
    resource(INGEST + "/intent/{intent}", {"POST": ingest_intent}),
    resource(OUTCOME, {"GET": intent_outcome}),
]
