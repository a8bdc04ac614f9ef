"""Pipelines of an account: definitions, revisions and metadata.

The definition is checked by `console.definition` (the validator the editor and the
`validate` command share) against the account's own connections and hooks, and stored
three times: as canonical JSON, which decides whether a replace changes anything; as the
text and format it was sent in, which GET returns verbatim when asked for that format;
and converted to the other format, once, so a GET never converts. `check_definition` is
CPU work and runs off the database threads (`checking.py`); the SQL runs on them.
"""

from __future__ import annotations

import json
import sqlite3
import time
from dataclasses import dataclass
from typing import Any, Literal

import yaml

from console.definition import canonical_json, dump_json, dump_yaml, validate_text
from console.definition.model import Catalog, ProblemKind, ValidationResult
from console.sandbox.http.errors import ApiError, Problem, conflict, not_found
from console.sandbox.http.middleware import new_correlation_id
from console.sandbox.http.pagination import NumberedPage
from console.sandbox.logs.model import LogEntry, new_request_id
from console.sandbox.logs.store import insert_entry

DefinitionFormat = Literal["yaml", "json"]
# Problems of the class that decides the status lead the error body (PLATFORM_API order).
_KIND_ORDER = {ProblemKind.PARSE: 0, ProblemKind.SHAPE: 1, ProblemKind.SEMANTICS: 2}

METADATA_COLUMNS = (
    "id, name, status, revision, created_at, updated_at, last_sync_started_at,"
    " last_sync_finished_at, last_error"
)


@dataclass(frozen=True)
class SubmittedDefinition:
    """A definition as a client sent it: its text and its format (yaml or json)."""

    text: str
    format: DefinitionFormat


@dataclass(frozen=True)
class AcceptedDefinition:
    """A definition that passed validation, ready to store."""

    name: str
    canonical: str
    text: str
    format: DefinitionFormat
    # The same document in the other format (JSON for YAML, YAML for JSON), keys in the
    # order they were written; None when only validity was asked for.
    converted: str | None


def catalog_of(conn: sqlite3.Connection, account_id: int) -> Catalog:
    """The account's connection ids by role and its hook ids, for the validator."""
    connections = conn.execute(
        "SELECT id, role FROM connections WHERE account_id = ?", (account_id,)
    ).fetchall()
    hooks = conn.execute("SELECT id FROM hooks WHERE account_id = ?", (account_id,)).fetchall()
    return Catalog(
        source_connection_ids=frozenset(
            int(row["id"]) for row in connections if row["role"] == "source"
        ),
        destination_connection_ids=frozenset(
            int(row["id"]) for row in connections if row["role"] == "destination"
        ),
        hook_ids=frozenset(int(row["id"]) for row in hooks),
    )


def validation_error(result: ValidationResult) -> ApiError:
    """The error response of an invalid definition: every error, the deciding class first."""
    status = result.http_status
    assert status is not None, "only an invalid result has an error response"
    ordered = sorted(result.errors, key=lambda problem: _KIND_ORDER[problem.kind])
    return ApiError(
        status,
        [Problem(problem.kind.code, problem.message, problem.path or None) for problem in ordered],
    )


def check_definition(
    submitted: SubmittedDefinition, catalog: Catalog, *, convert_it: bool = True
) -> AcceptedDefinition:
    """Validate (and convert, unless told not to) a definition; raise its 400 or 422."""
    result = validate_text(submitted.text, format=submitted.format, catalog=catalog)
    if not result.valid or result.document is None:
        raise validation_error(result)
    document = result.document
    return AcceptedDefinition(
        name=str(document["name"]),
        canonical=canonical_json(document),
        text=submitted.text,
        format=submitted.format,
        converted=(
            convert(document, "json" if submitted.format == "yaml" else "yaml")
            if convert_it
            else None
        ),
    )


def convert(document: dict[str, Any], wanted: DefinitionFormat) -> str:
    """A plain definition document as YAML or JSON text."""
    return dump_yaml(document) if wanted == "yaml" else dump_json(document)


def convert_stored(text: str, stored_format: DefinitionFormat, canonical: str) -> str | None:
    """A stored definition in the other format, for rows stored before conversion at write.

    From the text as sent (keys in their written order), else from the canonical JSON;
    None when neither can be read (a corrupt row), so the caller serves the text as sent.
    """
    wanted: DefinitionFormat = "json" if stored_format == "yaml" else "yaml"
    document = validate_text(text, format=stored_format).document
    if document is None:
        try:
            loaded = json.loads(canonical)
        except (ValueError, TypeError, RecursionError):
            return None
        if not isinstance(loaded, dict):
            return None
        document = loaded
    try:
        return convert(document, wanted)
    except (ValueError, TypeError, RecursionError, yaml.YAMLError):
        return None


def pipeline_metadata(row: sqlite3.Row) -> dict[str, Any]:
    """The contract's pipeline metadata."""
    return {
        "id": row["id"],
        "name": row["name"],
        "status": row["status"],
        "revision": row["revision"],
        "created_at": row["created_at"],
        "updated_at": row["updated_at"],
        "last_sync_started_at": row["last_sync_started_at"],
        "last_sync_finished_at": row["last_sync_finished_at"],
        "last_error": row["last_error"],
    }


def find_pipeline(conn: sqlite3.Connection, account_id: int, pipeline_id: int) -> sqlite3.Row:
    """The account's pipeline (every column); 404 for unknown ids and other accounts' ids."""
    row: sqlite3.Row | None = conn.execute(
        "SELECT * FROM pipelines WHERE id = ? AND account_id = ?", (pipeline_id, account_id)
    ).fetchone()
    if row is None:
        raise not_found("Pipeline")
    return row


def list_pipelines(
    conn: sqlite3.Connection, account_id: int, page: NumberedPage, *, include_archived: bool
) -> dict[str, Any]:
    """One page of the account's pipelines, newest (most recently created) first."""
    archived = "" if include_archived else " AND status != 'archived'"
    rows = conn.execute(
        f"SELECT {METADATA_COLUMNS} FROM pipelines WHERE account_id = ?{archived}"
        " ORDER BY id DESC LIMIT ? OFFSET ?",
        (account_id, page.page_size, page.offset),
    ).fetchall()
    return {"data": [pipeline_metadata(row) for row in rows], "pagination": page.as_json()}


def insert_pipeline(
    conn: sqlite3.Connection,
    account_id: int,
    definition: AcceptedDefinition,
    *,
    at: float,
    status: str = "draft",
) -> int:
    """Store a new pipeline (revision 1) and return its id."""
    cursor = conn.execute(
        "INSERT INTO pipelines (account_id, name, status, revision, definition_json,"
        " definition_text, definition_format, definition_converted, created_at, updated_at)"
        " VALUES (?, ?, ?, 1, ?, ?, ?, ?, ?, ?)",
        (
            account_id,
            definition.name,
            status,
            definition.canonical,
            definition.text,
            definition.format,
            definition.converted,
            at,
            at,
        ),
    )
    return int(cursor.lastrowid or 0)


def replace_definition(
    conn: sqlite3.Connection, row: sqlite3.Row, definition: AcceptedDefinition, *, at: float
) -> bool:
    """Apply a new definition (revision + 1); False when it is the same document.

    The same document is a no-op for the pipeline (revision and updated_at stay), but its
    text is kept as sent: comments and layout are the author's, and losing them on a
    "successful" apply would be losing an edit.
    """
    if row["status"] == "archived":
        raise conflict("The pipeline is archived; its definition can no longer change.")
    if definition.canonical == row["definition_json"]:
        conn.execute(
            "UPDATE pipelines SET definition_text = ?, definition_format = ?,"
            " definition_converted = ? WHERE id = ?",
            (definition.text, definition.format, definition.converted, row["id"]),
        )
        return False
    conn.execute(
        "UPDATE pipelines SET name = ?, revision = revision + 1, definition_json = ?,"
        " definition_text = ?, definition_format = ?, definition_converted = ?,"
        " updated_at = ? WHERE id = ?",
        (
            definition.name,
            definition.canonical,
            definition.text,
            definition.format,
            definition.converted,
            at,
            row["id"],
        ),
    )
    return True


# Pipeline events that log a failure (the others log `succeeded`).
FAILURE_EVENTS = frozenset({"pipeline_failed", "sync_failed"})


def record_event(
    conn: sqlite3.Connection,
    pipeline_id: int,
    at: float,
    event: str,
    detail: str | None = None,
    *,
    correlation_id: str | None = None,
    log: bool = True,
) -> int:
    """Write one pipeline event and its connector log entry (intent `pipeline.<event>`),
    in the caller's transaction; the event's id.

    `correlation_id`: the request that caused the event, when there is one (an archive,
    a forced stop); a step that came due by itself gets a fresh one. `log=False` only for
    seeded history (pipelines/demo.py), whose instants lie in the past.
    """
    cursor = conn.execute(
        "INSERT INTO pipeline_events (pipeline_id, timestamp, event, detail) VALUES (?, ?, ?, ?)",
        (pipeline_id, round(at, 3), event, detail),
    )
    event_id = int(cursor.lastrowid or 0)
    if log:
        row = conn.execute(
            "SELECT account_id FROM pipelines WHERE id = ?", (pipeline_id,)
        ).fetchone()
        if row is not None:
            failed = event in FAILURE_EVENTS
            errors = [{"item": None, "field": None, "message": detail}] if failed and detail else []
            insert_entry(
                conn,
                LogEntry(
                    account_id=int(row[0]),
                    timestamp=round(at, 3),
                    request_id=new_request_id(),
                    correlation_id=correlation_id or new_correlation_id(),
                    pipeline_id=str(pipeline_id),
                    intent=f"pipeline.{event}",
                    processing_status="failed" if failed else "succeeded",
                    errors=errors,
                    source="pipeline",
                    source_seq=event_id,
                ),
                None,
                # A due step's instant may lead the clock by the rounding of `now()`.
                at=max(time.time(), at),
            )
    return event_id
