"""/api/public/v1/feeds/{feed_id}/records: list, read, upsert and patch (admin keys only).

Bodies are read and parsed on the event loop (never on the writer thread); their shape
problems wait until the caller is authenticated, as elsewhere. Reads run on read-only
connections; each write is one transaction on the writer thread. There is no hard delete:
DELETE is 405 (the `resource` helper answers it with `Allow`).
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import re
import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from console.sandbox.http.auth import Principal, credentials_of
from console.sandbox.http.errors import ApiError, Problem, invalid, not_found
from console.sandbox.http.log_capture import entry_written
from console.sandbox.http.pagination import parse_page
from console.sandbox.http.payload import (
    Payload,
    non_finite_problems,
    read_body,
    shown_key,
)
from console.sandbox.http.responses import correlation_id_of, json_response
from console.sandbox.http.routing import as_admin, resource
from console.sandbox.logs.model import BODY_CAPTURE_BYTES, LogBodies
from console.sandbox.logs.redact import capture
from console.sandbox.logs.request_entry import bodies_from_request, entry_from_request, log_context
from console.sandbox.logs.store import insert_entry
from console.sandbox.records import query as queries
from console.sandbox.records import store
from console.sandbox.records.merge_patch import apply_merge_patch
from console.sandbox.storage.sqlite import now

PREFIX = "/api/public/v1/feeds/{feed_id}/records"
GUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
_POST_KEYS = ("guid", "system_id", "deleted", "data")
_PATCH_KEYS = ("data", "deleted")


def _record_not_found(guid: str) -> ApiError:
    return not_found(f"Record {shown_key(guid)!r}")


async def _read_object(request: Request, keys: tuple[str, ...]) -> Payload:
    """Read a JSON object body with only `keys` (415, 400 and 422 kept until after auth).
    The body is required: an empty one is 422."""

    def check(raw: bytes, document: Any) -> dict[str, Any]:
        # inf cannot be stored as JSON: refused here, not a 500 when the record is written.
        problems = non_finite_problems(raw, document)
        if problems:
            raise ApiError(400, problems)
        return _checked_shape(document, keys)

    return await read_body(request, check, required=True)


def _checked_shape(body: Any, keys: tuple[str, ...]) -> dict[str, Any]:
    """422 for a non-object body, unknown keys or wrong types; 400 for out-of-range values.
    Null counts as absent."""
    if not isinstance(body, dict):
        raise ApiError.single(422, "UNPROCESSABLE", "The body must be a JSON object.")
    problems = [
        Problem("UNPROCESSABLE", f"Unknown key {shown_key(key)!r}.", shown_key(key))
        for key in body
        if key not in keys
    ]
    values = {key: body[key] for key in keys if body.get(key) is not None}
    guid = values.get("guid")
    if guid is not None and not isinstance(guid, str):
        problems.append(Problem("UNPROCESSABLE", "guid must be a string.", "guid"))
    if "system_id" in values and (
        isinstance(values["system_id"], bool) or not isinstance(values["system_id"], str | int)
    ):
        problems.append(
            Problem("UNPROCESSABLE", "system_id must be a string or an integer.", "system_id")
        )
    deleted = values.get("deleted")
    if deleted is not None and (isinstance(deleted, bool) or not isinstance(deleted, int)):
        problems.append(Problem("UNPROCESSABLE", "deleted must be an integer, 0 or 1.", "deleted"))
    if "data" in values and not isinstance(values["data"], dict):
        problems.append(Problem("UNPROCESSABLE", "data must be a JSON object.", "data"))
    if problems:
        raise ApiError(422, problems)
    rules: list[Problem] = []
    if deleted is not None and deleted not in (0, 1):
        rules.append(invalid("deleted", "deleted must be 0 or 1."))
    if "system_id" in values and store.system_id_of(values["system_id"]) is None:
        rules.append(invalid("system_id", store.system_id_rule("system_id")))
    if rules:
        raise ApiError(400, rules)
    return values


class _OneAtATime:
    """An asyncio lock per name, dropped when nobody holds or awaits it."""

    def __init__(self) -> None:
        self._locks: dict[str, tuple[asyncio.Lock, int]] = {}

    @asynccontextmanager
    async def hold(self, name: str) -> AsyncIterator[None]:
        """Wait until no other holder of `name` runs, then run alone for it."""
        lock, users = self._locks.get(name, (asyncio.Lock(), 0))
        self._locks[name] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._locks[name]
            if users == 1:
                del self._locks[name]
            else:
                self._locks[name] = (lock, users - 1)

    def __len__(self) -> int:
        return len(self._locks)


# A `q` read may take a reader thread for up to ~0.5 s, and there are two for every account:
# one key runs one such read at a time, so a client firing many cannot hold both readers
# and stall every other account's reads.
_full_text_reads = _OneAtATime()


async def list_records(request: Request) -> Response:
    """GET .../records: one page of the feed's records matching the filters."""
    slug = request.path_params["feed_id"]

    def work(conn: sqlite3.Connection, principal: Principal) -> dict[str, Any]:
        feed = store.require_feed(conn, principal.account_id, slug)
        return queries.list_records(
            conn, feed, queries.parse_record_query(request.query_params, conn, feed)
        )

    credentials = credentials_of(request)
    if not request.query_params.get("q") or credentials is None:
        return json_response(await as_admin(request, work))
    async with _full_text_reads.hold(credentials.secret):
        return json_response(await as_admin(request, work))


async def record_keys(request: Request) -> Response:
    """GET .../records/keys: the top-level data keys seen in the feed (at most 200)."""
    slug = request.path_params["feed_id"]

    def work(conn: sqlite3.Connection, principal: Principal) -> dict[str, Any]:
        feed = store.require_feed(conn, principal.account_id, slug)
        return {"data": queries.data_keys(conn, feed)}

    return json_response(await as_admin(request, work))


async def get_record(request: Request) -> Response:
    """GET .../records/{guid}: one record, archived or not."""
    slug, guid = request.path_params["feed_id"], request.path_params["guid"]

    def work(conn: sqlite3.Connection, principal: Principal) -> dict[str, Any]:
        feed = store.require_feed(conn, principal.account_id, slug)
        row = store.record_by_guid(conn, feed, guid) if GUID.match(guid) else None
        if row is None:
            raise _record_not_found(guid)
        return store.record_json(row)

    return json_response(await as_admin(request, work))


async def record_history(request: Request) -> Response:
    """GET .../records/{guid}/history: the record's changes, newest first."""
    slug, guid = request.path_params["feed_id"], request.path_params["guid"]

    def work(conn: sqlite3.Connection, principal: Principal) -> dict[str, Any]:
        page = parse_page(request.query_params)
        feed = store.require_feed(conn, principal.account_id, slug)
        row = store.record_by_guid(conn, feed, guid) if GUID.match(guid) else None
        if row is None:
            raise _record_not_found(guid)
        return store.history_page(conn, int(row["seq"]), page)

    return json_response(await as_admin(request, work))


def _reread(conn: sqlite3.Connection, guid: str) -> dict[str, Any]:
    row = conn.execute(
        f"SELECT {store.RECORD_COLUMNS} FROM records WHERE guid = ?", (guid,)
    ).fetchone()
    return store.record_json(row)


def _logged(
    request: Request,
    conn: sqlite3.Connection,
    principal: Principal,
    feed: store.FeedRef,
    intent: str,
    request_bodies: LogBodies,
    response: Response,
) -> Response:
    """Insert the request's connector log entry (writer thread, the route's transaction)."""
    entry = entry_from_request(
        request,
        principal.account_id,
        feed=feed.slug,
        key_id=principal.key_id,
        key_shown=principal.shown,
        intent=intent,
        http_status=response.status_code,
        items_received=1,
        processing_status="succeeded",
        auth_via=principal.via,
    )
    bodies = dataclasses.replace(request_bodies, response=capture(bytes(response.body))[0])
    insert_entry(conn, entry, bodies)
    return response


async def _request_bodies(request: Request, raw: bytes) -> LogBodies:
    """What the log keeps of the request (cut, masked: up to 64 KiB of regex work), built
    before the writer hop and, for a large body, on a worker thread: never on the writer."""
    if len(raw) >= BODY_CAPTURE_BYTES:
        return await asyncio.to_thread(bodies_from_request, request, raw, None)
    return bodies_from_request(request, raw, None)


async def post_record(request: Request) -> Response:
    """POST .../records: upsert by guid, else by system_id; 201 created, 200 updated."""
    slug = request.path_params["feed_id"]
    payload = await _read_object(request, _POST_KEYS)
    correlation_id = correlation_id_of(request)
    raw = await request.body()  # read already: Starlette keeps it
    request_bodies = await _request_bodies(request, raw)
    context = log_context(request)
    context.items_received = 1
    if payload.error is None and "guid" in payload.data:
        context.intent = "record.update"

    def work(conn: sqlite3.Connection, principal: Principal) -> Response:
        values = payload.values()
        feed = store.require_feed(conn, principal.account_id, slug)
        actor = store.actor_of(conn, principal.key_id, correlation_id, "record-post")
        try:
            record, status = _upsert(conn, feed, values, actor, now())
        except store.RecordError as error:
            raise error.as_api_error() from None
        intent = "record.create" if status == 201 else "record.update"
        return _logged(
            request,
            conn,
            principal,
            feed,
            intent,
            request_bodies,
            json_response(record, status=status),
        )

    response = await as_admin(request, work)
    entry_written(request)
    return response


def _upsert(
    conn: sqlite3.Connection,
    feed: store.FeedRef,
    values: dict[str, Any],
    actor: store.Actor,
    at: float,
) -> tuple[dict[str, Any], int]:
    guid = values.get("guid")
    given_id = values.get("system_id")
    system_id = None if given_id is None else store.system_id_of(given_id)
    data = values.get("data")
    deleted = values.get("deleted")
    if guid is not None:
        row = store.record_by_guid(conn, feed, guid) if GUID.match(guid) else None
        if row is None:
            raise _record_not_found(guid)
    elif system_id is not None:
        row = store.record_by_system_id(conn, feed, system_id)
    else:
        row = None
    old_data = None if row is None else json.loads(row["data"])
    new_data: dict[str, Any] | None = None
    if data is not None:
        new_data = dict(data)
        if feed.id_field in new_data:
            carried = store.system_id_of(new_data[feed.id_field])
            if carried is None:
                raise store.RecordError(
                    store.system_id_rule(f"data.{feed.id_field}"), f"data.{feed.id_field}"
                )
            if system_id is not None and carried != system_id:
                raise store.RecordError(
                    f"system_id {system_id!r} and data.{feed.id_field} {carried!r} differ.",
                    "system_id",
                )
        elif given_id is not None:
            new_data[feed.id_field] = given_id
        elif old_data is not None and feed.id_field in old_data:
            new_data[feed.id_field] = old_data[feed.id_field]  # the record keeps its id
    elif given_id is not None and (row is None or row["system_id"] != system_id):
        new_data = {**(old_data or {}), feed.id_field: given_id}
    if row is None:
        _, new_guid, _ = store.create_record(
            conn, feed, new_data or {}, actor, at, deleted=bool(deleted)
        )
        return _reread(conn, new_guid), 201
    store.update_record(
        conn,
        feed,
        row,
        actor,
        at,
        data=new_data,
        deleted=None if deleted is None else bool(deleted),
    )
    return _reread(conn, row["guid"]), 200


async def patch_record(request: Request) -> Response:
    """PATCH .../records/{guid}: a JSON merge patch of data and/or deleted (0 or 1)."""
    slug, guid = request.path_params["feed_id"], request.path_params["guid"]
    payload = await _read_object(request, _PATCH_KEYS)
    correlation_id = correlation_id_of(request)
    raw = await request.body()  # read already: Starlette keeps it
    request_bodies = await _request_bodies(request, raw)
    log_context(request).items_received = 1

    def work(conn: sqlite3.Connection, principal: Principal) -> Response:
        values = payload.values()
        feed = store.require_feed(conn, principal.account_id, slug)
        row = store.record_by_guid(conn, feed, guid) if GUID.match(guid) else None
        if row is None:
            raise _record_not_found(guid)
        actor = store.actor_of(conn, principal.key_id, correlation_id, "record-patch")
        patch = values.get("data")
        data = None if patch is None else apply_merge_patch(json.loads(row["data"]), patch)
        deleted = values.get("deleted")
        try:
            store.update_record(
                conn,
                feed,
                row,
                actor,
                now(),
                data=data,
                deleted=None if deleted is None else bool(deleted),
            )
        except store.RecordError as error:
            raise error.as_api_error() from None
        response = json_response(_reread(conn, guid))
        return _logged(request, conn, principal, feed, "record.update", request_bodies, response)

    response = await as_admin(request, work)
    entry_written(request)
    return response


routes = [
    resource(PREFIX, {"GET": list_records, "POST": post_record}),
    # Before /{guid}: the first route whose path matches answers.
    resource(PREFIX + "/keys", {"GET": record_keys}),
    resource(PREFIX + "/{guid}", {"GET": get_record, "PATCH": patch_record}),
    resource(PREFIX + "/{guid}/history", {"GET": record_history}),
]
