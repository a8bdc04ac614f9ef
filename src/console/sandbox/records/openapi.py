"""The records part of the hand-written OpenAPI document (see openapi.py)."""

from __future__ import annotations

from typing import Any

from console.sandbox.http.openapi_schemas import (
    CURSOR_PATTERN,
    LIMIT_PARAMETER,
    TIMESTAMP,
    V1,
    body,
    errors,
    json_content,
    page_of,
    ref,
)
from console.sandbox.records.query import (
    MAX_FIELD_FILTERS,
    MAX_FIELD_NAME,
    MAX_FIELD_VALUE,
    MAX_GUID_LENGTH,
    MAX_KEYS,
    MAX_Q_LENGTH,
    MAX_VERSION,
)
from console.sandbox.records.store import INTENTS, MAX_CHANGED_FIELDS, MAX_SYSTEM_ID_LENGTH

FEED = f"{V1}/feeds/{{feed_id}}"
RECORDS = FEED + "/records"
_FEED_ID = {
    "name": "feed_id",
    "in": "path",
    "required": True,
    "schema": {"type": "string"},
    "description": "The feed's id (slug); another account's feed is 404 FEED_NOT_FOUND",
}
_GUID = {
    "name": "guid",
    "in": "path",
    "required": True,
    "schema": {"type": "string"},
    "description": "The record's GUID (an unknown one is 404 NOT_FOUND)",
}
_NOT_FOUND = "FEED_NOT_FOUND (unknown feed) or NOT_FOUND (unknown record)"
_SYSTEM_ID = {
    "oneOf": [
        {"type": "string", "minLength": 1, "maxLength": MAX_SYSTEM_ID_LENGTH},
        {"type": "integer"},
    ],
    "description": (
        f"The value of the feed's id field: a string of 1 to {MAX_SYSTEM_ID_LENGTH} characters "
        "or an integer (served as its decimal text)"
    ),
}
_MARK = {
    "type": ["object", "null"],
    "properties": {
        "at": TIMESTAMP,
        "key_id": {"type": "string"},
        "key": {"type": "string", "description": "The key's prefix…last4"},
        "correlation_id": {"type": "string"},
    },
}
_LIST_PARAMETERS: list[dict[str, Any]] = [
    {
        "name": "q",
        "in": "query",
        "schema": {"type": "string", "maxLength": MAX_Q_LENGTH},
        "description": "Full text over the data's values (docs/api.md, Records: freshness)",
    },
    {
        "name": "guid",
        "in": "query",
        "schema": {"type": "string", "maxLength": MAX_GUID_LENGTH},
    },
    {
        "name": "system_id",
        "in": "query",
        "schema": {"type": "string", "maxLength": MAX_SYSTEM_ID_LENGTH},
    },
    {
        "name": "version",
        "in": "query",
        "schema": {"type": "integer", "minimum": 0, "maximum": MAX_VERSION},
        "description": "Records whose version (integer Unix second of the last update) is at "
        "least this",
    },
    {
        "name": "deleted",
        "in": "query",
        "schema": {"enum": ["0", "1", "all"], "default": "0"},
    },
    {
        "name": "order",
        "in": "query",
        "schema": {"enum": ["-updated_at", "updated_at"], "default": "-updated_at"},
    },
    LIMIT_PARAMETER,
    {
        "name": "cursor",
        "in": "query",
        "schema": {"type": "string", "maxLength": 200},
        "description": "`pagination.next_cursor` of the previous page with the same order, "
        "as issued (signed: anything else is 400, field `cursor`).",
    },
]
# The keys' and feeds' paging (openapi.py): a history page is numbered like theirs.
_PAGE_PARAMETERS: list[dict[str, Any]] = [
    LIMIT_PARAMETER,
    {
        "name": "cursor",
        "in": "query",
        "schema": {"type": "string", "pattern": CURSOR_PATTERN, "maxLength": 28},
        "description": "`pagination.next_cursor` of the previous page, as issued.",
    },
]
_FIELD_FILTERS = (
    f"Field filters: `data.NAME=VALUE` (NAME 1 to {MAX_FIELD_NAME} characters, VALUE at most "
    f"{MAX_FIELD_VALUE}, at most {MAX_FIELD_FILTERS} names) keep the records whose data has a "
    "top-level scalar NAME equal to VALUE (strings as they are, numbers and true/false/null "
    "as JSON text); several combine with AND."
)

RECORD_SCHEMAS: dict[str, Any] = {
    "HistoryEntry": {
        "type": "object",
        "required": ["timestamp", "intent", "correlation_id", "key", "changed"],
        "properties": {
            "timestamp": TIMESTAMP,
            "intent": {"enum": list(INTENTS)},
            "correlation_id": {"type": "string"},
            "key": {
                "type": "object",
                "properties": {
                    "id": {"type": "string"},
                    "shown": {"type": "string", "description": "prefix…last4"},
                },
            },
            "changed": {
                "type": "array",
                "items": {"type": "string"},
                "maxItems": MAX_CHANGED_FIELDS,
                "description": "The top-level data fields the change added, removed or "
                "altered, plus `deleted` for an archive or restore",
            },
        },
    },
    "Record": {
        "type": "object",
        "required": [
            "guid",
            "system_id",
            "deleted",
            "version",
            "created_at",
            "updated_at",
            "data",
            "last_correlation_id",
        ],
        "properties": {
            "guid": {"type": "string"},
            "system_id": {"type": ["string", "null"]},
            "deleted": {"enum": [0, 1]},
            "version": {"type": "integer", "description": "int(updated_at)"},
            "created_at": TIMESTAMP,
            "updated_at": TIMESTAMP,
            "data": {"type": "object"},
            "last_correlation_id": {"type": ["string", "null"]},
            "archived": {**_MARK, "description": "The last archive: who, when, through what"},
            "restored": {**_MARK, "description": "The last restore: who, when, through what"},
        },
    },
    "UpsertRecord": {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "guid": {
                "type": ["string", "null"],
                "description": "Update this record (404 when the feed has none such)",
            },
            "system_id": {**_SYSTEM_ID, "oneOf": [*_SYSTEM_ID["oneOf"], {"type": "null"}]},
            "deleted": {"enum": [0, 1, None]},
            "data": {
                "type": ["object", "null"],
                "description": "The record's data, whole (its id field is kept equal to the "
                "system id)",
            },
        },
    },
    "PatchRecord": {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "data": {
                "type": ["object", "null"],
                "description": "A JSON merge patch (RFC 7396) of the data: null removes a "
                "field, arrays are replaced whole",
            },
            "deleted": {"enum": [0, 1, None]},
        },
    },
}


RECORD_PATHS: dict[str, Any] = {
    RECORDS + "/keys": {
        "get": {
            "summary": "The top-level data keys seen in the feed's records, sorted",
            "description": f"At most {MAX_KEYS} keys; a record's keys appear once the "
            "background indexer has seen it (docs/api.md, Records).",
            "parameters": [_FEED_ID],
            "responses": {
                "200": json_content(
                    {
                        "type": "object",
                        "required": ["data"],
                        "properties": {
                            "data": {
                                "type": "array",
                                "items": {"type": "string"},
                                "maxItems": MAX_KEYS,
                            }
                        },
                    },
                    "The keys",
                ),
                **errors(404, s404="FEED_NOT_FOUND"),
            },
        },
    },
    RECORDS + "/{guid}/history": {
        "get": {
            "summary": "A record's history of changes, newest first",
            "parameters": [_FEED_ID, _GUID, *_PAGE_PARAMETERS],
            "responses": {
                "200": json_content(page_of("HistoryEntry"), "A page of history entries"),
                **errors(400, 404, s404=_NOT_FOUND),
            },
        },
    },
    FEED: {
        "get": {
            "summary": "Read one feed (with its record_count)",
            "parameters": [_FEED_ID],
            "responses": {
                "200": json_content(ref("Feed"), "The feed"),
                **errors(404, s404="FEED_NOT_FOUND"),
            },
        },
    },
    RECORDS: {
        "get": {
            "summary": "List a feed's records, newest first by default (keyset paging)",
            "description": _FIELD_FILTERS,
            "parameters": [_FEED_ID, *_LIST_PARAMETERS],
            "responses": {
                "200": json_content(page_of("Record"), "A page of records"),
                **errors(400, 404, s404="FEED_NOT_FOUND"),
            },
        },
        "post": {
            "summary": "Upsert a record: by guid, else by system_id; else create",
            "parameters": [_FEED_ID],
            "requestBody": body(ref("UpsertRecord")),
            "responses": {
                "200": json_content(ref("Record"), "The updated record"),
                "201": json_content(ref("Record"), "The created record"),
                **errors(400, 404, 409, 415, 422, s404=_NOT_FOUND, s409="DUPLICATE_SYSTEM_ID"),
            },
        },
    },
    RECORDS + "/{guid}": {
        "get": {
            "summary": "Read one record (archived ones too)",
            "parameters": [_FEED_ID, _GUID],
            "responses": {
                "200": json_content(ref("Record"), "The record"),
                **errors(404, s404=_NOT_FOUND),
            },
        },
        "patch": {
            "summary": "Merge-patch a record's data and/or set deleted (archive, restore)",
            "parameters": [_FEED_ID, _GUID],
            "requestBody": body(ref("PatchRecord")),
            "responses": {
                "200": json_content(ref("Record"), "The record"),
                **errors(400, 404, 409, 415, 422, s404=_NOT_FOUND, s409="DUPLICATE_SYSTEM_ID"),
            },
        },
    },
}
