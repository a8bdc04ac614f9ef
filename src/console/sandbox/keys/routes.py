"""/api/public/v1/keys: list, create, read, rotate and revoke API keys (admin keys only)."""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from console.sandbox.http.auth import Principal
from console.sandbox.http.errors import Problem, invalid, validation_failed
from console.sandbox.http.pagination import DEFAULT_LIMIT, parse_page, query_of
from console.sandbox.http.payload import FieldSpec, read_payload
from console.sandbox.http.responses import json_response
from console.sandbox.http.routing import (
    as_admin,
    database_of,
    last_used_of,
    resource,
    verified_keys_of,
)
from console.sandbox.keys import rules as keys
from console.sandbox.keys.events import Actor, list_events
from console.sandbox.storage.sqlite import KEY_KINDS, feed_exists, now

PREFIX = "/api/public/v1/keys"
MAX_NAME_LENGTH = 100

CREATE_FIELDS = (
    FieldSpec("name", "string", required=True),
    FieldSpec("kind", "string", required=True),
    FieldSpec("feed", "string"),
    FieldSpec("expires_at", "number"),
)
ROTATE_FIELDS = (FieldSpec("grace_seconds", "integer"),)


def _actor(request: Request, principal: Principal) -> Actor:
    """The admin key making a change, and where its request came from (its audit event)."""
    client = request.scope.get("client")
    return Actor(
        key_id=principal.key_id,
        shown=principal.shown,
        client_ip=client[0] if client else None,
        via=principal.via,
        route=f"{request.method} {request.scope.get('path', '')}"[:300],
    )


def _with_last_use(request: Request, metadata: dict[str, Any]) -> dict[str, Any]:
    """Key metadata showing this server's latest stamp of its use, written or still queued."""
    stamps = last_used_of(request)
    return {**metadata, "last_used_at": stamps.seen(metadata["id"], metadata["last_used_at"])}


def _forget_verified_keys(request: Request) -> None:
    """From a write's work: drop every verified key once this transaction ends, before the
    writer runs anything else, so a revoked or shortened key is refused from the next
    request on (http/auth.py, VerifiedKeys)."""
    database_of(request).after_transaction(verified_keys_of(request).invalidate)


def _small_page(query: Mapping[str, str]) -> bool:
    """Whether a listing asks for at most the default page (cheap enough for the loop)."""
    limit = query.get("limit")
    return limit is None or (limit.isdigit() and len(limit) <= 3 and int(limit) <= DEFAULT_LIMIT)


async def list_keys(request: Request) -> Response:
    """GET /keys: one page of the account's keys, newest first."""
    query = query_of(request)

    def work(conn: sqlite3.Connection, principal: Principal) -> dict[str, Any]:
        page = parse_page(query)
        return keys.list_keys(conn, principal.account_id, page, now())

    # A page of at most 100 keys by the account index: read on the loop (docs/api.md).
    listing = await as_admin(request, work, inline=_small_page(query))
    stamps = last_used_of(request)
    for item in listing["data"]:  # fresh dicts of this request: updated in place
        item["last_used_at"] = stamps.seen(item["id"], item["last_used_at"])
    return json_response(listing)


def _checked_create(
    conn: sqlite3.Connection, account_id: int, values: dict[str, Any], at: float, actor: Actor
) -> dict[str, Any]:
    """Apply the create rules (400 VALIDATION_FAILED, every problem) and create the key."""
    problems: list[Problem] = []
    name = values["name"].strip()
    if not 1 <= len(name) <= MAX_NAME_LENGTH:
        problems.append(invalid("name", f"name must be 1 to {MAX_NAME_LENGTH} characters."))
    kind: str = values["kind"]
    feed: str | None = values.get("feed")
    if kind not in KEY_KINDS:
        problems.append(invalid("kind", "kind must be 'admin' or 'ingest'."))
    elif kind == "admin" and feed is not None:
        problems.append(invalid("feed", "Admin keys belong to no feed; leave feed out."))
    elif kind == "ingest" and feed is None:
        problems.append(invalid("feed", "Ingest keys need the feed they may write to."))
    elif feed is not None and not feed_exists(conn, account_id, feed):
        problems.append(invalid("feed", f"No feed {feed!r} exists in this account."))
    expires_at = values.get("expires_at")
    if expires_at is not None:
        # Compared as sent (int or float): 10**400 must not become an OverflowError, and
        # NaN or infinity, had the body parser let one through, fails this test too.
        if not expires_at < keys.EXPIRES_BEFORE:
            problems.append(
                invalid(
                    "expires_at",
                    "expires_at must be a Unix time before the year 10000 "
                    f"(below {keys.EXPIRES_BEFORE}).",
                )
            )
        elif expires_at <= at:
            problems.append(invalid("expires_at", "expires_at must be in the future."))
    if problems:
        raise validation_failed(problems)
    return keys.create_key(
        conn,
        account_id,
        name=name,
        kind=kind,
        feed=feed,
        expires_at=None if expires_at is None else round(float(expires_at), 3),
        at=at,
        actor=actor,
    )


async def create_key(request: Request) -> Response:
    """POST /keys: a new key; the response is the only place its secret ever appears."""
    payload = await read_payload(request, CREATE_FIELDS)

    def work(conn: sqlite3.Connection, principal: Principal) -> dict[str, Any]:
        actor = _actor(request, principal)
        return _checked_create(conn, principal.account_id, payload.values(), now(), actor)

    return json_response(await as_admin(request, work), status=201)


async def get_key(request: Request) -> Response:
    """GET /keys/{key_id}: one key's metadata."""
    key_id = request.path_params["key_id"]

    def work(conn: sqlite3.Connection, principal: Principal) -> dict[str, Any]:
        return keys.key_metadata(keys.find_key(conn, principal.account_id, key_id), now())

    return json_response(_with_last_use(request, await as_admin(request, work, inline=True)))


async def rotate_key(request: Request) -> Response:
    """POST /keys/{key_id}/rotate: a successor key; the old one lives on for the grace."""
    key_id = request.path_params["key_id"]
    payload = await read_payload(request, ROTATE_FIELDS)

    def work(conn: sqlite3.Connection, principal: Principal) -> dict[str, Any]:
        grace = payload.values().get("grace_seconds", 0)
        if not 0 <= grace <= keys.MAX_GRACE_SECONDS:
            raise validation_failed(
                [invalid("grace_seconds", "grace_seconds must be from 0 to 604800 (7 days).")]
            )
        rotated = keys.rotate_key(
            conn,
            principal.account_id,
            key_id,
            grace_seconds=grace,
            at=now(),
            actor=_actor(request, principal),
        )
        # Only a rotation that happened drops the verified keys (a refused one changed
        # nothing: any admin key repeating refused rotations must not slow every tenant).
        _forget_verified_keys(request)
        return rotated

    return json_response(await as_admin(request, work), status=201)


async def revoke_key(request: Request) -> Response:
    """DELETE /keys/{key_id}: revoke at once; a second revoke is a no-op."""
    key_id = request.path_params["key_id"]

    def work(conn: sqlite3.Connection, principal: Principal) -> dict[str, Any]:
        revoked = keys.revoke_key(
            conn, principal.account_id, key_id, now(), _actor(request, principal)
        )
        _forget_verified_keys(request)  # once it is revoked (a 404 changed nothing)
        return revoked

    return json_response(_with_last_use(request, await as_admin(request, work)))


async def key_events(request: Request) -> Response:
    """GET /keys/{key_id}/events (extension): the key's audit trail, oldest first."""
    key_id = request.path_params["key_id"]

    def work(conn: sqlite3.Connection, principal: Principal) -> dict[str, Any]:
        page = parse_page(request.query_params)
        keys.find_key(conn, principal.account_id, key_id)  # 404 as for every key route
        return list_events(conn, principal.account_id, key_id, page)

    # A page of at most 100 events by the key's index: read on the loop, like GET /keys.
    return json_response(await as_admin(request, work, inline=_small_page(request.query_params)))


routes = [
    resource(PREFIX, {"GET": list_keys, "POST": create_key}),
    resource(PREFIX + "/{key_id}", {"GET": get_key, "DELETE": revoke_key}),
    resource(PREFIX + "/{key_id}/rotate", {"POST": rotate_key}),
    resource(PREFIX + "/{key_id}/events", {"GET": key_events}),
]
