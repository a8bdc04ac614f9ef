"""The pipelines part of the hand-written OpenAPI document (see openapi.py)."""

from __future__ import annotations

from typing import Any

from console.common.contract import PIPELINE_STATUSES
from console.definition.schema import definition_json_schema
from console.sandbox.http.openapi_schemas import (
    MAX_QUERY_INTEGER,
    NULLABLE_TIMESTAMP,
    TIMESTAMP,
    V1,
    errors,
    json_content,
    ref,
)

PIPELINES = f"{V1}/pipelines"
ONE = PIPELINES + "/{pipeline_id}"
_YAML = ("application/yaml", "application/x-yaml", "text/yaml")
_ID = {"name": "pipeline_id", "in": "path", "required": True, "schema": {"type": "integer"}}
_ETAG = {
    "ETag": {"description": 'The revision, quoted: "3"', "schema": {"type": "string"}},
}
_DEFINITION_SCHEMA = {
    key: value
    for key, value in definition_json_schema().items()
    if key not in ("$schema", "$id", "title")
}
_DEFINITION_SCHEMA["description"] = (
    "A pipeline definition document (PLATFORM_API.md, Pipelines): this is its shape "
    "(failing it is 422 UNPROCESSABLE). A well-shaped document can still be 400 "
    "VALIDATION_FAILED for rules no schema can state: connection and hook ids must be the "
    "account's own (source and destination of the right role), table names unique, and a "
    "transformation's table listed in `tables`."
)
_DEFINITION_BODY = {
    "required": True,
    "description": "The definition as YAML or JSON (other types: 415). At most 1 MiB.",
    "content": {
        media_type: {"schema": _DEFINITION_SCHEMA} for media_type in ("application/json", *_YAML)
    },
}


def _metadata(description: str, with_etag: bool = True) -> dict[str, Any]:
    response = json_content(ref("Pipeline"), description)
    if with_etag:
        response["headers"] = _ETAG
    return response


def _invalid_definition(*statuses: int, **descriptions: str) -> dict[str, Any]:
    return errors(
        400,
        413,
        415,
        422,
        *statuses,
        s400="INVALID_PAYLOAD (unparseable; the message gives line and column) or "
        "VALIDATION_FAILED (well-shaped but invalid); every problem in `errors`",
        **descriptions,
    )


PIPELINE_SCHEMAS: dict[str, Any] = {
    "Pipeline": {
        "type": "object",
        "properties": {
            "id": {"type": "integer"},
            "name": {"type": "string", "description": "The definition's name"},
            "status": {"enum": list(PIPELINE_STATUSES)},
            "revision": {"type": "integer", "minimum": 1},
            "created_at": TIMESTAMP,
            "updated_at": {**TIMESTAMP, "description": "When the definition last changed"},
            "last_sync_started_at": NULLABLE_TIMESTAMP,
            "last_sync_finished_at": NULLABLE_TIMESTAMP,
            "last_error": {"type": ["string", "null"]},
        },
    },
    "PipelinePage": {
        "type": "object",
        "required": ["data", "pagination"],
        "properties": {
            "data": {"type": "array", "items": ref("Pipeline")},
            "pagination": {
                "type": "object",
                "properties": {
                    "page": {"type": "integer"},
                    "page_size": {"type": "integer", "description": "As used (capped at 100)"},
                },
            },
        },
    },
    "Valid": {"type": "object", "properties": {"valid": {"const": True}}},
}

PIPELINE_PATHS: dict[str, Any] = {
    PIPELINES: {
        "get": {
            "summary": "List the account's pipelines, newest first (page until a short page)",
            "parameters": [
                {
                    "name": "page",
                    "in": "query",
                    "schema": {
                        "type": "integer",
                        "minimum": 1,
                        "maximum": MAX_QUERY_INTEGER,
                        "default": 1,
                    },
                    "description": "1 to 1,000,000; a page past the end is an empty page.",
                },
                {
                    "name": "page_size",
                    "in": "query",
                    "schema": {
                        "type": "integer",
                        "minimum": 1,
                        "maximum": MAX_QUERY_INTEGER,
                        "default": 50,
                    },
                    "description": "1 to 1,000,000; values above 100 are capped at 100 "
                    "(`pagination.page_size` shows the size used).",
                },
                {
                    "name": "include_archived",
                    "in": "query",
                    "schema": {"type": "boolean", "default": False},
                },
            ],
            "responses": {
                "200": json_content(ref("PipelinePage"), "A page of pipelines"),
                **errors(400),
            },
        },
        "post": {
            "summary": "Create a pipeline (status draft, revision 1)",
            "requestBody": _DEFINITION_BODY,
            "responses": {
                "201": _metadata("The new pipeline (Location: its URL)"),
                **_invalid_definition(),
            },
        },
    },
    f"{PIPELINES}/validate": {
        "post": {
            "summary": "Check a new definition like create does; nothing is stored",
            "requestBody": _DEFINITION_BODY,
            "responses": {
                "200": json_content(ref("Valid"), "The definition is valid"),
                **_invalid_definition(),
            },
        },
    },
    ONE: {
        "get": {
            "summary": "Read a pipeline's metadata",
            "parameters": [_ID],
            "responses": {"200": _metadata("The pipeline"), **errors(404)},
        },
        "delete": {
            "summary": "Archive (a deployed pipeline is torn down first; twice is a no-op)",
            "description": (
                "An archive, not an erase: the pipeline and its definition stay readable "
                "(GET answers 200 with status `archived`; the list shows it with "
                "include_archived=true); it can no longer be started or changed (409)."
            ),
            "parameters": [_ID],
            "responses": {"200": _metadata("The archived pipeline"), **errors(404)},
        },
    },
    f"{ONE}/definition": {
        "get": {
            "summary": "Read the definition as JSON (default) or YAML, by Accept",
            "parameters": [_ID],
            "responses": {
                "200": {
                    "description": "The definition (as sent when the format matches)",
                    "headers": _ETAG,
                    "content": {
                        media_type: {"schema": _DEFINITION_SCHEMA}
                        for media_type in ("application/json", "application/yaml")
                    },
                },
                **errors(404),
            },
        },
        "put": {
            "summary": "Replace the definition (revision + 1; the same document is a no-op)",
            "parameters": [
                _ID,
                {
                    "name": "If-Match",
                    "in": "header",
                    "schema": {"type": "string"},
                    "description": 'The revision the edit is based on: "3", 3, W/"3" or *',
                },
            ],
            "requestBody": _DEFINITION_BODY,
            "responses": {
                "200": _metadata("The pipeline at its (possibly unchanged) revision"),
                **_invalid_definition(404, 409, 412, s409="CONFLICT: the pipeline is archived"),
            },
        },
    },
    f"{ONE}/definition/validate": {
        "post": {
            "summary": "Check a replacement definition like replace does; nothing is stored",
            "parameters": [_ID],
            "requestBody": _DEFINITION_BODY,
            "responses": {
                "200": json_content(ref("Valid"), "The definition is valid"),
                **_invalid_definition(404),
            },
        },
    },
    f"{ONE}/start": {
        "post": {
            "summary": "Deploy, then run syncs on the schedule (running/deploying: no-op)",
            "parameters": [_ID],
            "responses": {
                "200": _metadata("The pipeline, now deploying"),
                **errors(404, 409, s409="CONFLICT: archived or stopping"),
            },
        },
    },
    f"{ONE}/stop": {
        "post": {
            "summary": "Stop gracefully, or abandon a running sync with force=true",
            "parameters": [
                _ID,
                {
                    "name": "force",
                    "in": "query",
                    "schema": {"type": "boolean", "default": False},
                },
            ],
            "responses": {
                "200": _metadata("The pipeline, now stopping (or as it was: a no-op)"),
                **errors(400, 404, 409, s409="SYNC_IN_PROGRESS: a sync runs; use force=true"),
            },
        },
    },
}
