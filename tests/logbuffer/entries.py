"""Synthetic LogEntry values for the buffer's tests (shaped like the sandbox's)."""

from __future__ import annotations

import random
import string
from typing import Any

from console.api.logs import LogEntry, LogItemError

ALPHANUMERIC = string.ascii_letters + string.digits
FEEDS = ("orders", "customers", "inventory", "payments")
INTENTS = ("ingest", "upsert", "record.create", "poll")


def make_entry(entry_id: int, **fields: Any) -> LogEntry:
    """An entry with plausible defaults; `fields` override any of them."""
    rng = random.Random(entry_id)
    values: dict[str, Any] = {
        "id": entry_id,
        "timestamp": 1_700_000_000.0 + entry_id,
        "request_id": "req_" + "".join(rng.choices(ALPHANUMERIC, k=26)),
        "correlation_id": "corr_" + "".join(rng.choices(ALPHANUMERIC, k=26)),
        "feed": FEEDS[entry_id % len(FEEDS)],
        "pipeline_id": None,
        "key": "ik_live_…a1b2",
        "key_id": "key_1",
        "method": "POST",
        "path": None,
        "intent": INTENTS[entry_id % len(INTENTS)],
        "http_status": 202,
        "items_received": 1 + entry_id % 7,
        "processing_status": "succeeded",
        "errors": (),
        "error_count": 0,
        "duration_ms": 12.5,
        "client_ip": "127.0.0.1",
        "auth_via": "header",
        "idempotency_key": None,
    }
    values.update(fields)
    if values["errors"] and not fields.get("error_count"):
        values["error_count"] = len(values["errors"])
    return LogEntry(**values)


def refused(
    entry_id: int, status: int, message: str, field: str | None = None, **fields: Any
) -> LogEntry:
    """A refused request's entry."""
    values: dict[str, Any] = {
        "http_status": status,
        "processing_status": "rejected",
        "errors": (LogItemError(None, field, message),),
        **fields,
    }
    return make_entry(entry_id, **values)


def page(first: int, last: int, **fields: Any) -> list[LogEntry]:
    """Entries last..first (newest first, as a query page)."""
    return [make_entry(i, **fields) for i in range(last, first - 1, -1)]
