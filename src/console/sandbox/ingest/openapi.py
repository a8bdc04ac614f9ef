"""The stream ingestion part of the hand-written OpenAPI document (see openapi.py)."""

from __future__ import annotations

from typing import Any

from console.sandbox.http.openapi_schemas import errors, json_content, ref
from console.sandbox.ingest.idempotency import MAX_IDEMPOTENCY_KEY
from console.sandbox.ingest.routes import INGEST_PATH, MAX_ITEM_KEY, REPLAYED_HEADER
from console.sandbox.intents.openapi import BODY_SCHEMAS
from console.sandbox.intents.validation import MAX_ITEMS

# Whitespace as Python's str.strip() sees it (as openapi.py's TEXT spells it out).
_WHITESPACE = r"\t-\r \x1c-\x1f\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"

_PARAMETERS: list[dict[str, Any]] = [
    {
        "name": "stream",
        "in": "query",
        "required": False,
        "schema": {"type": "string", "pattern": "^[a-z0-9][a-z0-9-]{0,62}$"},
        "description": "The stream (feed id). An ingest key's stream is its feed: another "
        "name is 404 STREAM_NOT_FOUND. An admin key must name a feed of its account "
        "(absent, unknown or another account's: 404 STREAM_NOT_FOUND).",
    },
    {
        "name": "X-Item-Key",
        "in": "header",
        "required": False,
        "schema": {
            "type": "string",
            "minLength": 1,
            "maxLength": MAX_ITEM_KEY,
            "pattern": f"[^{_WHITESPACE}]",
        },
        "description": "The item field naming each item (default: the feed's id field): "
        f"a feed's id_field rule, 1 to {MAX_ITEM_KEY} characters, not all whitespace "
        "(else 400 VALIDATION_FAILED, field `X-Item-Key`). Every item must carry it "
        "(else 400 INVALID_PAYLOAD, field e.g. `[2].sku`).",
    },
    {
        "name": "Idempotency-Key",
        "in": "header",
        "required": False,
        "schema": {
            "type": "string",
            "minLength": 1,
            "maxLength": MAX_IDEMPOTENCY_KEY,
            "pattern": f"^[\\x20-\\x7e]{{1,{MAX_IDEMPOTENCY_KEY}}}$",
        },
        "description": f"1 to {MAX_IDEMPOTENCY_KEY} characters of printable ASCII (else 400 "
        "VALIDATION_FAILED, field `Idempotency-Key`). The same key again from the same API "
        "key within 24 hours, whatever its body: 202 with the first request's body byte for "
        f"byte and `{REPLAYED_HEADER}: true`; nothing is processed again.",
    },
]

STREAM_SCHEMAS: dict[str, Any] = {
    "StreamAccepted": {
        "type": "object",
        "required": ["success", "data"],
        "additionalProperties": False,
        "properties": {
            "success": {"const": True},
            "data": {
                "type": "object",
                "required": ["stream", "items_received", "request_id"],
                "additionalProperties": False,
                "properties": {
                    "stream": {"type": "string"},
                    "items_received": {"type": "integer", "minimum": 1, "maximum": MAX_ITEMS},
                    "request_id": {"type": "string", "pattern": "^req_[A-Za-z0-9]{26}$"},
                },
            },
        },
    },
}

STREAM_PATHS: dict[str, Any] = {
    INGEST_PATH: {
        "post": {
            "summary": "Push one item or an array of them into a stream (Inspire-style)",
            "description": "Stored durably before the 202 and applied as upserts of the "
            "stream's records (docs/api.md, Stream ingestion).",
            "parameters": _PARAMETERS,
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": BODY_SCHEMAS["upsert"]}},
            },
            "responses": {
                "202": {
                    **json_content(
                        ref("StreamAccepted"),
                        "Committed (intent, log entry and Idempotency-Key together); or the "
                        "first request's 202 again for a repeated Idempotency-Key.",
                    ),
                    "headers": {
                        REPLAYED_HEADER: {
                            "description": "`true` on a replay of an Idempotency-Key",
                            "schema": {"const": "true"},
                        },
                        "X-Request-Id": {
                            "description": "The request id (`data.request_id` of a first 202)",
                            "schema": {"type": "string"},
                        },
                    },
                },
                **errors(
                    400,
                    404,
                    415,
                    s400="VALIDATION_FAILED: a bad X-Item-Key or Idempotency-Key header "
                    "(`field` names it); INVALID_PAYLOAD: not strict JSON, the wrong shape, "
                    "an item without its item key (`field` names the index, e.g. `[2].sku`), "
                    f"or more than {MAX_ITEMS:,} items",
                    s403="FORBIDDEN: never on this route",
                    s404="STREAM_NOT_FOUND: no stream named (admin key), an unknown one, "
                    "another account's, or not the ingest key's own",
                    s429="RATE_LIMITED: over the per-IP limit or the key's ingest burst "
                    "(Retry-After)",
                ),
            },
        }
    }
}
