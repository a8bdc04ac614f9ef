"""Intents (`/ingest/{feed_id}/{intent}`): Frontic-style pushes and fetches, and outcomes.

Every intent is answered 202 with a correlation id once the server has queued it; what
became of it (per-item errors, the records it touched) is the outcome under that id,
`GET /api/public/v1/intents/{correlation_id}` (a sandbox extension, docs/api.md).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from console.api.errors import ApiError
from console.api.fields import objects, optional_float, optional_int, optional_str
from console.api.transport import ApiClient

INTENTS = ("upsert", "patch", "delete", "fetch", "fetch-list")
INTENTS_PATH = "/api/public/v1/intents"
FINISHED = ("succeeded", "partially_failed", "failed")
SystemId = str | int


@dataclass(frozen=True)
class IntentItemError:
    """One input item that failed: its index in the intent, the field and why."""

    item: int | None
    field: str | None
    message: str


@dataclass(frozen=True)
class IntentRecord:
    """A record the intent created, updated, archived or restored."""

    guid: str | None
    system_id: str | None
    action: str
    item: int | None = None  # its 0-based index in the request, when the server says


@dataclass(frozen=True)
class IntentOutcome:
    """What became of one intent."""

    correlation_id: str
    feed: str
    intent: str
    status: str  # queued | processing | succeeded | partially_failed | failed
    received_at: float
    finished_at: float | None
    items_received: int
    errors: tuple[IntentItemError, ...]
    records: tuple[IntentRecord, ...]
    started_at: float | None = None
    key_id: str | None = None  # the key that sent it, when the server says
    key: str | None = None  # prefix…last4

    @property
    def is_finished(self) -> bool:
        """Processing is over (whatever its result)."""
        return self.status in FINISHED

    @classmethod
    def from_json(cls, body: dict[str, Any]) -> IntentOutcome:
        """Parse the outcome object (missing lists read as empty)."""
        key = body.get("key")
        key = key if isinstance(key, dict) else {}
        return cls(
            correlation_id=str(body.get("correlation_id") or ""),
            feed=str(body.get("feed") or ""),
            intent=str(body.get("intent") or ""),
            status=str(body.get("status") or "queued"),
            received_at=float(body.get("received_at") or 0),
            finished_at=optional_float(body.get("finished_at")),
            items_received=int(body.get("items_received") or 0),
            errors=tuple(
                IntentItemError(
                    item=optional_int(item.get("item")),
                    field=item.get("field") or None,
                    message=str(item.get("message") or ""),
                )
                for item in objects(body.get("errors"))
            ),
            records=tuple(
                IntentRecord(
                    guid=item.get("guid") or None,
                    system_id=optional_str(item.get("system_id")),
                    action=str(item.get("action") or ""),
                    item=optional_int(item.get("item")),
                )
                for item in objects(body.get("records"))
            ),
            started_at=optional_float(body.get("started_at")),
            key_id=key.get("id") or None,
            key=key.get("shown") or None,
        )


class IntentsApi:
    """The ingest routes of one connection (admin keys, or ingest keys of the feed)."""

    def __init__(self, client: ApiClient) -> None:
        self._client = client

    async def send(self, feed_id: str, intent: str, body: Any, *, generic: bool = False) -> str:
        """Queue one intent; return its correlation id.

        `generic` sends it to `/ingest/{feed_id}/intent/{intent}`, which behaves exactly
        like the verb route.
        """
        if intent not in INTENTS:
            raise ValueError(f"intent must be one of {', '.join(INTENTS)}")
        feed = quote(feed_id, safe="")
        path = f"/ingest/{feed}/intent/{intent}" if generic else f"/ingest/{feed}/{intent}"
        response = await self._client.request_json_with_meta("POST", path, json=body)
        answer = response.body if isinstance(response.body, dict) else {}
        correlation_id = answer.get("correlationId") or response.correlation_id
        if not correlation_id:
            raise ApiError(
                response.status, "INVALID_RESPONSE", "The server gave the intent no correlation id."
            )
        return str(correlation_id)

    async def upsert(
        self, feed_id: str, items: Mapping[str, Any] | Sequence[Mapping[str, Any]]
    ) -> str:
        """Create or update records by the feed's id field (one object or a list)."""
        return await self.send(feed_id, "upsert", _items(items))

    async def patch(
        self, feed_id: str, patches: Mapping[str, Any] | Sequence[Mapping[str, Any]]
    ) -> str:
        """Merge-patch records, each identified by its id field (null removes a field)."""
        return await self.send(feed_id, "patch", _items(patches))

    async def delete(self, feed_id: str, ids: SystemId | Sequence[SystemId]) -> str:
        """Archive (soft-delete) one record or several, by system id."""
        if isinstance(ids, str | int):
            return await self.send(feed_id, "delete", {"id": ids})
        return await self.send(feed_id, "delete", {"ids": list(ids)})

    async def fetch(self, feed_id: str, system_id: SystemId) -> str:
        """Ask a trigger or polling feed's connector to pull one record."""
        return await self.send(feed_id, "fetch", {"id": system_id})

    async def fetch_list(self, feed_id: str, ids: Sequence[SystemId]) -> str:
        """Ask a trigger or polling feed's connector to pull several records."""
        if isinstance(ids, str):
            raise TypeError("fetch_list takes a list of ids")
        return await self.send(feed_id, "fetch-list", {"ids": list(ids)})

    async def outcome(self, correlation_id: str) -> IntentOutcome:
        """The processing status and results of one intent (extension)."""
        body = await self._client.get_json(f"{INTENTS_PATH}/{quote(correlation_id, safe='')}")
        return IntentOutcome.from_json(body)

    async def wait(self, correlation_id: str, *, interval: float = 0.1) -> IntentOutcome:
        """Poll the outcome until processing is over (bound it with `asyncio.timeout`)."""
        while True:
            outcome = await self.outcome(correlation_id)
            if outcome.is_finished:
                return outcome
            await asyncio.sleep(interval)


def _items(items: Mapping[str, Any] | Sequence[Mapping[str, Any]]) -> Any:
    if isinstance(items, Mapping):
        return dict(items)
    return [dict(item) for item in items]
