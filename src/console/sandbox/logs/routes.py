"""/api/public/v1/logs, /logs/stream, /logs/{request_id} and /trace/{any_id} (admin keys).

Ingest keys are 403; another account's ids are 404, like unknown ones. Reads run on
read-only connections; the stream is fed by the server's one LogTail (logs/tail.py).
"""

from __future__ import annotations

import sqlite3
from typing import Any

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.types import Receive, Scope, Send

from console.sandbox.http.auth import Principal
from console.sandbox.http.errors import ApiError, Problem, invalid, not_found, validation_failed
from console.sandbox.http.payload import shown_key
from console.sandbox.http.responses import json_response
from console.sandbox.http.routing import as_admin, resource
from console.sandbox.logs import query, trace
from console.sandbox.logs.query import LogFilter
from console.sandbox.logs.tail import LogTail, events, start_stream
from console.sandbox.settings import LogSettings

V1 = "/api/public/v1"
LOGS = f"{V1}/logs"
# A Last-Event-ID is a log id: at most 18 digits.
_MAX_EVENT_ID_DIGITS = 18
# A client refused for having too many streams open may try again after this long.
STREAMS_RETRY_AFTER = 5
_EVENT_STREAM = "text/event-stream; charset=utf-8"
# No cache may keep a stream, and no proxy may buffer it.
_STREAM_HEADERS = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}


async def list_logs(request: Request) -> Response:
    """GET /logs: one page of the account's entries matching the filters, newest first."""

    def work(conn: sqlite3.Connection, principal: Principal) -> dict[str, Any]:
        log_query = query.parse_log_query(request.query_params, conn, principal.account_id)
        return query.list_page(conn, principal.account_id, log_query)

    return json_response(await as_admin(request, work))


async def get_log(request: Request) -> Response:
    """GET /logs/{request_id}: the entry, its bodies, kept headers and timeline."""
    request_id = request.path_params["request_id"]

    def work(conn: sqlite3.Connection, principal: Principal) -> dict[str, Any]:
        entry = None
        if len(request_id) <= query.MAX_ID_LENGTH:
            entry = query.detail(conn, principal.account_id, request_id)
        if entry is None:
            raise not_found(f"Log entry {shown_key(request_id)!r}")
        return entry

    return json_response(await as_admin(request, work))


async def get_trace(request: Request) -> Response:
    """GET /trace/{any_id}: the entries and records a request, correlation or idempotency
    id, a record GUID or a system id leads to."""
    any_id = request.path_params["any_id"]

    def work(conn: sqlite3.Connection, principal: Principal) -> dict[str, Any]:
        found = None
        if 0 < len(any_id) <= trace.MAX_ID_LENGTH:
            found = trace.trace(conn, principal.account_id, any_id)
        if found is None:
            raise not_found(f"Anything with id {shown_key(any_id)!r}")
        return found

    return json_response(await as_admin(request, work))


def _last_event_id(request: Request, problems: list[Problem]) -> int | None:
    """The id a reconnecting client last received: the Last-Event-ID header, else the
    `last_event_id` parameter (for clients that cannot set headers); None: new entries."""
    header = request.headers.get("last-event-id")
    name, text = (
        ("Last-Event-ID", header)
        if header is not None
        else (
            "last_event_id",
            request.query_params.get("last_event_id"),
        )
    )
    if text is None or text.strip() == "":
        return None
    text = text.strip()
    if not (text.isascii() and text.isdigit() and len(text) <= _MAX_EVENT_ID_DIGITS):
        problems.append(invalid(name, f"{name} must be a log id: an integer of 1 to 18 digits."))
        return None
    return int(text)


class EventStream(StreamingResponse):
    """A text/event-stream response that frees its key's stream slot however it ends."""

    def __init__(self, content: Any, release: Any) -> None:
        super().__init__(content, media_type=_EVENT_STREAM, headers=_STREAM_HEADERS)
        self._release = release

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Stream until the client leaves or the server stops, then free the slot."""
        try:
            await super().__call__(scope, receive, send)
        finally:
            self._release()


async def stream_logs(request: Request) -> Response:
    """GET /logs/stream: new entries matching the filters as server-sent events."""
    tail: LogTail = request.app.state.log_tail
    settings: LogSettings = request.app.state.settings.logs

    def work(
        conn: sqlite3.Connection, principal: Principal
    ) -> tuple[Principal, LogFilter, int | None]:
        problems: list[Problem] = []
        log_filter = query.parse_filter(request.query_params, problems)
        last_id = _last_event_id(request, problems)
        if problems:
            raise validation_failed(problems)
        return principal, log_filter, last_id

    principal, log_filter, last_id = await as_admin(request, work)
    if request.method == "HEAD":  # the headers a GET would have; no stream to hold open
        return Response(media_type=_EVENT_STREAM, headers=_STREAM_HEADERS)
    if not tail.open_stream(principal.key_id, settings.streams_per_key):
        raise ApiError.single(
            429,
            "RATE_LIMITED",
            f"This key already has {settings.streams_per_key} log streams open; close one "
            f"or retry after {STREAMS_RETRY_AFTER} s.",
            headers={"Retry-After": str(STREAMS_RETRY_AFTER)},
        )
    try:
        # Subscribed and the start fixed before the headers go out: a client that sees the
        # stream open (and then reads what came before) misses no entry in between.
        start = await start_stream(
            tail, principal.account_id, log_filter, last_id, settings.stream_queue
        )
    except BaseException:
        tail.close_stream(principal.key_id)
        raise
    body = events(
        tail,
        principal.account_id,
        log_filter,
        start,
        queue_size=settings.stream_queue,
        heartbeat_seconds=settings.heartbeat_seconds,
    )

    def release() -> None:
        if start.subscription is not None:
            tail.unsubscribe(start.subscription)  # also when the body never ran
        tail.close_stream(principal.key_id)

    return EventStream(body, release)


routes = [
    resource(LOGS, {"GET": list_logs}),
    # Before /logs/{request_id}: the first route whose path matches answers.
    resource(LOGS + "/stream", {"GET": stream_logs}),
    resource(LOGS + "/{request_id}", {"GET": get_log}),
    resource(V1 + "/trace/{any_id}", {"GET": get_trace}),
]
