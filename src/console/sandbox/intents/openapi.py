"""The intents part of the hand-written OpenAPI document (see openapi.py)."""

from __future__ import annotations

from typing import Any

from console.sandbox.http.openapi_schemas import (
    NULLABLE_TIMESTAMP,
    TIMESTAMP,
    V1,
    errors,
    json_content,
    ref,
)
from console.sandbox.intents.validation import INTENTS, MAX_ITEMS
from console.sandbox.records.store import MAX_SYSTEM_ID_LENGTH

_FEED_ID = {
    "name": "feed_id",
    "in": "path",
    "required": True,
    "schema": {"type": "string", "pattern": "^[a-z0-9][a-z0-9-]{0,62}$"},
    "description": "The feed's id (slug). Unknown, another account's, or not the ingest "
    "key's own feed: 404 FEED_NOT_FOUND.",
}
_SYSTEM_ID = {
    "anyOf": [
        {"type": "string", "minLength": 1, "maxLength": MAX_SYSTEM_ID_LENGTH},
        {"type": "integer"},
    ],
    "description": f"A record's system id: 1 to {MAX_SYSTEM_ID_LENGTH} characters, or an "
    f"integer of at most {MAX_SYSTEM_ID_LENGTH} digits (stored as its decimal text).",
}
_ITEM = {
    "type": "object",
    "required": ["id"],
    "properties": {"id": _SYSTEM_ID},
    "description": "A record (upsert) or a JSON merge patch of one (patch), carrying the "
    "feed's `id_field` (here `id`, the default; a feed may name another field).",
}
_ITEMS = {
    "oneOf": [
        _ITEM,
        {"type": "array", "minItems": 1, "maxItems": MAX_ITEMS, "items": _ITEM},
    ]
}
_ONE_ID = {
    "type": "object",
    "additionalProperties": False,
    "required": ["id"],
    "properties": {"id": _SYSTEM_ID},
}
_MANY_IDS = {
    "type": "object",
    "additionalProperties": False,
    "required": ["ids"],
    "properties": {
        "ids": {"type": "array", "minItems": 1, "maxItems": MAX_ITEMS, "items": _SYSTEM_ID}
    },
}
# The body each intent takes (the generic route takes the one its `intent` names).
BODY_SCHEMAS: dict[str, dict[str, Any]] = {
    "upsert": _ITEMS,
    "patch": _ITEMS,
    "delete": {"oneOf": [_ONE_ID, _MANY_IDS]},
    "fetch": _ONE_ID,
    "fetch-list": _MANY_IDS,
}
_SUMMARIES = {
    "upsert": "Queue an upsert of one record or an array of them",
    "patch": "Queue a JSON merge patch of one record or an array of them",
    "delete": "Queue a soft delete (archive) of one record or several",
    "fetch": "Queue a fetch of one record from the connector source (trigger/polling feeds)",
    "fetch-list": "Queue a fetch of several records from the connector source",
}
_ACCEPTED = {
    "202": json_content(
        ref("IntentAccepted"),
        "Committed to the durable queue: the intent will be applied exactly once, even if "
        "the server is killed now. Its outcome: GET /api/public/v1/intents/{correlationId}.",
    ),
}
_INGEST_ERRORS = errors(
    400,
    404,
    409,
    415,
    s400="INVALID_PAYLOAD: not strict JSON, the wrong shape, a missing or invalid id "
    f"(`field` names it, e.g. `[3].id`), or more than {MAX_ITEMS:,} items",
    s403="FORBIDDEN: never on ingest routes (ingest keys are welcome on their own feed)",
    s404="FEED_NOT_FOUND: unknown feed, another account's, or not the ingest key's feed",
    s409="FEED_METHOD_MISMATCH: fetch or fetch-list on an ingest feed; CONFLICT: a "
    "client X-Correlation-Id that already names another intent",
    s429="RATE_LIMITED: over the per-IP limit or the key's ingest burst (Retry-After)",
)


def _ingest(intent: str) -> dict[str, Any]:
    return {
        "post": {
            "summary": _SUMMARIES[intent],
            "parameters": [_FEED_ID],
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": BODY_SCHEMAS[intent]}},
            },
            "responses": {**_ACCEPTED, **_INGEST_ERRORS},
        }
    }


INTENT_SCHEMAS: dict[str, Any] = {
    "IntentAccepted": {
        "type": "object",
        "required": ["correlationId"],
        "additionalProperties": False,
        "properties": {
            "correlationId": {
                "type": "string",
                "description": "The request's correlation id (also its X-Correlation-Id)",
            }
        },
    },
    "IntentOutcome": {
        "type": "object",
        "required": [
            "correlation_id",
            "feed",
            "intent",
            "status",
            "received_at",
            "items_received",
            "errors",
            "records",
        ],
        "properties": {
            "correlation_id": {"type": "string"},
            "feed": {"type": "string"},
            "intent": {"enum": [*INTENTS, "poll"]},
            "key": {
                "type": ["object", "null"],
                "description": "The key that sent it (null for a scheduled poll)",
                "properties": {
                    "id": {"type": "string"},
                    "shown": {"type": "string", "description": "prefix…last4"},
                },
            },
            "status": {"enum": ["queued", "processing", "succeeded", "partially_failed", "failed"]},
            "received_at": TIMESTAMP,
            "started_at": NULLABLE_TIMESTAMP,
            "finished_at": NULLABLE_TIMESTAMP,
            "items_received": {"type": "integer", "minimum": 0},
            "items_done": {
                "type": "integer",
                "minimum": 0,
                "description": "Items applied so far (a large intent is applied in chunks)",
            },
            "errors": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "item": {
                            "type": ["integer", "null"],
                            "description": "0-based index in the request; null: the whole intent",
                        },
                        "field": {"type": ["string", "null"]},
                        "message": {"type": "string"},
                    },
                },
            },
            "records": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "item": {
                            "type": "integer",
                            "minimum": 0,
                            "description": "0-based index of the item in the request "
                            "(extension, docs/api.md)",
                        },
                        "guid": {"type": ["string", "null"]},
                        "system_id": {"type": ["string", "null"]},
                        "action": {
                            "enum": ["created", "updated", "unchanged", "archived", "restored"]
                        },
                    },
                },
            },
        },
    },
}

INTENT_PATHS: dict[str, Any] = {
    **{f"/ingest/{{feed_id}}/{intent}": _ingest(intent) for intent in INTENTS},
    "/ingest/{feed_id}/intent/{intent}": {
        "post": {
            "summary": "Queue any intent: exactly the verb route `intent` names",
            "description": "The body is the one the named intent takes (a rule of the path "
            "that one schema cannot state: below is their union). An intent that is not one "
            "of the five: 404 NOT_FOUND, field `intent`.",
            "parameters": [
                _FEED_ID,
                {
                    "name": "intent",
                    "in": "path",
                    "required": True,
                    "schema": {"enum": list(INTENTS)},
                },
            ],
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {
                        "schema": {"anyOf": [BODY_SCHEMAS[intent] for intent in INTENTS]}
                    }
                },
            },
            "responses": {**_ACCEPTED, **_INGEST_ERRORS},
        }
    },
    f"{V1}/intents/{{correlation_id}}": {
        "get": {
            "summary": "The outcome of an intent (extension; admin keys of its account)",
            "parameters": [
                {
                    "name": "correlation_id",
                    "in": "path",
                    "required": True,
                    "schema": {"type": "string"},
                }
            ],
            "responses": {
                "200": json_content(ref("IntentOutcome"), "The intent's status and outcome"),
                **errors(404),
            },
        }
    },
}
