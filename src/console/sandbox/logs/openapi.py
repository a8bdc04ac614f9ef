"""The connector logs part of the hand-written OpenAPI document (see openapi.py)."""

from __future__ import annotations

from typing import Any

from console.sandbox.http.openapi_schemas import (
    LIMIT_PARAMETER,
    NULLABLE_TIMESTAMP,
    TIMESTAMP,
    V1,
    errors,
    json_content,
    page_of,
    ref,
)
from console.sandbox.logs import trace
from console.sandbox.logs.model import BODY_CAPTURE_BYTES, MAX_ENTRY_ERRORS, PROCESSING_STATUSES
from console.sandbox.logs.query import (
    MAX_HTTP_STATUS,
    MAX_ID_LENGTH,
    MAX_NAME_LENGTH,
    MAX_Q_LENGTH,
    MAX_TIME,
    MIN_HTTP_STATUS,
    SCAN_BUDGET,
)

_NULLABLE_TEXT = {"type": ["string", "null"]}
_TIME_PARAMETER = {"type": "number", "minimum": 0, "maximum": MAX_TIME}
_FILTERS: list[dict[str, Any]] = [
    {
        "name": "feed",
        "in": "query",
        "schema": {"type": "string", "maxLength": MAX_NAME_LENGTH},
        "description": "Entries of this feed (stream) id.",
    },
    {
        "name": "pipeline_id",
        "in": "query",
        "schema": {"type": "string", "maxLength": MAX_NAME_LENGTH},
        "description": "Entries of this pipeline.",
    },
    {
        "name": "status",
        "in": "query",
        "schema": {"enum": list(PROCESSING_STATUSES)},
        "description": "Entries whose processing status is this one.",
    },
    {
        "name": "intent",
        "in": "query",
        "schema": {"type": "string", "maxLength": MAX_NAME_LENGTH},
        "description": "Entries of this intent (upsert, ingest, record.create, import, "
        "pipeline.<event>...; docs/api.md, Connector logs).",
    },
    {
        "name": "http_status",
        "in": "query",
        "schema": {"type": "integer", "minimum": MIN_HTTP_STATUS, "maximum": MAX_HTTP_STATUS},
    },
    {
        "name": "since",
        "in": "query",
        "schema": _TIME_PARAMETER,
        "description": "Entries received at or after this Unix time.",
    },
    {
        "name": "until",
        "in": "query",
        "schema": _TIME_PARAMETER,
        "description": "Entries received at or before this Unix time (before `since`: none).",
    },
    {
        "name": "q",
        "in": "query",
        "schema": {"type": "string", "maxLength": MAX_Q_LENGTH},
        "description": "Free text: entries holding every word (letters and digits, case and "
        "accents ignored) in their fields, error messages or the start of their request "
        "body. Without any word, no filter.",
    },
    {
        "name": "id",
        "in": "query",
        "schema": {"type": "string", "maxLength": MAX_ID_LENGTH},
        "description": "A request id, correlation id or idempotency key.",
    },
    {
        "name": "key",
        "in": "query",
        "schema": {"type": "string", "pattern": "^(key_[A-Za-z0-9]{1,60})?$"},
        "description": "Sandbox extension: entries of requests made with this key (its id "
        "as GET /keys lists it), by an index. A server without it ignores the parameter: "
        "check each entry's `key.id` (docs/api.md). Empty: not filtered.",
    },
]
_LIST_PARAMETERS = [
    *_FILTERS,
    LIMIT_PARAMETER,
    {
        "name": "cursor",
        "in": "query",
        "schema": {"type": "string", "maxLength": 120},
        "description": "`pagination.next_cursor` of the previous page, as issued (signed: "
        "anything else is 400, field `cursor`). A page reads at most "
        f"{SCAN_BUDGET:,} index rows past its filters' index: a short, even empty, page "
        "may then still have a next_cursor (keep following it).",
    },
]
_EVENT = {
    "type": "object",
    "properties": {
        "timestamp": NULLABLE_TIMESTAMP,
        "stage": {"enum": ["received", *PROCESSING_STATUSES]},
        "detail": {"type": "string"},
    },
}

LOG_SCHEMAS: dict[str, Any] = {
    "LogEntry": {
        "type": "object",
        "required": ["id", "timestamp", "request_id", "correlation_id", "processing_status"],
        "properties": {
            "id": {"type": "integer", "description": "Also the stream's event id"},
            "timestamp": {**TIMESTAMP, "description": "When the request's headers arrived"},
            "request_id": {"type": "string", "pattern": "^req_"},
            "correlation_id": {"type": "string"},
            "feed": _NULLABLE_TEXT,
            "pipeline_id": _NULLABLE_TEXT,
            "key": {
                "type": ["object", "null"],
                "properties": {
                    "id": {"type": "string"},
                    "shown": {"type": ["string", "null"], "description": "prefix…last4"},
                },
            },
            "method": _NULLABLE_TEXT,
            "path": {**_NULLABLE_TEXT, "description": "Path and query, credentials masked"},
            "intent": _NULLABLE_TEXT,
            "http_status": {"type": ["integer", "null"]},
            "items_received": {"type": "integer"},
            "processing_status": {"enum": list(PROCESSING_STATUSES)},
            "errors": {
                "type": "array",
                "maxItems": MAX_ENTRY_ERRORS,
                "items": {
                    "type": "object",
                    "properties": {
                        "item": {"type": ["integer", "null"]},
                        "field": {"type": ["string", "null"]},
                        "message": {"type": "string"},
                    },
                },
            },
            "error_count": {"type": "integer", "description": "All errors, listed or not"},
            "duration_ms": {"type": ["number", "null"]},
            "client_ip": _NULLABLE_TEXT,
            "auth_via": {"enum": ["header", "query", None]},
            "idempotency_key": _NULLABLE_TEXT,
        },
    },
    "LogDetail": {
        "allOf": [
            ref("LogEntry"),
            {
                "type": "object",
                "properties": {
                    "request_body": {
                        **_NULLABLE_TEXT,
                        "description": f"The first {BODY_CAPTURE_BYTES:,} bytes as text "
                        "(invalid UTF-8 replaced), key secrets masked",
                    },
                    "request_truncated": {"type": "boolean"},
                    "request_bytes": {"type": "integer"},
                    "response_body": _NULLABLE_TEXT,
                    "headers": {"type": "object", "additionalProperties": {"type": "string"}},
                    "events": {"type": "array", "items": _EVENT},
                },
            },
        ]
    },
    "Trace": {
        "type": "object",
        "properties": {
            "data": {
                "type": "object",
                "properties": {
                    "id": {"type": "string"},
                    "matched": {
                        "type": "array",
                        "items": {"enum": list(trace.KINDS)},
                    },
                    "entries": {
                        "type": "array",
                        "maxItems": trace.MAX_ENTRIES,
                        "items": ref("LogEntry"),
                    },
                    "records": {
                        "type": "array",
                        "maxItems": trace.MAX_RECORDS,
                        "items": {
                            "type": "object",
                            "properties": {
                                "feed": {"type": "string"},
                                "guid": {"type": "string"},
                                "system_id": _NULLABLE_TEXT,
                                "deleted": {"enum": [0, 1]},
                                "changes": {
                                    "type": "array",
                                    "items": {
                                        "type": "object",
                                        "properties": {
                                            "timestamp": TIMESTAMP,
                                            "intent": {"type": "string"},
                                            "correlation_id": {"type": "string"},
                                            "request_id": _NULLABLE_TEXT,
                                            "changed": {
                                                "type": "array",
                                                "items": {"type": "string"},
                                            },
                                        },
                                    },
                                },
                            },
                        },
                    },
                    "truncated": {
                        "type": "object",
                        "properties": {
                            "entries": {"type": "boolean"},
                            "records": {"type": "boolean"},
                        },
                    },
                },
            }
        },
    },
}

LOG_PATHS: dict[str, Any] = {
    f"{V1}/logs": {
        "get": {
            "summary": "List the account's connector log entries, newest first",
            "parameters": _LIST_PARAMETERS,
            "responses": {
                "200": json_content(page_of("LogEntry"), "A page of entries"),
                **errors(400),
            },
        },
    },
    f"{V1}/logs/stream": {
        "get": {
            "summary": "New entries matching the filters, as server-sent events",
            "description": (
                "text/event-stream: `id: <start>` with `retry: 2000` (the id after which "
                "entries count as new: resume from it when cut before the first event), "
                "then one `event: log` per new matching "
                "entry, `id:` its log id and `data:` the entry's JSON (ASCII-escaped). Resume "
                "with Last-Event-ID (or ?last_event_id=): every matching entry after it, "
                "once, in order; without it, new entries only. A comment `: keep-alive` "
                'after 15 s of silence. `event: gap` with `data: {"pruned_before": id}` '
                "when entries after Last-Event-ID were pruned. At most 10 open streams per "
                "key (429, Retry-After)."
            ),
            "parameters": [
                *_FILTERS,
                {
                    "name": "Last-Event-ID",
                    "in": "header",
                    "schema": {"type": "string", "pattern": "^[0-9]{1,18}$"},
                },
                {
                    "name": "last_event_id",
                    "in": "query",
                    "schema": {"type": "string", "pattern": "^[0-9]{1,18}$"},
                    "description": "Last-Event-ID for clients that cannot set headers",
                },
            ],
            "responses": {
                "200": {
                    "description": "The event stream (it ends when the client leaves or the "
                    "server stops)",
                    "content": {"text/event-stream": {"schema": {"type": "string"}}},
                },
                **errors(400),
            },
        },
    },
    f"{V1}/logs/{{request_id}}": {
        "get": {
            "summary": "One entry with its bodies, kept headers and timeline",
            "parameters": [
                {
                    "name": "request_id",
                    "in": "path",
                    "required": True,
                    "schema": {"type": "string"},
                    "description": "The entry's request id (`req_...`)",
                }
            ],
            "responses": {
                "200": json_content(ref("LogDetail"), "The entry"),
                **errors(404),
            },
        },
    },
    f"{V1}/trace/{{any_id}}": {
        "get": {
            "summary": "The entries and records a request, correlation or idempotency id, a "
            "record GUID or a system id leads to",
            "parameters": [
                {
                    "name": "any_id",
                    "in": "path",
                    "required": True,
                    "schema": {"type": "string"},
                }
            ],
            "responses": {
                "200": json_content(ref("Trace"), "What the id leads to"),
                **errors(404),
            },
        },
    },
}
