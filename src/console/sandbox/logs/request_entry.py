"""Building a request's log entry from what the contract middleware and the route know."""

from __future__ import annotations

import time
from typing import Any

from starlette.requests import Request

from console.sandbox.logs.model import LogBodies, LogContext, LogEntry
from console.sandbox.logs.redact import capture, kept_headers, redact_path


def log_context(request: Request) -> LogContext:
    """The request's LogContext (set by ContractMiddleware; a fresh one outside it)."""
    state = request.scope.setdefault("state", {})
    context = state.get("log")
    if not isinstance(context, LogContext):
        context = state["log"] = LogContext()
    return context


def entry_from_request(request: Request, account_id: int, **fields: Any) -> LogEntry:
    """A LogEntry of this request: its ids, time, method, masked path and client filled in.

    `fields` sets the rest (feed, key_id, key_shown, intent, http_status, items_received,
    processing_status, errors, auth_via, idempotency_key, source, source_seq, ...).
    `duration_ms` defaults to the time since the request arrived.
    """
    state = request.scope.get("state", {})
    client = request.scope.get("client")
    started = state.get("started")
    fields.setdefault(
        "duration_ms",
        (time.perf_counter() - started) * 1000 if isinstance(started, float) else None,
    )
    return LogEntry(
        account_id=account_id,
        timestamp=float(state.get("received_at") or time.time()),
        request_id=str(state["request_id"]),
        correlation_id=str(state["correlation_id"]),
        method=request.scope.get("method"),
        path=redact_path(
            request.scope.get("path", ""),
            request.scope.get("query_string", b"").decode("latin-1"),
        ),
        client_ip=client[0] if client else None,
        **fields,
    )


def bodies_from_request(request: Request, raw: bytes, response: bytes | None) -> LogBodies:
    """What a log keeps of this request's body, response body and headers (masked, cut)."""
    request_text, truncated = capture(raw)
    response_text = capture(response)[0] if response is not None else None
    return LogBodies(
        request=request_text,
        request_bytes=len(raw),
        request_truncated=truncated,
        response=response_text,
        headers=kept_headers(request.scope.get("headers", [])),
    )
