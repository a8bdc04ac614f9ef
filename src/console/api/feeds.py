"""Feeds (`/api/public/v1/feeds`): the streams that ingest keys are scoped to."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from console.api.pagination import iterate_pages
from console.api.transport import ApiClient

FEEDS_PATH = "/api/public/v1/feeds"


@dataclass(frozen=True)
class Feed:
    """One feed of the account."""

    id: str
    name: str
    method: str
    id_field: str
    record_count: int
    created_at: float

    @classmethod
    def from_json(cls, body: dict[str, Any]) -> Feed:
        """Parse the contract's feed object."""
        return cls(
            id=str(body["id"]),
            name=str(body.get("name") or body["id"]),
            method=str(body.get("method") or "ingest"),
            id_field=str(body.get("id_field") or "id"),
            record_count=int(body.get("record_count") or 0),
            created_at=float(body.get("created_at") or 0),
        )


class FeedsApi:
    """The feeds resource of one connection."""

    def __init__(self, client: ApiClient) -> None:
        self._client = client

    async def list_all(self) -> list[Feed]:
        """Every feed of the account."""
        feeds: list[Feed] = []
        async for page in iterate_pages(self._client, FEEDS_PATH, Feed.from_json, limit=1000):
            feeds.extend(page.items)
        return feeds

    async def create(
        self, feed_id: str, name: str, *, method: str = "ingest", id_field: str = "id"
    ) -> Feed:
        """Create a feed of the account."""
        body = {"id": feed_id, "name": name, "method": method, "id_field": id_field}
        return Feed.from_json(await self._client.post_json(FEEDS_PATH, body))
