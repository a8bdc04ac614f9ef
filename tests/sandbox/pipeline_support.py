"""Helpers of the pipelines tests: definitions, the account's catalogue, recorded events."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import httpx

from console.definition import Catalog
from console.sandbox.storage.sqlite import database_path

PIPELINES = "/api/public/v1/pipelines"
METADATA_FIELDS = {
    "id",
    "name",
    "status",
    "revision",
    "created_at",
    "updated_at",
    "last_sync_started_at",
    "last_sync_finished_at",
    "last_error",
}


def catalog_of(api: httpx.Client) -> Catalog:
    """The caller's account's connection and hook ids, as the server's validator sees them."""
    connections = api.get("/api/public/v1/connections").json()["data"]
    hooks = api.get("/api/public/v1/hooks").json()["data"]
    return Catalog.of(((c["id"], c["role"]) for c in connections), (h["id"] for h in hooks))


def definition(catalog: Catalog, name: str = "Orders to warehouse", frequency: int = 60) -> str:
    """A valid YAML definition using the account's first source, destination and hook."""
    return f"""\
definition_version: 1
name: {name}
source:
  connection:
    id: {min(catalog.source_connection_ids)}
destination:
  connection:
    id: {min(catalog.destination_connection_ids)}
sync:
  frequency: {frequency}
tables:
  - name: public.orders
  - name: public.customers
    columns:
      exclude: [email]
transformations:
  - type: rename_fields
    table: public.orders
    config:
      fields: {{ord_ts: ordered_at}}
hooks:
  - id: {min(catalog.hook_ids)}
    events: [sync_failed]
"""


def yaml_body(text: str) -> dict[str, Any]:
    """httpx keyword arguments sending `text` as a YAML body."""
    return {"content": text.encode(), "headers": {"Content-Type": "application/yaml"}}


def create_pipeline(api: httpx.Client, text: str) -> dict[str, Any]:
    """POST /pipelines with a YAML definition; return the created metadata."""
    response = api.post(PIPELINES, **yaml_body(text))
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


def error_fields(response: httpx.Response) -> set[str | None]:
    """The `field` of every problem of an error response."""
    return {problem["field"] for problem in response.json()["errors"]}


def events_of(data_dir: Path, pipeline_id: int) -> list[tuple[str, str | None]]:
    """The pipeline's recorded events, oldest first, read straight from the database."""
    conn = sqlite3.connect(database_path(data_dir))
    try:
        rows = conn.execute(
            "SELECT event, detail FROM pipeline_events WHERE pipeline_id = ? ORDER BY id",
            (pipeline_id,),
        ).fetchall()
    finally:
        conn.close()
    return [(str(event), detail) for event, detail in rows]


def event_times(data_dir: Path, pipeline_id: int, event: str) -> list[float]:
    """When each `event` of the pipeline happened, oldest first."""
    conn = sqlite3.connect(database_path(data_dir))
    try:
        rows = conn.execute(
            "SELECT timestamp FROM pipeline_events WHERE pipeline_id = ? AND event = ? ORDER BY id",
            (pipeline_id, event),
        ).fetchall()
    finally:
        conn.close()
    return [float(row[0]) for row in rows]
