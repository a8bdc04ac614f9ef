"""Records of a feed (`/api/public/v1/feeds/{feed_id}/records`): list, get, write, archive.

The archive marks, the per-record history and the data-key list are sandbox extensions
(docs/api.md): records from a server without them parse with those fields empty, and the
history and data-key calls raise its 404 as an ApiError.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from console.api.feeds import feed_path
from console.api.fields import optional_str
from console.api.merge_patch import (
    UnrepresentableNullError,
    apply_merge_patch,
    merge_patch,
    same_json,
)
from console.api.pagination import Page, fetch_page, iterate_pages
from console.api.transport import ApiClient, JsonResponse

__all__ = [
    "ArchiveMark",
    "HistoryEntry",
    "Record",
    "RecordQuery",
    "RecordWrite",
    "RecordsApi",
    "UnrepresentableNullError",
    "apply_merge_patch",
    "edit_patch",
    "merge_patch",
    "same_json",
]

DELETED_FILTERS: tuple[str, ...] = ("0", "1", "all")
RECORD_ORDERS: tuple[str, ...] = ("-updated_at", "updated_at")
MAX_PAGE_SIZE = 1000


@dataclass(frozen=True)
class ArchiveMark:
    """Who archived (or restored) a record, when, and through which request."""

    at: float
    key_id: str
    key: str  # prefix…last4, never the secret
    correlation_id: str

    @classmethod
    def from_json(cls, body: Any) -> ArchiveMark | None:
        """Parse the extension's `archived`/`restored` object; None when absent."""
        if not isinstance(body, dict):
            return None
        return cls(
            at=float(body.get("at") or 0),
            key_id=str(body.get("key_id") or ""),
            key=str(body.get("key") or ""),
            correlation_id=str(body.get("correlation_id") or ""),
        )


@dataclass(frozen=True)
class Record:
    """One record of a feed."""

    guid: str
    system_id: str | None
    deleted: bool
    version: int
    created_at: float
    updated_at: float
    data: dict[str, Any]
    last_correlation_id: str | None
    archived: ArchiveMark | None = None  # extension: the last archive
    restored: ArchiveMark | None = None  # extension: the last restore

    @classmethod
    def from_json(cls, body: dict[str, Any]) -> Record:
        """Parse the contract's record object (extension fields optional)."""
        data = body.get("data")
        return cls(
            guid=str(body["guid"]),
            system_id=optional_str(body.get("system_id")),
            deleted=bool(body.get("deleted") or False),
            version=int(body.get("version") or 0),
            created_at=float(body.get("created_at") or 0),
            updated_at=float(body.get("updated_at") or 0),
            data=data if isinstance(data, dict) else {},
            last_correlation_id=body.get("last_correlation_id") or None,
            archived=ArchiveMark.from_json(body.get("archived")),
            restored=ArchiveMark.from_json(body.get("restored")),
        )


@dataclass(frozen=True)
class RecordQuery:
    """The filters of a record list; `params()` is its query string."""

    q: str = ""
    guid: str = ""
    system_id: str = ""
    version: int | None = None  # records changed at or after this Unix second
    deleted: str = "0"  # "0" active, "1" archived, "all"
    order: str = "-updated_at"
    fields: tuple[tuple[str, str], ...] = ()  # exact matches on top-level data fields (AND)

    def __post_init__(self) -> None:
        if self.deleted not in DELETED_FILTERS:
            raise ValueError(f"deleted must be one of {', '.join(DELETED_FILTERS)}")
        if self.order not in RECORD_ORDERS:
            raise ValueError(f"order must be one of {', '.join(RECORD_ORDERS)}")
        if self.version is not None and (isinstance(self.version, bool) or self.version < 0):
            raise ValueError("version must be a Unix second (a non-negative integer)")
        names = [name for name, _ in self.fields]
        if any(not name for name in names):
            raise ValueError("a field filter needs a field name")
        if len(set(names)) != len(names):
            raise ValueError("each field can be filtered once (filters combine with AND)")

    def params(self) -> dict[str, Any]:
        """The list route's query parameters (empty filters left out)."""
        params: dict[str, Any] = {}
        for name in ("q", "guid", "system_id"):
            value = getattr(self, name)
            if value:
                params[name] = value
        if self.version is not None:
            params["version"] = self.version
        params["deleted"] = self.deleted
        params["order"] = self.order
        for name, value in self.fields:
            params[f"data.{name}"] = value
        return params


@dataclass(frozen=True)
class HistoryEntry:
    """One change of a record (extension: newest first)."""

    timestamp: float
    intent: str
    correlation_id: str
    key_id: str
    key: str  # prefix…last4
    changed: tuple[str, ...]  # top-level fields changed, plus "deleted" on archive/restore

    @classmethod
    def from_json(cls, body: dict[str, Any]) -> HistoryEntry:
        """Parse one history item."""
        key = body.get("key")
        key = key if isinstance(key, dict) else {}
        changed = body.get("changed")
        return cls(
            timestamp=float(body.get("timestamp") or 0),
            intent=str(body.get("intent") or ""),
            correlation_id=str(body.get("correlation_id") or ""),
            key_id=str(key.get("id") or ""),
            key=str(key.get("shown") or ""),
            changed=tuple(str(name) for name in changed) if isinstance(changed, list) else (),
        )


@dataclass(frozen=True)
class RecordWrite:
    """The result of a write: the record as stored, and the request that stored it."""

    record: Record
    created: bool
    correlation_id: str


class RecordsApi:
    """The records of one connection's feeds."""

    def __init__(self, client: ApiClient) -> None:
        self._client = client

    async def page(
        self,
        feed_id: str,
        query: RecordQuery | None = None,
        *,
        limit: int = 100,
        cursor: str | None = None,
    ) -> Page[Record]:
        """One cursor page of the feed's records matching `query`."""
        return await fetch_page(
            self._client,
            records_path(feed_id),
            Record.from_json,
            limit=_page_size(limit),
            cursor=cursor,
            params=(query or RecordQuery()).params(),
        )

    def iterate(
        self, feed_id: str, query: RecordQuery | None = None, *, limit: int = 1000
    ) -> AsyncIterator[Page[Record]]:
        """Every page matching `query`, one at a time (for exports: never all in memory)."""
        return iterate_pages(
            self._client,
            records_path(feed_id),
            Record.from_json,
            limit=_page_size(limit),
            params=(query or RecordQuery()).params(),
        )

    async def get(self, feed_id: str, guid: str) -> Record:
        """One record by GUID (archived ones too)."""
        return Record.from_json(await self._client.get_json(record_path(feed_id, guid)))

    async def history(
        self, feed_id: str, guid: str, *, limit: int = 100, cursor: str | None = None
    ) -> Page[HistoryEntry]:
        """One page of the record's changes, newest first (extension)."""
        return await fetch_page(
            self._client,
            f"{record_path(feed_id, guid)}/history",
            HistoryEntry.from_json,
            limit=_page_size(limit),
            cursor=cursor,
        )

    async def data_keys(self, feed_id: str) -> list[str]:
        """The top-level data keys seen in the feed, for field filters (extension)."""
        body = await self._client.get_json(f"{records_path(feed_id)}/keys")
        keys = body.get("data") if isinstance(body, dict) else None
        return [str(key) for key in keys] if isinstance(keys, list) else []

    async def upsert(
        self,
        feed_id: str,
        *,
        guid: str | None = None,
        system_id: str | int | None = None,
        data: Mapping[str, Any] | None = None,
        deleted: bool | None = None,
    ) -> RecordWrite:
        """Update the record with this guid, else this system_id; create it when neither.

        `created` tells a creation (201) from an update (200). A system_id that belongs
        to another record raises ApiError 409 DUPLICATE_SYSTEM_ID.
        """
        body: dict[str, Any] = {}
        if guid is not None:
            body["guid"] = guid
        if system_id is not None:
            body["system_id"] = system_id
        if data is not None:
            body["data"] = dict(data)
        if deleted is not None:
            body["deleted"] = int(deleted)
        response = await self._client.request_json_with_meta(
            "POST", records_path(feed_id), json=body
        )
        return _write(response)

    async def patch(self, feed_id: str, guid: str, patch: Mapping[str, Any]) -> RecordWrite:
        """Merge-patch a record: `{"data": <RFC 7396 patch>}` and/or `{"deleted": 0|1}`."""
        unknown = set(patch) - {"data", "deleted"}
        if unknown:
            raise ValueError(f"a record patch has only data and deleted, not {sorted(unknown)}")
        body = dict(patch)
        if "deleted" in body:
            body["deleted"] = int(body["deleted"])
        response = await self._client.request_json_with_meta(
            "PATCH", record_path(feed_id, guid), json=body
        )
        return _write(response)

    async def archive(self, feed_id: str, guid: str) -> RecordWrite:
        """Soft-delete a record (`deleted` = 1); the server keeps who and when."""
        return await self.patch(feed_id, guid, {"deleted": 1})

    async def restore(self, feed_id: str, guid: str) -> RecordWrite:
        """Undo an archive (`deleted` = 0)."""
        return await self.patch(feed_id, guid, {"deleted": 0})


def edit_patch(original: Record, data: Any, *, deleted: bool | None = None) -> dict[str, Any]:
    """The PATCH body turning `original` into a record with `data` (and `deleted`).

    Only what changed is in it: `{}` when nothing did. Raises UnrepresentableNullError
    when `data` sets a field to null (see `merge_patch`).
    """
    body: dict[str, Any] = {}
    if not isinstance(data, dict):
        raise ValueError("a record's data is a JSON object")
    if not same_json(original.data, data):
        body["data"] = merge_patch(original.data, data)
    if deleted is not None and deleted != original.deleted:
        body["deleted"] = int(deleted)
    return body


def records_path(feed_id: str) -> str:
    """The feed's records collection."""
    return f"{feed_path(feed_id)}/records"


def record_path(feed_id: str, guid: str) -> str:
    """One record, the GUID quoted as a path segment."""
    return f"{records_path(feed_id)}/{quote(guid, safe='')}"


def _page_size(limit: int) -> int:
    if not 1 <= limit <= MAX_PAGE_SIZE:
        raise ValueError(f"limit must be 1..{MAX_PAGE_SIZE}")
    return limit


def _write(response: JsonResponse) -> RecordWrite:
    record = Record.from_json(response.body)
    correlation_id = response.correlation_id or record.last_correlation_id or ""
    return RecordWrite(record, created=response.status == 201, correlation_id=correlation_id)
