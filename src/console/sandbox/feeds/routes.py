"""/api/public/v1/feeds: list and create feeds (admin keys only)."""

from __future__ import annotations

import sqlite3
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from console.sandbox.feeds import rules as feeds
from console.sandbox.http.auth import Principal
from console.sandbox.http.errors import ApiError, Problem, invalid, validation_failed
from console.sandbox.http.pagination import parse_page
from console.sandbox.http.payload import FieldSpec, read_payload
from console.sandbox.http.responses import json_response
from console.sandbox.http.routing import as_admin, resource
from console.sandbox.storage.sqlite import FEED_METHODS, FEED_SLUG, now

PREFIX = "/api/public/v1/feeds"
MAX_TEXT_LENGTH = 100

CREATE_FIELDS = (
    FieldSpec("id", "string", required=True),
    FieldSpec("name", "string", required=True),
    FieldSpec("method", "string", required=True),
    FieldSpec("id_field", "string"),
)


async def list_feeds(request: Request) -> Response:
    """GET /feeds: one page of the account's feeds, newest first."""

    def work(conn: sqlite3.Connection, principal: Principal) -> dict[str, Any]:
        return feeds.list_feeds(conn, principal.account_id, parse_page(request.query_params))

    return json_response(await as_admin(request, work))


def _checked_values(values: dict[str, Any]) -> dict[str, str]:
    """Apply the feed rules (400 VALIDATION_FAILED listing every problem)."""
    problems: list[Problem] = []
    slug = values["id"]
    if not FEED_SLUG.match(slug):
        problems.append(
            invalid(
                "id", "id must be 1 to 63 of a-z, 0-9 and '-', starting with a letter or digit."
            )
        )
    name = values["name"].strip()
    if not 1 <= len(name) <= MAX_TEXT_LENGTH:
        problems.append(invalid("name", f"name must be 1 to {MAX_TEXT_LENGTH} characters."))
    method = values["method"]
    if method not in FEED_METHODS:
        problems.append(invalid("method", "method must be 'ingest', 'trigger' or 'polling'."))
    id_field = values.get("id_field", "id").strip()
    if not 1 <= len(id_field) <= MAX_TEXT_LENGTH:
        problems.append(invalid("id_field", f"id_field must be 1 to {MAX_TEXT_LENGTH} characters."))
    if problems:
        raise validation_failed(problems)
    return {"slug": slug, "name": name, "method": method, "id_field": id_field}


async def create_feed(request: Request) -> Response:
    """POST /feeds: a new feed of the account (409 when its id is taken)."""
    payload = await read_payload(request, CREATE_FIELDS)

    def work(conn: sqlite3.Connection, principal: Principal) -> dict[str, Any]:
        checked = _checked_values(payload.values())
        return feeds.create_feed(conn, principal.account_id, **checked, at=now())

    return json_response(await as_admin(request, work), status=201)


async def get_feed(request: Request) -> Response:
    """GET /feeds/{feed_id}: one feed (404 FEED_NOT_FOUND when the account has none such)."""
    slug = request.path_params["feed_id"]

    def work(conn: sqlite3.Connection, principal: Principal) -> dict[str, Any]:
        feed = feeds.get_feed(conn, principal.account_id, slug)
        if feed is None:
            raise ApiError.single(404, "FEED_NOT_FOUND", f"Feed {slug[:100]!r} not found.")
        return feed

    return json_response(await as_admin(request, work, inline=True))


routes = [
    resource(PREFIX, {"GET": list_feeds, "POST": create_feed}),
    resource(PREFIX + "/{feed_id}", {"GET": get_feed}),
]
