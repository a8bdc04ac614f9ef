"""The hand-written OpenAPI 3.1 description served at /openapi.json.

Starlette does not derive one from the routes, so tests/sandbox/test_openapi.py checks
that this document and the app's routes name the same paths and methods.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from console.sandbox.responses import json_response

V1 = "/api/public/v1"
_TIMESTAMP = {"type": "number", "description": "Unix seconds, UTC, millisecond precision"}
_NULLABLE_TIMESTAMP = {**_TIMESTAMP, "type": ["number", "null"]}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _errors(*statuses: int) -> dict[str, Any]:
    # Every authenticated route can answer 401 and 429.
    descriptions = {
        400: "INVALID_PAYLOAD or VALIDATION_FAILED",
        401: "UNAUTHORIZED: missing, unknown, revoked or expired key",
        403: "FORBIDDEN: an ingest key",
        404: "NOT_FOUND: unknown id or another account's id",
        409: "CONFLICT",
        415: "UNSUPPORTED_MEDIA_TYPE",
        422: "UNPROCESSABLE: unknown keys, missing keys or wrong types",
        429: "RATE_LIMITED (with Retry-After)",
    }
    return {
        str(status): _json(_ref("Error"), descriptions[status])
        for status in sorted({401, 403, 429, *statuses})
    }


_PAGE_PARAMETERS = [
    {
        "name": "limit",
        "in": "query",
        "schema": {"type": "integer", "minimum": 1, "default": 100},
        "description": "Page size; values above 1000 are capped at 1000.",
    },
    {"name": "cursor", "in": "query", "schema": {"type": "string"}},
]
_KEY_ID = {"name": "key_id", "in": "path", "required": True, "schema": {"type": "string"}}


def _page_of(item: str) -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["data", "pagination"],
        "properties": {
            "data": {"type": "array", "items": _ref(item)},
            "pagination": {
                "type": "object",
                "properties": {"next_cursor": {"type": ["string", "null"]}},
            },
        },
    }


def _list_of(item: str) -> dict[str, Any]:
    return {"type": "object", "properties": {"data": {"type": "array", "items": _ref(item)}}}


def _body(schema: dict[str, Any], required: bool = True) -> dict[str, Any]:
    return {"required": required, "content": {"application/json": {"schema": schema}}}


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
            "error": _ref("Problem"),
            "errors": {"type": "array", "items": _ref("Problem")},
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
            "created_at": _TIMESTAMP,
            "expires_at": _NULLABLE_TIMESTAMP,
            "last_used_at": _NULLABLE_TIMESTAMP,
            "revoked_at": _NULLABLE_TIMESTAMP,
            "rotated_from": {"type": ["string", "null"]},
            "status": {
                "enum": ["active", "expiring", "expired", "revoked"],
                "description": "expiring: expires within 7 days",
            },
        },
    },
    "KeyWithSecret": {
        "allOf": [
            _ref("Key"),
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
            "name": {"type": "string", "minLength": 1, "maxLength": 100},
            "kind": {"enum": ["admin", "ingest"]},
            "feed": {"type": ["string", "null"], "description": "Required for ingest keys."},
            "expires_at": {**_NULLABLE_TIMESTAMP, "description": "In the future."},
        },
    },
    "RotateKey": {
        "type": "object",
        "additionalProperties": False,
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
            "created_at": _TIMESTAMP,
        },
    },
    "CreateFeed": {
        "type": "object",
        "additionalProperties": False,
        "required": ["id", "name", "method"],
        "properties": {
            "id": {"type": "string", "pattern": "^[a-z0-9][a-z0-9-]{0,62}$"},
            "name": {"type": "string", "minLength": 1, "maxLength": 100},
            "method": {"enum": ["ingest", "trigger", "polling"]},
            "id_field": {"type": "string", "default": "id"},
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
            "responses": {"200": _json(_page_of("Key"), "A page of keys"), **_errors(400)},
        },
        "post": {
            "summary": "Create an API key",
            "requestBody": _body(_ref("CreateKey")),
            "responses": {
                "201": _json(_ref("KeyWithSecret"), "The key and its secret"),
                **_errors(400, 415, 422),
            },
        },
    },
    f"{V1}/keys/{{key_id}}": {
        "get": {
            "summary": "Read one key's metadata",
            "parameters": [_KEY_ID],
            "responses": {"200": _json(_ref("Key"), "The key"), **_errors(404)},
        },
        "delete": {
            "summary": "Revoke a key at once (revoking twice is a no-op)",
            "parameters": [_KEY_ID],
            "responses": {"200": _json(_ref("Key"), "The revoked key"), **_errors(404)},
        },
    },
    f"{V1}/keys/{{key_id}}/rotate": {
        "post": {
            "summary": "Replace a key; the old one expires after grace_seconds",
            "parameters": [_KEY_ID],
            "requestBody": _body(_ref("RotateKey"), required=False),
            "responses": {
                "201": _json(_ref("KeyWithSecret"), "The successor key and its secret"),
                **_errors(400, 404, 409, 415, 422),
            },
        },
    },
    f"{V1}/feeds": {
        "get": {
            "summary": "List the account's feeds, newest first",
            "parameters": _PAGE_PARAMETERS,
            "responses": {"200": _json(_page_of("Feed"), "A page of feeds"), **_errors(400)},
        },
        "post": {
            "summary": "Create a feed",
            "requestBody": _body(_ref("CreateFeed")),
            "responses": {
                "201": _json(_ref("Feed"), "The feed"),
                **_errors(400, 409, 415, 422),
            },
        },
    },
    f"{V1}/connections": {
        "get": {
            "summary": "List the account's connections (read-only)",
            "responses": {"200": _json(_list_of("Connection"), "Connections"), **_errors()},
        },
    },
    f"{V1}/hooks": {
        "get": {
            "summary": "List the account's hooks (read-only)",
            "responses": {"200": _json(_list_of("Hook"), "Hooks"), **_errors()},
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
        "schemas": SCHEMAS,
        "securitySchemes": {
            "bearer": {"type": "http", "scheme": "bearer"},
            "apiKey": {"type": "apiKey", "in": "query", "name": "apiKey"},
            "access_token": {"type": "apiKey", "in": "query", "name": "access_token"},
        },
    },
    "security": [{"bearer": []}, {"apiKey": []}, {"access_token": []}],
    "paths": PATHS,
}


async def openapi_document(request: Request) -> Response:
    """GET /openapi.json: the document above."""
    return json_response(DOCUMENT)
