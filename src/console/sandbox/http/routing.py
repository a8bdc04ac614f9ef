"""What every authenticated route does: authenticate and work in one database hop."""

from __future__ import annotations

import sqlite3
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Match, Route
from starlette.types import Receive, Scope, Send

from console.sandbox.http.auth import Principal, authenticate, credentials_of, require_admin
from console.sandbox.http.body_limit import MAX_BODY_BYTES
from console.sandbox.http.errors import ApiError
from console.sandbox.storage.database import Database
from console.sandbox.storage.sqlite import now

T = TypeVar("T")
Endpoint = Callable[[Request], Awaitable[Response]]


@dataclass(frozen=True)
class _Refused:
    error: ApiError


def database_of(request: Request) -> Database:
    """The app's database."""
    database: Database = request.app.state.database
    return database


async def as_admin(request: Request, work: Callable[[sqlite3.Connection, Principal], T]) -> T:
    """Authenticate an admin key and run `work` for its account, all in one DB hop.

    The key's last use is stamped even when `work` refuses the request (404, 409, ...):
    the request was authenticated. A savepoint undoes only `work`'s own writes then.
    """
    credentials = credentials_of(request)

    def hop(conn: sqlite3.Connection) -> T | _Refused:
        principal = authenticate(conn, credentials, now())
        conn.execute("SAVEPOINT route_work")
        try:
            require_admin(principal)
            result = work(conn, principal)
        except ApiError as error:
            conn.execute("ROLLBACK TO route_work")
            conn.execute("RELEASE route_work")
            return _Refused(error)
        conn.execute("RELEASE route_work")
        return result

    outcome = await database_of(request).run(hop)
    if isinstance(outcome, _Refused):
        raise outcome.error
    return outcome


class Resource(Route):
    """A path's route: its path alone decides (any other method is 405, with `Allow`), and it
    declares the most request body bytes it accepts.

    Starlette keeps looking when a path matches but the method does not, so a later
    parameterised route (`/pipelines/{id}`) took `GET /pipelines/validate` and answered
    404. Here the first route whose path matches answers; literal paths are listed
    before the parameterised ones they overlap.
    """

    def __init__(
        self, path: str, endpoint: Endpoint, *, methods: list[str], max_body_bytes: int
    ) -> None:
        super().__init__(path, endpoint, methods=methods)
        self.max_body_bytes = max_body_bytes

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        """FULL whenever the path matches, whatever the method."""
        match, child_scope = super().matches(scope)
        return (Match.FULL if match is Match.PARTIAL else match), child_scope

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        """405 with a sorted `Allow` for a method the path does not take, else the handler."""
        if self.methods and scope["method"] not in self.methods:
            raise HTTPException(405, headers={"Allow": ", ".join(sorted(self.methods))})
        await super().handle(scope, receive, send)


def resource(
    path: str, handlers: dict[str, Endpoint], *, max_body_bytes: int = MAX_BODY_BYTES
) -> Route:
    """One route per path with a handler per method, so a 405 lists every allowed method.

    `max_body_bytes` over the contract's 1 MiB makes the body a stream (`request.stream()`)
    counted against that cap as it is read, for routes that write files to disk; the
    body-limit middleware answers 413 once it is passed.
    """

    async def dispatch(request: Request) -> Response:
        # HEAD is answered like GET (Starlette drops the body).
        method = "GET" if request.method == "HEAD" else request.method
        return await handlers[method](request)

    dispatch.__name__ = "_".join(handler.__name__ for handler in handlers.values())
    return Resource(path, dispatch, methods=list(handlers), max_body_bytes=max_body_bytes)
