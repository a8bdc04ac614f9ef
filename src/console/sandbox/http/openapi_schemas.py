"""Building blocks of the hand-written OpenAPI document, shared by its per-resource parts."""

from __future__ import annotations

from typing import Any

V1 = "/api/public/v1"
TIMESTAMP = {"type": "number", "description": "Unix seconds, UTC, millisecond precision"}
NULLABLE_TIMESTAMP = {**TIMESTAMP, "type": ["number", "null"]}

_ERROR_DESCRIPTIONS = {
    400: "INVALID_PAYLOAD or VALIDATION_FAILED",
    401: "UNAUTHORIZED: missing, unknown, revoked or expired key",
    403: "FORBIDDEN: an ingest key",
    404: "NOT_FOUND: unknown id or another account's id",
    409: "CONFLICT",
    412: "PRECONDITION_FAILED: If-Match names another revision",
    413: "PAYLOAD_TOO_LARGE: a body over 1,048,576 bytes (every route)",
    415: "UNSUPPORTED_MEDIA_TYPE",
    422: "UNPROCESSABLE: unknown keys, missing keys or wrong types",
    429: "RATE_LIMITED (with Retry-After)",
}


def ref(name: str) -> dict[str, str]:
    """A reference to a schema of the document's components."""
    return {"$ref": f"#/components/schemas/{name}"}


def json_content(schema: dict[str, Any], description: str) -> dict[str, Any]:
    """A response with a JSON body of `schema`."""
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def errors(*statuses: int, **descriptions: str) -> dict[str, Any]:
    """Error responses: `statuses` plus the 401, 403, 413 and 429 every authenticated route has.

    A keyword `s409="..."` overrides the description of that status.
    """
    return {
        str(status): json_content(
            ref("Error"), descriptions.get(f"s{status}", _ERROR_DESCRIPTIONS[status])
        )
        for status in sorted({401, 403, 413, 429, *statuses})
    }


def body(schema: dict[str, Any], required: bool = True) -> dict[str, Any]:
    """A JSON request body of `schema`."""
    return {"required": required, "content": {"application/json": {"schema": schema}}}
