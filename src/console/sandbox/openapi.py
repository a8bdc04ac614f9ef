"""The hand-written OpenAPI 3.1 description served at /openapi.json.

Starlette does not derive one from the routes, so tests/sandbox/test_openapi.py checks
that this document and the app's routes name the same paths and methods.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from console.sandbox.http.openapi_schemas import (
    CURSOR_PATTERN,
    LIMIT_PARAMETER,
    NULLABLE_TIMESTAMP,
    TIMESTAMP,
    V1,
    body,
    errors,
    json_content,
    page_of,
    ref,
)
from console.sandbox.http.responses import ContractJSONResponse, json_response
from console.sandbox.imports.openapi import IMPORT_PATHS, IMPORT_SCHEMAS
from console.sandbox.ingest.openapi import STREAM_PATHS, STREAM_SCHEMAS
from console.sandbox.intents.openapi import INTENT_PATHS, INTENT_SCHEMAS
from console.sandbox.keys.openapi import KEY_EVENT_PATHS, KEY_EVENT_SCHEMAS
from console.sandbox.logs.openapi import LOG_PATHS, LOG_SCHEMAS
from console.sandbox.pipelines.openapi import PIPELINE_PATHS, PIPELINE_SCHEMAS
from console.sandbox.records.openapi import RECORD_PATHS, RECORD_SCHEMAS

_PAGE_PARAMETERS = [
    LIMIT_PARAMETER,
    {
        "name": "cursor",
        "in": "query",
        "schema": {"type": "string", "pattern": CURSOR_PATTERN, "maxLength": 28},
        "description": (
            "`pagination.next_cursor` of the previous page, as issued: unpadded URL-safe "
            "base64 of `v1:` and a row position of 1 to 18 digits. The pattern admits "
            "exactly those; anything else is 400 VALIDATION_FAILED (field `cursor`). Empty "
            "means the first page. A cursor stays valid while rows are added."
        ),
    },
]
# Names and field names: 1 to 100 characters, not all whitespace (stored trimmed).
_TEXT_RULE = "1 to 100 characters, not all whitespace; stored trimmed."
# Whitespace as Python's str.strip() sees it, spelled out: `\s` differs between regex
# engines (ECMA's lacks \x1c-\x1f and \x85 and adds \ufeff).
_WHITESPACE = r"\t-\r \x1c-\x1f\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
TEXT: dict[str, Any] = {
    "type": "string",
    "minLength": 1,
    "maxLength": 100,
    "pattern": f"[^{_WHITESPACE}]",
    "description": _TEXT_RULE,
}
_KEY_ID = {"name": "key_id", "in": "path", "required": True, "schema": {"type": "string"}}


def _list_of(item: str) -> dict[str, Any]:
    return {"type": "object", "properties": {"data": {"type": "array", "items": ref(item)}}}


SCHEMAS: dict[str, Any] = {
    "Problem": {
        "type": "object",
        "required": ["code", "message", "field"],
        "properties": {
            "code": {"type": "string"},
            "message": {"type": "string"},
            "field": {"type": ["string", "null"]},
        },
    },
    "Error": {
        "type": "object",
        "required": ["success", "error", "errors", "correlation_id"],
        "properties": {
            "success": {"const": False},
            "error": ref("Problem"),
            "errors": {"type": "array", "items": ref("Problem"), "maxItems": 100},
            "errors_omitted": {
                "type": "integer",
                "minimum": 1,
                "description": "Problems found beyond the 100 listed (absent when none)",
            },
            "correlation_id": {"type": "string"},
        },
    },
    "Key": {
        "type": "object",
        "properties": {
            "id": {"type": "string", "pattern": "^key_[A-Za-z0-9]{24}$"},
            "name": {"type": "string"},
            "kind": {"enum": ["admin", "ingest"]},
            "prefix": {"enum": ["fdk_", "ik_live_"]},
            "last4": {"type": "string"},
            "feed": {"type": ["string", "null"]},
            "created_at": TIMESTAMP,
            "expires_at": NULLABLE_TIMESTAMP,
            "last_used_at": NULLABLE_TIMESTAMP,
            "revoked_at": NULLABLE_TIMESTAMP,
            "rotated_from": {"type": ["string", "null"]},
            "status": {
                "enum": ["active", "expiring", "expired", "revoked"],
                "description": "expiring: expires within 7 days",
            },
        },
    },
    "KeyWithSecret": {
        "allOf": [
            ref("Key"),
            {
                "type": "object",
                "properties": {
                    "secret": {
                        "type": "string",
                        "description": "Shown in this response only; never stored.",
                    }
                },
            },
        ]
    },
    "CreateKey": {
        "type": "object",
        "additionalProperties": False,
        "required": ["name", "kind"],
        "properties": {
            "name": TEXT,
            "kind": {"enum": ["admin", "ingest"]},
            "feed": {
                "type": ["string", "null"],
                "description": (
                    "Required for ingest keys: an existing feed of the account (else 400, "
                    "field `feed`); absent or null for admin keys."
                ),
            },
            "expires_at": {
                **NULLABLE_TIMESTAMP,
                "exclusiveMaximum": 253_402_300_800,
                "description": (
                    "Null or absent: never. Otherwise a time after the request arrives and "
                    "before the year 10000 (else 400 VALIDATION_FAILED); a "
                    "time already past is 400 VALIDATION_FAILED (field `expires_at`). The "
                    "bound moves with the clock, so no static minimum can state it."
                ),
            },
        },
    },
    "RotateKey": {
        "type": "object",
        "additionalProperties": False,
        "description": (
            "An empty (or all-whitespace) body counts as {}, with no Content-Type or a JSON "
            "one; any other Content-Type is 415 even when the body is empty."
        ),
        "properties": {
            "grace_seconds": {"type": "integer", "minimum": 0, "maximum": 604800, "default": 0}
        },
    },
    "Feed": {
        "type": "object",
        "properties": {
            "id": {"type": "string", "pattern": "^[a-z0-9][a-z0-9-]{0,62}$"},
            "name": {"type": "string"},
            "method": {"enum": ["ingest", "trigger", "polling"]},
            "id_field": {"type": "string"},
            "record_count": {"type": "integer"},
            "created_at": TIMESTAMP,
        },
    },
    "CreateFeed": {
        "type": "object",
        "additionalProperties": False,
        "required": ["id", "name", "method"],
        "properties": {
            "id": {"type": "string", "pattern": "^[a-z0-9][a-z0-9-]{0,62}$"},
            "name": TEXT,
            "method": {"enum": ["ingest", "trigger", "polling"]},
            "id_field": {
                **TEXT,
                "default": "id",
                "description": "The record field naming each record: " + _TEXT_RULE,
            },
        },
    },
    "Connection": {
        "type": "object",
        "properties": {
            "id": {"type": "integer"},
            "name": {"type": "string"},
            "role": {"enum": ["source", "destination"]},
            "type": {"type": "string"},
        },
    },
    "Hook": {
        "type": "object",
        "properties": {"id": {"type": "integer"}, "name": {"type": "string"}},
    },
}

PATHS: dict[str, Any] = {
    f"{V1}/keys": {
        "get": {
            "summary": "List the account's API keys, newest first, revoked ones included",
            "parameters": _PAGE_PARAMETERS,
            "responses": {"200": json_content(page_of("Key"), "A page of keys"), **errors(400)},
        },
        "post": {
            "summary": "Create an API key",
            "requestBody": body(ref("CreateKey")),
            "responses": {
                "201": json_content(ref("KeyWithSecret"), "The key and its secret"),
                **errors(400, 415, 422),
            },
        },
    },
    f"{V1}/keys/{{key_id}}": {
        "get": {
            "summary": "Read one key's metadata",
            "parameters": [_KEY_ID],
            "responses": {"200": json_content(ref("Key"), "The key"), **errors(404)},
        },
        "delete": {
            "summary": "Revoke a key at once (revoking twice is a no-op)",
            "description": (
                "A revoke, not an erase: the key never authenticates again, but its "
                "metadata stays readable (GET /keys/{key_id} and the list answer 200 with "
                "status `revoked`), as the contract's audit trail needs."
            ),
            "parameters": [_KEY_ID],
            "responses": {"200": json_content(ref("Key"), "The revoked key"), **errors(404)},
        },
    },
    f"{V1}/keys/{{key_id}}/rotate": {
        "post": {
            "summary": "Replace a key; the old one expires after grace_seconds",
            "parameters": [_KEY_ID],
            "requestBody": body(ref("RotateKey"), required=False),
            "responses": {
                "201": json_content(ref("KeyWithSecret"), "The successor key and its secret"),
                **errors(400, 404, 409, 415, 422),
            },
        },
    },
    f"{V1}/feeds": {
        "get": {
            "summary": "List the account's feeds, newest first",
            "parameters": _PAGE_PARAMETERS,
            "responses": {"200": json_content(page_of("Feed"), "A page of feeds"), **errors(400)},
        },
        "post": {
            "summary": "Create a feed",
            "requestBody": body(ref("CreateFeed")),
            "responses": {
                "201": json_content(ref("Feed"), "The feed"),
                **errors(400, 409, 415, 422),
            },
        },
    },
    f"{V1}/connections": {
        "get": {
            "summary": "List the account's connections (read-only)",
            "responses": {"200": json_content(_list_of("Connection"), "Connections"), **errors()},
        },
    },
    f"{V1}/hooks": {
        "get": {
            "summary": "List the account's hooks (read-only)",
            "responses": {"200": json_content(_list_of("Hook"), "Hooks"), **errors()},
        },
    },
    "/openapi.json": {
        "get": {
            "summary": "This document (no authentication)",
            "security": [],
            "responses": {"200": {"description": "The OpenAPI document"}},
        },
    },
}

DOCUMENT: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {
        "title": "Integration Console sandbox platform API",
        "version": "1",
        "description": (
            "The embedded sandbox's implementation of the platform contract. Every response "
            "carries X-Correlation-Id and X-RateLimit-Limit/-Remaining/-Reset. Keys may also "
            "be sent as ?apiKey= or ?access_token=; the Authorization header wins."
        ),
    },
    "components": {
        "schemas": {
            **SCHEMAS,
            **PIPELINE_SCHEMAS,
            **RECORD_SCHEMAS,
            **INTENT_SCHEMAS,
            **IMPORT_SCHEMAS,
            **STREAM_SCHEMAS,
            **LOG_SCHEMAS,
            **KEY_EVENT_SCHEMAS,
        },
        "securitySchemes": {
            "bearer": {"type": "http", "scheme": "bearer"},
            "apiKey": {"type": "apiKey", "in": "query", "name": "apiKey"},
            "access_token": {"type": "apiKey", "in": "query", "name": "access_token"},
        },
    },
    "security": [{"bearer": []}, {"apiKey": []}, {"access_token": []}],
    "paths": {
        **PATHS,
        **PIPELINE_PATHS,
        **RECORD_PATHS,
        **INTENT_PATHS,
        **IMPORT_PATHS,
        **STREAM_PATHS,
        **LOG_PATHS,
        **KEY_EVENT_PATHS,
    },
}


def document_for(routes: Iterable[BaseRoute]) -> dict[str, Any]:
    """The document above, listing only the paths among `routes` (`serve --only`)."""
    routed = {route.path for route in routes if isinstance(route, Route)}
    if routed.issuperset(DOCUMENT["paths"]):
        return DOCUMENT
    paths = {path: item for path, item in DOCUMENT["paths"].items() if path in routed}
    return {**DOCUMENT, "paths": paths}


async def openapi_document(request: Request) -> Response:
    """GET /openapi.json: the document above, for the parts this server offers."""
    body = getattr(request.app.state, "openapi_body", None)
    if body is None:
        # Rendered once: the console reads it on every connect (capability discovery),
        # and encoding its ~160 KB each time cost more than the rest of the answer.
        body = request.app.state.openapi_body = json_response(document_for(request.app.routes)).body
    return Response(bytes(body), media_type=ContractJSONResponse.media_type)
