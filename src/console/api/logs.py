"""Connector logs (`/api/public/v1/logs`, admin keys): query, detail, trace, and the live
stream of new entries as server-sent events.

The stream is parsed with httpx-sse: splitting the body with `aiter_lines` would also split
on U+2028, form feeds and other Unicode line breaks inside the JSON (STACK_NOTES 4).
httpx-sse has no reconnect, so `LogsApi.stream` has its own: after a dropped connection or
a silent one (no byte, not even the 15 s heartbeat, for `read_timeout`) it reconnects with
`Last-Event-ID`, so it neither loses nor repeats an entry, waiting the server's `retry:` or
a backoff from 0.5 s doubling to 10 s.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any, TypedDict, Unpack
from urllib.parse import quote

from console.api.errors import ApiError
from console.api.fields import objects, optional_float, optional_int, optional_str
from console.api.pagination import Page, fetch_page
from console.api.transport import ApiClient
from console.common.redaction import ADMIN_KEY_PREFIX, INGEST_KEY_PREFIX, redact_secrets

log = logging.getLogger(__name__)

LOGS_PATH = "/api/public/v1/logs"
STREAM_PATH = f"{LOGS_PATH}/stream"
TRACE_PATH = "/api/public/v1/trace"
READ_TIMEOUT = 45.0  # three missed 15 s heartbeats: the connection is dead
FIRST_BACKOFF, MAX_BACKOFF = 0.5, 10.0


@dataclass(frozen=True)
class LogItemError:
    """One item's failure in a logged request: its index, field and why."""

    item: int | None
    field: str | None
    message: str


@dataclass(frozen=True)
class LogEntry:
    """One connector log entry (contract "Connector logs")."""

    id: int
    timestamp: float
    request_id: str
    correlation_id: str | None
    feed: str | None
    pipeline_id: str | None
    key: str | None  # prefix…last4, never the secret
    key_id: str | None
    method: str | None
    path: str | None
    intent: str | None
    http_status: int | None
    items_received: int
    processing_status: str
    errors: tuple[LogItemError, ...]
    error_count: int
    duration_ms: float | None
    client_ip: str | None
    auth_via: str | None
    idempotency_key: str | None

    @classmethod
    def from_json(cls, body: dict[str, Any]) -> LogEntry:
        """Parse an entry (absent fields read as None, 0 or empty)."""
        key = body.get("key")
        if isinstance(key, dict):
            shown, key_id = key.get("shown"), key.get("id")
        else:
            shown, key_id = key, None
        errors = tuple(
            LogItemError(
                item=optional_int(item.get("item")),
                field=item.get("field") or None,
                message=str(item.get("message") or ""),
            )
            for item in objects(body.get("errors"))
        )
        count = body.get("error_count")
        return cls(
            id=int(body.get("id") or 0),
            timestamp=_moment(body.get("timestamp")) or 0.0,
            request_id=str(body.get("request_id") or ""),
            correlation_id=optional_str(body.get("correlation_id")),
            feed=optional_str(body.get("feed")),
            pipeline_id=optional_str(body.get("pipeline_id")),
            key=_masked(optional_str(shown)),
            key_id=optional_str(key_id),
            method=optional_str(body.get("method")),
            path=_masked(optional_str(body.get("path"))),
            intent=optional_str(body.get("intent")),
            http_status=optional_int(body.get("http_status")),
            items_received=int(body.get("items_received") or 0),
            processing_status=str(body.get("processing_status") or ""),
            errors=errors,
            error_count=len(errors) if count is None else int(count),
            duration_ms=optional_float(body.get("duration_ms")),
            client_ip=optional_str(body.get("client_ip")),
            auth_via=optional_str(body.get("auth_via")),
            idempotency_key=optional_str(body.get("idempotency_key")),
        )


@dataclass(frozen=True)
class LogEvent:
    """One step of a request's processing timeline (received, queued, processing, …)."""

    timestamp: float | None
    stage: str
    detail: str | None


@dataclass(frozen=True)
class LogDetail:
    """An entry with its kept bodies (first 64 KiB of the request), headers and timeline."""

    entry: LogEntry
    request_body: str | None
    request_body_encoding: str | None  # "base64" when the body is not UTF-8 text
    request_truncated: bool
    request_bytes: int | None
    response_body: str | None
    headers: dict[str, str]
    events: tuple[LogEvent, ...]

    @classmethod
    def from_json(cls, body: dict[str, Any]) -> LogDetail:
        """Parse a detail (the entry's fields plus the detail's own)."""
        headers = body.get("headers")
        return cls(
            entry=LogEntry.from_json(body),
            request_body=optional_str(body.get("request_body")),
            request_body_encoding=optional_str(body.get("request_body_encoding")),
            request_truncated=bool(body.get("request_truncated")),
            request_bytes=optional_int(body.get("request_bytes")),
            response_body=optional_str(body.get("response_body")),
            headers={str(k): str(v) for k, v in headers.items()}
            if isinstance(headers, dict)
            else {},
            events=tuple(
                LogEvent(
                    timestamp=_moment(item.get("timestamp")),
                    stage=str(item.get("stage") or ""),
                    detail=optional_str(item.get("detail")),
                )
                for item in objects(body.get("events"))
            ),
        )


@dataclass(frozen=True)
class TraceChange:
    """One change of a traced record and the request that made it."""

    timestamp: float | None
    intent: str | None
    correlation_id: str | None
    request_id: str | None
    changed: Any


@dataclass(frozen=True)
class TraceRecord:
    """A record the traced id touched (or is), with its recent changes."""

    feed: str
    guid: str
    system_id: str | None
    deleted: bool
    changes: tuple[TraceChange, ...]


@dataclass(frozen=True)
class Trace:
    """Everything an id leads to: the kinds it matched, entries and records."""

    id: str
    matched: tuple[str, ...]
    entries: tuple[LogEntry, ...]
    records: tuple[TraceRecord, ...]
    truncated_entries: bool = False
    truncated_records: bool = False
    raw: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def from_json(cls, body: dict[str, Any]) -> Trace:
        """Parse the trace (D14 of docs/api.md)."""
        truncated = body.get("truncated")
        truncated = truncated if isinstance(truncated, dict) else {}
        matched = body.get("matched")
        return cls(
            id=str(body.get("id") or ""),
            matched=tuple(str(m) for m in matched) if isinstance(matched, list) else (),
            entries=tuple(LogEntry.from_json(e) for e in objects(body.get("entries"))),
            records=tuple(
                TraceRecord(
                    feed=str(r.get("feed") or ""),
                    guid=str(r.get("guid") or ""),
                    system_id=optional_str(r.get("system_id")),
                    deleted=bool(r.get("deleted")),
                    changes=tuple(
                        TraceChange(
                            timestamp=_moment(c.get("timestamp")),
                            intent=optional_str(c.get("intent")),
                            correlation_id=optional_str(c.get("correlation_id")),
                            request_id=optional_str(c.get("request_id")),
                            changed=c.get("changed"),
                        )
                        for c in objects(r.get("changes"))
                    ),
                )
                for r in objects(body.get("records"))
            ),
            truncated_entries=bool(truncated.get("entries")),
            truncated_records=bool(truncated.get("records")),
            raw=body,
        )


def _data(body: Any) -> dict[str, Any]:
    """The object of a `{"data": {...}}` answer (or the answer itself)."""
    if isinstance(body, dict) and isinstance(body.get("data"), dict):
        return dict(body["data"])
    return body if isinstance(body, dict) else {}


class LogFilters(TypedDict, total=False):
    """The contract's log filters, the keyword arguments of `LogsApi.query` and
    `LogsApi.stream` (each optional; None: not filtered)."""

    feed: str | None
    pipeline_id: str | None
    status: str | None
    intent: str | None
    http_status: int | None
    since: float | None
    until: float | None
    q: str | None
    id: str | None
    # A sandbox extension (docs/api.md, "Key events and key usage"): a server without it
    # ignores the parameter, so callers check each entry's key_id.
    key: str | None


def filter_params(**filters: Unpack[LogFilters]) -> dict[str, Any]:
    """The query parameters of the contract's log filters (None: not filtered), in the
    order LogFilters names them."""
    unknown = filters.keys() - LogFilters.__annotations__.keys()
    if unknown:
        raise TypeError(f"unknown log filter(s): {', '.join(sorted(unknown))}")
    given: dict[str, Any] = dict(filters)
    return {name: given[name] for name in LogFilters.__annotations__ if given.get(name) is not None}


class LogsApi:
    """The connector logs of one account (admin keys)."""

    def __init__(
        self,
        client: ApiClient,
        *,
        read_timeout: float = READ_TIMEOUT,
        first_backoff: float = FIRST_BACKOFF,
        max_backoff: float = MAX_BACKOFF,
    ) -> None:
        self._client = client
        self.read_timeout = read_timeout
        self.first_backoff = first_backoff
        self.max_backoff = max_backoff

    async def query(
        self,
        *,
        limit: int = 100,
        cursor: str | None = None,
        parse_in_thread: bool = False,
        **filters: Unpack[LogFilters],
    ) -> Page[LogEntry]:
        """One page of entries, newest first (`next_cursor` may be set on a short page:
        the server stops scanning after a budget and says where to go on).

        `parse_in_thread`: decode the JSON and build the entries in a worker thread (a
        1,000-entry page takes ~25 ms to parse, too long a stall for a UI thread that is
        also painting a live tail).
        """
        params = filter_params(**filters)
        if not parse_in_thread:
            return await fetch_page(
                self._client,
                LOGS_PATH,
                LogEntry.from_json,
                limit=limit,
                cursor=cursor,
                params=params,
            )
        response = await self._client.request(
            "GET", LOGS_PATH, params={**params, "limit": limit, "cursor": cursor}
        )
        return await asyncio.to_thread(_entry_page, response.content)

    async def detail(self, request_id: str) -> LogDetail:
        """The entry of one request with its bodies, headers and timeline."""
        body = await self._client.get_json(f"{LOGS_PATH}/{quote(request_id, safe='')}")
        return LogDetail.from_json(_data(body))

    async def trace(self, any_id: str) -> Trace:
        """What a request, correlation or idempotency id, record GUID or system id touched."""
        body = await self._client.get_json(f"{TRACE_PATH}/{quote(any_id, safe='')}")
        return Trace.from_json(_data(body))

    async def stream(
        self,
        *,
        last_event_id: int | None = None,
        on_gap: Callable[[int | None], None] | None = None,
        on_connection: Callable[[bool], None] | None = None,
        **filters: Unpack[LogFilters],
    ) -> AsyncIterator[LogEntry]:
        """New entries as they are written, for as long as the caller iterates.

        Starts after `last_event_id` (None: at the newest entry). Reconnects by itself;
        4xx answers other than 429 (a wrong key, a bad filter) are raised. `on_gap` hears
        of entries pruned before they could be sent (the server's `gap` event);
        `on_connection(True)` when a connection is open, `(False)` when it dropped and a
        reconnect is waiting (a live tail shows "reconnecting" from it). Close it
        with `contextlib.aclosing` (or cancel the consuming task) to end the connection.
        """
        from httpx_sse import EventSource, SSEError

        params = filter_params(**filters)
        last_id = last_event_id
        backoff = self.first_backoff
        server_retry: float | None = None
        while True:
            headers = {"Accept": "text/event-stream", "Cache-Control": "no-store"}
            if last_id is not None:
                headers["Last-Event-ID"] = str(last_id)
            wait: float | None = None
            try:
                async with self._client.stream(
                    "GET",
                    STREAM_PATH,
                    params=params,
                    headers=headers,
                    read_timeout=self.read_timeout,
                ) as response:
                    if on_connection is not None:
                        on_connection(True)
                    async for event in EventSource(response).aiter_sse():
                        if event.retry is not None:
                            server_retry = event.retry / 1000
                        event_id = _event_id(event.id)
                        if not event.data:
                            # A block without data (the server's first names the stream's
                            # start): resume from its id, so a cut before the first event
                            # loses nothing.
                            if event_id is not None:
                                last_id = event_id
                            continue
                        if event.event == "gap":
                            last_id = event_id if event_id is not None else last_id
                            if on_gap is not None:
                                on_gap(_pruned_before(event.data))
                            continue
                        if event.event not in ("log", "message"):
                            continue
                        try:
                            entry = LogEntry.from_json(json.loads(event.data))
                        except (ValueError, TypeError, AttributeError):
                            log.warning("log stream: skipped an event that is no entry")
                            continue
                        if event_id is not None:
                            last_id = event_id
                        backoff = self.first_backoff  # the connection works
                        yield entry
            except SSEError as exc:
                raise ApiError(0, "INVALID_RESPONSE", f"not an event stream: {exc}") from None
            except ApiError as error:
                if error.status == 429:
                    wait = error.retry_after or backoff
                elif error.status != 0 and error.status < 500:
                    raise
                log.info("log stream interrupted (%s): reconnecting after %s", error, last_id)
            if on_connection is not None:
                on_connection(False)
            delay = wait if wait is not None else (server_retry or backoff)
            backoff = min(backoff * 2, self.max_backoff)
            await asyncio.sleep(delay)


# Year 3000: a local date and time exist for every moment up to it on every platform (a
# server's 1e12 or 1e400 made every paint, export and timeline of the entry raise).
MAX_MOMENT = 32_503_680_000.0


def _moment(value: Any) -> float | None:
    """A timestamp the console can show (epoch seconds, 1970 to 3000); None otherwise."""
    if value is None:
        return None
    moment = float(value)
    return moment if 0.0 <= moment <= MAX_MOMENT else None  # NaN fails both


def _masked(text: str | None) -> str | None:
    """`text` with any full key secret masked: the contract sends prefix…last4, but a server
    that sent more must not put a secret in the buffer, its exports or the trace window."""
    if text is None or (ADMIN_KEY_PREFIX not in text and INGEST_KEY_PREFIX not in text):
        return text  # the common case, without a regex run per entry
    return redact_secrets(text)


def _entry_page(content: bytes) -> Page[LogEntry]:
    """A `GET /logs` answer's page (what fetch_page makes of it, off the event loop)."""
    body = json.loads(content)
    body = body if isinstance(body, dict) else {}
    pagination = body.get("pagination")
    cursor = pagination.get("next_cursor") if isinstance(pagination, dict) else None
    return Page([LogEntry.from_json(item) for item in objects(body.get("data"))], cursor)


def _event_id(value: str | None) -> int | None:
    try:
        return int(value) if value else None
    except ValueError:
        return None


def _pruned_before(data: str) -> int | None:
    try:
        body = json.loads(data)
    except ValueError:
        return None
    return optional_int(body.get("pruned_before")) if isinstance(body, dict) else None
