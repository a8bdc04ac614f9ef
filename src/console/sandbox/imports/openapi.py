"""The import routes' part of the hand-written OpenAPI document (docs/api.md, Imports)."""

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
from console.sandbox.imports.routes import (
    DRY_RUN_ROWS,
    MAX_DRY_RUN_ROWS,
    MAX_ID_FIELD,
    MAX_START_ROW,
)
from console.sandbox.imports.store import MAX_STORED_ERRORS

_FEED_ID = {"name": "feed_id", "in": "path", "required": True, "schema": {"type": "string"}}
_IMPORT_ID = {"name": "import_id", "in": "path", "required": True, "schema": {"type": "string"}}
_STATUSES = [
    "queued",
    "running",
    "succeeded",
    "partially_failed",
    "failed",
    "cancelled",
    "interrupted",
]
_COUNT = {"type": "integer", "minimum": 0}

IMPORT_SCHEMAS: dict[str, Any] = {
    "ImportForm": {
        "type": "object",
        "additionalProperties": False,
        "required": ["file", "format"],
        "properties": {
            "file": {
                "type": "string",
                "contentMediaType": "application/octet-stream",
                "description": (
                    "The CSV (UTF-8, header row, `name[i]` columns as arrays) or NDJSON (one "
                    "object per line) file. A CSV header that cannot be used (no columns, a "
                    "repeated or empty name, over 1,000 columns, a gap in `name[i]`) is 400 "
                    "VALIDATION_FAILED with field `file`; bad rows are row errors."
                ),
            },
            "format": {"enum": ["csv", "ndjson"]},
            "id_field": {
                "type": "string",
                "maxLength": MAX_ID_FIELD,
                "description": "The field naming each record; empty or absent: the feed's.",
            },
            "dry_run": {"enum": ["true", "false", "1", "0"], "default": "false"},
            "dry_run_rows": {
                "type": "integer",
                "minimum": 1,
                "maximum": MAX_DRY_RUN_ROWS,
                "default": DRY_RUN_ROWS,
            },
            "start_row": {
                "type": "integer",
                "minimum": 1,
                "maximum": MAX_START_ROW,
                "default": 1,
                "description": "The 1-based data row to start at (resume: last_row + 1).",
            },
        },
    },
    "ImportAccepted": {
        "type": "object",
        "required": ["import_id", "correlation_id"],
        "properties": {"import_id": {"type": "string"}, "correlation_id": {"type": "string"}},
    },
    "ImportRowError": {
        "type": "object",
        "required": ["row", "field", "message"],
        "properties": {
            "row": {
                "type": ["integer", "null"],
                "description": "1-based data row; null: the import as a whole",
            },
            "field": {"type": ["string", "null"]},
            "message": {"type": "string"},
        },
    },
    "Import": {
        "type": "object",
        "required": [
            "import_id",
            "correlation_id",
            "status",
            "total",
            "processed",
            "failed",
            "errors",
            "last_row",
        ],
        "properties": {
            "import_id": {"type": "string"},
            "correlation_id": {"type": "string"},
            "feed": {"type": "string"},
            "status": {"enum": _STATUSES},
            "format": {"enum": ["csv", "ndjson"]},
            "id_field": {"type": "string"},
            "start_row": {"type": "integer", "minimum": 1},
            "total": {**_COUNT, "description": "Data rows in the file"},
            "processed": _COUNT,
            "failed": _COUNT,
            "created": _COUNT,
            "updated": _COUNT,
            "unchanged": _COUNT,
            "last_row": {
                **_COUNT,
                "description": "The last data row done; resume with start_row = last_row + 1",
            },
            "errors": {
                "type": "array",
                "items": ref("ImportRowError"),
                "maxItems": MAX_STORED_ERRORS,
            },
            "errors_omitted": _COUNT,
            "created_at": TIMESTAMP,
            "started_at": NULLABLE_TIMESTAMP,
            "finished_at": NULLABLE_TIMESTAMP,
        },
    },
    "ImportDryRun": {
        "type": "object",
        "required": ["would_create", "would_update", "would_reject", "rows"],
        "properties": {
            "would_create": _COUNT,
            "would_update": _COUNT,
            "would_reject": _COUNT,
            "rows": {
                "type": "array",
                "maxItems": MAX_DRY_RUN_ROWS,
                "items": {
                    "type": "object",
                    "required": ["row", "action", "system_id"],
                    "properties": {
                        "row": {"type": "integer", "minimum": 1},
                        "action": {"enum": ["create", "update", "reject"]},
                        "system_id": {"type": ["string", "null"]},
                        "field": {"type": ["string", "null"]},
                        "message": {"type": "string"},
                    },
                },
            },
        },
    },
}

_IMPORTS = f"{V1}/feeds/{{feed_id}}/imports"
IMPORT_PATHS: dict[str, Any] = {
    _IMPORTS: {
        "post": {
            "summary": "Import a CSV or NDJSON file of records (or dry-run its first rows)",
            "description": (
                "The body is streamed to disk as it arrives, up to the import cap (1 GiB by "
                "default, `sandbox serve --import-max-bytes`); 202 once the file is on disk "
                "and the import queued. With dry_run=true: 200 with what the first "
                "dry_run_rows rows would do, changing nothing."
            ),
            "parameters": [_FEED_ID],
            "requestBody": {
                "required": True,
                "content": {"multipart/form-data": {"schema": ref("ImportForm")}},
            },
            "responses": {
                "200": json_content(ref("ImportDryRun"), "The dry run's answer"),
                "202": json_content(ref("ImportAccepted"), "Queued"),
                **errors(
                    400,
                    404,
                    408,
                    415,
                    s404="FEED_NOT_FOUND",
                    s408="REQUEST_TIMEOUT: the upload sent no byte for 10 s",
                    s413="PAYLOAD_TOO_LARGE: over the import cap (1 GiB by default)",
                ),
            },
        },
    },
    f"{_IMPORTS}/{{import_id}}": {
        "get": {
            "summary": "An import's status, progress and row errors",
            "parameters": [_FEED_ID, _IMPORT_ID],
            "responses": {"200": json_content(ref("Import"), "The import"), **errors(404)},
        },
    },
    f"{_IMPORTS}/{{import_id}}/cancel": {
        "post": {
            "summary": "Cancel an import at its next batch boundary (no-op once finished)",
            "parameters": [_FEED_ID, _IMPORT_ID],
            "responses": {"200": json_content(ref("Import"), "The import"), **errors(404)},
        },
    },
}
