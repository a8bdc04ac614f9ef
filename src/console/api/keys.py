"""API keys: list, create, rotate with grace, revoke (`/api/public/v1/keys`); a key's audit
trail and its last use (sandbox extensions, docs/api.md "Key events and key usage")."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from console.api.errors import ApiError
from console.api.fields import optional_float, optional_str
from console.api.logs import LOGS_PATH, LogEntry, LogsApi
from console.api.pagination import Page, fetch_page, iterate_pages
from console.api.transport import ApiClient
from console.common.redaction import mask_key

KEYS_PATH = "/api/public/v1/keys"
KeyKind = Literal["admin", "ingest"]
KeyStatus = Literal["active", "expiring", "expired", "revoked"]
MAX_GRACE_SECONDS = 604_800
# A trail longer than this is shown cut (a key changes a handful of times in its life).
MAX_EVENTS = 1000
# Entries asked for when looking for a key's newest logged use: with the `key` filter the
# first is it; without, the newest entries of the account, filtered here.
USE_PAGE = 100
# A last_used_at this much after the newest logged use was a use on a route the logs do
# not record (the stamp is written at most once a second, and after the entry's time).
UNLOGGED_SLACK_SECONDS = 2.0


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
class KeyEvent:
    """One event of a key's audit trail: what, when, by which key and from where."""

    id: str
    event: str  # created, rotated, revoked, first_used
    at: float
    by_id: str | None
    by_shown: str | None  # prefix…last4 of the key that made the change
    client_ip: str | None
    auth_via: str | None
    route: str | None
    feed: str | None
    related_key_id: str | None
    expires_at: float | None

    @classmethod
    def from_json(cls, body: dict[str, Any]) -> KeyEvent:
        """Parse an event of GET /keys/{id}/events."""
        given = body.get("by")
        by: dict[str, Any] = given if isinstance(given, dict) else {}
        return cls(
            id=str(body.get("id") or ""),
            event=str(body.get("event") or ""),
            at=float(body.get("at") or 0),
            by_id=optional_str(by.get("id")),
            by_shown=optional_str(by.get("shown")),
            client_ip=optional_str(body.get("client_ip")),
            auth_via=optional_str(body.get("auth_via")),
            route=optional_str(body.get("route")),
            feed=optional_str(body.get("feed")),
            related_key_id=optional_str(body.get("related_key_id")),
            expires_at=optional_float(body.get("expires_at")),
        )


@dataclass(frozen=True)
class KeyUse:
    """A key's latest known use. From the connector logs: time, client IP, header or query,
    feed and route; from the key's `last_used_at` (a use the logs do not record, such as
    an admin key on a read): the time only."""

    at: float
    client_ip: str | None = None
    auth_via: str | None = None
    feed: str | None = None
    route: str | None = None
    from_logs: bool = True

    @classmethod
    def from_entry(cls, entry: LogEntry) -> KeyUse:
        """The use a log entry records."""
        route = f"{entry.method} {entry.path}" if entry.method and entry.path else entry.path
        return cls(entry.timestamp, entry.client_ip, entry.auth_via, entry.feed, route)


def own_entry(key: ApiKey, entry: LogEntry) -> bool:
    """Whether `entry` is a request made with `key` (by id; prefix…last4 when the server
    gives no id)."""
    if entry.key_id is not None:
        return entry.key_id == key.id
    return entry.key == key.masked


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

    async def events(self, key_id: str) -> list[KeyEvent]:
        """The key's audit trail, oldest first (at most MAX_EVENTS)."""
        events: list[KeyEvent] = []
        path = f"{KEYS_PATH}/{key_id}/events"
        async for page in iterate_pages(self._client, path, KeyEvent.from_json, limit=100):
            events.extend(page.items)
            if len(events) >= MAX_EVENTS:
                break
        return events[:MAX_EVENTS]

    async def logged_use(self, key: ApiKey) -> KeyUse | None:
        """The key's newest use in the connector logs, or None.

        Asks with the sandbox's `key` filter and keeps only the key's own entries: a server
        without the filter ignores it (or refuses it), and then the key's last four
        characters as free text (`q`) narrow the search instead.
        """
        try:
            page = await self._logs_page(key=key.id)
        except ApiError as error:
            if error.status != 400:
                raise
            page = None
        if page is not None:
            mine = [entry for entry in page.items if own_entry(key, entry)]
            if mine or len(mine) == len(page.items):
                return KeyUse.from_entry(mine[0]) if mine else None
        page = await self._logs_page(q=key.last4)
        mine = [entry for entry in page.items if own_entry(key, entry)]
        return KeyUse.from_entry(mine[0]) if mine else None

    async def last_use(self, key: ApiKey) -> KeyUse | None:
        """The key's latest known use: the newest logged one, unless its `last_used_at` is
        later (a use on a route the logs do not record: then the time only)."""
        logged = await self.logged_use(key)
        stamped = (await self.get(key.id)).last_used_at
        if stamped is not None and (logged is None or stamped > logged.at + UNLOGGED_SLACK_SECONDS):
            return KeyUse(stamped, from_logs=False)
        return logged

    async def watch_uses(
        self, key: ApiKey, *, on_connection: Callable[[bool], None] | None = None
    ) -> AsyncIterator[KeyUse]:
        """The key's new logged uses as they are written (the logs' live stream, with the
        `key` filter; entries of other keys are skipped). Runs until cancelled.
        `on_connection(True)` when the stream is open (a use just before it is not in it:
        read `last_use` then), `(False)` when it dropped and is reconnecting."""
        stream = LogsApi(self._client).stream(key=key.id, on_connection=on_connection)
        async for entry in stream:
            if own_entry(key, entry):
                yield KeyUse.from_entry(entry)

    async def _logs_page(self, **params: str) -> Page[LogEntry]:
        return await fetch_page(
            self._client, LOGS_PATH, LogEntry.from_json, limit=USE_PAGE, params=params
        )


def _created(body: dict[str, Any]) -> CreatedKey:
    secret = str(body.pop("secret"))
    return CreatedKey(ApiKey.from_json(body), secret)
