"""What a connector log entry holds before it is stored, and the signal that new ones exist."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from console.common.contract import LOG_PROCESSING_STATUSES
from console.sandbox.storage.sqlite import random_alphanumeric

PROCESSING_STATUSES = LOG_PROCESSING_STATUSES
# An entry keeps the first this many item errors; `error_count` says how many there were.
MAX_ENTRY_ERRORS = 100
# Request and response bodies are kept up to this many bytes.
BODY_CAPTURE_BYTES = 64 * 1024


def new_request_id() -> str:
    """A fresh request id: req_ + 26 characters."""
    return "req_" + random_alphanumeric(26)


@dataclass
class LogEntry:
    """One row of `logs` before insertion (contract "Connector logs")."""

    account_id: int
    timestamp: float
    request_id: str
    correlation_id: str
    feed: str | None = None
    pipeline_id: str | None = None
    key_id: str | None = None
    key_shown: str | None = None  # prefix…last4, never the secret
    method: str | None = None
    path: str | None = None  # path and query, credentials masked (redact.redact_path)
    intent: str | None = None
    http_status: int | None = None
    items_received: int = 0
    processing_status: str = "queued"
    # [{item, field, message}]; the first MAX_ENTRY_ERRORS are stored.
    errors: list[dict[str, Any]] = field(default_factory=list)
    error_count: int | None = None  # None: len(errors)
    duration_ms: float | None = None
    client_ip: str | None = None
    auth_via: str | None = None  # header | query
    idempotency_key: str | None = None
    source: str | None = None  # intent | import | pipeline: where its timeline comes from
    source_seq: int | None = None


@dataclass
class LogBodies:
    """What a log keeps of a request's bodies (already cut and masked: redact.capture)."""

    request: str | None
    request_bytes: int
    request_truncated: bool
    response: str | None
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class LogContext:
    """What a route learns about its request, for the log entry: `scope["state"]["log"]`.

    Routes fill it as they go (who, which feed, how many items); the capture middleware
    builds the entry of a request that no route logged itself (refusals) from it.
    """

    account_id: int | None = None
    key_id: str | None = None
    key_shown: str | None = None
    feed: str | None = None
    pipeline_id: str | None = None
    intent: str | None = None
    items_received: int = 0
    processing_status: str | None = None
    errors: list[dict[str, Any]] | None = None
    idempotency_key: str | None = None
    auth_via: str | None = None
    # Set by a route that inserted its entry in its own transaction: nothing more to log.
    written: bool = False


class LogSignal:
    """Wakes the live tail after a commit that inserted entries (event-loop thread only)."""

    def __init__(self) -> None:
        self._event = asyncio.Event()

    def notify(self) -> None:
        """New entries were committed."""
        self._event.set()

    async def wait(self) -> None:
        """Wait for a notify (it is consumed); bound it with `asyncio.timeout`."""
        await self._event.wait()
        self._event.clear()
