"""Demo pipelines for `sandbox serve --demo`: one in each interesting state, with history.

Each definition is a YAML file as an admin would keep it under version control, filled
with the demo account's real connection and hook ids and checked by the same validator
as the API uses, so the demo can never show a definition the server would refuse.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

from console.sandbox.pipelines.store import (
    SubmittedDefinition,
    catalog_of,
    check_definition,
    insert_pipeline,
    record_event,
)

DAY = 24 * 3600.0
HOUR = 3600.0


@dataclass(frozen=True)
class DemoPipeline:
    """One demo pipeline: its definition template, state and history."""

    template: str
    status: str
    age_days: float
    revision: int = 1
    # When its last simulated sync started (none for drafts).
    last_sync_days_ago: float = 1 / 24
    # Seconds from now until its next simulated sync (running pipelines only).
    next_sync_in: float | None = None
    last_error: str | None = None


_ORDERS = """\
# Managed in git: data-platform/pipelines/orders-to-warehouse.yaml
definition_version: 1
name: Orders to warehouse
source:
  connection:
    id: {postgres}
destination:
  connection:
    id: {snowflake}
sync:
  frequency: 60
  auto_sync_new_tables: true
tables:
  - name: public.orders
  - name: public.order_items
    append_only: true
  - name: public.customers
    columns:
      exclude: [email, phone]
transformations:
  - type: rename_fields
    table: public.orders
    config:
      fields: {{ord_ts: ordered_at}}
hooks:
  - id: {slack}
    events: [sync_failed, pipeline_failed]
"""

_CATALOGUE = """\
definition_version: 1
name: Shop catalogue to BigQuery
source:
  connection:
    id: {mysql}
destination:
  connection:
    id: {bigquery}
sync:
  source_frequency: 30
  destination_frequency: 120
tables:
  - name: shop.products
  - name: shop.inventory
    columns:
      include: [sku, quantity, updated_at]
transformations:
  - type: toggle_case
    table: shop.products
    config:
      case: lower
"""

_ACCOUNTS = """\
definition_version: 1
name: Salesforce accounts to data lake
source:
  connection:
    id: {salesforce}
destination:
  connection:
    id: {s3}
sync:
  frequency: 1440
tables:
  - name: Account
  - name: Opportunity
    append_only: true
hooks:
  - id: {webhook}
    events: [pipeline_started, pipeline_stopped]
"""

_PAYMENTS = """\
definition_version: 1
name: Stripe payments to warehouse
source:
  connection:
    id: {stripe}
destination:
  connection:
    id: {snowflake}
sync:
  frequency: 15
tables:
  - name: charges
  - name: refunds
transformations:
  - type: history_mode
    table: charges
hooks:
  - id: {pagerduty}
    events: [pipeline_failed]
"""

_CUSTOMER_360 = """\
# Draft: waiting for the analytics team's review of the column list.
definition_version: 1
name: Customer 360 to BigQuery
source:
  connection:
    id: {postgres}
destination:
  connection:
    id: {bigquery}
sync:
  frequency: 240
tables:
  - name: public.customers
    columns:
      include: [id, country, created_at, lifetime_value]
  - name: public.support_tickets
"""

_LEGACY = """\
definition_version: 1
name: Legacy MySQL export
source:
  connection:
    id: {mysql}
destination:
  connection:
    id: {s3}
sync:
  frequency: 720
tables:
  - name: legacy.orders_2019
"""

# Oldest first: the list shows the newest first.
DEMO_PIPELINES = (
    DemoPipeline(_LEGACY, "archived", 75, last_sync_days_ago=70),
    DemoPipeline(_ORDERS, "running", 58, revision=3, next_sync_in=5),
    DemoPipeline(_ACCOUNTS, "stopped", 41, revision=2, last_sync_days_ago=6),
    DemoPipeline(
        _PAYMENTS,
        "failed",
        20,
        last_sync_days_ago=0.5,
        last_error="Source connection timed out after 300 s while reading charges.",
    ),
    DemoPipeline(_CATALOGUE, "running", 12, next_sync_in=20),
    DemoPipeline(_CUSTOMER_360, "draft", 2),
)


def _ids(conn: sqlite3.Connection, account_id: int) -> dict[str, int]:
    """The account's connection ids by type and hook ids by type (postgres, slack, ...)."""
    ids: dict[str, int] = {}
    for table in ("connections", "hooks"):
        for row in conn.execute(
            f"SELECT id, type FROM {table} WHERE account_id = ? ORDER BY id", (account_id,)
        ):
            ids.setdefault(str(row["type"]), int(row["id"]))
    return ids


def _history(
    conn: sqlite3.Connection, pipeline_id: int, demo: DemoPipeline, created_at: float, at: float
) -> dict[str, object]:
    """Write the events of the demo pipeline's past; return its sync columns."""
    if demo.status == "draft":
        return {}
    started = created_at + HOUR
    record_event(conn, pipeline_id, started, "pipeline_started", log=False)
    last_start = at - demo.last_sync_days_ago * DAY
    for index in range(3):
        begin = last_start - (2 - index) * HOUR
        record_event(conn, pipeline_id, begin, "sync_started", log=False)
        failed = demo.status == "failed" and index == 2
        outcome = "sync_failed" if failed else "sync_succeeded"
        record_event(
            conn, pipeline_id, begin + 90, outcome, demo.last_error if failed else None, log=False
        )
    columns: dict[str, object] = {
        "last_sync_started_at": round(last_start, 3),
        "last_sync_finished_at": round(last_start + 90, 3),
        "last_error": demo.last_error,
    }
    if demo.status == "failed":
        record_event(
            conn, pipeline_id, last_start + 90, "pipeline_failed", demo.last_error, log=False
        )
    elif demo.status in ("stopped", "archived"):
        record_event(conn, pipeline_id, last_start + 2 * HOUR, "pipeline_stopped", log=False)
    if demo.status == "archived":
        record_event(conn, pipeline_id, last_start + 2.5 * HOUR, "archived", log=False)
    if demo.status == "running" and demo.next_sync_in is not None:
        columns["due_at"] = round(at + demo.next_sync_in, 3)
    return columns


def seed_demo_pipelines(conn: sqlite3.Connection, account_id: int, at: float) -> None:
    """Create the demo pipelines of the account (inside the caller's transaction)."""
    ids = _ids(conn, account_id)
    catalog = catalog_of(conn, account_id)
    for demo in DEMO_PIPELINES:
        text = demo.template.format(**ids)
        accepted = check_definition(SubmittedDefinition(text, "yaml"), catalog)
        created_at = round(at - demo.age_days * DAY, 3)
        pipeline_id = insert_pipeline(conn, account_id, accepted, at=created_at, status=demo.status)
        columns = _history(conn, pipeline_id, demo, created_at, at)
        columns["revision"] = demo.revision
        columns["updated_at"] = round(created_at + (demo.revision - 1) * 3 * DAY, 3)
        assignments = ", ".join(f"{name} = ?" for name in columns)
        conn.execute(
            f"UPDATE pipelines SET {assignments} WHERE id = ?", (*columns.values(), pipeline_id)
        )
