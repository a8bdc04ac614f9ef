"""Building blocks of the hand-written OpenAPI document, shared by its per-resource parts."""

from __future__ import annotations

from typing import Any

V1 = "/api/public/v1"
TIMESTAMP = {"type": "number", "description": "Unix seconds, UTC, millisecond precision"}
NULLABLE_TIMESTAMP = {**TIMESTAMP, "type": ["number", "null"]}
# Query integers (limit, page, page_size) range from 1 to 1,000,000 (http/pagination.py).
MAX_QUERY_INTEGER = 1_000_000
# What `pagination.encode_cursor` issues: unpadded URL-safe base64 of "v1:" + 1 to 18 digits.
# "v1:" is three bytes ("djE6"); each three digits make four characters, and one or two
# trailing digits make two or three (tests/sandbox/test_openapi.py checks it both ways).
_DIGIT_PAIR = "(?:M[DTjz]|N[DTjz]|O[DT])"
_THREE_DIGITS = _DIGIT_PAIR + "[AEIMQUYcgk][w-z0-5]"
_TAIL = f"(?:{_DIGIT_PAIR}[AEIMQUYcgk]|(?:M[AQgw]|N[AQgw]|O[AQ]))"
# Empty means no cursor: the first page.
CURSOR_PATTERN = f"^(?:djE6(?:(?:{_THREE_DIGITS}){{1,6}}|(?:{_THREE_DIGITS}){{0,5}}{_TAIL}))?$"

_ERROR_DESCRIPTIONS = {
    400: "INVALID_PAYLOAD or VALIDATION_FAILED",
    401: "UNAUTHORIZED: missing, unknown, revoked or expired key",
    403: "FORBIDDEN: an ingest key",
    404: "NOT_FOUND: unknown id or another account's id",
    408: "REQUEST_TIMEOUT: the body stalled",
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


# The limit of every paged list (keys, feeds, records, a record's history).
LIMIT_PARAMETER: dict[str, Any] = {
    "name": "limit",
    "in": "query",
    "schema": {"type": "integer", "minimum": 1, "maximum": MAX_QUERY_INTEGER, "default": 100},
    "description": "Page size, 1 to 1,000,000; values above 1000 are capped at 1000.",
}


def page_of(item: str) -> dict[str, Any]:
    """A page of `item`s with the cursor of the next page."""
    return {
        "type": "object",
        "required": ["data", "pagination"],
        "properties": {
            "data": {"type": "array", "items": ref(item)},
            "pagination": {
                "type": "object",
                "properties": {"next_cursor": {"type": ["string", "null"]}},
            },
        },
    }
