"""/api/public/v1/connections and /hooks: the account's read-only catalogue."""

from __future__ import annotations

import sqlite3
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from console.sandbox.http.auth import Principal
from console.sandbox.http.responses import json_response
from console.sandbox.http.routing import as_admin, resource


async def list_connections(request: Request) -> Response:
    """GET /connections: every connection of the account."""

    def work(conn: sqlite3.Connection, principal: Principal) -> dict[str, Any]:
        rows = conn.execute(
            "SELECT id, name, role, type FROM connections WHERE account_id = ? ORDER BY id",
            (principal.account_id,),
        ).fetchall()
        return {"data": [dict(row) for row in rows]}

    return json_response(await as_admin(request, work))


async def list_hooks(request: Request) -> Response:
    """GET /hooks: every hook of the account."""

    def work(conn: sqlite3.Connection, principal: Principal) -> dict[str, Any]:
        rows = conn.execute(
            "SELECT id, name FROM hooks WHERE account_id = ? ORDER BY id",
            (principal.account_id,),
        ).fetchall()
        return {"data": [dict(row) for row in rows]}

    return json_response(await as_admin(request, work))


routes = [
    resource("/api/public/v1/connections", {"GET": list_connections}),
    resource("/api/public/v1/hooks", {"GET": list_hooks}),
]
