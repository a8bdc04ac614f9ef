"""OpenAPI description of the key audit trail extension (GET /keys/{key_id}/events)."""

from __future__ import annotations

from typing import Any

from console.sandbox.http.openapi_schemas import (
    CURSOR_PATTERN,
    LIMIT_PARAMETER,
    NULLABLE_TIMESTAMP,
    TIMESTAMP,
    V1,
    errors,
    json_content,
    page_of,
)
from console.sandbox.keys.events import EVENT_KINDS

_NULLABLE_TEXT = {"type": ["string", "null"]}

KEY_EVENT_SCHEMAS: dict[str, Any] = {
    "KeyEvent": {
        "type": "object",
        "required": ["id", "event", "at", "by", "client_ip"],
        "properties": {
            "id": {"type": "string", "pattern": "^kev_[0-9]+$"},
            "event": {"enum": list(EVENT_KINDS)},
            "at": TIMESTAMP,
            "by": {
                "description": (
                    "The key that made the change (for first_used: the key itself), as id "
                    "and prefix…last4; null for a key made outside the API (mint-key, demo)."
                ),
                "oneOf": [
                    {"type": "null"},
                    {
                        "type": "object",
                        "required": ["id", "shown"],
                        "properties": {"id": {"type": "string"}, "shown": {"type": "string"}},
                    },
                ],
            },
            "client_ip": _NULLABLE_TEXT,
            "auth_via": {"enum": ["header", "query", None]},
            "route": {**_NULLABLE_TEXT, "description": "Method and path of the request"},
            "feed": _NULLABLE_TEXT,
            "related_key_id": {
                **_NULLABLE_TEXT,
                "description": "created: the key it was rotated from; rotated: its successor",
            },
            "expires_at": {
                **NULLABLE_TIMESTAMP,
                "description": "created: the key's expiry; rotated: when the grace ends",
            },
        },
    },
}

KEY_EVENT_PATHS: dict[str, Any] = {
    f"{V1}/keys/{{key_id}}/events": {
        "get": {
            "summary": "A key's audit trail, oldest first (sandbox extension)",
            "description": (
                "created, rotated, revoked and first_used, each with when, by which key and "
                "from where. Never a secret. Paged like every list (`limit` up to 1000, "
                "`cursor` continues after the page's last event)."
            ),
            "parameters": [
                {"name": "key_id", "in": "path", "required": True, "schema": {"type": "string"}},
                LIMIT_PARAMETER,
                {
                    "name": "cursor",
                    "in": "query",
                    "schema": {"type": "string", "pattern": CURSOR_PATTERN, "maxLength": 28},
                    "description": "`pagination.next_cursor` of the previous page, as issued.",
                },
            ],
            "responses": {
                "200": json_content(page_of("KeyEvent"), "A page of the key's events"),
                **errors(400, 404),
            },
        },
    },
}
