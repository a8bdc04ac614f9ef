"""Feeds (`/api/public/v1/feeds`): the streams that ingest keys are scoped to."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from console.api.errors import ApiError
from console.api.pagination import iterate_pages
from console.api.transport import ApiClient

FEEDS_PATH = "/api/public/v1/feeds"
FEED_METHODS = ("ingest", "trigger", "polling")


@dataclass(frozen=True)
class Feed:
    """One feed of the account."""

    id: str
    name: str
    method: str
    id_field: str
    record_count: int
    created_at: float

    @property
    def can_fetch(self) -> bool:
        """Fetch and fetch-list intents only apply to trigger and polling feeds."""
        return self.method in ("trigger", "polling")

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

    async def get(self, feed_id: str) -> Feed:
        """One feed with its current record count (the sandbox's `GET /feeds/{id}`).

        A deployment without that route answers 404 or 405: then the feed is looked up
        in the list, so callers need not care which kind of server they talk to.
        """
        try:
            return Feed.from_json(await self._client.get_json(feed_path(feed_id)))
        except ApiError as error:
            if error.status not in (404, 405) or error.code == "FEED_NOT_FOUND":
                raise
        for feed in await self.list_all():
            if feed.id == feed_id:
                return feed
        raise ApiError(404, "FEED_NOT_FOUND", f"There is no feed {feed_id!r}.", field="feed_id")

    async def create(
        self, feed_id: str, name: str, *, method: str = "ingest", id_field: str = "id"
    ) -> Feed:
        """Create a feed of the account."""
        body = {"id": feed_id, "name": name, "method": method, "id_field": id_field}
        return Feed.from_json(await self._client.post_json(FEEDS_PATH, body))


def feed_path(feed_id: str) -> str:
    """`/api/public/v1/feeds/{feed_id}`, the id quoted as one path segment."""
    return f"{FEEDS_PATH}/{quote(feed_id, safe='')}"
