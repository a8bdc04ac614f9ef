"""API keys: list, create, rotate with grace, revoke (`/api/public/v1/keys`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from console.api.fields import optional_float
from console.api.pagination import Page, fetch_page, iterate_pages
from console.api.transport import ApiClient
from console.common.redaction import mask_key

KEYS_PATH = "/api/public/v1/keys"
KeyKind = Literal["admin", "ingest"]
KeyStatus = Literal["active", "expiring", "expired", "revoked"]
MAX_GRACE_SECONDS = 604_800


@dataclass(frozen=True)
class ApiKey:
    """Metadata of one key; never its secret."""

    id: str
    name: str
    kind: str
    prefix: str
    last4: str
    feed: str | None
    created_at: float
    expires_at: float | None
    last_used_at: float | None
    revoked_at: float | None
    rotated_from: str | None
    status: str

    @property
    def masked(self) -> str:
        """`prefix…last4`, the only form of a key the console displays."""
        return mask_key(self.prefix, self.last4)

    @property
    def is_revoked(self) -> bool:
        """A revoked key never authenticates again."""
        return self.status == "revoked"

    @classmethod
    def from_json(cls, body: dict[str, Any]) -> ApiKey:
        """Parse the contract's key metadata."""
        return cls(
            id=str(body["id"]),
            name=str(body.get("name") or ""),
            kind=str(body.get("kind") or ""),
            prefix=str(body.get("prefix") or ""),
            last4=str(body.get("last4") or ""),
            feed=body.get("feed"),
            created_at=float(body.get("created_at") or 0),
            expires_at=optional_float(body.get("expires_at")),
            last_used_at=optional_float(body.get("last_used_at")),
            revoked_at=optional_float(body.get("revoked_at")),
            rotated_from=body.get("rotated_from"),
            status=str(body.get("status") or "active"),
        )


@dataclass(frozen=True)
class CreatedKey:
    """A key together with its secret: exists only in the response that created it."""

    key: ApiKey
    secret: str = field(repr=False)


class KeysApi:
    """The keys resource of one connection."""

    def __init__(self, client: ApiClient) -> None:
        self._client = client

    async def list_page(self, *, limit: int = 100, cursor: str | None = None) -> Page[ApiKey]:
        """One page of keys, newest first."""
        return await fetch_page(
            self._client, KEYS_PATH, ApiKey.from_json, limit=limit, cursor=cursor
        )

    async def list_all(self, *, page_size: int = 500) -> list[ApiKey]:
        """Every key of the account (keys are few; pages through them all)."""
        keys: list[ApiKey] = []
        async for page in iterate_pages(self._client, KEYS_PATH, ApiKey.from_json, limit=page_size):
            keys.extend(page.items)
        return keys

    async def get(self, key_id: str) -> ApiKey:
        """Metadata of one key."""
        return ApiKey.from_json(await self._client.get_json(f"{KEYS_PATH}/{key_id}"))

    async def create(
        self,
        name: str,
        kind: KeyKind,
        *,
        feed: str | None = None,
        expires_at: float | None = None,
    ) -> CreatedKey:
        """Create a key; the answer carries its secret this once."""
        body: dict[str, Any] = {"name": name, "kind": kind}
        if feed is not None:
            body["feed"] = feed
        if expires_at is not None:
            body["expires_at"] = round(expires_at, 3)
        return _created(await self._client.post_json(KEYS_PATH, body))

    async def rotate(self, key_id: str, *, grace_seconds: int) -> CreatedKey:
        """Issue a successor key; the old one expires after `grace_seconds`."""
        if not 0 <= grace_seconds <= MAX_GRACE_SECONDS:
            raise ValueError(f"grace_seconds must be 0..{MAX_GRACE_SECONDS}")
        body = {"grace_seconds": grace_seconds}
        return _created(await self._client.post_json(f"{KEYS_PATH}/{key_id}/rotate", body))

    async def revoke(self, key_id: str) -> ApiKey:
        """Revoke at once; revoking twice is a no-op."""
        return ApiKey.from_json(await self._client.delete_json(f"{KEYS_PATH}/{key_id}"))


def _created(body: dict[str, Any]) -> CreatedKey:
    secret = str(body.pop("secret"))
    return CreatedKey(ApiKey.from_json(body), secret)
