"""Connector log entries of requests no route logged itself: refusals and answers without a
writer transaction (docs/api.md, "What the connector log records").

A pure ASGI middleware between the contract middleware and the body limit. For the logged
routes only (`is_logged_route`: the ingest routes, record writes, imports; never a GET) it
keeps the first 64 KiB of the request body as `receive` hands it on and of the response body
as `send` passes it, and when the response has gone out, unless the route wrote its entry in
its own transaction (`LogContext.written`), hands an entry to the `LogSink` (a deque append:
nothing here ever waits for the database). Accepted requests write their entries in their
own transactions (plan "piggyback"); what lands here is mostly 4xx and 5xx.

A 401 is never logged: it belongs to no account. A request refused before authentication
(413 as the body arrives, 404 of an unknown intent, 405) is logged when the key it presented
is a live key: the sink looks it up by the key's hash, never keeping the secret.
"""

from __future__ import annotations

import functools
import json
import logging
import re
import time
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from console.sandbox.http.auth import credentials_of
from console.sandbox.logs.model import BODY_CAPTURE_BYTES, LogBodies, LogContext
from console.sandbox.logs.redact import capture, kept_headers, redact_text
from console.sandbox.logs.request_entry import entry_from_request, log_context
from console.sandbox.logs.sink import LogSink, PendingEntry
from console.sandbox.storage.sqlite import hash_secret

logger = logging.getLogger("console.sandbox")

INTENT_VERBS = ("upsert", "patch", "delete", "fetch", "fetch-list")
_FEEDS = "/api/public/v1/feeds/"
# The scope state key of a logged request's Capture (routes read the request body's head).
CAPTURE_STATE = "log_capture"
# A feed slug from a path is kept up to this many characters.
_MAX_PATH_FEED = 100
_IDEMPOTENCY_KEY = re.compile(r"^[\x20-\x7e]{1,255}$")


@dataclass(frozen=True)
class LoggedRoute:
    """A logged route: its intent label (docs/api.md D9; None when the path names an
    unknown one) and the feed its path names."""

    intent: str | None
    feed: str | None


def logged_route(method: str, path: str) -> LoggedRoute | None:
    """The logged route `method path` goes to, or None when it is not logged.

    POST /ingest/{feed}/{verb}, POST /ingest/{feed}/intent/{intent}, POST /api/ingest,
    POST .../feeds/{feed}/records, PATCH .../records/{guid}, POST .../imports,
    POST .../imports/{id}/cancel (and DELETE .../imports/{id}); never a GET.
    """
    if method not in ("POST", "PATCH", "DELETE"):
        return None
    if path.startswith("/ingest/"):
        parts = path[len("/ingest/") :].split("/")
        if method != "POST" or not parts[0]:
            return None
        feed = redact_text(parts[0][:_MAX_PATH_FEED])
        if len(parts) == 2 and parts[1] in INTENT_VERBS:
            return LoggedRoute(parts[1], feed)
        if len(parts) == 3 and parts[1] == "intent" and parts[2]:
            return LoggedRoute(parts[2] if parts[2] in INTENT_VERBS else None, feed)
        return None
    if path == "/api/ingest":
        return LoggedRoute("ingest", None) if method == "POST" else None
    if not path.startswith(_FEEDS):
        return None
    parts = path[len(_FEEDS) :].split("/")
    if len(parts) < 2 or not parts[0]:
        return None
    feed = redact_text(parts[0][:_MAX_PATH_FEED])
    rest = parts[1:]
    if rest == ["records"] and method == "POST":
        return LoggedRoute("record.create", feed)
    if len(rest) == 2 and rest[0] == "records" and rest[1] and method == "PATCH":
        return LoggedRoute("record.update", feed)
    if rest == ["imports"] and method == "POST":
        return LoggedRoute("import", feed)
    if len(rest) == 3 and rest[0] == "imports" and rest[2] == "cancel" and method == "POST":
        return LoggedRoute("import.cancel", feed)
    if len(rest) == 2 and rest[0] == "imports" and rest[1] and method == "DELETE":
        return LoggedRoute("import.cancel", feed)
    return None


def is_logged_route(method: str, path: str) -> bool:
    """Whether a request to `method path` gets a connector log entry."""
    return logged_route(method, path) is not None


class Capture:
    """What the middleware keeps of one logged request: body heads, status, timing."""

    __slots__ = ("answered_at", "request_bytes", "request_head", "response_head", "status")

    def __init__(self) -> None:
        # One byte over the kept 64 KiB, so `capture` knows the body was cut.
        self.request_head = bytearray()
        self.request_bytes = 0
        self.response_head = bytearray()
        self.status: int | None = None
        self.answered_at: float | None = None

    def request_bodies(self, request: Request, response: bytes | None) -> LogBodies:
        """The bodies a log keeps of this request (masked, cut), with `response`."""
        text, truncated = capture(bytes(self.request_head))
        return LogBodies(
            request=text,
            request_bytes=max(self.request_bytes, _declared_length(request.scope)),
            request_truncated=truncated,
            response=None if response is None else capture(response)[0],
            headers=kept_headers(request.scope.get("headers", [])),
        )


def entry_written(request: Request) -> None:
    """After a commit that inserted the request's own entry: nothing left for the capture,
    and the live tail has news."""
    log_context(request).written = True
    signal = getattr(request.app.state, "log_signal", None)
    if signal is not None:
        signal.notify()


def capture_of(request: Request) -> Capture | None:
    """The request's Capture (None when the middleware does not log its route)."""
    found = request.scope.get("state", {}).get(CAPTURE_STATE)
    return found if isinstance(found, Capture) else None


def _declared_length(scope: Scope) -> int:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return max(int(value), 0)
            except ValueError:
                return 0
    return 0


def _keep(head: bytearray, chunk: bytes) -> None:
    room = BODY_CAPTURE_BYTES + 1 - len(head)
    if room > 0 and chunk:
        head += chunk[:room]


def _errors_of(body: bytes) -> tuple[list[dict[str, Any]], int]:
    """The problems of a contract error body as entry errors, and how many there were."""
    try:
        document = json.loads(body)
    except ValueError:
        return [], 0
    if not isinstance(document, dict) or not isinstance(document.get("errors"), list):
        return [], 0
    errors = [
        {
            "item": None,
            "field": redact_text(str(problem["field"])) if problem.get("field") else None,
            "message": redact_text(str(problem.get("message", ""))),
        }
        for problem in document["errors"]
        if isinstance(problem, dict)
    ]
    omitted = document.get("errors_omitted")
    return errors, len(errors) + (omitted if isinstance(omitted, int) else 0)


def _status_of(http_status: int) -> str:
    if http_status >= 500:
        return "failed"
    if http_status >= 400:
        return "rejected"
    return "succeeded"


class LogCapture:
    """Hands the log entry of every logged request no route logged itself to the sink."""

    def __init__(self, app: ASGIApp, sink: LogSink) -> None:
        self.app = app
        self.sink = sink

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Handle one ASGI connection scope."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        route = logged_route(scope["method"], scope["path"])
        if route is None:
            await self.app(scope, receive, send)
            return
        kept = Capture()
        scope.setdefault("state", {})[CAPTURE_STATE] = kept

        async def tee_receive() -> Message:
            message = await receive()
            if message["type"] == "http.request":
                chunk = message.get("body", b"")
                kept.request_bytes += len(chunk)
                _keep(kept.request_head, chunk)
            return message

        async def tee_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                kept.status = int(message["status"])
                kept.answered_at = time.perf_counter()
            elif message["type"] == "http.response.body":
                _keep(kept.response_head, message.get("body", b""))
            await send(message)

        try:
            await self.app(scope, tee_receive, tee_send)
        except Exception:
            if kept.status is None:
                # The contract middleware answers 500 for it.
                kept.status = 500
                kept.answered_at = time.perf_counter()
            self._submit(scope, route, kept)
            raise
        self._submit(scope, route, kept)

    def _submit(self, scope: Scope, route: LoggedRoute, kept: Capture) -> None:
        """Hand the request's entry to the sink unless it needs none (never raises)."""
        try:
            pending = _pending_entry(scope, route, kept)
        except Exception:
            logger.exception("could not build a connector log entry")
            return
        if pending is not None:
            self.sink.submit(pending)


def _pending_entry(scope: Scope, route: LoggedRoute, kept: Capture) -> PendingEntry | None:
    """The entry of a request no route logged, or None (logged already, 401, no answer)."""
    state = scope.get("state", {})
    context = state.get("log")
    if not isinstance(context, LogContext) or context.written:
        return None
    if kept.status is None or kept.status == 401 or "request_id" not in state:
        return None
    request = Request(scope)
    key_hash: str | None = None
    auth_via = context.auth_via
    if context.account_id is None:
        credentials = credentials_of(request)
        if credentials is None or credentials.refusal or not credentials.secret:
            return None
        key_hash = hash_secret(credentials.secret)
        auth_via = credentials.via
    response = bytes(kept.response_head[:BODY_CAPTURE_BYTES])
    errors = context.errors
    error_count: int | None = None
    if errors is None:
        errors, error_count = _errors_of(response) if kept.status >= 400 else ([], 0)
    started = state.get("started")
    duration = None
    if isinstance(started, float) and kept.answered_at is not None:
        duration = (kept.answered_at - started) * 1000
    idempotency_key = context.idempotency_key
    if idempotency_key is None:
        sent = request.headers.get("idempotency-key")
        if sent is not None and _IDEMPOTENCY_KEY.match(sent):
            idempotency_key = redact_text(sent)
    entry = entry_from_request(
        request,
        context.account_id if context.account_id is not None else 0,
        feed=context.feed or route.feed,
        pipeline_id=context.pipeline_id,
        key_id=context.key_id,
        key_shown=context.key_shown,
        intent=context.intent or route.intent,
        http_status=kept.status,
        items_received=context.items_received,
        processing_status=context.processing_status or _status_of(kept.status),
        errors=errors,
        error_count=error_count,
        duration_ms=duration,
        auth_via=auth_via,
        idempotency_key=idempotency_key,
    )
    # The bodies are masked later, on a worker thread (the sink's flush), not on the loop.
    return PendingEntry(
        entry,
        None,
        key_hash,
        bodies_later=functools.partial(kept.request_bodies, request, response),
        size=len(kept.request_head) + len(response),
    )
