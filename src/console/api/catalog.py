"""Read-only catalogue of the account: connections and hooks."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from console.api.transport import ApiClient


@dataclass(frozen=True)
class Connection:
    """A source or destination connection."""

    id: int
    name: str
    role: str
    type: str

    @classmethod
    def from_json(cls, body: dict[str, Any]) -> Connection:
        """Parse the contract's connection object."""
        return cls(int(body["id"]), str(body["name"]), str(body["role"]), str(body["type"]))


@dataclass(frozen=True)
class Hook:
    """A notification hook."""

    id: int
    name: str

    @classmethod
    def from_json(cls, body: dict[str, Any]) -> Hook:
        """Parse the contract's hook object."""
        return cls(int(body["id"]), str(body["name"]))


class CatalogApi:
    """Connections and hooks of one connection profile."""

    def __init__(self, client: ApiClient) -> None:
        self._client = client

    async def connections(self) -> list[Connection]:
        """Every connection of the account."""
        body = await self._client.get_json("/api/public/v1/connections")
        return [Connection.from_json(item) for item in body.get("data", [])]

    async def hooks(self) -> list[Hook]:
        """Every hook of the account."""
        body = await self._client.get_json("/api/public/v1/hooks")
        return [Hook.from_json(item) for item in body.get("data", [])]
